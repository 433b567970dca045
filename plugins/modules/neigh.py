#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: neigh
short_description: Program neighbour (ARP and NDP) entries of a device, in bulk
version_added: 0.1.0
author: linuxnet.overlay developers (@linuxnet-overlay)
description:
  - Makes the neighbour table of one device hold the listed IP-to-MAC entries, like
    C(ip neigh replace IP lladdr MAC dev DEV nud permanent). On a VXLAN device with C(proxy)
    these are the entries the kernel answers ARP and neighbour solicitations from, the
    neighbour half of an overlay network's peer entries (the FDB half is M(linuxnet.overlay.fdb)).
  - All entries of one task go to the kernel in one pipelined batch of netlink requests.
    Every entry is validated before anything is sent; one bad entry fails the task and changes
    nothing.
  - An entry whose IP exists with another MAC (or in the wrong state) is replaced in place.
extends_documentation_fragment:
  - linuxnet.overlay._netns
  - linuxnet.overlay._attributes
options:
  device:
    description:
      - Name of the device whose neighbour table the module manages, in O(netns). Any kind of
        device; for an overlay network this is the VXLAN device.
    type: str
    required: true
  entries:
    description:
      - The entries, IPv4 and IPv6 mixed as needed.
      - With O(state=absent), O(entries[].mac) is optional; when given, the entry is deleted only
        if it still has that MAC.
    type: list
    elements: dict
    default: []
    suboptions:
      ip:
        description:
          - The neighbour's IPv4 or IPv6 address.
        type: str
        required: true
      mac:
        description:
          - Its MAC address, C(02:42:0a:00:00:04) or C(02-42-0A-00-00-04). Required with O(state=present).
        type: str
  permanent:
    description:
      - V(true) writes C(PERMANENT) entries, which never expire and are never re-resolved;
        Docker's overlay driver programs these.
      - V(false) writes C(REACHABLE) entries, which the kernel ages to C(STALE) and re-resolves
        when used; an existing entry with the right MAC in any valid dynamic state
        (C(REACHABLE), C(STALE), C(DELAY), C(PROBE)) counts as present.
    type: bool
    default: true
  exclusive:
    description:
      - With O(state=present), also delete the entries of O(device) that are not listed and
        that this module would own. With O(permanent=true) only C(PERMANENT) entries count;
        entries the kernel learned by ARP/NDP are left alone. With O(permanent=false) every
        entry that is neither C(PERMANENT) nor C(NOARP) counts (C(NOARP) entries are the
        kernel's own, for multicast and broadcast addresses).
      - Entries of other devices are never touched. With an empty O(entries) this flushes the
        owned entries of the device.
    type: bool
    default: false
  state:
    description:
      - V(present) makes the listed entries exist, V(absent) deletes exactly the listed entries
        (whatever their state).
    type: str
    choices: [present, absent]
    default: present
notes:
  - Unlike most modules of the collection this one does not need pyroute2 - it talks netlink
    itself (see C(plugins/module_utils/kernel/rtnl.py) for why, with the measured figures).
  - Permanent entries do not count against C(gc_thresh3); many dynamic entries can hit the
    table limit, which the kernel reports as C(No buffer space available) per entry.
seealso:
  - module: linuxnet.overlay.fdb
  - module: linuxnet.overlay.overlay_info
"""

EXAMPLES = r"""
- name: Neighbour entries of the remote tasks, proxy ARP answers from these
  linuxnet.overlay.neigh:
    netns: ov-uber-net
    device: vxlan0
    entries:
      - ip: 10.0.0.4
        mac: "02:42:0a:00:00:04"
      - ip: 10.0.0.5
        mac: "02:42:0a:00:00:05"
    exclusive: true

- name: Forget one
  linuxnet.overlay.neigh:
    netns: ov-uber-net
    device: vxlan0
    entries:
      - ip: 10.0.0.5
    state: absent
"""

RETURN = r"""
added:
  description: Entries that were (or in check mode would be) created.
  returned: always
  type: list
  elements: dict
  sample: [{ip: 10.0.0.4, mac: "02:42:0a:00:00:04", state: PERMANENT}]
replaced:
  description: Entries whose MAC or state changed, as before/after pairs.
  returned: always
  type: list
  elements: dict
  sample: [{before: {ip: 10.0.0.4, mac: "02:42:0a:00:00:09", state: PERMANENT},
            after: {ip: 10.0.0.4, mac: "02:42:0a:00:00:04", state: PERMANENT}}]
removed:
  description: Entries that were (or would be) deleted.
  returned: always
  type: list
  elements: dict
unchanged:
  description: Number of listed entries that already were as wanted.
  returned: always
  type: int
entries:
  description: Number of neighbour entries of the device after the task (predicted in check mode), all states.
  returned: always
  type: int
failed_entries:
  description: The entries the kernel refused, each with its reason (only when the task failed that way).
  returned: failure
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peers as _peers
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import NETNS_ARG_SPEC, converge_or_fail


def main():
    argument_spec = dict(
        device=dict(type='str', required=True),
        entries=dict(type='list', elements='dict', default=[], options=dict(
            ip=dict(type='str', required=True),
            mac=dict(type='str'),
        )),
        permanent=dict(type='bool', default=True),
        exclusive=dict(type='bool', default=False),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
    )
    argument_spec.update(NETNS_ARG_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    converge_or_fail(module, _peers.neigh_converge, _peers.PeerError)


if __name__ == '__main__':
    main()
