# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's last phase: from the allocated state, the complete desired state of every node
(sandboxes with bridges, VTEPs and peer entries, tasks with interfaces and routes, name tables,
neighbour-table thresholds) and the docker-shaped views; the shape is ``docs/plan.md`` (private,
pure)."""

from __future__ import annotations

import ipaddress

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import gateway as _gateway
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import names as _names
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import publish as _publish

GC_THRESH_MIN = (8192, 49152, 65536)


def gc_thresh(peer_count):
    """Neighbour-table thresholds for a node: Docker's 8192/49152/65536, raised to keep 1x, 2x
    and 4x the node's permanent peer entries below them."""
    return [max(GC_THRESH_MIN[0], peer_count), max(GC_THRESH_MIN[1], 2 * peer_count),
            max(GC_THRESH_MIN[2], 4 * peer_count)]


def network_mtu(entry, ready):
    """``(computed, mtu)``: what the smallest underlay of the ``ready`` nodes allows, and the
    network's MTU (the explicit one, else the computed one)."""
    computed = min([_ipam.overlay_mtu(n['underlay_mtu'], n['family'], entry['encrypted']) for n in ready]
                   or [_ipam.overlay_mtu(1500, 4, entry['encrypted'])])
    return computed, entry['mtu'] if entry['mtu'] is not None else computed


def name_table(net_name, members, vips=None):
    """The name table of network ``net_name``: a comment line, one line per virtual IP on the
    network (``vips``: service name to VIP, in service order) ``<vip>\t<service>``, then one line per
    task interface on the network, in service and slot order:
    ``<ip>\t<task>.<network> <task> tasks.<service>``, with ``<service>`` too for a service without a
    VIP (``endpoint_mode: dnsrr``). A task's ``/etc/netns/<task>/hosts`` is the localhost lines and then
    the tables of its networks in interface order; the node composes it (``node/task.py``), so the
    plan carries each table once (``name_tables`` at its top level) and the node_plan filter hands a
    node the tables of its tasks' networks: neither the plan's names nor what a node receives grow
    with the square of the tasks (the peer entries are per VTEP: O(remote task interfaces in the
    subnet)).

    As in Swarm, ``<service>`` is the VIP in vip mode and every task in dnsrr mode, and
    ``tasks.<service>`` is every task in both: with ``multi on`` in ``/etc/host.conf`` (Debian's
    default) a lookup returns all of them, and a client that takes one takes the first. The first
    name of a task's line is the canonical one a reverse lookup returns, so ``traceroute`` shows
    ``test.2.<id>.uber-net`` as the seed does."""
    vips = vips or {}
    lines = ['# linuxnet.overlay network %s\n' % net_name]
    lines.extend('%s\t%s\n' % (ip, svc) for svc, ip in vips.items())
    for m in members[net_name]:
        service = '' if m['service'] in vips else ' ' + m['service']
        lines.append('%s\t%s.%s %s%s tasks.%s\n' % (m['ip'], m['task'], net_name, m['task'], service,
                                                    m['service']))
    return ''.join(lines)


def endpoints(net_name, members, vips):
    """The virtual IPs of network ``net_name`` and where they lead, in service order:
    ``[{service, vip, backends: [task addresses in slot order]}]``. Each task on the network DNATs
    connections to a VIP to one of the backends in its own namespace (``node/vip.py``)."""
    backends = {}
    for m in members[net_name]:
        backends.setdefault(m['service'], []).append(m['ip'])
    return [{'service': svc, 'vip': ip, 'backends': backends.get(svc, [])} for svc, ip in vips.items()]


def _vips_by_network(nets, svcs):
    """Per network, service name to its VIP there (vip-mode services, in service order)."""
    out = dict((name, {}) for name in nets)
    for svc_name, svc in svcs.items():
        for net_name, ip in (svc.get('vips') or {}).items():
            if net_name in out:
                out[net_name][svc_name] = ip
    return out


def build(st, inp_nodes, removed, ready, warn):
    """The plan of the allocated state ``st``: ``inp_nodes`` are the checked input's nodes (their
    order is the plan's), ``removed`` what the run removed, ``ready`` the present nodes, ``warn``
    takes the warnings."""
    nets, svcs = st['networks'], st['services']
    mtus = {}
    for name, entry in nets.items():
        computed, mtu = network_mtu(entry, ready)
        if mtu > computed:
            how = ' with encryption' if entry['encrypted'] else ''
            warn('network %s: explicit MTU %d is larger than %d, what the smallest underlay allows%s; '
                 'large packets will be dropped' % (name, mtu, computed, how))
        mtus[name] = mtu
    members, task_list = _members(nets, svcs, st['nodes'])
    vips = _vips_by_network(nets, svcs)
    plan_nodes = _plan_nodes(st, inp_nodes, removed, members, mtus, task_list)
    on_nodes = {n for node in plan_nodes.values() for t in node['tasks'] for n in t['hosts_networks']}
    return {
        'cluster': {'id': st['cluster']['id'], 'data_path_port': st['cluster']['data_path_port'],
                    'default_addr_pool': list(st['cluster']['default_addr_pool']),
                    'mask_length': st['cluster']['mask_length'], 'version': st['version']},
        'nodes': plan_nodes,
        # one per network with a task on a ready node, in network order
        'name_tables': {name: name_table(name, members, vips[name]) for name in nets if name in on_nodes},
        'endpoints': {name: endpoints(name, members, vips[name]) for name in nets if name in on_nodes},
        'networks': [{'name': name, 'id': e['id'], 'scope': 'swarm', 'driver': 'overlay',
                      'encrypted': e['encrypted'], 'multicast': bool(e.get('multicast')), 'mtu': mtus[name],
                      'netns': _names.sandbox_name(e['id']),
                      'subnets': [{'subnet': s['subnet'], 'gateway': s['gateway'], 'vni': s['vni']}
                                  for s in e['subnets']],
                      'state': 'present'} for name, e in nets.items()],
        'services': [{'name': name, 'id': s['id'], 'mode': s['mode'],
                      'endpoint_mode': s.get('endpoint_mode', 'vip'), 'vips': dict(s.get('vips') or {}),
                      'publish': [dict(p) for p in s.get('publish') or ()],
                      'replicas': s['replicas'] if s['mode'] == 'replicated' else len(s['tasks']),
                      'networks': [a['name'] for a in s['networks']], 'constraints': list(s['constraints']),
                      'command': s['command'], 'image': s.get('image'), 'restart_policy': s.get('restart_policy'),
                      'tasks': [{'name': _names.task_name(name, t), 'slot': t['slot'], 'id': t['id'],
                                 'node': t['node'], 'node_id': t['node_id'], 'desired_state': 'running',
                                 'addresses': dict(t['addresses'])} for t in s['tasks']]}
                     for name, s in svcs.items()],
        'removed': removed,
    }


def _members(nets, svcs, nodes=None):
    """Every task interface, per network, in service and task order (the nodes' ingress endpoints
    first on the ingress network); and every task as ``(service name, service, task, task name)``."""
    members = dict((name, []) for name in nets)
    if _publish.INGRESS in members:
        members[_publish.INGRESS].extend(_publish.endpoint_members(nodes or {}))
    task_list = []
    for svc_name, svc in svcs.items():
        for task in svc['tasks']:
            tname = _names.task_name(svc_name, task)
            task_list.append((svc_name, svc, task, tname))
            for attach in svc['networks']:
                ip = task['addresses'].get(attach['name'])
                if ip is not None:
                    members[attach['name']].append({'ip': ip, 'node': task['node'], 'task': tname,
                                                    'service': svc_name, 'task_id': task['id']})
    return members, task_list


def _plan_nodes(st, inp_nodes, removed, members, mtus, task_list):
    """Per hostname, in input order then state order, the node's plan (a removed node: nothing)."""
    nodes = st['nodes']
    plan_nodes = {}
    listed = [n['hostname'] for n in inp_nodes]
    host_order = listed + [h for h in nodes if h not in set(listed)]
    removed_ids = dict((n['hostname'], n['id']) for n in removed['nodes'])
    for host in host_order:
        entry = nodes.get(host)
        if entry is None:
            inp = [n for n in inp_nodes if n['hostname'] == host][0]
            plan_nodes[host] = {'id': removed_ids.get(host), 'role': inp['role'], 'addr': None,
                                'labels': inp['labels'], 'state': 'absent', 'sandboxes': [], 'tasks': [],
                                'gateway': None, 'ingress_endpoint': None,
                                'gc_thresh': gc_thresh(0), 'remote_vteps': []}
            continue
        plan_nodes[host] = _node_plan(st, host, entry, members, mtus, task_list)
    return plan_nodes


def _node_plan(st, host, entry, members, mtus, task_list):
    cluster, nodes, nets = st['cluster'], st['nodes'], st['networks']
    local_tasks = [t for t in task_list if t[2]['node'] == host]
    endpoint = _publish.endpoint_task(host, entry)
    on_node = set()
    for svc_name, svc, task, tname in local_tasks + ([endpoint] if endpoint else []):
        on_node.update(a['name'] for a in svc['networks'] if a['name'] in task['addresses'])
    sandboxes, peer_count, vteps = [], 0, {}
    for name, net in nets.items():
        if name in on_node:
            sandbox, count = _sandbox(nodes, host, name, net, members, mtus, vteps)
            sandboxes.append(sandbox)
            peer_count += count
    veths = _veth_names(local_tasks + ([endpoint] if endpoint else []), nets)
    gw_subnet = ipaddress.IPv4Network(_gateway.subnet_of(cluster))
    tasks = []
    for svc_name, svc, task, tname in local_tasks:
        interfaces = _interfaces(svc, task, nets, veths, mtus)
        gw = _gateway_interface(task, len(interfaces), veths, gw_subnet, entry)
        tasks.append({'name': tname, 'service': svc_name, 'slot': task['slot'], 'id': task['id'],
                      'node_id': task['node_id'], 'netns': tname, 'command': svc['command'],
                      'image': svc.get('image'), 'restart': svc.get('restart_policy'),
                      'interfaces': interfaces, 'gateway_interface': gw,
                      # the ingress network has no names and no VIPs (the endpoints balance there)
                      'hosts_networks': [i['network'] for i in interfaces if i['network'] != _publish.INGRESS],
                      'endpoint_networks': [i['network'] for i in interfaces if i['network'] != _publish.INGRESS]})
    ingress = None
    if endpoint:
        ep_itfs = _interfaces(endpoint[1], endpoint[2], nets, veths, mtus)
        ingress = {'name': _publish.ENDPOINT, 'netns': _publish.ENDPOINT, 'command': None, 'interfaces': ep_itfs,
                   'gateway_interface': _gateway_interface(endpoint[2], len(ep_itfs), veths, gw_subnet, entry),
                   'ingress': _publish.endpoint_rules(st['services'], members)}
    local_gw = {}
    for t in tasks:
        if t['gateway_interface']:
            local_gw.setdefault(t['service'], []).append(t['gateway_interface']['ip'])
    published = _publish.node_published(st['services'], host, (entry.get('ingress') or {}).get('gateway'),
                                        local_gw)
    gateway = None
    if any(t['gateway_interface'] for t in tasks) or ingress:
        gateway = {'bridge': _names.GATEWAY_BRIDGE, 'subnet': str(gw_subnet),
                   'address': '%s/%d' % (_ipam.first_host(gw_subnet), gw_subnet.prefixlen),
                   'veth_prefix': _names.GATEWAY_VETH_PREFIX, 'published': published}
    return {'id': entry['id'], 'role': entry['role'], 'addr': entry['addr'], 'labels': dict(entry['labels']),
            'availability': entry.get('availability') or 'active', 'state': entry['state'],
            'sandboxes': sandboxes, 'tasks': tasks, 'ingress_endpoint': ingress, 'gateway': gateway,
            'gc_thresh': gc_thresh(peer_count),
            'remote_vteps': [{'hostname': h, 'addr': nodes[h]['addr'], 'encrypted': enc}
                             for h, enc in sorted(vteps.items(), key=lambda kv: _ipam.ip_sort_key(
                                 nodes[kv[0]]['addr']))]}


def _sandbox(nodes, host, name, net, members, mtus, vteps):
    """A network's sandbox on ``host`` and its number of peer entries; ``vteps`` collects the
    remote nodes (hostname: whether an encrypted network reaches them)."""
    subnets, peer_count = [], 0
    for i, s in enumerate(net['subnets']):
        subnet = ipaddress.IPv4Network(s['subnet'])
        peers = []
        for m in members[name]:
            if m['node'] == host or ipaddress.IPv4Address(m['ip']) not in subnet:
                continue
            vtep = nodes[m['node']]['addr']
            peers.append({'ip': m['ip'], 'mac': _ipam.mac_for_ip(m['ip']), 'vtep': vtep})
            vteps.setdefault(m['node'], net['encrypted'])
            vteps[m['node']] = vteps[m['node']] or net['encrypted']
        peers.sort(key=lambda p: _ipam.ip_sort_key(p['ip']))
        peer_count += len(peers)
        # multicast: broadcast, multicast and unknown unicast go to every node with tasks in
        # the subnet (head-end replication: one all-zeros FDB entry per remote VTEP)
        flood = sorted({p['vtep'] for p in peers}, key=_ipam.ip_sort_key) if net.get('multicast') else []
        subnets.append({'subnet': s['subnet'], 'gateway': s['gateway'], 'prefixlen': subnet.prefixlen,
                        'address': '%s/%d' % (s['gateway'], subnet.prefixlen), 'vni': s['vni'],
                        'bridge': 'br%d' % i, 'vxlan': 'vxlan%d' % i, 'peers': peers, 'flood': flood})
    return ({'network': name, 'network_id': net['id'], 'netns': _names.sandbox_name(net['id']),
             'encrypted': net['encrypted'], 'mtu': mtus[name], 'ip_forward': len(subnets) > 1,
             'subnets': subnets}, peer_count)


def _gateway_interface(task, index, veths, subnet, node):
    """A task's interface on its node's gateway bridge (None without a way out): ``eth<N>`` after its
    overlay interfaces, its default route through the bridge, the node's underlay MTU."""
    ip = task.get('gateway')
    if ip is None:
        return None
    gw = str(_ipam.first_host(subnet))
    return {'veth': veths[(task['id'], None)], 'sandbox': None, 'bridge': _names.GATEWAY_BRIDGE,
            'ifname': 'eth%d' % index, 'address': '%s/%d' % (ip, subnet.prefixlen), 'ip': ip,
            'mac': _ipam.mac_for_ip(ip), 'mtu': node.get('underlay_mtu') or 1500, 'gateway': gw,
            'routes': [{'dst': 'default', 'via': gw}]}


def _veth_names(local_tasks, nets):
    """Per ``(task id, network)``, the veth name: deterministic, unique on the node (a hash
    collision takes the next attempt); ``(task id, None)`` is a task's veth on the gateway bridge."""
    used, veths = set(), {}
    for dummy, svc, task, dummy2 in sorted(local_tasks, key=lambda t: t[2]['id']):
        if task.get('gateway'):
            attempt = 0
            while _names.gateway_veth_name(task['id'], attempt) in used:
                attempt += 1
            used.add(_names.gateway_veth_name(task['id'], attempt))
            veths[(task['id'], None)] = _names.gateway_veth_name(task['id'], attempt)
    pairs = sorted((task['id'], nets[a['name']]['id'], a['name']) for dummy, svc, task, dummy2 in local_tasks
                   for a in svc['networks'] if a['name'] in task['addresses'])
    for task_id, net_id, net_name in pairs:
        attempt = 0
        name = _names.veth_name(task_id, net_id)
        while name in used:
            attempt += 1
            name = _names.veth_name(task_id, net_id, attempt)
        used.add(name)
        veths[(task_id, net_name)] = name
    return veths


def _interfaces(svc, task, nets, veths, mtus):
    """A task's interfaces, one per network it has an address on, in the service's network order."""
    interfaces = []
    for attach in svc['networks']:
        net_name = attach['name']
        ip = task['addresses'].get(net_name)
        if ip is None:
            continue
        net = nets[net_name]
        idx = _ipam.subnet_of(net['subnets'], ip)
        s = net['subnets'][idx]
        prefixlen = ipaddress.IPv4Network(s['subnet']).prefixlen
        interfaces.append({
            'network': net_name, 'sandbox': _names.sandbox_name(net['id']), 'bridge': 'br%d' % idx,
            'veth': veths[(task['id'], net_name)], 'ifname': 'eth%d' % len(interfaces),
            'address': '%s/%d' % (ip, prefixlen), 'ip': ip, 'mac': _ipam.mac_for_ip(ip),
            'mtu': mtus[net_name], 'subnet': s['subnet'], 'gateway': s['gateway'], 'vni': s['vni'],
            'routes': [{'dst': o['subnet'], 'via': s['gateway']} for j, o in enumerate(net['subnets'])
                       if j != idx]})
    return interfaces
