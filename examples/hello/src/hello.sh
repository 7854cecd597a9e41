#!/bin/sh
# Greets its first argument and says where it runs from.
name=${1:-there}
echo "${GREETING:-Hello}, ${name}! (hello ${FLAVOR_COMMAND_NAME:+from $FLAVOR_COMMAND_NAME})"
echo "workenv: ${FLAVOR_WORKENV}"
