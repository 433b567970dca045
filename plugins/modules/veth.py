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

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import veth as _veth
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import NETNS_ARG_SPEC, require_pyroute2


def run(module):
    return _veth.converge(module.params, module.check_mode, module._diff)


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
