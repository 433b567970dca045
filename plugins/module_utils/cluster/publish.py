# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Published ports, as ``docker service create --publish published=8080,target=80,mode=ingress|host``
(private, pure).

``mode: ingress`` (the default) is Docker's routing mesh: every node accepts the port, also one
with no task of the service, and forwards it over the ``ingress`` overlay network to a task on
any node. As in Docker, the ``ingress`` network is made when the first service publishes in this
mode (a subnet from the pool, like any network), every node gets an ingress endpoint
(``ingress-sbox``: a namespace with an address on ``ingress`` and one on the node's gateway
bridge), the service's tasks get an interface on ``ingress``, and a connection goes node (DNAT to
its endpoint) -> endpoint (DNAT to one of the tasks at random, source NAT to the endpoint's
ingress address so the reply comes back through it) -> task. The task sees the endpoint's
address, not the client's: Docker's ingress does not keep it either; ``mode: host`` does.

``mode: host``: only the nodes that run a task accept the port, and DNAT it to their own
task(s) through the gateway bridge; the task sees the client's address.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam

PUBLISH_KEYS = ('published', 'target', 'protocol', 'mode')
PROTOCOLS = ('tcp', 'udp')
MODES = ('ingress', 'host')
INGRESS = 'ingress'                 # the routing mesh's network, as Docker names it
ENDPOINT = 'ingress-sbox'           # each node's ingress endpoint, as Docker names its namespace


def _port(value, where, what, errors):
    port = _ipam.as_int(value)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        errors.append('%s: publish %s %r is not a port (1-65535)' % (where, what, value))
        return None
    return port


def check_publish(item, where, errors):
    """A service's ``publish`` list, normalised: ``[{published, target, protocol, mode}]``."""
    raw = item.get('publish')
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append('%s: publish must be a list of {published, target, protocol, mode}, got %r' % (where, raw))
        return []
    out = []
    for i, entry in enumerate(raw):
        what = '%s: publish[%d]' % (where, i)
        if not isinstance(entry, dict):
            errors.append('%s must be a dict of %s, got %r' % (what, ', '.join(PUBLISH_KEYS), entry))
            continue
        unknown = sorted(set(entry) - set(PUBLISH_KEYS))
        if unknown:
            errors.append('%s: unknown key(s) %s; known: %s' % (what, ', '.join(unknown), ', '.join(PUBLISH_KEYS)))
            continue
        published = _port(entry.get('published'), what, 'published', errors)
        target = _port(entry.get('target', entry.get('published')), what, 'target', errors)
        protocol = entry.get('protocol') or 'tcp'
        mode = entry.get('mode') or 'ingress'
        if protocol not in PROTOCOLS:
            errors.append('%s: protocol %r is not tcp or udp' % (what, protocol))
        if mode not in MODES:
            errors.append('%s: mode %r is not ingress (the routing mesh, the default) or host' % (what, mode))
        if None not in (published, target) and protocol in PROTOCOLS and mode in MODES:
            out.append({'published': published, 'target': target, 'protocol': protocol, 'mode': mode})
    if item.get('endpoint_mode') == 'dnsrr' and any(p['mode'] == 'ingress' for p in out):
        errors.append('%s: publish in mode ingress needs endpoint_mode vip (Docker refuses it too), not dnsrr; '
                      'publish with mode: host, or use endpoint_mode: vip' % where)
    return out


def check_unique(services, errors):
    """A published port (and protocol) is used once in the cluster."""
    seen = {}
    for svc in services:
        if svc['state'] != 'present':
            continue
        for p in svc['publish']:
            key = (p['published'], p['protocol'])
            if key in seen and seen[key] != svc['name']:
                errors.append('service %s: published port %d/%s is also published by service %s; a published port '
                              'is used once in the cluster' % (svc['name'], p['published'], p['protocol'], seen[key]))
            elif key in seen:
                errors.append('service %s: published port %d/%s is listed twice'
                              % (svc['name'], p['published'], p['protocol']))
            seen[key] = svc['name']


def check_listening(raw, where, errors):
    """A node's ``listening`` ports, ``{tcp: [ports], udp: [ports]}``, as a set of (protocol, port)."""
    if raw is None:
        return set()
    if not isinstance(raw, dict) or not set(raw) <= set(PROTOCOLS):
        errors.append('%s: listening must be a dict of tcp and udp port lists, got %r' % (where, raw))
        return set()
    out = set()
    for proto, ports in raw.items():
        for port in ports if isinstance(ports, list) else [ports]:
            if isinstance(port, int) and not isinstance(port, bool):
                out.add((proto, port))
            else:
                errors.append('%s: listening %s port %r is not an integer' % (where, proto, port))
    return out


def uses_ingress(svc):
    return any(p['mode'] == 'ingress' for p in svc.get('publish') or ())


def ingress_network_input(encrypted=False):
    """The ``ingress`` network as the checked input would list it: a subnet from the pool, no way
    out of its own (tasks have theirs through their other networks), encrypted when asked
    (``overlay_ingress_encrypted``, as ``docker network create --ingress --opt encrypted``)."""
    return {'name': INGRESS, 'state': 'present', 'subnets': None, 'gateways': None, 'vnis': None,
            'encrypted': bool(encrypted), 'mtu': None, 'multicast': False, 'internal': True}


class Ingress:
    """The routing mesh's part of ``allocate.Allocation``: the ``ingress`` network while a service
    publishes in mode ingress, and each ready node's endpoint on it (``nodes.<host>.ingress``:
    ``{id (the node's), address, gateway}``)."""

    def needs_ingress(self):
        """Whether a service that exists after this run publishes a port in mode ingress."""
        listed = dict((s['name'], s) for s in self.inp['services'])
        for name, svc in self.old['services'].items():
            if name not in listed and not self.prune and uses_ingress(svc):
                return True
        return any(s['state'] == 'present' and uses_ingress(s) for s in self.inp['services'])

    def ingress_network(self, avoid, vnis):
        """Make or remove the ``ingress`` network (after the user's networks took their subnets)."""
        nets = self.new['networks']
        encrypted = self.inp.get('ingress_encrypted')
        if self.needs_ingress() and INGRESS not in nets:
            self._create_network(ingress_network_input(encrypted), avoid, vnis)
        elif not self.needs_ingress() and INGRESS in nets:
            self._remove_network(INGRESS, 'no service publishes a port in mode ingress')
        elif INGRESS in nets and encrypted is not None and nets[INGRESS]['encrypted'] != encrypted:
            self.info('network ingress: encrypted changes to %s' % encrypted)
            nets[INGRESS]['encrypted'] = encrypted

    def keep_endpoints(self, live):
        """Each ready node's ingress endpoint address that is still valid stays (``live``)."""
        net = self.new['networks'].get(INGRESS)
        ready = set(n['hostname'] for n in self.ready)
        for host, node in self.new['nodes'].items():
            ep = node.get('ingress')
            if ep is None:
                continue
            idx = _ipam.subnet_of(net['subnets'], ep['address']) if net is not None else None
            if host in ready and idx is not None and net['subnets'][idx]['allocated'].get(ep['address']) == node['id']:
                live.add((INGRESS, ep['address']))
            else:
                node.pop('ingress')

    def allocate_endpoints(self):
        """An address on ``ingress`` for every ready node without one, in node order, before any task."""
        net = self.new['networks'].get(INGRESS)
        if net is None:
            return
        for n in self.ready:
            node = self.new['nodes'][n['hostname']]
            if node.get('ingress') is None:
                entry = net['subnets'][0]
                try:
                    ip = _ipam.allocate_address(entry, node['id'], INGRESS)
                except _ipam.IpamError as exc:
                    self.errors.append('node %s: no ingress endpoint address: %s' % (n['hostname'], exc))
                    continue
                node['ingress'] = {'id': node['id'], 'address': ip}

    def check_ports_free(self):
        """A published port must not be one that a process of a node already uses (the node's pre-flight
        facts): every node for mode ingress, the nodes with a task of the service for mode host."""
        for name, svc in self.new['services'].items():
            task_nodes = set(t['node'] for t in svc['tasks'])
            for p in svc.get('publish') or ():
                for node in self.ready:
                    if p['mode'] == 'host' and node['hostname'] not in task_nodes:
                        continue
                    if (p['protocol'], p['published']) in node.get('listening', ()):
                        self.errors.append('service %s: published port %d/%s is in use on node %s (a process there '
                                           'listens on it); choose another port or stop that process'
                                           % (name, p['published'], p['protocol'], node['hostname']))

    def check_host_publish(self):
        """A port published in mode host reaches a node's tasks through their way out: a service whose
        networks are all internal has none."""
        nets = self.new['networks']
        for name, svc in self.new['services'].items():
            host = [p for p in svc.get('publish') or () if p['mode'] == 'host']
            names = [a['name'] for a in svc['networks'] if a['name'] != INGRESS]
            if host and names and all(nets[n].get('internal') for n in names if n in nets):
                self.errors.append('service %s: publish %d/%s in mode host needs a way out, and its networks (%s) are '
                                   'all internal; attach it to a network that is not internal'
                                   % (name, host[0]['published'], host[0]['protocol'], ', '.join(names)))


# --------------------------------------------------------------------------------------------
# the node plan's part

def endpoint_task(host, node):
    """A node's ingress endpoint as the node plan's task tuple ``(service, svc, task, name)``, so
    that veth names, interfaces and the way out are derived as for any task; None without one."""
    ep = node.get('ingress')
    if ep is None:
        return None
    svc = {'networks': [{'name': INGRESS, 'subnet': None}], 'command': None}
    task = {'id': node['id'], 'slot': None, 'node': host, 'node_id': node['id'],
            'addresses': {INGRESS: ep['address']}, 'gateway': ep.get('gateway')}
    return (None, svc, task, ENDPOINT)


def endpoint_members(nodes):
    """The endpoints as members of the ingress network (peer entries on every node), node order."""
    return [{'ip': n['ingress']['address'], 'node': host, 'task': ENDPOINT, 'service': None,
             'task_id': n['id']} for host, n in nodes.items() if n.get('ingress')]


def endpoint_rules(svcs, members):
    """What an ingress endpoint forwards: per port published in mode ingress, the service's tasks'
    addresses on the ingress network (``[{protocol, port, target, backends}]``, service order)."""
    rules = []
    for name, svc in svcs.items():
        backends = [m['ip'] for m in members.get(INGRESS, ()) if m['service'] == name]
        for p in svc.get('publish') or ():
            if p['mode'] == 'ingress':
                rules.append({'protocol': p['protocol'], 'port': p['published'], 'target': p['target'],
                              'backends': backends})
    return rules


def node_published(svcs, host, endpoint_gateway, local_gateways):
    """The node's DNAT of published ports (``[{protocol, port, target, backends}]``): every port in
    mode ingress to its endpoint's address on the gateway bridge (the port kept: the endpoint
    tells the services apart by it), every port in mode host of a service with tasks here to
    their addresses on the bridge (``local_gateways``: service name to them)."""
    out = []
    for name, svc in svcs.items():
        for p in svc.get('publish') or ():
            if p['mode'] == 'ingress' and endpoint_gateway:
                out.append({'protocol': p['protocol'], 'port': p['published'], 'target': p['published'],
                            'backends': [endpoint_gateway]})
            elif p['mode'] == 'host' and local_gateways.get(name):
                out.append({'protocol': p['protocol'], 'port': p['published'], 'target': p['target'],
                            'backends': local_gateways[name]})
    return out
