# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service virtual IPs in a task's own namespace: nftables DNAT where the connection starts.

Docker balances a VIP with IPVS in the sandbox; this kernel has no IPVS. kube-proxy's nftables
mode (KEP-3866) DNATs with ``numgen random mod N`` into a map, and so does this: each task holds
one table, ``ip linuxnet_overlay_vip``, with a rule per VIP of the services on its networks in a
nat ``output`` chain. Why in the task and not in the sandbox (docs/services.md, measured by
bench/vip_nft.py): no bridge netfilter, so east-west traffic that is not VIP traffic passes no
hook; the task's conntrack undoes the DNAT on replies, so the return path and a task reaching
its own service (hairpin) need nothing; and a change is one transaction per task that keeps
established connections (conntrack holds their NAT). A VIP without tasks rejects in a filter
``output`` chain, as kube-proxy does, instead of leaving connections to time out.

The table is rendered as ``nft list table`` prints it, so the listing compares to it as text:
a rule deleted or edited by hand is drift that check mode reports and a run repairs.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import nft as _nft

FAMILY = 'ip'
TABLE = 'linuxnet_overlay_vip'
ENDPOINT_KEYS = ('service', 'vip', 'backends')
_SERVICE_RE = re.compile(r'^[a-zA-Z0-9][a-zA-Z0-9_-]*$')


class VipError(Exception):
    """Bad ``endpoints`` input, or nft failed; the message names the value."""


def _ipv4(value, what):
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise VipError('%s %r is not an IPv4 address' % (what, value)) from None


def validate_endpoints(endpoints):
    """The ``endpoints`` option (pure): None, or per network name a list of
    ``{service, vip, backends}``; returns it normalised, or VipError naming the bad value."""
    if endpoints is None:
        return None
    if not isinstance(endpoints, dict):
        raise VipError('endpoints must be a dict of network name to a list of {service, vip, backends}, got %r'
                       % (endpoints,))
    out = {}
    for net, entries in endpoints.items():
        if not isinstance(entries, list):
            raise VipError('endpoints: network %s must have a list of {service, vip, backends}, got %r' % (net, entries))
        out[net], seen = [], {}
        for i, raw in enumerate(entries):
            what = 'endpoints[%s][%d]' % (net, i)
            if not isinstance(raw, dict) or sorted(raw) != sorted(ENDPOINT_KEYS):
                raise VipError('%s must be a dict of exactly %s, got %r' % (what, ', '.join(ENDPOINT_KEYS), raw))
            if not isinstance(raw['service'], str) or not _SERVICE_RE.match(raw['service']):
                raise VipError('%s: service %r is not a service name' % (what, raw['service']))
            vip = _ipv4(raw['vip'], '%s (%s): vip' % (what, raw['service']))
            if vip in seen:
                raise VipError('%s (%s): vip %s is also the VIP of service %s' % (what, raw['service'], vip, seen[vip]))
            seen[vip] = raw['service']
            if not isinstance(raw['backends'], list):
                raise VipError('%s (%s): backends must be a list of addresses' % (what, raw['service']))
            backends = [_ipv4(b, '%s (%s): backend' % (what, raw['service'])) for b in raw['backends']]
            out[net].append({'service': raw['service'], 'vip': vip, 'backends': backends})
    return out


def select(endpoints, networks, what):
    """The endpoint entries of a task on ``networks`` (its ``endpoint_networks``), in order."""
    if not isinstance(networks, list) or not all(isinstance(n, str) for n in networks):
        raise VipError('%s: endpoint_networks must be a list of network names, got %r' % (what, networks))
    missing = [n for n in networks if n not in (endpoints or {})]
    if missing:
        raise VipError('%s: endpoint_networks names %s, which endpoints does not have (it has: %s)'
                       % (what, ', '.join(missing), ', '.join(sorted(endpoints or {})) or 'none'))
    return [e for n in networks for e in endpoints[n]]


def render(entries):
    """The table for ``entries`` (pure), exactly as ``nft list table`` prints it; None when there
    is no VIP (the table is then removed)."""
    if not entries:
        return None
    nat = ['\t\tip daddr %s dnat to numgen random mod %d map { %s }\n'
           % (e['vip'], len(e['backends']), ', '.join('%d : %s' % (i, b) for i, b in enumerate(e['backends'])))
           for e in entries if e['backends']]
    reject = ['\t\tip daddr %s reject\n' % e['vip'] for e in entries if not e['backends']]
    return ('table %s %s {\n' % (FAMILY, TABLE)
            + '\tchain nat_output {\n\t\ttype nat hook output priority -100; policy accept;\n' + ''.join(nat)
            + '\t}\n\n\tchain filter_output {\n\t\ttype filter hook output priority filter; policy accept;\n'
            + ''.join(reject) + '\t}\n}\n')


def current(netns):
    """The task's table as listed, or None (also when nft is missing: then there can be none)."""
    if not _nft.available():
        return None
    try:
        return _nft.list_table(netns, FAMILY, TABLE)
    except _nft.NftError as exc:
        raise VipError(str(exc)) from None


def converge(netns, want, have, check_mode):
    """Make the task's table ``want`` (text or None) given ``have``; returns the actions."""
    if want == have:
        return []
    if want is None:
        action = 'remove virtual IP rules'
    elif have is None:
        action = 'add virtual IP rules (%d)' % (want.count(' dnat to ') + want.count(' reject\n'))
    else:
        action = 'replace virtual IP rules (%d)' % (want.count(' dnat to ') + want.count(' reject\n'))
    if not check_mode:
        try:
            _nft.replace_table(netns, FAMILY, TABLE, want)
        except _nft.NftError as exc:
            raise VipError(str(exc)) from None
    return [action]
