# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/cluster/ipsec.py: keyring and rotation, SPIs, per-direction keys,
a node's SA/SP set, and the ESP MTU arithmetic."""

from __future__ import annotations

import ipaddress
import itertools
import os
import random
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipsec as I  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import xfrm as X  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import ipsec as M  # noqa: E402


def counter_rand():
    n = itertools.count(1)
    return lambda size: bytes([next(n) % 256]) * size


# --- primitives against published vectors ------------------------------------------------------

def test_fnv1a32_vectors():
    assert I.fnv1a32(b'') == 0x811C9DC5
    assert I.fnv1a32(b'a') == 0xE40C292C
    assert I.fnv1a32(b'foobar') == 0xBF9CF968


def test_hkdf_rfc5869_vectors():
    ikm = bytes([0x0B]) * 22
    okm = I.hkdf_sha256(ikm, bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == ('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf'
                         '34007208d5b887185865')                       # test case 1
    assert I.hkdf_sha256(ikm, b'', b'', 42).hex() == ('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f'
                                                      '3c738d2d9d201395faa4b61a96c8')   # test case 3


def test_spi_base_is_dockers_formula():
    """FNV-1a over src as 16 bytes (IPv4-mapped), the tag big endian, dst as 16 bytes."""
    data = (b'\0' * 10 + b'\xff\xff' + bytes([192, 0, 2, 1]) + (7).to_bytes(4, 'big')
            + b'\0' * 10 + b'\xff\xff' + bytes([192, 0, 2, 2]))
    assert I.spi_base('192.0.2.1', '192.0.2.2', 7) == I.fnv1a32(data)
    assert I.spi_base('192.0.2.1', '192.0.2.2', 7) != I.spi_base('192.0.2.2', '192.0.2.1', 7)


# --- keyring -----------------------------------------------------------------------------------

def test_init_keyring_and_primary():
    ring = I.init_keyring(1000)
    assert [k['tag'] for k in ring] == [1, 2, 3] and all(len(k['key']) == 32 for k in ring)
    assert len({k['key'] for k in ring}) == 3 and all(k['created'] == 1000 for k in ring)
    assert I.primary(ring)['tag'] == 2
    assert I.primary(ring[:1])['tag'] == 1
    assert I.primary(list(reversed(ring)))['tag'] == 2               # order does not matter


def test_rotation_requires_the_newest_key_everywhere():
    ring = I.init_keyring(0, counter_rand())
    with pytest.raises(I.KeyringError, match='key 3 is not installed on every node yet'):
        I.rotate(ring, 100, installed_tag=2)
    with pytest.raises(I.KeyringError):
        I.rotate(ring, 100, installed_tag=None)
    new = I.rotate(ring, 100, installed_tag=3, rand=counter_rand())
    assert [k['tag'] for k in new] == [2, 3, 4] and new[-1]['created'] == 100
    assert I.primary(new)['tag'] == 3 and new[:2] == ring[1:]


@pytest.mark.parametrize('bad, words', [
    ([], 'non-empty list'),
    ([{'tag': 1, 'key': 'ab' * 16}, {'tag': 1, 'key': 'cd' * 16}], 'tag 1 appears twice'),
    ([{'tag': 0, 'key': 'ab' * 16}], 'keyring[0].tag must be an integer'),
    ([{'tag': 5, 'key': 'ab' * 15}], 'key with tag 5 must be 32 hex digits'),
    ([{'tag': 5, 'key': 'zz' * 16}], 'key with tag 5 must be 32 hex digits'),
    ([{'tag': 5, 'key': 'ab' * 16, 'extra': 1}], 'keyring[0] must be a dict'),
])
def test_keyring_validation_never_shows_keys(bad, words):
    with pytest.raises(I.KeyringError) as err:
        I.validate_keyring(bad)
    assert words in str(err.value) and 'abab' not in str(err.value) and 'zzzz' not in str(err.value)


def test_keyring_public_has_no_key_material():
    ring = I.init_keyring(5)
    pub = I.keyring_public(ring)
    text = repr(pub)
    assert all(k['key'] not in text for k in ring)
    assert [p['primary'] for p in pub] == [False, True, False] and all(len(p['fingerprint']) == 8 for p in pub)


def test_rotation_loses_no_packet_whatever_the_order_nodes_converge():
    """Model: after each rotation, every node is on either the old or the new ring while the run
    converges. A sender uses its ring's primary; a receiver accepts its ring's keys. For every mix
    of old/new nodes, every sender's key is accepted by every receiver."""
    ring = I.init_keyring(0)
    installed = 3
    for step in range(6):
        new = I.rotate(ring, step, installed)
        for sender_ring, receiver_ring in itertools.product((ring, new), repeat=2):
            sent = I.primary(sender_ring)['tag']
            assert sent in {k['tag'] for k in receiver_ring}
        ring, installed = new, new[-1]['tag']
    # a rotation started before the last one converged would break this: the guard refuses it
    with pytest.raises(I.KeyringError):
        I.rotate(I.rotate(ring, 0, installed), 0, installed)


# --- SPIs --------------------------------------------------------------------------------------

NODES = ['192.0.2.%d' % i for i in range(1, 6)]


def test_spi_table_both_ends_agree_and_values_are_valid():
    for dst in NODES:
        table = I.spi_table(dst, NODES, [1, 2, 3])
        assert len(table) == 4 * 3 and len(set(table.values())) == 12
        assert all(spi >= 256 for spi in table.values())
        # the sender computes the same table (same inputs in any order)
        assert I.spi_table(ipaddress.ip_address(dst), list(reversed(NODES)), [3, 1, 2]) == table
        for (src, tag), spi in table.items():
            assert spi == I.spi_base(src, dst, tag)                 # no clash here: Docker's values


def test_spi_clashes_and_small_values_are_resolved(monkeypatch):
    real = I.spi_base

    def clashing(src, dst, tag, counter=0):
        if counter == 0:
            return 0x1000 if tag != 9 else 17                       # everyone clashes; tag 9 is reserved range
        return real(src, dst, tag, counter)

    monkeypatch.setattr(I, 'spi_base', clashing)
    table = I.spi_table('192.0.2.1', NODES, [1, 9])
    assert len(set(table.values())) == len(table) == 8
    assert all(v >= 256 for v in table.values())
    assert table[('192.0.2.2', 1)] == 0x1000                        # first in (tag, source) order keeps it
    assert table[('192.0.2.3', 1)] == real('192.0.2.3', '192.0.2.1', 1, 1)


# --- keys --------------------------------------------------------------------------------------

def test_sa_keys_are_per_direction_and_per_tag():
    k = 'aa' * 16
    ab, ba = I.sa_key(k, '192.0.2.1', '192.0.2.2', 1), I.sa_key(k, '192.0.2.2', '192.0.2.1', 1)
    assert len(ab) == 40 and ab != ba
    assert ab == I.sa_key(k, ipaddress.ip_address('192.0.2.1'), '192.0.2.2', 1)
    assert ab != I.sa_key(k, '192.0.2.1', '192.0.2.2', 2) and ab != I.sa_key('bb' * 16, '192.0.2.1', '192.0.2.2', 1)
    assert k not in ab


# --- a node's SA/SP set ------------------------------------------------------------------------

def _by_pair(states):
    return {(s['src'], s['dst'], s['spi']): s for s in states}


def test_node_xfrm_pairs_match_across_nodes():
    ring = I.init_keyring(0)
    plans = {n: I.node_xfrm(n, NODES, ring, port=4790) for n in NODES}
    prim = I.primary(ring)['tag']
    for me, plan in plans.items():
        peers = [n for n in NODES if n != me]
        inbound = [s for s in plan['states'] if s['dst'] == me]
        outbound = [s for s in plan['states'] if s['src'] == me]
        assert len(inbound) == 3 * len(peers) and len(outbound) == len(peers) and len(plan['policies']) == len(peers)
        assert len({(s['dst'], s['spi']) for s in plan['states']}) == len(plan['states'])   # kernel identity unique
        for pol in plan['policies']:
            assert pol['dport'] == 4790 and pol['dir'] == 'out'
            assert pol['mark'] == {'value': X.OVERLAY_MARK, 'mask': 0xFFFFFFFF}
            sa = [s for s in outbound if s['dst'] == pol['tmpl']['dst']][0]
            assert pol['tmpl']['spi'] == sa['spi'] and pol['tmpl']['reqid'] == X.OVERLAY_REQID
        for sa in outbound:
            # the peer has the very same SA as inbound: same SPI, same key
            peer_in = _by_pair(plans[sa['dst']]['states'])[(me, sa['dst'], sa['spi'])]
            assert peer_in['aead_key'] == sa['aead_key']
            assert sa['spi'] == I.spi_table(sa['dst'], NODES, [1, 2, 3])[(me, prim)]
        for sa in plan['states']:
            assert sa['selector'] == {'src': None, 'dst': None, 'proto': 'udp', 'dport': 4790}
    # outbound keys differ from inbound keys of the same pair
    a, b = NODES[0], NODES[1]
    out_ab = [s for s in plans[a]['states'] if s['src'] == a and s['dst'] == b][0]
    in_ba = [s for s in plans[a]['states'] if s['src'] == b and s['dst'] == a]
    assert out_ab['aead_key'] not in {s['aead_key'] for s in in_ba}


def test_node_xfrm_is_valid_xfrm_module_input():
    ring = I.init_keyring(0)
    plan = I.node_xfrm(NODES[0], NODES, ring)
    defaults = {'mark': None}
    states = [M.normalise_state(dict(defaults, **s), i, True) for i, s in enumerate(plan['states'])]
    pols = [M.normalise_policy(p, i) for i, p in enumerate(plan['policies'])]
    M._dupes(states, X.state_id, 'states')
    M._dupes(pols, X.policy_id, 'policies')
    assert all(s['esn'] and s['replay_window'] == 128 and s['aead']['icv_bits'] == 128 for s in states)
    assert all(X.is_ours_state(s) for s in states) and all(X.is_ours_policy(p) for p in pols)


def test_rotation_on_a_node_is_add_update_delete_never_replace():
    """Between two consecutive rings the xfrm plan per peer is: +1 inbound SA (new key), +1 outbound
    SA (new primary), 1 policy update (new SPI), -1 inbound SA (pruned), -1 outbound SA (old primary)."""
    ring = I.init_keyring(0)
    new = I.rotate(ring, 10, 3)
    me, peers = NODES[0], NODES[1:]

    def norm(plan):
        return ([M.normalise_state(dict({'mark': None}, **s), i, True) for i, s in enumerate(plan['states'])],
                [M.normalise_policy(p, i) for i, p in enumerate(plan['policies'])])

    old_s, old_p = norm(I.node_xfrm(me, NODES, ring))
    new_s, new_p = norm(I.node_xfrm(me, NODES, new))
    add, replace, delete = X.diff_states(new_s, old_s, exclusive=True)
    assert replace == []
    assert len(add) == 2 * len(peers) and len(delete) == 2 * len(peers)
    padd, pupd, pdel = X.diff_policies(new_p, old_p, exclusive=True)
    assert padd == [] and pdel == [] and len(pupd) == len(peers)
    # a removed peer disappears entirely under exclusive
    gone_s, gone_p = norm(I.node_xfrm(me, NODES[:-1], new))
    add, replace, delete = X.diff_states(gone_s, new_s, exclusive=True)
    assert add == [] and replace == [] and len(delete) == 4
    assert all(NODES[-1] in (str(s['src']), str(s['dst'])) for s in delete)


def test_node_xfrm_ipv6_and_family_mix():
    ring = I.init_keyring(0)
    plan = I.node_xfrm('2001:db8::1', ['2001:db8::2'], ring)
    assert plan['policies'][0]['src'] == '2001:db8::1/128'
    with pytest.raises(ValueError, match='not of the address family'):
        I.node_xfrm('192.0.2.1', ['2001:db8::2'], ring)
    assert I.node_xfrm('192.0.2.1', ['192.0.2.1'], ring) == {'states': [], 'policies': []}


# --- MTU ---------------------------------------------------------------------------------------

def esp_packet(inner_mtu, family, icv_bits):
    """Independent arithmetic: bytes on the underlay for a full-size inner packet."""
    outer = 20 if family == 4 else 40
    payload = 8 + 8 + 14 + inner_mtu + 2         # UDP + VXLAN + Ethernet + inner packet + pad len + next hdr
    payload += -payload % 4
    return outer + 8 + 8 + payload + icv_bits // 8


@pytest.mark.parametrize('underlay, family, icv, clear, enc', [
    (1500, 4, 128, 1450, 1416),
    (1500, 4, 64, 1450, 1424),          # Docker's 64-bit ICV gives Docker's 1424
    (1500, 6, 128, 1430, 1396),
    (9000, 4, 128, 8950, 8916),
    (1450, 4, 128, 1400, 1364),
])
def test_overlay_mtu(underlay, family, icv, clear, enc):
    assert _ipam.overlay_mtu(underlay, family) == clear
    assert _ipam.overlay_mtu(underlay, family, encrypted=True, icv_bits=icv) == enc
    best = max(m for m in range(1000, underlay) if esp_packet(m, family, icv) <= underlay)
    assert best == enc and enc % 4 == 0


def test_overlay_mtu_is_the_largest_that_fits_everywhere():
    for underlay in range(1280, 9217, 7):
        for family in (4, 6):
            enc = _ipam.overlay_mtu(underlay, family, True)
            assert esp_packet(enc, family, 128) <= underlay < esp_packet(enc + 4, family, 128)


def test_random_rings_always_valid():
    rnd = random.Random(7)

    def rand(size):
        return bytes(rnd.getrandbits(8) for i in range(size))

    ring = I.init_keyring(0, rand=rand)
    for step in range(20):
        ring = I.rotate(ring, step, ring[-1]['tag'], rand=rand)
        assert len(I.validate_keyring(ring)) == 3 and I.primary(ring)['tag'] == ring[1]['tag']
