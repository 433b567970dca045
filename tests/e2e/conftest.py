# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the end-to-end suite: ``site.yml`` on simulated hosts, checked as a user would.

Runs as root inside the sandbox (its own network, mount and PID namespaces), where the lab's
holders live and die with it:

    tests/sandbox.sh python -m pytest -q tests/e2e

* ``make_lab(base, group_vars=..., host_vars=...)`` (module scope): writes a lab description and
  its ``group_vars`` into the module's tmp dir, derived from ``inventories/lab/<base>``, brings
  the lab up, and ALWAYS brings it down afterwards (also when a test or the fixture fails).
* ``Lab.play(...)``: ``ansible-playbook site.yml`` with extra vars, replaced group_vars, host
  vars, another inventory, ``--check``/``--diff``; returns a ``Play`` with the PLAY RECAP parsed
  per host and helpers to read the ``debug`` reports.
* ``Lab.start_play(...)``: the same in the background (``RunningPlay``: ``wait_for(regex)``,
  ``kill(signal)``, ``wait()``); ``Lab.kill(node, wipe=False)``: power a node off (labctl kill).
* ``Lab.sh(node, script)`` / ``Lab.exec(node, argv)``: a command on a node through
  ``roles/lab/files/labctl exec``; ``Lab.snapshot(node)``: what the node's kernel and files hold,
  read with ``ip -j``, ``bridge -j``, ``ss`` and ``/proc`` in one process (``_node_snapshot.py``).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PYTHON = os.environ.get('LINUXNET_OVERLAY_PYTHON', os.path.join(ROOT, '.venv', 'bin', 'python'))
BIN = os.path.dirname(PYTHON)
LABCTL = os.path.join(ROOT, 'roles', 'lab', 'files', 'labctl')
SNAPSHOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_node_snapshot.py')
INVENTORIES = os.path.join(ROOT, 'inventories', 'lab')
SITE = os.path.join(ROOT, 'site.yml')
# A whole site.yml run on the large lab takes about 40 s on an idle 2-core machine; a hung run
# must not hang the suite.
PLAY_TIMEOUT = 600

pytestmark = pytest.mark.skipif(
    os.environ.get('LINUXNET_SANDBOX') != '1' or os.geteuid() != 0,
    reason='end-to-end tests run as root inside tests/sandbox.sh (private network/mount/pid namespaces)')


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.fspath and str(item.fspath).startswith(os.path.dirname(os.path.abspath(__file__))):
            item.add_marker(pytestmark)


def env():
    e = dict(os.environ)
    e.update({
        'PATH': BIN + os.pathsep + e.get('PATH', ''),
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.build'),
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_STDOUT_CALLBACK': 'default',
        'ANSIBLE_CALLBACK_RESULT_FORMAT': 'yaml',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'PWD': ROOT,
    })
    return e


def run(argv, check=True, timeout=PLAY_TIMEOUT, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env(), cwd=ROOT,
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError('%s failed (%d):\n%s\n%s' % (' '.join(argv), proc.returncode,
                                                          proc.stdout[-6000:], proc.stderr[-3000:]))
    return proc


# pids of the runs Lab.start_play started: their own RunningPlay.wait() collects their exit status
RUNNING = set()


def _children():
    """The pids whose parent is this process (read from /proc: no /proc/<pid>/task/*/children here)."""
    me, out = os.getpid(), []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, encoding='utf-8', errors='replace') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me:
            out.append(int(name))
    return out


def reap():
    """Inside the sandbox pytest is PID 1: reap the orphans (lab holders' unshare processes).

    Never a run that Lab.start_play is still tracking: waiting on any child (waitpid(-1)) would
    take that run's exit status, and its Popen would then report rc 0 for a failed run."""
    for pid in _children():
        if pid in RUNNING:
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


RECAP_RE = re.compile(r'^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)'
                      r'\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)', re.M)


def parse_recap(out):
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from PLAY RECAP."""
    _head, sep, tail = out.rpartition('PLAY RECAP')
    assert sep, 'no PLAY RECAP in the output:\n%s' % out[-4000:]
    keys = ('ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored')
    return {m.group(1): dict(zip(keys, (int(g) for g in m.groups()[1:]))) for m in RECAP_RE.finditer(tail)}


class Play:
    """One ansible-playbook run: return code, output, the recap per host."""

    def __init__(self, argv, proc, seconds):
        self.argv = argv
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.seconds = seconds
        self.recap = parse_recap(proc.stdout) if 'PLAY RECAP' in proc.stdout else {}

    def __repr__(self):
        return '<Play rc=%d %.1fs recap=%s>' % (self.rc, self.seconds, self.recap)

    def tail(self, n=8000):
        return '%s\n--- stderr ---\n%s' % (self.out[-n:], self.err[-2000:])

    @property
    def changed(self):
        return {h: r['changed'] for h, r in self.recap.items()}

    def assert_ok(self):
        assert self.rc == 0 and self.recap and all(r['failed'] == 0 and r['unreachable'] == 0
                                                   for r in self.recap.values()), \
            'ansible-playbook %s failed (rc %d):\n%s\n--- the failures ---\n%s' % (
                ' '.join(self.argv[1:]), self.rc, self.tail(), self.failures()[:6000])
        return self

    def failures(self):
        """The task headers and bodies of every failed or unreachable result, as one text."""
        out = []
        for block in re.split(r'^(?=TASK \[|PLAY \[|PLAY RECAP)', self.out, flags=re.M):
            if re.search(r'^(fatal|failed): \[|UNREACHABLE!', block, re.M):
                out.append(block.strip()[:3000])
        return '\n'.join(out)

    def assert_unchanged(self):
        self.assert_ok()
        assert set(self.changed.values()) == {0}, 'expected changed=0 on every host, got %s:\n%s' % (
            self.changed, '\n'.join(changed_tasks(self.out)) or self.tail())
        return self

    def task_results(self, task):
        """The YAML results printed for the task whose header contains ``task``:
        a list of (status, host, item label or None, dict)."""
        out = []
        for block in re.split(r'^(?=TASK \[|PLAY \[|PLAY RECAP)', self.out, flags=re.M):
            if not block.startswith('TASK [') or task not in block.splitlines()[0]:
                continue
            # ok: [h] => (item=x) =>   changed: [h]   failed: [h] (item=x) =>   fatal: [h -> d]: FAILED! =>
            for m in re.finditer(r'^(ok|changed|failed|fatal|skipping): \[([^\]]+)\](?:: [A-Z]+!)?'
                                 r'(?: (?:=> )?\(item=(.*?)\))?(?: => ?)?\n((?:(?:    .*)?\n)*)', block, re.M):
                body = m.group(4)
                data = yaml.safe_load(body) if body.strip() else None
                out.append((m.group(1), m.group(2), m.group(3), data if isinstance(data, dict) else {}))
        return out

    def changed_results(self):
        """Every ``changed`` result with the play it ran in and the diff printed right before it:
        a list of (play, host, diff text + the status line, which names the loop item). With ``--diff`` the default callback prints each host's
        diff just before that host's status line, so the text between two status lines of a task
        is the diff of the second one."""
        out, play = [], None
        for block in re.split(r'^(?=TASK \[|PLAY \[|PLAY RECAP|RUNNING HANDLER \[)', self.out, flags=re.M):
            if block.startswith('PLAY ['):
                play = block.splitlines()[0]
                continue
            if not block.startswith(('TASK [', 'RUNNING HANDLER [')):
                continue
            body = block.split('\n', 1)[1] if '\n' in block else ''
            pending = []
            for line in body.splitlines():
                m = re.match(r'^(ok|changed|failed|fatal|skipping): \[([^\]]+?)(?: -> [^\]]+)?\]', line)
                if m:
                    if m.group(1) == 'changed':        # the diff, then the status line (it names the item)
                        out.append((play, m.group(2), '\n'.join(pending + [line])))
                    pending = []
                elif not line.startswith('    '):       # the result's YAML is indented; diffs are not
                    pending.append(line)
        return out

    def debug_msgs(self, task):
        """The ``msg`` of every ``debug`` result of a task, each joined into one text."""
        msgs = []
        for _status, _host, _item, data in self.task_results(task):
            msg = data.get('msg')
            if msg is not None:
                msgs.append('\n'.join(msg) if isinstance(msg, list) else str(msg))
        return msgs


def changed_tasks(out):
    """Lines naming what changed, for a readable failure message."""
    lines, task = [], None
    for line in out.splitlines():
        if line.startswith('TASK ['):
            task = line
        elif line.startswith('changed:'):
            lines.append('%s\n    %s' % (task, line))
    return lines


def load_yaml(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def dump_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('---\n')
        yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)


class Lab:
    """A lab made from inventories/lab/<base>, in its own folder, reached through labctl."""

    def __init__(self, path, base, group_vars=None, nodes=None):
        self.path = path                                # the description's folder
        self.base = base
        self.description = os.path.join(path, 'lab.yml')
        self.dir = os.path.join(path, 'lab')            # the lab folder (holders, inventory)
        self.inventory = os.path.join(self.dir, 'inventory.yml')
        spec = load_yaml(os.path.join(INVENTORIES, base, 'lab.yml'))
        spec['lab_name'] = 'e2e-%s' % base
        if nodes is not None:
            spec['lab_nodes'] = [n for n in spec['lab_nodes'] if n['name'] in nodes]
        self.spec = spec
        dump_yaml(self.description, spec)
        self.default_group_vars = load_yaml(os.path.join(INVENTORIES, base, 'group_vars', 'all', 'overlay.yml'))
        self.set_group_vars(self.default_group_vars if group_vars is None else group_vars)
        os.makedirs(os.path.join(path, 'host_vars'), exist_ok=True)
        self.plays = []
        self.is_up = False

    # -- the lab -------------------------------------------------------------------------------
    @property
    def nodes(self):
        """The cluster nodes (the lab's client hosts are not: see ``clients``)."""
        return [n['name'] for n in self.spec['lab_nodes'] if n.get('role') != 'client']

    @property
    def clients(self):
        return [n['name'] for n in self.spec['lab_nodes'] if n.get('role') == 'client']

    def node(self, name):
        return next(n for n in self.spec['lab_nodes'] if n['name'] == name)

    def _lab_playbook(self, which):
        proc = run([os.path.join(BIN, 'ansible-playbook'), 'linuxnet.overlay.' + which,
                    '-e', 'lab_description=' + self.description, '-e', 'lab_dir=' + self.dir])
        recap = parse_recap(proc.stdout)
        assert recap['localhost']['failed'] == 0, proc.stdout

    def up(self):
        self._lab_playbook('lab_up')
        self.is_up = True

    def down(self):
        try:
            if os.path.isdir(self.dir):
                self._lab_playbook('lab_down')
        finally:
            self.is_up = False
            reap()

    # -- variables -----------------------------------------------------------------------------
    def set_group_vars(self, data):
        """Replace group_vars/all/overlay.yml (the lab links this folder next to its inventory)."""
        dump_yaml(os.path.join(self.path, 'group_vars', 'all', 'overlay.yml'), data)

    def set_host_vars(self, host, data):
        """Write (or with None, remove) host_vars/<host>.yml."""
        p = os.path.join(self.path, 'host_vars', host + '.yml')
        if data is None:
            if os.path.exists(p):
                os.unlink(p)
        else:
            dump_yaml(p, data)

    def inventory_without(self, *hosts):
        """A second inventory next to the generated one (so group_vars apply) without ``hosts``."""
        inv = copy.deepcopy(load_yaml(self.inventory))

        def prune(group):
            for h in hosts:
                (group.get('hosts') or {}).pop(h, None)
            for child in (group.get('children') or {}).values():
                if isinstance(child, dict):
                    prune(child)
        for group in inv.values():
            prune(group)
        path = os.path.join(self.dir, 'inventory-without-%s.yml' % '-'.join(hosts))
        dump_yaml(path, inv)
        return path

    # -- ansible-playbook ----------------------------------------------------------------------
    def play(self, extra_vars=None, check=False, diff=False, inventory=None, group_vars=None,
             playbook=SITE, args=()):
        """Run a playbook (site.yml) against the lab; returns a Play (never raises on failure)."""
        if group_vars is not None:
            self.set_group_vars(group_vars)
        argv = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory or self.inventory, playbook]
        if extra_vars:
            ev = os.path.join(self.path, 'extra-vars-%d.json' % len(self.plays))
            with open(ev, 'w', encoding='utf-8') as f:
                json.dump(extra_vars, f)
            argv += ['-e', '@' + ev]
        if check:
            argv.append('--check')
        if diff:
            argv.append('--diff')
        argv += list(args)
        t0 = time.monotonic()
        proc = run(argv, check=False)
        p = Play(argv, proc, time.monotonic() - t0)
        self.plays.append(p)
        reap()
        return p

    # -- the nodes -----------------------------------------------------------------------------
    def exec(self, node, argv, check=True):
        proc = run([PYTHON, LABCTL, 'exec', '--dir', self.dir, node, '--'] + list(argv), check=check, timeout=120)
        return proc if not check else proc.stdout

    def sh(self, node, script, check=True):
        return self.exec(node, ['/bin/sh', '-c', script], check=check)

    def snapshot(self, node):
        # the source goes in argv: a node has its own /tmp, where a checkout under /tmp is not
        with open(SNAPSHOT, encoding='utf-8') as f:
            source = f.read()
        return Snapshot(json.loads(self.exec(node, [PYTHON, '-c', source])))

    def snapshots(self):
        return {n: self.snapshot(n) for n in self.nodes}

    def start_play(self, extra_vars=None, check=False, diff=False, inventory=None, playbook=SITE, args=()):
        """Start ``ansible-playbook`` in the background (its own process group); returns a
        RunningPlay whose output goes to a file that the test can watch."""
        argv = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory or self.inventory, playbook]
        if extra_vars:
            ev = os.path.join(self.path, 'extra-vars-bg-%d.json' % len(self.plays))
            with open(ev, 'w', encoding='utf-8') as f:
                json.dump(extra_vars, f)
            argv += ['-e', '@' + ev]
        argv += (['--check'] if check else []) + (['--diff'] if diff else []) + list(args)
        return RunningPlay(self, argv)

    def kill(self, node, wipe=False):
        """Power a node off (labctl kill); with ``wipe`` its disk is erased too. ``up()`` brings
        it back (empty)."""
        out = json.loads(run([PYTHON, LABCTL, 'kill', '--dir', self.dir, node] + (['--wipe'] if wipe else [])).stdout)
        reap()
        return out

    def cluster_state(self, node):
        text = self.sh(node, 'cat /var/lib/linuxnet-overlay/cluster.json 2>/dev/null || true')
        return json.loads(text) if text.strip() else None


class RunningPlay:
    """An ansible-playbook started by Lab.start_play: wait for a line, signal it, or wait for its end."""

    def __init__(self, lab, argv):
        self.lab, self.argv = lab, argv
        self.log = os.path.join(lab.path, 'bg-play-%d-%d.log' % (len(lab.plays), time.monotonic_ns()))
        self.t0 = time.monotonic()
        with open(self.log, 'w', encoding='utf-8') as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True, env=env(),
                                         cwd=ROOT, start_new_session=True)
        RUNNING.add(self.proc.pid)

    @property
    def out(self):
        with open(self.log, encoding='utf-8', errors='replace') as f:
            return f.read()

    def wait_for(self, pattern, timeout=PLAY_TIMEOUT):
        """Wait until the output matches ``pattern`` (a regex); fail if the run ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.out
            if re.search(pattern, out, re.M):
                return out
            if self.proc.poll() is not None:
                raise AssertionError('the run ended (rc %s) before printing %r:\n%s' % (self.proc.returncode, pattern, out[-6000:]))
            time.sleep(0.05)
        raise AssertionError('no %r within %s s:\n%s' % (pattern, timeout, self.out[-6000:]))

    def kill(self, sig):
        """Send ``sig`` to the run's whole process group (as a CI runner cancelling a job does)."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout=PLAY_TIMEOUT):
        """Wait for the end; returns a Play (never raises on failure)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(9)
            self.proc.wait(10)
        RUNNING.discard(self.proc.pid)
        proc = subprocess.CompletedProcess(self.argv, self.proc.returncode, self.out, '')
        p = Play(self.argv, proc, time.monotonic() - self.t0)
        self.lab.plays.append(p)
        reap()
        return p


# --------------------------------------------------------------------------------------------
# reading a node snapshot
# --------------------------------------------------------------------------------------------

SANDBOX_RE = re.compile(r'^ov-[0-9a-z]{10}$')
TASK_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_-]*\.([0-9]+|[0-9a-z]{25})\.[0-9a-z]{25}$')


class Snapshot(dict):
    """A node's state as _node_snapshot.py read it, with a few views."""

    @property
    def sandboxes(self):
        return sorted(n for n in self['netns'] if SANDBOX_RE.match(n))

    @property
    def tasks(self):
        return sorted(n for n in self['netns'] if TASK_RE.match(n))

    def link(self, ns, name):
        links = self['ns'][ns]['links'] if ns else self['links']
        return next((li for li in links if li['ifname'] == name), None)

    def links_of_kind(self, kind):
        """(namespace or None, link) of every link of that kind, in every namespace of the node."""
        out = [(None, li) for li in self['links'] if li.get('linkinfo', {}).get('info_kind') == kind]
        for ns, data in self['ns'].items():
            out += [(ns, li) for li in data['links'] if li.get('linkinfo', {}).get('info_kind') == kind]
        return out

    def addresses(self, ns, name):
        for a in self['ns'][ns]['addrs'] if ns else []:
            if a['ifname'] == name:
                return ['%s/%d' % (i['local'], i['prefixlen']) for i in a.get('addr_info', []) if i['family'] == 'inet']
        return []

    def neigh(self, ns, dev=None):
        """Permanent neighbour entries: {(dev, ip): mac}."""
        return {(n['dev'], n['dst']): n.get('lladdr') for n in self['ns'][ns]['neigh']
                if 'PERMANENT' in n.get('state', []) and (dev is None or n['dev'] == dev)}

    def fdb(self, ns, dev=None):
        """Remote FDB entries on VXLAN devices: {(dev, mac): dst}."""
        return {(e['ifname'], e['mac']): e['dst'] for e in self['ns'][ns]['fdb']
                if 'dst' in e and (dev is None or e['ifname'] == dev)}

    def port_fdb(self, ns, dev):
        """The bridge's own entries on its port ``dev``: {mac: 'static' or 'learned'}; the kernel's
        permanent entry for the port's own MAC left out."""
        return {e['mac']: e.get('state') or 'learned' for e in self['ns'][ns]['fdb']
                if e['ifname'] == dev and 'master' in e and 'self' not in e.get('flags', [])
                and e.get('state') != 'permanent'}

    def macs_anywhere(self):
        """Every MAC in any FDB entry (learned, static, or the VTEPs' own) or neighbour entry of any
        namespace of the node, but the bridges' permanent entries for their ports' own MACs."""
        out = set()
        for data in self['ns'].values():
            out |= {e['mac'] for e in data['fdb'] if e.get('state') != 'permanent' or 'self' in e.get('flags', [])}
            out |= {n['lladdr'] for n in data['neigh'] if n.get('lladdr')}
        return out

    def all_peer_entries(self):
        """Every permanent neighbour and remote FDB entry in every namespace: [(ns, kind, key, value)]."""
        out = []
        for ns in self['ns']:
            out += [(ns, 'neigh', k, v) for k, v in self.neigh(ns).items()]
            out += [(ns, 'fdb', k, v) for k, v in self.fdb(ns).items()]
        return out

    def processes_in(self, ns):
        inode = self['ns'][ns]['inode']
        return [p for p in self['processes'] if p['net'] == inode]

    def foreign_processes(self):
        """Processes whose network namespace is not the node's own."""
        return [p for p in self['processes'] if p['net'] != self['self_net']]

    def stray_processes(self):
        """Processes that are neither the node's PID 1, nor the snapshot itself, nor in a task
        namespace (a task's command): leftovers of an interrupted run or of a removed task."""
        tasks = {self['ns'][t]['inode'] for t in self.tasks}
        return [p for p in self['processes']
                if p['pid'] not in (1, self.get('self_pid')) and p['net'] not in tasks]

    def task_eth(self, task, ifname='eth0'):
        li = self.link(task, ifname)
        return {'mac': li['address'], 'mtu': li['mtu'], 'addresses': self.addresses(task, ifname)} if li else None


def vxlan_data(link):
    return link['linkinfo']['info_data']


def tasks_by_service(snaps):
    """{service: {task name: node}} from the namespaces on the nodes."""
    out = {}
    for node, snap in snaps.items():
        for t in snap.tasks:
            out.setdefault(t.split('.')[0], {})[t] = node
    return out


# a task's way out (the node's gateway bridge): the same subnet on every node, not an overlay address
GATEWAY_SUBNET = ipaddress.ip_network('172.18.0.0/16')


def is_way_out(cidr):
    return ipaddress.ip_address(cidr.split('/')[0]) in GATEWAY_SUBNET


def task_addresses(snaps):
    """{ip: (node, mac, task)} of every task interface on the overlays; an address twice fails."""
    out = {}
    for node, snap in snaps.items():
        for t in snap.tasks:
            for li in snap['ns'][t]['links']:
                if li['ifname'].startswith('eth'):
                    for a in snap.addresses(t, li['ifname']):
                        if is_way_out(a):
                            continue
                        ip = a.split('/')[0]
                        assert ip not in out, 'address %s twice: %s and %s' % (ip, out[ip], (node, t))
                        out[ip] = (node, li['address'], t)
    return out


def assert_peers_exact(lab, snaps):
    """Each sandbox VTEP holds exactly one neighbour and one FDB entry per remote task interface
    of its subnet, pointing at that task's node; no peer entry exists anywhere else."""
    addrs = task_addresses(snaps)
    for node, snap in snaps.items():
        seen = set()
        for sb in snap.sandboxes:
            for li in snap['ns'][sb]['links']:
                if li.get('linkinfo', {}).get('info_kind') != 'bridge':
                    continue
                (cidr,) = snap.addresses(sb, li['ifname'])
                net = ipaddress.ip_network(cidr, strict=False)
                vx = 'vxlan' + li['ifname'][2:]
                remote = {ip: v for ip, v in addrs.items() if ipaddress.ip_address(ip) in net and v[0] != node}
                assert snap.neigh(sb, vx) == {(vx, ip): mac for ip, (_n, mac, _t) in remote.items()}, (node, sb, vx)
                assert snap.fdb(sb, vx) == {(vx, mac): lab.node(n)['address'] for n, mac, _t in remote.values()}, \
                    (node, sb, vx)
                # the bridge learns nothing on the VTEP port: one static entry per remote MAC
                assert snap.port_fdb(sb, vx) == {mac: 'static' for _n, mac, _t in remote.values()}, (node, sb, vx)
                seen |= {(sb, vx)}
        seen |= assert_task_neighbours_exact(snap, addrs, node)
        extra = [e for e in snap.all_peer_entries() if (e[0], e[2][0]) not in seen]
        assert not extra, (node, extra)


def assert_task_neighbours_exact(snap, addrs, node):
    """Each task interface holds exactly one permanent neighbour entry per other task interface of
    its subnet (local or remote), so no task ever ARPs; returns the (task, ifname) pairs checked."""
    seen = set()
    for t in snap.tasks:
        for li in snap['ns'][t]['links']:
            if not li['ifname'].startswith('eth'):
                continue
            for cidr in snap.addresses(t, li['ifname']):
                if is_way_out(cidr):          # its gateway is learned by ARP, as on any LAN
                    continue
                net = ipaddress.ip_network(cidr, strict=False)
                own = cidr.split('/')[0]
                want = {(li['ifname'], ip): mac for ip, (_n, mac, _t) in addrs.items()
                        if ipaddress.ip_address(ip) in net and ip != own}
                assert snap.neigh(t, li['ifname']) == want, (node, t, li['ifname'])
            seen.add((t, li['ifname']))
    return seen


def assert_nothing_stray(snaps):
    """Every namespace is a sandbox or a task, every task has its runtime folder and hosts file
    and its command running exactly once, every veth in a sandbox belongs to a task, and no other
    process runs on the node."""
    for node, snap in snaps.items():
        # the routing mesh's endpoint (a service publishes in mode ingress): a task without a process
        # or a hosts file of its own
        ep = ['ingress-sbox'] if 'ingress-sbox' in snap['netns'] else []
        assert sorted(snap['netns']) == sorted(snap.sandboxes + snap.tasks + ep), (node, snap['netns'])
        assert sorted(snap['etc_netns'] or []) == snap.tasks, (node, snap['etc_netns'], snap.tasks)
        assert sorted(snap['runtime'] or []) == sorted(snap.tasks + ep), (node, snap['runtime'], snap.tasks)
        for t in snap.tasks:
            assert len(snap.processes_in(t)) == 1, (node, t, snap.processes_in(t))
        assert snap.stray_processes() == [], (node, snap.stray_processes())
        task_ifs = sum(len([li for li in snap['ns'][t]['links'] if li['ifname'] != 'lo']) for t in snap.tasks + ep)
        veths = [(ns, li['ifname']) for ns, li in snap.links_of_kind('veth') if ns in snap.sandboxes]
        # a task's way out is a veth on the gateway bridge in the node's namespace
        way_out = [li['ifname'] for li in snap['links'] if li['ifname'].startswith('vgw')]
        assert len(veths) + len(way_out) == task_ifs, (node, veths, way_out, snap.tasks)
        own = sorted(li['ifname'] for li in snap['links'] if not li['ifname'].startswith('vgw'))
        assert own == (['eth0', 'lo', 'ov-gwbridge'] if way_out else ['eth0', 'lo']), (node, snap['links'])
        assert not [p for p in snap['state_files'] if p.endswith('.tmp')], (node, snap['state_files'])


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def make_lab(tmp_path_factory):
    """make_lab(base, group_vars=None, nodes=None) -> a Lab that is up; every lab made is brought
    down when the module's tests are done, also when they or the fixture failed."""
    labs = []

    def factory(base, group_vars=None, nodes=None):
        path = str(tmp_path_factory.mktemp('e2e-%s' % base))
        lab = Lab(path, base, group_vars=group_vars, nodes=nodes)
        labs.append(lab)
        lab.up()
        return lab

    try:
        yield factory
    finally:
        errors = []
        for lab in reversed(labs):
            try:
                lab.down()
            except (AssertionError, OSError, subprocess.SubprocessError) as exc:  # bring every lab down
                errors.append('%s: %s' % (lab.dir, exc))
            shutil.rmtree(lab.path, ignore_errors=True)
        assert not errors, 'lab_down failed: %s' % '; '.join(errors)
