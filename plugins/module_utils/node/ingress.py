# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's ingress endpoint (``ingress-sbox``): the routing mesh's hop between the node and the
tasks of a service that publishes a port in mode ingress (``cluster/publish.py`` says why).

The node DNATs a published port to the endpoint's address on the gateway bridge; the endpoint
DNATs it again, to one of the service's tasks on the ``ingress`` overlay network at random per
connection, and masquerades it to its own ingress address, so the task's reply comes back
through the same endpoint (and conntrack undoes both NATs on the way back). Docker does this with
IPVS in its ingress-sbox; here it is one nftables table of the endpoint's own, read back as
``nft list table`` prints it, and forwarding on in the endpoint's namespace only.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import nft as _nft
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import gateway as _gateway

FAMILY = 'ip'
TABLE = 'linuxnet_overlay_ingress'
FORWARDING = '/proc/sys/net/ipv4/ip_forward'


def render(rules, ingress_ifname='eth0'):
    """The endpoint's table (pure), exactly as ``nft list table`` prints it; None without rules."""
    if rules is None:
        return None
    dnat = [r for r in (_gateway.dnat_rule(p) for p in rules) if r]
    return ('table %s %s {\n' % (FAMILY, TABLE)
            + '\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n'
            + ''.join('\t\t%s\n' % r for r in dnat) + '\t}\n\n'
            + '\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n'
            + '\t\toifname "%s" ct status dnat masquerade\n\t}\n}\n' % ingress_ifname)


def current(netns):
    """``(table text or None, forwarding '0'/'1')`` in the endpoint's namespace."""
    with _netns.entered(netns):
        with open(FORWARDING, encoding='ascii') as f:
            forwarding = f.read().strip()
    return (_nft.list_table(netns, FAMILY, TABLE) if _nft.available() else None), forwarding


def converge(netns, want, have, check_mode):
    """The endpoint's table ``want`` and forwarding on; returns the actions."""
    table, forwarding = have
    actions = []
    if want is not None and forwarding != '1':
        actions.append('set net.ipv4.ip_forward=1 in the ingress endpoint')
        if not check_mode:
            with _netns.entered(netns):
                with open(FORWARDING, 'w', encoding='ascii') as f:
                    f.write('1\n')
    if want != table:
        actions.append('%s routing mesh rules' % ('remove' if want is None else 'replace' if table else 'add'))
        if not check_mode:
            _nft.replace_table(netns, FAMILY, TABLE, want)
    return actions
