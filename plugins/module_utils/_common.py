# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers every module of the collection shares (private)."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import pyroute2  # noqa: F401  pylint: disable=unused-import
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None
except ImportError:
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

NETNS_ARG_SPEC = {'netns': {'type': 'str'}}


def require_pyroute2(module):
    """Fail the module with Ansible's standard message when pyroute2 is not importable."""
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2 (>= 0.9.1)'), exception=PYROUTE2_IMPORT_ERROR)


def diff_result(before, after):
    """The ``diff`` return value Ansible's --diff mode prints."""
    return {'before': before, 'after': after}
