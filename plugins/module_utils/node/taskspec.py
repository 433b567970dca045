# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``task`` module's input checked (pure): a task entry, its interfaces, its hosts file and its
virtual IP table, as ``node/task.py`` converges them. Every error names the bad value, and comes
before any change (the ``sandbox`` module checks the tasks with it before its sandboxes too).
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan
from ansible_collections.linuxnet.overlay.plugins.module_utils import imageref as _imageref
from ansible_collections.linuxnet.overlay.plugins.module_utils import restart as _restart
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _peerdb
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import veth as _veth
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import vip as _vip
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import gateway as _gateway

TASK_KEYS = ('name', 'hosts', 'hosts_networks', 'command', 'interfaces', 'endpoint_networks', 'gateway_interface',
             'ingress', 'restart', 'image')
TASK_INFO_KEYS = ('netns', 'service', 'slot', 'id', 'node_id')        # the cluster plan's, ignored
INTERFACE_KEYS = ('veth', 'sandbox', 'bridge', 'mtu', 'ifname', 'mac', 'address', 'routes', 'neighbours')
INTERFACE_INFO_KEYS = ('network', 'ip', 'subnet', 'gateway', 'vni')     # the cluster plan's, ignored
HOSTS_HEAD = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'


def compose_hosts(networks, tables):
    """A task's hosts file (pure): the localhost lines, then the name table of each of its
    ``networks`` in order. The cluster plan sends each table once per node, not once per task
    (``cluster/nodeplan.name_table``), and the node writes every task's file from them."""
    return HOSTS_HEAD + ''.join(tables[n] for n in networks)


class TaskError(Exception):
    """A user-facing error; ``actions`` are what was already done."""

    def __init__(self, msg, actions=None):
        super().__init__(msg)
        self.actions = list(actions or [])


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
        try:
            restart = _restart.validate_policy(raw.get('restart'), '%s (%s): restart' % (what, name))
        except _restart.PolicyError as exc:
            raise TaskError(str(exc)) from None
        try:
            image = _imageref.validate_image(raw.get('image'), '%s (%s)' % (what, name))
        except _imageref.ImageError as exc:
            raise TaskError(str(exc)) from None
        managed, table = _task_vips(what, name, raw, endpoints, rendered)
        ingress = raw.get('ingress')
        if ingress is not None:
            try:
                ingress = _gateway.validate_published(ingress, '%s (%s): ingress' % (what, name))
            except _gateway.GatewayError as exc:
                raise TaskError(str(exc)) from None
        out.append({'name': name, 'hosts': hosts, 'command': command, 'image': image, 'restart': restart,
                    'interfaces': interfaces,
                    'vip_managed': managed, 'vip_table': table, 'ingress': ingress})
    return out
