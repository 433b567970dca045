#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner figures, measured side by side in one run (pure code: no root, no kernel).

1. Subnet search: _ipam.allocate_subnet (merged ranges + bisection, jumps over taken ranges)
   against the straightforward search it replaced (step through every /24 of the pool, test it
   against every taken subnet), both finding the next free /24 in a 10.0.0.0/8 pool with N taken.
2. plan(): a cluster of 50 nodes, 20 networks, 50 services x 20 replicas (1000 tasks, two
   networks each): first run, re-run, and the size of the plan (and the share of name tables).
3. The moonshot's shape (8 networks, 8 services, 8 tasks per node) at 8, 64 and 256 nodes: the
   plan's size and the bytes the busiest node is sent, against what it would be sent with one
   hosts file per task (every task's file lists every task of its networks: tasks squared).

Usage (venv first on PATH: source scripts/env.sh):
    bench/plan_scale.py [--taken 2000 5000] [--rounds 3] [--nodes 8 64 256]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(ROOT, '.build'))

from ansible_collections.linuxnet.overlay.plugins.filter import overlay as _filters  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import task as _task  # noqa: E402


def linear_search(pool, mask, taken):
    """The search _ipam.allocate_subnet replaced: every candidate against every taken subnet."""
    for cand in pool.subnets(new_prefix=mask):
        if not any(cand.overlaps(t) for t in taken):
            return cand
    return None


def best(fn, rounds):
    times = []
    for dummy in range(rounds):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--taken', type=int, nargs='+', default=[500, 2000, 5000])
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--nodes', type=int, nargs='+', default=[8, 64, 256])
    args = ap.parse_args()
    pool = ipaddress.IPv4Network('10.0.0.0/8')
    print('1. next free /24 in 10.0.0.0/8 (best of %d)' % args.rounds)
    print('%8s %14s %14s %8s' % ('taken', 'linear (ms)', 'bisect (ms)', 'ratio'))
    for n in args.taken:
        taken = [ipaddress.IPv4Network((0x0A000000 + i * 256, 24)) for i in range(n)]
        t_lin, r_lin = best(lambda: linear_search(pool, 24, taken), args.rounds)
        t_bis, r_bis = best(lambda: _ipam.allocate_subnet([pool], 24, taken), args.rounds)
        assert r_lin == r_bis, (r_lin, r_bis)
        print('%8d %14.2f %14.3f %7.0fx' % (n, t_lin * 1e3, t_bis * 1e3, t_lin / t_bis))

    print('\n2. plan(): 50 nodes, 20 networks, 1000 tasks (2 networks each)')
    services = [{'name': 's%d' % i, 'networks': ['net%d' % (i % 20), 'net%d' % ((i + 1) % 20)], 'replicas': 20}
                for i in range(50)]
    plan_cluster(50, 20, None, services, args.rounds, 'n50')
    print('\n3. plan() as the moonshot (bench/scale.py): 8 networks (/22), 8 services of N replicas (8 tasks per node)')
    heads = ('nodes', 'tasks', 'plan (s)', 'plan MB', 'tables MB', 'busiest KB', 'per-task KB', 'ratio')
    print('%6s %6s %9s %9s %12s %14s %16s %8s' % heads)
    for n in args.nodes:
        plan_cluster(n, 8, 22, [{'name': 's%d' % i, 'networks': ['net%d' % i], 'replicas': n} for i in range(8)],
                     1, 'row')


def plan_cluster(n_nodes, n_nets, mask, services, rounds, how):
    """Plan a cluster and print its size: the plan, its name tables, the bytes the busiest node is
    sent (its node plan: what the network role passes to the sandbox module), and what that node
    would be sent with one hosts file per task (the plan's shape before name tables)."""
    rng = random.Random(1)
    st = _state.new_state(rng)
    nodes = []
    for i in range(n_nodes):
        node = {'hostname': 'n%d' % i, 'role': 'manager' if i < 3 else 'worker',
                'addr': '192.168.%d.%d' % (i // 250, i % 250 + 1)}
        st = _state.record_node(st, node, rng)
        nodes.append(node)
    inv = {'nodes': nodes, 'networks': [{'name': 'net%d' % i} for i in range(n_nets)], 'services': services,
           'mask_length': mask}       # /22 subnets: 256 nodes x 8 tasks put 256 tasks on each network
    t0 = time.perf_counter()
    new, plan, dummy = _plan.plan(st, inv, rng)
    first = time.perf_counter() - t0
    size = len(json.dumps(plan))
    tables = len(json.dumps(plan['name_tables']))
    # what the roles send a node: its part of the plan with its networks' name tables
    views = {h: _filters.node_plan(plan, h) for h in plan['nodes']}
    sent = {h: len(json.dumps(v)) for h, v in views.items()}
    busiest = max(sent, key=sent.get)
    node = views[busiest]
    per_task = sent[busiest] - len(json.dumps(node['name_tables'])) + sum(
        len(json.dumps(_task.compose_hosts(t['hosts_networks'], node['name_tables']))) for t in node['tasks'])
    tasks = sum(len(s['tasks']) for s in plan['services'])
    if how == 'row':
        print('%6d %6d %9.2f %9.2f %12.2f %14.1f %16.1f %7.1fx' % (
            n_nodes, tasks, first, size / 1e6, tables / 1e6, sent[busiest] / 1e3, per_task / 1e3,
            per_task / sent[busiest]))
        return
    t_re, (new2, plan2, dummy) = best(lambda: _plan.plan(new, inv, rng), rounds)
    assert plan2 == plan and new2 == new
    state_size = len(_state.dumps(new))
    print('   first run %.2f s, re-run %.2f s (identical plan), plan %.1f MB of JSON, name tables %.0f%% of it, '
          'state %.2f MB; busiest node %s is sent %.0f KB (with one hosts file per task: %.0f KB, %.1fx)'
          % (first, t_re, size / 1e6, 100.0 * tables / size, state_size / 1e6, busiest, sent[busiest] / 1e3,
             per_task / 1e3, per_task / sent[busiest]))


if __name__ == '__main__':
    main()
