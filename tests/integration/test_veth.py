# -*- coding: utf-8 -*-
"""linuxnet.overlay.veth against the real kernel (inside tests/sandbox.sh): a task's eth0 on the
sandbox bridge, as Docker's overlay driver makes it."""

from __future__ import annotations

import pytest

from conftest import sh
from _helpers_links import addresses, is_up, kind, link, routes, snapshot


@pytest.fixture
def pair(scratch_netns):
    """(sandbox, task): the sandbox has br0 with the gateway 10.0.0.1/24, the task is empty."""
    sb, task = scratch_netns('vesb'), scratch_netns('vetask')
    sh('ip -n %s link add br0 type bridge && ip -n %s addr add 10.0.0.1/24 dev br0 && '
       'ip -n %s link set br0 up' % (sb, sb, sb))
    sh('ip -n %s link set lo down' % task)   # the module must leave the task's lo alone
    return sb, task


def task_args(sb, task, **kw):
    out = {'name': 'veth1a2b3c4', 'netns': sb, 'master': 'br0', 'mtu': 1450, 'peer': 'eth0', 'peer_netns': task,
           'peer_mac': '02:42:0a:00:00:03', 'peer_addresses': ['10.0.0.3/24'],
           'peer_routes': [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}]}
    out.update(kw)
    return out


def assert_paired(sb, task, name='veth1a2b3c4', peer='eth0'):
    a, b = link(sb, name), link(task, peer)
    assert kind(a) == 'veth' and kind(b) == 'veth'
    assert a['link_index'] == b['ifindex'] and b['link_index'] == a['ifindex']
    return a, b


def test_task_eth0_create_repeat(run_module, pair):
    sb, task = pair
    res = run_module('veth', task_args(sb, task))
    assert res['changed'] is True
    a, b = assert_paired(sb, task)
    assert a['master'] == 'br0' and a['mtu'] == 1450 and b['mtu'] == 1450
    assert is_up(a) and is_up(b)
    assert b['address'] == '02:42:0a:00:00:03'
    assert addresses(task, 'eth0') == ['10.0.0.3/24']
    assert routes(task, 'eth0') == [('11.1.1.0/24', '10.0.0.1')]
    assert not is_up(link(task, 'lo'))                 # lo of the task namespace untouched
    assert link(None, 'eth0') is None and link(None, 'veth1a2b3c4') is None
    # the task reaches its gateway on br0 through the pair
    sh('ip netns exec %s ping -c1 -W2 10.0.0.1' % task)
    assert res['veth']['peer'] == {'name': 'eth0', 'netns': task, 'ifindex': b['ifindex'], 'mtu': 1450,
                                   'mac': '02:42:0a:00:00:03', 'up': True, 'addresses': ['10.0.0.3/24'],
                                   'routes': [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}]}
    assert res['veth']['paired'] is True and res['veth']['master'] == 'br0'
    assert res['diff']['before'] == {'name': 'veth1a2b3c4', 'netns': sb, 'exists': False}

    again = run_module('veth', task_args(sb, task))
    assert again['changed'] is False and again['actions'] == []
    assert again['diff']['before'] == again['diff']['after']


def test_check_mode_touches_nothing(run_module, pair):
    sb, task = pair
    before = snapshot(sb, task)
    res = run_module('veth', task_args(sb, task), check=True)
    assert res['changed'] is True and res['veth']['peer']['addresses'] == ['10.0.0.3/24']
    assert res['diff']['after']['peer']['routes'] == [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}]
    assert snapshot(sb, task) == before

    run_module('veth', task_args(sb, task))
    before = snapshot(sb, task)
    res = run_module('veth', task_args(sb, task, mtu=1400, peer_addresses=['10.0.0.4/24']), check=True)
    assert res['changed'] is True and res['veth']['peer']['mtu'] == 1400
    assert snapshot(sb, task) == before


def test_in_place_changes(run_module, pair):
    sb, task = pair
    run_module('veth', task_args(sb, task))
    a0, b0 = assert_paired(sb, task)
    sh('ip -n %s route add 12.0.0.0/8 via 10.0.0.1' % task)     # not listed: must go

    # new address in the same subnet: the kernel drops routes through the old one; they come back
    res = run_module('veth', task_args(sb, task, mtu=1400, peer_mac='02:42:0a:00:00:04',
                                       peer_addresses=['10.0.0.4/24']))
    assert res['changed'] is True
    a, b = assert_paired(sb, task)
    assert (a['ifindex'], b['ifindex']) == (a0['ifindex'], b0['ifindex'])
    assert a['mtu'] == b['mtu'] == 1400 and b['address'] == '02:42:0a:00:00:04'
    assert addresses(task, 'eth0') == ['10.0.0.4/24']
    assert routes(task, 'eth0') == [('11.1.1.0/24', '10.0.0.1')]
    assert res['diff']['before']['peer']['routes'] == [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'},
                                                       {'dst': '12.0.0.0/8', 'via': '10.0.0.1'}]
    assert run_module('veth', task_args(sb, task, mtu=1400, peer_mac='02:42:0a:00:00:04',
                                        peer_addresses=['10.0.0.4/24']))['changed'] is False

    res = run_module('veth', task_args(sb, task, master='', peer_routes=[{'dst': 'default', 'via': '10.0.0.1'}]))
    assert res['changed'] is True
    assert 'master' not in link(sb, 'veth1a2b3c4')
    assert routes(task, 'eth0') == [('default', '10.0.0.1')]

    res = run_module('veth', task_args(sb, task, up=False, peer_routes=[]))
    assert res['changed'] is True
    a, b = assert_paired(sb, task)
    assert not is_up(a) and not is_up(b) and routes(task, 'eth0') == []


def test_peer_of_another_pair_is_recreated(run_module, pair, scratch_netns):
    sb, task = pair
    elsewhere = scratch_netns('vexx')
    # eth0 in the task belongs to some other pair; our name exists too, cabled elsewhere
    sh('ip -n %s link add eth0 type veth peer name stray netns %s' % (task, elsewhere))
    sh('ip -n %s link add veth1a2b3c4 type veth peer name other netns %s' % (sb, elsewhere))
    before = snapshot(sb, task)
    check = run_module('veth', task_args(sb, task), check=True)
    assert check['changed'] is True and snapshot(sb, task) == before

    res = run_module('veth', task_args(sb, task))
    assert res['changed'] is True
    assert res['actions'][0].startswith('delete veth1a2b3c4 in namespace %s (not paired with eth0' % sb)
    assert res['actions'][1].startswith('delete eth0 in namespace %s' % task)
    assert res['actions'][2].startswith('create veth pair')
    assert res['diff']['before']['paired'] is False and res['diff']['after']['paired'] is True
    assert_paired(sb, task)
    assert addresses(task, 'eth0') == ['10.0.0.3/24']
    assert link(elsewhere, 'stray') is None and link(elsewhere, 'other') is None
    assert run_module('veth', task_args(sb, task))['changed'] is False


def test_one_end_missing_is_recreated(run_module, pair):
    sb, task = pair
    sh('ip -n %s link add eth0 type veth peer name lonely' % task)   # pair inside the task ns
    res = run_module('veth', task_args(sb, task))
    assert res['changed'] is True and res['diff']['before']['exists'] is False
    assert res['diff']['before']['peer']['exists'] is True
    assert_paired(sb, task)
    assert link(task, 'lonely') is None


def test_absent(run_module, pair):
    sb, task = pair
    run_module('veth', task_args(sb, task))
    check = run_module('veth', {'name': 'veth1a2b3c4', 'netns': sb, 'state': 'absent'}, check=True)
    assert check['changed'] is True and link(sb, 'veth1a2b3c4') is not None
    res = run_module('veth', {'name': 'veth1a2b3c4', 'netns': sb, 'state': 'absent'})
    assert res['changed'] is True and res['veth'] is None
    assert link(sb, 'veth1a2b3c4') is None and link(task, 'eth0') is None
    assert res['diff']['after']['exists'] is False
    assert run_module('veth', {'name': 'veth1a2b3c4', 'netns': sb, 'state': 'absent'})['changed'] is False


def test_peer_in_module_namespace_when_peer_netns_omitted(run_module, pair):
    sb = pair[0]
    try:
        res = run_module('veth', {'name': 'vsbend', 'netns': sb, 'peer': 'vnodeend', 'mtu': 1450, 'mac': '02:00:00:00:00:aa'})
        assert res['changed'] is True
        a, b = link(sb, 'vsbend'), link(None, 'vnodeend')
        assert a['link_index'] == b['ifindex'] and b['link_index'] == a['ifindex']
        assert a['address'] == '02:00:00:00:00:aa' and b['mtu'] == 1450
        assert run_module('veth', {'name': 'vsbend', 'netns': sb, 'peer': 'vnodeend', 'mtu': 1450,
                                   'mac': '02:00:00:00:00:aa'})['changed'] is False
    finally:
        sh('ip link del vnodeend 2>/dev/null || true', check=False)


@pytest.mark.parametrize('change,words', [
    ({'name': 'veth-name-is-long'}, ['veth-name-is-long', 'IFNAMSIZ', 'at most 15']),
    ({'peer': 'eth0-name-is-long'}, ['eth0-name-is-long', 'IFNAMSIZ']),
    ({'master': 'br9'}, ['master bridge br9 does not exist in namespace']),
    ({'master': 'vx'}, ['master device vx in namespace', 'is a veth, not a bridge']),
    ({'name': 'br0'}, ['device br0 in namespace', 'is a bridge, not a veth']),
    ({'peer': 'brt'}, ['device brt in namespace', 'is a bridge, not a veth']),
    ({'peer_mac': '02:42:0a:00:00'}, ['peer_mac', 'not a MAC address']),
    ({'mac': '01:00:5e:00:00:01'}, ['mac', 'multicast']),
    ({'peer_addresses': ['10.0.0.3']}, ['peer_addresses', 'no prefix length']),
    ({'peer_routes': [{'dst': '11.1.1.5/24', 'via': '10.0.0.1'}]}, ['peer_routes[0]', 'host bits']),
    ({'peer_routes': [{'dst': '11.1.1.0/24', 'via': '10.9.0.1'}]}, ['gateway 10.9.0.1', 'not in a subnet']),
    ({'up': False}, ['peer_routes need the pair up']),
    ({'mtu': 10}, ['mtu 10', 'out of range']),
])
def test_bad_input_is_refused_and_changes_nothing(run_module, pair, change, words):
    sb, task = pair
    sh('ip -n %s link add vx type veth peer name vy' % sb)
    sh('ip -n %s link add brt type bridge' % task)
    before = snapshot(sb, task)
    res = run_module('veth', task_args(sb, task, **change), expect_failure=True)
    for word in words:
        assert word in res['msg'], res['msg']
    assert snapshot(sb, task) == before


def test_bad_input_on_an_existing_pair_changes_nothing(run_module, pair):
    sb, task = pair
    run_module('veth', task_args(sb, task))
    before = snapshot(sb, task)
    res = run_module('veth', task_args(sb, task, peer_addresses=['10.0.1.3/24']), expect_failure=True)
    assert 'gateway 10.0.0.1' in res['msg'] and '10.0.1.3/24' in res['msg']
    assert snapshot(sb, task) == before


def test_missing_namespaces_and_same_names(run_module, pair, scratch_netns):
    sb, task = pair
    ghost = scratch_netns('veghost', create=False)
    before = snapshot(sb, task)
    res = run_module('veth', task_args(sb, ghost), expect_failure=True)
    assert ghost in res['msg'] and 'does not exist' in res['msg']
    res = run_module('veth', task_args(ghost, task), expect_failure=True)
    assert ghost in res['msg'] and 'does not exist' in res['msg']
    res = run_module('veth', {'name': 'x0', 'netns': sb, 'peer': 'x0', 'peer_netns': sb}, expect_failure=True)
    assert 'name and peer are both x0' in res['msg']
    assert snapshot(sb, task) == before
