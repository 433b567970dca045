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

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import VXLAN_PORT
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import vtep as _vxlan
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import NETNS_ARG_SPEC, require_pyroute2


def run(module):
    return _vxlan.converge(module.params, module.check_mode, module._diff)


def main():
    argument_spec = dict(NETNS_ARG_SPEC)
    argument_spec.update({
        'name': {'type': 'str', 'required': True},
        'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
        'vni': {'type': 'int'},
        'dstport': {'type': 'int', 'default': VXLAN_PORT},
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
