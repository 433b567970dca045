#!/usr/bin/env bash
# Set up a fresh Debian 12 root machine for this collection: Debian packages, a pinned
# virtual environment in .venv, and an ansible_collections/linuxnet/overlay link in .build so
# that ansible finds the collection straight from this checkout. Idempotent and quick when
# everything is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"

# runit: runsv supervises the tasks of a service with a restart_policy (no init needed);
# podman and busybox-static: a service with an image, and the small image the tests build offline
PKGS=(iproute2 nftables iputils-ping traceroute tcpdump iperf3 ethtool procps util-linux python3-venv git shellcheck
      runit podman busybox-static)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # no package's daemon may start in the root namespace of this machine: a policy-rc.d that
  # refuses every start while apt runs (one that was there already stays as it was)
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
  fi
  rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ -z "$own_policy" ] || rm -f "$policy"
  [ "$rc" = 0 ] || exit "$rc"
fi

# The venv uses Debian's own interpreter: interpreter discovery on this machine finds a pyenv
# shim that does not work, so everything below names its interpreter explicitly.
VENV="$ROOT/.venv"
stamp="$VENV/.requirements.sha256"
want=$(cat requirements.txt requirements-test.txt | sha256sum | cut -c1-64)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating virtual environment $VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-test.txt
  echo "$want" > "$stamp"
fi

# ansible finds collections under <path>/ansible_collections/<ns>/<name>.
mkdir -p .build/ansible_collections/linuxnet
ln -sfn "$ROOT" .build/ansible_collections/linuxnet/overlay
echo "setup: ready ($VENV, collection linked in .build/ansible_collections)"
