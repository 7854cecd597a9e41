#!/bin/sh
APP=greet
. "$APP_LIB/say.sh"
say "hello, ${1:-world}"
