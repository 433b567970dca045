# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one Linux bridge (the logic of the ``bridge`` module, shared with ``sandbox``).

``converge(params, check_mode, diff)`` returns the module result; bad input and kernel objects in
the way raise ``_linkplan.LinkError`` (or ``_netns.NetnsError``/``ValueError``) before any change.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import change as _change

DEFAULTS = {'name': None, 'netns': None, 'state': 'present', 'mtu': None, 'addresses': None, 'up': True}


def read_state(ipr, link, netns, desired_addresses=None):
    if link is None:
        return None
    addresses = _links.read_addresses(ipr, link['ifindex'])
    return {'name': link['name'], 'netns': netns, 'ifindex': link['ifindex'], 'mtu': link['mtu'],
            'mac': link['mac'], 'up': link['up'],
            'addresses': _linkplan.visible_addresses(addresses, desired_addresses), '_all': addresses}


def public(state):
    return None if state is None else {k: v for k, v in state.items() if not k.startswith('_')}


def validate(params):
    """The bridge module's parameters checked: the model ``converge_in`` takes
    (``{'name', 'netns', 'state', 'mtu', 'addresses', 'up'}``, normalised)."""
    p = dict(DEFAULTS, **params)
    return dict(p, name=_linkplan.validate_ifname(p['name'], 'name'), mtu=_linkplan.validate_mtu(p['mtu']),
                addresses=_linkplan.normalize_cidrs(p['addresses'], 'addresses'))


def predict_new(want):
    """The result of ``converge_in`` for a bridge in a namespace that does not exist yet (check mode)."""
    name, mtu, addresses = want['name'], want['mtu'], want['addresses']
    actions = ['create bridge %s' % name]
    if mtu:
        actions.append('set mtu %s' % mtu)
    actions.extend('add address %s' % a for a in addresses or [])
    if want['up']:
        actions.append('set up')
    after = {'name': name, 'netns': want['netns'], 'ifindex': None, 'mtu': mtu or 1500, 'mac': None,
             'up': want['up'], 'addresses': addresses or []}
    return _change.link_result('bridge', actions, None, after, name, want['netns'], True)


def converge(params, check_mode=False, diff=False):
    """The bridge module: its parameters validated, then ``converge_in``."""
    want = validate(params)
    _netns.require(want['netns'])
    with _links.opened(want['netns']) as ipr:
        return converge_in(ipr, want, check_mode, diff)


def _absent(ipr, current, name, check_mode):
    if current is None:
        return []
    if not check_mode:
        _links.delete_link(ipr, current['ifindex'])
    return ['delete bridge %s' % name]


def _present(ipr, current, want, check_mode):
    """``(actions, predicted)`` for state=present, applied unless ``check_mode``."""
    name, netns, mtu, addresses, up = want['name'], want['netns'], want['mtu'], want['addresses'], want['up']
    base = current or {'name': name, 'netns': netns, 'ifindex': None, 'mtu': 1500, 'mac': None,
                       'up': False, 'addresses': [], '_all': []}
    changes = _linkplan.plan_attrs({'mtu': mtu, 'up': up}, base, ('mtu', 'up'))
    add, remove = _linkplan.plan_addresses(addresses, base['_all'])
    actions = ['create bridge %s' % name] if current is None else []
    if 'mtu' in changes:
        actions.append('set mtu %s' % mtu)
    actions.extend('remove address %s' % a for a in remove)
    actions.extend('add address %s' % a for a in add)
    if 'up' in changes:
        actions.append('set %s' % ('up' if up else 'down'))
    predicted = dict(base, mtu=mtu or base['mtu'], up=up)
    if addresses is not None:
        predicted['addresses'] = _linkplan.visible_addresses([a for a in base['_all'] if a not in remove] + add, addresses)
    if actions and not check_mode:
        if current is None:
            ipr.link('add', ifname=name, kind='bridge', **({'mtu': mtu} if mtu else {}))
            index = _links.lookup_index(ipr, name)
        else:
            index = current['ifindex']
            if 'mtu' in changes:
                ipr.link('set', index=index, mtu=mtu)
        _links.apply_addresses(ipr, index, add, remove, addresses)
        if 'up' in changes:
            ipr.link('set', index=index, state='up' if up else 'down')
    return actions, predicted


def converge_in(ipr, want, check_mode=False, diff=False):
    """Converge the bridge ``want`` (``validate``'s model) through ``ipr``, an IPRoute in its namespace."""
    name, netns, addresses = want['name'], want['netns'], want['addresses']
    link = _links.find(_links.read_links(ipr), name=name)
    if link is not None and link['kind'] != 'bridge':
        raise _linkplan.LinkError(_linkplan.wrong_kind_message(name, netns, link['kind'], 'bridge'))
    current = read_state(ipr, link, netns, addresses)
    if want['state'] == 'absent':
        actions, predicted = _absent(ipr, current, name, check_mode), None
    else:
        actions, predicted = _present(ipr, current, want, check_mode)
    after = _change.state_after(actions, check_mode, current, predicted,
                                lambda: read_state(ipr, _links.find(_links.read_links(ipr), name=name), netns, addresses))
    return _change.link_result('bridge', actions, public(current), public(after), name, netns, diff)
