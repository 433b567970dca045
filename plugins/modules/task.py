#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: task
short_description: A service task on a node - its network namespace, hosts file and command
version_added: 0.1.0
description:
  - Manages one task (one replica of a service, the "container" of Docker Swarm) on a node
    as a named network namespace, the C(/etc/netns/<name>/hosts) file that C(ip netns exec)
    puts over C(/etc/hosts) inside it, and optionally the service's command running inside it.
  - The command runs detached through C(ip netns exec <name> ...), with its output in
    C(<runtime_dir>/<name>/log) and its pid in C(<runtime_dir>/<name>/pid). A command that died,
    or that runs in an older namespace of the same name (the namespace was deleted by hand and
    made again), is started again; a changed command is restarted.
  - With O(interfaces), the task's network interfaces are made in the same run, after the namespace and
    before the command, with the code of M(linuxnet.overlay.veth), one veth pair each, from the network's
    bridge in its sandbox to C(ethN) in the task. Without it they are left alone (make them with
    M(linuxnet.overlay.veth)).
  - A namespace this module makes gets C(net.ipv6.conf.default.disable_ipv6=1) before any interface comes
    in, so the task's interfaces have no IPv6 (overlay subnets are IPv4 only; no link-local address, router
    solicitations or MLD reports into the overlay), as Docker disables IPv6 on a container's interfaces on
    networks without IPv6. C(lo) keeps C(::1).
  - C(state=absent) stops every process inside the namespace, deletes the namespace, its
    C(/etc/netns/<name>) folder and its runtime folder.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._attributes
options:
  name:
    description:
      - Name of the task, used as the name of its network namespace, as in C(test.1.k3jd83nd7s...).
      - One of O(name) and O(tasks) is required.
    type: str
  tasks:
    description:
      - Every task of the node, converged in one module run (one process per node instead of one per task),
        each exactly as with O(name), O(hosts), O(command) and O(interfaces), in order.
      - Keys are C(name) (required), C(hosts), C(hosts_networks) (instead of C(hosts) - a list of network names;
        the hosts file is the localhost lines and then the O(name_tables) entry of each, in order),
        C(endpoint_networks) (a list of network names; the task's virtual IP rules are those of the O(endpoints)
        entry of each, in order; an empty list means none, and omitted means the rules are not managed),
        C(gateway_interface) (one more interface as in O(interfaces), after them, on the node's gateway bridge with
        C(sandbox) null - the node's own namespace - and the default route through it, the task's way out; see
        M(linuxnet.overlay.sandbox) C(gateway)), C(command)
        (argv list; omitted or null means no process, and a running one is stopped, the list being the node's
        complete desired state), C(restart) (as O(restart); null means not supervised), C(image) (as O(image)) and C(interfaces) (as
        O(interfaces)). The entries of the cluster plan's
        C(nodes[<host>].tasks) can be passed as they are, with O(name_tables) set to the node_plan filter's C(name_tables)
        (their keys C(netns), C(service), C(slot), C(id) and C(node_id) are ignored); any other key is an error.
      - Every entry is checked before anything is changed.
    type: list
    elements: dict
  name_tables:
    description:
      - With O(tasks), the name table of each network (network name to its lines of the hosts file), which the
        entries' C(hosts_networks) compose their hosts files from. The cluster plan holds each table once and a node
        is sent those of its tasks' networks, not one per task, so what a node receives does not grow with the square of the tasks.
      - A C(hosts_networks) entry naming a network that is not here is an error, and nothing is changed.
    type: dict
  endpoints:
    description:
      - With O(tasks), the virtual IPs of each network (network name to a list of C({service, vip, backends}),
        C(backends) being the addresses of the service's tasks on that network), which the entries'
        C(endpoint_networks) select the task's rules from. The cluster plan's C(endpoints) (the node_plan
        filter's view) can be passed as it is.
      - A task's rules are one nftables table of its own in its namespace, C(ip linuxnet_overlay_vip). A
        connection the task makes to a VIP is DNATed to one of the backends, chosen at random per connection
        (C(numgen random mod N) into a map, as kube-proxy's nftables mode), for every protocol and port; the
        task's conntrack undoes it on the replies, so a task reaching its own service's VIP is served too. A
        VIP without backends rejects. The table is replaced in one transaction, which keeps established
        connections (conntrack holds their NAT); a rule deleted or changed by hand is reported by check mode
        and repaired. No other table is touched.
      - A C(endpoint_networks) entry naming a network that is not here is an error, and nothing is changed.
    type: dict
  exclusive:
    description:
      - With O(tasks), remove (as O(state=absent) does) every task that is not listed and has a folder in
        O(runtime_dir) or a namespace whose name matches O(pattern). The removals come first.
    type: bool
    default: false
  pattern:
    description:
      - Regular expression of the names of task namespaces, for O(exclusive). Omitted means only tasks with a
        folder in O(runtime_dir) are considered.
    type: str
  state:
    description: Whether the task should exist.
    type: str
    choices: [present, absent]
    default: present
  hosts:
    description:
      - Content of C(/etc/netns/<name>/hosts). Omit to leave the file as it is.
    type: str
  command:
    description:
      - The command to run inside the task, as an argv list. An empty list means a task without
        a process (a running one is stopped). Omit it to leave the process as it is, for example
        to make the namespace first and start the command once the task's interfaces exist.
    type: list
    elements: str
  image:
    description:
      - Run the task as a container of this image with podman, in the task's namespace; O(command) is then
        the container's command (empty - the image's own). The container is named and hostnamed after the
        task, has the task's hosts file as C(/etc/hosts) and shares the task's namespace (its interfaces,
        addresses and routes are the task's, as for a host command); it runs in the foreground of its
        C(podman run --rm --replace --pull=never), which is the task's process (so O(restart) supervises it).
      - Images are never pulled. An image missing on the node fails the run before it changes anything
        there, naming the image. A changed image restarts the container; removing the task removes it.
      - podman reads its own configuration (C(containers.conf), or the file C(CONTAINERS_CONF) names in the
        module's environment) for the OCI runtime and cgroup manager of the node.
      - In O(tasks), each task may have an C(image) key.
    type: str
  restart:
    description:
      - Supervise the command with Docker's restart policy. Where systemd is PID 1 (see O(supervisor)) the
        command is the unit C(linuxnet-overlay-task-<name>.service) in C(/etc/systemd/system), enabled in
        C(multi-user.target) and ordered after the boot unit C(linuxnet-overlay.service) -
        C(NetworkNamespacePath=/run/netns/<name>), C(Restart=) (C(always), C(on-failure) or C(no)),
        C(RestartSec=), C(StartLimitBurst=) (max_attempts + 1 starts) and C(StartLimitIntervalSec=) (the window).
        A unit edited by hand is rewritten and restarted, a disabled one enabled, and C(--check --diff) shows both.
      - Elsewhere runit's C(runsv) (Debian package C(runit); it needs no init) runs in the task's namespace
        with the folder C(<runtime_dir>/<name>/sv).
      - Each exit of the command is kept in C(<runtime_dir>/<name>/exits), and the result's C(task.supervision)
        reports the restarts and the last exit status. A changed policy restarts the command.
      - Omit it to start the command without a supervisor (a command that died is started again by the next run).
      - In O(tasks), each task may have a C(restart) key of the same shape.
    type: dict
    suboptions:
      condition:
        description: When to restart, as C(docker service create --restart-condition).
        type: str
        choices: [any, on-failure, none]
        default: any
      delay:
        description:
          - Seconds to wait before a restart (or a duration such as C(5s), C(1m30s), C(500ms)).
          - C(runsv) keeps at least 1 s between two starts of a command, so a delay under 1 s acts as 1 s.
        type: str
        default: '5s'
      max_attempts:
        description: Restarts before giving up; C(0) is no limit.
        type: int
        default: 0
      window:
        description: The time the restarts are counted in against O(restart.max_attempts); C(0) is since the start.
        type: str
        default: '0s'
  interfaces:
    description:
      - The task's interfaces, each a veth pair from a bridge in a sandbox namespace to an interface in the
        task. The entries of the cluster plan's C(nodes[<host>].tasks[].interfaces) can be passed as they are
        (their keys C(network), C(ip), C(subnet), C(gateway) and C(vni) are ignored); any other key is an error.
      - Keys are C(veth) (required, name of the end on the bridge, in the sandbox), C(sandbox) (required, the
        namespace of the bridge, which must exist; null for a bridge in the node's own namespace), C(bridge) (required, the master of that end), C(ifname)
        (the end in the task, default C(eth<index>)), C(mtu) (both ends), C(mac) (of the task's end),
        C(address) (of the task's end, CIDR), C(routes) (of the task's end, a list of C({dst, via})) and
        C(neighbours) (a list of C({ip, mac}), exactly the permanent neighbour entries of the task's end; others
        that are permanent go, dynamic ones stay; omitted means not managed).
      - With C(neighbours) listing every other task interface of the subnet (as M(linuxnet.overlay.sandbox) gives
        them to the node's tasks), a task never ARPs for a peer, since dynamic neighbour entries of every namespace of
        a host count against its one C(gc_thresh3), which hundreds of tasks probing each other overflow.
      - Each pair is converged exactly as M(linuxnet.overlay.veth) does with O(linuxnet.overlay.veth#module:peer_netns)
        set to the task. Omitted means the interfaces are not managed. Ignored with O(state=absent), since deleting
        the namespace deletes them.
    type: list
    elements: dict
  supervisor:
    description:
      - Who runs a command that has a O(restart) policy. C(auto) - systemd where it is PID 1
        (C(/run/systemd/system) exists), else C(runsv). C(systemd) fails on a node without it.
      - A command without O(restart) is started by the module itself, whatever this says.
    type: str
    choices: [auto, systemd, runsv]
    default: auto
  runtime_dir:
    description: Folder for the tasks' pid and log files.
    type: path
    default: /run/linuxnet-overlay/tasks
  etc_netns_dir:
    description: Folder where C(ip netns exec) looks for per-namespace configuration files.
    type: path
    default: /etc/netns
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL when stopping the command.
    type: float
    default: 5.0
requirements:
  - pyroute2 >= 0.9.1 on the managed node
  - iproute2 (C(ip netns exec)) on the managed node
  - nftables (C(nft)) on the managed node, for O(endpoints)
"""

EXAMPLES = r"""
- name: Task test.1 running sleep infinity, resolving its siblings by name
  linuxnet.overlay.task:
    name: test.1.vh3k8m2q0d9x1c7b5n4p6r8t0
    hosts: |
      127.0.0.1 localhost
      10.0.0.2 test.1.vh3k8m2q0d9x1c7b5n4p6r8t0.uber-net test.1.vh3k8m2q0d9x1c7b5n4p6r8t0 test tasks.test
      10.0.0.3 test.2.a8d7f6g5h4j3k2l1z0x9c8v7b.uber-net test.2.a8d7f6g5h4j3k2l1z0x9c8v7b test tasks.test
    command: [sleep, infinity]

- name: The same task with its eth0 on uber-net's br0, in one run
  linuxnet.overlay.task:
    name: test.1.vh3k8m2q0d9x1c7b5n4p6r8t0
    interfaces:
      - veth: veth3f9a2c1
        sandbox: ov-3xk2m0ab4q
        bridge: br0
        ifname: eth0
        mtu: 1450
        mac: "02:42:0a:00:00:02"
        address: 10.0.0.2/24
    command: [sleep, infinity]

- name: A task that runs a container of a local image in its namespace, answering on its overlay address
  linuxnet.overlay.task:
    name: web.1.q2w3e4r5t6y7u8i9o0p1a2s3d
    image: localhost/linuxnet-busybox:1
    command: [httpd, -f, -p, '8080', -h, /srv]

- name: A task whose command runs again 2 s after it fails, at most 3 times a minute
  linuxnet.overlay.task:
    name: web.1.q2w3e4r5t6y7u8i9o0p1a2s3d
    command: [python3, -m, http.server, '8080']
    restart:
      condition: on-failure
      delay: 2s
      max_attempts: 3
      window: 1m

- name: Every task of this node from the cluster plan in one run; the ones not listed go
  linuxnet.overlay.task:
    tasks: "{{ swarm_plan.nodes[inventory_hostname].tasks }}"
    exclusive: true
    pattern: '^[a-zA-Z0-9][a-zA-Z0-9_-]*\.([0-9]+|[0-9a-z]{25})\.[0-9a-z]{25}$'

- name: Remove a task and everything it ran
  linuxnet.overlay.task:
    name: test.2.a8d7f6g5h4j3k2l1z0x9c8v7b
    state: absent
"""

RETURN = r"""
task:
  description: The task after the run (predicted in check mode).
  returned: when O(name) is given
  type: dict
  contains:
    name:
      description: Task and namespace name.
      type: str
      sample: test.1.vh3k8m2q0d9x1c7b5n4p6r8t0
    exists:
      description: Whether the namespace exists.
      type: bool
      sample: true
    pid:
      description: Pid of the command, or null.
      type: int
      sample: 4242
    running:
      description: Whether the command runs inside the task's namespace (or, supervised, is kept as its policy says).
      type: bool
      sample: true
    supervisor:
      description: C(systemd), C(runsv), or null (not supervised).
      type: str
      sample: systemd
    unit:
      description: The text of the task's systemd unit, or null (not a unit).
      type: str
    enabled:
      description: Whether the task's unit is enabled at boot, or null (not a unit).
      type: bool
    command:
      description: The command the task runs.
      type: list
      elements: str
      sample: [sleep, infinity]
    image:
      description: The image the task's container runs, or null (a host command).
      type: str
      sample: localhost/linuxnet-busybox:1
    restart:
      description: The restart policy the command runs under (delay and window in seconds), or null (not supervised).
      type: dict
      sample: {condition: on-failure, delay: 5.0, max_attempts: 3, window: 0.0}
    supervision:
      description:
        - What C(runsv) or systemd reports for a supervised command that this run left running - C(state) (C(run),
          C(finish) while runsv waits its delay, C(starting) while it or systemd starts it again, C(down) when the
          policy gave up), C(pid) of the command, C(restarts) (systemd's C(NRestarts) for a unit)
          and C(last_exit) (or C(last_signal) when a signal ended it). Absent otherwise.
      type: dict
      returned: when the command is supervised and was not started by this run
      sample: {state: run, pid: 4242, restarts: 1, last_exit: null, last_signal: 9}
tasks:
  description: With O(tasks), each listed task after the run (predicted in check mode).
  returned: when O(tasks) is given
  type: list
  elements: dict
  contains:
    name:
      description: Task name.
      type: str
    changed:
      description: Whether this task changed.
      type: bool
    actions:
      description: What was done to this task.
      type: list
      elements: str
    task:
      description: As RV(task).
      type: dict
    interfaces:
      description: As RV(interfaces), when the entry has interfaces.
      type: list
      elements: dict
removed:
  description: With O(tasks) and O(exclusive=true), the tasks removed (or to be removed in check mode).
  returned: when O(tasks) is given
  type: list
  elements: str
  sample: [test.3.a8d7f6g5h4j3k2l1z0x9c8v7b]
interfaces:
  description: The task's interfaces after the run, as M(linuxnet.overlay.veth) returns them (predicted in check mode).
  returned: when O(interfaces) is given
  type: list
  elements: dict
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [create namespace, write hosts file, start command]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import task as _task
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import require_pyroute2


def main():
    module = AnsibleModule(
        argument_spec={
            'name': {'type': 'str'},
            'tasks': {'type': 'list', 'elements': 'dict'},
            'name_tables': {'type': 'dict'},
            'endpoints': {'type': 'dict'},
            'exclusive': {'type': 'bool', 'default': False},
            'pattern': {'type': 'str'},
            'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
            'hosts': {'type': 'str'},
            'command': {'type': 'list', 'elements': 'str'},
            'image': {'type': 'str'},
            'restart': {'type': 'dict', 'options': {
                'condition': {'type': 'str', 'default': 'any', 'choices': ['any', 'on-failure', 'none']},
                'delay': {'type': 'str', 'default': '5s'},
                'max_attempts': {'type': 'int', 'default': 0},
                'window': {'type': 'str', 'default': '0s'}}},
            'interfaces': {'type': 'list', 'elements': 'dict'},
            'runtime_dir': {'type': 'path', 'default': '/run/linuxnet-overlay/tasks'},
            'etc_netns_dir': {'type': 'path', 'default': '/etc/netns'},
            'stop_timeout': {'type': 'float', 'default': 5.0},
            'supervisor': {'type': 'str', 'default': 'auto', 'choices': ['auto', 'systemd', 'runsv']},
        },
        supports_check_mode=True,
        required_one_of=[('name', 'tasks')],
        mutually_exclusive=[('name', 'tasks'), ('tasks', 'hosts'), ('tasks', 'command'), ('tasks', 'interfaces'),
                            ('tasks', 'restart'), ('tasks', 'image'),
                            ('name', 'name_tables'), ('name', 'endpoints')],
    )
    require_pyroute2(module)
    if module.params['exclusive'] and module.params['tasks'] is None:
        module.fail_json(msg='exclusive=true applies to the tasks option (the complete list of the node); nothing was changed')
    try:
        if module.params['tasks'] is not None:
            result = _task.converge_all(module.params, module.check_mode, module._diff)
        else:
            result = _task.converge(module.params, module.check_mode, module._diff)
    except _task.TaskError as exc:
        module.fail_json(msg=str(exc), actions=exc.actions, changed=bool(exc.actions))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
