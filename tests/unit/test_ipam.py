# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/cluster/ipam.py: pools, gateways, VNIs, addresses, MAC, MTU."""

from __future__ import annotations

import ipaddress
import os
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam  # noqa: E402

N = ipaddress.IPv4Network


# ---- parsing ------------------------------------------------------------------------------

def test_parse_subnet_ok():
    assert _ipam.parse_subnet('10.0.0.0/24') == N('10.0.0.0/24')
    assert _ipam.parse_subnet('10.1.0.0/30') == N('10.1.0.0/30')


@pytest.mark.parametrize('bad,needle', [
    ('10.0.0.1/24', 'host bits set: did you mean 10.0.0.0/24'),
    ('10.0.0.0', 'no prefix length'),
    ('10.0.0.0/33', 'not a valid CIDR'),
    ('banana/24', 'not a valid CIDR'),
    ('fd00::/64', 'IPv6'),
    ('10.0.0.0/31', 'too small'),
    (24, 'not a string'),
])
def test_parse_subnet_bad(bad, needle):
    with pytest.raises(ValueError) as exc:
        _ipam.parse_subnet(bad)
    assert needle in str(exc.value)
    assert repr(bad) in str(exc.value)


def test_parse_route_allows_host_bits_and_ipv6():
    assert _ipam.parse_route('192.168.1.5/24') == N('192.168.1.0/24')
    assert _ipam.parse_route('192.168.1.5') == N('192.168.1.5/32')
    assert _ipam.parse_route('fd00::1/64').version == 6
    with pytest.raises(ValueError):
        _ipam.parse_route('nope')


# ---- subnets ------------------------------------------------------------------------------

def test_allocate_subnet_first_free():
    pools = [N('10.0.0.0/8')]
    assert _ipam.allocate_subnet(pools, 24, []) == N('10.0.0.0/24')
    assert _ipam.allocate_subnet(pools, 24, [N('10.0.0.0/24')]) == N('10.0.1.0/24')
    # a hole is filled first
    assert _ipam.allocate_subnet(pools, 24, [N('10.0.0.0/24'), N('10.0.2.0/24')]) == N('10.0.1.0/24')


def test_allocate_subnet_skips_routes_and_bigger_networks():
    pools = [N('10.0.0.0/8')]
    # a node route 10.0.0.0/16 pushes the first /24 to 10.1.0.0
    assert _ipam.allocate_subnet(pools, 24, [N('10.0.0.0/16')]) == N('10.1.0.0/24')
    # a host route inside the first /24 makes it unusable
    assert _ipam.allocate_subnet(pools, 24, [N('10.0.0.77/32')]) == N('10.0.1.0/24')
    # IPv6 entries are ignored
    assert _ipam.allocate_subnet(pools, 24, [ipaddress.ip_network('fd00::/8')]) == N('10.0.0.0/24')


def test_allocate_subnet_next_pool_and_exhaustion():
    pools = [N('10.0.0.0/23'), N('192.168.100.0/24')]
    taken = [N('10.0.0.0/24'), N('10.0.1.0/24')]
    assert _ipam.allocate_subnet(pools, 24, taken) == N('192.168.100.0/24')
    with pytest.raises(_ipam.IpamError) as exc:
        _ipam.allocate_subnet(pools, 24, taken + [N('192.168.100.0/24')])
    assert 'exhausted' in str(exc.value) and '10.0.0.0/23' in str(exc.value)


def test_allocate_subnet_mask_shorter_than_pool():
    with pytest.raises(_ipam.IpamError):
        _ipam.allocate_subnet([N('10.0.0.0/24')], 16, [])


def test_allocate_subnet_is_fast_on_a_full_pool():
    """65 000 taken /24s in a /8: the search jumps over taken ranges instead of stepping."""
    taken = [N((0x0A000000 + i * 256, 24)) for i in range(65000)]
    assert _ipam.allocate_subnet([N('10.0.0.0/8')], 24, taken) == N('10.253.232.0/24')


def test_check_gateway():
    net = N('10.0.0.0/24')
    assert str(_ipam.check_gateway(net, '10.0.0.254')) == '10.0.0.254'
    for bad, needle in (('10.0.1.1', 'outside'), ('10.0.0.0', 'network'), ('10.0.0.255', 'broadcast'),
                        ('x', 'not a valid'), ('fd00::1', 'outside')):
        with pytest.raises(ValueError) as exc:
            _ipam.check_gateway(net, bad)
        assert needle in str(exc.value) and bad in str(exc.value)


def test_first_host():
    assert str(_ipam.first_host(N('10.0.0.0/24'))) == '10.0.0.1'


# ---- VNIs ---------------------------------------------------------------------------------

def test_allocate_vni():
    assert _ipam.allocate_vni(set()) == 4096
    assert _ipam.allocate_vni({4096, 4097, 4099}) == 4098
    with pytest.raises(_ipam.IpamError):
        _ipam.allocate_vni({_ipam.VNI_MAX}, start=_ipam.VNI_MAX)


@pytest.mark.parametrize('vni', [0, -1, 2 ** 24, True, '4096.0', '0x1000', '', 4.5, '16777216'])
def test_check_vni_bad(vni):
    with pytest.raises(ValueError):
        _ipam.check_vni(vni)


def test_check_vni_takes_decimal_strings():
    assert _ipam.check_vni('4096') == 4096 and _ipam.check_vni(' 5000 ') == 5000


@pytest.mark.parametrize('value, want', [('3', 3), (' -2 ', -2), (7, 7), ('3.0', '3.0'), ('\u0663', '\u0663'),
                                         ('1e3', '1e3'), (True, True), (None, None)])
def test_as_int(value, want):
    got = _ipam.as_int(value)
    assert got == want and type(got) is type(want)


def test_check_vni_ok():
    assert _ipam.check_vni(1) == 1 and _ipam.check_vni(16777215) == 16777215


# ---- addresses ----------------------------------------------------------------------------

def entry(subnet='10.0.0.0/24', gateway='10.0.0.1'):
    return {'subnet': subnet, 'gateway': gateway, 'vni': 4096, 'last': None, 'allocated': {}}


def test_serial_allocation_skips_gateway():
    e = entry()
    assert [_ipam.allocate_address(e, 't%d' % i) for i in range(3)] == ['10.0.0.2', '10.0.0.3', '10.0.0.4']
    assert e['allocated'] == {'10.0.0.2': 't0', '10.0.0.3': 't1', '10.0.0.4': 't2'}
    assert e['last'] == '10.0.0.4'


def test_serial_allocation_reuses_freed_address_late():
    e = entry()
    for i in range(3):
        _ipam.allocate_address(e, 't%d' % i)
    _ipam.release_address(e, '10.0.0.2')
    assert _ipam.allocate_address(e, 'new') == '10.0.0.5'  # not the freed .2


def test_serial_allocation_wraps_and_exhausts():
    e = entry('10.9.0.0/29', '10.9.0.1')  # hosts .1-.6, gateway .1: five task addresses
    got = [_ipam.allocate_address(e, 't%d' % i) for i in range(5)]
    assert got == ['10.9.0.%d' % i for i in range(2, 7)]
    _ipam.release_address(e, '10.9.0.3')
    assert _ipam.allocate_address(e, 'again') == '10.9.0.3'  # wrapped around
    with pytest.raises(_ipam.IpamError) as exc:
        _ipam.allocate_address(e, 'one-too-many', 'small-net')
    assert 'small-net' in str(exc.value) and '10.9.0.0/29' in str(exc.value)


def test_serial_allocation_with_gateway_elsewhere():
    e = entry('10.0.0.0/29', '10.0.0.6')
    assert [_ipam.allocate_address(e, str(i)) for i in range(5)] == ['10.0.0.%d' % i for i in (1, 2, 3, 4, 5)]


def test_subnet_of():
    subnets = [entry('10.1.1.0/24', '10.1.1.1'), entry('11.1.1.0/24', '11.1.1.1')]
    assert _ipam.subnet_of(subnets, '11.1.1.9') == 1
    assert _ipam.subnet_of(subnets, '10.1.1.9') == 0
    assert _ipam.subnet_of(subnets, '12.0.0.1') is None


# ---- derived ------------------------------------------------------------------------------

def test_mac_for_ip():
    assert _ipam.mac_for_ip('10.0.1.5') == '02:42:0a:00:01:05'
    assert _ipam.mac_for_ip('255.254.0.16') == '02:42:ff:fe:00:10'


@pytest.mark.parametrize('underlay,family,encrypted,expected', [
    (1500, 4, False, 1450), (1500, 4, True, 1416), (9000, 4, False, 8950), (9000, 4, True, 8916),
    (1500, 6, False, 1430), (1500, 6, True, 1396), (1450, 4, False, 1400), (1450, 4, True, 1364),
])
def test_overlay_mtu(underlay, family, encrypted, expected):
    assert _ipam.overlay_mtu(underlay, family, encrypted) == expected


@pytest.mark.parametrize('underlay,family,expected', [(1500, 4, 1424), (9000, 4, 8924), (1500, 6, 1404)])
def test_overlay_mtu_docker_icv(underlay, family, expected):
    assert _ipam.overlay_mtu(underlay, family, True, icv_bits=64) == expected


def test_esp_mtu_rounds_down_to_multiple_of_4():
    assert _ipam.esp_mtu(1450, 64) == 1424
    assert _ipam.esp_mtu(1451, 64) == 1424
    assert _ipam.esp_mtu(1453, 64) == 1424
    assert _ipam.esp_mtu(1454, 64) == 1428
    assert _ipam.esp_mtu(1450) == 1416
    assert all(_ipam.esp_mtu(m) % 4 == 0 for m in range(1300, 1500))
