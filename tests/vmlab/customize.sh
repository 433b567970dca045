#!/usr/bin/env bash
# customize.sh ROOTFS PUBKEY [WHEEL_DIR]  -- configure a debootstrapped rootfs for use as a throw-away TCG test guest.
set -euo pipefail
R=${1:?rootfs}; PUB=${2:?pubkey}; WHEELS=${3:-}
echo vmlab > "$R"/etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 vmlab\n' > "$R"/etc/hosts
# root login by key only (sshd default PermitRootLogin prohibit-password)
install -d -m700 "$R"/root/.ssh; install -m600 "$PUB" "$R"/root/.ssh/authorized_keys
# sshd: no DNS lookups, fast start
printf 'UseDNS no\nGSSAPIAuthentication no\n' > "$R"/etc/ssh/sshd_config.d/vmlab.conf
mkdir -p "$R"/etc/systemd/system/ssh.service.d
printf '[Service]\nExecStartPre=\n' > "$R"/etc/systemd/system/ssh.service.d/vmlab.conf   # skip "sshd -t" (~2 s under TCG)
# management NIC eth0 (slirp): static, via a tiny oneshot unit (systemd-networkd costs ~15 s of boot under TCG;
# it stays installed but disabled, and no .network file matches eth0, so a role that starts networkd leaves eth0 alone)
cat > "$R"/etc/systemd/system/mgmt-net.service <<'N'
[Unit]
Description=vmlab management NIC (slirp)
DefaultDependencies=no
Before=network-pre.target ssh.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'i=0; until [ -e /sys/class/net/eth0 ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done'
ExecStart=/sbin/ip link set lo up
ExecStart=/sbin/ip link set eth0 up
ExecStart=/sbin/ip addr replace 10.0.2.15/24 dev eth0
[Install]
WantedBy=multi-user.target
N
ln -sf /etc/systemd/system/mgmt-net.service "$R"/etc/systemd/system/multi-user.target.wants/mgmt-net.service
# nothing periodic, no wait-online; nftables.service would load /etc/nftables.conf (flush ruleset!) at boot: masked,
# the collection owns its own tables; iperf3 must not run as a daemon
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
         e2scrub_reap.service systemd-networkd-wait-online.service getty@tty1.service getty-static.service systemd-pstore.service \
         systemd-binfmt.service proc-sys-fs-binfmt_misc.mount proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount \
         sys-kernel-tracing.mount sys-fs-fuse-connections.mount dev-hugepages.mount modprobe@dm_mod.service \
         modprobe@loop.service modprobe@fuse.service modprobe@drm.service nftables.service iperf3.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
# root fs from the kernel cmdline; fstab kept empty (works for disk and initramfs boot)
: > "$R"/etc/fstab
# no password for root on the serial console (debug only; remove for anything non-throwaway)
chroot "$R" passwd -d root >/dev/null
# make the journal volatile and small
mkdir -p "$R"/etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' > "$R"/etc/systemd/journald.conf.d/vmlab.conf
# per-boot identity: empty machine-id => systemd makes a new one each boot (or pass systemd.machine_id=);
# otherwise udev's MACAddressPolicy=persistent gives veth/bridge/vxlan IDENTICAL MACs in every clone
: > "$R"/etc/machine-id; rm -f "$R"/var/lib/dbus/machine-id "$R"/var/lib/systemd/random-seed
# the collection's pinned managed-node libraries (pure-python wheels: a wheel is a zip laid out for site-packages)
if [ -n "$WHEELS" ]; then

  PYV=$(chroot "$R" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  SITE="$R"/usr/local/lib/python$PYV/dist-packages; mkdir -p "$SITE"
  for w in "$WHEELS"/*.whl; do python3 -m zipfile -e "$w" "$SITE"; done
  chroot "$R" python3 -c 'import pyroute2, netaddr; print("guest python: pyroute2", pyroute2.__version__, "netaddr", netaddr.__version__)'
fi
# drop caches/docs
rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/*_Packages \
       "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/locale/*
