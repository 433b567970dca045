# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One service task on a node (the logic of the ``task`` module): its namespace, hosts file, veth
interfaces (``_veth.converge``, the code of the ``veth`` module) and command, in that order.

``converge(params, check_mode, diff)`` returns the module result for one task; ``converge_all`` for
every task of a node in one run (the ``tasks`` option: one module process per node instead of one
per task, see bench/scale.py), removing the tasks not listed. Errors raise ``TaskError`` with the
actions already done. ``validate_interfaces``, ``validate_tasks`` and ``plan_stale`` are pure
(tests/unit/test_sandbox.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan
from ansible_collections.linuxnet.overlay.plugins.module_utils import imageref as _imageref
from ansible_collections.linuxnet.overlay.plugins.module_utils import restart as _restart

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import procs as _procs
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _peerdb
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import nft as _nft
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import container as _container
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import ingress as _ingress
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import supervise as _supervise
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import unit as _unit
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import veth as _veth
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import vip as _vip
from ansible_collections.linuxnet.overlay.plugins.module_utils.node.taskspec import TaskError, validate_interfaces, validate_tasks

DEFAULTS = {'name': None, 'state': 'present', 'hosts': None, 'command': None, 'image': None, 'interfaces': None, 'restart': None,
            'vip_managed': False, 'vip_table': None, 'ingress': None, 'supervisor': 'auto',
            'runtime_dir': '/run/linuxnet-overlay/tasks', 'etc_netns_dir': '/etc/netns', 'stop_timeout': 5.0}
ALL_DEFAULTS = {'tasks': [], 'exclusive': False, 'pattern': None, 'name_tables': None, 'endpoints': None, 'supervisor': 'auto',
                'runtime_dir': '/run/linuxnet-overlay/tasks', 'etc_netns_dir': '/etc/netns', 'stop_timeout': 5.0}
SUPERVISORS = ('auto', 'systemd', 'runsv')


IPV6_DEFAULT = '/proc/sys/net/ipv6/conf/default/disable_ipv6'


def _no_ipv6_by_default(name):
    """In a new task namespace, before any interface comes in: interfaces made or moved into it
    get no IPv6 (overlay subnets are IPv4 only), so a task's ethN has no link-local address and
    sends no router solicitations, DAD or MLD reports into the overlay, as Docker disables IPv6 on
    a container's interfaces on networks without IPv6. ``lo`` keeps ::1. A kernel without IPv6
    has nothing to disable."""
    with _netns.entered(name):
        try:
            with open(IPV6_DEFAULT, 'w', encoding='ascii') as f:
                f.write('1\n')
        except FileNotFoundError:
            pass


def _read(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except OSError:
        return None


def _write_atomic(path, content, mode):
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class Task:
    def __init__(self, params, check_mode, pending=None):
        p = self.p = dict(DEFAULTS, **params)
        self.check = check_mode
        # with a list: commands are started without waiting, and (task, Popen, command) is added for
        # the caller to check all at once (converge_all: one settle wait per node, not one per task)
        self.pending = pending
        self.name = p['name']
        self.rt = os.path.join(p['runtime_dir'], self.name)
        self.etc = os.path.join(p['etc_netns_dir'], self.name)
        self.pidfile = os.path.join(self.rt, 'pid')
        self.svdir = _supervise.svdir_of(self.rt)
        self.unit = _unit.name_of(self.name)
        self.supervision = None
        self.specfile = os.path.join(self.rt, 'task.json')
        self.actions = []
        self.interfaces = validate_interfaces(self.name, p['interfaces']) if p['state'] == 'present' else None
        self.links = []
        self.links_before, self.links_after = [], []

    def current(self):
        exists = _netns.exists(self.name)
        pid = _procs.read_pidfile(self.pidfile)
        spec = json.loads(_read(self.specfile) or '{}')
        if spec.get('supervisor') == 'systemd' or (_unit.available() and _unit.read_file(self.unit) is not None):
            return self._current_unit(exists, spec)
        running = False
        stale_pid = None
        # a pid from the file counts only while it still runs the command we started (pids get reused);
        # a supervised command's pid is its runsv's, a container's the podman client's
        started = _supervise.cmdline(self.svdir) if spec.get('restart') else (spec.get('argv') or spec.get('command') or None)
        if pid and _procs.alive(pid) and _procs.cmdline(pid) == started:
            # the process must live in THIS namespace, not in an older one of the same name
            # (deleted by hand and made again): such a process is ours but stale
            running = exists and _procs.ns_inode('/proc/%d/ns/net' % pid) == _procs.ns_inode(_netns.netns_path(self.name))
            stale_pid = None if running else pid
        self.stale_pid = stale_pid
        cur = {
            'name': self.name,
            'exists': exists,
            'hosts': _read(os.path.join(self.etc, 'hosts')),
            'command': spec.get('command') or [],
            'image': spec.get('image'),
            'restart': spec.get('restart'),
            'pid': pid if running else None,
            'running': running,
            'supervisor': 'runsv' if spec.get('restart') else None, 'unit': None, 'enabled': None,
        }
        if running and spec.get('restart'):
            # what runsv reports, for `service ps` (not compared: it changes as the command restarts)
            self.supervision = dict(_supervise.status(self.svdir), **_supervise.history(self.rt))
        return self._current_tables(cur, exists)

    def _current_unit(self, exists, spec):
        """A task whose command is a systemd unit: it runs while systemd runs it (or a start job waits,
        at boot, for the restore to finish), or it stopped the way its policy keeps it down."""
        st = self._unit_call(_unit.state, self.unit)
        text = _unit.read_file(self.unit)
        hist = _unit.history(self.rt)
        policy = spec.get('restart') or _restart.DEFAULT_POLICY
        in_ns = exists and (not st['pid'] or _procs.ns_inode('/proc/%d/ns/net' % st['pid']) == _procs.ns_inode(
            _netns.netns_path(self.name)))
        # deactivating: its ExecStopPost records an exit, then systemd restarts it or leaves it down
        live = st['active'] in ('active', 'activating', 'reloading', 'deactivating')
        running = text is not None and (st['queued'] or (in_ns and (live or _unit.settled(st, policy, hist))))
        self.stale_pid = None
        cur = {'name': self.name, 'exists': exists, 'hosts': _read(os.path.join(self.etc, 'hosts')),
               'command': spec.get('command') or [], 'image': spec.get('image'), 'restart': spec.get('restart'),
               'pid': st['pid'] if running else None, 'running': running,
               'supervisor': 'systemd', 'unit': text, 'enabled': _unit.enabled(self.unit)}
        if running:
            self.supervision = _unit.supervision(st, hist, policy)
        return self._current_tables(cur, exists)

    def _current_tables(self, cur, exists):
        if self.p['vip_managed'] and self.p['state'] == 'present':
            cur['vip_table'] = self._vip_call(_vip.current, self.name) if exists else None
        if self.p['ingress'] is not None and self.p['state'] == 'present':
            cur['ingress_table'], self.forwarding = _ingress.current(self.name) if exists else (None, '0')
        return cur

    def _unit_call(self, fn, *args):
        try:
            return fn(*args)
        except (_unit.UnitError, OSError) as exc:
            raise TaskError('task %s: unit %s: %s' % (self.name, self.unit, exc), self.actions) from None

    def _supervisor(self):
        """Who keeps a command with a restart policy running: systemd where it is PID 1 (auto), else runsv."""
        if not self.p['restart']:
            return None
        choice = self.p['supervisor'] or 'auto'
        if choice not in SUPERVISORS:
            raise TaskError('task %s: supervisor %r is not one of %s' % (self.name, choice, ', '.join(SUPERVISORS)))
        if choice == 'systemd' and not _unit.available():
            raise TaskError('task %s: supervisor systemd, but systemd is not PID 1 on this node' % self.name)
        return 'systemd' if choice == 'systemd' or (choice == 'auto' and _unit.available()) else 'runsv'

    def _unit_text(self, argv):
        """The unit this task's command wants (pure but for finding the programs)."""
        exe = shutil.which(argv[0]) or argv[0]
        container = (shutil.which('podman') or 'podman', self.name) if self.p['image'] else None
        hosts = os.path.join(self.etc, 'hosts') if self.p['hosts'] is not None else None
        return _unit.render(self.name, [exe] + list(argv[1:]), self.p['restart'], self.rt, hosts, container,
                            self.p['stop_timeout'])

    def present(self, cur):
        p = self.p
        check = self.check
        after = dict(cur)
        command = p['command']
        if command is None:  # leave the process alone
            command = cur['command'] if cur['running'] else []
            p['restart'] = cur['restart'] if cur['running'] else None
            p['image'] = cur['image'] if cur['running'] else None
            if not cur['running']:
                self._namespace_and_hosts(cur, after)
                self._interfaces(cur)
                self._vips(cur, after)
                return after
        if self.stale_pid:
            self.actions.append('stop stale command (pid %d, in a namespace that no longer has this name)' % self.stale_pid)
            if not check:
                self._stop(self.stale_pid, cur, stale=True)
        self._namespace_and_hosts(cur, after)
        self._interfaces(cur)
        self._vips(cur, after)
        if not check:
            os.makedirs(self.rt, mode=0o700, exist_ok=True)
        return self._command(cur, after, command)

    def _command(self, cur, after, command):
        """What runs: the command, or the image's container (with the command as its own; an image
        without a command runs the image's default command), plain, under runsv or as a unit."""
        p = self.p
        check = self.check
        argv = command
        if p['image']:
            hosts = os.path.join(self.etc, 'hosts') if p['hosts'] is not None else None
            argv = _container.podman_argv(self.name, p['image'], command, hosts)
        want = (command, p['image'] if argv else None, p['restart'] if argv else None)
        mode = self._supervisor() if argv else None
        unit_text = self._unit_text(argv) if mode == 'systemd' else None
        # a changed image, policy or supervisor restarts the command too (runsv reads the new ./finish),
        # and so does a unit that is not the one the plan renders (edited by hand)
        restart = cur['running'] and ((cur['command'], cur['image'], cur['restart']) != want or cur['supervisor'] != mode
                                      or (mode == 'systemd' and cur['unit'] != unit_text))
        if cur['running'] and (restart or not argv):
            self.actions.append('stop %s%s' % ('container' if cur['image'] else 'command',
                                               ' (pid %d)' % cur['pid'] if cur['pid'] else ''))
            if not check:
                self._stop(cur['pid'], cur)
            after.update(running=False, pid=None)
        if cur['unit'] is not None and mode != 'systemd':
            self.actions.append('remove unit %s' % self.unit)
            if not check:
                self._unit_call(_unit.remove, self.unit)
        after.update(supervisor=mode, unit=unit_text, enabled=True if unit_text else None)
        if argv and (restart or not cur['running']):
            if unit_text and cur['unit'] not in (None, unit_text):
                self.actions.append('write unit %s (it is not the one the plan renders)' % self.unit)
            self.actions.append(('start container of %s' % p['image'] if p['image'] else 'start command')
                                + (' as unit %s' % self.unit if unit_text else ' under runsv' if mode else '')
                                + (' (restart %s)' % p['restart']['condition'] if mode else ''))
            after.update(running=True, command=command, image=p['image'], restart=p['restart'])
            if not check:
                after['pid'] = self._start(argv, unit_text)
        elif unit_text and not cur['enabled']:
            self.actions.append('enable unit %s' % self.unit)
            if not check:
                self._unit_call(_unit.install, self.unit, unit_text)
        if not argv:
            after.update(command=[], image=None, restart=None)
        if not check and ((cur['command'], cur['image'], cur['restart']) != want or cur['supervisor'] != mode):
            spec = {'name': self.name, 'command': command, 'image': want[1], 'restart': want[2], 'supervisor': mode}
            if p['image']:
                spec['argv'] = argv
            _write_atomic(self.specfile, json.dumps(spec), 0o600)
        return after

    def _namespace_and_hosts(self, cur, after):
        p = self.p
        check = self.check
        if not cur['exists']:
            self.actions.append('create namespace')
            if not check:
                _netns.create(self.name)
                _no_ipv6_by_default(self.name)
                with _netns.iproute(self.name) as ipr:
                    ipr.link('set', index=1, state='up')
            after['exists'] = True
        if p['hosts'] is not None and cur['hosts'] != p['hosts']:
            self.actions.append('write hosts file')
            if not check:
                os.makedirs(self.etc, mode=0o755, exist_ok=True)
                _write_atomic(os.path.join(self.etc, 'hosts'), p['hosts'], 0o644)
            after['hosts'] = p['hosts']
        if not check:
            os.makedirs(self.rt, mode=0o700, exist_ok=True)
        return after

    def _interfaces(self, cur):
        """Each interface a veth from its sandbox's bridge to ifname in the task (``_veth.converge``),
        then its permanent neighbour entries (one netlink socket in the task for all of them)."""
        with contextlib.ExitStack() as stack:
            sock = []
            for params in self.interfaces or ():
                res = self._veth(params, cur)
                before, after = dict(res['diff']['before']), dict(res['diff']['after'])
                if params.get('neighbours') is not None:
                    made = self.check and (res.get('new') or any(a.startswith('create ') for a in res['actions']))
                    if not made and not sock:
                        sock.append(stack.enter_context(self._socket()))
                    neigh = self._neighbours(sock[0] if sock else None, params['peer'], params['neighbours'])
                    before['neigh'] = neigh['diff']['before']['neigh']
                    after['neigh'] = neigh['diff']['after']['neigh']
                self.links.append(res['veth'])
                self.links_before.append(before)
                self.links_after.append(after)
        self._stale_interfaces(cur)

    def _stale_interfaces(self, cur):
        """With ``interfaces`` listed, they are the task's complete set: any other veth in the task
        (a network its service left, a way out it no longer has) goes; deleting the task's end
        of a veth deletes the pair, so nothing stays on a bridge or holds a freed address."""
        if self.interfaces is None or not cur['exists'] or not _netns.exists(self.name):
            return
        wanted = {p['peer'] for p in self.interfaces} | {'lo'}
        with _links.opened(self.name) as ipr:
            for link in _links.read_links(ipr):
                # veths only: a kernel may give every namespace fallback tunnels (tunl0, sit0)
                if link['name'] not in wanted and link.get('kind') == 'veth':
                    self.actions.append('remove interface %s (not in the plan)' % link['name'])
                    self.links_before.append({'name': link['name'], 'netns': self.name})
                    self.links_after.append(None)
                    if not self.check:
                        _links.delete_link(ipr, link['ifindex'])

    def _vip_call(self, fn, *args):
        try:
            return fn(*args)
        except _vip.VipError as exc:
            raise TaskError('task %s: %s' % (self.name, exc), self.actions) from None

    def _vips(self, cur, after):
        """The task's virtual IP table (``node/vip.py``), after its interfaces and before its command
        starts, so that the command's first connection to a VIP is balanced."""
        if self.p['ingress'] is not None:
            want = _ingress.render(self.p['ingress'])
            try:
                self.actions.extend(_ingress.converge(self.name, want, (cur['ingress_table'], self.forwarding),
                                                      self.check))
            except _nft.NftError as exc:
                raise TaskError('task %s: %s' % (self.name, exc), self.actions) from None
            after['ingress_table'] = want
        if not self.p['vip_managed']:
            return
        want = self.p['vip_table']
        self.actions.extend(self._vip_call(_vip.converge, self.name, want, cur['vip_table'], self.check))
        after['vip_table'] = want

    def _veth(self, params, cur):
        vparams = {k: v for k, v in params.items() if k != 'neighbours'}
        new = self.check and (not cur['exists'] or (params['netns'] is not None and not _netns.exists(params['netns'])))
        try:
            res = _veth.predict_new(vparams) if new else _veth.converge(vparams, self.check, True)
        except (ValueError, _linkplan.LinkError, _netns.NetnsError) as exc:
            raise TaskError('task %s: interface %s: %s' % (self.name, params['peer'], exc), self.actions) from None
        except _links.NetlinkError as exc:
            raise TaskError('task %s: %s' % (self.name, _linkplan.netlink_message(
                'interface %s (veth %s)' % (params['peer'], params['name']), exc)), self.actions) from None
        self.actions.extend(res['actions'])      # each names its device already
        return dict(res, new=new)

    def _socket(self):
        try:
            return _peerdb.open_socket(self.name)
        except _peerdb.PeerError as exc:
            raise TaskError('task %s: %s' % (self.name, exc), self.actions) from None

    def _neighbours(self, sock, ifname, entries):
        """Exactly ``entries`` as permanent neighbours of ``ifname``: its peers known from the plan, so
        the task never ARPs for them (the dynamic entries of every namespace count against the host's
        one gc_thresh3; bench/README.md, "Verify at scale"). Predicted (``sock`` None) when this
        check-mode run would make the interface."""
        try:
            if sock is None:
                neigh = _peerdb.predict_neigh(ifname, entries)
            else:
                device = _peerdb.lookup_device(sock, self.name, ifname)
                neigh = _peerdb.converge_neigh(sock, device, self.name, entries, exclusive=True,
                                               check_mode=self.check, diff=True)
        except _peerdb.PeerError as exc:
            raise TaskError('task %s: interface %s: %s' % (self.name, ifname, exc), self.actions) from None
        if neigh['changed']:
            counts = [(w, len(neigh[k])) for w, k in (('add', 'added'), ('replace', 'replaced'), ('remove', 'removed'))]
            self.actions.append('%s: neighbour entries: %s' % (ifname, ', '.join('%s %d' % c for c in counts if c[1])))
        return neigh

    def _stop(self, pid, cur, stale=False):
        timeout = self.p['stop_timeout']
        if cur.get('supervisor') == 'systemd':
            self._unit_call(_unit.stop, self.unit)      # its ExecStopPost removes a container
            return
        if cur['restart']:
            path = _netns.netns_path(self.name)
            # a container is stopped and removed by podman before its processes are signalled: a
            # container whose conmon was killed cannot be removed any more (podman 4.3)
            release = (lambda: self._remove_container(timeout)) if cur.get('image') else None
            _supervise.stop(pid, self.rt, lambda: [] if stale else _procs.pids_in_netns(path), _procs.stop, timeout,
                            release)
            return
        if cur.get('image'):
            self._remove_container(timeout)      # podman stops it as podman stop; its client then exits
        _procs.stop([pid], timeout)

    def _remove_container(self, timeout):
        try:
            _container.remove(self.name, timeout)
        except _container.ContainerError as exc:
            raise TaskError('task %s: %s' % (self.name, exc), self.actions) from None

    def _launcher(self):
        # a container's podman needs the node's mounts (cgroups), which ip netns exec hides
        return _container.launcher(_netns.netns_path(self.name)) if self.p['image'] else ['ip', 'netns', 'exec', self.name]

    def _start(self, command, unit_text=None):
        if unit_text:
            return self._start_unit(command, unit_text)
        argv = self._launcher() + list(command)
        if self.p['restart']:
            try:
                argv = self._launcher() + _supervise.argv(_supervise.write(self.rt, self.name, command, self.p['restart']))
            except _restart.PolicyError as exc:
                raise TaskError('task %s: %s' % (self.name, exc), self.actions) from None
        if self.pending is not None:
            proc = _procs.spawn_detached(argv, self.log)
            _write_atomic(self.pidfile, '%d\n' % proc.pid, 0o600)
            self.pending.append((self, proc, command))
            return proc.pid
        pid, rc = _procs.start_detached(argv, self.log)
        self.check_started(command, rc, pid)
        _write_atomic(self.pidfile, '%d\n' % pid, 0o600)
        return pid

    def _start_unit(self, command, unit_text):
        """Write, enable and (re)start the unit; its exits start afresh, as a new runsv's do."""
        for name in ('exits', 'exits.restarts', 'pid'):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.rt, name))
        self._unit_call(_unit.install, self.unit, unit_text)
        failed = self._unit_call(_unit.start, self.unit)
        if failed:
            self._unit_call(_unit.stop, self.unit)
            tail = (_read(self.log) or '')[-2000:].strip()
            raise TaskError('task %s: command %s did not start as unit %s: %s%s' % (
                self.name, command, self.unit, failed, ('; its output: ' + tail) if tail else ''), self.actions)
        return self._unit_call(_unit.state, self.unit)['pid']

    @property
    def log(self):
        return os.path.join(self.rt, 'log')

    def check_started(self, command, rc, pid):
        """Fail when the command exited at once (not found, bad arguments), with its output; a
        supervised one is stopped then, not restarted over and over."""
        if rc is None and self.p['restart']:
            rc = _supervise.settled_exit(self.rt, command, _procs.cmdline)
            if rc not in (None, 0):
                self._stop(pid, {'restart': True})
        if rc not in (None, 0):
            tail = (_read(self.log) or '')[-2000:]
            what = 'container of image %s' % self.p['image'] if self.p['image'] else 'command'
            raise TaskError('task %s: %s %s exited at once with status %d: %s'
                            % (self.name, what, command, rc, tail.strip()), self.actions)

    def absent(self, cur):
        check = self.check
        after = {'name': self.name, 'exists': False, 'hosts': None, 'command': [], 'image': None, 'restart': None,
                 'pid': None, 'running': False, 'supervisor': None, 'unit': None, 'enabled': None}
        if self.stale_pid:
            self.actions.append('stop stale command (pid %d)' % self.stale_pid)
            if not check:
                _procs.stop([self.stale_pid], self.p['stop_timeout'])
        if cur['unit'] is not None or cur['supervisor'] == 'systemd':
            self.actions.append('stop and remove unit %s' % self.unit)
            if not check:
                self._unit_call(_unit.remove, self.unit)
        if cur['exists']:
            victims = _procs.pids_in_netns(_netns.netns_path(self.name))
            if victims:
                self.actions.append('stop %d process(es)' % len(victims))
                if not check and cur['running'] and cur['supervisor'] == 'runsv':
                    self._stop(cur['pid'], cur)      # its runsv first: it must not start the command again
                elif not check and cur['image']:
                    self._remove_container(self.p['stop_timeout'])   # by podman, before its conmon is signalled
                if not check:
                    _procs.stop(victims, self.p['stop_timeout'])
            self.actions.append('delete namespace')
            if not check:
                _netns.remove(self.name)
        if cur['image']:
            self.actions.append('remove container')
            if not check:
                self._remove_container(0)
        for path, what in ((self.etc, 'remove %s' % self.etc), (self.rt, 'remove runtime folder')):
            if os.path.isdir(path):
                self.actions.append(what)
                if not check:
                    shutil.rmtree(path)
        return after


def converge(params, check_mode=False, diff=False, pending=None):
    p = dict(DEFAULTS, **params)
    try:
        _netns.validate_name(p['name'])
        p['restart'] = _restart.validate_policy(p['restart'], 'task %s: restart' % p['name'])
        p['image'] = _imageref.validate_image(p['image'], 'task %s' % p['name'])
    except ValueError as exc:
        raise TaskError(str(exc)) from None
    if pending is None:     # one task alone (converge_all checked them all before)
        preflight([p])
    task = Task(p, check_mode, pending)
    try:
        cur = task.current()
        after = task.present(cur) if p['state'] == 'present' else task.absent(cur)
    except (OSError, _netns.NetnsError) as exc:
        raise TaskError('task %s: %s' % (p['name'], exc), task.actions) from None
    if task.supervision and after.get('pid') == cur['pid']:
        after = dict(after, supervision=task.supervision)
    result = {'changed': bool(task.actions), 'task': after, 'actions': task.actions}
    if task.interfaces is not None:
        result['interfaces'] = task.links
    if diff:
        keys = ('exists', 'hosts', 'command', 'image', 'restart', 'running') + tuple(k for k in ('vip_table', 'ingress_table') if k in cur)
        if cur.get('unit') is not None or after.get('unit') is not None:
            keys += ('unit', 'enabled')      # the unit's text: --check --diff shows a unit edited by hand
        before, after_view = {k: cur[k] for k in keys}, {k: after[k] for k in keys}
        if task.interfaces is not None:
            before['interfaces'], after_view['interfaces'] = task.links_before, task.links_after
        result['diff'] = {'before': before, 'after': after_view}
    return result


def plan_stale(runtime_entries, netns_names, listed, pattern=None):
    """Tasks to remove (pure): every runtime folder not listed, and every namespace whose name
    matches ``pattern`` (a regular expression; None: none) and is not listed. Sorted."""
    regex = re.compile(pattern) if pattern else None
    found = set(runtime_entries) | {n for n in netns_names if regex is not None and regex.search(n)}
    return sorted(found - set(listed))


def _runtime_entries(runtime_dir):
    try:
        return [e.name for e in os.scandir(runtime_dir) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def validate_all(params):
    """The ``tasks`` option and ``pattern`` checked (pure): the tasks as ``converge`` parameters, or
    TaskError naming the bad value. ``converge_all`` runs it first; the sandbox module too, before it
    changes anything."""
    p = dict(ALL_DEFAULTS, **params)
    tasks = validate_tasks(p['tasks'], p['name_tables'], p['endpoints'])
    if p['pattern']:
        try:
            re.compile(p['pattern'])
        except re.error as exc:
            raise TaskError('pattern %r is not a regular expression: %s' % (p['pattern'], exc)) from None
    return tasks


def preflight(tasks):
    """What the node must have before a run changes anything there (reads only): every image
    its tasks run, else TaskError naming them and the node."""
    try:
        _container.check_images([t.get('image') for t in tasks if t.get('state', 'present') == 'present'],
                                socket.gethostname())
    except _container.ContainerError as exc:
        raise TaskError(str(exc)) from None


def converge_all(params, check_mode=False, diff=False, preflighted=False):
    """Every task of the node in one run; with ``exclusive`` the tasks not listed go first.
    ``preflighted``: the caller ran ``preflight`` on these tasks already (the sandbox module's run)."""
    p = dict(ALL_DEFAULTS, **params)
    tasks = validate_all(p)
    if not preflighted:
        preflight(tasks)
    base = {k: p[k] for k in ('runtime_dir', 'etc_netns_dir', 'stop_timeout', 'supervisor')}
    stale = []
    if p['exclusive']:
        stale = plan_stale(_runtime_entries(p['runtime_dir']), _netns.list_names(), [t['name'] for t in tasks],
                           p['pattern'])
    actions, results, diffs, pending = [], [], [], []
    todo = [dict(base, name=n, state='absent') for n in stale] + [dict(base, **t) for t in tasks]
    for item in todo:
        try:
            res = converge(item, check_mode, diff, pending)
        except TaskError as exc:
            raise TaskError(str(exc), actions + ['%s: %s' % (item['name'], a) for a in exc.actions]) from None
        actions.extend('%s: %s' % (item['name'], a) for a in res['actions'])
        if item.get('state', 'present') == 'present':
            entry = {'name': item['name'], 'changed': res['changed'], 'actions': res['actions'], 'task': res['task']}
            if 'interfaces' in res:
                entry['interfaces'] = res['interfaces']
            results.append(entry)
        if diff and res['changed']:
            diffs.append(dict(res['diff'], before_header='task %s' % item['name'],
                              after_header='task %s' % item['name']))
    # the commands started above, checked together: one settle wait for the node, not one per task
    for (task, proc, command), rc in zip(pending, _procs.settle([proc for _t, proc, _c in pending])):
        try:
            task.check_started(command, rc, proc.pid)
        except TaskError as exc:
            raise TaskError(str(exc), actions) from None
    result = {'changed': bool(actions), 'actions': actions, 'tasks': results, 'removed': stale}
    if diff:
        result['diff'] = diffs
    return result
