# -*- coding: utf-8 -*-
"""The planner's way out (cluster/gateway.py): which tasks get an interface on their node's
gateway bridge, its address, and the checks of the gateway subnet."""

from __future__ import annotations

import pytest

from test_plan import SEED_NODES, Cluster, svc_tasks
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan

NETS = [{'name': 'uber-net'}, {'name': 'back-net', 'internal': True}]
SVCS = [{'name': 'web', 'networks': ['uber-net'], 'replicas': 2},
        {'name': 'db', 'networks': ['back-net'], 'replicas': 2},
        {'name': 'api', 'networks': ['back-net', 'uber-net'], 'replicas': 1}]


def by_name(plan):
    return {t['name'].split('.')[0] + '.' + t['name'].split('.')[1]: t
            for n in plan['nodes'].values() for t in n['tasks']}


def test_tasks_with_a_network_that_is_not_internal_get_a_way_out():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, NETS, SVCS)
    tasks = by_name(plan)
    assert tasks['db.1']['gateway_interface'] is None and tasks['db.2']['gateway_interface'] is None
    web1 = tasks['web.1']['gateway_interface']
    assert web1 == {'veth': web1['veth'], 'sandbox': None, 'bridge': 'ov-gwbridge', 'ifname': 'eth1',
                    'address': '172.18.0.2/16', 'ip': '172.18.0.2', 'mac': '02:42:ac:12:00:02', 'mtu': 1500,
                    'gateway': '172.18.0.1', 'routes': [{'dst': 'default', 'via': '172.18.0.1'}]}
    assert web1['veth'].startswith('vgw') and len(web1['veth']) == 10
    # api is on an internal and a normal network: a way out, after its two overlay interfaces
    assert tasks['api.1']['gateway_interface']['ifname'] == 'eth2'
    # the addresses are per node: each node's first task with a way out has .2
    per_node = {}
    for host, n in plan['nodes'].items():
        per_node[host] = sorted(t['gateway_interface']['ip'] for t in n['tasks'] if t['gateway_interface'])
        assert n['gateway'] == {'bridge': 'ov-gwbridge', 'subnet': '172.18.0.0/16', 'address': '172.18.0.1/16',
                                'veth_prefix': 'vgw', 'published': []}
    assert per_node == {'node1': ['172.18.0.2', '172.18.0.3'], 'node2': ['172.18.0.2']}
    assert 'gateway=172.18.0.2' in _plan.state_lines(c.state)
    # stable: the same plan again, and the addresses are kept in the state per node
    assert c.plan(SEED_NODES, NETS, SVCS) == plan
    assert sorted(c.state['nodes']['node1']['gateway']['allocated']) == ['172.18.0.2', '172.18.0.3']


def test_a_node_without_a_task_with_a_way_out_has_no_gateway_and_freed_addresses_come_back_late():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, NETS, [dict(SVCS[0], replicas=3), SVCS[1]])
    assert sorted(t['gateway_interface']['ip'] for t in plan['nodes']['node1']['tasks'] if t['gateway_interface']) \
        == ['172.18.0.2', '172.18.0.3']
    plan = c.plan(SEED_NODES, NETS, [dict(SVCS[0], replicas=1), SVCS[1]])
    assert plan['nodes']['node2']['gateway'] is None and 'gateway' not in c.state['nodes']['node2']
    plan = c.plan(SEED_NODES, NETS, [dict(SVCS[0], replicas=3), SVCS[1]])
    assert sorted(t['gateway_interface']['ip'] for t in plan['nodes']['node1']['tasks'] if t['gateway_interface']) \
        == ['172.18.0.2', '172.18.0.4']           # .3 was freed and is reused as late as possible


def test_internal_cannot_change_in_place():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, NETS, SVCS)
    with pytest.raises(_plan.PlanError) as err:
        c.plan(SEED_NODES, [NETS[0], dict(NETS[1], internal=False)], SVCS)
    assert 'network back-net exists with internal: true; internal cannot change in place' in str(err.value)


def test_the_gateway_subnet_is_checked_against_overlay_subnets_and_node_routes():
    nodes = [dict(SEED_NODES[0], routes=['172.31.1.0/24', '172.18.5.0/24']), SEED_NODES[1]]
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(nodes, NETS, SVCS)
    assert ('gwbridge_subnet (overlay_gwbridge_subnet) 172.18.0.0/16 overlaps route 172.18.5.0/24 on node node1; '
            'the node would lose its way there: choose another gateway subnet') in str(err.value)
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, [{'name': 'n', 'subnets': ['172.18.9.0/24']}],
                                 [{'name': 's', 'networks': ['n']}])
    assert 'overlaps subnet 172.18.9.0/24 of network n; choose another gateway subnet' in str(err.value)
    # another gateway subnet, as overlay_gwbridge_subnet gives it
    plan = Cluster(SEED_NODES).plan(nodes, NETS, SVCS, gwbridge_subnet='192.168.200.0/24')
    assert plan['nodes']['node1']['gateway']['address'] == '192.168.200.1/24'
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, NETS, SVCS, gwbridge_subnet='172.18.0.1/16')
    assert "gwbridge_subnet (overlay_gwbridge_subnet) '172.18.0.1/16' has host bits set" in str(err.value)


def test_changing_the_gateway_subnet_readdresses_every_way_out():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, NETS, SVCS)
    plan = c.plan(SEED_NODES, NETS, SVCS, gwbridge_subnet='10.250.0.0/16')
    assert {t['gateway_interface']['ip'] for t in by_name(plan).values() if t['gateway_interface']} == {
        '10.250.0.2', '10.250.0.3'}
    assert any('gateway bridge subnet changes to 10.250.0.0/16' in m['msg'] for m in c.messages)
    assert [t['addresses'] for t in svc_tasks(plan, 'web')] == [{'uber-net': '10.0.0.3'}, {'uber-net': '10.0.0.4'}]
