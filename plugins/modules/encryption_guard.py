#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: encryption_guard
short_description: The nftables guard of encrypted overlay networks (mark for IPsec, drop clear text)
version_added: 0.1.0
author: linuxnet.overlay developers (@linuxnet-overlay)
description:
  - Owns one nftables table, C(ip linuxnet-overlay) (C(ip6 linuxnet-overlay) for an IPv6 underlay), in the node's
    namespace - the namespace that holds the VXLAN UDP sockets, where VXLAN packets are sent and received.
  - "Outbound: VXLAN packets to the data-path port whose VNI is in the set C(encrypted-vnis) get the firewall mark
    that the overlay's outbound IPsec policies select (chain C(enc-out), type route, hook output, priority mangle,
    so the route and the xfrm policy are looked up again with the mark)."
  - "Inbound: VXLAN packets to the data-path port whose VNI is in the set and that did not arrive through IPsec
    (no secpath) are counted and dropped (chain C(enc-in), type filter, hook input, priority raw = -300, before
    any administrator's accept rule). Clear-text injection into an encrypted network is impossible, also while
    no SA exists yet."
  - "Outbound fail closed (not in Docker): VXLAN packets to the data-path port whose VNI is in the set and whose route
    has no IPsec transform (no xfrm policy and SA will encrypt them) are counted and dropped (chain C(enc-post), type
    filter, hook postrouting, priority filter). Packets the policy encrypts pass (they leave as ESP), so nothing of an
    encrypted network leaves the node in clear text - not while the SAs are being made, not when the kernel cannot hold
    them, not toward a peer whose policy is missing."
  - The same design as Docker's nftables backend (table C(docker-overlay)), under our own name and mark so that both
    can coexist. Named for what it guards rather than for nftables, which is how it does it today.
  - Fail closed - run it before the VXLAN device of an encrypted network exists, and do not make the device when
    this module fails.
  - Idempotent against C(nft -j list table). Adding or removing a VNI only changes the set's elements; any other
    difference (port, mark, chains, rules, extra objects in the table, a table made by an older version without
    C(enc-post)) rebuilds the whole table. Every change is one
    atomic C(nft -f) transaction read from stdin, so there is never a moment without the guard.
extends_documentation_fragment:
  - linuxnet.overlay._plan_dir
  - linuxnet.overlay._netns
  - linuxnet.overlay._attributes
options:
  vnis:
    description:
      - The VNIs of the encrypted networks, exactly (VNIs not listed are removed from the set). 0 to 16777215.
      - An empty list keeps the table and its chains with an empty set (nothing is marked or dropped).
    type: list
    elements: int
    default: []
  port:
    description: The VXLAN data-path UDP port (the C(dstport) of the VXLAN devices).
    type: int
    default: 4789
  mark:
    description:
      - The firewall mark set on outbound encrypted VXLAN, an integer or C(0x) hex string (not 0). It must be the
        mark the outbound IPsec policies select (M(linuxnet.overlay.xfrm)); the collection uses C(0x4C4E4F).
    type: raw
    default: 0x4C4E4F
  family:
    description: C(ip) for an IPv4 underlay, C(ip6) for an IPv6 underlay.
    type: str
    choices: [ip, ip6]
    default: ip
  state:
    description: C(absent) deletes the table.
    type: str
    choices: [present, absent]
    default: present
requirements:
  - nft (nftables) on the managed node (not for O(state=absent), which has nothing to do without it); the kernel needs
    nf_tables with the meta secpath match (CONFIG_NFT_XFRM)
    for the inbound rule and the rt expression (CONFIG_NFT_RT) for the outbound one.
seealso:
  - module: linuxnet.overlay.xfrm
"""

EXAMPLES = r"""
- name: Guard the encrypted networks' VNIs before their VXLAN devices are made
  linuxnet.overlay.encryption_guard:
    vnis: [4096, 4098]
    port: "{{ overlay_data_path_port | default(4789) }}"

- name: No encrypted network left on this node
  linuxnet.overlay.encryption_guard:
    state: absent
"""

RETURN = r"""
table:
  description: The table this module owns.
  returned: always
  type: str
  sample: ip linuxnet-overlay
vnis:
  description: The VNIs in the set after the task (predicted in check mode).
  returned: always
  type: list
  elements: int
  sample: [4096, 4098]
counters:
  description:
    - Packets and bytes the three rules counted before the task (a rebuild resets them). C(enc_in) counts clear-text
      VXLAN dropped for an encrypted VNI; a rising value means someone sends unencrypted traffic into an encrypted
      network. C(enc_post) counts clear-text VXLAN of an encrypted VNI that this node did not send because no IPsec
      policy and SA would encrypt it.
  returned: always
  type: dict
  sample: {enc_out: {packets: 1200, bytes: 180000}, enc_in: {packets: 0, bytes: 0}, enc_post: {packets: 0, bytes: 0}}
actions:
  description: What was done (or would be done in check mode), as C(reason) with the table's name, and the
    kept plan written or removed with O(plan_dir).
  returned: always
  type: list
  elements: str
  sample: ["ip linuxnet-overlay: add VNIs 4098"]
reason:
  description: Why the table changed (or would change); empty when nothing changes.
  returned: always
  type: str
  sample: add VNIs 4098
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import OVERLAY_MARK, VXLAN_PORT
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import guard as G
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import restore as _restore
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import NETNS_ARG_SPEC, converge_or_fail

ARG_SPEC = dict(
    NETNS_ARG_SPEC,
    vnis={'type': 'list', 'elements': 'int', 'default': []},
    port={'type': 'int', 'default': VXLAN_PORT},
    mark={'type': 'raw', 'default': OVERLAY_MARK},
    family={'type': 'str', 'choices': ['ip', 'ip6'], 'default': 'ip'},
    state={'type': 'str', 'choices': ['present', 'absent'], 'default': 'present'},
    plan_dir={'type': 'path'},
)


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    converge_or_fail(module, G.converge, (G.GuardError, _restore.RestoreError),
                     keep=lambda *a: _restore.keep('guard', *a))


if __name__ == '__main__':
    main()
