# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the cluster plan and the IPsec keyring into a node's encryption guard and
SA/SP set (the network role's encryption part). Pure functions over ``_ipsec``; unit-tested.

``ipsec_node_xfrm`` returns key material (each SA's own 20-byte key): use it only as the argument
of the xfrm module (whose ``aead_key`` is no_log) or in a ``no_log`` task, never in a loop label."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipsec as _ipsec


def encrypted_sandboxes(node):
    """The sandboxes of a node's plan (``swarm_plan.nodes[host]``) that belong to encrypted networks."""
    return [sb for sb in (node or {}).get('sandboxes') or [] if sb.get('encrypted')]


def encrypted_vnis(node):
    """Every VNI of the node's encrypted sandboxes, sorted (the guard's set)."""
    return sorted({s['vni'] for sb in encrypted_sandboxes(node) for s in sb['subnets']})


def encrypted_peers(node):
    """Data-path addresses of the nodes this one shares an encrypted network with."""
    return [v['addr'] for v in (node or {}).get('remote_vteps') or [] if v.get('encrypted') and v.get('addr')]


def encrypted_nodes(plan):
    """Hostnames of the ready nodes that host a sandbox of an encrypted network."""
    return sorted(host for host, node in (plan or {}).get('nodes', {}).items()
                  if node.get('state') == 'ready' and encrypted_sandboxes(node))


def underlay_family(node):
    """``ip`` or ``ip6``: the nftables family of the node's data-path address."""
    return 'ip6' if ':' in str((node or {}).get('addr') or '') else 'ip'


def ipsec_node_xfrm(keyring, node, port=4789):
    """The ``states`` and ``policies`` of linuxnet.overlay.xfrm for a node of the plan: per peer on an
    encrypted network one inbound SA per key, one outbound SA for the key nodes send with, one
    outbound policy (``_ipsec.node_xfrm``). No encrypted peer: nothing (with ``exclusive`` the
    module then removes the collection's objects)."""
    peers = encrypted_peers(node)
    if not peers:
        return {'states': [], 'policies': []}
    if not keyring:
        raise AnsibleFilterError('ipsec_node_xfrm: node %s shares an encrypted network with %s but there is no '
                                 'keyring (linuxnet.overlay.keyring with reveal: true returns it)'
                                 % (node.get('addr'), ', '.join(peers)))
    ring = [{'tag': int(k['tag']), 'key': k['key'], 'created': k.get('created')} for k in keyring]
    try:
        return _ipsec.node_xfrm(node['addr'], peers, ring, port=int(port))
    except (_ipsec.KeyringError, ValueError) as exc:
        raise AnsibleFilterError('ipsec_node_xfrm: %s' % exc) from None


def keyring_tags(keyring):
    """The tags of a keyring (no key material), oldest first."""
    return sorted(int(k['tag']) for k in keyring or [])


class FilterModule:

    def filters(self):
        return {
            'encrypted_sandboxes': encrypted_sandboxes,
            'encrypted_vnis': encrypted_vnis,
            'encrypted_peers': encrypted_peers,
            'encrypted_nodes': encrypted_nodes,
            'underlay_family': underlay_family,
            'ipsec_node_xfrm': ipsec_node_xfrm,
            'keyring_tags': keyring_tags,
        }
