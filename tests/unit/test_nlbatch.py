# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/kernel/rtnl.py without a kernel: message encoding, attribute
and ACK decoding, and the chunked pipeline against a fake socket that answers like rtnetlink."""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as NB  # noqa: E402


def test_fdb_message_layout():
    kind, flags, payload = NB.fdb_message('replace', 5, '02:42:0a:00:00:04', '192.168.1.5', 4789, 4097)
    assert kind == NB.RTM_NEWNEIGH and flags == NB.NLM_F_CREATE | NB.NLM_F_REPLACE
    family, _p1, _p2, ifindex, state, ntf, _t = struct.unpack_from('=BBHiHBB', payload)
    assert (family, ifindex, state, ntf) == (socket.AF_BRIDGE, 5, NB.NUD_PERMANENT | NB.NUD_NOARP, NB.NTF_SELF)
    attrs = NB.parse_attrs(payload, 12)
    assert attrs[NB.NDA_LLADDR] == bytes.fromhex('02420a000004')
    assert attrs[NB.NDA_DST] == socket.inet_aton('192.168.1.5')
    assert attrs[NB.NDA_PORT] == struct.pack('!H', 4789)          # network order, like the kernel wants
    assert attrs[NB.NDA_VNI] == struct.pack('=I', 4097)
    assert NB.NDA_IFINDEX not in attrs
    assert len(payload) % 4 == 0

    kind, flags, payload = NB.fdb_message('append', 5, '00:00:00:00:00:00', 'fd00::1')
    assert flags == NB.NLM_F_CREATE | NB.NLM_F_APPEND
    assert NB.parse_attrs(payload, 12)[NB.NDA_DST] == socket.inet_pton(socket.AF_INET6, 'fd00::1')
    kind, flags, payload = NB.fdb_message('delete', 5, '01:00:5e:00:00:05', '239.1.1.1', 4789, 4097, via=1)
    assert kind == NB.RTM_DELNEIGH and flags == 0
    assert NB.parse_attrs(payload, 12)[NB.NDA_IFINDEX] == struct.pack('=I', 1)


def test_neigh_message_layout():
    kind, flags, payload = NB.neigh_message('replace', 7, 'fd00::4', '02:42:0a:00:00:04', permanent=False)
    assert kind == NB.RTM_NEWNEIGH and flags == NB.NLM_F_CREATE | NB.NLM_F_REPLACE
    family, _p1, _p2, ifindex, state, ntf, _t = struct.unpack_from('=BBHiHBB', payload)
    assert (family, ifindex, state, ntf) == (socket.AF_INET6, 7, NB.NUD_REACHABLE, 0)
    kind, flags, payload = NB.neigh_message('delete', 7, '10.0.0.4')
    assert kind == NB.RTM_DELNEIGH
    assert struct.unpack_from('=B', payload)[0] == socket.AF_INET
    assert NB.NDA_LLADDR not in NB.parse_attrs(payload, 12)


def test_parse_attrs_masks_flags_and_pads():
    data = struct.pack('=HH', 5, 3) + b'x' + b'\0' * 3 + struct.pack('=HH', 8, 0x8000 | 2) + b'abcd'
    assert NB.parse_attrs(data) == {3: b'x', 2: b'abcd'}


def _ack(seq, err=0, ext=None, capped=True):
    """An NLMSG_ERROR message as rtnetlink sends it with CAP_ACK and EXT_ACK."""
    body = struct.pack('=i', -err) + struct.pack('=IHHII', 40, NB.RTM_NEWNEIGH, 5, seq, 0)
    flags = 0x100 if capped else 0
    if ext:
        text = ext.encode() + b'\0'
        body += struct.pack('=HH', 4 + len(text), NB.NLMSGERR_ATTR_MSG) + text + b'\0' * ((4 - len(text) % 4) % 4)
        flags |= NB.NLM_F_ACK_TLVS
    return struct.pack('=IHHII', 16 + len(body), NB.NLMSG_ERROR, flags, seq, 0) + body


def test_error_decoding():
    msg = _ack(9, errno.EOPNOTSUPP, 'Cannot replace non-unicast fdb entries')
    (_l, _k, flags, _s, _p) = struct.unpack_from('=IHHII', msg)
    code, ext = NB.Socket._error(flags, memoryview(msg)[16:])
    assert code == errno.EOPNOTSUPP and ext == 'Cannot replace non-unicast fdb entries'
    exc = NB.NetlinkError(code, ext)
    assert exc.strerror == 'Operation not supported (Cannot replace non-unicast fdb entries)'
    assert NB.Socket._error(0, memoryview(_ack(3))[16:]) == (0, None)


class FakeKernel:
    """Stands in for the socket: processes each sendmsg like rtnetlink (every message, in
    order, one ACK each) and fails the messages whose MAC is in ``refuse``."""

    def __init__(self, refuse=(), rcvbuf=None):
        self.refuse = set(refuse)
        self.queue = []
        self.sends = []
        self.rcvbuf = rcvbuf

    def sendmsg(self, parts):
        data = b''.join(parts)
        offset, count = 0, 0
        while offset < len(data):
            length, _kind, flags, seq, _pid = struct.unpack_from('=IHHII', data, offset)
            assert flags & NB.NLM_F_ACK and flags & NB.NLM_F_REQUEST
            mac = NB.parse_attrs(data, offset + 28, offset + length).get(NB.NDA_LLADDR)
            if mac in self.refuse:
                self.queue.append(_ack(seq, errno.ENOSPC))
            else:
                self.queue.append(_ack(seq))
            offset += length
            count += 1
        if self.rcvbuf is not None and len(self.queue) * 800 > self.rcvbuf:
            raise AssertionError('more unread ACKs than the receive buffer holds')
        self.sends.append(count)
        return len(data)

    def recv_into(self, buf):
        msg = self.queue.pop(0)
        buf[:len(msg)] = msg
        return len(msg)


def _socket_with(fake, rcvbuf, sndbuf):
    sock = NB.Socket.__new__(NB.Socket)
    sock.sock = fake
    sock.rcvbuf, sock.sndbuf = rcvbuf, sndbuf
    sock._seq = 1000
    sock._buf = bytearray(65536)
    return sock


def test_batch_chunks_to_the_receive_buffer_and_maps_errors_by_sequence():
    macs = ['02:42:0b:00:%02x:%02x' % (i // 256, i % 256) for i in range(1000)]
    fake = FakeKernel(refuse={bytes.fromhex(macs[i].replace(':', '')) for i in (0, 63, 64, 999)}, rcvbuf=131072)
    sock = _socket_with(fake, rcvbuf=131072, sndbuf=425984)
    msgs = [NB.fdb_message('replace', 2, mac, '192.168.1.5', 4789, 4097) for mac in macs]
    failures = sock.batch(msgs)
    assert [(i, e.code) for i, e in failures] == [
        (0, errno.ENOSPC), (63, errno.ENOSPC), (64, errno.ENOSPC), (999, errno.ENOSPC)]
    assert sum(fake.sends) == 1000
    assert max(fake.sends) == 131072 // (2 * NB.ACK_TRUESIZE)       # 64 per sendmsg
    # the next batch continues with fresh sequence numbers
    again = sock.batch(msgs[:3])
    assert [(i, e.code) for i, e in again] == [(0, errno.ENOSPC)]
    assert fake.queue == []


def test_batch_one_sendmsg_for_a_thousand_with_big_buffers():
    fake = FakeKernel()
    sock = _socket_with(fake, rcvbuf=8 * 1024 * 1024, sndbuf=8 * 1024 * 1024)
    msgs = [NB.neigh_message('replace', 2, '10.1.%d.%d' % (i // 250, 1 + i % 250), '02:42:0b:00:00:01')
            for i in range(1000)]
    assert sock.batch(msgs) == []
    assert fake.sends == [1000]


def test_batch_respects_the_send_buffer():
    fake = FakeKernel()
    sock = _socket_with(fake, rcvbuf=8 * 1024 * 1024, sndbuf=16384)    # 8 KiB per sendmsg at most
    msgs = [NB.fdb_message('replace', 2, '02:42:0b:00:00:%02x' % i, '192.168.1.5', 4789, 4097) for i in range(200)]
    assert sock.batch(msgs) == []
    size = len(msgs[0][2]) + 16
    assert max(fake.sends) == 8192 // size and sum(fake.sends) == 200
