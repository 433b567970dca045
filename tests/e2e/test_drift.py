# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift for GitOps (issue 6, part 5): ``site.yml --check --diff`` as the CI step the README
describes. On a converged cluster it reports nothing (test_seed.py checks that right after the
cold run); after changes by hand on the nodes it reports exactly those, on the nodes concerned,
with diffs that name the objects, and repairs nothing; the next normal run repairs them and the
check is clean again.

One seed lab for the module (node1: test.1; node2: test.2 and other.1). The hand changes are
made together, each on its own object, so one check run shows all of them side by side:

* node1: the peer neighbour entry for test.2 deleted; a stale FDB entry added; br0's MTU changed;
* node2: test.2's command killed; other.1's namespace deleted."""

from __future__ import annotations

import pytest

from conftest import assert_nothing_stray, assert_peers_exact

SERVICES = [
    {'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': ['sleep', 'infinity']},
    {'name': 'other', 'networks': ['uber-net'], 'replicas': 1, 'constraints': ['node.hostname==node2'],
     'command': ['sleep', 'infinity']},
]
STALE_MAC = '02:42:0a:00:00:63'


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('seed', group_vars={'overlay_networks': [{'name': 'uber-net'}], 'overlay_services': SERVICES})


@pytest.fixture(scope='module')
def drifted(lab):
    lab.play().assert_ok()
    snaps = lab.snapshots()
    names = {t.split('.')[0] + '.' + t.split('.')[1]: (n, t) for n, s in snaps.items() for t in s.tasks}
    assert sorted(names) == ['other.1', 'test.1', 'test.2'] and names['test.1'][0] == 'node1'
    test2, other1 = names['test.2'][1], names['other.1'][1]
    (sb1,) = snaps['node1'].sandboxes
    ip2 = snaps['node2'].addresses(test2, 'eth0')[0].split('/')[0]
    lab.sh('node1', 'ip -n {0} neigh del {1} dev vxlan0 && '
           'bridge -n {0} fdb add {2} dev vxlan0 dst 192.168.1.99 self permanent && '
           'ip -n {0} link set br0 mtu 1400'.format(sb1, ip2, STALE_MAC))
    lab.sh('node2', 'kill $(cat /run/linuxnet-overlay/tasks/{0}/pid) && ip netns del {1}'.format(test2, other1))
    hand = lab.snapshots()
    check = lab.play(check=True, diff=True)
    after_check = lab.snapshots()
    return {'snap': snaps, 'hand': hand, 'check': check, 'after_check': after_check, 'sb1': sb1, 'ip2': ip2,
            'test1': names['test.1'][1], 'test2': test2, 'other1': other1}


def _diffs(play, host):
    return [d for p, h, d in play.changed_results() if h == host]


def test_check_reports_drift_only_in_the_network_and_service_plays(drifted):
    play = drifted['check'].assert_ok()
    assert play.changed['node1'] > 0 and play.changed['node2'] > 0, play.changed
    plays = {p.split('[', 1)[1].split(']')[0].split(' - ')[0] for p, _h, _d in play.changed_results()}
    # the plan, the swarm and the verification report nothing: the inventory did not change
    assert plays <= {'Overlay networks', 'Services'}, plays


def test_check_names_each_hand_change_on_its_node(drifted):
    play = drifted['check']
    node1 = '\n'.join(_diffs(play, 'node1'))
    node2 = '\n'.join(_diffs(play, 'node2'))
    # node1: the missing neighbour entry, the stale FDB entry, the bridge MTU
    assert drifted['ip2'] in node1, node1
    assert STALE_MAC in node1 and '192.168.1.99' in node1, node1
    assert '1400' in node1 and '1450' in node1, node1
    # node2: the dead command of test.2 and the missing namespace of other.1
    assert drifted['test2'] in node2, node2
    assert drifted['other1'] in node2, node2
    # each node's diff names only its own objects
    for word in (drifted['test2'], drifted['other1']):
        assert word not in node1
    for word in (STALE_MAC, '192.168.1.99'):
        assert word not in node2, (word, node2)
    # node2's recreated tasks list ip2 among their permanent neighbours; its sandbox lost nothing
    node2_sandboxes = [d for d in _diffs(play, 'node2') if not d.startswith('--- before: task ')]
    assert not [d for d in node2_sandboxes if drifted['ip2'] + ' ' in d], node2_sandboxes
    # every changed result shows a diff (a CI log must say what drifted, not only that it did)
    bare = [d for h in ('node1', 'node2') for d in _diffs(play, h) if '\n' not in d.strip()]
    assert bare == [], bare


def test_check_repairs_nothing(drifted):
    hand, after = drifted['hand'], drifted['after_check']
    sb1 = drifted['sb1']
    for node in ('node1', 'node2'):
        for key in ('netns', 'etc_netns', 'runtime', 'state_files', 'cluster_json'):
            assert hand[node][key] == after[node][key], (node, key)
        assert hand[node].all_peer_entries() == after[node].all_peer_entries(), node
        assert [p['argv'] for p in hand[node].foreign_processes()] == [p['argv'] for p in after[node].foreign_processes()]
    assert after['node1'].link(sb1, 'br0')['mtu'] == 1400
    assert ('vxlan0', drifted['ip2']) not in after['node1'].neigh(sb1)
    assert ('vxlan0', STALE_MAC) in after['node1'].fdb(sb1)
    assert drifted['other1'] not in after['node2']['netns']
    assert after['node2'].processes_in(drifted['test2']) == []


def test_a_run_repairs_the_drift_and_the_check_is_clean_again(lab, drifted):
    lab.play().assert_ok()
    snaps = lab.snapshots()
    assert_nothing_stray(snaps)
    assert_peers_exact(lab, snaps)
    assert snaps['node1'].link(drifted['sb1'], 'br0')['mtu'] == 1450
    for node, snap in snaps.items():
        for t in snap.tasks:
            assert [p['argv'] for p in snap.processes_in(t)] == [['sleep', 'infinity']], (node, t)
    assert sorted(snaps['node2'].tasks) == sorted([drifted['test2'], drifted['other1']])
    assert snaps['node1'].tasks == [drifted['test1']]
    play = lab.play(check=True, diff=True).assert_unchanged()
    assert play.changed_results() == []
