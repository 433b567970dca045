# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for linuxnet.overlay.swarm: runs the module and marks every result that
carries secrets (join tokens, an exported state) as no_log (see plugin_utils/_secret_results.py).

For ``operation: lock`` / ``operation: unlock`` (the run lease, one ``site.yml`` run at a time) it fills in
``run_id`` and ``owner`` with the identity of the running ``ansible-playbook`` on this controller
and, while another run holds the lease, tells the module which holder is dead: a holder started
on this controller (same host, boot and PID namespace) whose process is gone, for example a run
killed half-way, is taken over at once instead of blocking until its lease expires.

Join tokens a task presents (``join_token``, and each member's ``join_token`` of a bulk join) are
``no_log`` options, so Ansible masks them in the invocation; as a second line of defence a result
that repeats one of them anywhere (a message, a warning) is marked no_log as well."""

from __future__ import annotations

import json
import os
import socket
import time

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.linuxnet.overlay.plugins.plugin_utils._secret_results import SecretResultAction, has_secrets

# how long one module run waits for the lease before the controller looks at the holder again
PROBE_SECONDS = 5.0


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


def _stat(pid):
    """(ppid, start time) of a process, or None when it is gone."""
    raw = _read('/proc/%d/stat' % pid)
    if raw is None:
        return None
    fields = raw[raw.rindex(b')') + 2:].split()
    if fields[0] in (b'Z', b'X'):
        return None
    return int(fields[1]), fields[19].decode()


def controller_run():
    """(run_id, owner) of the ansible-playbook this action runs in: the topmost ancestor with
    the same command line (Ansible's worker processes are forks of the main process)."""
    pid = os.getpid()
    cmd = _read('/proc/%d/cmdline' % pid)
    while True:
        st = _stat(pid)
        if st is None or st[0] <= 1 or _read('/proc/%d/cmdline' % st[0]) != cmd:
            break
        pid = st[0]
    start = (_stat(pid) or (0, '0'))[1]
    boot = to_text(_read('/proc/sys/kernel/random/boot_id') or b'').strip()
    try:
        pidns = os.readlink('/proc/self/ns/pid')
    except OSError:
        pidns = ''
    owner = {'host': socket.gethostname(), 'boot': boot, 'pidns': pidns, 'pid': pid, 'start': start}
    return '%s-%s-%d-%s' % (owner['host'], boot[:8], pid, start), owner


def presented_tokens(args):
    """The join tokens a task's arguments present (top level and bulk members), non-empty only."""
    found = [args.get('join_token')]
    members = args.get('members')
    if isinstance(members, list):
        found.extend(m.get('join_token') for m in members if isinstance(m, dict))
    return [t for t in found if isinstance(t, str) and t]


def repeats_a_token(result, tokens):
    """True when the result holds any of ``tokens`` anywhere (keys, values, nested)."""
    if not tokens:
        return False
    text = json.dumps(result, default=str)
    return any(t in text or json.dumps(t)[1:-1] in text for t in tokens)


def holder_is_dead(holder, me):
    """True when the lease holder ran on this controller and its process is gone."""
    owner = (holder or {}).get('owner') or {}
    if any(owner.get(k) != me.get(k) for k in ('host', 'boot', 'pidns')) or not owner.get('pid'):
        return False
    st = _stat(int(owner['pid']))
    return st is None or st[1] != str(owner.get('start'))


class ActionModule(SecretResultAction):

    MODULE = 'linuxnet.overlay.swarm'
    SECRET_KEYS = ('tokens', 'cluster_state')

    def run(self, tmp=None, task_vars=None):
        operation = self._task.args.get('operation', self._task.args.get('role'))  # role: the old name
        if operation not in ('lock', 'unlock'):
            result = super().run(tmp, task_vars)
            if repeats_a_token(result, presented_tokens(self._task.args)):
                result['_ansible_no_log'] = True
            return result
        result = super(SecretResultAction, self).run(tmp, task_vars)  # pylint: disable=bad-super-call
        del tmp
        run_id, owner = controller_run()
        args = dict(self._task.args, run_id=run_id, owner=owner)
        if operation == 'unlock':
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
            return result
        timeout = float(args.get('lock_timeout', 60))
        deadline = time.monotonic() + timeout
        stale = []
        probe = 0.0              # first a look without waiting: a dead holder is taken over at once
        while True:
            left = max(deadline - time.monotonic(), 0)
            args.update(lock_timeout=min(left, probe), stale_runs=stale)
            probe = PROBE_SECONDS
            res = self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars)
            holder = res.get('holder')
            # a held lease (holder) or a flock another module run holds for a moment (busy): wait
            if not res.get('failed') or not (holder or res.get('busy')):
                break
            if holder and holder_is_dead(holder, owner) and holder.get('run_id') not in stale:
                stale.append(holder['run_id'])
                continue
            if left <= args['lock_timeout']:
                res['msg'] = '%s; gave up after waiting %d s (lock_timeout)' % (
                    res.get('msg', '').rsplit('; gave up', 1)[0], timeout)
                break
        res['waited'] = round(timeout - max(deadline - time.monotonic(), 0), 1)
        result.update(res)
        if has_secrets(result, self.SECRET_KEYS):
            result['_ansible_no_log'] = True
        return result
