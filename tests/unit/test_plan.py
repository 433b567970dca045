# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/cluster/plan.py: the whole planner, from the seed's two-node
cluster to scaling, node loss, constraints, global services, validation and the peer sets."""

from __future__ import annotations

import copy
import json
import os
import random
import re
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.filter import overlay as _filters  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ids as _ids  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import names as _names  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import nodeplan as _nodeplan  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import taskspec as _taskspec  # noqa: E402

SEED_NODES = [
    {'hostname': 'node1', 'role': 'manager', 'addr': '172.31.1.5', 'routes': ['172.31.1.0/24', '0.0.0.0/0']},
    {'hostname': 'node2', 'role': 'worker', 'addr': '192.168.1.5', 'routes': ['192.168.1.0/24', '0.0.0.0/0']},
]


def node(host, addr, role='worker', **kw):
    return dict(hostname=host, addr=addr, role=role, **kw)


def three_nodes():
    return [node('node1', '172.31.1.5', 'manager'), node('node2', '192.168.1.5'), node('node3', '192.168.2.5')]


def cluster(nodes, seed=7):
    """A cluster state in which every present node of ``nodes`` has joined."""
    rng = random.Random(seed)
    st = _state.new_state(rng)
    for n in nodes:
        if n.get('state', 'present') == 'present':
            st = _state.record_node(st, {k: n[k] for k in ('hostname', 'role', 'addr') if k in n}, rng)
    return st


class Cluster:
    """A state plus a deterministic id source: run plan() repeatedly like the module does."""

    def __init__(self, nodes, seed=7):
        self.state = cluster(nodes, seed)
        self.rng = random.Random(seed + 1000)

    def plan(self, nodes, networks=(), services=(), **kw):
        inv = {'nodes': copy.deepcopy(list(nodes)), 'networks': copy.deepcopy(list(networks)),
               'services': copy.deepcopy(list(services))}
        opts = dict((k, kw.pop(k)) for k in list(kw) if k in ('require_joined', 'prune'))
        inv.update(kw)
        self.state, plan, self.messages = _plan.plan(self.state, inv, rng=self.rng, **opts)
        return plan


def svc_tasks(plan, name):
    return [s for s in plan['services'] if s['name'] == name][0]['tasks']


def all_peers(plan):
    for host, n in plan['nodes'].items():
        for sb in n['sandboxes']:
            for sub in sb['subnets']:
                for p in sub['peers']:
                    yield host, sb['network'], sub['subnet'], p


def errors_of(state, inv, **kw):
    with pytest.raises(_plan.PlanError) as exc:
        _plan.plan(state, inv, rng=random.Random(3), **kw)
    return exc.value.errors


# ============================================================================================
# the seed walkthrough

SEED_NET = [{'name': 'uber-net'}]
SEED_SVC = [{'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': 'sleep infinity'}]


def seed_plan():
    c = Cluster(SEED_NODES)
    return c, c.plan(SEED_NODES, SEED_NET, SEED_SVC)


def test_seed_network():
    dummy, plan = seed_plan()
    (net,) = plan['networks']
    assert net['name'] == 'uber-net' and _ids.ID_RE.match(net['id'])
    assert net['scope'] == 'swarm' and net['driver'] == 'overlay' and net['state'] == 'present'
    assert net['subnets'] == [{'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'vni': 4096}]
    assert net['mtu'] == 1450 and net['encrypted'] is False
    assert net['netns'] == 'ov-' + net['id'][:10]


def test_seed_tasks_and_addresses():
    """The seed's addresses: Docker hands 10.0.0.2 to the service's VIP, then .3 and .4 to its tasks."""
    dummy, plan = seed_plan()
    t1, t2 = svc_tasks(plan, 'test')
    assert (t1['slot'], t1['node'], t1['addresses']) == (1, 'node1', {'uber-net': '10.0.0.3'})
    assert (t2['slot'], t2['node'], t2['addresses']) == (2, 'node2', {'uber-net': '10.0.0.4'})
    (svc,) = plan['services']
    assert svc['endpoint_mode'] == 'vip' and svc['vips'] == {'uber-net': '10.0.0.2'}
    assert plan['endpoints'] == {'uber-net': [{'service': 'test', 'vip': '10.0.0.2',
                                               'backends': ['10.0.0.3', '10.0.0.4']}]}
    for t in (t1, t2):
        assert re.match(r'^test\.%d\.[0-9a-z]{25}$' % t['slot'], t['name'])
        assert t['name'] == 'test.%d.%s' % (t['slot'], t['id'])
        assert t['desired_state'] == 'running'
    (svc,) = plan['services']
    assert svc['mode'] == 'replicated' and svc['replicas'] == 2 and svc['networks'] == ['uber-net']
    assert svc['command'] == ['sleep', 'infinity']


def test_seed_node_plans():
    dummy, plan = seed_plan()
    n1, n2 = plan['nodes']['node1'], plan['nodes']['node2']
    assert n1['role'] == 'manager' and n2['role'] == 'worker' and n1['state'] == n2['state'] == 'ready'
    net_id = plan['networks'][0]['id']
    for n, me, other, other_addr in ((n1, '10.0.0.3', '10.0.0.4', '192.168.1.5'),
                                     (n2, '10.0.0.4', '10.0.0.3', '172.31.1.5')):
        (sb,) = n['sandboxes']
        assert sb['network'] == 'uber-net' and sb['network_id'] == net_id and sb['netns'] == 'ov-' + net_id[:10]
        assert sb['mtu'] == 1450 and sb['ip_forward'] is False and sb['encrypted'] is False
        (sub,) = sb['subnets']
        assert sub == {'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'prefixlen': 24, 'address': '10.0.0.1/24',
                       'vni': 4096, 'bridge': 'br0', 'vxlan': 'vxlan0',
                       'peers': [{'ip': other, 'mac': '02:42:0a:00:00:0%s' % other[-1], 'vtep': other_addr}],
                       'flood': []}
        (task,) = n['tasks']
        assert task['netns'] == task['name'] and task['command'] == ['sleep', 'infinity']
        (iface,) = task['interfaces']
        assert iface['ifname'] == 'eth0' and iface['bridge'] == 'br0' and iface['sandbox'] == sb['netns']
        assert iface['ip'] == me and iface['address'] == me + '/24'
        assert iface['mac'] == '02:42:0a:00:00:0%s' % me[-1]
        assert iface['mtu'] == 1450 and iface['routes'] == []
        assert re.match(r'^veth[0-9a-f]{7}$', iface['veth'])
        assert task['endpoint_networks'] == task['hosts_networks'] == ['uber-net']
        assert n['gc_thresh'] == [8192, 49152, 65536]
        assert n['remote_vteps'] == [{'hostname': 'node2' if n is n1 else 'node1', 'addr': other_addr,
                                      'encrypted': False}]


def task_hosts(plan, host, i=0):
    """The hosts file the task module writes for the node's i-th task, from what the roles send it
    (the node_plan filter: the node's part of the plan with its networks' name tables)."""
    node = _filters.node_plan(plan, host)
    return _taskspec.compose_hosts(node['tasks'][i]['hosts_networks'], node['name_tables'])


def test_seed_hosts_file():
    dummy, plan = seed_plan()
    t1, t2 = svc_tasks(plan, 'test')
    hosts = task_hosts(plan, 'node1')
    lines = hosts.splitlines()
    assert lines[0] == '127.0.0.1\tlocalhost'
    assert lines[1].startswith('::1\tlocalhost')
    # the service name is the VIP; tasks.<service> and the task names are the tasks
    assert lines[2:] == ['# linuxnet.overlay network uber-net', '10.0.0.2\ttest',
                         '10.0.0.3\t%s.uber-net %s tasks.test' % (t1['name'], t1['name']),
                         '10.0.0.4\t%s.uber-net %s tasks.test' % (t2['name'], t2['name'])]
    # same content on both nodes: the file lists every task of the network
    assert hosts == task_hosts(plan, 'node2')
    assert _filters.node_plan(plan, 'node2')['endpoints'] == plan['endpoints']


def test_dnsrr_service_has_no_vip_and_its_name_is_every_task():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], endpoint_mode='dnsrr')])
    t1, t2 = svc_tasks(plan, 'test')
    assert (t1['addresses'], t2['addresses']) == ({'uber-net': '10.0.0.2'}, {'uber-net': '10.0.0.3'})
    (svc,) = plan['services']
    assert svc['endpoint_mode'] == 'dnsrr' and svc['vips'] == {}
    assert plan['endpoints'] == {'uber-net': []}
    lines = task_hosts(plan, 'node1').splitlines()
    assert lines[3:] == ['10.0.0.2\t%s.uber-net %s test tasks.test' % (t1['name'], t1['name']),
                         '10.0.0.3\t%s.uber-net %s test tasks.test' % (t2['name'], t2['name'])]
    assert 'endpoint_mode' in c.state['services']['test'] and 'vips' not in c.state['services']['test']


def test_endpoint_mode_switch_frees_and_allocates_the_vip_keeping_task_addresses():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    plan = c.plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], endpoint_mode='dnsrr')])
    assert [t['addresses'] for t in svc_tasks(plan, 'test')] == [{'uber-net': '10.0.0.3'}, {'uber-net': '10.0.0.4'}]
    assert plan['services'][0]['vips'] == {}
    assert '10.0.0.2' not in c.state['networks']['uber-net']['subnets'][0]['allocated']
    assert 'service test: endpoint mode changes to dnsrr' in [m['msg'] for m in c.messages]
    plan = c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    assert [t['addresses'] for t in svc_tasks(plan, 'test')] == [{'uber-net': '10.0.0.3'}, {'uber-net': '10.0.0.4'}]
    assert plan['services'][0]['vips'] == {'uber-net': '10.0.0.5'}     # serial: the next free address


def test_state_from_before_vips_keeps_task_addresses_and_gets_a_vip_from_the_free_ones():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], endpoint_mode='dnsrr')])
    old = copy.deepcopy(c.state)
    del old['services']['test']['endpoint_mode']           # what a state written before VIPs holds
    c.state = old
    plan = c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    assert [t['addresses'] for t in svc_tasks(plan, 'test')] == [{'uber-net': '10.0.0.2'}, {'uber-net': '10.0.0.3'}]
    assert plan['services'][0]['vips'] == {'uber-net': '10.0.0.4'}
    assert c.state['version'] == old['version'] + 1
    assert c.state['networks']['uber-net']['subnets'][0]['allocated']['10.0.0.4'] == c.state['services']['test']['id']


def test_bad_endpoint_mode_is_named():
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], endpoint_mode='ipvs')])
    assert "service test: endpoint_mode 'ipvs' is not vip" in str(err.value)


def test_no_room_for_the_vip_is_an_error_that_suggests_dnsrr():
    net = [{'name': 'tiny', 'subnets': ['10.9.0.0/30']}]
    svc = [{'name': 's', 'networks': ['tiny'], 'replicas': 0}, {'name': 't', 'networks': ['tiny'], 'replicas': 0}]
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, net, svc)
    assert ('network tiny: no free address left in subnet 10.9.0.0/30 for the virtual IP of service t; add a '
            'subnet, use fewer tasks or endpoint_mode: dnsrr (no virtual IP)') in str(err.value)


def test_seed_plan_is_json_and_holds_no_secret():
    c, plan = seed_plan()
    text = json.dumps(plan)
    assert json.loads(text) == plan
    for secret in list(_state.tokens(c.state).values()) + list(c.state['secrets'].values()):
        assert secret not in text


def test_seed_messages():
    c, dummy = seed_plan()
    msgs = [m['msg'] for m in c.messages]
    assert 'network uber-net created: 10.0.0.0/24 gateway 10.0.0.1 VNI 4096' in msgs
    assert any(m.startswith('task test.1.') and m.endswith('on node node1') for m in msgs)


def test_inputs_are_not_mutated():
    st = cluster(SEED_NODES)
    before = copy.deepcopy(st)
    inv = {'nodes': copy.deepcopy(SEED_NODES), 'networks': copy.deepcopy(SEED_NET), 'services': copy.deepcopy(SEED_SVC)}
    inv_before = copy.deepcopy(inv)
    _plan.plan(st, inv, rng=random.Random(1))
    assert st == before and inv == inv_before


# ============================================================================================
# stability

def test_rerun_is_identical():
    c, plan = seed_plan()
    state = copy.deepcopy(c.state)
    plan2 = c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    assert plan2 == plan and c.state == state and c.messages == []
    assert plan2['cluster']['version'] == plan['cluster']['version']


def test_rerun_after_json_round_trip_is_identical():
    c, plan = seed_plan()
    c.state = json.loads(_state.dumps(c.state))
    assert c.plan(SEED_NODES, SEED_NET, SEED_SVC) == plan


def test_version_goes_up_only_on_change():
    c, plan = seed_plan()
    v = plan['cluster']['version']
    plan2 = c.plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], replicas=3)])
    assert plan2['cluster']['version'] == v + 1
    assert c.plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], replicas=3)])['cluster']['version'] == v + 1


# ============================================================================================
# several subnets in one network

PROD = [{'name': 'prod-net', 'subnets': ['10.1.1.0/24', '11.1.1.0/24']}]


def test_two_subnets_two_vnis_two_bridges_and_routes():
    """Task addresses alone (dnsrr: no VIP takes the first address of a subnet)."""
    c = Cluster(SEED_NODES)
    svcs = [{'name': 'a', 'networks': ['prod-net'], 'replicas': 1, 'endpoint_mode': 'dnsrr'},
            {'name': 'b', 'networks': [{'name': 'prod-net', 'subnet': '11.1.1.0/24'}], 'replicas': 1, 'endpoint_mode': 'dnsrr'}]
    plan = c.plan(SEED_NODES, PROD, svcs)
    (net,) = plan['networks']
    assert net['subnets'] == [{'subnet': '10.1.1.0/24', 'gateway': '10.1.1.1', 'vni': 4096},
                              {'subnet': '11.1.1.0/24', 'gateway': '11.1.1.1', 'vni': 4097}]
    (ta,), (tb,) = svc_tasks(plan, 'a'), svc_tasks(plan, 'b')
    assert ta['node'] == 'node1' and tb['node'] == 'node2'  # spread: node2 has fewer tasks overall
    assert ta['addresses'] == {'prod-net': '10.1.1.2'} and tb['addresses'] == {'prod-net': '11.1.1.2'}
    for host in ('node1', 'node2'):
        (sb,) = plan['nodes'][host]['sandboxes']
        assert sb['ip_forward'] is True
        assert [(s['bridge'], s['vxlan'], s['vni'], s['address']) for s in sb['subnets']] == [
            ('br0', 'vxlan0', 4096, '10.1.1.1/24'), ('br1', 'vxlan1', 4097, '11.1.1.1/24')]
    ia = plan['nodes']['node1']['tasks'][0]['interfaces'][0]
    ib = plan['nodes']['node2']['tasks'][0]['interfaces'][0]
    assert ia['bridge'] == 'br0' and ia['routes'] == [{'dst': '11.1.1.0/24', 'via': '10.1.1.1'}]
    assert ib['bridge'] == 'br1' and ib['routes'] == [{'dst': '10.1.1.0/24', 'via': '11.1.1.1'}]
    # node1 reaches b's task through vxlan1, node2 reaches a's task through vxlan0
    n1 = plan['nodes']['node1']['sandboxes'][0]['subnets']
    assert n1[0]['peers'] == []
    assert n1[1]['peers'] == [{'ip': '11.1.1.2', 'mac': '02:42:0b:01:01:02', 'vtep': '192.168.1.5'}]
    n2 = plan['nodes']['node2']['sandboxes'][0]['subnets']
    assert n2[0]['peers'] == [{'ip': '10.1.1.2', 'mac': '02:42:0a:01:01:02', 'vtep': '172.31.1.5'}] and n2[1]['peers'] == []


def test_second_subnet_used_when_first_is_full():
    """Task addresses alone (dnsrr: no VIP takes the first address of a subnet)."""
    c = Cluster(SEED_NODES)
    net = [{'name': 'tiny', 'subnets': ['10.2.0.0/30', '10.3.0.0/30']}]  # one task address each
    plan = c.plan(SEED_NODES, net, [{'name': 's', 'networks': ['tiny'], 'replicas': 2, 'endpoint_mode': 'dnsrr'}])
    assert [t['addresses']['tiny'] for t in svc_tasks(plan, 's')] == ['10.2.0.2', '10.3.0.2']
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'networks': net,
                               'services': [{'name': 's', 'networks': ['tiny'], 'replicas': 5, 'endpoint_mode': 'dnsrr'}]})
    assert len(errs) == 1, errs
    assert re.match(r'^network tiny: no free address left in subnet 10\.2\.0\.0/30, 10\.3\.0\.0/30 \(2 task '
                    r'addresses\) for 3 task\(s\) of service s, first s\.3\.[0-9a-z]{25}; add a subnet', errs[0]), errs


def test_subnet_pin_must_exist():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, PROD, [])
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'networks': PROD,
                               'services': [{'name': 's', 'networks': [{'name': 'prod-net', 'subnet': '12.0.0.0/24'}]}]})
    assert errs == ['service s: network prod-net has no subnet 12.0.0.0/24 (it has 10.1.1.0/24, 11.1.1.0/24)']


def test_changing_a_pin_readdresses_the_task():
    """Task addresses alone (dnsrr: no VIP takes the first address of a subnet)."""
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, PROD, [{'name': 's', 'networks': ['prod-net'], 'endpoint_mode': 'dnsrr'}])
    assert svc_tasks(plan, 's')[0]['addresses'] == {'prod-net': '10.1.1.2'}
    plan = c.plan(SEED_NODES, PROD, [{'name': 's', 'networks': [{'name': 'prod-net', 'subnet': '11.1.1.0/24'}], 'endpoint_mode': 'dnsrr'}])
    assert svc_tasks(plan, 's')[0]['addresses'] == {'prod-net': '11.1.1.2'}
    assert c.state['networks']['prod-net']['subnets'][0]['allocated'] == {}


# ============================================================================================
# scaling

def test_scale_2_5_1_and_up_again():
    nodes = three_nodes()
    c = Cluster(nodes)

    def svc(n):
        return [{'name': 'web', 'networks': ['uber-net'], 'replicas': n}]
    p2 = c.plan(nodes, SEED_NET, svc(2))
    t2 = svc_tasks(p2, 'web')
    assert [(t['slot'], t['node'], t['addresses']['uber-net']) for t in t2] == [
        (1, 'node1', '10.0.0.3'), (2, 'node2', '10.0.0.4')]
    p5 = c.plan(nodes, SEED_NET, svc(5))
    t5 = svc_tasks(p5, 'web')
    assert t5[:2] == t2  # existing tasks stay where they are, same ids and addresses
    assert [(t['slot'], t['node'], t['addresses']['uber-net']) for t in t5[2:]] == [
        (3, 'node3', '10.0.0.5'), (4, 'node1', '10.0.0.6'), (5, 'node2', '10.0.0.7')]
    p1 = c.plan(nodes, SEED_NET, svc(1))
    assert svc_tasks(p1, 'web') == t2[:1]  # the highest slots go
    assert sorted(t['name'] for t in p1['removed']['tasks']) == sorted(t['name'] for t in t5[1:])
    assert all(r['reason'] == 'scaled down to 1' for r in p1['removed']['tasks'])
    vip_owner = c.state['services']['web']['id']       # the VIP stays through every scale
    assert c.state['networks']['uber-net']['subnets'][0]['allocated'] == {'10.0.0.2': vip_owner, '10.0.0.3': t2[0]['id']}
    assert p1['nodes']['node2']['tasks'] == [] and p1['nodes']['node2']['sandboxes'] == []  # lazy: gone
    p3 = c.plan(nodes, SEED_NET, svc(3))
    t3 = svc_tasks(p3, 'web')
    # freed addresses come back as late as possible: .8 and .9, not .4 and .5
    assert [(t['slot'], t['addresses']['uber-net']) for t in t3] == [(1, '10.0.0.3'), (2, '10.0.0.8'), (3, '10.0.0.9')]
    assert t3[1]['id'] not in [t['id'] for t in t5]
    assert p3['services'][0]['vips'] == {'uber-net': '10.0.0.2'}


def test_scale_to_zero_keeps_service():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    plan = c.plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], replicas=0)])
    assert svc_tasks(plan, 'test') == [] and plan['services'][0]['replicas'] == 0
    assert all(n['sandboxes'] == [] for n in plan['nodes'].values())


def test_spread_counts_other_services():
    nodes = three_nodes()
    c = Cluster(nodes)
    plan = c.plan(nodes, SEED_NET, [{'name': 'a', 'networks': ['uber-net'], 'replicas': 2},
                                    {'name': 'b', 'networks': ['uber-net'], 'replicas': 2}])
    assert [t['node'] for t in svc_tasks(plan, 'a')] == ['node1', 'node2']
    assert [t['node'] for t in svc_tasks(plan, 'b')] == ['node3', 'node1']


# ============================================================================================
# nodes leaving

def test_node_absent_from_input_tasks_replaced_and_no_stale_peer():
    nodes = three_nodes()
    c = Cluster(nodes)
    svc = [{'name': 'web', 'networks': ['uber-net'], 'replicas': 3}]
    before = svc_tasks(c.plan(nodes, SEED_NET, svc), 'web')
    assert [t['node'] for t in before] == ['node1', 'node2', 'node3']
    remaining = [nodes[0], nodes[2]]
    plan = c.plan(remaining, SEED_NET, svc)
    after = svc_tasks(plan, 'web')
    assert after[0] == before[0] and after[2] == before[2]
    moved = after[1]
    assert moved['slot'] == 2 and moved['node'] == 'node1'  # node1 and node3 tie, node order wins
    assert moved['id'] != before[1]['id'] and moved['addresses']['uber-net'] == '10.0.0.6'  # new address
    assert plan['removed']['tasks'] == [{'name': before[1]['name'], 'id': before[1]['id'], 'service': 'web',
                                         'node': 'node2', 'reason': 'node node2 left'}]
    assert plan['nodes']['node2']['state'] == 'down' and plan['nodes']['node2']['sandboxes'] == []
    assert c.state['nodes']['node2']['state'] == 'down'
    assert not [p for p in all_peers(plan) if p[3]['vtep'] == '192.168.1.5']
    assert not any(v['addr'] == '192.168.1.5' for n in plan['nodes'].values() for v in n['remote_vteps'])
    assert any(m['level'] == 'warning' and 'node2' in m['msg'] for m in c.messages)
    # node3 now has peers for both tasks on node1
    assert [p['ip'] for p in plan['nodes']['node3']['sandboxes'][0]['subnets'][0]['peers']] == ['10.0.0.3', '10.0.0.6']


def test_node_state_absent_is_removed():
    nodes = three_nodes()
    c = Cluster(nodes)
    old = c.plan(nodes, SEED_NET, [{'name': 'web', 'networks': ['uber-net'], 'replicas': 3}])
    node2_id = old['nodes']['node2']['id']
    gone = [nodes[0], dict(nodes[1], state='absent'), nodes[2]]
    plan = c.plan(gone, SEED_NET, [{'name': 'web', 'networks': ['uber-net'], 'replicas': 3}])
    assert 'node2' not in c.state['nodes']
    assert plan['removed']['nodes'] == [{'hostname': 'node2', 'id': node2_id}]
    n2 = plan['nodes']['node2']
    assert n2['state'] == 'absent' and n2['tasks'] == [] and n2['sandboxes'] == [] and n2['id'] == node2_id
    assert not [p for p in all_peers(plan) if p[3]['vtep'] == '192.168.1.5']
    assert [t['node'] for t in svc_tasks(plan, 'web')] == ['node1', 'node1', 'node3']


def test_node_back_keeps_its_id_but_not_its_old_tasks():
    nodes = three_nodes()
    c = Cluster(nodes)
    svc = [{'name': 'web', 'networks': ['uber-net'], 'replicas': 3}]
    first = c.plan(nodes, SEED_NET, svc)
    c.plan([nodes[0], nodes[2]], SEED_NET, svc)
    back = c.plan(nodes, SEED_NET, svc)
    assert back['nodes']['node2']['id'] == first['nodes']['node2']['id'] and back['nodes']['node2']['state'] == 'ready'
    assert [t['node'] for t in svc_tasks(back, 'web')] == ['node1', 'node1', 'node3']  # no rebalancing


def test_rejoined_node_with_new_id_loses_its_tasks():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    c.state = _state.leave(c.state, 'node2')
    c.state = _state.record_node(c.state, {'hostname': 'node2', 'role': 'worker', 'addr': '192.168.1.5'},
                                 random.Random(99))
    plan = c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    assert plan['removed']['tasks'][0]['reason'] == 'node node2 joined again with a new id'
    assert svc_tasks(plan, 'test')[1]['node_id'] == plan['nodes']['node2']['id']


def test_node_outside_the_run_that_never_joined_is_left_out_not_refused():
    # --limit node1 on a fresh cluster: node2 is listed in the inventory but has no facts in this
    # run and no record; it is no member yet (as in Swarm), so the run goes on without it
    st = cluster(SEED_NODES[:1])
    new, plan, msgs = _plan.plan(st, {'nodes': [SEED_NODES[0], {'hostname': 'node2', 'role': 'worker'}],
                                      'networks': SEED_NET, 'services': SEED_SVC}, rng=random.Random(1))
    assert sorted(plan['nodes']) == ['node1']
    assert 'node2' not in new['nodes']
    assert [t['node'] for t in svc_tasks(plan, 'test')] == ['node1', 'node1']
    assert any('node2' in m['msg'] and 'not in this run and not joined yet' in m['msg'] for m in msgs)
    # the same node with its facts (in the run) but not joined is still refused
    assert errors_of(st, {'nodes': SEED_NODES}) == [
        'node node2 has not joined the cluster: join it first (swarm, role: join) with the worker token']


def test_not_joined_node_is_refused_unless_allowed():
    st = cluster(SEED_NODES[:1])
    errs = errors_of(st, {'nodes': SEED_NODES})
    assert errs == ['node node2 has not joined the cluster: join it first (swarm, role: join) with the worker token']
    new, plan, msgs = _plan.plan(st, {'nodes': SEED_NODES}, rng=random.Random(1), require_joined=False)
    assert _ids.ID_RE.match(plan['nodes']['node2']['id'])
    assert any('without a join' in m['msg'] for m in msgs)


# ============================================================================================
# constraints and global mode

LABELLED = [node('node1', '10.10.0.1', 'manager', labels={'zone': 'a'}),
            node('node2', '10.10.0.2', labels={'zone': 'b'}),
            node('node3', '10.10.0.3', labels={'zone': 'a'})]


def test_constraints_restrict_placement():
    c = Cluster(LABELLED)
    plan = c.plan(LABELLED, SEED_NET, [
        {'name': 'w', 'networks': ['uber-net'], 'replicas': 3, 'constraints': ['node.role==worker']},
        {'name': 'z', 'networks': ['uber-net'], 'replicas': 2, 'constraints': ['node.labels.zone==a']},
        {'name': 'h', 'networks': ['uber-net'], 'replicas': 1,
         'constraints': ['node.hostname!=node1', 'node.labels.zone!=b']},
    ])
    assert [t['node'] for t in svc_tasks(plan, 'w')] == ['node2', 'node3', 'node2']
    assert [t['node'] for t in svc_tasks(plan, 'z')] == ['node1', 'node3']
    assert [t['node'] for t in svc_tasks(plan, 'h')] == ['node3']


def test_constraint_by_node_id():
    c = Cluster(LABELLED)
    node3_id = c.state['nodes']['node3']['id']
    plan = c.plan(LABELLED, SEED_NET, [{'name': 'x', 'networks': ['uber-net'], 'replicas': 2,
                                        'constraints': ['node.id==%s' % node3_id]}])
    assert [t['node'] for t in svc_tasks(plan, 'x')] == ['node3', 'node3']


def test_unsatisfiable_constraint_is_an_error():
    st = cluster(LABELLED)
    errs = errors_of(st, {'nodes': LABELLED, 'networks': SEED_NET, 'services': [
        {'name': 'x', 'networks': ['uber-net'], 'constraints': ['node.labels.zone==c']},
        {'name': 'y', 'networks': ['uber-net'], 'constraints': ['node.role==manager', 'node.labels.zone==b']},
        {'name': 'zero', 'replicas': 0, 'constraints': ['node.labels.zone==c']}]})
    assert errs == ["service x: no node satisfies constraint 'node.labels.zone==c' (node.labels.zone is 'a' on node1, "
                    "node3; 'b' on node2); fix the constraint or the nodes' overlay_node_labels",
                    "service y: no node satisfies all of its constraints together: 'node.role==manager', "
                    "'node.labels.zone==b'"]


def test_no_node_at_all():
    st = cluster([])
    assert errors_of(st, {'networks': SEED_NET, 'services': SEED_SVC}) == [
        'service test: no node is available to run its tasks']


def test_task_moves_when_its_node_stops_matching():
    c = Cluster(LABELLED)
    svc = [{'name': 'z', 'networks': ['uber-net'], 'replicas': 1, 'constraints': ['node.labels.zone==b']}]
    (t,) = svc_tasks(c.plan(LABELLED, SEED_NET, svc), 'z')
    assert t['node'] == 'node2'
    relabelled = [LABELLED[0], dict(LABELLED[1], labels={'zone': 'a'}), dict(LABELLED[2], labels={'zone': 'b'})]
    plan = c.plan(relabelled, SEED_NET, svc)
    (t2,) = svc_tasks(plan, 'z')
    assert t2['node'] == 'node3' and t2['id'] != t['id'] and t2['slot'] == 1
    assert plan['removed']['tasks'][0]['reason'] == 'node node2 no longer satisfies the constraints'


def test_global_mode():
    c = Cluster(LABELLED)
    svc = [{'name': 'agent', 'mode': 'global', 'networks': ['uber-net'], 'constraints': ['node.labels.zone==a']}]
    plan = c.plan(LABELLED, SEED_NET, svc)
    tasks = svc_tasks(plan, 'agent')
    ids = c.state['nodes']
    assert [t['node'] for t in tasks] == ['node1', 'node3']
    for t in tasks:
        assert t['slot'] is None
        assert t['name'] == 'agent.%s.%s' % (ids[t['node']]['id'], t['id'])
    assert plan['services'][0]['replicas'] == 2 and plan['services'][0]['mode'] == 'global'
    # node2 gains the label: it gets a task, the others keep theirs
    relabelled = [LABELLED[0], dict(LABELLED[1], labels={'zone': 'a'}), LABELLED[2]]
    plan2 = c.plan(relabelled, SEED_NET, svc)
    tasks2 = svc_tasks(plan2, 'agent')
    assert [t['node'] for t in tasks2] == ['node1', 'node2', 'node3']
    assert tasks2[0] == tasks[0] and tasks2[2] == tasks[1]
    # node3 leaves: its task goes with it and is not placed elsewhere
    plan3 = c.plan(relabelled[:2], SEED_NET, svc)
    assert [t['node'] for t in svc_tasks(plan3, 'agent')] == ['node1', 'node2']
    assert [r['name'] for r in plan3['removed']['tasks']] == [tasks[1]['name']]


def test_mode_change_replaces_tasks():
    c = Cluster(SEED_NODES)
    old = svc_tasks(c.plan(SEED_NODES, SEED_NET, SEED_SVC), 'test')
    svc = [{'name': 'test', 'networks': ['uber-net'], 'mode': 'global'}]
    plan = c.plan(SEED_NODES, SEED_NET, svc)
    new = svc_tasks(plan, 'test')
    assert not set(t['id'] for t in old) & set(t['id'] for t in new)
    assert len(plan['removed']['tasks']) == 2 and len(new) == 2


# ============================================================================================
# networks: allocation, removal, explicit values

def test_second_network_gets_next_subnet_and_vni():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'a'}, {'name': 'b'}, {'name': 'c', 'subnets': ['10.0.1.0/24']}])
    assert [(n['name'], n['subnets'][0]['subnet'], n['subnets'][0]['vni']) for n in plan['networks']] == [
        ('a', '10.0.0.0/24', 4096), ('b', '10.0.2.0/24', 4097), ('c', '10.0.1.0/24', 4098)]


def test_explicit_values_are_claimed_before_automatic_ones():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'a'}, {'name': 'b', 'subnets': ['10.0.0.0/24'], 'vnis': [4096]}])
    assert [(n['name'], n['subnets'][0]['subnet'], n['subnets'][0]['vni']) for n in plan['networks']] == [
        ('a', '10.0.1.0/24', 4097), ('b', '10.0.0.0/24', 4096)]


def test_pool_and_mask_options():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'a'}, {'name': 'b'}], default_addr_pool=['172.20.0.0/16'], mask_length=26)
    assert [n['subnets'][0]['subnet'] for n in plan['networks']] == ['172.20.0.0/26', '172.20.0.64/26']
    assert plan['cluster']['default_addr_pool'] == ['172.20.0.0/16'] and plan['cluster']['mask_length'] == 26


def test_auto_subnet_skips_node_routes():
    nodes = [dict(SEED_NODES[0], routes=['10.0.0.0/23', '0.0.0.0/0', 'fd00::/64']), SEED_NODES[1]]
    c = Cluster(nodes)
    plan = c.plan(nodes, SEED_NET)
    assert plan['networks'][0]['subnets'][0]['subnet'] == '10.0.2.0/24'


def test_auto_subnet_skips_data_path_address():
    nodes = [node('n1', '10.0.0.9', 'manager')]
    c = Cluster(nodes)
    assert c.plan(nodes, SEED_NET)['networks'][0]['subnets'][0]['subnet'] == '10.0.1.0/24'


def test_explicit_subnet_overlapping_route_names_node_and_route():
    nodes = [dict(SEED_NODES[0], routes=['10.5.0.0/16']), SEED_NODES[1]]
    st = cluster(nodes)
    errs = errors_of(st, {'nodes': nodes, 'networks': [{'name': 'x', 'subnets': ['10.5.3.0/24']}]})
    assert errs == ['network x: subnet 10.5.3.0/24 overlaps route 10.5.0.0/16 on node node1; the node would lose its '
                    'way to that network: choose another subnet']


def test_explicit_subnet_overlapping_existing_network():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET)
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'networks': SEED_NET + [{'name': 'x', 'subnets': ['10.0.0.0/16']}]})
    assert errs == ['network x: subnet 10.0.0.0/16 overlaps subnet 10.0.0.0/24 of network uber-net; overlay subnets must '
                    'not overlap: choose another subnet, or leave subnets out to get a free one of the pool']


def test_existing_network_overlapping_a_new_route_is_a_warning():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET)
    nodes = [dict(SEED_NODES[0], routes=['10.0.0.0/8']), SEED_NODES[1]]
    c.plan(nodes, SEED_NET)
    assert [m for m in c.messages if m['level'] == 'warning'] == [{'level': 'warning', 'msg': (
        'network uber-net: subnet 10.0.0.0/24 overlaps route 10.0.0.0/8 on node node1 (the network already exists '
        'and keeps its subnet)')}]


def test_pool_exhausted():
    st = cluster(SEED_NODES)
    errs = errors_of(st, {'nodes': SEED_NODES, 'networks': [{'name': 'a'}, {'name': 'b'}],
                          'default_addr_pool': ['10.9.0.0/24'], 'mask_length': 24})
    assert len(errs) == 1 and errs[0].startswith('network b: the address pool 10.9.0.0/24 is exhausted')


def test_explicit_gateway_and_vni():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'g', 'subnets': ['10.7.0.0/24', '10.8.0.0/24'],
                                'gateway': ['10.7.0.254', None], 'vnis': [5000, 6000]}],
                  [{'name': 's', 'networks': ['g'], 'replicas': 1}])
    assert plan['networks'][0]['subnets'] == [{'subnet': '10.7.0.0/24', 'gateway': '10.7.0.254', 'vni': 5000},
                                              {'subnet': '10.8.0.0/24', 'gateway': '10.8.0.1', 'vni': 6000}]
    assert plan['services'][0]['vips'] == {'g': '10.7.0.1'}    # the first free address, the gateway is .254
    iface = plan['nodes']['node1']['tasks'][0]['interfaces'][0]
    assert iface['ip'] == '10.7.0.2' and iface['routes'] == [{'dst': '10.8.0.0/24', 'via': '10.7.0.254'}]
    # the next automatic VNI is still the first free one from 4096
    plan = c.plan(SEED_NODES, [{'name': 'g', 'subnets': ['10.7.0.0/24', '10.8.0.0/24'],
                                'gateway': ['10.7.0.254', None], 'vnis': [5000, 6000]}, {'name': 'h'}],
                  [{'name': 's', 'networks': ['g'], 'replicas': 1}])
    assert plan['networks'][1]['subnets'][0]['vni'] == 4096


def test_single_gateway_string():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'g', 'subnets': ['10.7.0.0/24'], 'gateway': '10.7.0.100'}])
    assert plan['networks'][0]['subnets'][0]['gateway'] == '10.7.0.100'


def test_explicit_vni_collision_with_existing_network():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET)
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'networks': SEED_NET + [{'name': 'x', 'vnis': [4096]}]})
    assert errs == ['network x: VNI 4096 is already used by network uber-net; choose another VNI, or leave vnis out to '
                    'get a free one']


def test_network_changes_in_place_are_refused_but_mtu_and_encryption_change():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET)
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'networks': [
        {'name': 'uber-net', 'subnets': ['10.0.9.0/24'], 'vnis': [7000]}]})
    assert errs == ['network uber-net exists with subnets 10.0.0.0/24; subnets cannot change in place: remove the '
                    'network (state: absent) and create it again',
                    'network uber-net exists with VNI(s) 4096; VNIs cannot change in place']
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'networks': [
        {'name': 'uber-net', 'subnets': ['10.0.0.0/24'], 'gateway': '10.0.0.9'}]})
    assert errs == ['network uber-net exists with gateway(s) 10.0.0.1; gateways cannot change in place']
    # restating what exists is fine
    c.plan(SEED_NODES, [{'name': 'uber-net', 'subnets': ['10.0.0.0/24'], 'gateway': '10.0.0.1', 'vnis': [4096]}])
    plan = c.plan(SEED_NODES, [{'name': 'uber-net', 'encrypted': True, 'mtu': 1300}])
    assert plan['networks'][0]['encrypted'] is True and plan['networks'][0]['mtu'] == 1300


def test_network_removal_frees_subnet_and_vni():
    c = Cluster(SEED_NODES)
    first = c.plan(SEED_NODES, [{'name': 'a'}, {'name': 'b'}])
    a = first['networks'][0]
    plan = c.plan(SEED_NODES, [{'name': 'a', 'state': 'absent'}, {'name': 'b'}])
    assert plan['removed']['networks'] == [{'name': 'a', 'id': a['id'], 'netns': 'ov-' + a['id'][:10],
                                            'subnets': [{'subnet': '10.0.0.0/24', 'vni': 4096}]}]
    assert [n['name'] for n in plan['networks']] == ['b']
    plan = c.plan(SEED_NODES, [{'name': 'b'}, {'name': 'c'}])
    assert plan['networks'][1]['subnets'] == [{'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'vni': 4096}]
    assert plan['networks'][1]['id'] != a['id']
    # removing what does not exist is a no-op
    v = plan['cluster']['version']
    assert c.plan(SEED_NODES, [{'name': 'b'}, {'name': 'c'}, {'name': 'zz', 'state': 'absent'}])['cluster']['version'] == v


def test_networks_missing_from_input_are_kept_unless_prune():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    plan = c.plan(SEED_NODES, [], [])
    assert [n['name'] for n in plan['networks']] == ['uber-net'] and len(svc_tasks(plan, 'test')) == 2
    plan = c.plan(SEED_NODES, [], [], prune=True)
    assert plan['networks'] == [] and plan['services'] == []
    assert [s['name'] for s in plan['removed']['services']] == ['test']
    assert [n['name'] for n in plan['removed']['networks']] == ['uber-net']
    assert len(plan['removed']['tasks']) == 2


def test_prune_refuses_network_still_used_by_kept_service():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'services': SEED_SVC}, prune=True)
    assert errs == ['network uber-net is not in the input (prune removes it) but service test still uses it']


def test_service_removal_frees_addresses_serially():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    plan = c.plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], state='absent'),
                                         {'name': 'other', 'networks': ['uber-net'], 'replicas': 2}])
    assert plan['removed']['services'][0]['name'] == 'test'
    assert len(plan['removed']['services'][0]['tasks']) == 2
    assert [t['addresses']['uber-net'] for t in svc_tasks(plan, 'other')] == ['10.0.0.6', '10.0.0.7']
    assert plan['services'][-1]['vips'] == {'uber-net': '10.0.0.5'}   # after test's .2 (VIP), .3 and .4


def test_multi_network_service_interfaces_in_order():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'front'}, {'name': 'back'}],
                  [{'name': 'api', 'networks': ['back', 'front'], 'replicas': 1},
                   {'name': 'db', 'networks': ['back'], 'replicas': 1}])
    (task,) = plan['nodes']['node1']['tasks']
    assert [(i['ifname'], i['network'], i['ip']) for i in task['interfaces']] == [
        ('eth0', 'back', '10.0.1.3'), ('eth1', 'front', '10.0.0.3')]
    assert len(set(i['veth'] for i in task['interfaces'])) == 2
    assert task['hosts_networks'] == ['back', 'front']
    hosts = task_hosts(plan, 'node1')
    assert hosts.index('# linuxnet.overlay network back') < hosts.index('# linuxnet.overlay network front')
    db = svc_tasks(plan, 'db')[0]
    assert '10.0.1.5\t%s.back %s tasks.db\n' % (db['name'], db['name']) in hosts
    # db's hosts file knows only the back network
    db_hosts = task_hosts(plan, 'node2')
    assert list(_filters.node_plan(plan, 'node2')['name_tables']) == ['back']
    assert list(plan['name_tables']) == ['front', 'back']       # once in the plan, network order
    assert '.front' not in db_hosts and '10.0.1.2\tapi\n' in db_hosts and ' tasks.api\n' in db_hosts
    # node2 has a sandbox only for back (lazy), node1 for both
    assert [s['network'] for s in plan['nodes']['node1']['sandboxes']] == ['front', 'back']
    assert [s['network'] for s in plan['nodes']['node2']['sandboxes']] == ['back']


def test_service_network_removed_from_service_frees_address():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, [{'name': 'a'}, {'name': 'b'}], [{'name': 's', 'networks': ['a', 'b']}])
    plan = c.plan(SEED_NODES, [{'name': 'a'}, {'name': 'b'}], [{'name': 's', 'networks': ['b']}])
    (t,) = svc_tasks(plan, 's')
    assert t['addresses'] == {'b': '10.0.1.3'}
    assert plan['services'][0]['vips'] == {'b': '10.0.1.2'}
    assert c.state['networks']['a']['subnets'][0]['allocated'] == {}


def test_stale_allocations_are_cleaned():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    c.state['networks']['uber-net']['subnets'][0]['allocated']['10.0.0.99'] = 'ghost'
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    assert '10.0.0.99' not in c.state['networks']['uber-net']['subnets'][0]['allocated']


# ============================================================================================
# peers, MTU, gc_thresh, veth names

def test_peers_exclude_local_tasks_and_cover_every_remote_one():
    nodes = three_nodes()
    c = Cluster(nodes)
    plan = c.plan(nodes, SEED_NET, [{'name': 'web', 'networks': ['uber-net'], 'replicas': 6}])
    tasks = svc_tasks(plan, 'web')
    addr = dict((n['hostname'], n['addr']) for n in nodes)
    for host in addr:
        peers = plan['nodes'][host]['sandboxes'][0]['subnets'][0]['peers']
        expected = sorted((t['addresses']['uber-net'] for t in tasks if t['node'] != host),
                          key=lambda ip: int(ip.split('.')[-1]))
        assert [p['ip'] for p in peers] == expected
        for p in peers:
            owner = [t for t in tasks if t['addresses']['uber-net'] == p['ip']][0]
            assert p['vtep'] == addr[owner['node']] != addr[host]
        assert len(plan['nodes'][host]['tasks']) == 2


def test_lazy_sandboxes():
    nodes = three_nodes()
    c = Cluster(nodes)
    plan = c.plan(nodes, SEED_NET, [{'name': 'one', 'networks': ['uber-net'], 'replicas': 1}])
    assert plan['nodes']['node1']['sandboxes'] and plan['nodes']['node1']['sandboxes'][0]['subnets'][0]['peers'] == []
    assert plan['nodes']['node2']['sandboxes'] == [] and plan['nodes']['node3']['sandboxes'] == []


def test_service_without_network():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [], [{'name': 'solo', 'command': ['sleep', 60]}])
    (t,) = plan['nodes']['node1']['tasks']
    assert t['interfaces'] == [] and t['command'] == ['sleep', '60']
    assert t['hosts_networks'] == [] and task_hosts(plan, 'node1') == _taskspec.HOSTS_HEAD
    assert _filters.node_plan(plan, 'node1')['name_tables'] == {} and plan['name_tables'] == {}


def test_a_node_receives_each_name_once_not_once_per_task():
    # 40 tasks of one network on two nodes: every task's line is in the plan once (its network's
    # name table) and in what each node is sent once, not in each of the 20 local tasks' hosts
    # files (issue #11: the plan was O(tasks squared), 74 % hosts files)
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'uber-net'}], [{'name': 'test', 'networks': ['uber-net'], 'replicas': 40}])
    whole = json.dumps(plan)
    assert all(whole.count('%s.uber-net' % t['name']) == 1 for t in svc_tasks(plan, 'test'))
    for host in ('node1', 'node2'):
        node = _filters.node_plan(plan, host)
        assert len(node['tasks']) == 20
        text = json.dumps(node)
        for t in svc_tasks(plan, 'test'):
            assert text.count('%s.uber-net' % t['name']) == 1, (host, t['name'])
        assert all(task_hosts(plan, host, i).count('\n') == 2 + 1 + 1 + 40 for i in range(20))


def test_mtu_from_smallest_underlay_and_encryption():
    nodes = [dict(SEED_NODES[0], underlay_mtu=9000), dict(SEED_NODES[1], underlay_mtu=1460)]
    c = Cluster(nodes)
    plan = c.plan(nodes, [{'name': 'plain'}, {'name': 'secret', 'encrypted': True}, {'name': 'fixed', 'mtu': 1300}],
                  [{'name': 's', 'networks': ['plain', 'secret', 'fixed'], 'replicas': 2}])
    assert [(n['name'], n['mtu']) for n in plan['networks']] == [('plain', 1410), ('secret', 1376), ('fixed', 1300)]
    ifaces = plan['nodes']['node1']['tasks'][0]['interfaces']
    assert [i['mtu'] for i in ifaces] == [1410, 1376, 1300]
    assert [s['mtu'] for s in plan['nodes']['node1']['sandboxes']] == [1410, 1376, 1300]
    assert plan['nodes']['node1']['remote_vteps'] == [{'hostname': 'node2', 'addr': '192.168.1.5', 'encrypted': True}]


def test_mtu_ipv6_underlay():
    nodes = [node('n1', 'fd00::1', 'manager'), node('n2', 'fd00::2')]
    c = Cluster(nodes)
    plan = c.plan(nodes, [{'name': 'v6'}], [{'name': 's', 'networks': ['v6'], 'replicas': 2}])
    assert plan['networks'][0]['mtu'] == 1430
    assert plan['nodes']['n1']['sandboxes'][0]['subnets'][0]['peers'][0]['vtep'] == 'fd00::2'


def test_explicit_mtu_above_path_is_warned():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, [{'name': 'big', 'mtu': 8000}])
    assert any(m['level'] == 'warning' and 'explicit MTU 8000 is larger than 1450' in m['msg'] for m in c.messages)


def test_gc_thresh():
    assert _plan.gc_thresh(0) == [8192, 49152, 65536]
    assert _plan.gc_thresh(20000) == [20000, 49152, 80000]
    assert _plan.gc_thresh(30000) == [30000, 60000, 120000]


def test_gc_thresh_follows_peer_count(monkeypatch):
    monkeypatch.setattr(_nodeplan, 'GC_THRESH_MIN', (10, 20, 30))
    nodes = [node('n%d' % i, '10.200.0.%d' % i, 'manager' if i == 1 else 'worker') for i in range(1, 3)]
    c = Cluster(nodes)
    plan = c.plan(nodes, [{'name': 'big', 'subnets': ['10.128.0.0/20']}],
                  [{'name': 's', 'networks': ['big'], 'replicas': 2000}])
    peers = len(plan['nodes']['n1']['sandboxes'][0]['subnets'][0]['peers'])
    assert peers == 1000
    assert plan['nodes']['n1']['gc_thresh'] == [1000, 2000, 4000]


def test_veth_name_deterministic_and_short():
    a = _plan.veth_name('t' * 25, 'n' * 25)
    assert a == _plan.veth_name('t' * 25, 'n' * 25) and len(a) == 11 and len(a) <= 15
    assert a != _plan.veth_name('t' * 25, 'm' * 25)
    assert a != _plan.veth_name('t' * 25, 'n' * 25, 1)


def test_veth_collision_on_a_node_is_resolved(monkeypatch):
    real = _plan.veth_name
    monkeypatch.setattr(_names, 'veth_name', lambda t, n, attempt=0: 'vethsame000' if attempt == 0 else real(t, n, attempt))
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, [{'name': 'a'}, {'name': 'b'}], [{'name': 's', 'networks': ['a', 'b']}])
    names = [i['veth'] for i in plan['nodes']['node1']['tasks'][0]['interfaces']]
    assert len(set(names)) == 2 and 'vethsame000' in names


def test_sandbox_name():
    assert _plan.sandbox_name('c740ydi1lm89khn5kd52skrd9') == 'ov-c740ydi1lm'


# ============================================================================================
# options of the cluster

def test_data_path_port_change_is_warned():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, data_path_port=4790)
    assert plan['cluster']['data_path_port'] == 4790
    assert c.messages[0]['level'] == 'warning' and '4789 to 4790' in c.messages[0]['msg']


def test_node_role_and_label_updates_are_recorded():
    c = Cluster(SEED_NODES)
    nodes = [SEED_NODES[0], dict(SEED_NODES[1], role='manager', labels={'zone': 'x'})]
    plan = c.plan(nodes)
    assert plan['nodes']['node2']['role'] == 'manager' and plan['nodes']['node2']['labels'] == {'zone': 'x'}
    assert c.state['nodes']['node2']['role'] == 'manager'
    assert any('changes role from worker to manager' in m['msg'] for m in c.messages)


# ============================================================================================
# validation: every error, collected together

def test_every_validation_error_is_reported_at_once():
    st = cluster(SEED_NODES)
    inv = {
        'nodes': [
            {'hostname': 'node1', 'role': 'manager', 'addr': '172.31.1.5', 'labelz': {}},
            {'hostname': 'node1', 'addr': '172.31.1.6'},
            {'hostname': 'node2', 'role': 'boss', 'addr': '172.31.1.5', 'underlay_mtu': 100},
            {'hostname': 'node3'},
            {'hostname': 'node4', 'addr': 'not-an-ip', 'routes': ['x/99'], 'underlay_family': 'ipv6'},
            {'hostname': 'node5', 'addr': '10.9.9.9', 'underlay_family': 'ipv6', 'labels': ['a']},
            'junk',
        ],
        'networks': [
            {'name': 'ok', 'subnets': ['10.1.0.0/24']},
            {'name': 'ok'},
            {'name': '-bad'},
            {'name': 'cidr', 'subnets': ['10.2.0.1/24', 'banana', '10.3.0.0/24', '10.3.0.0/25']},
            {'name': 'gw', 'subnets': ['10.4.0.0/24'], 'gateway': '10.5.0.1'},
            {'name': 'gw2', 'gateway': '10.5.0.1'},
            {'name': 'gw3', 'subnets': ['10.6.0.0/24'], 'gateway': ['10.6.0.0', '10.6.0.2']},
            {'name': 'overlap', 'subnets': ['10.1.0.128/25']},
            {'name': 'typo', 'subnet': ['10.7.0.0/24'], 'encrypted': 'maybe', 'mtu': 1000},
            {'name': 'vni', 'vnis': [0]},
            {'name': 'vni2', 'vnis': [5000, 5001]},
            {'name': 'gone', 'state': 'absent'},
            {'name': 'empty', 'subnets': []},
            {'name': 'cidr2', 'subnets': ['10.8.0.0/33']},
            {'name': 'st', 'state': 'gone'},
        ],
        'services': [
            {'name': 'web', 'networks': ['ok', 'nope'], 'replicas': -1},
            {'name': 'web'},
            {'name': 'dotted.name'},
            {'name': 'g', 'mode': 'global', 'replicas': 2},
            {'name': 'm', 'mode': 'sometimes'},
            {'name': 'r', 'replicas': '1e3'},
            {'name': 'c', 'constraints': ['node.role=worker', 'node.os==linux'], 'command': 'echo "unclosed'},
            {'name': 'uses-gone', 'networks': ['gone', 'ok', 'ok']},
            {'name': 'k', 'netwroks': ['ok'], 'command': [['nested']]},
            {'name': 'b', 'replicas': True},
        ],
        'data_path_port': 80,
        'default_addr_pool': ['10.0.0.0/8', '10.1.0.0/16', 'x'],
        'mask_length': 4,
        'bogus': 1,
    }
    errs = errors_of(st, inv)
    expected = [
        "input: unknown key 'bogus'",
        "node node1: unknown key 'labelz' (did you mean 'labels'?)",
        "node node1: duplicate node hostname 'node1'",
        "node node2: role 'boss' is not manager or worker",
        'node node2: data-path address 172.31.1.5 is also the address of node node1',
        'node node2: underlay_mtu 100 is out of range 1280..65535',
        "node node4: data-path address 'not-an-ip' is not a valid IP address",
        "node node4: route 'x/99' is not a valid address or CIDR",
        "node node5: labels must be a dict, got ['a']",
        "node node5: underlay_family 'ipv6' does not match data-path address 10.9.9.9",
        "node #7: must be a dict, got 'junk'",
        "network ok: duplicate network name 'ok'",
        "network #3: name '-bad' is not valid",
        "network cidr: subnet '10.2.0.1/24' has host bits set: did you mean 10.2.0.0/24?",
        "network cidr: subnet 'banana' has no prefix length",
        'network cidr: subnet 10.3.0.0/25 overlaps its own subnet 10.3.0.0/24',
        'network gw: gateway 10.5.0.1 is outside its subnet 10.4.0.0/24',
        "network gw2: gateway '10.5.0.1' needs explicit subnets",
        "network gw3: 2 gateway(s) ['10.6.0.0', '10.6.0.2'] for 1 subnet(s)",
        'network overlap: subnet 10.1.0.128/25 overlaps subnet 10.1.0.0/24 of network ok',
        "network typo: unknown key 'subnet' (did you mean 'subnets'?)",
        "network typo: encrypted 'maybe' is not a boolean",
        'network typo: mtu 1000 is out of range 1280..9000',
        'network vni: VNI 0 is out of range 1..16777215',
        'network vni2: 2 VNI(s) [5000, 5001] for 1 subnet(s)',
        'network empty: subnets is empty',
        "network cidr2: subnet '10.8.0.0/33' is not a valid CIDR",
        "network st: state 'gone' is not present or absent",
        "service web: replicas -1 is below 0",
        "service web: duplicate service name 'web'",
        "service #3: name 'dotted.name' is not valid: letters, digits, \"_\" and \"-\" (no dots",
        'service g: replicas 2 and mode: global exclude each other',
        "service m: mode 'sometimes' is not replicated or global",
        "service r: replicas '1e3' is not an integer",
        "service c: constraint 'node.role=worker' is malformed",
        "service c: constraint 'node.os==linux' uses unsupported key 'node.os'",
        "service c: command 'echo \"unclosed' cannot be split into arguments",
        "service uses-gone: network 'ok' is listed twice",
        "service k: unknown key 'netwroks' (did you mean 'networks'?)",
        "service k: command argument ['nested'] is not a string",
        'service b: replicas True is not an integer',
        'data_path_port: data-path port 80 is out of range 1024..49151',
        'default_addr_pool (overlay_default_addr_pool): pool 10.1.0.0/16 overlaps pool 10.0.0.0/8',
        "default_addr_pool (overlay_default_addr_pool): address pool 'x' has no prefix length",
        "default_addr_pool_mask_length (overlay_default_addr_pool_mask_length): /4 is shorter than pool 10.0.0.0/8",
    ]
    for needle in expected:
        assert [e for e in errs if e.startswith(needle)], 'missing error %r in:\n%s' % (needle, '\n'.join(errs))
    assert len(errs) == len(expected), '\n'.join(errs)


def test_state_dependent_errors_are_reported_together():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, SEED_NET, SEED_SVC)
    errs = errors_of(c.state, {
        'nodes': [{'hostname': 'node1', 'role': 'manager'}, {'hostname': 'node2'}, node('node9', '10.9.9.9'),
                  {'hostname': 'node8'}],
        'networks': [{'name': 'uber-net', 'state': 'absent'}],
        'services': [{'name': 'x', 'networks': ['uber-nett']}]})
    assert errs == [
        'node node9 has not joined the cluster: join it first (swarm, role: join) with the worker token',
        'network uber-net has state: absent but service test still uses it',
        "service x: unknown network 'uber-nett'; list it in overlay_networks or fix the name",
    ]
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'services': [{'name': 'x', 'networks': ['uber-nett']}]})
    assert errs == ["service x: unknown network 'uber-nett' (did you mean 'uber-net'?); list it in overlay_networks or "
                    "fix the name"]


def test_absent_service_may_reference_anything():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, [], [{'name': 'x', 'networks': ['whatever'], 'state': 'absent'}])


def test_port_not_an_int_and_bool_variants():
    st = cluster(SEED_NODES)
    assert errors_of(st, {'data_path_port': '0x12b5'}) == [
        "data_path_port: data-path port '0x12b5' is not an integer"]
    assert errors_of(st, {'data_path_port': 49152}) == [
        'data_path_port: data-path port 49152 is out of range 1024..49151']
    new, plan, dummy = _plan.plan(st, {'nodes': SEED_NODES, 'networks': [{'name': 'e', 'encrypted': 'yes'}]},
                                  rng=random.Random(1))
    assert plan['networks'][0]['encrypted'] is True


def test_input_must_be_a_dict():
    assert errors_of(cluster([]), []) == ['the planner input must be a dict, got []']


def test_bad_state_is_refused():
    with pytest.raises(_state.StateError):
        _plan.plan({'format': 99}, {})


# ============================================================================================
# readable changes

def test_changes_and_state_lines():
    nodes = three_nodes()
    c = Cluster(nodes)
    c.plan(nodes, SEED_NET, [{'name': 'web', 'networks': ['uber-net'], 'replicas': 3}])
    before = copy.deepcopy(c.state)
    c.plan([nodes[0], nodes[2]], SEED_NET + [{'name': 'n2'}], [{'name': 'web', 'networks': ['uber-net'], 'replicas': 3}])
    ch = _plan.changes(before, c.state)
    assert ch['networks'] == {'added': ['n2'], 'removed': [], 'changed': []}
    assert ch['nodes']['changed'] == ['node2']
    assert len(ch['tasks']['added']) == 1 and len(ch['tasks']['removed']) == 1
    assert ch['tasks']['moved'] == ['%s: node2 -> node1' % ch['tasks']['added'][0]]
    lines = _plan.state_lines(c.state)
    assert 'network n2 id=' in lines and 'subnets=10.0.1.0/24(gw 10.0.1.1, vni 4097)' in lines
    assert 'node node2 id=%s role=worker addr=192.168.1.5 state=down' % c.state['nodes']['node2']['id'] in lines
    assert c.state['secrets']['cluster_key'] not in lines
    assert _plan.state_lines(None) == ''
    assert _plan.changes(None, c.state)['networks']['added'] == ['n2', 'uber-net']


# ============================================================================================
# nodes without facts in this run (--limit, unreachable)

def test_node_without_facts_keeps_its_recorded_address_and_mtu():
    nodes = [dict(SEED_NODES[0], underlay_mtu=9000), dict(SEED_NODES[1], underlay_mtu=1400)]
    c = Cluster(nodes)
    first = c.plan(nodes, SEED_NET, SEED_SVC)
    assert first['networks'][0]['mtu'] == 1350
    assert c.state['nodes']['node2']['underlay_mtu'] == 1400
    state = copy.deepcopy(c.state)
    # a run limited to node1: node2 is known only by name and role (inventory), not by facts
    limited = [nodes[0], {'hostname': 'node2', 'role': 'worker'}]
    plan = c.plan(limited, SEED_NET, SEED_SVC)
    assert c.state == state  # nothing moved, nothing re-addressed, same MTU
    assert plan['networks'] == first['networks'] and plan['services'] == first['services']
    assert plan['nodes']['node2']['addr'] == '192.168.1.5' and plan['nodes']['node2']['state'] == 'ready'
    assert any('keeps its recorded data-path address 192.168.1.5' in m['msg'] for m in c.messages)


def test_recorded_address_collision_is_reported():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES)
    errs = errors_of(c.state, {'nodes': [dict(SEED_NODES[0], addr='192.168.1.5'), {'hostname': 'node2'}]})
    assert errs == ['node node2: its recorded data-path address 192.168.1.5 is also the address of node node1']


def test_validation_pass_without_build_checks_everything_and_builds_nothing():
    # build=False (cluster_plan validate_only): the same allocations and errors, no per-node plan
    c = Cluster(SEED_NODES)
    state, plan, messages = _plan.plan(c.state, {'nodes': SEED_NODES, 'networks': SEED_NET, 'services': SEED_SVC},
                                       rng=random.Random(1), build=False)
    assert plan is None
    full = _plan.plan(c.state, {'nodes': SEED_NODES, 'networks': SEED_NET, 'services': SEED_SVC},
                      rng=random.Random(1))
    assert state == full[0] and messages == full[2]
    # allocation errors (placement, exhausted pool) are found without the build as well
    errs = errors_of(c.state, {'nodes': SEED_NODES, 'networks': [{'name': 'a'}, {'name': 'b'}],
                               'services': [{'name': 's', 'networks': ['a'], 'constraints': ['node.hostname==x']}],
                               'default_addr_pool': ['10.9.0.0/24']}, build=False)
    assert [e.split(':')[0] for e in errs] == ['network b', 'service s']


def test_subnet_over_a_node_network_is_one_error_per_node():
    # the node's route and its own address both overlap: the error names the route once per node
    nodes = [dict(SEED_NODES[0], routes=['172.31.1.0/24', '172.31.1.5/24']), SEED_NODES[1]]
    errs = errors_of(cluster(nodes), {'nodes': nodes, 'networks': [{'name': 'x', 'subnets': ['172.31.1.0/25']}]})
    assert errs == ['network x: subnet 172.31.1.0/25 overlaps route 172.31.1.0/24 on node node1; the node would lose '
                    'its way to that network: choose another subnet']


def test_unsatisfiable_constraint_names_what_the_nodes_hold():
    nodes = [node('n%d' % i, '10.9.9.%d' % i, labels={'zone': 'a'} if i % 2 else {}) for i in range(1, 8)]
    errs = errors_of(cluster(nodes), {'nodes': nodes, 'services': [
        {'name': 's', 'constraints': ['node.labels.zone==mars']},
        {'name': 'h', 'constraints': ['node.hostname==node9']}]})
    assert errs == [
        "service s: no node satisfies constraint 'node.labels.zone==mars' (node.labels.zone is 'a' on n1, n3, n5, n7; "
        "unset on n2, n4, n6); fix the constraint or the nodes' overlay_node_labels",
        "service h: no node satisfies constraint 'node.hostname==node9' (node.hostname is 'n1' on n1; 'n2' on n2; "
        "'n3' on n3; 'n4' on n4 and 3 more values); fix the constraint"]


def test_integers_may_come_as_decimal_strings():
    # what `-e web_replicas=3` and a templated `replicas: "{{ web_replicas }}"` give: Ansible's own
    # `type: int` options take them, and so does the planner; the state holds ints.
    inp = _plan.validate_input({'nodes': SEED_NODES, 'data_path_port': '4790', 'mask_length': ' 26 '})
    assert inp['data_path_port'] == 4790 and inp['mask_length'] == 26
    st = cluster(SEED_NODES)
    new, plan, dummy = _plan.plan(st, {
        'nodes': SEED_NODES,
        'networks': [{'name': 'n', 'mtu': '1400', 'vnis': ['5000']}],
        'services': [{'name': 's', 'networks': ['n'], 'replicas': '3'}]}, rng=random.Random(1))
    assert new['services']['s']['replicas'] == 3 and len(new['services']['s']['tasks']) == 3
    net = new['networks']['n']
    assert net['mtu'] == 1400 and [s['vni'] for s in net['subnets']] == [5000]
    # the same cluster given ints plans no change
    again, plan2, dummy = _plan.plan(new, {
        'nodes': SEED_NODES,
        'networks': [{'name': 'n', 'mtu': 1400, 'vnis': [5000]}],
        'services': [{'name': 's', 'networks': ['n'], 'replicas': 3}]}, rng=random.Random(1))
    assert again == new


@pytest.mark.parametrize('value', ['3.0', '1e3', '0x3', '\u0663', 'three', '', True, 3.0])
def test_integers_that_are_not_decimal_are_refused(value):
    errs = errors_of(cluster(SEED_NODES), {'nodes': SEED_NODES,
                                           'services': [{'name': 's', 'replicas': value}]})
    assert errs == ['service s: replicas %r is not an integer' % (value,)]


def test_multicast_network_floods_to_the_nodes_with_tasks_in_the_subnet():
    # three nodes; a's 2 tasks land on node1 and node2, b's on node1 too; node4 has none
    nodes = SEED_NODES + [node('node4', '192.168.2.6')]
    c = Cluster(nodes)
    nets = [{'name': 'm', 'multicast': 'yes'}, {'name': 'plain'}]
    svcs = [{'name': 'a', 'networks': ['m', 'plain'], 'replicas': 2},
            {'name': 'b', 'networks': ['m'], 'replicas': 1, 'constraints': ['node.hostname==node1']}]
    plan = c.plan(nodes, nets, svcs)
    assert c.state['networks']['m']['multicast'] is True and 'multicast' not in c.state['networks']['plain']
    assert [(n['name'], n['multicast']) for n in plan['networks']] == [('m', True), ('plain', False)]
    addr = {h: n['addr'] for h, n in plan['nodes'].items()}
    hosts = {h for h, n in plan['nodes'].items() if n['tasks']}
    assert hosts == {'node1', 'node2'} and plan['nodes']['node4']['sandboxes'] == []
    for host, n in plan['nodes'].items():
        for sb in n['sandboxes']:
            (sub,) = sb['subnets']
            if sb['network'] == 'plain':
                assert sub['flood'] == [], host
                continue
            # every other node with a task of the subnet, once, even with two tasks there
            assert sorted(sub['flood']) == sorted(addr[h] for h in hosts if h != host), host
            assert sorted(sub['flood']) == sorted({p['vtep'] for p in sub['peers']})
    # off again: changed in place (same subnet and VNI), the state drops the key, no flood left
    before = copy.deepcopy(c.state['networks']['m'])
    plan = c.plan(nodes, [{'name': 'm', 'multicast': False}, {'name': 'plain'}], svcs)
    after = c.state['networks']['m']
    assert 'multicast' not in after and after['subnets'] == before['subnets'] and after['id'] == before['id']
    assert 'network m: multicast changes to False' in [m['msg'] for m in c.messages]
    assert all(sub['flood'] == [] for n in plan['nodes'].values() for sb in n['sandboxes'] for sub in sb['subnets'])


def test_multicast_shows_in_the_diff_lines_only_when_set():
    c = Cluster(SEED_NODES)
    c.plan(SEED_NODES, [{'name': 'm', 'multicast': True}, {'name': 'p'}])
    lines = _plan.state_lines(c.state).splitlines()
    assert [ln for ln in lines if ln.startswith('network m ')][0].split()[5] == 'multicast=true'
    assert 'multicast' not in [ln for ln in lines if ln.startswith('network p ')][0]


def test_multicast_must_be_a_boolean():
    assert errors_of(cluster(SEED_NODES), {'nodes': SEED_NODES, 'networks': [{'name': 'm', 'multicast': 'often'}]}) \
        == ["network m: multicast 'often' is not a boolean"]


# --------------------------------------------------------------------------------------------
# node availability (docker node update --availability) and max_replicas_per_node

def _placement_of(plan, service):
    return sorted((t['slot'], t['node']) for t in svc_tasks(plan, service))


def test_drain_moves_the_tasks_off_the_node_and_active_does_not_move_them_back():
    nodes = three_nodes()
    c = Cluster(nodes)
    svc = [{'name': 'web', 'replicas': 3}, {'name': 'g', 'mode': 'global'}]
    plan = c.plan(nodes, [], svc)
    assert _placement_of(plan, 'web') == [(1, 'node1'), (2, 'node2'), (3, 'node3')]
    ids = {t['slot']: t['id'] for t in svc_tasks(plan, 'web')}
    drained = [dict(n, availability='drain') if n['hostname'] == 'node2' else n for n in nodes]
    plan = c.plan(drained, [], svc)
    web = {t['slot']: t for t in svc_tasks(plan, 'web')}
    assert web[2]['node'] in ('node1', 'node3') and web[2]['id'] != ids[2]      # a new task elsewhere
    assert (web[1]['id'], web[3]['id']) == (ids[1], ids[3])                   # the others stay
    assert sorted(t['node'] for t in svc_tasks(plan, 'g')) == ['node1', 'node3']
    assert plan['nodes']['node2']['tasks'] == [] and plan['nodes']['node2']['sandboxes'] == []
    assert plan['nodes']['node2']['availability'] == 'drain' and c.state['nodes']['node2']['availability'] == 'drain'
    msgs = [m['msg'] for m in c.messages]
    assert 'node node2: availability changes to drain' in msgs
    assert [m for m in msgs if m.startswith('task web.2.') and m.endswith('removed: node node2 is drained')]
    # back to active: nothing moves (Swarm does not rebalance), the state forgets the word
    plan = c.plan(nodes, [], svc)
    assert {t['slot']: t['id'] for t in svc_tasks(plan, 'web')} == {s: t['id'] for s, t in web.items()}
    assert 'availability' not in c.state['nodes']['node2']
    assert sorted(t['node'] for t in svc_tasks(plan, 'g')) == ['node1', 'node2', 'node3']   # global: one each again
    # scaling up now uses node2 again
    plan = c.plan(nodes, [], [{'name': 'web', 'replicas': 4}, svc[1]])
    assert dict(_placement_of(plan, 'web'))[4] == 'node2'


def test_pause_keeps_the_tasks_but_places_nothing_new():
    nodes = three_nodes()
    c = Cluster(nodes)
    plan = c.plan(nodes, [], [{'name': 'web', 'replicas': 3}])
    before = {t['slot']: (t['node'], t['id']) for t in svc_tasks(plan, 'web')}
    paused = [dict(n, availability='pause') if n['hostname'] == 'node3' else n for n in nodes]
    plan = c.plan(paused, [], [{'name': 'web', 'replicas': 6}, {'name': 'g', 'mode': 'global'}])
    web = {t['slot']: (t['node'], t['id']) for t in svc_tasks(plan, 'web')}
    assert {s: web[s] for s in before} == before                                # kept, node3's too
    assert sorted(web[s][0] for s in (4, 5, 6)) == ['node1', 'node1', 'node2']     # spread over the active ones
    assert sorted(t['node'] for t in svc_tasks(plan, 'g')) == ['node1', 'node2']


def test_no_active_node_left_for_a_new_task_is_an_error_that_names_the_nodes():
    nodes = [dict(n, availability='drain') for n in three_nodes()]
    errs = errors_of(cluster(three_nodes()), {'nodes': nodes, 'services': [{'name': 'web', 'replicas': 1}]})
    assert errs == ['service web: every node it may use is paused or drained (node1: drain, node2: drain, '
                    'node3: drain); set one back to active']
    # a global service simply has no task then, as in Docker
    new, plan, dummy = _plan.plan(cluster(three_nodes()), {'nodes': nodes, 'services': [{'name': 'g', 'mode': 'global'}]},
                                  rng=random.Random(1))
    assert svc_tasks(plan, 'g') == []


def test_availability_must_be_known():
    nodes = [dict(three_nodes()[0], availability='drained')] + three_nodes()[1:]
    assert errors_of(cluster(three_nodes()), {'nodes': nodes}) == [
        "node node1: availability 'drained' is not active, pause or drain"]


def test_max_replicas_per_node():
    nodes = three_nodes()
    c = Cluster(nodes)
    plan = c.plan(nodes, [], [{'name': 'web', 'replicas': 6, 'max_replicas_per_node': '2'}])
    per_node = {}
    for t in svc_tasks(plan, 'web'):
        per_node[t['node']] = per_node.get(t['node'], 0) + 1
    assert per_node == {'node1': 2, 'node2': 2, 'node3': 2}
    assert c.state['services']['web']['max_replicas_per_node'] == 2
    # lowered: the extra tasks on each node go (highest slots first), and cannot be placed again
    errs = errors_of(c.state, {'nodes': nodes, 'services': [{'name': 'web', 'replicas': 6, 'max_replicas_per_node': 1}]})
    assert errs == ['service web: max_replicas_per_node 1 leaves room for 3 of its 6 replicas on the nodes it may '
                    'use (node1, node2, node3); add nodes, raise the limit or lower replicas']
    plan = c.plan(nodes, [], [{'name': 'web', 'replicas': 3, 'max_replicas_per_node': 1}])
    assert sorted(t['node'] for t in svc_tasks(plan, 'web')) == ['node1', 'node2', 'node3']
    # 0 or left out: no limit; the state drops the key
    plan = c.plan(nodes, [], [{'name': 'web', 'replicas': 4, 'max_replicas_per_node': 0}])
    assert len(svc_tasks(plan, 'web')) == 4 and 'max_replicas_per_node' not in c.state['services']['web']


def test_max_replicas_per_node_bad_values():
    st = cluster(three_nodes())
    glob = {'name': 'g', 'mode': 'global', 'max_replicas_per_node': 1}
    assert errors_of(st, {'nodes': three_nodes(), 'services': [glob]}) == [
        'service g: max_replicas_per_node and mode: global exclude each other (a global service has one task per node)']
    assert errors_of(st, {'nodes': three_nodes(), 'services': [{'name': 'w', 'max_replicas_per_node': -1}]}) == [
        'service w: max_replicas_per_node -1 is below 0']


def test_availability_and_limit_show_in_the_diff_lines_only_when_set():
    nodes = three_nodes()
    c = Cluster(nodes)
    c.plan(nodes, [], [{'name': 'web', 'replicas': 1}])
    plain = _plan.state_lines(c.state)
    assert 'availability' not in plain and 'max_replicas_per_node' not in plain
    web = {'name': 'web', 'replicas': 1, 'max_replicas_per_node': 1}
    c.plan([dict(nodes[0], availability='pause')] + nodes[1:], [], [web])
    lines = _plan.state_lines(c.state).splitlines()
    assert [ln for ln in lines if ln.startswith('node node1 ')][0].endswith(' availability=pause')
    assert [ln for ln in lines if ln.startswith('service web ')][0].endswith(' max_replicas_per_node=1')


def test_restart_policy_goes_to_each_task_and_leaves_old_states_as_they_were():
    c, plan = seed_plan()
    assert 'restart_policy' not in c.state['services']['test'], 'a service without one keeps its state key-free'
    assert all(t['restart'] is None for n in plan['nodes'].values() for t in n['tasks'])
    svc = dict(SEED_SVC[0], restart_policy={'condition': 'on-failure', 'delay': '2s', 'max_attempts': 3})
    plan = c.plan(SEED_NODES, SEED_NET, [svc])
    want = {'condition': 'on-failure', 'delay': 2.0, 'max_attempts': 3, 'window': 0.0}
    assert c.state['services']['test']['restart_policy'] == want
    assert [t['restart'] for n in plan['nodes'].values() for t in n['tasks']] == [want, want]
    assert [s['restart_policy'] for s in plan['services']] == [want]
    again = c.plan(SEED_NODES, SEED_NET, [svc])
    assert again == plan, 'the same policy again changes nothing'


def test_bad_restart_policy_is_named():
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], restart_policy={'condition': 'always'})])
    assert "service test: restart_policy: condition 'always' is not one of any, on-failure, none" in str(err.value)


def test_an_image_goes_to_each_task_and_a_changed_one_shows_in_the_state():
    c, plan = seed_plan()
    assert 'image' not in c.state['services']['test'] and all(
        t['image'] is None for n in plan['nodes'].values() for t in n['tasks'])
    svc = dict(SEED_SVC[0], image='localhost/linuxnet-busybox:1')
    plan = c.plan(SEED_NODES, SEED_NET, [svc])
    assert [t['image'] for n in plan['nodes'].values() for t in n['tasks']] == ['localhost/linuxnet-busybox:1'] * 2
    assert c.state['services']['test']['image'] == 'localhost/linuxnet-busybox:1'
    assert [ln for ln in _plan.state_lines(c.state).splitlines() if ln.startswith('service test ')][0].endswith(
        ' image=localhost/linuxnet-busybox:1')
    ids = sorted(t['id'] for t in plan['services'][0]['tasks'])
    plan2 = c.plan(SEED_NODES, SEED_NET, [dict(svc, image='localhost/linuxnet-busybox:2')])
    assert sorted(t['id'] for t in plan2['services'][0]['tasks']) == ids, 'a new image keeps the tasks in place'
    assert [t['image'] for n in plan2['nodes'].values() for t in n['tasks']] == ['localhost/linuxnet-busybox:2'] * 2


@pytest.mark.parametrize('image', ['-v /:/host', 'web latest', '', 42])
def test_a_bad_image_is_named(image):
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, SEED_NET, [dict(SEED_SVC[0], image=image)])
    assert 'service test: image must be an image reference' in str(err.value) and repr(image) in str(err.value)
