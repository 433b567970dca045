# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Value normalisers shared by every layer: a MAC and an IP address in the one text form the
kernel's dumps are decoded to, so a desired entry and a dumped one compare equal as strings."""

from __future__ import annotations

import re
import socket

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import ZERO_MAC

_MAC_RE = re.compile(r'^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$')


def normalize_mac(value, what='mac', unicast=False):
    """'02-42-0A-00-00-04' -> '02:42:0a:00:00:04'; ValueError naming the value otherwise.

    ``unicast``: the address of an interface, so not multicast and not all-zero (FDB entries may
    be either: flood entries are all-zero)."""
    text = str(value).strip().lower() if value is not None else ''
    if not _MAC_RE.match(text):
        raise ValueError('%s %r is not a MAC address (expected six hex pairs like 02:42:0a:00:00:04)'
                         % (what, value))
    text = text.replace('-', ':')
    if unicast and int(text[:2], 16) & 1:
        raise ValueError('%s %s is a multicast address; an interface needs a unicast one' % (what, text))
    if unicast and text == ZERO_MAC:
        raise ValueError('%s %s is the all-zero address' % (what, text))
    return text


def normalize_ip(value, what='address'):
    """An IPv4 or IPv6 address in the kernel's text form; ValueError naming the value otherwise.

    inet_pton/inet_ntop rather than ``ipaddress``: the text the rtnetlink decoder writes for dumps
    (``ipaddress`` writes ::ffff:1.2.3.4 as ::ffff:102:304), and twice as fast (bench/README.md)."""
    text = str(value).strip() if value is not None else ''
    for family in (socket.AF_INET, socket.AF_INET6) if ':' not in text else (socket.AF_INET6,):
        try:
            raw = socket.inet_pton(family, text)
        except OSError:
            continue
        if not any(raw):
            raise ValueError('%s %r is the unspecified address' % (what, value))
        return socket.inet_ntop(family, raw)
    raise ValueError('%s %r is not an IPv4 or IPv6 address' % (what, value))


def ip_family(ip):
    """4 or 6 for an address already normalised."""
    return 6 if ':' in ip else 4
