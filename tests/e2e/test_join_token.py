# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node presenting a wrong join token is refused with a clear error that does not show the
token, stays out of the cluster, and does not stop the rest of the cluster from converging."""

from __future__ import annotations

import json

import pytest

# Well formed (SWMTKN-1-<50>-<25>, base 36), so the check gets past the shape: the token of
# another cluster, as a user who pasted the wrong one would present it. (A malformed token is
# refused earlier, with "the join token is malformed"; the unit tests of _ids cover each reason.)
TOKEN = 'SWMTKN-1-wrong' + '0123456789abcdefghijklmnopqrstuvwxyz012345678' + '-' + 'zyxwvutsrqponmlkjihgfedcb'
REASON = 'does not belong to this cluster'


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('seed')


def test_wrong_join_token_is_refused(lab):
    token, reason = TOKEN, REASON
    lab.set_host_vars('node2', {'overlay_join_token': token})
    try:
        play = lab.play()
    finally:
        lab.set_host_vars('node2', None)
    assert play.rc != 0
    assert play.recap['node2']['failed'] == 1
    # the rest of the cluster converged and verified without it
    assert play.recap['node1']['failed'] == 0 and play.recap['node1']['unreachable'] == 0, play.tail()
    (failure,) = [r for r in play.task_results('Swarm join') if r[0] in ('failed', 'fatal')]
    msg = failure[3]['msg']
    assert 'node2 cannot join' in msg and reason in msg and 'token' in msg, msg
    # the token appears nowhere: not in the error, not in any output
    assert token not in play.out and token not in play.err
    assert token.split('-')[2] not in play.out + play.err
    # node2 is not in the cluster, and holds nothing
    state = lab.cluster_state('node1')
    assert sorted(state['nodes']) == ['node1']
    n2 = lab.snapshot('node2')
    assert n2['netns'] == [] and n2['cluster_json'] is None
    # both replicas run on node1, the only node
    n1 = lab.snapshot('node1')
    assert sorted(t.split('.')[1] for t in n1.tasks) == ['1', '2']
    assert json.loads(n1['cluster_json'])['version'] == state['version']
