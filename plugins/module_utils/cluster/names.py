# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names the planner derives from ids (sandbox namespaces, veths, tasks): one place, so the
allocation, the node plan and the change lines name a thing the same way (private, pure)."""

from __future__ import annotations

import hashlib

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import GATEWAY_BRIDGE, GATEWAY_VETH_PREFIX

SANDBOX_PREFIX = 'ov-'
__all__ = ['GATEWAY_BRIDGE', 'GATEWAY_VETH_PREFIX', 'SANDBOX_PREFIX', 'gateway_veth_name', 'sandbox_name',
           'task_name', 'veth_name']


def sandbox_name(network_id):
    """Namespace of a network's sandbox on a node: ``ov-`` + the first 10 characters of the
    network id (Docker: ``1-`` + 10 characters). The id, not the name, so that a network removed
    and created again under the same name never adopts the stale sandbox of the old one; the
    ``ov-`` prefix marks the namespaces this collection owns."""
    return SANDBOX_PREFIX + network_id[:10]


def veth_name(task_id, network_id, attempt=0):
    """Sandbox-side veth of a task on a network: ``veth`` + 7 hex characters of
    sha256(task id, network id) -- 11 characters, deterministic (Docker's are random)."""
    seed = '%s:%s' % (task_id, network_id) + (':%d' % attempt if attempt else '')
    return 'veth' + hashlib.sha256(seed.encode('ascii')).hexdigest()[:7]


def gateway_veth_name(task_id, attempt=0):
    """Node-side veth of a task on the gateway bridge: ``vgw`` + 7 hex characters of sha256(task
    id) -- 10 characters, in the node's namespace, so the prefix keeps them apart from the node's
    own interfaces (and lets the bridge's isolation rule name them all)."""
    seed = task_id + (':%d' % attempt if attempt else '')
    return GATEWAY_VETH_PREFIX + hashlib.sha256(seed.encode('ascii')).hexdigest()[:7]


def task_name(service, task):
    """``<service>.<slot>.<task id>`` (replicated) or ``<service>.<node id>.<task id>`` (global)."""
    middle = task['slot'] if task.get('slot') is not None else task['node_id']
    return '%s.%s.%s' % (service, middle, task['id'])
