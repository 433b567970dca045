# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed's last paragraph: one network with two subnets, routed inside the sandbox
(``docker network create --subnet=10.1.1.0/24 --subnet=11.1.1.0/24 -d overlay prod-net``), next
to the seed's uber-net; then everything set to ``state: absent`` leaves nothing on any node.

One seed lab for the module. ``converged`` makes the cluster once; the teardown test runs last."""

from __future__ import annotations

import pytest

from conftest import vxlan_data

NETWORKS = [
    {'name': 'uber-net'},
    {'name': 'prod-net', 'subnets': ['10.1.1.0/24', '11.1.1.0/24']},
]
SERVICES = [
    {'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': ['sleep', 'infinity']},
    {'name': 'web', 'networks': [{'name': 'prod-net', 'subnet': '10.1.1.0/24'}], 'replicas': 2,
     'command': ['sleep', 'infinity']},
    {'name': 'api', 'networks': [{'name': 'prod-net', 'subnet': '11.1.1.0/24'}], 'replicas': 2,
     'command': ['sleep', 'infinity']},
]
# slot -> (node, address): spread puts slot 1 on node1 and slot 2 on node2 for every service
WHERE = {'test': {1: ('node1', '10.0.0.3'), 2: ('node2', '10.0.0.4')},
         'web': {1: ('node1', '10.1.1.3'), 2: ('node2', '10.1.1.4')},
         'api': {1: ('node1', '11.1.1.3'), 2: ('node2', '11.1.1.4')}}


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('seed', group_vars={'overlay_networks': NETWORKS, 'overlay_services': SERVICES})


@pytest.fixture(scope='module')
def converged(lab):
    play = lab.play()
    play.assert_ok()
    snaps = lab.snapshots()
    tasks = {}
    for node, snap in snaps.items():
        for t in snap.tasks:
            service, slot = t.split('.')[:2]
            tasks[(service, int(slot))] = (node, t)
    return {'play': play, 'snap': snaps, 'tasks': tasks}


def _prod_sandbox(snap):
    """The sandbox with two bridges (prod-net)."""
    (sb,) = [s for s in snap.sandboxes if snap.link(s, 'br1') is not None]
    return sb


def test_placement_and_addresses(converged):
    assert sorted(converged['tasks']) == [(s, n) for s in ('api', 'test', 'web') for n in (1, 2)]
    for (service, slot), (node, task) in converged['tasks'].items():
        want_node, ip = WHERE[service][slot]
        assert node == want_node
        eth0 = converged['snap'][node].task_eth(task)
        assert eth0['addresses'] == [ip + '/24']
        assert eth0['mac'] == '02:42:' + ':'.join('%02x' % int(b) for b in ip.split('.'))


@pytest.mark.parametrize('node', ['node1', 'node2'])
def test_two_bridges_two_vteps_two_vnis_and_forwarding(converged, node):
    snap = converged['snap'][node]
    assert len(snap.sandboxes) == 2                        # uber-net and prod-net: each has a task here
    sb = _prod_sandbox(snap)
    assert snap.addresses(sb, 'br0') == ['10.1.1.1/24'] and snap.addresses(sb, 'br1') == ['11.1.1.1/24']
    vx0, vx1 = vxlan_data(snap.link(sb, 'vxlan0')), vxlan_data(snap.link(sb, 'vxlan1'))
    assert snap.link(sb, 'vxlan0')['master'] == 'br0' and snap.link(sb, 'vxlan1')['master'] == 'br1'
    assert vx0['id'] != vx1['id'] and min(vx0['id'], vx1['id']) >= 4096
    assert (vx0['port'], vx1['port']) == (4789, 4789)
    # one VNI per subnet across the node: uber-net's one and prod-net's two are all different
    vnis = [vxlan_data(li)['id'] for _ns, li in snap.links_of_kind('vxlan')]
    assert sorted(vnis) == sorted(set(vnis)) and len(vnis) == 3
    # routing between the subnets happens in the sandbox: ip_forward there only
    assert snap['ns'][sb]['ip_forward'] == 1
    (uber,) = [s for s in snap.sandboxes if s != sb]
    assert snap['ns'][uber]['ip_forward'] == 0
    # each task has a route to the sibling subnet via its own gateway
    web = converged['tasks'][('web', 1 if node == 'node1' else 2)][1]
    api = converged['tasks'][('api', 1 if node == 'node1' else 2)][1]
    routes = {(r['dst'], r.get('gateway')) for r in snap['ns'][web]['routes']}
    assert ('11.1.1.0/24', '10.1.1.1') in routes
    routes = {(r['dst'], r.get('gateway')) for r in snap['ns'][api]['routes']}
    assert ('10.1.1.0/24', '11.1.1.1') in routes


@pytest.mark.parametrize('src,dst,gateway', [(('web', 1), ('api', 2), '10.1.1.1'),
                                             (('api', 2), ('web', 1), '11.1.1.1'),
                                             (('web', 2), ('api', 2), '10.1.1.1')])
def test_tasks_route_between_the_subnets(lab, converged, src, dst, gateway):
    node, task = converged['tasks'][src]
    target = WHERE[dst[0]][dst[1]][1]
    out = lab.exec(node, ['ip', 'netns', 'exec', task, 'ping', '-c', '2', '-i', '0.2', '-W', '2', target])
    assert ' 0% packet loss' in out
    out = lab.exec(node, ['ip', 'netns', 'exec', task, 'traceroute', '-n', '-q', '1', '-w', '2', target])
    assert [line.split()[1] for line in out.splitlines()[1:]] == [gateway, target], out


def test_networks_stay_isolated(lab, converged):
    node, task = converged['tasks'][('web', 1)]
    out = lab.exec(node, ['ip', 'netns', 'exec', task, 'ping', '-c', '1', '-W', '1', WHERE['test'][2][1]], check=False)
    assert out.returncode != 0


def test_everything_absent_leaves_nothing(lab, converged):
    before = converged['snap']
    assert all(len(s.tasks) == 3 and len(s.sandboxes) == 2 for s in before.values())
    absent = {'overlay_networks': [dict(n, state='absent') for n in NETWORKS],
              'overlay_services': [dict(s, state='absent') for s in SERVICES]}
    lab.play(group_vars=absent).assert_ok()
    for node, snap in lab.snapshots().items():
        assert snap['netns'] == [], (node, snap['netns'])
        assert not snap['etc_netns'], (node, snap['etc_netns'])
        assert not snap['runtime'], (node, snap['runtime'])
        assert snap.foreign_processes() == [], (node, snap.foreign_processes())
        assert snap.links_of_kind('vxlan') == [], node
        # the node namespace has only the lab's own links left (eth0 is the lab's veth to the router)
        assert sorted(li['ifname'] for li in snap['links']) == ['eth0', 'lo'], node
        assert not [a for a in snap['udp'] if a.endswith(':4789')], (node, snap['udp'])
    # and removing nothing again changes nothing
    lab.play().assert_unchanged()
