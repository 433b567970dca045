#!/usr/bin/env bash
# fetch-wheels.sh OUTDIR  -- the managed-node Python libraries the collection pins (requirements.txt), as wheels,
# for installation into the guest image. Debian 12 ships python3-pyroute2 0.7.x, the collection needs 0.9.x.
# Uses the repo's venv pip (pins from requirements.txt); a second run is free when the wheels are there.
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")"); ROOT=$(cd "$HERE/../.." && pwd); OUT=${1:?outdir}
PIP=${VMLAB_PIP:-$ROOT/.venv/bin/pip}
mkdir -p "$OUT"
# managed-node libraries only: pyroute2 (netlink) and netaddr (address maths in module_utils)
pins=$(grep -E '^(pyroute2|netaddr)==' "$ROOT/requirements.txt")
for pin in $pins; do
  name=${pin%%==*}; ver=${pin##*==}
  if ls "$OUT/${name}-${ver}-"*.whl >/dev/null 2>&1; then continue; fi
  "$PIP" download -q --no-deps --only-binary=:all: --python-version 3.11 --platform any -d "$OUT" "$pin"
done
ls "$OUT"/*.whl
