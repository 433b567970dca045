# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's first phase: the inventory's schema and cross-field rules (nodes, networks,
services, cluster options), checked before anything is allocated, every problem reported at once
(private, pure). What needs the cluster state to be seen is checked in ``allocate``."""

from __future__ import annotations

import difflib
import ipaddress
import re
import shlex

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import placement as _placement
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import publish as _publish
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state
from ansible_collections.linuxnet.overlay.plugins.module_utils import imageref as _imageref
from ansible_collections.linuxnet.overlay.plugins.module_utils import restart as _restart

NETWORK_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_.-]*$')
SERVICE_NAME_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_-]*$')
NAME_MAX = 63
PORT_MIN, PORT_MAX = 1024, 49151
UNDERLAY_MTU_MIN, UNDERLAY_MTU_MAX = 1280, 65535

TOP_KEYS = ('nodes', 'networks', 'services', 'default_addr_pool', 'mask_length', 'data_path_port', 'gwbridge_subnet',
            'ingress_encrypted')
NODE_KEYS = ('hostname', 'role', 'addr', 'labels', 'state', 'underlay_mtu', 'underlay_family', 'routes',
             'availability', 'listening')
AVAILABILITY = ('active', 'pause', 'drain')      # docker node update --availability
NETWORK_KEYS = ('name', 'subnets', 'gateway', 'encrypted', 'mtu', 'state', 'vnis', 'multicast', 'internal')
SERVICE_KEYS = ('name', 'networks', 'replicas', 'mode', 'constraints', 'command', 'state', 'max_replicas_per_node',
                'endpoint_mode', 'publish', 'restart_policy', 'image')
ENDPOINT_MODES = ('vip', 'dnsrr')
ATTACH_KEYS = ('name', 'subnet')
FAMILIES = {'ipv4': 4, 'ipv6': 6, 4: 4, 6: 6, 'inet': 4, 'inet6': 6}
# the cluster-wide options as messages name them: the module option and the inventory variable
POOL = 'default_addr_pool (overlay_default_addr_pool)'
MASK = 'default_addr_pool_mask_length (overlay_default_addr_pool_mask_length)'
PORT = 'data_path_port'
GWBRIDGE = 'gwbridge_subnet (overlay_gwbridge_subnet)'
OVERLAP_HINT = '; overlay subnets must not overlap: choose another subnet, or leave subnets out to get a free one of the pool'
VNI_HINT = '; choose another VNI, or leave vnis out to get a free one'
NETWORK_NAME_RULE = 'letters, digits, "_", "." and "-", starting with a letter or digit'
SERVICE_NAME_RULE = 'letters, digits, "_" and "-" (no dots: task names use dots), starting with a letter or digit'


class PlanError(Exception):
    """The input cannot be planned; ``errors`` lists every problem, each naming the bad value."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__('%d problem(s) in the cluster input:\n- %s' % (len(self.errors), '\n- '.join(self.errors)))


# ============================================================================================
# scalar checks: each appends its message and returns a usable value, so checking goes on

def suggest(key, known):
    close = difflib.get_close_matches(key, known, n=1)
    return ' (did you mean %r?)' % close[0] if close else ''


def _unknown_keys(where, item, known, errors):
    for key in item:
        if key not in known:
            errors.append('%s: unknown key %r%s; known keys: %s'
                          % (where, key, suggest(str(key), known), ', '.join(known)))


# Ansible's check_type_int and check_type_bool are not used here: they accept '3.0', '1e3', 3.0
# and True as integers and 'Yes' or 1.0 as booleans, which the planner refuses by name.
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


def _disjoint_subnets(values, where, overlap, errors, what='subnet'):
    """The subnets of ``values`` that parse and overlap none before them; an error for each
    other one (``overlap`` formats the new subnet and the one it overlaps)."""
    out = []
    for value in values:
        try:
            subnet = _ipam.parse_subnet(value, what)
        except ValueError as exc:
            errors.append('%s: %s' % (where, exc))
            continue
        hit = _ipam.overlaps_any(subnet, out)
        if hit is not None:
            errors.append('%s: %s' % (where, overlap % (subnet, hit)))
            continue
        out.append(subnet)
    return out


def _name(item, where, regex, rule, errors):
    name = item.get('name')
    if not isinstance(name, str) or not regex.match(name) or len(name) > NAME_MAX:
        errors.append('%s: name %r is not valid: %s, at most %d characters' % (where, name, rule, NAME_MAX))
        return None
    return name


def _named_items(raw, kind, keys, errors, name_of, duplicate):
    """``(where, name, item)`` for each dict of the list ``raw`` whose name is valid and not seen
    before; ``name_of(item, where)`` checks the name (appending its message) or returns None."""
    seen = set()
    for i, item in enumerate(_list(raw, 'input', kind + 's', errors)):
        where = '%s #%d' % (kind, i + 1)
        if not isinstance(item, dict):
            errors.append('%s: must be a dict, got %r' % (where, item))
            continue
        name = name_of(item, where)
        if name is None:
            continue
        where = '%s %s' % (kind, name)
        _unknown_keys(where, item, keys, errors)
        if name in seen:
            errors.append('%s: duplicate %s %s %r' % (where, kind, duplicate, name))
            continue
        seen.add(name)
        yield where, name, item


# ============================================================================================
# nodes

def _node_host(item, where, errors):
    host = item.get('hostname')
    if not isinstance(host, str) or not host:
        errors.append('%s: hostname %r is not a non-empty string' % (where, host))
        return None
    return host


def _check_nodes(raw, errors):
    nodes, addrs = [], {}
    for where, host, item in _named_items(raw, 'node', NODE_KEYS, errors, lambda i, w: _node_host(i, w, errors),
                                          'hostname'):
        node = {'hostname': host, 'state': _state_opt(item, where, errors)}
        nodes.append(node)
        _node_membership(node, item, where, errors)
        if node['state'] != 'absent':
            _node_data_path(node, item, where, addrs, errors)
    return nodes


def _node_membership(node, item, where, errors):
    """Role, labels and availability: what an absent node still reports."""
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


def _node_data_path(node, item, where, addrs, errors):
    """Address, underlay MTU and family, routes of a present node; ``addrs`` maps the addresses
    seen so far to their nodes."""
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
        addrs[node['addr']] = node['hostname']
    mtu = item.get('underlay_mtu')
    if mtu is not None:
        mtu = _int(mtu, where, 'underlay_mtu', errors, UNDERLAY_MTU_MIN, UNDERLAY_MTU_MAX)
    node['underlay_mtu'] = mtu  # None: the recorded one, else 1500
    family = item.get('underlay_family')
    version = ipaddress.ip_address(node['addr']).version if node['addr'] else 4
    if family is not None:
        fam = FAMILIES.get(family)
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
    node['listening'] = _publish.check_listening(item.get('listening'), where, errors)


# ============================================================================================
# networks

def _check_networks(raw, errors):
    networks = []
    explicit_subnets, explicit_vnis = [], {}
    for where, name, item in _named_items(
            raw, 'network', NETWORK_KEYS, errors, lambda i, w: _name(i, w, NETWORK_NAME_RE, NETWORK_NAME_RULE, errors),
            'name'):
        if name == _publish.INGRESS:
            errors.append('%s: the name ingress is the routing mesh\'s network, which the collection makes when a '
                          'service publishes a port in mode ingress; choose another name' % where)
        net = {'name': name, 'state': _state_opt(item, where, errors), 'subnets': None, 'gateways': None,
               'vnis': None, 'encrypted': False, 'mtu': None, 'multicast': False, 'internal': False}
        networks.append(net)
        _network_options(net, item, where, errors)
        subnets = _network_subnets(net, item, where, explicit_subnets, errors)
        _network_gateways(net, item, where, subnets, errors)
        _network_vnis(net, item, where, explicit_vnis, errors)
    return networks


def _network_options(net, item, where, errors):
    if item.get('encrypted') is not None:
        net['encrypted'] = bool(_bool(item['encrypted'], where, 'encrypted', errors))
    if item.get('multicast') is not None:
        net['multicast'] = bool(_bool(item['multicast'], where, 'multicast', errors))
    if item.get('internal') is not None:
        net['internal'] = bool(_bool(item['internal'], where, 'internal', errors))
    if item.get('mtu') is not None:
        net['mtu'] = _int(item['mtu'], where, 'mtu', errors, _ipam.MTU_MIN, _ipam.MTU_MAX)
        if net['mtu'] is None:
            errors[-1] += '; leave mtu out to derive it from the underlay'


def _network_subnets(net, item, where, explicit_subnets, errors):
    """The explicit subnets (None: the next free one of the pool), none overlapping another;
    ``explicit_subnets`` collects ``(network, subnet)`` of the present networks so far."""
    if item.get('subnets') is None:
        return None
    subnets = _disjoint_subnets(_list(item['subnets'], where, 'subnets', errors), where,
                                'subnet %s overlaps its own subnet %s', errors)
    if item['subnets'] == []:
        errors.append('%s: subnets is empty; leave it out to get the next free subnet of the pool' % where)
    net['subnets'] = subnets
    if net['state'] == 'present':
        for subnet in subnets:
            for other, other_subnet in explicit_subnets:
                if subnet.overlaps(other_subnet):
                    errors.append('%s: subnet %s overlaps subnet %s of network %s%s'
                                  % (where, subnet, other_subnet, other, OVERLAP_HINT))
            explicit_subnets.append((net['name'], subnet))
    return subnets


def _network_gateways(net, item, where, subnets, errors):
    gateway = item.get('gateway')
    if gateway is None:
        return
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


def _network_vnis(net, item, where, explicit_vnis, errors):
    """The explicit VNIs, one per subnet; ``explicit_vnis`` maps each VNI of the present networks
    so far to its network."""
    vnis = item.get('vnis')
    if vnis is None:
        return
    name = net['name']
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


# ============================================================================================
# services

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
    services = []
    for where, name, item in _named_items(
            raw, 'service', SERVICE_KEYS, errors, lambda i, w: _name(i, w, SERVICE_NAME_RE, SERVICE_NAME_RULE, errors),
            'name'):
        svc = {'name': name, 'state': _state_opt(item, where, errors)}
        services.append(svc)
        _service_scale(svc, item, where, errors)
        svc['networks'] = _service_networks(item, where, errors)
        constraints = []
        for text in _list(item.get('constraints'), where, 'constraints', errors):
            try:
                constraints.append(_placement.parse_constraint(text))
            except ValueError as exc:
                errors.append('%s: %s' % (where, exc))
        svc['constraints'] = constraints
        svc['command'] = _check_command(item.get('command'), where, errors)
        try:
            svc['image'] = _imageref.validate_image(item.get('image'), where)
        except _imageref.ImageError as exc:
            errors.append(str(exc))
            svc['image'] = None
        try:
            svc['restart_policy'] = _restart.validate_policy(item.get('restart_policy'), '%s: restart_policy' % where)
        except _restart.PolicyError as exc:
            errors.append(str(exc))
            svc['restart_policy'] = None
        svc['endpoint_mode'] = item.get('endpoint_mode') or 'vip'
        if svc['endpoint_mode'] not in ENDPOINT_MODES:
            errors.append('%s: endpoint_mode %r is not vip (a virtual IP balancing over the tasks, the default) or '
                          'dnsrr (the service name resolves to every task)' % (where, svc['endpoint_mode']))
        svc['publish'] = _publish.check_publish(item, where, errors)
    _publish.check_unique(services, errors)
    return services


def _service_scale(svc, item, where, errors):
    """Mode, replicas and max_replicas_per_node, which exclude each other in part."""
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


def _service_networks(item, where, errors):
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
    return attach


# ============================================================================================
# the cluster options and the whole input

def _check_pool(pool, errors):
    nets = _disjoint_subnets(_list(pool, 'input', 'default_addr_pool', errors), POOL,
                             'pool %s overlaps pool %s', errors, what='address pool')
    if not nets and isinstance(pool, list):
        errors.append('%s: no usable pool in %r' % (POOL, pool))
    return [str(n) for n in nets]


def _check_mask(mask, pools, errors):
    mask = _int(mask, MASK, 'mask length', errors, 1, _ipam.MAX_PREFIXLEN)
    if mask is not None and pools:
        for pool_net in pools:
            if ipaddress.ip_network(pool_net).prefixlen > mask:
                errors.append('%s: /%d is shorter than pool %s: subnets are cut from a pool, so the mask length must '
                              'be at least the pool\'s prefix length' % (MASK, mask, pool_net))
    return mask


def validate_input(inventory):
    """Normalise and check the whole planner input; raise PlanError listing every problem."""
    errors = []
    if not isinstance(inventory, dict):
        raise PlanError(['the planner input must be a dict, got %r' % (inventory,)])
    _unknown_keys('input', inventory, TOP_KEYS, errors)
    result = {'nodes': _check_nodes(inventory.get('nodes'), errors),
              'networks': _check_networks(inventory.get('networks'), errors),
              'services': _check_services(inventory.get('services'), errors),
              'default_addr_pool': None, 'mask_length': None, 'data_path_port': None, 'gwbridge_subnet': None,
              'ingress_encrypted': None}
    if inventory.get('ingress_encrypted') is not None:
        result['ingress_encrypted'] = bool(_bool(inventory['ingress_encrypted'], 'input', 'ingress_encrypted',
                                                 errors))
    if inventory.get('default_addr_pool') is not None:
        result['default_addr_pool'] = _check_pool(inventory['default_addr_pool'], errors)
    if inventory.get('mask_length') is not None:
        result['mask_length'] = _check_mask(inventory['mask_length'], result['default_addr_pool'], errors)
    if inventory.get('gwbridge_subnet') is not None:
        try:
            result['gwbridge_subnet'] = str(_ipam.parse_subnet(inventory['gwbridge_subnet'], GWBRIDGE))
        except ValueError as exc:
            errors.append(str(exc))
    port = inventory.get('data_path_port')
    if port is not None:
        result['data_path_port'] = _int(port, PORT, 'data-path port', errors, PORT_MIN, PORT_MAX)
    if errors:
        raise PlanError(errors)
    return result
