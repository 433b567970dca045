#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""linuxnet.overlay.probe: raw sockets and one poll loop against a process per probe, side by side.

    bench/probe_cost.py [--rounds 5] [--old-rev b2ef10b] [--timeout 1]

Re-executes itself inside tests/sandbox.sh unless already there. One lab: a "sandbox" namespace
with a bridge (MTU 1450) and a gateway, 2 source tasks and 8 target tasks on it, 2 more targets
one routed hop away, 3 tasks on an isolated bridge, and /etc/netns/<source>/hosts for the names
(on a private overlay of /etc in the sandbox's mount namespace). 30 probes, 15 from each source,
as the verify role makes them: 6 peers by address with hop count (4 x 1 hop, 2 x 2 hops) and a
DF check at 1450, the same 6 by name, 3 isolation probes (they wait for the timeout).

Methods, rotated round by round so none always runs first, each as the module's own process
(``python probe.py args.json``, the AnsiballZ wrapper's cost is the same for all):
  old     the module at --old-rev: ``ip netns exec NS ping|traceroute`` in 8 threads
  new     this checkout's module: raw ICMP sockets opened once per namespace, one poll loop
  empty   this checkout's module with no probes (Python + Ansible start-up, the fixed part)
CPU is the module's user+system time including every process it waited for (RUSAGE_CHILDREN).
Every run must report 30 of 30 probes ok.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
SANDBOX = os.path.join(ROOT, 'tests', 'sandbox.sh')
PY = os.environ.get('LINUXNET_OVERLAY_PYTHON') or sys.executable
SOURCES = ['src1', 'src2']
PEERS = ['t%d' % i for i in range(1, 9)]          # same bridge, 10.9.0.11-18
FAR = ['far1', 'far2']                              # routed: 10.8.N.2
ISOLATED = ['iso1', 'iso2', 'iso3']                 # other bridge, 10.9.0.51-53


def sh(script):
    subprocess.run(['bash', '-ec', script], check=True)


def build(tmp):
    names = ['sb'] + SOURCES + PEERS + FAR + ISOLATED
    lines = ['for n in %s; do ip netns add $n; ip -n $n link set lo up; done' % ' '.join(names),
             'ip -n sb link add br0 mtu 1450 type bridge; ip -n sb addr add 10.9.0.1/24 dev br0; ip -n sb link set br0 up',
             'ip -n sb link add br1 type bridge; ip -n sb link set br1 up',
             'ip netns exec sb sysctl -qw net.ipv4.ip_forward=1']
    addr = {}
    for i, t in enumerate(SOURCES + PEERS):
        addr[t] = '10.9.0.%d' % (i + 1 + 1 if t in SOURCES else 11 + PEERS.index(t))
    for t in SOURCES + PEERS:
        lines += ['ip -n sb link add v%s mtu 1450 type veth peer name eth0 netns %s mtu 1450' % (t, t),
                  'ip -n sb link set v%s master br0 up' % t,
                  'ip -n %s addr add %s/24 dev eth0; ip -n %s link set eth0 up' % (t, addr[t], t),
                  'ip -n %s route add 10.8.0.0/16 via 10.9.0.1' % t]
    for i, t in enumerate(FAR):
        addr[t] = '10.8.%d.2' % i
        lines += ['ip -n sb link add v%s type veth peer name eth0 netns %s' % (t, t),
                  'ip -n sb addr add 10.8.%d.1/30 dev v%s; ip -n sb link set v%s up' % (i, t, t),
                  'ip -n %s addr add %s/30 dev eth0; ip -n %s link set eth0 up' % (t, addr[t], t),
                  'ip -n %s route add default via 10.8.%d.1' % (t, i)]
    for i, t in enumerate(ISOLATED):
        addr[t] = '10.9.0.%d' % (51 + i)
        lines += ['ip -n sb link add v%s type veth peer name eth0 netns %s' % (t, t),
                  'ip -n sb link set v%s master br1 up' % t,
                  'ip -n %s addr add %s/24 dev eth0; ip -n %s link set eth0 up' % (t, addr[t], t)]
    sh('\n'.join(lines))
    # names: a private /etc/netns, on an overlay of /etc in this (sandbox) mount namespace only
    for d in ('upper', 'work'):
        os.makedirs(os.path.join(tmp, d))
    sh('mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/upper,workdir=%s/work /etc' % (tmp, tmp))
    hosts = '127.0.0.1 localhost\n' + ''.join('%s %s.task\n' % (a, t) for t, a in sorted(addr.items()))
    for s in SOURCES:
        os.makedirs('/etc/netns/%s' % s)
        with open('/etc/netns/%s/hosts' % s, 'w', encoding='utf-8') as fh:
            fh.write(hosts)
    return addr


def probes(addr):
    out = []
    for k, s in enumerate(SOURCES):
        peers = PEERS[k * 4:k * 4 + 4]
        for t in peers + FAR:
            out.append({'netns': s, 'target': addr[t], 'hops': 2 if t in FAR else 1, 'mtu': 1450})
            out.append({'netns': s, 'target': '%s.task' % t})
        out += [{'netns': s, 'target': addr[t], 'expect': 'isolated'} for t in ISOLATED]
    return out


def run(module, args, tmp):
    path = os.path.join(tmp, 'args.json')
    with open(path, 'w', encoding='utf-8') as fh:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, fh)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, '.build'))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([PY, module, path], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res = json.loads(proc.stdout)
    if res.get('failed'):
        raise SystemExit('%s failed: %s' % (module, res.get('msg')))
    return wall, cpu, res['summary']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--old-rev', default='b2ef10b', help='commit with the process-per-probe module')
    ap.add_argument('--timeout', type=float, default=1.0)
    opts = ap.parse_args()
    if os.environ.get('LINUXNET_SANDBOX') != '1':
        os.execv(SANDBOX, [SANDBOX, sys.executable] + sys.argv)
    tmp = tempfile.mkdtemp(prefix='probe-cost-')
    old = os.path.join(tmp, 'probe_old.py')
    with open(old, 'w', encoding='utf-8') as fh:
        fh.write(subprocess.run(['git', '-C', ROOT, 'show', '%s:plugins/modules/probe.py' % opts.old_rev],
                                capture_output=True, text=True, check=True).stdout)
    new = os.path.join(ROOT, 'plugins', 'modules', 'probe.py')
    addr = build(tmp)
    plist = probes(addr)
    args = {'probes': plist, 'timeout': opts.timeout}
    methods = [('old', old, args), ('new', new, args), ('empty', new, {'probes': []})]
    walls = {m[0]: [] for m in methods}
    cpus = {m[0]: [] for m in methods}
    load = ' '.join('%.1f' % x for x in os.getloadavg())
    print('%d probes from %d namespaces, timeout %g s, load %s' % (len(plist), len(SOURCES), opts.timeout, load))
    for r in range(opts.rounds):
        order = methods[r % len(methods):] + methods[:r % len(methods)]
        for name, module, margs in order:
            wall, cpu, summary = run(module, margs, tmp)
            if summary['ok'] != len(margs['probes']):
                raise SystemExit('%s: %s' % (name, summary))
            walls[name].append(wall)
            cpus[name].append(cpu)
    print('%-6s %-34s %8s %8s %8s' % ('method', 'wall per round (s)', 'wall med', 'CPU med', 'CPU min'))
    for name, _m, _a in methods:
        print('%-6s %-34s %8.2f %8.2f %8.2f' % (name, ' '.join('%.2f' % w for w in walls[name]),
                                                statistics.median(walls[name]), statistics.median(cpus[name]),
                                                min(cpus[name])))
    med = {n: (statistics.median(walls[n]), statistics.median(cpus[n])) for n in walls}
    print('new / old: wall %.2f, CPU %.2f; above the fixed start-up (minus empty): wall %.2f, CPU %.3f'
          % (med['new'][0] / med['old'][0], med['new'][1] / med['old'][1],
             (med['new'][0] - med['empty'][0]) / (med['old'][0] - med['empty'][0]),
             (med['new'][1] - med['empty'][1]) / (med['old'][1] - med['empty'][1])))
    print('load %s' % ' '.join('%.1f' % x for x in os.getloadavg()))


if __name__ == '__main__':
    main()
