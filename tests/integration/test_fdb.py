# -*- coding: utf-8 -*-
"""linuxnet.overlay.fdb against the real kernel, inside the sandbox (tests/sandbox.sh)."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import ROOT, sh
from _helpers_peers import fdb_all, fdb_remote, fdb_states, mac_of, vxlan

E4 = {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'}
Z5 = {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'}
Z6 = {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.6'}


@pytest.fixture
def ns(scratch_netns):
    name = scratch_netns('fdb')
    vxlan(name)
    return name


def args(ns, entries, **kw):
    a = {'netns': ns, 'device': 'vx0', 'entries': entries}
    a.update(kw)
    return a


def test_changed_then_unchanged_with_diff(run_module, ns):
    res = run_module('fdb', args(ns, [dict(E4, mac='02:42:0A:00:00:04'), Z5, Z6]))
    assert res['changed'] is True
    assert fdb_remote(ns, 'vx0') == [('00:00:00:00:00:00', '192.168.1.5', None, None),
                                     ('00:00:00:00:00:00', '192.168.1.6', None, None),
                                     ('02:42:0a:00:00:04', '192.168.1.5', None, None)]
    # self permanent, as Docker's peerdb programs them
    for e in fdb_all(ns, 'vx0'):
        assert e['flags'] == ['self'] and e['state'] == 'permanent'
    assert res['diff']['before']['fdb'] == ''
    assert res['diff']['after']['fdb'].splitlines() == ['00:00:00:00:00:00 dst 192.168.1.5',
                                                        '00:00:00:00:00:00 dst 192.168.1.6',
                                                        '02:42:0a:00:00:04 dst 192.168.1.5']
    assert len(res['added']) == 3

    again = run_module('fdb', args(ns, [E4, Z6, Z5]))
    assert again['changed'] is False
    assert again['unchanged'] == 3 and again['added'] == [] and again['removed'] == []
    assert again['diff']['before'] == again['diff']['after']


def test_check_mode_predicts_and_touches_nothing(run_module, ns):
    sh('bridge -n %s fdb append 02:42:0a:00:00:99 dev vx0 dst 10.9.9.9 self permanent' % ns)
    before = fdb_all(ns, 'vx0')
    res = run_module('fdb', args(ns, [E4, Z5], exclusive=True), check=True)
    assert res['changed'] is True
    assert {(e['mac'], e['dst']) for e in res['added']} == {(E4['mac'], E4['dst']), (Z5['mac'], Z5['dst'])}
    assert [(e['mac'], e['dst']) for e in res['removed']] == [('02:42:0a:00:00:99', '10.9.9.9')]
    assert res['entries'] == 2
    assert '02:42:0a:00:00:99 dst 10.9.9.9' in res['diff']['before']['fdb']
    assert '02:42:0a:00:00:99' not in res['diff']['after']['fdb']
    assert fdb_all(ns, 'vx0') == before


def test_exclusive_removes_stale_and_never_local_entries(run_module, scratch_netns):
    ns = scratch_netns('fdbx')
    # a device with a unicast remote (the kernel adds 00:00:00:00:00:00 dst 10.1.1.1 itself), on a
    # bridge (the bridge adds a master entry for the port's own MAC), plus hand-made entries
    vxlan(ns, 'vx1', 4098, 'local 10.1.1.2 remote 10.1.1.1 nolearning proxy')
    sh('ip -n %s link add br0 type bridge && ip -n %s link set vx1 master br0 && ip -n %s link set br0 up'
       % (ns, ns, ns))
    sh('bridge -n %s fdb append 02:42:0a:00:00:99 dev vx1 dst 10.9.9.9 self permanent' % ns)
    sh('bridge -n %s fdb append 00:00:00:00:00:00 dev vx1 dst 10.9.9.8 self permanent' % ns)
    sh('bridge -n %s fdb add 02:42:0a:00:00:98 dev vx1 dst 10.9.9.9 self dynamic' % ns)
    own_mac = sh("ip -n %s -j link show vx1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"address\"])'"
                 % ns).strip()
    everything = fdb_all(ns, 'vx1')
    local = [e for e in everything if not (e.get('dst') in ('10.9.9.9', '10.9.9.8'))]
    assert any(e['mac'] == '00:00:00:00:00:00' and e.get('dst') == '10.1.1.1' for e in local)
    assert any(e['mac'] == own_mac and e.get('master') == 'br0' for e in local)

    res = run_module('fdb', {'netns': ns, 'device': 'vx1', 'exclusive': True,
                             'entries': [{'mac': '02:42:0a:00:00:04', 'dst': '10.1.1.5'}]})
    assert res['changed'] is True
    assert sorted((e['mac'], e['dst']) for e in res['removed']) == [
        ('00:00:00:00:00:00', '10.9.9.8'), ('02:42:0a:00:00:98', '10.9.9.9'), ('02:42:0a:00:00:99', '10.9.9.9')]
    after = fdb_all(ns, 'vx1')
    for e in local:
        assert e in after, 'local entry %r was removed' % (e,)
    assert fdb_remote(ns, 'vx1') == [('00:00:00:00:00:00', '10.1.1.1', None, None),
                                     ('02:42:0a:00:00:04', '10.1.1.5', None, None)]
    assert run_module('fdb', {'netns': ns, 'device': 'vx1', 'exclusive': True,
                              'entries': [{'mac': '02:42:0a:00:00:04', 'dst': '10.1.1.5'}]})['changed'] is False


def test_stale_destination_is_replaced(run_module, ns):
    # the IP-reuse case: the MAC now lives behind another node
    sh('bridge -n %s fdb append 02:42:0a:00:00:04 dev vx0 dst 192.168.1.9 self permanent' % ns)
    sh('bridge -n %s fdb add 02:42:0a:00:00:05 dev vx0 dst 192.168.1.5 port 4790 self permanent' % ns)
    sh('bridge -n %s fdb add 02:42:0a:00:00:06 dev vx0 dst 192.168.1.5 self dynamic' % ns)
    res = run_module('fdb', args(ns, [E4, {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.5'},
                                      {'mac': '02:42:0a:00:00:06', 'dst': '192.168.1.5'}]))
    assert res['changed'] is True
    assert [r['before']['dst'] for r in res['replaced']] == ['192.168.1.9', '192.168.1.5', '192.168.1.5']
    assert fdb_remote(ns, 'vx0') == [('02:42:0a:00:00:04', '192.168.1.5', None, None),
                                     ('02:42:0a:00:00:05', '192.168.1.5', None, None),
                                     ('02:42:0a:00:00:06', '192.168.1.5', None, None)]
    assert fdb_states(ns, 'vx0')[('02:42:0a:00:00:06', '192.168.1.5')] == 'permanent'
    assert '02:42:0a:00:00:04 dst 192.168.1.9' in res['diff']['before']['fdb']
    assert '02:42:0a:00:00:05 dst 192.168.1.5 port 4790' in res['diff']['before']['fdb']
    assert run_module('fdb', args(ns, [E4, {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.5'},
                                       {'mac': '02:42:0a:00:00:06', 'dst': '192.168.1.5'}]))['changed'] is False


def test_vni_and_port_are_programmed(run_module, ns):
    entry = {'mac': '02:42:0a:00:00:07', 'dst': '192.168.1.7', 'vni': 5000, 'port': 4790}
    assert run_module('fdb', args(ns, [entry]))['changed'] is True
    assert fdb_remote(ns, 'vx0') == [('02:42:0a:00:00:07', '192.168.1.7', 4790, 5000)]
    assert run_module('fdb', args(ns, [entry]))['changed'] is False
    # explicit device defaults are the same entry as omitted ones
    assert run_module('fdb', args(ns, [dict(E4, vni=4097, port=4789)]))['changed'] is True
    assert run_module('fdb', args(ns, [E4]))['changed'] is False


def test_thousand_entries_in_one_task(run_module, ns):
    entries = [{'mac': mac_of(i), 'dst': '192.168.1.%d' % (5 + i % 4)} for i in range(1000)]
    res = run_module('fdb', args(ns, entries), diff=False)
    assert res['changed'] is True and len(res['added']) == 1000 and res['entries'] == 1000
    remote = fdb_remote(ns, 'vx0')
    assert len(remote) == 1000
    assert set((m, d) for m, d, _p, _v in remote) == {(e['mac'], e['dst']) for e in entries}
    again = run_module('fdb', args(ns, entries, exclusive=True), diff=False)
    assert again['changed'] is False and again['unchanged'] == 1000
    # move a quarter of them to another node, drop another quarter
    moved = [dict(e, dst='192.168.2.1') if i % 4 == 0 else e for i, e in enumerate(entries) if i % 4 != 1]
    res = run_module('fdb', args(ns, moved, exclusive=True), diff=False)
    assert len(res['replaced']) == 250 and len(res['removed']) == 250 and res['added'] == []
    remote = fdb_remote(ns, 'vx0')
    assert len(remote) == 750
    assert set((m, d) for m, d, _p, _v in remote) == {(e['mac'], e['dst']) for e in moved}


def test_state_absent_removes_exactly_the_listed(run_module, ns):
    run_module('fdb', args(ns, [E4, Z5, Z6, {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.6'}]))
    res = run_module('fdb', args(ns, [Z6, {'mac': '02:42:0a:00:00:05'},
                                      {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.7'}], state='absent'))
    assert res['changed'] is True
    assert sorted((e['mac'], e['dst']) for e in res['removed']) == [
        ('00:00:00:00:00:00', '192.168.1.6'), ('02:42:0a:00:00:05', '192.168.1.6')]
    assert fdb_remote(ns, 'vx0') == [('00:00:00:00:00:00', '192.168.1.5', None, None),
                                     ('02:42:0a:00:00:04', '192.168.1.5', None, None)]
    again = run_module('fdb', args(ns, [Z6, {'mac': '02:42:0a:00:00:05'}], state='absent'))
    assert again['changed'] is False


def test_empty_entries_with_exclusive_flushes_remote_entries(run_module, ns):
    run_module('fdb', args(ns, [E4, Z5]))
    res = run_module('fdb', args(ns, [], exclusive=True))
    assert res['changed'] is True and len(res['removed']) == 2
    assert fdb_remote(ns, 'vx0') == []


@pytest.mark.parametrize('case', ['bad_mac_in_1000', 'bad_ip', 'bad_vni', 'ipv6_on_ipv4_device', 'conflict',
                                  'no_device', 'not_vxlan', 'no_netns', 'bad_netns_name', 'exclusive_absent'])
def test_bad_input_fails_clearly_and_changes_nothing(run_module, ns, case):
    sh('ip -n %s link add br9 type bridge' % ns)
    sh('bridge -n %s fdb append 02:42:0a:00:00:99 dev vx0 dst 10.9.9.9 self permanent' % ns)
    before = fdb_all(ns, 'vx0')
    entries = [{'mac': mac_of(i), 'dst': '192.168.1.%d' % (5 + i % 4)} for i in range(1000)]
    a = args(ns, entries, exclusive=True)
    if case == 'bad_mac_in_1000':
        entries[637] = {'mac': '02:42:0b:00:02:7g', 'dst': '192.168.1.5'}
        expect = "entries[637]: mac '02:42:0b:00:02:7g' is not a MAC address"
    elif case == 'bad_ip':
        entries[3] = {'mac': mac_of(3), 'dst': '192.168.1.300'}
        expect = "entries[3]: dst '192.168.1.300' is not an IPv4 or IPv6 address"
    elif case == 'bad_vni':
        entries[5]['vni'] = 16777216
        expect = 'entries[5]: vni 16777216 is out of range'
    elif case == 'ipv6_on_ipv4_device':
        entries[999] = {'mac': mac_of(999), 'dst': 'fd00::5'}
        expect = 'entry %s dst fd00::5: device vx0 does not take IPv6 destinations' % mac_of(999)
    elif case == 'conflict':
        entries.append({'mac': mac_of(10), 'dst': '192.168.9.9'})
        expect = 'entries[1000]: mac %s is already listed in entries[10]' % mac_of(10)
    elif case == 'no_device':
        a['device'] = 'vx-missing'
        expect = "device 'vx-missing' does not exist in namespace %s" % ns
    elif case == 'not_vxlan':
        a['device'] = 'br9'
        expect = "device 'br9' in namespace %s is not a VXLAN device (its link kind is bridge)" % ns
    elif case == 'no_netns':
        a['netns'] = 'fdb-missing-ns'
        expect = "network namespace 'fdb-missing-ns' does not exist"
    elif case == 'bad_netns_name':
        a['netns'] = '../etc'
        expect = "invalid network namespace name '../etc'"
    else:
        a['state'] = 'absent'
        expect = 'exclusive=true only applies to state=present'
    res = run_module('fdb', a, expect_failure=True, diff=False)
    assert expect in res['msg']
    assert res.get('changed') is False
    assert fdb_all(ns, 'vx0') == before
    assert not os.path.exists('/run/netns/fdb-missing-ns')


def test_ipv6_device_with_any_local_address(run_module, scratch_netns):
    """``local ::`` makes an IPv6 device that dumps exactly like an IPv4 one: the family check
    must come from the kernel, not from the device's attributes."""
    ns = scratch_netns('fdb6')
    vxlan(ns, 'vx6', 4099, 'local ::')
    before = fdb_all(ns, 'vx6')
    res = run_module('fdb', {'netns': ns, 'device': 'vx6', 'entries': [
        {'mac': '02:42:0a:00:00:04', 'dst': 'fd00::5'}, {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.5'}]},
        expect_failure=True)
    assert 'entry 02:42:0a:00:00:05 dst 192.168.1.5: device vx6 does not take IPv4 destinations' in res['msg']
    assert fdb_all(ns, 'vx6') == before
    res = run_module('fdb', {'netns': ns, 'device': 'vx6', 'entries': [
        {'mac': '02:42:0a:00:00:04', 'dst': 'FD00::5'}, {'mac': '00:00:00:00:00:00', 'dst': 'fd00::6'}]})
    assert res['changed'] is True
    assert fdb_remote(ns, 'vx6') == [('00:00:00:00:00:00', 'fd00::6', None, None),
                                     ('02:42:0a:00:00:04', 'fd00::5', None, None)]


def test_kernel_refusal_names_each_entry(run_module, scratch_netns):
    ns = scratch_netns('fdbk')
    vxlan(ns, extra='nolearning proxy maxaddress 3')
    entries = [{'mac': mac_of(i), 'dst': '192.168.1.5'} for i in range(5)]
    res = run_module('fdb', args(ns, entries), expect_failure=True, diff=False)
    assert 'the kernel refused 2 of 5 FDB changes on vx0' in res['msg']
    assert 'entry %s dst 192.168.1.5 (replace) failed: No space left on device' % mac_of(3) in res['msg']
    assert 'entry %s dst 192.168.1.5 (replace) failed: No space left on device' % mac_of(4) in res['msg']
    assert [f['mac'] for f in res['failed_entries']] == [mac_of(3), mac_of(4)]
    assert res['changed'] is True and res['entries'] == 3
    assert len(fdb_remote(ns, 'vx0')) == 3


def test_nlbatch_maps_errors_to_entries_by_sequence(ns):
    """The batch layer itself: errors in the middle of a pipelined chunk land on the right entry."""
    sys.path.insert(0, os.path.join(ROOT, '.build'))
    # an existing all-zero entry, so the kernel explains its refusal in an extended ACK
    sh('bridge -n %s fdb append 00:00:00:00:00:00 dev vx0 dst 192.168.1.5 self permanent' % ns)
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _rtnl

    with _rtnl.Socket(ns, bufsize=64 * 1024) as sock:    # small buffers: many chunks
        dev = _rtnl.get_link(sock, 'vx0')
        msgs = [_rtnl.fdb_message('replace', dev['ifindex'], mac_of(i), '192.168.1.5') for i in range(600)]
        msgs[17] = _rtnl.fdb_message('replace', dev['ifindex'], '00:00:00:00:00:00', '192.168.1.5')
        msgs[450] = _rtnl.fdb_message('replace', dev['ifindex'], mac_of(450), 'fd00::1')
        failures = sock.batch(msgs)
        assert [(i, e.code) for i, e in failures] == [(17, 95), (450, 97)]   # EOPNOTSUPP, EAFNOSUPPORT
        assert failures[0][1].strerror == 'Operation not supported (Cannot replace non-unicast fdb entries)'
        assert failures[1][1].strerror.startswith('Address family not supported by protocol')
        assert len(_rtnl.fdb_dump(sock, dev['ifindex'])) == 599
    assert len(fdb_remote(ns, 'vx0')) == 599
