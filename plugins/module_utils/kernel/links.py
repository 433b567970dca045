# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Links (bridge, vxlan, veth) in the kernel: read them as plain dicts, apply planned changes.

Private to the collection. The pure half (validation, messages, what to change) lives in
``linkplan.py``; this file is the thin layer:

* parsing: ``link_info(msg)`` turns a pyroute2 RTM_NEWLINK message into a plain dict;
* reading and applying: thin functions that take an open pyroute2 ``IPRoute`` (one per
  namespace, opened with ``_netns.iproute(name)``) and send the planned requests;
* namespace identity (which namespace a link's peer or socket is in) and module glue.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.linkplan import (
    LinkError, cidr_key, netlink_message, normalize_ip, plan_addresses, route_key, vxlan_temp_name, where,
    wrong_kind_message)

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
    return sorted({addr_cidr(m) for m in ipr.addr('dump', index=ifindex) if m['index'] == ifindex}, key=cidr_key)


def read_routes(ipr, ifindex):
    out = []
    for msg in ipr.route('dump', oif=ifindex):
        if msg.get_attr('RTA_OIF') != ifindex:
            continue
        entry = route_entry(msg)
        if entry is not None:
            out.append(entry)
    return sorted(out, key=route_key)


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
