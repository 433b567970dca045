#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml on the seed lab: cold run and no-op re-run, and the task count per host against peers.

    bench/site_runtime.py [--rounds 2] [--configs seed,skewed] [--reruns 1]
    bench/site_runtime.py --configs seed,many,skewed      # also 10 tasks per node (~9 min)

Re-executes itself inside tests/sandbox.sh unless already there. Every round, for every cluster
configuration (rotated, so none always runs first), on a fresh lab of the seed's two nodes
behind the router (built with labctl in a temporary folder, removed afterwards):

  cold     ``ansible-playbook -i <lab> site.yml`` on empty nodes
  no-op    the same again on the converged cluster (must report changed=0)

Configurations (the same two nodes):
  seed     service test, 2 replicas (one task per node, one peer each)         - the seed
  many     service test, 20 replicas (10 tasks per node, 10 peers each)
  skewed   service a: 1 replica on node1; service b: 9 replicas on node2, same network
           (node1: 1 task of its own but 9 peers; node2: 9 tasks)

Counts per host, from the PLAY RECAP (``ok`` includes ``changed``; tasks = ok + skipped) and
from the benchmark callback bench/callback_plugins/bench_timer.py (tasks that ran or were
skipped, and loop items): the number of tasks must not depend on the number of peers or peer
entries, nor on the node's own tasks (all sandboxes of a node are one linuxnet.overlay.sandbox run,
all its tasks one linuxnet.overlay.task run); loop items come only from removals of stale objects
and, on the first manager, from the number of services and networks in the docker-shaped reports. Times are medians over the
rounds, with minimums and ratios against the seed configuration, and the load average: the
machine is shared, so compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lab  # noqa: E402  pylint: disable=wrong-import-position


def configs():
    skew = {'overlay_networks': [{'name': 'uber-net'}],
            'overlay_services': [
                {'name': 'a', 'networks': ['uber-net'], 'replicas': 1, 'constraints': ['node.hostname==node1'],
                 'command': ['sleep', 'infinity']},
                {'name': 'b', 'networks': ['uber-net'], 'replicas': 9, 'constraints': ['node.hostname==node2'],
                 'command': ['sleep', 'infinity']}]}
    return {'seed': ('2 replicas: 1 task + 1 peer per node', _lab.seed_vars(2)),
            'many': ('20 replicas: 10 tasks + 10 peers per node', _lab.seed_vars(20)),
            'skewed': ('1 + 9 replicas pinned: node1 has 1 task, 9 peers', skew)}


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_site(lab, tmp, tag):
    """site.yml once: (wall s, CPU s of all processes it waited for, recap, timing)."""
    tj = os.path.join(tmp, 'timing-%s.json' % tag)
    cpu0 = children_cpu()
    dt, _out, recap = lab.site(env=_lab.timer_env(tj), log=os.path.join(tmp, 'site-%s.log' % tag))
    return dt, children_cpu() - cpu0, recap, _lab.load_timing(tj)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--configs', default='seed,skewed', help='from seed, many, skewed (default seed,skewed)')
    ap.add_argument('--reruns', type=int, default=1, help='no-op re-runs after each cold run (default 1)')
    ap.add_argument('--keep-logs', action='store_true', help='keep the temporary folder (site.yml logs, timings)')
    args = ap.parse_args()
    known = configs()
    names = args.configs.split(',')
    bad = [n for n in names if n not in known]
    if bad or 'seed' not in names:
        ap.error('configs: choose from %s, seed included' % ', '.join(known))
    _lab.reexec_in_sandbox(__file__)

    _lab.header('site_runtime: site.yml cold run and no-op re-run on the seed lab (2 nodes behind a router)')
    print('  %d rounds, configurations %s, %d no-op re-run(s) per cold run'
          % (args.rounds, ', '.join(names), args.reruns))
    tmp = _lab.tmpdir('bench-site.')
    segments, nodes = _lab.seed_topology()
    res = {n: {'cold': [], 'noop': [], 'cold_cpu': [], 'noop_cpu': []} for n in names}
    counts = {}
    try:
        for r in range(args.rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                with _lab.Lab(tmp, 'rt-' + name, segments, nodes, known[name][1]) as lab:
                    dt, cpu, recap, timing = timed_site(lab, tmp, '%s-%d-cold' % (name, r))
                    res[name]['cold'].append(dt)
                    res[name]['cold_cpu'].append(cpu)
                    counts[(name, 'cold')] = (recap, _lab.per_host_counts(timing))
                    for i in range(args.reruns):
                        dt, cpu, recap, timing = timed_site(lab, tmp, '%s-%d-noop%d' % (name, r, i))
                        changed = {h: c['changed'] for h, c in recap.items() if c['changed']}
                        if changed:
                            raise RuntimeError('%s: the no-op re-run changed something: %s' % (name, changed))
                        res[name]['noop'].append(dt)
                        res[name]['noop_cpu'].append(cpu)
                        counts[(name, 'noop')] = (recap, _lab.per_host_counts(timing))
            print('  round %d of %d done, load average %s' % (r + 1, args.rounds, _lab.loadavg()))
            sys.stdout.flush()
        report(names, known, res, counts)
    finally:
        if args.keep_logs:
            print('  logs kept in %s' % tmp)
        else:
            _lab.rmtree(tmp)


def report(names, known, res, counts):
    m = {n: {k: _lab.med(v) for k, v in res[n].items()} for n in names}
    print('\nWall time of ansible-playbook site.yml (s; CPU = user+sys of every process it waited for)\n')
    rows = []
    for n in names:
        d = res[n]
        rows.append([n, ' '.join('%.1f' % x for x in d['cold']), '%.1f' % m[n]['cold'], '%.1f' % min(d['cold']),
                     '%.1f' % m[n]['cold_cpu'],
                     ' '.join('%.1f' % x for x in d['noop']), '%.1f' % m[n]['noop'], '%.1f' % min(d['noop']),
                     '%.1f' % m[n]['noop_cpu'], '%.2f' % (m[n]['noop'] / m[n]['cold'])])
    _lab.table(rows, ['config', 'cold per round', 'median', 'min', 'CPU', 'no-op per run', 'median', 'min', 'CPU',
                      'no-op/cold'])
    if len(names) > 1:
        print('\nAgainst the seed configuration (ratio of medians)\n')
        rows = [[n, '%.2f' % (m[n]['cold'] / m['seed']['cold']), '%.2f' % (m[n]['noop'] / m['seed']['noop'])]
                for n in names if n != 'seed']
        _lab.table(rows, ['config', 'cold / seed cold', 'no-op / seed no-op'])

    print('\nPer host: tasks from the PLAY RECAP (ok includes changed; tasks = ok + skipped) and from the timer '
          '(tasks run or skipped, loop items)\n')
    rows = []
    for n in names:
        for phase in ('cold', 'noop'):
            recap, timer = counts[(n, phase)]
            for host in sorted(recap):
                c = recap[host]
                t, items = timer.get(host, (0, 0))
                rows.append(['%s (%s)' % (n, known[n][0]), phase, host, str(c['ok']), str(c['changed']),
                             str(c['skipped']), str(c['ok'] + c['skipped']), str(t), str(items)])
    _lab.table(rows, ['config', 'run', 'host', 'ok', 'changed', 'skipped', 'tasks', 'timer tasks', 'loop items'])
    print('\nload average at the end: %s' % _lab.loadavg())


if __name__ == '__main__':
    t0 = time.time()
    main()
    print('total %.0f s' % (time.time() - t0))
