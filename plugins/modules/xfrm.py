#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: xfrm
short_description: IPsec security associations and policies (xfrm states and policies) in a network namespace
version_added: 0.1.0
author: linuxnet.overlay developers (@linuxnet-overlay)
description:
  - Makes the listed IPsec SAs (xfrm states) and SPs (xfrm policies) exist, or not exist, in a network namespace.
  - Talks NETLINK_XFRM directly. Keys never appear on a command line, in logs, in the task result or in a diff;
    results and diffs show a key fingerprint (8 hex digits of a SHA-256 over the SPI and the key) instead.
  - SAs are ESP with the AEAD rfc4106(gcm(aes)) (AES-128-GCM, RFC 4106), as the overlay's encrypted networks use them.
  - The collection's own objects carry the reqid C(0x4C4E4F) (SAs and policy templates) and policies that select
    the overlay's traffic carry the firewall mark C(0x4C4E4F/0xffffffff). Docker's overlay uses C(0xD0C4E3) for both,
    so the two can coexist on one host. O(exclusive) only ever removes objects with our reqid or our mark.
  - Order of changes, chosen so that the data path is never worse than before the task and a failure leaves
    nothing half-made. New and changed SAs are made first (an SA that no policy selects carries no traffic),
    then policies are added or atomically updated to point at them, then stale policies are deleted, then stale
    SAs. If any step fails, the steps already done are undone in reverse order and the task fails. In particular a
    kernel that cannot hold SAs (no ESP, no AES-GCM) fails the task before any policy was touched.
  - "Why not policies first: a policy whose SA is missing makes the kernel drop matching packets (fail closed),
    but during a key rotation it would black-hole a pair that was working. Fail-closed behaviour for a new
    encrypted network comes from the caller's order instead: the nftables guard (M(linuxnet.overlay.encryption_guard))
    and the xfrm objects are made before the VXLAN device, and the device is not made if either fails."
  - A changed SA (same destination, SPI and protocol but another key, algorithm, mode or flags) is deleted and
    added again, because the kernel cannot change the key of an existing SA. Rotations use new SPIs instead, so
    this only happens when an SA is edited by hand. A changed policy is replaced atomically.
extends_documentation_fragment:
  - linuxnet.overlay._plan_dir
  - linuxnet.overlay._netns
  - linuxnet.overlay._attributes
options:
  states:
    description:
      - The SAs to manage. With O(state=present) each is added, or deleted and re-added when it differs.
      - An SA is identified by O(states[].dst), O(states[].spi), O(states[].proto) and O(states[].mark).
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Source address (the sending node's data-path address).
        type: str
        required: true
      dst:
        description: Destination address (the receiving node's data-path address).
        type: str
        required: true
      spi:
        description:
          - Security parameter index, an integer or a C(0x) hex string, 256 to 4294967295 (0-255 are reserved by RFC 4303).
        type: raw
        required: true
      proto:
        description: IPsec protocol. Only ESP is supported.
        type: str
        choices: [esp]
        default: esp
      mode:
        description: ESP mode. The overlay uses transport mode (VXLAN already is a tunnel).
        type: str
        choices: [transport, tunnel]
        default: transport
      reqid:
        description: Request id that ties the SA to policy templates, an integer or C(0x) hex string.
        type: raw
        default: 0x4C4E4F
      aead_key:
        description:
          - The AEAD key material as 40 hex digits (optionally C(0x)-prefixed) - 20 bytes, the 16-byte AES-128 key
            followed by the 4-byte salt (RFC 4106 section 8.1).
          - Required when O(state=present). Never shown; results carry a fingerprint.
        type: str
      icv_bits:
        description:
          - Length of the integrity check value (GCM tag) in bits.
          - "Default 128, where Docker uses 64: a 64-bit GCM tag lets a forger succeed with probability about 2^-64 per
            try and NIST SP 800-38D (appendix C) limits how much data a key may protect with short tags; the full tag
            costs 8 bytes per packet (the overlay MTU on a 1500-byte IPv4 underlay is 1416 instead of 1424)."
        type: int
        choices: [64, 96, 128]
        default: 128
      esn:
        description:
          - Extended (64-bit) sequence numbers. Without them an SA carries at most 2^32 packets before the kernel
            refuses to send (Docker's overlay hits this on busy links); both ends of a pair must agree.
        type: bool
        default: true
      replay_window:
        description:
          - Anti-replay window in packets (1 to 4096 with ESN, 0 to 4096 without; 0 disables replay protection).
          - "Default 128: RFC 4303 asks for at least 32 and recommends 64; VXLAN flows between two nodes are spread
            over several queues and CPUs, which reorders packets of one SA, and a wider window costs 16 bytes per SA."
        type: int
        default: 128
      selector:
        description:
          - Restrict what the SA may carry. After decryption the kernel drops any packet that does not match
            (for the overlay - UDP to the data-path port between the two data-path addresses).
          - Omit for an SA that may carry anything its policies select.
        type: dict
        suboptions:
          src:
            description: Source prefix; default the SA's source as a host prefix.
            type: str
          dst:
            description: Destination prefix; default the SA's destination as a host prefix.
            type: str
          proto:
            description: Upper-layer protocol name (udp, tcp, icmp, ...) or number.
            type: str
            default: any
          dport:
            description: Destination port (needs proto udp, tcp or sctp).
            type: int
      mark:
        description:
          - Firewall mark the SA is bound to. Inbound packets carry no mark, so an inbound SA with a mark never matches.
        type: dict
        suboptions:
          value:
            description: Mark value, integer or C(0x) hex string.
            type: raw
            required: true
          mask:
            description: Mark mask, integer or C(0x) hex string.
            type: raw
            default: 0xffffffff
  policies:
    description:
      - The SPs to manage. With O(state=present) each is added, or atomically replaced when it differs.
      - A policy is identified by its direction, selector (O(policies[].src), O(policies[].dst), O(policies[].proto),
        O(policies[].dport)) and mark; priority, action and template are its attributes.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Source prefix of the selector (an address alone means a host prefix).
        type: str
        required: true
      dst:
        description: Destination prefix of the selector.
        type: str
        required: true
      proto:
        description: Upper-layer protocol of the selector, a name (udp, tcp, icmp, any, ...) or number.
        type: str
        default: any
      dport:
        description:
          - Destination port of the selector (needs proto udp, tcp or sctp). The overlay selects the data-path port;
            never the source port, which VXLAN derives from a flow hash.
        type: int
      dir:
        description: Direction.
        type: str
        choices: [out, in, fwd]
        required: true
      mark:
        description: Firewall mark the policy selects (outbound overlay traffic is marked by the encryption guard).
        type: dict
        suboptions:
          value:
            description: Mark value, integer or C(0x) hex string.
            type: raw
            required: true
          mask:
            description: Mark mask, integer or C(0x) hex string.
            type: raw
            default: 0xffffffff
      priority:
        description: Policy priority; the kernel uses the matching policy with the lowest value.
        type: int
        default: 0
      action:
        description: C(allow) (through the template, or in clear text without one) or C(block).
        type: str
        choices: [allow, block]
        default: allow
      tmpl:
        description: The transformation the traffic must go through. Not allowed with O(policies[].action=block).
        type: dict
        suboptions:
          src:
            description: Outer source address (the SA's source).
            type: str
            required: true
          dst:
            description: Outer destination address (the SA's destination).
            type: str
            required: true
          proto:
            description: IPsec protocol.
            type: str
            choices: [esp]
            default: esp
          mode:
            description: Mode of the SA to use.
            type: str
            choices: [transport, tunnel]
            default: transport
          reqid:
            description: Request id of the SA to use, integer or C(0x) hex string.
            type: raw
            default: 0x4C4E4F
          spi:
            description:
              - SPI of the SA to use (integer or C(0x) hex string); 0 lets the kernel use any SA with the reqid.
                Pinning the SPI lets a key rotation switch SAs by replacing the policy atomically.
            type: raw
            default: 0
          level:
            description: C(required) drops traffic that did not go through the template; C(use) makes it optional.
            type: str
            choices: [required, use]
            default: required
  exclusive:
    description:
      - Also delete the collection's own SAs and policies in the namespace that are not listed (SAs with reqid
        C(0x4C4E4F); policies with mark C(0x4C4E4F/0xffffffff) or a template with that reqid).
      - Objects of anybody else (Docker's C(0xD0C4E3), strongSwan, libreswan, hand-made) are never touched.
      - With O(state=absent), removes all of the collection's objects.
    type: bool
    default: false
  state:
    description: Whether the listed objects should exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The kernel needs ESP (C(esp4)/C(esp6), CONFIG_INET_ESP) and AES-GCM (CONFIG_CRYPTO_GCM) to hold these SAs. Where it
    lacks them the module fails with "this kernel cannot hold IPsec SAs" and changes nothing. Policies work on any
    kernel with CONFIG_XFRM_USER.
  - Hosts must let ESP (IP protocol 50) through between data-path addresses.
seealso:
  - module: linuxnet.overlay.encryption_guard
"""

EXAMPLES = r"""
- name: Encrypt VXLAN from this node to one peer (one direction each way, one key per direction)
  linuxnet.overlay.xfrm:
    states:
      - src: 192.0.2.1
        dst: 192.0.2.2
        spi: 0x1c2d3e4f
        aead_key: "{{ key_out }}"          # 40 hex digits, from the vault or the keyring logic
        selector: {proto: udp, dport: 4789}
      - src: 192.0.2.2
        dst: 192.0.2.1
        spi: 0x5a6b7c8d
        aead_key: "{{ key_in }}"
        selector: {proto: udp, dport: 4789}
    policies:
      - src: 192.0.2.1/32
        dst: 192.0.2.2/32
        proto: udp
        dport: 4789
        dir: out
        mark: {value: 0x4C4E4F}
        tmpl: {src: 192.0.2.1, dst: 192.0.2.2, spi: 0x1c2d3e4f}
    exclusive: true

- name: Remove every SA and policy this collection made in a namespace
  linuxnet.overlay.xfrm:
    netns: node1
    exclusive: true
    state: absent
"""

RETURN = r"""
states:
  description: The listed SAs and the collection's own SAs as they are after the task (predicted in check mode).
  returned: always
  type: list
  elements: dict
  sample:
    - {src: 192.0.2.1, dst: 192.0.2.2, spi: 472792655, spi_hex: "0x1c2d3e4f", proto: esp, mode: transport,
       reqid: 5000783, esn: true, replay_window: 128, ours: true, mark: null,
       selector: {src: 192.0.2.1/32, dst: 192.0.2.2/32, proto: udp, dport: 4789},
       aead: {name: "rfc4106(gcm(aes))", icv_bits: 128, key_fingerprint: "3f1c09aa"}}
policies:
  description: The listed policies and the collection's own policies after the task.
  returned: always
  type: list
  elements: dict
  sample:
    - {dir: out, selector: {src: 192.0.2.1/32, dst: 192.0.2.2/32, proto: udp, dport: 4789},
       mark: {value: 5000783, mask: 4294967295}, priority: 0, action: allow, ours: true,
       tmpl: [{src: 192.0.2.1, dst: 192.0.2.2, proto: esp, spi: 472792655, reqid: 5000783, mode: transport,
               level: required}]}
actions:
  description: What was done (or would be done in check mode), in order, one line per object; keys as fingerprints.
  returned: always
  type: list
  elements: str
  sample: ["add state esp 192.0.2.1 -> 192.0.2.2 spi 0x1c2d3e4f ...", "add policy dir out ..."]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import xfrm as X
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import ipsec as _ipsec
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import restore as _restore
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import NETNS_ARG_SPEC, converge_or_fail

_MARK_SPEC = {'value': {'type': 'raw', 'required': True}, 'mask': {'type': 'raw', 'default': 0xFFFFFFFF}}

ARG_SPEC = dict(
    NETNS_ARG_SPEC,
    states={'type': 'list', 'elements': 'dict', 'default': [], 'options': {
        'src': {'type': 'str', 'required': True},
        'dst': {'type': 'str', 'required': True},
        'spi': {'type': 'raw', 'required': True},
        'proto': {'type': 'str', 'choices': ['esp'], 'default': 'esp'},
        'mode': {'type': 'str', 'choices': ['transport', 'tunnel'], 'default': 'transport'},
        'reqid': {'type': 'raw', 'default': X.OVERLAY_REQID},
        'aead_key': {'type': 'str', 'no_log': True},
        'icv_bits': {'type': 'int', 'choices': list(X.ICV_BITS), 'default': 128},
        'esn': {'type': 'bool', 'default': True},
        'replay_window': {'type': 'int', 'default': 128},
        'selector': {'type': 'dict', 'options': {
            'src': {'type': 'str'},
            'dst': {'type': 'str'},
            'proto': {'type': 'str', 'default': 'any'},
            'dport': {'type': 'int'},
        }},
        'mark': {'type': 'dict', 'options': _MARK_SPEC},
    }},
    policies={'type': 'list', 'elements': 'dict', 'default': [], 'options': {
        'src': {'type': 'str', 'required': True},
        'dst': {'type': 'str', 'required': True},
        'proto': {'type': 'str', 'default': 'any'},
        'dport': {'type': 'int'},
        'dir': {'type': 'str', 'choices': ['out', 'in', 'fwd'], 'required': True},
        'mark': {'type': 'dict', 'options': _MARK_SPEC},
        'priority': {'type': 'int', 'default': 0},
        'action': {'type': 'str', 'choices': ['allow', 'block'], 'default': 'allow'},
        'tmpl': {'type': 'dict', 'options': {
            'src': {'type': 'str', 'required': True},
            'dst': {'type': 'str', 'required': True},
            'proto': {'type': 'str', 'choices': ['esp'], 'default': 'esp'},
            'mode': {'type': 'str', 'choices': ['transport', 'tunnel'], 'default': 'transport'},
            'reqid': {'type': 'raw', 'default': X.OVERLAY_REQID},
            'spi': {'type': 'raw', 'default': 0},
            'level': {'type': 'str', 'choices': ['required', 'use'], 'default': 'required'},
        }},
    }},
    exclusive={'type': 'bool', 'default': False},
    state={'type': 'str', 'choices': ['present', 'absent'], 'default': 'present'},
    plan_dir={'type': 'path'},
)


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    converge_or_fail(module, _ipsec.converge, (_ipsec.IpsecError, _restore.RestoreError),
                     keep=lambda *a: _restore.keep('xfrm', *a))


if __name__ == '__main__':
    main()
