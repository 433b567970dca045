# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the swarm module's bulk join / leave (pure parts of plugins/modules/swarm.py)
and the action plugin's token check (plugins/action/swarm.py). No root needed."""

from __future__ import annotations

import json
import random

from ansible_collections.linuxnet.overlay.plugins.action import swarm as action
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state
from ansible_collections.linuxnet.overlay.plugins.modules import swarm

WRONG = 'SWMTKN-1-wrong' + '0123456789abcdefghijklmnopqrstuvwxyz012345678' + '-' + 'zyxwvutsrqponmlkjihgfedcb'


def cluster():
    st = _state.new_state(random.Random(7))
    return _state.record_node(st, {'hostname': 'node1', 'role': 'manager', 'addr': '10.9.0.1'})


def member(host, addr, role='worker', token=None, st=None, **extra):
    m = {'hostname': host, 'role': role, 'addr': addr, 'labels': {}}
    if st is not None:
        m['join_token'] = _state.tokens(st)[role]
    if token is not None:
        m['join_token'] = token
    m.update(extra)
    return m


def test_join_members_records_all_in_one_version_step():
    st = cluster()
    members = [member('node%d' % i, '10.9.0.%d' % i, role='manager' if i == 2 else 'worker', st=st)
               for i in range(2, 9)]
    new, report = swarm.join_members(st, members)
    assert new is not st and new['version'] == st['version'] + 1
    assert sorted(new['nodes']) == ['node%d' % i for i in range(1, 9)]
    assert new['nodes']['node2']['role'] == 'manager' and new['nodes']['node3']['role'] == 'worker'
    assert {r['status'] for r in report.values()} == {'joined'}
    assert report['node4']['node']['addr'] == '10.9.0.4' and report['node4']['node']['id']
    assert st['nodes'].keys() == {'node1'}                          # the input is not changed
    # again: nothing changes, the same object comes back
    again, report2 = swarm.join_members(new, members)
    assert again is new and {r['status'] for r in report2.values()} == {'unchanged'}


def test_join_members_changed_facts_are_updated_and_keep_the_id():
    st = cluster()
    new, dummy = swarm.join_members(st, [member('node2', '10.9.0.2', st=st)])
    moved, report = swarm.join_members(new, [member('node2', '10.9.0.2', st=st, labels={'zone': 'b'})])
    assert report['node2']['status'] == 'updated'
    assert moved['nodes']['node2']['labels'] == {'zone': 'b'}
    assert moved['nodes']['node2']['id'] == new['nodes']['node2']['id']
    assert moved['version'] == new['version'] + 1


def test_a_wrong_token_refuses_that_member_only_without_showing_it():
    st = cluster()
    members = [member('node2', '10.9.0.2', st=st), member('node3', '10.9.0.3', token=WRONG),
               member('node4', '10.9.0.4', role='manager', token=_state.tokens(st)['worker'])]
    new, report = swarm.join_members(st, members)
    assert sorted(new['nodes']) == ['node1', 'node2']
    assert report['node2']['status'] == 'joined'
    assert report['node3']['status'] == 'refused' and report['node3']['node'] is None
    assert report['node3']['msg'].startswith('node node3 cannot join: ')
    assert 'does not belong to this cluster' in report['node3']['msg']
    assert 'worker token of this cluster, but the node joins as a manager' in report['node4']['msg']
    text = json.dumps(report)
    assert WRONG not in text and WRONG.split('-')[2] not in text
    assert not any(t in text for t in _state.tokens(st).values())


def test_a_recorded_node_is_checked_again_and_stays_recorded_when_refused():
    st = cluster()
    new, dummy = swarm.join_members(st, [member('node2', '10.9.0.2', st=st)])
    again, report = swarm.join_members(new, [member('node2', '10.9.0.2', token=WRONG)])
    assert again is new and report['node2']['status'] == 'refused'
    assert report['node2']['node']['addr'] == '10.9.0.2'


def test_an_address_taken_by_another_node_refuses_the_later_member():
    st = cluster()
    new, report = swarm.join_members(st, [member('node2', '10.9.0.1', st=st), member('node3', '10.9.0.3', st=st)])
    assert report['node2']['status'] == 'refused' and 'already used by node node1' in report['node2']['msg']
    assert report['node3']['status'] == 'joined' and 'node2' not in new['nodes']


def test_leave_members():
    st = cluster()
    new, dummy = swarm.join_members(st, [member('node2', '10.9.0.2', st=st), member('node3', '10.9.0.3', st=st)])
    gone, report = swarm.leave_members(new, [{'hostname': 'node2'}, {'hostname': 'node3'}, {'hostname': 'node9'}])
    assert sorted(gone['nodes']) == ['node1'] and gone['version'] == new['version'] + 1
    assert [report[h]['status'] for h in ('node2', 'node3', 'node9')] == ['left', 'left', 'unchanged']
    same, report = swarm.leave_members(gone, [{'hostname': 'node2'}])
    assert same is gone and report['node2']['status'] == 'unchanged'


def test_check_members_bad_input():
    ok = [member('node2', '10.9.0.2', token=WRONG)]
    assert swarm.check_members(ok, 'join', have_state=True) is None
    assert swarm.check_members([], 'join', have_state=True) is None
    cases = [
        ([member('node2', '10.9.0.2'), member('node2', '10.9.0.3')], 'members: node node2 is listed twice'),
        ([member('', '10.9.0.2')], "members[0]: hostname '' is not a non-empty name"),
        ([member('node2', None)], 'members[0]: node node2: no data-path address (addr)'),
        ([member('node2', '10.9.0.2'), member('node3', '10.9.0.300')], 'members[1]: node node3: '),
        ([member('node2', '10.9.0.2', labels=['a'])], 'members[0]: node node2: labels must be a dict'),
    ]
    for members, msg in cases:
        got = swarm.check_members(members, 'join', have_state=False)
        assert got is not None and got.startswith(msg), (members, got)
    assert '10.9.0.300' in swarm.check_members(cases[3][0], 'join', have_state=False)
    # a token is needed once the cluster exists (in check mode before, it cannot be checked)
    assert swarm.check_members([member('node2', '10.9.0.2')], 'join', have_state=False) is None
    assert swarm.check_members([member('node2', '10.9.0.2')], 'join', have_state=True) == \
        'members[0]: node node2 has no join_token (role=join needs one per member)'
    # leaving needs only the names
    assert swarm.check_members([{'hostname': 'node2'}], 'leave', have_state=True) is None
    assert swarm.check_members(ok, 'init', have_state=True) == 'members is for role=join and role=leave, not role=init'


def test_predict_members():
    got = swarm.predict_members([{'hostname': 'node2'}, {'hostname': 'node3'}], 'join')
    assert got == {'node2': {'status': 'joined', 'node': None}, 'node3': {'status': 'joined', 'node': None}}
    assert swarm.predict_members([{'hostname': 'node2'}], 'leave')['node2']['status'] == 'unchanged'


def test_action_plugin_finds_a_repeated_token():
    args = {'role': 'join', 'members': [{'hostname': 'node2', 'join_token': WRONG}, {'hostname': 'node3'}]}
    tokens = action.presented_tokens(args)
    assert tokens == [WRONG]
    assert action.presented_tokens({'role': 'join', 'join_token': WRONG}) == [WRONG]
    assert action.presented_tokens({'role': 'join', 'join_token': '', 'members': None}) == []
    assert not action.repeats_a_token({'members': {'node2': {'status': 'refused', 'msg': 'no'}}}, tokens)
    assert action.repeats_a_token({'warnings': ['token %s is bad' % WRONG]}, tokens)
    assert action.repeats_a_token({'x': {'y': [WRONG]}}, tokens)
    assert not action.repeats_a_token({'msg': WRONG}, [])
