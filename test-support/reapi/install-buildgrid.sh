#!/usr/bin/env bash
# Install BuildGrid (the REAPI server the remote-execution tests run) into a cached venv and
# print the venv's path on stdout; everything else goes to stderr. Idempotent: a venv that is
# already complete is checked (~0.1 s) and reused.
#
#   FLAVOR_BUILDGRID=$(test-support/reapi/install-buildgrid.sh)
#
# The venv is $FLAVOR_BUILDGRID_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/flavor-ci)
# /buildgrid-<version>, the path the tests look at when FLAVOR_BUILDGRID is unset.
# BuildGrid 0.9 needs Python >= 3.13 (pip on an older Python quietly installs 0.4.4, so the
# installed version is checked); the interpreter is $FLAVOR_PYTHON, else python3.13+ on PATH,
# else pyenv's newest 3.13+.
set -euo pipefail
VERSION=0.9.1
cache=${FLAVOR_BUILDGRID_CACHE:-${XDG_CACHE_HOME:-${HOME:?neither FLAVOR_BUILDGRID_CACHE nor HOME is set}/.cache}/flavor-ci}
venv=$cache/buildgrid-$VERSION

installed_version() { # venv -> the buildgrid version its python imports, or nothing
  "$1/bin/python" -c 'import importlib.metadata as m; print(m.version("buildgrid"))' 2>/dev/null || true
}
if [ -f "$venv/.flavor-complete" ] && [ "$(installed_version "$venv")" = "$VERSION" ] && [ -x "$venv/bin/bgd" ]; then
  echo "$venv"
  exit 0
fi

new_enough() { # python -> success if it is 3.13 or newer
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null
}
find_python() {
  if [ -n "${FLAVOR_PYTHON:-}" ]; then
    new_enough "$FLAVOR_PYTHON" && { echo "$FLAVOR_PYTHON"; return; }
    echo "install-buildgrid: FLAVOR_PYTHON=$FLAVOR_PYTHON is not Python >= 3.13" >&2
    return 1
  fi
  local p
  for p in python3.15 python3.14 python3.13; do
    p=$(command -v "$p" 2>/dev/null) && new_enough "$p" && { echo "$p"; return; }
  done
  local root=${PYENV_ROOT:-}
  [ -n "$root" ] || root=$(pyenv root 2>/dev/null) || root=$HOME/.pyenv
  for p in $(ls -d "$root"/versions/3.* 2>/dev/null | sort -V -r); do
    new_enough "$p/bin/python3" && { echo "$p/bin/python3"; return; }
  done
  return 1
}
if ! python=$(find_python); then
  cat >&2 <<MSG
install-buildgrid: no Python >= 3.13 found (BuildGrid $VERSION needs it; Debian 12's python3 is
3.11, with which pip silently installs BuildGrid 0.4.4). Looked at \$FLAVOR_PYTHON, python3.13+
on PATH and pyenv's versions. Install one (e.g. \`pyenv install 3.13\`) or set FLAVOR_PYTHON.
MSG
  exit 1
fi

echo "install-buildgrid: installing BuildGrid $VERSION with $python ($("$python" --version)) into $venv" >&2
mkdir -p "$cache"
# One installer at a time; a second one waits, then finds the venv complete.
exec 9>"$cache/.buildgrid-$VERSION.lock"
flock 9
if [ -f "$venv/.flavor-complete" ] && [ "$(installed_version "$venv")" = "$VERSION" ]; then
  echo "$venv"
  exit 0
fi
# A venv is not relocatable (its scripts name their interpreter), so it is built in place;
# the marker file is written last, so an interrupted install is redone from scratch.
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "buildgrid==$VERSION" >&2
got=$(installed_version "$venv")
if [ "$got" != "$VERSION" ]; then
  echo "install-buildgrid: the venv has buildgrid '${got:-none}', not $VERSION" >&2
  exit 1
fi
"$venv/bin/bgd" --help >/dev/null
touch "$venv/.flavor-complete"
echo "install-buildgrid: done" >&2
echo "$venv"
