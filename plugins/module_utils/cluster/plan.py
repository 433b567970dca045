# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster planner (private, pure: no I/O, no root, no kernel).

``plan(state, inventory) -> (new_state, plan, messages)`` runs the three phases in order:
``validate`` checks the whole input (collecting every error), ``allocate`` checks it against the
state, allocates what is new (ids, subnets, gateways, VNIs, task placement, addresses), keeps what
exists and frees what went away, and ``nodeplan`` derives the complete desired state of every
node: sandboxes, bridges, VTEPs, peer entries, tasks, interfaces and hosts files. The shape of the
plan is documented in ``docs/plan.md`` and is a contract for the roles.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import allocate as _allocate
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import nodeplan as _nodeplan
# what callers use from here: the planner's names, the error and the change lines
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster.changes import changes, state_lines
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster.names import (
    sandbox_name, task_name, veth_name)
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster.nodeplan import gc_thresh, name_table
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster.validate import (
    PlanError, validate_input)

__all__ = ['PlanError', 'changes', 'gc_thresh', 'name_table', 'plan', 'sandbox_name', 'state_lines', 'task_name',
           'validate_input', 'veth_name']


def plan(state, inventory, rng=None, require_joined=True, prune=False, build=True):
    """Plan the cluster: ``(new_state, plan, messages)``.

    ``state`` is the current cluster state (see ``_state``; never mutated), ``inventory`` the
    input (``nodes``, ``networks``, ``services``, ``default_addr_pool``, ``mask_length``,
    ``data_path_port``). ``messages`` is a list of ``{level: info|warning, msg}``. Raises
    PlanError with every problem found (input first, then allocation).

    ``build=False`` stops after the allocations (every check has run by then) and returns
    ``None`` as the plan: a validation pass before anything is made, without the cost of
    deriving every node's desired state."""
    inp = validate_input(inventory)
    run = _allocate.Allocation(state, inp, rng, require_joined, prune)
    new = run.run()
    if not build:
        return new, None, run.messages
    return new, _nodeplan.build(new, run.inp['nodes'], run.removed, run.ready, run.warn), run.messages
