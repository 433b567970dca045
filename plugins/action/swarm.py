# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for linuxnet.overlay.swarm: runs the module and marks every result that
carries secrets (join tokens, an exported state) as no_log (see plugin_utils/_secret_results.py)."""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.plugin_utils._secret_results import SecretResultAction


class ActionModule(SecretResultAction):

    MODULE = 'linuxnet.overlay.swarm'
    SECRET_KEYS = ('tokens', 'cluster_state')
