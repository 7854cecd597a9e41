"""CAS access for the test worker (worker.py): blobs in and out (batches under BuildGrid's
4 MiB message cap, ByteStream above 2 MiB), an input root written to disk, an action's outputs
collected into an ActionResult. Imported by worker.py; run with the BuildGrid venv's Python.
"""

import hashlib
import os
import stat
import uuid

import grpc

from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re_pb2
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid._protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc
from buildgrid._protos.google.rpc import code_pb2

# Blobs above this go through ByteStream; batches stay below BATCH_LIMIT (BuildGrid's gRPC
# messages are capped at 4 MiB).
STREAM_ABOVE = 2 * 1024 * 1024
BATCH_LIMIT = 3 * 1024 * 1024
CHUNK = 1024 * 1024
RPC_TIMEOUT = 60.0


class Missing(Exception):
    """Blobs the CAS does not have: the lease fails with FAILED_PRECONDITION."""

    def __init__(self, digests):
        super().__init__(", ".join(f"blobs/{d.hash}/{d.size_bytes}" for d in digests))
        self.digests = digests


class BadInput(Exception):
    """An input or output the worker cannot accept: INVALID_ARGUMENT."""


def digest_of(data):
    return re_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def digest_str(d):
    return f"{d.hash}/{d.size_bytes}"


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
