#!/usr/bin/env bash
# scripts/build-check.sh -- build the collection tarball, install it into a scratch collections
# path, and render every module's documentation from the installed copy.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh
export ANSIBLE_NOCOLOR=1
W=$(mktemp -d /tmp/linuxnet-build.XXXXXX)
trap 'rm -rf "$W"' EXIT
ansible-galaxy collection build --force --output-path "$W" .
tarball=$(ls "$W"/linuxnet-overlay-*.tar.gz)
ANSIBLE_COLLECTIONS_PATH="$W/installed" ansible-galaxy collection install --force -p "$W/installed" "$tarball"
export ANSIBLE_COLLECTIONS_PATH="$W/installed"
for m in plugins/modules/*.py; do
  [ -e "$m" ] || continue
  name=$(basename "$m" .py)
  # ansible-doc only warns (exit 0) for a plugin it cannot find: require real output
  ansible-doc "linuxnet.overlay.$name" 2>&1 | grep -q "^> MODULE linuxnet.overlay.$name" ||
    { echo "ansible-doc linuxnet.overlay.$name failed:"; ansible-doc "linuxnet.overlay.$name"; exit 1; }
  echo "ansible-doc linuxnet.overlay.$name: ok (installed copy)"
done
for c in plugins/connection/*.py; do
  [ -e "$c" ] || continue
  ansible-doc -t connection "linuxnet.overlay.$(basename "$c" .py)" 2>&1 | grep -q "^> CONNECTION linuxnet.overlay" ||
    { echo "ansible-doc -t connection failed for $c"; exit 1; }
  echo "ansible-doc -t connection linuxnet.overlay.$(basename "$c" .py): ok"
done
tar tzf "$tarball" | grep -c . | xargs echo "files in $tarball:"
# The installed modules work: create and remove a namespace with the installed copy, in a sandbox.
# shellcheck disable=SC2016  # the inner script expands its own variables
tests/sandbox.sh /bin/sh -ec '
  run() { ansible localhost -c local -i localhost, -e "ansible_python_interpreter=$LINUXNET_OVERLAY_PYTHON" "$@"; }
  run -m linuxnet.overlay.netns -a "name=built-check" | grep -q CHANGED
  ip netns list | grep -q "^built-check"
  run -m linuxnet.overlay.netns -a "name=built-check" | grep -q SUCCESS
  run -m linuxnet.overlay.netns -a "name=built-check state=absent" | grep -q CHANGED'
echo "installed modules work: linuxnet.overlay.netns changed, then unchanged, then absent"
