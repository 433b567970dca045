# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-flight underlay check: a node that cannot reach another node's data-path address stops
the run before anything is made, with a message that names both addresses; once the underlay is
fixed the same inventory converges. The check runs inside node_facts, with raw ICMP sockets, when
the inventory gives every data-path address, as the lab's inventory does; when it does not (a node
without overlay_advertise_addr takes its default route's address, as docker swarm join does without
--advertise-addr), a ping from every node to the addresses the nodes reported does it."""

from __future__ import annotations

import os
import re

import pytest
from conftest import dump_yaml, load_yaml
from test_bad_input import assert_same, snapshot_all

NODE1, NODE2 = '172.31.1.5', '192.168.1.5'
# node2 answers no echo request from node1: node1 -> node2 fails, node2 -> node1 still works
BLOCK = ('nft add table inet blk; nft add chain inet blk in "{ type filter hook input priority 0; }"; '
         'nft add rule inet blk in ip saddr %s icmp type echo-request drop' % NODE1)


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('seed')


def test_unreachable_peer_stops_the_run_and_nothing_is_made(lab):
    lab.sh('node2', BLOCK)
    try:
        before = snapshot_all(lab)
        play = lab.play()
        assert play.rc != 0
        assert play.recap['node1']['failed'] == 1, play.tail()
        assert 'node1 (%s): unreachable over the underlay: %s' % (NODE1, NODE2) in play.out, play.tail()
        assert 'unreachable over the underlay: %s' % NODE1 not in play.out       # node2 -> node1 works
        assert_same(before, snapshot_all(lab))
        assert lab.cluster_state('node1') is None
    finally:
        lab.sh('node2', 'nft delete table inet blk')
    lab.play().assert_ok()


def _inventory_without_addr(lab, host):
    """A copy of the lab's inventory where ``host`` has no overlay_advertise_addr (next to it, so
    the lab's group_vars and host_vars still apply)."""
    inv = load_yaml(lab.inventory)
    for group in inv['all']['children'].values():
        (group.get('hosts') or {}).get(host, {}).pop('overlay_advertise_addr', None)
    path = os.path.join(lab.dir, 'inventory-no-addr-%s.yml' % host)
    dump_yaml(path, inv)
    return path


def _task_lines(out, name):
    """The result lines of the task called ``name`` in an ansible-playbook output."""
    m = re.search(r'^TASK \[[^]]*: %s\].*?\n(.*?)(?=^TASK |^PLAY )' % re.escape(name), out, re.M | re.S)
    assert m, 'no task %r in the output' % name
    return m.group(1)


def test_without_every_data_path_address_the_ping_fallback_checks_the_underlay(lab):
    inventory = _inventory_without_addr(lab, 'node2')
    lab.sh('node2', BLOCK)
    try:
        before = snapshot_all(lab)
        play = lab.play(inventory=inventory)
        assert play.rc != 0
        # node2's address came from its default route: node1, which could not know it from the
        # inventory, pinged the address node2 reported; node2 knew node1's and checked it in node_facts
        ran = _task_lines(play.out, "Every node reaches every other node's data-path address over the underlay")
        assert 'ok: [node1]' in ran and 'skipping: [node2]' in ran, ran
        assert 'node1 (%s): unreachable over the underlay: %s' % (NODE1, NODE2) in play.out, play.tail()
        assert 'unreachable over the underlay: %s' % NODE1 not in play.out
        assert_same(before, snapshot_all(lab))
    finally:
        lab.sh('node2', 'nft delete table inet blk')
    play = lab.play(inventory=inventory)
    play.assert_ok()
    assert lab.cluster_state('node1')['nodes']['node2']['addr'] == NODE2
