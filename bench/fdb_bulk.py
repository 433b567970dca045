#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bulk peer entries: 1000 VXLAN FDB entries and 1000 neighbour entries, five ways, side by side.

    bench/fdb_bulk.py [--rounds 3] [--entries 1000] [--skip-ansible]

Re-executes itself inside tests/sandbox.sh (own network/mount/pid namespaces) unless already
there. For every method and round it makes a fresh namespace with a fresh VXLAN device
(``id 4097 dstport 4789 nolearning proxy``), programs the same entries (unique MACs, 4 remote
VTEPs; neighbours: unique IPs), checks with iproute2 that exactly N entries are there, and
deletes it. Methods, rotated each round so none always runs first:

  per-process   one ``bridge fdb append`` / ``ip neigh add`` process per entry (spawned from Python)
  iproute2 -b   ``bridge -batch`` / ``ip -batch`` (one process)
  pyroute2      ``IPRoute.fdb('append')`` / ``IPRoute.neigh('add')`` one request at a time,
                socket already imported, opened in the namespace without pyroute2's helper fork
  _nlbatch      the collection's path, exactly what the module runs: validate, open the socket
                in the namespace, look up the device, probe its address family (fdb), dump,
                plan, apply the pipelined batch; then the same again on the now complete table
                (the idempotent re-run: dump 1000 entries, plan, nothing to send)
  module        ``ansible localhost -m linuxnet.overlay.fdb|neigh`` with all entries in one
                task: includes Ansible's fixed cost, shown next to the same task with no entries

Prints per-round times, medians, minimums, and the ratios of the medians against the iproute2
batch and against one-process-per-entry. The machine this was written on is shared (other jobs
run), so look at the load average in the header line and at the minimums too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
SANDBOX = os.path.join(ROOT, 'tests', 'sandbox.sh')
VENV_PY = os.environ.get('LINUXNET_OVERLAY_PYTHON', os.path.join(ROOT, '.venv', 'bin', 'python'))


def reexec_in_sandbox():
    if os.environ.get('LINUXNET_SANDBOX') == '1':
        return
    python = VENV_PY if os.path.exists(VENV_PY) else sys.executable
    os.execv(SANDBOX, [SANDBOX, python, os.path.abspath(__file__)] + sys.argv[1:])


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, capture_output=True, text=True, **kw).stdout


# ---------------------------------------------------------------------------------------------
# fixtures

class Fresh:
    """A fresh namespace holding vx0 (VNI 4097, port 4789, nolearning proxy)."""

    counter = 0

    def __enter__(self):
        Fresh.counter += 1
        self.ns = 'bench-%d' % Fresh.counter
        sh('ip netns add %s && ip -n %s link set lo up' % (self.ns, self.ns))
        sh('ip -n %s link add vx0 type vxlan id 4097 dstport 4789 nolearning proxy' % self.ns)
        sh('ip -n %s link set vx0 up' % self.ns)
        return self.ns

    def __exit__(self, *exc):
        subprocess.run(['ip', '-n', self.ns, 'link', 'del', 'vx0'], check=False, capture_output=True)
        subprocess.run(['ip', 'netns', 'del', self.ns], check=False, capture_output=True)


def fdb_count(ns):
    return sum(1 for e in json.loads(sh('bridge -n %s -j fdb show dev vx0' % ns) or '[]')
               if e.get('dst') and 'self' in e.get('flags', []))


def neigh_count(ns):
    return len(json.loads(sh('ip -n %s -j neigh show dev vx0 nud permanent' % ns) or '[]'))


def fdb_entries(n):
    return [{'mac': '02:42:0b:00:%02x:%02x' % (i // 256, i % 256), 'dst': '192.168.1.%d' % (5 + i % 4)}
            for i in range(n)]


def neigh_entries(n):
    return [{'ip': '10.1.%d.%d' % (i // 250, 1 + i % 250), 'mac': '02:42:0b:00:%02x:%02x' % (i // 256, i % 256)}
            for i in range(n)]


# ---------------------------------------------------------------------------------------------
# methods: each takes (ns, entries) and returns seconds

def fdb_per_process(ns, entries):
    t0 = time.perf_counter()
    for e in entries:
        subprocess.run(['bridge', '-n', ns, 'fdb', 'append', e['mac'], 'dev', 'vx0', 'dst', e['dst'],
                        'self', 'permanent'], check=True)
    return time.perf_counter() - t0


def fdb_iproute2_batch(ns, entries, tmp):
    path = os.path.join(tmp, 'fdb.batch')
    with open(path, 'w', encoding='ascii') as f:
        for e in entries:
            f.write('fdb append %s dev vx0 dst %s self permanent\n' % (e['mac'], e['dst']))
    t0 = time.perf_counter()
    subprocess.run(['bridge', '-n', ns, '-batch', path], check=True)
    return time.perf_counter() - t0


def fdb_pyroute2(ns, entries):
    from pyroute2 import IPRoute
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns

    t0 = time.perf_counter()
    with _netns.entered(ns):
        ipr = IPRoute()
    with ipr:
        idx = ipr.link_lookup(ifname='vx0')[0]
        for e in entries:
            ipr.fdb('append', ifindex=idx, lladdr=e['mac'], dst=e['dst'])
    return time.perf_counter() - t0


def nlbatch_run(ns, entries, kind):
    """Exactly the module's netlink part (fdb.py / neigh.py main() minus AnsibleModule)."""
    from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _entries
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _rtnl

    t0 = time.perf_counter()
    if kind == 'fdb':
        wanted, errors = _entries.validate_fdb(entries)
    else:
        wanted, errors = _entries.validate_neigh(entries)
    assert not errors, errors
    with _rtnl.Socket(ns) as sock:
        dev = _rtnl.get_link(sock, 'vx0')
        if kind == 'fdb':
            refused = _rtnl.fdb_refused_families(sock, dev['ifindex'], (e['dst'] for e in wanted))
            assert not _entries.check_fdb_device(wanted, dev, 'present', refused)
            plan = _entries.plan_fdb(wanted, _rtnl.fdb_dump(sock, dev['ifindex']), dev)
            msgs = [_rtnl.fdb_message(op, dev['ifindex'], e['mac'], e['dst'], e['port'], e['vni'], e.get('via'))
                    for op, e in plan['ops']]
        else:
            plan = _entries.plan_neigh(wanted, _rtnl.neigh_dump(sock, dev['ifindex']))
            msgs = [_rtnl.neigh_message(op, dev['ifindex'], e['ip'], e['mac']) for op, e in plan['ops']]
        t1 = time.perf_counter()
        failures = sock.batch(msgs) if msgs else []
        t2 = time.perf_counter()
    assert not failures, failures[:3]
    nlbatch_run.apply_only = t2 - t1
    nlbatch_run.sent = len(msgs)
    return t2 - t0


def module_run(ns, entries, kind, tmp):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.build'),
        'ANSIBLE_LOCAL_TEMP': os.path.join(tmp, 'ansible-local'),
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
    })
    ansible = os.path.join(os.path.dirname(VENV_PY), 'ansible')
    args = json.dumps({'netns': ns, 'device': 'vx0', 'entries': entries})
    cmd = [ansible, 'all', '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=' + VENV_PY,
           '-m', 'linuxnet.overlay.' + kind, '-a', args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError('ansible failed: %s%s' % (proc.stdout[-2000:], proc.stderr[-2000:]))
    return took


def neigh_per_process(ns, entries):
    t0 = time.perf_counter()
    for e in entries:
        subprocess.run(['ip', '-n', ns, 'neigh', 'add', e['ip'], 'lladdr', e['mac'], 'dev', 'vx0',
                        'nud', 'permanent'], check=True)
    return time.perf_counter() - t0


def neigh_iproute2_batch(ns, entries, tmp):
    path = os.path.join(tmp, 'neigh.batch')
    with open(path, 'w', encoding='ascii') as f:
        for e in entries:
            f.write('neigh add %s lladdr %s dev vx0 nud permanent\n' % (e['ip'], e['mac']))
    t0 = time.perf_counter()
    subprocess.run(['ip', '-n', ns, '-batch', path], check=True)
    return time.perf_counter() - t0


def neigh_pyroute2(ns, entries):
    from pyroute2 import IPRoute
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns

    t0 = time.perf_counter()
    with _netns.entered(ns):
        ipr = IPRoute()
    with ipr:
        idx = ipr.link_lookup(ifname='vx0')[0]
        for e in entries:
            ipr.neigh('add', ifindex=idx, dst=e['ip'], lladdr=e['mac'], state='permanent')
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------

def run_suite(kind, n, rounds, tmp, skip_ansible):
    entries = fdb_entries(n) if kind == 'fdb' else neigh_entries(n)
    count = fdb_count if kind == 'fdb' else neigh_count
    batch_name = 'bridge -batch' if kind == 'fdb' else 'ip -batch'
    proc_name = '%s per entry' % ('bridge fdb append' if kind == 'fdb' else 'ip neigh add')
    methods = [
        (proc_name, lambda ns: (fdb_per_process if kind == 'fdb' else neigh_per_process)(ns, entries)),
        (batch_name, lambda ns: (fdb_iproute2_batch if kind == 'fdb' else neigh_iproute2_batch)(ns, entries, tmp)),
        ('pyroute2, 1 request at a time', lambda ns: (fdb_pyroute2 if kind == 'fdb' else neigh_pyroute2)(ns, entries)),
        ('_nlbatch (module path)', lambda ns: nlbatch_run(ns, entries, kind)),
    ]
    if not skip_ansible:
        methods.append(('module via ansible, %d entries' % n, lambda ns: module_run(ns, entries, kind, tmp)))
        methods.append(('module via ansible, 0 entries', lambda ns: module_run(ns, [], kind, tmp)))
    times = {name: [] for name, _fn in methods}
    apply_only, rerun = [], []
    for r in range(rounds):
        order = methods[r % len(methods):] + methods[:r % len(methods)]
        for name, fn in order:
            with Fresh() as ns:
                took = fn(ns)
                got = count(ns)
                want = 0 if name.endswith(' 0 entries') else n
                if got != want:
                    raise SystemExit('%s round %d left %d entries, expected %d' % (name, r + 1, got, want))
                times[name].append(took)
                if name.startswith('_nlbatch'):
                    apply_only.append(nlbatch_run.apply_only)
                    # the same task again: read 1000 entries, plan, nothing to send
                    rerun.append(nlbatch_run(ns, entries, kind))
                    assert nlbatch_run.sent == 0 and count(ns) == n
    return methods, times, apply_only, rerun, batch_name, proc_name


def report(kind, n, methods, times, apply_only, rerun, batch_name, proc_name):
    med = {name: statistics.median(v) for name, v in times.items()}
    base, slow = med[batch_name], med[proc_name]
    rounds = len(next(iter(times.values())))
    title = '%d %s entries on one VXLAN device (fresh device per method and round; all left exactly %d)' % (
        n, 'FDB' if kind == 'fdb' else 'neighbour', n)
    print('\n' + title)
    head = '%-34s %s %10s %10s %12s %12s' % (
        'method', ' '.join('%9s' % ('round %d' % (i + 1)) for i in range(rounds)), 'median', 'min',
        'x %s' % ('bridge -b' if kind == 'fdb' else 'ip -b'), 'vs per-entry')
    print(head)
    print('-' * len(head))
    rows = [(name, times[name]) for name, _fn in methods]
    rows.insert(4, ('  of which apply (batch) only', apply_only))
    rows.insert(5, ('_nlbatch re-run, nothing to change', rerun))
    for name, vals in rows:
        m = statistics.median(vals)
        print('%-34s %s %8.1f ms %7.1f ms %11.2fx %11.4fx' % (
            name, ' '.join('%6.1f ms' % (v * 1e3) for v in vals), m * 1e3, min(vals) * 1e3, m / base, m / slow))
    return med


def main():
    reexec_in_sandbox()
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--entries', type=int, default=1000)
    parser.add_argument('--skip-ansible', action='store_true', help='leave out the whole-module runs')
    opts = parser.parse_args()
    sys.path.insert(0, os.path.join(ROOT, '.build'))
    import pyroute2  # noqa: F401  (imported once, outside the timings)
    from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _entries  # noqa: F401
    from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _rtnl  # noqa: F401

    print('kernel %s, %d CPUs, python %s, pyroute2 %s, %s, load average %s' % (
        os.uname().release, os.cpu_count(), sys.version.split()[0], pyroute2.__version__,
        sh('bridge -V').strip(), ' '.join('%.2f' % x for x in os.getloadavg())))
    tmp = tempfile.mkdtemp(prefix='fdb-bench-')
    try:
        for kind in ('fdb', 'neigh'):
            res = run_suite(kind, opts.entries, opts.rounds, tmp, opts.skip_ansible)
            report(kind, opts.entries, *res)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
