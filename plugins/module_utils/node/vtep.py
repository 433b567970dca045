# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one VXLAN device (the logic of the ``vxlan`` module, shared with ``sandbox``).

``converge(params, check_mode, diff)`` returns the module result; bad input and kernel objects in
the way raise ``_linkplan.LinkError`` before any change.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import VXLAN_PORT
from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import change as _change

DEFAULTS = {'name': None, 'netns': None, 'state': 'present', 'vni': None, 'dstport': VXLAN_PORT, 'local': None,
            'learning': False, 'proxy': True, 'l2miss': False, 'l3miss': False, 'ttl': None, 'mtu': None,
            'master': None, 'up': True}


KEYS = ('vni', 'dstport', 'local', 'learning', 'proxy', 'l2miss', 'l3miss', 'ttl', 'mtu', 'master', 'up')
KERNEL_FLAGS = ('learning', 'ttl', 'local')   # in-place changes sent with kind='vxlan'


def read_state(ipr, links, link, netns):
    if link is None:
        return None
    master = _links.find(links, ifindex=link['master']) if link['master'] else None
    state = {'name': link['name'], 'netns': netns, 'ifindex': link['ifindex'], 'mtu': link['mtu'],
             'mac': link['mac'], 'up': link['up'], 'master': master['name'] if master else None,
             'socket_netns': _links.socket_netns(ipr, link, netns)}
    state.update({k: v for k, v in link['vxlan'].items() if k != 'ipv6'})
    return state


def desired_state(p):
    _linkplan.validate_vni(p['vni'])
    _linkplan.validate_port(p['dstport'])
    if p['ttl'] is not None and not 0 <= p['ttl'] <= 255:
        raise _linkplan.LinkError('ttl %d is out of range: use 0-255 (0 = automatic)' % p['ttl'])
    want = {k: p[k] for k in KEYS}
    want['local'] = _linkplan.normalize_ip(p['local'], 'local') if p['local'] is not None else None
    want['mtu'] = _linkplan.validate_mtu(p['mtu'])
    if p['master']:
        _linkplan.validate_ifname(p['master'], 'master')
    return want


def kernel_attrs(want):
    attrs = {'vxlan_id': want['vni'], 'vxlan_port': want['dstport'], 'vxlan_learning': int(want['learning']),
             'vxlan_proxy': int(want['proxy']), 'vxlan_l2miss': int(want['l2miss']),
             'vxlan_l3miss': int(want['l3miss'])}
    if want['ttl'] is not None:
        attrs['vxlan_ttl'] = want['ttl']
    if want['local'] is not None:
        attrs['vxlan_local6' if _linkplan.ip_version(want['local']) == 6 else 'vxlan_local'] = want['local']
    if want['mtu'] is not None:
        attrs['mtu'] = want['mtu']
    return attrs


class VxlanScan:
    """The node's VXLAN devices for the VNI clash check, read from every named namespace once per run:
    the sandbox makes many VTEPs, and each one made is recorded instead of read again."""

    def __init__(self):
        self._devices = None

    def devices(self, skip=None):
        if self._devices is None:
            self._devices = [(_links.ns_identity(d['netns']), d) for d in _links.scan_vxlan_devices(_netns.list_names())]
        key = (_links.ns_identity(skip[0]), skip[1]) if skip else None
        return [d for ident, d in self._devices if (ident, d['name']) != key]

    def made(self, netns, name, want):
        if self._devices is None:
            return
        key = (_links.ns_identity(netns), name)
        self._devices = [(ident, d) for ident, d in self._devices if (ident, d['name']) != key]
        self._devices.append((key[0], {'netns': netns, 'name': name, 'vni': want['vni'], 'dstport': want['dstport'],
                                       'ipv6': _linkplan.ip_version(want['local']) == 6, 'socket_here': True}))


def check_vni_free(want, netns, name, scan=None):
    devices = (scan.devices(skip=(netns, name)) if scan is not None
               else _links.scan_vxlan_devices(_netns.list_names(), skip=(netns, name)))
    clashes = _linkplan.vni_clashes(devices, want['vni'], want['dstport'], _linkplan.ip_version(want['local']) == 6)
    if clashes:
        raise _linkplan.LinkError(_linkplan.clash_message(want['vni'], want['dstport'], clashes))


def translate_eexist(exc, want):
    """The kernel's EEXIST on create means the VNI is taken; say where, if we can see it."""
    clashes = _linkplan.vni_clashes(_links.scan_vxlan_devices(_netns.list_names()),
                                    want['vni'], want['dstport'], _linkplan.ip_version(want['local']) == 6)
    if clashes:
        return _linkplan.clash_message(want['vni'], want['dstport'], clashes)
    return ('the kernel refused VNI %d on dstport %d (%s): another VXLAN device with this VNI and port has its '
            'UDP socket in the namespace the module runs in, probably inside a namespace without a name under '
            '/run/netns' % (want['vni'], want['dstport'], exc))


def apply_update(ipr, index, changes, master_index):
    flags = {}
    for key in KERNEL_FLAGS:
        if key in changes:
            after = changes[key][1]
            if key == 'local':
                flags['vxlan_local6' if _linkplan.ip_version(after) == 6 else 'vxlan_local'] = after
            else:
                flags['vxlan_' + key] = int(after) if isinstance(after, bool) else after
    if flags:
        ipr.link('set', index=index, kind='vxlan', **flags)
    if 'mtu' in changes:
        ipr.link('set', index=index, mtu=changes['mtu'][1])
    if 'master' in changes:
        ipr.link('set', index=index, master=master_index or 0)
    if 'up' in changes:
        ipr.link('set', index=index, state='up' if changes['up'][1] else 'down')


def describe(key, before, after):
    return 'set %s %s -> %s' % (key, before, after)


def _predicted_new(name, netns, want):
    after = {'name': name, 'netns': netns, 'ifindex': None, 'mac': None, 'mtu': 1500, 'ttl': 0,
             'local': None, 'master': None, 'socket_netns': None}
    after.update({k: want[k] for k in KEYS if want[k] is not None})
    after['master'] = after['master'] or None
    return after


def _plan_create(want, current, links, netns, name, plan, moving, master_index, scan):
    """Actions and prediction for a create or re-create; fills ``want`` from ``current`` and
    returns ``(actions, predicted, master_index)``."""
    if current is not None:   # unmanaged attributes keep their values across a re-create
        for key in ('mtu', 'ttl', 'local'):
            if want[key] is None:
                want[key] = current[key]
        if want['master'] is None and current['master']:
            want['master'] = current['master']
            master_index = _links.check_master(links, current['master'], netns)
    check_vni_free(want, netns, name, scan)
    actions = []
    if plan['action'] == 'recreate':
        actions.append('delete %s (%s)' % (name, '; '.join(plan['reasons'])))
    actions.append('create %s (vni %d, dstport %d)%s' % (
        name, want['vni'], want['dstport'],
        ' in the namespace the module runs in, move it to %s' % netns if moving else ''))
    return actions, _predicted_new(name, netns, want), master_index


def _create(home, target, current, netns, name, want, plan, moving, master_index, scan):
    if plan['action'] == 'recreate':
        _links.delete_link(target, current['ifindex'])
    try:
        _links.create_vxlan(home, target, netns if moving else None, name, kernel_attrs(want),
                            master=master_index, up=want['up'])
    except _links.NetlinkError as exc:
        if getattr(exc, 'code', 0) == 17:
            raise _linkplan.LinkError(translate_eexist(exc, want)) from None
        raise
    if scan is not None:
        scan.made(netns, name, want)


def _converge_present(home, target, links, current, netns, name, want, check_mode, scan):
    """``(actions, predicted, plan)`` for state=present, applied unless ``check_mode``."""
    moving = netns is not None and not _netns.same_as_current(netns)
    master_index = _links.check_master(links, want['master'], netns)
    plan = _linkplan.plan_vxlan(want, current)
    if plan['action'] in ('create', 'recreate'):
        actions, predicted, master_index = _plan_create(want, current, links, netns, name, plan, moving,
                                                        master_index, scan)
        if not check_mode:
            _create(home, target, current, netns, name, want, plan, moving, master_index, scan)
        return actions, predicted, plan
    if plan['action'] != 'update':
        return [], current, plan
    actions = [describe(k, *plan['changes'][k]) for k in KEYS if k in plan['changes']]
    if actions and not check_mode:
        apply_update(target, current['ifindex'], plan['changes'], master_index)
    return actions, dict(current, **{k: v[1] for k, v in plan['changes'].items()}), plan


def converge(params, check_mode=False, diff=False):
    """The vxlan module: its parameters validated, then ``converge_in``."""
    p = dict(DEFAULTS, **params)
    name = _linkplan.validate_ifname(p['name'], 'name')
    netns = p['netns']
    _netns.require(netns)
    want = desired_state(p) if p['state'] == 'present' else None
    with _links.opened(None) as home, _links.opened(netns) as target:
        return converge_in(home, target, name, netns, want, check_mode, diff)


def converge_in(home, target, name, netns, want, check_mode=False, diff=False, scan=None):
    """Converge VTEP ``name`` in ``netns`` (``target`` an IPRoute there, ``home`` one in the module's
    namespace) to the validated ``want`` (``desired_state``; None: absent). ``scan``: a ``VxlanScan``
    shared by the VTEPs of one run."""
    want = dict(want) if want is not None else None
    links = _links.read_links(target)
    link = _links.find(links, name=name)
    if link is not None and link['kind'] != 'vxlan':
        raise _linkplan.LinkError(_linkplan.wrong_kind_message(name, netns, link['kind'], 'vxlan'))
    current = read_state(target, links, link, netns)
    plan = None
    if want is None:
        actions, predicted = ([], None) if current is None else (['delete %s' % name], None)
        if actions and not check_mode:
            _links.delete_link(target, current['ifindex'])
    else:
        actions, predicted, plan = _converge_present(home, target, links, current, netns, name, want, check_mode,
                                                     scan)
    after = _change.state_after(actions, check_mode, current, predicted, lambda: _read_back(target, name, netns))
    extra = {'recreated': plan['reasons']} if plan and plan['action'] == 'recreate' else {}
    return _change.link_result('vxlan', actions, current, after, name, netns, diff, **extra)


def _read_back(target, name, netns):
    links = _links.read_links(target)
    return read_state(target, links, _links.find(links, name=name), netns)


def predict_new(name, netns, want, scan=None):
    """The result of ``converge_in`` for a VTEP in a sandbox that does not exist yet (check mode):
    its VNI checked against the node's other VXLAN devices, reported as created."""
    devices = scan.devices() if scan is not None else _links.scan_vxlan_devices(_netns.list_names())
    clashes = _linkplan.vni_clashes(devices, want['vni'], want['dstport'], _linkplan.ip_version(want['local']) == 6)
    if clashes:
        raise _linkplan.LinkError(_linkplan.clash_message(want['vni'], want['dstport'], clashes))
    after = _predicted_new(name, netns, want)
    actions = ['create %s (vni %d, dstport %d) in the namespace the module runs in, move it to %s'
               % (name, want['vni'], want['dstport'], netns)]
    return _change.link_result('vxlan', actions, None, after, name, netns, True)
