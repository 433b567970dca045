# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared plumbing for the lab benchmarks (dataplane.py, site_runtime.py, scale.py).

* ``reexec_in_sandbox()``: run the calling script inside tests/sandbox.sh (own network, mount and
  PID namespaces) unless already there, so nothing a benchmark makes can reach the root namespace
  and everything dies with the sandbox, also on failure.
* ``Lab``: a lab of simulated hosts in a temporary folder, built and removed with labctl
  (roles/lab/files/labctl, the same code lab_up/lab_down run, without Ansible's start-up).
* ``playbook()``: ansible-playbook with the environment scripts/env.sh sets, timed, with its
  PLAY RECAP parsed.
* small statistics helpers: medians, minimums, the load average.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
BENCH = os.path.join(ROOT, 'bench')
SANDBOX = os.path.join(ROOT, 'tests', 'sandbox.sh')
LABCTL = os.path.join(ROOT, 'roles', 'lab', 'files', 'labctl')
VENV_PY = os.path.join(ROOT, '.venv', 'bin', 'python')
NSENTER_FLAGS = ['--net', '--mount', '--uts', '--ipc', '--pid']


def reexec_in_sandbox(script):
    """Re-execute ``script`` (the caller's __file__) inside tests/sandbox.sh unless already there."""
    if os.environ.get('LINUXNET_SANDBOX') == '1':
        return
    python = VENV_PY if os.path.exists(VENV_PY) else sys.executable
    sys.stdout.flush()
    os.execv(SANDBOX, [SANDBOX, python, os.path.abspath(script)] + sys.argv[1:])


def ansible_env(**extra):
    """The environment scripts/env.sh sets (venv first on PATH, ansible pointed at this checkout)."""
    env = dict(os.environ)
    env['PATH'] = os.path.join(ROOT, '.venv', 'bin') + os.pathsep + env.get('PATH', '')
    env['ANSIBLE_CONFIG'] = os.path.join(ROOT, 'ansible.cfg')
    env['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(ROOT, '.build')
    env['LINUXNET_OVERLAY_ROOT'] = ROOT
    env['LINUXNET_OVERLAY_PYTHON'] = VENV_PY
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_FORCE_COLOR'] = '0'
    env.update({k: str(v) for k, v in extra.items()})
    return env


def sh(cmd, check=True, **kw):
    """Run a command (list: no shell; str: /bin/sh) and return its stdout."""
    res = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, check=False, **kw)
    if check and res.returncode != 0:
        raise RuntimeError('command failed (rc %d): %s\n%s%s'
                           % (res.returncode, cmd, res.stdout[-2000:], res.stderr[-2000:]))
    return res.stdout


RECAP_RE = re.compile(r'^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+'
                      r'skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)', re.M)


def parse_recap(text):
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from the PLAY RECAP."""
    keys = ('ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored')
    tail = text[text.rfind('PLAY RECAP'):] if 'PLAY RECAP' in text else ''
    return {m.group(1): dict(zip(keys, map(int, m.groups()[1:]))) for m in RECAP_RE.finditer(tail)}


class PlaybookFailed(RuntimeError):
    pass


def _controller_memory(pid):
    """(VmHWM of PID, sum of the Pss of every ansible-playbook process) in MiB, now. The forks are
    copies of the controller that share its pages: Pss counts a shared page once over all of them."""
    hwm = pss = 0
    try:
        with open('/proc/%d/status' % pid, encoding='ascii') as f:
            hwm = int(next(ln for ln in f if ln.startswith('VmHWM:')).split()[1])
    except (OSError, StopIteration):
        pass
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                if b'ansible-playbook' not in f.read():
                    continue
            with open('/proc/%s/smaps_rollup' % entry, encoding='ascii') as f:
                pss += int(next(ln for ln in f if ln.startswith('Pss:')).split()[1])
        except (OSError, StopIteration):
            continue
    return hwm / 1024.0, pss / 1024.0


class _Run:
    """ansible-playbook in the background; with ``memory``, a thread samples the controller's
    memory every half second (its own high-water mark, and the peak Pss of it and its forks)."""

    def __init__(self, argv, env, memory):
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.hwm = self.pss = 0.0
        self._thread = None
        if memory:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self):
        while self.proc.poll() is None:
            hwm, pss = _controller_memory(self.proc.pid)
            self.hwm, self.pss = max(self.hwm, hwm), max(self.pss, pss)
            time.sleep(0.5)

    def wait(self):
        out, err = self.proc.communicate()
        if self._thread:
            self._thread.join()
        return self.proc.returncode, out, err


def playbook(args, env=None, log=None, stats=None):
    """ansible-playbook ARGS from the repository root; returns (seconds, stdout, recap). With a
    dict STATS, also the controller's memory: ``hwm_mib`` (the main process's peak RSS) and
    ``pss_mib`` (the peak of the main process and its forks together, shared pages once)."""
    t0 = time.perf_counter()
    run = _Run(['ansible-playbook'] + list(args), env or ansible_env(), stats is not None)
    rc, stdout, stderr = run.wait()
    dt = time.perf_counter() - t0
    if stats is not None:
        stats.update(hwm_mib=run.hwm, pss_mib=run.pss)
    res = subprocess.CompletedProcess(args, rc, stdout, stderr)
    if log:
        with open(log, 'w', encoding='utf-8') as f:
            f.write(res.stdout)
            f.write(res.stderr)
    recap = parse_recap(res.stdout)
    if res.returncode != 0 or not recap or any(r['failed'] or r['unreachable'] for r in recap.values()):
        raise PlaybookFailed('ansible-playbook %s failed (rc %d):\n%s\n%s' % (
            ' '.join(args), res.returncode, res.stdout[-4000:], res.stderr[-2000:]))
    return dt, res.stdout, recap


class Lab:
    """A lab of simulated hosts in ``<tmp>/<name>``; cluster variables from ``overlay_vars``.

    ``segments``/``nodes`` are labctl's spec lists (as in a lab description file). The cluster's
    variables go to ``<lab>/../gv-<name>/all/overlay.yml``, linked by labctl as the inventory's
    group_vars. Use as a context manager: the lab is always taken down.
    """

    def __init__(self, tmp, name, segments, nodes, overlay_vars, interpreter=VENV_PY):
        self.name = name
        self.interpreter = interpreter
        self.dir = os.path.join(tmp, name)
        self.gv = os.path.join(tmp, 'gv-' + name)
        self.segments = segments
        self.nodes = nodes
        self.vars = overlay_vars
        self.inventory = os.path.join(self.dir, 'inventory.yml')
        self._pids = {}

    def write_vars(self, overlay_vars=None):
        if overlay_vars is not None:
            self.vars = overlay_vars
        os.makedirs(os.path.join(self.gv, 'all'), exist_ok=True)
        with open(os.path.join(self.gv, 'all', 'overlay.yml'), 'w', encoding='utf-8') as f:
            f.write('---\n' + json.dumps(self.vars, indent=1) + '\n')   # JSON is YAML

    def up(self):
        self.write_vars()
        spec = {'name': self.name, 'segments': self.segments, 'nodes': self.nodes,
                'python_interpreter': self.interpreter, 'group_vars': self.gv}
        out = sh([VENV_PY, LABCTL, 'up', '--dir', self.dir, '--spec', '-'], input=json.dumps(spec))
        self._pids = {}
        return json.loads(out)

    def down(self):
        if os.path.isdir(self.dir):
            subprocess.run([VENV_PY, LABCTL, 'down', '--dir', self.dir], capture_output=True, check=False)
        self._pids = {}

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()

    def pid(self, host):
        if host not in self._pids:
            path = os.path.join(self.dir, 'router' if host == 'router' else os.path.join('nodes', host), 'holder.pid')
            with open(path, encoding='ascii') as f:
                self._pids[host] = int(f.read().split()[0])
        return self._pids[host]

    def argv(self, host, cmd):
        """argv that runs CMD (a list, or a string for /bin/sh -c) inside a node."""
        if isinstance(cmd, str):
            cmd = ['/bin/sh', '-c', cmd]
        return ['nsenter', '--target', str(self.pid(host))] + NSENTER_FLAGS + ['--'] + list(cmd)

    def run(self, host, cmd, check=True, **kw):
        return sh(self.argv(host, cmd), check=check, **kw)

    def site(self, extra=(), env=None, log=None):
        """ansible-playbook -i <lab inventory> site.yml EXTRA; returns (seconds, stdout, recap)."""
        return playbook(['-i', self.inventory, 'site.yml'] + list(extra), env=env, log=log)


def seed_topology():
    """The seed's two nodes behind the router (inventories/lab/seed/lab.yml)."""
    segments = [{'name': 'seg1', 'gateway': '172.31.1.1/24'}, {'name': 'seg2', 'gateway': '192.168.1.1/24'}]
    nodes = [{'name': 'node1', 'segment': 'seg1', 'address': '172.31.1.5', 'role': 'manager', 'labels': {}},
             {'name': 'node2', 'segment': 'seg2', 'address': '192.168.1.5', 'role': 'worker', 'labels': {}}]
    return segments, nodes


def seed_vars(replicas=2):
    """The seed's cluster (inventories/lab/seed/group_vars) with a chosen replica count."""
    return {'overlay_networks': [{'name': 'uber-net'}],
            'overlay_services': [{'name': 'test', 'networks': ['uber-net'], 'replicas': replicas,
                                  'command': ['sleep', 'infinity']}]}


MOON_NETWORKS = 8


def moonshot_vars(n, grow=None):
    """Issue #11's moonshot shape: 8 networks, one service on each with N replicas (8 tasks per
    node, spread one per node); GROW names a service given one replica more."""
    nets = ['moon-net%d' % (k + 1) for k in range(MOON_NETWORKS)]
    return {'overlay_networks': [{'name': net} for net in nets],
            'overlay_services': [{'name': 'svc%d' % (k + 1), 'networks': [net],
                                  'replicas': n + (1 if grow == 'svc%d' % (k + 1) else 0),
                                  'command': ['sleep', 'infinity']} for k, net in enumerate(nets)]}


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get('TMPDIR', '/tmp'))


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# statistics and printing

def med(values):
    return statistics.median(values) if values else float('nan')


def loadavg():
    return ' '.join('%.2f' % x for x in os.getloadavg())


def header(title):
    uname = os.uname()
    print('%s\n  %s, kernel %s, %d CPUs, load average %s, %s' % (
        title, time.strftime('%Y-%m-%d %H:%M'), uname.release, os.cpu_count() or 0, loadavg(),
        'inside tests/sandbox.sh' if os.environ.get('LINUXNET_SANDBOX') == '1' else 'NOT sandboxed'))
    sys.stdout.flush()


def table(rows, heads):
    """Print a plain aligned table (rows: lists of str)."""
    widths = [max(len(str(r[i])) for r in [heads] + rows) for i in range(len(heads))]
    line = '  '.join('%%-%ds' % w for w in widths)
    print(line % tuple(heads))
    print(line % tuple('-' * w for w in widths))
    for r in rows:
        print(line % tuple(r))
    sys.stdout.flush()


def scaled_topology(n, managers=1):
    """N nodes spread round-robin over 2 segments (N <= 4), 3 (N <= 24), or one per 8 nodes beyond;
    the first MANAGERS nodes (one per segment while there are segments) are managers, the others
    workers. Why 8 beyond 24: every lab node's underlay neighbours live in the kernel's one ARP
    table, shared by all namespaces, whose gc_thresh3 (1024, settable only in the root namespace)
    caps the dynamic entries of the whole machine; 64 nodes on 3 segments need ~1400 (each node
    resolves every node of its segment) and failed with table_fulls, on 8 segments ~580. Real hosts
    each have their own table."""
    nseg = 2 if n <= 4 else 3 if n <= 24 else -(-n // 8)
    nets = ['172.31.1'] + ['192.168.%d' % k for k in range(1, nseg)]
    segments = [{'name': 'seg%d' % (k + 1), 'gateway': '%s.1/24' % nets[k]} for k in range(nseg)]
    nodes = []
    for i in range(n):
        k = i % nseg
        nodes.append({'name': 'node%d' % (i + 1), 'segment': 'seg%d' % (k + 1),
                      'address': '%s.%d' % (nets[k], 5 + i // nseg),
                      'role': 'manager' if i < managers else 'worker', 'labels': {}})
    return segments, nodes


# ---------------------------------------------------------------------------------------------
# timings written by bench/callback_plugins/bench_timer.py

TIMER_DIR = os.path.join(BENCH, 'callback_plugins')


def timer_env(path, **extra):
    """ansible_env() with the bench_timer callback writing to PATH."""
    return ansible_env(ANSIBLE_CALLBACK_PLUGINS=TIMER_DIR, ANSIBLE_CALLBACKS_ENABLED='bench_timer',
                       BENCH_TIMER_OUT=path, **extra)


def load_timing(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def task_walls(timing):
    """[(play, role, task, wall seconds, hosts)] in order: from the strategy queueing the task (or
    the first host starting it) to the last host's result."""
    order, groups = [], {}
    for rec in timing['tasks']:
        key = (rec['play'], rec['role'], rec['task'], rec['queued'])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(rec)
    out = []
    for key in order:
        recs = groups[key]
        starts = [r['start'] for r in recs if r['start']] + ([key[3]] if key[3] else [])
        ends = [r['end'] for r in recs if r['end']]
        out.append((key[0], key[1], key[2], (max(ends) - min(starts)) if starts and ends else 0.0, len(recs)))
    return out


def play_walls(timing):
    """[(play, seconds)]: each play from its start to the next play's start (the last: to the end)."""
    plays = timing['plays']
    bounds = [p['start'] for p in plays[1:]] + [timing['end']]
    return [(p['name'], b - p['start']) for p, b in zip(plays, bounds)]


def per_host_counts(timing):
    """{host: (tasks that ran or were skipped, loop items)} from the timing records."""
    out = {}
    for rec in timing['tasks']:
        t, i = out.get(rec['host'], (0, 0))
        out[rec['host']] = (t + 1, i + rec['items'])
    return out
