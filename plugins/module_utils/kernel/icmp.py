# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ICMP echo probes without a process per probe.

Private to the collection. The ``probe`` module used to run ``ip netns exec NS ping`` /
``traceroute`` for every check (about five process pairs per task pair; ``ip netns exec`` makes a
mount namespace, remounts sysfs and bind-mounts /etc/netns). Here the module enters each source
namespace once with setns(2), opens a raw ICMP socket there (a socket stays in the namespace it
was made in), returns home, and drives every probe from one poll loop: echo requests matched to
their replies (and to ICMP errors quoting them) by identifier, sequence number and socket.

The packet code at the top is pure (no sockets) and unit-tested; ``Prober`` is the thin layer
that talks to the kernel.
"""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import struct
import time

ICMP_ECHOREPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_ECHO = 8
ICMP_TIME_EXCEEDED = 11
ICMP_FRAG_NEEDED = 4          # code of ICMP_DEST_UNREACH

IP_MTU_DISCOVER = 10          # linux/in.h
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
SOL_RAW = 255
ICMP_FILTER = 1               # linux/icmp.h: bit set = type dropped before it reaches the socket

IPV4_HEADER = 20
ICMP_HEADER = 8
DEFAULT_PAYLOAD = 56          # what ping sends by default

UNREACH_TEXT = {0: 'network unreachable', 1: 'host unreachable', 2: 'protocol unreachable',
                3: 'port unreachable', 4: 'fragmentation needed', 9: 'network prohibited',
                10: 'host prohibited', 13: 'communication administratively prohibited'}


# ---------------------------------------------------------------- pure packet code

def checksum(data):
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# ping's payload pattern (0x08, 0x09, ...) up to the largest IPv4 payload, made once: built per
# packet it was a fifth of the probe module's CPU at 64 nodes (two DF packets of MTU size per probe)
_PATTERN = bytes((i + 8) & 0xFF for i in range(256)) * 256


def build_echo(ident, seq, size=DEFAULT_PAYLOAD):
    """An ICMP echo request (header + ``size`` bytes of payload) with its checksum."""
    payload = _PATTERN[:size]
    head = struct.pack('!BBHHH', ICMP_ECHO, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    csum = checksum(head + payload)
    return struct.pack('!BBHHH', ICMP_ECHO, 0, csum, ident & 0xFFFF, seq & 0xFFFF) + payload


def parse_icmp4(packet):
    """Classify a packet read from a raw IPv4 ICMP socket (IP header included).

    Returns ``None`` for anything that is not about one of our echo requests, else a dict:
    ``kind`` (``reply``, ``time_exceeded``, ``unreach``), ``src`` (who sent it), ``ident``, ``seq``,
    ``dst`` (the address our request was sent to), ``code`` and, for frag-needed, ``mtu``."""
    if len(packet) < IPV4_HEADER + ICMP_HEADER or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    src = socket.inet_ntoa(packet[12:16])
    icmp = packet[ihl:]
    if len(icmp) < ICMP_HEADER:
        return None
    itype, code = icmp[0], icmp[1]
    if itype == ICMP_ECHOREPLY:
        ident, seq = struct.unpack('!HH', icmp[4:8])
        return {'kind': 'reply', 'src': src, 'dst': src, 'ident': ident, 'seq': seq, 'code': code}
    if itype not in (ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACH):
        return None
    inner = icmp[ICMP_HEADER:]            # the quoted IP header and 8 bytes of our request
    if len(inner) < IPV4_HEADER or inner[0] >> 4 != 4:
        return None
    inner_ihl = (inner[0] & 0x0F) * 4
    if inner[9] != socket.IPPROTO_ICMP or len(inner) < inner_ihl + ICMP_HEADER:
        return None
    quoted = inner[inner_ihl:]
    if quoted[0] != ICMP_ECHO:
        return None
    ident, seq = struct.unpack('!HH', quoted[4:8])
    res = {'kind': 'time_exceeded' if itype == ICMP_TIME_EXCEEDED else 'unreach', 'src': src,
           'dst': socket.inet_ntoa(inner[16:20]), 'ident': ident, 'seq': seq, 'code': code}
    if itype == ICMP_DEST_UNREACH and code == ICMP_FRAG_NEEDED:
        res['mtu'] = struct.unpack('!H', icmp[6:8])[0]
    return res


def parse_hosts(text, name):
    """The first IPv4 address ``name`` has in a hosts(5) file, the way glibc's files backend
    reads it (comments, canonical name and aliases, case-insensitive), or None."""
    want = name.lower()
    for line in text.splitlines():
        fields = line.split('#', 1)[0].split()
        if len(fields) < 2 or want not in (f.lower() for f in fields[1:]):
            continue
        try:
            socket.inet_pton(socket.AF_INET, fields[0])
        except OSError:
            continue              # IPv6 or garbage: the probes are IPv4 (the overlay is)
        return fields[0]
    return None


def hosts_file_for(netns, root='/etc'):
    """The hosts file ``ip netns exec NETNS`` shows a program: /etc/netns/NETNS/hosts if it
    exists (bind-mounted over /etc/hosts), else /etc/hosts."""
    own = os.path.join(root, 'netns', netns, 'hosts')
    return own if os.path.exists(own) else os.path.join(root, 'hosts')


def resolve(target, netns, root='/etc'):
    """(address, problem): ``target`` itself when it is an IPv4 address, else its address in the
    task's hosts file. IPv6 targets are refused (the overlay is IPv4 only)."""
    try:
        socket.inet_pton(socket.AF_INET, target)
        return target, None
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, target)
        return None, 'IPv6 target %s: probes are IPv4 only' % target
    except OSError:
        pass
    path = hosts_file_for(netns, root)
    try:
        with open(path, encoding='utf-8', errors='replace') as fh:
            addr = parse_hosts(fh.read(), target)
    except OSError as exc:
        return None, 'cannot resolve %s: cannot read %s: %s' % (target, path, exc.strerror)
    if addr is None:
        return None, 'cannot resolve %s: no IPv4 entry in %s' % (target, path)
    return addr, None


def hop_count(answers, target):
    """The traceroute reading of TTL-limited echo requests: ``answers`` maps TTL -> the parsed
    answer (or None for silence). Returns (hops, path): hops is the first TTL the target itself
    answered (None if it never did), path the list of (ttl, responder or '*') up to there."""
    path = []
    for ttl in sorted(answers):
        ans = answers[ttl]
        who = ans['src'] if ans else '*'
        path.append((ttl, who))
        if ans and ans['kind'] == 'reply' and ans['src'] == target:
            return ttl, path
        if ans and ans['kind'] == 'unreach':
            break                 # traceroute stops at !H / !N as well
    return None, path


# ---------------------------------------------------------------- the kernel side

class Prober:
    """Raw ICMP sockets, one per source namespace, and one poll loop for all requests.

    ``run(generators)`` drives the probes: each generator yields jobs ``(netns, dst, requests,
    timeout)`` with requests a list of dicts (``ttl``, ``size``, ``df``) and is sent back one
    answer per request: a ``parse_icmp4`` dict plus ``rtt_ms`` for replies, ``{'kind':
    'send_error', 'errno': n}`` when the kernel refused to send (EMSGSIZE for a DF packet above
    the route MTU), or None (no answer in time). A job is finished when every request is
    answered or ``timeout`` seconds after it was sent.
    """

    def __init__(self, enter):
        self._enter = enter            # context manager factory: enter(netns) -> setns there
        self._socks = {}               # netns -> socket or exception
        self._ident = random.randint(1, 0xFFFF)
        self._seq = {}                 # netns -> last sequence number
        self._poll = select.poll()
        self._by_fd = {}

    def close(self):
        for sock in self._socks.values():
            if isinstance(sock, socket.socket):
                sock.close()
        self._socks.clear()

    def socket_for(self, netns):
        """The namespace's raw socket, or the exception that prevented it (kept and re-raised)."""
        sock = self._socks.get(netns)
        if sock is None:
            try:
                with self._enter(netns):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                sock.setblocking(False)
                # drop echo requests and other chatter in the kernel: only replies and errors
                keep = (1 << ICMP_ECHOREPLY) | (1 << ICMP_DEST_UNREACH) | (1 << ICMP_TIME_EXCEEDED)
                sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack('I', ~keep & 0xFFFFFFFF))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                self._poll.register(sock.fileno(), select.POLLIN)
                self._by_fd[sock.fileno()] = netns
            except Exception as exc:  # pylint: disable=broad-except
                sock = exc             # missing namespace, no CAP_NET_RAW: a per-probe problem
            self._socks[netns] = sock
        if isinstance(sock, Exception):
            raise sock
        return sock

    def _next_seq(self, netns):
        seq = self._seq.get(netns, 0) % 0xFFFF + 1
        self._seq[netns] = seq
        return seq

    def _send(self, sock, dst, req, seq):
        ttl = req.get('ttl') or 64
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if req.get('df') else IP_PMTUDISC_DONT)
        packet = build_echo(self._ident, seq, req.get('size', DEFAULT_PAYLOAD))
        while True:
            try:
                sock.sendto(packet, (dst, 0))
                return None
            except BlockingIOError:
                select.select([], [sock], [], 0.05)     # send buffer full: wait for room
            except OSError as exc:
                return exc.errno or errno.EIO

    def run(self, probes, parallel=8):
        """Drive generators, at most ``parallel`` at a time. Each generator yields jobs
        ``(netns, dst, requests, timeout)`` and is sent back the answers of its job; what it
        returns is its result. Returns the results in the order of ``probes``."""
        probes = list(probes)
        results = [None] * len(probes)
        jobs = {}                      # job id -> [probe index, answers, requests left, deadline, dst]
        pending = {}                   # (netns, seq) -> (job id, request index, sent at)
        queue = list(range(len(probes)))
        queue.reverse()
        active = [0]
        counter = [0]

        def advance(idx, answers):
            gen = probes[idx]
            while True:
                try:
                    job = gen.send(answers) if answers is not None else next(gen)
                except StopIteration as stop:
                    results[idx] = stop.value
                    active[0] -= 1
                    return
                answers = self._start(job, idx, jobs, pending, counter)
                if answers is None:
                    return             # waiting for the network
                # nothing was sent (all refused): resume at once

        def fill():
            while queue and active[0] < max(1, parallel):
                active[0] += 1
                advance(queue.pop(), None)

        fill()
        while jobs:
            now = time.monotonic()
            expired = [jid for jid, job in jobs.items() if job[3] <= now]
            if expired:
                for key in [k for k, v in pending.items() if v[0] in expired]:
                    del pending[key]
                for jid in expired:
                    job = jobs.pop(jid)
                    advance(job[0], job[1])
                fill()
                continue
            wait = min(job[3] for job in jobs.values()) - now
            for fd, _ev in self._poll.poll(max(1, int(wait * 1000 + 0.999))):
                done = self._receive(self._by_fd.get(fd), jobs, pending)
                for jid in done:
                    job = jobs.pop(jid)
                    advance(job[0], job[1])
            fill()
        return results

    def _start(self, job, idx, jobs, pending, counter):
        """Send a job's requests; returns its answers at once if nothing is left to wait for."""
        netns, dst, requests, timeout = job
        answers = [None] * len(requests)
        sock = self.socket_for(netns)
        counter[0] += 1
        jid = counter[0]
        left = 0
        for r, req in enumerate(requests):
            seq = self._next_seq(netns)
            err = self._send(sock, dst, req, seq)
            if err:
                answers[r] = {'kind': 'send_error', 'errno': err, 'src': None}
            else:
                pending[(netns, seq)] = (jid, r, time.monotonic())
                left += 1
        if not left:
            return answers
        jobs[jid] = [idx, answers, left, time.monotonic() + timeout, dst]
        return None

    def _receive(self, netns, jobs, pending):
        """Read everything queued on a namespace's socket; returns the ids of finished jobs."""
        sock = self._socks.get(netns)
        done = []
        while isinstance(sock, socket.socket):
            try:
                packet, _addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            got = time.monotonic()
            ans = parse_icmp4(packet)
            if ans is None or ans['ident'] != self._ident:
                continue
            hit = pending.get((netns, ans['seq']))
            if hit is None:
                continue
            jid, r, sent = hit
            job = jobs[jid]
            if ans['dst'] != job[4]:
                continue               # someone else's packet that happens to carry our numbers
            del pending[(netns, ans['seq'])]
            if ans['kind'] == 'reply':
                ans['rtt_ms'] = round((got - sent) * 1000.0, 3)
            job[1][r] = ans
            job[2] -= 1
            if not job[2]:
                done.append(jid)
        return done
