#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""xfrm policies: the collection's NETLINK_XFRM path against iproute2 ``ip xfrm``, side by side.

    bench/xfrm_netlink_vs_ip.py [--rounds 5] [--policies 1000]

Re-executes itself inside tests/sandbox.sh unless already there. Policies, not SAs, because the
CI host's kernel cannot hold SAs; the read path and message handling are the same for both. Per
round, in a fresh namespace each, methods rotated so none always runs first:

  add   ip -batch   one ``ip -n NS -batch -`` process fed N ``xfrm policy add`` lines on stdin
        netlink     _xfrm.XfrmSocket.add_policy for each (one request, one ACK each)
  read  ip text     ``ip -n NS xfrm policy list`` + a minimal text parse into (dir, src, dst, spi)
        netlink     _xfrm.XfrmSocket.policies() (dump + decode of every field we compare)

Each result is checked: N policies in the namespace, N parsed. Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
SANDBOX = os.path.join(ROOT, 'tests', 'sandbox.sh')
sys.path.insert(0, os.path.join(ROOT, '.build'))


def policy(i):
    dst = ipaddress.ip_address('10.0.0.0') + i + 1
    return dst, ('src 192.0.2.1/32 dst %s/32 proto udp dport 4789 dir out mark 0x4c4e4f mask 0xffffffff '
                 'tmpl src 192.0.2.1 dst %s proto esp spi 0x%x reqid 0x4c4e4f mode transport' % (dst, dst, 0x1000 + i))


def fresh(ns):
    subprocess.run(['ip', 'netns', 'del', ns], capture_output=True, check=False)
    subprocess.run(['ip', 'netns', 'add', ns], check=True)


def count(ns):
    out = subprocess.run(['ip', '-n', ns, 'xfrm', 'policy', 'count'], capture_output=True, text=True, check=True)
    return int(out.stdout.split('OUT')[1].split()[0])


def add_ip(ns, n):
    data = ''.join('xfrm policy add %s\n' % policy(i)[1] for i in range(n))
    t = time.perf_counter()
    subprocess.run(['ip', '-n', ns, '-batch', '-'], input=data, text=True, check=True)
    return time.perf_counter() - t


def add_netlink(ns, n):
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import xfrm as X
    pols = []
    for i in range(n):
        dst = policy(i)[0]
        pols.append({'dir': 'out', 'mark': (X.OVERLAY_MARK, X.FULL_MASK), 'priority': 0, 'action': 'allow',
                     'selector': {'src': ipaddress.ip_network('192.0.2.1/32'),
                                  'dst': ipaddress.ip_network('%s/32' % dst), 'proto': 17, 'dport': 4789},
                     'tmpls': [{'src': ipaddress.ip_address('192.0.2.1'), 'dst': dst, 'proto': 50,
                                'spi': 0x1000 + i, 'mode': 'transport', 'reqid': X.OVERLAY_REQID,
                                'optional': False}]})
    t = time.perf_counter()
    with _netns.entered(ns):
        sock = X.XfrmSocket()
    with sock:
        for pol in pols:
            sock.add_policy(pol)
    return time.perf_counter() - t


def read_ip(ns, n):
    t = time.perf_counter()
    out = subprocess.run(['ip', '-n', ns, 'xfrm', 'policy', 'list'], capture_output=True, text=True, check=True).stdout
    parsed, cur = [], None
    for line in out.splitlines():
        words = line.split()
        if line.startswith('src '):
            cur = {'src': words[1], 'dst': words[3]}
            parsed.append(cur)
        elif words[:1] == ['dir']:
            cur['dir'] = words[1]
        elif 'spi' in words:
            cur['spi'] = int(words[words.index('spi') + 1], 16)
    dt = time.perf_counter() - t
    assert len(parsed) == n, len(parsed)
    return dt


def read_netlink(ns, n):
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import xfrm as X
    t = time.perf_counter()
    with _netns.entered(ns):
        sock = X.XfrmSocket()
    with sock:
        got = sock.policies()
    dt = time.perf_counter() - t
    assert len(got) == n, len(got)
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--policies', type=int, default=1000)
    a = ap.parse_args()
    if os.environ.get('LINUXNET_SANDBOX') != '1':
        os.execv(SANDBOX, [SANDBOX, sys.executable] + sys.argv)
    n = a.policies
    times = {'add ip -batch': [], 'add netlink': [], 'read ip text': [], 'read netlink': []}
    for r in range(a.rounds):
        order = [('ip', add_ip), ('netlink', add_netlink)]
        if r % 2:
            order.reverse()
        for name, fn in order:
            ns = 'bx-' + name
            fresh(ns)
            times['add ' + ('ip -batch' if name == 'ip' else 'netlink')].append(fn(ns, n))
            assert count(ns) == n
        reads = [('read ip text', read_ip), ('read netlink', read_netlink)]
        if r % 2:
            reads.reverse()
        for label, fn in reads:
            times[label].append(fn('bx-ip', n))
    med = {k: statistics.median(v) for k, v in times.items()}
    print('%d policies, %d rounds, kernel %s' % (n, a.rounds, os.uname().release))
    for k, v in times.items():
        print('  %-14s median %7.1f ms   (%s)' % (k, med[k] * 1e3, ', '.join('%.1f' % (x * 1e3) for x in v)))
    print('ratio add  ip -batch / netlink: %.2f' % (med['add ip -batch'] / med['add netlink']))
    print('ratio read ip text / netlink:   %.2f' % (med['read ip text'] / med['read netlink']))


if __name__ == '__main__':
    main()
