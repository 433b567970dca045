#!/usr/bin/env bash
# mkinitrd-mini.sh ROOTFS OUT.img -- ~5 MB initrd: busybox + the 14 modules for ext4 on virtio-blk + virtio-net
set -euo pipefail
R=${1:?rootfs}; OUT=${2:?out}
KV=$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | head -1); M=$R/lib/modules/$KV/kernel
T=$(mktemp -d); mkdir -p "$T"/bin "$T"/lib/modules "$T"/proc "$T"/sys "$T"/dev "$T"/newroot
cp /bin/busybox "$T"/bin/busybox          # from the host's busybox-static package
for f in drivers/virtio/virtio drivers/virtio/virtio_ring drivers/virtio/virtio_pci_legacy_dev \
         drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci drivers/block/virtio_blk \
         lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4 \
         net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
  cp "$M/$f.ko" "$T"/lib/modules/
done
cat > "$T"/init <<'I'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic ext4 failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko || echo "initrd: insmod $m failed"
done
root=/dev/vda; for a in $(cat /proc/cmdline); do case $a in root=*) root=${a#root=};; esac; done
i=0; while [ ! -b $root ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 -o rw $root /newroot || { echo "initrd: cannot mount $root"; exec sh; }
umount /proc /sys; mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
I
chmod +x "$T"/init
(cd "$T" && find . | cpio -o -H newc --quiet) > "$OUT"
rm -rf "$T"
