# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identifiers and join tokens of the cluster (private, pure: no I/O).

* Object ids (cluster, node, network, service, task) are 25 characters ``[0-9a-z]``: 128 random
  bits written in base 36 and left-padded with ``0``, exactly as Docker's ``identity.NewID``
  does (36**25 > 2**128, so 25 characters always suffice).
* Join tokens look like Docker's: ``SWMTKN-1-<50 chars>-<25 chars>``. The 50 characters are the
  SHA-256 of the cluster key in base 36 (Docker uses the digest of the root CA certificate), so
  they say which cluster a token belongs to; the last 25 characters are a random secret per role,
  so the worker and the manager tokens differ. Checks are constant-time (``hmac.compare_digest``)
  and never put the presented token into a message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ID_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'
ID_LENGTH = 25
ID_RE = re.compile(r'^[0-9a-z]{25}$')
TOKEN_PREFIX = 'SWMTKN-1-'
TOKEN_RE = re.compile(r'^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$')
ROLES = ('manager', 'worker')

_SYSTEM_RANDOM = secrets.SystemRandom()


def base36(number, width=0):
    """``number`` (>= 0) in base 36 with lowercase digits, left-padded with '0' to ``width``."""
    if number < 0:
        raise ValueError('base36 needs a non-negative number')
    digits = []
    while number:
        number, rem = divmod(number, 36)
        digits.append(ID_ALPHABET[rem])
    return ''.join(reversed(digits)).rjust(max(width, 1), '0')


def new_id(rng=None):
    """A new 25-character object id. ``rng`` (a ``random.Random``) makes tests reproducible;
    without it the operating system's CSPRNG is used."""
    return base36((rng or _SYSTEM_RANDOM).getrandbits(128), ID_LENGTH)


def new_cluster_key(rng=None):
    """The cluster key: 256 random bits as 64 hex characters. Secret."""
    return '%064x' % (rng or _SYSTEM_RANDOM).getrandbits(256)


def cluster_digest(cluster_key):
    """The 50-character middle part of every join token of the cluster."""
    return base36(int(hashlib.sha256(cluster_key.encode('ascii')).hexdigest(), 16), 50)


def make_token(cluster_key, role_secret):
    return '%s%s-%s' % (TOKEN_PREFIX, cluster_digest(cluster_key), role_secret)


def join_tokens(secrets_entry):
    """``{'manager': token, 'worker': token}`` from the state's ``secrets`` entry."""
    key = secrets_entry['cluster_key']
    return dict((role, make_token(key, secrets_entry[role])) for role in ROLES)


class TokenError(Exception):
    """A presented join token is refused; the message never contains the token."""


def check_token(secrets_entry, presented, role):
    """Accept ``presented`` for ``role`` or raise TokenError with a message that does not echo it.

    Every comparison is constant-time; a token of the right cluster but the other role is named
    as such (that tells the user which token to use without revealing either)."""
    if role not in ROLES:
        raise TokenError('unknown node role %r: expected one of %s' % (role, ', '.join(ROLES)))
    if not isinstance(presented, str) or not TOKEN_RE.match(presented):
        raise TokenError('the join token is malformed: expected SWMTKN-1-<50 characters>-<25 characters> '
                         '(the token itself is not shown)')
    tokens = join_tokens(secrets_entry)
    given = presented.encode('ascii')
    if hmac.compare_digest(given, tokens[role].encode('ascii')):
        return True
    other = 'worker' if role == 'manager' else 'manager'
    if hmac.compare_digest(given, tokens[other].encode('ascii')):
        raise TokenError('the join token is the %s token of this cluster, but the node joins as a %s'
                         % (other, role))
    digest = cluster_digest(secrets_entry['cluster_key'])
    if not hmac.compare_digest(given[len(TOKEN_PREFIX):len(TOKEN_PREFIX) + 50], digest.encode('ascii')):
        raise TokenError('the join token does not belong to this cluster (the token itself is not shown)')
    raise TokenError('the join token is not valid for a %s of this cluster: it may have been rotated '
                     '(the token itself is not shown)' % role)
