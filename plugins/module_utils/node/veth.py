# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one veth pair (the logic of the ``veth`` module, shared with ``task``).

``converge(params, check_mode, diff)`` returns the module result; bad input and kernel objects in
the way raise ``_linkplan.LinkError`` before any change.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _rtnl
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import change as _change

DEFAULTS = {'name': None, 'netns': None, 'state': 'present', 'peer': None, 'peer_netns': None, 'master': None,
            'mtu': None, 'mac': None, 'peer_mac': None, 'peer_addresses': None, 'peer_routes': None, 'up': True}


def end_state(link, netns, links=None):
    state = {'name': link['name'], 'netns': netns, 'ifindex': link['ifindex'], 'mtu': link['mtu'],
             'mac': link['mac'], 'up': link['up']}
    if links is not None:
        master = _links.find(links, ifindex=link['master']) if link['master'] else None
        state['master'] = master['name'] if master else None
    return state


def peer_state(ipr, link, netns, want_addresses):
    state = end_state(link, netns)
    addresses = _links.read_addresses(ipr, link['ifindex'])
    state['addresses'] = _linkplan.visible_addresses(addresses, want_addresses)
    state['routes'] = _links.read_routes(ipr, link['ifindex'])
    state['_all'] = addresses
    return state


def public(state):
    if state is None:
        return None
    out = {k: v for k, v in state.items() if not k.startswith('_')}
    if isinstance(out.get('peer'), dict):
        out['peer'] = public(out['peer'])
    return out


def desired(p):
    want = {'mtu': _linkplan.validate_mtu(p['mtu']), 'mac': _linkplan.normalize_mac(p['mac'], 'mac'),
            'peer_mac': _linkplan.normalize_mac(p['peer_mac'], 'peer_mac'),
            'addresses': _linkplan.normalize_cidrs(p['peer_addresses'], 'peer_addresses'),
            'routes': _linkplan.normalize_routes(p['peer_routes'], 'peer_routes'),
            'master': p['master'], 'up': p['up']}
    if p['master']:
        _linkplan.validate_ifname(p['master'], 'master')
    if want['routes'] and not p['up']:
        raise _linkplan.LinkError('peer_routes need the pair up (up: true): the kernel drops routes of a device '
                                  'that is down')
    return want


def check_gateways(routes, addresses):
    bad = _linkplan.unreachable_gateways(routes, addresses)
    if bad:
        raise _linkplan.LinkError('peer_routes: gateway %s of %s is not in a subnet of the peer end\'s addresses (%s)'
                                  % (bad[0]['via'], bad[0]['dst'], ', '.join(addresses) or 'none'))


def create_pair(ipr_a, name, peer, peer_netns, want):
    end = {}
    other = {'ifname': peer}
    if want['mtu']:
        end['mtu'] = other['mtu'] = want['mtu']
    if want['mac']:
        end['address'] = want['mac']
    if want['peer_mac']:
        other['address'] = want['peer_mac']
    with _links.ns_fd(peer_netns) as fd:
        other['net_ns_fd'] = fd
        ipr_a.link('add', ifname=name, kind='veth', peer=other, **end)


def _forget_learned(netns, name, mac, ifindex, actions):
    """The bridge forgets what it learned of the new pair's MAC on its other ports (_rtnl.forget_learned)."""
    if not mac:
        return
    with _rtnl.Socket(netns) as sock:
        if _rtnl.forget_learned(sock, mac.lower(), ifindex):
            actions.append('%s: the bridge forgets %s learned on another port' % (name, mac.lower()))


def _absent(name, netns, check_mode, diff):
    actions = []
    with _links.opened(netns) as ipr_a:
        a = _links.find(_links.read_links(ipr_a), name=name)
        if a is not None and a['kind'] != 'veth':
            raise _linkplan.LinkError(_linkplan.wrong_kind_message(name, netns, a['kind'], 'veth'))
        current = end_state(a, netns) if a else None
        if a is not None:
            actions.append('delete %s in %s (its peer goes with it)' % (name, _linkplan.where(netns)))
            if not check_mode:
                _links.delete_link(ipr_a, a['ifindex'])
    return _change.link_result('veth', actions, current, None, name, netns, diff)


def _read(ipr_a, ipr_b, ends, want):
    """The two ends as they are: ``(a, b, master_index, paired, current)``."""
    name, netns, peer, peer_netns = ends
    links_a, links_b = _links.read_links(ipr_a), _links.read_links(ipr_b)
    a, b = _links.find(links_a, name=name), _links.find(links_b, name=peer)
    for link, ns, n in ((a, netns, name), (b, peer_netns, peer)):
        if link is not None and link['kind'] != 'veth':
            raise _linkplan.LinkError(_linkplan.wrong_kind_message(n, ns, link['kind'], 'veth'))
    master_index = _links.check_master(links_a, want['master'], netns)
    paired = bool(a and b) and _linkplan.is_veth_pair(
        a, b, _links.link_points_to(ipr_a, a, netns, peer_netns),
        _links.link_points_to(ipr_b, b, peer_netns, netns))
    current = None
    if a is not None:
        current = dict(end_state(a, netns, links_a), paired=paired)
        current['peer'] = (peer_state(ipr_b, b, peer_netns, want['addresses']) if paired
                           else {'name': peer, 'netns': peer_netns, 'exists': b is not None})
    elif b is not None:
        current = {'name': name, 'netns': netns, 'exists': False, 'paired': False,
                   'peer': dict(end_state(b, peer_netns), exists=True)}
    return a, b, master_index, paired, current


def _plan_update(name, peer, current, want):
    """What changes on a pair that exists: ``(actions, predicted, changes)``."""
    base_b = current['peer']
    changes_a = _linkplan.plan_attrs(want, current, ('mtu', 'mac', 'master', 'up'))
    changes_b = _linkplan.plan_attrs({'mtu': want['mtu'], 'mac': want['peer_mac'], 'up': want['up']},
                                     base_b, ('mtu', 'mac', 'up'))
    add_a, del_a = _linkplan.plan_addresses(want['addresses'], base_b['_all'])
    next_addresses = want['addresses'] if want['addresses'] is not None else base_b['addresses']
    check_gateways(want['routes'], next_addresses)
    add_r, del_r = _linkplan.plan_routes(want['routes'], base_b['routes'])
    actions = ['%s: set %s %s -> %s' % (name, k, v[0], v[1]) for k, v in changes_a.items()]
    actions.extend('%s: set %s %s -> %s' % (peer, k, v[0], v[1]) for k, v in changes_b.items())
    actions.extend('%s: remove route %s via %s' % (peer, r['dst'], r['via']) for r in del_r)
    actions.extend('%s: remove address %s' % (peer, x) for x in del_a)
    actions.extend('%s: add address %s' % (peer, x) for x in add_a)
    actions.extend('%s: add route %s via %s' % (peer, r['dst'], r['via']) for r in add_r)
    predicted = dict(current, **{k: v[1] for k, v in changes_a.items()})
    predicted['peer'] = dict(base_b, **{k: v[1] for k, v in changes_b.items()})
    if want['addresses'] is not None:
        predicted['peer']['addresses'] = _linkplan.visible_addresses(
            [x for x in base_b['_all'] if x not in del_a] + add_a, want['addresses'])
    if want['routes'] is not None:
        predicted['peer']['routes'] = want['routes']
    return actions, predicted, (changes_a, changes_b, add_a, del_a, del_r)


def _apply_update(ipr_a, ipr_b, ia, ib, want, master_index, changes):
    changes_a, changes_b, add_a, del_a, del_r = changes
    if 'mtu' in changes_a:
        ipr_a.link('set', index=ia, mtu=want['mtu'])
    if 'mtu' in changes_b:
        ipr_b.link('set', index=ib, mtu=want['mtu'])
    if 'mac' in changes_a:
        ipr_a.link('set', index=ia, address=want['mac'])
    if 'mac' in changes_b:
        ipr_b.link('set', index=ib, address=want['peer_mac'])
    if 'master' in changes_a:
        ipr_a.link('set', index=ia, master=master_index or 0)
    _links.apply_routes(ipr_b, ib, [], del_r)
    _links.apply_addresses(ipr_b, ib, add_a, del_a, want['addresses'])
    for ipr, index, changed in ((ipr_a, ia, changes_a), (ipr_b, ib, changes_b)):
        if 'up' in changed:
            ipr.link('set', index=index, state='up' if want['up'] else 'down')
    # read again: removing an address makes the kernel drop routes through its subnet
    add_r = _linkplan.plan_routes(want['routes'], _links.read_routes(ipr_b, ib))[0]
    _links.apply_routes(ipr_b, ib, add_r, [])


def _new_pair(ends, want):
    """The actions and the prediction of a pair made from nothing."""
    name, netns, peer, peer_netns = ends
    actions = ['create veth pair %s (%s) - %s (%s)' % (name, _linkplan.where(netns), peer, _linkplan.where(peer_netns))]
    actions.extend('%s: add address %s' % (peer, x) for x in want['addresses'] or [])
    actions.extend('%s: add route %s via %s' % (peer, r['dst'], r['via']) for r in want['routes'] or [])
    predicted = {'name': name, 'netns': netns, 'ifindex': None, 'mtu': want['mtu'] or 1500, 'mac': want['mac'],
                 'master': want['master'] or None, 'up': want['up'], 'paired': True,
                 'peer': {'name': peer, 'netns': peer_netns, 'ifindex': None, 'mtu': want['mtu'] or 1500,
                          'mac': want['peer_mac'], 'up': want['up'], 'addresses': want['addresses'] or [],
                          'routes': want['routes'] or []}}
    return actions, predicted


def _replace(ipr_a, ipr_b, a, b, ends, want, master_index, check_mode):
    """Delete what is in the way and make the pair: ``(actions, predicted)``."""
    name, netns, peer, peer_netns = ends
    check_gateways(want['routes'], want['addresses'] or [])
    actions = []
    if a is not None:
        actions.append('delete %s in %s (not paired with %s in %s)'
                       % (name, _linkplan.where(netns), peer, _linkplan.where(peer_netns)))
    if b is not None:
        actions.append('delete %s in %s (not paired with %s in %s)'
                       % (peer, _linkplan.where(peer_netns), name, _linkplan.where(netns)))
    new_actions, predicted = _new_pair(ends, want)
    actions.extend(new_actions)
    if check_mode:
        return actions, predicted
    if a is not None:
        _links.delete_link(ipr_a, a['ifindex'])
    if b is not None:
        for index in ipr_b.link_lookup(ifname=peer):   # may have gone with a
            _links.delete_link(ipr_b, index)
    create_pair(ipr_a, name, peer, peer_netns, want)
    ia, ib = _links.lookup_index(ipr_a, name), _links.lookup_index(ipr_b, peer)
    if master_index:
        ipr_a.link('set', index=ia, master=master_index)
        _forget_learned(netns, name, want['peer_mac'], ia, actions)
    _links.apply_addresses(ipr_b, ib, want['addresses'] or [], [])
    if want['up']:
        ipr_a.link('set', index=ia, state='up')
        ipr_b.link('set', index=ib, state='up')
    _links.apply_routes(ipr_b, ib, want['routes'] or [], [])
    return actions, predicted


def converge(params, check_mode=False, diff=False):
    p = dict(DEFAULTS, **params)
    name = _linkplan.validate_ifname(p['name'], 'name')
    netns, peer_netns = p['netns'], p['peer_netns']
    _netns.require(netns)
    if p['state'] == 'absent':
        return _absent(name, netns, check_mode, diff)
    peer = _linkplan.validate_ifname(p['peer'], 'peer')
    _netns.require(peer_netns)
    if name == peer and _links.ns_identity(netns) == _links.ns_identity(peer_netns):
        raise _linkplan.LinkError('name and peer are both %s in %s: the two ends need different names in one '
                                  'namespace' % (name, _linkplan.where(netns)))
    want = desired(p)
    ends = (name, netns, peer, peer_netns)
    with _links.opened(netns) as ipr_a, _links.opened(peer_netns) as ipr_b:
        a, b, master_index, paired, current = _read(ipr_a, ipr_b, ends, want)
        if paired:
            actions, predicted, changes = _plan_update(name, peer, current, want)
            if actions and not check_mode:
                _apply_update(ipr_a, ipr_b, a['ifindex'], b['ifindex'], want, master_index, changes)
        else:
            actions, predicted = _replace(ipr_a, ipr_b, a, b, ends, want, master_index, check_mode)
        after = _change.state_after(actions, check_mode, current, predicted,
                                    lambda: _read_back(ipr_a, ipr_b, ends, want))
    return _change.link_result('veth', actions, public(current), public(after), name, netns, diff)


def _read_back(ipr_a, ipr_b, ends, want):
    name, netns, peer, peer_netns = ends
    links_a, links_b = _links.read_links(ipr_a), _links.read_links(ipr_b)
    a, b = _links.find(links_a, name=name), _links.find(links_b, name=peer)
    return dict(end_state(a, netns, links_a), paired=True, peer=peer_state(ipr_b, b, peer_netns, want['addresses']))


def predict_new(params):
    """The result of ``converge`` for a pair whose namespace(s) this run creates (check mode):
    validated and reported as created, with everything on it new."""
    p = dict(DEFAULTS, **params)
    name = _linkplan.validate_ifname(p['name'], 'name')
    peer = _linkplan.validate_ifname(p['peer'], 'peer')
    netns = p['netns']
    want = desired(p)
    check_gateways(want['routes'], want['addresses'] or [])
    actions, after = _new_pair((name, netns, peer, p['peer_netns']), want)
    return _change.link_result('veth', actions, None, after, name, netns, True)
