#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fdb
short_description: Program the forwarding entries (MAC to remote VTEP) of a VXLAN device
version_added: 0.1.0
author: linuxnet.overlay developers (@linuxnet-overlay)
description:
  - Makes the forwarding database (FDB) of a VXLAN device hold the listed entries, each a MAC
    address and the remote VTEP (C(dst)) behind it, as C(self permanent) entries like
    C(bridge fdb replace MAC dev DEV dst DST self permanent). These are the FDB half of the
    peer entries of an overlay network (the neighbour half is M(linuxnet.overlay.neigh)).
  - All entries of one task go to the kernel in one pipelined batch of netlink requests, so
    thousands of entries take milliseconds. Every entry is validated before anything is sent;
    one bad entry fails the task and changes nothing.
  - A unicast MAC has one destination. When it exists with another destination, port or VNI
    (a stale entry after an address moved to another node), it is replaced in place.
  - The all-zero MAC (C(00:00:00:00:00:00), head-end replication of broadcast and unknown
    traffic) and multicast MACs may be listed several times with different C(dst); each
    (MAC, dst) pair is one entry, added like C(bridge fdb append).
  - With O(exclusive=true) the module also deletes every entry of the device that has a remote
    destination and is not listed. It never deletes the device's own entries - entries without
    a destination, the device's own MAC, and the all-zero entry the kernel keeps for the
    device's remote or group address.
extends_documentation_fragment:
  - linuxnet.overlay._netns
  - linuxnet.overlay._attributes
options:
  device:
    description:
      - Name of the VXLAN device whose FDB the module manages, in O(netns).
    type: str
    required: true
  entries:
    description:
      - The entries. With O(state=present) each needs O(entries[].mac) and O(entries[].dst).
      - With O(state=absent) O(entries[].dst), O(entries[].vni) and O(entries[].port) narrow
        the match; a MAC alone removes every remote destination of that MAC.
    type: list
    elements: dict
    default: []
    suboptions:
      mac:
        description:
          - The MAC address, C(02:42:0a:00:00:04) or C(02-42-0A-00-00-04).
        type: str
        required: true
      dst:
        description:
          - The remote VTEP, the data-path address of the node behind O(entries[].mac), IPv4 or
            IPv6 (the same family as the device's local/remote address).
        type: str
      vni:
        description:
          - The VNI to send with, when it differs from the device's own VNI.
          - Defaults to the device's VNI.
        type: int
      port:
        description:
          - The remote UDP port, when it differs from the device's destination port.
          - Defaults to the device's destination port.
        type: int
  state:
    description:
      - V(present) makes the listed entries exist, V(absent) deletes exactly the listed entries.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), also delete every entry of O(device) that has a remote
        destination and is not listed, including dynamic (learned) ones. With an empty
        O(entries) this flushes all remote entries.
      - The device's own entries are never deleted (see the description).
    type: bool
    default: false
notes:
  - Unlike most modules of the collection this one does not need pyroute2 - it talks netlink
    itself (see C(plugins/module_utils/kernel/rtnl.py) for why, with the measured figures).
  - Before sending anything the module asks the kernel, without changing anything, whether the
    device takes IPv4 or IPv6 destinations, so an entry of the wrong family fails the whole
    task up front.
  - If the kernel refuses some entries (for example the table limit), the task fails, names
    every refused entry with the kernel's reason, and reports the entries that were applied;
    run it again after fixing the cause.
seealso:
  - module: linuxnet.overlay.neigh
  - module: linuxnet.overlay.vxlan
  - module: linuxnet.overlay.overlay_info
"""

EXAMPLES = r"""
- name: Peer entries of the remote tasks on vxlan0 in the sandbox of network uber-net
  linuxnet.overlay.fdb:
    netns: ov-uber-net
    device: vxlan0
    entries:
      - mac: "02:42:0a:00:00:04"
        dst: 192.168.1.5
      - mac: "02:42:0a:00:00:05"
        dst: 192.168.1.6
    exclusive: true

- name: Head-end replication of broadcast traffic to two remote VTEPs
  linuxnet.overlay.fdb:
    device: vx-flood
    entries:
      - {mac: "00:00:00:00:00:00", dst: 192.168.1.5}
      - {mac: "00:00:00:00:00:00", dst: 192.168.1.6}

- name: Forget a peer
  linuxnet.overlay.fdb:
    netns: ov-uber-net
    device: vxlan0
    entries:
      - mac: "02:42:0a:00:00:05"
    state: absent
"""

RETURN = r"""
added:
  description: Entries that were (or in check mode would be) created.
  returned: always
  type: list
  elements: dict
  sample: [{mac: "02:42:0a:00:00:04", dst: 192.168.1.5, vni: 4097, port: 4789}]
replaced:
  description: Entries whose destination, port or VNI changed, or that became permanent, as before/after pairs.
  returned: always
  type: list
  elements: dict
  sample: [{before: {mac: "02:42:0a:00:00:04", dst: 192.168.1.9, vni: 4097, port: 4789},
            after: {mac: "02:42:0a:00:00:04", dst: 192.168.1.5, vni: 4097, port: 4789}}]
removed:
  description: Entries that were (or would be) deleted.
  returned: always
  type: list
  elements: dict
unchanged:
  description: Number of listed entries that already were as wanted.
  returned: always
  type: int
  sample: 998
entries:
  description: Number of entries with a remote destination on the device after the task (predicted in check mode).
  returned: always
  type: int
  sample: 1000
failed_entries:
  description: The entries the kernel refused, each with its reason (only when the task failed that way).
  returned: failure
  type: list
  elements: dict
  sample: [{mac: "02:42:0a:00:00:04", dst: 192.168.1.5, op: replace, error: "No buffer space available"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peers as _peers
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import NETNS_ARG_SPEC, converge_or_fail


def main():
    argument_spec = dict(
        device=dict(type='str', required=True),
        entries=dict(type='list', elements='dict', default=[], options=dict(
            mac=dict(type='str', required=True),
            dst=dict(type='str'),
            vni=dict(type='int'),
            port=dict(type='int'),
        )),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        exclusive=dict(type='bool', default=False),
    )
    argument_spec.update(NETNS_ARG_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    converge_or_fail(module, _peers.fdb_converge, _peers.PeerError)


if __name__ == '__main__':
    main()
