"""Start BuildGrid's server like ``bgd server start CONFIG``, minus the per-start schema check,
optionally from a process that did its imports ahead of time.

Profiled on the 2-core test machine, a BuildGrid 0.9.1 server spends its start-up on two
things: importing its modules (~1.6 s of CPU, grpc, SQLAlchemy, psycopg, boto3 …) and
validating its configuration with jsonschema, which checks the schema itself once per
component (about as much again). The test harness writes that configuration from code and
lints it once with ``bgd server lint`` in its own tests, so this wrapper skips the check;
everything else is the ``bgd server start`` command itself. Run with the BuildGrid venv's
Python:

    server.py CONFIG                 # start now, output to stdout/stderr
    server.py --standby              # import everything, then wait for one line on stdin:
                                     # "CONFIG<TAB>LOG": append all output to LOG and start.
                                     # End of file instead: exit quietly.
"""

import os
import sys

from buildgrid.server.app import cli
from buildgrid.server.app.commands import cmd_server  # noqa: F401  (the command's own imports)
from buildgrid.server.app.settings import parser


def skip_validation(data, strict=False, fail_deprecations=False):
    return None


def main():
    args = sys.argv[1:]
    if args == ["--standby"]:
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            return 0
        config, _, log = line.partition("\t")
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        args = [config]
    if len(args) != 1:
        print("usage: server.py CONFIG | server.py --standby", file=sys.stderr)
        return 2
    parser.validate_config_value = skip_validation
    sys.argv = ["bgd", "server", "start", args[0]]
    return cli()


if __name__ == "__main__":
    sys.exit(main())
