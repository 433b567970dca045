#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data plane: the collection's overlay against the underlay and against Docker's layout built by hand.

    bench/dataplane.py [--rounds 4] [--seconds 3] [--pings 200] [--variants LIST|all|none]

Re-executes itself inside tests/sandbox.sh unless already there. Builds the seed lab (node1 on
172.31.1.0/24, node2 on 192.168.1.0/24, behind the router) in a temporary folder, runs
``site.yml`` (the seed's cluster: uber-net, service ``test`` with 2 replicas, one per node), then
builds, in the same two nodes and at the same time, the same layout by hand with iproute2 exactly
as Docker's overlay driver builds it (moby libnetwork drivers/overlay ov_network.go, ov_utils.go): a
sandbox namespace with br0 carrying the gateway, a VXLAN device made in the node namespace with
``learning proxy l2miss l3miss dstport 4789`` and MTU 1450, moved into the sandbox and enslaved to
br0, a veth pair (txqueuelen 0, MTU 1450) to a container namespace whose eth0 has MAC 02:42:+IPv4,
and the remote container's static neighbour and FDB entries; on VNI 5001 and 10.201.1.0/24.

Paths, measured in every round in rotated order (none always runs first):
  underlay     node1 -> node2 (172.31.1.5 -> 192.168.1.5, routed by the router)
  collection   task test.1 on node1 -> task test.2 on node2 over the collection's uber-net
  hand-built   Docker's layout built by hand, container on node1 -> container on node2
each again with the lab router's segment of node2 routed instead of bridged ("/routed",
applied right before and undone right after the measurement; see ROUTED_APPLY for why), and
candidate settings (``--variants``), each measured side by side with its reference:
  toggles      applied to the collection's own devices on both nodes (``lab-*``: to the lab's
               underlay) right before the measurement and reverted right after (reference: the
               collection, or the underlay, in the same round)
  built        a by-hand overlay with the collection's own VXLAN flags (``nolearning proxy local
               ADDR``) plus one change, against a control built the same way without it (the
               control itself is compared with the collection)

Each measurement: one ``iperf3 -c`` of N seconds against a one-off server (``-s -1 -D -I
pidfile``, killed by pid if still there) and ``ping -c 200 -i 0.002`` (median of the packets).
Prints every round, medians, minimums/maximums, the load average, the ratios overlay/underlay and
collection/hand-built, and each variant's effect (median of the per-round ratios to its
reference). The lab is always taken down; nothing touches the root namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lab  # noqa: E402  pylint: disable=wrong-import-position

PORT = 5201
TIME_RE = re.compile(r'time=([\d.]+) ms')
LOSS_RE = re.compile(r'(\d+) packets transmitted, (\d+) received')


def mac_of(ip):
    return '02:42:' + ':'.join('%02x' % int(o) for o in ip.split('.'))


# ---------------------------------------------------------------------------------------------
# endpoints and paths

class End:
    """One side of a path: a node and optionally a namespace inside it (None: the node itself)."""

    def __init__(self, node, netns, ip):
        self.node, self.netns, self.ip = node, netns, ip

    def argv(self, cmd):
        return (['ip', 'netns', 'exec', self.netns] if self.netns else []) + cmd


class Path:
    """A measured path; ``apply``/``revert`` (lists of (node, shell command)) for toggles."""

    def __init__(self, name, src, dst, kind='core', ref=None, apply=(), revert=(), note=''):
        self.name, self.src, self.dst, self.kind, self.ref = name, src, dst, kind, ref
        self.apply, self.revert, self.note = list(apply), list(revert), note


def iperf(lab, path, seconds):
    """Gbit/s received by a one-off iperf3 server, and the sender's retransmits."""
    dst, src = path.dst, path.src
    pidf = '/tmp/bench-iperf3.pid'
    lab.run(dst.node, 'rm -f %s' % pidf)
    lab.run(dst.node, dst.argv(['iperf3', '-s', '-1', '-D', '-B', dst.ip, '-p', str(PORT), '-I', pidf]))
    try:
        deadline = time.monotonic() + 5
        while not lab.run(dst.node, dst.argv(['ss', '-Hltn', 'sport = :%d' % PORT])).strip():
            if time.monotonic() > deadline:
                raise RuntimeError('%s: iperf3 server did not start' % path.name)
            time.sleep(0.05)
        out = lab.run(src.node, src.argv(['iperf3', '-c', dst.ip, '-p', str(PORT), '-t', str(seconds), '-J']),
                      check=False)
        data = json.loads(out)
        if 'error' in data:
            raise RuntimeError('%s: iperf3: %s' % (path.name, data['error']))
        end = data['end']
        return end['sum_received']['bits_per_second'] / 1e9, end['sum_sent'].get('retransmits', 0)
    finally:
        # the one-off server normally exits by itself; kill it by its pid if it did not
        lab.run(dst.node, 'if [ -f {0} ]; then kill "$(cat {0})" 2>/dev/null; rm -f {0}; fi; true'.format(pidf),
                check=False)


def ping(lab, path, count, interval):
    """(median us, min us, lost) of ``ping -c COUNT -i INTERVAL``, from the per-packet times.

    The median of the packets is steadier than ping's own average on a busy machine (one
    descheduled packet moves the average by several microseconds).
    """
    argv = ['ping', '-n', '-c', str(count), '-i', str(interval), path.dst.ip]
    out = lab.run(path.src.node, path.src.argv(argv), check=False)
    times = [float(t) * 1000 for t in TIME_RE.findall(out)]
    loss = LOSS_RE.search(out)
    if not times or not loss:
        raise RuntimeError('%s: ping failed: %s' % (path.name, out[-500:]))
    return _lab.med(times), min(times), int(loss.group(1)) - int(loss.group(2))


# ---------------------------------------------------------------------------------------------
# the collection's overlay, as site.yml left it

def discover(lab, node):
    """The collection's task and sandbox on NODE: names, task address, the sandbox's veth and VTEP."""
    names = [line.split()[0] for line in lab.run(node, ['ip', 'netns', 'list']).splitlines() if line.strip()]
    tasks = [n for n in names if n.startswith('test.')]
    sboxes = [n for n in names if n.startswith('ov-')]
    if len(tasks) != 1 or len(sboxes) != 1:
        raise RuntimeError('%s: expected one task and one sandbox of the collection, found %s' % (node, names))
    task, sb = tasks[0], sboxes[0]
    addr = json.loads(lab.run(node, ['ip', '-n', task, '-j', 'addr', 'show', 'dev', 'eth0']))[0]
    ip = [a['local'] for a in addr['addr_info'] if a['family'] == 'inet'][0]
    links = json.loads(lab.run(node, ['ip', '-n', sb, '-d', '-j', 'link', 'show']))
    veths = [lk['ifname'] for lk in links if lk.get('linkinfo', {}).get('info_kind') == 'veth']
    vteps = [lk['ifname'] for lk in links if lk.get('linkinfo', {}).get('info_kind') == 'vxlan']
    return {'task': task, 'sandbox': sb, 'ip': ip, 'veth': veths[0], 'vtep': vteps[0],
            'mtu': addr['mtu']}


# ---------------------------------------------------------------------------------------------
# overlays built by hand

NODES = {'node1': '172.31.1.5', 'node2': '192.168.1.5'}


def build_by_hand(lab, tag, vni, net, vxflags, qlen0):
    """One overlay across node1 and node2 built with iproute2; returns {node: End}.

    ``net`` is a /24 prefix like '10.201.1'; node1's container gets .2, node2's .3, br0 the
    gateway .1 on both nodes (as Docker does). ``vxflags`` may contain {local}.
    """
    ends = {}
    for i, (node, vtep) in enumerate(sorted(NODES.items())):
        ip = '%s.%d' % (net, 2 + i)
        sb, ct, vx, veth = 'hb%s-sb' % tag, 'hb%s-c' % tag, 'hbvx%d' % vni, 'hbv%s' % tag
        q = ' txqueuelen 0' if qlen0 else ''
        lab.run(node, '\n'.join([
            'set -e',
            'ip netns add %s' % sb,
            'ip -n %s link set lo up' % sb,
            'ip -n %s link add br0 type bridge' % sb,
            'ip -n %s addr add %s.1/24 dev br0' % (sb, net),
            # made in the node namespace, so its UDP socket stays there; then moved into the sandbox
            'ip link add %s mtu 1450 type vxlan id %d dstport 4789 %s' % (vx, vni, vxflags.format(local=vtep)),
            'ip link set %s netns %s' % (vx, sb),
            'ip -n %s link set %s master br0' % (sb, vx),
            'ip -n %s link set %s up' % (sb, vx),
            'ip -n %s link set br0 up' % sb,
            'ip netns add %s' % ct,
            'ip -n %s link set lo up' % ct,
            'ip -n %s link add %s mtu 1450%s type veth peer name eth0 netns %s mtu 1450%s' % (sb, veth, q, ct, q),
            'ip -n %s link set %s master br0 up' % (sb, veth),
            'ip -n %s link set eth0 address %s' % (ct, mac_of(ip)),
            'ip -n %s addr add %s/24 dev eth0' % (ct, ip),
            'ip -n %s link set eth0 up' % ct,
        ]))
        ends[node] = End(node, ct, ip)
    for node, peer in (('node1', 'node2'), ('node2', 'node1')):
        rip = ends[peer].ip
        sb, vx = 'hb%s-sb' % tag, 'hbvx%d' % vni
        lab.run(node, 'set -e\nip -n %s neigh replace %s lladdr %s dev %s nud permanent\n'
                      'bridge -n %s fdb replace %s dev %s dst %s self permanent'
                % (sb, rip, mac_of(rip), vx, sb, mac_of(rip), vx, NODES[peer]))
    return ends


# ---------------------------------------------------------------------------------------------
# the lab's router: its segments are Linux bridges

# A Linux bridge has no UDP-tunnel segmentation in its hw_enc_features, so when the router
# forwards a VXLAN GSO packet (up to 64 KB, as node1's VTEP hands it to eth0) out of a segment
# bridge, the kernel segments it in software into 1500-byte frames there (seen with ip -s link:
# r-node1 receives ~55 KB packets, r-node2 sends 1513-byte ones), and node2 then decapsulates
# every frame alone. Plain TCP crosses the same router unsegmented. "routed" takes node2's
# segment off its bridge for the measurement (the gateway address moves from the bridge seg2 to
# the router's veth r-node2) and puts it back afterwards: what the overlay does when the
# underlay does not force software segmentation.
ROUTED_APPLY = [('router', 'set -e; ip addr del 192.168.1.1/24 dev seg2; ip link set r-node2 nomaster; '
                           'ip addr add 192.168.1.1/24 dev r-node2; ip neigh flush dev seg2'),
                ('node2', 'ip neigh flush dev eth0')]
ROUTED_REVERT = [('router', 'set -e; ip addr del 192.168.1.1/24 dev r-node2; ip link set r-node2 master seg2; '
                            'ip addr add 192.168.1.1/24 dev seg2; ip neigh flush dev r-node2'),
                 ('node2', 'ip neigh flush dev eth0')]


# ---------------------------------------------------------------------------------------------
# candidate settings

def toggles(col):
    """Settings applied in place on both nodes: name -> (apply, revert, note, also on the underlay)."""
    def both(fmt):
        return [(node, fmt.format(**c)) for node, c in col.items()]

    nf = 'ip netns exec {sandbox} sysctl -q -w net.bridge.bridge-nf-call-iptables=%d ' \
         'net.bridge.bridge-nf-call-ip6tables=%d net.bridge.bridge-nf-call-arptables=%d'

    def mtu(under, over):
        cmds = [('router', 'ip link set r-node1 mtu %d && ip link set r-node2 mtu %d && ip link set seg1 mtu %d '
                           '&& ip link set seg2 mtu %d' % (under, under, under, under))]
        cmds += [(n, 'ip link set eth0 mtu %d' % under) for n in col]
        over_cmds = both('ip -n {sandbox} link set {vtep} mtu %d && ip -n {sandbox} link set {veth} mtu %d && '
                         'ip -n {task} link set eth0 mtu %d && ip -n {sandbox} link set br0 mtu %d'
                         % (over, over, over, over))
        return cmds + over_cmds if over > 1450 else over_cmds + cmds

    return {
        'nf-call-off': (both(nf % (0, 0, 0)), both(nf % (1, 1, 1)),
                        'bridge-nf-call-{iptables,ip6tables,arptables}=0 in the sandbox (T10: 1 in every new netns)',
                        False),
        'gro-veths': (both('ip netns exec {sandbox} ethtool -K {veth} gro on && '
                           'ip netns exec {task} ethtool -K eth0 gro on'),
                      both('ip netns exec {sandbox} ethtool -K {veth} gro off && '
                           'ip netns exec {task} ethtool -K eth0 gro off'),
                      'GRO (veth NAPI) on both ends of the task veth (default off)', False),
        'txqlen-0': (both('ip -n {sandbox} link set {veth} txqueuelen 0 && ip -n {task} link set eth0 txqueuelen 0'),
                     both('ip -n {sandbox} link set {veth} txqueuelen 1000 && '
                          'ip -n {task} link set eth0 txqueuelen 1000'),
                     'txqueuelen 0 on both task veth ends, as Docker makes them (default 1000)', False),
        'gro-vtep-off': (both('ip netns exec {sandbox} ethtool -K {vtep} gro off'),
                         both('ip netns exec {sandbox} ethtool -K {vtep} gro on'),
                         'GRO off on the VTEP (control: default on)', False),
        'tso-off': (both('ip netns exec {task} ethtool -K eth0 tso off'),
                    both('ip netns exec {task} ethtool -K eth0 tso on'),
                    "TSO off on the task's eth0 (control: default on)", False),
        # lab settings (the underlay), not the collection's: what a real NIC or network would give
        'lab-gro-eth0': ([(n, 'ethtool -K eth0 gro on') for n in col],
                         [(n, 'ethtool -K eth0 gro off') for n in col],
                         "lab: GRO on the nodes' underlay eth0 (veth default off; real NICs have it on)", True),
        'lab-jumbo': (mtu(9000, 8950), mtu(1500, 1450),
                      'lab: underlay MTU 9000, overlay 8950 (what the collection derives from a 9000 underlay)', True),
    }


BUILT = {
    # name: (vxlan flags, note); all built like the collection (nolearning proxy local ADDR)
    'ctl': ('nolearning proxy local {local}', "control: the collection's VXLAN flags, built by hand"),
    'noudpcsum': ('nolearning proxy local {local} noudpcsum', 'no outer UDP checksum (IPv4; default udpcsum)'),
}

DEFAULT_VARIANTS = ['nf-call-off', 'gro-veths', 'txqlen-0', 'noudpcsum']


def main():
    names = list(toggles({})) + [b for b in BUILT if b != 'ctl']
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=4)
    ap.add_argument('--seconds', type=int, default=3, help='iperf3 -t per measurement (default 3)')
    ap.add_argument('--pings', type=int, default=200)
    ap.add_argument('--interval', default='0.002', help='ping -i (default 0.002)')
    ap.add_argument('--variants', default=','.join(DEFAULT_VARIANTS),
                    help='comma-separated, "all" or "none" (default %s); known: %s'
                    % (','.join(DEFAULT_VARIANTS), ', '.join(names)))
    ap.add_argument('--no-routed', action='store_true',
                    help='skip the second regime (node2 segment routed without its bridge)')
    ap.add_argument('--keep-logs', action='store_true', help='keep the temporary folder (site.yml log)')
    args = ap.parse_args()
    want = names if args.variants == 'all' else [] if args.variants in ('none', '') else args.variants.split(',')
    bad = [v for v in want if v not in names]
    if bad:
        ap.error('unknown variant(s) %s; known: %s' % (', '.join(bad), ', '.join(names)))
    _lab.reexec_in_sandbox(__file__)

    _lab.header('dataplane: collection overlay vs underlay vs hand-built (Docker layout), seed lab')
    print('  iperf3 %s, %d rounds x %d s per path, ping -c %d -i %s; variants: %s' % (
        _lab.sh(['iperf3', '--version']).split()[1], args.rounds, args.seconds, args.pings, args.interval,
        ', '.join(want) or 'none'))
    tmp = _lab.tmpdir('bench-dataplane.')
    segments, nodes = _lab.seed_topology()
    try:
        with _lab.Lab(tmp, 'seed', segments, nodes, _lab.seed_vars(2)) as lab:
            dt = lab.site(log=os.path.join(tmp, 'site.log'))[0]
            print('  lab up, site.yml converged in %.1f s' % dt)
            run(lab, args, want)
    finally:
        if args.keep_logs:
            print('  logs kept in %s' % tmp)
        else:
            _lab.rmtree(tmp)


def run(lab, args, want):
    col = {n: discover(lab, n) for n in ('node1', 'node2')}
    hb = build_by_hand(lab, 'd', 5001, '10.201.1', 'learning proxy l2miss l3miss', qlen0=True)
    under = (End('node1', None, '172.31.1.5'), End('node2', None, '192.168.1.5'))
    colp = (End('node1', col['node1']['task'], col['node1']['ip']), End('node2', col['node2']['task'], col['node2']['ip']))
    hbp = (hb['node1'], hb['node2'])
    paths = [
        Path('underlay', *under, note='node1 -> node2 through the router (segment bridges seg1, seg2)'),
        Path('collection', *colp, note='test.1 -> test.2 on uber-net (VNI 4096, MTU %d)' % col['node1']['mtu']),
        Path('hand-built', *hbp, note='Docker layout by hand: VNI 5001, learning proxy l2miss l3miss, MTU 1450, qlen 0'),
    ]
    if not args.no_routed:
        note = "lab router: node2's segment routed by r-node2 without the bridge seg2 (no software GSO)"
        for p in list(paths):
            paths.append(Path(p.name + '/routed', p.src, p.dst, kind='routed', apply=ROUTED_APPLY,
                              revert=ROUTED_REVERT, note=note))
    built = [b for b in BUILT if b in want]
    for i, name in enumerate((['ctl'] + built) if built else []):
        ends = build_by_hand(lab, 'b%d' % i, 5101 + i, '10.202.%d' % (1 + i), BUILT[name][0], qlen0=False)
        paths.append(Path('built:' + name, ends['node1'], ends['node2'], kind='built',
                          ref='collection' if name == 'ctl' else 'built:ctl', note=BUILT[name][1]))
    tg = toggles(col)
    for name in want:
        if name in tg:
            apply, revert, note, on_underlay = tg[name]
            paths.append(Path('toggle:' + name, *colp, kind='toggle', ref='collection',
                              apply=apply, revert=revert, note=note))
            if on_underlay:
                paths.append(Path('toggle:%s/underlay' % name, *under, kind='toggle', ref='underlay',
                                  apply=apply, revert=revert, note=note + ' (underlay path)'))

    # warm up every path (neighbour resolution, sockets) and check that it works
    for p in paths:
        lost = ping(lab, p, 5, '0.01')[2]
        if lost:
            raise RuntimeError('%s: %d of 5 warm-up pings lost' % (p.name, lost))

    res = {p.name: {'gbps': [], 'retr': [], 'rtt': [], 'min': []} for p in paths}
    for r in range(args.rounds):
        k = r % len(paths)
        for p in paths[k:] + paths[:k]:
            measure(lab, p, args, res[p.name])
        print('  round %d of %d done, load average %s' % (r + 1, args.rounds, _lab.loadavg()))
        sys.stdout.flush()
    report(paths, res, args)


def measure(lab, p, args, out):
    for node, cmd in p.apply:
        lab.run(node, cmd)
    try:
        if p.apply:     # the first packets after a change resolve neighbours again
            ping(lab, p, 5, '0.01')
        gbps, retr = iperf(lab, p, args.seconds)
        rtt, mn, lost = ping(lab, p, args.pings, args.interval)
        if lost:
            raise RuntimeError('%s: %d of %d pings lost' % (p.name, lost, args.pings))
    finally:
        failed = [cmd for node, cmd in p.revert if not _revert(lab, node, cmd)]
        if failed:
            raise RuntimeError('%s: could not revert %s' % (p.name, failed))
    for key, val in (('gbps', gbps), ('retr', retr), ('rtt', rtt), ('min', mn)):
        out[key].append(val)


def _revert(lab, node, cmd):
    try:
        lab.run(node, cmd)
        return True
    except RuntimeError:
        return False


def report(paths, res, args):
    m = {p.name: {k: _lab.med(v) for k, v in res[p.name].items()} for p in paths}
    print('\nTCP throughput (Gbit/s, iperf3 -t %d, one stream) and ping RTT (us: median of %d pings per round; '
          'min of all)\n' % (args.seconds, args.pings))
    rows = []
    for p in paths:
        d = res[p.name]
        rows.append([p.name, ' '.join('%.2f' % x for x in d['gbps']), '%.2f' % m[p.name]['gbps'],
                     '%.2f-%.2f' % (min(d['gbps']), max(d['gbps'])), '%d' % m[p.name]['retr'],
                     ' '.join('%.0f' % x for x in d['rtt']), '%.0f' % m[p.name]['rtt'], '%.0f' % min(d['min'])])
    _lab.table(rows, ['path', 'Gbit/s per round', 'median', 'min-max', 'retr', 'RTT per round', 'median', 'min'])
    print()
    for p in paths:
        print('  %-30s %s' % (p.name, p.note))

    print('\nRatios (of the medians; paired = median of the per-round ratios)\n')
    rows = []
    for suffix in ('', '/routed'):
        if 'underlay' + suffix not in m:
            continue
        for a, b in (('collection', 'underlay'), ('hand-built', 'underlay'), ('collection', 'hand-built')):
            a, b = a + suffix, b + suffix
            rows.append(['%s / %s' % (a, b), '%.2f' % (m[a]['gbps'] / m[b]['gbps']), '%.2f' % paired(res, a, b, 'gbps'),
                         '%.2f' % (m[a]['rtt'] / m[b]['rtt']), '%.2f' % paired(res, a, b, 'rtt')])
    if 'collection/routed' in m:
        rows.append(['collection/routed / collection', '%.2f' % (m['collection/routed']['gbps'] / m['collection']['gbps']),
                     '%.2f' % paired(res, 'collection/routed', 'collection', 'gbps'),
                     '%.2f' % (m['collection/routed']['rtt'] / m['collection']['rtt']),
                     '%.2f' % paired(res, 'collection/routed', 'collection', 'rtt')])
    _lab.table(rows, ['ratio', 'throughput', 'paired', 'RTT', 'paired'])

    variants = [p for p in paths if p.ref]
    if variants:
        print('\nCandidate settings against their reference, measured in the same rounds (throughput > 1 and '
              'RTT < 1 are gains;\nsingle rounds on this shared machine vary by +-15%, so read 0.9-1.1 as no effect)\n')
        rows = []
        for p in variants:
            rows.append([p.name, p.ref, '%.2f' % m[p.name]['gbps'], '%.2f' % m[p.ref]['gbps'],
                         '%.2f' % paired(res, p.name, p.ref, 'gbps'),
                         '%.0f' % m[p.name]['rtt'], '%.0f' % m[p.ref]['rtt'], '%.2f' % paired(res, p.name, p.ref, 'rtt')])
        _lab.table(rows, ['variant', 'reference', 'Gbit/s', 'ref', 'paired ratio', 'RTT us', 'ref', 'paired ratio'])
    print('\nload average at the end: %s' % _lab.loadavg())


def paired(res, a, b, key):
    return _lab.med([x / y for x, y in zip(res[a][key], res[b][key]) if y])


if __name__ == '__main__':
    main()
