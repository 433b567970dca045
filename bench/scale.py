#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml cold run on 2, 4 and 8 simulated nodes: wall time, the 8/2 ratio, and where the time goes.

    bench/scale.py [--sizes 2,4,8] [--rounds 2]
    bench/scale.py --rounds 2 --settings forks=4,strategy=free,pipelining=off,poll=0.01   # ~18 min
    bench/scale.py --rounds 2 --settings connection=local,strategy=mitogen --settings-sizes 2,8

Re-executes itself inside tests/sandbox.sh unless already there. For every round and size
(rotated, so none always runs first): a fresh lab of N nodes behind one router (generated into a
temporary folder: 2 segments up to 4 nodes, 3 beyond, nodes spread round-robin; node1 is the
manager, the others workers), the seed's cluster with replicas = 2 x N (uber-net, service test),
then one cold ``ansible-playbook -i <lab> site.yml``, timed, and the lab removed.

Where the time goes, from the same runs:
  * per play and per task wall time, from the benchmark callback bench/callback_plugins/bench_timer.py
    (ansible-core has no profiling callback of its own);
  * CPU: user+sys of every process ansible-playbook waited for (controller, workers, nsenter,
    modules), and of the module processes alone: the nodes' interpreter is bench/cpu_python, a
    wrapper that runs the venv's python and logs the CPU it and its children used, so
    controller CPU = total - modules. CPU / wall near the CPU count means the run is CPU-bound.

``--settings`` compares Ansible settings that need no change to the collection, each against the
default configuration (ansible.cfg: forks 20, linear strategy, pipelining on) at the largest size
(or ``--settings-sizes``), alternating in every round: ``forks=N``, ``strategy=free``,
``pipelining=off``, ``poll=S`` (the controller's result polling interval, default 0.001 s)
(given as ANSIBLE_FORKS, ANSIBLE_STRATEGY, ANSIBLE_PIPELINING, or for poll a copy of ansible.cfg
with internal_poll_interval); ``connection=local`` (the nodes reached by the ``local`` connection
and an interpreter wrapper that nsenters into the node, instead of linuxnet.overlay.nsenter) and
``strategy=mitogen`` (mitogen_linear from tests/vmlab/mitogen.sh's install, with that same local
connection, since mitogen only drives its own connection types: one persistent interpreter per
node instead of one process per module). A setting that makes site.yml fail is
reported as failing, with the first error.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lab  # noqa: E402  pylint: disable=wrong-import-position

CPU_PYTHON = os.path.join(_lab.BENCH, 'cpu_python')
CPU_LOG = '/run/bench-python-cpu.log'
SETTINGS = {'forks': 'ANSIBLE_FORKS', 'strategy': 'ANSIBLE_STRATEGY', 'pipelining': 'ANSIBLE_PIPELINING',
            'poll': None,        # internal_poll_interval has no environment variable: a copy of ansible.cfg
            'connection': None}  # connection=local: see local_inventory()
MITOGEN_DIR = os.environ.get('VMLAB_MITOGEN_DIR', '/var/cache/vmlab/mitogen')   # tests/vmlab/mitogen.sh


def setting_env(tmp, key, val):
    """Environment for one setting; poll=S writes ansible.cfg plus internal_poll_interval to TMP."""
    if key == 'connection':
        return {}
    if key == 'strategy' and val == 'mitogen':
        return {'ANSIBLE_STRATEGY_PLUGINS': os.path.join(MITOGEN_DIR, 'ansible_mitogen', 'plugins', 'strategy'),
                'ANSIBLE_STRATEGY': 'mitogen_linear', 'PYTHONPATH': MITOGEN_DIR}
    if SETTINGS[key]:
        return {SETTINGS[key]: {'on': 'True', 'off': 'False'}.get(val, val)}
    path = os.path.join(tmp, 'ansible-poll-%s.cfg' % val)
    with open(os.path.join(_lab.ROOT, 'ansible.cfg'), encoding='utf-8') as f:
        text = f.read()
    # relative paths in ansible.cfg are relative to the file: make them absolute for the copy
    text = text.replace('= ./', '= %s/' % _lab.ROOT)
    text = text.replace('[defaults]\n', '[defaults]\ninternal_poll_interval = %s\n' % float(val), 1)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return {'ANSIBLE_CONFIG': path}


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def module_cpu(lab, nodes):
    """{module fqn: [CPU s per run]} of every module process the nodes ran (bench/cpu_python's logs)."""
    out = collections.defaultdict(list)
    for node in nodes:
        lines = lab.run(node['name'], 'cat %s 2>/dev/null; true' % CPU_LOG).splitlines()
        for i in range(0, len(lines) - 2, 3):   # "module NAME", the shell's own times, its children's
            cpu = 0.0
            for field in lines[i + 2].split():
                mins, secs = field.rstrip('s').split('m')
                cpu += int(mins) * 60 + float(secs)
            out[lines[i].split(' ', 1)[1]].append(cpu)
    return dict(out)


def local_inventory(lab, nodes, inner):
    """A copy of the lab's inventory that reaches each node with the ``local`` connection and an
    interpreter wrapper ``exec nsenter --target <holder> --net --mount --uts --ipc --pid -- INNER``
    (what mitogen can drive: it only knows its own connection types, not linuxnet.overlay.nsenter).
    The wrappers fail before running anything if they cannot enter the node."""
    import yaml  # pylint: disable=import-outside-toplevel
    with open(lab.inventory, encoding='utf-8') as f:
        inv = yaml.safe_load(f)
    for group in inv['all']['children'].values():
        for host, hv in group['hosts'].items():
            wrapper = os.path.join(lab.dir, 'py-%s' % host)
            with open(wrapper, 'w', encoding='ascii') as f:
                f.write('#!/bin/sh\nexec nsenter --target "$(cat %s)" --net --mount --uts --ipc --pid -- %s "$@"\n'
                        % (hv['ansible_nsenter_pidfile'], inner))
            os.chmod(wrapper, 0o755)
            hv.pop('ansible_nsenter_pidfile')
            hv.update({'ansible_connection': 'local', 'ansible_python_interpreter': wrapper})
    path = os.path.join(lab.dir, 'inventory-local.yml')     # next to the lab's group_vars
    with open(path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(inv, f)
    return path


def cold_run(tmp, n, env_extra, tag, connection=None, extra_vars=()):
    """A fresh lab of N nodes and one cold site.yml: a result dict (or {'error': ...})."""
    segments, nodes = _lab.scaled_topology(n)
    tj = os.path.join(tmp, 'timing-%s.json' % tag)
    with _lab.Lab(tmp, 'scale%d' % n, segments, nodes, _lab.seed_vars(2 * n), interpreter=CPU_PYTHON) as lab:
        inventory = lab.inventory
        if connection == 'local':
            mitogen = env_extra.get('ANSIBLE_STRATEGY') == 'mitogen_linear'
            inventory = local_inventory(lab, nodes, _lab.VENV_PY if mitogen else CPU_PYTHON)
        cpu0 = children_cpu()
        launch = time.time()
        try:
            argv = ['-i', inventory, 'site.yml'] + [a for ev in extra_vars for a in ('-e', ev)]
            dt, _out, recap = _lab.playbook(argv, env=_lab.timer_env(tj, **env_extra),
                                            log=os.path.join(tmp, 'site-%s.log' % tag))
        except _lab.PlaybookFailed as e:
            lines = [ln for ln in str(e).splitlines() if 'FAILED' in ln or 'fatal' in ln or 'ERROR' in ln]
            return {'error': (lines or [str(e).splitlines()[0]])[0][:200]}
        cpu = children_cpu() - cpu0
        mods = module_cpu(lab, nodes)
    timing = _lab.load_timing(tj)
    return {'wall': dt, 'cpu': cpu, 'module_cpu': sum(sum(v) for v in mods.values()),
            'modules': sum(len(v) for v in mods.values()), 'per_module': mods, 'startup': timing['start'] - launch,
            'timing': timing, 'tasks': sum(c['ok'] + c['skipped'] for c in recap.values())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sizes', default='2,4,8')
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--settings', default='',
                    help='comma-separated, e.g. forks=4,strategy=free,pipelining=off,poll=0.01,connection=local,'
                         'strategy=mitogen')
    ap.add_argument('--settings-sizes', default='', help='sizes to measure the settings at (default: the largest)')
    ap.add_argument('--keep-logs', action='store_true', help='keep the temporary folder (site.yml logs, timings)')
    ap.add_argument('-e', '--extra-vars', action='append', default=[],
                    help='passed to every site.yml run, e.g. -e verify_scope=all_pairs')
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(',')]
    settings = [s for s in args.settings.split(',') if s]
    for s in settings:
        if '=' not in s or s.split('=')[0] not in SETTINGS:
            ap.error('setting %r: use forks=N, strategy=free|linear|mitogen, pipelining=on|off, poll=SECONDS '
                     'or connection=local' % s)
    if 'strategy=mitogen' in settings and not os.path.isdir(os.path.join(MITOGEN_DIR, 'ansible_mitogen')):
        ap.error('strategy=mitogen: no mitogen in %s (bash tests/vmlab/mitogen.sh installs it there)' % MITOGEN_DIR)
    ssizes = [int(x) for x in args.settings_sizes.split(',') if x] or [max(sizes)]
    if not set(ssizes) <= set(sizes):
        ap.error('--settings-sizes must be among --sizes (the default runs are the reference)')
    _lab.reexec_in_sandbox(__file__)

    _lab.header('scale: site.yml cold run on %s simulated nodes (replicas = 2 x nodes)' % ', '.join(map(str, sizes)))
    default = 'none (ansible.cfg: forks 20, linear, pipelining on)'
    print('  %d rounds; settings: %s%s' % (args.rounds, ', '.join(settings) or default,
                                           ''.join('; -e %s' % ev for ev in args.extra_vars)))
    tmp = _lab.tmpdir('bench-scale.')
    try:
        res = collections.defaultdict(list)
        big = max(sizes)
        for r in range(args.rounds):
            k = r % len(sizes)
            for n in sizes[k:] + sizes[:k]:
                res[('default', n)].append(cold_run(tmp, n, {}, 'n%d-r%d' % (n, r), extra_vars=args.extra_vars))
            cfgs = settings[r % len(settings):] + settings[:r % len(settings)] if settings else []
            for s in cfgs:
                env = setting_env(tmp, *s.split('=', 1))
                conn = 'local' if s in ('connection=local', 'strategy=mitogen') else None
                for n in ssizes:
                    res[(s, n)].append(cold_run(tmp, n, env, '%s-n%d-r%d' % (s.replace('=', '-'), n, r), conn,
                                                args.extra_vars))
            print('  round %d of %d done, load average %s' % (r + 1, args.rounds, _lab.loadavg()))
            sys.stdout.flush()
        report(sizes, settings, ssizes, res, args)
    finally:
        if args.keep_logs:
            print('  logs kept in %s' % tmp)
        else:
            _lab.rmtree(tmp)


def ok_runs(runs):
    return [x for x in runs if 'error' not in x]


def report(sizes, settings, ssizes, res, args):
    print('\nCold site.yml (s). CPU: all processes; modules: the module processes in the nodes; '
          'controller = CPU - modules\n')
    rows = []
    med = {}
    for n in sizes:
        for x in res[('default', n)]:
            if 'error' in x:
                print('  %d nodes: a run FAILED and is left out: %s' % (n, x['error']))
        runs = ok_runs(res[('default', n)])
        walls = [x['wall'] for x in runs]
        m = {k: _lab.med([x[k] for x in runs]) for k in ('wall', 'cpu', 'module_cpu', 'modules', 'startup', 'tasks')}
        med[n] = m
        rows.append([str(n), str(2 * n), ' '.join('%.1f' % w for w in walls), '%.1f' % m['wall'], '%.1f' % min(walls),
                     '%.1f' % m['cpu'], '%.2f' % (m['cpu'] / m['wall']), '%.1f' % m['module_cpu'], '%d' % m['modules'],
                     '%.0f' % (1000 * m['module_cpu'] / max(m['modules'], 1)), '%.1f' % (m['cpu'] - m['module_cpu']),
                     '%d' % m['tasks']])
    _lab.table(rows, ['nodes', 'replicas', 'wall per round', 'median', 'min', 'CPU', 'CPU/wall', 'modules CPU',
                      'module runs', 'ms CPU/run', 'controller CPU', 'host-tasks'])
    small, big = min(sizes), max(sizes)
    if small != big:
        a, b = res[('default', big)], res[('default', small)]
        pairs = [x['wall'] / y['wall'] for x, y in zip(a, b) if 'error' not in x and 'error' not in y]
        print('\nratio %d nodes / %d nodes: %.2f (medians), %.2f (minimums), %.2f (median of the per-round ratios); '
              'target <= 2' % (big, small, med[big]['wall'] / med[small]['wall'],
                               min(x['wall'] for x in ok_runs(a)) / min(x['wall'] for x in ok_runs(b)), _lab.med(pairs)))

    print('\nWhere the time goes (medians; wall s per play; start-up = ansible-playbook launch to its first event)\n')
    plays = []
    for n in sizes:
        for x in ok_runs(res[('default', n)]):
            for p, _wall in _lab.play_walls(x['timing']):
                if p not in plays:
                    plays.append(p)
    rows = []
    for n in sizes:
        runs = ok_runs(res[('default', n)])
        row = [str(n), '%.1f' % med[n]['startup']]
        for p in plays:
            row.append('%.1f' % _lab.med([dict(_lab.play_walls(x['timing'])).get(p, 0.0) for x in runs]))
        tw = [sum(t[-2] for t in _lab.task_walls(x['timing'])) for x in runs]
        nt = [len(_lab.task_walls(x['timing'])) for x in runs]
        row += ['%d' % _lab.med(nt), '%.2f' % (_lab.med(tw) / max(_lab.med(nt), 1))]
        rows.append(row)
    _lab.table(rows, ['nodes', 'start-up'] + [p.split(' - ')[0] for p in plays] + ['tasks', 's per task'])

    print('\nSlowest tasks at %d nodes against %d nodes (median wall s over the rounds)\n' % (big, small))
    walls = {}
    for n in (small, big):
        acc = collections.defaultdict(list)
        for x in ok_runs(res[('default', n)]):
            for _p, _r, t, w, _h in _lab.task_walls(x['timing']):
                acc[t].append(w)
        walls[n] = {t: _lab.med(v) for t, v in acc.items()}
    top = sorted(walls[big], key=lambda t: -walls[big][t])[:10]
    _lab.table([[t[:90], '%.2f' % walls[small].get(t, 0.0), '%.2f' % walls[big][t]] for t in top],
               ['task', '%d nodes' % small, '%d nodes' % big])

    print('\nModule runs per host and their CPU at %d nodes (medians over the rounds; CPU = the module process '
          'and its children)\n' % big)
    rows = []
    runs = ok_runs(res[('default', big)])
    names = sorted({m for x in runs for m in x['per_module']},
                   key=lambda m: -_lab.med([sum(x['per_module'].get(m, [])) for x in runs]))
    for mod in names:
        total = _lab.med([sum(x['per_module'].get(mod, [])) for x in runs])
        count = _lab.med([len(x['per_module'].get(mod, [])) for x in runs])
        rows.append([mod, '%.1f' % (count / big), '%.1f' % total, '%.0f' % (1000 * total / max(count, 1))])
    _lab.table(rows, ['module', 'runs per host', 'CPU s (all hosts)', 'ms per run'])

    if settings:
        print('\nAnsible settings against the default configuration at the same size, same rounds\n')
        rows = []
        for s in settings + ['default']:
            for n in ssizes:
                runs, base = res[(s, n)], res[('default', n)]
                errs = [x['error'] for x in runs if 'error' in x]
                good = ok_runs(runs)
                pairs = [x['wall'] / y['wall'] for x, y in zip(runs, base) if 'error' not in x and 'error' not in y]
                rows.append([s, str(n), ' '.join('%.1f' % x['wall'] if 'error' not in x else 'FAIL' for x in runs),
                             '%.1f' % _lab.med([x['wall'] for x in good]) if good else '-',
                             '%.1f' % _lab.med([x['cpu'] for x in good]) if good else '-',
                             '%.2f' % _lab.med(pairs) if pairs else '-', errs[0] if errs else ''])
        _lab.table(rows, ['setting', 'nodes', 'wall per round', 'median', 'CPU', 'paired ratio', 'error'])
        if len(ssizes) > 1:
            lo, hi = min(ssizes), max(ssizes)
            print()
            for s in settings + ['default']:
                a, b = ok_runs(res[(s, hi)]), ok_runs(res[(s, lo)])
                if a and b:
                    print('  %-20s %d nodes / %d nodes: %.2f (medians)' % (
                        s, hi, lo, _lab.med([x['wall'] for x in a]) / _lab.med([x['wall'] for x in b])))
    print('\nload average at the end: %s' % _lab.loadavg())


if __name__ == '__main__':
    main()
