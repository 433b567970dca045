#!/usr/bin/env bash
# vm.sh start NAME IDX   |  vm.sh stop NAME
#   IDX (1..9): ssh on 127.0.0.1:$((SSH_BASE+IDX)), MACs 52:54:00:00:0{0,1}:0IDX
#   LINK=vde  (default): private L2 via vde_switch unix socket $RUN/link.ctl (start it first: vm.sh switch)
#   LINK=dgram:PEERIDX : point-to-point UDP on 127.0.0.1 ports 10000+IDX <-> 10000+PEERIDX
# env: IMG_DIR (vmlinuz, initrd-mini.img, base.raw, id_ed25519), RUN (state dir), MEM (MiB), SMP, SSH_BASE
set -euo pipefail
IMG_DIR=${IMG_DIR:-${VMLAB_IMG:-/var/cache/vmlab/img}}; RUN=${RUN:-/tmp/vmlab/run}; MEM=${MEM:-512}; TB_SIZE=${TB_SIZE:-256}; SMP=${SMP:-1}; SSH_BASE=${SSH_BASE:-2220}
LINK=${LINK:-vde}; mkdir -p "$RUN"
case $1 in
switch)
  taskset -c "$(cat /sys/devices/system/cpu/online)" vde_switch -sock "$RUN/link.ctl" -daemon -pidfile "$RUN/switch.pid" -mod 0700 ;;
start)
  NAME=$2; IDX=$3
  qemu-img create -q -f qcow2 -b "$IMG_DIR/base.raw" -F raw "$RUN/$NAME.qcow2"
  case $LINK in
    vde) LNK="vde,id=link,sock=$RUN/link.ctl" ;;
    dgram:*) P=${LINK#dgram:}; LNK="dgram,id=link,local.type=inet,local.host=127.0.0.1,local.port=$((10000+IDX)),remote.type=inet,remote.host=127.0.0.1,remote.port=$((10000+P))" ;;
  esac
  MID=$(printf %s "$NAME" | md5sum | cut -c1-32)
  # taskset: undo any inherited CPU pinning (mitogen pins its local tasks to one core -> all VMs on one core)
  taskset -c "$(cat /sys/devices/system/cpu/online)" \
  qemu-system-x86_64 -name "$NAME" -accel tcg,thread=multi${TB_SIZE:+,tb-size=$TB_SIZE} ${CPU:+-cpu $CPU} -smp "$SMP" -m "$MEM" \
    -nodefaults -vga none -display none -monitor none -serial "file:$RUN/$NAME.console" -daemonize -pidfile "$RUN/$NAME.pid" \
    -kernel "$IMG_DIR/vmlinuz" -initrd "$IMG_DIR/initrd-mini.img" \
    -append "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=$NAME systemd.machine_id=$MID mitigations=off ${APPEND:-}" \
    -drive "file=$RUN/$NAME.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap" \
    -netdev "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:$((SSH_BASE+IDX))-:22" \
    -device "virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:0$IDX" \
    -netdev "$LNK" -device "virtio-net-pci,netdev=link,mac=52:54:00:00:01:0$IDX"
  ;;
wait)   # vm.sh wait IDX [timeout]
  IDX=$2; T=${3:-600}; s=$SECONDS
  until ssh -q -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -i "$IMG_DIR/id_ed25519" -p $((SSH_BASE+IDX)) root@127.0.0.1 true; do
    (( SECONDS - s > T )) && { echo "timeout waiting for ssh on $((SSH_BASE+IDX))" >&2; exit 1; }; sleep 1
  done ;;
stop)   # by pid file only
  f="$RUN/$2.pid"
  if [ -f "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  rm -f "$f" "$RUN/$2.qcow2" ;;
stop-switch)
  if [ -f "$RUN/switch.pid" ]; then kill "$(cat "$RUN/switch.pid")" 2>/dev/null || true; fi
  rm -f "$RUN/switch.pid"; rm -rf "$RUN/link.ctl" ;;
esac
