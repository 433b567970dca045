# -*- coding: utf-8 -*-
"""linuxnet.overlay.cluster_plan with validate_only: the check the swarm role runs on the first
manager before swarm init/join. It reports every problem, writes nothing (not even the state
folder), and works before the cluster exists. (The committing runs are in test_cluster_modules.py.)"""

from __future__ import annotations

import hashlib
import os

NODES = [{'hostname': 'node1', 'role': 'manager', 'addr': '172.31.1.5', 'routes': ['172.31.1.0/24']},
         {'hostname': 'node2', 'role': 'worker', 'addr': '192.168.1.5', 'routes': ['192.168.1.0/24']}]
NETS = [{'name': 'uber-net'}]
SVCS = [{'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': ['sleep', 'infinity']}]


def digest(state_dir):
    with open(os.path.join(state_dir, 'cluster.json'), 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_validate_only_before_init_writes_nothing(run_module, tmp_path):
    state_dir = str(tmp_path / 'state')
    res = run_module('cluster_plan', {'state_dir': state_dir, 'nodes': NODES, 'networks': NETS, 'services': SVCS,
                                      'validate_only': True, 'require_joined': False})
    assert res['changed'] is False and res['plan'] is None and res['pending'] is True
    assert res['changes']['networks']['added'] == ['uber-net'] and len(res['changes']['tasks']['added']) == 2
    assert not os.path.exists(state_dir)
    assert not res.get('warnings')      # no "provisional cluster" warning: the role's committing run warns


def test_validate_only_reports_the_problems_and_writes_nothing(run_module, tmp_path):
    state_dir = str(tmp_path / 'state')
    args = {'state_dir': state_dir, 'nodes': NODES, 'require_joined': False, 'validate_only': True}
    # the input's own problems first (each one named) ...
    res = run_module('cluster_plan', dict(args, networks=[{'name': 'a', 'subnets': ['10.20.0.0/16']},
                                                          {'name': 'b', 'subnets': ['10.20.5.0/24']}],
                                          services=[{'name': 's', 'replicas': -1}]), expect_failure=True)
    assert [e.split(':')[0] for e in res['errors']] == ['network b', 'service s'], res['errors']
    assert '10.20.5.0/24 overlaps subnet 10.20.0.0/16 of network a' in res['msg']
    assert 'replicas -1 is below 0' in res['msg']
    # ... then those against the nodes and the cluster, all together
    res = run_module('cluster_plan', dict(args, networks=[{'name': 'c', 'subnets': ['192.168.1.0/25']}],
                                          services=[{'name': 's', 'networks': ['c'],
                                                     'constraints': ['node.labels.zone==mars']}]),
                     expect_failure=True)
    assert [e.split(':')[0] for e in res['errors']] == ['network c', 'service s'], res['errors']
    assert '192.168.1.0/25 overlaps route 192.168.1.0/24 on node node2' in res['msg']
    assert "no node satisfies constraint 'node.labels.zone==mars'" in res['msg']
    assert not os.path.exists(state_dir)


def test_validate_only_on_an_existing_cluster_changes_nothing(run_module, tmp_path):
    state_dir = str(tmp_path / 'state')
    run_module('swarm', {'role': 'init', 'state_dir': state_dir, 'node': {'hostname': 'node1', 'addr': '172.31.1.5'}})
    first = run_module('cluster_plan', {'state_dir': state_dir, 'nodes': NODES[:1], 'networks': NETS,
                                        'services': [dict(SVCS[0], replicas=1)]})
    before = digest(state_dir)
    # a new network with a VNI that uber-net holds: refused, nothing written
    bad = run_module('cluster_plan', {'state_dir': state_dir, 'nodes': NODES[:1], 'validate_only': True,
                                      'networks': NETS + [{'name': 'back', 'vnis': [4096]}]}, expect_failure=True)
    assert bad['errors'] == ['network back: VNI 4096 is already used by network uber-net; choose another VNI, or '
                             'leave vnis out to get a free one']
    # a good change is validated but not committed: the version stays
    good = run_module('cluster_plan', {'state_dir': state_dir, 'nodes': NODES[:1], 'validate_only': True,
                                       'networks': NETS + [{'name': 'back'}]})
    assert good['changed'] is False and good['pending'] is True and good['plan'] is None
    assert good['version'] == first['version'] + 1     # what a committing run would write
    assert digest(state_dir) == before
    assert 'diff' not in good                           # the committing run shows the diff
