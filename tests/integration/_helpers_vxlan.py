# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clear-text VXLAN packets built by hand, for the encryption tests (tests/integration and
tests/e2e): a VXLAN header with a chosen VNI around an Ethernet/IPv4/ICMP echo request, sent as a
plain UDP datagram from any namespace to a node's data-path port. Standard library only."""

from __future__ import annotations

import socket
import struct


def _csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def vxlan_icmp(vni, dst_mac, src_ip, dst_ip, seq, src_mac='02:42:0a:00:00:09'):
    """A VXLAN UDP payload: 8-byte header (flags 0x08, VNI << 8), inner Ethernet/IPv4/ICMP echo."""
    icmp = struct.pack('!BBHHH', 8, 0, 0, 0x4c4e, seq) + b'linuxnet.overlay'
    icmp = icmp[:2] + struct.pack('!H', _csum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                     socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack('!H', _csum(ip)) + ip[12:]
    eth = bytes.fromhex(dst_mac.replace(':', '')) + bytes.fromhex(src_mac.replace(':', '')) + b'\x08\x00'
    return struct.pack('!II', 0x08 << 24, vni << 8) + eth + ip + icmp


def send_udp(payloads, to_addr, port=4789):
    """Send each payload as one UDP datagram to (to_addr, port) from the current namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in payloads:
            s.sendto(p, (to_addr, port))
