# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Teardown (issue 6, part 6): every role's ``state: absent`` path leaves no namespace, link,
FDB/neighbour entry, nftables table, xfrm object or state file behind, checked on EVERY node
with the independent tools (``ip -j``, ``bridge -j``, ``nft -j``, ``ip xfrm``, ``/proc``, the
file system).

One lab for the module: three nodes of the large lab (managers node1 and node2, worker node4),
with a clear network and an encrypted one (whose only task is on node1: no peer, so no SA is
needed on this ESP-less kernel, but the guard table and the keyring exist), and ``web`` publishing a
port through the routing mesh (the ingress network and every node's ingress-sbox). In order:

1. service ``web`` absent (its network stays) and network ``secret-net`` absent (with its service);
2. the manager node2 set to leave (overlay_node_state=absent);
3. everything absent, and the worker node4 leaves too: nothing of the collection is left anywhere
   but the first manager's cluster state.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from conftest import assert_nothing_stray, assert_peers_exact, task_addresses, tasks_by_service

NODES = ['node1', 'node2', 'node4']
SLEEP = ['sleep', 'infinity']
NETWORKS = [{'name': 'uber-net'}, {'name': 'prod-net', 'subnets': ['10.1.1.0/24', '11.1.1.0/24']},
            {'name': 'secret-net', 'encrypted': True}]
SERVICES = [
    {'name': 'test', 'networks': ['uber-net'], 'mode': 'global', 'command': SLEEP},
    # publishes through the routing mesh: the ingress network, every node's ingress-sbox, the gateway bridges
    {'name': 'web', 'networks': ['prod-net'], 'mode': 'global', 'command': SLEEP,
     'publish': [{'published': 8080, 'target': 80}]},
    {'name': 'vault', 'networks': ['secret-net'], 'replicas': 1, 'constraints': ['node.hostname==node1'],
     'command': SLEEP},
]
STATE_DIR = '/var/lib/linuxnet-overlay'


def absent(items, *names):
    return [dict(i, state='absent') if i['name'] in names or not names else i for i in items]


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('large', nodes=NODES, group_vars={'overlay_networks': NETWORKS, 'overlay_services': SERVICES})


@pytest.fixture(scope='module')
def converged(lab):
    lab.play().assert_ok()
    snaps = lab.snapshots()
    state = lab.cluster_state('node1')
    nets = {name: {'sandbox': 'ov-' + n['id'][:10], 'vnis': [s['vni'] for s in n['subnets']],
                   'subnets': [s['subnet'] for s in n['subnets']]} for name, n in state['networks'].items()}
    # the starting point: what the teardown must remove exists
    assert snaps['node1']['nft_tables'], 'no guard table for the encrypted network on node1'
    assert nets['secret-net']['sandbox'] in snaps['node1'].sandboxes
    for node in NODES:
        assert nets['prod-net']['sandbox'] in snaps[node].sandboxes
        assert nets['ingress']['sandbox'] in snaps[node].sandboxes and 'ingress-sbox' in snaps[node]['netns']
        assert nets['uber-net']['sandbox'] in snaps[node].sandboxes
    return {'snap': snaps, 'nets': nets, 'tasks': tasks_by_service(snaps), 'addrs': task_addresses(snaps)}


def _in(ip, subnets):
    return any(ipaddress.ip_address(ip) in ipaddress.ip_network(s) for s in subnets)


def _nothing_of(snap, node, net, task_names, ips):
    """Nothing of network ``net`` and of the tasks ``task_names`` (addresses ``ips``) on a node."""
    assert net['sandbox'] not in snap['netns'], (node, snap['netns'])
    assert not set(task_names) & set(snap['netns']), node
    assert not set(task_names) & set(snap['etc_netns'] or []), node
    assert not set(task_names) & set(snap['runtime'] or []), node
    vnis = [li['linkinfo']['info_data']['id'] for _ns, li in snap.links_of_kind('vxlan')]
    assert not set(vnis) & set(net['vnis']), (node, vnis)
    for ns, kind, key, _value in snap.all_peer_entries():
        assert not (kind == 'neigh' and (key[1] in ips or _in(key[1], net['subnets']))), (node, ns, key)
        mac_ips = [ip for ip in ips if key[1] == '02:42:' + ':'.join('%02x' % int(b) for b in ip.split('.'))]
        assert not (kind == 'fdb' and mac_ips), (node, ns, key)
    # no process of a removed task survives anywhere on the node
    cmdlines = [p for p in snap['processes'] if any(t in ' '.join(p['argv']) for t in task_names)]
    assert cmdlines == [], (node, cmdlines)


def _empty(snap, node, keep_state=False):
    """A node with nothing of the collection left (but, with keep_state, the cluster state)."""
    assert snap['netns'] == [], (node, snap['netns'])
    assert not snap['etc_netns'] and not snap['runtime'], (node, snap['etc_netns'], snap['runtime'])
    assert sorted(li['ifname'] for li in snap['links']) == ['eth0', 'lo'], (node, snap['links'])
    assert snap.links_of_kind('vxlan') == [] and snap.links_of_kind('bridge') == [], node
    assert snap.stray_processes() == [] and snap.foreign_processes() == [], (node, snap.stray_processes())
    assert not [a for a in snap['udp'] if a.endswith(':4789')], (node, snap['udp'])
    assert snap['nft_tables'] == [], (node, snap['nft_tables'])
    assert (snap['xfrm_state'], snap['xfrm_policy']) == ('', ''), node
    files = sorted(snap['state_files'])
    if keep_state:
        assert files == [STATE_DIR, STATE_DIR + '/cluster.json', STATE_DIR + '/cluster.lock'], (node, files)
    else:
        assert files == [], (node, files)


def test_service_absent_and_network_absent(lab, converged):
    nets, tasks, addrs = converged['nets'], converged['tasks'], converged['addrs']
    play = lab.play(group_vars={'overlay_networks': absent(NETWORKS, 'secret-net'),
                                'overlay_services': absent(SERVICES, 'web', 'vault')}).assert_ok()
    snaps = lab.snapshots()
    web_ips = [ip for ip, v in addrs.items() if v[2] in tasks['web'] and _in(ip, nets['prod-net']['subnets'])]
    vault_ips = [ip for ip, v in addrs.items() if v[2] in tasks['vault']]
    assert len(web_ips) == 3 and len(vault_ips) == 1
    for node, snap in snaps.items():
        # the service's tasks went, and with them the sandbox of its network (lazy: no task, no sandbox)
        _nothing_of(snap, node, nets['prod-net'], list(tasks['web']), web_ips)
        # the encrypted network went: sandbox, task, guard table, policies and states
        _nothing_of(snap, node, nets['secret-net'], list(tasks['vault']), vault_ips)
        # the routing mesh went with web (the ingress network, the node's ingress-sbox); the test
        # service's tasks keep their way out, the gateway bridge's tables
        assert snap['nft_tables'] == [['bridge', 'linuxnet_overlay_gw'], ['ip', 'linuxnet_overlay_gw']], node
        assert 'ingress-sbox' not in snap['netns'] and 'ingress' not in lab.cluster_state('node1')['networks']
        assert (snap['xfrm_state'], snap['xfrm_policy']) == ('', ''), node
        # what stays is whole
        assert snap.sandboxes == [nets['uber-net']['sandbox']], (node, snap.sandboxes)
    assert_nothing_stray(snaps)
    assert_peers_exact(lab, snaps)
    state = lab.cluster_state('node1')
    assert 'secret-net' not in state['networks'] and 'web' not in state['services'] and 'vault' not in state['services']
    assert state.get('keyring') is None
    assert 'secret-net' not in '\n'.join(play.debug_msgs('Network ls'))


def test_a_manager_set_to_leave_takes_everything_with_it(lab, converged):
    lab.set_host_vars('node2', {'overlay_node_state': 'absent'})
    try:
        lab.play(group_vars={'overlay_networks': absent(NETWORKS, 'secret-net'),
                             'overlay_services': absent(SERVICES, 'web', 'vault')}).assert_ok()
    finally:
        lab.set_host_vars('node2', None)
    snaps = lab.snapshots()
    # node2 keeps nothing: no namespace, link, entry, process, nor its copy of the cluster state
    _empty(snaps['node2'], 'node2')
    # the others forgot it: no entry points at its address, it is in no state
    addr = lab.node('node2')['address']
    for node in ('node1', 'node4'):
        assert not [e for e in snaps[node].all_peer_entries() if e[1] == 'fdb' and e[3] == addr], node
    state = lab.cluster_state('node1')
    assert 'node2' not in state['nodes']
    del snaps['node2']
    assert_nothing_stray(snaps)
    assert_peers_exact(lab, snaps)


def test_everything_absent_and_the_last_worker_leaving_leave_nothing(lab, converged):
    lab.set_host_vars('node2', {'overlay_node_state': 'absent'})
    lab.set_host_vars('node4', {'overlay_node_state': 'absent'})
    try:
        lab.play(group_vars={'overlay_networks': absent(NETWORKS),
                             'overlay_services': absent(SERVICES)}).assert_ok()
    finally:
        lab.set_host_vars('node2', None)
        lab.set_host_vars('node4', None)
    snaps = lab.snapshots()
    _empty(snaps['node1'], 'node1', keep_state=True)
    _empty(snaps['node2'], 'node2')
    _empty(snaps['node4'], 'node4')
    state = json.loads(snaps['node1']['cluster_json'])
    assert sorted(state['nodes']) == ['node1']
    assert state['networks'] == {} and state['services'] == {} and state.get('keyring') is None
    # the run lease was released too
    assert not any(p.endswith('/run.lock') for p in snaps['node1']['state_files'])
