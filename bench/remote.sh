#!/usr/bin/env bash
# bench/remote.sh — `flavor build` of examples/monorepo with and without the shared remote cache
# (Bazel HTTP protocol, served by a local nginx with WebDAV `PUT` that this script starts on a
# free port). Medians; the machine is shared, so read the ratios, not the absolute times:
#   1. cold local build, no remote (--no-remote-cache): each run a fresh empty
#      FLAVOR_BUILD_CACHE and no dist/ (nor the step output apps/stamp/build/) — the baseline;
#   2. "second clone": the remote is populated once by a build of clone A (own local cache),
#      then each run builds clone B with a fresh empty local cache and no dist/ against it,
#      --remote-cache-read-only so the runs upload nothing. Ratio 2/1: target well below 1.
#      A --json run of B prints built/cached/remote_hits and the bytes downloaded, and B's
#      packages must be byte-identical to A's (cmp; the script fails otherwise);
#   3. cold build into an empty remote: fresh local cache AND fresh remote data dir each run,
#      so every result is uploaded (the command waits for its background uploads).
#      Ratio 3/1 is the upload overhead.
# The monorepo builds take ~60 ms; --heavy adds what a user with a heavy build sees: a package
# whose single slot is the CPython stdlib directory (bench/make-payload.sh, untarred;
# codec tar.zst, `flavor build --release` (zstd level 19:
# seconds of CPU), HEAVY_RUNS runs of each (default 5, no warmup):
#   H1. cold local release build, no remote: fresh FLAVOR_BUILD_CACHE and no dist/ each run;
#   H2. second clone (a separate copy of the project directory, payload included) with a fresh
#      local cache and no dist/ each run, reading (--remote-cache-read-only) a remote populated
#      once by a first clone's release build. Ratio H2/H1. A --json run prints built/remote_hits
#      and the bytes downloaded; the second clone's package must be byte-identical to the first's.
# All clones share one HOME (so one per-user signing key: another key, other package bytes).
# Needs hyperfine, nginx (with http_dav_module) and python3 (apt-get install hyperfine nginx);
# --heavy also GNU tar, gzip and zstd (for make-payload.sh).
# Usage: [HEAVY_RUNS=N] bench/remote.sh [RUNS] [--warmup N] [--heavy]
#        (RUNS default 20, warmup default 1, --heavy off, HEAVY_RUNS default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=20
WARMUP=1
HEAVY=0
HEAVY_RUNS=${HEAVY_RUNS:-5}
while [ $# -gt 0 ]; do
  case "$1" in
    --warmup) WARMUP=${2:?--warmup needs a number}; shift 2 ;;
    --warmup=*) WARMUP=${1#--warmup=}; shift ;;
    --heavy) HEAVY=1; shift ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench/remote.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) RUNS=$1; shift ;;
  esac
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "bench/remote.sh needs nginx (apt-get install nginx)" >&2; exit 1; }
tools="hyperfine python3"
[ "$HEAVY" -eq 0 ] || tools="$tools tar gzip zstd"
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "bench/remote.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
[ "$HEAVY" -eq 0 ] || [ -f bench/make-payload.sh ] ||
  { echo "bench/remote.sh --heavy needs bench/make-payload.sh" >&2; exit 1; }

cargo build --release -q
FLAVOR=$PWD/target/release/flavor
W=$(mktemp -d /dev/shm/flavor-bench-remote.XXXXXX)
NGINX_PID=
cleanup() {
  if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
# Never the user's home, key or caches; no remote cache from the caller's environment.
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" XDG_CACHE_HOME="$W/home/.cache"
export FLAVOR_CACHE="$W/home/flavor-cache" SOURCE_DATE_EPOCH=1700000000
unset FLAVOR_REMOTE_CACHE FLAVOR_REMOTE_CACHE_READ_ONLY FLAVOR_BUILD_CACHE
mkdir -p "$HOME"

median() { # hyperfine JSON → median seconds of command $2
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print(r["median"])' "$1" "$2"
}
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
ms() { python3 -c "import sys; print(f'{float(sys.argv[1])*1000:.1f} ms')" "$1"; }
summary() { # last line of `flavor build --json` on stdin → the summary fields named in $1
  tail -1 | python3 -c '
import json, sys
s = json.load(sys.stdin); r = s.get("remote") or {}
print(sys.argv[1].format(s=s, r=r))' "$1"
}

# The remote: one nginx, three WebDAV locations — /cache/ (populated once by clone A, read by
# case 2), /empty/ (wiped before every run of case 3) and /heavy/ (the --heavy case's remote).
NG="$W/nginx"
mkdir -p "$NG/tmp" "$NG/data" "$NG/empty" "$NG/heavy"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$NG/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $NG/nginx.pid; error_log $NG/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp; fastcgi_temp_path $NG/tmp;
  uwsgi_temp_path $NG/tmp; scgi_temp_path $NG/tmp;
  server {
    listen 127.0.0.1:$PORT;
    location /cache/ { alias $NG/data/;  dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
    location /empty/ { alias $NG/empty/; dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
    location /heavy/ { alias $NG/heavy/; dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
  }
}
EOF
"$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" &
NGINX_PID=$!
python3 - "$PORT" <<'EOF' || { echo "nginx did not start:" >&2; cat "$NG/error.log" >&2; exit 1; }
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
REMOTE="http://127.0.0.1:$PORT/cache"
EMPTY="http://127.0.0.1:$PORT/empty"
HEAVY_REMOTE="http://127.0.0.1:$PORT/heavy"

# Clones: A populates the remote, B is the "second clone", C takes the cold builds.
for c in a b c; do
  cp -r examples/monorepo "$W/$c"
  find "$W/$c" -depth \( -name dist -o -name .flavor \) -type d -exec rm -rf {} +
  rm -rf "$W/$c/apps/stamp/build"
done
clean() { echo "sh -c 'rm -rf $1 $2/apps/*/dist $2/apps/stamp/build'"; } # local cache, clone

echo "== populate the remote: one build of clone A (also creates the per-user key)"
pop=$(FLAVOR_BUILD_CACHE="$W/bc-a" "$FLAVOR" build --json --manifest-path "$W/a" --remote-cache "$REMOTE")
echo "$pop" | summary 'clone A: {s[built]} built, {r[uploads]} uploads, {r[uploaded_bytes]} bytes uploaded, {r[errors]} errors; build {s[seconds]:.3f} s, upload threads busy {r[upload_micros]} µs in all'
read -r uploads errors <<<"$(echo "$pop" | summary '{r[uploads]} {r[errors]}')"
[ "$uploads" -gt 0 ] && [ "$errors" -eq 0 ] ||
  { echo "populating the remote failed (uploads $uploads, errors $errors); nginx log:" >&2; cat "$NG/error.log" >&2; exit 1; }

echo "== cold local build (1), second clone against the remote (2), cold build into an empty remote (3)"
hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$W/remote.json" \
  --prepare "$(clean "$W/bc-c" "$W/c")" -n "1. cold, no remote" \
  "env FLAVOR_BUILD_CACHE=$W/bc-c $FLAVOR build -q --no-remote-cache --manifest-path $W/c" \
  --prepare "$(clean "$W/bc-b" "$W/b")" -n "2. second clone, remote (read-only)" \
  "env FLAVOR_BUILD_CACHE=$W/bc-b $FLAVOR build -q --remote-cache $REMOTE --remote-cache-read-only --manifest-path $W/b" \
  --prepare "sh -c 'rm -rf $W/bc-c $W/c/apps/*/dist $W/c/apps/stamp/build $NG/empty && mkdir $NG/empty'" \
  -n "3. cold, uploading to an empty remote" \
  "env FLAVOR_BUILD_CACHE=$W/bc-c $FLAVOR build -q --remote-cache $EMPTY --manifest-path $W/c" \
  >/dev/null
t1=$(median "$W/remote.json" 0); t2=$(median "$W/remote.json" 1); t3=$(median "$W/remote.json" 2)
echo "1. cold local build, no remote        $(ms "$t1")"
echo "2. second clone, remote read-only     $(ms "$t2")   ratio 2/1 $(ratio "$t2" "$t1")x (target well below 1)"
echo "3. cold build, uploading to empty     $(ms "$t3")   ratio 3/1 $(ratio "$t3" "$t1")x (upload overhead)"

echo "== second clone, once with --json"
rm -rf "$W/bc-b" "$W"/b/apps/*/dist "$W/b/apps/stamp/build"
two=$(FLAVOR_BUILD_CACHE="$W/bc-b" "$FLAVOR" build --json --remote-cache "$REMOTE" --remote-cache-read-only --manifest-path "$W/b")
echo "$two" | summary 'clone B: {s[built]} built, {s[cached]} cached, {s[remote_hits]} remote hits, {r[downloaded_bytes]} bytes downloaded (misses {r[misses]}, rejected {r[rejected]}, errors {r[errors]})'
hits=$(echo "$two" | summary '{s[remote_hits]}')
[ "$hits" -gt 0 ] || { echo "clone B got no remote hits: case 2 measured nothing" >&2; exit 1; }

# Clone B's packages must be byte-identical to clone A's.
pkgs=$(cd "$W/a" && find . -name '*.psp' -path '*/dist/*' | sort)
[ -n "$pkgs" ] || { echo "clone A produced no packages" >&2; exit 1; }
[ "$pkgs" = "$(cd "$W/b" && find . -name '*.psp' -path '*/dist/*' | sort)" ] ||
  { echo "clone A and clone B produced different package files" >&2; exit 1; }
bad=0
for p in $pkgs; do
  cmp -s "$W/a/$p" "$W/b/$p" || { echo "differs from clone A: ${p#./}" >&2; bad=1; }
done
[ "$bad" -eq 0 ] || { echo "clone B's packages are not byte-identical to clone A's" >&2; exit 1; }
echo "clone B's $(echo "$pkgs" | wc -l) packages are byte-identical to clone A's"

[ "$HEAVY" -eq 1 ] || exit 0

echo "== heavy: CPython stdlib payload, flavor build --release (zstd 19), $HEAVY_RUNS runs each"
bash bench/make-payload.sh "$W/payload" >/dev/null
# Clones: HA populates the remote, HB is the "second clone", HC takes the cold builds. Each is a
# full copy of the project directory, the slot's source included.
mkdir -p "$W/ha/stdlib"
tar -xf "$W/payload/stdlib.tar" -C "$W/ha/stdlib"
rm -rf "$W/payload"
cat > "$W/ha/flavor.toml" <<EOF
[package]
name = "stdlib"
version = "1.0.0"

[execution]
command = "/bin/true"

[[slot]]
id = "stdlib"
source = "stdlib"
target = "."
codec = "tar.zst"
EOF
cp -r "$W/ha" "$W/hb"
cp -r "$W/ha" "$W/hc"
echo "payload: $(find "$W/ha/stdlib" -type f | wc -l) files, $(($(du -sb "$W/ha/stdlib" | cut -f1) / 1048576)) MiB"

echo "== heavy: populate the remote, one release build of clone HA"
pop=$(FLAVOR_BUILD_CACHE="$W/bc-ha" "$FLAVOR" build --release --json --manifest-path "$W/ha" --remote-cache "$HEAVY_REMOTE")
echo "$pop" | summary 'clone HA: {s[built]} built, {r[uploads]} uploads, {r[uploaded_bytes]} bytes uploaded, {r[errors]} errors'
read -r uploads errors <<<"$(echo "$pop" | summary '{r[uploads]} {r[errors]}')"
[ "$uploads" -gt 0 ] && [ "$errors" -eq 0 ] ||
  { echo "populating the heavy remote failed (uploads $uploads, errors $errors); nginx log:" >&2; cat "$NG/error.log" >&2; exit 1; }

echo "== heavy: cold local release build (H1), second clone against the remote (H2)"
hyperfine -N --style none --warmup 0 --runs "$HEAVY_RUNS" --export-json "$W/heavy.json" \
  --prepare "rm -rf $W/bc-hc $W/hc/dist" -n "H1. cold release build, no remote" \
  "env FLAVOR_BUILD_CACHE=$W/bc-hc $FLAVOR build --release -q --no-remote-cache --manifest-path $W/hc" \
  --prepare "rm -rf $W/bc-hb $W/hb/dist" -n "H2. second clone release build, remote (read-only)" \
  "env FLAVOR_BUILD_CACHE=$W/bc-hb $FLAVOR build --release -q --remote-cache $HEAVY_REMOTE --remote-cache-read-only --manifest-path $W/hb" \
  >/dev/null
h1=$(median "$W/heavy.json" 0); h2=$(median "$W/heavy.json" 1)
echo "H1. cold local release build, no remote  $(ms "$h1")"
echo "H2. second clone, remote read-only       $(ms "$h2")   ratio H2/H1 $(python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a/b:.3g}x ({b/a:.0f}x faster)')" "$h2" "$h1")"

echo "== heavy: second clone, once with --json"
rm -rf "$W/bc-hb" "$W/hb/dist"
two=$(FLAVOR_BUILD_CACHE="$W/bc-hb" "$FLAVOR" build --release --json --remote-cache "$HEAVY_REMOTE" --remote-cache-read-only --manifest-path "$W/hb")
echo "$two" | summary 'clone HB: {s[built]} built, {s[cached]} cached, {s[remote_hits]} remote hits, {r[downloaded_bytes]} bytes downloaded (misses {r[misses]}, rejected {r[rejected]}, errors {r[errors]})'
hits=$(echo "$two" | summary '{s[remote_hits]}')
[ "$hits" -gt 0 ] || { echo "clone HB got no remote hits: case H2 measured nothing" >&2; exit 1; }

# Clone HB's package must be byte-identical to clone HA's.
pkgs=$(cd "$W/ha" && find . -name '*.psp' -path '*/dist/*' | sort)
[ -n "$pkgs" ] || { echo "clone HA produced no package" >&2; exit 1; }
[ "$pkgs" = "$(cd "$W/hb" && find . -name '*.psp' -path '*/dist/*' | sort)" ] ||
  { echo "clone HA and clone HB produced different package files" >&2; exit 1; }
bad=0
for p in $pkgs; do
  cmp "$W/ha/$p" "$W/hb/$p" >&2 || { echo "differs from clone HA: ${p#./}" >&2; bad=1; }
done
[ "$bad" -eq 0 ] || { echo "clone HB's package is not byte-identical to clone HA's" >&2; exit 1; }
for p in $pkgs; do
  echo "clone HB's ${p#./} ($(stat -c %s "$W/hb/$p") bytes) is byte-identical to clone HA's"
done
