# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-flight underlay check: a node that cannot reach another node's data-path address stops
the run before anything is made, with a message that names both addresses; once the underlay is
fixed the same inventory converges. (The check runs inside node_facts, with raw ICMP sockets, when
the inventory gives every data-path address, as the lab's inventory does.)"""

from __future__ import annotations

import pytest
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
