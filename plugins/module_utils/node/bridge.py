# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one Linux bridge (the logic of the ``bridge`` module, shared with ``sandbox``).

``converge(params, check_mode, diff)`` returns the module result; bad input and kernel objects in
the way raise ``_links.LinkError`` (or ``_netns.NetnsError``/``ValueError``) before any change.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

DEFAULTS = {'name': None, 'netns': None, 'state': 'present', 'mtu': None, 'addresses': None, 'up': True}


def read_state(ipr, link, netns, desired_addresses=None):
    if link is None:
        return None
    addresses = _links.read_addresses(ipr, link['ifindex'])
    return {'name': link['name'], 'netns': netns, 'ifindex': link['ifindex'], 'mtu': link['mtu'],
            'mac': link['mac'], 'up': link['up'],
            'addresses': _links.visible_addresses(addresses, desired_addresses), '_all': addresses}


def public(state):
    return None if state is None else {k: v for k, v in state.items() if not k.startswith('_')}


def validate(params):
    """Check the input; returns ``(name, mtu, addresses)`` normalised."""
    p = dict(DEFAULTS, **params)
    return (_links.validate_ifname(p['name'], 'name'), _links.validate_mtu(p['mtu']),
            _links.normalize_cidrs(p['addresses'], 'addresses'))


def predict_new(params):
    """The result of ``converge`` for a bridge in a namespace that does not exist yet (check mode)."""
    p = dict(DEFAULTS, **params)
    name, mtu, addresses = validate(p)
    actions = ['create bridge %s' % name]
    if mtu:
        actions.append('set mtu %s' % mtu)
    actions.extend('add address %s' % a for a in addresses or [])
    if p['up']:
        actions.append('set up')
    after = {'name': name, 'netns': p['netns'], 'ifindex': None, 'mtu': mtu or 1500, 'mac': None,
             'up': p['up'], 'addresses': addresses or []}
    return {'changed': True, 'actions': actions, 'bridge': after,
            'diff': diff_result(_links.diff_view(None, name=name, netns=p['netns']),
                                _links.diff_view(after, name=name, netns=p['netns']))}


def converge(params, check_mode=False, diff=False):
    p = dict(DEFAULTS, **params)
    name, mtu, addresses = validate(p)
    netns = p['netns']
    _netns.require(netns)
    actions = []
    with _links.opened(netns) as ipr:
        link = _links.find(_links.read_links(ipr), name=name)
        if link is not None and link['kind'] != 'bridge':
            raise _links.LinkError(_links.wrong_kind_message(name, netns, link['kind'], 'bridge'))
        current = read_state(ipr, link, netns, addresses)
        if p['state'] == 'absent':
            predicted = None
            if current is not None:
                actions.append('delete bridge %s' % name)
                if not check_mode:
                    _links.delete_link(ipr, current['ifindex'])
        else:
            base = current or {'name': name, 'netns': netns, 'ifindex': None, 'mtu': 1500, 'mac': None,
                               'up': False, 'addresses': [], '_all': []}
            changes = _links.plan_attrs({'mtu': mtu, 'up': p['up']}, base, ('mtu', 'up'))
            add, remove = _links.plan_addresses(addresses, base['_all'])
            if current is None:
                actions.append('create bridge %s' % name)
            if 'mtu' in changes:
                actions.append('set mtu %s' % mtu)
            actions.extend('remove address %s' % a for a in remove)
            actions.extend('add address %s' % a for a in add)
            if 'up' in changes:
                actions.append('set %s' % ('up' if p['up'] else 'down'))
            predicted = dict(base, mtu=mtu or base['mtu'], up=p['up'])
            if addresses is not None:
                predicted['addresses'] = _links.visible_addresses(
                    [a for a in base['_all'] if a not in remove] + add, addresses)
            if actions and not check_mode:
                if current is None:
                    kw = {'mtu': mtu} if mtu else {}
                    ipr.link('add', ifname=name, kind='bridge', **kw)
                    index = _links.lookup_index(ipr, name)
                else:
                    index = current['ifindex']
                    if 'mtu' in changes:
                        ipr.link('set', index=index, mtu=mtu)
                _links.apply_addresses(ipr, index, add, remove, addresses)
                if 'up' in changes:
                    ipr.link('set', index=index, state='up' if p['up'] else 'down')
        changed = bool(actions)
        if changed and not check_mode:
            after = read_state(ipr, _links.find(_links.read_links(ipr), name=name), netns, addresses)
        else:
            after = predicted if changed else current
    result = {'changed': changed, 'actions': actions, 'bridge': public(after)}
    if diff:
        result['diff'] = diff_result(_links.diff_view(public(current), name=name, netns=netns),
                                     _links.diff_view(public(after), name=name, netns=netns))
    return result
