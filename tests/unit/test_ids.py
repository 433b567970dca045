# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/cluster/ids.py: object ids and join tokens."""

from __future__ import annotations

import os
import random
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ids as _ids  # noqa: E402


def secrets_entry(seed=1):
    rng = random.Random(seed)
    return {'cluster_key': _ids.new_cluster_key(rng), 'manager': _ids.new_id(rng), 'worker': _ids.new_id(rng)}


def test_base36():
    assert _ids.base36(0) == '0'
    assert _ids.base36(35) == 'z'
    assert _ids.base36(36) == '10'
    assert _ids.base36(36, 4) == '0010'
    assert _ids.base36(2 ** 128 - 1) == 'f5lxx1zz5pnorynqglhzmsp33'  # the largest 128-bit id fits 25 chars
    with pytest.raises(ValueError):
        _ids.base36(-1)


def test_new_id_shape_and_randomness():
    ids = set(_ids.new_id() for dummy in range(200))
    assert len(ids) == 200
    assert all(_ids.ID_RE.match(i) for i in ids)


def test_new_id_reproducible_with_rng():
    assert _ids.new_id(random.Random(5)) == _ids.new_id(random.Random(5))
    assert _ids.new_id(random.Random(5)) != _ids.new_id(random.Random(6))


def test_token_shape_and_roles_differ():
    tokens = _ids.join_tokens(secrets_entry())
    for token in tokens.values():
        assert _ids.TOKEN_RE.match(token)
        assert token.startswith('SWMTKN-1-')
        assert len(token) == len('SWMTKN-1-') + 50 + 1 + 25
    assert tokens['manager'] != tokens['worker']
    # the cluster part is shared, the role part differs
    assert tokens['manager'][:59] == tokens['worker'][:59]


def test_token_cluster_part_derives_from_key():
    a, b = secrets_entry(1), secrets_entry(2)
    assert _ids.join_tokens(a)['worker'][9:59] == _ids.cluster_digest(a['cluster_key'])
    assert _ids.cluster_digest(a['cluster_key']) != _ids.cluster_digest(b['cluster_key'])


def test_check_token_accepts_right_role():
    s = secrets_entry()
    tokens = _ids.join_tokens(s)
    assert _ids.check_token(s, tokens['worker'], 'worker')
    assert _ids.check_token(s, tokens['manager'], 'manager')


@pytest.mark.parametrize('role,other', [('worker', 'manager'), ('manager', 'worker')])
def test_check_token_other_role_refused_without_echo(role, other):
    s = secrets_entry()
    token = _ids.join_tokens(s)[other]
    with pytest.raises(_ids.TokenError) as exc:
        _ids.check_token(s, token, role)
    assert 'the %s token' % other in str(exc.value)
    assert token not in str(exc.value)
    assert token[9:] not in str(exc.value) and token[-25:] not in str(exc.value)


def test_check_token_other_cluster_refused_without_echo():
    token = _ids.join_tokens(secrets_entry(2))['worker']
    with pytest.raises(_ids.TokenError) as exc:
        _ids.check_token(secrets_entry(1), token, 'worker')
    assert 'does not belong to this cluster' in str(exc.value)
    assert token[-25:] not in str(exc.value)


def test_check_token_wrong_secret_refused_without_echo():
    s = secrets_entry()
    token = _ids.join_tokens(s)['worker'][:-25] + 'a' * 25
    with pytest.raises(_ids.TokenError) as exc:
        _ids.check_token(s, token, 'worker')
    assert 'not valid for a worker' in str(exc.value)
    assert 'a' * 25 not in str(exc.value)


@pytest.mark.parametrize('bad', ['', 'SWMTKN-1-abc', None, 42, 'SWMTKN-2-' + 'a' * 50 + '-' + 'b' * 25,
                                 'SWMTKN-1-' + 'A' * 50 + '-' + 'b' * 25])
def test_check_token_malformed(bad):
    with pytest.raises(_ids.TokenError) as exc:
        _ids.check_token(secrets_entry(), bad, 'worker')
    assert 'malformed' in str(exc.value)
    if isinstance(bad, str) and bad:
        assert bad not in str(exc.value)


def test_check_token_unknown_role():
    s = secrets_entry()
    with pytest.raises(_ids.TokenError):
        _ids.check_token(s, _ids.join_tokens(s)['worker'], 'boss')


def test_check_token_is_constant_time(monkeypatch):
    """Every comparison of secret material goes through hmac.compare_digest."""
    calls = []
    real = _ids.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)
    monkeypatch.setattr(_ids.hmac, 'compare_digest', spy)
    s = secrets_entry()
    tokens = _ids.join_tokens(s)
    _ids.check_token(s, tokens['worker'], 'worker')
    assert calls
    with pytest.raises(_ids.TokenError):
        _ids.check_token(s, tokens['worker'][:-1] + ('a' if tokens['worker'][-1] != 'a' else 'b'), 'worker')
    assert len(calls) >= 4
