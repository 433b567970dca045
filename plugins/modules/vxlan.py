#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vxlan
short_description: Manage a VXLAN device (VTEP) whose UDP socket stays in the node namespace
version_added: 0.1.0
description:
  - Creates, changes or deletes a VXLAN device, the VTEP of an overlay subnet.
  - Like Docker's overlay driver, the device is created in the namespace the module runs in (the node's),
    under a unique temporary name (C(vx-<VNI as 6 hex digits>-<5 random characters>)), then moved into
    O(netns) and renamed there. Its UDP socket therefore lives in the node namespace, where the underlay
    is, while the device sits in the sandbox namespace.
  - The destination port is always passed to the kernel (default V(4789)); the kernel's own default
    would be the non-standard 8472.
  - O(learning), O(ttl), O(mtu), O(master), O(up) and O(local) (within one address family) are changed in
    place. O(vni), O(dstport), O(proxy), O(l2miss), O(l3miss), a change of O(local) between IPv4 and IPv6,
    and a device whose UDP socket is not in the node namespace make the module delete and re-create the
    device (the kernel refuses those changes with C(EOPNOTSUPP)); the diff and RV(actions) say so.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._netns
  - linuxnet.overlay._attributes
options:
  name:
    description:
      - Name of the device inside O(netns), at most 15 characters, for example V(vxlan0).
    type: str
    required: true
  netns:
    description:
      - Namespace where the device must end up (the overlay sandbox). When omitted, the device stays in the
        namespace the module runs in.
  state:
    description:
      - V(present) creates or updates the device; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  vni:
    description:
      - VXLAN network identifier, 1-16777215. Required with O(state=present).
      - A VNI can exist only once per node and port (per namespace holding the UDP sockets); the module
        refuses a VNI that another VXLAN device already uses there, naming that device.
    type: int
  dstport:
    description:
      - UDP destination port, 1-65535 (the data-path port).
    type: int
    default: 4789
  local:
    description:
      - Source address of the tunnel (the node's data-path address), IPv4 or IPv6.
      - When omitted it is not managed; a new device then has none and the route to the remote VTEP
        picks the source address.
    type: str
  learning:
    description:
      - Whether the device learns remote MAC addresses from received packets. Off by default, since
        every peer entry is programmed.
    type: bool
    default: false
  proxy:
    description:
      - Whether the device answers ARP and neighbour solicitations from its neighbour table (proxy ARP).
    type: bool
    default: true
  l2miss:
    description:
      - Whether the kernel raises netlink events for missing FDB entries.
    type: bool
    default: false
  l3miss:
    description:
      - Whether the kernel raises netlink events for missing neighbour entries.
    type: bool
    default: false
  ttl:
    description:
      - TTL of the outer IP header, 0-255; V(0) means automatic. When omitted it is not managed.
    type: int
  mtu:
    description:
      - MTU of the device, 68-65535 (usually the underlay MTU minus 50 for IPv4, 70 for IPv6). When omitted
        it is not managed.
    type: int
  master:
    description:
      - Name of a bridge in O(netns) to attach the device to. It must exist.
      - V("") detaches the device from any bridge; omitted means the master is not managed.
    type: str
  up:
    description:
      - Whether the device is administratively up. The UDP socket opens only once it is up.
    type: bool
    default: true
notes:
  - Fails, changing nothing, on a VNI out of range, a malformed O(local), a missing namespace, a device of
    another kind under O(name), a missing O(master) bridge, or a VNI already used on the same port by a VXLAN
    device whose socket is in the node namespace (the module searches its own namespace and every namespace
    under C(/run/netns); the kernel's C(File exists) is translated into the same message).
  - If the device cannot be moved or renamed, the temporary device is deleted again.
seealso:
  - module: linuxnet.overlay.netns
  - module: linuxnet.overlay.bridge
"""

EXAMPLES = r"""
---
- name: VTEP of the first subnet of uber-net, attached to br0 in the sandbox
  linuxnet.overlay.vxlan:
    name: vxlan0
    netns: ov-uber-net
    vni: 4097
    mtu: 1450
    master: br0

- name: Same with Docker's flags (learning, proxy, l2miss, l3miss) and an explicit source address
  linuxnet.overlay.vxlan:
    name: vxlan0
    netns: ov-uber-net
    vni: 4097
    local: 172.31.1.5
    learning: true
    l2miss: true
    l3miss: true
    mtu: 1450
    master: br0

- name: Delete it (do this before deleting the namespace)
  linuxnet.overlay.vxlan:
    name: vxlan0
    netns: ov-uber-net
    state: absent
"""

RETURN = r"""
vxlan:
  description: The device after the module ran (predicted in check mode; V(null) when absent).
  returned: always
  type: dict
  contains:
    name:
      description: Device name.
      type: str
      sample: vxlan0
    netns:
      description: Namespace of the device (V(null) for the one the module runs in).
      type: str
      sample: ov-uber-net
    ifindex:
      description: Interface index inside the namespace (V(null) when predicted in check mode).
      type: int
    vni:
      description: VXLAN network identifier.
      type: int
      sample: 4097
    dstport:
      description: UDP destination port.
      type: int
      sample: 4789
    local:
      description: Source address, or V(null).
      type: str
    learning:
      description: Learning flag.
      type: bool
    proxy:
      description: Proxy ARP flag.
      type: bool
    l2miss:
      description: L2 miss notifications.
      type: bool
    l3miss:
      description: L3 miss notifications.
      type: bool
    ttl:
      description: Outer TTL (V(0) automatic).
      type: int
    mtu:
      description: MTU.
      type: int
      sample: 1450
    master:
      description: Name of the bridge the device is attached to, or V(null).
      type: str
      sample: br0
    up:
      description: Whether the device is administratively up.
      type: bool
    mac:
      description: MAC address of the device (V(null) when predicted in check mode).
      type: str
    socket_netns:
      description:
        - Where the device's UDP socket lives. V(null) is the namespace the module runs in (as it should be);
          otherwise a namespace name, or V(unknown) for an unnamed namespace.
      type: str
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["delete vxlan0 (vni cannot be changed in place (4097 -> 4098))", "create vxlan0 (vni 4098, dstport 4789)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils import _links, _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils._common import (
    NETNS_ARG_SPEC, diff_result, require_pyroute2)

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
    _links.validate_vni(p['vni'])
    _links.validate_port(p['dstport'])
    if p['ttl'] is not None and not 0 <= p['ttl'] <= 255:
        raise _links.LinkError('ttl %d is out of range: use 0-255 (0 = automatic)' % p['ttl'])
    want = {k: p[k] for k in KEYS}
    want['local'] = _links.normalize_ip(p['local'], 'local') if p['local'] is not None else None
    want['mtu'] = _links.validate_mtu(p['mtu'])
    if p['master']:
        _links.validate_ifname(p['master'], 'master')
    return want


def kernel_attrs(want):
    attrs = {'vxlan_id': want['vni'], 'vxlan_port': want['dstport'], 'vxlan_learning': int(want['learning']),
             'vxlan_proxy': int(want['proxy']), 'vxlan_l2miss': int(want['l2miss']),
             'vxlan_l3miss': int(want['l3miss'])}
    if want['ttl'] is not None:
        attrs['vxlan_ttl'] = want['ttl']
    if want['local'] is not None:
        attrs['vxlan_local6' if _links.ip_version(want['local']) == 6 else 'vxlan_local'] = want['local']
    if want['mtu'] is not None:
        attrs['mtu'] = want['mtu']
    return attrs


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


def check_vni_free(want, netns, name):
    clashes = _links.vni_clashes(
        _links.scan_vxlan_devices(_netns.list_names(), skip=(netns, name)),
        want['vni'], want['dstport'], _links.ip_version(want['local']) == 6)
    if clashes:
        raise _links.LinkError(_links.clash_message(want['vni'], want['dstport'], clashes))


def translate_eexist(exc, want):
    """The kernel's EEXIST on create means the VNI is taken; say where, if we can see it."""
    clashes = _links.vni_clashes(_links.scan_vxlan_devices(_netns.list_names()),
                                 want['vni'], want['dstport'], _links.ip_version(want['local']) == 6)
    if clashes:
        return _links.clash_message(want['vni'], want['dstport'], clashes)
    return ('the kernel refused VNI %d on dstport %d (%s): another VXLAN device with this VNI and port has its '
            'UDP socket in the namespace the module runs in, probably inside a namespace without a name under '
            '/run/netns' % (want['vni'], want['dstport'], exc))


def apply_update(ipr, index, changes, master_index):
    flags = {}
    for key in KERNEL_FLAGS:
        if key in changes:
            after = changes[key][1]
            if key == 'local':
                flags['vxlan_local6' if _links.ip_version(after) == 6 else 'vxlan_local'] = after
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


def run(module):
    p = module.params
    name = _links.validate_ifname(p['name'], 'name')
    netns = p['netns']
    _netns.require(netns)
    moving = netns is not None and not _netns.same_as_current(netns)
    want = desired_state(p) if p['state'] == 'present' else None
    actions = []
    plan = None
    with _links.opened(None) as home, _links.opened(netns) as target:
        links = _links.read_links(target)
        link = _links.find(links, name=name)
        if link is not None and link['kind'] != 'vxlan':
            raise _links.LinkError(_links.wrong_kind_message(name, netns, link['kind'], 'vxlan'))
        current = read_state(target, links, link, netns)

        if want is None:
            predicted = None
            if current is not None:
                actions.append('delete %s' % name)
                if not module.check_mode:
                    _links.delete_link(target, current['ifindex'])
        else:
            master_index = check_master(links, p['master'], netns)
            plan = _links.plan_vxlan(want, current)
            if plan['action'] == 'update':
                actions.extend(describe(k, *plan['changes'][k]) for k in KEYS if k in plan['changes'])
                predicted = dict(current, **{k: v[1] for k, v in plan['changes'].items()})
            elif plan['action'] in ('create', 'recreate'):
                if current is not None:   # unmanaged attributes keep their values across a re-create
                    for key in ('mtu', 'ttl', 'local'):
                        if want[key] is None:
                            want[key] = current[key]
                    if p['master'] is None and current['master']:
                        want['master'] = current['master']
                        master_index = check_master(links, current['master'], netns)
                check_vni_free(want, netns, name)
                if plan['action'] == 'recreate':
                    actions.append('delete %s (%s)' % (name, '; '.join(plan['reasons'])))
                actions.append('create %s (vni %d, dstport %d)%s' % (
                    name, want['vni'], want['dstport'],
                    ' in the namespace the module runs in, move it to %s' % netns if moving else ''))
                predicted = {'name': name, 'netns': netns, 'ifindex': None, 'mac': None, 'mtu': 1500, 'ttl': 0,
                             'local': None, 'master': None, 'socket_netns': None}
                predicted.update({k: want[k] for k in KEYS if want[k] is not None})
                predicted['master'] = predicted['master'] or None
            else:
                predicted = current
            if actions and not module.check_mode:
                if plan['action'] == 'update':
                    apply_update(target, current['ifindex'], plan['changes'], master_index)
                else:
                    if plan['action'] == 'recreate':
                        _links.delete_link(target, current['ifindex'])
                    try:
                        _links.create_vxlan(home, target, netns if moving else None, name, kernel_attrs(want),
                                            master=master_index, up=want['up'])
                    except _links.NetlinkError as exc:
                        if getattr(exc, 'code', 0) == 17:
                            raise _links.LinkError(translate_eexist(exc, want)) from None
                        raise

        changed = bool(actions)
        if changed and not module.check_mode:
            links = _links.read_links(target)
            after = read_state(target, links, _links.find(links, name=name), netns)
        else:
            after = predicted if changed else current
    result = {'changed': changed, 'actions': actions, 'vxlan': after}
    if module._diff:
        after_view = _links.diff_view(after, name=name, netns=netns)
        if plan and plan['action'] == 'recreate':
            after_view['recreated'] = plan['reasons']
        result['diff'] = diff_result(_links.diff_view(current, name=name, netns=netns), after_view)
    return result


def main():
    argument_spec = dict(NETNS_ARG_SPEC)
    argument_spec.update({
        'name': {'type': 'str', 'required': True},
        'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        'vni': {'type': 'int'},
        'dstport': {'type': 'int', 'default': _links.VXLAN_DEFAULT_PORT},
        'local': {'type': 'str'},
        'learning': {'type': 'bool', 'default': False},
        'proxy': {'type': 'bool', 'default': True},
        'l2miss': {'type': 'bool', 'default': False},
        'l3miss': {'type': 'bool', 'default': False},
        'ttl': {'type': 'int'},
        'mtu': {'type': 'int'},
        'master': {'type': 'str'},
        'up': {'type': 'bool', 'default': True},
    })
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ['vni'])])
    require_pyroute2(module)
    result = _links.run_or_fail(module, run, 'vxlan %s' % module.params['name'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
