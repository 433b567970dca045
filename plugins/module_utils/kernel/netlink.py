# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one netlink transport of the collection: framing, ACKs, dumps and pipelined batches.

Private to the collection. ``kernel/rtnl.py`` (NETLINK_ROUTE: peer entries, links, addresses,
routes) and ``kernel/xfrm.py`` (NETLINK_XFRM: SAs and policies) are codecs over this socket; the
framing, the ACK and extended-ACK parsing and the socket's life cycle are written once, here.

Why a raw socket and what it does (the measured reasons are in bench/README.md):

1. The socket is opened while this thread is inside the target namespace (``_netns.entered``)
   and stays bound to that namespace after we return home: no helper process per socket.
   SO_SNDBUF/SO_RCVBUF are raised (the ``*FORCE`` variants as root), and capped, extended ACKs
   are asked for (NETLINK_CAP_ACK, NETLINK_EXT_ACK) so an error ACK is small and carries the
   kernel's text; NETLINK_GET_STRICT_CHK lets rtnetlink filter dumps by device.
2. ``batch`` sends many requests in ONE ``sendmsg``: the kernel processes netlink requests
   synchronously inside the sender's ``sendmsg`` and keeps going after a failed message, so one
   system call applies a chunk and queues one ACK per message. Chunks are sized so that their
   ACKs fit the receive buffer (an ACK skb costs about 800 bytes of it; we budget 2 KiB); an
   overflow drops ACKs and reports ENOBUFS, which is turned into an error instead of a guess.
3. Each non-zero ACK is mapped back to its request by sequence number.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns

NETLINK_ROUTE = 0
NETLINK_XFRM = 6
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_CAPPED = 0x100          # in an NLMSG_ERROR: the request in it is only its header
NLM_F_EXCL = 0x200
NLM_F_ACK_TLVS = 0x200        # in an NLMSG_ERROR: extended-ACK attributes follow
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLMSGERR_ATTR_MSG = 1

HDR = struct.Struct('=IHHII')        # nlmsghdr: len, type, flags, seq, pid
_HDR = HDR
_NLA = struct.Struct('=HH')

DEFAULT_BUFFER = 4 * 1024 * 1024
ACK_TRUESIZE = 1024                   # x2 = receive-buffer budget per ACK (see the docstring)
MAX_CHUNK = 1024


class NetlinkError(Exception):
    """A request failed; ``code`` is the errno, ``ext`` the kernel's extended-ACK text if any."""

    def __init__(self, code, ext=None, what=None):
        self.code = code
        self.ext = ext
        self.what = what
        text = os.strerror(code) if code else 'unknown error'
        if ext:
            text = '%s (%s)' % (text, ext)
        super().__init__('%s: %s' % (what, text) if what else text)

    @property
    def strerror(self):
        text = os.strerror(self.code)
        return '%s (%s)' % (text, self.ext) if self.ext else text


def nla(kind, data):
    length = 4 + len(data)
    return _NLA.pack(length, kind) + data + b'\0' * ((4 - length % 4) % 4)


def parse_attrs(buf, offset=0, end=None):
    """Decode a run of netlink attributes into {type: bytes} (the NLA_F_* bits masked off)."""
    attrs = {}
    end = len(buf) if end is None else end
    while offset + 4 <= end:
        length, kind = _NLA.unpack_from(buf, offset)
        if length < 4:
            break
        attrs[kind & 0x3FFF] = bytes(buf[offset + 4:offset + length])
        offset += (length + 3) & ~3
    return attrs


def ack_error(flags, payload):
    """(errno, ext-ack text) from an NLMSG_ERROR payload; errno 0 is a plain ACK."""
    (err,) = struct.unpack_from('=i', payload, 0)
    ext = None
    if err and flags & NLM_F_ACK_TLVS:
        # payload: int error, then the request's header (16 bytes, capped) or the whole
        # request (not capped), then TLVs.
        orig_len = _HDR.unpack_from(payload, 4)[0]
        start = 4 + (16 if flags & NLM_F_CAPPED else orig_len)
        start = (start + 3) & ~3
        msg = parse_attrs(payload, start).get(NLMSGERR_ATTR_MSG)
        if msg:
            ext = msg.rstrip(b'\0').decode('utf-8', 'replace')
    return -err, ext


class Socket:
    """A netlink socket of ``protocol`` created inside ``netns`` (None: the current namespace)."""

    def __init__(self, protocol, netns=None, bufsize=DEFAULT_BUFFER):
        with _netns.entered(netns):
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
        try:
            sock.bind((0, 0))
            for force, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF), (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, force, bufsize)
                except OSError:
                    sock.setsockopt(socket.SOL_SOCKET, plain, bufsize)
            for opt in (NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK):
                try:
                    sock.setsockopt(SOL_NETLINK, opt, 1)
                except OSError:
                    pass          # older kernels: plain ACKs, unfiltered dumps still work
            sock.settimeout(30)
        except Exception:
            sock.close()
            raise
        self.sock = sock
        self.sndbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        self.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._seq = 1000
        self._buf = bytearray(1024 * 1024)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _next_seq(self, count=1):
        seq = self._seq
        self._seq += count
        return seq

    def _recv(self):
        try:
            size = self.sock.recv_into(self._buf)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                raise NetlinkError(errno.ENOBUFS, 'netlink receive buffer overflowed, answers were lost',
                                   'reading the kernel\'s answers') from None
            raise
        return memoryview(self._buf)[:size]

    @staticmethod
    def _messages(view):
        offset = 0
        while offset + 16 <= len(view):
            length, kind, flags, seq, _pid = _HDR.unpack_from(view, offset)
            if length < 16:
                break
            yield kind, flags, seq, view[offset + 16:offset + length]
            offset += (length + 3) & ~3

    def request(self, kind, flags, payload, what=None):
        """Send one request and return the payloads of its answers (raises NetlinkError)."""
        return [body for _kind, body in self.exchange(kind, flags, payload, what)]

    def exchange(self, kind, flags, payload, what=None):
        """Send one request and return its answers as [(message type, payload)]."""
        seq = self._next_seq()
        self.sock.send(_HDR.pack(16 + len(payload), kind, NLM_F_REQUEST | flags, seq, 0) + payload)
        answers = []
        while True:
            view = self._recv()
            for mkind, mflags, mseq, body in self._messages(view):
                if mseq != seq:
                    continue
                if mkind == NLMSG_DONE:
                    if flags & NLM_F_DUMP and mflags & NLM_F_DUMP_INTR:
                        raise NetlinkError(errno.EINTR, 'dump interrupted by a concurrent change', what)
                    return answers
                if mkind == NLMSG_ERROR:
                    code, ext = ack_error(mflags, body)
                    if code:
                        raise NetlinkError(code, ext, what)
                    return answers
                if flags & NLM_F_DUMP and mflags & NLM_F_DUMP_INTR:
                    raise NetlinkError(errno.EINTR, 'dump interrupted by a concurrent change', what)
                answers.append((mkind, bytes(body)))
                if not mflags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return answers

    def dump(self, kind, payload, what=None, retries=3, typed=False):
        """The answers of a dump, retried when a concurrent change interrupted it; with
        ``typed``, as [(message type, payload)]."""
        for attempt in range(retries):
            try:
                if typed:
                    return self.exchange(kind, NLM_F_DUMP, payload, what)
                return self.request(kind, NLM_F_DUMP, payload, what)
            except NetlinkError as exc:
                if exc.code != errno.EINTR or attempt == retries - 1:
                    raise
        return []  # not reached

    def batch(self, messages):
        """Apply ``messages`` [(type, flags, payload), ...] pipelined; every one gets NLM_F_ACK.

        Returns [(index, NetlinkError), ...] for the messages the kernel refused, in order.
        """
        failures = []
        per_chunk = max(1, min(MAX_CHUNK, self.rcvbuf // (2 * ACK_TRUESIZE)))
        max_bytes = max(4096, self.sndbuf // 2)
        start = 0
        total = len(messages)
        while start < total:
            parts = []
            size = 0
            end = start
            base = self._next_seq(0)
            while end < total and end - start < per_chunk:
                kind, flags, payload = messages[end]
                length = 16 + len(payload)
                if parts and size + length > max_bytes:
                    break
                parts.append(_HDR.pack(length, kind, NLM_F_REQUEST | NLM_F_ACK | flags, base + end - start, 0))
                parts.append(payload)
                size += length
                end += 1
            self._next_seq(end - start)
            self.sock.sendmsg([b''.join(parts)])
            pending = end - start
            while pending:
                view = self._recv()
                for mkind, mflags, mseq, body in self._messages(view):
                    if mkind != NLMSG_ERROR or not base <= mseq < base + end - start:
                        continue
                    pending -= 1
                    code, ext = ack_error(mflags, body)
                    if code:
                        failures.append((start + mseq - base, NetlinkError(code, ext)))
            start = end
        return failures
