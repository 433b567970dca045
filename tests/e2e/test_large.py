# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The large lab: six nodes on three segments, three managers, two networks (one with two
subnets), services placed by role, by label and globally (inventories/lab/large).

One lab for the module: ``converged`` makes the cluster once. The node tests run last, in file
order: first a worker disappears from the inventory, then it comes back set to leave."""

from __future__ import annotations

import json

import pytest
from conftest import task_addresses, tasks_by_service

LEAVER = 'node5'          # a worker (zone b, disk hdd): runs a web task and the global agent


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('large')


@pytest.fixture(scope='module')
def converged(lab):
    play = lab.play()
    play.assert_ok()
    return {'play': play, 'snap': lab.snapshots()}


def _tasks(snaps):
    return tasks_by_service(snaps)


def _addresses(snaps):
    """{ip: (node, mac)} of every task interface (an address twice fails)."""
    return {ip: (node, mac) for ip, (node, mac, _task) in task_addresses(snaps).items()}


def _assert_peers_exact(lab, snaps):
    """Each sandbox holds exactly the remote task interfaces of its subnets, pointing at their nodes."""
    addrs = _addresses(snaps)
    for node, snap in snaps.items():
        for sb in snap.sandboxes:
            for li in snap['ns'][sb]['links']:
                if li.get('linkinfo', {}).get('info_kind') != 'bridge':
                    continue
                (cidr,) = snap.addresses(sb, li['ifname'])
                prefix = cidr.rsplit('.', 1)[0] + '.'        # the lab's subnets are /24s
                vx = 'vxlan' + li['ifname'][2:]
                remote = {ip: v for ip, v in addrs.items() if ip.startswith(prefix) and v[0] != node}
                assert snap.neigh(sb, vx) == {(vx, ip): mac for ip, (_n, mac) in remote.items()}, (node, sb, vx)
                assert snap.fdb(sb, vx) == {(vx, mac): lab.node(n)['address'] for n, mac in remote.values()}, \
                    (node, sb, vx)


def test_converges_and_verify_passes(lab, converged):
    play = converged['play']
    assert set(play.recap) == set(lab.nodes)
    (matrix,) = play.debug_msgs('Print the matrix')
    assert 'pairs:' in matrix and ', 0 failed; isolation between networks:' in matrix and matrix.endswith(', 0 failed')
    tasks = _tasks(converged['snap'])
    workers = {'node4', 'node5', 'node6'}
    assert len(tasks['web']) == 3 and set(tasks['web'].values()) == workers          # node.role==worker, spread
    assert len(tasks['db']) == 2 and set(tasks['db'].values()) == {'node4', 'node6'}  # node.labels.disk==ssd
    assert sorted(tasks['agent'].values()) == sorted(lab.nodes)                      # global: one per node
    for node, snap in converged['snap'].items():
        for t in snap.tasks:
            assert [p['argv'] for p in snap.processes_in(t)] == [['sleep', 'infinity']], (node, t)
    _assert_peers_exact(lab, converged['snap'])


def test_cluster_state_replicated_on_the_managers(lab, converged):
    states = {n: json.loads(converged['snap'][n]['cluster_json']) for n in ('node1', 'node2', 'node3')}
    versions = {n: s['version'] for n, s in states.items()}
    assert len(set(versions.values())) == 1, versions
    assert states['node1'] == states['node2'] == states['node3']
    assert sorted(states['node1']['nodes']) == sorted(lab.nodes)
    for n in ('node1', 'node2', 'node3'):
        assert converged['snap'][n]['state_files']['/var/lib/linuxnet-overlay/cluster.json']['mode'] == '0600'
    for n in ('node4', 'node5', 'node6'):
        assert converged['snap'][n]['cluster_json'] is None


def test_node_removed_from_the_inventory(lab, converged):
    before = converged['snap']
    old_tasks = _tasks(before)
    old_ips = sorted(ip for ip, (n, _mac) in _addresses(before).items() if n == LEAVER)
    assert old_ips and LEAVER in old_tasks['web'].values()
    lab.play(inventory=lab.inventory_without(LEAVER)).assert_ok()          # verify passes
    others = [n for n in lab.nodes if n != LEAVER]
    snaps = {n: lab.snapshot(n) for n in others}
    tasks = _tasks(snaps)
    # its web task is placed again on the other workers, the global agent just loses a node
    assert len(tasks['web']) == 3 and set(tasks['web'].values()) == {'node4', 'node6'}
    assert sorted(tasks['agent'].values()) == sorted(others)
    assert tasks['db'] == old_tasks['db']                                   # untouched
    kept = {t: n for t, n in old_tasks['web'].items() if n != LEAVER}
    assert all(tasks['web'].get(t) == n for t, n in kept.items())          # the others stay put
    # no other node keeps any entry for the node or its old task addresses
    addr = lab.node(LEAVER)['address']
    for node, snap in snaps.items():
        entries = snap.all_peer_entries()
        assert not [e for e in entries if e[1] == 'fdb' and e[3] == addr], (node, entries)
        assert not [e for e in entries if e[1] == 'neigh' and e[2][1] in old_ips], (node, entries)
    assert not set(old_ips) & set(_addresses(snaps))                       # not handed out again yet
    _assert_peers_exact(lab, snaps)
    state = lab.cluster_state('node1')
    assert state['nodes'][LEAVER]['state'] == 'down'


def test_node_set_to_leave_cleans_itself_up(lab, converged):
    lab.set_host_vars(LEAVER, {'overlay_node_state': 'absent'})
    try:
        lab.play().assert_ok()
    finally:
        lab.set_host_vars(LEAVER, None)
    snaps = lab.snapshots()
    gone = snaps.pop(LEAVER)
    # the leaver removed its own sandboxes, tasks, hosts files and processes
    assert gone['netns'] == [] and not gone['etc_netns'] and not gone['runtime']
    assert gone.links_of_kind('vxlan') == [] and gone.foreign_processes() == []
    assert not [a for a in gone['udp'] if a.endswith(':4789')]
    # it is no longer in the cluster, on any manager, and nobody points at it
    for n in ('node1', 'node2', 'node3'):
        state = json.loads(snaps[n]['cluster_json'])
        assert LEAVER not in state['nodes'], n
    addr = lab.node(LEAVER)['address']
    for node, snap in snaps.items():
        assert not [e for e in snap.all_peer_entries() if e[1] == 'fdb' and e[3] == addr], node
    assert LEAVER not in _tasks(snaps).get('agent', {}).values()
    _assert_peers_exact(lab, snaps)
