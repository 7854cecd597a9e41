#!/usr/bin/env bash
# bench/launcher.sh — the launcher's figures, each measured side by side with its baseline in
# the same run (medians; the machine is shared, so read ratios, not absolute times):
#   1. stripped static launcher size;
#   2. warm launch of a tiny sh package vs running the extracted script directly;
#   3. cold first run of the CPython-stdlib payload (bench/make-payload.sh) on
#      tmpfs, as tar.zst vs `zstd -dc | tar -x` and as tar.gz vs `tar -xzf` of the same
#      archives, plus the launcher's peak RSS.
# Needs hyperfine, zstd, GNU tar and /usr/bin/time (apt-get install hyperfine zstd time).
# Usage: bench/launcher.sh [RUNS_WARM] [RUNS_COLD]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS_WARM=${1:-2000}
RUNS_COLD=${2:-10}

cargo build --release -q
cargo build --release -q -p pspf --example pack
LAUNCHER=target/launcher-build/x86_64-unknown-linux-gnu/launcher/flavor-launcher
PACK=target/release/examples/pack
W=$(mktemp -d /dev/shm/flavor-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT

median() { # hyperfine JSON → median seconds of command $2
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print(r["median"])' "$1" "$2"
}
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
ms() { python3 -c "import sys; print(f'{float(sys.argv[1])*1000:.2f} ms')" "$1"; }

echo "== 1. launcher size"
size=$(stat -c %s "$LAUNCHER")
echo "flavor-launcher: $size bytes ($(python3 -c "print(f'{$size/1048576:.2f}')") MiB), $(file -b "$LAUNCHER" | cut -d, -f1-4)"

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

echo "== 3. cold first run, CPython stdlib payload (tmpfs)"
bash bench/make-payload.sh "$W/payload" >/dev/null
PACK_PRECOMPRESSED=1 "$PACK" "$LAUNCHER" "$W/zst.psp" stdlib 1.0 /bin/true \
  "std:tar.zst:$W/payload/stdlib.tar.zst" >/dev/null
PACK_PRECOMPRESSED=1 "$PACK" "$LAUNCHER" "$W/gz.psp" stdlib 1.0 /bin/true \
  "std:tar.gz:$W/payload/stdlib.tgz" >/dev/null
mkdir -p "$W/dest"
hyperfine -N --style none --runs "$RUNS_COLD" --export-json "$W/cold.json" \
  --prepare "rm -rf $W/c1" -n "launcher tar.zst" "env FLAVOR_CACHE=$W/c1 $W/zst.psp" \
  --prepare "sh -c 'rm -rf $W/dest && mkdir $W/dest'" -n "zstd -dc | tar -x" \
  "sh -c 'zstd -dc $W/payload/stdlib.tar.zst | tar -x -C $W/dest'" \
  --prepare "rm -rf $W/c1" -n "launcher tar.gz" "env FLAVOR_CACHE=$W/c1 $W/gz.psp" \
  --prepare "sh -c 'rm -rf $W/dest && mkdir $W/dest'" -n "tar -xzf" "tar -xzf $W/payload/stdlib.tgz -C $W/dest" \
  >/dev/null
zl=$(median "$W/cold.json" 0); zp=$(median "$W/cold.json" 1)
gl=$(median "$W/cold.json" 2); gp=$(median "$W/cold.json" 3)
echo "tar.zst: launcher $(ms "$zl")  vs zstd -dc | tar -x $(ms "$zp")   ratio $(ratio "$zl" "$zp")x"
echo "tar.gz:  launcher $(ms "$gl")  vs tar -xzf $(ms "$gp")   ratio $(ratio "$gl" "$gp")x"
for p in zst gz; do
  rm -rf "$W/c1"
  rss=$(FLAVOR_CACHE="$W/c1" /usr/bin/time -f %M "$W/$p.psp" 2>&1 >/dev/null | tail -1)
  echo "peak RSS, cold $p: $((rss / 1024)) MiB ($rss KiB)"
done
