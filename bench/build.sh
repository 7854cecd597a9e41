#!/usr/bin/env bash
# bench/build.sh — `flavor build` measured side by side with its baselines in the same run
# (medians; the machine is shared, so read the ratios, not the absolute times):
#   1. cold build of a package whose single slot is the CPython stdlib directory
#      (bench/make-payload.sh, untarred; on tmpfs), codec tar.zst vs
#      `tar -cf - DIR | zstd -T0 -3 > out`, and codec tar.gz vs `tar -czf out DIR`.
#      Cold = a fresh FLAVOR_BUILD_CACHE (so also no source digests) and no dist/ each run;
#   2. no-op rebuild of examples/monorepo (target ≤ 50 ms), next to running `flavor --version`
#      (process start-up alone);
#   3. rebuild of examples/monorepo after one member's script changed (its chain only: the
#      actions that ran are printed once);
#   4. the sandbox's set-up cost: a step reading 2,000 input files, forced to run, with
#      `sandbox = true` (inputs copied into a private directory) vs `sandbox = false`.
# Needs hyperfine, zstd and GNU tar (apt-get install hyperfine zstd).
# Usage: bench/build.sh [RUNS_COLD] [RUNS_REBUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS_COLD=${1:-10}
RUNS_REBUILD=${2:-100}
for tool in hyperfine zstd tar python3; do
  command -v "$tool" >/dev/null || { echo "bench/build.sh needs $tool" >&2; exit 1; }
done

cargo build --release -q
FLAVOR=$PWD/target/release/flavor
W=$(mktemp -d /dev/shm/flavor-bench-build.XXXXXX)
trap 'rm -rf "$W"' EXIT
# Never the user's home, key or caches.
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" XDG_CACHE_HOME="$W/home/.cache"
export FLAVOR_CACHE="$W/home/flavor-cache" SOURCE_DATE_EPOCH=1700000000
mkdir -p "$HOME"

median() { # hyperfine JSON → median seconds of command $2
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print(r["median"])' "$1" "$2"
}
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
ms() { python3 -c "import sys; print(f'{float(sys.argv[1])*1000:.1f} ms')" "$1"; }

echo "== 1. cold build, CPython stdlib payload (tmpfs)"
bash bench/make-payload.sh "$W/payload" >/dev/null
mkdir -p "$W/proj/stdlib"
tar -xf "$W/payload/stdlib.tar" -C "$W/proj/stdlib"
files=$(find "$W/proj/stdlib" -type f | wc -l)
bytes=$(du -sb "$W/proj/stdlib" | cut -f1)
echo "payload: $files files, $((bytes / 1048576)) MiB"
for codec in tar.zst tar.gz; do
  dir="$W/proj/${codec/./-}"
  mkdir -p "$dir"
  cat > "$dir/flavor.toml" <<EOF
[package]
name = "stdlib"
version = "1.0.0"
allow_sources_outside = ["../stdlib"]   # the payload is shared by both projects

[execution]
command = "/bin/true"

[[slot]]
id = "stdlib"
source = "../stdlib"
target = "."
codec = "$codec"
EOF
done
# One build of each first, so the per-user key exists and the output is checked.
for codec in tar-zst tar-gz; do
  FLAVOR_BUILD_CACHE="$W/bc" "$FLAVOR" build -q --manifest-path "$W/proj/$codec"
  rm -rf "$W/bc"
done
hyperfine -N --style none --warmup 1 --runs "$RUNS_COLD" --export-json "$W/cold.json" \
  --prepare "rm -rf $W/bc $W/proj/tar-zst/dist" -n "flavor build (tar.zst)" \
  "env FLAVOR_BUILD_CACHE=$W/bc $FLAVOR build -q --manifest-path $W/proj/tar-zst" \
  --prepare "rm -f $W/out.tar.zst" -n "tar -cf - | zstd -T0 -3" \
  "sh -c 'tar -cf - -C $W/proj stdlib | zstd -q -T0 -3 > $W/out.tar.zst'" \
  --prepare "rm -rf $W/bc $W/proj/tar-gz/dist" -n "flavor build (tar.gz)" \
  "env FLAVOR_BUILD_CACHE=$W/bc $FLAVOR build -q --manifest-path $W/proj/tar-gz" \
  --prepare "rm -f $W/out.tgz" -n "tar -czf" "tar -czf $W/out.tgz -C $W/proj stdlib" \
  >/dev/null
fz=$(median "$W/cold.json" 0); pz=$(median "$W/cold.json" 1)
fg=$(median "$W/cold.json" 2); pg=$(median "$W/cold.json" 3)
echo "tar.zst: flavor build $(ms "$fz")  vs tar | zstd -T0 -3 $(ms "$pz")   ratio $(ratio "$fz" "$pz")x"
echo "tar.gz:  flavor build $(ms "$fg")  vs tar -czf $(ms "$pg")   ratio $(ratio "$fg" "$pg")x"
echo "sizes: flavor $(stat -c %s "$W/proj/tar-zst/dist/debug/stdlib.psp") / $(stat -c %s "$W/proj/tar-gz/dist/debug/stdlib.psp") bytes (launcher included);" \
  "pipelines $(stat -c %s "$W/out.tar.zst") / $(stat -c %s "$W/out.tgz") bytes"

echo "== 2. no-op rebuild, examples/monorepo"
mkdir -p "$W/mono"
(cd examples/monorepo && tar -cf - --exclude=dist --exclude=.flavor --exclude=build .) | tar -xf - -C "$W/mono"
(cd "$W/mono" && "$FLAVOR" build -q)
hyperfine -N --style none --warmup 5 --runs "$RUNS_REBUILD" --export-json "$W/noop.json" \
  -n "flavor --version" "$FLAVOR --version" \
  -n "flavor build (no-op)" "$FLAVOR build -q --manifest-path $W/mono" >/dev/null
sv=$(median "$W/noop.json" 0); nb=$(median "$W/noop.json" 1)
built=$("$FLAVOR" build --json --manifest-path "$W/mono" | tail -1 |
  python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["built"], "built,", s["cached"], "cached")')
echo "no-op rebuild $(ms "$nb") (target <= 50 ms; $built)   flavor --version $(ms "$sv")"

echo "== 3. rebuild after changing apps/greet/src/greet.sh"
GREET="$W/mono/apps/greet/src/greet.sh"
echo "# change 0" >> "$GREET"
"$FLAVOR" build --json --manifest-path "$W/mono" | python3 -c '
import json, sys
events = [json.loads(line) for line in sys.stdin]
ran = sorted(e["label"] for e in events if e["event"] == "started")
s = events[-1]
print("reran %d of %d actions: %s" % (s["built"], s["built"] + s["cached"], ", ".join(ran)))'
hyperfine -N --style none --warmup 2 --runs "$RUNS_REBUILD" --export-json "$W/touch.json" \
  --prepare "sh -c 'date +%s%N | sed \"s/^/# /\" >> $GREET'" \
  -n "flavor build (one file changed)" "$FLAVOR build -q --manifest-path $W/mono" >/dev/null
tb=$(median "$W/touch.json" 0)
echo "rebuild after one change $(ms "$tb")   (no-op $(ms "$nb"), ratio $(ratio "$tb" "$nb")x)"

echo "== 4. sandbox set-up, a step with 2,000 input files"
S="$W/sandboxed"
mkdir -p "$S/in"
python3 - "$S/in" <<'PY'
import os, sys
for d in range(20):
    os.makedirs(f"{sys.argv[1]}/d{d}", exist_ok=True)
    for f in range(100):
        with open(f"{sys.argv[1]}/d{d}/f{f}.txt", "w") as out:
            out.write(f"file {d}/{f}\n" * 20)
PY
for mode in true false; do
  cat > "$S/flavor-$mode.toml" <<EOF
[package]
name = "sandboxed"
version = "1.0.0"

[execution]
command = "{workenv}/count.txt"

[[slot]]
id = "count"
step = "count"
codec = "raw"

[[step]]
id = "count"
command = "find in -type f | wc -l > count.txt"
inputs = ["in/**"]
outputs = ["count.txt"]
sandbox = $mode
EOF
done
run_mode() { # builds with flavor-$1.toml as the manifest, every action forced to run
  cp "$S/flavor-$1.toml" "$S/flavor.toml" && "$FLAVOR" build -q --force --manifest-path "$S"
}
export -f run_mode; export S FLAVOR
run_mode true && run_mode false
hyperfine -N --style none --warmup 2 --runs "$RUNS_COLD" --export-json "$W/sandbox.json" \
  -n "step, sandbox = true" "bash -c 'run_mode true'" \
  -n "step, sandbox = false" "bash -c 'run_mode false'" >/dev/null
st=$(median "$W/sandbox.json" 0); su=$(median "$W/sandbox.json" 1)
echo "2,000 inputs: sandboxed $(ms "$st")  vs in the tree $(ms "$su")   set-up cost" \
  "$(python3 -c "import sys; print(f'{(float(sys.argv[1])-float(sys.argv[2]))*1000:.1f} ms')" "$st" "$su")," \
  "ratio $(ratio "$st" "$su")x"
