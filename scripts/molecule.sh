#!/usr/bin/env bash
# scripts/molecule.sh SCENARIO -- `molecule test -s SCENARIO`; the simulated-host scenario runs in
# a throwaway sandbox (tests/sandbox.sh). Exit 77 (skipped) when the scenario does not exist yet
# or the machine cannot run it (the scenario's own check prints the reason).
set -uo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source=scripts/env.sh
source scripts/env.sh
s=${1:-default}
[ -f "molecule/$s/molecule.yml" ] || { echo "molecule scenario $s does not exist yet"; exit 77; }
if [ "$s" = vm ]; then
  # QEMU guests with a stock Debian kernel: the host packages the scenario needs (tests/vmlab/README.md)
  need=(qemu-system-x86 qemu-utils vde2 debootstrap busybox-static cpio openssh-client e2fsprogs)
  missing=()
  for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages for the vm scenario: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
if [ -x "molecule/$s/can-run" ]; then
  why=$("molecule/$s/can-run") || { echo "skipping molecule scenario $s: $why"; exit 77; }
fi
if [ "$s" = default ]; then
  exec tests/sandbox.sh molecule test -s "$s"
fi
exec molecule test -s "$s"
