# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster planner (private, pure: no I/O, no root, no kernel).

``plan(state, inventory) -> (new_state, plan, messages)`` validates the whole input first
(collecting every error), then allocates what is new (ids, subnets, gateways, VNIs, task
placement, addresses), keeps what exists, frees what went away, and derives the complete
desired state of every node: sandboxes, bridges, VTEPs, peer entries, tasks, interfaces and
hosts files. The shape of the plan is documented in ``docs/plan.md`` and is a contract for the
roles.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import ipaddress
import re
import shlex

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ids as _ids
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import placement as _placement
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state

NETWORK_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]*$')
SERVICE_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_-]*$')
NAME_MAX = 63
PORT_MIN, PORT_MAX = 1024, 49151
UNDERLAY_MTU_MIN, UNDERLAY_MTU_MAX = 1280, 65535
GC_THRESH_MIN = (8192, 49152, 65536)
SANDBOX_PREFIX = 'ov-'
HOSTS_HEAD = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'

TOP_KEYS = ('nodes', 'networks', 'services', 'default_addr_pool', 'mask_length', 'data_path_port')
NODE_KEYS = ('hostname', 'role', 'addr', 'labels', 'state', 'underlay_mtu', 'underlay_family', 'routes',
             'availability')
AVAILABILITY = ('active', 'pause', 'drain')      # docker node update --availability
NETWORK_KEYS = ('name', 'subnets', 'gateway', 'encrypted', 'mtu', 'state', 'vnis', 'multicast')
SERVICE_KEYS = ('name', 'networks', 'replicas', 'mode', 'constraints', 'command', 'state', 'max_replicas_per_node')
ATTACH_KEYS = ('name', 'subnet')
# the cluster-wide options as messages name them: the module option and the inventory variable
POOL = 'default_addr_pool (overlay_default_addr_pool)'
MASK = 'default_addr_pool_mask_length (overlay_default_addr_pool_mask_length)'
PORT = 'data_path_port'
OVERLAP_HINT = '; overlay subnets must not overlap: choose another subnet, or leave subnets out to get a free one of the pool'
ROUTE_HINT = '; the node would lose its way to that network: choose another subnet'
VNI_HINT = '; choose another VNI, or leave vnis out to get a free one'


class PlanError(Exception):
    """The input cannot be planned; ``errors`` lists every problem, each naming the bad value."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__('%d problem(s) in the cluster input:\n- %s' % (len(self.errors), '\n- '.join(self.errors)))


# ============================================================================================
# names derived from ids

def sandbox_name(network_id):
    """Namespace of a network's sandbox on a node: ``ov-`` + the first 10 characters of the
    network id (Docker: ``1-`` + 10 characters). The id, not the name, so that a network removed
    and created again under the same name never adopts the stale sandbox of the old one; the
    ``ov-`` prefix marks the namespaces this collection owns."""
    return SANDBOX_PREFIX + network_id[:10]


def veth_name(task_id, network_id, attempt=0):
    """Sandbox-side veth of a task on a network: ``veth`` + 7 hex characters of
    sha256(task id, network id) -- 11 characters, deterministic (Docker's are random)."""
    seed = '%s:%s' % (task_id, network_id) + (':%d' % attempt if attempt else '')
    return 'veth' + hashlib.sha256(seed.encode('ascii')).hexdigest()[:7]


def task_name(service, task):
    """``<service>.<slot>.<task id>`` (replicated) or ``<service>.<node id>.<task id>`` (global)."""
    middle = task['slot'] if task.get('slot') is not None else task['node_id']
    return '%s.%s.%s' % (service, middle, task['id'])


def gc_thresh(peer_count):
    """Neighbour-table thresholds for a node: Docker's 8192/49152/65536, raised to keep 1x, 2x
    and 4x the node's permanent peer entries below them."""
    return [max(GC_THRESH_MIN[0], peer_count), max(GC_THRESH_MIN[1], 2 * peer_count),
            max(GC_THRESH_MIN[2], 4 * peer_count)]


# ============================================================================================
# input validation (everything is checked before anything is allocated)

def _suggest(key, known):
    close = difflib.get_close_matches(key, known, n=1)
    return ' (did you mean %r?)' % close[0] if close else ''


def _unknown_keys(where, item, known, errors):
    for key in item:
        if key not in known:
            errors.append('%s: unknown key %r%s; known keys: %s'
                          % (where, key, _suggest(str(key), known), ', '.join(known)))


def _set_or_drop(entry, key, value, default):
    """``entry[key] = value``, or no such key when ``value`` is the default: a state key added by a
    later version is written only when used, so the states made before stay as they were."""
    if value == default:
        entry.pop(key, None)
    else:
        entry[key] = value


def _int(value, where, what, errors, lo=None, hi=None):
    value = _ipam.as_int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append('%s: %s %r is not an integer' % (where, what, value))
        return None
    if hi is None and lo is not None and value < lo:
        errors.append('%s: %s %d is below %d' % (where, what, value, lo))
        return None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        errors.append('%s: %s %d is out of range %s..%s' % (where, what, value, lo, hi))
        return None
    return value


def _bool(value, where, what, errors):
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and value in BOOLEANS:
        return boolean(value)
    errors.append('%s: %s %r is not a boolean' % (where, what, value))
    return None


def _state_opt(item, where, errors):
    value = item.get('state', 'present')
    if value not in ('present', 'absent'):
        errors.append('%s: state %r is not present or absent' % (where, value))
        return 'present'
    return value


def _list(value, where, what, errors):
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append('%s: %s must be a list, got %r' % (where, what, value))
        return []
    return value


def _name(item, where, regex, rule, errors):
    name = item.get('name')
    if not isinstance(name, str) or not regex.match(name) or len(name) > NAME_MAX:
        errors.append('%s: name %r is not valid: %s, at most %d characters' % (where, name, rule, NAME_MAX))
        return None
    return name


def _check_nodes(raw, errors):
    nodes, seen, addrs = [], set(), {}
    for i, item in enumerate(_list(raw, 'input', 'nodes', errors)):
        where = 'node #%d' % (i + 1)
        if not isinstance(item, dict):
            errors.append('%s: must be a dict, got %r' % (where, item))
            continue
        host = item.get('hostname')
        if not isinstance(host, str) or not host:
            errors.append('%s: hostname %r is not a non-empty string' % (where, host))
            continue
        where = 'node %s' % host
        _unknown_keys(where, item, NODE_KEYS, errors)
        if host in seen:
            errors.append('%s: duplicate node hostname %r' % (where, host))
            continue
        seen.add(host)
        node = {'hostname': host, 'state': _state_opt(item, where, errors)}
        nodes.append(node)
        role = item.get('role') or 'worker'
        if role not in _state.NODE_ROLES:
            errors.append('%s: role %r is not manager or worker' % (where, role))
        node['role'] = role
        labels = item.get('labels') or {}
        if not isinstance(labels, dict):
            errors.append('%s: labels must be a dict, got %r' % (where, labels))
            labels = {}
        node['labels'] = dict((str(k), str(v)) for k, v in labels.items())
        availability = item.get('availability') or 'active'
        if availability not in AVAILABILITY:
            errors.append('%s: availability %r is not active, pause or drain' % (where, availability))
            availability = 'active'
        node['availability'] = availability
        if node['state'] == 'absent':
            continue
        addr = item.get('addr')
        node['addr'] = None
        if addr not in (None, ''):  # missing: the recorded one is kept (checked against the state)
            try:
                node['addr'] = str(_ipam.parse_ip(addr, 'data-path address'))
            except ValueError as exc:
                errors.append('%s: %s' % (where, exc))
        if node['addr'] is not None:
            if node['addr'] in addrs:
                errors.append('%s: data-path address %s is also the address of node %s'
                              % (where, node['addr'], addrs[node['addr']]))
            addrs[node['addr']] = host
        mtu = item.get('underlay_mtu')
        if mtu is not None:
            mtu = _int(mtu, where, 'underlay_mtu', errors, UNDERLAY_MTU_MIN, UNDERLAY_MTU_MAX)
        node['underlay_mtu'] = mtu  # None: the recorded one, else 1500
        family = item.get('underlay_family')
        version = ipaddress.ip_address(node['addr']).version if node['addr'] else 4
        if family is not None:
            fam = {'ipv4': 4, 'ipv6': 6, 4: 4, 6: 6, 'inet': 4, 'inet6': 6}.get(family)
            if fam is None:
                errors.append('%s: underlay_family %r is not ipv4 or ipv6' % (where, family))
            elif node['addr'] and fam != version:
                errors.append('%s: underlay_family %r does not match data-path address %s'
                              % (where, family, node['addr']))
        node['family'] = version if node['addr'] else None
        node['routes'] = []
        for route in _list(item.get('routes'), where, 'routes', errors):
            try:
                net = _ipam.parse_route(route)
            except ValueError as exc:
                errors.append('%s: %s' % (where, exc))
                continue
            if net.version == 4 and net.prefixlen > 0:  # a default route overlaps everything
                node['routes'].append((route, net))
    return nodes


def _check_networks(raw, errors):
    networks, seen = [], set()
    explicit_subnets, explicit_vnis = [], {}
    for i, item in enumerate(_list(raw, 'input', 'networks', errors)):
        where = 'network #%d' % (i + 1)
        if not isinstance(item, dict):
            errors.append('%s: must be a dict, got %r' % (where, item))
            continue
        name = _name(item, where, NETWORK_NAME_RE, 'letters, digits, "_", "." and "-", starting with a letter '
                     'or digit', errors)
        if name is None:
            continue
        where = 'network %s' % name
        _unknown_keys(where, item, NETWORK_KEYS, errors)
        if name in seen:
            errors.append('%s: duplicate network name %r' % (where, name))
            continue
        seen.add(name)
        net = {'name': name, 'state': _state_opt(item, where, errors), 'subnets': None, 'gateways': None,
               'vnis': None, 'encrypted': False, 'mtu': None, 'multicast': False}
        networks.append(net)
        if item.get('encrypted') is not None:
            net['encrypted'] = bool(_bool(item['encrypted'], where, 'encrypted', errors))
        if item.get('multicast') is not None:
            net['multicast'] = bool(_bool(item['multicast'], where, 'multicast', errors))
        if item.get('mtu') is not None:
            net['mtu'] = _int(item['mtu'], where, 'mtu', errors, _ipam.MTU_MIN, _ipam.MTU_MAX)
            if net['mtu'] is None:
                errors[-1] += '; leave mtu out to derive it from the underlay'
        subnets = None
        if item.get('subnets') is not None:
            subnets = []
            for value in _list(item['subnets'], where, 'subnets', errors):
                try:
                    subnet = _ipam.parse_subnet(value)
                except ValueError as exc:
                    errors.append('%s: %s' % (where, exc))
                    continue
                hit = _ipam.overlaps_any(subnet, subnets)
                if hit is not None:
                    errors.append('%s: subnet %s overlaps its own subnet %s' % (where, subnet, hit))
                    continue
                subnets.append(subnet)
            if item['subnets'] == []:
                errors.append('%s: subnets is empty; leave it out to get the next free subnet of the pool' % where)
            net['subnets'] = subnets
            if net['state'] == 'present':
                for subnet in subnets:
                    for other, other_subnet in explicit_subnets:
                        if subnet.overlaps(other_subnet):
                            errors.append('%s: subnet %s overlaps subnet %s of network %s%s'
                                          % (where, subnet, other_subnet, other, OVERLAP_HINT))
                    explicit_subnets.append((name, subnet))
        gateway = item.get('gateway')
        if gateway is not None:
            gateways = gateway if isinstance(gateway, list) else [gateway]
            if subnets is None:
                errors.append('%s: gateway %r needs explicit subnets (one gateway per subnet)' % (where, gateway))
            elif len(gateways) != len(item.get('subnets') or []):
                errors.append('%s: %d gateway(s) %r for %d subnet(s): give one per subnet (null for the default)'
                              % (where, len(gateways), gateway, len(item.get('subnets') or [])))
            elif len(subnets) == len(gateways):
                net['gateways'] = []
                for subnet, gw in zip(subnets, gateways):
                    if gw is None:
                        net['gateways'].append(str(_ipam.first_host(subnet)))
                        continue
                    try:
                        net['gateways'].append(str(_ipam.check_gateway(subnet, gw)))
                    except ValueError as exc:
                        errors.append('%s: %s; give a host address of the subnet, or null for its first host'
                                      % (where, exc))
        vnis = item.get('vnis')
        if vnis is not None:
            want = len(item.get('subnets') or []) or 1
            vnis = _list(vnis, where, 'vnis', errors)
            if len(vnis) != want:
                errors.append('%s: %d VNI(s) %r for %d subnet(s): give one per subnet' % (where, len(vnis), vnis, want))
            net['vnis'] = []
            for vni in vnis:
                try:
                    net['vnis'].append(_ipam.check_vni(vni))
                except ValueError as exc:
                    errors.append('%s: %s; leave vnis out to get free ones from %d' % (where, exc, _ipam.VNI_AUTO_START))
                    continue
                if net['state'] == 'present':
                    if vni in explicit_vnis and explicit_vnis[vni] != name:
                        errors.append('%s: VNI %d is also requested by network %s%s'
                                      % (where, vni, explicit_vnis[vni], VNI_HINT))
                    elif vni in explicit_vnis:
                        errors.append('%s: VNI %d is listed twice' % (where, vni))
                    explicit_vnis[vni] = name
    return networks


def _check_command(value, where, errors):
    if value is None:
        return None
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            errors.append('%s: command %r cannot be split into arguments: %s' % (where, value, exc))
            return None
        if not argv:
            errors.append('%s: command is empty' % where)
            return None
        return argv
    if isinstance(value, list):
        if not value:
            errors.append('%s: command is an empty list' % where)
            return None
        argv = []
        for arg in value:
            if isinstance(arg, bool) or not isinstance(arg, (str, int, float)):
                errors.append('%s: command argument %r is not a string' % (where, arg))
                return None
            argv.append(str(arg))
        return argv
    errors.append('%s: command %r is neither a string nor a list of arguments' % (where, value))
    return None


def _check_services(raw, errors):
    services, seen = [], set()
    for i, item in enumerate(_list(raw, 'input', 'services', errors)):
        where = 'service #%d' % (i + 1)
        if not isinstance(item, dict):
            errors.append('%s: must be a dict, got %r' % (where, item))
            continue
        name = _name(item, where, SERVICE_NAME_RE, 'letters, digits, "_" and "-" (no dots: task names use '
                     'dots), starting with a letter or digit', errors)
        if name is None:
            continue
        where = 'service %s' % name
        _unknown_keys(where, item, SERVICE_KEYS, errors)
        if name in seen:
            errors.append('%s: duplicate service name %r' % (where, name))
            continue
        seen.add(name)
        svc = {'name': name, 'state': _state_opt(item, where, errors)}
        services.append(svc)
        mode = item.get('mode')
        if mode is None:
            mode = 'replicated'
        if mode not in ('replicated', 'global'):
            errors.append('%s: mode %r is not replicated or global' % (where, mode))
            mode = 'replicated'
        svc['mode'] = mode
        replicas = item.get('replicas')
        if mode == 'global':
            if replicas is not None:
                errors.append('%s: replicas %r and mode: global exclude each other' % (where, replicas))
            svc['replicas'] = None
        else:
            svc['replicas'] = 1 if replicas is None else _int(replicas, where, 'replicas', errors, 0)
            if svc['replicas'] is None:
                svc['replicas'] = 0
        svc['max_per_node'] = None                                     # 0 or left out: no limit, as Docker's
        if item.get('max_replicas_per_node') is not None:
            limit = _int(item['max_replicas_per_node'], where, 'max_replicas_per_node', errors, 0)
            if limit and mode == 'global':
                errors.append('%s: max_replicas_per_node and mode: global exclude each other (a global service '
                              'has one task per node)' % where)
            elif limit:
                svc['max_per_node'] = limit
        attach, names = [], set()
        for entry in _list(item.get('networks'), where, 'networks', errors):
            subnet = None
            if isinstance(entry, dict):
                _unknown_keys('%s: network attachment' % where, entry, ATTACH_KEYS, errors)
                net_name = entry.get('name')
                if entry.get('subnet') is not None:
                    try:
                        subnet = str(_ipam.parse_subnet(entry['subnet']))
                    except ValueError as exc:
                        errors.append('%s: %s' % (where, exc))
            else:
                net_name = entry
            if not isinstance(net_name, str) or not NETWORK_NAME_RE.match(net_name):
                errors.append('%s: network %r is not a network name' % (where, net_name))
                continue
            if net_name in names:
                errors.append('%s: network %r is listed twice' % (where, net_name))
                continue
            names.add(net_name)
            attach.append({'name': net_name, 'subnet': subnet})
        svc['networks'] = attach
        constraints = []
        for text in _list(item.get('constraints'), where, 'constraints', errors):
            try:
                constraints.append(_placement.parse_constraint(text))
            except ValueError as exc:
                errors.append('%s: %s' % (where, exc))
        svc['constraints'] = constraints
        svc['command'] = _check_command(item.get('command'), where, errors)
    return services


def validate_input(inventory):
    """Normalise and check the whole planner input; raise PlanError listing every problem."""
    errors = []
    if not isinstance(inventory, dict):
        raise PlanError(['the planner input must be a dict, got %r' % (inventory,)])
    _unknown_keys('input', inventory, TOP_KEYS, errors)
    result = {'nodes': _check_nodes(inventory.get('nodes'), errors),
              'networks': _check_networks(inventory.get('networks'), errors),
              'services': _check_services(inventory.get('services'), errors),
              'default_addr_pool': None, 'mask_length': None, 'data_path_port': None}
    pool = inventory.get('default_addr_pool')
    if pool is not None:
        nets = []
        for value in _list(pool, 'input', 'default_addr_pool', errors):
            try:
                net = _ipam.parse_subnet(value, 'address pool')
            except ValueError as exc:
                errors.append('%s: %s' % (POOL, exc))
                continue
            hit = _ipam.overlaps_any(net, nets)
            if hit is not None:
                errors.append('%s: pool %s overlaps pool %s' % (POOL, net, hit))
                continue
            nets.append(net)
        if not nets and isinstance(pool, list):
            errors.append('%s: no usable pool in %r' % (POOL, pool))
        result['default_addr_pool'] = [str(n) for n in nets]
    mask = inventory.get('mask_length')
    if mask is not None:
        mask = _int(mask, MASK, 'mask length', errors, 1, _ipam.MAX_PREFIXLEN)
        result['mask_length'] = mask
        if mask is not None and result['default_addr_pool']:
            for pool_net in result['default_addr_pool']:
                if ipaddress.ip_network(pool_net).prefixlen > mask:
                    errors.append('%s: /%d is shorter than pool %s: subnets are cut from a pool, so the mask length must '
                                  'be at least the pool\'s prefix length' % (MASK, mask, pool_net))
    port = inventory.get('data_path_port')
    if port is not None:
        result['data_path_port'] = _int(port, PORT, 'data-path port', errors, PORT_MIN, PORT_MAX)
    if errors:
        raise PlanError(errors)
    return result


# ============================================================================================
# the planner

class _Planner:

    def __init__(self, state, inp, rng, require_joined, prune, build=True):
        self.build_plan = build
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
            raise PlanError(self.errors)

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
        self.raise_errors()
        _state.bump(self.old, self.new)
        if not self.build_plan:
            return self.new, None, self.messages
        return self.new, self.build(), self.messages

    def check_against_state(self):
        """Problems that need the state to be seen: unjoined nodes, in-place network changes,
        unknown networks, absent networks still in use."""
        old_nodes, old_nets, old_svcs = self.old['nodes'], self.old['networks'], self.old['services']
        # A node with no facts in this run (outside --limit, or unreachable) that never joined is no
        # member yet, as in Swarm: it is left out until a run includes it, instead of failing the run.
        outside = [n['hostname'] for n in self.inp['nodes']
                   if n['state'] == 'present' and n['addr'] is None and n['hostname'] not in old_nodes]
        if outside:
            self.warn('node(s) %s: not in this run and not joined yet, so not in the cluster: a run that '
                      'includes them joins them' % ', '.join(sorted(outside)))
            self.inp['nodes'] = [n for n in self.inp['nodes'] if n['hostname'] not in outside]
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
        input_nets = dict((n['name'], n) for n in self.inp['networks'])
        for net in self.inp['networks']:
            have = old_nets.get(net['name'])
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
            if net['vnis'] is not None and net['vnis'] != [s['vni'] for s in have['subnets']]:
                self.errors.append('network %s exists with VNI(s) %s; VNIs cannot change in place'
                                   % (net['name'], ', '.join(str(s['vni']) for s in have['subnets'])))
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
                    hint = _suggest(net_name, sorted(alive))
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
            _set_or_drop(entry, 'availability', node['availability'], 'active')
            self.ready.append(dict(node, id=entry['id']))
        for host, entry in nodes.items():
            if host not in listed and entry.get('state') != 'down':
                entry['state'] = 'down'
                self.warn('node %s is not in the input: marked down, its tasks are placed elsewhere' % host)
        self.ready_by_host = dict((n['hostname'], n) for n in self.ready)

    def _remove_network(self, name, reason):
        entry = self.new['networks'].pop(name)
        self.removed['networks'].append({
            'name': name, 'id': entry['id'], 'netns': sandbox_name(entry['id']),
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
        for name, entry in nets.items():
            for s in entry['subnets']:
                subnet = ipaddress.IPv4Network(s['subnet'])
                for host, text, route in routes:
                    if subnet.overlaps(route):
                        self.warn('network %s: subnet %s overlaps route %s on node %s (the network already '
                                  'exists and keeps its subnet)' % (name, subnet, text, host))
        new_nets = [n for n in self.inp['networks'] if n['state'] == 'present' and n['name'] not in nets]
        # explicit subnets and VNIs first, so that automatic choices never take them
        for net in new_nets:
            for subnet in net['subnets'] or []:
                for other, other_subnet in taken:
                    if subnet.overlaps(other_subnet):
                        self.errors.append('network %s: subnet %s overlaps subnet %s of network %s%s'
                                           % (net['name'], subnet, other_subnet, other, OVERLAP_HINT))
                hit = set()     # one error per node: its first route (a node's address is a route too)
                for host, text, route in routes:
                    if subnet.overlaps(route) and host not in hit:
                        hit.add(host)
                        self.errors.append('network %s: subnet %s overlaps route %s on node %s%s'
                                           % (net['name'], subnet, text, host, ROUTE_HINT))
            for vni in net['vnis'] or []:
                if vni in vnis:
                    self.errors.append('network %s: VNI %d is already used by network %s%s'
                                       % (net['name'], vni, vnis[vni], VNI_HINT))
        for net in new_nets:
            for subnet in net['subnets'] or []:
                taken.append((net['name'], subnet))
            for vni in net['vnis'] or []:
                vnis.setdefault(vni, net['name'])
        pools = [ipaddress.IPv4Network(p) for p in self.new['cluster']['default_addr_pool']]
        mask = self.new['cluster']['mask_length']
        avoid = [t[1] for t in taken] + [r[2] for r in routes]
        for net in new_nets:
            subnets = net['subnets']
            if subnets is None:
                try:
                    subnets = [_ipam.allocate_subnet(pools, mask, avoid)]
                except _ipam.IpamError as exc:
                    self.errors.append('network %s: %s' % (net['name'], exc))
                    continue
                avoid.append(subnets[0])
            gateways = net['gateways'] or [str(_ipam.first_host(s)) for s in subnets]
            entry = {'id': self.new_id(), 'encrypted': net['encrypted'], 'mtu': net['mtu'], 'subnets': []}
            _set_or_drop(entry, 'multicast', net['multicast'], False)
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
            nets[net['name']] = entry
            self.info('network %s created: %s' % (net['name'], ', '.join(
                '%s gateway %s VNI %d' % (s['subnet'], s['gateway'], s['vni']) for s in entry['subnets'])))
        for net in self.inp['networks']:
            entry = nets.get(net['name'])
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
                _set_or_drop(entry, 'multicast', net['multicast'], False)

    def _drop_task(self, svc_name, svc, task, reason):
        for net_name, ip in task.get('addresses', {}).items():
            self._release(net_name, ip, task['id'])
        self.removed['tasks'].append({'name': task_name(svc_name, task), 'id': task['id'], 'service': svc_name,
                                      'node': task['node'], 'reason': reason})

    def _release(self, net_name, ip, owner):
        net = self.new['networks'].get(net_name)
        if net is None:
            return
        idx = _ipam.subnet_of(net['subnets'], ip)
        if idx is not None and net['subnets'][idx]['allocated'].get(ip) == owner:
            _ipam.release_address(net['subnets'][idx], ip)

    def _remove_service(self, name, reason):
        svc = self.new['services'].pop(name)
        for task in svc['tasks']:
            self._drop_task(name, svc, task, 'service removed')
        self.removed['services'].append({'name': name, 'id': svc['id'],
                                         'tasks': [task_name(name, t) for t in svc['tasks']]})
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
            entry.update({'mode': svc['mode'], 'replicas': svc['replicas'], 'networks': svc['networks'],
                          'constraints': [c.text for c in svc['constraints']], 'command': svc['command']})
            _set_or_drop(entry, 'max_replicas_per_node', svc['max_per_node'], None)
            self.constraints[svc['name']] = svc['constraints']

    def placement(self):
        svcs = self.new['services']
        ready_hosts = [n['hostname'] for n in self.ready]
        eligible = {}
        total = dict((h, 0) for h in ready_hosts)
        # keep every task whose node is still there and still eligible
        for name, svc in svcs.items():
            hosts = [n['hostname'] for n in _placement.eligible(self.constraints[name], self.ready)]
            eligible[name] = hosts
            keep, seen_nodes, per_node = [], set(), {}
            limit = svc.get('max_replicas_per_node')
            for task in svc['tasks']:
                node = task['node']
                if node not in self.ready_by_host:
                    reason = 'node %s left' % node
                elif self.ready_by_host[node]['availability'] == 'drain':
                    reason = 'node %s is drained' % node
                elif node not in hosts:
                    reason = 'node %s no longer satisfies the constraints' % node
                elif svc['mode'] == 'replicated' and task['slot'] > svc['replicas']:
                    reason = 'scaled down to %d' % svc['replicas']
                elif svc['mode'] == 'global' and node in seen_nodes:
                    reason = 'duplicate global task on node %s' % node
                elif task.get('node_id') != self.ready_by_host[node]['id']:
                    reason = 'node %s joined again with a new id' % node
                elif limit and per_node.get(node, 0) >= limit:
                    reason = 'more than max_replicas_per_node %d on node %s' % (limit, node)
                else:
                    keep.append(task)
                    seen_nodes.add(node)
                    per_node[node] = per_node.get(node, 0) + 1
                    total[node] += 1
                    continue
                self._drop_task(name, svc, task, reason)
                self.info('task %s removed: %s' % (task_name(name, task), reason))
            svc['tasks'] = keep
        # place what is missing, service by service (creation order), slot by slot; new tasks go
        # to active nodes only (a paused node keeps its tasks, a drained one has none left)
        for name, svc in svcs.items():
            hosts = eligible[name]
            open_hosts = [h for h in hosts if self.ready_by_host[h]['availability'] == 'active']
            load = {}
            for task in svc['tasks']:
                load[task['node']] = load.get(task['node'], 0) + 1
            new_tasks = []
            if svc['mode'] == 'replicated':
                have = set(t['slot'] for t in svc['tasks'])
                missing = [slot for slot in range(1, svc['replicas'] + 1) if slot not in have]
                if missing and not open_hosts:
                    self.errors.append(self._no_node_error(name, hosts))
                    continue
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
            else:
                for host in open_hosts:
                    if host not in load:
                        new_tasks.append(self._new_task(None, host))
                        total[host] += 1
                order = dict((h, i) for i, h in enumerate(ready_hosts))
                svc['tasks'] = sorted(svc['tasks'] + new_tasks, key=lambda t: order[t['node']])
            for task in new_tasks:
                self.info('task %s placed on node %s' % (task_name(name, task), task['node']))

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

    def addresses(self):
        nets, svcs = self.new['networks'], self.new['services']
        # 1. release: addresses of networks a task left, of stale pins, and of owners that are gone
        live = set()
        for name, svc in svcs.items():
            pins = dict((a['name'], a['subnet']) for a in svc['networks'])
            for task in svc['tasks']:
                for net_name, ip in list(task['addresses'].items()):
                    net = nets.get(net_name)
                    idx = _ipam.subnet_of(net['subnets'], ip) if net is not None else None
                    ok = (net_name in pins and idx is not None
                          and net['subnets'][idx]['allocated'].get(ip) == task['id']
                          and pins[net_name] in (None, net['subnets'][idx]['subnet']))
                    if ok:
                        live.add((net_name, ip))
                    else:
                        self._release(net_name, ip, task['id'])
                        del task['addresses'][net_name]
        for net_name, net in nets.items():
            for entry in net['subnets']:
                for ip in [ip for ip in entry['allocated'] if (net_name, ip) not in live]:
                    _ipam.release_address(entry, ip)
        # 2. allocate, in service order, task order, network order
        for name, svc in svcs.items():
            for task in svc['tasks']:
                addresses = {}
                for attach in svc['networks']:
                    net_name = attach['name']
                    if net_name in task['addresses']:
                        addresses[net_name] = task['addresses'][net_name]
                        continue
                    net = nets[net_name]
                    ip = self._allocate(name, task, net_name, net, attach['subnet'])
                    if ip is not None:
                        addresses[net_name] = ip
                task['addresses'] = addresses

    def _allocate(self, svc_name, task, net_name, net, pin):
        entries = net['subnets']
        if pin is not None:
            entries = [e for e in entries if e['subnet'] == pin]
            if not entries:
                self.errors.append('service %s: network %s has no subnet %s (it has %s)' % (
                    svc_name, net_name, pin, ', '.join(e['subnet'] for e in net['subnets'])))
                return None
        for entry in entries:
            if len(entry['allocated']) < _ipam.subnet_capacity(ipaddress.IPv4Network(entry['subnet'])):
                return _ipam.allocate_address(entry, task['id'], net_name)
        # one error per service and network, not one per task
        key = (net_name, svc_name, tuple(e['subnet'] for e in entries))
        if key not in self.exhausted:
            self.exhausted[key] = {'count': 0, 'index': len(self.errors), 'first': task_name(svc_name, task)}
            self.errors.append(None)
        info = self.exhausted[key]
        info['count'] += 1
        capacity = sum(_ipam.subnet_capacity(ipaddress.IPv4Network(sub)) for sub in key[2])
        self.errors[info['index']] = (
            'network %s: no free address left in subnet %s (%d task addresses) for %d task(s) of service %s, '
            'first %s; add a subnet or use fewer tasks'
            % (net_name, ', '.join(key[2]), capacity, info['count'], svc_name, info['first']))
        return None

    # -- the plan ----------------------------------------------------------------------------

    def network_mtu(self, entry):
        computed = min([_ipam.overlay_mtu(n['underlay_mtu'], n['family'], entry['encrypted']) for n in self.ready]
                       or [_ipam.overlay_mtu(1500, 4, entry['encrypted'])])
        return computed, entry['mtu'] if entry['mtu'] is not None else computed

    def build(self):
        st = self.new
        nets, svcs, nodes = st['networks'], st['services'], st['nodes']
        mtus = {}
        for name, entry in nets.items():
            computed, mtu = self.network_mtu(entry)
            if mtu > computed:
                how = ' with encryption' if entry['encrypted'] else ''
                self.warn('network %s: explicit MTU %d is larger than %d, what the smallest underlay allows%s; '
                          'large packets will be dropped' % (name, mtu, computed, how))
            mtus[name] = mtu
        # every task interface, per network, in service and task order
        members = dict((name, []) for name in nets)
        task_list = []
        for svc_name, svc in svcs.items():
            for task in svc['tasks']:
                tname = task_name(svc_name, task)
                task_list.append((svc_name, svc, task, tname))
                for attach in svc['networks']:
                    ip = task['addresses'].get(attach['name'])
                    if ip is not None:
                        members[attach['name']].append({'ip': ip, 'node': task['node'], 'task': tname,
                                                        'service': svc_name, 'task_id': task['id']})
        plan_nodes = {}
        self.hosts_cache = {}
        listed = [n['hostname'] for n in self.inp['nodes']]
        host_order = listed + [h for h in nodes if h not in set(listed)]
        removed_ids = dict((n['hostname'], n['id']) for n in self.removed['nodes'])
        for host in host_order:
            entry = nodes.get(host)
            if entry is None:
                inp = [n for n in self.inp['nodes'] if n['hostname'] == host][0]
                plan_nodes[host] = {'id': removed_ids.get(host), 'role': inp['role'], 'addr': None,
                                    'labels': inp['labels'], 'state': 'absent', 'sandboxes': [], 'tasks': [],
                                    'gc_thresh': gc_thresh(0), 'remote_vteps': []}
                continue
            plan_nodes[host] = self._node_plan(host, entry, nets, members, mtus, task_list)
        plan = {
            'cluster': {'id': st['cluster']['id'], 'data_path_port': st['cluster']['data_path_port'],
                        'default_addr_pool': list(st['cluster']['default_addr_pool']),
                        'mask_length': st['cluster']['mask_length'], 'version': st['version']},
            'nodes': plan_nodes,
            'networks': [{'name': name, 'id': e['id'], 'scope': 'swarm', 'driver': 'overlay',
                          'encrypted': e['encrypted'], 'multicast': bool(e.get('multicast')), 'mtu': mtus[name],
                          'netns': sandbox_name(e['id']),
                          'subnets': [{'subnet': s['subnet'], 'gateway': s['gateway'], 'vni': s['vni']}
                                      for s in e['subnets']],
                          'state': 'present'} for name, e in nets.items()],
            'services': [{'name': name, 'id': s['id'], 'mode': s['mode'],
                          'replicas': s['replicas'] if s['mode'] == 'replicated' else len(s['tasks']),
                          'networks': [a['name'] for a in s['networks']], 'constraints': list(s['constraints']),
                          'command': s['command'],
                          'tasks': [{'name': task_name(name, t), 'slot': t['slot'], 'id': t['id'], 'node': t['node'],
                                     'node_id': t['node_id'], 'desired_state': 'running',
                                     'addresses': dict(t['addresses'])} for t in s['tasks']]}
                         for name, s in svcs.items()],
            'removed': self.removed,
        }
        return plan

    def _node_plan(self, host, entry, nets, members, mtus, task_list):
        addr = entry['addr']
        local_tasks = [t for t in task_list if t[2]['node'] == host]
        on_node = set()
        for svc_name, svc, task, tname in local_tasks:
            on_node.update(a['name'] for a in svc['networks'] if a['name'] in task['addresses'])
        sandboxes, peer_count, vteps = [], 0, {}
        for name, net in nets.items():
            if name not in on_node:
                continue
            subnets = []
            for i, s in enumerate(net['subnets']):
                subnet = ipaddress.IPv4Network(s['subnet'])
                peers = []
                for m in members[name]:
                    if m['node'] == host or ipaddress.IPv4Address(m['ip']) not in subnet:
                        continue
                    vtep = self.new['nodes'][m['node']]['addr']
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
            sandboxes.append({'network': name, 'network_id': net['id'], 'netns': sandbox_name(net['id']),
                              'encrypted': net['encrypted'], 'mtu': mtus[name], 'ip_forward': len(subnets) > 1,
                              'subnets': subnets})
        # veth names: deterministic, unique on the node (a hash collision takes the next attempt)
        used, veths = set(), {}
        pairs = sorted((task['id'], nets[a['name']]['id'], a['name']) for dummy, svc, task, dummy2 in local_tasks
                       for a in svc['networks'] if a['name'] in task['addresses'])
        for task_id, net_id, net_name in pairs:
            attempt = 0
            name = veth_name(task_id, net_id)
            while name in used:
                attempt += 1
                name = veth_name(task_id, net_id, attempt)
            used.add(name)
            veths[(task_id, net_name)] = name
        tasks = []
        for svc_name, svc, task, tname in local_tasks:
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
                    'network': net_name, 'sandbox': sandbox_name(net['id']), 'bridge': 'br%d' % idx,
                    'veth': veths[(task['id'], net_name)], 'ifname': 'eth%d' % len(interfaces),
                    'address': '%s/%d' % (ip, prefixlen), 'ip': ip, 'mac': _ipam.mac_for_ip(ip),
                    'mtu': mtus[net_name], 'subnet': s['subnet'], 'gateway': s['gateway'], 'vni': s['vni'],
                    'routes': [{'dst': o['subnet'], 'via': s['gateway']} for j, o in enumerate(net['subnets'])
                               if j != idx]})
            tasks.append({'name': tname, 'service': svc_name, 'slot': task['slot'], 'id': task['id'],
                          'node_id': task['node_id'], 'netns': tname, 'command': svc['command'],
                          'interfaces': interfaces, 'hosts': hosts_file(interfaces, members, self.hosts_cache)})
        return {'id': entry['id'], 'role': entry['role'], 'addr': addr, 'labels': dict(entry['labels']),
                'availability': entry.get('availability') or 'active', 'state': entry['state'],
                'sandboxes': sandboxes, 'tasks': tasks, 'gc_thresh': gc_thresh(peer_count),
                'remote_vteps': [{'hostname': h, 'addr': self.new['nodes'][h]['addr'], 'encrypted': enc}
                                 for h, enc in sorted(vteps.items(), key=lambda kv: _ipam.ip_sort_key(
                                     self.new['nodes'][kv[0]]['addr']))]}


def hosts_file(interfaces, members, cache=None):
    """Content of ``/etc/netns/<task>/hosts``: the localhost lines, then for each network of the
    task (in interface order) one line per task interface on that network, in service and slot
    order: ``<ip>\\t<task>.<network> <task> <service> tasks.<service>``. The first name is the
    canonical one a reverse lookup returns, so ``traceroute`` shows ``test.2.<id>.uber-net`` as
    the seed does.

    There is no virtual IP: ``<service>`` and ``tasks.<service>`` resolve to the tasks' own
    addresses in file order, like Docker's ``--endpoint-mode dnsrr``: with ``multi on`` in
    ``/etc/host.conf`` (Debian's default) a lookup returns all of them and a client that takes one
    takes the first; without it, only the first."""
    cache = {} if cache is None else cache
    blocks = [HOSTS_HEAD]
    for iface in interfaces:
        net_name = iface['network']
        if net_name not in cache:  # one block per network, shared by all its tasks
            lines = ['# linuxnet.overlay network %s\n' % net_name]
            for m in members[net_name]:
                lines.append('%s\t%s.%s %s %s tasks.%s\n' % (m['ip'], m['task'], net_name, m['task'],
                                                             m['service'], m['service']))
            cache[net_name] = ''.join(lines)
        blocks.append(cache[net_name])
    return ''.join(blocks)


def plan(state, inventory, rng=None, require_joined=True, prune=False, build=True):
    """Plan the cluster: ``(new_state, plan, messages)``.

    ``state`` is the current cluster state (see ``_state``; never mutated), ``inventory`` the
    input (``nodes``, ``networks``, ``services``, ``default_addr_pool``, ``mask_length``,
    ``data_path_port``). ``messages`` is a list of ``{level: info|warning, msg}``. Raises
    PlanError with every problem found (input first, then allocation).

    ``build=False`` stops after the allocations (every check has run by then) and returns
    ``None`` as the plan: a validation pass before anything is made, without the cost of
    deriving every node's desired state."""
    inp = validate_input(inventory)
    return _Planner(state, inp, rng, require_joined, prune, build).run()


# ============================================================================================
# readable changes between two states (for diff mode and the module's ``changes`` return)

def _net_line(name, e):
    return 'network %s id=%s encrypted=%s mtu=%s%s subnets=%s' % (
        name, e['id'], str(e['encrypted']).lower(), e['mtu'] if e['mtu'] is not None else 'auto',
        ' multicast=true' if e.get('multicast') else '',
        ','.join('%s(gw %s, vni %d)' % (s['subnet'], s['gateway'], s['vni']) for s in e['subnets']))


def _task_line(svc_name, t):
    addrs = ' '.join('%s=%s' % kv for kv in sorted(t['addresses'].items()))
    return 'task %s node=%s %s' % (task_name(svc_name, t), t['node'], addrs)


def state_lines(state):
    """The allocations of a state as sorted readable lines (for ``--diff``); never secrets."""
    if state is None:
        return ''
    lines = ['cluster %s data_path_port=%s pool=%s mask=/%s' % (
        state['cluster']['id'], state['cluster']['data_path_port'],
        ','.join(state['cluster']['default_addr_pool']), state['cluster']['mask_length'])]
    for host, n in state['nodes'].items():
        labels = ','.join('%s=%s' % kv for kv in sorted(n.get('labels', {}).items()))
        lines.append('node %s id=%s role=%s addr=%s state=%s labels=%s%s' % (
            host, n['id'], n.get('role'), n.get('addr'), n.get('state'), labels or '-',
            ' availability=%s' % n['availability'] if n.get('availability') else ''))
    for name, e in state['networks'].items():
        lines.append(_net_line(name, e))
    for name, s in state['services'].items():
        lines.append('service %s id=%s mode=%s replicas=%s networks=%s constraints=%s%s' % (
            name, s['id'], s['mode'], s['replicas'], ','.join(a['name'] for a in s['networks']) or '-',
            ','.join(s['constraints']) or '-',
            ' max_replicas_per_node=%d' % s['max_replicas_per_node'] if s.get('max_replicas_per_node') else ''))
        for t in s['tasks']:
            lines.append(_task_line(name, t))
    return '\n'.join(sorted(lines)) + '\n'


def changes(old, new):
    """What a new state adds, removes or moves compared to the old one (names only)."""
    old = old or {'nodes': {}, 'networks': {}, 'services': {}}
    result = {}

    def config(kind, entry):  # what the user set, without allocation bookkeeping and tasks
        if kind == 'networks':
            return dict(entry, subnets=[(s['subnet'], s['gateway'], s['vni']) for s in entry['subnets']])
        if kind == 'services':
            return dict((k, v) for k, v in entry.items() if k != 'tasks')
        return entry
    for kind in ('nodes', 'networks', 'services'):
        before, after = set(old[kind]), set(new[kind])
        result[kind] = {'added': sorted(after - before), 'removed': sorted(before - after),
                        'changed': sorted(k for k in before & after
                                          if config(kind, old[kind][k]) != config(kind, new[kind][k]))}

    def tasks(state):
        out = {}
        for name, s in state['services'].items():
            for t in s['tasks']:
                out[t['id']] = (name, t)
        return out
    before, after = tasks(old), tasks(new)
    moved = []
    slots_before = dict(((n, t['slot'] if t['slot'] is not None else t['node']), (t, n))
                        for n, t in before.values())
    for tid in sorted(set(after) - set(before)):
        name, t = after[tid]
        key = (name, t['slot'] if t['slot'] is not None else t['node'])
        if key in slots_before and slots_before[key][0]['id'] not in after and slots_before[key][0]['node'] != t['node']:
            moved.append('%s: %s -> %s' % (task_name(name, t), slots_before[key][0]['node'], t['node']))
    result['tasks'] = {'added': sorted(task_name(*after[t]) for t in set(after) - set(before)),
                       'removed': sorted(task_name(*before[t]) for t in set(before) - set(after)),
                       'moved': moved}
    return result
