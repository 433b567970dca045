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
  - The task's network interfaces are made separately, with M(linuxnet.overlay.veth).
  - C(state=absent) stops every process inside the namespace, deletes the namespace, its
    C(/etc/netns/<name>) folder and its runtime folder.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._attributes
options:
  name:
    description:
      - Name of the task, used as the name of its network namespace, as in C(test.1.k3jd83nd7s...).
    type: str
    required: true
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

- name: Remove a task and everything it ran
  linuxnet.overlay.task:
    name: test.2.a8d7f6g5h4j3k2l1z0x9c8v7b
    state: absent
"""

RETURN = r"""
task:
  description: The task after the run (predicted in check mode).
  returned: always
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
      description: Whether the command runs inside the task's namespace.
      type: bool
      sample: true
    command:
      description: The command the task runs.
      type: list
      elements: str
      sample: [sleep, infinity]
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [create namespace, write hosts file, start command]
"""

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils import _netns, _procs
from ansible_collections.linuxnet.overlay.plugins.module_utils._common import diff_result, require_pyroute2


def _read(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except OSError:
        return None


def _write_atomic(path, content, mode):
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Task:
    def __init__(self, module):
        p = module.params
        self.module = module
        self.name = p['name']
        self.rt = os.path.join(p['runtime_dir'], self.name)
        self.etc = os.path.join(p['etc_netns_dir'], self.name)
        self.pidfile = os.path.join(self.rt, 'pid')
        self.specfile = os.path.join(self.rt, 'task.json')
        self.actions = []

    def current(self):
        exists = _netns.exists(self.name)
        pid = _procs.read_pidfile(self.pidfile)
        spec = json.loads(_read(self.specfile) or '{}')
        running = False
        stale_pid = None
        # a pid from the file counts only while it still runs the command we started (pids get reused)
        if pid and _procs.alive(pid) and _procs.cmdline(pid) == (spec.get('command') or None):
            # the process must live in THIS namespace, not in an older one of the same name
            # (deleted by hand and made again): such a process is ours but stale
            running = exists and _procs.ns_inode('/proc/%d/ns/net' % pid) == _procs.ns_inode(_netns.netns_path(self.name))
            stale_pid = None if running else pid
        self.stale_pid = stale_pid
        return {
            'name': self.name,
            'exists': exists,
            'hosts': _read(os.path.join(self.etc, 'hosts')),
            'command': spec.get('command') or [],
            'pid': pid if running else None,
            'running': running,
        }

    def present(self, cur):
        p = self.module.params
        check = self.module.check_mode
        after = dict(cur)
        command = p['command']
        if command is None:  # leave the process alone
            command = cur['command'] if cur['running'] else []
            if not cur['running']:
                return self._namespace_and_hosts(cur, after)
        if self.stale_pid:
            self.actions.append('stop stale command (pid %d, in a namespace that no longer has this name)' % self.stale_pid)
            if not check:
                _procs.stop([self.stale_pid], p['stop_timeout'])
        self._namespace_and_hosts(cur, after)
        if not check:
            os.makedirs(self.rt, mode=0o700, exist_ok=True)
        restart = cur['running'] and cur['command'] != command
        if cur['running'] and (restart or not command):
            self.actions.append('stop command (pid %d)' % cur['pid'])
            if not check:
                _procs.stop([cur['pid']], p['stop_timeout'])
            after.update(running=False, pid=None)
        if command and (restart or not cur['running']):
            self.actions.append('start command')
            after.update(running=True, command=command)
            if not check:
                after['pid'] = self._start(command)
        if not command:
            after['command'] = []
        if not check and cur['command'] != command:
            _write_atomic(self.specfile, json.dumps({'name': self.name, 'command': command}), 0o600)
        return after

    def _namespace_and_hosts(self, cur, after):
        p = self.module.params
        check = self.module.check_mode
        if not cur['exists']:
            self.actions.append('create namespace')
            if not check:
                _netns.create(self.name)
                with _netns.iproute(self.name) as ipr:
                    ipr.link('set', index=1, state='up')
            after['exists'] = True
        if p['hosts'] is not None and cur['hosts'] != p['hosts']:
            self.actions.append('write hosts file')
            if not check:
                os.makedirs(self.etc, mode=0o755, exist_ok=True)
                _write_atomic(os.path.join(self.etc, 'hosts'), p['hosts'], 0o644)
            after['hosts'] = p['hosts']
        if not check:
            os.makedirs(self.rt, mode=0o700, exist_ok=True)
        return after

    def _start(self, command):
        log = os.path.join(self.rt, 'log')
        pid, rc = _procs.start_detached(['ip', 'netns', 'exec', self.name] + list(command), log)
        if rc not in (None, 0):
            tail = (_read(log) or '')[-2000:]
            self.module.fail_json(msg='task %s: command %s exited at once with status %d: %s'
                                  % (self.name, command, rc, tail.strip()), actions=self.actions)
        _write_atomic(self.pidfile, '%d\n' % pid, 0o600)
        return pid

    def absent(self, cur):
        check = self.module.check_mode
        after = {'name': self.name, 'exists': False, 'hosts': None, 'command': [], 'pid': None, 'running': False}
        if self.stale_pid:
            self.actions.append('stop stale command (pid %d)' % self.stale_pid)
            if not check:
                _procs.stop([self.stale_pid], self.module.params['stop_timeout'])
        if cur['exists']:
            victims = _procs.pids_in_netns(_netns.netns_path(self.name))
            if victims:
                self.actions.append('stop %d process(es)' % len(victims))
                if not check:
                    _procs.stop(victims, self.module.params['stop_timeout'])
            self.actions.append('delete namespace')
            if not check:
                _netns.remove(self.name)
        for path, what in ((self.etc, 'remove %s' % self.etc), (self.rt, 'remove runtime folder')):
            if os.path.isdir(path):
                self.actions.append(what)
                if not check:
                    shutil.rmtree(path)
        return after


def main():
    module = AnsibleModule(
        argument_spec={
            'name': {'type': 'str', 'required': True},
            'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
            'hosts': {'type': 'str'},
            'command': {'type': 'list', 'elements': 'str'},
            'runtime_dir': {'type': 'path', 'default': '/run/linuxnet-overlay/tasks'},
            'etc_netns_dir': {'type': 'path', 'default': '/etc/netns'},
            'stop_timeout': {'type': 'float', 'default': 5.0},
        },
        supports_check_mode=True,
    )
    require_pyroute2(module)
    try:
        _netns.validate_name(module.params['name'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    task = Task(module)
    try:
        cur = task.current()
        after = task.present(cur) if module.params['state'] == 'present' else task.absent(cur)
    except (OSError, _netns.NetnsError) as exc:
        module.fail_json(msg='task %s: %s' % (module.params['name'], exc), actions=task.actions)
    result = {'changed': bool(task.actions), 'task': after, 'actions': task.actions}
    if module._diff:
        keys = ('exists', 'hosts', 'command', 'running')
        result['diff'] = diff_result({k: cur[k] for k in keys}, {k: after[k] for k in keys})
    module.exit_json(**result)


if __name__ == '__main__':
    main()
