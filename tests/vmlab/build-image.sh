#!/usr/bin/env bash
# build-image.sh [OUTDIR]  -- build (or reuse) the TCG test-guest image: vmlinuz, initrd-mini.img, base.raw, id_ed25519
# Rebuilds only when the scripts in this folder or the pinned managed-node libraries change (stamp = sha256 of them).
# Needs: debootstrap, e2fsprogs (mkfs.ext4 -d), busybox-static, cpio, openssh-client, qemu-utils. Runs as root
# (debootstrap/chroot). No loop mounts. The image lives outside the repo (default /var/cache/vmlab/img).
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")"); ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-${VMLAB_IMG:-/var/cache/vmlab/img}}; DEBS=${VMLAB_DEBS:-/var/cache/vmlab/debs}; WHEELS=${VMLAB_WHEELS:-/var/cache/vmlab/wheels}
STAMP=$(cat "$HERE"/build-rootfs.sh "$HERE"/customize.sh "$HERE"/mkinitrd-mini.sh "$HERE"/build-image.sh "$HERE"/fetch-wheels.sh \
        <(grep -E '^(pyroute2|netaddr)==' "$ROOT/requirements.txt") | sha256sum | cut -c1-16)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/base.raw" ]; then echo "image cached: $OUT"; exit 0; fi
case $(readlink -f "$OUT") in "$ROOT"|"$ROOT"/*) echo "refusing to build the image inside the repository: $OUT" >&2; exit 2;; esac
mkdir -p "$OUT"; rm -f "$OUT/stamp"; R="$OUT/rootfs.tmp"
t0=$SECONDS
"$HERE/fetch-wheels.sh" "$WHEELS"
"$HERE/build-rootfs.sh" "$R" "$DEBS"
t1=$SECONDS
[ -f "$OUT/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C vmlab -f "$OUT/id_ed25519"
"$HERE/customize.sh" "$R" "$OUT/id_ed25519.pub" "$WHEELS"
cp "$R"/boot/vmlinuz-* "$OUT/vmlinuz"
"$HERE/mkinitrd-mini.sh" "$R" "$OUT/initrd-mini.img"
rm -f "$OUT/base.raw"; truncate -s 2G "$OUT/base.raw"
mkfs.ext4 -q -F -L vmroot -d "$R" "$OUT/base.raw"     # sparse: ~0.7 GB really used
rm -rf "$R"
echo "$STAMP" > "$OUT/stamp"
echo "image built in $((SECONDS-t0))s (debootstrap $((t1-t0))s): $OUT"
