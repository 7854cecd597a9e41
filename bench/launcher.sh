#!/usr/bin/env bash
# bench/launcher.sh — the launcher's figures, each measured side by side with its baseline in
# the same run (medians; the machine is shared, so read ratios, not absolute times):
#   1. stripped static launcher size;
#   2. warm launch of a tiny sh package vs running the extracted script directly;
#   3. cold first run of the CPython-stdlib payload (bench/make-payload.sh: 2,450 files, 102 MB)
#      on tmpfs, as tar.zst vs `zstd -dc | tar -x` and as tar.gz vs `tar -xzf` of the same
#      archives, plus the launcher's peak RSS. The tar.zst is encoded as `flavor build`
#      encodes a slot (independent frames + seek table, pspf's `encode` example), and the
#      pipeline decodes those very bytes; the launcher on the zstd CLI's one-frame stream of
#      the same tar is shown too;
#   4. cold first run of a Python app tree (bench/make-pytree.sh: CPython 3.12 + httpie's
#      pinned wheel set, ~4,600 small files) on tmpfs, tar.zst (encoded as in 3) vs
#      `zstd -dc | tar -x` of the same bytes.
# Cold runs are interleaved: ROUNDS rounds, each running every command RUNS_PER_ROUND times,
# so a change in the machine's load hits the launcher and its baseline alike; the medians are
# over all runs. The load average is printed before and after.
# Needs hyperfine, zstd, GNU tar and /usr/bin/time (apt-get install hyperfine zstd time); part 4
# needs pyenv's CPython 3.12 (see bench/make-pytree.sh) and is skipped without it.
#   BASELINE_LAUNCHER=<path>  also measure another launcher binary (e.g. an older build) in 3–4
#   PAYLOAD_DIR=<dir>         reuse payloads made earlier (default: made in the work directory)
#   LAUNCHER=<path>           measure this launcher binary instead of building flavor (which
#                             embeds target/launcher-build/…/flavor-launcher)
# Usage: bench/launcher.sh [RUNS_WARM] [ROUNDS] [RUNS_PER_ROUND]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS_WARM=${1:-2000}
ROUNDS=${2:-5}
PER_ROUND=${3:-3}

if [ -z "${LAUNCHER:-}" ]; then
  cargo build --release -q
  LAUNCHER=target/launcher-build/x86_64-unknown-linux-gnu/launcher/flavor-launcher
fi
cargo build --release -q -p pspf --example pack --example encode
PACK=target/release/examples/pack
ENCODE=target/release/examples/encode
W=$(mktemp -d /dev/shm/flavor-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
PAYLOAD=${PAYLOAD_DIR:-$W/payload}

median() { # hyperfine JSON → median seconds of command $2
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print(r["median"])' "$1" "$2"
}
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
ms() { python3 -c "import sys; print(f'{float(sys.argv[1])*1000:.2f} ms')" "$1"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# interleaved OUT NAME1 CMD1 PREP1 NAME2 CMD2 PREP2 …: ROUNDS × hyperfine over every command,
# all run times of each command pooled into OUT as "name median_seconds" lines.
interleaved() {
  local out=$1; shift
  local args=() round
  while [ $# -gt 0 ]; do
    args+=(--prepare "$3" -n "$1" "$2"); shift 3
  done
  for round in $(seq "$ROUNDS"); do
    hyperfine -N --style none --runs "$PER_ROUND" --export-json "$W/round$round.json" \
      "${args[@]}" >/dev/null
  done
  python3 - "$out" "$W"/round*.json <<'PY'
import json, statistics, sys
times = {}
for f in sys.argv[2:]:
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
with open(sys.argv[1], "w") as out:
    for name, t in times.items():
        out.write(f"{name}\t{statistics.median(t)}\t{len(t)}\n")
PY
  rm -f "$W"/round*.json
}
get() { awk -F'\t' -v n="$2" '$1 == n { print $2 }' "$1"; }
peak_rss() { # peak RSS (KiB) of a cold run of package $1
  rm -rf "$W/c1"
  FLAVOR_CACHE="$W/c1" /usr/bin/time -f %M "$1" 2>&1 >/dev/null | tail -1
}

echo "load before: $(load)"
echo "== 1. launcher size"
size=$(stat -c %s "$LAUNCHER")
echo "flavor-launcher: $size bytes ($(python3 -c "print(f'{$size/1048576:.2f}')") MiB; target <= 1,572,864), $(file -b "$LAUNCHER" | cut -d, -f1-4)"

echo "== 2. warm launch, tiny sh package"
printf '#!/bin/sh\necho "hello $1"\n' > "$W/hello.sh"
"$PACK" "$LAUNCHER" "$W/hello.psp" hello 1.0.0 '{workenv}/bin/hello.sh' \
  "hello:raw:$W/hello.sh:bin/hello.sh:755" >/dev/null
export FLAVOR_CACHE="$W/cache"
"$W/hello.psp" first >/dev/null
SCRIPT=$(readlink -f "$W/cache/workenv/hello")/bin/hello.sh
hyperfine -N --style none --warmup 200 --runs "$RUNS_WARM" --export-json "$W/warm.json" \
  "$SCRIPT x" "$W/hello.psp x" >/dev/null
direct=$(median "$W/warm.json" 0); launched=$(median "$W/warm.json" 1)
echo "script directly: $(ms "$direct")   package (warm): $(ms "$launched")   ratio $(ratio "$launched" "$direct")x"

# pack_both NAME CODEC FILE: $W/NAME.psp (and $W/NAME-base.psp with BASELINE_LAUNCHER)
pack_both() {
  PACK_PRECOMPRESSED=1 "$PACK" "$LAUNCHER" "$W/$1.psp" "$1" 1.0 /bin/true "p:$2:$3" >/dev/null
  if [ -n "${BASELINE_LAUNCHER:-}" ]; then
    PACK_PRECOMPRESSED=1 "$PACK" "$BASELINE_LAUNCHER" "$W/$1-base.psp" "$1" 1.0 /bin/true \
      "p:$2:$3" >/dev/null
  fi
}
clean_cache="rm -rf $W/c1"
clean_dest="sh -c 'rm -rf $W/dest && mkdir $W/dest'"

echo "== 3. cold first run, CPython stdlib payload (tmpfs; $ROUNDS rounds x $PER_ROUND runs)"
[ -f "$PAYLOAD/stdlib.tar.zst" ] || bash bench/make-payload.sh "$PAYLOAD" >/dev/null
"$ENCODE" tar.zst "$PAYLOAD/stdlib.tar" "$W/stdlib.tar.zst"
pack_both zst tar.zst "$W/stdlib.tar.zst"
pack_both gz tar.gz "$PAYLOAD/stdlib.tgz"
PACK_PRECOMPRESSED=1 "$PACK" "$LAUNCHER" "$W/one.psp" one 1.0 /bin/true \
  "p:tar.zst:$PAYLOAD/stdlib.tar.zst" >/dev/null
echo "tar.zst: $(stat -c %s "$W/stdlib.tar.zst") bytes in frames (zstd CLI, one frame: $(stat -c %s "$PAYLOAD/stdlib.tar.zst"))"
extra=()
if [ -n "${BASELINE_LAUNCHER:-}" ]; then
  extra=("baseline launcher tar.zst" "env FLAVOR_CACHE=$W/c1 $W/zst-base.psp" "$clean_cache")
fi
interleaved "$W/stdlib.txt" \
  "launcher tar.zst" "env FLAVOR_CACHE=$W/c1 $W/zst.psp" "$clean_cache" \
  "zstd -dc | tar -x" "sh -c 'zstd -dc $W/stdlib.tar.zst | tar -x -C $W/dest'" "$clean_dest" \
  "launcher tar.gz" "env FLAVOR_CACHE=$W/c1 $W/gz.psp" "$clean_cache" \
  "tar -xzf" "tar -xzf $PAYLOAD/stdlib.tgz -C $W/dest" "$clean_dest" \
  "launcher one frame" "env FLAVOR_CACHE=$W/c1 $W/one.psp" "$clean_cache" \
  "${extra[@]}"
zl=$(get "$W/stdlib.txt" "launcher tar.zst"); zp=$(get "$W/stdlib.txt" "zstd -dc | tar -x")
gl=$(get "$W/stdlib.txt" "launcher tar.gz"); gp=$(get "$W/stdlib.txt" "tar -xzf")
ol=$(get "$W/stdlib.txt" "launcher one frame")
echo "tar.zst: launcher $(ms "$zl")  vs zstd -dc | tar -x $(ms "$zp")   ratio $(ratio "$zl" "$zp")x (target <= 0.8x)"
echo "tar.gz:  launcher $(ms "$gl")  vs tar -xzf $(ms "$gp")   ratio $(ratio "$gl" "$gp")x"
echo "tar.zst as one frame (zstd CLI's stream, decoded on one thread): launcher $(ms "$ol")   ratio to the pipeline $(ratio "$ol" "$zp")x"
if [ -n "${BASELINE_LAUNCHER:-}" ]; then
  bl=$(get "$W/stdlib.txt" "baseline launcher tar.zst")
  echo "tar.zst: baseline launcher $(ms "$bl")   this launcher / baseline $(ratio "$zl" "$bl")x"
fi
for p in zst gz; do
  rss=$(peak_rss "$W/$p.psp")
  echo "peak RSS, cold $p: $((rss / 1024)) MiB ($rss KiB)"
done

echo "== 4. cold first run, Python app tree (tmpfs; $ROUNDS rounds x $PER_ROUND runs)"
if [ ! -f "$PAYLOAD/pytree.tar.zst" ] && ! bash bench/make-pytree.sh "$PAYLOAD" >"$W/pytree.log" 2>&1; then
  echo "skipped: bench/make-pytree.sh failed (needs pyenv's CPython 3.12):"
  tail -3 "$W/pytree.log"
else
  grep -E 'regular_files|symlinks|raw_file_bytes' "$PAYLOAD/pytree-stats.txt" | tr '\n' ' '; echo
  "$ENCODE" tar.zst "$PAYLOAD/pytree.tar" "$W/pytree.tar.zst"
  pack_both tree tar.zst "$W/pytree.tar.zst"
  extra=()
  if [ -n "${BASELINE_LAUNCHER:-}" ]; then
    extra=("baseline launcher" "env FLAVOR_CACHE=$W/c1 $W/tree-base.psp" "$clean_cache")
  fi
  interleaved "$W/tree.txt" \
    "launcher tar.zst" "env FLAVOR_CACHE=$W/c1 $W/tree.psp" "$clean_cache" \
    "zstd -dc | tar -x" "sh -c 'zstd -dc $W/pytree.tar.zst | tar -x -C $W/dest'" "$clean_dest" \
    "${extra[@]}"
  tl=$(get "$W/tree.txt" "launcher tar.zst"); tp=$(get "$W/tree.txt" "zstd -dc | tar -x")
  echo "tar.zst: launcher $(ms "$tl")  vs zstd -dc | tar -x $(ms "$tp")   ratio $(ratio "$tl" "$tp")x (target <= 0.8x)"
  if [ -n "${BASELINE_LAUNCHER:-}" ]; then
    bt=$(get "$W/tree.txt" "baseline launcher")
    echo "tar.zst: baseline launcher $(ms "$bt")   this launcher / baseline $(ratio "$tl" "$bt")x"
  fi
  rss=$(peak_rss "$W/tree.psp")
  echo "peak RSS, cold tree: $((rss / 1024)) MiB ($rss KiB)"
fi
echo "load after: $(load)"
