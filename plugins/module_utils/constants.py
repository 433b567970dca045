# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The numbers of the overlay's domain, defined once: every layer (planner, node, kernel codecs)
imports them from here, so the planner and the node can never disagree on a range or an
overhead."""

from __future__ import annotations

# VXLAN (RFC 7348): a 24-bit VNI; VNI 0 is refused by Docker and by this collection.
VNI_MIN = 1
VNI_MAX = (1 << 24) - 1
# The IANA VXLAN port; Docker's default data path port.
VXLAN_PORT = 4789
# Bytes VXLAN adds per packet: inner Ethernet 14 + outer IP (20 | 40) + UDP 8 + VXLAN 8.
VXLAN_OVERHEAD = {4: 50, 6: 70}

# ESP (RFC 4303) with AES-GCM (RFC 4106): SPI 4 + sequence 4 + IV 8 + pad length 1 + next header 1;
# the ICV comes on top. Docker's SAs use a 64-bit ICV, this collection's a 128-bit one.
ESP_FIXED = 18
ESP_ICV_BITS = 128

# The firewall mark and the xfrm request id of the collection's policies and states: "LNO".
OVERLAY_MARK = 0x4C4E4F
OVERLAY_REQID = 0x4C4E4F

# include/uapi/linux/if.h: an interface name's buffer, counting the terminating NUL.
IFNAMSIZ = 16

# The all-zero MAC: the VTEP's flood (head-end replication) entries.
ZERO_MAC = '00:00:00:00:00:00'

# Neighbour states (include/uapi/linux/neighbour.h).
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NUD_VALID_DYNAMIC = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE

# the node's gateway bridge (Docker's docker_gwbridge) and the prefix of the tasks' veths on it
GATEWAY_BRIDGE = 'ov-gwbridge'
GATEWAY_VETH_PREFIX = 'vgw'
