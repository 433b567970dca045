# -*- coding: utf-8 -*-
"""The report filters: docker-shaped network ls / inspect / service ps, and the matrix."""

from __future__ import annotations

import json
import random

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.linuxnet.overlay.plugins.filter import overlay as F
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state

PLAN = {
    'networks': [{'name': 'uber-net', 'id': 'c740ydi1lm89khn5kd52skrd9', 'scope': 'swarm', 'driver': 'overlay',
                  'encrypted': False, 'mtu': 1450, 'state': 'present',
                  'subnets': [{'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'vni': 4096}]}],
    'services': [{'name': 'test', 'id': 's1', 'tasks': [
        {'name': 'test.1.77qaaaaaaaaaaaaaaaaaaaaaa', 'slot': 1, 'id': '77qaaaaaaaaaaaaaaaaaaaaaa', 'node': 'node1',
         'desired_state': 'running', 'addresses': {'uber-net': '10.0.0.2'}},
        {'name': 'test.2.97vbbbbbbbbbbbbbbbbbbbbbb', 'slot': 2, 'id': '97vbbbbbbbbbbbbbbbbbbbbbb', 'node': 'node2',
         'desired_state': 'running', 'addresses': {'uber-net': '10.0.0.3'}}]}],
    'nodes': {
        'node1': {'addr': '172.31.1.5', 'sandboxes': [{'network': 'uber-net'}], 'tasks': [
            {'name': 'test.1.77qaaaaaaaaaaaaaaaaaaaaaa', 'id': '77qaaaaaaaaaaaaaaaaaaaaaa',
             'interfaces': [{'network': 'uber-net', 'mac': '02:42:0a:00:00:02', 'address': '10.0.0.2/24'}]}]},
        'node2': {'addr': '192.168.1.5', 'sandboxes': [{'network': 'uber-net'}], 'tasks': []},
    },
}


def test_network_ls():
    out = F.network_ls(PLAN).splitlines()
    assert out[0].split() == ['NETWORK', 'ID', 'NAME', 'DRIVER', 'SCOPE']
    assert out[1].split() == ['c740ydi1lm89', 'uber-net', 'overlay', 'swarm']


def test_network_inspect_has_the_fields_the_seed_shows():
    doc = json.loads(F.network_inspect(PLAN, 'uber-net'))[0]
    assert doc['Name'] == 'uber-net' and doc['Id'] == 'c740ydi1lm89khn5kd52skrd9'
    assert doc['Scope'] == 'swarm' and doc['Driver'] == 'overlay'
    assert doc['IPAM']['Config'] == [{'Subnet': '10.0.0.0/24', 'Gateway': '10.0.0.1'}]
    assert doc['Options']['com.docker.network.driver.overlay.vxlanid_list'] == '4096'
    assert doc['Peers'] == [{'Name': 'node1', 'IP': '172.31.1.5'}, {'Name': 'node2', 'IP': '192.168.1.5'}]
    assert doc['Containers']['77qaaaaaaaaaaaaaaaaaaaaaa']['IPv4Address'] == '10.0.0.2/24'
    assert set(doc['Options']) == {'com.docker.network.driver.overlay.vxlanid_list'}
    with pytest.raises(AnsibleFilterError, match='no network named'):
        F.network_inspect(PLAN, 'nope')


def test_network_inspect_shows_encrypted_and_multicast_as_options():
    plan = json.loads(json.dumps(PLAN))
    plan['networks'][0].update(encrypted=True, multicast=True)
    doc = json.loads(F.network_inspect(plan, 'uber-net'))[0]
    assert doc['Options'] == {'com.docker.network.driver.overlay.vxlanid_list': '4096', 'encrypted': '',
                              'multicast': ''}


def test_service_ps_uses_observed_state():
    out = F.service_ps(PLAN, 'test', {'test.1.77qaaaaaaaaaaaaaaaaaaaaaa': True,
                                      'test.2.97vbbbbbbbbbbbbbbbbbbbbbb': False}).splitlines()
    assert out[0].split()[:3] == ['ID', 'NAME', 'NODE']
    assert out[1].split()[:5] == ['77qaaaaaaaaa', 'test.1', 'node1', 'Running', 'Running']
    assert out[2].split()[:5] == ['97vbbbbbbbbb', 'test.2', 'node2', 'Running', 'Failed']
    assert '10.0.0.3 (uber-net)' in out[2]


def _r(label, ok=True, detail='', rtt=0.1):
    return {'label': label, 'ok': ok, 'detail': detail, 'rtt_ms': rtt}


def test_verify_matrix_all_good_and_misses():
    res = F.verify_matrix([
        _r('uber-net|test.1.a|test.2.b|addr'), _r('uber-net|test.1.a|test.2.b|name'),
        _r('uber-net|test.2.b|test.1.a|addr'), _r('uber-net|test.2.b|test.1.a|name', ok=False, detail='no reply'),
        _r('other|x.1.c|test.1.a|isolated'),
    ])
    assert res['pairs'] == 2 and res['failed'] == 1
    assert res['misses'] == ['uber-net: test.2.b -> test.1.a by name: no reply']
    lines = res['text'].splitlines()
    assert lines[0] == 'network uber-net: 2 task(s), 2 pair(s)'
    assert lines[2].split() == ['test.1', '-', 'ok'] and lines[3].split() == ['test.2', 'FAIL', '-']
    assert lines[-1] == 'pairs: 1 ok, 1 failed; isolation between networks: 1 ok, 0 failed'
    with pytest.raises(AnsibleFilterError):
        F.verify_matrix([_r('bad label')])


def test_verify_matrix_from_passed_labels_and_failed_results_is_the_same_report():
    full = [_r('uber-net|test.1.a|test.2.b|addr'), _r('uber-net|test.1.a|test.2.b|name'),
            _r('uber-net|test.2.b|test.1.a|addr', ok=False, detail='no reply'), _r('uber-net|test.2.b|test.1.a|name'),
            _r('other|x.1.c|test.1.a|isolated'), _r('other|x.1.c|test.2.b|isolated', ok=False, detail='answered')]
    compact = F.verify_matrix([r for r in full if not r['ok']], passed=[r['label'] for r in full if r['ok']])
    assert compact == F.verify_matrix(full)
    assert compact['failed'] == 2 and compact['pairs'] == 2
    assert compact['misses'] == ['uber-net: test.2.b -> test.1.a by address: no reply',
                                 'x.1.c -> test.2.b (other network other): answered']
    with pytest.raises(AnsibleFilterError, match='not network'):
        F.verify_matrix([], passed=['10.0.0.3'])


def test_peer_entries():
    peers = [{'ip': '10.0.0.3', 'mac': '02:42:0a:00:00:03', 'vtep': '192.168.1.5'},
             {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04', 'vtep': '192.168.1.6'}]
    assert F.peer_neigh_entries(peers) == [{'ip': '10.0.0.3', 'mac': '02:42:0a:00:00:03'},
                                           {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'}]
    assert F.peer_fdb_entries(peers) == [{'mac': '02:42:0a:00:00:03', 'dst': '192.168.1.5'},
                                         {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.6'}]


def _task(name, net, ip, bridge='br0', mtu=1450, prefix=24):
    return {'name': name, 'netns': name, 'interfaces': [
        {'network': net, 'ip': ip, 'address': '%s/%d' % (ip, prefix), 'bridge': bridge, 'mtu': mtu}]}


def test_verify_probes_all_pairs_hops_and_isolation():
    plan = {'nodes': {
        'node1': {'tasks': [_task('a.1.x', 'net1', '10.0.0.2'), _task('c.1.z', 'net2', '10.5.0.2')]},
        'node2': {'tasks': [_task('a.2.y', 'net1', '11.1.1.2', bridge='br1')]},
    }}
    probes = F.verify_probes(plan, 'node1', scope='all_pairs')
    labels = [p['label'] for p in probes]
    assert labels == ['net1|a.1.x|a.2.y|addr', 'net1|a.1.x|a.2.y|name', 'net2|a.1.x|c.1.z|isolated',
                      'net1|c.1.z|a.1.x|isolated', 'net1|c.1.z|a.2.y|isolated']
    # across subnets of one network the gateway is a hop
    assert probes[0] == {'netns': 'a.1.x', 'target': '11.1.1.2', 'hops': 2, 'mtu': 1450,
                         'label': 'net1|a.1.x|a.2.y|addr'}
    assert probes[1]['target'] == 'a.2.y' and 'hops' not in probes[1]
    assert probes[2]['expect'] == 'isolated'
    only = F.verify_probes(plan, 'node1', by_name=False, mtu=False, isolation=False, scope='all_pairs')
    assert only == [{'netns': 'a.1.x', 'target': '11.1.1.2', 'hops': 2, 'label': 'net1|a.1.x|a.2.y|addr'}]
    assert F.verify_probes(plan, 'nodeX', scope='all_pairs') == [] and F.verify_probes(plan, 'nodeX') == []


def test_verify_probes_all_pairs_in_check_mode_only_between_existing_tasks():
    plan = {'nodes': {
        'node1': {'tasks': [_task('a.1.x', 'net1', '10.0.0.2'), _task('c.1.z', 'net2', '10.5.0.2')]},
        'node2': {'tasks': [_task('a.2.y', 'net1', '10.0.0.3'), _task('a.3.w', 'net1', '10.0.0.4')]},
    }}
    # a.3.w and c.1.z would be created by the run: nothing is probed from or to them
    probes = F.verify_probes(plan, 'node1', existing=['a.1.x', 'a.2.y', 'ov-0123456789'], scope='all_pairs')
    assert [p['label'] for p in probes] == ['net1|a.1.x|a.2.y|addr', 'net1|a.1.x|a.2.y|name']
    assert F.verify_probes(plan, 'node2', existing=['a.1.x', 'a.2.y'], by_name=False, scope='all_pairs') == [
        {'netns': 'a.2.y', 'target': '10.0.0.2', 'hops': 1, 'mtu': 1450, 'label': 'net1|a.2.y|a.1.x|addr'}]
    # nothing exists yet (a fresh cluster): no probe at all
    assert F.verify_probes(plan, 'node1', existing=[], scope='all_pairs') == []
    # existing=None (a real run): everything is probed
    assert len(F.verify_probes(plan, 'node2', isolation=False, scope='all_pairs')) == 8  # 2 tasks x 2 others x (addr, name)


def _planned(hosts, networks, services):
    """The real planner's plan (plugins/module_utils/cluster/plan.py) for ``hosts`` nodes that joined."""
    rng = random.Random(7)
    st = _state.new_state(rng)
    nodes = [{'hostname': 'node%02d' % i, 'role': 'manager' if i == 1 else 'worker', 'addr': '192.168.%d.5' % i}
             for i in range(1, hosts + 1)]
    for n in nodes:
        st = _state.record_node(st, n, rng)
    _st, plan, _msgs = _plan.plan(st, {'nodes': nodes, 'networks': networks, 'services': services},
                                  rng=random.Random(8))
    return plan


# 4 nodes x 3 tasks on prod-net (two subnets: a on the first, b on the second), and c alone on other
SCALE_NETS = [{'name': 'prod-net', 'subnets': ['10.1.1.0/24', '11.1.1.0/24']}, {'name': 'other'}]
SCALE_SVCS = [{'name': 'a', 'networks': ['prod-net'], 'replicas': 6},
              {'name': 'b', 'networks': [{'name': 'prod-net', 'subnet': '11.1.1.0/24'}], 'replicas': 6},
              {'name': 'c', 'networks': ['other'], 'replicas': 4}]


def _where(plan):
    """task name -> (node, {network: bridge})"""
    return {t['name']: (host, {i['network']: i['bridge'] for i in t['interfaces']})
            for host, n in plan['nodes'].items() for t in n['tasks']}


def _labels(probes, kind):
    return [tuple(p['label'].split('|')[:3]) for p in probes if p['label'].endswith('|' + kind)]


def test_verify_probes_node_pairs_one_probe_per_node_pair_and_subnet_pair():
    plan = _planned(4, SCALE_NETS, SCALE_SVCS)
    where = _where(plan)
    prod = sorted(t for t, (_h, nets) in where.items() if 'prod-net' in nets)
    assert len(prod) == 12 and all(len([t for t in prod if where[t][0] == h]) == 3 for h in plan['nodes'])
    sources, targets = set(), set()
    for host in sorted(plan['nodes']):
        probes = F.verify_probes(plan, host)
        # same shape as all_pairs: an addr probe (hops, MTU) then the name probe of the same pair
        addr = [p for p in probes if p['label'].endswith('|addr')]
        assert [p['label'] for p in probes if p['label'].endswith('|name')] == [
            p['label'][:-len('addr')] + 'name' for p in addr]
        keys = []
        for net, src, dst in _labels(probes, 'addr'):
            (sh, sn), (dh, dn) = where[src], where[dst]
            assert sh == host and src != dst and net in sn and net in dn
            keys.append((net, sn[net], dn[net], dh))
        for p in addr:
            net, src, dst = p['label'].split('|')[:3]
            assert p['hops'] == (1 if where[src][1][net] == where[dst][1][net] else 2) and p['mtu'] == 1450
            assert p['netns'] == src and p['target'] == plan['nodes'][where[dst][0]]['tasks'][
                [t['name'] for t in plan['nodes'][where[dst][0]]['tasks']].index(dst)]['interfaces'][0]['ip']
        # exactly one probe per (network, source subnet, destination subnet, destination node) ...
        assert len(keys) == len(set(keys)), keys
        # ... for every such combination this node has a task for (itself too, with two tasks there)
        expected = set()
        for net in ('prod-net', 'other'):
            mine = [t for t, (h, nets) in where.items() if h == host and net in nets]
            for s in {where[t][1][net] for t in mine}:
                for t, (h, nets) in where.items():
                    if net in nets and not (h == host and [m for m in mine if where[m][1][net] == s] == [t]):
                        expected.add((net, s, nets[net], h))
        assert set(keys) == expected
        # O(nodes) per node: at most one probe per node and subnet pair (2 x 2 on prod-net, 1 on other)
        assert len(addr) <= (4 + 1) * len(plan['nodes'])
        sources.update(src for _n, src, _d in _labels(probes, 'addr'))
        targets.update(dst for _n, _s, dst in _labels(probes, 'addr'))
    # every task of the networks is probed from and probed to (4 nodes, at most 2 tasks per node and subnet)
    assert sorted(t for t in sources if t in prod) == prod and sorted(t for t in targets if t in prod) == prod
    # far fewer pairs than all_pairs (132 + 12 task pairs), still more than one per node pair
    assert len({k for h in plan['nodes'] for k in _labels(F.verify_probes(plan, h), 'addr')}) < F.verify_task_pairs(plan)
    assert F.verify_task_pairs(plan) == 12 * 11 + 4 * 3


def test_verify_probes_node_pairs_is_deterministic():
    plan = _planned(4, SCALE_NETS, SCALE_SVCS)
    again = json.loads(json.dumps(plan))
    again['nodes'] = dict(reversed(list(again['nodes'].items())))   # the order of the nodes does not matter
    for t in again['nodes']['node02']['tasks']:
        t['interfaces'].reverse()
    again['nodes']['node03']['tasks'].reverse()
    for host in plan['nodes']:
        assert F.verify_probes(plan, host) == F.verify_probes(again, host) == F.verify_probes(plan, host)


def test_verify_probes_node_pairs_isolation_one_per_node_and_other_network():
    plan = _planned(4, SCALE_NETS, SCALE_SVCS)
    where = _where(plan)
    for host in plan['nodes']:
        iso = _labels(F.verify_probes(plan, host), 'isolated')
        keys = [(net, where[dst][0]) for net, _s, dst in iso]
        # one probe per other network and node of it: O(nodes), not every task pair
        assert sorted(keys) == sorted(set(keys)) == sorted((net, h) for net in ('other', 'prod-net') for h in plan['nodes'])
        for net, src, dst in iso:
            assert where[src][0] == host and net not in where[src][1] and not set(where[src][1]) & set(where[dst][1])
        assert len(iso) < len(_labels(F.verify_probes(plan, host, scope='all_pairs'), 'isolated'))
    assert not _labels(F.verify_probes(plan, 'node01', isolation=False), 'isolated')


def test_verify_probes_node_pairs_in_check_mode_only_between_existing_tasks():
    plan = _planned(4, SCALE_NETS, SCALE_SVCS)
    where = _where(plan)
    existing = sorted(t for t in where if t.startswith('a.') or t.startswith('c.1'))
    for host in plan['nodes']:
        probes = F.verify_probes(plan, host, existing=existing)
        assert probes and {p['netns'] for p in probes} <= set(existing)
        assert {dst for _n, _s, dst in _labels(probes, 'addr') + _labels(probes, 'isolated')} <= set(existing)
    assert F.verify_probes(plan, 'node01', existing=[]) == []
    assert F.verify_task_pairs(plan, existing=existing) == 6 * 5
    with pytest.raises(AnsibleFilterError, match="scope 'some' is not one of node_pairs, all_pairs"):
        F.verify_probes(plan, 'node01', scope='some')


def test_verify_probes_node_pairs_grow_with_nodes_not_tasks():
    plan = _planned(12, [{'name': 'uber-net'}], [{'name': 'web', 'networks': ['uber-net'], 'replicas': 48}])
    counts = [len(F.verify_probes(plan, h, by_name=False, isolation=False)) for h in plan['nodes']]
    assert counts == [12] * 12                                   # one per node, itself included (4 tasks)
    assert len(F.verify_probes(plan, 'node01', by_name=False, isolation=False, scope='all_pairs')) == 4 * 47


def _ok(probes, bad=()):
    return [{'label': p['label'], 'ok': p['label'] not in bad, 'detail': 'no reply' if p['label'] in bad else '',
             'rtt_ms': 0.1} for p in probes]


def test_verify_matrix_node_pairs_shows_nodes_and_the_scope():
    plan = {'nodes': {'node1': {'tasks': [_task('test.1.a', 'uber-net', '10.0.0.2')]},
                      'node2': {'tasks': [_task('test.2.b', 'uber-net', '10.0.0.3')]}}}
    probes = F.verify_probes(plan, 'node1') + F.verify_probes(plan, 'node2')
    res = F.verify_matrix(_ok(probes), scope='node_pairs', total_pairs=F.verify_task_pairs(plan), plan=plan)
    assert res['text'].splitlines() == [
        'network uber-net: 2 task(s), 2 pair(s), 2 node(s)',
        '         node1  node2',
        'node1        -     ok',
        'node2       ok      -',
        '',
        'scope: node_pairs - one task on each side per node pair and subnet (2 of the 2 task pairs)',
        'pairs: 2 ok, 0 failed; isolation between networks: 0 ok, 0 failed']
    assert res['pairs'] == 2 and res['failed'] == 0 and res['total_pairs'] == 2
    text = F.verify_matrix(_ok(probes), scope='all_pairs', total_pairs=2, plan=plan)['text'].splitlines()
    assert text[1].split() == ['test.1', 'test.2'] and text[-2:] == [
        'scope: all_pairs - every task pair (2 of the 2 task pairs)',
        'pairs: 2 ok, 0 failed; isolation between networks: 0 ok, 0 failed']
    with pytest.raises(AnsibleFilterError, match='scope'):
        F.verify_matrix([], scope='nodes')


def test_verify_matrix_node_pairs_stays_readable_at_scale():
    plan = _planned(20, [{'name': 'uber-net'}, {'name': 'back'}],
                    [{'name': 'web', 'networks': ['uber-net'], 'replicas': 60}, {'name': 'db', 'networks': ['back'], 'replicas': 20}])
    probes = [p for h in plan['nodes'] for p in F.verify_probes(plan, h)]
    bad = {[p['label'] for p in probes if p['label'].endswith('|name')][5]}
    res = F.verify_matrix(_ok(probes, bad), scope='node_pairs', total_pairs=F.verify_task_pairs(plan), plan=plan)
    lines = res['text'].splitlines()
    assert max(len(x) for x in lines) < 120 and len(lines) < 20, res['text']
    assert lines[0] == 'network back: 20 task(s), 380 pair(s), 20 node(s)'
    # back: one task per node (no pair inside a node); uber-net: three per node, so the diagonal too
    assert lines[1:3] == ['  (grid of 20 nodes left out) node pairs: 379 ok, 1 failed, 0 without a result',
                          '  failed: %s -> %s' % tuple(_where(plan)[t][0] for t in list(bad)[0].split('|')[1:3])]
    assert '  (grid of 20 nodes left out) node pairs: 400 ok, 0 failed, 0 without a result' in lines
    assert lines[-2] == 'scope: node_pairs - one task on each side per node pair and subnet (%d of the %d task pairs)' % (
        res['pairs'], 60 * 59 + 20 * 19)
    assert lines[-1] == 'pairs: %d ok, 1 failed; isolation between networks: %d ok, 0 failed' % (
        res['pairs'] - 1, len([p for p in probes if p['label'].endswith('|isolated')]))
    assert len(res['misses']) == 1 and res['failed'] == 1
    # all_pairs above TASK_GRID_MAX tasks: the node grid too, not a 60 x 60 grid of tasks
    assert len(F.verify_matrix(_ok(probes), scope='all_pairs', plan=plan)['text'].splitlines()) < 20


def test_walkthrough_pair_prefers_another_node():
    plan = {'services': [{'name': 'a', 'tasks': [{'name': 'a.1.x', 'slot': 1}, {'name': 'a.2.y', 'slot': 2},
                                                 {'name': 'a.3.w', 'slot': 3}]}],
            'nodes': {'node1': {'tasks': [_task('a.1.x', 'net1', '10.0.0.2'), _task('a.3.w', 'net1', '10.0.0.4')]},
                      'node2': {'tasks': [_task('a.2.y', 'net1', '10.0.0.3')]}}}
    pair = F.walkthrough_pair(plan)
    assert pair == {'node': 'node1', 'from': 'a.1.x', 'netns': 'a.1.x', 'network': 'net1',
                    'to': 'a.2.y', 'to_ip': '10.0.0.3', 'to_node': 'node2'}
    assert F.walkthrough_pair({'services': [], 'nodes': {}}) == {}


def test_node_plan_is_the_node_part_or_empty_lists():
    part = F.node_plan(PLAN, 'node1', 'linuxnet.overlay.network')
    assert part['addr'] == '172.31.1.5' and part['sandboxes'] == [{'network': 'uber-net'}]
    assert [t['name'] for t in part['tasks']] == ['test.1.77qaaaaaaaaaaaaaaaaaaaaaa']
    # a node the plan does not list (down, or left out of a --limit run) makes and keeps nothing;
    # the service role passes name_tables and endpoints too
    assert F.node_plan(PLAN, 'node9', 'linuxnet.overlay.network') == {
        'sandboxes': [], 'tasks': [], 'name_tables': {}, 'endpoints': {}}


@pytest.mark.parametrize('plan', [None, {}, {'nodes': None}, 'x'])
def test_node_plan_without_a_plan_names_the_role_and_the_fix(plan):
    with pytest.raises(AnsibleFilterError, match=r'^linuxnet.overlay.service needs the cluster plan \(fact swarm_plan\): '
                                                 r'run the linuxnet.overlay.swarm role before it'):
        F.node_plan(plan, 'node1', 'linuxnet.overlay.service')
    with pytest.raises(AnsibleFilterError, match='^linuxnet.overlay.verify needs the cluster plan'):
        F.verify_probes(plan, 'node1')


def test_task_states_from_the_service_results_of_the_nodes():
    results = [{'changed': True, 'tasks': [{'name': 'a.1.x', 'task': {'running': True}},
                                           {'name': 'a.2.y', 'task': {'running': False}}]},
               {'skipped': True},                     # a node whose service task was skipped
               {'tasks': [{'name': 'b.1.z', 'task': {'running': None}}]}]
    assert F.task_states(results) == {'a.1.x': True, 'a.2.y': False, 'b.1.z': None}
    assert F.task_states([]) == {} and F.task_states(None) == {}
    # service ps shows what was observed
    observed = F.task_states([{'tasks': [{'name': 'test.1.77qaaaaaaaaaaaaaaaaaaaaaa', 'task': {'running': False}}]}])
    text = F.service_ps(PLAN, 'test', observed)
    assert text.splitlines()[1].split()[:5] == ['77qaaaaaaaaa', 'test.1', 'node1', 'Running', 'Failed'], text


def test_service_ps_shows_the_restarts_of_a_supervised_task():
    sup = {'state': 'run', 'pid': 42, 'restarts': 2, 'last_exit': None, 'last_signal': 9}
    observed = F.task_states([{'tasks': [{'name': 'test.1.77qaaaaaaaaaaaaaaaaaaaaaa',
                                          'task': {'running': True, 'supervision': sup}},
                                         {'name': 'test.2.97vbbbbbbbbbbbbbbbbbbbbbb',
                                          'task': {'running': True, 'supervision': dict(
                                              sup, state='down', restarts=3, last_exit=3, last_signal=None)}}]}])
    assert observed['test.1.77qaaaaaaaaaaaaaaaaaaaaaa'] == dict(sup, running=True)
    lines = F.service_ps(PLAN, 'test', observed).splitlines()
    assert lines[0].split()[-1] == 'ERROR'
    assert lines[1].split()[3:5] == ['Running', 'Running'] and lines[1].endswith('2 restarts, last: killed by signal 9')
    assert lines[2].split()[3:5] == ['Running', 'Failed'] and lines[2].endswith('3 restarts, last: non-zero exit (3)')
    # a job that ended well and was not restarted (on-failure), and one waiting its delay
    ended = dict(sup, state='down', restarts=0, last_exit=0, last_signal=None)
    done = F.service_ps(PLAN, 'test', {'test.1.77qaaaaaaaaaaaaaaaaaaaaaa': ended,
                                       'test.2.97vbbbbbbbbbbbbbbbbbbbbbb': dict(sup, state='finish')})
    assert done.splitlines()[1].split()[4] == 'Complete' and done.splitlines()[2].split()[4] == 'Starting'


def test_service_ps_shows_the_image_of_a_service_of_containers():
    plan = json.loads(json.dumps(PLAN))
    assert 'IMAGE' not in F.service_ps(plan, 'test').splitlines()[0]
    plan['services'][0]['image'] = 'localhost/linuxnet-busybox:1'
    out = F.service_ps(plan, 'test', {'test.1.77qaaaaaaaaaaaaaaaaaaaaaa': True}).splitlines()
    assert out[0].split()[:4] == ['ID', 'NAME', 'IMAGE', 'NODE']
    assert out[1].split()[:4] == ['77qaaaaaaaaa', 'test.1', 'localhost/linuxnet-busybox:1', 'node1']
