#!/usr/bin/env bash
# mitogen.sh [DIR]  -- the pinned mitogen (an Ansible strategy whose tasks cost about a tenth under TCG) in DIR
# (default /var/cache/vmlab/mitogen), outside the repository and the venv; molecule/vm points
# ANSIBLE_STRATEGY_PLUGINS at DIR/ansible_mitogen/plugins/strategy. A second run is free.
# Pitfalls: mitogen pins local tasks to one CPU, so the create/destroy plays that start
# qemu use strategy linear (and vm.sh undoes any pinning with taskset); its bootstrap under TCG needs
# ANSIBLE_TIMEOUT >= 120 (molecule.yml sets timeout: 120).
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")"); ROOT=$(cd "$HERE/../.." && pwd)
DIR=${1:-${VMLAB_MITOGEN_DIR:-/var/cache/vmlab/mitogen}}; PIN=mitogen==0.3.54
case $(readlink -f "$DIR") in "$ROOT"|"$ROOT"/*) echo "refusing to install mitogen inside the repository: $DIR" >&2; exit 2;; esac
if [ -f "$DIR/.pin" ] && [ "$(cat "$DIR/.pin")" = "$PIN" ] && [ -d "$DIR/ansible_mitogen/plugins/strategy" ]; then
  echo "mitogen cached: $DIR"; exit 0
fi
rm -rf "$DIR"
"${VMLAB_PIP:-$ROOT/.venv/bin/pip}" install -q --no-deps --target "$DIR" "$PIN"
echo "$PIN" > "$DIR/.pin"
echo "mitogen installed: $DIR"
