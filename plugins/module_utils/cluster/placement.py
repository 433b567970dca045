# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement constraints and Swarm's spread strategy (private, pure: no I/O).

Constraints follow swarmkit's ``manager/constraint``: ``<key>==<value>`` or ``<key>!=<value>``,
spaces around the operator and the value ignored, keys case-insensitive, values compared
case-insensitively, and a missing label compares as the empty string (so ``!=`` matches a node
without the label). Supported keys: ``node.id``, ``node.hostname``, ``node.role`` and
``node.labels.<label>`` (the label name itself is case-sensitive, as in swarmkit).
"""

from __future__ import annotations

import re

_CONSTRAINT_RE = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(==|!=)\s*(.*?)\s*$')
_KEYS = ('node.id', 'node.hostname', 'node.role')
_LABEL_PREFIX = 'node.labels.'


class Constraint:
    """One parsed constraint; ``text`` is what the user wrote (used in messages)."""

    __slots__ = ('text', 'key', 'label', 'op', 'value')

    def __init__(self, text, key, label, op, value):
        self.text, self.key, self.label, self.op, self.value = text, key, label, op, value

    def __repr__(self):
        return 'Constraint(%r)' % self.text

    def _attribute(self, node):
        if self.key == 'node.labels':
            return str((node.get('labels') or {}).get(self.label, ''))
        return str(node.get(self.key[len('node.'):]) or '')

    def matches(self, node):
        """True if ``node`` (a dict with id, hostname, role, labels) satisfies the constraint."""
        equal = self._attribute(node).casefold() == self.value.casefold()
        return equal if self.op == '==' else not equal


def parse_constraint(text):
    """A Constraint from ``text``, or ValueError naming the text and what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError('constraint %r is not a string like "node.role==worker"' % (text,))
    m = _CONSTRAINT_RE.match(text)
    if not m:
        raise ValueError('constraint %r is malformed: expected <key>==<value> or <key>!=<value>, like '
                         '"node.role==worker" or "node.labels.zone!=a"' % (text,))
    key, op, value = m.groups()
    if not value:
        raise ValueError('constraint %r has no value after %s' % (text, op))
    lkey = key.lower()
    if lkey.startswith(_LABEL_PREFIX):
        label = key[len(_LABEL_PREFIX):]
        if not label:
            raise ValueError('constraint %r names no label after node.labels.' % (text,))
        return Constraint(text, 'node.labels', label, op, value)
    if lkey not in _KEYS:
        raise ValueError('constraint %r uses unsupported key %r: use node.id, node.hostname, node.role or '
                         'node.labels.<label>' % (text, key))
    if lkey == 'node.role' and value.lower() not in ('manager', 'worker'):
        raise ValueError('constraint %r compares node.role with %r: a role is manager or worker' % (text, value))
    return Constraint(text, lkey, None, op, value)


def eligible(constraints, nodes):
    """The nodes (in the given order) that satisfy every constraint."""
    return [n for n in nodes if all(c.matches(n) for c in constraints)]


def unsatisfiable(constraints, nodes):
    """The constraints that no node of ``nodes`` satisfies on its own (for error messages)."""
    return [c for c in constraints if not any(c.matches(n) for n in nodes)]


def describe(constraint, nodes, limit=4):
    """What the nodes hold for the constraint's key, for an error message: ``node.labels.zone
    is 'a' on node1, node4; unset on node2`` (at most ``limit`` values, ``limit`` names each)."""
    values = {}
    for n in nodes:
        values.setdefault(constraint._attribute(n), []).append(n['hostname'])  # pylint: disable=protected-access

    def more(items, shown):
        return ' and %d more' % (len(items) - shown) if len(items) > shown else ''
    parts = []
    ordered = sorted(values.items(), key=lambda kv: (kv[0] == '', kv[0]))   # unset last
    for value, hosts in ordered[:limit]:
        parts.append('%s on %s%s' % (repr(value) if value else 'unset', ', '.join(hosts[:limit]), more(hosts, limit)))
    key = constraint.key + ('.' + constraint.label if constraint.label else '')
    return '%s is %s%s' % (key, '; '.join(parts), more(ordered, limit).replace('more', 'more values'))


def choose_spread(candidates, service_load, total_load):
    """Swarm's spread choice for one new task: among ``candidates`` (hostnames, in node order)
    the node with the fewest tasks of this service, then the fewest tasks overall, then the
    first in node order. ``service_load`` and ``total_load`` map hostname -> count."""
    best = None
    best_key = None
    for index, host in enumerate(candidates):
        key = (service_load.get(host, 0), total_load.get(host, 0), index)
        if best_key is None or key < best_key:
            best, best_key = host, key
    return best
