#!/usr/bin/env bash
# bench/watch.sh — `flavor watch` latency: from a source file write to the finished package.
#
# For examples/hello and for one member of examples/monorepo (apps/greet; a small workspace
# made here if the example is missing), a release `flavor watch --json` runs on a private copy
# (own HOME, XDG directories, caches; a seed key). Each sample rewrites the package's script
# with new content, waits for the `rebuild` event, and takes the latency as the installed
# package's mtime minus the time just before the write: write → debounce (50 ms) → rebuild of
# the affected actions → package installed. Prints median/min/max per project.
# Target: median ≤ 150 ms. Needs python3.
# Usage: bench/watch.sh [SAMPLES]   (default 25)
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-25}

cargo build --release -q
FLAVOR=$PWD/target/release/flavor
W=$(mktemp -d "${TMPDIR:-/tmp}/flavor-watch-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/home" "$W/xdg-cache" "$W/xdg-config" "$W/cache"
export HOME=$W/home XDG_CACHE_HOME=$W/xdg-cache XDG_CONFIG_HOME=$W/xdg-config
export FLAVOR_CACHE=$W/cache FLAVOR_BENCH_SEED=flavor-watch-bench

# copy EXAMPLE DEST: the example without build products, every package signed with the seed.
copy() {
  mkdir -p "$2"
  tar -C "examples/$1" --exclude=./dist --exclude=./.flavor --exclude='*/dist' -cf - . | tar -C "$2" -xf -
  grep -rl --include=flavor.toml '^\[package\]' "$2" | while read -r m; do
    printf '\n[signing]\nkey_seed_env = "FLAVOR_BENCH_SEED"\n' >> "$m"
  done
}

copy hello "$W/hello"
if [ -d examples/monorepo ]; then
  copy monorepo "$W/mono"
else
  mkdir -p "$W/mono/apps/greet/src" "$W/mono/shared/lib"
  printf '[workspace]\nmembers = ["apps/*"]\n' > "$W/mono/flavor.toml"
  printf 'say() { echo "greet: $*"; }\n' > "$W/mono/shared/lib/say.sh"
  printf '#!/bin/sh\n. "$APP_LIB/say.sh"\nsay hello\n' > "$W/mono/apps/greet/src/greet.sh"
  cat > "$W/mono/apps/greet/flavor.toml" <<'EOF'
[package]
name = "greet"
version = "0.1.0"

[execution]
command = "{workenv}/bin/greet.sh"
env = { APP_LIB = "{workenv}/lib" }

[[slot]]
id = "lib"
source = "../../shared/lib"
target = "lib"

[[slot]]
id = "app"
source = "src"
target = "bin"

[signing]
key_seed_env = "FLAVOR_BENCH_SEED"
EOF
fi

# measure LABEL DIR FILE PACKAGE: SAMPLES edits of DIR/FILE under `flavor watch` started in DIR.
measure() {
  python3 - "$FLAVOR" "$SAMPLES" "$@" <<'EOF'
import json, os, queue, statistics, subprocess, sys, threading, time
flavor, samples, label, cwd, rel, pkg = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
path, pkg = os.path.join(cwd, rel), os.path.join(cwd, pkg)
proc = subprocess.Popen([flavor, "watch", "--json"], cwd=cwd, stdout=subprocess.PIPE, text=True)
events = queue.Queue()
threading.Thread(target=lambda: [events.put(json.loads(l)) for l in proc.stdout], daemon=True).start()

def wait_for(kind):
    while True:
        e = events.get(timeout=60)
        if e.get("event") == kind:
            return e

try:
    wait_for("watching")
    original = open(path).read()
    times = []
    for i in range(samples + 1):
        time.sleep(0.3)  # let the previous build's events settle
        content = original + f"# sample {i}\n"
        t0 = time.time_ns()
        with open(path, "w") as f:
            f.write(content)
        e = wait_for("rebuild")
        assert e["ok"] and any(c.endswith(rel) for c in e["changed"]), e
        if i > 0:  # the first edit warms the page cache
            times.append((os.stat(pkg).st_mtime_ns - t0) / 1e6)
    ms = lambda v: f"{v:.0f} ms"
    print(f"{label}: median {ms(statistics.median(times))}, min {ms(min(times))}, "
          f"max {ms(max(times))} ({len(times)} samples, {e['built']} actions rebuilt)")
finally:
    proc.terminate()
    proc.wait()
EOF
}

echo "== write → finished package under flavor watch (debounce 50 ms; target median ≤ 150 ms)"
measure "examples/hello" "$W/hello" src/hello.sh dist/hello.psp
measure "examples/monorepo, member greet" "$W/mono/apps/greet" src/greet.sh dist/greet.psp
