# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: when each play, task and host result started and ended, as JSON.

Not part of the collection (it lives under bench/ and is enabled only by the benchmarks):
ansible-core has no profiling callback of its own (ansible.posix.profile_tasks is not installed
here). Enable with

    ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=bench_timer \
    BENCH_TIMER_OUT=/tmp/timing.json ansible-playbook ...

The file holds ``start``/``end`` (time.time() of the playbook's first and last event), ``plays``
(name, start) and ``tasks``: one record per task and host with the task's name, role, play,
action, when the strategy started the task (``queued``), when the host's worker started it
(``start``) and when its result came back (``end``), its status and how many loop items it ran.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Write per-task, per-host timings to a JSON file (benchmarks only)
description:
  - Records when every play, task and host result started and ended and writes them to the file named
    by the environment variable E(BENCH_TIMER_OUT) at the end of the playbook.
requirements:
  - enable in callbacks_enabled
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.t0 = None
        self.plays = []
        self.play = None
        self.queued = {}
        self.records = {}

    def _now(self):
        now = time.time()
        if self.t0 is None:
            self.t0 = now
        return now

    def v2_playbook_on_start(self, playbook):
        self._now()

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name()
        self.plays.append({'name': self.play, 'start': self._now()})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.queued.setdefault(task._uuid, self._now())

    def v2_playbook_on_handler_task_start(self, task):
        self.queued.setdefault(task._uuid, self._now())

    def _record(self, host, task):
        key = (task._uuid, host)
        rec = self.records.get(key)
        if rec is None:
            role = task._role.get_name() if getattr(task, '_role', None) else ''
            rec = {'task': task.get_name(), 'role': role, 'play': self.play, 'action': task.action,
                   'host': host, 'queued': self.queued.get(task._uuid), 'start': None, 'end': None,
                   'status': None, 'items': 0}
            self.records[key] = rec
        return rec

    def v2_runner_on_start(self, host, task):
        self._record(host.get_name(), task)['start'] = self._now()

    def _done(self, result, status):
        rec = self._record(result._host.get_name(), result._task)
        rec['end'] = self._now()
        rec['status'] = status

    def v2_runner_on_ok(self, result):
        self._done(result, 'changed' if result._result.get('changed') else 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._done(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._done(result, 'unreachable')

    def _item(self, result):
        self._record(result._host.get_name(), result._task)['items'] += 1

    v2_runner_item_on_ok = _item
    v2_runner_item_on_failed = _item
    v2_runner_item_on_skipped = _item

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('BENCH_TIMER_OUT')
        if not path:
            return
        out = {'start': self.t0, 'end': self._now(), 'plays': self.plays, 'tasks': list(self.records.values())}
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(out, f)
