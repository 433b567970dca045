#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_facts
short_description: Pre-flight facts and checks of a swarm node's underlay
version_added: 0.1.0
description:
  - Reads what the cluster plan needs to know about a node's underlay - its data-path address
    and address family, the device and MTU behind it, the node's own routes and addresses
    (a subnet of an overlay network must not overlap them) - and checks what breaks overlays
    in practice before anything is made.
  - Fails with a clear message when the data-path address is not configured on the node, or
    when the data-path UDP port is taken by a VXLAN device in the node's own namespace (another
    VXLAN stack, such as flannel or a second overlay) or by a socket that is not a VXLAN device.
    The collection's own VTEPs live inside sandbox namespaces and do not count as a conflict.
  - Raises C(net.ipv4.neigh.default.gc_thresh1/2/3) (never lowers them), and keeps them in
    C(/etc/sysctl.d/60-linuxnet-overlay.conf) for the next boot, when O(gc_thresh) is
    given, as Docker does, because every remote task needs one permanent neighbour entry.
    Where the knobs do not exist in the node's network namespace (they belong to the host's
    initial namespace), this is reported, not failed.
author: linuxnet.overlay developers (@linuxnet-overlay)
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details: Shows the gc_thresh values before and after.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
options:
  data_path_addr:
    description:
      - The node's data-path address (the VTEP source, C(overlay_advertise_addr)).
      - Default - the preferred source address of the node's default route.
    type: str
  data_path_port:
    description: UDP port of the overlay's VXLAN traffic.
    type: int
    default: 4789
  gc_thresh:
    description:
      - Minimum values for C(net.ipv4.neigh.default.gc_thresh1), C(gc_thresh2), C(gc_thresh3).
        Values already higher are kept.
    type: list
    elements: int
  state_dir:
    description:
      - Directory of the cluster state on a manager. Given, C(node.cluster) in the result reports the id, the version
        and the recorded node names of the cluster whose state the node holds there (read only, no secret returned),
        so that the C(swarm) role can refuse an inventory whose managers hold the states of different clusters,
        and still restore a first manager that lost its state from a replica of a cluster it belonged to.
    type: path
  peers:
    description:
      - IPv4 data-path addresses of the other nodes. Given, the module pings them all at once from the node's
        namespace (raw ICMP sockets, no process per peer; a peer that misses one echo request gets a second try
        of three) and reports the ones that never answered in C(node.unreachable_peers), so that the underlay
        check costs no module run of its own. Does not fail on them; the C(swarm) role decides.
      - Requires root or CAP_NET_RAW.
    type: list
    elements: str
requirements:
  - Linux; no Python library beyond the standard one (links, addresses and routes are read over rtnetlink directly)
"""

EXAMPLES = r"""
- name: Check the underlay and raise the neighbour table limits
  linuxnet.overlay.node_facts:
    data_path_addr: 172.31.1.5
    data_path_port: 4789
    gc_thresh: [8192, 49152, 65536]
  register: node
"""

RETURN = r"""
node:
  description: What the node's underlay looks like.
  returned: always
  type: dict
  sample:
    hostname: node1
    data_path_addr: 172.31.1.5
    family: 4
    underlay_dev: eth0
    underlay_mtu: 1500
    addresses: [172.31.1.5/24]
    routes: [172.31.1.0/24]
    listening: {tcp: [22], udp: [4789]}
    port: {number: 4789, own_vteps: 1, foreign: []}
    gc_thresh: {available: true, before: [128, 512, 1024], after: [8192, 49152, 65536]}
    cluster: {id: 1ex3x5spdkbh0u4rs9kzmo3px, version: 4, nodes: [node1, node2], path: /var/lib/linuxnet-overlay/cluster.json}
    unreachable_peers: []
"""

import contextlib
import ipaddress
import json
import os
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import GATEWAY_BRIDGE, VXLAN_PORT
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import icmp as _icmp
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _rtnl
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

GC = '/proc/sys/net/ipv4/neigh/default/gc_thresh%d'
# the raised thresholds again at boot (systemd-sysctl, procps): a reboot must not undo them
SYSCTL_FILE = '/etc/sysctl.d/60-linuxnet-overlay.conf'


# Links, addresses and routes are read over a raw rtnetlink socket (module_utils/kernel/rtnl.py), not
# pyroute2: this module runs once on every node of every run, and pyroute2's import alone is 60-90 ms
# of its 220-400 ms of CPU (bench/scale.py).

def _routes(routes):
    """The node's own routes (main table, both families) as CIDRs, without default routes."""
    out = set()
    for r in routes:
        if r['dst'] is None or r['dst_len'] == 0:
            continue
        net = ipaddress.ip_network('%s/%d' % (r['dst'], r['dst_len']), strict=False)
        if net.is_link_local or net.is_multicast:
            continue
        out.add(str(net))
    return sorted(out, key=lambda n: (ipaddress.ip_network(n).version, ipaddress.ip_network(n)))


def listening_ports(proc_net='/proc/net'):
    """The TCP ports something listens on and the UDP ports something is bound to, in this
    network namespace (``/proc/net`` is the reader's): ``{tcp: [ports], udp: [ports]}``. The planner
    refuses to publish one of them (the process would never see its traffic again)."""
    out = {'tcp': set(), 'udp': set()}
    for proto in ('tcp', 'udp'):
        for name in (proto, proto + '6'):
            try:
                with open('%s/%s' % (proc_net, name), encoding='ascii') as f:
                    lines = f.read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                # local address ip:port in hex; TCP state 0A is LISTEN, UDP 07 is a bound socket
                if len(fields) > 3 and fields[3] == ('0A' if proto == 'tcp' else '07'):
                    out[proto].add(int(fields[1].rsplit(':', 1)[1], 16))
    return {k: sorted(v) for k, v in out.items()}


def _default_source(routes, addrs):
    """The address a default route would use (IPv4 first): its preferred source, else the first
    address of its device in its family that is not link-local."""
    for r in routes:
        if r['dst_len'] != 0:
            continue
        if r['prefsrc']:
            return r['prefsrc']
        for a in addrs:
            if a['index'] == r['oif'] and a['family'] == r['family'] and not ipaddress.ip_address(a['ip']).is_link_local:
                return a['ip']
    return None


def _vxlan_port_users(links, port):
    """VXLAN devices on ``port`` in this namespace: they own the port's socket and are not ours."""
    return ['VXLAN device %s (VNI %s) in the node namespace' % (link['name'], link['vxlan']['vni'])
            for link in links if link['kind'] == 'vxlan' and link['vxlan']['port'] == port]


def _own_vteps_up(port):
    """VTEPs on ``port`` that live in named namespaces (the collection's sandboxes) and are up."""
    count = 0
    for name in _netns.list_names():
        try:
            sock = _rtnl.Socket(name)
        except (OSError, ValueError, _netns.NetnsError):
            continue
        with sock:
            count += sum(1 for link in _rtnl.link_dump(sock)
                         if link['kind'] == 'vxlan' and link['vxlan']['port'] == port and link['up'])
    return count


def _udp_sockets_on(port):
    found = 0
    for path in ('/proc/net/udp', '/proc/net/udp6'):
        try:
            with open(path, encoding='ascii') as f:
                next(f)
                for line in f:
                    local = line.split()[1]
                    if int(local.rsplit(':', 1)[1], 16) == port:
                        found += 1
        except (OSError, StopIteration):
            continue
    return found


def _read_gc():
    vals = []
    for i in (1, 2, 3):
        try:
            with open(GC % i, encoding='ascii') as f:
                vals.append(int(f.read().strip()))
        except OSError:
            return None
    return vals


def _cluster(state_dir):
    """Id, version and node names of the cluster state held in ``state_dir`` (None: there is none).
    Only these public fields are returned; the file's secrets stay in it."""
    from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster.statefile import STATE_FILE  # pylint: disable=import-outside-toplevel
    path = os.path.join(state_dir, STATE_FILE)
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        return {'id': str(data['cluster']['id']), 'version': int(data['version']),
                'nodes': sorted(str(n) for n in data.get('nodes') or {}), 'path': path}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {'id': None, 'version': None, 'nodes': [], 'path': path, 'error': 'unreadable: %s' % type(exc).__name__}


def unreachable_peers(peers, timeout=2.0):
    """The peers (IPv4 addresses) that answer no ICMP echo from this namespace: one request each,
    all at once, and for a peer that did not answer a second try of three (one lost packet, or an
    ARP entry being resolved again, does not make a peer unreachable). Raw sockets, no process
    per peer (module_utils/kernel/icmp.py)."""
    def ping(dst):
        for requests in ([{}], [{}, {}, {}]):
            answers = yield (None, dst, requests, timeout)
            if any(a and a.get('kind') == 'reply' for a in answers):
                return None
        return dst

    prober = _icmp.Prober(lambda netns: contextlib.nullcontext())
    try:
        return [r for r in prober.run([ping(p) for p in peers], parallel=max(1, len(peers))) if r]
    finally:
        prober.close()


ARG_SPEC = {
    'data_path_addr': {'type': 'str'},
    'data_path_port': {'type': 'int', 'default': VXLAN_PORT},
    'gc_thresh': {'type': 'list', 'elements': 'int'},
    'state_dir': {'type': 'path'},
    'peers': {'type': 'list', 'elements': 'str'},
}


def _check_params(module):
    """The port, the peers and the data-path address as given, checked; fails the module otherwise."""
    p = module.params
    port = p['data_path_port']
    if not 1 <= port <= 65535:
        module.fail_json(msg='data_path_port %r is not a UDP port (1-65535)' % port)
    if p['gc_thresh'] is not None and (len(p['gc_thresh']) != 3 or min(p['gc_thresh']) < 0):
        module.fail_json(msg='gc_thresh must be three non-negative integers, got %r' % (p['gc_thresh'],))
    peers = []
    for peer in p['peers'] or []:
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            module.fail_json(msg='peers: %r is not an IP address' % peer)
        if ip.version != 4:
            module.fail_json(msg='peers: %s is not an IPv4 address (the underlay check pings IPv4 peers; leave '
                                 'peers out for IPv6)' % peer)
        peers.append(str(ip))
    addr = p['data_path_addr']
    if addr is not None:
        try:
            addr = str(ipaddress.ip_address(addr))
        except ValueError:
            module.fail_json(msg='data-path address %r is not an IP address' % addr)
    return port, peers, addr


def _usable(addrs):
    return [a for a in addrs if not ipaddress.ip_address(a['ip']).is_loopback
            and not ipaddress.ip_address(a['ip']).is_link_local]


def _read_underlay(module, addr, port):
    """The node's addresses and routes, the data-path address, its device and MTU, and the VXLAN devices on
    the port, in one rtnetlink socket."""
    with _rtnl.Socket() as sock:
        links = _rtnl.link_dump(sock)
        # the collection's own gateway bridge is no route of the node's: its subnet is ours already
        ours = {li['ifindex'] for li in links if li.get('name') == GATEWAY_BRIDGE}
        addrs = [a for a in _rtnl.addr_dump(sock) if a['index'] not in ours]
        main_routes = []
        for fam in (socket.AF_INET, socket.AF_INET6):
            main_routes += [dict(r, family=fam) for r in _rtnl.route_dump(sock, fam) if r['oif'] not in ours]
        routes = _routes(main_routes)
        if addr is None:
            addr = _default_source(main_routes, addrs)
            if addr is None:
                module.fail_json(msg='no data-path address given (overlay_advertise_addr) and the node has no default '
                                     'route to take one from')
        mine = [a for a in addrs if a['ip'] == addr]
        if not mine:
            module.fail_json(msg='data-path address %s is not configured on node %s; its addresses are: %s. Set '
                                 'overlay_advertise_addr to one of them (or leave it out for the default route\'s)'
                             % (addr, socket.gethostname(),
                                ', '.join('%s/%d' % (a['ip'], a['prefixlen']) for a in _usable(addrs)) or 'none'))
        link = _rtnl.get_link_by_index(sock, mine[0]['index']) or {}
        foreign = _vxlan_port_users(links, port)
    return addrs, routes, addr, link.get('name'), link.get('mtu'), foreign


def _check_port(module, port, foreign):
    """Our own VTEPs on the port; fails the module when anything else holds it."""
    own = _own_vteps_up(port)
    sockets = _udp_sockets_on(port)
    if sockets and not own and not foreign:
        foreign.append('%d UDP socket(s) bound to port %d that belong to no VXLAN device (a user-space program)'
                       % (sockets, port))
    if foreign:
        module.fail_json(msg='data-path port %d is already taken on node %s: %s. Choose another '
                             'overlay_data_path_port or remove the other user.'
                             % (port, socket.gethostname(), '; '.join(foreign)))
    return own


def _persist_gc(values, check_mode):
    """Keep the thresholds in SYSCTL_FILE; True when it had to be (re)written."""
    text = ('# linuxnet.overlay (node_facts): neighbour table thresholds for the overlay peers, again at boot\n'
            + ''.join('net.ipv4.neigh.default.gc_thresh%d = %d\n' % (i + 1, v) for i, v in enumerate(values)))
    try:
        with open(SYSCTL_FILE, encoding='ascii') as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    if not check_mode and os.path.isdir(os.path.dirname(SYSCTL_FILE)):
        tmp = SYSCTL_FILE + '.tmp'
        with open(tmp, 'w', encoding='ascii') as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, SYSCTL_FILE)
    return os.path.isdir(os.path.dirname(SYSCTL_FILE))


def _raise_gc(module, wanted):
    """The neighbour table thresholds before and after; raised (never lowered) to the wanted ones."""
    gc_before = _read_gc()
    gc_after = gc_before
    changed = False
    if wanted is not None and gc_before is not None:
        gc_after = [max(a, b) for a, b in zip(gc_before, wanted)]
        if gc_after != gc_before:
            changed = True
            if not module.check_mode:
                # gc_thresh3 first when raising, so thresh1 <= thresh2 <= thresh3 holds at every step
                for i in (3, 2, 1):
                    with open(GC % i, 'w', encoding='ascii') as f:
                        f.write('%d\n' % gc_after[i - 1])
    if wanted is not None and gc_before is not None and _persist_gc(gc_after, module.check_mode):
        changed = True
    gc = {'available': gc_before is not None, 'before': gc_before, 'after': gc_after}
    if gc_before is None:
        gc['note'] = ('net.ipv4.neigh.default.gc_thresh* do not exist in this network namespace: the host\'s '
                      'initial namespace owns them (raise them there on a real host)')
    return changed, gc


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    p = module.params
    port, peers, addr = _check_params(module)
    addrs, routes, addr, dev, mtu, foreign = _read_underlay(module, addr, port)
    own = _check_port(module, port, foreign)

    # reported, not failed here: the role decides which peers count (a node that is down is left out)
    unreachable = unreachable_peers([x for x in peers if x != addr]) if p['peers'] is not None else None

    changed, gc = _raise_gc(module, p['gc_thresh'])
    node = {
        'hostname': socket.gethostname(),
        'data_path_addr': addr,
        'family': ipaddress.ip_address(addr).version,
        'underlay_dev': dev,
        'underlay_mtu': mtu,
        'addresses': ['%s/%d' % (a['ip'], a['prefixlen']) for a in _usable(addrs)],
        'routes': routes,
        'listening': listening_ports(),
        'port': {'number': port, 'own_vteps': own, 'foreign': foreign},
        'gc_thresh': gc,
    }
    if p['state_dir'] is not None:
        node['cluster'] = _cluster(p['state_dir'])
    if unreachable is not None:
        node['unreachable_peers'] = unreachable
    result = {'changed': changed, 'node': node}
    if module._diff:
        result['diff'] = diff_result({'gc_thresh': gc['before']}, {'gc_thresh': gc['after']})
    module.exit_json(**result)


if __name__ == '__main__':
    main()
