# -*- coding: utf-8 -*-
"""linuxnet.overlay.neigh against the real kernel, inside the sandbox (tests/sandbox.sh)."""

from __future__ import annotations

import os

import pytest

from conftest import sh
from _helpers_peers import mac_of, neigh_all, neigh_table, vxlan

N4 = {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'}
N5 = {'ip': '10.0.0.5', 'mac': '02:42:0a:00:00:05'}
N6 = {'ip': 'fd00::6', 'mac': '02:42:0a:00:00:06'}


@pytest.fixture
def ns(scratch_netns):
    name = scratch_netns('nb')
    vxlan(name)
    return name


def args(ns, entries, **kw):
    a = {'netns': ns, 'device': 'vx0', 'entries': entries}
    a.update(kw)
    return a


def not_kernel(ns, dev='vx0'):
    """The table without the NOARP multicast entries the kernel adds on its own (and at its own
    pace, as IPv6 autoconfiguration on the device proceeds)."""
    return {ip: v for ip, v in neigh_table(ns, dev).items() if 'NOARP' not in v[1]}


def permanent(ns, dev='vx0'):
    return {ip: mac for ip, (mac, _st) in neigh_table(ns, dev, 'permanent').items()}


def test_changed_then_unchanged_with_diff(run_module, ns):
    res = run_module('neigh', args(ns, [dict(N4, mac='02:42:0A:00:00:04'), N5, dict(N6, ip='FD00:0::6')]))
    assert res['changed'] is True and len(res['added']) == 3
    table = neigh_table(ns, 'vx0')
    for e in (N4, N5, N6):
        assert table[e['ip']] == (e['mac'], ('PERMANENT',))
    assert res['diff']['after']['neigh'].splitlines()[:3] == [
        '10.0.0.4 lladdr 02:42:0a:00:00:04 PERMANENT', '10.0.0.5 lladdr 02:42:0a:00:00:05 PERMANENT',
        'fd00::6 lladdr 02:42:0a:00:00:06 PERMANENT']
    assert '10.0.0.4' not in res['diff']['before']['neigh']
    again = run_module('neigh', args(ns, [N4, N5, N6]))
    assert again['changed'] is False and again['unchanged'] == 3
    assert again['diff']['before'] == again['diff']['after']


def test_check_mode_predicts_and_touches_nothing(run_module, ns):
    sh('ip -n %s neigh add 10.0.0.9 lladdr 02:42:0a:00:00:09 dev vx0 nud permanent' % ns)
    sh('ip -n %s neigh add 10.0.0.4 lladdr 02:42:0a:00:00:99 dev vx0 nud permanent' % ns)
    before = not_kernel(ns)
    res = run_module('neigh', args(ns, [N4, N5], exclusive=True), check=True)
    assert res['changed'] is True
    assert [e['ip'] for e in res['added']] == ['10.0.0.5']
    assert [(r['before']['mac'], r['after']['mac']) for r in res['replaced']] == [('02:42:0a:00:00:99', N4['mac'])]
    assert [e['ip'] for e in res['removed']] == ['10.0.0.9']
    assert '10.0.0.9 lladdr' in res['diff']['before']['neigh'] and '10.0.0.9' not in res['diff']['after']['neigh']
    assert not_kernel(ns) == before


def test_changed_mac_is_replaced(run_module, ns):
    sh('ip -n %s neigh add 10.0.0.4 lladdr 02:42:0a:00:00:99 dev vx0 nud permanent' % ns)
    sh('ip -n %s neigh add 10.0.0.5 lladdr 02:42:0a:00:00:05 dev vx0 nud reachable' % ns)
    res = run_module('neigh', args(ns, [N4, N5]))
    assert res['changed'] is True and len(res['replaced']) == 2
    assert res['replaced'][1]['before']['state'] in ('REACHABLE', 'STALE', 'DELAY', 'PROBE')
    assert permanent(ns) == {'10.0.0.4': N4['mac'], '10.0.0.5': N5['mac']}
    assert run_module('neigh', args(ns, [N4, N5]))['changed'] is False


def test_exclusive_removes_only_owned_entries_of_the_device(run_module, ns):
    sh('ip -n %s link add br0 type bridge' % ns)
    sh('ip -n %s neigh add 10.0.0.9 lladdr 02:42:0a:00:00:09 dev vx0 nud permanent' % ns)     # stale, ours
    sh('ip -n %s neigh add 10.0.0.10 lladdr 02:42:0a:00:00:10 dev vx0 nud reachable' % ns)    # learned
    sh('ip -n %s neigh add 10.0.0.11 lladdr 02:42:0a:00:00:11 dev br0 nud permanent' % ns)    # other device
    res = run_module('neigh', args(ns, [N4], exclusive=True))
    assert [e['ip'] for e in res['removed']] == ['10.0.0.9']
    table = neigh_table(ns, 'vx0')
    assert '10.0.0.9' not in table and table['10.0.0.4'] == (N4['mac'], ('PERMANENT',))
    assert table['10.0.0.10'][0] == '02:42:0a:00:00:10'
    assert neigh_table(ns, 'br0')['10.0.0.11'][0] == '02:42:0a:00:00:11'
    noarp = {ip for ip, (_m, st) in table.items() if 'NOARP' in st}
    # permanent: false owns the dynamic ones: the learned entry goes, NOARP (kernel) entries stay
    res = run_module('neigh', args(ns, [], exclusive=True, permanent=False))
    assert [e['ip'] for e in res['removed']] == ['10.0.0.10']
    table = neigh_table(ns, 'vx0')
    assert '10.0.0.10' not in table and '10.0.0.4' in table
    assert noarp <= set(table)
    assert neigh_table(ns, 'br0')['10.0.0.11'][0] == '02:42:0a:00:00:11'


def test_dynamic_entries(run_module, ns):
    res = run_module('neigh', args(ns, [N4], permanent=False))
    assert res['changed'] is True
    mac, states = neigh_table(ns, 'vx0')['10.0.0.4']
    assert mac == N4['mac'] and 'PERMANENT' not in states
    assert run_module('neigh', args(ns, [N4], permanent=False))['changed'] is False
    # and back to permanent
    assert run_module('neigh', args(ns, [N4]))['changed'] is True
    assert neigh_table(ns, 'vx0')['10.0.0.4'] == (N4['mac'], ('PERMANENT',))


def test_thousand_entries_in_one_task(run_module, ns):
    entries = [{'ip': '10.1.%d.%d' % (i // 250, 1 + i % 250), 'mac': mac_of(i)} for i in range(1000)]
    res = run_module('neigh', args(ns, entries), diff=False)
    assert res['changed'] is True and len(res['added']) == 1000
    got = permanent(ns)
    assert len(got) == 1000 and got == {e['ip']: e['mac'] for e in entries}
    assert len(neigh_all(ns, 'vx0', 'permanent')) == 1000
    again = run_module('neigh', args(ns, entries, exclusive=True), diff=False)
    assert again['changed'] is False and again['unchanged'] == 1000
    moved = [dict(e, mac='02:42:0c:00:00:%02x' % (i % 256)) if i % 4 == 0 else e
             for i, e in enumerate(entries) if i % 4 != 1]
    res = run_module('neigh', args(ns, moved, exclusive=True), diff=False)
    assert len(res['replaced']) == 250 and len(res['removed']) == 250 and res['added'] == []
    assert permanent(ns) == {e['ip']: e['mac'] for e in moved}


def test_state_absent(run_module, ns):
    run_module('neigh', args(ns, [N4, N5, N6]))
    res = run_module('neigh', args(ns, [{'ip': '10.0.0.4'}, {'ip': 'fd00::6', 'mac': '02:42:0a:00:00:06'},
                                        {'ip': '10.0.0.5', 'mac': '02:42:0a:00:00:77'}], state='absent'))
    assert sorted(e['ip'] for e in res['removed']) == ['10.0.0.4', 'fd00::6']
    assert permanent(ns) == {'10.0.0.5': N5['mac']}
    assert run_module('neigh', args(ns, [{'ip': '10.0.0.4'}], state='absent'))['changed'] is False


@pytest.mark.parametrize('case', ['bad_mac_in_1000', 'bad_ip', 'missing_mac', 'conflict', 'no_device', 'no_netns',
                                  'exclusive_absent'])
def test_bad_input_fails_clearly_and_changes_nothing(run_module, ns, case):
    sh('ip -n %s neigh add 10.0.0.9 lladdr 02:42:0a:00:00:09 dev vx0 nud permanent' % ns)
    before = not_kernel(ns)
    entries = [{'ip': '10.1.%d.%d' % (i // 250, 1 + i % 250), 'mac': mac_of(i)} for i in range(1000)]
    a = args(ns, entries, exclusive=True)
    if case == 'bad_mac_in_1000':
        entries[512]['mac'] = '02:42:0b:00:02'
        expect = "entries[512]: mac '02:42:0b:00:02' is not a MAC address"
    elif case == 'bad_ip':
        entries[9]['ip'] = '10.1.0.256'
        expect = "entries[9]: ip '10.1.0.256' is not an IPv4 or IPv6 address"
    elif case == 'missing_mac':
        del entries[0]['mac']
        expect = 'entries[0]: mac is required with state=present'
    elif case == 'conflict':
        entries.append({'ip': '10.1.0.1', 'mac': '02:42:0a:00:00:01'})
        expect = 'entries[1000]: ip 10.1.0.1 is already listed in entries[0]'
    elif case == 'no_device':
        a['device'] = 'eth9'
        expect = "device 'eth9' does not exist in namespace %s" % ns
    elif case == 'no_netns':
        a['netns'] = 'nb-missing-ns'
        expect = "network namespace 'nb-missing-ns' does not exist"
    else:
        a['state'] = 'absent'
        expect = 'exclusive=true only applies to state=present'
    res = run_module('neigh', a, expect_failure=True, diff=False)
    assert expect in res['msg']
    assert res.get('changed') is False
    assert not_kernel(ns) == before
    assert not os.path.exists('/run/netns/nb-missing-ns')


def test_kernel_refusal_names_each_entry(run_module, ns):
    sh('ip netns exec %s sysctl -qw net.ipv6.conf.vx0.disable_ipv6=1' % ns)
    res = run_module('neigh', args(ns, [N4, N6, N5]), expect_failure=True, diff=False)
    assert 'the kernel refused 1 of 3 neighbour changes on vx0' in res['msg']
    assert 'entry fd00::6 lladdr 02:42:0a:00:00:06 (replace) failed:' in res['msg']
    assert 'IPv6 is disabled on this device' in res['msg']
    assert [f['ip'] for f in res['failed_entries']] == ['fd00::6']
    assert res['changed'] is True
    assert permanent(ns) == {'10.0.0.4': N4['mac'], '10.0.0.5': N5['mac']}
