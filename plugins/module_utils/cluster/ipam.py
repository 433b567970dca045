# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address management of the overlay (private, pure: no I/O).

Subnet pools, gateways, VNIs, serial address allocation, MAC derivation and MTU arithmetic,
following Docker's swarm allocator (moby/swarmkit's network allocator and libnetwork's
overlay driver; the rules as users see them are in docs/plan.md).

Python's own ``ipaddress`` module is used rather than netaddr: it has everything needed here
(containment, overlap, integer arithmetic on addresses), it is always present on the managers
where the modules run (netaddr would become a managed-node requirement), and keeping it out of
``module_utils`` keeps ``ansible-test sanity`` import tests free of optional imports.
"""

from __future__ import annotations

import bisect
import ipaddress
import re

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import ESP_FIXED, ESP_ICV_BITS, VNI_MAX, VNI_MIN, VXLAN_OVERHEAD

VNI_AUTO_START = 4096           # Docker: Windows cannot use VNIs that overlap 802.1Q VLAN ids
MTU_MIN = 1280                  # IPv6 minimum link MTU: an overlay below it breaks IPv6 inside
MTU_MAX = 9000                  # largest overlay MTU accepted as an explicit value
MAX_PREFIXLEN = 30              # a subnet needs a gateway and at least one task address
DEFAULT_POOL = ('10.0.0.0/8',)
DEFAULT_MASK_LENGTH = 24
_DECIMAL = re.compile(r'\s*-?[0-9]+\s*\Z')   # ASCII digits only: int() also takes '٣'


class IpamError(Exception):
    """Allocation is impossible (pool or subnet exhausted, collision); the message names the value."""


# --------------------------------------------------------------------------------------------
# parsing

def parse_subnet(value, what='subnet'):
    """An IPv4Network from a CIDR string, or ValueError naming the value.

    Host bits must be zero (``10.0.0.1/24`` is refused with a hint), IPv6 is refused (the overlay
    data plane, like Docker's, is IPv4 only), and the prefix must leave room for a gateway and a
    task (at most /30)."""
    if not isinstance(value, str):
        raise ValueError('%s %r is not a string in CIDR notation (like 10.0.0.0/24)' % (what, value))
    if '/' not in value:
        raise ValueError('%s %r has no prefix length (like 10.0.0.0/24)' % (what, value))
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError('%s %r is not a valid CIDR (like 10.0.0.0/24)' % (what, value)) from None
    if net.version != 4:
        raise ValueError('%s %r is IPv6: overlay subnets are IPv4 only' % (what, value))
    if ipaddress.ip_interface(value).ip != net.network_address:
        raise ValueError('%s %r has host bits set: did you mean %s?' % (what, value, net))
    if net.prefixlen > MAX_PREFIXLEN:
        raise ValueError('%s %r is too small: at most /%d (a gateway and one task address)'
                         % (what, value, MAX_PREFIXLEN))
    return net


def parse_route(value):
    """A node route or address (``10.1.2.0/24``, ``10.1.2.5/24`` or ``10.1.2.5``) as a network;
    host bits are allowed (an interface address stands for its connected subnet and itself)."""
    if not isinstance(value, str):
        raise ValueError('route %r is not a string' % (value,))
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError('route %r is not a valid address or CIDR' % (value,)) from None


def parse_ip(value, what='address'):
    if not isinstance(value, str):
        raise ValueError('%s %r is not a string' % (what, value))
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError('%s %r is not a valid IP address' % (what, value)) from None


# --------------------------------------------------------------------------------------------
# subnets

def overlaps_any(net, others):
    """The first network of ``others`` that overlaps ``net`` (same IP version), or None."""
    for other in others:
        if other.version == net.version and net.overlaps(other):
            return other
    return None


def _merged_ranges(nets):
    """IPv4 networks as sorted, merged ``[start, end]`` integer ranges."""
    ranges = []
    for start, end in sorted((int(n.network_address), int(n.broadcast_address)) for n in nets if n.version == 4):
        if ranges and start <= ranges[-1][1] + 1:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    return ranges


def allocate_subnet(pools, mask_length, taken):
    """The first /``mask_length`` of ``pools`` (in order) that overlaps nothing in ``taken``.

    ``taken`` holds the other networks' subnets and the nodes' routes (IPv6 entries are
    ignored). Taken ranges are merged and searched by bisection, and the search jumps over a
    whole taken range at once. Measured (bench/plan_scale.py): with 5000 taken /24s in 10.0.0.0/8,
    1.2 ms against 7.9 s for testing every candidate against every taken subnet (6700x; the gap
    grows with the square of the count). Raises IpamError when every pool is exhausted."""
    ranges = _merged_ranges(taken)
    starts = [r[0] for r in ranges]
    size = 2 ** (32 - mask_length)
    for pool in pools:
        if mask_length < pool.prefixlen:
            raise IpamError('mask length /%d is shorter than the pool %s' % (mask_length, pool))
        cur, end = int(pool.network_address), int(pool.broadcast_address)
        while cur + size - 1 <= end:
            # the last taken range starting at or before the candidate's end
            i = bisect.bisect_right(starts, cur + size - 1) - 1
            if i < 0 or ranges[i][1] < cur:
                return ipaddress.IPv4Network((cur, mask_length))
            # continue at the first aligned candidate after the colliding range
            cur = (ranges[i][1] + 1 + size - 1) // size * size
    raise IpamError('the address pool %s is exhausted: no free /%d is left that overlaps no other network '
                    'or node route; add a pool (overlay_default_addr_pool) or remove networks'
                    % (', '.join(str(p) for p in pools), mask_length))


def first_host(net):
    return net.network_address + 1


def last_host(net):
    return net.broadcast_address - 1


def check_gateway(net, gateway):
    """An IPv4Address for ``gateway`` inside ``net`` that is neither its network nor its
    broadcast address; ValueError naming both otherwise."""
    gw = parse_ip(gateway, 'gateway')
    if gw.version != 4 or gw not in net:
        raise ValueError('gateway %s is outside its subnet %s' % (gateway, net))
    if gw in (net.network_address, net.broadcast_address):
        raise ValueError('gateway %s is the %s address of subnet %s'
                         % (gateway, 'network' if gw == net.network_address else 'broadcast', net))
    return gw


# --------------------------------------------------------------------------------------------
# VNIs

def as_int(value):
    """``value`` as an int when it is one, or a string of decimal digits (what ``-e key=3`` and templating
    give, and what Ansible's ``type: int`` options accept); anything else (booleans, floats, ``'1e3'``,
    ``'0x10'``) is returned as it is, for the caller to refuse by name."""
    if isinstance(value, str) and _DECIMAL.match(value):
        return int(value.strip())
    return value


def check_vni(vni):
    vni = as_int(vni)
    if isinstance(vni, bool) or not isinstance(vni, int) or not VNI_MIN <= vni <= VNI_MAX:
        raise ValueError('VNI %r is out of range %d..%d' % (vni, VNI_MIN, VNI_MAX))
    return vni


def allocate_vni(taken, start=VNI_AUTO_START):
    """The first VNI >= ``start`` not in ``taken`` (a VNI still allocated is never reused)."""
    vni = start
    while vni in taken:
        vni += 1
    if vni > VNI_MAX:
        raise IpamError('no free VNI is left in %d..%d' % (start, VNI_MAX))
    return vni


# --------------------------------------------------------------------------------------------
# addresses (serial allocation, Docker's addrset.AddAny with serial=true)

def subnet_capacity(net):
    """Addresses a subnet can hand to tasks: all but network, broadcast and gateway."""
    return net.num_addresses - 3


def allocate_address(entry, owner, network_name='?'):
    """Hand out the next free address of a persisted subnet entry to ``owner`` and return it.

    ``entry`` is ``{'subnet', 'gateway', 'last', 'allocated': {ip: owner}}`` (mutated). The search
    starts right after the address handed out last and wraps around, skipping the network,
    broadcast and gateway addresses, so a freed address is reused as late as possible."""
    net = ipaddress.IPv4Network(entry['subnet'])
    allocated = entry.setdefault('allocated', {})
    if len(allocated) >= subnet_capacity(net):
        raise IpamError('network %s: subnet %s has no free address left (%d in use); add a subnet to the '
                        'network or use fewer tasks' % (network_name, net, len(allocated)))
    lo, hi = int(first_host(net)), int(last_host(net))
    gateway = int(ipaddress.IPv4Address(entry['gateway']))
    last = entry.get('last')
    cur = int(ipaddress.IPv4Address(last)) + 1 if last else lo
    for dummy in range(hi - lo + 1):
        if cur > hi or cur < lo:
            cur = lo
        ip = str(ipaddress.IPv4Address(cur))
        if cur != gateway and ip not in allocated:
            allocated[ip] = owner
            entry['last'] = ip
            return ip
        cur += 1
    raise IpamError('network %s: subnet %s has no free address left' % (network_name, net))


def release_address(entry, ip):
    """Free ``ip`` in a subnet entry (``last`` is kept, so the address is reused late)."""
    entry.setdefault('allocated', {}).pop(ip, None)


def subnet_of(subnets, ip):
    """Index of the subnet entry (list of dicts with 'subnet') that contains ``ip``, or None."""
    addr = ipaddress.IPv4Address(ip)
    for i, entry in enumerate(subnets):
        if addr in ipaddress.IPv4Network(entry['subnet']):
            return i
    return None


# --------------------------------------------------------------------------------------------
# derived values

def mac_for_ip(ip):
    """Docker's container MAC: 02:42 followed by the four bytes of the IPv4 address."""
    return '02:42:' + ':'.join('%02x' % b for b in ipaddress.IPv4Address(ip).packed)


def ip_sort_key(ip):
    return int(ipaddress.ip_address(ip))


def esp_mtu(mtu, icv_bits=ESP_ICV_BITS):
    """The MTU left when a VXLAN MTU of ``mtu`` is carried in ESP transport mode: minus the ESP
    overhead (18 bytes + the ICV), rounded down to a multiple of 4 (ESP pads the payload to 4).

    Docker (``maxMTU``, 64-bit ICV, 26 bytes): 1450 -> 1424. This collection's SAs use a 128-bit
    ICV (34 bytes): 1450 -> 1416."""
    mtu -= ESP_FIXED + icv_bits // 8
    return mtu - mtu % 4


def overlay_mtu(underlay_mtu, family=4, encrypted=False, icv_bits=ESP_ICV_BITS):
    """The overlay MTU over an underlay link of ``underlay_mtu`` bytes: minus 50 for an IPv4
    underlay, 70 for IPv6, then minus the ESP overhead when encrypted (1500/IPv4: 1450, 1416
    encrypted; Docker's 64-bit ICV: 1424)."""
    mtu = underlay_mtu - VXLAN_OVERHEAD[family]
    return esp_mtu(mtu, icv_bits) if encrypted else mtu
