# -*- coding: utf-8 -*-
"""linuxnet.overlay.bridge against the real kernel (inside tests/sandbox.sh)."""

from __future__ import annotations

import json

import pytest

from conftest import sh
from _helpers_links import addresses, is_up, kind, link, snapshot


def test_create_repeat(run_module, scratch_netns):
    ns = scratch_netns('br')
    args = {'name': 'br0', 'netns': ns, 'addresses': ['10.0.0.1/24', '2001:db8::1/64']}
    res = run_module('bridge', args)
    assert res['changed'] is True
    dev = link(ns, 'br0')
    assert kind(dev) == 'bridge' and is_up(dev)
    assert addresses(ns, 'br0') == ['10.0.0.1/24', '2001:db8::1/64']
    assert res['bridge'] == {'name': 'br0', 'netns': ns, 'ifindex': dev['ifindex'], 'mtu': dev['mtu'],
                             'mac': dev['address'], 'up': True, 'addresses': ['10.0.0.1/24', '2001:db8::1/64']}
    assert res['diff']['before'] == {'name': 'br0', 'netns': ns, 'exists': False}
    assert res['diff']['after']['addresses'] == ['10.0.0.1/24', '2001:db8::1/64']

    again = run_module('bridge', args)
    assert again['changed'] is False and again['actions'] == []
    assert again['diff']['before'] == again['diff']['after']


def test_check_mode_predicts_and_touches_nothing(run_module, scratch_netns):
    ns = scratch_netns('br')
    before = snapshot(ns)
    res = run_module('bridge', {'name': 'br0', 'netns': ns, 'mtu': 1450, 'addresses': ['10.0.0.1/24']}, check=True)
    assert res['changed'] is True
    assert res['actions'] == ['create bridge br0', 'set mtu 1450', 'add address 10.0.0.1/24', 'set up']
    assert res['bridge']['addresses'] == ['10.0.0.1/24'] and res['bridge']['mtu'] == 1450
    assert res['bridge']['up'] is True and res['bridge']['ifindex'] is None
    assert snapshot(ns) == before

    # and on an existing bridge: an in-place change predicted, not made
    run_module('bridge', {'name': 'br0', 'netns': ns, 'addresses': ['10.0.0.1/24']})
    before = snapshot(ns)
    res = run_module('bridge', {'name': 'br0', 'netns': ns, 'addresses': ['10.0.1.1/24'], 'up': False}, check=True)
    assert res['changed'] is True and res['bridge']['addresses'] == ['10.0.1.1/24'] and res['bridge']['up'] is False
    assert res['diff']['before']['addresses'] == ['10.0.0.1/24']
    assert snapshot(ns) == before


def test_in_place_changes_keep_the_device(run_module, scratch_netns):
    ns = scratch_netns('br')
    run_module('bridge', {'name': 'br0', 'netns': ns, 'addresses': ['10.0.0.1/24']})
    ifindex = link(ns, 'br0')['ifindex']
    sh('ip -n %s addr add 192.168.7.7/24 dev br0' % ns)  # not listed: must go
    sh('ip -n %s addr add fe80::99/64 dev br0' % ns)     # IPv6 link-local: must stay

    res = run_module('bridge', {'name': 'br0', 'netns': ns, 'mtu': 1400, 'addresses': ['10.0.0.1/24', '10.0.1.1/24']})
    assert res['changed'] is True
    assert res['diff']['before']['addresses'] == ['10.0.0.1/24', '192.168.7.7/24']
    assert res['diff']['after']['addresses'] == ['10.0.0.1/24', '10.0.1.1/24']
    dev = link(ns, 'br0')
    assert dev['ifindex'] == ifindex and dev['mtu'] == 1400
    assert addresses(ns, 'br0') == ['10.0.0.1/24', '10.0.1.1/24']
    assert 'fe80::99' in [a['local'] for a in dev_addr_info(ns)]

    res = run_module('bridge', {'name': 'br0', 'netns': ns, 'up': False})
    assert res['changed'] is True and not is_up(link(ns, 'br0'))
    assert addresses(ns, 'br0') == ['10.0.0.1/24', '10.0.1.1/24']   # omitted: not managed

    res = run_module('bridge', {'name': 'br0', 'netns': ns, 'addresses': [], 'up': False})
    assert res['changed'] is True and addresses(ns, 'br0') == []


def dev_addr_info(ns):
    return json.loads(sh('ip -j -n %s addr show dev br0' % ns))[0]['addr_info']


def test_removing_a_primary_keeps_the_listed_secondary(run_module, scratch_netns):
    # deleting a primary IPv4 address also deletes its secondaries: the module must add them back
    ns = scratch_netns('br')
    run_module('bridge', {'name': 'br0', 'netns': ns, 'addresses': ['10.0.0.1/24', '10.0.0.2/24']})
    res = run_module('bridge', {'name': 'br0', 'netns': ns, 'addresses': ['10.0.0.2/24']})
    assert res['changed'] is True
    assert addresses(ns, 'br0') == ['10.0.0.2/24']
    assert run_module('bridge', {'name': 'br0', 'netns': ns, 'addresses': ['10.0.0.2/24']})['changed'] is False


def test_absent(run_module, scratch_netns):
    ns = scratch_netns('br')
    run_module('bridge', {'name': 'br0', 'netns': ns})
    check = run_module('bridge', {'name': 'br0', 'netns': ns, 'state': 'absent'}, check=True)
    assert check['changed'] is True and link(ns, 'br0') is not None
    res = run_module('bridge', {'name': 'br0', 'netns': ns, 'state': 'absent'})
    assert res['changed'] is True and res['bridge'] is None and link(ns, 'br0') is None
    assert res['diff']['after'] == {'name': 'br0', 'netns': ns, 'exists': False}
    assert run_module('bridge', {'name': 'br0', 'netns': ns, 'state': 'absent'})['changed'] is False


def test_module_namespace_when_netns_omitted(run_module):
    name = 'brt%d' % (id(run_module) % 100000)
    try:
        res = run_module('bridge', {'name': name, 'addresses': ['198.51.100.1/24']})
        assert res['changed'] is True and res['bridge']['netns'] is None
        assert kind(link(None, name)) == 'bridge' and addresses(None, name) == ['198.51.100.1/24']
    finally:
        sh('ip link del %s 2>/dev/null || true' % name, check=False)


@pytest.mark.parametrize('args,words', [
    ({'name': 'br0', 'addresses': ['10.0.0.1']}, ['10.0.0.1', 'no prefix length']),
    ({'name': 'br0', 'addresses': ['10.0.0.300/24']}, ['10.0.0.300/24', 'not an address']),
    ({'name': 'br0', 'mtu': 20}, ['mtu 20', 'out of range']),
    ({'name': 'bridge-name-too-long'}, ['bridge-name-too-long', 'IFNAMSIZ']),
    ({'name': 'vethx'}, ['device vethx in namespace', 'is a veth, not a bridge']),
    ({'name': 'vethx', 'state': 'absent'}, ['is a veth, not a bridge']),
])
def test_bad_input_is_refused_and_changes_nothing(run_module, scratch_netns, args, words):
    ns = scratch_netns('br')
    sh('ip -n %s link add vethx type veth peer name vethy' % ns)
    sh('ip -n %s link add br0 type bridge && ip -n %s addr add 10.0.9.1/24 dev br0' % (ns, ns))
    before = snapshot(ns)
    res = run_module('bridge', dict(args, netns=ns), expect_failure=True)
    for word in words:
        assert word in res['msg']
    assert snapshot(ns) == before


def test_missing_namespace_is_refused(run_module, scratch_netns):
    ns = scratch_netns('br', create=False)
    before = snapshot()
    res = run_module('bridge', {'name': 'br0', 'netns': ns}, expect_failure=True)
    assert ns in res['msg'] and 'does not exist' in res['msg']
    assert snapshot() == before
