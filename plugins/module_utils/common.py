# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers every module of the collection shares (private)."""

from __future__ import annotations

import traceback

NETNS_ARG_SPEC = {'netns': {'type': 'str'}}


def require_pyroute2(module):
    """Fail the module with Ansible's standard message when pyroute2 is not importable.

    Imported here, not when this file is: pyroute2's import is a large part of a module run's CPU
    (figures in bench/README.md), and the modules that share these helpers without talking
    netlink through pyroute2 (swarm, cluster_plan, node_facts) should not pay it."""
    try:
        import pyroute2  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        # here, not at the top: a node's restore (node/restore.py) runs this package without Ansible
        from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel
        module.fail_json(msg=missing_required_lib('pyroute2 (>= 0.9.1)'), exception=traceback.format_exc())


def diff_result(before, after):
    """The ``diff`` return value Ansible's --diff mode prints."""
    return {'before': before, 'after': after}


def converge_or_fail(module, converge, error, keep=None):
    """exit_json with ``converge(params, check_mode, diff)``'s result, or fail_json with the message
    (and the ``extra`` fields) of an ``error`` it raises: a thin module's whole main. ``keep``
    (node/restore.py's ``keep`` with its part bound) records what a run that worked applied."""
    try:
        result = converge(module.params, module.check_mode, module._diff)
        if keep is not None:
            result = keep(module.params, result, module.check_mode, module._diff)
    except error as exc:
        module.fail_json(msg=str(exc), **getattr(exc, 'extra', {}))
    module.exit_json(**result)
