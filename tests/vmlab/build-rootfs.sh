#!/usr/bin/env bash
# build-rootfs.sh ROOTFS [CACHE_DIR]  -- debootstrap a minimal bookworm guest incl. the stock Debian kernel
# (6.1, CONFIG_INET_ESP=m, rfc4106(gcm(aes)) available) and every Debian package the collection uses inside a node:
# python3 (modules), iproute2 + netbase (ip xfrm needs /etc/protocols), nftables (encryption guard), iputils-ping,
# traceroute and tcpdump (verify role), iperf3 and ethtool (throughput and offload checks), kmod (esp4 autoload),
# runit (restart policies), dbus (podman's systemd cgroup manager), podman with its network stack, runtime and
# monitor named (debootstrap resolves no virtual package: container-network-stack) and busybox-static (the
# image a service with an image runs).
set -euo pipefail
R=${1:?rootfs dir}; C=${2:-/var/cache/vmlab/debs}
mkdir -p "$C"; rm -rf "$R"
debootstrap --variant=minbase --cache-dir="$C" \
  --include=systemd-sysv,udev,openssh-server,python3,iproute2,netbase,kmod,iputils-ping,traceroute,tcpdump,nftables,iperf3,ethtool,procps,sudo,runit,dbus,podman,netavark,crun,conmon,busybox-static,linux-image-amd64 \
  bookworm "$R" http://deb.debian.org/debian
