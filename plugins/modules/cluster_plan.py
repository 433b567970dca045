#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_plan
short_description: Plan the overlay cluster from the inventory and keep the allocations in the cluster state
version_added: 0.1.0
description:
  - Runs on the first manager. Loads the cluster state under the cluster lock, validates the whole
    input (every problem is reported at once, each naming the bad value, before anything is allocated),
    allocates what is new, keeps what exists, frees what went away, writes the new state when it changed,
    and returns the plan, the complete desired state of every node.
  - "Allocations: network ids, subnets (the first free /O(default_addr_pool_mask_length) of
    O(default_addr_pool) that overlaps no other network and no node route, or the given ones), gateways
    (the first host unless given), VNIs (one per subnet, the first free from 4096), task placement
    (Swarm's spread: fewest tasks of the service, then fewest tasks overall, then node order; existing
    tasks stay while their node is present and eligible) and task addresses (serial: a freed address is
    reused as late as possible)."
  - The plan lists, per node, the sandboxes (one per network that has a task on the node), their bridges,
    VXLAN devices and peer entries (one per remote task), the tasks with their interfaces, routes and
    the networks of their hosts file, the name table of each of those networks (once per node, not per
    task), and the neighbour-table thresholds. Its shape is documented in C(docs/plan.md).
  - The state is written only when it changed (then its version goes up by one); a second run with the
    same input changes nothing and returns the same plan.
  - With O(commit=false), or in check mode, the plan is computed and returned but nothing is written.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._attributes
options:
  state_dir:
    description:
      - Directory of the cluster state on this manager (made by M(linuxnet.overlay.swarm) with O(linuxnet.overlay.swarm#module:operation=init)).
    type: path
    default: /var/lib/linuxnet-overlay
  nodes:
    description:
      - Every node of the inventory, also those without facts in this run. A node missing from this list
        is marked down and its tasks are placed elsewhere; a node with O(nodes[].state=absent) is removed
        from the cluster.
    type: list
    elements: dict
    required: true
    suboptions:
      hostname:
        description: Inventory name of the node.
        type: str
        required: true
      role:
        description: V(manager) or V(worker).
        type: str
        default: worker
      addr:
        description:
          - Data-path address (VTEP source address, C(overlay_advertise_addr)).
          - Omitted, the address recorded in the cluster state is kept, so a run that has no facts of
            some nodes (C(--limit), unreachable hosts) can still list them and leaves their tasks in place.
            A node without recorded address must give it.
        type: str
      labels:
        description: Labels for placement constraints (C(overlay_node_labels)).
        type: dict
      availability:
        description:
          - V(active), V(pause) or V(drain) (C(overlay_node_availability)), as C(docker node update --availability).
          - New tasks are placed on active nodes only; a paused node keeps its tasks; a drained node's tasks are
            removed and placed on other nodes. Nothing moves back when the node is active again.
        type: str
        default: active
      state:
        description: V(absent) removes the node from the cluster.
        type: str
        default: present
      underlay_mtu:
        description:
          - MTU of the node's interface towards the other nodes; the overlay MTU is derived from the smallest.
          - Omitted, the value recorded by an earlier plan is kept, else 1500.
        type: int
      underlay_family:
        description: V(ipv4) or V(ipv6), the family of O(nodes[].addr) (derived from it when omitted).
        type: str
      routes:
        description:
          - The node's own routes and interface addresses (CIDRs). New overlay subnets never overlap them;
            an explicit subnet that does is refused, naming the node and the route. Default routes are ignored.
        type: list
        elements: str
      listening:
        description:
          - The ports something already uses on the node, C({tcp, udp}) lists (M(linuxnet.overlay.node_facts)'s
            C(listening)). A port published in mode ingress must be free on every node, in mode host on the nodes
            with a task of the service; one that is not is refused, naming the node.
        type: dict
  networks:
    description:
      - Overlay networks, C(overlay_networks) of the inventory, each a dict with C(name), C(subnets)
        (list of CIDRs; default the next free subnet of the pool), C(gateway) (one per subnet, a string
        for a single subnet or a list with null for the default), C(encrypted) (bool), C(mtu) (the overlay
        MTU, 1280-9000; default the smallest underlay MTU minus 50, or 70 for IPv6, minus the ESP overhead
        when encrypted), C(vnis) (optional explicit VNIs, one per subnet), C(multicast) (bool, default false;
        broadcast and multicast between nodes by head-end replication; each node's subnet plan then lists the
        other nodes with tasks in the subnet in C(flood)) and C(state) (present or absent).
      - Unknown keys are refused (a typo is an error, not a silent default).
      - Subnets, gateways and VNIs of an existing network cannot change in place; C(encrypted), C(mtu) and
        C(multicast) can.
      - A network missing from the list is kept unless O(prune=true).
    type: list
    elements: dict
    default: []
  services:
    description:
      - Services, C(overlay_services) of the inventory, each a dict with C(name), C(networks) (names in
        interface order, eth0 first; an entry may also be C({name, subnet}) to choose the subnet of a
        multi-subnet network), C(replicas) (default 1) or C(mode=global), C(max_replicas_per_node) (replicated
        services; 0 or omitted for no limit), C(constraints) (like
        C(node.role==worker), C(node.hostname!=node2), C(node.id==...), C(node.labels.zone==a)),
        C(endpoint_mode), C(command) (argv list or string), C(restart_policy), C(image) and C(state).
      - C(restart_policy) is Docker's C(--restart-condition), C(--restart-delay), C(--restart-max-attempts) and
        C(--restart-window) as C({condition (any, on-failure, none), delay, max_attempts, window}), with Docker's
        defaults for what is left out (C(any), C(5s), C(0) - no limit, C(0s) - since the start); the plan gives
        each task of the service its C(restart), which M(linuxnet.overlay.task) carries out with C(runsv).
        Omitted, a task's command is not supervised.
      - C(image) (an image reference such as C(localhost/web:1)) runs each task as a podman container of it in
        the task's namespace, with C(command) as the container's command; see the option O(linuxnet.overlay.task#module:image).
        Images are not pulled, so every node that gets a task needs the image.
      - C(endpoint_mode) is C(vip) (the default, as Docker's) or C(dnsrr). In vip mode the service gets a
        virtual IP on each of its networks, allocated before its tasks' addresses; the service's name resolves
        to it and a connection to it from a task of the network reaches one of the service's tasks. In dnsrr
        mode the name resolves to every task. C(tasks.<service>) resolves to every task in both.
      - A service missing from the list is kept unless O(prune=true).
    type: list
    elements: dict
    default: []
  default_addr_pool:
    description:
      - Pools new subnets are cut from (C(overlay_default_addr_pool)). Omitted, the cluster's value is kept
        (C(10.0.0.0/8) unless set at init).
    type: list
    elements: str
  default_addr_pool_mask_length:
    description: Prefix length of the subnets cut from the pool. Omitted, the cluster's value is kept (24).
    type: int
  data_path_port:
    description:
      - UDP port of the VXLAN data path, 1024-49151. Omitted, the cluster's value is kept (4789).
        A change re-creates every VTEP, and is reported as a warning.
    type: int
  gwbridge_subnet:
    description:
      - Subnet of every node's gateway bridge (C(overlay_gwbridge_subnet)), the way out of the overlay that each task
        on a network that is not C(internal) gets, as Docker's C(docker_gwbridge). The same subnet on every node;
        its first address is the bridge's, the others are handed out per node. Omitted, the cluster's value is
        kept (C(172.18.0.0/16), as Docker's). It must not overlap an overlay subnet or a route of a node with such a
        task. A change gives every such task a new address on it (reported as a warning).
    type: str
  ingress_encrypted:
    description:
      - Whether the routing mesh's C(ingress) network is encrypted (C(overlay_ingress_encrypted)), as
        C(docker network create --ingress --opt encrypted); published ports in mode ingress then cross between
        nodes in IPsec ESP like any encrypted network. Omitted, the cluster's value is kept (false). It can change
        in place.
    type: bool
  commit:
    description:
      - Write the new state. V(false) computes and returns the plan without writing (like check mode).
    type: bool
    default: true
  validate_only:
    description:
      - Check the input against the cluster state and make every allocation in memory (subnets, VNIs,
        placement, addresses), so that every problem a committing run would hit is reported, then stop - no
        plan is built (RV(plan) is null), nothing is written, C(changed) is false and no warning is emitted
        (the committing run emits them).
      - Without a cluster state (a cluster that is not initialised yet) the input is checked against an
        empty cluster and nodes need not have joined.
      - The C(swarm) role runs this on the first manager before C(swarm init) and C(join), so a wrong
        inventory fails before anything is made on any node.
    type: bool
    default: false
  prune:
    description:
      - Remove networks and services that are in the cluster state but not in O(networks) and O(services).
    type: bool
    default: false
  require_joined:
    description:
      - Refuse nodes that never joined through M(linuxnet.overlay.swarm) with a valid token. V(false) adds
        them with a new id (for labs and tests).
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for the cluster lock held by another run before failing with a message naming the holder.
    type: float
    default: 60
  rotate_keys:
    description:
      - Rotate the IPsec keyring of the encrypted networks once - add a new key, make the second newest the one
        nodes send with, drop the oldest (a loss-free order, see C(docs/encryption.md)).
      - Refused, naming the key, while the newest key is not installed on every node yet (a run that converged every
        node with an encrypted network records that with M(linuxnet.overlay.keyring)); converge first, then rotate.
      - The playbook C(linuxnet.overlay.rotate_keys) sets this and installs the new keys on every node.
    type: bool
    default: false
  key_max_age:
    description:
      - Rotate the keyring during a normal run when its newest key is this old or older - seconds, or a number with
        a unit (V(90s), V(30m), V(12h), V(7d), V(2w)). Docker rotates every 12 hours.
      - A rotation that is due but not safe yet (the newest key is not installed everywhere) waits, with a warning.
      - Omitted or V(0), keys are only rotated on request (O(rotate_keys)).
    type: raw
notes:
  - "Encryption keys: when a network is encrypted the keyring (three 16-byte keys from C(os.urandom)) is generated here
    and kept in the cluster state (mode 0600, root only); it is dropped again when no network is encrypted any more.
    This module never returns key material - C(keyring_info) and the diff show tags, ages and fingerprints.
    The nodes get the keys from M(linuxnet.overlay.keyring), whose result is hidden (no_log)."
  - Rotation with O(rotate_keys) or O(key_max_age) is computed in check mode too (the new keys are thrown away).
  - Check mode on a manager without cluster state plans against a provisional, empty cluster (ids in that
    plan are not the ones a real run would allocate) and does not require joined nodes.
seealso:
  - module: linuxnet.overlay.swarm
"""

EXAMPLES = r"""
---
- name: Plan the seed's cluster
  linuxnet.overlay.cluster_plan:
    nodes:
      - {hostname: node1, role: manager, addr: 172.31.1.5, routes: [172.31.1.0/24]}
      - {hostname: node2, role: worker, addr: 192.168.1.5, routes: [192.168.1.0/24]}
    networks:
      - name: uber-net
    services:
      - name: test
        networks: [uber-net]
        replicas: 2
        command: sleep infinity
  register: cluster
  run_once: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"

- name: What node2 must look like
  ansible.builtin.debug:
    var: cluster.plan.nodes.node2.sandboxes
"""

RETURN = r"""
plan:
  description:
    - The complete desired state of the cluster; its shape is a contract documented in C(docs/plan.md).
    - Holds no secret (no token, no key); the keyring is not part of it.
    - Null with O(validate_only=true).
  returned: success
  type: dict
  contains:
    cluster:
      description: Cluster id, data-path port, default pool and mask length, state version.
      type: dict
      sample: {id: 1ex3x5spdkbh0u4rs9kzmo3px, data_path_port: 4789, default_addr_pool: [10.0.0.0/8], mask_length: 24, version: 4}
    nodes:
      description: Per hostname, the node (id, role, addr, labels, state) with its sandboxes, tasks, gc_thresh and remote_vteps.
      type: dict
    name_tables:
      description:
        - Per network with a task on a ready node, its name table (the lines of the tasks' hosts files), once for the
          cluster; the node_plan filter gives a node those of its tasks' networks.
      type: dict
    endpoints:
      description:
        - Per network with a task on a ready node, the VIPs of its vip-mode services, each C({service, vip,
          backends}) with the addresses of the service's tasks on that network, once for the cluster; the
          node_plan filter gives a node those of its tasks' networks (the task module's endpoints option).
      type: dict
    networks:
      description: Like C(docker network inspect) (name, id, scope, driver, encrypted, mtu, netns, subnets with gateway and VNI).
      type: list
      elements: dict
    services:
      description: Services with their endpoint mode, VIPs per network and tasks (name, slot, id, node, desired_state, addresses), like C(docker service ps).
      type: list
      elements: dict
    removed:
      description: What this run removed (networks, services, nodes, tasks), for teardown on the nodes.
      type: dict
changes:
  description: Names of what was added, removed or changed (nodes, networks, services) and tasks added, removed or moved.
  returned: success
  type: dict
  sample:
    tasks:
      added: [test.2.qtt5oy5qa3cy2u0pmckm0sqzb]
      removed: [test.2.97v2cl0jk3o9mte4srhbqwpa5]
      moved: ['test.2.qtt5oy5qa3cy2u0pmckm0sqzb: node2 -> node1']
messages:
  description: What the planner did or warns about, as C({level, msg}) (warnings are also emitted as Ansible warnings).
  returned: success
  type: list
  elements: dict
version:
  description: Version of the cluster state after the run.
  returned: success
  type: int
pending:
  description: With O(commit=false) or in check mode, whether a committing run would change the state.
  returned: success
  type: bool
keyring_info:
  description:
    - The IPsec keyring without its key material (null while no network is encrypted) - per key its tag, creation
      time (epoch seconds), whether nodes send with it (C(primary)) and an 8-hex-digit fingerprint; C(installed) is
      the newest tag every node has installed.
  returned: success
  type: dict
  sample:
    keys:
      - {tag: 1, created: 1764390000, primary: false, fingerprint: 3f1c09aa}
      - {tag: 2, created: 1764390000, primary: true, fingerprint: 71be0c42}
      - {tag: 3, created: 1764390000, primary: false, fingerprint: c08d5e11}
    installed: 3
errors:
  description: Every problem of the input, when the module fails because of them.
  returned: failure
  type: list
  elements: str
"""

import contextlib
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipsec as _ipsec
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import statefile as _statefile
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

ARG_SPEC = dict(
    state_dir=dict(type='path', default=_statefile.DEFAULT_STATE_DIR),
    nodes=dict(type='list', elements='dict', required=True, options=dict(
        hostname=dict(type='str', required=True),
        role=dict(type='str', default='worker'),
        addr=dict(type='str'),
        labels=dict(type='dict'),
        availability=dict(type='str', default='active'),
        state=dict(type='str', default='present'),
        underlay_mtu=dict(type='int'),
        underlay_family=dict(type='str'),
        routes=dict(type='list', elements='str'),
        listening=dict(type='dict'),
    )),
    networks=dict(type='list', elements='dict', default=[]),
    services=dict(type='list', elements='dict', default=[]),
    default_addr_pool=dict(type='list', elements='str'),
    default_addr_pool_mask_length=dict(type='int'),
    data_path_port=dict(type='int'),
    gwbridge_subnet=dict(type='str'),
    ingress_encrypted=dict(type='bool'),
    commit=dict(type='bool', default=True),
    validate_only=dict(type='bool', default=False),
    prune=dict(type='bool', default=False),
    require_joined=dict(type='bool', default=True),
    lock_timeout=dict(type='float', default=60.0),
    rotate_keys=dict(type='bool', default=False),
    key_max_age=dict(type='raw', no_log=False),   # a duration, not a key
)


def _inventory(p):
    nodes = []
    for n in p['nodes']:
        nodes.append(dict((k, v) for k, v in n.items() if v is not None))
    return {'nodes': nodes, 'networks': p['networks'], 'services': p['services'],
            'default_addr_pool': p['default_addr_pool'], 'mask_length': p['default_addr_pool_mask_length'],
            'data_path_port': p['data_path_port'], 'gwbridge_subnet': p['gwbridge_subnet'],
            'ingress_encrypted': p['ingress_encrypted']}


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    p = module.params
    state_dir = p['state_dir']
    validate = p['validate_only']
    write = p['commit'] and not module.check_mode and not validate
    dry = module.check_mode or validate      # may plan against an empty cluster
    if not os.path.isdir(state_dir) and not dry:
        module.fail_json(msg='no cluster state in %s: initialise the cluster first (linuxnet.overlay.swarm with '
                             'role: init on the first manager)' % state_dir)
    require_joined = p['require_joined']
    try:
        max_age = _ipsec.parse_duration(p['key_max_age'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        lock = _statefile.cluster_lock(state_dir, timeout=p['lock_timeout'], purpose='cluster_plan',
                                       exclusive=write) if os.path.isdir(state_dir) else contextlib.nullcontext()
        with lock:
            old = _statefile.read_state(state_dir) if os.path.isdir(state_dir) else None
            base = old
            if old is None:
                if not dry:
                    module.fail_json(msg='no cluster state in %s: initialise the cluster first '
                                         '(linuxnet.overlay.swarm with role: init on the first manager)' % state_dir)
                if not validate:
                    module.warn('no cluster state in %s yet (check mode): planning against a provisional empty '
                                'cluster, ids are not final' % state_dir)
                base = _state.new_state()
                require_joined = False
            try:
                new, plan, messages = _plan.plan(base, _inventory(p), require_joined=require_joined,
                                                 prune=p['prune'], build=not validate)
            except _plan.PlanError as exc:
                msg = str(exc)
                if validate:
                    msg += '\nNothing was written (validate_only): fix the input and run again.'
                module.fail_json(msg=msg, errors=exc.errors)
            try:
                keyring(base, new, plan, messages, p['rotate_keys'], max_age)
            except _ipsec.KeyringError as exc:
                module.fail_json(msg=str(exc))
            pending = old is None or _state.content(new) != _state.content(old)
            if pending and write:
                _statefile.write_state(state_dir, new)
    except _statefile.StateFileError as exc:
        module.fail_json(msg=str(exc))
    except _state.StateError as exc:
        module.fail_json(msg=str(exc))
    for m in messages:
        if m['level'] == 'warning' and not validate:
            module.warn(m['msg'])
    result = dict(changed=pending and (write or module.check_mode) and not validate, plan=plan, messages=messages,
                  version=new['version'], pending=pending, changes=_plan.changes(old, new),
                  keyring_info=_ipsec.keyring_info(new.get('keyring')))
    if module._diff and not validate:   # the committing run shows the diff
        result['diff'] = diff_result(state_lines(old), state_lines(new))
    module.exit_json(**result)


def keyring(base, new, plan, messages, rotate_now, max_age):
    """The IPsec keyring step of a plan, in place on ``new``, ``plan`` and ``messages``: create the
    keyring when a network is encrypted, rotate it when asked or due, drop it when nothing is
    encrypted. Keys come from os.urandom and stay in the state; the plan never holds them."""
    needed = any(net.get('encrypted') for net in new['networks'].values())
    entry, msgs = _ipsec.keyring_step(base.get('keyring'), needed, time.time(), rotate_now, max_age)
    new['keyring'] = entry
    messages.extend(msgs)
    _state.bump(base, new)
    if plan is not None:
        plan['cluster']['version'] = new['version']


def state_lines(state):
    """The allocations and the keyring's public view as sorted lines, for --diff."""
    if state is None:
        return ''
    return _plan.state_lines(state) + ''.join(line + '\n' for line in _ipsec.keyring_lines(state.get('keyring')))


if __name__ == '__main__':
    main()
