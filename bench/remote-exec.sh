#!/usr/bin/env bash
# bench/remote-exec.sh — remote execution next to a local build, measured in the same run:
#   a package of STEPS independent steps of `sleep 0.2`-scale work (each also uppercases its
#   own input), built
#     (a) locally with -j 2,
#     (b) on a BuildGrid cluster (test-support's, on loopback) with 2 workers × capacity 4 and
#         `[remote] jobs = 8`,
#   both cold (a fresh build cache each run, and a per-run tag in every command so the
#   cluster's action cache misses), then
#     (c) on the cluster again from a fresh local cache: every step a cluster cache hit.
# Prints medians, the ratio remote / local (goal ≤ 0.6×) and the per-action overhead against
# BuildGrid: (remote wall − local wall of the non-step actions − STEPS × 0.2 s / 8 slots) / STEPS.
# The workers run on this machine too, so on 2 cores this measures overhead, not a farm.
# Needs BuildGrid 0.9.1 (test-support/reapi/install-buildgrid.sh, FLAVOR_BUILDGRID) and
# Debian's postgresql. Usage: bench/remote-exec.sh [STEPS] [RUNS]; FLAVOR_BIN=… to use a
# given flavor binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-50}
RUNS=${2:-3}
export FLAVOR_BUILDGRID=${FLAVOR_BUILDGRID:-$HOME/.cache/flavor-ci/buildgrid-0.9.1}

if [ -z "${FLAVOR_BIN:-}" ]; then
  cargo build --release -q
  FLAVOR_BIN=$PWD/target/release/flavor
fi
cargo build -q -p flavor-test-support --example reapi-cluster
CLUSTER_BIN=$PWD/target/debug/examples/reapi-cluster

W=$(mktemp -d /tmp/flavor-bench-rexec.XXXXXX)
# Never the user's home, key or caches.
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" XDG_CACHE_HOME="$W/home/.cache"
export FLAVOR_CACHE="$W/home/flavor-cache" SOURCE_DATE_EPOCH=1700000000
mkdir -p "$HOME"

coproc CLUSTER { "$CLUSTER_BIN" --workers 2 --capacity 4; }
CLUSTER_PID=$CLUSTER_PID
cleanup() {
  exec {CLUSTER[1]}>&- 2>/dev/null || true
  wait "$CLUSTER_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
URL=
while read -r key value <&"${CLUSTER[0]}"; do
  case $key in
    url) URL=$value ;;
    startup) echo "cluster up in $value" ;;
    ready) break ;;
  esac
done
[ -n "$URL" ] || { echo "the REAPI cluster did not start (is BuildGrid installed?)" >&2; exit 1; }

# project DIR TAG: the package, its STEPS steps tagged TAG.
project() {
  rm -rf "$1"
  mkdir -p "$1/in"
  {
    printf '[package]\nname = "bench"\nversion = "1.0.0"\n\n[execution]\ncommand = "/bin/true"\n\n'
    printf '[remote]\njobs = 8\nplatform = { OSFamily = "linux", ISA = "x86-64" }\n\n'
    for i in $(seq 0 $((STEPS - 1))); do
      printf '[[step]]\nid = "s%d"\ncommand = "sleep 0.2; mkdir -p out && tr a-z A-Z < in/%d.txt > out/%d.txt # %s"\n' "$i" "$i" "$i" "$2"
      printf 'inputs = ["in/%d.txt"]\noutputs = ["out/%d.txt"]\n\n' "$i" "$i"
      printf '[[slot]]\nid = "s%d"\nstep = "s%d"\ntarget = "."\n\n' "$i" "$i"
      printf 'input %d\n' "$i" >"$1/in/$i.txt"
    done
  } >"$1/flavor.toml"
}

now() { date +%s.%N; }
# timed DIR ARGS…: seconds of one `flavor build` (fails loudly).
timed() {
  local dir=$1
  shift
  local t0 t1
  t0=$(now)
  (cd "$dir" && "$FLAVOR_BIN" build --json "$@" >"$W/last.json" 2>"$W/last.err") || {
    cat "$W/last.err" >&2
    tail -3 "$W/last.json" >&2
    exit 1
  }
  t1=$(now)
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$t1"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
summary() { python3 -c 'import json,sys; s=[json.loads(l) for l in open(sys.argv[1])][-1]; print(s["remote_executed"], s["remote_cached"], json.dumps(s.get("remote_execution")))' "$W/last.json"; }

local_t=() remote_t=() hit_t=()
for r in $(seq 1 "$RUNS"); do
  tag="run-$r-$$"
  project "$W/local" "$tag"
  local_t+=("$(timed "$W/local" -j 2 --no-remote-execution)")
  project "$W/remote" "$tag-r"
  remote_t+=("$(timed "$W/remote" -j 2 --remote-execution "$URL")")
  echo "run $r: local ${local_t[-1]} s, remote ${remote_t[-1]} s ($(summary))"
  project "$W/hit" "$tag-r"
  hit_t+=("$(timed "$W/hit" -j 2 --remote-execution "$URL")")
  echo "run $r: remote, all cluster cache hits ${hit_t[-1]} s ($(summary))"
done

L=$(median "${local_t[@]}")
R=$(median "${remote_t[@]}")
H=$(median "${hit_t[@]}")
python3 - "$L" "$R" "$H" "$STEPS" <<'EOF'
import sys
l, r, h, n = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ideal = n * 0.2 / 8
print(f"{n} steps, medians: local -j 2 {l:.2f} s, remote 2×4 {r:.2f} s, remote cache hits {h:.2f} s")
print(f"remote / local: {r / l:.2f}x (goal <= 0.60x); cache hits / local: {h / l:.2f}x")
print(f"per-action overhead against BuildGrid: {(r - ideal) / n * 1000:.0f} ms "
      f"(remote wall minus {ideal:.2f} s of ideal sleeping on 8 slots, per step; includes the "
      f"{n + 1} local archive/package actions)")
EOF
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
