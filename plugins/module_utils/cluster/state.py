# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster state kept on the managers (private, pure: no I/O; see ``_statefile`` for disk).

Shape (JSON, ``format`` 1)::

    {format: 1, version: N,
     cluster: {id, data_path_port, default_addr_pool, mask_length, gwbridge_subnet (only when not 172.18.0.0/16)},
     secrets: {cluster_key, manager, worker},           # secret: join tokens derive from it
     keyring: null,                                     # opaque, reserved for the encryption work
     nodes: {<hostname>: {id, role, addr, labels, state: ready|down, underlay_mtu,
                          availability (pause|drain; only when not active),
                          gateway: {last, allocated: {<ip>: <task id>}} (only with a task with a way out)}},
     networks: {<name>: {id, encrypted, mtu (explicit or null), multicast (only when true),
                         internal (only when true),
                         subnets: [{subnet, gateway, vni, last, allocated: {<ip>: <task id>}}]}},
     services: {<name>: {id, mode, replicas, max_replicas_per_node, restart_policy (only when set),
                         endpoint_mode (only when dnsrr), vips: {<network>: <ip>} (vip mode),
                         networks: [{name, subnet}], constraints, command,
                         tasks: [{id, slot, node, node_id, addresses: {<network>: <ip>},
                                  gateway: <ip on the node's gateway bridge> (with a way out)}]}}}

A virtual IP is allocated from its network's subnet like a task address, owned by the service's
id (``allocated``). The keys added after format 1 was fixed (``endpoint_mode``, ``vips``, ``internal``, the gateway keys) are
optional: a state written before them reads as vip mode without VIPs, and the next plan gives
its services VIPs from the free addresses, keeping every task address.

``version`` goes up by one each time the content changes; replication between managers keeps
the copy with the highest version. Objects keep their insertion (creation) order, which is the
order of every list in the plan.
"""

from __future__ import annotations

import copy
import json

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ids as _ids
from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import VXLAN_PORT
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam

STATE_FORMAT = 1
GWBRIDGE_SUBNET = '172.18.0.0/16'     # Docker's docker_gwbridge
NODE_ROLES = ('manager', 'worker')


class StateError(Exception):
    """The state cannot be used or changed as asked; the message is meant for the user."""


def new_state(rng=None, data_path_port=None, default_addr_pool=None, mask_length=None):
    """A fresh cluster: new id, cluster key and per-role token secrets, no nodes, version 1."""
    return {
        'format': STATE_FORMAT,
        'version': 1,
        'cluster': {
            'id': _ids.new_id(rng),
            'data_path_port': data_path_port or VXLAN_PORT,
            'default_addr_pool': list(default_addr_pool or _ipam.DEFAULT_POOL),
            'mask_length': mask_length or _ipam.DEFAULT_MASK_LENGTH,
        },
        'secrets': {
            'cluster_key': _ids.new_cluster_key(rng),
            'manager': _ids.new_id(rng),
            'worker': _ids.new_id(rng),
        },
        'keyring': None,
        'nodes': {},
        'networks': {},
        'services': {},
    }


def check_state(state):
    """Raise StateError unless ``state`` looks like a cluster state this code understands."""
    if not isinstance(state, dict):
        raise StateError('the cluster state is not a JSON object')
    if state.get('format') != STATE_FORMAT:
        raise StateError('the cluster state has format %r; this collection reads format %d'
                         % (state.get('format'), STATE_FORMAT))
    for key in ('version', 'cluster', 'secrets', 'nodes', 'networks', 'services'):
        if key not in state:
            raise StateError('the cluster state has no %r entry' % key)
    if not isinstance(state['version'], int) or isinstance(state['version'], bool):
        raise StateError('the cluster state version %r is not an integer' % (state['version'],))
    return state


def content(state):
    """The state without its version counter (what decides whether anything changed)."""
    return dict((k, v) for k, v in state.items() if k != 'version')


def bump(old, new):
    """Set ``new['version']``: old version + 1 when the content differs, else unchanged.
    Returns True when it changed."""
    if old is not None and content(old) == content(new):
        new['version'] = old['version']
        return False
    new['version'] = (old['version'] if old is not None else 0) + 1
    return True


def set_or_drop(entry, key, value, default):
    """``entry[key] = value``, or no such key when ``value`` is the default: a state key added by a
    later version is written only when used, so the states made before stay as they were."""
    if value == default:
        entry.pop(key, None)
    else:
        entry[key] = value


def tokens(state):
    return _ids.join_tokens(state['secrets'])


def node_facts(node):
    """``(hostname, role, addr, labels)`` of a node's facts, checked and normalised; raises
    StateError naming the bad fact."""
    if not isinstance(node, dict):
        raise StateError('node facts must be a dict with hostname, role, addr and labels')
    unknown = sorted(set(node) - {'hostname', 'role', 'addr', 'labels'})
    if unknown:
        raise StateError('unknown node fact(s) %s: expected hostname, role, addr, labels' % ', '.join(unknown))
    hostname = node.get('hostname')
    if not isinstance(hostname, str) or not hostname:
        raise StateError('node hostname %r is not a non-empty string' % (hostname,))
    role = node.get('role') or 'worker'
    if role not in NODE_ROLES:
        raise StateError('node %s: role %r is not manager or worker' % (hostname, role))
    addr = node.get('addr')
    if addr is None:
        raise StateError('node %s: no data-path address (addr)' % hostname)
    try:
        addr = str(_ipam.parse_ip(addr, 'data-path address'))
    except ValueError as exc:
        raise StateError('node %s: %s' % (hostname, exc)) from None
    labels = node.get('labels') or {}
    if not isinstance(labels, dict):
        raise StateError('node %s: labels must be a dict, got %r' % (hostname, labels))
    return hostname, role, addr, dict((str(k), str(v)) for k, v in labels.items())


def record_node(state, node, rng=None):
    """Add or update a node from its facts (its id is kept); returns the changed state (a copy).

    A data-path address already used by another node is refused."""
    hostname, role, addr, labels = node_facts(node)
    new = copy.deepcopy(state)
    for other, entry in new['nodes'].items():
        if other != hostname and entry.get('addr') == addr:
            raise StateError('node %s: data-path address %s is already used by node %s' % (hostname, addr, other))
    entry = new['nodes'].get(hostname)
    if entry is None:
        entry = new['nodes'][hostname] = {'id': _ids.new_id(rng)}
    entry.update({'role': role, 'addr': addr, 'labels': labels, 'state': 'ready'})
    bump(state, new)
    return new


def join(state, node, presented_token, rng=None):
    """Validate ``presented_token`` for the node's role, then record the node.
    Raises ``_ids.TokenError`` (message without the token) or StateError."""
    hostname, role, dummy, dummy = node_facts(node)
    try:
        _ids.check_token(state['secrets'], presented_token, role)
    except _ids.TokenError as exc:
        raise _ids.TokenError('node %s cannot join: %s' % (hostname, exc)) from None
    return record_node(state, node, rng)


def leave(state, hostname):
    """Remove a node (its tasks are placed elsewhere by the next plan); a copy is returned."""
    new = copy.deepcopy(state)
    new['nodes'].pop(hostname, None)
    bump(state, new)
    return new


def choose_import(local, incoming):
    """Decide what replicating ``incoming`` onto a manager holding ``local`` gives.

    Returns ``(state, changed)``: the newest version wins; the same version with different
    content is a split brain and raises StateError, as does a copy of another cluster."""
    check_state(incoming)
    if local is None:
        return copy.deepcopy(incoming), True
    check_state(local)
    if local['cluster']['id'] != incoming['cluster']['id']:
        raise StateError('the imported state belongs to cluster %s but this manager holds cluster %s; '
                         'remove the local state first if the cluster was re-created'
                         % (incoming['cluster']['id'], local['cluster']['id']))
    if incoming['version'] > local['version']:
        return copy.deepcopy(incoming), True
    if incoming['version'] == local['version'] and content(incoming) != content(local):
        raise StateError('state conflict: the imported copy and the local copy both have version %d but '
                         'differ; plan on one manager only (the first of swarm_managers)' % local['version'])
    return local, False


def dumps(state):
    """Canonical JSON text of a state (stable across runs, so files compare byte for byte)."""
    return json.dumps(state, indent=1, sort_keys=False, separators=(',', ': ')) + '\n'
