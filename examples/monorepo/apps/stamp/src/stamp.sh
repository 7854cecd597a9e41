#!/bin/sh
APP=stamp
. "$APP_LIB/say.sh"
here=$(dirname "$0")
for arg in "$@"; do
    say "$arg $("$here/../build/fnv1a" "$arg")"
done
