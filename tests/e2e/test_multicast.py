# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``multicast: true`` on a network, end to end on the seed lab: broadcast and multicast between
tasks on different nodes (asked of Docker since 2015, moby/libnetwork#552), by head-end
replication: each VTEP holds one all-zeros FDB entry per other node with tasks of the subnet.
A network without it keeps Docker's behaviour (nothing is flooded between nodes).

uber-net has ``multicast: true``, clear-net not; the services test and web put one task of each on
each node. A UDP listener in node2's task (joined to 239.1.2.3) reports what node1's task sent to
255.255.255.255 and to 239.1.2.3 on each network, until a unicast 'done' (which crosses on every
network) says the sender is through: no timing in the verdict. Then multicast is turned off in place.
"""

from __future__ import annotations

import pytest

from conftest import PYTHON

SLEEP = ['sleep', 'infinity']
GROUP = '239.1.2.3'
ZERO = '00:00:00:00:00:00'
NODE_ADDR = {'node1': '172.31.1.5', 'node2': '192.168.1.5'}

LISTEN = '''
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 5000))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack('4s4s', socket.inet_aton(sys.argv[1]), socket.inet_aton(sys.argv[2])))
print('listening', flush=True)
s.settimeout(30)                     # a safety net only: the sender ends with a unicast 'done'
while True:
    data, src = s.recvfrom(100)
    print('got', data.decode(), src[0], flush=True)
    if data == b'done':
        break
'''

SEND = '''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'eth0')
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for i in range(3):
    s.sendto(b'broadcast', ('255.255.255.255', 5000))
    s.sendto(b'multicast', (sys.argv[1], 5000))
    time.sleep(0.2)
time.sleep(0.3)
s.sendto(b'done', (sys.argv[2], 5000))    # unicast crosses on every network: the listener stops
'''


def group_vars(multicast=True):
    return {'overlay_networks': [{'name': 'uber-net', 'multicast': multicast}, {'name': 'clear-net'}],
            'overlay_services': [{'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': SLEEP},
                                 {'name': 'web', 'networks': ['clear-net'], 'replicas': 2, 'command': SLEEP}]}


def tasks(lab):
    """{(service, slot): (node, task name)}"""
    out = {}
    for node in lab.nodes:
        for t in lab.snapshot(node).tasks:
            out[(t.split('.')[0], int(t.split('.')[1]))] = (node, t)
    return out


def task_ip(lab, node, task):
    return lab.snapshot(node).task_eth(task)['addresses'][0].split('/')[0]


def heard(lab, service):
    """What the service's task on node2 received from its task on node1: {(payload, source ip)}."""
    t = tasks(lab)
    (n1, sender), (n2, receiver) = t[(service, 1)], t[(service, 2)]
    assert (n1, n2) == ('node1', 'node2')
    lab.sh('node2', 'ip netns exec %s %s -c %s %s %s > /tmp/listen.out 2>&1 & echo $! > /tmp/listen.pid'
           % (receiver, PYTHON, _quote(LISTEN), GROUP, task_ip(lab, 'node2', receiver)))
    lab.sh('node2', 'for i in $(seq 300); do grep -q listening /tmp/listen.out && exit 0; sleep 0.1; done; exit 1')
    lab.sh('node1', 'ip netns exec %s %s -c %s %s %s'
           % (sender, PYTHON, _quote(SEND), GROUP, task_ip(lab, 'node2', receiver)))
    lab.sh('node2', 'while kill -0 $(cat /tmp/listen.pid) 2>/dev/null; do sleep 0.2; done')
    out = lab.sh('node2', 'cat /tmp/listen.out; rm -f /tmp/listen.out /tmp/listen.pid')
    got = {tuple(line.split()[1:3]) for line in out.splitlines() if line.startswith('got ')}
    assert ('done', task_ip(lab, 'node1', sender)) in got, out          # the listener heard the end
    return got - {('done', task_ip(lab, 'node1', sender))}


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def zero_entries(lab, node, network):
    """The destinations of the all-zeros FDB entries on the VTEP of ``network``'s sandbox on ``node``."""
    state = lab.cluster_state('node1')
    sb = 'ov-' + state['networks'][network]['id'][:10]
    snap = lab.snapshot(node)
    return sorted(dst for (dev, mac), dst in snap.fdb(sb).items() if mac == ZERO) if sb in snap['netns'] \
        else None


@pytest.fixture(scope='module')
def lab(make_lab):
    lab = make_lab('seed', group_vars=group_vars())
    lab.play().assert_ok()
    return lab


def test_the_vteps_flood_to_each_other_on_the_multicast_network_only(lab):
    assert zero_entries(lab, 'node1', 'uber-net') == [NODE_ADDR['node2']]
    assert zero_entries(lab, 'node2', 'uber-net') == [NODE_ADDR['node1']]
    assert zero_entries(lab, 'node1', 'clear-net') == zero_entries(lab, 'node2', 'clear-net') == []
    lab.play().assert_unchanged()


def test_broadcast_and_multicast_reach_the_task_on_the_other_node(lab):
    sender = task_ip(lab, 'node1', tasks(lab)[('test', 1)][1])
    assert heard(lab, 'test') == {('broadcast', sender), ('multicast', sender)}


def test_a_network_without_multicast_floods_nothing_between_nodes(lab):
    assert heard(lab, 'web') == set()


def test_multicast_off_in_place(lab):
    before = lab.cluster_state('node1')['networks']['uber-net']
    lab.play(group_vars=group_vars(multicast=False)).assert_ok()
    after = lab.cluster_state('node1')['networks']['uber-net']
    assert (after['id'], after['subnets'][0]['vni']) == (before['id'], before['subnets'][0]['vni'])
    assert zero_entries(lab, 'node1', 'uber-net') == zero_entries(lab, 'node2', 'uber-net') == []
    assert heard(lab, 'test') == set()
    lab.play().assert_unchanged()
