# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The encryption guard: the nftables table that marks the overlay's encrypted VXLAN traffic for
IPsec, drops encrypted VNIs that arrive in clear text, and drops encrypted VNIs that would leave in
clear text. Mostly pure code (private): parse what ``nft -j list table`` prints, compare it with
what we want, and write the ``nft -f`` script; ``converge`` at the end is the run of the
``encryption_guard`` module (and of a node's restore), the one part that calls ``nft``.

The table follows Docker's nftables backend (``encryption_nft_linux.go``), with our own names:

    table ip linuxnet-overlay {                       # ip6 for an IPv6 underlay
      set encrypted-vnis { typeof @th,96,24; }        # the VNI: bytes 4-6 of the VXLAN header
      chain enc-out { type route hook output priority mangle; policy accept;
        udp dport 4789 @th,96,24 @encrypted-vnis counter meta mark set 0x4c4e4f }
      chain enc-in  { type filter hook input priority raw; policy accept;
        meta secpath missing udp dport 4789 @th,96,24 @encrypted-vnis counter drop }
      chain enc-post { type filter hook postrouting priority filter; policy accept;
        rt ipsec missing udp dport 4789 @th,96,24 @encrypted-vnis counter drop }
    }

``@th,96,24`` is 24 bits at bit 96 of the transport header: UDP header (64 bits) + the VXLAN
flags word (32 bits), i.e. the VNI. enc-out is a *route* chain so that the kernel looks the route
(and the xfrm policy, which selects on that mark) up again after the mark is set. enc-in runs at
raw priority (-300), before any administrator's accept rule can let clear text in; ESP packets
that the kernel decrypted carry a secpath and pass.

enc-post is ours, not Docker's: the outbound half of fail closed. Docker only marks outbound
VXLAN; when the policy or SA behind the mark is missing (an SA the kernel refused, a peer whose
policy is not there yet, a mark overwritten by another rule), the packet leaves in clear text.
In POSTROUTING a packet that the xfrm policy will encrypt still is clear-text VXLAN, but its route
is an xfrm bundle (``rt ipsec exists``); after ESP (transport mode) it is no longer UDP and does
not match. So a VXLAN packet of an encrypted VNI whose route has no IPsec transform is dropped
and counted: nothing of an encrypted network ever leaves a node in clear text, also while the
SAs cannot be made (measured in tests/integration/test_encryption_guard.py on a kernel without
ESP, and in the molecule vm scenario with real ESP, where encrypted traffic passes).
"""

from __future__ import annotations

import json

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import VNI_MAX
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import nft as _nft
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

TABLE = 'linuxnet-overlay'
SET = 'encrypted-vnis'
CHAIN_OUT = 'enc-out'
CHAIN_IN = 'enc-in'
CHAIN_POST = 'enc-post'

CHAIN_SPECS = {
    CHAIN_OUT: {'type': 'route', 'hook': 'output', 'prio': -150, 'policy': 'accept'},
    CHAIN_IN: {'type': 'filter', 'hook': 'input', 'prio': -300, 'policy': 'accept'},
    CHAIN_POST: {'type': 'filter', 'hook': 'postrouting', 'prio': 0, 'policy': 'accept'},
}


class GuardError(Exception):
    """The table cannot be read as nft printed it, or bad input; the message names why. ``extra``:
    what the module returns with it."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.extra = extra


def _match_dport(port):
    return {'match': {'op': '==', 'left': {'payload': {'protocol': 'udp', 'field': 'dport'}}, 'right': port}}


def _match_vni():
    return {'match': {'op': '==', 'left': {'payload': {'base': 'th', 'offset': 96, 'len': 24}},
                      'right': '@' + SET}}


def wanted_rules(port, mark):
    """The rule of each chain as ``nft -j`` prints it (counter values left out)."""
    return {
        CHAIN_OUT: [_match_dport(port), _match_vni(), {'counter': None},
                    {'mangle': {'key': {'meta': {'key': 'mark'}}, 'value': mark}}],
        CHAIN_IN: [{'match': {'op': '==', 'left': {'meta': {'key': 'ipsec'}}, 'right': False}},
                   _match_dport(port), _match_vni(), {'counter': None}, {'drop': None}],
        CHAIN_POST: [{'match': {'op': '==', 'left': {'rt': {'key': 'ipsec'}}, 'right': False}},
                     _match_dport(port), _match_vni(), {'counter': None}, {'drop': None}],
    }


def _strip_counter(expr):
    out = []
    for item in expr:
        if isinstance(item, dict) and 'counter' in item:
            out.append({'counter': None})
        else:
            out.append(item)
    return out


def _elem_value(elem):
    if isinstance(elem, int):
        return elem
    if isinstance(elem, dict) and 'elem' in elem:          # element with options (timeout, counter...)
        return _elem_value(elem['elem'].get('val'))
    if isinstance(elem, str):
        return int(elem, 0)
    raise GuardError('unexpected set element %r' % (elem,))


def parse_table(doc):
    """``nft -j list table FAMILY linuxnet-overlay`` (parsed JSON) -> current state:
    {'vnis': set, 'chains': {name: spec}, 'rules': {chain: [expr, ...]}, 'sets': {name: ...},
     'counters': {chain: {'packets', 'bytes'}}}."""
    cur = {'vnis': set(), 'chains': {}, 'rules': {}, 'sets': set(), 'counters': {}, 'set_type': None}
    for item in doc.get('nftables', []):
        if 'set' in item:
            s = item['set']
            cur['sets'].add(s['name'])
            if s['name'] == SET:
                cur['set_type'] = s.get('type')
                cur['vnis'] = {_elem_value(e) for e in s.get('elem', [])}
        elif 'chain' in item:
            c = item['chain']
            cur['chains'][c['name']] = {k: c.get(k) for k in ('type', 'hook', 'prio', 'policy')}
        elif 'rule' in item:
            r = item['rule']
            cur['rules'].setdefault(r['chain'], []).append(_strip_counter(r.get('expr', [])))
            for e in r.get('expr', []):
                if isinstance(e, dict) and isinstance(e.get('counter'), dict):
                    cnt = cur['counters'].setdefault(r['chain'], {'packets': 0, 'bytes': 0})
                    cnt['packets'] += e['counter'].get('packets', 0)
                    cnt['bytes'] += e['counter'].get('bytes', 0)
        elif any(k in item for k in ('map', 'flowtable', 'element', 'counter', 'quota', 'ct helper', 'limit')):
            cur.setdefault('extra', []).append(sorted(item)[0])
    return cur


def structure_differences(cur, port, mark):
    """Why the table's chains/rules/sets are not exactly ours (empty list: they are)."""
    why = []
    if cur['sets'] != {SET}:
        why.append('sets %s instead of only %s' % (sorted(cur['sets']) or 'none', SET))
    if cur.get('set_type') not in (None, 'integer'):
        why.append('set %s has type %s' % (SET, cur['set_type']))
    if set(cur['chains']) != set(CHAIN_SPECS):
        why.append('chains %s instead of %s' % (sorted(cur['chains']) or 'none', sorted(CHAIN_SPECS)))
    for name, spec in CHAIN_SPECS.items():
        if name in cur['chains'] and cur['chains'][name] != spec:
            why.append('chain %s is %s' % (name, describe_chain_spec(cur['chains'][name])))
    rules = wanted_rules(port, mark)
    for name in CHAIN_SPECS:
        if cur['rules'].get(name, []) != [rules[name]]:
            why.append('chain %s rules differ (port, mark or match)' % name)
    extra = set(cur['rules']) - set(CHAIN_SPECS)
    if extra:
        why.append('rules in foreign chains %s' % sorted(extra))
    if cur.get('extra'):
        why.append('other objects: %s' % ', '.join(sorted(set(cur['extra']))))
    return why


def describe_chain_spec(spec):
    return 'type %s hook %s priority %s policy %s' % (spec.get('type'), spec.get('hook'), spec.get('prio'),
                                                      spec.get('policy'))


def describe(family, vnis, port, mark):
    """The table as a few readable lines (for diffs)."""
    return ('table %s %s\n'
            '  set %s: %s\n'
            '  chain %s (route output mangle): udp dport %d, VNI in @%s -> counter, meta mark set 0x%x\n'
            '  chain %s (filter input raw): no IPsec secpath, udp dport %d, VNI in @%s -> counter, drop\n'
            '  chain %s (filter postrouting): no IPsec transform, udp dport %d, VNI in @%s -> counter, drop\n'
            % (family, TABLE, SET, ' '.join(str(v) for v in sorted(vnis)) or '(empty)',
               CHAIN_OUT, port, SET, mark, CHAIN_IN, port, SET, CHAIN_POST, port, SET))


def _elements(vnis):
    return ', '.join('0x%06x' % v for v in sorted(vnis))


def full_script(family, vnis, port, mark, exists):
    """One atomic ``nft -f`` transaction that (re)creates the whole table."""
    lines = []
    if exists:
        lines.append('delete table %s %s' % (family, TABLE))
    lines += [
        'table %s %s {' % (family, TABLE),
        '  set %s {' % SET,
        '    typeof @th,96,24',
    ]
    if vnis:
        lines.append('    elements = { %s }' % _elements(vnis))
    lines += [
        '  }',
        '  chain %s {' % CHAIN_OUT,
        '    type route hook output priority mangle; policy accept;',
        '    udp dport %d @th,96,24 @%s counter meta mark set 0x%x' % (port, SET, mark),
        '  }',
        '  chain %s {' % CHAIN_IN,
        '    type filter hook input priority raw; policy accept;',
        '    meta secpath missing udp dport %d @th,96,24 @%s counter drop' % (port, SET),
        '  }',
        '  chain %s {' % CHAIN_POST,
        '    type filter hook postrouting priority filter; policy accept;',
        '    rt ipsec missing udp dport %d @th,96,24 @%s counter drop' % (port, SET),
        '  }',
        '}',
    ]
    return '\n'.join(lines) + '\n'


def set_script(family, add, remove):
    """One atomic transaction that only changes the set's elements."""
    lines = []
    if add:
        lines.append('add element %s %s %s { %s }' % (family, TABLE, SET, _elements(add)))
    if remove:
        lines.append('delete element %s %s %s { %s }' % (family, TABLE, SET, _elements(remove)))
    return '\n'.join(lines) + '\n' if lines else ''


def plan(cur, family, vnis, port, mark, present=True):
    """-> (script, reason). ``cur`` is parse_table()'s result or None when the table is absent.
    Empty script: nothing to do."""
    vnis = set(vnis)
    if not present:
        return ('delete table %s %s\n' % (family, TABLE), 'remove the table') if cur is not None else ('', '')
    if cur is None:
        return full_script(family, vnis, port, mark, exists=False), 'create the table'
    why = structure_differences(cur, port, mark)
    if why:
        return full_script(family, vnis, port, mark, exists=True), 'rebuild the table: ' + '; '.join(why)
    add, remove = vnis - cur['vnis'], cur['vnis'] - vnis
    if add or remove:
        parts = []
        if add:
            parts.append('add VNIs %s' % ' '.join(str(v) for v in sorted(add)))
        if remove:
            parts.append('remove VNIs %s' % ' '.join(str(v) for v in sorted(remove)))
        return set_script(family, add, remove), ', '.join(parts)
    return '', ''


# ---------------------------------------------------------------------------------------------
# The run (talks to nft)

def validate(p):
    """The mark as an int; GuardError naming the bad value."""
    for v in p['vnis']:
        if not 0 <= v <= VNI_MAX:
            raise GuardError('vnis: %d is out of range 0..%d' % (v, VNI_MAX))
    dupes = sorted({v for v in p['vnis'] if p['vnis'].count(v) > 1})
    if dupes:
        raise GuardError('vnis: %s listed more than once' % ', '.join(str(v) for v in dupes))
    if not 1 <= p['port'] <= 65535:
        raise GuardError('port: %d is out of range 1..65535' % p['port'])
    mark = p['mark']
    try:
        mark = mark if isinstance(mark, int) and not isinstance(mark, bool) else int(str(mark).strip(), 0)
    except ValueError:
        raise GuardError('mark: %r is not an integer (decimal or 0x-hex)' % (p['mark'],)) from None
    if not 1 <= mark <= 0xFFFFFFFF:
        raise GuardError('mark: %s is out of range 1..0xffffffff (0 would mean "no mark")' % p['mark'])
    return mark


def _zero():
    return {'packets': 0, 'bytes': 0}


def read(netns, family):
    """parse_table() of the live table, or None when it does not exist."""
    rc, out, err = _nft.run(netns, ['-j', 'list', 'table', family, TABLE])
    if rc != 0:
        if 'No such file or directory' in err:
            return None
        raise GuardError('cannot read nftables table %s %s: %s' % (family, TABLE, err or out.strip()))
    try:
        return parse_table(json.loads(out))
    except ValueError as exc:
        raise GuardError('cannot parse "nft -j list table %s %s": %s' % (family, TABLE, exc)) from None


def _before(cur, family, port, mark):
    if cur is None:
        return ''
    why = structure_differences(cur, port, mark)
    if why:
        return ('table %s %s (not as this module makes it: %s)\n  set %s: %s\n'
                % (family, TABLE, '; '.join(why), SET, ' '.join(str(v) for v in sorted(cur['vnis'])) or '(empty)'))
    return describe(family, cur['vnis'], port, mark)


def _result(changed, family, vnis, counters, reason):
    return {'changed': changed, 'table': '%s %s' % (family, TABLE), 'vnis': vnis, 'reason': reason,
            'actions': ['%s %s: %s' % (family, TABLE, reason)] if changed else [],
            'counters': {'enc_out': counters.get(CHAIN_OUT, _zero()), 'enc_in': counters.get(CHAIN_IN, _zero()),
                         'enc_post': counters.get(CHAIN_POST, _zero())}}


def converge(p, check_mode=False, diff=False):
    """The encryption_guard module's run: ``p`` its parameters with defaults."""
    present, family = p['state'] == 'present', p['family']
    try:
        _netns.require(p['netns'])
    except _netns.NetnsError as exc:
        raise GuardError(str(exc)) from None
    mark = validate(p)
    if not present and not _nft.available():
        # without nft there can be no table of ours: nothing to remove (hosts that never encrypt need no nftables)
        return _result(False, family, [], {}, '')
    try:
        cur = read(p['netns'], family)
        script, reason = plan(cur, family, p['vnis'], p['port'], mark, present)
        if script and not check_mode:
            rc, out, err = _nft.run(p['netns'], ['-f', '-'], script)
            if rc != 0:
                raise GuardError('nft refused the change (%s); nothing was changed (one atomic transaction): %s'
                                 % (reason, (err or out).strip()), script=script)
    except _nft.NftError as exc:
        raise GuardError(str(exc)) from None
    result = _result(bool(script), family, sorted(p['vnis']) if present else [], (cur or {}).get('counters', {}),
                     reason)
    if diff:
        result['diff'] = diff_result(_before(cur, family, p['port'], mark),
                                     describe(family, p['vnis'], p['port'], mark) if present else '')
    return result
