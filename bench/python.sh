#!/usr/bin/env bash
# python.sh — a real Python application (httpie 3.2.4, 16 wheels, two with C extensions)
# packaged three ways and measured side by side in one run (issue 17):
#   flavor    [python] package (flavor build --release): one signed executable
#   pyinstaller --onefile, built from a venv holding the same locked versions
#   venv      the same versions installed (bytecode compiled) into a venv: the baseline
# Printed: build time and no-op rebuild, sizes, warm start (median, ratio to the venv), and
# flavor's first run with its cache on tmpfs (the cache removed before every run) against
# PyInstaller's warm run (which unpacks into $TMPDIR, also tmpfs, on every run).
#
# Usage: bench/python.sh [RUNS]              (default 20 runs per command)
#   FLAVOR=<path>        flavor binary (default: target/release/flavor, built if missing)
#   INTERPRETER=<tar.gz> python-build-standalone "install_only" CPython 3.12 archive (default:
#                        the test fixture target/flavor-fixtures/cpython/*.tar.gz, made from
#                        pyenv's 3.12 by `cargo test --test it python_build` once)
#   UV=<path>            uv (default: the CI tools venv's, else `uv` on PATH)
#   PYTHON312=<prefix>   CPython 3.12 for the venv and PyInstaller (default: pyenv's newest)
# Needs PyPI (locking, wheels, PyInstaller), hyperfine and /dev/shm. Say the machine's load
# (printed first and last) with the figures; compare ratios, not absolute times.
set -euo pipefail
RUNS=${1:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FLAVOR=${FLAVOR:-$ROOT/target/release/flavor}
[ -x "$FLAVOR" ] || (cd "$ROOT" && cargo build --release --quiet)
CI_TOOLS=${FLAVOR_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flavor-ci}/tools/bin
UV=${UV:-$( [ -x "$CI_TOOLS/uv" ] && echo "$CI_TOOLS/uv" || command -v uv )}
INTERPRETER=${INTERPRETER:-$(ls "$ROOT"/target/flavor-fixtures/cpython/*install_only.tar.gz 2>/dev/null | tail -1)}
[ -f "$INTERPRETER" ] || { echo "python.sh: no interpreter archive; run \`cargo test --test it python_build\` once or set INTERPRETER" >&2; exit 1; }
PREFIX=${PYTHON312:-$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.* | sort -t. -k3 -n | tail -1)}
PINNED_PYI=$(sed -n 's/^pyinstaller==\([^ ]*\).*/\1/p' "$ROOT/.ci/tools.txt")
EXCLUDE_NEWER=2026-11-01T00:00:00Z
ARGS=(--ignore-stdin --offline --print=H example.org X-Bench:yes)
export SOURCE_DATE_EPOCH=1700000000 UV_PYTHON_DOWNLOADS=never UV_SYSTEM_CERTS=1 LC_ALL=C.UTF-8

WORK=$(mktemp -d /dev/shm/flavor-python-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "load: $(uptime | sed 's/.*load average: //')   runs: $RUNS   $(nproc) cores"
echo "uv $("$UV" --version | cut -d' ' -f2), PyInstaller $PINNED_PYI, $(basename "$INTERPRETER")"

# ---- the project: httpie locked by uv ----
APP=$WORK/app
mkdir -p "$APP/vendor"
cp "$INTERPRETER" "$APP/vendor/cpython.tar.gz"
cat >"$APP/pyproject.toml" <<EOF
[project]
name = "http"
version = "3.2.4"
requires-python = ">=3.12"
dependencies = ["httpie==3.2.4"]

[tool.uv]
exclude-newer = "$EXCLUDE_NEWER"
EOF
cat >"$APP/flavor.toml" <<EOF
[package]

[python]
entry = "httpie.__main__:main"
interpreter = "vendor/cpython.tar.gz"
exclude = ["**/tests/**"]
EOF
(cd "$APP" && UV_PYTHON="$PREFIX/bin/python3.12" "$UV" lock --quiet)

secs() { python3 -c 'import sys,time; print(f"{time.time()-float(sys.argv[1]):.2f}")' "$1"; }
now() { python3 -c 'import time; print(time.time())'; }

# ---- flavor: cold build, no-op rebuild ----
t=$(now); (cd "$APP" && FLAVOR_UV=$UV "$FLAVOR" build --release --quiet); FLAVOR_BUILD=$(secs "$t")
t=$(now); (cd "$APP" && FLAVOR_UV=$UV "$FLAVOR" build --release --quiet); FLAVOR_NOOP=$(secs "$t")
PKG=$APP/dist/http.psp

# ---- venv (bytecode compiled, as pip does) and PyInstaller --onefile from it ----
VENV=$WORK/venv
t=$(now)
"$UV" venv --quiet --python "$PREFIX/bin/python3.12" "$VENV"
(cd "$APP" && "$UV" export --quiet --frozen --no-emit-project --no-hashes -o "$WORK/req.txt")
"$UV" pip install --quiet --python "$VENV/bin/python" --compile-bytecode -r "$WORK/req.txt"
VENV_BUILD=$(secs "$t")
VENV_SIZE=$(du -sb "$VENV" | cut -f1)
"$UV" pip install --quiet --python "$VENV/bin/python" --exclude-newer "$EXCLUDE_NEWER" "pyinstaller==$PINNED_PYI"
printf 'import sys\nfrom httpie.__main__ import main\nsys.exit(main())\n' >"$WORK/http_main.py"
t=$(now)
(cd "$WORK" && "$VENV/bin/pyinstaller" --onefile --noconfirm --log-level ERROR --name http-pyi \
  --collect-all httpie --distpath "$WORK/pyi-dist" --workpath "$WORK/pyi-build" \
  --specpath "$WORK" http_main.py)
PYI_BUILD=$(secs "$t")
PYI=$WORK/pyi-dist/http-pyi

# ---- the three run the same request ----
for cmd in "$VENV/bin/http" "$PKG" "$PYI"; do
  out=$("$cmd" "${ARGS[@]}")
  grep -q "X-Bench: yes" <<<"$out" || { echo "python.sh: $cmd printed: $out" >&2; exit 1; }
done

# ---- warm start: flavor's workenv ready, PyInstaller as always (unpacks every run) ----
export TMPDIR=$WORK/tmp FLAVOR_CACHE=$WORK/flavor-cache
mkdir -p "$TMPDIR"
"$PKG" "${ARGS[@]}" >/dev/null
q() { printf '%q ' "$@"; }
hyperfine --style none --warmup 3 --runs "$RUNS" --export-json "$WORK/warm.json" \
  -n venv "$(q "$VENV/bin/http" "${ARGS[@]}")" \
  -n flavor "$(q "$PKG" "${ARGS[@]}")" \
  -n pyinstaller "$(q "$PYI" "${ARGS[@]}")" >/dev/null
# ---- flavor's first run, cache on tmpfs, removed before each run ----
hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$WORK/cold.json" \
  --prepare "rm -rf $(q "$FLAVOR_CACHE")" \
  -n flavor-first-run "$(q "$PKG" "${ARGS[@]}")" >/dev/null

python3 - "$WORK/warm.json" "$WORK/cold.json" <<EOF
import json, sys
warm = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
cold = json.load(open(sys.argv[2]))["results"][0]["median"]
v, f, p = warm["venv"], warm["flavor"], warm["pyinstaller"]
ms = lambda s: f"{s*1000:.1f} ms"
print(f"warm start    venv {ms(v)}   flavor {ms(f)} ({f/v:.2f}x venv, goal <= 1.05x)   pyinstaller {ms(p)} ({p/v:.2f}x venv)")
print(f"first run     flavor {ms(cold)} (tmpfs cache)  vs  pyinstaller warm {ms(p)}: {cold/p:.2f}x (goal <= 1.0x)")
EOF
size() { stat -c %s "$1"; }
PKG_SIZE=$(size "$PKG"); PYI_SIZE=$(size "$PYI")
echo "size          flavor $PKG_SIZE B   pyinstaller $PYI_SIZE B ($(python3 -c "print(f'{$PKG_SIZE/$PYI_SIZE:.2f}')")x, goal flavor <= 1.0x)   venv $VENV_SIZE B on disk"
echo "build         flavor --release cold ${FLAVOR_BUILD}s, no-op ${FLAVOR_NOOP}s   venv ${VENV_BUILD}s   pyinstaller --onefile ${PYI_BUILD}s (from the venv)"
echo "load: $(uptime | sed 's/.*load average: //')"
