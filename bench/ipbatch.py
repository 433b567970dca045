#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pyroute2's IPBatch against the collection's own rtnetlink encoders, for peer entries.

    bench/ipbatch.py [--rounds 5] [--entries 1000]

Issue 10 asked whether pyroute2's request compiler (``IPBatch``, 0.9.x) can replace the
hand-written encoders in kernel/rtnl.py (``fdb_message``, ``neigh_message``). Both produce the
same requests; this measures, side by side in one run, rotated each round:

  encode   building N VXLAN FDB requests (``self permanent``, dst) and N neighbour requests
           (permanent): ``rtnl.fdb_message``/``neigh_message`` against ``IPBatch.fdb``/``neigh``
           (its buffer split back into messages, as the transport's pipelined batch takes them);
  apply    the same plus sending them through the collection's transport (``Socket.batch``) into
           a fresh VXLAN device in a fresh namespace, then checking with iproute2 that exactly N
           entries of each kind are there (so both encodings are proven to be accepted alike).

Re-executes itself inside tests/sandbox.sh (own network namespace) unless already there.
Prints per-round times, medians, minimums and the ratio IPBatch / rtnl.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, '.build'))
SANDBOX = os.path.join(ROOT, 'tests', 'sandbox.sh')
VENV_PY = os.environ.get('LINUXNET_OVERLAY_PYTHON', os.path.join(ROOT, '.venv', 'bin', 'python'))

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import NUD_NOARP, NUD_PERMANENT  # noqa: E402

NTF_SELF = 0x02
_NLMSGHDR = struct.Struct('=IHHII')


def sh(cmd):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout


def entries(n):
    macs = ['02:42:0a:%02x:%02x:%02x' % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(1, n + 1)]
    ips = ['10.%d.%d.%d' % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(1, n + 1)]
    vteps = ['192.168.1.%d' % (i % 4 + 1) for i in range(n)]
    return macs, ips, vteps


def encode_rtnl(ifindex, macs, ips, vteps):
    fdb = [rtnl.fdb_message('replace', ifindex, m, d) for m, d in zip(macs, vteps)]
    neigh = [rtnl.neigh_message('replace', ifindex, ip, m) for ip, m in zip(ips, macs)]
    return fdb, neigh


def split(buf):
    """An IPBatch buffer as the transport's [(type, flags, payload)] (it sets seq and ACK itself)."""
    out, off = [], 0
    while off < len(buf):
        length, kind, flags, _seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        out.append((kind, flags & ~0x4, bytes(buf[off + _NLMSGHDR.size:off + length])))   # ACK added by batch()
        off += (length + 3) & ~3
    return out


def encode_ipbatch(ipb, ifindex, macs, ips, vteps):
    ipb.reset()
    for m, d in zip(macs, vteps):
        ipb.fdb('replace', ifindex=ifindex, lladdr=m, dst=d, state=NUD_PERMANENT | NUD_NOARP, flags=NTF_SELF)
    fdb = split(ipb.batch)
    ipb.reset()
    for ip, m in zip(ips, macs):
        ipb.neigh('replace', ifindex=ifindex, dst=ip, lladdr=m, state=NUD_PERMANENT)
    return fdb, split(ipb.batch)


def apply(how, ipb, n, rnd):
    ns = 'ipb-%s-%d' % (how, rnd)
    sh('ip netns add %s && ip -n %s link add vx0 type vxlan id 4097 dstport 4789 nolearning proxy '
       '&& ip -n %s link set vx0 up' % (ns, ns, ns))
    try:
        macs, ips, vteps = entries(n)
        t0 = time.perf_counter()
        with rtnl.Socket(ns) as sock:
            ifindex = rtnl.get_link(sock, 'vx0')['ifindex']
            fdb, neigh = (encode_rtnl(ifindex, macs, ips, vteps) if how == 'rtnl'
                          else encode_ipbatch(ipb, ifindex, macs, ips, vteps))
            failures = sock.batch(fdb + neigh)
        dt = time.perf_counter() - t0
        assert not failures, (how, failures[:3])
        got_fdb = sum(1 for line in sh('bridge -n %s fdb show dev vx0' % ns).splitlines() if ' dst ' in line)
        got_neigh = sum(1 for line in sh('ip -n %s neigh show dev vx0' % ns).splitlines() if 'PERMANENT' in line)
        assert (got_fdb, got_neigh) == (n, n), (how, got_fdb, got_neigh)
        return dt
    finally:
        sh('ip netns del %s' % ns)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--entries', type=int, default=1000)
    args = ap.parse_args()
    if os.environ.get('LINUXNET_SANDBOX') != '1':
        os.execv(SANDBOX, [SANDBOX, VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])
    from pyroute2 import IPBatch   # pylint: disable=import-outside-toplevel
    import pyroute2                 # pylint: disable=import-outside-toplevel
    ipb = IPBatch()
    n = args.entries
    print('ipbatch: %d FDB + %d neighbour requests, %d rounds, pyroute2 %s, load average %s'
          % (n, n, args.rounds, pyroute2.__version__, ' '.join(open('/proc/loadavg').read().split()[:3])))
    times = {('encode', 'rtnl'): [], ('encode', 'ipbatch'): [], ('apply', 'rtnl'): [], ('apply', 'ipbatch'): []}
    macs, ips, vteps = entries(n)
    ours, theirs = encode_rtnl(7, macs, ips, vteps), encode_ipbatch(ipb, 7, macs, ips, vteps)
    same = sum(1 for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]) if a == b)
    for r in range(args.rounds):
        order = ['rtnl', 'ipbatch'] if r % 2 == 0 else ['ipbatch', 'rtnl']
        for how in order:
            t0 = time.perf_counter()
            if how == 'rtnl':
                encode_rtnl(7, macs, ips, vteps)
            else:
                encode_ipbatch(ipb, 7, macs, ips, vteps)
            times[('encode', how)].append(time.perf_counter() - t0)
        for how in order:
            times[('apply', how)].append(apply(how, ipb, n, r))
    ipb.close()
    print('  identical requests (byte for byte): %d of %d' % (same, 2 * n))
    for what in ('encode', 'apply'):
        med = {h: statistics.median(times[(what, h)]) for h in ('rtnl', 'ipbatch')}
        for h in ('rtnl', 'ipbatch'):
            print('  %-6s %-8s rounds %s  median %.1f ms  min %.1f ms'
                  % (what, h, ' '.join('%.1f' % (t * 1000) for t in times[(what, h)]), med[h] * 1000,
                     min(times[(what, h)]) * 1000))
        print('  %-6s IPBatch / rtnl: %.1f (medians)' % (what, med['ipbatch'] / med['rtnl']))


if __name__ == '__main__':
    main()
