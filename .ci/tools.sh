#!/usr/bin/env bash
# tools.sh — install the tools that the Python-app, multi-platform and benchmark tests need
# (issues 16, 17, 18), each step idempotent and fast when already done. Run by .ci/run; by
# hand: `bash .ci/tools.sh` (as root for apt and binfmt_misc).
#
#  1. Debian packages: patchelf, gcc-aarch64-linux-gnu + libc6-dev-arm64-cross (static aarch64
#     C programs), qemu-user-static — installed without starting any service.
#  2. binfmt_misc: qemu's aarch64 interpreter registered with the F flag (opened once, at
#     registration), so aarch64 executables — also ones a launcher execs — run transparently.
#     Where that is not permitted, the reason goes to $CACHE/binfmt-unavailable and the aarch64
#     tests skip, saying so (even under CI, since the machine cannot do it).
#  3. uv and PyInstaller from PyPI, pinned with hashes in .ci/tools.txt, in a venv of the host
#     python3 at $CACHE/tools (rebuilt when tools.txt changes).
#
# $CACHE is ${FLAVOR_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flavor-ci}; the tests find the tools
# there (test-support/src/ci_tools.rs). Fixtures built from these tools (upstream launchers,
# wheels, the relocatable interpreter) are made by the tests themselves, cached under target/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${FLAVOR_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flavor-ci}
mkdir -p "$cache"

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# --- 1. Debian packages -------------------------------------------------------------------
apt_packages() {
  local need=()
  command -v patchelf >/dev/null 2>&1 || need+=(patchelf)
  command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
  [ -e /usr/aarch64-linux-gnu/lib/libc.a ] || need+=(libc6-dev-arm64-cross)
  [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
  if [ "${#need[@]}" -eq 0 ]; then
    echo "tools: Debian packages present"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "tools: not root, cannot install ${need[*]} (the tests that need them will skip)"
    return
  fi
  export DEBIAN_FRONTEND=noninteractive
  # No service may start while apt runs (no init system here): deny every start unless the
  # machine has its own policy-rc.d, and remove ours afterwards, even if apt fails.
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ ! -e "$policy" ]; then
    own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
  fi
  apt-get update -qq
  # --no-install-recommends: qemu-user-static recommends systemd | binfmt-support; step 2
  # registers the interpreter itself.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [ -n "$own_policy" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  echo "tools: installed ${need[*]}"
}

# --- 2. qemu aarch64 in binfmt_misc ----------------------------------------------------------
binfmt_aarch64() {
  local dir=/proc/sys/fs/binfmt_misc marker="$cache/binfmt-unavailable"
  local entry=$dir/qemu-aarch64 interp=/usr/libexec/qemu-binfmt/aarch64-binfmt-P flags=PF
  # The ELF header of an aarch64 executable (class 64, little endian, e_machine 0xb7), as in
  # Debian's /usr/lib/binfmt.d/qemu-aarch64.conf.
  local magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
  local mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
  # The -binfmt-P name makes qemu keep the original argv[0] (flag P); without it, plain F.
  [ -e "$interp" ] || { interp=/usr/bin/qemu-aarch64-static flags=F; }
  unavailable() {
    echo "tools: aarch64 binfmt not registered: $1 (the aarch64 tests will skip)"
    echo "$1" >"$marker"
  }
  if [ ! -x /usr/bin/qemu-aarch64-static ]; then
    unavailable "qemu-user-static is not installed"
    return
  fi
  if [ -e "$entry" ] && grep -qx enabled "$entry" && grep -q '^flags:.*F' "$entry" \
    && grep -qx "interpreter $interp" "$entry"; then
    rm -f "$marker"
    echo "tools: aarch64 binfmt registered"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    unavailable "registering needs root"
    return
  fi
  if [ ! -e "$dir/register" ] && ! mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null; then
    unavailable "cannot mount binfmt_misc on $dir (not permitted in this container?)"
    return
  fi
  grep -qx enabled "$dir/status" || echo 1 >"$dir/status"
  # An older registration without the F flag (or another interpreter) is replaced.
  [ -e "$entry" ] && echo -1 >"$entry"
  if ! printf ':qemu-aarch64:M::%s:%s:%s:%s\n' "$magic" "$mask" "$interp" "$flags" \
    >"$dir/register" 2>/dev/null; then
    unavailable "the kernel refused the registration in $dir/register"
    return
  fi
  rm -f "$marker"
  echo "tools: aarch64 binfmt registered ($interp, flags $flags)"
}

# --- 3. uv and PyInstaller -------------------------------------------------------------------
python_tools() {
  local venv="$cache/tools" stamp pins="$here/tools.txt"
  stamp=$(sha256sum "$pins" | cut -d' ' -f1)
  if [ -x "$venv/bin/uv" ] && [ "$(cat "$venv/.pins-sha256" 2>/dev/null)" = "$stamp" ]; then
    echo "tools: uv $("$venv/bin/uv" --version | cut -d' ' -f2) and PyInstaller present in $venv"
    return
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
    --only-binary=:all: -r "$pins"
  echo "$stamp" >"$venv/.pins-sha256"
  echo "tools: installed $("$venv/bin/uv" --version) and PyInstaller" \
    "$("$venv/bin/pyinstaller" --version) in $venv"
}

for step in apt_packages binfmt_aarch64 python_tools; do
  start=$(now)
  "$step"
  echo "tools: $step took $(took "$start")"
done
