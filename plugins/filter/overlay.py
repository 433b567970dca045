# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the cluster plan and probe results into the reports users know from
Docker (`docker network ls`, `docker network inspect`, `docker service ps`) and into the
verification matrix. Pure functions: unit-tested without a cluster."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError


def _require_plan(plan, role):
    """The plan made by the swarm role, or a clear error naming the role that needed it."""
    if not isinstance(plan, dict) or not isinstance(plan.get('nodes'), dict):
        raise AnsibleFilterError('%s needs the cluster plan (fact swarm_plan): run the linuxnet.overlay.swarm role '
                                 'before it, in the same playbook' % role)
    return plan


def node_plan(plan, hostname, role='this role'):
    """Node ``hostname``'s part of the cluster plan (its ``sandboxes``, ``tasks`` and ``addr``) with
    ``name_tables`` and ``endpoints``, the plan's name tables and virtual IPs of the networks of its
    tasks (network order); empty ones for a node the plan does not list. Fails naming ``role`` when there is no plan: the network and
    service roles read their node's part with it in their role variables (no task of their own)."""
    plan = _require_plan(plan, role)
    part = dict({'sandboxes': [], 'tasks': []}, **(plan['nodes'].get(hostname) or {}))
    mine = {n for t in part['tasks'] for n in t.get('hosts_networks') or ()}
    part['name_tables'] = {n: text for n, text in (plan.get('name_tables') or {}).items() if n in mine}
    part['endpoints'] = {n: vips for n, vips in (plan.get('endpoints') or {}).items() if n in mine}
    return part


def task_states(results):
    """{task namespace: running} from the ``task`` module results of the nodes (the service role's
    registered ``service_result``; undefined or skipped ones are left out), for ``service_ps``; a
    task under a restart policy maps to what its supervisor reports, with ``running``."""
    out = {}
    for res in results or []:
        if isinstance(res, dict):
            for t in res.get('tasks') or []:
                task = t.get('task') or {}
                sup = task.get('supervision')
                out[t['name']] = dict(sup, running=task.get('running')) if sup else task.get('running')
    return out


def _supervised_state(sup):
    """CURRENT STATE and ERROR of a supervised task, in Docker's words."""
    if sup.get('last_signal') is not None:
        last = 'killed by signal %d' % sup['last_signal']
    elif sup.get('last_exit'):
        last = 'non-zero exit (%d)' % sup['last_exit']
    else:
        last = ''
    restarts = sup.get('restarts') or 0
    error = ', '.join(x for x in (('%d restart%s' % (restarts, '' if restarts == 1 else 's')) if restarts else '',
                                  ('last: ' + last) if last else '') if x)
    state = sup.get('state')
    if state == 'run':
        return 'Running', error
    if state in ('finish', 'starting'):
        return 'Starting', error
    return ('Complete' if not last else 'Failed'), error


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = '   '.join('%%-%ds' % w for w in widths)
    return '\n'.join((fmt % tuple(str(c) for c in r)).rstrip() for r in [header] + rows)


def network_ls(plan):
    """`docker network ls` for the cluster's overlay networks."""
    rows = [[n['id'][:12], n['name'], n.get('driver', 'overlay'), n.get('scope', 'swarm')]
            for n in plan.get('networks', []) if n.get('state', 'present') == 'present']
    return _table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], rows)


def _network(plan, name):
    for n in plan.get('networks', []):
        if n['name'] == name:
            return n
    raise AnsibleFilterError('network_inspect: no network named %r in the plan (networks: %s)'
                             % (name, ', '.join(n['name'] for n in plan.get('networks', [])) or 'none'))


def network_inspect(plan, name):
    """`docker network inspect NAME` as JSON text: Name, Id, Scope, Driver, IPAM Config, Peers, Services."""
    n = _network(plan, name)
    peers = []
    containers = {}
    for host, node in sorted(plan.get('nodes', {}).items()):
        if any(sb['network'] == name for sb in node.get('sandboxes', [])):
            peers.append({'Name': host, 'IP': node.get('addr')})
        for task in node.get('tasks', []):
            for itf in task.get('interfaces', []):
                if itf['network'] == name:
                    containers[task['id']] = {'Name': task['name'], 'MacAddress': itf['mac'],
                                              'IPv4Address': itf['address'], 'Node': host}
    # as `docker network inspect --verbose`: each service on the network, its VIP (none in dnsrr mode)
    # and its tasks
    services = {}
    for svc in plan.get('services', []):
        if name in svc.get('networks', []):
            services[svc['name']] = {'VIP': (svc.get('vips') or {}).get(name, ''),
                                     'EndpointMode': svc.get('endpoint_mode', 'vip'),
                                     'Tasks': [t['name'] for t in svc.get('tasks', [])
                                               if name in (t.get('addresses') or {})]}
    options = {'com.docker.network.driver.overlay.vxlanid_list': ','.join(str(s['vni']) for s in n['subnets'])}
    if n.get('encrypted'):
        options['encrypted'] = ''
    if n.get('multicast'):
        options['multicast'] = ''
    doc = [{
        'Name': n['name'],
        'Id': n['id'],
        'Scope': n.get('scope', 'swarm'),
        'Driver': n.get('driver', 'overlay'),
        'EnableIPv6': False,
        'IPAM': {'Driver': 'default', 'Options': None,
                 'Config': [{'Subnet': s['subnet'], 'Gateway': s['gateway']} for s in n['subnets']]},
        'Containers': containers,
        'Options': options,
        'MTU': n.get('mtu'),
        'Peers': peers,
        'Services': services,
    }]
    return json.dumps(doc, indent=4)


def service_ps(plan, name, observed=None):
    """`docker service ps NAME`, then the endpoint mode and the VIPs; ``observed`` maps a task name to
    its observed state (running or not)."""
    observed = observed or {}
    for svc in plan.get('services', []):
        if svc['name'] == name:
            break
    else:
        raise AnsibleFilterError('service_ps: no service named %r in the plan' % (name,))
    rows = []
    for t in sorted(svc.get('tasks', []), key=lambda t: (str(t.get('slot')), t['name'])):
        short = '.'.join(t['name'].split('.')[:2])
        state = observed.get(t['name'])
        error = ''
        if isinstance(state, dict):
            current, error = _supervised_state(state)
        else:
            current = 'Running' if state is True else ('Unknown' if state is None else 'Failed')
        addrs = ', '.join('%s (%s)' % (ip, net) for net, ip in sorted((t.get('addresses') or {}).items()))
        rows.append([t['id'][:12], short, t['node'], t.get('desired_state', 'running').capitalize(), current, addrs,
                     error])
    header = ['ID', 'NAME', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ADDRESS', 'ERROR']
    if not any(r[-1] for r in rows):        # Docker's ERROR column, shown when a task has one
        header, rows = header[:-1], [r[:-1] for r in rows]
    if svc.get('image'):                    # Docker's IMAGE column, for a service of containers
        header, rows = header[:2] + ['IMAGE'] + header[2:], [r[:2] + [svc['image']] + r[2:] for r in rows]
    table = _table(header, rows)
    # how the service is reached, under the tasks (`docker service inspect`'s Endpoint)
    vips = ', '.join('%s (%s)' % (ip, net) for net, ip in (svc.get('vips') or {}).items())
    mode = svc.get('endpoint_mode', 'vip')
    return table + '\nENDPOINT MODE: %s%s' % (mode, ('  VIP: ' + vips) if vips else '')


# verify_probes' scopes: one task pair per node pair and subnet pair, or every task pair
SCOPES = ('node_pairs', 'all_pairs')
# above these sizes a grid is too wide to read: the matrix shows nodes instead of tasks, then a summary
TASK_GRID_MAX = 16
NODE_GRID_MAX = 16


def _cell(cells, s, d):
    """A grid cell: ``-`` on the diagonal without probes, ``?`` no result, ``ok`` or ``FAIL``."""
    c = cells.get((s, d))
    return ('-' if s == d else '?') if c is None else ('ok' if c else 'FAIL')


def _grid(keys, short, value):
    width = max([len(short[k]) for k in keys] + [6])
    lines = [' ' * (width + 2) + ' '.join(short[k].rjust(width) for k in keys)]
    for s in keys:
        lines.append(short[s].ljust(width + 2) + ' '.join(value(s, d).rjust(width) for d in keys))
    return lines


def _task_nodes(plan):
    return {t['name']: host for host, node in ((plan or {}).get('nodes') or {}).items()
            for t in node.get('tasks', [])}


def _node_lines(net, pairs, where):
    """A network's probed task pairs as a grid of nodes (a cell: every probe between the tasks of
    those two nodes), or above NODE_GRID_MAX nodes the node pairs that failed or have no result."""
    cells = {}
    for (s, d), c in pairs.items():
        key = (where.get(s, '?'), where.get(d, '?'))
        cells[key] = cells.get(key, True) and c
    nodes = sorted({n for n, _m in cells} | {m for _n, m in cells})
    tasks = {t for pair in pairs for t in pair}
    lines = ['network %s: %d task(s), %d pair(s), %d node(s)' % (net, len(tasks), len(pairs), len(nodes))]

    if len(nodes) <= NODE_GRID_MAX:
        return lines + _grid(nodes, {n: n for n in nodes}, lambda s, d: _cell(cells, s, d))
    failed = ['%s -> %s' % (s, d) for s in nodes for d in nodes if _cell(cells, s, d) == 'FAIL']
    missing = ['%s -> %s' % (s, d) for s in nodes for d in nodes if _cell(cells, s, d) == '?']
    lines.append('  (grid of %d nodes left out) node pairs: %d ok, %d failed, %d without a result'
                 % (len(nodes), sum(1 for c in cells.values() if c), len(failed), len(missing)))
    lines.extend('  failed: %s' % x for x in failed[:20])
    lines.extend('  no result: %s' % x for x in missing[:20])
    return lines


def _label(label):
    try:
        net, src, dst, kind = (label or '').split('|')
    except ValueError as exc:
        raise AnsibleFilterError('verify_matrix: probe label %r is not network|from|to|kind' % (label,)) from exc
    return net, src, dst, kind


def _probe_cells(results, passed=()):
    """{network: {(from task, to task): ok}}, the misses, and the isolation counts, from probe
    results and the labels of probes that passed (the probe module's report=failed)."""
    cells = {}
    misses = []
    isolated = {'ok': 0, 'failed': 0}
    outcomes = [(label, True, None) for label in passed]
    outcomes.extend((r.get('label'), r['ok'], r) for r in results)
    for label, ok, r in outcomes:
        net, src, dst, kind = _label(label)
        if kind == 'isolated':
            isolated['ok' if ok else 'failed'] += 1
            if not ok:
                misses.append('%s -> %s (other network %s): %s' % (src, dst, net, r['detail']))
            continue
        pairs = cells.setdefault(net, {})
        pairs[(src, dst)] = pairs.get((src, dst), True) and ok
        if not ok:
            misses.append('%s: %s -> %s by %s: %s' % (net, src, dst, 'address' if kind == 'addr' else 'name', r['detail']))
    return cells, misses, isolated


def verify_matrix(results, scope=None, total_pairs=None, plan=None, passed=None):
    """Render probe results as one matrix per network and a list of misses.

    ``results`` is a list of probe results (from linuxnet.overlay.probe), each with a ``label``
    of the form ``<network>|<from task>|<to task>|<kind>``, where kind is ``addr``, ``name`` or
    ``isolated``. A cell shows ``ok`` when every probe of that pair passed (address, name,
    hops, MTU), ``FAIL`` otherwise; isolation probes are listed below the matrices.

    ``scope`` (verify_probes' scope) adds a line saying how the pairs were chosen, with
    ``total_pairs`` (verify_task_pairs) the number of task pairs in the plan. With ``node_pairs``,
    or above TASK_GRID_MAX tasks, and the ``plan`` to place the tasks, the grid has nodes as rows
    and columns instead of tasks. Without ``scope`` the text is the task grid as before.

    ``passed`` are the labels of probes that passed, when ``results`` holds only those that failed
    (the probe module's report=failed: a result per passed probe costs the controller most of the
    verify play at 64 nodes, bench/README.md).
    """
    cells, misses, isolated = _probe_cells(results, passed or ())
    if scope is not None and scope not in SCOPES:
        raise AnsibleFilterError('verify_matrix: scope %r is not one of %s' % (scope, ', '.join(SCOPES)))
    where = _task_nodes(plan) if plan is not None else None
    lines = []
    for net in sorted(cells):
        tasks = sorted({s for s, _d in cells[net]} | {d for _s, d in cells[net]})
        if scope is not None and where is not None and (scope == 'node_pairs' or len(tasks) > TASK_GRID_MAX):
            lines.extend(_node_lines(net, cells[net], where))
            lines.append('')
            continue
        short = {t: '.'.join(t.split('.')[:2]) for t in tasks}
        lines.append('network %s: %d task(s), %d pair(s)' % (net, len(tasks), len(cells[net])))
        if scope is None or len(tasks) <= TASK_GRID_MAX:
            lines.extend(_grid(tasks, short, lambda s, d, oks=cells[net]: _cell(oks, s, d)))
        else:
            lines.append('  (grid of %d tasks left out; misses below)' % len(tasks))
        lines.append('')
    total = sum(len(c) for c in cells.values())
    failed = sum(1 for c in cells.values() for ok in c.values() if not ok)
    if scope is not None:
        of = '%d of the %d task pairs' % (total, total_pairs) if total_pairs is not None else '%d task pairs' % total
        lines.append('scope: %s (%s)' % ({
            'node_pairs': 'node_pairs - one task on each side per node pair and subnet',
            'all_pairs': 'all_pairs - every task pair'}[scope], of))
    lines.append('pairs: %d ok, %d failed; isolation between networks: %d ok, %d failed'
                 % (total - failed, failed, isolated['ok'], isolated['failed']))
    return {'text': '\n'.join(lines), 'misses': misses, 'pairs': total, 'failed': failed + isolated['failed'],
            'scope': scope, 'total_pairs': total_pairs}


def peer_neigh_entries(peers):
    """A subnet's peers ({ip, mac, vtep}) as linuxnet.overlay.neigh entries."""
    return [{'ip': p['ip'], 'mac': p['mac']} for p in peers]


def peer_fdb_entries(peers):
    """A subnet's peers ({ip, mac, vtep}) as linuxnet.overlay.fdb entries (one per MAC)."""
    seen = {}
    for p in peers:
        seen.setdefault(p['mac'], {'mac': p['mac'], 'dst': p['vtep']})
    return list(seen.values())


def _members(plan):
    """network name -> [(task name, ip, subnet, mtu, node)] for every task interface in the plan."""
    nets = {}
    for host, node in plan.get('nodes', {}).items():
        for task in node.get('tasks', []):
            for itf in task.get('interfaces', []):
                subnet = itf['address'].split('/', 1)[1] if '/' in itf['address'] else None
                nets.setdefault(itf['network'], []).append({
                    'task': task['name'], 'ip': itf['ip'], 'mtu': itf.get('mtu'), 'node': host,
                    'cidr': itf['address'], 'prefix': subnet, 'bridge': itf.get('bridge')})
    return nets


def _existing_members(plan, existing):
    """_members, with only the tasks in ``existing`` when it is not None (check mode)."""
    members = _members(plan)
    if existing is not None:
        existing = set(existing)
        members = {net: [m for m in ms if m['task'] in existing] for net, ms in members.items()}
    return members


def _local_tasks(plan, hostname, existing):
    """Node ``hostname``'s tasks that can probe: all of them, or in check mode those that exist."""
    node = plan.get('nodes', {}).get(hostname) or {}
    existing = None if existing is None else set(existing)
    return [t for t in node.get('tasks', []) if existing is None or t['netns'] in existing]


def _reach_probes(net, task, itf, m, by_name, mtu):
    """From ``task`` (interface ``itf`` on network ``net``) to member ``m``: by address (one hop
    inside a subnet, two across subnets, DF at the MTU) and by name."""
    probe = {'netns': task['netns'], 'target': m['ip'], 'hops': 1 if m['bridge'] == itf.get('bridge') else 2,
             'label': '%s|%s|%s|addr' % (net, task['name'], m['task'])}
    if mtu and itf.get('mtu'):
        probe['mtu'] = itf['mtu']
    out = [probe]
    if by_name:
        out.append({'netns': task['netns'], 'target': m['task'],
                    'label': '%s|%s|%s|name' % (net, task['name'], m['task'])})
    return out


def _isolation_probe(net, task, m):
    return {'netns': task['netns'], 'target': m['ip'], 'expect': 'isolated',
            'label': '%s|%s|%s|isolated' % (net, task['name'], m['task'])}


def _all_pairs(members, local, by_name, mtu, isolation):
    probes = []
    for task in local:
        mine = {itf['network']: itf for itf in task.get('interfaces', [])}
        reachable = set()
        for net, itf in sorted(mine.items()):
            for m in members.get(net, []):
                if m['task'] == task['name']:
                    continue
                reachable.add(m['task'])
                probes.extend(_reach_probes(net, task, itf, m, by_name, mtu))
        if isolation:
            for net, ms in sorted(members.items()):
                if net in mine:
                    continue
                for m in ms:
                    if m['task'] in reachable or m['task'] == task['name']:
                        continue
                    probes.append(_isolation_probe(net, task, m))
    return probes


def _bridge_key(bridge):
    return (bridge is None, str(bridge))


def _by_node(ms):
    """{node: [members sorted by task name]} and the sorted node names."""
    out = {}
    for m in ms:
        out.setdefault(m['node'], []).append(m)
    for v in out.values():
        v.sort(key=lambda m: m['task'])
    return out, sorted(out)


def _node_pairs(members, local, hostname, by_name, mtu, isolation):
    """Per network, subnet pair and ordered node pair, one task of this node to one task of the
    other node. Which ones rotates by stable indexes (tasks sorted by name, nodes sorted by name):
    this node uses its i-th task of the source subnet towards the i-th destination node, and the
    destination node is reached at its j-th task when this node is its j-th source node, so the
    node pairs share the load and every task is probed from and to once the counts allow."""
    tasks = {t['name']: t for t in local}
    probes = []
    for net, ms in sorted(members.items()):
        subnets = {}
        for m in ms:
            subnets.setdefault(m['bridge'], []).append(m)
        for src_bridge in sorted(subnets, key=_bridge_key):
            src_nodes, src_order = _by_node(subnets[src_bridge])
            mine = [m for m in src_nodes.get(hostname, []) if m['task'] in tasks]
            if not mine:
                continue
            j = src_order.index(hostname)
            for dst_bridge in sorted(subnets, key=_bridge_key):
                dst_nodes, dst_order = _by_node(subnets[dst_bridge])
                for i, other in enumerate(dst_order):
                    source = mine[i % len(mine)]
                    targets = dst_nodes[other]
                    target = targets[j % len(targets)]
                    if target['task'] == source['task']:
                        if len(targets) < 2:
                            continue              # this node's only task of the subnet
                        target = targets[(j + 1) % len(targets)]
                    task = tasks[source['task']]
                    itf = [x for x in task['interfaces'] if x['network'] == net][0]
                    probes.extend(_reach_probes(net, task, itf, target, by_name, mtu))
    if isolation:
        probes.extend(_node_isolation(members, local, hostname))
    return probes


def _node_isolation(members, local, hostname):
    """Per other network and node of it, one probe from one task of this node that is not on that
    network to one task there it shares no network with (rotated like the reach probes: the source
    by the destination node's index, the target by this node's index among the nodes with tasks)."""
    nets_of = {}
    for net, ms in members.items():
        for m in ms:
            nets_of.setdefault(m['task'], set()).add(net)
    hosts = sorted({m['node'] for ms in members.values() for m in ms} | {hostname})
    j = hosts.index(hostname)
    local = sorted(local, key=lambda t: t['name'])
    probes = []
    for net, ms in sorted(members.items()):
        sources = [t for t in local if net not in {itf['network'] for itf in t.get('interfaces', [])}]
        if not sources:
            continue
        nodes, order = _by_node(ms)
        for i, other in enumerate(order):
            targets = nodes[other]
            for k in range(len(sources)):
                task = sources[(i + k) % len(sources)]
                mine = {itf['network'] for itf in task.get('interfaces', [])}
                ok = [m for m in targets if m['task'] != task['name'] and not nets_of.get(m['task'], set()) & mine]
                if ok:
                    probes.append(_isolation_probe(net, task, ok[j % len(ok)]))
                    break
    return probes


def verify_probes(plan, hostname, by_name=True, mtu=True, isolation=True, existing=None, scope='node_pairs'):
    """The probes node ``hostname`` runs, by address (one hop inside a subnet, two across subnets,
    DF at the network MTU) and by name, plus isolation probes to tasks that share no network.

    ``scope`` ``all_pairs``: from each of its tasks to every other task of each network the task
    is on, and an isolation probe to each task that shares no network with it (tasks squared).
    ``node_pairs`` (the default): per network, subnet pair (source subnet, destination subnet)
    and ordered node pair (the node itself too when it has two tasks there), one task of this
    node to one task of the other node, chosen by a stable rotation that spreads the load; and
    per other network and node of it one isolation probe (nodes squared).

    ``existing`` (check mode): the task namespaces that exist on the nodes; a probe from or to a
    task that does not exist yet (the run would create it) is left out."""
    _require_plan(plan, 'linuxnet.overlay.verify')
    if scope not in SCOPES:
        raise AnsibleFilterError('verify_probes: scope %r is not one of %s' % (scope, ', '.join(SCOPES)))
    members = _existing_members(plan, existing)
    local = _local_tasks(plan, hostname, existing)
    if scope == 'all_pairs':
        return _all_pairs(members, local, by_name, mtu, isolation)
    return _node_pairs(members, local, hostname, by_name, mtu, isolation)


def verify_task_pairs(plan, existing=None):
    """How many ordered task pairs share a network in the plan (all_pairs probes each of them),
    counting only the tasks in ``existing`` when it is given (check mode)."""
    _require_plan(plan, 'linuxnet.overlay.verify')
    return sum(len(ms) * (len(ms) - 1) for ms in _existing_members(plan, existing).values())


def walkthrough_pair(plan):
    """The seed's demonstration: from the first task of the first service to another task of the
    same network, on another node when there is one. Returns {} when there is no such pair."""
    where = {}
    for host, node in plan.get('nodes', {}).items():
        for task in node.get('tasks', []):
            where[task['name']] = (host, task)
    for svc in plan.get('services', []):
        tasks = sorted(svc.get('tasks', []), key=lambda t: (str(t.get('slot')), t['name']))
        if not tasks or tasks[0]['name'] not in where:
            continue
        host, first = where[tasks[0]['name']]
        if not first.get('interfaces'):
            continue
        itf = first['interfaces'][0]
        members = [m for m in _members(plan).get(itf['network'], []) if m['task'] != first['name']]
        members.sort(key=lambda m: (m['node'] == host, m['task']))
        if members:
            to = members[0]
            return {'node': host, 'from': first['name'], 'netns': first['netns'], 'network': itf['network'],
                    'to': to['task'], 'to_ip': to['ip'], 'to_node': to['node']}
    return {}


class FilterModule:
    def filters(self):
        return {
            'network_ls': network_ls,
            'network_inspect': network_inspect,
            'service_ps': service_ps,
            'verify_matrix': verify_matrix,
            'verify_probes': verify_probes,
            'verify_task_pairs': verify_task_pairs,
            'peer_neigh_entries': peer_neigh_entries,
            'peer_fdb_entries': peer_fdb_entries,
            'walkthrough_pair': walkthrough_pair,
            'node_plan': node_plan,
            'task_states': task_states,
        }
