#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bridge
short_description: Manage a Linux bridge, its MTU and exactly its addresses
version_added: 0.1.0
description:
  - Creates, changes or deletes a Linux bridge, for example the C(br0) of an overlay sandbox namespace.
  - With O(addresses) given, the bridge ends up with exactly those addresses; IPv6 link-local addresses the
    kernel adds by itself are left alone.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._netns
  - linuxnet.overlay._attributes
options:
  name:
    description:
      - Name of the bridge, at most 15 characters.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the bridge; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  mtu:
    description:
      - MTU of the bridge. When omitted the MTU is not managed (the kernel lowers a bridge's MTU to that of
        its smallest port).
    type: int
  addresses:
    description:
      - Addresses of the bridge in CIDR notation, for example V(10.0.0.1/24) (the overlay subnet's gateway).
      - Exactly these addresses are kept; others are removed, except IPv6 link-local ones.
      - V([]) removes all addresses; omitted means addresses are not managed.
    type: list
    elements: str
  up:
    description:
      - Whether the bridge is administratively up.
    type: bool
    default: true
notes:
  - Docker also writes V(0) to the bridge's C(default_pvid). This module does not offer that setting, because
    it needs a kernel built with C(CONFIG_BRIDGE_VLAN_FILTERING) and other kernels ignore it silently.
  - Fails, changing nothing, when a device of that name exists but is not a bridge.
seealso:
  - module: linuxnet.overlay.netns
  - module: linuxnet.overlay.vxlan
  - module: linuxnet.overlay.veth
"""

EXAMPLES = r"""
---
- name: Bridge of the first subnet in the sandbox, with the gateway address
  linuxnet.overlay.bridge:
    name: br0
    netns: ov-uber-net
    addresses:
      - 10.0.0.1/24

- name: Delete it
  linuxnet.overlay.bridge:
    name: br0
    netns: ov-uber-net
    state: absent
"""

RETURN = r"""
bridge:
  description: The bridge after the module ran (predicted in check mode; V(null) when absent).
  returned: always
  type: dict
  contains:
    name:
      description: Device name.
      type: str
      sample: br0
    netns:
      description: Namespace (V(null) for the one the module runs in).
      type: str
      sample: ov-uber-net
    ifindex:
      description: Interface index inside the namespace (V(null) when predicted in check mode).
      type: int
      sample: 2
    mtu:
      description: MTU.
      type: int
      sample: 1450
    mac:
      description: MAC address (V(null) when predicted in check mode).
      type: str
      sample: 6a:b9:8b:fe:75:4d
    up:
      description: Whether the bridge is administratively up.
      type: bool
      sample: true
    addresses:
      description: Addresses in CIDR notation, without kernel-made IPv6 link-local ones.
      type: list
      elements: str
      sample: [10.0.0.1/24]
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create bridge br0", "add address 10.0.0.1/24", "set up"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import bridge as _bridge
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import NETNS_ARG_SPEC, require_pyroute2


def run(module):
    return _bridge.converge(module.params, module.check_mode, module._diff)


def main():
    argument_spec = dict(NETNS_ARG_SPEC)
    argument_spec.update({
        'name': {'type': 'str', 'required': True},
        'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        'mtu': {'type': 'int'},
        'addresses': {'type': 'list', 'elements': 'str'},
        'up': {'type': 'bool', 'default': True},
    })
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_pyroute2(module)
    result = _links.run_or_fail(module, run, 'bridge %s' % module.params['name'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
