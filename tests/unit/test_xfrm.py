# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the xfrm codec, planning and redaction (plugins/module_utils/kernel/xfrm.py) and the
xfrm module's input validation. No root, no kernel: dumps recorded from real kernels are replayed
from tests/unit/fixtures/xfrm_dump_*.json (see record_xfrm_dump.py there)."""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import struct
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netlink as NL  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import xfrm as X  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import ipsec as M  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.modules import xfrm as MOD  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
KEY_HEX = bytes(range(1, 21)).hex()          # the key record_xfrm_dump.py used
SECRET_HEX = 'c0ffee' * 6 + '0badcafe'[:4]   # 40 hex digits that must never show up anywhere


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as f:
        return json.load(f)


def A(text):
    return ipaddress.ip_address(text)


def N(text):
    return ipaddress.ip_network(text)


def state_opt(**kw):
    opt = {'src': '192.0.2.1', 'dst': '192.0.2.2', 'spi': '0x1000abcd', 'proto': 'esp', 'mode': 'transport',
           'reqid': X.OVERLAY_REQID, 'aead_key': SECRET_HEX, 'icv_bits': 128, 'esn': True, 'replay_window': 128,
           'selector': None, 'mark': None}
    opt.update(kw)
    return opt


def policy_opt(**kw):
    opt = {'src': '192.0.2.1/32', 'dst': '192.0.2.2/32', 'proto': 'udp', 'dport': 4789, 'dir': 'out',
           'mark': {'value': '0x4C4E4F', 'mask': 0xFFFFFFFF}, 'priority': 0, 'action': 'allow',
           'tmpl': {'src': '192.0.2.1', 'dst': '192.0.2.2', 'proto': 'esp', 'mode': 'transport',
                    'reqid': X.OVERLAY_REQID, 'spi': 0x1000abcd, 'level': 'required'}}
    opt.update(kw)
    return opt


# --- recorded kernel dumps ---------------------------------------------------------------------

def test_policy_dump_from_kernel_decodes_as_ip_xfrm_added_it():
    rec = fixture('xfrm_dump_host.json')['policies']
    pols = {(p['dir'], str(p['selector']['src'])): p for p in
            (X.decode_policy(bytes.fromhex(m['payload'])) for m in rec['dump'])}
    assert len(pols) == 4
    out4 = pols[('out', '192.0.2.1/32')]
    assert out4['selector'] == {'src': N('192.0.2.1/32'), 'dst': N('192.0.2.2/32'), 'proto': 17, 'dport': 4789}
    assert out4['mark'] == (X.OVERLAY_MARK, X.FULL_MASK) and out4['priority'] == 7 and out4['action'] == 'allow'
    assert out4['tmpls'] == [{'src': A('192.0.2.1'), 'dst': A('192.0.2.2'), 'proto': 50, 'spi': 0x1000abcd,
                              'mode': 'transport', 'reqid': X.OVERLAY_REQID, 'optional': False}]
    assert X.is_ours_policy(out4)
    in4 = pols[('in', '192.0.2.2/32')]
    assert in4['mark'] is None and in4['tmpls'][0]['optional'] is True and in4['tmpls'][0]['spi'] == 0
    assert X.is_ours_policy(in4)                       # by the template's reqid
    fwd = pols[('fwd', '10.0.0.0/8')]
    assert fwd['action'] == 'block' and fwd['tmpls'] == [] and fwd['selector']['proto'] == 6
    assert fwd['selector']['dst'] == N('10.1.0.0/16') and fwd['selector']['dport'] == 80
    assert not X.is_ours_policy(fwd)
    docker6 = pols[('out', '2001:db8::1/128')]
    assert docker6['mark'] == (0xD0C4E3, X.FULL_MASK) and docker6['tmpls'][0]['dst'] == A('2001:db8::2')
    assert not X.is_ours_policy(docker6)               # Docker's objects are never ours


def test_policy_encoding_matches_the_kernels_bytes():
    """What we send for a policy is, field for field, what the kernel dumps for the same policy
    made by ip xfrm (selector, priority/dir/action, template array, mark)."""
    rec = fixture('xfrm_dump_host.json')['policies']
    for m in rec['dump']:
        raw = bytes.fromhex(m['payload'])
        pol = X.decode_policy(raw)
        ours = X.encode_policy(pol)
        assert ours[:56] == raw[:56], X.describe_policy(pol)            # xfrm_selector
        assert ours[152:156] == raw[152:156]                            # priority
        assert ours[160:162] == raw[160:162]                            # dir, action
        got, want = NL.parse_attrs(ours, 168), NL.parse_attrs(raw, 168)
        for kind in (X.XFRMA_TMPL, X.XFRMA_MARK):
            assert got.get(kind) == want.get(kind), (kind, X.describe_policy(pol))
        assert X.decode_policy(ours)['tmpls'] == pol['tmpls']


def test_policy_id_payload_layout():
    pol = X.decode_policy(bytes.fromhex(fixture('xfrm_dump_host.json')['policies']['dump'][0]['payload']))
    raw = X.encode_policy_id(pol)
    assert len(raw) == 64 + (12 if pol['mark'] else 0)
    assert raw[:56] == X.encode_policy(pol)[:56] and raw[60] == X.DIRS[pol['dir']]


@pytest.mark.parametrize('name', sorted(n for n in os.listdir(FIXTURES) if n.startswith('xfrm_dump_')))
def test_state_dump_from_kernel(name):
    rec = fixture(name)['states']
    if not rec['dump']:
        pytest.skip('%s was recorded on a kernel without ESP (no SAs in it)' % name)
    sts = {st['spi']: st for st in (X.decode_sa(bytes.fromhex(m['payload'])) for m in rec['dump'])}
    ours = sts[0x1000abcd]
    assert ours['src'] == A('192.0.2.1') and ours['dst'] == A('192.0.2.2') and ours['proto'] == 50
    assert ours['mode'] == 'transport' and ours['reqid'] == X.OVERLAY_REQID and ours['esn'] is True
    assert ours['replay_window'] == 128
    assert ours['aead'] == {'name': X.AEAD_GCM, 'key': bytes.fromhex(KEY_HEX), 'icv_bits': 128}
    assert ours['selector'] == {'src': N('192.0.2.1/32'), 'dst': N('192.0.2.2/32'), 'proto': 17, 'dport': 4789}
    assert X.is_ours_state(ours)
    docker = sts[0x2000]
    assert docker['esn'] is False and docker['replay_window'] == 32 and docker['aead']['icv_bits'] == 64
    assert docker['selector'] is None and not X.is_ours_state(docker)
    # our encoding of the same SA has the kernel's selector/id/saddr/reqid/family/mode/flags bytes
    raw = bytes.fromhex([m for m in rec['dump'] if X.decode_sa(bytes.fromhex(m['payload']))['spi'] == 0x1000abcd]
                        [0]['payload'])
    enc = X.encode_newsa(ours)
    assert enc[:56] == raw[:56] and enc[56:96] == raw[56:96] and enc[208:215] == raw[208:215]
    assert enc[216] == raw[216]
    assert NL.parse_attrs(enc, 224)[X.XFRMA_ALG_AEAD] == NL.parse_attrs(raw, 224)[X.XFRMA_ALG_AEAD]


# --- encoding of SAs (kernel ABI) --------------------------------------------------------------

def _state(**kw):
    st = M.normalise_state(state_opt(**kw), 0, True)
    return st


def test_newsa_layout():
    st = _state(selector={'src': None, 'dst': None, 'proto': 'udp', 'dport': 4789})
    raw = X.encode_newsa(st)
    assert raw[56:72] == A('192.0.2.2').packed + b'\0' * 12          # id.daddr
    assert raw[72:76] == struct.pack('!I', 0x1000abcd)                # id.spi, big endian
    assert raw[76] == 50                                              # id.proto
    assert raw[80:84] == A('192.0.2.1').packed                        # saddr
    assert struct.unpack_from('=Q', raw, 96)[0] == X.XFRM_INF         # soft byte limit: infinite
    assert struct.unpack_from('=I', raw, 208)[0] == X.OVERLAY_REQID
    assert struct.unpack_from('=H', raw, 212)[0] == 2                 # AF_INET
    assert raw[214] == 0 and raw[215] == 0 and raw[216] == X.XFRM_STATE_ESN   # transport, legacy window 0, ESN
    attrs = NL.parse_attrs(raw, 224)
    name, bits, icv = struct.unpack_from('=64sII', attrs[X.XFRMA_ALG_AEAD])
    assert name.rstrip(b'\0') == b'rfc4106(gcm(aes))' and bits == 160 and icv == 128
    assert attrs[X.XFRMA_ALG_AEAD][72:] == bytes.fromhex(SECRET_HEX)
    bmp_len, _o, _s, _oh, _sh, window = struct.unpack_from('=6I', attrs[X.XFRMA_REPLAY_ESN_VAL])
    assert (bmp_len, window) == (4, 128) and len(attrs[X.XFRMA_REPLAY_ESN_VAL]) == 24 + 16
    assert X.XFRMA_MARK not in attrs
    assert X.decode_sa(raw)['selector'] == st['selector']
    assert X.same_state(X.decode_sa(raw), st)


def test_newsa_without_esn_and_with_mark():
    st = _state(esn=False, replay_window=0, mark={'value': 7, 'mask': 0xff})
    attrs = NL.parse_attrs(X.encode_newsa(st), 224)
    assert X.XFRMA_REPLAY_ESN_VAL not in attrs
    assert struct.unpack('=II', attrs[X.XFRMA_MARK]) == (7, 0xff)
    assert X.encode_sa_id(st)[-8:] == struct.pack('=II', 7, 0xff)


def test_ipv6_state_and_policy():
    st = _state(src='2001:db8::1', dst='2001:db8::2')
    raw = X.encode_newsa(st)
    assert raw[56:72] == A('2001:db8::2').packed and struct.unpack_from('=H', raw, 212)[0] == 10
    assert X.decode_sa(raw)['dst'] == A('2001:db8::2')
    pol = M.normalise_policy(policy_opt(src='2001:db8::1', dst='2001:db8::2',
                                        tmpl=dict(policy_opt()['tmpl'], src='2001:db8::1', dst='2001:db8::2')), 0)
    assert pol['selector']['src'] == N('2001:db8::1/128')
    assert X.decode_policy(X.encode_policy(pol))['selector'] == pol['selector']


# --- error decoding ----------------------------------------------------------------------------

def test_extack_message_is_read_from_a_capped_error():
    inner = struct.pack('=IHHII', 300, X.XFRM_MSG_NEWSA, 5, 9, 0)
    text = b'Requested AEAD algorithm not found\0'
    tlv = struct.pack('=HH', 4 + len(text), X.NLMSGERR_ATTR_MSG) + text + b'\0' * (-len(text) % 4)
    err = X.XfrmSocket._error(X.NLM_F_ACK_TLVS | X.NLM_F_CAPPED, struct.pack('=i', -38) + inner + tlv)
    assert str(err) == 'Requested AEAD algorithm not found' and err.errno == 38
    assert X.XfrmSocket._error(0, struct.pack('=i', -17) + inner).errno == 17
    assert X.XfrmSocket._error(0, struct.pack('=i', 0) + inner) is None
    assert 38 in X.NO_SA_SUPPORT and 93 in X.NO_SA_SUPPORT


def test_kernel_refusal_names_the_missing_feature():
    st = _state()
    msg = M.sa_failure_message(X.XfrmError('Requested type not found', 93), st)
    assert msg.startswith('this kernel cannot hold IPsec SAs: Requested type not found')
    assert 'spi 0x1000abcd' in msg and SECRET_HEX not in msg
    assert M.sa_failure_message(X.XfrmError('File exists', 17), st).startswith('cannot add IPsec SA')


# --- redaction ---------------------------------------------------------------------------------

def test_keys_never_in_descriptions_results_or_errors():
    st = _state(selector={'src': None, 'dst': None, 'proto': 'udp', 'dport': 4789})
    text = X.describe_state(st) + json.dumps(X.public_state(st))
    assert SECRET_HEX not in text and SECRET_HEX.upper() not in text
    assert X.fingerprint(st['aead']['key'], st['spi']) in text
    for bad in (SECRET_HEX[:-2], SECRET_HEX + 'ab', 'zz' + SECRET_HEX[2:]):
        with pytest.raises(ValueError) as err:
            M.normalise_state(state_opt(aead_key=bad), 3, True)
        assert bad not in str(err.value) and 'states[3].aead_key' in str(err.value)
    assert MOD.ARG_SPEC['states']['options']['aead_key']['no_log'] is True


def test_fingerprint_changes_with_key_and_spi_and_is_short():
    k = bytes.fromhex(SECRET_HEX)
    fp = X.fingerprint(k, 0x1000)
    assert len(fp) == 8 and int(fp, 16) >= 0
    assert fp == X.fingerprint(k, 0x1000)
    assert fp != X.fingerprint(k, 0x1001) and fp != X.fingerprint(k[:-1] + b'\0', 0x1000)


def test_key_accepts_0x_prefix_and_upper_case():
    assert _state(aead_key='0x' + SECRET_HEX.upper())['aead']['key'] == bytes.fromhex(SECRET_HEX)


# --- validation (module) -----------------------------------------------------------------------

@pytest.mark.parametrize('kw, words', [
    ({'spi': 255}, 'states[0].spi: 255 is out of range 256..4294967295'),
    ({'spi': 'x12'}, "states[0].spi: 'x12' is not an integer"),
    ({'dst': '192.0.2.300'}, "'192.0.2.300' is not an IPv4 or IPv6 address"),
    ({'dst': '2001:db8::2'}, 'not of one address family'),
    ({'replay_window': 0}, 'need a replay window of at least 1'),
    ({'replay_window': 5000}, 'replay_window: 5000 is out of range 0..4096'),
    ({'aead_key': None}, 'states[0].aead_key is required with state=present'),
    ({'mark': {'value': 0x1ff, 'mask': 0xff}}, 'value 0x1ff has bits outside mask 0xff'),
    ({'selector': {'src': None, 'dst': None, 'proto': 'any', 'dport': 4789}}, 'dport 4789 needs proto udp'),
    ({'selector': {'src': '10.0.0.1/8', 'dst': None, 'proto': 'udp', 'dport': None}}, 'host bits set'),
])
def test_state_validation(kw, words):
    with pytest.raises(ValueError) as err:
        M.normalise_state(state_opt(**kw), 0, True)
    assert words in str(err.value)


def test_absent_state_needs_no_key():
    st = M.normalise_state(state_opt(aead_key=None), 0, False)
    assert st['aead'] is None and X.state_id(st) == ('192.0.2.2', 0x1000abcd, 50, None)


@pytest.mark.parametrize('kw, words', [
    ({'action': 'block'}, 'a block policy takes no tmpl'),
    ({'proto': 'any'}, 'dport 4789 needs proto udp, tcp or sctp (got any)'),
    ({'proto': 'bogus'}, "protocol 'bogus' is not one of"),
    ({'dport': 70000}, 'dport 70000 is out of range'),
    ({'dst': '2001:db8::/64'}, 'not of one address family'),
    ({'priority': -1}, 'priority: -1 is out of range'),
    ({'tmpl': dict(policy_opt()['tmpl'], spi='0xZZ')}, "tmpl.spi: '0xZZ' is not an integer"),
    ({'tmpl': dict(policy_opt()['tmpl'], dst='2001:db8::2')}, 'tmpl: src 192.0.2.1 and dst 2001:db8::2'),
])
def test_policy_validation(kw, words):
    with pytest.raises(ValueError) as err:
        M.normalise_policy(policy_opt(**kw), 0)
    assert words in str(err.value)


def test_duplicates_are_refused():
    pols = [M.normalise_policy(policy_opt(), i) for i in range(2)]
    with pytest.raises(ValueError, match=r'policies\[0\] and policies\[1\] are the same object'):
        M._dupes(pols, X.policy_id, 'policies')
    # same selector, other direction: two objects
    M._dupes([pols[0], M.normalise_policy(policy_opt(dir='fwd'), 1)], X.policy_id, 'policies')


# --- planning ----------------------------------------------------------------------------------

def _pol(**kw):
    return M.normalise_policy(policy_opt(**kw), 0)


def _foreign_docker_policy():
    pol = _pol(mark={'value': 0xD0C4E3, 'mask': 0xFFFFFFFF},
               tmpl=dict(policy_opt()['tmpl'], reqid=0xD0C4E3), dst='192.0.2.9/32')
    return pol


def test_policy_plan_add_unchanged_update():
    want = [_pol()]
    assert X.diff_policies(want, []) == (want, [], [])
    current = copy.deepcopy(want)
    current[0]['index'] = 1234                      # kernel-assigned fields do not matter
    assert X.diff_policies(want, current) == ([], [], [])
    moved = [_pol(tmpl=dict(policy_opt()['tmpl'], spi=0x2000))]
    add, update, delete = X.diff_policies(moved, current)
    assert add == [] and delete == [] and update == [(current[0], moved[0])]
    add, update, delete = X.diff_policies([_pol(priority=9)], current)
    assert len(update) == 1


def test_policy_plan_exclusive_touches_only_ours():
    stale_ours = _pol(dst='192.0.2.3/32', tmpl=dict(policy_opt()['tmpl'], dst='192.0.2.3'))
    stale_in_by_reqid = _pol(dir='in', mark=None, src='192.0.2.3/32', dst='192.0.2.1/32',
                             tmpl=dict(policy_opt()['tmpl'], src='192.0.2.3', dst='192.0.2.1'))
    foreign = _foreign_docker_policy()
    hand_made = _pol(mark=None, tmpl=None, dst='198.51.100.0/24', proto='tcp', dport=22)
    in_if_id = dict(_pol(dst='192.0.2.7/32'), if_id=5)     # xfrm interface policy: never ours
    current = [_pol(), stale_ours, stale_in_by_reqid, foreign, hand_made, in_if_id]
    add, update, delete = X.diff_policies([_pol()], current, exclusive=True)
    assert add == [] and update == []
    assert delete == [stale_ours, stale_in_by_reqid]
    # without exclusive nothing unlisted goes
    assert X.diff_policies([_pol()], current) == ([], [], [])
    # absent + exclusive: all of ours, nothing else
    add, update, delete = X.diff_policies([], current, present=False, exclusive=True)
    assert delete == [current[0], stale_ours, stale_in_by_reqid]
    # absent, listed: only what is listed (even a foreign object when the user names it)
    add, update, delete = X.diff_policies([foreign], current, present=False)
    assert delete == [foreign]


def test_state_plan_add_unchanged_replace_exclusive():
    want = _state()
    assert X.diff_states([want], []) == ([want], [], [])
    current = copy.deepcopy(want)
    assert X.diff_states([want], [current]) == ([], [], [])
    rekeyed = _state(aead_key='ab' * 20)
    assert X.diff_states([rekeyed], [current]) == ([], [(current, rekeyed)], [])
    assert X.diff_states([_state(replay_window=64)], [current])[1]
    assert X.diff_states([_state(esn=False)], [current])[1]
    docker = _state(spi=0x3000, reqid=0xD0C4E3)
    stale = _state(spi=0x4000)
    add, replace, delete = X.diff_states([want], [current, docker, stale], exclusive=True)
    assert (add, replace, delete) == ([], [], [stale])
    add, replace, delete = X.diff_states([], [current, docker, stale], present=False, exclusive=True)
    assert delete == [current, stale]


def test_state_with_other_algorithm_is_replaced():
    want = _state()
    other = dict(copy.deepcopy(want), aead=None, other_alg='cbc(aes)')
    assert X.diff_states([want], [other])[1] == [(other, want)]


# --- apply order and undo ----------------------------------------------------------------------

class FakeSock:
    """Records calls; fails the n-th call of a kind with an XfrmError."""

    def __init__(self, fail_on=None):
        self.calls = []
        self.fail_on = fail_on

    def _call(self, name, obj):
        self.calls.append((name, X.describe_state(obj) if 'state' in name else X.describe_policy(obj)))
        if self.fail_on and self.fail_on(name, obj):
            raise X.XfrmError('Requested type not found', 93)

    def add_state(self, st):
        self._call('add_state', st)

    def del_state(self, st):
        self._call('del_state', st)

    def add_policy(self, pol, update=False):
        self._call('upd_policy' if update else 'add_policy', pol)

    def del_policy(self, pol):
        self._call('del_policy', pol)


def _plan(**kw):
    plan = {'state_add': [], 'state_replace': [], 'policy_add': [], 'policy_update': [], 'policy_delete': [],
            'state_delete': []}
    plan.update(kw)
    return plan


def test_apply_order_is_make_before_break():
    new_sa, old_sa = _state(spi=0x2000), _state(spi=0x1000)
    old_pol, new_pol = _pol(tmpl=dict(policy_opt()['tmpl'], spi=0x1000)), _pol(tmpl=dict(policy_opt()['tmpl'], spi=0x2000))
    stale_pol = _pol(dst='192.0.2.3/32', tmpl=dict(policy_opt()['tmpl'], dst='192.0.2.3'))
    sock = FakeSock()
    err, _cur, _failed = M.apply_plan(sock, _plan(state_add=[new_sa], policy_update=[(old_pol, new_pol)],
                                                  policy_delete=[stale_pol], state_delete=[old_sa]))
    assert err is None
    assert [c[0] for c in sock.calls] == ['add_state', 'upd_policy', 'del_policy', 'del_state']


def test_sa_failure_leaves_no_policy_and_undoes_earlier_sas():
    sa1, sa2 = _state(spi=0x2000), _state(spi=0x3000)
    sock = FakeSock(fail_on=lambda name, obj: name == 'add_state' and obj['spi'] == 0x3000)
    err, current, failed = M.apply_plan(sock, _plan(state_add=[sa1, sa2], policy_add=[_pol()]))
    assert isinstance(err, X.XfrmError) and current == ('add', sa2) and failed == []
    names = [c[0] for c in sock.calls]
    assert names == ['add_state', 'add_state', 'del_state']          # sa1 added, sa2 refused, sa1 removed
    assert 'add_policy' not in names


def test_policy_failure_undoes_policies_and_sas():
    sa = _state(spi=0x2000)
    pol1, pol2 = _pol(), _pol(dst='192.0.2.3/32', tmpl=dict(policy_opt()['tmpl'], dst='192.0.2.3'))
    sock = FakeSock(fail_on=lambda name, obj: name == 'add_policy' and str(obj['selector']['dst']) == '192.0.2.3/32')
    err, current, failed = M.apply_plan(sock, _plan(state_add=[sa], policy_add=[pol1, pol2]))
    assert err is not None and current is None
    assert [c[0] for c in sock.calls] == ['add_state', 'add_policy', 'add_policy', 'del_policy', 'del_state']


def test_replace_restores_the_old_sa_when_the_new_one_is_refused():
    old, new = _state(), _state(aead_key='ab' * 20)
    sock = FakeSock(fail_on=lambda name, obj: name == 'add_state' and obj is new)
    err, _cur, failed = M.apply_plan(sock, _plan(state_replace=[(old, new)]))
    assert err is not None and failed == []
    assert [c[0] for c in sock.calls] == ['del_state', 'add_state', 'add_state']
    assert sock.calls[-1][1] == X.describe_state(old)


# --- sequence numbers (the counters a restore keeps, node/restore.py) --------------------------

def _dumped(st, replay_attr):
    """An SA as the kernel dumps it: our NEWSA payload without its replay attribute, then
    ``replay_attr`` (the replay state the kernel appends) and the mark."""
    head = X.encode_newsa(dict(st, esn=False, replay_window=0, mark=None))
    flags = X.XFRM_STATE_ESN if st['esn'] else 0
    head = head[:216] + bytes([flags]) + head[217:]
    return head + replay_attr + X._mark_attr(st['mark'])


def test_counters_are_decoded_from_the_esn_replay_state():
    st = _state(mark={'value': 7, 'mask': 0xff})
    esn = struct.pack('=6I', 4, 0x10, 0x20, 3, 5, 128) + b'\xff' * 16
    got = X.decode_sa(_dumped(st, NL.nla(X.XFRMA_REPLAY_ESN_VAL, esn)))
    assert got['counters'] == {'oseq': 3 << 32 | 0x10, 'seq': 5 << 32 | 0x20}
    assert got['replay_bmp_len'] == 4 and got['replay_window'] == 128 and got['esn'] is True
    assert got['mark'] == (7, 0xff)


def test_counters_are_decoded_from_the_legacy_replay_state():
    st = _state(esn=False, replay_window=0)
    got = X.decode_sa(_dumped(st, NL.nla(X.XFRMA_REPLAY_VAL, struct.pack('=3I', 41, 42, 0xffff))))
    assert got['counters'] == {'oseq': 41, 'seq': 42} and got['replay_bmp_len'] == 0
    assert X.decode_sa(_dumped(st, b''))['counters'] is None          # nothing dumped, nothing made up


@pytest.mark.parametrize('name', sorted(n for n in os.listdir(FIXTURES) if n.startswith('xfrm_dump_')))
def test_counters_of_the_kernels_own_dumps(name):
    rec = fixture(name)['states']
    if not rec['dump']:
        pytest.skip('%s was recorded on a kernel without ESP (no SAs in it)' % name)
    sts = {st['spi']: st for st in (X.decode_sa(bytes.fromhex(m['payload'])) for m in rec['dump'])}
    assert sts[0x1000abcd]['counters'] == {'oseq': 0, 'seq': 0} and sts[0x1000abcd]['replay_bmp_len'] == 4
    assert sts[0x2000]['counters'] == {'oseq': 0, 'seq': 0} and sts[0x2000]['replay_bmp_len'] == 0   # no ESN: legacy


def test_counters_are_not_part_of_an_sa():
    """An SA whose packets moved its counters is the same SA: no replace, no diff, no output."""
    st = _state(selector={'src': None, 'dst': None, 'proto': 'udp', 'dport': 4789})
    esn = struct.pack('=6I', 4, 99, 0, 1, 0, 128) + b'\0' * 16
    raw = X.encode_newsa(st)
    attrs_at = 224 + len(NL.nla(X.XFRMA_ALG_AEAD, b'\0' * (72 + 20)))
    busy = X.decode_sa(raw[:attrs_at] + NL.nla(X.XFRMA_REPLAY_ESN_VAL, esn))
    assert busy['counters']['oseq'] == 1 << 32 | 99
    assert X.same_state(busy, st) and X.diff_states([st], [busy]) == ([], [], [])
    assert X.describe_state(busy) == X.describe_state(st)
    assert X.public_state(busy) == X.public_state(st) and 'counters' not in X.public_state(busy)


class _CountingSock:
    def __init__(self, states):
        self._states = states

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def states(self):
        return self._states

    def policies(self):
        return []


def test_xfrm_module_output_hides_counters_and_stays_unchanged(monkeypatch):
    st = _state()
    esn = struct.pack('=6I', 4, 987654321, 0, 0, 0, 128) + b'\0' * 16
    raw = X.encode_newsa(st)
    busy = X.decode_sa(raw[:224 + len(NL.nla(X.XFRMA_ALG_AEAD, b'\0' * 92))] + NL.nla(X.XFRMA_REPLAY_ESN_VAL, esn))
    monkeypatch.setattr(M, '_open_socket', lambda netns: _CountingSock([busy]))
    p = {'netns': None, 'state': 'present', 'exclusive': True, 'states': [state_opt()], 'policies': []}
    res = M.converge(p, check_mode=True, diff=True)
    assert res['changed'] is False and res['actions'] == []
    assert res['states'] == [X.public_state(st)]
    assert '987654321' not in json.dumps(res) and 'counters' not in json.dumps(res)


def test_newae_layout_flags_and_mark():
    st = _state(mark={'value': 7, 'mask': 0xff})
    raw = X.encode_newae(st, 5 << 32 | 9, 3 << 32 | 4)
    # struct xfrm_aevent_id: xfrm_usersa_id (daddr, spi, family, proto), saddr, flags, reqid: 48 bytes
    assert raw[:16] == A('192.0.2.2').packed + b'\0' * 12 and raw[16:20] == struct.pack('!I', 0x1000abcd)
    assert struct.unpack_from('=HBx', raw, 20) == (2, 50)
    assert raw[24:40] == A('192.0.2.1').packed + b'\0' * 12
    assert struct.unpack_from('=II', raw, 40) == (0, X.OVERLAY_REQID)
    attrs = NL.parse_attrs(raw, 48)
    assert set(attrs) == {X.XFRMA_REPLAY_ESN_VAL, X.XFRMA_MARK}
    # xfrm_replay_state_esn: bmp_len oseq seq oseq_hi seq_hi replay_window, then a zeroed bitmap
    assert struct.unpack_from('=6I', attrs[X.XFRMA_REPLAY_ESN_VAL]) == (4, 9, 4, 5, 3, 128)
    assert attrs[X.XFRMA_REPLAY_ESN_VAL][24:] == b'\0' * 16
    assert struct.unpack('=II', attrs[X.XFRMA_MARK]) == (7, 0xff)
    assert X.XFRM_MSG_NEWAE == 30 and X.XFRM_MSG_GETAE == 31
    assert X.XFRMA_REPLAY_VAL == 10 and X.XFRMA_REPLAY_ESN_VAL == 23
    # the kernel wants the SA's own bmp_len (xfrm_replay_verify_len): the dumped one wins
    wide = NL.parse_attrs(X.encode_newae(dict(st, replay_bmp_len=8), 1, 0), 48)[X.XFRMA_REPLAY_ESN_VAL]
    assert struct.unpack_from('=I', wide)[0] == 8 and len(wide) == 24 + 32
    assert X.XFRMA_MARK not in NL.parse_attrs(X.encode_newae(_state(), 1, 0), 48)


def test_newae_for_sas_without_esn():
    legacy = dict(_state(esn=False, replay_window=32), replay_bmp_len=0)
    attrs = NL.parse_attrs(X.encode_newae(legacy, 77, 78), 48)
    assert attrs == {X.XFRMA_REPLAY_VAL: struct.pack('=3I', 77, 78, 0)}
    with pytest.raises(X.XfrmError, match='do not fit'):
        X.encode_newae(_state(esn=False, replay_window=32), 1 << 32, 0)
    with pytest.raises(X.XfrmError, match='has no replay state to set'):
        X.encode_newae(_state(esn=False, replay_window=0), 5, 0)


def test_newae_is_a_replace_with_ack():
    sent = []

    class Wire:
        def send(self, data):
            sent.append(bytes(data))

        def recv_into(self, buf):
            length, _kind, _flags, seq, _pid = struct.unpack_from('=IHHII', sent[-1])
            ack = struct.pack('=IHHII', 36, NL.NLMSG_ERROR, 0x100, seq, 0) + struct.pack('=i', 0) + sent[-1][:16]
            buf[:len(ack)] = ack
            return len(ack)

    sock = X.XfrmSocket.__new__(X.XfrmSocket)
    sock.sock, sock._seq, sock._buf = Wire(), 1000, bytearray(65536)
    st = _state()
    sock.set_counters(st, 1 << 20, 0)
    length, kind, flags, _seq, _pid = struct.unpack_from('=IHHII', sent[0])
    assert kind == X.XFRM_MSG_NEWAE and length == len(sent[0])
    assert flags == NL.NLM_F_REQUEST | NL.NLM_F_ACK | NL.NLM_F_REPLACE
    assert sent[0][16:] == X.encode_newae(st, 1 << 20, 0)
