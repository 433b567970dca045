# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links (bridge, vxlan, veth): read kernel state as plain dicts, plan changes, apply them.

Private to the collection. Three layers, kept apart so the planning is unit-tested without root:

* parsing: ``link_info(msg)`` turns a pyroute2 RTM_NEWLINK message into a plain dict;
* planning: pure functions (``validate_*``, ``normalize_*``, ``plan_*``, ``vni_clashes``) that
  take and return plain data;
* applying: thin functions that take an open pyroute2 ``IPRoute`` (one per namespace, opened
  with ``_netns.iproute(name)``) and send the planned requests.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import string

from ansible_collections.linuxnet.overlay.plugins.module_utils import values as _values
from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import IFNAMSIZ, VNI_MAX, VNI_MIN
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns

try:
    from pyroute2.netlink.exceptions import NetlinkError
except ImportError:  # pragma: no cover - the modules report the missing library themselves
    class NetlinkError(Exception):
        code = 0

IFF_UP = 0x1
RT_TABLE_MAIN = 254
RTPROT_KERNEL = 2
RTN_UNICAST = 1
AF_INET = 2
AF_INET6 = 10
NSID_NOT_ASSIGNED = (-1, 0xFFFFFFFF)


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
    return sorted(out, key=_cidr_key)


def _cidr_key(cidr):
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
    add = sorted(want - have, key=_cidr_key)
    remove = sorted((a for a in have - want if not is_ipv6_link_local(a)), key=_cidr_key)
    return add, remove


def visible_addresses(current, desired=None):
    """The addresses a module reports: all but kernel-made IPv6 link-local ones (unless desired)."""
    wanted = set(desired or ())
    return sorted((a for a in current if a in wanted or not is_ipv6_link_local(a)), key=_cidr_key)


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
    return sorted(out.values(), key=_route_key)


def _route_key(route):
    net = ipaddress.ip_network(route['dst'])
    return (net.version, int(net.network_address), net.prefixlen, route['via'] or '')


def plan_routes(desired, current):
    """Routes to add and remove so the device has exactly ``desired`` (kernel routes excluded)."""
    if desired is None:
        return [], []
    want = {(r['dst'], r['via']): r for r in desired}
    have = {(r['dst'], r['via']): r for r in current}
    add = sorted((want[k] for k in want if k not in have), key=_route_key)
    remove = sorted((have[k] for k in have if k not in want), key=_route_key)
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


# ---------------------------------------------------------------------------------------------
# Parsing kernel messages

def link_info(msg):
    """A pyroute2 RTM_NEWLINK message as a plain dict."""
    linkinfo = msg.get_attr('IFLA_LINKINFO')
    kind = data = None
    if linkinfo is not None:
        kind = linkinfo.get_attr('IFLA_INFO_KIND')
        data = linkinfo.get_attr('IFLA_INFO_DATA')
    mac = msg.get_attr('IFLA_ADDRESS')
    info = {
        'name': msg.get_attr('IFLA_IFNAME'),
        'ifindex': msg['index'],
        'kind': kind,
        'mtu': msg.get_attr('IFLA_MTU'),
        'mac': mac.lower() if mac else None,
        'up': bool(msg['flags'] & IFF_UP),
        'master': msg.get_attr('IFLA_MASTER') or None,
        'link': msg.get_attr('IFLA_LINK'),
        'link_netnsid': msg.get_attr('IFLA_LINK_NETNSID'),
    }
    if kind == 'vxlan' and data is not None:
        local = data.get_attr('IFLA_VXLAN_LOCAL') or data.get_attr('IFLA_VXLAN_LOCAL6')
        info['vxlan'] = {
            'vni': data.get_attr('IFLA_VXLAN_ID'),
            'dstport': data.get_attr('IFLA_VXLAN_PORT'),
            'local': normalize_ip(local) if local else None,
            # the kernel reports LOCAL6/GROUP6 only for a non-any address: an IPv6 device with
            # neither (Docker's group "::") reads as IPv4 here; its EEXIST is still translated.
            'ipv6': bool(data.get_attr('IFLA_VXLAN_LOCAL6') or data.get_attr('IFLA_VXLAN_GROUP6')),
            'learning': bool(data.get_attr('IFLA_VXLAN_LEARNING')),
            'proxy': bool(data.get_attr('IFLA_VXLAN_PROXY')),
            'l2miss': bool(data.get_attr('IFLA_VXLAN_L2MISS')),
            'l3miss': bool(data.get_attr('IFLA_VXLAN_L3MISS')),
            'ttl': data.get_attr('IFLA_VXLAN_TTL') or 0,
        }
    return info


def addr_cidr(msg):
    address = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
    return ipaddress.ip_interface('%s/%d' % (address, msg['prefixlen'])).with_prefixlen


def route_entry(msg):
    """A main-table unicast route message as ``{'dst', 'via'}``, or None for routes we leave alone
    (kernel-made connected/link-local routes, other tables, other types, multipath)."""
    table = msg.get_attr('RTA_TABLE') or msg['table']
    if table != RT_TABLE_MAIN or msg['proto'] == RTPROT_KERNEL or msg['type'] != RTN_UNICAST:
        return None
    if msg.get_attr('RTA_MULTIPATH') is not None:
        return None
    dst = msg.get_attr('RTA_DST') or ('0.0.0.0' if msg['family'] == AF_INET else '::')
    net = ipaddress.ip_network('%s/%d' % (dst, msg['dst_len']), strict=False)
    gw = msg.get_attr('RTA_GATEWAY')
    return {'dst': net.with_prefixlen, 'via': ipaddress.ip_address(gw).compressed if gw else None}


# ---------------------------------------------------------------------------------------------
# Reading and applying (thin layer: needs an IPRoute and root)

@contextlib.contextmanager
def opened(netns):
    """An IPRoute in ``netns`` (None: the module's own namespace), closed afterwards."""
    ipr = _netns.iproute(netns)
    try:
        yield ipr
    finally:
        ipr.close()


def read_links(ipr):
    return [link_info(m) for m in ipr.link('dump')]


def find(links, name=None, ifindex=None):
    for link in links:
        if (name is not None and link['name'] == name) or (ifindex is not None and link['ifindex'] == ifindex):
            return link
    return None


def read_addresses(ipr, ifindex):
    return sorted({addr_cidr(m) for m in ipr.addr('dump', index=ifindex) if m['index'] == ifindex}, key=_cidr_key)


def read_routes(ipr, ifindex):
    out = []
    for msg in ipr.route('dump', oif=ifindex):
        if msg.get_attr('RTA_OIF') != ifindex:
            continue
        entry = route_entry(msg)
        if entry is not None:
            out.append(entry)
    return sorted(out, key=_route_key)


def apply_addresses(ipr, ifindex, add, remove, desired=None):
    """Remove, then add. With ``desired`` given, what to add is read again after the removals:
    deleting a primary IPv4 address also deletes its secondaries (unless promote_secondaries)."""
    for cidr in remove:
        iface = ipaddress.ip_interface(cidr)
        ipr.addr('del', index=ifindex, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    if desired is not None and remove:
        add = plan_addresses(desired, read_addresses(ipr, ifindex))[0]
    for cidr in add:
        iface = ipaddress.ip_interface(cidr)
        ipr.addr('add', index=ifindex, address=str(iface.ip), prefixlen=iface.network.prefixlen)


def apply_routes(ipr, ifindex, add, remove):
    for route in remove:
        kw = {'gateway': route['via']} if route['via'] else {}
        ipr.route('del', dst=route['dst'], oif=ifindex, table=RT_TABLE_MAIN, **kw)
    for route in add:
        kw = {'gateway': route['via']} if route['via'] else {}
        ipr.route('add', dst=route['dst'], oif=ifindex, **kw)


def ns_path(netns):
    return _netns.netns_path(netns) if netns else '/proc/self/ns/net'


def ns_identity(netns):
    st = os.stat(ns_path(netns))
    return (st.st_dev, st.st_ino)


@contextlib.contextmanager
def ns_fd(netns):
    """A file descriptor of namespace ``netns`` (None: the module's own), for IFLA_NET_NS_FD."""
    fd = os.open(ns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def nsid_of(ipr, netns):
    """The id under which ``ipr``'s namespace knows namespace ``netns``, or None if it has none."""
    with ns_fd(netns) as fd:
        reply = ipr.get_netnsid(fd=fd)
    nsid = reply.get('nsid') if reply else None
    return None if nsid is None or nsid in NSID_NOT_ASSIGNED else nsid


def link_points_to(ipr, info, home_netns, other_netns):
    """True if link ``info`` (read through ``ipr``, in ``home_netns``) has ``other_netns`` as its
    link namespace (a veth's peer namespace, a vxlan's socket namespace)."""
    if info['link_netnsid'] is None:
        return ns_identity(home_netns) == ns_identity(other_netns)
    return nsid_of(ipr, other_netns) == info['link_netnsid']


def scan_vxlan_devices(module_netns_names, skip=None):
    """Every VXLAN device of the module's namespace and of every named namespace, with where its
    UDP socket lives (``socket_here``: in the namespace the module runs in).

    ``skip`` is a ``(netns, name)`` pair naming one device to leave out (the target device,
    about to be replaced); namespaces are compared by identity, not by name.
    """
    skip_key = (ns_identity(skip[0]), skip[1]) if skip else None
    own = ns_identity(None)
    seen = {own}
    spaces = [None]
    for name in module_netns_names:
        try:
            ident = ns_identity(name)
        except OSError:
            continue
        if ident not in seen:
            seen.add(ident)
            spaces.append(name)
    devices = []
    for netns in spaces:
        try:
            with opened(netns) as ipr:
                vxlans = [link for link in read_links(ipr) if link['kind'] == 'vxlan' and 'vxlan' in link]
                own_nsid = nsid_of(ipr, None) if netns is not None and vxlans else None
        except (OSError, _netns.NetnsError):
            continue  # a namespace vanishing while we look is not our business
        ident = ns_identity(netns)
        for link in vxlans:
            if (ident, link['name']) == skip_key:
                continue
            if netns is None:
                here = link['link_netnsid'] is None
            else:
                here = link['link_netnsid'] is not None and link['link_netnsid'] == own_nsid
            devices.append({'netns': netns, 'name': link['name'], 'vni': link['vxlan']['vni'],
                            'dstport': link['vxlan']['dstport'], 'ipv6': link['vxlan']['ipv6'],
                            'socket_here': here})
    return devices


def socket_netns(ipr, info, netns):
    """Where a vxlan's UDP socket lives: None for the module's own namespace, else a name
    under /run/netns, or 'unknown' (an unnamed namespace)."""
    if info['link_netnsid'] is None:
        return None if netns is None or ns_identity(netns) == ns_identity(None) else netns
    if nsid_of(ipr, None) == info['link_netnsid']:
        return None
    for name in _netns.list_names():
        if nsid_of(ipr, name) == info['link_netnsid']:
            return name
    return 'unknown'


def delete_link(ipr, ifindex):
    ipr.link('del', index=ifindex)


def lookup_index(ipr, name):
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise LinkError('device %s vanished while it was being set up' % name)
    return found[0]


def create_vxlan(home, target, target_netns, name, attrs, master=None, up=True, rng=None):
    """Create a VXLAN device in the module's namespace (``home``), move it into ``target_netns``
    (through ``target``, an IPRoute there) under a temporary name, rename it, enslave and raise it.

    Its UDP socket stays in the module's namespace. ``target_netns=None`` creates it in place
    under its final name. On any failure after the device exists it is deleted again, wherever
    it is, and the error is raised. ``attrs`` are IPRoute keyword arguments (``vxlan_id``, ...).
    """
    moving = target_netns is not None
    tmp = vxlan_temp_name(attrs['vxlan_id'], rng) if moving else name
    home.link('add', ifname=tmp, kind='vxlan', **attrs)
    located = (home, tmp)
    try:
        index = lookup_index(home, tmp)
        if moving:
            with ns_fd(target_netns) as fd:
                home.link('set', index=index, net_ns_fd=fd)
            located = (target, tmp)
            index = lookup_index(target, tmp)
            target.link('set', index=index, ifname=name)
            located = (target, name)
        if master is not None:
            target.link('set', index=index, master=master)
        if up:
            target.link('set', index=index, state='up')
        return index
    except Exception:
        ipr, current = located
        with contextlib.suppress(Exception):
            for idx in ipr.link_lookup(ifname=current):
                ipr.link('del', index=idx)
        raise


# ---------------------------------------------------------------------------------------------
# Module glue

def run_or_fail(module, func, what):
    """Run ``func(module)``; turn user-facing and netlink errors into ``fail_json``."""
    try:
        return func(module)
    except (ValueError, LinkError, _netns.NetnsError) as exc:
        module.fail_json(msg=str(exc))
    except NetlinkError as exc:
        module.fail_json(msg=netlink_message(what, exc))
    return None  # not reached: fail_json exits


def diff_view(state, **identity):
    """One side of a diff: the object's state plus ``exists``, or just its identity and
    ``exists: false`` when there is no such object."""
    if state is None:
        return dict(identity, exists=False)
    return dict({'exists': True}, **state)


def check_master(links, master, netns):
    """The ifindex of bridge ``master`` among ``links`` (None without a master); a clear error
    when it is missing or not a bridge."""
    if not master:
        return None
    link = find(links, name=master)
    if link is None:
        raise LinkError('master bridge %s does not exist in %s; create it first, for example with '
                        'linuxnet.overlay.bridge' % (master, where(netns)))
    if link['kind'] != 'bridge':
        raise LinkError('master ' + wrong_kind_message(master, netns, link['kind'], 'bridge'))
    return link['ifindex']
