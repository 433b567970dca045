#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swarm
short_description: Keep the cluster state of an overlay swarm on a manager (init, join, leave, replicate)
version_added: 0.1.0
description:
  - Runs on a manager and keeps the cluster state, the managers' record of the cluster id, the join
    token secrets, the nodes, networks, services, task placement and addresses, in
    O(state_dir)/C(cluster.json) (mode 0600, in a 0700 directory, root only).
  - O(operation=init) creates the cluster when there is none (new cluster id, new join tokens) and records
    the initialising node as a manager; on an existing cluster it changes nothing and returns the same
    id and tokens.
  - O(operation=join) checks the join token the node presents against the role it joins as (the worker and
    the manager tokens differ) and records the node. A wrong token is refused with a message that does
    not contain it. Run it on the first manager, for example with C(delegate_to), for every other node.
  - O(operation=join) with O(members) instead of O(node) joins many nodes in one run under one lock (a bulk join,
    one module process for the whole cluster instead of one per node). Each member's token is checked on its
    own - a member with a wrong token is refused and left out, the others are recorded, and the run does not
    fail; RV(members) reports each member as V(joined), V(updated), V(unchanged) or V(refused) with the
    reason (never the token).
  - O(operation=leave), or O(state=absent) with O(operation=join), removes a node from the cluster, or every node of
    O(members); the next M(linuxnet.overlay.cluster_plan) places their tasks elsewhere.
  - O(operation=export) returns the whole state (secrets included) and O(operation=import) installs such a copy on
    another manager when its version is newer than the local one; that is how the state is replicated
    from the first manager to the others.
  - Every read-modify-write holds an exclusive C(flock) on O(state_dir)/C(cluster.lock).
  - The file is replaced atomically (temporary file, fsync, rename), so a crash leaves the old or the new
    state, never half of one.
  - Join tokens and exported states are secrets. The collection's action plugin marks every result that
    carries them as C(no_log), so a registered result is usable but never printed; O(join_token) and
    O(import_state) are C(no_log) options.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._attributes
options:
  operation:
    description:
      - What to do (the verb of C(docker swarm init|join|leave); C(role) is its old name, kept as an alias).
      - V(init) creates the cluster if needed; V(join) records a node that presents a valid
        token; V(leave) removes a node; V(export) returns the state; V(import) installs a newer copy.
      - V(lock) takes the run lease (one C(site.yml) run at a time, see O(run_id)); V(unlock) releases it.
    type: str
    choices: [init, join, leave, import, export, lock, unlock]
    required: true
    aliases: [role]
  state:
    description:
      - V(absent) with O(operation=join) or O(operation=leave) removes the node O(node.hostname); V(present) records it.
      - Ignored for the other operations.
    type: str
    choices: [present, absent]
    default: present
  state_dir:
    description:
      - Directory of the cluster state on this manager; created with mode 0700 when missing.
    type: path
    default: /var/lib/linuxnet-overlay
  node:
    description:
      - Facts of the node to record (O(operation=init) records the initialising manager, optional) or to add
        or remove (O(operation=join) and O(operation=leave), required).
    type: dict
    suboptions:
      hostname:
        description: Inventory name of the node; the key of the node in the cluster.
        type: str
        required: true
      role:
        description: Role the node joins as. O(operation=init) only accepts V(manager).
        type: str
        choices: [manager, worker]
      addr:
        description: Data-path address of the node (VTEP source address). Required to record a node.
        type: str
      labels:
        description: Labels placement constraints can match (C(node.labels.<key>==<value>)).
        type: dict
        default: {}
  members:
    description:
      - Bulk form of O(node) for O(operation=join) and O(operation=leave) (and O(state=absent)), each member with its
        own token; mutually exclusive with O(node) and O(join_token). Processed in one run under one lock.
      - Bad input (an empty or repeated hostname, a missing or malformed address, a member without a token
        while the cluster exists) fails the whole run before anything changes. A wrong token, or an address
        another node uses, refuses that member only (RV(members)).
      - An empty list changes nothing.
    type: list
    elements: dict
    suboptions:
      hostname:
        description: Inventory name of the node; the key of the node in the cluster.
        type: str
        required: true
      role:
        description: Role the node joins as (default V(worker)).
        type: str
        choices: [manager, worker]
      addr:
        description: Data-path address of the node (VTEP source address). Required to join.
        type: str
      labels:
        description: Labels placement constraints can match.
        type: dict
        default: {}
      join_token:
        description:
          - The token this member presents, C(SWMTKN-1-...). Never logged and never repeated in a message.
          - Required to join once the cluster exists (in check mode before it exists it cannot be checked).
        type: str
  join_token:
    description:
      - The token the node presents with O(operation=join), C(SWMTKN-1-...) as returned by O(operation=init).
      - Never logged and never repeated in an error message.
    type: str
  import_state:
    description:
      - The JSON text returned as RV(cluster_state) by O(operation=export) on another manager, for O(operation=import).
      - The copy with the higher version wins; a copy of another cluster, or of the same version with
        different content, is refused.
      - JSON text rather than a dict so that C(no_log) masks it as one value (Ansible masks every leaf of a
        C(no_log) dict, numbers and role names included, everywhere in the output).
    type: str
  data_path_port:
    description:
      - UDP port of the VXLAN data path, recorded when O(operation=init) creates the cluster (Docker's
        C(--data-path-port), 1024-49151). Later changes go through M(linuxnet.overlay.cluster_plan).
    type: int
  default_addr_pool:
    description:
      - Pools overlay subnets are cut from, recorded when O(operation=init) creates the cluster.
    type: list
    elements: str
  default_addr_pool_mask_length:
    description:
      - Prefix length of the subnets cut from O(default_addr_pool), recorded when O(operation=init) creates the cluster.
    type: int
  lock_timeout:
    description:
      - Seconds to wait for the cluster lock held by another run before failing with a message naming the holder.
    type: float
    default: 60
  run_id:
    description:
      - With O(operation=lock) and O(operation=unlock), the id of the run taking or releasing the run lease
        (O(state_dir)/C(run.lock)). The collection's action plugin fills it in with the id of the running
        C(ansible-playbook) (controller host, boot, process id and start time), and O(owner) with who it is.
      - A second run waits for the lease up to O(lock_timeout) seconds, then fails naming the holder. A lease
        whose run died is taken over, at once when the action plugin sees the holder's process is gone on
        this controller (O(stale_runs)), otherwise when it expires (O(lease)).
    type: str
  owner:
    description: Who holds the lease (recorded for the message another run gets); filled in by the action plugin.
    type: dict
    default: {}
  stale_runs:
    description: Run ids known to be dead, whose lease may be taken over at once (set by the action plugin).
    type: list
    elements: str
    default: []
  lease:
    description: Seconds the run lease lasts without being taken again by the same run.
    type: float
    default: 3600
  missing_ok:
    description:
      - With O(operation=export), a manager without a cluster state returns RV(cluster_state=null) instead of
        failing (how a re-installed first manager looks for a replica on the other managers).
    type: bool
    default: false
notes:
  - The cluster state is the managers' business only; workers never hold it.
  - In check mode nothing is written; O(operation=init) on a host without a cluster predicts the creation but
    returns no tokens, and O(operation=join) without a cluster cannot check the token.
seealso:
  - module: linuxnet.overlay.cluster_plan
"""

EXAMPLES = r"""
---
- name: Initialise the cluster on the first manager
  linuxnet.overlay.swarm:
    operation: init
    node:
      hostname: "{{ inventory_hostname }}"
      role: manager
      addr: "{{ overlay_advertise_addr }}"
  register: swarm_init   # carries the join tokens: the result is marked no_log

- name: Join every other node (checked and recorded on the first manager)
  linuxnet.overlay.swarm:
    operation: join
    node:
      hostname: "{{ inventory_hostname }}"
      role: "{{ 'manager' if inventory_hostname in groups['swarm_managers'] else 'worker' }}"
      addr: "{{ overlay_advertise_addr }}"
      labels: "{{ overlay_node_labels | default({}) }}"
    join_token: "{{ hostvars[groups['swarm_managers'][0]].swarm_init.tokens[
      'manager' if inventory_hostname in groups['swarm_managers'] else 'worker'] }}"
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: Or join them all in one run on the first manager (each member presents its own token)
  linuxnet.overlay.swarm:
    operation: join
    members:
      - hostname: node2
        role: worker
        addr: 192.168.1.5
        labels: {zone: a}
        join_token: "{{ swarm_init.tokens.worker }}"
      - hostname: node3
        role: manager
        addr: 192.168.1.6
        join_token: "{{ swarm_init.tokens.manager }}"
  register: swarm_joined   # swarm_joined.members.node2.status: joined, updated, unchanged or refused

- name: Copy the state to the other managers
  linuxnet.overlay.swarm:
    operation: export
  register: swarm_export
  delegate_to: "{{ groups['swarm_managers'][0] }}"
  run_once: true

- name: Install it where it is newer
  linuxnet.overlay.swarm:
    operation: import
    import_state: "{{ swarm_export.cluster_state }}"
  when: inventory_hostname in groups['swarm_managers'][1:]

- name: Remove a node for good
  linuxnet.overlay.swarm:
    operation: leave
    node:
      hostname: node3
"""

RETURN = r"""
cluster_id:
  description: Id of the cluster (25 characters, like Docker's); null in check mode before the cluster exists.
  returned: always
  type: str
  sample: 1ex3x5spdkbh0u4rs9kzmo3px
version:
  description: Version of the cluster state after the run (it goes up by one on every change).
  returned: always
  type: int
  sample: 3
tokens:
  description:
    - Join tokens, C(SWMTKN-1-<50 characters from the cluster key>-<25 characters per role>).
    - Secret. The result that carries them is marked no_log by the action plugin.
  returned: with O(operation=init), once the cluster exists
  type: dict
  contains:
    manager:
      description: Token with which a node joins as a manager.
      type: str
    worker:
      description: Token with which a node joins as a worker.
      type: str
node:
  description: The node as recorded (id, role, address, labels, state), or null once removed.
  returned: when O(node) is given
  type: dict
  sample: {hostname: node2, id: 97v2cl0jk3o9mte4srhbqwpa5, role: worker, addr: 192.168.1.5, labels: {}, state: ready}
members:
  description:
    - With O(members), what happened to each member, by hostname. C(members.<hostname>.status) is
      V(joined) (new), V(updated) (its facts changed), V(unchanged), V(refused) (with O(operation=join)),
      or V(left) (with O(operation=leave)); C(members.<hostname>.msg) gives the reason of a refusal
      (never the token); C(members.<hostname>.node) the node as recorded.
    - In check mode before the cluster exists every member is predicted V(joined), its token unchecked.
  returned: when O(members) is given
  type: dict
  sample: {node2: {status: joined, node: {id: 97v2cl0jk3o9mte4srhbqwpa5, role: worker, addr: 192.168.1.5,
           labels: {}, state: ready}}, node3: {status: refused, msg: "node node3 cannot join: ...", node: null}}
refused:
  description: With O(members), the hostnames of the refused members (see RV(members) for the reasons).
  returned: when O(members) is given
  type: list
  elements: str
cluster_state:
  description:
    - The whole cluster state, secrets included, as JSON text (the content of C(cluster.json)); give it
      to O(import_state) on the other managers.
    - Secret; the result is marked no_log by the action plugin.
  returned: with O(operation=export); null with O(missing_ok) when this manager holds no state
  type: str
waited:
  description: Seconds O(operation=lock) waited for the run lease of another run.
  returned: with O(operation=lock)
  type: float
holder:
  description: The lease record of the run that holds the cluster, when O(operation=lock) gave up waiting.
  returned: when O(operation=lock) fails on a held lease
  type: dict
busy:
  description:
    - True when O(operation=lock) could not even look at the lease within O(lock_timeout) because another
      module run held the cluster's flock. The action plugin asks again until O(lock_timeout) is spent.
  returned: when O(operation=lock) fails on a busy flock
  type: bool
released:
  description: Whether O(operation=unlock) released the lease of O(run_id).
  returned: with O(operation=unlock)
  type: bool
imported:
  description: Whether O(operation=import) installed the given copy (it was newer than the local one).
  returned: with O(operation=import)
  type: bool
state_dir:
  description: The state directory, and what was done to it (created, mode tightened).
  returned: always
  type: dict
  sample: {path: /var/lib/linuxnet-overlay, actions: ['created /var/lib/linuxnet-overlay (mode 0700)']}
"""

import contextlib
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ids as _ids
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import statefile as _statefile
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

ARG_SPEC = dict(
    operation=dict(type='str', required=True, aliases=['role'],
                   choices=['init', 'join', 'leave', 'import', 'export', 'lock', 'unlock']),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    state_dir=dict(type='path', default=_statefile.DEFAULT_STATE_DIR),
    node=dict(type='dict', options=dict(
        hostname=dict(type='str', required=True),
        role=dict(type='str', choices=['manager', 'worker']),
        addr=dict(type='str'),
        labels=dict(type='dict', default={}),
    )),
    members=dict(type='list', elements='dict', options=dict(
        hostname=dict(type='str', required=True),
        role=dict(type='str', choices=['manager', 'worker']),
        addr=dict(type='str'),
        labels=dict(type='dict', default={}),
        join_token=dict(type='str', no_log=True),
    )),
    join_token=dict(type='str', no_log=True),
    import_state=dict(type='str', no_log=True),
    data_path_port=dict(type='int'),
    default_addr_pool=dict(type='list', elements='str'),
    default_addr_pool_mask_length=dict(type='int'),
    lock_timeout=dict(type='float', default=60.0),
    missing_ok=dict(type='bool', default=False),
    run_id=dict(type='str'),
    owner=dict(type='dict', default={}),
    stale_runs=dict(type='list', elements='str', default=[]),
    lease=dict(type='float', default=3600.0),
)


def _node_lines(state):
    if state is None:
        return ''
    lines = ['cluster %s version %d' % (state['cluster']['id'], state['version'])]
    for host, n in sorted(state['nodes'].items()):
        labels = ','.join('%s=%s' % kv for kv in sorted(n.get('labels', {}).items()))
        lines.append('node %s id=%s role=%s addr=%s state=%s labels=%s' % (
            host, n['id'], n.get('role'), n.get('addr'), n.get('state'), labels or '-'))
    return '\n'.join(lines) + '\n'


def _node_view(state, hostname):
    if state is None or hostname not in state['nodes']:
        return None
    return dict(state['nodes'][hostname], hostname=hostname)


def _facts(params):
    node = params['node']
    return dict((k, node[k]) for k in ('hostname', 'role', 'addr', 'labels') if node.get(k) is not None)


def _member_facts(member):
    return dict((k, member[k]) for k in ('hostname', 'role', 'addr', 'labels') if member.get(k) is not None)


def check_members(members, role, have_state):
    """The message for bad input in a ``members`` list (names the member, never a token), or None. Pure.

    Bad input fails the whole run; a wrong token or a taken address only refuses its member
    (``join_members``)."""
    if role not in ('join', 'leave'):
        return 'members is for role=join and role=leave, not role=%s' % role
    seen = set()
    for i, member in enumerate(members):
        if not isinstance(member, dict):
            return 'members[%d] is not a dict with hostname, role, addr, labels and join_token' % i
        host = member.get('hostname')
        if not isinstance(host, str) or not host.strip():
            return 'members[%d]: hostname %r is not a non-empty name' % (i, host)
        if host in seen:
            return 'members: node %s is listed twice' % host
        seen.add(host)
        if role == 'leave':
            continue
        facts = _member_facts(member)
        facts.setdefault('role', 'worker')
        try:
            _state.node_facts(facts)
        except _state.StateError as exc:
            return 'members[%d]: %s' % (i, exc)
        if have_state and not member.get('join_token'):
            return 'members[%d]: node %s has no join_token (role=join needs one per member)' % (i, host)
    return None


def join_members(old, members):
    """Join every member on ``old``, each with its own token, in one pass. Pure.

    Returns ``(new, report)``: ``new`` is ``old`` itself when nothing changed, else a copy whose
    version is one above ``old``'s; ``report`` maps each hostname to ``{status, msg?, node}``.
    A member whose token is wrong (or whose address another node uses) is refused and left out,
    with the reason (``_state.join`` never puts the token in it); the others are recorded."""
    new, report = old, {}
    for member in members:
        facts = _member_facts(member)
        facts.setdefault('role', 'worker')
        host = facts['hostname']
        before = _node_view(new, host)
        try:
            # the token is checked on every run, also when the node is recorded already
            candidate = _state.join(new, facts, member.get('join_token'))
        except (_ids.TokenError, _state.StateError) as exc:
            report[host] = {'status': 'refused', 'msg': str(exc), 'node': before}
            continue
        if _state.content(candidate) == _state.content(new):
            status = 'unchanged'
        else:
            status = 'joined' if before is None else 'updated'
            new = candidate
        report[host] = {'status': status, 'node': _node_view(new, host)}
    return _one_version(old, new), report


def leave_members(old, members):
    """Remove every member from ``old`` in one pass. Pure; returns ``(new, report)`` as join_members."""
    new, report = old, {}
    for member in members:
        host = member['hostname']
        if host in new['nodes']:
            new = _state.leave(new, host)
            report[host] = {'status': 'left', 'node': None}
        else:
            report[host] = {'status': 'unchanged', 'node': None}
    return _one_version(old, new), report


def predict_members(members, role):
    """Check mode before the cluster exists: every joining member is predicted to join (its token
    cannot be checked), nobody can leave. Pure."""
    status = 'joined' if role == 'join' else 'unchanged'
    return dict((m['hostname'], {'status': status, 'node': None}) for m in members)


def _one_version(old, new):
    """One version step for the whole bulk run (not one per member)."""
    if new is not old:
        new['version'] = old['version'] + 1
    return new


def _apply(module, old):
    """The new state for the requested role, or ``old`` when nothing changes. Pure."""
    p = module.params
    role = p['operation']
    if role == 'init':
        if old is not None:
            have = {'data_path_port': old['cluster']['data_path_port'],
                    'default_addr_pool': old['cluster']['default_addr_pool'],
                    'default_addr_pool_mask_length': old['cluster']['mask_length']}
            for opt, value in have.items():
                if p[opt] is not None and p[opt] != value:
                    module.warn('%s=%s is ignored: the cluster exists already with %s (cluster_plan changes it)'
                                % (opt, p[opt], value))
            new = old
        else:
            try:
                new = _state.new_state(data_path_port=p['data_path_port'], default_addr_pool=p['default_addr_pool'],
                                       mask_length=p['default_addr_pool_mask_length'])
            except ValueError as exc:
                module.fail_json(msg=str(exc))
        if p['node'] is not None:
            facts = _facts(p)
            if facts.setdefault('role', 'manager') != 'manager':
                module.fail_json(msg='node %s initialises the cluster, so it is a manager, not a %s'
                                 % (facts['hostname'], facts['role']))
            current = _node_view(new, facts['hostname'])
            wanted = dict(current or {}, **facts)
            if current is None or wanted != current or current.get('state') != 'ready':
                new = _state.record_node(new, facts)
        return new
    if role in ('join', 'leave') and p['members'] is not None:
        bulk = leave_members if role == 'leave' or p['state'] == 'absent' else join_members
        new, module.bulk_report = bulk(old, p['members'])
        return new
    if role in ('join', 'leave'):
        if p['node'] is None:
            module.fail_json(msg='role=%s needs node or members (at least a hostname)' % role)
        facts = _facts(p)
        if role == 'leave' or p['state'] == 'absent':
            if facts['hostname'] not in old['nodes']:
                return old
            return _state.leave(old, facts['hostname'])
        facts.setdefault('role', 'worker')
        if p['join_token'] is None:
            module.fail_json(msg='node %s: role=join needs join_token' % facts['hostname'])
        # the token is checked on every run, also when the node is recorded already
        new = _state.join(old, facts, p['join_token'])
        return old if _state.content(new) == _state.content(old) else new
    if role == 'import':
        try:
            incoming = json.loads(p['import_state'])
        except ValueError:
            module.fail_json(msg='import_state is not the JSON text returned by role=export (content not shown; '
                                 'pass cluster_state as it is, or a dict through the to_json filter)')
        new, dummy = _state.choose_import(old, incoming)
        return new
    return old


def _run_lease(module):
    """role=lock / role=unlock: the run lease (no cluster content changes: changed is false)."""
    p = module.params
    state_dir = p['state_dir']
    result = dict(changed=False, run_id=p['run_id'], state_dir=dict(path=state_dir, actions=[]))
    try:
        if p['operation'] == 'unlock':
            result['released'] = (not module.check_mode and os.path.isdir(state_dir)
                                  and _statefile.release_lease(state_dir, p['run_id']))
            module.exit_json(**result)
        if not module.check_mode:
            result['state_dir']['actions'] = _statefile.ensure_dir(state_dir)
        elif not os.path.isdir(state_dir):
            module.exit_json(waited=0, **result)          # check mode on a fresh cluster: nobody to wait for
        lease, waited, replaced = _statefile.take_lease(
            state_dir, p['run_id'], p['owner'], p['lease'], p['lock_timeout'], stale=p['stale_runs'],
            write=not module.check_mode)
    except _statefile.LeaseHeld as exc:
        module.fail_json(msg=str(exc), holder=exc.lease, **result)
    except _statefile.LockTimeout as exc:
        # another module run holds the flock for its read-modify-write (a second run taking or
        # releasing the lease at this moment): busy, not held; the action plugin asks again
        module.fail_json(msg=str(exc), busy=True, **result)
    except _statefile.StateFileError as exc:
        module.fail_json(msg=str(exc), **result)
    result.update(waited=round(waited, 1), expires=lease['expires'])
    if replaced is not None:
        result['replaced'] = replaced
        module.warn('took over the run lease of run %s (%s)' % (
            replaced.get('run_id'), 'its process is gone' if replaced.get('run_id') in p['stale_runs'] else 'expired'))
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True,
                           mutually_exclusive=[('node', 'members'), ('join_token', 'members')],
                           required_if=[('operation', 'import', ['import_state']), ('operation', 'lock', ['run_id']),
                                        ('operation', 'unlock', ['run_id'])])
    p = module.params
    if p['operation'] in ('lock', 'unlock'):
        _run_lease(module)
    state_dir = p['state_dir']
    role = p['operation']
    result = dict(changed=False, state_dir=dict(path=state_dir, actions=[]))
    bulk_role = 'leave' if role == 'join' and p['state'] == 'absent' else role
    if p['members'] is not None:
        # bad input fails before anything is touched (a token is checked under the lock: whether one
        # is needed depends on the state, so this first pass does not ask for tokens)
        bad = check_members(p['members'], bulk_role, have_state=False)
        if bad:
            module.fail_json(msg=bad, **result)
    module.bulk_report = None
    writes = role != 'export' and not module.check_mode
    try:
        if writes and (role in ('init', 'import') or os.path.isdir(state_dir)):
            result['state_dir']['actions'] = _statefile.ensure_dir(state_dir)
        have_dir = os.path.isdir(state_dir)
        lock = _statefile.cluster_lock(state_dir, timeout=p['lock_timeout'], purpose='swarm role=%s' % role,
                                       exclusive=writes) if have_dir else contextlib.nullcontext()
        with lock:
            old = _statefile.read_state(state_dir) if have_dir else None
            if old is None and role in ('join', 'leave', 'export'):
                _no_cluster_yet(module, result, bulk_role)
            if p['members'] is not None and old is not None:
                bad = check_members(p['members'], bulk_role, have_state=True)
                if bad:
                    module.fail_json(msg=bad, **result)
            new = _apply(module, old)
            changed = old is None or _state.content(new) != _state.content(old)
            if changed and not module.check_mode:
                _statefile.write_state(state_dir, new)
    except (_statefile.StateFileError, _ids.TokenError, _state.StateError) as exc:
        module.fail_json(msg=str(exc), **result)
    _exit(module, result, old, new, changed)


def _no_cluster_yet(module, result, bulk_role):
    """role=join, leave or export before the cluster exists: what can be said without a state
    (nothing to leave, nothing to export with missing_ok, a join predicted in check mode), else fail."""
    p = module.params
    role = p['operation']
    if role == 'leave':
        result.update(cluster_id=None, version=0, node=None)
        if p['members'] is not None:
            result.update(members=predict_members(p['members'], 'leave'), refused=[])
        module.exit_json(**result)
    if role == 'export' and p['missing_ok']:
        result.update(cluster_id=None, version=0, cluster_state=None)
        module.exit_json(**result)
    if role == 'join' and module.check_mode:
        module.warn('no cluster state in %s yet (check mode): the join token cannot be checked'
                    % p['state_dir'])
        result.update(changed=True, cluster_id=None, version=0)
        if p['members'] is not None:
            report = predict_members(p['members'], bulk_role)
            result.update(changed=bulk_role == 'join' and bool(report), members=report, refused=[])
        module.exit_json(**result)
    module.fail_json(msg='no cluster state in %s: initialise the cluster first (role: init on the '
                         'first manager) or import a copy (role: import)' % p['state_dir'], **result)


def _exit(module, result, old, new, changed):
    """The module's result for the role that ran (tokens, node, members, the exported state)."""
    p = module.params
    role = p['operation']
    shown = None if (module.check_mode and old is None) else new
    result.update(changed=changed,
                  cluster_id=shown['cluster']['id'] if shown else None,
                  version=shown['version'] if shown else 0)
    if module._diff:
        result['diff'] = diff_result(_node_lines(old), _node_lines(new))
    if role == 'init' and shown is not None:
        result['tokens'] = _state.tokens(shown)
    if p['node'] is not None:
        result['node'] = _node_view(new, p['node']['hostname'])
    if module.bulk_report is not None:
        result['members'] = module.bulk_report
        result['refused'] = sorted(h for h, r in module.bulk_report.items() if r['status'] == 'refused')
    if role == 'export':
        result['cluster_state'] = _state.dumps(new)
    if role == 'import':
        result['imported'] = changed
    module.exit_json(**result)


if __name__ == '__main__':
    main()
