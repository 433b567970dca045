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

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import procs as _procs
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _peerdb
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import nft as _nft
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import gateway as _gateway
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import ingress as _ingress
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import veth as _veth
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import vip as _vip

DEFAULTS = {'name': None, 'state': 'present', 'hosts': None, 'command': None, 'interfaces': None,
            'vip_managed': False, 'vip_table': None, 'ingress': None,
            'runtime_dir': '/run/linuxnet-overlay/tasks', 'etc_netns_dir': '/etc/netns', 'stop_timeout': 5.0}
ALL_DEFAULTS = {'tasks': [], 'exclusive': False, 'pattern': None, 'name_tables': None, 'endpoints': None,
                'runtime_dir': '/run/linuxnet-overlay/tasks', 'etc_netns_dir': '/etc/netns', 'stop_timeout': 5.0}
TASK_KEYS = ('name', 'hosts', 'hosts_networks', 'command', 'interfaces', 'endpoint_networks', 'gateway_interface',
             'ingress')
TASK_INFO_KEYS = ('netns', 'service', 'slot', 'id', 'node_id')        # the cluster plan's, ignored
INTERFACE_KEYS = ('veth', 'sandbox', 'bridge', 'mtu', 'ifname', 'mac', 'address', 'routes', 'neighbours')
INTERFACE_INFO_KEYS = ('network', 'ip', 'subnet', 'gateway', 'vni')     # the cluster plan's, ignored


IPV6_DEFAULT = '/proc/sys/net/ipv6/conf/default/disable_ipv6'
HOSTS_HEAD = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'


def compose_hosts(networks, tables):
    """A task's hosts file (pure): the localhost lines, then the name table of each of its
    ``networks`` in order. The cluster plan sends each table once per node, not once per task
    (``cluster/nodeplan.name_table``), and the node writes every task's file from them."""
    return HOSTS_HEAD + ''.join(tables[n] for n in networks)


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


class TaskError(Exception):
    """A user-facing error; ``actions`` are what was already done."""

    def __init__(self, msg, actions=None):
        super().__init__(msg)
        self.actions = list(actions or [])


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


def _check_entry(raw, what, keys, info_keys):
    """An entry of a list option is a dict of known keys (``info_keys``: ignored, from the plan)."""
    if not isinstance(raw, dict):
        raise TaskError('%s must be a dict, got %r' % (what, raw))
    unknown = sorted(set(raw) - set(keys) - set(info_keys))
    if unknown:
        raise TaskError('%s: unknown key(s) %s; known: %s' % (what, ', '.join(unknown), ', '.join(keys)))


def validate_interfaces(task, interfaces):
    """The ``interfaces`` option as ``_veth.converge`` parameters (pure); TaskError naming the bad value.

    Each interface: ``veth`` (name of the end on the bridge, in ``sandbox``), ``sandbox``, ``bridge``,
    ``ifname`` (the end in the task, default ``eth<N>``), ``mtu``, ``mac``, ``address`` (CIDR), ``routes``,
    ``neighbours`` (``[{ip, mac}]``: exactly the permanent neighbour entries of ``ifname``; kept apart
    from the veth parameters under the same key, validated).
    """
    if interfaces is None:
        return None
    out, ifnames, veths = [], {}, {}
    for i, raw in enumerate(interfaces):
        what = 'interfaces[%d]' % i
        _check_entry(raw, what, INTERFACE_KEYS, INTERFACE_INFO_KEYS)
        for key in ('veth', 'bridge'):
            if not raw.get(key):
                raise TaskError('%s needs %s' % (what, key))
        if 'sandbox' not in raw or raw['sandbox'] == '':
            raise TaskError('%s needs sandbox (the namespace of the bridge; null: the node\'s own)' % what)
        ifname = raw.get('ifname') or 'eth%d' % i
        mtu = raw.get('mtu')
        if mtu is not None:
            if isinstance(mtu, bool) or not str(mtu).strip().isdigit():
                raise TaskError('%s: mtu %r is not an integer' % (what, mtu))
            mtu = int(mtu)
        routes = raw.get('routes')
        if routes is not None and not isinstance(routes, list):
            raise TaskError('%s: routes must be a list of {dst, via}' % what)
        params = {'name': raw['veth'], 'netns': raw['sandbox'], 'master': raw['bridge'], 'mtu': mtu,
                  'peer': ifname, 'peer_netns': task, 'peer_mac': raw.get('mac'),
                  'peer_addresses': [raw['address']] if raw.get('address') else None,
                  'peer_routes': routes}
        try:
            if raw['sandbox'] is not None:
                _netns.validate_name(raw['sandbox'])
            _linkplan.validate_ifname(raw['veth'], 'veth')
            _linkplan.validate_ifname(ifname, 'ifname')
            want = _veth.desired(dict(_veth.DEFAULTS, **params))
            _veth.check_gateways(want['routes'], want['addresses'] or [])
        except (ValueError, _linkplan.LinkError) as exc:
            # the veth module's option names, as the keys of an interface
            text = str(exc).replace('peer_mac', 'mac').replace('peer_addresses', 'address')
            raise TaskError('%s: %s' % (what, text.replace('peer_routes', 'routes'))) from None
        if raw.get('neighbours') is not None:
            if not isinstance(raw['neighbours'], list):
                raise TaskError('%s: neighbours must be a list of {ip, mac}' % what)
            neighbours, errors = _peerdb.validate_neigh(raw['neighbours'])
            if errors:
                raise TaskError('%s: neighbours: %s' % (what, _peerdb.error_summary(errors)))
            params['neighbours'] = neighbours
        if ifname in ifnames:
            raise TaskError('%s: ifname %s is also used by interfaces[%d]' % (what, ifname, ifnames[ifname]))
        key = (raw['sandbox'], raw['veth'])
        if key in veths:
            raise TaskError('%s: veth %s in %s is also used by interfaces[%d]' % (what, key[1], key[0], veths[key]))
        ifnames[ifname], veths[key] = i, i
        out.append(params)
    return out


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
        self.specfile = os.path.join(self.rt, 'task.json')
        self.actions = []
        self.interfaces = validate_interfaces(self.name, p['interfaces']) if p['state'] == 'present' else None
        self.links = []
        self.links_before, self.links_after = [], []

    def current(self):
        exists = _netns.exists(self.name)
        pid = _procs.read_pidfile(self.pidfile)
        spec = json.loads(_read(self.specfile) or '{}')
        running = False
        stale_pid = None
        # a pid from the file counts only while it still runs the command we started (pids get reused)
        if pid and _procs.alive(pid) and _procs.cmdline(pid) == (spec.get('command') or None):
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
            'pid': pid if running else None,
            'running': running,
        }
        if self.p['vip_managed'] and self.p['state'] == 'present':
            cur['vip_table'] = self._vip_call(_vip.current, self.name) if exists else None
        if self.p['ingress'] is not None and self.p['state'] == 'present':
            cur['ingress_table'], self.forwarding = _ingress.current(self.name) if exists else (None, '0')
        return cur

    def present(self, cur):
        p = self.p
        check = self.check
        after = dict(cur)
        command = p['command']
        if command is None:  # leave the process alone
            command = cur['command'] if cur['running'] else []
            if not cur['running']:
                self._namespace_and_hosts(cur, after)
                self._interfaces(cur)
                self._vips(cur, after)
                return after
        if self.stale_pid:
            self.actions.append('stop stale command (pid %d, in a namespace that no longer has this name)' % self.stale_pid)
            if not check:
                _procs.stop([self.stale_pid], p['stop_timeout'])
        self._namespace_and_hosts(cur, after)
        self._interfaces(cur)
        self._vips(cur, after)
        if not check:
            os.makedirs(self.rt, mode=0o700, exist_ok=True)
        restart = cur['running'] and cur['command'] != command
        if cur['running'] and (restart or not command):
            self.actions.append('stop command (pid %d)' % cur['pid'])
            if not check:
                _procs.stop([cur['pid']], p['stop_timeout'])
            after.update(running=False, pid=None)
        if command and (restart or not cur['running']):
            self.actions.append('start command')
            after.update(running=True, command=command)
            if not check:
                after['pid'] = self._start(command)
        if not command:
            after['command'] = []
        if not check and cur['command'] != command:
            _write_atomic(self.specfile, json.dumps({'name': self.name, 'command': command}), 0o600)
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

    def _start(self, command):
        argv = ['ip', 'netns', 'exec', self.name] + list(command)
        if self.pending is not None:
            proc = _procs.spawn_detached(argv, self.log)
            _write_atomic(self.pidfile, '%d\n' % proc.pid, 0o600)
            self.pending.append((self, proc, command))
            return proc.pid
        pid, rc = _procs.start_detached(argv, self.log)
        self.check_started(command, rc)
        _write_atomic(self.pidfile, '%d\n' % pid, 0o600)
        return pid

    @property
    def log(self):
        return os.path.join(self.rt, 'log')

    def check_started(self, command, rc):
        """Fail when the command exited at once (not found, bad arguments), with its output."""
        if rc not in (None, 0):
            tail = (_read(self.log) or '')[-2000:]
            raise TaskError('task %s: command %s exited at once with status %d: %s'
                            % (self.name, command, rc, tail.strip()), self.actions)

    def absent(self, cur):
        check = self.check
        after = {'name': self.name, 'exists': False, 'hosts': None, 'command': [], 'pid': None, 'running': False}
        if self.stale_pid:
            self.actions.append('stop stale command (pid %d)' % self.stale_pid)
            if not check:
                _procs.stop([self.stale_pid], self.p['stop_timeout'])
        if cur['exists']:
            victims = _procs.pids_in_netns(_netns.netns_path(self.name))
            if victims:
                self.actions.append('stop %d process(es)' % len(victims))
                if not check:
                    _procs.stop(victims, self.p['stop_timeout'])
            self.actions.append('delete namespace')
            if not check:
                _netns.remove(self.name)
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
    except ValueError as exc:
        raise TaskError(str(exc)) from None
    task = Task(p, check_mode, pending)
    try:
        cur = task.current()
        after = task.present(cur) if p['state'] == 'present' else task.absent(cur)
    except (OSError, _netns.NetnsError) as exc:
        raise TaskError('task %s: %s' % (p['name'], exc), task.actions) from None
    result = {'changed': bool(task.actions), 'task': after, 'actions': task.actions}
    if task.interfaces is not None:
        result['interfaces'] = task.links
    if diff:
        keys = ('exists', 'hosts', 'command', 'running') + tuple(k for k in ('vip_table', 'ingress_table') if k in cur)
        before, after_view = {k: cur[k] for k in keys}, {k: after[k] for k in keys}
        if task.interfaces is not None:
            before['interfaces'], after_view['interfaces'] = task.links_before, task.links_after
        result['diff'] = {'before': before, 'after': after_view}
    return result


def validate_name_tables(tables):
    """The ``name_tables`` option (pure): None, or a dict of network name to the text of its table."""
    if tables is None:
        return None
    if not isinstance(tables, dict):
        raise TaskError('name_tables must be a dict of network name to the text of its name table, got %r'
                        % (tables,))
    for net, text in tables.items():
        if not isinstance(text, str):
            raise TaskError('name_tables: the table of network %s must be text, got %r' % (net, text))
    return tables


def _task_hosts(what, name, raw, tables):
    """The hosts file text of one ``tasks`` entry: ``hosts`` as given, or composed from
    ``hosts_networks`` and the ``name_tables``; None leaves the file alone."""
    hosts, nets = raw.get('hosts'), raw.get('hosts_networks')
    if hosts is not None and not isinstance(hosts, str):
        raise TaskError('%s (%s): hosts must be the text of the hosts file' % (what, name))
    if nets is None:
        return hosts
    if hosts is not None:
        raise TaskError('%s (%s): give hosts (the text) or hosts_networks (the name tables to compose it '
                        'from), not both' % (what, name))
    if not isinstance(nets, list) or not all(isinstance(n, str) for n in nets):
        raise TaskError('%s (%s): hosts_networks must be a list of network names, got %r' % (what, name, nets))
    missing = [n for n in nets if n not in (tables or {})]
    if missing:
        raise TaskError('%s (%s): hosts_networks names %s, which name_tables does not have (it has: %s)'
                        % (what, name, ', '.join(missing), ', '.join(sorted(tables or {})) or 'none'))
    return compose_hosts(nets, tables)


def _task_vips(what, name, raw, endpoints, rendered):
    """``(managed, table text or None)`` of one ``tasks`` entry: its ``endpoint_networks``' VIPs."""
    nets = raw.get('endpoint_networks')
    if nets is None:
        return False, None
    if nets and endpoints is None:
        raise TaskError('%s (%s): endpoint_networks needs the endpoints option (the virtual IPs per network)'
                        % (what, name))
    try:
        key = tuple(_vip.select(endpoints, nets, '%s (%s)' % (what, name)))
    except _vip.VipError as exc:
        raise TaskError(str(exc)) from None
    nets_key = tuple(nets)
    if nets_key not in rendered:        # tasks of the same networks share one rendering
        rendered[nets_key] = _vip.render(list(key))
    return True, rendered[nets_key]


def validate_tasks(tasks, name_tables=None, endpoints=None):
    """The ``tasks`` option as ``converge`` parameters (pure): every input error, naming the bad
    value, before any change. A task without a command runs no process (a running one is stopped).
    ``name_tables``: what ``hosts_networks`` composes a task's hosts file from; ``endpoints``: the
    virtual IPs per network that ``endpoint_networks`` selects the task's DNAT rules from."""
    if not isinstance(tasks, list):
        raise TaskError('tasks must be a list of {name, hosts or hosts_networks, command, interfaces}')
    tables = validate_name_tables(name_tables)
    try:
        endpoints = _vip.validate_endpoints(endpoints)
    except _vip.VipError as exc:
        raise TaskError(str(exc)) from None
    rendered = {}
    out, names = [], {}
    for i, raw in enumerate(tasks):
        what = 'tasks[%d]' % i
        _check_entry(raw, what, TASK_KEYS, TASK_INFO_KEYS)
        name = raw.get('name')
        try:
            _netns.validate_name(name)
        except ValueError as exc:
            raise TaskError('%s: %s' % (what, exc)) from None
        if raw.get('netns') not in (None, name):
            raise TaskError('%s: netns %s differs from name %s; a task is named after its namespace'
                            % (what, raw['netns'], name))
        if name in names:
            raise TaskError('%s: task %s is listed twice (also tasks[%d])' % (what, name, names[name]))
        names[name] = i
        command = raw.get('command') or []
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            raise TaskError('%s (%s): command must be a list of strings (argv), got %r' % (what, name, command))
        hosts = _task_hosts(what, name, raw, tables)
        interfaces = raw.get('interfaces')
        if raw.get('gateway_interface') is not None:
            # the way out (the node's gateway bridge) is one more veth, after the overlay ones
            interfaces = list(interfaces or []) + [raw['gateway_interface']]
        try:
            validate_interfaces(name, interfaces)
        except TaskError as exc:
            raise TaskError('%s (%s): %s' % (what, name, exc)) from None
        managed, table = _task_vips(what, name, raw, endpoints, rendered)
        ingress = raw.get('ingress')
        if ingress is not None:
            try:
                ingress = _gateway.validate_published(ingress, '%s (%s): ingress' % (what, name))
            except _gateway.GatewayError as exc:
                raise TaskError(str(exc)) from None
        out.append({'name': name, 'hosts': hosts, 'command': command, 'interfaces': interfaces,
                    'vip_managed': managed, 'vip_table': table, 'ingress': ingress})
    return out


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


def converge_all(params, check_mode=False, diff=False):
    """Every task of the node in one run; with ``exclusive`` the tasks not listed go first."""
    p = dict(ALL_DEFAULTS, **params)
    tasks = validate_all(p)
    base = {k: p[k] for k in ('runtime_dir', 'etc_netns_dir', 'stop_timeout')}
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
            task.check_started(command, rc)
        except TaskError as exc:
            raise TaskError(str(exc), actions) from None
    result = {'changed': bool(actions), 'actions': actions, 'tasks': results, 'removed': stale}
    if diff:
        result['diff'] = diffs
    return result
