# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPsec for encrypted overlay networks: keyring, rotation, SPIs, per-direction keys, the SA/SP
set of a node (the MTU it costs is IPAM's, ``ipam.overlay_mtu``). Pure code (private): no kernel, no I/O but ``os.urandom``.

Model (ESP transport mode for the VXLAN UDP datagrams between data-path addresses, as Docker):

* one keyring per cluster, shared by all encrypted networks; a key is 16 random bytes with a
  monotonic integer ``tag`` and its creation time;
* every node accepts every key of the ring (one inbound SA per peer per key) and sends with one,
  the *primary* (one outbound SA per peer, and one outbound policy per peer that pins the SA's SPI);
* nothing is negotiated: both ends of a pair compute the same SPIs and keys from the ring and the
  two addresses.

Keyring and rotation without packet loss
----------------------------------------
The ring holds three keys k(n-1) < k(n) < k(n+1) (by tag); the primary is the second newest, k(n).
A rotation is ONE change of the ring, ``rotate()``: add k(n+2), drop k(n-1). Applied to the nodes,
it performs three phases at once, each for a different key:

1. install: k(n+2) becomes receive-only everywhere (inbound SAs), nobody sends with it yet;
2. switch:  the primary moves to k(n+1), which the previous rotation installed for receive on
            every node;
3. prune:   k(n-1) goes; nobody has sent with it since the previous rotation (its primary was k(n)).

While the nodes converge (in any order, at any speed), a node still on the old ring sends k(n),
which new-ring nodes still accept, and a node on the new ring sends k(n+1), which old-ring nodes
already accept. So no packet is lost, provided the previous rotation reached every node before the
next one starts: ``rotate()`` takes ``installed_tag`` -- the newest tag every node has confirmed
(the caller records it after a run that converged all nodes) -- and refuses to rotate when the
current newest key is not installed everywhere yet. Docker's keymanager uses the same
second-newest rule with a 12 h interval; here the interval is the caller's choice.

On one node, the xfrm module orders each change make-before-break: new inbound SA, new outbound SA,
atomic policy update to the new SPI, then removal of the old outbound SA and the pruned inbound SA.

Why no inbound policy: a ``dir in`` policy requiring ESP for UDP to the data-path port would also
drop the clear-text VXLAN of the *unencrypted* networks between the same two nodes. Clear text for
an encrypted VNI is dropped per VNI by the encryption guard (nftables ``enc-in``) instead. What a
decrypted packet may be is limited by the SA selector (UDP from the peer to the data-path port).

SPIs
----
As Docker: 32-bit FNV-1a over src (16 bytes, IPv4-mapped) + tag (big-endian 32 bits) + dst (16
bytes). Better than Docker: values below 256 (reserved, RFC 4303) are skipped, and collisions are
resolved. The kernel finds an inbound SA by (destination, SPI), so all SAs *to one node* need
distinct SPIs; with 32-bit hashes a 1000-node cluster has a ~0.1% chance of a clash per node, a
good chance somewhere. ``spi_table`` resolves a clash deterministically for one destination:
candidates in (tag, source) order keep the plain hash unless it is taken, later ones re-hash with
a counter byte. Both ends know every node's address and the ring, so they compute the same table.
(Only a clashing pair's SPI can change when nodes join or leave; it then behaves like a rekey.)

Keys
----
Each SA gets its own 20 bytes (16 AES-128 key + 4 salt, RFC 4106) derived with HKDF-SHA256 from the
cluster key and (src, dst, tag). Docker uses the cluster key itself in both directions and the SPI
as salt; per-direction keys mean no two SAs ever share a key, so GCM (key, nonce) pairs can never
repeat across SAs, and no SA's key reveals another's.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import struct

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import ESP_ICV_BITS, OVERLAY_MARK, OVERLAY_REQID, VXLAN_PORT

KEYRING_SIZE = 3
KEY_BYTES = 16
SPI_MIN = 256
HKDF_SALT = b'linuxnet.overlay/ipsec/v1'
HKDF_INFO = b'esp rfc4106(gcm(aes)) aes128 key+salt'

REPLAY_WINDOW_DEFAULT = 128


class KeyringError(ValueError):
    """A keyring that cannot be used; the message names the tag, never the key."""


# ---------------------------------------------------------------------------------------------
# Keyring


def new_key(tag, now, rand=os.urandom):
    return {'tag': int(tag), 'key': rand(KEY_BYTES).hex(), 'created': int(now)}


def init_keyring(now, rand=os.urandom):
    """A fresh ring of three keys (tags 1, 2, 3). Nothing is sent yet, so all three can be
    installed at once; the primary is tag 2."""
    return [new_key(tag, now, rand) for tag in range(1, KEYRING_SIZE + 1)]


def validate_keyring(keyring):
    """Raise KeyringError unless ``keyring`` is a non-empty list of well-formed keys with distinct
    tags; returns it sorted by tag."""
    if not isinstance(keyring, list) or not keyring:
        raise KeyringError('the keyring must be a non-empty list of keys')
    seen = set()
    for i, k in enumerate(keyring):
        if not isinstance(k, dict) or set(k) - {'tag', 'key', 'created'} or 'tag' not in k or 'key' not in k:
            raise KeyringError('keyring[%d] must be a dict with tag, key and created' % i)
        tag = k['tag']
        if isinstance(tag, bool) or not isinstance(tag, int) or not 1 <= tag <= 0xFFFFFFFF:
            raise KeyringError('keyring[%d].tag must be an integer 1..4294967295' % i)
        if tag in seen:
            raise KeyringError('keyring: tag %d appears twice' % tag)
        seen.add(tag)
        text = k['key'] if isinstance(k['key'], str) else ''
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b''
        if len(raw) != KEY_BYTES:
            raise KeyringError('keyring key with tag %d must be %d hex digits (%d random bytes)'
                               % (tag, 2 * KEY_BYTES, KEY_BYTES))
    return sorted(keyring, key=lambda k: k['tag'])


def primary(keyring):
    """The key nodes send with: the second newest (a single key: that one)."""
    ring = validate_keyring(keyring)
    return ring[-2] if len(ring) > 1 else ring[-1]


def rotate(keyring, now, installed_tag, rand=os.urandom):
    """One rotation: add a key with the next tag, keep the newest KEYRING_SIZE. ``installed_tag`` is
    the newest tag that every node has installed (confirmed by a run that converged all nodes);
    rotating before the current newest key is everywhere could make a node send with a key a peer
    does not accept yet, so it is refused."""
    ring = validate_keyring(keyring)
    newest = ring[-1]['tag']
    if installed_tag is None or installed_tag < newest:
        raise KeyringError('not rotating: key %d is not installed on every node yet (installed everywhere: %s); '
                           'converge all nodes with the current keyring first' % (newest, installed_tag))
    return (ring + [new_key(newest + 1, now, rand)])[-KEYRING_SIZE:]


def keyring_public(keyring):
    """The ring without key material, for reports: tags, ages, which is primary, fingerprints."""
    ring = validate_keyring(keyring)
    prim = primary(ring)['tag']
    return [{'tag': k['tag'], 'created': k.get('created'), 'primary': k['tag'] == prim,
             'fingerprint': hashlib.sha256(b'linuxnet.overlay keyring\0' + bytes.fromhex(k['key'])).hexdigest()[:8]}
            for k in ring]


# ---------------------------------------------------------------------------------------------
# The keyring in the cluster state
#
# ``state['keyring']`` is None while no network is encrypted, else
#     {'keys': [{tag, key (32 hex), created (epoch seconds)}, ...], 'installed': tag | None}
# ``installed`` is the newest tag that every node with an encrypted network has installed (its
# SAs exist), recorded after a run that converged all of them; rotate() refuses to go further.

DURATION_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}


def parse_duration(value, what='key_max_age'):
    """Seconds from an int, a digit string, or a number with a unit (90s, 30m, 12h, 7d, 2w).
    0 or None: never. Raises ValueError naming the value."""
    if value is None or value == '':
        return 0
    if isinstance(value, bool):
        raise ValueError('%s: %r is not a duration' % (what, value))
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower()
        unit = DURATION_UNITS.get(text[-1:]) if text[-1:].isalpha() else 1
        number = text[:-1] if text[-1:].isalpha() else text
        if unit is None or not number.isdigit():
            raise ValueError('%s: %r is not a duration (seconds, or a number with s, m, h, d or w: 12h)'
                             % (what, value))
        seconds = int(number) * unit
    if seconds < 0:
        raise ValueError('%s: %r is negative' % (what, value))
    return seconds


def check_keyring_state(entry):
    """Raise KeyringError unless ``entry`` is None or {'keys': [...], 'installed': tag|None}."""
    if entry is None:
        return None
    if not isinstance(entry, dict) or set(entry) - {'keys', 'installed'} or 'keys' not in entry:
        raise KeyringError('the cluster state\'s keyring must be null or {keys, installed}')
    ring = validate_keyring(entry['keys'])
    installed = entry.get('installed')
    if installed is not None and (isinstance(installed, bool) or not isinstance(installed, int)):
        raise KeyringError('keyring.installed must be a tag (integer) or null')
    return {'keys': ring, 'installed': installed}


def _age(seconds):
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size:
            return '%d%s' % (seconds // size, unit)
    return '%ds' % max(seconds, 0)


def keyring_step(entry, needed, now, rotate_now=False, max_age=0, rand=os.urandom):
    """The keyring after one plan: ``(new entry, messages)``, messages as {level, msg}.

    * no encrypted network (``needed`` false): no keyring; an existing one is dropped (no node
      uses it any more: the network role removes the SAs and the guard of the last encrypted
      network in the same run);
    * a network is encrypted and there is no keyring: three new keys (tags 1, 2, 3);
    * ``rotate_now``, or the newest key is ``max_age`` seconds old or older: one rotation
      (``rotate()``), but only when the newest key is installed everywhere. An explicit rotation
      that is not safe raises KeyringError; a rotation due by age waits with a warning.

    The entry returned is a new object; ``entry`` is not changed. Messages never carry keys."""
    entry = check_keyring_state(entry)
    msgs = []
    if not needed:
        if entry is not None:
            msgs.append({'level': 'info', 'msg': 'keyring removed: no network is encrypted any more'})
        if rotate_now:
            msgs.append({'level': 'warning', 'msg': 'rotate_keys: there is no keyring to rotate '
                                                    '(no network is encrypted)'})
        return None, msgs
    if entry is None:
        ring = init_keyring(now, rand)
        msgs.append({'level': 'info', 'msg': 'keyring created: keys %s, nodes send with key %d'
                                             % (', '.join(str(k['tag']) for k in ring), primary(ring)['tag'])})
        return {'keys': ring, 'installed': None}, msgs
    ring, installed = entry['keys'], entry['installed']
    newest = ring[-1]
    age = int(now) - int(newest.get('created', 0))
    due = bool(max_age) and age >= max_age
    if rotate_now or due:
        if rotate_now:
            why = 'rotate_keys'
        else:
            why = 'key %d is %s old (key_max_age %s)' % (newest['tag'], _age(age), _age(max_age))
        try:
            new_ring = rotate(ring, now, installed, rand)
        except KeyringError as exc:
            if rotate_now:
                raise
            msgs.append({'level': 'warning', 'msg': 'key rotation due (%s) waits: %s' % (why, exc)})
            return {'keys': ring, 'installed': installed}, msgs
        dropped = sorted({k['tag'] for k in ring} - {k['tag'] for k in new_ring})
        msgs.append({'level': 'info', 'msg': 'keys rotated (%s): added key %d, nodes now send with key %d%s'
                     % (why, new_ring[-1]['tag'], primary(new_ring)['tag'],
                        ', dropped key %s' % ', '.join(str(t) for t in dropped) if dropped else '')})
        return {'keys': new_ring, 'installed': installed}, msgs
    return {'keys': ring, 'installed': installed}, msgs


def confirm_installed(entry, tag):
    """The entry with ``installed`` raised to ``tag`` (a run converged every node with it):
    ``(new entry, message or None)``. A tag no longer in the ring (a concurrent rotation) or older
    than the recorded one changes nothing; a tag newer than the ring is an error."""
    entry = check_keyring_state(entry)
    if entry is None:
        return None, 'no keyring (no network is encrypted): nothing to confirm'
    tags = [k['tag'] for k in entry['keys']]
    if tag > tags[-1]:
        raise KeyringError('installed: key %d is not in the keyring (keys %s)' % (tag, ', '.join(map(str, tags))))
    if tag < tags[-1] and tag not in tags:
        return entry, 'key %d is not in the keyring any more (keys %s): nothing to confirm' % (
            tag, ', '.join(map(str, tags)))
    if entry['installed'] is not None and entry['installed'] >= tag:
        return entry, None
    return {'keys': entry['keys'], 'installed': tag}, None


def keyring_info(entry):
    """What may be shown of the keyring: per key tag, created, primary, fingerprint; installed."""
    entry = check_keyring_state(entry)
    if entry is None:
        return None
    return {'keys': keyring_public(entry['keys']), 'installed': entry['installed']}


def keyring_lines(entry):
    """The keyring as readable lines for diffs (fingerprints, never keys)."""
    info = keyring_info(entry)
    if info is None:
        return []
    lines = ['keyring key %d fingerprint=%s created=%s%s' % (k['tag'], k['fingerprint'], k['created'],
                                                             ' primary' if k['primary'] else '')
             for k in info['keys']]
    lines.append('keyring installed on every node: %s' % (info['installed'] if info['installed'] is not None
                                                          else 'not yet'))
    return lines


# ---------------------------------------------------------------------------------------------
# SPIs


def fnv1a32(data):
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _addr(value):
    return value if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else ipaddress.ip_address(value)


def _addr16(value):
    a = _addr(value)
    return (ipaddress.IPv6Address('::ffff:%s' % a) if a.version == 4 else a).packed


def spi_base(src, dst, tag, counter=0):
    """Docker's SPI (FNV-1a over src16 + tag + dst16), with an optional counter byte for re-hashing."""
    data = _addr16(src) + struct.pack('!I', tag) + _addr16(dst)
    if counter:
        data += bytes([counter & 0xFF]) + struct.pack('!I', counter)
    return fnv1a32(data)


def spi_table(dst, sources, tags):
    """{(src, tag): spi} for every SA toward ``dst``: no value below 256, no two alike."""
    dst = _addr(dst)
    used = set()
    table = {}
    for tag in sorted(set(tags)):
        for src in sorted({_addr(s) for s in sources if _addr(s) != dst}, key=lambda a: (a.version, a.packed)):
            counter = 0
            while True:
                spi = spi_base(src, dst, tag, counter)
                if spi >= SPI_MIN and spi not in used:
                    break
                counter += 1
            used.add(spi)
            table[(str(src), tag)] = spi
    return table


# ---------------------------------------------------------------------------------------------
# Keys


def hkdf_sha256(ikm, salt, info, length):
    """RFC 5869 HKDF with SHA-256."""
    prk = hmac.new(salt or b'\0' * 32, ikm, hashlib.sha256).digest()
    out, block, counter = b'', b'', 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def sa_key(cluster_key_hex, src, dst, tag):
    """The 20 bytes (hex) of the SA src -> dst for the ring key ``tag``: AES-128 key + 4-byte salt."""
    info = HKDF_INFO + _addr16(src) + _addr16(dst) + struct.pack('!I', tag)
    return hkdf_sha256(bytes.fromhex(cluster_key_hex), HKDF_SALT, info, 20).hex()


# ---------------------------------------------------------------------------------------------
# The SA/SP set of a node


def node_xfrm(me, peers, keyring, port=VXLAN_PORT, icv_bits=ESP_ICV_BITS, replay_window=REPLAY_WINDOW_DEFAULT,
              esn=True):
    """The ``states`` and ``policies`` options of linuxnet.overlay.xfrm for node ``me`` (its
    data-path address) with the given peers' data-path addresses. Per peer: one inbound SA per ring
    key, one outbound SA for the primary key, one outbound policy (selected by the overlay's mark,
    UDP to ``port``) pinned to that SA. Run the module with ``exclusive: true`` to drop what no
    longer belongs (a removed peer, a pruned key)."""
    ring = validate_keyring(keyring)
    me = _addr(me)
    peer_addrs = sorted({_addr(p) for p in peers} - {me}, key=lambda a: (a.version, a.packed))
    for p in peer_addrs:
        if p.version != me.version:
            raise ValueError('peer %s is not of the address family of %s' % (p, me))
    nodes = [me] + peer_addrs
    tags = [k['tag'] for k in ring]
    prim = primary(ring)
    host = 32 if me.version == 4 else 128
    inbound_spis = spi_table(me, nodes, tags)
    states, policies = [], []
    for peer in peer_addrs:
        outbound_spis = spi_table(peer, nodes, tags)
        for k in ring:
            states.append(_sa(peer, me, inbound_spis[(str(peer), k['tag'])], sa_key(k['key'], peer, me, k['tag']),
                              port, icv_bits, replay_window, esn))
        spi_out = outbound_spis[(str(me), prim['tag'])]
        states.append(_sa(me, peer, spi_out, sa_key(prim['key'], me, peer, prim['tag']), port, icv_bits,
                          replay_window, esn))
        policies.append({'src': '%s/%d' % (me, host), 'dst': '%s/%d' % (peer, host), 'proto': 'udp', 'dport': port,
                         'dir': 'out', 'mark': {'value': OVERLAY_MARK, 'mask': 0xFFFFFFFF}, 'priority': 0,
                         'action': 'allow',
                         'tmpl': {'src': str(me), 'dst': str(peer), 'proto': 'esp', 'mode': 'transport',
                                  'reqid': OVERLAY_REQID, 'spi': spi_out, 'level': 'required'}})
    return {'states': states, 'policies': policies}


def _sa(src, dst, spi, key_hex, port, icv_bits, replay_window, esn):
    return {'src': str(src), 'dst': str(dst), 'spi': spi, 'proto': 'esp', 'mode': 'transport',
            'reqid': OVERLAY_REQID, 'aead_key': key_hex, 'icv_bits': icv_bits, 'esn': esn,
            'replay_window': replay_window,
            'selector': {'src': None, 'dst': None, 'proto': 'udp', 'dport': port}}
