# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/kernel/links.py: validation, planning and message parsing (no root)."""

from __future__ import annotations

import contextlib
import os
import random
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links  # noqa: E402

LinkError = _linkplan.LinkError


# --- names, MACs, addresses ------------------------------------------------------------------

@pytest.mark.parametrize('name', ['br0', 'eth0', 'vx-001001-abcde', 'a' * 15, 'veth.1@x', 'tést'])
def test_ifname_ok(name):
    assert _linkplan.validate_ifname(name) == name


def test_ifname_too_long_names_ifnamsiz():
    with pytest.raises(LinkError) as err:
        _linkplan.validate_ifname('a' * 16, 'peer')
    assert 'peer' in str(err.value) and '16 bytes' in str(err.value) and 'IFNAMSIZ' in str(err.value)
    assert 'at most 15' in str(err.value)


def test_ifname_counts_bytes_not_characters():
    with pytest.raises(LinkError, match='IFNAMSIZ'):
        _linkplan.validate_ifname('é' * 8)   # 16 bytes in UTF-8


@pytest.mark.parametrize('name', ['', '.', '..', 'a/b', 'a:b', 'a b', 'a\tb', None])
def test_ifname_bad(name):
    with pytest.raises(LinkError):
        _linkplan.validate_ifname(name)


def test_mtu():
    assert _linkplan.validate_mtu(None) is None
    assert _linkplan.validate_mtu(1450) == 1450
    for bad in (67, 65536, 0):
        with pytest.raises(LinkError, match=str(bad)):
            _linkplan.validate_mtu(bad)


def test_mac_normalised():
    assert _linkplan.normalize_mac('02:42:0A:00:00:03') == '02:42:0a:00:00:03'
    assert _linkplan.normalize_mac('02-42-0a-00-00-03') == '02:42:0a:00:00:03'
    assert _linkplan.normalize_mac(None) is None


@pytest.mark.parametrize('mac,word', [('02:42:0a:00:00', 'not a MAC'), ('zz:42:0a:00:00:03', 'not a MAC'),
                                      ('01:00:5e:00:00:01', 'multicast'), ('00:00:00:00:00:00', 'all-zero')])
def test_mac_bad(mac, word):
    with pytest.raises(LinkError, match=word):
        _linkplan.normalize_mac(mac, 'peer_mac')


def test_normalize_ip():
    assert _linkplan.normalize_ip('2001:DB8:0::1') == '2001:db8::1'
    assert _linkplan.normalize_ip(' 192.0.2.1 ') == '192.0.2.1'
    with pytest.raises(LinkError, match="'192.0.2.300'"):
        _linkplan.normalize_ip('192.0.2.300', 'local')


def test_cidrs_normalised_sorted_unique_host_bits_kept():
    got = _linkplan.normalize_cidrs(['10.0.0.3/24', '2001:DB8::1/64', '10.0.0.1/24', '10.0.0.3/24'])
    assert got == ['10.0.0.1/24', '10.0.0.3/24', '2001:db8::1/64']
    assert _linkplan.normalize_cidrs(None) is None
    assert _linkplan.normalize_cidrs([]) == []


@pytest.mark.parametrize('value,word', [('10.0.0.1', 'no prefix length'), ('10.0.0.1/33', 'not an address'),
                                        ('foo/24', 'not an address')])
def test_cidrs_bad(value, word):
    with pytest.raises(LinkError) as err:
        _linkplan.normalize_cidrs([value], 'peer_addresses')
    assert word in str(err.value) and value in str(err.value) and 'peer_addresses' in str(err.value)


def test_plan_addresses_exact_but_keeps_kernel_link_local():
    current = ['10.0.0.1/24', '10.0.9.9/24', 'fe80::1/64', '2001:db8::5/64']
    add, remove = _linkplan.plan_addresses(['10.0.0.1/24', '10.0.1.1/24'], current)
    assert add == ['10.0.1.1/24']
    assert remove == ['10.0.9.9/24', '2001:db8::5/64']
    assert _linkplan.plan_addresses(None, current) == ([], [])
    assert _linkplan.plan_addresses([], ['fe80::1/64']) == ([], [])
    # a link-local address the user lists is managed like any other
    assert _linkplan.plan_addresses(['fe80::2/64'], ['fe80::1/64']) == (['fe80::2/64'], [])


def test_plan_addresses_prefix_length_matters():
    assert _linkplan.plan_addresses(['10.0.0.1/24'], ['10.0.0.1/16']) == (['10.0.0.1/24'], ['10.0.0.1/16'])


def test_visible_addresses():
    assert _linkplan.visible_addresses(['fe80::1/64', '10.0.0.1/24']) == ['10.0.0.1/24']
    assert _linkplan.visible_addresses(['fe80::1/64', '10.0.0.1/24'], ['fe80::1/64']) == ['10.0.0.1/24', 'fe80::1/64']


# --- routes ------------------------------------------------------------------------------------

def test_routes_normalised():
    got = _linkplan.normalize_routes([{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}, {'dst': 'default', 'via': '10.0.0.1'},
                                     {'dst': 'default', 'via': '2001:DB8::1'}, {'dst': '12.0.0.0/8'},
                                     {'dst': '11.1.1.0/24', 'via': '10.0.0.1'}, {'dst': '13.0.0.0/8', 'via': ''}])
    assert got == [{'dst': '0.0.0.0/0', 'via': '10.0.0.1'}, {'dst': '11.1.1.0/24', 'via': '10.0.0.1'},
                   {'dst': '12.0.0.0/8', 'via': None}, {'dst': '13.0.0.0/8', 'via': None},
                   {'dst': '::/0', 'via': '2001:db8::1'}]
    assert _linkplan.normalize_routes(None) is None


@pytest.mark.parametrize('route,words', [
    ({'dst': '11.1.1.5/24', 'via': '10.0.0.1'}, ['peer_routes[0]', '11.1.1.5/24', 'host bits']),
    ({'dst': '11.1.1.0/24', 'via': '2001:db8::1'}, ['same address family']),
    ({'dst': '11.1.1.0/24', 'via': 'gateway'}, ["'gateway'", 'not an IPv4 or IPv6']),
    ({'via': '10.0.0.1'}, ['needs a dst']),
    ({'dst': 'nowhere'}, ["'nowhere'"]),
])
def test_routes_bad(route, words):
    with pytest.raises(LinkError) as err:
        _linkplan.normalize_routes([route], 'peer_routes')
    for word in words:
        assert word in str(err.value)


def test_plan_routes():
    current = [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}, {'dst': '12.0.0.0/8', 'via': '10.0.0.1'}]
    desired = [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}, {'dst': '12.0.0.0/8', 'via': '10.0.0.2'}]
    add, remove = _linkplan.plan_routes(desired, current)
    assert add == [{'dst': '12.0.0.0/8', 'via': '10.0.0.2'}]
    assert remove == [{'dst': '12.0.0.0/8', 'via': '10.0.0.1'}]
    assert _linkplan.plan_routes(None, current) == ([], [])
    assert _linkplan.plan_routes([], current) == ([], current)


def test_unreachable_gateways():
    routes = [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}, {'dst': '12.0.0.0/8', 'via': '10.9.0.1'},
              {'dst': '13.0.0.0/8', 'via': None}, {'dst': '2001:db8:1::/48', 'via': 'fe80::1'}]
    assert _linkplan.unreachable_gateways(routes, ['10.0.0.3/24']) == [routes[1]]
    assert _linkplan.unreachable_gateways(routes, []) == routes[:2]
    assert _linkplan.unreachable_gateways(None, []) == []


# --- attributes and vxlan plans ------------------------------------------------------------

def test_plan_attrs_none_unmanaged_empty_string_means_none():
    current = {'mtu': 1500, 'master': 'br0', 'up': True}
    assert _linkplan.plan_attrs({'mtu': None, 'master': None, 'up': True}, current, ('mtu', 'master', 'up')) == {}
    assert _linkplan.plan_attrs({'master': ''}, current, ('master',)) == {'master': ('br0', None)}
    assert _linkplan.plan_attrs({'master': ''}, {'master': None}, ('master',)) == {}
    assert _linkplan.plan_attrs({'up': False, 'mtu': 1450}, current, ('mtu', 'up')) == {
        'mtu': (1500, 1450), 'up': (True, False)}
    assert _linkplan.plan_attrs({'mtu': 1450}, None, ('mtu',)) == {'mtu': (None, 1450)}


def vx_desired(**kw):
    want = {'vni': 4097, 'dstport': 4789, 'local': None, 'learning': False, 'proxy': True, 'l2miss': False,
            'l3miss': False, 'ttl': None, 'mtu': None, 'master': None, 'up': True}
    want.update(kw)
    return want


def vx_current(**kw):
    cur = {'name': 'vxlan0', 'netns': 'sb', 'ifindex': 3, 'vni': 4097, 'dstport': 4789, 'local': None,
           'learning': False, 'proxy': True, 'l2miss': False, 'l3miss': False, 'ttl': 0, 'mtu': 1450,
           'master': 'br0', 'up': True, 'mac': '02:00:00:00:00:01', 'socket_netns': None}
    cur.update(kw)
    return cur


def test_plan_vxlan_create():
    plan = _linkplan.plan_vxlan(vx_desired(mtu=1450, master='br0'), None)
    assert plan['action'] == 'create'
    assert plan['changes']['vni'] == (None, 4097) and plan['changes']['master'] == (None, 'br0')
    assert 'ttl' not in plan['changes'] and 'local' not in plan['changes']
    assert _linkplan.plan_vxlan(vx_desired(master=''), None)['changes'].get('master') is None


def test_plan_vxlan_nothing_to_do():
    assert _linkplan.plan_vxlan(vx_desired(mtu=1450, master='br0'), vx_current()) == {
        'action': 'none', 'changes': {}, 'reasons': []}


@pytest.mark.parametrize('change', [{'learning': True}, {'ttl': 9}, {'mtu': 1400}, {'master': 'br1'},
                                    {'master': ''}, {'up': False}, {'local': '192.0.2.1'}])
def test_plan_vxlan_in_place(change):
    plan = _linkplan.plan_vxlan(vx_desired(**change), vx_current())
    assert plan['action'] == 'update' and plan['reasons'] == []
    assert list(plan['changes']) == list(change)


def test_plan_vxlan_local_same_family_in_place():
    plan = _linkplan.plan_vxlan(vx_desired(local='2001:db8::2'), vx_current(local='2001:db8::1'))
    assert plan['action'] == 'update'


@pytest.mark.parametrize('change,word', [({'vni': 4098}, 'vni'), ({'dstport': 4790}, 'dstport'),
                                         ({'proxy': False}, 'proxy'), ({'l2miss': True}, 'l2miss'),
                                         ({'l3miss': True}, 'l3miss')])
def test_plan_vxlan_recreate(change, word):
    plan = _linkplan.plan_vxlan(vx_desired(learning=True, **change), vx_current())
    assert plan['action'] == 'recreate'
    assert len(plan['reasons']) == 1 and plan['reasons'][0].startswith(word + ' cannot be changed in place')
    assert plan['changes']['learning'] == (False, True)


@pytest.mark.parametrize('before,after', [(None, '2001:db8::1'), ('192.0.2.1', '2001:db8::1'),
                                          ('2001:db8::1', '192.0.2.1')])
def test_plan_vxlan_local_family_change_recreates(before, after):
    plan = _linkplan.plan_vxlan(vx_desired(local=after), vx_current(local=before))
    assert plan['action'] == 'recreate' and 'address family' in plan['reasons'][0]


def test_plan_vxlan_socket_in_wrong_namespace_recreates():
    plan = _linkplan.plan_vxlan(vx_desired(mtu=1450, master='br0'), vx_current(socket_netns='sb'))
    assert plan['action'] == 'recreate'
    assert 'UDP socket lives in namespace sb' in plan['reasons'][0]


def test_local_changes_in_place():
    assert _linkplan.local_changes_in_place(None, '192.0.2.1')
    assert _linkplan.local_changes_in_place('192.0.2.1', '192.0.2.2')
    assert _linkplan.local_changes_in_place('2001:db8::1', '2001:db8::2')
    assert not _linkplan.local_changes_in_place(None, '2001:db8::1')
    assert not _linkplan.local_changes_in_place('192.0.2.1', '2001:db8::1')


def test_validate_vni_and_port():
    assert _linkplan.validate_vni(1) == 1
    assert _linkplan.validate_vni(16777215) == 16777215
    for bad in (0, 16777216, -1, None):
        with pytest.raises(LinkError, match='1-16777215'):
            _linkplan.validate_vni(bad)
    with pytest.raises(LinkError, match='dstport 0'):
        _linkplan.validate_port(0)


def test_temp_name_like_docker():
    rng = random.Random(7)
    names = {_linkplan.vxlan_temp_name(4097, rng) for _i in range(50)}
    assert len(names) == 50
    for name in names:
        assert name.startswith('vx-001001-') and len(name) == 15
        _linkplan.validate_ifname(name)
    assert _linkplan.vxlan_temp_name(16777215, rng).startswith('vx-ffffff-')


def dev(netns, name, vni=4097, port=4789, ipv6=False, here=True):
    return {'netns': netns, 'name': name, 'vni': vni, 'dstport': port, 'ipv6': ipv6, 'socket_here': here}


def test_vni_clashes_follow_the_kernels_rule():
    devices = [dev('sb1', 'vxlan0'), dev('sb2', 'vxlan0', port=4790), dev('sb3', 'vxlan0', ipv6=True),
               dev('sb4', 'vxlan0', here=False), dev(None, 'vx9'), dev('sb5', 'vxlan1', vni=4098)]
    got = _linkplan.vni_clashes(devices, 4097, 4789, False)
    assert [(d['netns'], d['name']) for d in got] == [('sb1', 'vxlan0'), (None, 'vx9')]
    assert _linkplan.vni_clashes(devices, 4097, 4789, False, exclude=('sb1', 'vxlan0')) == [devices[4]]
    assert _linkplan.vni_clashes(devices, 4097, 4789, True) == [devices[2]]
    assert _linkplan.vni_clashes(devices, 4099, 4789, False) == []


def test_clash_message_names_the_place():
    msg = _linkplan.clash_message(4097, 4789, [dev('sb1', 'vxlan0'), dev(None, 'vx9')])
    assert 'VNI 4097' in msg and 'dstport 4789' in msg
    assert 'vxlan0 in namespace sb1' in msg and 'vx9 in the namespace the module runs in' in msg
    assert 'already used' in msg


def test_wrong_kind_message():
    assert _linkplan.wrong_kind_message('br0', 'X', 'veth', 'bridge') == 'device br0 in namespace X is a veth, not a bridge'
    assert _linkplan.wrong_kind_message('lo', None, None, 'vxlan') == (
        'device lo in the namespace the module runs in is a device without a link kind (loopback or hardware), '
        'not a vxlan')


# --- veth pairs ----------------------------------------------------------------------------

def end(ifindex, link, kind='veth'):
    return {'ifindex': ifindex, 'link': link, 'kind': kind}


def test_is_veth_pair():
    assert _linkplan.is_veth_pair(end(3, 2), end(2, 3), True, True)
    assert not _linkplan.is_veth_pair(end(3, 2), end(2, 3), False, True)   # same indexes, other namespace
    assert not _linkplan.is_veth_pair(end(3, 2), end(2, 3), True, False)
    assert not _linkplan.is_veth_pair(end(3, 4), end(2, 3), True, True)
    assert not _linkplan.is_veth_pair(end(3, 2), end(2, 3, kind='bridge'), True, True)
    assert not _linkplan.is_veth_pair(None, end(2, 3), True, True)


# --- parsing real netlink messages (encoded and decoded by pyroute2, as the kernel's are) -----

pyroute2 = pytest.importorskip('pyroute2')


def decoded(cls, fields, attrs):
    msg = cls()
    for key, value in fields.items():
        msg[key] = value
    msg['attrs'] = attrs
    msg.encode()
    out = cls(msg.data)
    out.decode()
    return out


def ifinfmsg(index, flags, attrs):
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg as cls
    return decoded(cls, {'index': index, 'flags': flags}, attrs)


def test_link_info_vxlan():
    msg = ifinfmsg(5, 0x1, [
        ('IFLA_IFNAME', 'vxlan0'), ('IFLA_MTU', 1450), ('IFLA_ADDRESS', '02:AB:00:00:00:01'), ('IFLA_MASTER', 2),
        ('IFLA_LINKINFO', {'attrs': [('IFLA_INFO_KIND', 'vxlan'), ('IFLA_INFO_DATA', {'attrs': [
            ('IFLA_VXLAN_ID', 4097), ('IFLA_VXLAN_PORT', 4789), ('IFLA_VXLAN_LOCAL6', '2001:db8::1'),
            ('IFLA_VXLAN_LEARNING', 0), ('IFLA_VXLAN_PROXY', 1), ('IFLA_VXLAN_L2MISS', 1), ('IFLA_VXLAN_L3MISS', 0),
            ('IFLA_VXLAN_TTL', 9)]})]}),
        ('IFLA_LINK_NETNSID', 0)])
    info = _links.link_info(msg)
    assert info == {'name': 'vxlan0', 'ifindex': 5, 'kind': 'vxlan', 'mtu': 1450, 'mac': '02:ab:00:00:00:01',
                    'up': True, 'master': 2, 'link': None, 'link_netnsid': 0,
                    'vxlan': {'vni': 4097, 'dstport': 4789, 'local': '2001:db8::1', 'ipv6': True, 'learning': False,
                              'proxy': True, 'l2miss': True, 'l3miss': False, 'ttl': 9}}


def test_link_info_bridge_and_down_loopback():
    info = _links.link_info(ifinfmsg(2, 0x1002, [('IFLA_IFNAME', 'br0'), ('IFLA_MTU', 1500),
                                                 ('IFLA_LINKINFO', {'attrs': [('IFLA_INFO_KIND', 'bridge')]})]))
    assert (info['kind'], info['up'], info['master'], info['link_netnsid']) == ('bridge', False, None, None)
    assert 'vxlan' not in info
    lo = _links.link_info(ifinfmsg(1, 0x8, [('IFLA_IFNAME', 'lo')]))
    assert lo['kind'] is None and lo['up'] is False


def test_link_info_veth_points_to_peer():
    info = _links.link_info(ifinfmsg(3, 0x1, [('IFLA_IFNAME', 'veth1'), ('IFLA_LINK', 2), ('IFLA_LINK_NETNSID', 1),
                                              ('IFLA_LINKINFO', {'attrs': [('IFLA_INFO_KIND', 'veth')]})]))
    assert (info['kind'], info['link'], info['link_netnsid']) == ('veth', 2, 1)


def rtmsg(family, table, proto, rtype, dst_len, attrs):
    from pyroute2.netlink.rtnl.rtmsg import rtmsg as cls
    return decoded(cls, {'family': family, 'table': table, 'proto': proto, 'type': rtype, 'dst_len': dst_len}, attrs)


def test_route_entry():
    assert _links.route_entry(rtmsg(2, 254, 4, 1, 24, [('RTA_TABLE', 254), ('RTA_DST', '11.1.1.0'),
                                                       ('RTA_GATEWAY', '10.0.0.1'), ('RTA_OIF', 2)])) == {
        'dst': '11.1.1.0/24', 'via': '10.0.0.1'}
    assert _links.route_entry(rtmsg(2, 254, 4, 1, 0, [('RTA_TABLE', 254), ('RTA_GATEWAY', '10.0.0.1')])) == {
        'dst': '0.0.0.0/0', 'via': '10.0.0.1'}
    assert _links.route_entry(rtmsg(10, 254, 3, 1, 0, [('RTA_TABLE', 254), ('RTA_GATEWAY', 'fe80::1')])) == {
        'dst': '::/0', 'via': 'fe80::1'}
    assert _links.route_entry(rtmsg(2, 254, 4, 1, 8, [('RTA_TABLE', 254), ('RTA_DST', '12.0.0.0')])) == {
        'dst': '12.0.0.0/8', 'via': None}
    # the kernel's own connected route, the local table and non-unicast routes are left alone
    assert _links.route_entry(rtmsg(2, 254, 2, 1, 24, [('RTA_TABLE', 254), ('RTA_DST', '10.0.0.0')])) is None
    assert _links.route_entry(rtmsg(2, 255, 2, 2, 32, [('RTA_TABLE', 255), ('RTA_DST', '10.0.0.3')])) is None
    assert _links.route_entry(rtmsg(2, 254, 4, 2, 32, [('RTA_TABLE', 254), ('RTA_DST', '10.0.0.9')])) is None


def test_addr_cidr():
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg as cls
    v4 = decoded(cls, {'family': 2, 'prefixlen': 24, 'index': 2},
                 [('IFA_ADDRESS', '10.0.0.3'), ('IFA_LOCAL', '10.0.0.3')])
    v6 = decoded(cls, {'family': 10, 'prefixlen': 64, 'index': 2}, [('IFA_ADDRESS', '2001:db8:0::3')])
    assert _links.addr_cidr(v4) == '10.0.0.3/24'
    assert _links.addr_cidr(v6) == '2001:db8::3/64'


# --- create_vxlan: the temporary device never survives a failure -----------------------------

class FakeIPRoute:
    """Records link requests; devices is {ifname: index}; fail names an operation to refuse."""

    def __init__(self, label, devices=None, fail=None, log=None):
        self.label, self.devices, self.fail = label, dict(devices or {}), fail
        self.log = log if log is not None else []
        self.peer = None

    def link_lookup(self, ifname):
        return [self.devices[ifname]] if ifname in self.devices else []

    def link(self, command, **kw):
        self.log.append((self.label, command, kw))
        op = command if command != 'set' else next(k for k in ('net_ns_fd', 'ifname', 'master', 'state') if k in kw)
        if op == self.fail:
            raise _links.NetlinkError(17, 'refused')
        if command == 'add':
            self.devices[kw['ifname']] = 7
        elif command == 'del':
            self.devices = {k: v for k, v in self.devices.items() if v != kw['index']}
        elif 'net_ns_fd' in kw:
            name = next(k for k, v in self.devices.items() if v == kw['index'])
            del self.devices[name]
            self.peer.devices[name] = 9
        elif 'ifname' in kw:
            old = next(k for k, v in self.devices.items() if v == kw['index'])
            self.devices[kw['ifname']] = self.devices.pop(old)
        return []


@pytest.fixture
def fakes(monkeypatch):
    @contextlib.contextmanager
    def fake_fd(netns):
        yield 99
    monkeypatch.setattr(_links, 'ns_fd', fake_fd)
    log = []
    home = FakeIPRoute('home', log=log)
    target = FakeIPRoute('target', log=log)
    home.peer = target
    return home, target, log


ATTRS = {'vxlan_id': 4097, 'vxlan_port': 4789}


def test_create_vxlan_moves_renames_enslaves_raises(fakes):
    home, target, log = fakes
    index = _links.create_vxlan(home, target, 'sb', 'vxlan0', ATTRS, master=2, up=True, rng=random.Random(1))
    assert index == 9 and target.devices == {'vxlan0': 9} and home.devices == {}
    ops = [(who, cmd, sorted(kw)) for who, cmd, kw in log]
    assert ops[0] == ('home', 'add', ['ifname', 'kind', 'vxlan_id', 'vxlan_port'])
    assert log[0][2]['ifname'].startswith('vx-001001-') and log[0][2]['kind'] == 'vxlan'
    assert ops[1:] == [('home', 'set', ['index', 'net_ns_fd']), ('target', 'set', ['ifname', 'index']),
                       ('target', 'set', ['index', 'master']), ('target', 'set', ['index', 'state'])]


def test_create_vxlan_in_place_uses_final_name(fakes):
    home, log = fakes[0], fakes[2]
    _links.create_vxlan(home, home, None, 'vxlan0', ATTRS, up=False)
    assert home.devices == {'vxlan0': 7} and [entry[1] for entry in log] == ['add']


@pytest.mark.parametrize('step,where', [('net_ns_fd', 'home'), ('ifname', 'target'), ('master', 'target'),
                                        ('state', 'target')])
def test_create_vxlan_deletes_temporary_device_on_failure(fakes, step, where):
    home, target, log = fakes
    (home if where == 'home' else target).fail = step
    with pytest.raises(_links.NetlinkError):
        _links.create_vxlan(home, target, 'sb', 'vxlan0', ATTRS, master=2, up=True)
    assert home.devices == {} and target.devices == {}
    assert log[-1][0] == where and log[-1][1] == 'del'


def test_create_vxlan_add_refused_leaves_nothing(fakes):
    home, target, log = fakes
    home.fail = 'add'
    with pytest.raises(_links.NetlinkError):
        _links.create_vxlan(home, target, 'sb', 'vxlan0', ATTRS)
    assert home.devices == {} and [entry[1] for entry in log] == ['add']


def test_diff_view():
    assert _links.diff_view(None, name='br0', netns='sb') == {'name': 'br0', 'netns': 'sb', 'exists': False}
    assert _links.diff_view({'name': 'br0'}, name='br0') == {'name': 'br0', 'exists': True}
    assert _links.diff_view({'name': 'br0', 'exists': False}) == {'name': 'br0', 'exists': False}
