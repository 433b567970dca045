# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's whole data plane in one call (the logic of the ``sandbox`` module, and of a restore).

Order: every input error first (sandboxes, gateway, tasks), then the sandboxes, the node's gateway
bridge (the tasks' way out needs it), then the tasks. The ``sandbox`` module and the boot-time
restore (``node/restore.py``) both call ``converge``, so a node rebuilt without the controller is
built by the same code as by a run.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import VXLAN_PORT
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import gateway as _gateway
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import sandbox as _sandbox
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import task as _task

DEFAULTS = {'sandboxes': [], 'dstport': VXLAN_PORT, 'local': None, 'exclusive': False, 'prefix': None,
            'tasks': None, 'name_tables': None, 'endpoints': None, 'gateway': None, 'task_pattern': None,
            'runtime_dir': '/run/linuxnet-overlay/tasks', 'etc_netns_dir': '/etc/netns', 'stop_timeout': 5.0}


class DataplaneError(Exception):
    """``actions``: what was already done (empty for input errors)."""

    def __init__(self, msg, actions=None):
        super().__init__(msg)
        self.actions = actions or []


def _tasks_params(p):
    if p.get('tasks') is None:
        return None
    return {'tasks': p['tasks'], 'name_tables': p.get('name_tables'), 'endpoints': p.get('endpoints'),
            'exclusive': p.get('exclusive', False), 'pattern': p.get('task_pattern'),
            'runtime_dir': p['runtime_dir'], 'etc_netns_dir': p['etc_netns_dir'], 'stop_timeout': p['stop_timeout']}


def validate(params):
    """Every input error before any change; returns (sandboxes model, gateway model, tasks params)."""
    p = dict(DEFAULTS, **params)
    tasks = _tasks_params(p)
    try:
        if tasks is not None:
            _task.validate_all(tasks)
        wanted = _sandbox.validate(p)
        gateway = _gateway.validate(p['gateway'])
        if tasks is not None:
            tasks['tasks'] = _sandbox.task_neighbours(wanted, tasks['tasks'])
    except (_task.TaskError, _sandbox.SandboxError, _gateway.GatewayError) as exc:
        raise DataplaneError(str(exc)) from None
    return wanted, gateway, tasks, p['exclusive']


def _merge(result, part, diff_key='diff'):
    result['changed'] = result['changed'] or part['changed']
    result['actions'] = result['actions'] + part['actions']
    if diff_key in part and 'diff' in result:
        extra = part[diff_key]
        result['diff'] = result['diff'] + (extra if isinstance(extra, list) else [extra])


def converge(params, check_mode=False, diff=False):
    """The sandboxes, the gateway bridge and the tasks of one node; the ``sandbox`` module's result."""
    wanted, gateway, tasks, exclusive = validate(params)
    if tasks is not None:
        try:
            _task.preflight(_task.validate_all(tasks))      # the images, before the sandboxes change
        except _task.TaskError as exc:
            raise DataplaneError(str(exc)) from None
    try:
        result = _sandbox.converge(wanted, check_mode, diff)
    except _sandbox.SandboxError as exc:
        raise DataplaneError(str(exc), exc.actions) from None
    if gateway is not None or exclusive:
        try:
            gw = _gateway.converge(gateway, check_mode, diff)
        except _gateway.GatewayError as exc:
            raise DataplaneError(str(exc), result['actions'] + exc.actions) from None
        _merge(result, gw if gw['changed'] else dict(gw, diff=[]))
    if tasks is not None:
        try:
            done = _task.converge_all(tasks, check_mode, diff, preflighted=True)
        except _task.TaskError as exc:
            raise DataplaneError(str(exc), result['actions'] + exc.actions) from None
        _merge(result, done)
        result.update(tasks=done['tasks'], removed_tasks=done['removed'])
    return result
