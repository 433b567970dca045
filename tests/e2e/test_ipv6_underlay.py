# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed on an IPv6-only underlay (``inventories/lab/ipv6``: node1 fd00:172:31:1::5 and node2
fd00:192:168:1::5 on two segments behind a router; no IPv4 between the hosts at all), as
``docker swarm init --advertise-addr <IPv6>`` builds it: VXLAN over IPv6, peer entries pointing at
IPv6 VTEPs, an overlay MTU that leaves room for the larger outer header (underlay - 70), and the
encryption guard in an ``ip6`` nftables table. The overlay itself stays IPv4 (10.0.0.0/24).
"""

from __future__ import annotations

import json

import pytest

from conftest import assert_nothing_stray, assert_peers_exact, vxlan_data

SLEEP = ['sleep', 'infinity']
GROUP_VARS = {
    'overlay_networks': [{'name': 'uber-net'}, {'name': 'secret-net', 'encrypted': True}],
    'overlay_services': [
        {'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': SLEEP},
        # encrypted, on one node only: no peer, so no SA is needed (this kernel has no ESP)
        {'name': 'vault', 'networks': ['secret-net'], 'replicas': 1, 'command': SLEEP,
         'constraints': ['node.hostname==node1']}],
}


@pytest.fixture(scope='module')
def v6(make_lab):
    lab = make_lab('ipv6', group_vars=GROUP_VARS)
    cold = lab.play()
    cold.assert_ok()
    return {'lab': lab, 'cold': cold, 'snap': lab.snapshots()}


def _tasks(snaps):
    """{(service, slot): (node, task name)}"""
    return {(t.split('.')[0], int(t.split('.')[1])): (node, t) for node, snap in snaps.items() for t in snap.tasks}


def test_the_lab_has_no_ipv4_between_the_hosts(v6):
    lab = v6['lab']
    for node in lab.nodes:
        assert ':' in lab.node(node)['address']
        assert lab.sh(node, 'ip -4 addr show dev eth0').strip() == ''
        # the tasks' way out is IPv4 (the gateway bridge, as docker_gwbridge), the node's own routes are not
        routes = [r for r in lab.sh(node, 'ip -4 route show').splitlines() if 'dev ov-gwbridge ' not in r]
        assert routes == []


def test_cold_run_reports_ipv6_peers_and_the_mtu(v6):
    play, lab = v6['cold'], v6['lab']
    docs = {d['Name']: d for msg in play.debug_msgs('Network inspect') for d in json.loads(msg)}
    assert docs['uber-net']['MTU'] == 1430                      # 1500 - 70 (outer IPv6 40 + UDP 8 + VXLAN 8 + 14)
    assert sorted(p['IP'] for p in docs['uber-net']['Peers']) == sorted(lab.node(n)['address'] for n in lab.nodes)
    (walk,) = play.debug_msgs('Print the walkthrough')
    assert '3 packets transmitted, 3 received, 0% packet loss' in walk
    assert len(walk.split('traceroute to 10.0.0.4', 1)[1].splitlines()[1:]) == 1       # one hop


@pytest.mark.parametrize('node', ['node1', 'node2'])
def test_vteps_use_the_node_ipv6_address(v6, node):
    snap, lab = v6['snap'][node], v6['lab']
    mtus = {}
    for ns, vx in snap.links_of_kind('vxlan'):
        data = vxlan_data(vx)
        assert data.get('local6', data.get('local')) == lab.node(node)['address'], data
        assert (data['port'], data['learning'], data['proxy']) == (4789, False, True)
        mtus[ns] = vx['mtu']
    tasks = _tasks(v6['snap'])
    (test,) = [t for (svc, _s), (n, t) in tasks.items() if n == node and svc == 'test']
    assert snap.task_eth(test)['mtu'] == 1430
    if node == 'node1':
        # the encrypted network: the ESP overhead on top of the IPv6 VXLAN's (as docs/encryption.md says)
        (_n, vault) = tasks[('vault', 1)]
        assert snap.task_eth(vault)['mtu'] == 1430 - (1450 - 1416)
        assert sorted(mtus.values()) == [1396, 1430]
    else:
        assert list(mtus.values()) == [1430]


def test_peer_entries_point_at_the_ipv6_vteps(v6):
    assert_peers_exact(v6['lab'], v6['snap'])
    assert_nothing_stray(v6['snap'])
    for node, snap in v6['snap'].items():
        dsts = [e[3] for e in snap.all_peer_entries() if e[1] == 'fdb']
        assert dsts and all(':' in d for d in dsts), (node, dsts)       # the VTEPs' IPv6 addresses


def test_tasks_talk_through_vxlan_over_ipv6(v6):
    lab, tasks = v6['lab'], _tasks(v6['snap'])
    (_n1, test1), (_n2, test2) = tasks[('test', 1)], tasks[('test', 2)]
    out = lab.sh('node1', '''
        set -e
        rm -f /tmp/v6.pcap
        timeout 25 tcpdump -U -ni eth0 -w /tmp/v6.pcap 'udp port 4789' 2>/dev/null & T=$!
        sleep 2
        ip netns exec %(test1)s ping -c 5 -i 0.2 -W 1 10.0.0.4 >/dev/null && echo "ping reached" || echo "ping lost"
        sleep 1; kill $T; wait $T || true
        echo "wire-ip6 $(tcpdump -nr /tmp/v6.pcap 'ip6 and udp port 4789' 2>/dev/null | wc -l)"
        echo "wire-ip4 $(tcpdump -nr /tmp/v6.pcap 'ip and udp port 4789' 2>/dev/null | wc -l)"
        rm -f /tmp/v6.pcap
    ''' % {'test1': test1})
    seen = dict(line.split(' ', 1) for line in out.splitlines() if line.startswith(('ping', 'wire-')))
    assert seen['ping'] == 'reached', out
    assert int(seen['wire-ip6']) >= 10 and int(seen['wire-ip4']) == 0, out      # 5 requests + 5 replies
    hops = lab.exec('node2', ['ip', 'netns', 'exec', test2, 'traceroute', '-n', '-q', '1', '-w', '2',
                              '10.0.0.3']).splitlines()[1:]
    assert [h.split()[1] for h in hops] == ['10.0.0.3']


def test_the_encryption_guard_is_an_ip6_table(v6):
    lab = v6['lab']
    state = lab.cluster_state('node1')
    secret = state['networks']['secret-net']['subnets'][0]['vni']
    doc = json.loads(lab.sh('node1', 'nft -j list table ip6 linuxnet-overlay'))
    sets = [item['set'] for item in doc['nftables'] if 'set' in item]
    assert [s.get('elem') for s in sets] == [[secret]], sets
    assert lab.sh('node1', 'nft list table ip linuxnet-overlay 2>/dev/null || echo none').strip() == 'none'
    # no encrypted sandbox on node2: only the gateway bridge's tables
    tables = lab.sh('node2', 'nft list tables').splitlines()
    assert tables == ['table ip linuxnet_overlay_gw', 'table bridge linuxnet_overlay_gw'], tables


def test_rerun_and_check_diff_change_nothing(v6):
    lab = v6['lab']
    lab.play().assert_unchanged()
    play = lab.play(check=True, diff=True).assert_unchanged()
    assert '--- before' not in play.out, play.tail()
