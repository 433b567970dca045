# shellcheck shell=bash
# Source me: puts the venv first on PATH and points ansible at this checkout's collection.
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$_root/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$_root/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$_root/.build"
export LINUXNET_OVERLAY_ROOT="$_root"
export LINUXNET_OVERLAY_PYTHON="$_root/.venv/bin/python"
unset _root
