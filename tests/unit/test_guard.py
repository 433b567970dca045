# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/node/guard.py (the encryption guard's nftables table): parsing
of recorded ``nft -j`` output (nftables 1.0.6), structure comparison, and the scripts it writes."""

from __future__ import annotations

import json
import os
import sys

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import guard as G  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
MARK = 0x4C4E4F


def load(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as f:
        return json.load(f)


def test_parse_what_full_script_made():
    """nft_guard_ip.json is `nft -j list table` after `nft -f` of full_script(ip, {4096, 4097})."""
    cur = G.parse_table(load('nft_guard_ip.json'))
    assert cur['vnis'] == {4096, 4097}
    assert cur['chains'] == G.CHAIN_SPECS
    assert cur['counters'] == {'enc-out': {'packets': 0, 'bytes': 0}, 'enc-in': {'packets': 0, 'bytes': 0},
                               'enc-post': {'packets': 0, 'bytes': 0}}
    assert G.structure_differences(cur, 4789, MARK) == []
    assert G.plan(cur, 'ip', [4096, 4097], 4789, MARK) == ('', '')


def test_other_port_or_mark_is_a_difference():
    cur = G.parse_table(load('nft_guard_ip.json'))
    assert G.structure_differences(cur, 4790, MARK) == ['chain enc-out rules differ (port, mark or match)',
                                                        'chain enc-in rules differ (port, mark or match)',
                                                        'chain enc-post rules differ (port, mark or match)']
    assert G.structure_differences(cur, 4789, 0xD0C4E3) == ['chain enc-out rules differ (port, mark or match)']


def test_tampered_table_is_rebuilt_atomically():
    cur = G.parse_table(load('nft_guard_tampered.json'))
    why = G.structure_differences(cur, 4789, MARK)
    assert "chains ['enc-in', 'enc-out', 'enc-post', 'extra'] instead of ['enc-in', 'enc-out', 'enc-post']" in why
    assert 'chain enc-in rules differ (port, mark or match)' in why
    script, reason = G.plan(cur, 'ip', [4096], 4789, MARK)
    assert reason.startswith('rebuild the table: ')
    lines = script.splitlines()
    assert lines[0] == 'delete table ip linuxnet-overlay'        # same transaction as the new table
    assert lines[1] == 'table ip linuxnet-overlay {'
    assert '    elements = { 0x001000 }' in lines


def test_set_only_changes():
    cur = G.parse_table(load('nft_guard_ip.json'))
    script, reason = G.plan(cur, 'ip', [4096, 5000], 4789, MARK)
    assert script == ('add element ip linuxnet-overlay encrypted-vnis { 0x001388 }\n'
                      'delete element ip linuxnet-overlay encrypted-vnis { 0x001001 }\n')
    assert reason == 'add VNIs 5000, remove VNIs 4097'
    assert G.plan(cur, 'ip', [], 4789, MARK)[0] == \
        'delete element ip linuxnet-overlay encrypted-vnis { 0x001000, 0x001001 }\n'


def test_create_and_absent():
    script, reason = G.plan(None, 'ip6', [7], 4789, MARK)
    assert reason == 'create the table' and script.startswith('table ip6 linuxnet-overlay {\n')
    assert 'delete table' not in script
    assert '    udp dport 4789 @th,96,24 @encrypted-vnis counter meta mark set 0x4c4e4f' in script
    assert '    meta secpath missing udp dport 4789 @th,96,24 @encrypted-vnis counter drop' in script
    assert '    type route hook output priority mangle; policy accept;' in script
    assert '    type filter hook input priority raw; policy accept;' in script
    assert '    rt ipsec missing udp dport 4789 @th,96,24 @encrypted-vnis counter drop' in script
    assert '    type filter hook postrouting priority filter; policy accept;' in script
    assert G.plan(None, 'ip', [], 4789, MARK)[0].count('elements') == 0     # empty set: no elements line
    assert G.plan(None, 'ip', [1], 4789, MARK, present=False) == ('', '')
    cur = G.parse_table(load('nft_guard_ip.json'))
    assert G.plan(cur, 'ip', [], 4789, MARK, present=False) == ('delete table ip linuxnet-overlay\n', 'remove the table')


def test_counters_and_element_forms():
    doc = load('nft_guard_ip.json')
    for item in doc['nftables']:
        if 'rule' in item:
            for e in item['rule']['expr']:
                if 'counter' in e:
                    e['counter'] = {'packets': 3, 'bytes': 300}
        if 'set' in item:
            item['set']['elem'] = [4096, {'elem': {'val': 4097, 'counter': {'packets': 1, 'bytes': 2}}}, '0x1388']
    cur = G.parse_table(doc)
    assert cur['counters']['enc-in'] == {'packets': 3, 'bytes': 300}
    assert cur['vnis'] == {4096, 4097, 5000}
    assert G.structure_differences(cur, 4789, MARK) == []             # counters never count as differences


def test_describe_is_readable():
    text = G.describe('ip', [4097, 4096], 4789, MARK)
    assert text.splitlines()[1] == '  set encrypted-vnis: 4096 4097'
    assert 'meta mark set 0x4c4e4f' in text and G.describe('ip', [], 4789, MARK).count('(empty)') == 1
    assert '  chain enc-post (filter postrouting): no IPsec transform, udp dport 4789, VNI in @encrypted-vnis' \
        ' -> counter, drop' in text


def test_a_table_made_before_enc_post_existed_is_rebuilt():
    """A guard made by an earlier version (enc-out and enc-in only) is rebuilt in one transaction."""
    doc = load('nft_guard_ip.json')
    doc['nftables'] = [i for i in doc['nftables']
                       if i.get('chain', {}).get('name') != 'enc-post' and i.get('rule', {}).get('chain') != 'enc-post']
    cur = G.parse_table(doc)
    assert G.structure_differences(cur, 4789, MARK) == [
        "chains ['enc-in', 'enc-out'] instead of ['enc-in', 'enc-out', 'enc-post']",
        'chain enc-post rules differ (port, mark or match)']
    script, reason = G.plan(cur, 'ip', [4096, 4097], 4789, MARK)
    assert reason.startswith('rebuild the table: ') and script.startswith('delete table ip linuxnet-overlay\n')
