# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A way out of the overlay, as Docker's ``docker_gwbridge``: each task on a network that is not
``internal`` gets a second interface on its node's gateway bridge, with an address of the
bridge's subnet (172.18.0.0/16 by default, as Docker's; the same subnet on every node, its
addresses handed out per node) and its default route through it; the node masquerades what
leaves (``node/gateway.py``). The addresses are kept in the state per node (``nodes.<host>.
gateway``) like overlay addresses per subnet, so a task keeps its address across runs (private,
pure)."""

from __future__ import annotations

import ipaddress

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state


def subnet_of(cluster):
    return cluster.get('gwbridge_subnet', _state.GWBRIDGE_SUBNET)


def wants_way_out(svc, task, nets):
    """A task has a way out when one of its networks is not internal (Docker: a container on
    internal networks only gets no docker_gwbridge interface)."""
    return any(not nets[n].get('internal') for n in task['addresses'] if n in nets)


class Gateways:
    """The gateway phase of ``allocate.Allocation`` (``self.new``, ``self.errors``, ``self.ready``)."""

    def gateways(self):
        nets, nodes = self.new['networks'], self.new['nodes']
        subnet = ipaddress.IPv4Network(subnet_of(self.new['cluster']))
        # host -> [task], the node's ingress endpoint first (the routing mesh reaches it through the
        # bridge), then in service and task order
        wanted = dict((h, [n['ingress']]) for h, n in nodes.items() if n.get('ingress'))
        for svc in self.new['services'].values():
            for task in svc['tasks']:
                if task['node'] in nodes and wants_way_out(svc, task, nets):
                    wanted.setdefault(task['node'], []).append(task)
                else:
                    task.pop('gateway', None)
        self._check_gateway_subnet(subnet, wanted)
        for host, entry in nodes.items():
            tasks = wanted.get(host, [])
            if not tasks:
                entry.pop('gateway', None)
                continue
            pool = {'subnet': str(subnet), 'gateway': str(_ipam.first_host(subnet)),
                    'last': (entry.get('gateway') or {}).get('last'), 'allocated': {}}
            held = (entry.get('gateway') or {}).get('allocated') or {}
            # keep every address whose task still wants one, then hand out the missing ones
            pool['allocated'] = dict((t['gateway'], t['id']) for t in tasks
                                     if t.get('gateway') and held.get(t['gateway']) == t['id'])
            for task in tasks:
                if task.get('gateway') not in pool['allocated']:
                    try:
                        task['gateway'] = _ipam.allocate_address(pool, task['id'], 'gateway bridge')
                    except _ipam.IpamError as exc:
                        self.errors.append('node %s: %s' % (host, exc))
                        return
            entry['gateway'] = {'last': pool['last'], 'allocated': pool['allocated']}

    def _check_gateway_subnet(self, subnet, wanted):
        """The gateway subnet must not hide an overlay subnet or a route of a node that uses it."""
        if not wanted:
            return
        where = 'gwbridge_subnet (overlay_gwbridge_subnet) %s' % subnet
        for name, net in self.new['networks'].items():
            for s in net['subnets']:
                if subnet.overlaps(ipaddress.IPv4Network(s['subnet'])):
                    self.errors.append('%s overlaps subnet %s of network %s; choose another gateway subnet'
                                       % (where, s['subnet'], name))
        for node in self.ready:
            if node['hostname'] not in wanted:
                continue
            for text, route in node['routes']:
                if route.version == 4 and subnet.overlaps(route):
                    self.errors.append('%s overlaps route %s on node %s; the node would lose its way there: choose '
                                       'another gateway subnet' % (where, text, node['hostname']))
                    break
