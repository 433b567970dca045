# -*- coding: utf-8 -*-
"""End to end on one machine: two "nodes" (namespaces A and B, cabled by a veth underlay
192.0.2.1/24 - 192.0.2.2/24), each built by the netns, bridge, vxlan and veth modules running
INSIDE that node (``ip netns exec NODE ansible ...``), the way the product will build them.
Peer entries are written by hand with iproute2 (the fdb/neigh modules have their own tests).
"""

from __future__ import annotations

import json
import time
import uuid

from conftest import sh
from _helpers_links import link, run_in_node, udp_sockets, vxlan_data

VNI = 4097


def counters(ns, dev):
    stats = json.loads(sh('ip -j -s -n %s link show dev %s' % (ns, dev)))[0]['stats64']
    return stats['rx']['packets'], stats['tx']['packets']


def build_node(node, sb, task, local, task_ip, veth):
    mac = '02:42:' + ':'.join('%02x' % int(x) for x in task_ip.split('.'))
    steps = [
        ('netns', {'name': sb}),
        ('netns', {'name': task}),
        ('bridge', {'name': 'br0', 'netns': sb, 'addresses': ['10.0.0.1/24']}),
        ('vxlan', {'name': 'vxlan0', 'netns': sb, 'vni': VNI, 'mtu': 1450, 'master': 'br0', 'local': local}),
        ('veth', {'name': veth, 'netns': sb, 'master': 'br0', 'mtu': 1450, 'peer': 'eth0', 'peer_netns': task,
                  'peer_mac': mac, 'peer_addresses': [task_ip + '/24'],
                  'peer_routes': [{'dst': '11.1.1.0/24', 'via': '10.0.0.1'}]}),
    ]
    return [run_in_node(node, module, args) for module, args in steps], steps, mac


def test_two_nodes_overlay_built_by_the_modules(scratch_netns):
    node_a, node_b = scratch_netns('nodeA'), scratch_netns('nodeB')
    sb_a, sb_b = scratch_netns('e2esbA', create=False), scratch_netns('e2esbB', create=False)
    t_a, t_b = scratch_netns('e2etA', create=False), scratch_netns('e2etB', create=False)
    sh('ip -n %s link add ul0 type veth peer name ul0 netns %s' % (node_a, node_b))
    for node, addr in ((node_a, '192.0.2.1/24'), (node_b, '192.0.2.2/24')):
        sh('ip -n %s addr add %s dev ul0 && ip -n %s link set ul0 up' % (node, addr, node))

    veth_a, veth_b = 'veth' + uuid.uuid4().hex[:7], 'veth' + uuid.uuid4().hex[:7]
    res_a, steps_a, mac_a = build_node(node_a, sb_a, t_a, '192.0.2.1', '10.0.0.3', veth_a)
    res_b, steps_b, mac_b = build_node(node_b, sb_b, t_b, '192.0.2.2', '10.0.0.4', veth_b)
    assert all(r['changed'] for r in res_a + res_b)
    # the same VNI on both nodes: each node's sockets live in its own namespace
    for node, sb in ((node_a, sb_a), (node_b, sb_b)):
        assert '0.0.0.0:4789' in udp_sockets(node)
        assert udp_sockets(sb) == []
        dev = link(sb, 'vxlan0')
        assert vxlan_data(dev)['id'] == VNI and vxlan_data(dev)['port'] == 4789 and 'link_netnsid' in dev
    # T14: the same MTU on the VTEP, both veth ends and eth0; br0 follows its ports
    for sb, task, veth in ((sb_a, t_a, veth_a), (sb_b, t_b, veth_b)):
        assert [link(sb, 'vxlan0')['mtu'], link(sb, veth)['mtu'], link(task, 'eth0')['mtu'],
                link(sb, 'br0')['mtu']] == [1450] * 4

    # idempotent as a whole: a second converge changes nothing
    for node, steps in ((node_a, steps_a), (node_b, steps_b)):
        for module, args in steps:
            assert run_in_node(node, module, args)['changed'] is False, (node, module)

    # peer entries, as Docker's peerdb programs them (by hand here)
    for sb, ip, mac, vtep in ((sb_a, '10.0.0.4', mac_b, '192.0.2.2'), (sb_b, '10.0.0.3', mac_a, '192.0.2.1')):
        sh('ip -n %s neigh replace %s lladdr %s dev vxlan0 nud permanent' % (sb, ip, mac))
        sh('bridge -n %s fdb append %s dev vxlan0 dst %s self permanent' % (sb, mac, vtep))

    ul_before = counters(node_a, 'ul0')
    sh('ip netns exec %s ping -c3 -i0.2 -W2 10.0.0.4' % t_a)
    ul_after = counters(node_a, 'ul0')
    assert ul_after[1] - ul_before[1] >= 3 and ul_after[0] - ul_before[0] >= 3   # over the underlay
    assert '1  10.0.0.4' in sh('ip netns exec %s traceroute -n -q1 -w1 10.0.0.4' % t_a)   # one hop
    # MTU 1450 end to end: 1422 bytes + 28 of headers pass with DF, 1423 do not
    sh('ip netns exec %s ping -c1 -W2 -M do -s 1422 10.0.0.4' % t_a)
    assert 'message too long' in sh('ip netns exec %s ping -c1 -W2 -M do -s 1423 10.0.0.4 2>&1 || true' % t_a)

    # teardown the documented way: the netns module deletes the VTEP before the namespace, so the
    # node can make the same VNI again at once (namespace deletion alone is asynchronous, T4)
    res = run_in_node(node_a, 'netns', {'name': sb_a, 'state': 'absent'})
    assert res['actions'][0] == 'delete vxlan device vxlan0'
    sb_a2 = scratch_netns('e2esbA2', create=False)
    run_in_node(node_a, 'netns', {'name': sb_a2})
    again = run_in_node(node_a, 'vxlan', {'name': 'vxlan0', 'netns': sb_a2, 'vni': VNI, 'local': '192.0.2.1'})
    assert again['changed'] is True and vxlan_data(link(sb_a2, 'vxlan0'))['id'] == VNI
    # the task's eth0 goes with the sandbox end of its pair (once the kernel has destroyed it)
    for _attempt in range(50):
        if link(t_a, 'eth0') is None:
            break
        time.sleep(0.1)
    assert link(t_a, 'eth0') is None
