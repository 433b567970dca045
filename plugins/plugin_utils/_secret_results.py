# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugins of modules whose results can carry secrets (join tokens, an exported state,
IPsec keys): run the module, and mark the result no_log when it holds any of them.

A module cannot do this itself: Ansible strips ``_ansible_*`` keys from module results. With the
mark, callbacks print "the output has been hidden", while a ``register``ed variable still holds
the secrets for the tasks that need them. Results without secrets stay visible (for example a
``keyring`` confirmation or an ``init`` in check mode)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class SecretResultAction(ActionBase):
    """Subclass with ``MODULE`` (fully qualified name) and ``SECRET_KEYS`` (result keys)."""

    MODULE = ''
    SECRET_KEYS = ()

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(module_name=self.MODULE, module_args=self._task.args,
                                           task_vars=task_vars))
        if has_secrets(result, self.SECRET_KEYS):
            result['_ansible_no_log'] = True
        return result


def has_secrets(result, keys):
    """True when any of ``keys`` holds a value (an empty or null value carries no secret)."""
    return any(result.get(key) for key in keys)
