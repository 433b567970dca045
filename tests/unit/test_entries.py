# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/node/peerdb.py (pure: no kernel, no root)."""

from __future__ import annotations

import os
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as E  # noqa: E402

DEV = {'name': 'vx0', 'mac': '4e:c4:62:39:d9:32', 'ifindex': 2, 'kind': 'vxlan',
       'vxlan': {'vni': 4097, 'port': 4789, 'group': None}}
DEV_REMOTE = {'name': 'vx1', 'mac': '4e:c4:62:39:d9:33', 'ifindex': 3, 'kind': 'vxlan',
              'vxlan': {'vni': 4098, 'port': 4789, 'group': '10.1.1.1'}}
PERM = E.NUD_PERMANENT | E.NUD_NOARP


def cur(mac, dst, port=None, vni=None, state=PERM, self_=True, master=False, via=None):
    """A current FDB entry as _rtnl.fdb_dump returns it."""
    return {'mac': mac, 'dst': dst, 'port': port, 'vni': vni, 'via': via, 'state': state,
            'self': self_, 'master': master}


def want(*items, state='present'):
    entries, errors = E.validate_fdb([dict(i) for i in items], state)
    assert errors == []
    return entries


def ops_of(plan):
    return [(op, e['mac'], e['dst']) for op, e in plan['ops']]


# ---------------------------------------------------------------------------------------------
# values

@pytest.mark.parametrize('raw,norm', [
    ('02:42:0A:00:00:04', '02:42:0a:00:00:04'),
    ('02-42-0a-00-00-04', '02:42:0a:00:00:04'),
    (' 02:42:0a:00:00:04 ', '02:42:0a:00:00:04'),
])
def test_normalize_mac(raw, norm):
    assert E.normalize_mac(raw) == norm


@pytest.mark.parametrize('raw', ['02:42:0a:00:00', '02:42:0a:00:00:zz', '0242.0a00.0004', '02:42-0a:00:00:04',
                                 '', None, '02:42:0a:00:00:04:05', 'x2:42:0a:00:00:04'])
def test_normalize_mac_rejects(raw):
    with pytest.raises(ValueError, match='not a MAC address'):
        E.normalize_mac(raw)


def test_normalize_ip():
    assert E.normalize_ip('192.168.1.5') == '192.168.1.5'
    assert E.normalize_ip('FD00:0000::0004') == 'fd00::4'
    assert E.normalize_ip('::ffff:1.2.3.4') == '::ffff:1.2.3.4'     # as inet_ntop (and the dumps) write it
    for bad in ('192.168.1.256', '10.0.0', '10.0.0.01', 'fd00:::1', 'host.example', '', None, '10.0.0.0/24'):
        with pytest.raises(ValueError, match='not an IPv4 or IPv6 address'):
            E.normalize_ip(bad)
    with pytest.raises(ValueError, match='unspecified'):
        E.normalize_ip('0.0.0.0')


def test_is_multi_mac():
    assert E.is_multi_mac('00:00:00:00:00:00')
    assert E.is_multi_mac('01:00:5e:00:00:05')
    assert E.is_multi_mac('33:33:00:00:00:01')
    assert not E.is_multi_mac('02:42:0a:00:00:04')


# ---------------------------------------------------------------------------------------------
# FDB validation

def test_validate_fdb_normalises_and_merges_exact_duplicates():
    entries, errors = E.validate_fdb([
        {'mac': '02:42:0A:00:00:04', 'dst': '192.168.1.5'},
        {'mac': '02-42-0a-00-00-04', 'dst': '192.168.1.5'},
        {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'},
        {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.6', 'port': '4790', 'vni': 7},
    ])
    assert errors == []
    assert entries == [
        {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5', 'vni': None, 'port': None},
        {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5', 'vni': None, 'port': None},
        {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.6', 'vni': 7, 'port': 4790},
    ]


def test_validate_fdb_reports_every_bad_entry_by_index():
    entries, errors = E.validate_fdb([
        {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'},
        {'mac': '02:42:0a:00:00:zz', 'dst': '192.168.1.5'},
        {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.500'},
        {'mac': '02:42:0a:00:00:06'},
        {'mac': '02:42:0a:00:00:07', 'dst': '10.0.0.1', 'vni': 1 << 24},
        {'mac': '02:42:0a:00:00:08', 'dst': '10.0.0.1', 'port': 0},
        {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.6'},
        'not a dict',
    ])
    assert len(entries) == 1
    assert len(errors) == 7
    assert "entries[1]: mac '02:42:0a:00:00:zz' is not a MAC address" in errors[0]
    assert "entries[2]: dst '192.168.1.500' is not an IPv4 or IPv6 address" in errors[1]
    assert 'entries[3]: dst (the remote VTEP address) is required' in errors[2]
    assert 'entries[4]: vni 16777216 is out of range' in errors[3]
    assert 'entries[5]: port 0 is out of range' in errors[4]
    assert 'entries[6]: mac 02:42:0a:00:00:04 is already listed in entries[0]' in errors[5]
    assert 'entries[7]' in errors[6]


def test_validate_fdb_multi_mac_conflict():
    _entries, errors = E.validate_fdb([
        {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'},
        {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5', 'port': 4790},
    ])
    assert len(errors) == 1 and 'entries[1]' in errors[0] and 'entries[0]' in errors[0]


def test_validate_fdb_absent_allows_mac_only():
    entries, errors = E.validate_fdb([{'mac': '02:42:0a:00:00:04'}], 'absent')
    assert errors == [] and entries[0]['dst'] is None


def test_error_summary_caps_the_list():
    msg = E.error_summary(['e%d' % i for i in range(25)])
    assert msg.startswith('invalid entries, nothing was changed: e0; e1')
    assert 'e19' in msg and 'e20' not in msg and 'and 5 more' in msg


def test_check_fdb_device():
    entries = want({'mac': '02:42:0a:00:00:04', 'dst': 'fd00::1'},
                   {'mac': DEV['mac'], 'dst': '10.0.0.1'},
                   {'mac': '02:42:0a:00:00:05', 'dst': '10.0.0.1'})
    assert len(E.check_fdb_device(entries, DEV)) == 1          # the family is the kernel's call
    errors = E.check_fdb_device(entries, DEV, refused={6: 'Address family not supported by protocol'})
    assert len(errors) == 2
    assert ('entry 02:42:0a:00:00:04 dst fd00::1: device vx0 does not take IPv6 destinations (its local/remote '
            'address is IPv4; the kernel says: Address family not supported by protocol)') == errors[0]
    assert 'is the MAC address of device vx0 itself' in errors[1]
    absent = want({'mac': '00:00:00:00:00:00', 'dst': '10.1.1.1'}, state='absent')
    assert 'default destination of device vx1' in E.check_fdb_device(absent, DEV_REMOTE, 'absent')[0]
    assert E.check_fdb_device(absent, DEV_REMOTE, 'present') == []


# ---------------------------------------------------------------------------------------------
# FDB planning

def test_plan_fdb_adds_into_empty_table():
    plan = E.plan_fdb(want({'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'},
                           {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'},
                           {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.6'}), [], DEV)
    assert ops_of(plan) == [('replace', '02:42:0a:00:00:04', '192.168.1.5'),
                            ('append', '00:00:00:00:00:00', '192.168.1.5'),
                            ('append', '00:00:00:00:00:00', '192.168.1.6')]
    # explicit device defaults, so a later delete finds the same remote
    assert all(e['vni'] == 4097 and e['port'] == 4789 for _op, e in plan['ops'])
    assert len(plan['added']) == 3 and plan['replaced'] == [] and plan['removed'] == []
    assert plan['before'] == []
    assert plan['after'] == ['00:00:00:00:00:00 dst 192.168.1.5', '00:00:00:00:00:00 dst 192.168.1.6',
                             '02:42:0a:00:00:04 dst 192.168.1.5']


def test_plan_fdb_unchanged_when_equal_with_kernel_omitting_defaults():
    current = [cur('02:42:0a:00:00:04', '192.168.1.5'), cur('00:00:00:00:00:00', '192.168.1.5'),
               cur('02:42:0a:00:00:05', '192.168.1.6', port=4790, vni=5000)]
    plan = E.plan_fdb(want({'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5', 'port': 4789, 'vni': 4097},
                           {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'},
                           {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.6', 'port': 4790, 'vni': 5000}),
                      current, DEV, exclusive=True)
    assert plan['ops'] == []
    assert plan['before'] == plan['after']


def test_plan_fdb_replaces_stale_unicast_destination():
    current = [cur('02:42:0a:00:00:04', '192.168.1.9')]
    plan = E.plan_fdb(want({'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'}), current, DEV)
    assert ops_of(plan) == [('replace', '02:42:0a:00:00:04', '192.168.1.5')]
    assert plan['replaced'] == [{'before': {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.9', 'vni': 4097,
                                            'port': 4789},
                                 'after': {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5', 'vni': 4097,
                                           'port': 4789}}]
    assert plan['removed'] == [] and plan['added'] == []
    assert plan['after'] == ['02:42:0a:00:00:04 dst 192.168.1.5']


def test_plan_fdb_replaces_port_or_vni_change_and_dynamic_entry():
    current = [cur('02:42:0a:00:00:04', '192.168.1.5', port=4790),
               cur('02:42:0a:00:00:05', '192.168.1.5', state=E.NUD_REACHABLE)]
    plan = E.plan_fdb(want({'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'},
                           {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.5'}), current, DEV)
    assert ops_of(plan) == [('replace', '02:42:0a:00:00:04', '192.168.1.5'),
                            ('replace', '02:42:0a:00:00:05', '192.168.1.5')]
    assert '02:42:0a:00:00:04 dst 192.168.1.5 port 4790' in plan['before']
    assert '02:42:0a:00:00:05 dst 192.168.1.5 (not permanent)' in plan['before']


def test_plan_fdb_zero_mac_pairs_are_appended_and_compared_by_dst():
    current = [cur('00:00:00:00:00:00', '192.168.1.5'), cur('00:00:00:00:00:00', '192.168.1.7')]
    plan = E.plan_fdb(want({'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'},
                           {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.6'}), current, DEV)
    assert ops_of(plan) == [('append', '00:00:00:00:00:00', '192.168.1.6')]
    # without exclusive the unlisted 192.168.1.7 stays
    assert '00:00:00:00:00:00 dst 192.168.1.7' in plan['after']
    plan = E.plan_fdb(want({'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'},
                           {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.6'}), current, DEV, exclusive=True)
    assert ops_of(plan) == [('delete', '00:00:00:00:00:00', '192.168.1.7'),
                            ('append', '00:00:00:00:00:00', '192.168.1.6')]
    assert plan['removed'] == [{'mac': '00:00:00:00:00:00', 'dst': '192.168.1.7', 'vni': 4097, 'port': 4789}]


def test_plan_fdb_zero_mac_changed_port_deletes_old_remote_first():
    current = [cur('00:00:00:00:00:00', '192.168.1.5', port=4790)]
    plan = E.plan_fdb(want({'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'}), current, DEV)
    assert [op for op, _e in plan['ops']] == ['delete', 'append']
    deleted = plan['ops'][0][1]
    assert deleted['port'] == 4790 and deleted['vni'] == 4097
    assert len(plan['replaced']) == 1 and plan['removed'] == []


def test_plan_fdb_exclusive_never_touches_local_entries():
    current = [
        cur('02:42:0a:00:00:99', '192.168.1.9'),                 # stale remote: removed
        cur('00:00:00:00:00:00', '10.1.1.1'),                    # the device's remote: kept
        cur(DEV_REMOTE['mac'], '10.1.1.1'),                      # the device's own MAC: kept
        cur('02:42:0a:00:00:98', None),                          # no destination: kept
        cur('b2:a5:aa:dd:83:41', None, self_=False, master=True, state=E.NUD_PERMANENT),  # bridge's: kept
        cur('02:42:0a:00:00:97', '192.168.1.9', state=E.NUD_REACHABLE),  # learned remote: removed
    ]
    plan = E.plan_fdb([], current, DEV_REMOTE, exclusive=True)
    assert sorted(ops_of(plan)) == [('delete', '02:42:0a:00:00:97', '192.168.1.9'),
                                    ('delete', '02:42:0a:00:00:99', '192.168.1.9')]
    assert len(plan['removed']) == 2
    assert '00:00:00:00:00:00 dst 10.1.1.1 (device default)' in plan['after']
    # listing the default destination counts as present, not as a change
    plan = E.plan_fdb(want({'mac': '00:00:00:00:00:00', 'dst': '10.1.1.1'}), current[:2], DEV_REMOTE,
                      exclusive=True)
    assert ops_of(plan) == [('delete', '02:42:0a:00:00:99', '192.168.1.9')]


def test_plan_fdb_deletes_before_sets():
    current = [cur('02:42:0a:00:00:99', '192.168.1.9')]
    plan = E.plan_fdb(want({'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'}), current, DEV, exclusive=True)
    assert [op for op, _e in plan['ops']] == ['delete', 'replace']


def test_plan_fdb_absent_removes_exactly_the_listed():
    current = [cur('02:42:0a:00:00:04', '192.168.1.5'), cur('02:42:0a:00:00:05', '192.168.1.6'),
               cur('00:00:00:00:00:00', '192.168.1.5'), cur('00:00:00:00:00:00', '192.168.1.6'),
               cur('00:00:00:00:00:00', '10.1.1.1')]
    plan = E.plan_fdb(want({'mac': '02:42:0a:00:00:04'},
                           {'mac': '02:42:0a:00:00:05', 'dst': '192.168.1.7'},   # other dst: kept
                           {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.6'},
                           {'mac': '02:42:0a:00:00:06', 'dst': '192.168.1.6'},   # not there: nothing
                           state='absent'), current, DEV_REMOTE, state='absent')
    assert ops_of(plan) == [('delete', '02:42:0a:00:00:04', '192.168.1.5'),
                            ('delete', '00:00:00:00:00:00', '192.168.1.6')]
    assert len(plan['removed']) == 2 and plan['added'] == []
    # the device default is never removed by a MAC-only absent
    plan = E.plan_fdb(want({'mac': '00:00:00:00:00:00'}, state='absent'), current, DEV_REMOTE, state='absent')
    assert sorted(ops_of(plan)) == [('delete', '00:00:00:00:00:00', '192.168.1.5'),
                                    ('delete', '00:00:00:00:00:00', '192.168.1.6')]
    # vni/port narrow the match
    plan = E.plan_fdb(want({'mac': '02:42:0a:00:00:04', 'port': 4790}, state='absent'), current, DEV_REMOTE,
                      state='absent')
    assert plan['ops'] == []


def test_plan_fdb_thousand_entries_second_run_is_empty():
    desired = want(*({'mac': '02:42:0b:00:%02x:%02x' % (i // 256, i % 256), 'dst': '192.168.1.%d' % (5 + i % 4)}
                     for i in range(1000)))
    plan = E.plan_fdb(desired, [], DEV)
    assert len(plan['ops']) == 1000 and len(plan['after']) == 1000
    current = [cur(e['mac'], e['dst']) for _op, e in plan['ops']]
    again = E.plan_fdb(desired, current, DEV, exclusive=True)
    assert again['ops'] == [] and again['before'] == again['after'] == plan['after']


# ---------------------------------------------------------------------------------------------
# neighbours

def ncur(ip, mac, state=E.NUD_PERMANENT):
    return {'ip': ip, 'mac': mac, 'state': state, 'flags': 0}


def nwant(*items, state='present'):
    entries, errors = E.validate_neigh([dict(i) for i in items], state)
    assert errors == []
    return entries


def test_validate_neigh():
    entries, errors = E.validate_neigh([
        {'ip': '10.0.0.4', 'mac': '02:42:0A:00:00:04'},
        {'ip': 'FD00::4', 'mac': '02:42:0a:00:00:04'},
        {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'},           # exact duplicate: merged
        {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:05'},           # conflict
        {'ip': '10.0.0.300', 'mac': '02:42:0a:00:00:05'},
        {'ip': '10.0.0.6', 'mac': 'zz'},
        {'ip': '10.0.0.7'},
        {'ip': '10.0.0.8', 'mac': '00:00:00:00:00:00'},
    ])
    assert entries == [{'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'}, {'ip': 'fd00::4', 'mac': '02:42:0a:00:00:04'}]
    assert len(errors) == 5
    assert 'entries[3]: ip 10.0.0.4 is already listed in entries[0]' in errors[0]
    assert "entries[4]: ip '10.0.0.300' is not an IPv4 or IPv6 address" in errors[1]
    assert "entries[5]: mac 'zz' is not a MAC address" in errors[2]
    assert 'entries[6]: mac is required' in errors[3]
    assert 'entries[7]' in errors[4]
    assert E.validate_neigh([{'ip': '10.0.0.7'}], 'absent') == ([{'ip': '10.0.0.7', 'mac': None}], [])


def test_plan_neigh_add_replace_unchanged():
    current = [ncur('10.0.0.4', '02:42:0a:00:00:04'), ncur('10.0.0.5', '02:42:0a:00:00:99'),
               ncur('10.0.0.6', '02:42:0a:00:00:06', E.NUD_STALE)]
    plan = E.plan_neigh(nwant({'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'},
                              {'ip': '10.0.0.5', 'mac': '02:42:0a:00:00:05'},
                              {'ip': '10.0.0.6', 'mac': '02:42:0a:00:00:06'},
                              {'ip': '10.0.0.7', 'mac': '02:42:0a:00:00:07'}), current)
    assert [(op, e['ip']) for op, e in plan['ops']] == [
        ('replace', '10.0.0.5'), ('replace', '10.0.0.6'), ('replace', '10.0.0.7')]
    assert len(plan['replaced']) == 2 and len(plan['added']) == 1
    assert plan['replaced'][1]['before']['state'] == 'STALE'
    assert plan['after'] == ['10.0.0.4 lladdr 02:42:0a:00:00:04 PERMANENT', '10.0.0.5 lladdr 02:42:0a:00:00:05 PERMANENT',
                             '10.0.0.6 lladdr 02:42:0a:00:00:06 PERMANENT', '10.0.0.7 lladdr 02:42:0a:00:00:07 PERMANENT']


def test_plan_neigh_dynamic_mode():
    current = [ncur('10.0.0.4', '02:42:0a:00:00:04', E.NUD_STALE),
               ncur('10.0.0.5', '02:42:0a:00:00:05'),
               ncur('10.0.0.6', '02:42:0a:00:00:06', E.NUD_FAILED)]
    plan = E.plan_neigh(nwant({'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'},
                              {'ip': '10.0.0.5', 'mac': '02:42:0a:00:00:05'},
                              {'ip': '10.0.0.6', 'mac': '02:42:0a:00:00:06'}), current, permanent=False)
    assert [(op, e['ip'], e['state']) for op, e in plan['ops']] == [
        ('replace', '10.0.0.5', E.NUD_REACHABLE), ('replace', '10.0.0.6', E.NUD_REACHABLE)]


def test_plan_neigh_exclusive_owns_only_its_kind():
    current = [ncur('10.0.0.9', '02:42:0a:00:00:09'),                         # permanent, unlisted
               ncur('10.0.0.10', '02:42:0a:00:00:10', E.NUD_REACHABLE),       # learned
               ncur('ff02::16', '33:33:00:00:00:16', E.NUD_NOARP),            # kernel's own
               ncur('10.0.0.4', '02:42:0a:00:00:04')]
    listed = nwant({'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'})
    plan = E.plan_neigh(listed, current, exclusive=True)
    assert [(op, e['ip']) for op, e in plan['ops']] == [('delete', '10.0.0.9')]
    plan = E.plan_neigh(listed, current, exclusive=True, permanent=False)
    # dynamic mode owns the learned entry; the listed permanent one becomes dynamic; NOARP stays
    assert [(op, e['ip']) for op, e in plan['ops']] == [('delete', '10.0.0.10'), ('replace', '10.0.0.4')]
    assert plan['ops'][0][0] == 'delete'
    assert E.neigh_is_ours(current[2], permanent=False) is False


def test_plan_neigh_absent():
    current = [ncur('10.0.0.4', '02:42:0a:00:00:04'), ncur('10.0.0.5', '02:42:0a:00:00:05', E.NUD_STALE),
               ncur('10.0.0.6', '02:42:0a:00:00:06')]
    plan = E.plan_neigh(nwant({'ip': '10.0.0.4'}, {'ip': '10.0.0.5', 'mac': '02:42:0a:00:00:05'},
                              {'ip': '10.0.0.6', 'mac': '02:42:0a:00:00:99'}, {'ip': '10.0.0.7'}, state='absent'),
                        current, state='absent')
    assert [(op, e['ip']) for op, e in plan['ops']] == [('delete', '10.0.0.4'), ('delete', '10.0.0.5')]
    assert plan['after'] == ['10.0.0.6 lladdr 02:42:0a:00:00:06 PERMANENT']


def test_plan_neigh_sorts_by_address():
    current = [ncur('10.0.0.10', 'aa:00:00:00:00:01'), ncur('fd00::1', 'aa:00:00:00:00:02'),
               ncur('10.0.0.9', 'aa:00:00:00:00:03')]
    plan = E.plan_neigh([], current)
    assert [line.split()[0] for line in plan['before']] == ['10.0.0.9', '10.0.0.10', 'fd00::1']


# --- the bridge's entries on a VTEP's port ---------------------------------------------------------

def _port(mac, state, master=True, self_=False, vlan=None):
    return {'mac': mac, 'state': state, 'master': master, 'self': self_, 'vlan': vlan, 'dst': None}


def test_port_fdb_is_one_static_entry_per_remote_mac_and_nothing_learned():
    a, b, c, own = '02:42:0a:00:00:03', '02:42:0a:00:00:04', '02:42:0a:00:00:09', '9a:00:00:00:00:01'
    current = [_port(own, E.NUD_PERMANENT),                  # the kernel's entry for the port's own MAC
               _port(a, E.NUD_NOARP),                        # static: kept
               _port(b, E.NUD_REACHABLE),                    # learned, still wanted: made static in place
               _port(c, E.NUD_STALE),                        # learned from a task that went
               _port(a, E.NUD_PERMANENT | E.NUD_NOARP, master=False, self_=True)]   # the VTEP's own: not ours
    plan = E.plan_port_fdb([a, b, '02:42:0a:00:00:05'], current)
    assert [(op, e['mac']) for op, e in plan['ops']] == [('delete', c), ('replace', b), ('replace', '02:42:0a:00:00:05')]
    assert plan['added'] == ['02:42:0a:00:00:05'] and plan['removed'] == ['%s learned' % c]
    assert plan['replaced'] == [{'before': '%s learned' % b, 'after': '%s static' % b}]
    assert plan['after'] == ['%s static' % m for m in (a, b, '02:42:0a:00:00:05')]
    assert E.plan_port_fdb([a], [_port(a, E.NUD_NOARP)])['ops'] == []
    # an entry on a VLAN is not the plan's (the overlay's bridges have none): it goes
    assert [op for op, _e in E.plan_port_fdb([a], [_port(a, E.NUD_NOARP, vlan=5)])['ops']] == ['delete', 'replace']


def test_port_fdb_leaves_the_kernels_per_vlan_copies_to_their_untagged_entry():
    # Debian 12's kernel (6.1, bridge VLANs built in) copies every untagged add to the port's VLAN 1,
    # even with VLAN filtering off; the VM scenario's second run deleted that copy and so was not
    # idempotent (the next add made it again)
    a, gone = '02:42:0a:00:00:03', '02:42:0a:00:00:09'
    current = [_port(a, E.NUD_NOARP), _port(a, E.NUD_NOARP, vlan=1), _port('9a:00:00:00:00:01', E.NUD_PERMANENT),
               _port('9a:00:00:00:00:01', E.NUD_PERMANENT, vlan=1)]
    plan = E.plan_port_fdb([a], current)
    assert plan['ops'] == [] and plan['before'] == plan['after'] == ['%s static' % a]
    # a removed task's MAC: one untagged delete, which the kernel also applies to the copies
    plan = E.plan_port_fdb([a], current + [_port(gone, E.NUD_NOARP), _port(gone, E.NUD_NOARP, vlan=1)])
    assert [(op, e['mac'], e['vlan']) for op, e in plan['ops']] == [('delete', gone, None)]
    assert plan['removed'] == ['%s static' % gone]
