"""flavor's test worker for the Remote Workers API (a BuildGrid "bot").

BuildGrid dropped its own worker in 2024 and its production worker (buildbox) is not
installable here, so the REAPI tests run this fixture instead. It is *not* a sandbox: each
action runs on the host, as the user running the tests, in a fresh temporary directory.

Run it with the BuildGrid venv's Python (it imports grpcio and the protos in the buildgrid
wheel, BuildGrid 0.9.1):

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
import hashlib
import json
import os
import queue
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import grpc
from google.protobuf import timestamp_pb2

from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid._protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc, worker_pb2
from buildgrid._protos.google.rpc import code_pb2, error_details_pb2, status_pb2

# Blobs above this go through ByteStream; batches stay below BATCH_LIMIT (BuildGrid's gRPC
# messages are capped at 4 MiB).
STREAM_ABOVE = 2 * 1024 * 1024
BATCH_LIMIT = 3 * 1024 * 1024
CHUNK = 1024 * 1024
# CreateBotSession answers at once when its deadline is under 3.75 s (BuildGrid long-polls for
# 0.8 x the deadline, but not below 3 s); the worker is "registered" when it answers.
CREATE_TIMEOUT = 3.5
RPC_TIMEOUT = 60.0


class Missing(Exception):
    """Blobs the CAS does not have: the lease fails with FAILED_PRECONDITION."""

    def __init__(self, digests):
        super().__init__(", ".join(f"blobs/{d.hash}/{d.size_bytes}" for d in digests))
        self.digests = digests


class BadInput(Exception):
    """An input or output the worker cannot accept: INVALID_ARGUMENT."""


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


def digest_of(data):
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def digest_str(d):
    return f"{d.hash}/{d.size_bytes}"


def now_ts():
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


class Cas:
    """The CAS and ByteStream calls the worker needs."""

    def __init__(self, channel, instance):
        self.cas = re_grpc.ContentAddressableStorageStub(channel)
        self.bytestream = bytestream_pb2_grpc.ByteStreamStub(channel)
        self.prefix = f"{instance}/" if instance else ""
        self.instance = instance

    def read(self, digests):
        """{hash: bytes} for every digest; raises Missing for any the CAS lacks."""
        wanted = {d.hash: d for d in digests}
        found = {h: b"" for h, d in wanted.items() if d.size_bytes == 0}
        small = [d for d in wanted.values() if 0 < d.size_bytes <= STREAM_ABOVE]
        large = [d for d in wanted.values() if d.size_bytes > STREAM_ABOVE]
        missing = []
        for batch in batches(small):
            req = re_pb2.BatchReadBlobsRequest(instance_name=self.instance, digests=batch)
            for r in self.cas.BatchReadBlobs(req, timeout=RPC_TIMEOUT).responses:
                if r.status.code == code_pb2.OK:
                    found[r.digest.hash] = r.data
                elif r.status.code == code_pb2.NOT_FOUND:
                    missing.append(r.digest)
                else:
                    raise RuntimeError(f"BatchReadBlobs {digest_str(r.digest)}: {r.status.message}")
        for d in large:
            try:
                req = bytestream_pb2.ReadRequest(resource_name=f"{self.prefix}blobs/{d.hash}/{d.size_bytes}")
                found[d.hash] = b"".join(c.data for c in self.bytestream.Read(req, timeout=RPC_TIMEOUT))
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                missing.append(d)
        if missing:
            raise Missing(missing)
        for h, data in found.items():
            if hashlib.sha256(data).hexdigest() != h:
                raise RuntimeError(f"CAS returned wrong bytes for {h}")
        return found

    def write(self, blobs):
        """Upload {hash: (Digest, bytes)} that the CAS does not have yet."""
        blobs = {h: v for h, v in blobs.items() if v[0].size_bytes > 0}
        if not blobs:
            return
        req = re_pb2.FindMissingBlobsRequest(instance_name=self.instance, blob_digests=[d for d, _ in blobs.values()])
        missing = self.cas.FindMissingBlobs(req, timeout=RPC_TIMEOUT).missing_blob_digests
        small = [d for d in missing if d.size_bytes <= STREAM_ABOVE]
        for batch in batches(small):
            reqs = [re_pb2.BatchUpdateBlobsRequest.Request(digest=d, data=blobs[d.hash][1]) for d in batch]
            resp = self.cas.BatchUpdateBlobs(
                re_pb2.BatchUpdateBlobsRequest(instance_name=self.instance, requests=reqs), timeout=RPC_TIMEOUT
            )
            for r in resp.responses:
                if r.status.code != code_pb2.OK:
                    raise RuntimeError(f"BatchUpdateBlobs {digest_str(r.digest)}: {r.status.message}")
        for d in missing:
            if d.size_bytes > STREAM_ABOVE:
                self.stream_write(d, blobs[d.hash][1])

    def stream_write(self, d, data):
        name = f"{self.prefix}uploads/{uuid.uuid4()}/blobs/{d.hash}/{d.size_bytes}"

        def chunks():
            for offset in range(0, len(data), CHUNK):
                end = min(offset + CHUNK, len(data))
                yield bytestream_pb2.WriteRequest(
                    resource_name=name if offset == 0 else "",
                    write_offset=offset,
                    data=data[offset:end],
                    finish_write=end == len(data),
                )

        resp = self.bytestream.Write(chunks(), timeout=RPC_TIMEOUT)
        if resp.committed_size != d.size_bytes:
            raise RuntimeError(f"ByteStream Write {digest_str(d)}: committed {resp.committed_size}")


def batches(digests):
    batch, total = [], 0
    for d in digests:
        if batch and total + d.size_bytes > BATCH_LIMIT:
            yield batch
            batch, total = [], 0
        batch.append(d)
        total += d.size_bytes
    if batch:
        yield batch


def check_name(name):
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise BadInput(f"invalid path component {name!r} in the input root")


def check_relative(path, what):
    parts = path.split("/")
    if path.startswith("/") or any(p in ("..",) for p in parts):
        raise BadInput(f"{what} {path!r} must be relative and stay inside the input root")


def materialize(cas, root_digest, dest):
    """Write the input root `root_digest` into the existing directory `dest`."""
    os.makedirs(dest, exist_ok=True)
    level = [(dest, root_digest)]
    files = []
    while level:
        blobs = cas.read([d for _, d in level])
        next_level = []
        for path, d in level:
            directory = re_pb2.Directory.FromString(blobs[d.hash])
            for f in directory.files:
                check_name(f.name)
                files.append((os.path.join(path, f.name), f.digest, f.is_executable))
            for sub in directory.directories:
                check_name(sub.name)
                os.mkdir(os.path.join(path, sub.name))
                next_level.append((os.path.join(path, sub.name), sub.digest))
            for link in directory.symlinks:
                check_name(link.name)
                os.symlink(link.target, os.path.join(path, link.name))
        level = next_level
    contents = cas.read([d for _, d, _ in files])
    for path, d, executable in files:
        with open(path, "wb") as out:
            out.write(contents[d.hash])
        os.chmod(path, 0o755 if executable else 0o644)


class Outputs:
    """Collects an action's outputs into an ActionResult and the blobs to upload."""

    def __init__(self, wd, directory_format):
        self.wd = wd
        self.blobs = {}
        self.want_tree = directory_format in (0, 2)  # TREE_ONLY, TREE_AND_DIRECTORY
        self.want_root = directory_format in (1, 2)  # DIRECTORY_ONLY, TREE_AND_DIRECTORY

    def add_blob(self, data):
        d = digest_of(data)
        self.blobs[d.hash] = (d, data)
        return d

    def file(self, path):
        full = os.path.join(self.wd, path)
        with open(full, "rb") as f:
            d = self.add_blob(f.read())
        return re_pb2.OutputFile(path=path, digest=d, is_executable=is_executable(full))

    def directory(self, path):
        children = {}
        root = self.directory_proto(os.path.join(self.wd, path), children)
        out = re_pb2.OutputDirectory(path=path)
        if self.want_tree:
            tree = re_pb2.Tree(root=root, children=[children[h] for h in sorted(children)])
            out.tree_digest.CopyFrom(self.add_blob(tree.SerializeToString()))
        if self.want_root:
            for child in children.values():
                self.add_blob(child.SerializeToString())
            out.root_directory_digest.CopyFrom(self.add_blob(root.SerializeToString()))
        return out

    def directory_proto(self, full, children):
        directory = re_pb2.Directory()
        for name in sorted(os.listdir(full), key=os.fsencode):
            entry = os.path.join(full, name)
            if os.path.islink(entry):
                directory.symlinks.add(name=name, target=os.readlink(entry))
            elif os.path.isdir(entry):
                child = self.directory_proto(entry, children)
                data = child.SerializeToString()
                children[hashlib.sha256(data).hexdigest()] = child
                directory.directories.add(name=name, digest=digest_of(data))
            elif os.path.isfile(entry):
                with open(entry, "rb") as f:
                    d = self.add_blob(f.read())
                directory.files.add(name=name, digest=d, is_executable=is_executable(entry))
        return directory

    def collect(self, command, result):
        if command.output_paths:
            for path in sorted(set(command.output_paths)):
                full = os.path.join(self.wd, path)
                if os.path.islink(full):
                    result.output_symlinks.add(path=path, target=os.readlink(full))
                elif os.path.isdir(full):
                    result.output_directories.append(self.directory(path))
                elif os.path.isfile(full):
                    result.output_files.append(self.file(path))
            return
        for path in sorted(set(command.output_files)):
            full = os.path.join(self.wd, path)
            if os.path.islink(full):
                result.output_file_symlinks.add(path=path, target=os.readlink(full))
            elif os.path.isdir(full):
                raise BadInput(f"output file {path!r} is a directory")
            elif os.path.isfile(full):
                result.output_files.append(self.file(path))
        for path in sorted(set(command.output_directories)):
            full = os.path.join(self.wd, path)
            if os.path.islink(full):
                result.output_directory_symlinks.add(path=path, target=os.readlink(full))
            elif os.path.isdir(full):
                result.output_directories.append(self.directory(path))
            elif os.path.exists(full):
                raise BadInput(f"output directory {path!r} is not a directory")


def is_executable(path):
    return bool(os.stat(path).st_mode & stat.S_IXUSR)


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
