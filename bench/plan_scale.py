#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planner figures, measured side by side in one run (pure code: no root, no kernel).

1. Subnet search: _ipam.allocate_subnet (merged ranges + bisection, jumps over taken ranges)
   against the straightforward search it replaced (step through every /24 of the pool, test it
   against every taken subnet), both finding the next free /24 in a 10.0.0.0/8 pool with N taken.
2. plan(): a cluster of 50 nodes, 20 networks, 50 services x 20 replicas (1000 tasks, two
   networks each): first run, re-run, and the size of the plan (and the share of hosts files).

Usage (venv first on PATH: source scripts/env.sh): bench/plan_scale.py [--taken 2000 5000] [--rounds 3]
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

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402


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

    rng = random.Random(1)
    st = _state.new_state(rng)
    nodes = []
    for i in range(50):
        node = {'hostname': 'n%d' % i, 'role': 'manager' if i == 0 else 'worker', 'addr': '192.168.0.%d' % (i + 1)}
        st = _state.record_node(st, node, rng)
        nodes.append(node)
    inv = {'nodes': nodes, 'networks': [{'name': 'net%d' % i} for i in range(20)],
           'services': [{'name': 's%d' % i, 'networks': ['net%d' % (i % 20), 'net%d' % ((i + 1) % 20)],
                         'replicas': 20} for i in range(50)]}
    t0 = time.perf_counter()
    new, plan, dummy = _plan.plan(st, inv, rng)
    first = time.perf_counter() - t0
    t_re, (new2, plan2, dummy) = best(lambda: _plan.plan(new, inv, rng), args.rounds)
    assert plan2 == plan and new2 == new
    size = len(json.dumps(plan))
    hosts = sum(len(json.dumps(t['hosts'])) for n in plan['nodes'].values() for t in n['tasks'])
    state_size = len(_state.dumps(new))
    print('\n2. plan(): 50 nodes, 20 networks, 1000 tasks (2 networks each)')
    print('   first run %.2f s, re-run %.2f s (identical plan), plan %.1f MB of JSON, hosts files %.0f%% of it, '
          'state %.2f MB' % (first, t_re, size / 1e6, 100.0 * hosts / size, state_size / 1e6))


if __name__ == '__main__':
    main()
