#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sandbox
short_description: Converge all overlay sandboxes of a node in one run - namespace, bridges, VTEPs, peer entries
version_added: 0.1.0
description:
  - Brings every listed sandbox to its desired state in one module run. A sandbox is a network namespace
    holding, per subnet of the overlay network, a bridge with the subnet's gateway address and a VTEP
    (VXLAN device) enslaved to it, with exactly the listed peers as permanent neighbour (IP to MAC) and
    FDB (MAC to remote data-path address) entries.
  - Each VTEP is made in the namespace the module runs in (the node namespace) and then moved into the
    sandbox, so its UDP socket stays in the node namespace. Learning is off and proxy ARP on; O(dstport)
    is always given to the kernel explicitly.
  - Does what M(linuxnet.overlay.netns), M(linuxnet.overlay.bridge), M(linuxnet.overlay.vxlan),
    M(linuxnet.overlay.neigh) and M(linuxnet.overlay.fdb) (with O(linuxnet.overlay.fdb#module:exclusive=true))
    do, with the same code, in one process instead of one per object.
  - With O(exclusive=true), namespaces whose name starts with O(prefix) and that are not listed are removed,
    their VTEPs first, then the namespace.
  - With O(tasks), the node's tasks are converged in the same run after the sandboxes, exactly as
    M(linuxnet.overlay.task) with O(linuxnet.overlay.task#module:tasks) does (namespace, hosts file, interfaces
    into the sandboxes, command); one module process per node for its whole data plane instead of two. The
    C(linuxnet.overlay.network) role does this when C(network_converge_tasks) is true, as C(site.yml) sets it.
  - Each task interface on one of these sandboxes' bridges gets, unless it lists its own, every other task
    interface of its subnet as permanent neighbours (the subnet's peers and this node's other tasks on the
    bridge), so tasks never ARP and no number of tasks overflows the host's neighbour table.
  - The VTEP's port on its bridge does not learn (C(bridge link set dev vxlan0 learning off), as EVPN
    deployments do); the bridge holds one static entry per remote MAC instead, exactly the subnet's peers, so
    no entry of a removed task lingers and frames to remote tasks are not flooded to the local ones.
  - Every input error is reported, naming the bad value, before anything is changed.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._plan_dir
  - linuxnet.overlay._attributes
options:
  sandboxes:
    description:
      - The sandboxes this node should have. The entries of the cluster plan's C(nodes[<host>].sandboxes)
        can be passed as they are; their keys C(network_id) and C(encrypted) are ignored, C(network) is
        shown in the diff.
      - Keys of each sandbox are C(netns) (required, the namespace name), C(mtu) (of the bridges and VTEPs;
        omitted means not managed), C(ip_forward) (C(net.ipv4.ip_forward) in the sandbox, 1 or 0; default
        true when it has several subnets; false sets 0, since a new namespace takes IPv4 forwarding from the host's) and C(subnets) (required, non-empty).
      - Keys of each subnet are C(bridge) (name, for example V(br0)), C(address) (the gateway address of
        the bridge in CIDR notation, for example V(10.0.0.1/24)), C(vxlan) (name of the VTEP, for example
        V(vxlan0)), C(vni) and C(peers), a list of C({ip, mac, vtep}), one per remote task in the subnet
        (C(vtep) is the remote node's data-path address), and optionally C(flood), a list of remote data-path
        addresses, one all-zeros FDB entry each, so the VTEP sends broadcast, multicast and unknown unicast
        frames to every one of them (head-end replication; the plan lists the nodes with tasks in the subnet
        for a network with C(multicast=true), and none otherwise). The plan's keys C(subnet), C(gateway) and
        C(prefixlen) are ignored.
      - Any other key is an error.
    type: list
    elements: dict
    default: []
  dstport:
    description: UDP port of the VTEPs (the data-path port); always given to the kernel, whose default is 8472.
    type: int
    default: 4789
  local:
    description: Source address of the VTEPs (the node's data-path address). Omitted means not set.
    type: str
  exclusive:
    description:
      - Remove the sandboxes whose namespace name starts with O(prefix) and that are not listed (their VXLAN
        devices first, then the namespace).
    type: bool
    default: false
  prefix:
    description: Name prefix of the sandboxes this module owns; required with O(exclusive=true).
    type: str
  tasks:
    description:
      - The node's tasks, converged after the sandboxes in the same run, as
        M(linuxnet.overlay.task) converges its O(linuxnet.overlay.task#module:tasks) (the entries of the cluster
        plan's C(nodes[<host>].tasks) can be passed as they are). Omitted means the tasks are not managed.
      - With O(exclusive=true) the tasks not listed are removed first, as with
        O(linuxnet.overlay.task#module:exclusive=true) - every runtime folder of O(runtime_dir) not listed, and
        every namespace matching O(task_pattern) that is not listed.
    type: list
    elements: dict
  name_tables:
    description: With O(tasks), as O(linuxnet.overlay.task#module:name_tables) (the C(name_tables) of the node_plan filter's view of the cluster plan).
    type: dict
  gateway:
    description:
      - The node's gateway bridge, a way out of the overlay for its tasks as Docker's C(docker_gwbridge) - the
        C(gateway) of the node_plan filter's view of the cluster plan, C({bridge, subnet, address, veth_prefix}).
      - The bridge is made in the node's own namespace with the address (the first of the subnet), forwarding is
        turned on (C(net.ipv4.ip_forward=1), as Docker does; it is left on when the gateway goes), and two nftables
        tables of the collection's own, C(ip linuxnet_overlay_gw) (masquerade of the subnet out of the node's other
        interfaces; nothing from outside reaches the bridge but replies and DNATed connections) and
        C(bridge linuxnet_overlay_gw) (the tasks' veths, named C(<veth_prefix>...), do not reach each other over
        the bridge). Each table is compared with what is wanted as C(nft list table) prints it, and replaced in one
        transaction when it differs. No other table, chain or route of the node is touched.
      - Omitted or null with O(exclusive=true), the gateway bridge and both tables are removed (the node has no task
        with a way out); without O(exclusive), null leaves them alone. Tasks reach the bridge through their
        C(gateway_interface) (M(linuxnet.overlay.task)).
      - Converged after the sandboxes and before the tasks.
    type: dict
  endpoints:
    description: With O(tasks), as O(linuxnet.overlay.task#module:endpoints) (the C(endpoints) of the node_plan filter's view of the cluster plan).
    type: dict
  task_pattern:
    description: With O(tasks) and O(exclusive=true), as O(linuxnet.overlay.task#module:pattern).
    type: str
  runtime_dir:
    description: With O(tasks), as O(linuxnet.overlay.task#module:runtime_dir).
    type: path
    default: /run/linuxnet-overlay/tasks
  etc_netns_dir:
    description: With O(tasks), as O(linuxnet.overlay.task#module:etc_netns_dir).
    type: path
    default: /etc/netns
  stop_timeout:
    description: With O(tasks), as O(linuxnet.overlay.task#module:stop_timeout).
    type: float
    default: 5.0
notes:
  - In check mode a sandbox that does not exist yet is predicted as created with all its objects and entries
    new; nothing is touched.
  - The diff has one section per sandbox that changes, one line per object or entry.
seealso:
  - module: linuxnet.overlay.task
  - module: linuxnet.overlay.netns
  - module: linuxnet.overlay.bridge
  - module: linuxnet.overlay.vxlan
  - module: linuxnet.overlay.neigh
  - module: linuxnet.overlay.fdb
requirements:
  - pyroute2 >= 0.9.1 on the managed node
  - Linux, run as root (CAP_NET_ADMIN and CAP_SYS_ADMIN)
"""

EXAMPLES = r"""
---
- name: The seed's sandbox of uber-net on node1, with node2's task as the one peer
  linuxnet.overlay.sandbox:
    sandboxes:
      - netns: ov-3xk2m0ab4q
        network: uber-net
        mtu: 1450
        subnets:
          - bridge: br0
            address: 10.0.0.1/24
            vxlan: vxlan0
            vni: 4096
            peers:
              - {ip: 10.0.0.3, mac: "02:42:0a:00:00:03", vtep: 192.168.1.5}
    dstport: 4789
    local: 172.31.1.5
    exclusive: true
    prefix: ov-

- name: This node's part of the cluster plan, as it is
  linuxnet.overlay.sandbox:
    sandboxes: "{{ swarm_plan.nodes[inventory_hostname].sandboxes }}"
    dstport: "{{ swarm_plan.cluster.data_path_port }}"
    local: "{{ swarm_plan.nodes[inventory_hostname].addr }}"
    exclusive: true
    prefix: ov-
"""

RETURN = r"""
actions:
  description: What the module did (or would do in check mode), in order, each prefixed with the sandbox.
  returned: always
  type: list
  elements: str
  sample: ["ov-3xk2m0ab4q: create namespace ov-3xk2m0ab4q", "ov-3xk2m0ab4q: create bridge br0"]
removed:
  description: Sandboxes removed (or to be removed in check mode) because O(exclusive=true) and not listed.
  returned: always
  type: list
  elements: str
  sample: [ov-old0net1]
tasks:
  description: With O(tasks), each listed task after the run, as M(linuxnet.overlay.task) returns them.
  returned: when O(tasks) is given
  type: list
  elements: dict
removed_tasks:
  description: With O(tasks) and O(exclusive=true), the tasks removed (or to be removed in check mode).
  returned: when O(tasks) is given
  type: list
  elements: str
sandboxes:
  description: Each listed sandbox after the run (predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Namespace name.
      type: str
      sample: ov-3xk2m0ab4q
    network:
      description: The network name given, or V(null).
      type: str
      sample: uber-net
    changed:
      description: Whether anything in this sandbox changed.
      type: bool
      sample: false
    actions:
      description: What was done in this sandbox.
      type: list
      elements: str
      sample: []
    bridges:
      description: The bridges, as M(linuxnet.overlay.bridge) returns them.
      type: list
      elements: dict
    vteps:
      description: The VTEPs, as M(linuxnet.overlay.vxlan) returns them.
      type: list
      elements: dict
    neigh:
      description: Per VTEP, the counts of neighbour entries added, replaced, removed, unchanged and in total.
      type: dict
      sample: {vxlan0: {added: 0, replaced: 0, removed: 0, unchanged: 1, entries: 1}}
    fdb:
      description: Per VTEP, the counts of FDB entries added, replaced, removed, unchanged and in total.
      type: dict
      sample: {vxlan0: {added: 0, replaced: 0, removed: 0, unchanged: 1, entries: 1}}
    port_fdb:
      description:
        - Per VTEP, the counts of the bridge's static entries on the VTEP's port (one per remote MAC) added,
          replaced (learned made static), removed, unchanged and in total. The port learns nothing.
      type: dict
      sample: {vxlan0: {added: 0, replaced: 0, removed: 0, unchanged: 1, entries: 1}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import VXLAN_PORT
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import dataplane as _dataplane
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import restore as _restore
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import require_pyroute2


def main():
    module = AnsibleModule(
        argument_spec={
            'sandboxes': {'type': 'list', 'elements': 'dict', 'default': []},
            'dstport': {'type': 'int', 'default': VXLAN_PORT},
            'local': {'type': 'str'},
            'exclusive': {'type': 'bool', 'default': False},
            'prefix': {'type': 'str'},
            'tasks': {'type': 'list', 'elements': 'dict'},
            'name_tables': {'type': 'dict'},
            'endpoints': {'type': 'dict'},
            'gateway': {'type': 'dict'},
            'task_pattern': {'type': 'str'},
            'runtime_dir': {'type': 'path', 'default': '/run/linuxnet-overlay/tasks'},
            'etc_netns_dir': {'type': 'path', 'default': '/etc/netns'},
            'stop_timeout': {'type': 'float', 'default': 5.0},
            'plan_dir': {'type': 'path'},
        },
        supports_check_mode=True,
    )
    require_pyroute2(module)
    try:
        result = _dataplane.converge(module.params, module.check_mode, module._diff)
    except _dataplane.DataplaneError as exc:
        module.fail_json(msg=str(exc), actions=exc.actions, changed=bool(exc.actions))
    try:
        result = _restore.keep('sandbox', module.params, result, module.check_mode, module._diff)
    except _restore.RestoreError as exc:
        module.fail_json(msg=str(exc), actions=result['actions'], changed=result['changed'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
