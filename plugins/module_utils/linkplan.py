# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links (bridge, vxlan, veth) as plain data: validation, the words of messages, and what to change.

Private to the collection and pure (no kernel, no pyroute2): the planning half of
``kernel/links.py``, kept apart so that it is unit-tested without root and so that a reader finds
what the modules decide apart from how they send it.
"""

from __future__ import annotations

import ipaddress
import os
import random
import string

from ansible_collections.linuxnet.overlay.plugins.module_utils import values as _values
from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import IFNAMSIZ, VNI_MAX, VNI_MIN


class LinkError(Exception):
    """A user-facing error: bad input or a kernel object in the way. The message names it."""


# ---------------------------------------------------------------------------------------------
# Words for messages

def where(netns):
    """How a message names a namespace: ``namespace sb1`` or the module's own one."""
    return 'namespace %s' % netns if netns else 'the namespace the module runs in'


def kind_word(kind):
    return kind if kind else 'device without a link kind (loopback or hardware)'


def describe_kind(kind):
    word = kind_word(kind)
    return ('an ' if word[0] in 'aeiou' else 'a ') + word


def wrong_kind_message(name, netns, kind, wanted):
    return 'device %s in %s is %s, not %s' % (name, where(netns), describe_kind(kind), describe_kind(wanted))


def netlink_message(action, exc):
    code = getattr(exc, 'code', 0) or 0
    text = os.strerror(code) if code > 0 else str(exc)
    return '%s failed: %s (errno %d)' % (action, text, code)


# ---------------------------------------------------------------------------------------------
# Validation and normalisation (pure)

def validate_ifname(name, what='interface name'):
    """Return ``name`` if the kernel accepts it as an interface name (dev_valid_name), else raise."""
    if not isinstance(name, str) or not name:
        raise LinkError('%s must be a non-empty string' % what)
    size = len(name.encode('utf-8'))
    if size >= IFNAMSIZ:
        raise LinkError('%s %r is %d bytes long; Linux allows at most %d (IFNAMSIZ %d includes the '
                        'terminating NUL)' % (what, name, size, IFNAMSIZ - 1, IFNAMSIZ))
    if name in ('.', '..') or any(c in name for c in '/:') or any(c.isspace() for c in name):
        raise LinkError('%s %r is not valid: no "/", ":" or white space, and not "." or ".."' % (what, name))
    return name


def validate_mtu(mtu, what='mtu'):
    if mtu is None:
        return None
    if not 68 <= mtu <= 65535:
        raise LinkError('%s %d is out of range: use 68-65535' % (what, mtu))
    return mtu


def normalize_mac(mac, what='mac'):
    """An interface's MAC (unicast, not all-zero), or None; LinkError naming the value otherwise."""
    if mac is None:
        return None
    try:
        return _values.normalize_mac(mac, what, unicast=True)
    except ValueError as exc:
        raise LinkError(str(exc)) from None


def normalize_ip(value, what='address'):
    try:
        return _values.normalize_ip(value, what)
    except ValueError as exc:
        raise LinkError(str(exc)) from None


def normalize_cidrs(values, what='addresses'):
    """Interface addresses as canonical ``addr/len`` strings (host bits kept), sorted, unique."""
    if values is None:
        return None
    out = set()
    for value in values:
        text = str(value).strip()
        if '/' not in text:
            raise LinkError('%s: %r has no prefix length; write it as a CIDR like 10.0.0.1/24' % (what, value))
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            raise LinkError('%s: %r is not an address in CIDR notation' % (what, value)) from None
        out.add(iface.with_prefixlen)
    return sorted(out, key=cidr_key)


def cidr_key(cidr):
    iface = ipaddress.ip_interface(cidr)
    return (iface.version, int(iface.ip), iface.network.prefixlen)


def is_ipv6_link_local(cidr):
    iface = ipaddress.ip_interface(cidr)
    return iface.version == 6 and iface.ip.is_link_local


def plan_addresses(desired, current):
    """Addresses to add and to remove so that the interface has exactly ``desired``.

    IPv6 link-local addresses the kernel makes by itself are left alone unless listed.
    Returns ``(add, remove)``, both sorted lists; ``desired=None`` means "not managed".
    """
    if desired is None:
        return [], []
    want = set(desired)
    have = set(current)
    add = sorted(want - have, key=cidr_key)
    remove = sorted((a for a in have - want if not is_ipv6_link_local(a)), key=cidr_key)
    return add, remove


def visible_addresses(current, desired=None):
    """The addresses a module reports: all but kernel-made IPv6 link-local ones (unless desired)."""
    wanted = set(desired or ())
    return sorted((a for a in current if a in wanted or not is_ipv6_link_local(a)), key=cidr_key)


def normalize_routes(values, what='routes'):
    """Routes as canonical ``{'dst': network, 'via': address or None}`` dicts, sorted, unique."""
    if values is None:
        return None
    out = {}
    for i, value in enumerate(values):
        label = '%s[%d]' % (what, i)
        if not isinstance(value, dict) or not value.get('dst'):
            raise LinkError('%s needs a dst (a CIDR such as 11.1.1.0/24, or "default")' % label)
        via = value.get('via')
        if via is not None and str(via).strip() != '':
            try:
                via = ipaddress.ip_address(str(via).strip())
            except ValueError:
                raise LinkError('%s: via %r is not an IPv4 or IPv6 address' % (label, value.get('via'))) from None
        else:
            via = None
        dst_text = str(value['dst']).strip()
        if dst_text == 'default':
            dst_text = '::/0' if via is not None and via.version == 6 else '0.0.0.0/0'
        try:
            dst = ipaddress.ip_network(dst_text, strict=True)
        except ValueError as exc:
            raise LinkError('%s: dst %r is not a network in CIDR notation (%s)' % (label, value['dst'], exc)) from None
        if via is not None and via.version != dst.version:
            raise LinkError('%s: dst %s and via %s are not the same address family' % (label, dst, via))
        route = {'dst': dst.with_prefixlen, 'via': via.compressed if via is not None else None}
        out[(route['dst'], route['via'])] = route
    return sorted(out.values(), key=route_key)


def route_key(route):
    net = ipaddress.ip_network(route['dst'])
    return (net.version, int(net.network_address), net.prefixlen, route['via'] or '')


def plan_routes(desired, current):
    """Routes to add and remove so the device has exactly ``desired`` (kernel routes excluded)."""
    if desired is None:
        return [], []
    want = {(r['dst'], r['via']): r for r in desired}
    have = {(r['dst'], r['via']): r for r in current}
    add = sorted((want[k] for k in want if k not in have), key=route_key)
    remove = sorted((have[k] for k in have if k not in want), key=route_key)
    return add, remove


def plan_attrs(desired, current, keys):
    """``{key: (before, after)}`` for each key whose desired value is given and differs.

    A desired value of None means "not managed"; an empty string means "none" (for example no
    master) and matches a current None.
    """
    changes = {}
    for key in keys:
        want = desired.get(key)
        if want is None:
            continue
        have = current.get(key) if current else None
        if want == '':
            want = None
            if have is None:
                continue
        if want != have:
            changes[key] = (have, want)
    return changes


# ---------------------------------------------------------------------------------------------
# VXLAN planning (pure)

# Measured on kernel 6.18 with IPRoute.link('set', kind='vxlan', ...) on an existing device:
# vxlan_learning, vxlan_ttl and vxlan_local (same address family) succeed; vxlan_id, vxlan_port,
# vxlan_proxy, vxlan_l2miss and vxlan_l3miss return EOPNOTSUPP, as does a local address of the
# other family (also from "no local", which the kernel treats as IPv4). Those need a re-create.
VXLAN_IN_PLACE = ('learning', 'ttl', 'mtu', 'master', 'up')
VXLAN_RECREATE = ('vni', 'dstport', 'proxy', 'l2miss', 'l3miss')


def validate_vni(vni):
    if vni is None or not VNI_MIN <= vni <= VNI_MAX:
        raise LinkError('vni %s is out of range: a VXLAN network identifier is %d-%d (24 bits)'
                        % (vni, VNI_MIN, VNI_MAX))
    return vni


def validate_port(port, what='dstport'):
    if not 1 <= port <= 65535:
        raise LinkError('%s %d is out of range: use 1-65535' % (what, port))
    return port


def ip_version(address):
    return ipaddress.ip_address(address).version if address else None


def local_changes_in_place(before, after):
    """True if the kernel changes local ``before`` -> ``after`` in place (same family; none = IPv4)."""
    return (ip_version(before) or 4) == ip_version(after)


def vxlan_temp_name(vni, rng=None):
    """A unique temporary name like Docker's ``vx-<VNI 6 hex>-<5 random>`` (15 characters)."""
    rng = rng or random.SystemRandom()
    suffix = ''.join(rng.choice(string.ascii_lowercase + string.digits) for _i in range(5))
    return 'vx-%06x-%s' % (vni, suffix)


def plan_vxlan(desired, current):
    """Decide how to get from ``current`` (a vxlan state dict, or None) to ``desired``.

    ``desired`` holds vni, dstport, local, learning, proxy, l2miss, l3miss, ttl, mtu, master, up;
    None means "not managed". Returns ``{'action': 'create'|'recreate'|'update'|'none',
    'changes': {key: (before, after)}, 'reasons': [text, ...]}``; reasons explain a re-create.
    """
    keys = VXLAN_RECREATE + ('local',) + VXLAN_IN_PLACE
    if current is None:
        changes = {k: (None, desired[k]) for k in keys if desired.get(k) not in (None, '')}
        return {'action': 'create', 'changes': changes, 'reasons': []}
    changes = plan_attrs(desired, current, keys)
    reasons = ['%s cannot be changed in place (%s -> %s)' % (k, changes[k][0], changes[k][1])
               for k in VXLAN_RECREATE if k in changes]
    if 'local' in changes and not local_changes_in_place(*changes['local']):
        reasons.append('local cannot change address family in place (%s -> %s)' % changes['local'])
    if current.get('socket_netns') is not None:
        reasons.append('its UDP socket lives in namespace %s, not in the namespace the module runs in'
                       % current['socket_netns'])
    if reasons:
        return {'action': 'recreate', 'changes': changes, 'reasons': reasons}
    return {'action': 'update' if changes else 'none', 'changes': changes, 'reasons': []}


def vni_clashes(devices, vni, dstport, ipv6, exclude=None):
    """VXLAN devices that would make the kernel refuse ``vni`` on ``dstport`` (EEXIST).

    ``devices`` are dicts with netns, name, vni, dstport, ipv6 and socket_here (True when the
    device's UDP socket lives in the namespace the module runs in). The kernel's
    vxlan_vni_in_use() compares VNI, port and address family among devices of one socket
    namespace. ``exclude`` is a ``(netns, name)`` pair: the target device, about to be replaced.
    """
    out = []
    for dev in devices:
        if exclude is not None and (dev['netns'], dev['name']) == tuple(exclude):
            continue
        if dev['socket_here'] and dev['vni'] == vni and dev['dstport'] == dstport and bool(dev['ipv6']) == bool(ipv6):
            out.append(dev)
    return out


def clash_message(vni, dstport, clashes):
    places = ', '.join('%s in %s' % (d['name'], where(d['netns'])) for d in clashes)
    return ('VNI %d on dstport %d is already used by VXLAN device %s, whose UDP socket is in the '
            'namespace the module runs in; a VNI can exist only once per node and port (delete that '
            'device first, or use another VNI)' % (vni, dstport, places))


# ---------------------------------------------------------------------------------------------
# Veth planning (pure)

def is_veth_pair(end, peer, end_points_to_peer_ns, peer_points_to_end_ns):
    """True if ``end`` and ``peer`` (link_info dicts or None) are the two ends of one veth pair.

    Interface indexes are per namespace, so the caller also says whether each end's link
    namespace is the other end's namespace.
    """
    if not end or not peer or end['kind'] != 'veth' or peer['kind'] != 'veth':
        return False
    return (end['link'] == peer['ifindex'] and peer['link'] == end['ifindex']
            and end_points_to_peer_ns and peer_points_to_end_ns)


def unreachable_gateways(routes, addresses):
    """Routes whose ``via`` is not inside any network of ``addresses`` (nor IPv6 link-local):
    the kernel would refuse them with "Network is unreachable"."""
    nets = [ipaddress.ip_interface(a).network for a in addresses or ()]
    out = []
    for route in routes or ():
        if route['via'] is None:
            continue
        via = ipaddress.ip_address(route['via'])
        if via.version == 6 and via.is_link_local:
            continue
        if not any(via.version == n.version and via in n for n in nets):
            out.append(route)
    return out
