# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's second phase: the checked input against the cluster state. Checks what needs the
state to be seen, then keeps what exists, frees what went away and allocates what is new (ids,
subnets, gateways, VNIs, task placement, addresses) in a copy of the state (private, pure)."""

from __future__ import annotations

import copy
import ipaddress

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import addresses as _addresses
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import gateway as _gateway
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ids as _ids
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import names as _names
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import placement as _placement
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import publish as _publish
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import validate as _validate

ROUTE_HINT = '; the node would lose its way to that network: choose another subnet'


class Allocation(_addresses.Addresses, _gateway.Gateways, _publish.Ingress):
    """One run's allocations: ``run()`` returns the new state or raises PlanError; ``messages``,
    ``removed`` and ``ready`` (the present nodes) are what the node plan needs besides."""

    def __init__(self, state, inp, rng, require_joined, prune):
        self.old = _state.check_state(state)
        self.inp = inp
        self.rng = rng
        self.require_joined = require_joined
        self.prune = prune
        self.new = copy.deepcopy(state)
        self.errors = []
        self.messages = []
        self.removed = {'networks': [], 'services': [], 'nodes': [], 'tasks': []}
        self.exhausted = {}

    # -- helpers -----------------------------------------------------------------------------

    def info(self, msg):
        self.messages.append({'level': 'info', 'msg': msg})

    def warn(self, msg):
        self.messages.append({'level': 'warning', 'msg': msg})

    def new_id(self):
        return _ids.new_id(self.rng)

    def raise_errors(self):
        if self.errors:
            raise _validate.PlanError(self.errors)

    # -- phases ------------------------------------------------------------------------------

    def run(self):
        self.check_against_state()
        self.raise_errors()
        self.cluster_options()
        self.nodes()
        self.networks()
        self.services()
        self.placement()
        self.addresses()
        self.gateways()
        self.check_host_publish()
        self.check_ports_free()
        self.raise_errors()
        _state.bump(self.old, self.new)
        return self.new

    def check_against_state(self):
        """Problems that need the state to be seen: unjoined nodes, in-place network changes,
        unknown networks, absent networks still in use."""
        self._leave_out_unjoined()
        self._nodes_against_state()
        self._network_changes()
        self._network_users()

    def _leave_out_unjoined(self):
        # A node with no facts in this run (outside --limit, or unreachable) that never joined is no
        # member yet, as in Swarm: it is left out until a run includes it, instead of failing the run.
        outside = [n['hostname'] for n in self.inp['nodes']
                   if n['state'] == 'present' and n['addr'] is None and n['hostname'] not in self.old['nodes']]
        if outside:
            self.warn('node(s) %s: not in this run and not joined yet, so not in the cluster: a run that '
                      'includes them joins them' % ', '.join(sorted(outside)))
            self.inp['nodes'] = [n for n in self.inp['nodes'] if n['hostname'] not in outside]

    def _nodes_against_state(self):
        """Joined, and with a data-path address (given, or the recorded one kept)."""
        old_nodes = self.old['nodes']
        present = [n for n in self.inp['nodes'] if n['state'] == 'present']
        addrs = dict((n['addr'], n['hostname']) for n in present if n['addr'])
        for node in present:
            host, rec = node['hostname'], old_nodes.get(node['hostname']) or {}
            if not rec and self.require_joined:
                self.errors.append('node %s has not joined the cluster: join it first (swarm, role: join) with '
                                   'the %s token' % (host, node['role']))
            if node['addr'] is None:
                # no facts for this node in this run (--limit, unreachable): keep what is recorded
                if not rec.get('addr'):
                    self.errors.append('node %s: no data-path address (addr; overlay_advertise_addr) and none '
                                       'recorded in the cluster state' % host)
                    continue
                node['addr'] = rec['addr']
                if node['addr'] in addrs:
                    self.errors.append('node %s: its recorded data-path address %s is also the address of node %s'
                                       % (host, node['addr'], addrs[node['addr']]))
                addrs[node['addr']] = host
                self.info('node %s: no address given, keeps its recorded data-path address %s' % (host, node['addr']))
            if node['underlay_mtu'] is None:
                node['underlay_mtu'] = rec.get('underlay_mtu') or 1500
            node['family'] = ipaddress.ip_address(node['addr']).version
            if node['family'] == 4:
                node['routes'].append((node['addr'], ipaddress.ip_network(node['addr'])))

    def _network_changes(self):
        """Subnets, gateways and VNIs of an existing network cannot change in place."""
        for net in self.inp['networks']:
            have = self.old['networks'].get(net['name'])
            if net['state'] != 'present' or have is None:
                continue
            have_subnets = [s['subnet'] for s in have['subnets']]
            if net['subnets'] is not None and [str(s) for s in net['subnets']] != have_subnets:
                self.errors.append('network %s exists with subnets %s; subnets cannot change in place: remove '
                                   'the network (state: absent) and create it again'
                                   % (net['name'], ', '.join(have_subnets)))
            elif net['gateways'] is not None and net['gateways'] != [s['gateway'] for s in have['subnets']]:
                self.errors.append('network %s exists with gateway(s) %s; gateways cannot change in place'
                                   % (net['name'], ', '.join(s['gateway'] for s in have['subnets'])))
            if net['internal'] != have.get('internal', False):
                self.errors.append('network %s exists with internal: %s; internal cannot change in place (as in '
                                   'Docker): remove the network (state: absent) and create it again'
                                   % (net['name'], str(have.get('internal', False)).lower()))
            if net['vnis'] is not None and net['vnis'] != [s['vni'] for s in have['subnets']]:
                self.errors.append('network %s exists with VNI(s) %s; VNIs cannot change in place'
                                   % (net['name'], ', '.join(str(s['vni']) for s in have['subnets'])))

    def _network_users(self):
        """Every network a service uses exists after this run."""
        old_nets, old_svcs = self.old['networks'], self.old['services']
        input_nets = dict((n['name'], n) for n in self.inp['networks'])
        # the networks that exist after this run
        gone = set(n['name'] for n in self.inp['networks'] if n['state'] == 'absent')
        if self.prune:
            gone |= set(old_nets) - set(input_nets)
        alive = (set(old_nets) | set(n['name'] for n in self.inp['networks'] if n['state'] == 'present')) - gone
        # the services that exist after this run, with their networks
        users = {}
        input_svcs = dict((s['name'], s) for s in self.inp['services'])
        for name, svc in old_svcs.items():
            if name not in input_svcs and not self.prune:
                users[name] = [a['name'] for a in svc['networks']]
        for svc in self.inp['services']:
            if svc['state'] == 'present':
                users[svc['name']] = [a['name'] for a in svc['networks']]
        for svc_name, nets in users.items():
            for net_name in nets:
                if net_name in alive:
                    continue
                if net_name in gone and net_name in input_nets:
                    self.errors.append('network %s has state: absent but service %s still uses it'
                                       % (net_name, svc_name))
                elif net_name in gone:
                    self.errors.append('network %s is not in the input (prune removes it) but service %s still '
                                       'uses it' % (net_name, svc_name))
                else:
                    hint = _validate.suggest(net_name, sorted(alive))
                    self.errors.append('service %s: unknown network %r%s; list it in overlay_networks or fix the name'
                                       % (svc_name, net_name, hint))

    def cluster_options(self):
        cluster = self.new['cluster']
        port = self.inp['data_path_port']
        if port is not None and port != cluster['data_path_port']:
            self.warn('data-path port changes from %d to %d: every VTEP of every node is re-created'
                      % (cluster['data_path_port'], port))
            cluster['data_path_port'] = port
        pool = self.inp['default_addr_pool']
        if pool is not None and pool != cluster['default_addr_pool']:
            self.info('default address pool is now %s (existing networks keep their subnets)' % ', '.join(pool))
            cluster['default_addr_pool'] = pool
        gw = self.inp['gwbridge_subnet']
        if gw is not None and gw != cluster.get('gwbridge_subnet', _state.GWBRIDGE_SUBNET):
            self.warn('gateway bridge subnet changes to %s: every task with a way out gets a new address on it' % gw)
            for node in self.new['nodes'].values():
                node.pop('gateway', None)
            for svc in self.new['services'].values():
                for task in svc['tasks']:
                    task.pop('gateway', None)
            _state.set_or_drop(cluster, 'gwbridge_subnet', gw, _state.GWBRIDGE_SUBNET)
        mask = self.inp['mask_length']
        if mask is not None and mask != cluster['mask_length']:
            self.info('default subnet size is now /%d (existing networks keep their subnets)' % mask)
            cluster['mask_length'] = mask

    def nodes(self):
        nodes = self.new['nodes']
        self.ready = []
        listed = set()
        for node in self.inp['nodes']:
            host = node['hostname']
            listed.add(host)
            if node['state'] == 'absent':
                if host in nodes:
                    entry = nodes.pop(host)
                    self.removed['nodes'].append({'hostname': host, 'id': entry['id']})
                    self.info('node %s removed from the cluster' % host)
                continue
            entry = nodes.get(host)
            if entry is None:
                entry = nodes[host] = {'id': self.new_id()}
                self.info('node %s added to the cluster without a join (require_joined is off)' % host)
            elif entry.get('role') != node['role'] and entry.get('role') is not None:
                self.info('node %s changes role from %s to %s' % (host, entry['role'], node['role']))
            if entry.get('state') == 'down':
                self.info('node %s is back' % host)
            entry.update({'role': node['role'], 'addr': node['addr'], 'labels': node['labels'], 'state': 'ready',
                          'underlay_mtu': node['underlay_mtu']})
            if entry.get('availability', 'active') != node['availability']:
                self.info('node %s: availability changes to %s' % (host, node['availability']))
            _state.set_or_drop(entry, 'availability', node['availability'], 'active')
            self.ready.append(dict(node, id=entry['id']))
        for host, entry in nodes.items():
            if host not in listed and entry.get('state') != 'down':
                entry['state'] = 'down'
                self.warn('node %s is not in the input: marked down, its tasks are placed elsewhere' % host)
        self.ready_by_host = dict((n['hostname'], n) for n in self.ready)

    def _remove_network(self, name, reason):
        entry = self.new['networks'].pop(name)
        self.removed['networks'].append({
            'name': name, 'id': entry['id'], 'netns': _names.sandbox_name(entry['id']),
            'subnets': [{'subnet': s['subnet'], 'vni': s['vni']} for s in entry['subnets']]})
        self.info('network %s removed (%s)' % (name, reason))

    def networks(self):
        nets = self.new['networks']
        input_names = set(n['name'] for n in self.inp['networks'])
        for net in self.inp['networks']:
            if net['state'] == 'absent' and net['name'] in nets:
                self._remove_network(net['name'], 'state: absent')
        if self.prune:
            for name in [n for n in nets if n not in input_names]:
                self._remove_network(name, 'not in the input, prune is on')
        taken = [(name, ipaddress.IPv4Network(s['subnet'])) for name, e in nets.items() for s in e['subnets']]
        vnis = dict((s['vni'], name) for name, e in nets.items() for s in e['subnets'])
        routes = [(n['hostname'], text, net) for n in self.ready for text, net in n['routes']]
        self._warn_route_overlaps(routes)
        new_nets = [n for n in self.inp['networks'] if n['state'] == 'present' and n['name'] not in nets]
        # explicit subnets and VNIs first, so that automatic choices never take them
        for net in new_nets:
            self._check_explicit(net, taken, vnis, routes)
        for net in new_nets:
            for subnet in net['subnets'] or []:
                taken.append((net['name'], subnet))
            for vni in net['vnis'] or []:
                vnis.setdefault(vni, net['name'])
        avoid = [t[1] for t in taken] + [r[2] for r in routes]
        for net in new_nets:
            self._create_network(net, avoid, vnis)
        self.ingress_network(avoid, vnis)
        self._update_networks()

    def _warn_route_overlaps(self, routes):
        for name, entry in self.new['networks'].items():
            for s in entry['subnets']:
                subnet = ipaddress.IPv4Network(s['subnet'])
                for host, text, route in routes:
                    if subnet.overlaps(route):
                        self.warn('network %s: subnet %s overlaps route %s on node %s (the network already '
                                  'exists and keeps its subnet)' % (name, subnet, text, host))

    def _check_explicit(self, net, taken, vnis, routes):
        """A new network's explicit subnets and VNIs against the existing networks and the routes."""
        for subnet in net['subnets'] or []:
            for other, other_subnet in taken:
                if subnet.overlaps(other_subnet):
                    self.errors.append('network %s: subnet %s overlaps subnet %s of network %s%s'
                                       % (net['name'], subnet, other_subnet, other, _validate.OVERLAP_HINT))
            hit = set()     # one error per node: its first route (a node's address is a route too)
            for host, text, route in routes:
                if subnet.overlaps(route) and host not in hit:
                    hit.add(host)
                    self.errors.append('network %s: subnet %s overlaps route %s on node %s%s'
                                       % (net['name'], subnet, text, host, ROUTE_HINT))
        for vni in net['vnis'] or []:
            if vni in vnis:
                self.errors.append('network %s: VNI %d is already used by network %s%s'
                                   % (net['name'], vni, vnis[vni], _validate.VNI_HINT))

    def _create_network(self, net, avoid, vnis):
        """A new network's entry: its subnets (the next free one of the pool when none is given,
        avoiding ``avoid``), gateways and VNIs (the next free ones of ``vnis`` when not given)."""
        subnets = net['subnets']
        if subnets is None:
            pools = [ipaddress.IPv4Network(p) for p in self.new['cluster']['default_addr_pool']]
            try:
                subnets = [_ipam.allocate_subnet(pools, self.new['cluster']['mask_length'], avoid)]
            except _ipam.IpamError as exc:
                self.errors.append('network %s: %s' % (net['name'], exc))
                return
            avoid.append(subnets[0])
        gateways = net['gateways'] or [str(_ipam.first_host(s)) for s in subnets]
        entry = {'id': self.new_id(), 'encrypted': net['encrypted'], 'mtu': net['mtu'], 'subnets': []}
        _state.set_or_drop(entry, 'multicast', net['multicast'], False)
        _state.set_or_drop(entry, 'internal', net['internal'], False)
        for i, subnet in enumerate(subnets):
            if net['vnis'] is not None and i < len(net['vnis']):
                vni = net['vnis'][i]
            else:
                try:
                    vni = _ipam.allocate_vni(vnis)
                except _ipam.IpamError as exc:
                    self.errors.append('network %s: %s' % (net['name'], exc))
                    continue
                vnis[vni] = net['name']
            entry['subnets'].append({'subnet': str(subnet), 'gateway': gateways[i], 'vni': vni,
                                     'last': None, 'allocated': {}})
        self.new['networks'][net['name']] = entry
        self.info('network %s created: %s' % (net['name'], ', '.join(
            '%s gateway %s VNI %d' % (s['subnet'], s['gateway'], s['vni']) for s in entry['subnets'])))

    def _update_networks(self):
        """What may change in place: encryption, the explicit MTU, multicast."""
        for net in self.inp['networks']:
            entry = self.new['networks'].get(net['name'])
            if net['state'] != 'present' or entry is None:
                continue
            if entry['encrypted'] != net['encrypted']:
                self.info('network %s: encrypted changes to %s' % (net['name'], net['encrypted']))
                entry['encrypted'] = net['encrypted']
            if entry['mtu'] != net['mtu']:
                self.info('network %s: explicit MTU changes from %s to %s' % (net['name'], entry['mtu'], net['mtu']))
                entry['mtu'] = net['mtu']
            if entry.get('multicast', False) != net['multicast']:
                self.info('network %s: multicast changes to %s' % (net['name'], net['multicast']))
                _state.set_or_drop(entry, 'multicast', net['multicast'], False)

    def _drop_task(self, svc_name, svc, task, reason):
        for net_name, ip in task.get('addresses', {}).items():
            self._release(net_name, ip, task['id'])
        self.removed['tasks'].append({'name': _names.task_name(svc_name, task), 'id': task['id'], 'service': svc_name,
                                      'node': task['node'], 'reason': reason})

    def _remove_service(self, name, reason):
        svc = self.new['services'].pop(name)
        for task in svc['tasks']:
            self._drop_task(name, svc, task, 'service removed')
        self.removed['services'].append({'name': name, 'id': svc['id'],
                                         'tasks': [_names.task_name(name, t) for t in svc['tasks']]})
        self.info('service %s removed (%s)' % (name, reason))

    def services(self):
        svcs = self.new['services']
        input_names = set(s['name'] for s in self.inp['services'])
        for svc in self.inp['services']:
            if svc['state'] == 'absent' and svc['name'] in svcs:
                self._remove_service(svc['name'], 'state: absent')
        if self.prune:
            for name in [n for n in svcs if n not in input_names]:
                self._remove_service(name, 'not in the input, prune is on')
        self.constraints = {}
        for name, svc in svcs.items():
            self.constraints[name] = [_placement.parse_constraint(c) for c in svc['constraints']]
        for svc in self.inp['services']:
            if svc['state'] != 'present':
                continue
            entry = svcs.get(svc['name'])
            if entry is None:
                entry = svcs[svc['name']] = {'id': self.new_id(), 'tasks': []}
                self.info('service %s created' % svc['name'])
            elif entry['mode'] != svc['mode']:
                for task in entry['tasks']:
                    self._drop_task(svc['name'], entry, task, 'mode changed to %s' % svc['mode'])
                entry['tasks'] = []
                self.info('service %s: mode changes from %s to %s, every task is replaced'
                          % (svc['name'], entry['mode'], svc['mode']))
            # a service publishing in mode ingress is on the ingress network too, as in Docker (last)
            networks = svc['networks'] + ([{'name': _publish.INGRESS, 'subnet': None}]
                                          if _publish.uses_ingress(svc) else [])
            entry.update({'mode': svc['mode'], 'replicas': svc['replicas'], 'networks': networks,
                          'constraints': [c.text for c in svc['constraints']], 'command': svc['command']})
            _state.set_or_drop(entry, 'max_replicas_per_node', svc['max_per_node'], None)
            if entry.get('endpoint_mode', 'vip') != svc['endpoint_mode']:
                self.info('service %s: endpoint mode changes to %s' % (svc['name'], svc['endpoint_mode']))
            _state.set_or_drop(entry, 'endpoint_mode', svc['endpoint_mode'], 'vip')
            _state.set_or_drop(entry, 'publish', svc['publish'], [])
            _state.set_or_drop(entry, 'restart_policy', svc['restart_policy'], None)
            _state.set_or_drop(entry, 'image', svc['image'], None)
            self.constraints[svc['name']] = svc['constraints']

    def placement(self):
        """Keep every task whose node is still there and still eligible, then place what is
        missing, service by service (creation order)."""
        svcs = self.new['services']
        total = dict((n['hostname'], 0) for n in self.ready)
        eligible = {}
        for name, svc in svcs.items():
            eligible[name] = [n['hostname'] for n in _placement.eligible(self.constraints[name], self.ready)]
            self._keep_tasks(name, svc, eligible[name], total)
        # new tasks go to active nodes only (a paused node keeps its tasks, a drained one has none left)
        for name, svc in svcs.items():
            hosts = eligible[name]
            open_hosts = [h for h in hosts if self.ready_by_host[h]['availability'] == 'active']
            load = {}
            for task in svc['tasks']:
                load[task['node']] = load.get(task['node'], 0) + 1
            if svc['mode'] == 'replicated':
                new_tasks = self._place_replicas(name, svc, hosts, open_hosts, load, total)
            else:
                new_tasks = self._place_global(svc, open_hosts, load, total)
            for task in new_tasks:
                self.info('task %s placed on node %s' % (_names.task_name(name, task), task['node']))

    def _drop_reason(self, svc, task, hosts, seen_nodes, per_node):
        """Why an existing task goes, or None when it stays."""
        node = task['node']
        limit = svc.get('max_replicas_per_node')
        if node not in self.ready_by_host:
            return 'node %s left' % node
        if self.ready_by_host[node]['availability'] == 'drain':
            return 'node %s is drained' % node
        if node not in hosts:
            return 'node %s no longer satisfies the constraints' % node
        if svc['mode'] == 'replicated' and task['slot'] > svc['replicas']:
            return 'scaled down to %d' % svc['replicas']
        if svc['mode'] == 'global' and node in seen_nodes:
            return 'duplicate global task on node %s' % node
        if task.get('node_id') != self.ready_by_host[node]['id']:
            return 'node %s joined again with a new id' % node
        if limit and per_node.get(node, 0) >= limit:
            return 'more than max_replicas_per_node %d on node %s' % (limit, node)
        return None

    def _keep_tasks(self, name, svc, hosts, total):
        keep, seen_nodes, per_node = [], set(), {}
        for task in svc['tasks']:
            node = task['node']
            reason = self._drop_reason(svc, task, hosts, seen_nodes, per_node)
            if reason is None:
                keep.append(task)
                seen_nodes.add(node)
                per_node[node] = per_node.get(node, 0) + 1
                total[node] += 1
                continue
            self._drop_task(name, svc, task, reason)
            self.info('task %s removed: %s' % (_names.task_name(name, task), reason))
        svc['tasks'] = keep

    def _place_replicas(self, name, svc, hosts, open_hosts, load, total):
        """The missing slots, slot by slot, spread over the open nodes within the per-node limit."""
        new_tasks = []
        have = set(t['slot'] for t in svc['tasks'])
        missing = [slot for slot in range(1, svc['replicas'] + 1) if slot not in have]
        if missing and not open_hosts:
            self.errors.append(self._no_node_error(name, hosts))
            return new_tasks
        limit = svc.get('max_replicas_per_node')
        for slot in missing:
            room = [h for h in open_hosts if not limit or load.get(h, 0) < limit]
            if not room:
                self.errors.append(
                    'service %s: max_replicas_per_node %d leaves room for %d of its %d replicas on the '
                    'nodes it may use (%s); add nodes, raise the limit or lower replicas'
                    % (name, limit, len(svc['tasks']) + len(new_tasks), svc['replicas'],
                       ', '.join(open_hosts)))
                break
            host = _placement.choose_spread(room, load, total)
            new_tasks.append(self._new_task(slot, host))
            load[host] = load.get(host, 0) + 1
            total[host] += 1
        svc['tasks'] = sorted(svc['tasks'] + new_tasks, key=lambda t: t['slot'])
        return new_tasks

    def _place_global(self, svc, open_hosts, load, total):
        """One task on every open node that has none, in node order."""
        new_tasks = []
        for host in open_hosts:
            if host not in load:
                new_tasks.append(self._new_task(None, host))
                total[host] += 1
        order = dict((n['hostname'], i) for i, n in enumerate(self.ready))
        svc['tasks'] = sorted(svc['tasks'] + new_tasks, key=lambda t: order[t['node']])
        return new_tasks

    def _no_node_error(self, name, hosts):
        constraints = self.constraints[name]
        if not self.ready:
            return 'service %s: no node is available to run its tasks' % name
        if hosts:
            return 'service %s: every node it may use is paused or drained (%s); set one back to active' % (
                name, ', '.join('%s: %s' % (h, self.ready_by_host[h]['availability']) for h in hosts))
        alone = _placement.unsatisfiable(constraints, self.ready)
        if alone:
            return 'service %s: no node satisfies constraint %s (%s); fix the constraint%s' % (
                name, ', '.join(repr(c.text) for c in alone), '; '.join(_placement.describe(c, self.ready) for c in alone),
                " or the nodes' overlay_node_labels" if any(c.key == 'node.labels' for c in alone) else '')
        return 'service %s: no node satisfies all of its constraints together: %s' % (
            name, ', '.join(repr(c.text) for c in constraints))

    def _new_task(self, slot, host):
        return {'id': self.new_id(), 'slot': slot, 'node': host, 'node_id': self.ready_by_host[host]['id'],
                'addresses': {}}
