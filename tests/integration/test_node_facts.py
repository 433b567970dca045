# -*- coding: utf-8 -*-
"""linuxnet.overlay.node_facts in the sandbox's own network namespace (a throwaway namespace made
by tests/sandbox.sh, never the root one), which plays the node."""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import sh


@pytest.fixture
def underlay():
    # the "node": an underlay device with an address and a default route, and a peer namespace
    peer = 'peer-' + uuid.uuid4().hex[:6]
    sh(f"""ip netns add {peer}
          ip link add ul0 mtu 1500 type veth peer name ul0 netns {peer}
          ip addr add 172.31.1.5/24 dev ul0; ip link set ul0 up
          ip -n {peer} addr add 172.31.1.1/24 dev ul0; ip -n {peer} link set ul0 up
          ip route add default via 172.31.1.1
          ip route add 10.99.0.0/16 via 172.31.1.1""")
    yield peer
    sh(f'ip link del ul0; ip netns del {peer}', check=False)


def test_facts_of_the_node(run_module, underlay):
    res = run_module('node_facts', {'data_path_port': 4789})
    node = res['node']
    assert node['data_path_addr'] == '172.31.1.5' and node['family'] == 4
    assert node['underlay_dev'] == 'ul0' and node['underlay_mtu'] == 1500
    assert '172.31.1.0/24' in node['routes'] and '10.99.0.0/16' in node['routes']
    assert '0.0.0.0/0' not in node['routes']
    assert node['addresses'] == ['172.31.1.5/24']
    assert node['port'] == {'number': 4789, 'own_vteps': 0, 'foreign': []}
    assert not res['changed']


def test_the_collections_gateway_bridge_is_no_route_of_the_node(run_module, underlay):
    # the planner checks the gateway subnet against the node's routes: its own bridge must not count
    sh('ip link add ov-gwbridge type bridge && ip addr add 172.18.0.1/16 dev ov-gwbridge && '
       'ip link set ov-gwbridge up && ip link add other-br type bridge && ip addr add 172.19.0.1/16 dev other-br && '
       'ip link set other-br up')
    try:
        node = run_module('node_facts', {'data_path_port': 4789})['node']
        assert '172.18.0.0/16' not in node['routes'] and '172.18.0.1/16' not in node['addresses']
        assert '172.19.0.0/16' in node['routes'] and '172.19.0.1/16' in node['addresses']
    finally:
        sh('ip link del ov-gwbridge; ip link del other-br', check=False)


def test_listening_ports_are_reported(run_module, underlay):
    # what the planner refuses to publish: a TCP listener and a bound UDP socket of the node
    import socket
    tcp, udp = socket.socket(), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    tcp.bind(('0.0.0.0', 12345))
    tcp.listen(1)
    udp.bind(('::', 12346))
    try:
        node = run_module('node_facts', {'data_path_port': 4789})['node']
        assert 12345 in node['listening']['tcp'] and 12346 in node['listening']['udp']
        assert 12346 not in node['listening']['tcp'] and 12345 not in node['listening']['udp']
    finally:
        tcp.close()
        udp.close()


def test_missing_data_path_address(run_module, underlay):
    res = run_module('node_facts', {'data_path_addr': '192.0.2.77'}, expect_failure=True)
    assert 'data-path address 192.0.2.77 is not configured' in res['msg'] and '172.31.1.5/24' in res['msg']
    res = run_module('node_facts', {'data_path_addr': 'not-an-ip'}, expect_failure=True)
    assert "'not-an-ip' is not an IP address" in res['msg']


def test_port_taken_by_a_foreign_vxlan_device(run_module, underlay):
    sh('ip link add flannel.1 type vxlan id 1 dstport 4789 nolearning && ip link set flannel.1 up')
    try:
        res = run_module('node_facts', {'data_path_addr': '172.31.1.5', 'data_path_port': 4789}, expect_failure=True)
        assert 'port 4789 is already taken' in res['msg'] and 'flannel.1' in res['msg']
        # another port is free
        assert run_module('node_facts', {'data_path_port': 4790})['node']['port']['foreign'] == []
    finally:
        sh('ip link del flannel.1', check=False)


def test_own_vtep_in_a_sandbox_is_not_a_conflict(run_module, underlay, scratch_netns):
    sb = scratch_netns('sb')
    sh(f'ip link add vxt type vxlan id 4096 dstport 4789 nolearning proxy && ip link set vxt netns {sb} '
       f'&& ip -n {sb} link set vxt up')
    node = run_module('node_facts', {'data_path_port': 4789})['node']
    assert node['port']['own_vteps'] == 1 and node['port']['foreign'] == []


def test_port_taken_by_a_plain_socket(run_module, underlay):
    sh('python3 -c "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); '
       's.bind((\'0.0.0.0\',4789)); time.sleep(30)" >/dev/null 2>&1 & echo $! > /tmp/udp-holder.pid; sleep 0.3')
    try:
        res = run_module('node_facts', {'data_path_port': 4789}, expect_failure=True)
        assert 'user-space program' in res['msg']
    finally:
        sh('kill $(cat /tmp/udp-holder.pid); rm -f /tmp/udp-holder.pid', check=False)


def test_gc_thresh_is_reported_where_the_namespace_lacks_it(run_module, underlay):
    res = run_module('node_facts', {'gc_thresh': [8192, 49152, 65536]})
    gc = res['node']['gc_thresh']
    # kernel 6.18: the knobs exist only in the initial namespace, which tests never touch
    assert gc['available'] is False and 'initial namespace' in gc['note']
    assert not res['changed']
    bad = run_module('node_facts', {'gc_thresh': [1, 2]}, expect_failure=True)
    assert 'three non-negative integers' in bad['msg']


def test_state_dir_reports_the_cluster_held_without_secrets(run_module, underlay, tmp_path):
    state_dir = str(tmp_path / 'state')
    assert run_module('node_facts', {'state_dir': state_dir})['node']['cluster'] is None
    run_module('swarm', {'role': 'init', 'state_dir': state_dir, 'node': {'hostname': 'node1', 'addr': '172.31.1.5'}})
    with open(str(tmp_path / 'state' / 'cluster.json'), encoding='utf-8') as f:
        state = json.load(f)
    res = run_module('node_facts', {'state_dir': state_dir})
    cluster = res['node']['cluster']
    assert cluster['id'] == state['cluster']['id'] and cluster['version'] == state['version']
    assert cluster['nodes'] == ['node1']
    assert 'secrets' not in json.dumps(res) and 'SWMTKN' not in json.dumps(res)
    # without state_dir (a worker), nothing is read
    assert 'cluster' not in run_module('node_facts', {'data_path_port': 4789})['node']


def test_peers_are_pinged_and_the_silent_ones_reported(run_module, underlay):
    # 172.31.1.1 (the peer namespace) answers; 172.31.1.9 is on the link but nobody has it; 10.99.0.7
    # is routed to the peer, which has no route on: both never answer
    res = run_module('node_facts', {'peers': ['172.31.1.1', '172.31.1.9', '10.99.0.7', '172.31.1.5']})
    assert sorted(res['node']['unreachable_peers']) == ['10.99.0.7', '172.31.1.9']
    assert not res['changed']
    # without peers there is no such key: the role falls back to its ping step
    assert 'unreachable_peers' not in run_module('node_facts', {'data_path_port': 4789})['node']


def test_peers_bad_input_is_refused(run_module, underlay):
    for peers, needle in ((['not-an-ip'], "'not-an-ip' is not an IP address"), (['fd00::1'], 'fd00::1 is not an IPv4')):
        res = run_module('node_facts', {'peers': peers}, expect_failure=True)
        assert needle in res['msg']


def test_default_route_source_and_ipv6_routes(run_module, underlay):
    # a second address on the underlay device, named as the default route's preferred source,
    # and an IPv6 address and route: read over rtnetlink as `ip address` / `ip route` show them
    sh('ip addr add 172.31.1.6/24 dev ul0 && ip route replace default via 172.31.1.1 src 172.31.1.6 && '
       'ip -6 addr add fd00:31::5/64 dev ul0 nodad && ip -6 route add fd00:99::/48 via fd00:31::1')
    node = run_module('node_facts', {'data_path_port': 4789})['node']
    assert node['data_path_addr'] == '172.31.1.6' and node['underlay_dev'] == 'ul0'
    assert sorted(node['addresses']) == ['172.31.1.5/24', '172.31.1.6/24', 'fd00:31::5/64']
    assert {'172.31.1.0/24', '10.99.0.0/16', 'fd00:31::/64', 'fd00:99::/48'} <= set(node['routes'])
    assert not [r for r in node['routes'] if r.startswith('fe80:') or r.startswith('ff')]
    node6 = run_module('node_facts', {'data_path_addr': 'fd00:31::5'})['node']
    assert node6['family'] == 6 and node6['underlay_dev'] == 'ul0'
