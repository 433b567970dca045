# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/cluster/placement.py: constraints and the spread choice."""

from __future__ import annotations

import os
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import placement as P  # noqa: E402

NODES = [
    {'hostname': 'node1', 'id': 'aaaa', 'role': 'manager', 'labels': {'zone': 'a', 'disk': 'ssd'}},
    {'hostname': 'node2', 'id': 'bbbb', 'role': 'worker', 'labels': {'zone': 'b'}},
    {'hostname': 'node3', 'id': 'cccc', 'role': 'worker', 'labels': {}},
]


def hosts(constraints):
    return [n['hostname'] for n in P.eligible([P.parse_constraint(c) for c in constraints], NODES)]


@pytest.mark.parametrize('constraints,expected', [
    ([], ['node1', 'node2', 'node3']),
    (['node.role==manager'], ['node1']),
    (['node.role==worker'], ['node2', 'node3']),
    (['node.role!=worker'], ['node1']),
    (['node.hostname==node2'], ['node2']),
    (['node.hostname!=node2'], ['node1', 'node3']),
    (['node.id==cccc'], ['node3']),
    (['node.id!=cccc'], ['node1', 'node2']),
    (['node.labels.zone==a'], ['node1']),
    (['node.labels.zone!=a'], ['node2', 'node3']),  # a missing label matches !=
    (['node.labels.disk==ssd', 'node.role==manager'], ['node1']),
    (['node.role==worker', 'node.labels.zone==a'], []),
    ([' node.role == worker '], ['node2', 'node3']),  # spaces ignored
    (['NODE.Role==WORKER'], ['node2', 'node3']),      # key and value case-insensitive (swarmkit)
    (['node.labels.Zone==a'], []),                    # the label name itself is case-sensitive
    (['node.hostname==NODE1'], ['node1']),
])
def test_constraints(constraints, expected):
    assert hosts(constraints) == expected


@pytest.mark.parametrize('bad,needle', [
    ('node.role=manager', 'malformed'),
    ('node.role', 'malformed'),
    ('', 'malformed'),
    ('node.role==', 'no value'),
    ('node.role== ', 'no value'),
    ('node.platform.os==linux', 'unsupported key'),
    ('engine.labels.a==b', 'unsupported key'),
    ('node.labels.==a', 'no label'),
    ('node.role==boss', 'manager or worker'),
    ('no de==x', 'malformed'),
    (42, 'not a string'),
])
def test_bad_constraints(bad, needle):
    with pytest.raises(ValueError) as exc:
        P.parse_constraint(bad)
    assert needle in str(exc.value)
    assert repr(bad) in str(exc.value)


def test_unsatisfiable_names_the_constraint():
    cons = [P.parse_constraint('node.role==worker'), P.parse_constraint('node.labels.zone==c')]
    assert [c.text for c in P.unsatisfiable(cons, NODES)] == ['node.labels.zone==c']


def test_choose_spread_fewest_of_service_then_total_then_order():
    hosts_ = ['n1', 'n2', 'n3']
    assert P.choose_spread(hosts_, {}, {}) == 'n1'
    assert P.choose_spread(hosts_, {'n1': 1}, {}) == 'n2'
    # same service load: fewer tasks overall wins
    assert P.choose_spread(hosts_, {}, {'n1': 3, 'n2': 1, 'n3': 2}) == 'n2'
    # service load beats total load
    assert P.choose_spread(hosts_, {'n2': 1}, {'n1': 5, 'n2': 1, 'n3': 5}) == 'n1'
    # full tie: node order
    assert P.choose_spread(['n3', 'n1'], {}, {}) == 'n3'
