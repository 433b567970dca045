# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for linuxnet.overlay.swarm: runs the module and marks every result that
carries secrets (join tokens, an exported state) as no_log.

A module cannot do this itself: Ansible strips ``_ansible_*`` keys from module results. With the
mark, callbacks print "the output has been hidden", while a ``register``ed variable still holds the
tokens for the tasks that need them."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

SECRET_KEYS = ('tokens', 'cluster_state')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(module_name='linuxnet.overlay.swarm', module_args=self._task.args,
                                           task_vars=task_vars))
        if any(result.get(key) for key in SECRET_KEYS):
            result['_ansible_no_log'] = True
        return result
