# -*- coding: utf-8 -*-
"""linuxnet.overlay.vxlan against the real kernel (inside tests/sandbox.sh).

The namespace the module runs in is the sandbox's own ("the node"); VTEPs go into scratch
namespaces ("sandboxes"). VNIs are drawn at random per test: a VNI exists once per node and port.
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import sh
from _helpers_links import free_vni, ip_json, is_up, link, snapshot, udp_sockets, vxlan_data


@pytest.fixture
def sandbox(scratch_netns):
    ns = scratch_netns('vx')
    sh('ip -n %s link add br0 type bridge && ip -n %s link set br0 up' % (ns, ns))
    return ns


def args(ns, vni, **kw):
    out = {'name': 'vxlan0', 'netns': ns, 'vni': vni}
    out.update(kw)
    return out


def temp_devices():
    """Devices named like the module's temporary ones, left in the node namespace."""
    return [d['ifname'] for d in ip_json('link show') if d['ifname'].startswith('vx-')]


def test_create_repeat_and_socket_in_node_namespace(run_module, sandbox):
    ns, vni = sandbox, free_vni()
    assert '0.0.0.0:4789' not in udp_sockets()
    res = run_module('vxlan', args(ns, vni, mtu=1450, master='br0'))
    assert res['changed'] is True
    dev = link(ns, 'vxlan0')
    data = vxlan_data(dev)
    assert (data['id'], data['port']) == (vni, 4789)
    assert (data['learning'], data['proxy'], data['l2miss'], data['l3miss']) == (False, True, False, False)
    assert dev['mtu'] == 1450 and dev['master'] == 'br0' and is_up(dev)
    assert 'link_netnsid' in dev            # created in another namespace (the node's) and moved in
    assert temp_devices() == [] and link(None, 'vxlan0') is None
    # the UDP socket lives in the node namespace, not in the sandbox
    assert '0.0.0.0:4789' in udp_sockets()
    assert udp_sockets(ns) == []
    assert res['vxlan'] == {'name': 'vxlan0', 'netns': ns, 'ifindex': dev['ifindex'], 'mac': dev['address'],
                            'vni': vni, 'dstport': 4789, 'local': None, 'learning': False, 'proxy': True,
                            'l2miss': False, 'l3miss': False, 'ttl': 0, 'mtu': 1450, 'master': 'br0', 'up': True,
                            'socket_netns': None}
    assert res['diff']['before'] == {'name': 'vxlan0', 'netns': ns, 'exists': False}
    assert res['diff']['after']['vni'] == vni

    again = run_module('vxlan', args(ns, vni, mtu=1450, master='br0'))
    assert again['changed'] is False and again['actions'] == []
    assert again['diff']['before'] == again['diff']['after']


def test_socket_opens_only_once_up(run_module, sandbox):
    ns, vni = sandbox, free_vni()
    run_module('vxlan', args(ns, vni, dstport=4795, up=False))
    assert not is_up(link(ns, 'vxlan0'))
    assert '0.0.0.0:4795' not in udp_sockets()
    res = run_module('vxlan', args(ns, vni, dstport=4795))
    assert res['changed'] is True and res['actions'] == ['set up False -> True']
    assert '0.0.0.0:4795' in udp_sockets() and udp_sockets(ns) == []


def test_check_mode_create_touches_nothing(run_module, sandbox):
    ns, vni = sandbox, free_vni()
    before = snapshot(ns)
    res = run_module('vxlan', args(ns, vni, mtu=1450, master='br0', local='192.0.2.1'), check=True)
    assert res['changed'] is True
    assert res['vxlan']['vni'] == vni and res['vxlan']['local'] == '192.0.2.1' and res['vxlan']['ifindex'] is None
    assert res['diff']['after']['master'] == 'br0'
    assert snapshot(ns) == before


@pytest.mark.parametrize('change,check', [
    ({'learning': True}, lambda dev: vxlan_data(dev)['learning'] is True),
    ({'ttl': 9}, lambda dev: vxlan_data(dev)['ttl'] == 9),
    ({'mtu': 1400}, lambda dev: dev['mtu'] == 1400),
    ({'master': ''}, lambda dev: 'master' not in dev),
    ({'up': False}, lambda dev: not is_up(dev)),
    ({'local': '192.0.2.2'}, lambda dev: vxlan_data(dev)['local'] == '192.0.2.2'),
])
def test_in_place_change(run_module, sandbox, change, check):
    ns, vni = sandbox, free_vni()
    base = args(ns, vni, mtu=1450, master='br0', local='192.0.2.1')
    run_module('vxlan', base)
    dev = link(ns, 'vxlan0')

    before = snapshot(ns)
    predicted = run_module('vxlan', dict(base, **change), check=True)
    assert predicted['changed'] is True and snapshot(ns) == before

    res = run_module('vxlan', dict(base, **change))
    assert res['changed'] is True
    assert all(a.startswith('set ') for a in res['actions']) and len(res['actions']) == 1
    after = link(ns, 'vxlan0')
    assert (after['ifindex'], after['address']) == (dev['ifindex'], dev['address'])   # the same device
    assert check(after)
    assert 'recreated' not in res['diff']['after']
    assert run_module('vxlan', dict(base, **change))['changed'] is False


@pytest.mark.parametrize('change,word', [
    ({'vni': None}, 'vni'),
    ({'dstport': 4790}, 'dstport'),
    ({'proxy': False}, 'proxy'),
    ({'l2miss': True}, 'l2miss'),
    ({'l3miss': True}, 'l3miss'),
    ({'local': '2001:db8::1'}, 'address family'),
])
def test_recreate_for_what_the_kernel_cannot_change(run_module, sandbox, change, word):
    ns, vni = sandbox, free_vni()
    if change.get('vni', 0) is None:
        change = {'vni': free_vni()}
    base = args(ns, vni, mtu=1450, master='br0', learning=True)
    run_module('vxlan', base)
    old = link(ns, 'vxlan0')

    before = snapshot(ns)
    predicted = run_module('vxlan', dict(base, **change), check=True)
    assert predicted['changed'] is True and word in predicted['actions'][0]
    assert snapshot(ns) == before

    res = run_module('vxlan', dict(base, **change))
    assert res['changed'] is True
    assert res['actions'][0].startswith('delete vxlan0 (') and word in res['actions'][0]
    assert res['actions'][1].startswith('create vxlan0')
    assert any(word in reason for reason in res['diff']['after']['recreated'])
    new = link(ns, 'vxlan0')
    assert new['address'] != old['address']            # a new device (random MAC)
    data = vxlan_data(new)
    key = {'vni': 'id', 'dstport': 'port', 'local': 'local6'}
    for opt, value in change.items():
        assert data[key.get(opt, opt)] == value, data
    # what did not change came back: flags, MTU, bridge, up, socket in the node namespace
    assert data['learning'] is True and new['mtu'] == 1450 and new['master'] == 'br0' and is_up(new)
    assert 'link_netnsid' in new and udp_sockets(ns) == [] and temp_devices() == []
    assert run_module('vxlan', dict(base, **change))['changed'] is False


def test_port_change_moves_the_socket(run_module, sandbox):
    ns, vni = sandbox, free_vni()
    run_module('vxlan', args(ns, vni, dstport=4796))
    assert '0.0.0.0:4796' in udp_sockets()
    run_module('vxlan', args(ns, vni, dstport=4797))
    assert '0.0.0.0:4797' in udp_sockets() and '0.0.0.0:4796' not in udp_sockets()


def test_device_with_socket_in_the_sandbox_is_recreated(run_module, sandbox):
    ns, vni = sandbox, free_vni()
    # made the wrong way: inside the sandbox, so its socket is there too
    sh('ip -n %s link add vxlan0 type vxlan id %d dstport 4798 nolearning proxy && '
       'ip -n %s link set vxlan0 up' % (ns, vni, ns))
    assert '0.0.0.0:4798' in udp_sockets(ns)
    res = run_module('vxlan', args(ns, vni, dstport=4798))
    assert res['changed'] is True
    assert 'UDP socket lives in namespace %s' % ns in res['actions'][0]
    assert res['diff']['before']['socket_netns'] == ns and res['diff']['after']['socket_netns'] is None
    assert udp_sockets(ns) == [] and '0.0.0.0:4798' in udp_sockets()
    assert 'link_netnsid' in link(ns, 'vxlan0')


def test_absent(run_module, sandbox):
    ns, vni = sandbox, free_vni()
    run_module('vxlan', args(ns, vni))
    check = run_module('vxlan', {'name': 'vxlan0', 'netns': ns, 'state': 'absent'}, check=True)
    assert check['changed'] is True and link(ns, 'vxlan0') is not None
    res = run_module('vxlan', {'name': 'vxlan0', 'netns': ns, 'state': 'absent'})
    assert res['changed'] is True and res['vxlan'] is None and link(ns, 'vxlan0') is None
    assert res['diff']['before']['vni'] == vni and res['diff']['after']['exists'] is False
    assert run_module('vxlan', {'name': 'vxlan0', 'netns': ns, 'state': 'absent'})['changed'] is False
    # the VNI is free again at once
    sh('ip link add vxfree type vxlan id %d dstport 4789 && ip link del vxfree' % vni)


def test_netns_omitted_creates_in_the_module_namespace(run_module):
    vni = free_vni()
    name = 'vxm%d' % (vni % 100000)
    try:
        res = run_module('vxlan', {'name': name, 'vni': vni, 'dstport': 4799})
        assert res['changed'] is True and res['vxlan']['netns'] is None
        dev = link(None, name)
        assert vxlan_data(dev)['id'] == vni and 'link_netnsid' not in dev and temp_devices() == []
        assert '0.0.0.0:4799' in udp_sockets()
    finally:
        sh('ip link del %s 2>/dev/null || true' % name, check=False)


@pytest.mark.parametrize('change,words', [
    ({'vni': 0}, ['vni 0', '1-16777215']),
    ({'vni': 16777216}, ['vni 16777216', '1-16777215']),
    ({'local': 'not-an-ip'}, ["'not-an-ip'", 'not an IPv4 or IPv6 address']),
    ({'local': '10.0.0.300'}, ["'10.0.0.300'", 'not an IPv4 or IPv6 address']),
    ({'ttl': 256}, ['ttl 256', '0-255']),
    ({'dstport': 0}, ['dstport 0', '1-65535']),
    ({'master': 'br9'}, ['master bridge br9 does not exist in namespace']),
    ({'master': 'vethx'}, ['master device vethx in namespace', 'is a veth, not a bridge']),
    ({'name': 'br0'}, ['device br0 in namespace', 'is a bridge, not a vxlan']),
    ({'name': 'vxlan-name-too-long'}, ['vxlan-name-too-long', 'IFNAMSIZ']),
])
def test_bad_input_is_refused_and_changes_nothing(run_module, sandbox, change, words):
    ns = sandbox
    sh('ip -n %s link add vethx type veth peer name vethy' % ns)
    before = snapshot(ns)
    res = run_module('vxlan', dict(args(ns, free_vni()), **change), expect_failure=True)
    for word in words:
        assert word in res['msg'], res['msg']
    assert snapshot(ns) == before


def test_missing_namespace(run_module, scratch_netns):
    ns = scratch_netns('vx', create=False)
    before = snapshot()
    res = run_module('vxlan', args(ns, free_vni()), expect_failure=True)
    assert 'network namespace' in res['msg'] and ns in res['msg'] and 'does not exist' in res['msg']
    assert snapshot() == before


def test_vni_used_in_another_sandbox(run_module, sandbox, scratch_netns):
    other, vni = scratch_netns('vx'), free_vni()
    run_module('vxlan', args(other, vni))
    before = snapshot(sandbox, other)
    res = run_module('vxlan', args(sandbox, vni), expect_failure=True)
    assert 'VNI %d on dstport 4789 is already used' % vni in res['msg']
    assert 'vxlan0 in namespace %s' % other in res['msg']
    assert snapshot(sandbox, other) == before
    # the same VNI on another port is another socket: fine
    assert run_module('vxlan', args(sandbox, vni, dstport=4790))['changed'] is True


def test_vni_used_in_the_module_namespace(run_module, sandbox):
    vni = free_vni()
    sh('ip link add vxc%d type vxlan id %d dstport 4789' % (vni % 1000, vni))
    try:
        before = snapshot(sandbox)
        res = run_module('vxlan', args(sandbox, vni), expect_failure=True)
        assert 'vxc%d in the namespace the module runs in' % (vni % 1000) in res['msg']
        assert snapshot(sandbox) == before
    finally:
        sh('ip link del vxc%d' % (vni % 1000))


def test_changing_to_a_taken_vni_keeps_the_old_device(run_module, sandbox, scratch_netns):
    other, vni, taken = scratch_netns('vx'), free_vni(), free_vni()
    run_module('vxlan', args(other, taken))
    run_module('vxlan', args(sandbox, vni, master='br0'))
    before = snapshot(sandbox, other)
    res = run_module('vxlan', args(sandbox, taken, master='br0'), expect_failure=True)
    assert 'VNI %d' % taken in res['msg'] and other in res['msg']
    assert snapshot(sandbox, other) == before


def test_same_vni_with_socket_in_another_namespace_is_fine(run_module, sandbox, scratch_netns):
    # a device made inside a namespace has its socket there: another "node" as far as VNIs go
    other, vni = scratch_netns('vx'), free_vni()
    sh('ip -n %s link add vxin type vxlan id %d dstport 4789' % (other, vni))
    assert run_module('vxlan', args(sandbox, vni))['changed'] is True


def test_kernel_refusal_from_an_unnamed_namespace_is_translated(run_module, sandbox):
    vni = free_vni()
    holder = subprocess.Popen(['unshare', '--net', 'sleep', '600'])
    try:
        # wait until the holder is in its own namespace
        for _attempt in range(100):
            if sh('readlink /proc/%d/ns/net' % holder.pid) != sh('readlink /proc/self/ns/net'):
                break
            subprocess.run(['sleep', '0.05'], check=True)
        sh('ip link add vxh type vxlan id %d dstport 4789 && ip link set vxh netns %d' % (vni, holder.pid))
        before = snapshot(sandbox)
        res = run_module('vxlan', args(sandbox, vni), expect_failure=True)
        assert 'the kernel refused VNI %d on dstport 4789' % vni in res['msg']
        assert 'namespace without a name' in res['msg']
        assert snapshot(sandbox) == before and temp_devices() == []
    finally:
        holder.kill()
        holder.wait()
