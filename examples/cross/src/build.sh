#!/bin/sh
# Compile ctool statically for the platform in $1 (flavor's FLAVOR_PLATFORM). The compiler is
# $CC_<os>_<arch> if set, else the usual one for that platform: cc here on x86-64, Debian's
# aarch64-linux-gnu-gcc (package gcc-aarch64-linux-gnu) for linux-aarch64, else
# "$FLAVOR_TARGET_TRIPLE-gcc".
set -eu
platform=$1
case $platform in
  linux-x86_64)  cc=${CC_linux_x86_64:-cc} ;;
  linux-aarch64) cc=${CC_linux_aarch64:-aarch64-linux-gnu-gcc} ;;
  *)             cc=$FLAVOR_TARGET_TRIPLE-gcc ;;
esac
mkdir -p build
exec "$cc" -static -O2 -o build/ctool src/ctool.c
