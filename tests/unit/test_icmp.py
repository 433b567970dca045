# -*- coding: utf-8 -*-
"""The pure parts of the probe module: ICMP packets, hosts-file resolution, hop counting and the
evaluation of a probe's answers (no sockets, no root)."""

from __future__ import annotations

import socket
import struct

import pytest

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import icmp as _icmp
from ansible_collections.linuxnet.overlay.plugins.modules import probe as probe_mod


def ip_header(src, dst, proto=1, payload_len=0, ihl=5):
    head = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    return head + b'\0' * ((ihl - 5) * 4)


def icmp(itype, code, rest, body=b''):
    return struct.pack('!BBH', itype, code, 0) + rest + body


# --- checksum and echo request -----------------------------------------------------------------

def test_checksum_rfc1071_example():
    # RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to ddf2, checksum is its complement
    assert _icmp.checksum(bytes.fromhex('0001f203f4f5f6f7')) == 0xFFFF - 0xDDF2


def test_checksum_odd_length_pads_with_zero():
    assert _icmp.checksum(b'\x01') == _icmp.checksum(b'\x01\x00')


def test_echo_request_layout_and_checksum():
    pkt = _icmp.build_echo(0x1234, 7, size=56)
    assert len(pkt) == 64
    itype, code, _csum, ident, seq = struct.unpack('!BBHHH', pkt[:8])
    assert (itype, code, ident, seq) == (8, 0, 0x1234, 7)
    assert _icmp.checksum(pkt) == 0          # a correct checksum sums to zero
    assert pkt[8:12] == bytes([8, 9, 10, 11])


def test_echo_request_sizes_for_the_mtu_check():
    assert len(_icmp.build_echo(1, 1, size=1450 - 28)) + 20 == 1450
    assert len(_icmp.build_echo(1, 1, size=0)) == 8
    # the payload is ping's pattern at every size, wrapping past 0xff (it is made once, then cut)
    big = _icmp.build_echo(1, 1, size=1450 - 28)[8:]
    assert big == bytes((i + 8) & 0xFF for i in range(1450 - 28))


# --- parsing what a raw socket reads ------------------------------------------------------------

def test_parse_echo_reply():
    body = icmp(0, 0, struct.pack('!HH', 0xBEEF, 3), b'x' * 56)
    ans = _icmp.parse_icmp4(ip_header('10.9.0.3', '10.9.0.2', payload_len=len(body)) + body)
    assert ans == {'kind': 'reply', 'src': '10.9.0.3', 'dst': '10.9.0.3', 'ident': 0xBEEF, 'seq': 3, 'code': 0}


def test_parse_reply_with_ip_options():
    body = icmp(0, 0, struct.pack('!HH', 1, 2))
    ans = _icmp.parse_icmp4(ip_header('10.0.0.1', '10.0.0.2', ihl=6, payload_len=len(body)) + body)
    assert ans['kind'] == 'reply' and ans['seq'] == 2


def quoted(src, dst, ident, seq):
    req = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
    return ip_header(src, dst, payload_len=8) + req


def test_parse_time_exceeded_quotes_our_request():
    body = icmp(11, 0, b'\0' * 4, quoted('10.9.0.2', '10.8.0.2', 77, 9))
    ans = _icmp.parse_icmp4(ip_header('10.9.0.1', '10.9.0.2', payload_len=len(body)) + body)
    assert ans['kind'] == 'time_exceeded' and ans['src'] == '10.9.0.1'
    assert (ans['dst'], ans['ident'], ans['seq']) == ('10.8.0.2', 77, 9)


def test_parse_frag_needed_carries_next_hop_mtu():
    body = icmp(3, 4, struct.pack('!HH', 0, 1400), quoted('10.9.0.2', '10.8.0.2', 5, 6))
    ans = _icmp.parse_icmp4(ip_header('10.9.0.1', '10.9.0.2', payload_len=len(body)) + body)
    assert ans['kind'] == 'unreach' and ans['code'] == 4 and ans['mtu'] == 1400


@pytest.mark.parametrize('packet', [
    b'',                                                                     # empty
    b'\x60' + b'\0' * 40,                                                    # IPv6
    ip_header('1.1.1.1', '2.2.2.2') + icmp(8, 0, b'\0' * 4),                 # someone's echo request
    ip_header('1.1.1.1', '2.2.2.2') + icmp(5, 0, b'\0' * 4),                 # redirect
    ip_header('1.1.1.1', '2.2.2.2') + icmp(11, 0, b'\0' * 4, b'\x45'),       # quote cut short
    # an error about a UDP datagram (traceroute's), not about an echo request
    ip_header('1.1.1.1', '2.2.2.2') + icmp(3, 3, b'\0' * 4, ip_header('2.2.2.2', '3.3.3.3', proto=17) + b'\0' * 8),
])
def test_parse_ignores_foreign_packets(packet):
    assert _icmp.parse_icmp4(packet) is None


# --- names --------------------------------------------------------------------------------------

HOSTS = """# task hosts
127.0.0.1\tlocalhost
::1 localhost ip6-localhost
10.0.0.3 test.2.abc test tasks.test   # alias comment
10.0.0.4 test.3.def test tasks.test
fe80::1 v6only
"""


@pytest.mark.parametrize('name,addr', [
    ('test.2.abc', '10.0.0.3'), ('TEST.2.ABC', '10.0.0.3'),     # canonical name, any case
    ('tasks.test', '10.0.0.3'),                                  # alias: the first entry wins
    ('localhost', '127.0.0.1'), ('test.3.def', '10.0.0.4'),
    ('v6only', None), ('alias', None), ('test.2', None),
])
def test_parse_hosts(name, addr):
    assert _icmp.parse_hosts(HOSTS, name) == addr


def test_resolve_prefers_the_task_hosts_file(tmp_path):
    (tmp_path / 'hosts').write_text('10.1.1.1 other\n')
    (tmp_path / 'netns' / 'ns1').mkdir(parents=True)
    (tmp_path / 'netns' / 'ns1' / 'hosts').write_text('10.2.2.2 peer\n')
    root = str(tmp_path)
    assert _icmp.resolve('peer', 'ns1', root) == ('10.2.2.2', None)
    # /etc/netns/ns1/hosts hides /etc/hosts completely, as ip netns exec's bind mount does
    addr, problem = _icmp.resolve('other', 'ns1', root)
    assert addr is None and 'no IPv4 entry in %s/netns/ns1/hosts' % root in problem
    # a task without its own hosts file sees /etc/hosts
    assert _icmp.resolve('other', 'ns2', root) == ('10.1.1.1', None)


def test_resolve_addresses_and_ipv6(tmp_path):
    assert _icmp.resolve('10.9.0.3', 'x', str(tmp_path)) == ('10.9.0.3', None)
    addr, problem = _icmp.resolve('fd00::1', 'x', str(tmp_path))
    assert addr is None and 'IPv4 only' in problem
    addr, problem = _icmp.resolve('name', 'x', str(tmp_path))     # no hosts file at all
    assert addr is None and 'cannot read' in problem


# --- hop counting -------------------------------------------------------------------------------

def reply(src):
    return {'kind': 'reply', 'src': src, 'rtt_ms': 0.1}


def exceeded(src):
    return {'kind': 'time_exceeded', 'src': src}


def test_hop_count_one_and_two():
    assert _icmp.hop_count({1: reply('10.0.0.3'), 2: reply('10.0.0.3')}, '10.0.0.3') == (1, [(1, '10.0.0.3')])
    hops, path = _icmp.hop_count({1: exceeded('10.0.0.1'), 2: reply('10.1.0.2'), 3: reply('10.1.0.2')}, '10.1.0.2')
    assert hops == 2 and path == [(1, '10.0.0.1'), (2, '10.1.0.2')]


def test_hop_count_silent_router_and_no_target():
    # a rate-limited router stays silent; the target's reply at TTL 2 still makes 2 hops
    assert _icmp.hop_count({1: None, 2: reply('10.1.0.2')}, '10.1.0.2')[0] == 2
    hops, path = _icmp.hop_count({1: None, 2: None}, '10.1.0.2')
    assert hops is None and path == [(1, '*'), (2, '*')]
    # a reply from another address is not the target
    assert _icmp.hop_count({1: reply('10.9.9.9')}, '10.1.0.2')[0] is None


# --- evaluating a probe -------------------------------------------------------------------------

def base(**kw):
    probe = {'netns': 'a', 'target': 't', 'label': None, 'expect': 'reach', 'hops': None, 'mtu': None}
    probe.update(kw)
    res = {'netns': 'a', 'target': 't', 'label': None, 'expect': probe['expect'], 'reachable': False,
           'address': '10.0.0.3', 'rtt_ms': None, 'hops': None, 'mtu_ok': None, 'detail': ''}
    return probe, res


def test_evaluate_any_reply_is_reachable_and_rtt_is_the_minimum():
    probe, res = base()
    out = probe_mod.evaluate(probe, res, [None, dict(reply('10.0.0.3'), rtt_ms=0.5), dict(reply('10.0.0.3'), rtt_ms=0.2)])
    assert out['ok'] and out['reachable'] and out['rtt_ms'] == 0.2 and out['detail'] == ''


def test_evaluate_no_reply_and_isolation():
    probe, res = base()
    out = probe_mod.evaluate(probe, res, [None, None])
    assert not out['ok'] and 'no reply (no answer to 2 echo request(s)' in out['detail']
    probe, res = base(expect='isolated')
    assert probe_mod.evaluate(probe, res, [None])['ok']
    probe, res = base(expect='isolated')
    out = probe_mod.evaluate(probe, res, [reply('10.0.0.3')])
    assert not out['ok'] and 'isolated' in out['detail']


def test_evaluate_unreachable_names_the_router():
    probe, res = base()
    out = probe_mod.evaluate(probe, res, [{'kind': 'unreach', 'code': 1, 'src': '10.0.0.1'}])
    assert 'host unreachable from 10.0.0.1' in out['detail']


def test_evaluate_hops():
    probe, res = base(hops=1)
    out = probe_mod.evaluate(probe, res, [reply('10.0.0.3')], [(1, exceeded('10.0.0.1')), (2, reply('10.0.0.3'))])
    assert out['hops'] == 2 and not out['ok']
    assert 'hops: 2 hop(s), expected 1: 1 10.0.0.1 / 2 10.0.0.3' in out['detail']


@pytest.mark.parametrize('fit,over,mtu_ok,text', [
    (reply('10.0.0.3'), {'kind': 'send_error', 'errno': 90, 'src': None}, True, ''),
    (reply('10.0.0.3'), {'kind': 'unreach', 'code': 4, 'mtu': 1450, 'src': '10.0.0.1'}, True, ''),
    (reply('10.0.0.3'), None, True, ''),
    ({'kind': 'send_error', 'errno': 90, 'src': None}, None, False, 'DF ping with 1472 bytes (MTU 1500) failed (send: Message too long)'),
    (reply('10.0.0.3'), reply('10.0.0.3'), False, 'DF ping with 1473 bytes passed although the MTU is 1500'),
])
def test_evaluate_mtu(fit, over, mtu_ok, text):
    probe, res = base(mtu=1500)
    out = probe_mod.evaluate(probe, res, [reply('10.0.0.3')], None, fit, over)
    assert out['mtu_ok'] is mtu_ok and out['ok'] is mtu_ok and text in out['detail']
