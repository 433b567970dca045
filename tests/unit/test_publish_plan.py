# -*- coding: utf-8 -*-
"""Published ports in the planner (cluster/publish.py): what is refused, the ingress network and
its endpoints, and the DNAT each node gets."""

from __future__ import annotations

import pytest

from test_plan import SEED_NODES, Cluster, svc_tasks
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan

NETS = [{'name': 'uber-net'}]


def web(**kw):
    return dict({'name': 'web', 'networks': ['uber-net'], 'replicas': 2,
                 'publish': [{'published': 8080, 'target': 80}]}, **kw)


@pytest.mark.parametrize('services, words', [
    ([web(publish=[{'published': 0, 'target': 80}])], "publish[0]: publish published 0 is not a port (1-65535)"),
    ([web(publish=[{'published': 8080, 'target': 70000}])], 'publish target 70000 is not a port'),
    ([web(publish=[{'published': 8080, 'protocol': 'sctp'}])], "protocol 'sctp' is not tcp or udp"),
    ([web(publish=[{'published': 8080, 'mode': 'global'}])], "mode 'global' is not ingress"),
    ([web(publish=[{'published': 8080, 'port': 1}])], 'unknown key(s) port'),
    ([web(), dict(web(), name='api')], 'service api: published port 8080/tcp is also published by service web'),
    ([web(endpoint_mode='dnsrr')], 'publish in mode ingress needs endpoint_mode vip (Docker refuses it too)'),
    ([web(publish=[{'published': 8080}, {'published': 8080}])], 'published port 8080/tcp is listed twice'),
])
def test_bad_publish_is_named_and_nothing_is_planned(services, words):
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, NETS, services)
    assert words in str(err.value)


def test_the_same_port_over_udp_and_tcp_and_dnsrr_in_host_mode_are_fine():
    Cluster(SEED_NODES).plan(SEED_NODES, NETS, [web(), dict(web(), name='udp', publish=[
        {'published': 8080, 'protocol': 'udp'}]), dict(web(), name='dns', publish=[
            {'published': 53, 'mode': 'host'}], endpoint_mode='dnsrr')])


def test_ingress_network_endpoints_and_node_dnat():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, NETS, [web(), {'name': 'other', 'networks': ['uber-net'], 'replicas': 1}])
    # the ingress network comes after the user's networks took their subnets
    assert [(n['name'], n['subnets'][0]['subnet']) for n in plan['networks']] == [('uber-net', '10.0.0.0/24'),
                                                                                  ('ingress', '10.0.1.0/24')]
    assert c.state['networks']['ingress']['internal'] is True
    # every node has an endpoint (addresses first, before any task), web's tasks are on ingress too
    for host in ('node1', 'node2'):
        ep = plan['nodes'][host]['ingress_endpoint']
        assert ep['name'] == 'ingress-sbox' and ep['interfaces'][0]['network'] == 'ingress'
        assert ep['gateway_interface']['ip'] == '172.18.0.2'       # the first address of each node's bridge
        assert [s['network'] for s in plan['nodes'][host]['sandboxes']] == ['uber-net', 'ingress']
    ips = [plan['nodes'][h]['ingress_endpoint']['interfaces'][0]['ip'] for h in ('node1', 'node2')]
    assert ips == ['10.0.1.2', '10.0.1.3']
    backends = [t['addresses']['ingress'] for t in svc_tasks(plan, 'web')]
    assert backends == ['10.0.1.4', '10.0.1.5'] and svc_tasks(plan, 'other')[0]['addresses'].keys() == {'uber-net'}
    assert plan['nodes']['node1']['ingress_endpoint']['ingress'] == [
        {'protocol': 'tcp', 'port': 8080, 'target': 80, 'backends': backends}]
    # each node DNATs 8080 to its endpoint; the ingress network is no name table and no VIP
    assert plan['nodes']['node2']['gateway']['published'] == [
        {'protocol': 'tcp', 'port': 8080, 'target': 8080, 'backends': ['172.18.0.2']}]
    assert 'ingress' not in plan['name_tables'] and plan['services'][0]['vips'] == {'uber-net': '10.0.0.2'}
    task = [t for t in plan['nodes']['node1']['tasks'] if t['service'] == 'web'][0]
    assert task['hosts_networks'] == task['endpoint_networks'] == ['uber-net']
    assert [i['network'] for i in task['interfaces']] == ['uber-net', 'ingress']
    # the endpoints are peers of each other and of the tasks on ingress
    peers = [p['ip'] for s in plan['nodes']['node1']['sandboxes'] if s['network'] == 'ingress'
             for p in s['subnets'][0]['peers']]
    assert '10.0.1.3' in peers
    # stable, then no publish left: the ingress network and endpoints go
    assert c.plan(SEED_NODES, NETS, [web(), {'name': 'other', 'networks': ['uber-net'], 'replicas': 1}]) == plan
    plan = c.plan(SEED_NODES, NETS, [web(publish=[]), {'name': 'other', 'networks': ['uber-net'], 'replicas': 1}])
    assert [n['name'] for n in plan['networks']] == ['uber-net']
    assert all(n['ingress_endpoint'] is None and 'ingress' not in c.state['nodes'][h] for h, n in plan['nodes'].items())
    assert all(t['addresses'].keys() == {'uber-net'} for t in svc_tasks(plan, 'web'))


def test_host_mode_dnats_on_the_nodes_with_a_task_only():
    c = Cluster(SEED_NODES)
    svc = web(replicas=1, publish=[{'published': 9090, 'target': 80, 'mode': 'host'}])
    plan = c.plan(SEED_NODES, NETS, [svc])
    assert [n['name'] for n in plan['networks']] == ['uber-net']          # no routing mesh
    (task,) = plan['nodes']['node1']['tasks']
    assert plan['nodes']['node1']['gateway']['published'] == [
        {'protocol': 'tcp', 'port': 9090, 'target': 80, 'backends': [task['gateway_interface']['ip']]}]
    assert plan['nodes']['node2']['gateway'] is None
    # its tasks need a way out
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, [{'name': 'back', 'internal': True}], [dict(svc, networks=['back'])])
    assert 'service web: publish 9090/tcp in mode host needs a way out, and its networks (back) are all internal' \
        in str(err.value)


def test_ingress_is_a_reserved_network_name():
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(SEED_NODES, [{'name': 'ingress'}], [])
    assert "the name ingress is the routing mesh's network" in str(err.value)


def test_a_port_a_process_of_a_node_listens_on_is_refused_naming_the_node():
    busy = [dict(SEED_NODES[0], listening={'tcp': [22, 8080], 'udp': [4789]}), SEED_NODES[1]]
    with pytest.raises(_plan.PlanError) as err:
        Cluster(SEED_NODES).plan(busy, NETS, [web()])
    assert ('service web: published port 8080/tcp is in use on node node1 (a process there listens on it); '
            'choose another port or stop that process') in str(err.value)
    # in mode host only the nodes with a task of the service count; udp is another port
    Cluster(SEED_NODES).plan(busy, NETS, [web(replicas=1, constraints=['node.hostname==node2'], publish=[
        {'published': 8080, 'mode': 'host'}, {'published': 8080, 'protocol': 'udp'}])])


def test_the_ingress_network_can_be_encrypted_and_changed_in_place():
    c = Cluster(SEED_NODES)
    plan = c.plan(SEED_NODES, NETS, [web()], ingress_encrypted=True)
    ingress = [n for n in plan['networks'] if n['name'] == 'ingress'][0]
    assert ingress['encrypted'] is True and ingress['mtu'] == 1416           # ESP's overhead, as any network
    assert all(v['encrypted'] for v in plan['nodes']['node1']['remote_vteps'])
    plan = c.plan(SEED_NODES, NETS, [web()])                                 # omitted: kept
    assert [n for n in plan['networks'] if n['name'] == 'ingress'][0]['encrypted'] is True
    plan = c.plan(SEED_NODES, NETS, [web()], ingress_encrypted=False)
    assert [n for n in plan['networks'] if n['name'] == 'ingress'][0]['encrypted'] is False
    assert 'network ingress: encrypted changes to False' in [m['msg'] for m in c.messages]
