#!/usr/bin/env bash
# scripts/busybox-image.sh IMAGE  -- build a small image offline, with no registry: a root file
# system of Debian's busybox-static (every applet as a symlink, /srv with an index.html), imported
# into the node's podman storage as IMAGE (e.g. localhost/linuxnet-busybox:1). What the tests and
# the README's container example run; a node needs its images before a task runs them.
set -euo pipefail
image=${1:?usage: busybox-image.sh IMAGE}
busybox=$(command -v busybox) || { echo "busybox is not installed (apt install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/bin "$root"/etc "$root"/tmp "$root"/proc "$root"/sys "$root"/dev "$root"/srv "$root"/run
cp "$busybox" "$root"/bin/busybox
for applet in $("$root"/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$root"/etc/passwd
echo 'root:x:0:' > "$root"/etc/group
echo 'linuxnet.overlay busybox image' > "$root"/srv/index.html
chmod 1777 "$root"/tmp
tar -C "$root" -cf "$root.tar" .
trap 'rm -rf "$root" "$root.tar"' EXIT
podman import --quiet --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$root.tar" "$image" >/dev/null
echo "$image"
