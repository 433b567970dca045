#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml on simulated nodes: cold, no-op and grow-by-one runs, ratios between sizes, where the time goes.

    bench/scale.py [--sizes 2,8,32,64] [--rounds 1]                 # issue #11's moonshot, ~25 min idle
    bench/scale.py --shape seed --sizes 2,4,8 --rounds 3           # the seed's cluster, cold runs only
    bench/scale.py --shape seed --rounds 2 --settings forks=4,strategy=free,pipelining=off,poll=0.01
    bench/scale.py --shape seed --rounds 2 --settings connection=local,strategy=mitogen --settings-sizes 2,8

Re-executes itself inside tests/sandbox.sh unless already there. For every round and size
(rotated, so none always runs first): a fresh lab of N nodes behind one router (generated into a
temporary folder: 2 segments up to 4 nodes, 3 beyond, nodes spread round-robin), timed, then:

  * ``--shape moonshot`` (the default, issue #11): 8 overlay networks with one service of N
    replicas on each (8 x N tasks, one per network on each node), 3 managers from 8 nodes on (1
    below); a cold ``site.yml``, a no-op re-run (it must report no change), and a run with svc1 one
    replica larger: its time and the nodes that reported a change, against the nodes with a task
    of svc1 (its network's peers and names change there, nowhere else);
  * ``--shape seed``: the seed's cluster with replicas = 2 x N (uber-net, service test), node1 the
    manager; one cold ``site.yml``.

The lab is removed after each size. The controller's memory is sampled every 0.5 s: the peak RSS
of ansible-playbook's main process and the peak Pss of it and its forks together.

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
SHAPES = {'moonshot': '8 networks, 8 services of N replicas (8 tasks per node), 3 managers from 8 nodes',
          'seed': "the seed's network and service, replicas = 2 x nodes"}
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


def managers_for(n):
    """The moonshot's managers: 3 from 8 nodes on (Raft's smallest quorum that survives a loss), else 1."""
    return 3 if n >= 8 else 1


def cluster_vars(shape, n, grow=None):
    return _lab.moonshot_vars(n, grow) if shape == 'moonshot' else _lab.seed_vars(2 * n)


def timed_run(lab, inventory, tmp, tag, env_extra, extra_vars, nodes, module_base=None):
    """One site.yml on LAB: {wall, cpu, module_cpu, modules, per_module, startup, timing, tasks,
    changed (hosts with changed > 0), hwm_mib, pss_mib} or {'error': ...}. MODULE_BASE: the module
    CPU log of the earlier runs on this lab, subtracted (the nodes' logs only grow)."""
    tj = os.path.join(tmp, 'timing-%s.json' % tag)
    cpu0 = children_cpu()
    launch = time.time()
    mem = {}
    try:
        argv = ['-i', inventory, 'site.yml'] + [a for ev in extra_vars for a in ('-e', ev)]
        dt, _out, recap = _lab.playbook(argv, env=_lab.timer_env(tj, **env_extra),
                                        log=os.path.join(tmp, 'site-%s.log' % tag), stats=mem)
    except _lab.PlaybookFailed as e:
        lines = [ln for ln in str(e).splitlines() if 'FAILED' in ln or 'fatal' in ln or 'ERROR' in ln]
        return {'error': (lines or [str(e).splitlines()[0]])[0][:200]}
    cpu = children_cpu() - cpu0
    allmods = module_cpu(lab, nodes)
    mods = {m: v[len((module_base or {}).get(m, [])):] for m, v in allmods.items()}
    timing = _lab.load_timing(tj)
    changed = sorted(h for h, r in recap.items() if r['changed'] and h != 'localhost')
    return {'wall': dt, 'cpu': cpu, 'module_cpu': sum(sum(v) for v in mods.values()),
            'modules': sum(len(v) for v in mods.values()), 'per_module': mods, 'all_modules': allmods,
            'startup': timing['start'] - launch, 'timing': timing, 'changed': changed,
            'tasks': sum(c['ok'] + c['skipped'] for c in recap.values()), **mem}


def cold_run(tmp, n, env_extra, tag, connection=None, extra_vars=(), shape='seed', phases=False):
    """A fresh lab of N nodes and one cold site.yml: a result dict (or {'error': ...}). With PHASES,
    also a no-op re-run (``noop``) and one with svc1 (or the seed's service) one replica larger
    (``grow``), on the same lab; ``lab_up`` is labctl's time to build the lab."""
    segments, nodes = _lab.scaled_topology(n, managers_for(n) if shape == 'moonshot' else 1)
    t0 = time.perf_counter()
    with _lab.Lab(tmp, 'scale%d' % n, segments, nodes, cluster_vars(shape, n), interpreter=CPU_PYTHON) as lab:
        lab_up = time.perf_counter() - t0
        inventory = lab.inventory
        if connection == 'local':
            mitogen = env_extra.get('ANSIBLE_STRATEGY') == 'mitogen_linear'
            inventory = local_inventory(lab, nodes, _lab.VENV_PY if mitogen else CPU_PYTHON)
        out = timed_run(lab, inventory, tmp, tag, env_extra, extra_vars, nodes)
        out['lab_up'] = lab_up
        if phases and 'error' not in out:
            out['noop'] = timed_run(lab, inventory, tmp, tag + '-noop', env_extra, extra_vars, nodes,
                                    out['all_modules'])
            base = out['noop'].get('all_modules', out['all_modules'])
            grow = 'svc1' if shape == 'moonshot' else None
            lab.write_vars(cluster_vars(shape, n, grow) if grow else _lab.seed_vars(2 * n + 1))
            out['grow'] = timed_run(lab, inventory, tmp, tag + '-grow', env_extra, extra_vars, nodes, base)
            out['grow']['expected'] = expected_changes(lab, nodes, shape)
    return out


def expected_changes(lab, nodes, shape):
    """The nodes a grown service must touch: those with a task of it after the run (its network's
    sandbox is there, so its peers and name table change); no other node should report a change."""
    svc = 'svc1.' if shape == 'moonshot' else 'test.'
    return sorted(nd['name'] for nd in nodes
                  if any(x.startswith(svc) for x in lab.run(nd['name'], 'ls /run/netns', check=False).split()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sizes', default='2,8,32,64')
    ap.add_argument('--shape', choices=('moonshot', 'seed'), default='moonshot',
                    help="moonshot (issue #11): 8 networks, a service of N replicas on each, 3 managers from 8 "
                         "nodes, and after the cold run a no-op run and one with svc1 one replica larger; "
                         "seed: the seed's one network and service with replicas = 2 x N, the cold run only")
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

    _lab.header('scale: site.yml on %s simulated nodes, %s' % (', '.join(map(str, sizes)), SHAPES[args.shape]))
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
                res[('default', n)].append(cold_run(tmp, n, {}, 'n%d-r%d' % (n, r), extra_vars=args.extra_vars,
                                                    shape=args.shape, phases=args.shape == 'moonshot'))
                print('  %d nodes: %s' % (n, progress(res[('default', n)][-1])))
                sys.stdout.flush()
            cfgs = settings[r % len(settings):] + settings[:r % len(settings)] if settings else []
            for s in cfgs:
                env = setting_env(tmp, *s.split('=', 1))
                conn = 'local' if s in ('connection=local', 'strategy=mitogen') else None
                for n in ssizes:
                    res[(s, n)].append(cold_run(tmp, n, env, '%s-n%d-r%d' % (s.replace('=', '-'), n, r), conn,
                                                args.extra_vars, shape=args.shape))
            print('  round %d of %d done, load average %s' % (r + 1, args.rounds, _lab.loadavg()))
            sys.stdout.flush()
        report(sizes, settings, ssizes, res, args)
    finally:
        if args.keep_logs:
            print('  logs kept in %s' % tmp)
        else:
            _lab.rmtree(tmp)


def progress(x):
    """One line per finished size, so a long run shows where it is."""
    if 'error' in x:
        return 'FAILED: %s' % x['error']
    line = 'lab up %.1f s, cold %.1f s' % (x['lab_up'], x['wall'])
    for key in ('noop', 'grow'):
        if key in x:
            y = x[key]
            line += ', %s %s' % (key, 'FAILED: %s' % y['error'] if 'error' in y else '%.1f s (%d nodes changed)' % (
                y['wall'], len(y['changed'])))
    return line + ', load %s' % _lab.loadavg()


def phases_report(sizes, res):
    """Cold, no-op and grow-by-one side by side per size (medians), and the nodes each run changed."""
    print('\nCold, no-op and svc1 + 1 replica on the same lab (median wall s; CPU s modules / controller; '
          'nodes that reported a change, against the nodes with a task of svc1)\n')
    rows = []
    walls = {}
    for n in sizes:
        runs = ok_runs(res[('default', n)])
        row = [str(n)]
        for key in (None, 'noop', 'grow'):
            xs = [x[key] if key else x for x in runs if not key or key in x]
            errs = [x['error'] for x in xs if 'error' in x]
            xs = ok_runs(xs)
            if not xs:
                row += ['FAIL: %s' % errs[0][:60] if errs else '-', '-', '-', '-']
                continue
            wall = _lab.med([x['wall'] for x in xs])
            walls[(n, key)] = wall
            mod = _lab.med([x['module_cpu'] for x in xs])
            row += ['%.1f' % wall, '%.1f / %.1f' % (mod, _lab.med([x['cpu'] for x in xs]) - mod),
                    '%.0f' % _lab.med([x['pss_mib'] for x in xs]),
                    '%d' % _lab.med([len(x['changed']) for x in xs]) if key != 'grow' else '%d of %d' % (
                        _lab.med([len(x['changed']) for x in xs]), _lab.med([len(x['expected']) for x in xs]))]
        rows.append(row)
    heads = ['nodes']
    for key in ('cold', 'no-op', 'grow'):
        heads += [key, key + ' CPU', key + ' MiB', key + ' changed']
    _lab.table(rows, heads)
    for n in sizes:
        if (n, None) in walls and (n, 'noop') in walls:
            print('  %d nodes: no-op / cold %.2f (target <= 1)%s' % (
                n, walls[(n, 'noop')] / walls[(n, None)],
                '; grow / cold %.2f' % (walls[(n, 'grow')] / walls[(n, None)]) if (n, 'grow') in walls else ''))
        for x in ok_runs(res[('default', n)]):
            extra = sorted(set(x.get('grow', {}).get('changed', [])) - set(x.get('grow', {}).get('expected', [])))
            if extra:
                print('  %d nodes: grow changed nodes without a task of svc1: %s' % (n, ', '.join(extra)))


def ok_runs(runs):
    return [x for x in runs if 'error' not in x]


def task_count(shape, n):
    return _lab.MOON_NETWORKS * n if shape == 'moonshot' else 2 * n


def report(sizes, settings, ssizes, res, args):
    print('\nCold site.yml (s). CPU: all processes; modules: the module processes in the nodes; '
          'controller = CPU - modules; memory: the controller\'s peak RSS (main process) and peak Pss '
          '(it and its forks, shared pages once)\n')
    rows = []
    med = {}
    for n in sizes:
        for x in res[('default', n)]:
            if 'error' in x:
                print('  %d nodes: a run FAILED and is left out: %s' % (n, x['error']))
        runs = ok_runs(res[('default', n)])
        if not runs:
            continue
        walls = [x['wall'] for x in runs]
        m = {k: _lab.med([x[k] for x in runs]) for k in ('wall', 'cpu', 'module_cpu', 'modules', 'startup', 'tasks',
                                                         'lab_up', 'hwm_mib', 'pss_mib')}
        med[n] = m
        rows.append([str(n), str(task_count(args.shape, n)), '%.1f' % m['lab_up'], ' '.join('%.1f' % w for w in walls),
                     '%.1f' % m['wall'], '%.1f' % min(walls), '%.1f' % m['cpu'], '%.2f' % (m['cpu'] / m['wall']),
                     '%.1f' % m['module_cpu'], '%d' % m['modules'],
                     '%.0f' % (1000 * m['module_cpu'] / max(m['modules'], 1)), '%.1f' % (m['cpu'] - m['module_cpu']),
                     '%.0f / %.0f' % (m['hwm_mib'], m['pss_mib']), '%d' % m['tasks']])
    _lab.table(rows, ['nodes', 'tasks', 'lab up', 'wall per round', 'median', 'min', 'CPU', 'CPU/wall', 'modules CPU',
                      'module runs', 'ms CPU/run', 'controller CPU', 'MiB RSS / Pss', 'host-tasks'])
    sizes = [n for n in sizes if n in med]
    if not sizes:
        return
    small, big = min(sizes), max(sizes)
    ref = 8 if 8 in sizes else small
    target = {'moonshot': '64/8 <= 6', 'seed': '8/2 <= 2'}[args.shape]
    for n in sizes:
        if n == ref:
            continue
        a, b = res[('default', n)], res[('default', ref)]
        pairs = [x['wall'] / y['wall'] for x, y in zip(a, b) if 'error' not in x and 'error' not in y]
        print('ratio %d nodes / %d nodes: %.2f (medians), %.2f (minimums), %.2f (median of the per-round ratios); '
              'target %s' % (n, ref, med[n]['wall'] / med[ref]['wall'],
                             min(x['wall'] for x in ok_runs(a)) / min(x['wall'] for x in ok_runs(b)), _lab.med(pairs),
                             target))
    if args.shape == 'moonshot':
        phases_report(sizes, res)

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
