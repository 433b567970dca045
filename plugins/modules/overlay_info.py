#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: overlay_info
short_description: Report the overlay state of a host as data - links, addresses, routes, FDB and neighbours per namespace
version_added: 0.1.0
author: linuxnet.overlay developers (@linuxnet-overlay)
description:
  - Reads, per network namespace, the links (with their VXLAN, bridge and veth details), the
    addresses, the routes, the bridge/VXLAN forwarding entries and the neighbour entries, and
    returns them as data, keyed by namespace name.
  - Only reads. Namespaces are entered with setns(2) on their existing C(/run/netns) file and are
    never created; a namespace that is missing is an error when named in O(netns) and is simply
    not listed otherwise.
extends_documentation_fragment:
  - linuxnet.overlay._attributes.info_module
options:
  netns:
    description:
      - One namespace to report, by name (a file under C(/run/netns)).
      - When omitted, the module reports the namespace it runs in (under the key V("")) and every
        named namespace under C(/run/netns).
    type: str
  include:
    description:
      - Which sections to read for each namespace.
    type: list
    elements: str
    choices: [links, addresses, routes, fdb, neigh]
    default: [links, addresses, routes, fdb, neigh]
requirements:
  - pyroute2 >= 0.9.1 on the managed node
  - Linux, run as root (CAP_NET_ADMIN and CAP_SYS_ADMIN)
notes:
  - Routes come from every routing table except C(local) (255), where the kernel keeps one
    route per local and broadcast address.
  - FDB entries are those C(bridge fdb show) lists, of every device. For entries of a VXLAN
    device that have a remote destination, O(ignore:namespaces[].fdb[].vni) and
    O(ignore:namespaces[].fdb[].port) are filled with the device's own values when the kernel
    leaves them out.
seealso:
  - module: linuxnet.overlay.fdb
  - module: linuxnet.overlay.neigh
"""

EXAMPLES = r"""
- name: Everything, every namespace
  linuxnet.overlay.overlay_info:
  register: overlay

- name: Peer entries of one sandbox
  linuxnet.overlay.overlay_info:
    netns: ov-uber-net
    include: [fdb, neigh]
  register: sandbox

- name: The remote VTEPs vxlan0 forwards to
  ansible.builtin.debug:
    msg: "{{ sandbox.namespaces['ov-uber-net'].fdb | selectattr('dev', 'eq', 'vxlan0')
             | selectattr('dst') | map(attribute='dst') | unique | list }}"
"""

RETURN = r"""
namespaces:
  description:
    - One entry per namespace, keyed by its name; the module's own namespace is V("").
    - Each holds the sections asked for in O(include).
  returned: always
  type: dict
  contains:
    links:
      description:
        - Every link. C(kind) is null for loopback and physical devices. C(master) is the name
          of the bridge a port belongs to. C(link_netns) names the namespace the link points
          into (a veth's peer, a moved VXLAN device's UDP socket) - V("") for the module's own,
          null when the same namespace or not a named one.
        - C(vxlan) (vni, dstport, local, remote, learning, proxy, l2miss, l3miss, ttl, ageing),
          C(bridge) (stp, forward_delay and ageing_time in centiseconds as C(ip -d link) shows
          them, vlan_filtering) or C(veth) (peer_ifindex, peer_netns) depending on the kind.
      type: list
      elements: dict
      sample: [{name: vxlan0, ifindex: 3, kind: vxlan, mtu: 1450, mac: "0e:1f:2a:3b:4c:5d", up: true,
                operstate: UNKNOWN, master: br0, link_netns: "",
                vxlan: {vni: 4096, dstport: 4789, local: null, remote: null, learning: false, proxy: true,
                        l2miss: false, l3miss: false, ttl: 0, ageing: 300}}]
    addresses:
      description: Every address, with C(dev), C(family) (4 or 6), C(address), C(prefixlen), C(scope).
      type: list
      elements: dict
      sample: [{dev: br0, family: 4, address: 10.0.0.1, prefixlen: 24, scope: global}]
    routes:
      description: Routes (all tables but C(local)) with C(dst) (a CIDR or C(default)), C(gateway), C(dev),
        C(table), C(proto), C(scope), C(type), C(metric), C(prefsrc) and C(nexthops) for multipath routes.
      type: list
      elements: dict
      sample: [{dst: 10.0.1.0/24, gateway: 10.0.0.1, dev: eth0, table: main, proto: static, scope: global,
                type: unicast, metric: null, prefsrc: null, family: 4}]
    fdb:
      description: Forwarding entries with C(mac), C(dev), C(dst), C(vni), C(port), C(vlan), C(self),
        C(master) (the bridge's name for bridge entries) and C(state) (permanent, static, stale or
        dynamic, the words C(bridge fdb show) uses).
      type: list
      elements: dict
      sample: [{mac: "02:42:0a:00:00:04", dev: vxlan0, dst: 192.168.1.5, vni: 4096, port: 4789, vlan: null,
                self: true, master: null, state: permanent}]
    neigh:
      description: Neighbour entries with C(ip), C(mac), C(dev), C(state) (C(ip neigh) state names joined by
        spaces), C(router), C(proxy).
      type: list
      elements: dict
      sample: [{ip: 10.0.0.4, mac: "02:42:0a:00:00:04", dev: vxlan0, state: PERMANENT, router: false,
                proxy: false}]
"""

import os
import socket
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _entries
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _rtnl
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import require_pyroute2

SECTIONS = ['links', 'addresses', 'routes', 'fdb', 'neigh']
RT_TABLE_LOCAL = 255
TABLES = {253: 'default', 254: 'main', 255: 'local'}
PROTOS = {0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt',
          11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp', 18: 'keepalived',
          42: 'babel', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp'}
SCOPES = {0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere'}  # ip's words
TYPES = {0: 'unspec', 1: 'unicast', 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole',
         7: 'unreachable', 8: 'prohibit', 9: 'throw', 10: 'nat', 11: 'xresolve'}
NSID_NOT_ASSIGNED = (-1, 4294967295)


def _attr(msg, name, default=None):
    value = msg.get_attr(name)
    return default if value is None else value


def _ip_or_none(value):
    return None if value in (None, '0.0.0.0', '::') else value


def read_links(ipr, nsid_names):
    out = []
    for msg in ipr.link('dump'):
        info = _links.link_info(msg)
        linkinfo = msg.get_attr('IFLA_LINKINFO')
        data = linkinfo.get_attr('IFLA_INFO_DATA') if linkinfo is not None else None
        nsid = info['link_netnsid']
        link = {key: info[key] for key in ('name', 'ifindex', 'kind', 'mtu', 'mac', 'up')}
        link.update({
            'operstate': msg.get_attr('IFLA_OPERSTATE'),
            'master_ifindex': msg.get_attr('IFLA_MASTER'),
            'link_netns': nsid_names.get(nsid) if nsid is not None else None,
        })
        if 'vxlan' in info:
            vx = info['vxlan']
            link['vxlan'] = {
                'vni': vx['vni'],
                'dstport': vx['dstport'],
                'local': _ip_or_none(vx['local']),
                'remote': _ip_or_none(data.get_attr('IFLA_VXLAN_GROUP') or data.get_attr('IFLA_VXLAN_GROUP6')),
                'learning': vx['learning'],
                'proxy': vx['proxy'],
                'l2miss': vx['l2miss'],
                'l3miss': vx['l3miss'],
                'ttl': vx['ttl'],
                'ageing': data.get_attr('IFLA_VXLAN_AGEING'),
            }
        elif info['kind'] == 'bridge' and data is not None:
            link['bridge'] = {
                'stp': bool(data.get_attr('IFLA_BR_STP_STATE')),
                'forward_delay': data.get_attr('IFLA_BR_FORWARD_DELAY'),
                'ageing_time': data.get_attr('IFLA_BR_AGEING_TIME'),
                'vlan_filtering': bool(data.get_attr('IFLA_BR_VLAN_FILTERING')),
            }
        elif info['kind'] == 'veth':
            link['veth'] = {
                'peer_ifindex': info['link'],
                'peer_netns': link['link_netns'] if nsid is not None else None,
            }
        out.append(link)
    names = {link['ifindex']: link['name'] for link in out}
    for link in out:
        link['master'] = names.get(link.pop('master_ifindex'))
    return out


def read_addresses(ipr, names):
    out = []
    for msg in ipr.addr('dump'):
        address = msg.get_attr('IFA_LOCAL') or msg.get_attr('IFA_ADDRESS')
        out.append({
            'dev': names.get(msg['index']),
            'family': 6 if msg['family'] == socket.AF_INET6 else 4,
            'address': address,
            'prefixlen': msg['prefixlen'],
            'scope': SCOPES.get(msg['scope'], msg['scope']),
        })
    return out


def read_routes(ipr, names):
    out = []
    for msg in ipr.route('dump'):
        table = _attr(msg, 'RTA_TABLE', msg['table'])
        if table == RT_TABLE_LOCAL or msg['family'] not in (socket.AF_INET, socket.AF_INET6):
            continue
        dst = msg.get_attr('RTA_DST')
        route = {
            'family': 6 if msg['family'] == socket.AF_INET6 else 4,
            'dst': '%s/%d' % (dst, msg['dst_len']) if dst else 'default',
            'gateway': msg.get_attr('RTA_GATEWAY'),
            'dev': names.get(msg.get_attr('RTA_OIF')),
            'table': TABLES.get(table, table),
            'proto': PROTOS.get(msg['proto'], msg['proto']),
            'scope': SCOPES.get(msg['scope'], msg['scope']),
            'type': TYPES.get(msg['type'], msg['type']),
            'metric': msg.get_attr('RTA_PRIORITY'),
            'prefsrc': msg.get_attr('RTA_PREFSRC'),
        }
        hops = msg.get_attr('RTA_MULTIPATH')
        if hops:
            route['nexthops'] = [{'gateway': hop.get_attr('RTA_GATEWAY') if hasattr(hop, 'get_attr')
                                  else dict(hop.get('attrs', [])).get('RTA_GATEWAY'),
                                  'dev': names.get(hop['oif']), 'weight': hop['hops'] + 1} for hop in hops]
        out.append(route)
    return out


def _fdb_state(state):
    """The word ``bridge fdb show`` uses."""
    if state & _rtnl.NUD_PERMANENT:
        return 'permanent'
    if state & _rtnl.NUD_NOARP:
        return 'static'
    if state & _rtnl.NUD_STALE:
        return 'stale'
    return 'dynamic'


def read_fdb(sock, links_by_index):
    out = []
    for e in _rtnl.fdb_dump(sock):
        dev = links_by_index.get(e['ifindex'], {})
        vx = dev.get('vxlan') if dev.get('kind') == 'vxlan' else None
        remote = vx is not None and e['self'] and e['dst'] is not None
        out.append({
            'mac': e['mac'],
            'dev': dev.get('name'),
            'dst': e['dst'],
            'vni': e['vni'] if e['vni'] is not None or not remote else vx['vni'],
            'port': e['port'] if e['port'] is not None or not remote else vx['dstport'],
            'vlan': e['vlan'],
            'self': e['self'],
            'master': links_by_index.get(e['master_ifindex'], {}).get('name') if e['master_ifindex'] else None,
            'state': _fdb_state(e['state']),
        })
    return out


def read_neigh(sock, names):
    return [{
        'ip': e['ip'],
        'mac': e['mac'],
        'dev': names.get(e['ifindex']),
        'state': _entries.nud_text(e['state']),
        'router': bool(e['flags'] & _rtnl.NTF_ROUTER),
        'proxy': bool(e['flags'] & _rtnl.NTF_PROXY),
    } for e in _rtnl.neigh_dump(sock)]


def nsid_names(ipr, names):
    """{nsid: name} for every namespace in ``names`` ("" = the module's own) that the namespace
    ``ipr`` is bound to has an id for. Reading ids never assigns one."""
    out = {}
    for name in names:
        path = _netns.netns_path(name) if name else '/proc/%d/ns/net' % os.getpid()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            reply = ipr.get_netnsid(fd=fd)
        finally:
            os.close(fd)
        nsid = reply.get('nsid') if reply else None
        if nsid is not None and nsid not in NSID_NOT_ASSIGNED:
            out[nsid] = name
    return out


def read_namespace(name, include, all_names):
    from pyroute2 import IPRoute

    want = set(include)
    report = {}
    with _netns.entered(name or None):
        ipr = IPRoute()
        sock = _rtnl.Socket(None) if want & {'fdb', 'neigh'} else None
    try:
        links = read_links(ipr, nsid_names(ipr, all_names))
        names = {link['ifindex']: link['name'] for link in links}
        if 'links' in want:
            report['links'] = links
        if 'addresses' in want:
            report['addresses'] = read_addresses(ipr, names)
        if 'routes' in want:
            report['routes'] = read_routes(ipr, names)
        if 'fdb' in want:
            report['fdb'] = read_fdb(sock, {link['ifindex']: link for link in links})
        if 'neigh' in want:
            report['neigh'] = read_neigh(sock, names)
    finally:
        ipr.close()
        if sock is not None:
            sock.close()
    return report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            netns=dict(type='str'),
            include=dict(type='list', elements='str', choices=SECTIONS, default=list(SECTIONS)),
        ),
        supports_check_mode=True,
    )
    require_pyroute2(module)
    netns = module.params['netns']
    include = module.params['include']
    named = _netns.list_names()
    if netns is not None:
        try:
            _netns.require(netns)
        except (_netns.NetnsError, ValueError) as exc:
            module.fail_json(msg=str(exc))
        targets = [netns]
    else:
        targets = [''] + named
    all_names = [''] + named

    namespaces = {}
    for name in targets:
        try:
            namespaces[name] = read_namespace(name, include, all_names)
        except _netns.NetnsError:
            if netns is not None:
                raise
            # deleted between listing and reading: it is simply not there any more
            continue
        except (OSError, _rtnl.NetlinkError) as exc:
            module.fail_json(msg='reading namespace %s failed: %s' % (name or "(the module's own)", exc),
                             exception=traceback.format_exc())
    module.exit_json(changed=False, namespaces=namespaces)


if __name__ == '__main__':
    main()
