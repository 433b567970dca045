# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: write every task result as one JSON line to $LINUXNET_RESULT_FILE."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: result_file
type: notification
short_description: write task results as JSON lines to a file (tests only)
description:
  - Appends one JSON object per task result to the file named by E(LINUXNET_RESULT_FILE).
requirements:
  - enabled in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'result_file'
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, status):
        path = os.environ.get('LINUXNET_RESULT_FILE')
        if not path:
            return
        data = dict(result._result)
        data['_status'] = status
        data['_host'] = result._host.get_name()
        data['_task'] = result._task.get_name()
        with open(path, 'a', encoding='utf-8') as f:
            f.write(json.dumps(data, default=str) + '\n')

    def v2_runner_on_ok(self, result):
        self._write(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, 'failed')

    def v2_runner_on_unreachable(self, result):
        self._write(result, 'unreachable')

    def v2_runner_on_skipped(self, result):
        self._write(result, 'skipped')
