#!/usr/bin/env bash
# tests/sandbox.sh CMD...  -- run CMD in a throwaway sandbox: its own network, mount and PID
# namespaces, a private tmpfs on /run/netns, /var/lib/linuxnet-overlay, /run/linuxnet-overlay and
# /etc/netns (each that exists on the machine: a test never writes there),
# and a fresh sysfs. Every namespace, link, entry and process the command makes dies with it,
# also when it fails or is killed: the root namespace is never touched.
set -euo pipefail
if [ "${LINUXNET_SANDBOX:-}" = 1 ]; then exec "$@"; fi
# shellcheck disable=SC2016  # the inner script expands its own "$@"
exec unshare --net --mount --uts --pid --fork --kill-child --mount-proc --propagation private -- \
  /bin/sh -ec '
    mkdir -p /run/netns
    mount -t tmpfs -o mode=0755,size=4m linuxnet-sandbox-netns /run/netns
    for d in /var/lib/linuxnet-overlay /run/linuxnet-overlay /etc/netns; do
      if [ -d "$d" ]; then mount -t tmpfs -o mode=0700,size=16m linuxnet-sandbox "$d"; fi
    done
    mount -t sysfs sysfs /sys
    # the unified cgroup hierarchy, read-only: crun (podman) needs to recognise it (containers
    # run without cgroups here, tests/integration/containers.conf)
    mount -t cgroup2 -o ro linuxnet-sandbox-cgroup /sys/fs/cgroup 2>/dev/null || true
    hostname linuxnet-sandbox
    ip link set lo up
    export LINUXNET_SANDBOX=1
    exec "$@"' linuxnet-sandbox "$@"
