"""flavor's test worker for the Remote Workers API (a BuildGrid "bot").

BuildGrid dropped its own worker in 2024 and its production worker (buildbox) is not
installable here, so the REAPI tests run this fixture instead. It is *not* a sandbox: each
action runs on the host, as the user running the tests, in a fresh temporary directory.

Run it with the BuildGrid venv's Python (it imports grpcio and the protos in the buildgrid
wheel, BuildGrid 0.9.1, and its sibling cas.py):

    $FLAVOR_BUILDGRID/bin/python worker.py --remote grpc://127.0.0.1:PORT --capacity 2 \
        --log worker.jsonl

What it does (the Bots service of google.devtools.remoteworkers.v1test2):

* CreateBotSession with device properties OSFamily=linux, ISA=x86-64 (``--property``) and
  worker config ``capacity`` (BuildGrid reads it from there); then UpdateBotSession in a loop:
  long-polls while it has free slots, heartbeats every ``--heartbeat`` seconds while full, and
  reports a finished lease at once (by cancelling the pending long poll). A session the server
  forgot (after a freeze longer than its keepalive) is created anew; its running actions are
  killed, as the server requeues them.
* Per lease (payload: the Action, or its Digest): fetch the Command and the input root from the
  CAS (BatchReadBlobs, ByteStream Read above 2 MiB), run ``arguments`` with exactly the
  Command's environment (argv[0] without a slash is looked up in that PATH) in
  ``working_directory``, in its own process group; upload outputs (``output_paths``, else
  ``output_files``/``output_directories``: files with the executable bit, directories as
  ``Tree`` protos, symlinks as such), stdout and stderr (BatchUpdateBlobs, ByteStream Write
  above 2 MiB); complete the lease with the ActionResult. Missing inputs complete it with
  FAILED_PRECONDITION and a PreconditionFailure naming each ``blobs/<hash>/<size>``; an
  ``Action.timeout`` kills the process group and answers DEADLINE_EXCEEDED; a command that
  cannot be started exits 127 (126 if not executable) with the reason on stderr, as a shell
  would.
* ``--log`` gets one JSON object per line: ``session`` (name, capacity), ``start`` (lease,
  action digest, argv, env, working directory, outputs), ``done`` (exit code, status code,
  message, outputs with digests, seconds), ``cancelled`` and ``session-lost``. That log is
  how tests see what ran where.

SIGTERM kills the running actions and exits at once; SIGKILL (a lost machine) leaves them to
the caller, who knows their process groups from /proc.
"""

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ beside the sources for the sibling module

import grpc  # noqa: E402
from google.protobuf import timestamp_pb2  # noqa: E402

from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2  # noqa: E402
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc  # noqa: E402
from buildgrid._protos.google.rpc import code_pb2, error_details_pb2, status_pb2  # noqa: E402

from cas import BadInput, Cas, Missing, Outputs, check_relative, digest_of, digest_str, materialize  # noqa: E402

# CreateBotSession answers at once when its deadline is under 3.75 s (BuildGrid long-polls for
# 0.8 x the deadline, but not below 3 s); the worker is "registered" when it answers.
CREATE_TIMEOUT = 3.5


class Log:
    """One JSON object per line, appended atomically (one write per event)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if path else None

    def event(self, kind, **fields):
        fields = {"event": kind, "time": time.time(), **fields}
        line = (json.dumps(fields, sort_keys=True) + "\n").encode()
        if self.fd is not None:
            os.write(self.fd, line)
        else:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()


def now_ts():
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


class Job:
    """One lease: its action runs on a thread; `done` holds (Status, ActionResult or None)."""

    def __init__(self, worker, lease):
        self.worker = worker
        self.lease_id = lease.id
        self.payload = lease.payload
        self.cancel = threading.Event()
        self.proc = None
        self.done = None
        self.thread = threading.Thread(target=self.run, name=f"lease {lease.id}", daemon=True)

    def kill(self):
        """The server cancelled the lease (or the worker stops): kill it, report nothing."""
        self.cancel.set()
        self.kill_process()

    def kill_process(self):
        proc = self.proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def action(self):
        if self.payload.Is(re_pb2.Action.DESCRIPTOR):
            action = re_pb2.Action()
            self.payload.Unpack(action)
            return action, digest_of(self.payload.value)
        digest = re_pb2.Digest()
        if not self.payload.Unpack(digest):
            raise BadInput(f"lease payload is a {self.payload.type_url}, not an Action or Digest")
        return re_pb2.Action.FromString(self.worker.cas.read([digest])[digest.hash]), digest

    def run(self):
        started = time.time()
        action_digest = None
        try:
            action, action_digest = self.action()
            status, result = self.execute(action, action_digest)
        except Missing as e:
            failure = error_details_pb2.PreconditionFailure()
            for d in e.digests:
                failure.violations.add(type="MISSING", subject=f"blobs/{d.hash}/{d.size_bytes}")
            status = status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=f"missing from the CAS: {e}")
            status.details.add().Pack(failure)
            result = None
        except BadInput as e:
            status, result = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(e)), None
        except Exception as e:  # a fixture bug or a broken connection: the server may retry
            status, result = status_pb2.Status(code=code_pb2.INTERNAL, message=f"{type(e).__name__}: {e}"), None
        if self.cancel.is_set():
            return
        fields = {"lease": self.lease_id, "status": status.code, "message": status.message}
        fields["action"] = digest_str(action_digest) if action_digest else None
        fields["seconds"] = round(time.time() - started, 3)
        if result is not None:
            fields["exit_code"] = result.exit_code
            fields["outputs"] = [
                {"path": f.path, "digest": digest_str(f.digest), "executable": f.is_executable}
                for f in result.output_files
            ] + [{"path": d.path, "tree": digest_str(d.tree_digest)} for d in result.output_directories]
        self.worker.log.event("done", **fields)
        self.done = (status, result)
        self.worker.wake("lease")

    def execute(self, action, action_digest):
        w = self.worker
        meta = re_pb2.ExecutedActionMetadata(worker=w.bot_id, worker_start_timestamp=now_ts())
        meta.input_fetch_start_timestamp.CopyFrom(now_ts())
        command = re_pb2.Command.FromString(w.cas.read([action.command_digest])[action.command_digest.hash])
        tmp = tempfile.mkdtemp(prefix="flavor-worker-", dir=w.work_dir)
        try:
            root = os.path.join(tmp, "root")
            materialize(w.cas, action.input_root_digest, root)
            meta.input_fetch_completed_timestamp.CopyFrom(now_ts())
            check_relative(command.working_directory, "working directory")
            wd = os.path.normpath(os.path.join(root, command.working_directory))
            outputs = list(command.output_paths) or list(command.output_files) + list(command.output_directories)
            for path in outputs:
                check_relative(path, "output path")
                os.makedirs(os.path.dirname(os.path.join(wd, path)), exist_ok=True)
            w.log.event(
                "start",
                lease=self.lease_id,
                action=digest_str(action_digest),
                input_root=digest_str(action.input_root_digest),
                argv=list(command.arguments),
                env={v.name: v.value for v in command.environment_variables},
                working_directory=command.working_directory,
                outputs=outputs,
            )
            meta.execution_start_timestamp.CopyFrom(now_ts())
            exit_code, timed_out = self.spawn(command, wd, tmp, action.timeout.ToTimedelta().total_seconds())
            meta.execution_completed_timestamp.CopyFrom(now_ts())
            meta.output_upload_start_timestamp.CopyFrom(now_ts())
            result = re_pb2.ActionResult(exit_code=exit_code)
            collected = Outputs(wd, command.output_directory_format)
            collected.collect(command, result)
            for name, field in (("stdout", result.stdout_digest), ("stderr", result.stderr_digest)):
                with open(os.path.join(tmp, name), "rb") as f:
                    field.CopyFrom(collected.add_blob(f.read()))
            w.cas.write(collected.blobs)
            meta.output_upload_completed_timestamp.CopyFrom(now_ts())
            meta.worker_completed_timestamp.CopyFrom(now_ts())
            result.execution_metadata.CopyFrom(meta)
            if timed_out:
                limit = action.timeout.ToTimedelta().total_seconds()
                return status_pb2.Status(code=code_pb2.DEADLINE_EXCEEDED, message=f"action timed out after {limit}s"), result
            return status_pb2.Status(code=code_pb2.OK), result
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def spawn(self, command, wd, tmp, timeout):
        """Run the command; (exit code, timed out). Signals give 128 + signal, as a shell says."""
        env = {v.name: v.value for v in command.environment_variables}
        argv = list(command.arguments)
        with open(os.path.join(tmp, "stdout"), "wb") as out, open(os.path.join(tmp, "stderr"), "wb") as err:
            try:
                self.proc = subprocess.Popen(
                    argv, cwd=wd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError, IndexError) as e:
                err.write(f"worker: cannot run {argv[:1]}: {e}\n".encode())
                return (126 if isinstance(e, PermissionError) else 127), False
            if self.cancel.is_set():
                self.kill()
            deadline = time.monotonic() + timeout if timeout > 0 else None
            while True:
                try:
                    code = self.proc.wait(timeout=0.02)
                    break
                except subprocess.TimeoutExpired:
                    if deadline is not None and time.monotonic() > deadline:
                        self.kill_process()
                        self.proc.wait()
                        return 128 + signal.SIGKILL, True
        return (code if code >= 0 else 128 - code), False


class Worker:
    """The bot: one session, the leases it holds, the loop that keeps them in sync."""

    def __init__(self, args):
        target = args.remote.split("://", 1)[-1]
        options = [
            ("grpc.max_receive_message_length", 64 << 20),
            # Reconnect within 0.1-0.5 s when the server comes (back) up: grpc's default backoff
            # grows to minutes, which turned a 5 s server start into 20 s before registering.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 500),
        ]
        self.channel = grpc.insecure_channel(target, options=options)
        self.bots = bots_pb2_grpc.BotsStub(self.channel)
        self.cas = Cas(self.channel, args.instance)
        self.instance = args.instance
        self.capacity = args.capacity
        self.heartbeat = args.heartbeat
        self.poll_timeout = args.poll_timeout
        self.bot_id = args.bot_id or f"flavor-test-worker-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.properties = args.property or ["OSFamily=linux", "ISA=x86-64"]
        self.work_dir = args.work_dir
        self.log = Log(args.log)
        self.session = None
        self.jobs = {}
        self.events = queue.Queue()
        self.call_seq = 0

    def wake(self, what):
        self.events.put(what)

    def bot_session(self):
        session = bots_pb2.BotSession(bot_id=self.bot_id, status=bots_pb2.OK)
        device = session.worker.devices.add(handle=self.bot_id)
        for prop in self.properties:
            key, _, value = prop.partition("=")
            device.properties.add(key=key, value=value)
        session.worker.configs.add(key="capacity", value=str(self.capacity))
        return session

    def create_session(self):
        req = bots_pb2.CreateBotSessionRequest(parent=self.instance, bot_session=self.bot_session())
        while True:
            try:
                self.session = self.bots.CreateBotSession(req, timeout=CREATE_TIMEOUT)
                break
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    time.sleep(0.1)  # not up yet, or restarting
                    continue
                self.log.event("error", call="CreateBotSession", code=str(e.code()), message=e.details())
                time.sleep(1.0)
        self.log.event("session", name=self.session.name, bot_id=self.bot_id, capacity=self.capacity)
        self.adopt(self.session.leases)

    def adopt(self, leases):
        for lease in leases:
            if lease.id not in self.jobs and lease.state in (bots_pb2.PENDING, bots_pb2.ACTIVE):
                job = Job(self, lease)
                self.jobs[lease.id] = job
                job.thread.start()

    def request(self):
        """The UpdateBotSession request for the current state; the leases it reports done."""
        session = self.bot_session()
        session.name = self.session.name
        session.version = self.session.version
        reported = []
        for lease_id, job in self.jobs.items():
            done = job.done
            if done is None:
                session.leases.add(id=lease_id, state=bots_pb2.ACTIVE)
            else:
                lease = session.leases.add(id=lease_id, state=bots_pb2.COMPLETED)
                lease.status.CopyFrom(done[0])
                if done[1] is not None:
                    lease.result.Pack(done[1])
                reported.append(lease_id)
        return bots_pb2.UpdateBotSessionRequest(name=self.session.name, bot_session=session), reported

    def run(self):
        self.create_session()
        while True:
            self.drain()  # the request below reports every lease finished so far
            req, reported = self.request()
            busy = len(self.jobs) - len(reported) >= self.capacity
            self.call_seq += 1
            seq = self.call_seq
            call = self.bots.UpdateBotSession.future(req, timeout=self.poll_timeout)
            call.add_done_callback(lambda _c, seq=seq: self.wake(("rpc", seq)))
            if not self.wait_for(seq, call):
                continue
            try:
                resp = call.result()
            except grpc.RpcError as e:
                self.rpc_failed(e)
                continue
            self.apply(resp, reported)
            if busy and not reported:
                self.idle(self.heartbeat)

    def wait_for(self, seq, call):
        """Wait for this call's answer; cancel it (False) when a lease finishes first."""
        while True:
            try:
                what = self.events.get(timeout=1.0)
            except queue.Empty:
                continue
            if what == ("rpc", seq):
                return True
            if what == "lease":
                call.cancel()
                return False

    def idle(self, seconds):
        """Wait until a lease finishes, or `seconds` (the heartbeat while all slots are busy)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self.events.get(timeout=left) == "lease":
                    return
            except queue.Empty:
                return

    def drain(self):
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return

    def rpc_failed(self, e):
        code = e.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
            time.sleep(0.1)
            return
        self.log.event("session-lost", name=self.session.name, code=str(code), message=e.details())
        for job in self.jobs.values():
            job.kill()
        self.jobs.clear()
        time.sleep(0.1)
        self.create_session()

    def apply(self, resp, reported):
        for lease_id in reported:
            self.jobs.pop(lease_id, None)
        kept = {lease.id for lease in resp.leases}
        for lease_id in [i for i in self.jobs if i not in kept]:
            self.jobs.pop(lease_id).kill()
            self.log.event("cancelled", lease=lease_id)
        self.session = resp
        self.adopt(resp.leases)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--remote", required=True, help="grpc://HOST:PORT of the Bots service")
    parser.add_argument("--instance", default="", help="instance name (default: empty)")
    parser.add_argument("--capacity", type=int, default=1, help="leases at once")
    parser.add_argument("--property", action="append", help="device property KEY=VALUE (default OSFamily, ISA)")
    parser.add_argument("--bot-id", help="bot id (default: unique per process)")
    parser.add_argument("--log", help="JSON-lines event log (default: stdout)")
    parser.add_argument("--work-dir", help="where action directories go (default: $TMPDIR)")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="seconds between updates when full")
    parser.add_argument(
        "--poll-timeout", type=float, default=5.0, help="UpdateBotSession deadline (keep it under the server's keepalive)"
    )
    args = parser.parse_args()
    worker = Worker(args)

    def terminate(_sig, _frame):
        for job in list(worker.jobs.values()):
            job.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    worker.run()


if __name__ == "__main__":
    main()
