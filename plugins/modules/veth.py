#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: veth
short_description: Manage a veth pair across two namespaces, with the peer end's addresses and routes
version_added: 0.1.0
description:
  - Creates, changes or deletes a veth pair, for example the cable between an overlay sandbox's bridge and a
    task's C(eth0).
  - The pair is created in one netlink request, with the peer end directly in O(peer_netns).
  - The pair counts as the pair only if O(name) in O(netns) and O(peer) in O(peer_netns) are veth devices
    pointing at each other. Otherwise the module deletes whichever of the two exists and creates the pair
    anew; the diff and RV(actions) say so. A re-created pair gets only what the options say.
  - With O(peer_addresses) and O(peer_routes) given, the peer end ends up with exactly those addresses and
    routes. IPv6 link-local addresses and the routes the kernel makes by itself (connected subnets) are left alone.
  - The loopback device of O(peer_netns) is not touched.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._netns
  - linuxnet.overlay._attributes
options:
  name:
    description:
      - Name of this end, in O(netns), at most 15 characters.
    type: str
    required: true
  netns:
    description:
      - Namespace of this end. When omitted, the namespace the module runs in.
  state:
    description:
      - V(present) creates or updates the pair; V(absent) deletes this end (the kernel deletes the peer with it).
    type: str
    choices: [present, absent]
    default: present
  peer:
    description:
      - Name of the peer end, in O(peer_netns), at most 15 characters. Required with O(state=present).
    type: str
  peer_netns:
    description:
      - Namespace of the peer end, for example a task namespace. When omitted, the namespace the module runs in.
    type: str
  master:
    description:
      - Name of a bridge in O(netns) to attach this end to. It must exist.
      - V("") detaches this end from any bridge; omitted means the master is not managed.
    type: str
  mtu:
    description:
      - MTU of both ends, 68-65535. When omitted it is not managed.
    type: int
  mac:
    description:
      - MAC address of this end. When omitted it is not managed.
    type: str
  peer_mac:
    description:
      - MAC address of the peer end, for example C(02:42:) followed by the 4 bytes of its IPv4 address.
        When omitted it is not managed.
    type: str
  peer_addresses:
    description:
      - Addresses of the peer end in CIDR notation. Exactly these are kept (IPv6 link-local ones aside).
      - V([]) removes all; omitted means not managed.
    type: list
    elements: str
  peer_routes:
    description:
      - Routes through the peer end. Exactly these are kept on the peer end's device in the main table;
        routes the kernel makes (connected subnets, IPv6 link-local) are left alone.
      - V([]) removes all; omitted means not managed. Routes need O(up=true).
    type: list
    elements: dict
    suboptions:
      dst:
        description:
          - Destination network in CIDR notation without host bits, or V(default).
        type: str
        required: true
      via:
        description:
          - Gateway address; it must lie in a subnet of the peer end's addresses (or be IPv6 link-local).
            Omitted means an on-link route.
        type: str
  up:
    description:
      - Whether both ends are administratively up.
    type: bool
    default: true
notes:
  - Fails, changing nothing, on a name longer than 15 characters, a missing namespace, a device of another
    kind under either name, a missing O(master) bridge, a malformed MAC address, address or route, or a
    route whose gateway is not reachable through the peer end's addresses.
seealso:
  - module: linuxnet.overlay.netns
  - module: linuxnet.overlay.bridge
"""

EXAMPLES = r"""
---
- name: Give task test.1.x7k2 its eth0 on br0 of the sandbox
  linuxnet.overlay.veth:
    name: veth3a9f1c2
    netns: ov-uber-net
    master: br0
    mtu: 1450
    peer: eth0
    peer_netns: test.1.x7k2
    peer_mac: 02:42:0a:00:00:03
    peer_addresses: [10.0.0.3/24]
    peer_routes:
      - dst: 11.1.1.0/24
        via: 10.0.0.1

- name: Remove it (the task's eth0 goes with it)
  linuxnet.overlay.veth:
    name: veth3a9f1c2
    netns: ov-uber-net
    state: absent
"""

RETURN = r"""
veth:
  description: The pair after the module ran (predicted in check mode; V(null) when absent).
  returned: always
  type: dict
  contains:
    name:
      description: Name of this end.
      type: str
      sample: veth3a9f1c2
    netns:
      description: Namespace of this end (V(null) for the one the module runs in).
      type: str
    ifindex:
      description: Interface index of this end (V(null) when predicted in check mode).
      type: int
    mtu:
      description: MTU of this end.
      type: int
    mac:
      description: MAC address of this end (V(null) when predicted and not given).
      type: str
    master:
      description: Bridge this end is attached to, or V(null).
      type: str
    up:
      description: Whether this end is administratively up.
      type: bool
    paired:
      description: Whether O(name) and O(peer) are the two ends of one veth pair.
      type: bool
    peer:
      description: The peer end, with the same keys as this end (no C(master)) plus C(addresses) and C(routes).
      type: dict
      sample:
        name: eth0
        netns: test.1.x7k2
        ifindex: 2
        mtu: 1450
        mac: 02:42:0a:00:00:03
        up: true
        addresses: [10.0.0.3/24]
        routes: [{dst: 11.1.1.0/24, via: 10.0.0.1}]
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create veth pair veth3a9f1c2 (namespace ov-uber-net) - eth0 (namespace test.1.x7k2)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils import _links, _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils._common import (
    NETNS_ARG_SPEC, diff_result, require_pyroute2)


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
    state['addresses'] = _links.visible_addresses(addresses, want_addresses)
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
    want = {'mtu': _links.validate_mtu(p['mtu']), 'mac': _links.normalize_mac(p['mac'], 'mac'),
            'peer_mac': _links.normalize_mac(p['peer_mac'], 'peer_mac'),
            'addresses': _links.normalize_cidrs(p['peer_addresses'], 'peer_addresses'),
            'routes': _links.normalize_routes(p['peer_routes'], 'peer_routes'),
            'master': p['master'], 'up': p['up']}
    if p['master']:
        _links.validate_ifname(p['master'], 'master')
    if want['routes'] and not p['up']:
        raise _links.LinkError('peer_routes need the pair up (up: true): the kernel drops routes of a device '
                               'that is down')
    return want


def check_master(links, master, netns):
    if not master:
        return None
    link = _links.find(links, name=master)
    if link is None:
        raise _links.LinkError('master bridge %s does not exist in %s; create it first, for example with '
                               'linuxnet.overlay.bridge' % (master, _links.where(netns)))
    if link['kind'] != 'bridge':
        raise _links.LinkError('master ' + _links.wrong_kind_message(master, netns, link['kind'], 'bridge'))
    return link['ifindex']


def check_gateways(routes, addresses):
    bad = _links.unreachable_gateways(routes, addresses)
    if bad:
        raise _links.LinkError('peer_routes: gateway %s of %s is not in a subnet of the peer end\'s addresses (%s)'
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


def run(module):
    p = module.params
    name = _links.validate_ifname(p['name'], 'name')
    netns, peer_netns = p['netns'], p['peer_netns']
    _netns.require(netns)
    actions = []
    if p['state'] == 'absent':
        with _links.opened(netns) as ipr_a:
            a = _links.find(_links.read_links(ipr_a), name=name)
            if a is not None and a['kind'] != 'veth':
                raise _links.LinkError(_links.wrong_kind_message(name, netns, a['kind'], 'veth'))
            current = end_state(a, netns) if a else None
            if a is not None:
                actions.append('delete %s in %s (its peer goes with it)' % (name, _links.where(netns)))
                if not module.check_mode:
                    _links.delete_link(ipr_a, a['ifindex'])
        result = {'changed': bool(actions), 'actions': actions, 'veth': None}
        if module._diff:
            result['diff'] = diff_result(_links.diff_view(current, name=name, netns=netns),
                                         _links.diff_view(None, name=name, netns=netns))
        return result

    peer = _links.validate_ifname(p['peer'], 'peer')
    _netns.require(peer_netns)
    if name == peer and _links.ns_identity(netns) == _links.ns_identity(peer_netns):
        raise _links.LinkError('name and peer are both %s in %s: the two ends need different names in one '
                               'namespace' % (name, _links.where(netns)))
    want = desired(p)
    with _links.opened(netns) as ipr_a, _links.opened(peer_netns) as ipr_b:
        links_a, links_b = _links.read_links(ipr_a), _links.read_links(ipr_b)
        a, b = _links.find(links_a, name=name), _links.find(links_b, name=peer)
        for link, ns, n in ((a, netns, name), (b, peer_netns, peer)):
            if link is not None and link['kind'] != 'veth':
                raise _links.LinkError(_links.wrong_kind_message(n, ns, link['kind'], 'veth'))
        master_index = check_master(links_a, want['master'], netns)
        paired = bool(a and b) and _links.is_veth_pair(
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

        if paired:
            base_b = current['peer']
            changes_a = _links.plan_attrs(want, current, ('mtu', 'mac', 'master', 'up'))
            changes_b = _links.plan_attrs({'mtu': want['mtu'], 'mac': want['peer_mac'], 'up': want['up']},
                                          base_b, ('mtu', 'mac', 'up'))
            add_a, del_a = _links.plan_addresses(want['addresses'], base_b['_all'])
            next_addresses = want['addresses'] if want['addresses'] is not None else base_b['addresses']
            check_gateways(want['routes'], next_addresses)
            add_r, del_r = _links.plan_routes(want['routes'], base_b['routes'])
            actions.extend('%s: set %s %s -> %s' % (name, k, v[0], v[1]) for k, v in changes_a.items())
            actions.extend('%s: set %s %s -> %s' % (peer, k, v[0], v[1]) for k, v in changes_b.items())
            actions.extend('%s: remove route %s via %s' % (peer, r['dst'], r['via']) for r in del_r)
            actions.extend('%s: remove address %s' % (peer, x) for x in del_a)
            actions.extend('%s: add address %s' % (peer, x) for x in add_a)
            actions.extend('%s: add route %s via %s' % (peer, r['dst'], r['via']) for r in add_r)
            predicted = dict(current, **{k: v[1] for k, v in changes_a.items()})
            predicted['peer'] = dict(base_b, **{k: v[1] for k, v in changes_b.items()})
            if want['addresses'] is not None:
                predicted['peer']['addresses'] = _links.visible_addresses(
                    [x for x in base_b['_all'] if x not in del_a] + add_a, want['addresses'])
            if want['routes'] is not None:
                predicted['peer']['routes'] = want['routes']
            if actions and not module.check_mode:
                ia, ib = a['ifindex'], b['ifindex']
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
                for ipr, index, changes in ((ipr_a, ia, changes_a), (ipr_b, ib, changes_b)):
                    if 'up' in changes:
                        ipr.link('set', index=index, state='up' if want['up'] else 'down')
                # read again: removing an address makes the kernel drop routes through its subnet
                add_r = _links.plan_routes(want['routes'], _links.read_routes(ipr_b, ib))[0]
                _links.apply_routes(ipr_b, ib, add_r, [])
        else:
            check_gateways(want['routes'], want['addresses'] or [])
            if a is not None:
                actions.append('delete %s in %s (not paired with %s in %s)'
                               % (name, _links.where(netns), peer, _links.where(peer_netns)))
            if b is not None:
                actions.append('delete %s in %s (not paired with %s in %s)'
                               % (peer, _links.where(peer_netns), name, _links.where(netns)))
            actions.append('create veth pair %s (%s) - %s (%s)'
                           % (name, _links.where(netns), peer, _links.where(peer_netns)))
            actions.extend('%s: add address %s' % (peer, x) for x in want['addresses'] or [])
            actions.extend('%s: add route %s via %s' % (peer, r['dst'], r['via']) for r in want['routes'] or [])
            predicted = {'name': name, 'netns': netns, 'ifindex': None, 'mtu': want['mtu'] or 1500,
                         'mac': want['mac'], 'master': want['master'] or None, 'up': want['up'], 'paired': True,
                         'peer': {'name': peer, 'netns': peer_netns, 'ifindex': None, 'mtu': want['mtu'] or 1500,
                                  'mac': want['peer_mac'], 'up': want['up'], 'addresses': want['addresses'] or [],
                                  'routes': want['routes'] or []}}
            if not module.check_mode:
                if a is not None:
                    _links.delete_link(ipr_a, a['ifindex'])
                if b is not None:
                    for index in ipr_b.link_lookup(ifname=peer):   # may have gone with a
                        _links.delete_link(ipr_b, index)
                create_pair(ipr_a, name, peer, peer_netns, want)
                ia, ib = _links.lookup_index(ipr_a, name), _links.lookup_index(ipr_b, peer)
                if master_index:
                    ipr_a.link('set', index=ia, master=master_index)
                _links.apply_addresses(ipr_b, ib, want['addresses'] or [], [])
                if want['up']:
                    ipr_a.link('set', index=ia, state='up')
                    ipr_b.link('set', index=ib, state='up')
                _links.apply_routes(ipr_b, ib, want['routes'] or [], [])

        changed = bool(actions)
        if changed and not module.check_mode:
            links_a, links_b = _links.read_links(ipr_a), _links.read_links(ipr_b)
            a, b = _links.find(links_a, name=name), _links.find(links_b, name=peer)
            after = dict(end_state(a, netns, links_a), paired=True,
                         peer=peer_state(ipr_b, b, peer_netns, want['addresses']))
        else:
            after = predicted if changed else current
    result = {'changed': changed, 'actions': actions, 'veth': public(after)}
    if module._diff:
        result['diff'] = diff_result(_links.diff_view(public(current), name=name, netns=netns),
                                     _links.diff_view(public(after), name=name, netns=netns))
    return result


def main():
    argument_spec = dict(NETNS_ARG_SPEC)
    argument_spec.update({
        'name': {'type': 'str', 'required': True},
        'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        'peer': {'type': 'str'},
        'peer_netns': {'type': 'str'},
        'master': {'type': 'str'},
        'mtu': {'type': 'int'},
        'mac': {'type': 'str'},
        'peer_mac': {'type': 'str'},
        'peer_addresses': {'type': 'list', 'elements': 'str'},
        'peer_routes': {'type': 'list', 'elements': 'dict',
                        'options': {'dst': {'type': 'str', 'required': True}, 'via': {'type': 'str'}}},
        'up': {'type': 'bool', 'default': True},
    })
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ['peer'])])
    require_pyroute2(module)
    result = _links.run_or_fail(module, run, 'veth %s' % module.params['name'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
