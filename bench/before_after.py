#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""This checkout against an earlier commit of the collection, side by side in one run.

Issue #10 asked for the re-layout by concept to leave performance unchanged or better, shown by
the existing benches before and after. The earlier commit (default: the one before the re-layout,
713dfea^) is checked out into a temporary git worktree; then, alternating in every round so that
neither always runs first on this shared machine:

1. Peer entries: each checkout's own ``bench/fdb_bulk.py --skip-ansible --rounds 1`` (1000 FDB and
   1000 neighbour entries on a fresh VXLAN device); the rows of the module's path (validate, open
   the socket in the namespace, dump, plan, send the batch) and of its re-run (nothing to send).
2. ``site.yml`` on the seed's cluster (2 x N replicas, the seed's network) at 2 and 8 nodes: a
   fresh lab per checkout, size and round (the same topology and inventory for both: the
   contract did not change), one cold run of each checkout's ``site.yml`` and roles.

Prints per figure the medians and new / old (below 1: this checkout is faster).

Usage (venv first on PATH: source scripts/env.sh):
    bench/before_after.py [--commit 713dfea^] [--rounds 3] [--sizes 2,8]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lab  # noqa: E402

ROWS = ('_nlbatch (module path)', '_nlbatch re-run, nothing to change')


def worktree(commit, tmp):
    """A worktree of COMMIT in TMP with its .build link (what scripts/env.sh makes for a checkout)."""
    path = os.path.join(tmp, 'old')
    _lab.sh(['git', '-C', _lab.ROOT, 'worktree', 'add', '--detach', '-f', path, commit])
    link = os.path.join(path, '.build', 'ansible_collections', 'linuxnet')
    os.makedirs(link)
    os.symlink(path, os.path.join(link, 'overlay'))
    return path


def fdb_rows(root):
    """{(kind, row): seconds} from one round of ROOT's bench/fdb_bulk.py."""
    out = _lab.sh([_lab.VENV_PY, os.path.join(root, 'bench', 'fdb_bulk.py'), '--skip-ansible', '--rounds', '1'],
                  cwd=root)
    rows, kind = {}, None
    for line in out.splitlines():
        m = re.match(r'^1000 (FDB|neighbour) entries', line)
        if m:
            kind = m.group(1)
        for row in ROWS:
            if kind and line.startswith(row):
                rows[(kind, row)] = float(re.findall(r'([0-9.]+) ms', line[len(row):])[0]) / 1e3
    return rows


def site_env(root):
    """ansible_env() pointed at ROOT's collection, ansible.cfg and roles."""
    return _lab.ansible_env(ANSIBLE_CONFIG=os.path.join(root, 'ansible.cfg'),
                            ANSIBLE_COLLECTIONS_PATH=os.path.join(root, '.build'), LINUXNET_OVERLAY_ROOT=root)


def cold_site(root, n, tmp, tag):
    """A fresh lab of N nodes and one cold site.yml of ROOT's checkout: wall seconds."""
    segments, nodes = _lab.scaled_topology(n)
    with _lab.Lab(tmp, 'ba%d' % n, segments, nodes, _lab.seed_vars(2 * n)) as lab:
        t0 = time.perf_counter()
        proc = subprocess.run(['ansible-playbook', '-i', lab.inventory, 'site.yml'], cwd=root, env=site_env(root),
                              capture_output=True, text=True, check=False)
        dt = time.perf_counter() - t0
        with open(os.path.join(tmp, 'site-%s.log' % tag), 'w', encoding='utf-8') as f:
            f.write(proc.stdout + proc.stderr)
        recap = _lab.parse_recap(proc.stdout)
        if proc.returncode or not recap or any(r['failed'] or r['unreachable'] for r in recap.values()):
            raise SystemExit('%s: site.yml failed at %d nodes (rc %d), log in %s'
                             % (root, n, proc.returncode, os.path.join(tmp, 'site-%s.log' % tag)))
    return dt


def main():
    _lab.reexec_in_sandbox(__file__)
    ap = argparse.ArgumentParser()
    ap.add_argument('--commit', default='713dfea^', help='the earlier commit (default: before the re-layout)')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--sizes', default='2,8', help='site.yml sizes; empty: peer entries only')
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(',') if x]
    old_rev = _lab.sh(['git', '-C', _lab.ROOT, 'rev-parse', '--short', args.commit]).strip()
    new_rev = _lab.sh(['git', '-C', _lab.ROOT, 'rev-parse', '--short', 'HEAD']).strip()
    _lab.header('before/after: this checkout (%s) against %s (%s), %d rounds, alternating'
                % (new_rev, args.commit, old_rev, args.rounds))
    tmp = _lab.tmpdir('before-after')
    try:
        old = worktree(args.commit, tmp)
        roots = {'old': old, 'new': _lab.ROOT}
        fdb = {w: {} for w in roots}
        site = {w: {n: [] for n in sizes} for w in roots}
        for r in range(args.rounds):
            order = ['old', 'new'] if r % 2 == 0 else ['new', 'old']
            for which in order:
                for key, sec in fdb_rows(roots[which]).items():
                    fdb[which].setdefault(key, []).append(sec)
            for n in sizes:
                for which in order:
                    site[which][n].append(cold_site(roots[which], n, tmp, '%s-n%d-r%d' % (which, n, r)))
            print('  round %d of %d done, load average %s' % (r + 1, args.rounds, _lab.loadavg()), flush=True)
        rows = []
        for key in sorted(fdb['new']):
            o, n = statistics.median(fdb['old'][key]), statistics.median(fdb['new'][key])
            rows.append(['%s: %s' % key, '%.1f ms' % (o * 1e3), '%.1f ms' % (n * 1e3), '%.2f' % (n / o),
                         ' '.join('%.1f' % (x * 1e3) for x in fdb['old'][key]),
                         ' '.join('%.1f' % (x * 1e3) for x in fdb['new'][key])])
        for n in sizes:
            o, w = statistics.median(site['old'][n]), statistics.median(site['new'][n])
            rows.append(['site.yml cold, %d nodes, %d tasks' % (n, 2 * n), '%.1f s' % o, '%.1f s' % w, '%.2f' % (w / o),
                         ' '.join('%.1f' % x for x in site['old'][n]), ' '.join('%.1f' % x for x in site['new'][n])])
        print()
        _lab.table(rows, ('figure (median)', 'old %s' % old_rev, 'new %s' % new_rev, 'new / old', 'old per round',
                          'new per round'))
        print('\nload average at the end: %s' % _lab.loadavg())
    finally:
        subprocess.run(['git', '-C', _lab.ROOT, 'worktree', 'remove', '--force', os.path.join(tmp, 'old')],
                       capture_output=True, check=False)
        _lab.rmtree(tmp)


if __name__ == '__main__':
    main()
