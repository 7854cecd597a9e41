#!/bin/sh
APP=count
. "$APP_LIB/say.sh"
say "$# argument(s)"
n=0
for arg in "$@"; do
    n=$((n + 1))
    say "$n. $arg"
done
