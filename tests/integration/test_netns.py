# -*- coding: utf-8 -*-
"""linuxnet.overlay.netns against the real kernel (inside tests/sandbox.sh)."""

from __future__ import annotations

import os

from conftest import sh
from _helpers_links import free_vni, is_up, link, netns_list, snapshot, udp_sockets


def test_create_repeat_and_lo_up(run_module, scratch_netns):
    name = scratch_netns('nsmod', create=False)
    res = run_module('netns', {'name': name})
    assert res['changed'] is True
    assert res['netns'] == {'name': name, 'exists': True, 'path': '/run/netns/' + name}
    assert name in netns_list()
    assert is_up(link(name, 'lo'))
    assert res['diff']['before'] == {'name': name, 'exists': False, 'links': {}}
    assert res['diff']['after']['exists'] is True and res['diff']['after']['links']['lo']['up'] is True

    again = run_module('netns', {'name': name})
    assert again['changed'] is False and again['actions'] == []
    assert again['diff']['before'] == again['diff']['after']


def test_check_mode_predicts_and_touches_nothing(run_module, scratch_netns):
    name = scratch_netns('nsmod', create=False)
    before = snapshot()
    res = run_module('netns', {'name': name}, check=True)
    assert res['changed'] is True and res['netns']['exists'] is True
    assert res['diff']['after']['exists'] is True
    assert snapshot() == before
    assert not os.path.lexists('/run/netns/' + name)


def test_existing_namespace_gets_lo_up(run_module, scratch_netns):
    name = scratch_netns('nsmod')
    sh('ip -n %s link set lo down' % name)
    res = run_module('netns', {'name': name})
    assert res['changed'] is True and res['actions'] == ['bring lo up']
    assert res['diff']['before']['links']['lo']['up'] is False
    assert is_up(link(name, 'lo'))


def test_absent_deletes_vxlan_first_so_the_vni_is_free_at_once(run_module, scratch_netns):
    name = scratch_netns('nsmod')
    vni = free_vni()
    # a VTEP made the Docker way: in the module's namespace, moved into the sandbox
    sh('ip link add vxt%d type vxlan id %d dstport 4789 && ip link set vxt%d netns %s && '
       'ip -n %s link set vxt%d up' % (vni % 1000, vni, vni % 1000, name, name, vni % 1000))
    sh('ip -n %s link add br0 type bridge' % name)
    assert '0.0.0.0:4789' in udp_sockets()

    check = run_module('netns', {'name': name, 'state': 'absent'}, check=True)
    assert check['changed'] is True and name in netns_list()
    assert link(name, 'vxt%d' % (vni % 1000)) is not None

    res = run_module('netns', {'name': name, 'state': 'absent'})
    assert res['changed'] is True
    assert res['actions'] == ['delete vxlan device vxt%d' % (vni % 1000), 'remove namespace %s' % name]
    assert res['netns']['exists'] is False
    assert set(res['diff']['before']['links']) == {'lo', 'br0', 'vxt%d' % (vni % 1000)}
    assert res['diff']['after'] == {'name': name, 'exists': False, 'links': {}}
    assert name not in netns_list()
    # the VNI is free in the node namespace immediately (namespace teardown alone is asynchronous)
    sh('ip link add vxagain type vxlan id %d dstport 4789 && ip link del vxagain' % vni)

    again = run_module('netns', {'name': name, 'state': 'absent'})
    assert again['changed'] is False


def test_leftover_file_is_refused_then_removed(run_module, scratch_netns):
    name = scratch_netns('nsmod', create=False)
    path = '/run/netns/' + name
    open(path, 'w', encoding='utf-8').close()
    try:
        res = run_module('netns', {'name': name}, expect_failure=True)
        assert 'not a mounted network namespace' in res['msg'] and path in res['msg']
        assert os.path.isfile(path) and os.path.getsize(path) == 0
        gone = run_module('netns', {'name': name, 'state': 'absent'})
        assert gone['changed'] is True and not os.path.lexists(path)
    finally:
        if os.path.lexists(path):
            os.unlink(path)


def test_bad_name_is_refused_and_changes_nothing(run_module):
    before = snapshot()
    for bad in ('a/b', '..', 'x' * 256, 'sp ace'):
        res = run_module('netns', {'name': bad}, expect_failure=True)
        assert 'invalid network namespace name' in res['msg']
    assert snapshot() == before


def test_sysctls_inside_the_namespace(run_module, scratch_netns):
    name = scratch_netns('sys', create=False)
    args = {'name': name, 'sysctls': {'net.ipv4.ip_forward': 1}}
    own = sh('sysctl -n net.ipv4.ip_forward').strip()
    pred = run_module('netns', args, check=True)
    assert pred['changed'] and 'set net.ipv4.ip_forward=1' in pred['actions']
    assert name not in sh('ip netns list')
    res = run_module('netns', args)
    assert res['changed'] and res['diff']['after']['sysctls'] == {'net.ipv4.ip_forward': '1'}
    assert sh('ip netns exec %s sysctl -n net.ipv4.ip_forward' % name).strip() == '1'
    # the module's own namespace is untouched
    assert sh('sysctl -n net.ipv4.ip_forward').strip() == own
    assert not run_module('netns', args)['changed']
    sh('ip netns exec %s sysctl -qw net.ipv4.ip_forward=0' % name)
    fixed = run_module('netns', args)
    assert fixed['actions'] == ['set net.ipv4.ip_forward=1']
    assert fixed['diff']['before']['sysctls'] == {'net.ipv4.ip_forward': '0'}
    bad = run_module('netns', {'name': name, 'sysctls': {'kernel.hostname': 'x'}}, expect_failure=True)
    assert 'only per-namespace net.* keys' in bad['msg']
    missing = run_module('netns', {'name': name, 'sysctls': {'net.ipv4.nope': 1}}, expect_failure=True)
    assert 'net.ipv4.nope does not exist' in missing['msg']
