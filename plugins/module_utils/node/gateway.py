# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node's gateway bridge: a way out of the overlay, as Docker's ``docker_gwbridge``.

A bridge in the node's own namespace (``ov-gwbridge``, the first address of its subnet, 172.18.0.1/16
by default) that every task with a way out has a second veth on, its default route through it
(``node/task.py`` makes that veth like its overlay ones). What leaves the node from the bridge's
subnet is masqueraded to the node's own address. Two tables of the collection's own, each read
back as ``nft list table`` prints it and replaced in one transaction when it differs:

* ``ip linuxnet_overlay_gw``: nat ``postrouting`` masquerade; a filter ``forward`` chain that lets
  replies and DNATed connections in to the bridge and drops the rest, so nothing outside starts
  a connection to a task (Docker's isolation of docker_gwbridge);
* ``bridge linuxnet_overlay_gw``: tasks' veths do not reach each other over the bridge
  (``icc=false`` on docker_gwbridge): tasks talk over their overlays, where networks isolate them.

Forwarding must be on in the node (``net.ipv4.ip_forward``, as Docker sets it); it is left on when
the gateway goes, since something else of the node may rely on it by then. The node's own
firewall tables, chains and routes are never touched.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan
from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import GATEWAY_BRIDGE
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import nft as _nft
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import bridge as _bridge

TABLE = 'linuxnet_overlay_gw'
FORWARDING = '/proc/sys/net/ipv4/ip_forward'
KEYS = ('bridge', 'subnet', 'address', 'veth_prefix', 'published')
PUBLISHED_KEYS = ('protocol', 'port', 'target', 'backends')


class GatewayError(Exception):
    """Bad ``gateway`` input or a failed change; ``actions`` are what was already done."""

    def __init__(self, msg, actions=None):
        super().__init__(msg)
        self.actions = list(actions or [])


def validate(raw):
    """The ``gateway`` option (pure): None, or ``{bridge, subnet, address, veth_prefix}`` normalised."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(KEYS) - {'published'} <= set(raw) <= set(KEYS):
        raise GatewayError('gateway must be a dict of %s, got %r' % (', '.join(KEYS), raw))
    try:
        subnet = ipaddress.IPv4Network(raw['subnet'])
        address = ipaddress.IPv4Interface(raw['address'])
    except (ValueError, TypeError) as exc:
        raise GatewayError('gateway: %s' % exc) from None
    if address.network != subnet:
        raise GatewayError('gateway: address %s is not in subnet %s' % (address, subnet))
    for key in ('bridge', 'veth_prefix'):
        if not isinstance(raw[key], str) or not raw[key].replace('-', '').replace('_', '').isalnum():
            raise GatewayError('gateway: %s %r is not an interface name' % (key, raw[key]))
    return {'bridge': raw['bridge'], 'subnet': str(subnet), 'address': str(address), 'veth_prefix': raw['veth_prefix'],
            'published': validate_published(raw.get('published') or [], 'gateway: published')}


def validate_published(raw, what):
    """Published ports to DNAT (pure): ``[{protocol, port, target, backends}]`` normalised."""
    if not isinstance(raw, list):
        raise GatewayError('%s must be a list of {%s}, got %r' % (what, ', '.join(PUBLISHED_KEYS), raw))
    out = []
    for i, p in enumerate(raw):
        where = '%s[%d]' % (what, i)
        if not isinstance(p, dict) or sorted(p) != sorted(PUBLISHED_KEYS):
            raise GatewayError('%s must be a dict of exactly %s, got %r' % (where, ', '.join(PUBLISHED_KEYS), p))
        if p['protocol'] not in ('tcp', 'udp'):
            raise GatewayError('%s: protocol %r is not tcp or udp' % (where, p['protocol']))
        for key in ('port', 'target'):
            if isinstance(p[key], bool) or not isinstance(p[key], int) or not 1 <= p[key] <= 65535:
                raise GatewayError('%s: %s %r is not a port (1-65535)' % (where, key, p[key]))
        try:
            backends = [str(ipaddress.IPv4Address(b)) for b in p['backends']]
        except (ValueError, TypeError):
            raise GatewayError('%s: backends %r must be IPv4 addresses' % (where, p['backends'])) from None
        out.append({'protocol': p['protocol'], 'port': p['port'], 'target': p['target'], 'backends': backends})
    return out


def dnat_rule(p, match=''):
    """One published port as the nat rule ``nft list table`` prints (pure): to one of its backends at
    random per connection, the port translated to the target; no backend: no rule."""
    if not p['backends']:
        return None
    return '%s%s dport %d dnat ip to numgen random mod %d map { %s }' % (
        match, p['protocol'], p['port'], len(p['backends']),
        ', '.join('%d : %s . %d' % (i, b, p['target']) for i, b in enumerate(p['backends'])))


def render(want):
    """``(ip table, bridge table)`` as ``nft list table`` prints them (pure). The nat ``prerouting``
    chain DNATs the published ports that reach one of the node's own addresses."""
    br, subnet, prefix = want['bridge'], want['subnet'], want['veth_prefix']
    dnat = [r for r in (dnat_rule(p, 'fib daddr type local ') for p in want['published']) if r]
    ip = ('table ip %s {\n' % TABLE
          + '\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n'
          + '\t\tip saddr %s oifname != "%s" masquerade\n\t}\n\n' % (subnet, br)
          + '\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n'
          + ''.join('\t\t%s\n' % rule for rule in dnat) + '\t}\n\n'
          + '\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n'
          + '\t\toifname "%s" ct state established,related accept\n' % br
          + '\t\toifname "%s" ct status dnat accept\n' % br
          + '\t\toifname "%s" drop\n\t}\n}\n' % br)
    bridge = ('table bridge %s {\n' % TABLE
              + '\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n'
              + '\t\tiifname "%s*" oifname "%s*" drop\n\t}\n}\n' % (prefix, prefix))
    return ip, bridge


def _forwarding(check_mode, actions):
    with open(FORWARDING, encoding='ascii') as f:
        if f.read().strip() == '1':
            return '1'
    actions.append('set net.ipv4.ip_forward=1 (the node forwards the gateway bridge\'s traffic)')
    if not check_mode:
        with open(FORWARDING, 'w', encoding='ascii') as f:
            f.write('1\n')
    return '0'


def current():
    """The two tables' text now (None: absent); the bridge is read by its module."""
    if not _nft.available():
        return {'ip': None, 'bridge': None}
    return {'ip': _nft.list_table(None, 'ip', TABLE), 'bridge': _nft.list_table(None, 'bridge', TABLE)}


def converge(want, check_mode=False, diff=False):
    """Make the node's gateway ``want`` (the ``validate`` model), or remove it when ``want`` is
    None and the caller owns the node's complete state. Returns ``{changed, actions, diff}``."""
    actions = []
    try:
        have = current()
        if want is None:
            bridge_res = _bridge.converge({'name': GATEWAY_BRIDGE, 'state': 'absent'}, check_mode, diff)
            tables = {'ip': None, 'bridge': None}
        else:
            bridge_res = _bridge.converge({'name': want['bridge'], 'addresses': [want['address']], 'up': True},
                                          check_mode, diff)
            tables = dict(zip(('ip', 'bridge'), render(want)))
        actions.extend(bridge_res['actions'])
        before = {'forwarding': None, 'ip_table': have['ip'], 'bridge_table': have['bridge']}
        if want is not None:
            before['forwarding'] = _forwarding(check_mode, actions)
        for family in ('ip', 'bridge'):
            if have[family] != tables[family]:
                verb = 'remove' if tables[family] is None else ('add' if have[family] is None else 'replace')
                actions.append('%s nftables table %s %s' % (verb, family, TABLE))
                if not check_mode:
                    _nft.replace_table(None, family, TABLE, tables[family])
    except _links.NetlinkError as exc:
        raise GatewayError(_linkplan.netlink_message('gateway bridge', exc), actions) from None
    except (_nft.NftError, _linkplan.LinkError, _netns.NetnsError, OSError, ValueError) as exc:
        raise GatewayError('gateway bridge: %s' % exc, actions) from None
    result = {'changed': bool(actions), 'actions': actions}
    if diff:
        after = {'forwarding': '1' if want is not None else None, 'ip_table': tables['ip'],
                 'bridge_table': tables['bridge']}
        result['diff'] = {'before': dict(before, bridge=bridge_res['diff']['before']),
                          'after': dict(after, bridge=bridge_res['diff']['after']),
                          'before_header': 'gateway bridge', 'after_header': 'gateway bridge'}
    return result
