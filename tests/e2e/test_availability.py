# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node availability end to end on the seed lab, as ``docker node update --availability``:
``overlay_node_availability: drain`` on node2 moves test.2 to node1 (node2 keeps no task and, lazy,
no sandbox; verify passes), ``pause`` keeps what runs there and places nothing new, and back to
``active`` nothing moves back but a new replica may land there again."""

from __future__ import annotations

import pytest

from conftest import assert_nothing_stray, assert_peers_exact, tasks_by_service

SLEEP = ['sleep', 'infinity']


def group_vars(replicas):
    return {'overlay_networks': [{'name': 'uber-net'}],
            'overlay_services': [{'name': 'test', 'networks': ['uber-net'], 'replicas': replicas, 'command': SLEEP}]}


def placement(snaps):
    """{slot: (node, task name)}"""
    return {int(t.split('.')[1]): (n, t) for t, n in tasks_by_service(snaps).get('test', {}).items()}


@pytest.fixture(scope='module')
def lab(make_lab):
    lab = make_lab('seed', group_vars=group_vars(2))
    lab.play().assert_ok()
    return lab


def test_drain_moves_the_tasks_off_and_active_does_not_move_them_back(lab):
    before = placement(lab.snapshots())
    assert {s: n for s, (n, _t) in before.items()} == {1: 'node1', 2: 'node2'}
    lab.set_host_vars('node2', {'overlay_node_availability': 'drain'})
    try:
        lab.play().assert_ok()                                   # verify passes: test.1 reaches the new test.2
        snaps = lab.snapshots()
        drained = placement(snaps)
        assert {s: n for s, (n, _t) in drained.items()} == {1: 'node1', 2: 'node1'}
        assert drained[1] == before[1] and drained[2] != before[2]          # test.1 stays, test.2 is a new task
        assert snaps['node2'].tasks == [] and snaps['node2'].sandboxes == []
        assert_peers_exact(lab, snaps)
        assert_nothing_stray(snaps)
        assert lab.cluster_state('node1')['nodes']['node2']['availability'] == 'drain'
        lab.play().assert_unchanged()
        # pause: what runs stays, a new replica goes to an active node
        lab.set_host_vars('node2', {'overlay_node_availability': 'pause'})
        lab.play(group_vars=group_vars(3)).assert_ok()
        assert {s: n for s, (n, _t) in placement(lab.snapshots()).items()} == {1: 'node1', 2: 'node1', 3: 'node1'}
    finally:
        lab.set_host_vars('node2', None)
    # active again: nothing moves back (Swarm does not rebalance); a new replica may land on node2
    lab.play().assert_ok()
    assert {s: n for s, (n, _t) in placement(lab.snapshots()).items()} == {1: 'node1', 2: 'node1', 3: 'node1'}
    assert 'availability' not in lab.cluster_state('node1')['nodes']['node2']
    lab.play(group_vars=group_vars(4)).assert_ok()
    snaps = lab.snapshots()
    assert {s: n for s, (n, _t) in placement(snaps).items()} == {1: 'node1', 2: 'node1', 3: 'node1', 4: 'node2'}
    assert_peers_exact(lab, snaps)
    lab.play().assert_unchanged()
