#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a service's virtual IP should live (issue #12 item 1), measured before it is built.

    bench/vip_nft.py [--rounds 5] [--connections 2000] [--backends 3]

Re-executes itself inside tests/sandbox.sh unless already there. One overlay-shaped lab without
VXLAN: a sandbox namespace with bridge br0 (10.0.0.1/24), a client task (10.0.0.10) and BACKENDS
server tasks (10.0.0.3 ...) on it by veth; each server answers every TCP connection on port 80
with its name. Docker balances a VIP with IPVS, which this kernel does not have; kube-proxy's
nftables mode (KEP-3866) DNATs with ``numgen random mod N`` into a map. Methods, rotated round by
round, each CONNECTIONS sequential connect-read-close from the client:

  direct    to one server's own address (the baseline)
  vip-task  to the VIP 10.0.0.2, DNAT in the client's own namespace (nat output hook): the rule
            lives where the connection starts, conntrack of that namespace undoes it on replies
  vip-sbox  to the VIP, DNAT in the sandbox (nat prerouting, br_netfilter on the bridge so the
            bridged replies pass the sandbox's conntrack too): one rule set per network and node;
            the client reaches the VIP through a static neighbour entry to the bridge's MAC

A fresh lab per method and round. Prints per method the connection rate and latency (medians over rounds), the rate against
direct, and how the VIP spread the connections over the servers (max / min answers). Then the
cost of a change: the backend map replaced in one ``nft -f`` transaction (tasks N -> N+1) while a
connection to a kept server stays open; that connection must still work afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lab  # noqa: E402

VIP = '10.0.0.2'
SERVER = r'''
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 80)); s.listen(512)
name = sys.argv[1].encode() + b'\n'
while True:
    c, _ = s.accept()
    try:
        c.sendall(name)
        c.settimeout(5)
        while c.recv(64):          # a held connection: answer every line with the name again
            c.sendall(name)
    except OSError:
        pass
    c.close()
'''
CLIENT = r'''
import json, socket, sys, time, collections
host, n = sys.argv[1], int(sys.argv[2])
lat, seen = [], collections.Counter()
t0 = time.perf_counter()
for _ in range(n):
    t = time.perf_counter()
    c = socket.create_connection((host, 80), timeout=5)
    seen[c.recv(64).strip().decode()] += 1
    c.close()
    lat.append(time.perf_counter() - t)
dt = time.perf_counter() - t0
lat.sort()
print(json.dumps({'rate': n / dt, 'p50_us': lat[len(lat) // 2] * 1e6, 'p99_us': lat[int(len(lat) * 0.99)] * 1e6,
                  'seen': seen}))
'''


def sh(cmd, **kw):
    return _lab.sh(cmd, **kw)


class Lab:
    def __init__(self, backends):
        s = uuid.uuid4().hex[:6]
        self.sb, self.client = 'vsb-' + s, 'vc-' + s
        self.servers = ['vs%d-%s' % (i + 1, s) for i in range(backends)]
        self.names = ['task%d' % (i + 1) for i in range(backends)]     # what each server answers
        self.addrs = ['10.0.0.%d' % (i + 3) for i in range(backends)]
        self.procs = []

    def up(self):
        sh('ip netns add %s; ip -n %s link set lo up; ip -n %s link add br0 type bridge; '
           'ip -n %s addr add 10.0.0.1/24 dev br0; ip -n %s link set br0 up' % ((self.sb,) * 5))
        for i, (ns, addr) in enumerate([(self.client, '10.0.0.10')] + list(zip(self.servers, self.addrs))):
            script = ('ip netns add {ns}; ip -n {ns} link set lo up; '
                      'ip -n {sb} link add v{i} type veth peer name eth0 netns {ns}; '
                      'ip -n {sb} link set v{i} master br0 up; '
                      'ip -n {ns} addr add {addr}/24 dev eth0; ip -n {ns} link set eth0 up')
            sh(script.format(ns=ns, sb=self.sb, i=i, addr=addr))
        for ns, name in zip(self.servers, self.names):
            self.procs.append(subprocess.Popen(['ip', 'netns', 'exec', ns, sys.executable, '-c', SERVER, name]))
        time.sleep(0.5)

    def down(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for ns in [self.client, self.sb] + self.servers:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, check=False)

    def nft(self, ns, text):
        """One nft transaction in NS (rules on stdin: one process, one netlink batch)."""
        t0 = time.perf_counter()
        sh(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], input=text)
        return time.perf_counter() - t0

    def client_run(self, host, n):
        out = sh(['ip', 'netns', 'exec', self.client, sys.executable, '-c', CLIENT, host, str(n)])
        return json.loads(out)


def vip_rules(hook, addrs, flush=True):
    """The VIP's DNAT as kube-proxy's nftables mode writes it: numgen random into a map."""
    elems = ', '.join('%d : %s' % (i, a) for i, a in enumerate(addrs))
    chain = ('type nat hook output priority -100;' if hook == 'output'
             else 'type nat hook prerouting priority -100;')
    return ('%stable ip linuxnet-vip {\n chain svc {\n  %s\n'
            '  ip daddr %s tcp dport 80 dnat to numgen random mod %d map { %s }\n }\n}\n'
            % ('table ip linuxnet-vip\ndelete table ip linuxnet-vip\n' if flush else '', chain, VIP,
               len(addrs), elems))


def setup_mode(lab, mode):
    """Rules for MODE on LAB (the other mode's removed)."""
    for ns in (lab.client, lab.sb):
        subprocess.run(['ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'linuxnet-vip'],
                       capture_output=True, check=False)
    sh('ip -n %s neigh flush dev eth0' % lab.client)
    # bridged frames pass the sandbox's netfilter only in vip-sbox mode
    sh('ip netns exec %s sysctl -qw net.bridge.bridge-nf-call-iptables=%d' % (lab.sb, mode == 'vip-sbox'))
    if mode == 'vip-task':
        lab.nft(lab.client, vip_rules('output', lab.addrs, flush=False))
    elif mode == 'vip-sbox':
        br_mac = json.loads(sh('ip -n %s -j link show br0' % lab.sb))[0]['address']
        sh('ip -n %s neigh replace %s lladdr %s dev eth0 nud permanent' % (lab.client, VIP, br_mac))
        sh('ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1' % lab.sb)
        lab.nft(lab.sb, vip_rules('prerouting', lab.addrs, flush=False))


def change_cost(lab, rounds):
    """The map replaced in one transaction (N -> N+1 backends, the new one being a kept address
    twice) with a connection to a server held open across it; -> (seconds per change, still ok)."""
    setup_mode(lab, 'vip-task')
    hold = subprocess.Popen(['ip', 'netns', 'exec', lab.client, sys.executable, '-c',
                             'import socket,sys\nc=socket.create_connection(("%s",80),timeout=5)\nc.recv(64)\n'
                             'sys.stdout.write("open\\n");sys.stdout.flush()\nsys.stdin.readline()\n'
                             'c.sendall(b"x\\n");print(c.recv(64).strip().decode())' % VIP],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert hold.stdout.readline().strip() == 'open'
    times = []
    for r in range(rounds):
        addrs = lab.addrs + lab.addrs[:1] if r % 2 == 0 else lab.addrs
        times.append(lab.nft(lab.client, vip_rules('output', addrs)))
    hold.stdin.write('\n')
    hold.stdin.flush()
    answer = hold.stdout.readline().strip()
    hold.wait(timeout=10)
    return times, answer in lab.names


def main():
    _lab.reexec_in_sandbox(__file__)
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--connections', type=int, default=2000)
    ap.add_argument('--backends', type=int, default=3)
    args = ap.parse_args()
    _lab.header('vip_nft: a service VIP by nftables DNAT, in the task or in the sandbox, against direct '
                '(%d connections x %d rounds, %d backends)' % (args.connections, args.rounds, args.backends))
    modes = ['direct', 'vip-task', 'vip-sbox']
    res = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes[r % 3:] + modes[:r % 3]:
            # a fresh lab per method and round: conntrack entries a method left (120 s in
            # TIME_WAIT) made the next method's connections stall on reused ports
            lab = Lab(args.backends)
            try:
                lab.up()
                setup_mode(lab, mode)
                res[mode].append(lab.client_run(lab.addrs[0] if mode == 'direct' else VIP, args.connections))
            finally:
                lab.down()
    lab = Lab(args.backends)
    try:
        lab.up()
        times, kept = change_cost(lab, 20)
    finally:
        lab.down()
    base = statistics.median(x['rate'] for x in res['direct'])
    rows = []
    for mode in modes:
        rate = statistics.median(x['rate'] for x in res[mode])
        seen = {}
        for x in res[mode]:
            for k, v in x['seen'].items():
                seen[k] = seen.get(k, 0) + v
        spread = '-' if mode == 'direct' else ('%d servers, max / min %.2f' % (
            len(seen), max(seen.values()) / min(seen.values())) if len(seen) == args.backends
            else 'only %d of %d servers answered' % (len(seen), args.backends))
        rows.append([mode, ' '.join('%.0f' % x['rate'] for x in res[mode]), '%.0f' % rate, '%.2f' % (rate / base),
                     '%.0f' % statistics.median(x['p50_us'] for x in res[mode]),
                     '%.0f' % statistics.median(x['p99_us'] for x in res[mode]), spread])
    print()
    _lab.table(rows, ('method', 'conn/s per round', 'median', 'vs direct', 'p50 us', 'p99 us', 'spread'))
    held = 'still answered' if kept else 'BROKE'
    print('\nchange: the backend map replaced in one nft -f transaction, 20 times: median %.1f ms, max %.1f ms; '
          'a connection held open across them %s' % (statistics.median(times) * 1e3, max(times) * 1e3, held))
    print('load average at the end: %s' % _lab.loadavg())


if __name__ == '__main__':
    main()
