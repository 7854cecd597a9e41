#!/usr/bin/env bash
# make-pytree.sh — make the "Python app tree" payload for extraction/build benchmarks (issue 16):
# a CPython 3.12 install (the machine's pyenv build, pruned like the test fixture) with httpie's
# pinned wheel set (test-support/pins/httpie.txt: 16 wheels, two with C extensions) installed
# into its site-packages and everything precompiled to unchecked-hash .pyc — the shape of a
# packaged Python app: thousands of small files, a few large ones, a few symlinks. ELF files are
# stripped (`strip --strip-unneeded`, binutils).
#
# Usage: make-pytree.sh [OUTDIR]          (default OUTDIR: ./payload)
#   PYTHON312=<prefix>       CPython 3.12 prefix (default: newest ~/.pyenv/versions/3.12.*)
#   WHEELS=<dir>             find-links directory holding the pinned wheels (default
#                            OUTDIR/wheels, downloaded there with pip --require-hashes once)
#   SOURCE_DATE_EPOCH=<secs> mtime stamped on every entry (default 1700000000)
#
# Produces in OUTDIR:
#   pytree/            the tree (top directory python/)
#   pytree.tar         uncompressed GNU tar of pytree/, sorted by name, mtime fixed,
#                      owner/group 0, modes normalised (u+rw, go-w)
#   pytree.tgz         gzip -6 -n of pytree.tar
#   pytree.tar.zst     zstd -3 -T1 of pytree.tar
#   pytree-stats.txt   source, wheel set, file/dir/symlink counts, raw bytes, sizes, sha256
# Same interpreter build + same pins + same GNU tar/gzip/zstd => byte-identical outputs.
set -euo pipefail
OUT=${1:-payload}
EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export LC_ALL=C TZ=UTC PYTHONDONTWRITEBYTECODE=1 PIP_ROOT_USER_ACTION=ignore
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PINS=$ROOT/test-support/pins/httpie.txt

PREFIX=${PYTHON312:-$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.* 2>/dev/null \
  | sort -t. -k3 -n | tail -1)}
PY=$PREFIX/bin/python3.12
[ -x "$PY" ] || { echo "make-pytree: no CPython 3.12 at '$PREFIX' (set PYTHON312)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WHEELS=${WHEELS:-$OUT/wheels}

# 1. The pinned wheels (pip checks every sha256; files already there are reused).
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --requirement "$PINS" --dest "$WHEELS"

# 2. The interpreter, pruned: no tests, idle, tkinter, turtledemo, ensurepip, config, caches,
#    host site-packages, console scripts; symlinks kept as they are.
TREE=$OUT/pytree
rm -rf "$TREE"
mkdir -p "$TREE/python"
SL=lib/python3.12
tar -C "$PREFIX" -cf - \
  --no-anchored --exclude=__pycache__ --exclude='_tkinter*' \
  --anchored --exclude="$SL/test" --exclude="$SL/idlelib" --exclude="$SL/tkinter" \
  --exclude="$SL/turtledemo" --exclude="$SL/ensurepip" --exclude="$SL/config-3.12-*" \
  --exclude="$SL/site-packages/*" \
  bin/python3.12 bin/python3 bin/python include lib/libpython3.12.so.1.0 lib/libpython3.12.so \
  lib/libpython3.so "$SL" | tar -C "$TREE/python" -xf -

# 3. httpie and its dependencies, installed offline from the pinned wheels.
SITE=$TREE/python/$SL/site-packages
"$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-index --no-compile \
  --require-hashes --find-links "$WHEELS" --requirement "$PINS" --target "$SITE"
rm -rf "$SITE/bin"   # console scripts: their shebangs name the build interpreter
# Debug symbols off the ELF files, as a shipped interpreter has (libpython: 30 MB -> ~5 MB).
find "$TREE" -type f \( -name '*.so' -o -name '*.so.*' -o -name python3.12 \) -print0 \
  | sort -z | xargs -0 strip --strip-unneeded

# 4. Bytecode for everything, hash-based (fixed mtimes would make timestamp .pyc stale) and
#    with the tree's own paths (/python/...) rather than this directory's.
"$PY" -I -m compileall -q -f -j0 --invalidation-mode unchecked-hash \
  -s "$TREE" -p / "$TREE/python/$SL" >/dev/null

# 5. Deterministic archives.
tar --create --file "$OUT/pytree.tar" --directory "$TREE" \
  --format=gnu --sort=name --mtime="@$EPOCH" \
  --owner=0 --group=0 --numeric-owner --mode='u+rw,go-w' \
  --no-acls --no-xattrs --no-selinux python
gzip -6 -n -c "$OUT/pytree.tar" >"$OUT/pytree.tgz"
zstd -3 -T1 -q -f -c "$OUT/pytree.tar" >"$OUT/pytree.tar.zst"

# Statistics (from the archive itself, so they describe exactly what was packed).
"$PY" -I - "$OUT" "$PREFIX" "$PINS" <<'PYEOF'
import hashlib, os, sys, tarfile
out, prefix, pins = sys.argv[1:4]
files = dirs = links = 0; raw = 0
with tarfile.open(os.path.join(out, "pytree.tar")) as tf:
    for m in tf:
        if m.isfile(): files += 1; raw += m.size
        elif m.isdir(): dirs += 1
        elif m.issym(): links += 1
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
    return h.hexdigest()
wheels = sum(1 for l in open(pins) if l.strip() and not l.startswith("#"))
lines = [f"python_version: {sys.version.split()[0]}",
         f"source_prefix: {prefix}",
         f"wheel_set: {os.path.basename(pins)} ({wheels} wheels, sha256 {sha(pins)[:16]})",
         f"regular_files: {files}", f"directories: {dirs}", f"symlinks: {links}",
         f"raw_file_bytes: {raw}"]
for n in ("pytree.tar", "pytree.tgz", "pytree.tar.zst"):
    p = os.path.join(out, n)
    lines.append(f"{n}: {os.path.getsize(p)} bytes sha256={sha(p)}")
open(os.path.join(out, "pytree-stats.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
