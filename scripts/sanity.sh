#!/usr/bin/env bash
# scripts/sanity.sh [ansible-test sanity args...]
# Runs `ansible-test sanity` on a copy of the tracked files at ansible_collections/linuxnet/overlay
# (ansible-test insists on that layout) with its own venv (.cache/venv-sanity), so the pins of the
# main venv stay untouched.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"
SV="$ROOT/.cache/venv-sanity"
if [ ! -x "$SV/bin/ansible-test" ]; then
  /usr/bin/python3 -m venv "$SV"
  "$SV/bin/pip" install -q --disable-pip-version-check 'ansible-core==2.19.14'
fi
# ansible-test bootstraps pip in each sanity venv with get-pip.py from a host this machine cannot
# reach; tests/sanity/get_pip_standin.py does the same job with ensurepip and the registry.
pipver=$("$SV/bin/python" -c 'from ansible_test._internal.python_requirements import PIP_VERSION as v; print(v)' 2>/dev/null || echo 24.2)
mkdir -p "$HOME/.ansible/test/cache"
cp tests/sanity/get_pip_standin.py "$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
W=$(mktemp -d /tmp/linuxnet-sanity.XXXXXX)
trap 'rm -rf "$W"' EXIT
C="$W/ansible_collections/linuxnet/overlay"
mkdir -p "$C"
# tracked files plus new ones not ignored, as they are in the working tree
git ls-files --cached --others --exclude-standard -z | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' | tar cf - --null -T - | tar xf - -C "$C"
cd "$C"
git init -q && git add -A
PATH="$SV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  ansible-test sanity --requirements --python 3.11 "$@" 2>&1 | grep -v -e 'is ignored: it is neither' -e '^Collecting\|^  Downloading\|^Installing collected\|^Successfully installed\|^Looking in\|━━'
