# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service's restart policy as Docker takes it (``--restart-condition``, ``--restart-delay``,
``--restart-max-attempts``, ``--restart-window``), checked and with Docker's defaults (pure): the
cluster plan validates a service's ``restart_policy`` with it, the ``task`` module a task's ``restart``.
"""

from __future__ import annotations

import re

CONDITIONS = ('any', 'on-failure', 'none')
DEFAULT_POLICY = {'condition': 'any', 'delay': 5.0, 'max_attempts': 0, 'window': 0.0}     # Docker's
POLICY_KEYS = tuple(DEFAULT_POLICY)
_UNITS = {'ms': 0.001, 's': 1.0, 'm': 60.0, 'h': 3600.0}
_DURATION_RE = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h)')


class PolicyError(ValueError):
    pass


def duration(value, what):
    """Seconds from a number (seconds) or a Go-style duration as Docker takes it ('5s', '1m30s', '500ms')."""
    if isinstance(value, bool):
        raise PolicyError('%s %r is not a duration (seconds, or like 5s, 1m30s, 500ms)' % (what, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_RE.findall(text)
            if not parts or ''.join(n + u for n, u in parts) != text:
                raise PolicyError('%s %r is not a duration (seconds, or like 5s, 1m30s, 500ms)' % (what, value)) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds < 0:
        raise PolicyError('%s %r is negative' % (what, value))
    return seconds


def validate_policy(raw, what='restart_policy'):
    """A restart policy (pure): None, or a dict of condition, delay, max_attempts, window, with
    Docker's defaults for what is left out. Returns the policy with seconds as floats, or None."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PolicyError('%s must be a mapping of %s, got %r' % (what, ', '.join(POLICY_KEYS), raw))
    unknown = sorted(set(raw) - set(POLICY_KEYS))
    if unknown:
        raise PolicyError('%s: unknown key(s) %s; known: %s' % (what, ', '.join(map(str, unknown)), ', '.join(POLICY_KEYS)))
    policy = dict(DEFAULT_POLICY)
    condition = raw.get('condition')
    if condition is not None:
        if condition not in CONDITIONS:
            raise PolicyError('%s: condition %r is not one of %s' % (what, condition, ', '.join(CONDITIONS)))
        policy['condition'] = condition
    for key in ('delay', 'window'):
        if raw.get(key) is not None:
            policy[key] = duration(raw[key], '%s: %s' % (what, key))
    attempts = raw.get('max_attempts')
    if attempts is not None:
        try:
            ok = not isinstance(attempts, bool) and int(attempts) == float(attempts) and int(attempts) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise PolicyError('%s: max_attempts %r is not a whole number >= 0 (0: no limit)' % (what, attempts))
        policy['max_attempts'] = int(attempts)
    return policy
