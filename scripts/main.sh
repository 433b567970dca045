#!/usr/bin/env bash
# scripts/main.sh [--keep] [LAB]  -- the main job: set this machine up, bring up the seed's two
# simulated hosts (node1 172.31.1.5 behind a router, node2 192.168.1.5) and run site.yml on
# them: swarm init/join, network uber-net, service test with 2 replicas of `sleep infinity`,
# then network ls / inspect, service ps, the all-pairs matrix, and ping + traceroute from
# test.1 to test.2 as the seed shows them. The lab is torn down at the end unless --keep.
# LAB is a folder under inventories/lab/ (default: seed; try: large, or ipv6 for an IPv6 underlay).
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"
keep=0
if [ "${1:-}" = --keep ]; then keep=1; shift; fi
lab=${1:-seed}
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
desc="inventories/lab/$lab/lab.yml"
[ -f "$desc" ] || { echo "no lab description $desc" >&2; exit 2; }
down() { ansible-playbook linuxnet.overlay.lab_down -e "lab_description=$desc" >/dev/null || true; }
if [ "$keep" = 0 ]; then trap down EXIT; fi
ansible-playbook linuxnet.overlay.lab_up -e "lab_description=$desc"
ansible-playbook -i "lab/$lab/inventory.yml" site.yml
if [ "$keep" = 1 ]; then
  cat <<TXT

The lab is still up. Look around, for example:
  source scripts/env.sh
  ansible -i lab/$lab/inventory.yml node1 -m ansible.builtin.command -a 'ip netns list'
  ansible-playbook -i lab/$lab/inventory.yml site.yml --check --diff     # drift check: no change
Tear it down with:
  ansible-playbook linuxnet.overlay.lab_down -e lab_description=$desc
TXT
fi
