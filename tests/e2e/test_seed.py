# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed walkthrough end to end: two nodes on different segments behind a router,
``site.yml`` with uber-net and the service ``test`` (2 replicas of ``sleep infinity``).

One lab for the module: a ``--check`` on the fresh cluster first (it must pass and touch
nothing), then the cold run, then the tests, which only read (or re-run the converged
cluster, which must change nothing)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import assert_task_neighbours_exact, task_addresses, vxlan_data


@pytest.fixture(scope='module')
def seed(make_lab):
    lab = make_lab('seed')
    before = lab.snapshots()
    fresh_check = lab.play(check=True, diff=True)
    after_check = lab.snapshots()
    cold = lab.play()
    cold.assert_ok()
    return {'lab': lab, 'before': before, 'fresh_check': fresh_check, 'after_check': after_check,
            'cold': cold, 'snap': lab.snapshots()}


def test_check_mode_on_a_fresh_cluster_predicts_and_touches_nothing(seed):
    play = seed['fresh_check'].assert_ok()
    assert all(c > 0 for c in play.changed.values()), play.changed     # it predicts the work
    assert '+network uber-net' in play.out and '+task test.1.' in play.out   # the plan's diff
    for node in ('node1', 'node2'):
        before, after = seed['before'][node], seed['after_check'][node]
        assert after['netns'] == before['netns'] == []
        assert after['links'] == before['links']
        assert after['etc_netns'] is None and after['runtime'] is None
        assert after['state_files'] == {} and after['cluster_json'] is None
        assert len(after['processes']) == len(before['processes'])


def test_cold_run_prints_the_seed_reports(seed):
    play = seed['cold']
    (ls,) = play.debug_msgs('Network ls')
    rows = [line.split() for line in ls.splitlines()]
    assert rows[0] == ['NETWORK', 'ID', 'NAME', 'DRIVER', 'SCOPE']
    assert [r[1:] for r in rows[1:]] == [['uber-net', 'overlay', 'swarm']]

    (inspect,) = play.debug_msgs('Network inspect')
    (doc,) = json.loads(inspect)
    assert (doc['Name'], doc['Scope'], doc['Driver']) == ('uber-net', 'swarm', 'overlay')
    assert re.match(r'^[0-9a-z]{25}$', doc['Id']) and doc['Id'].startswith(rows[1][0])
    assert doc['IPAM']['Config'] == [{'Subnet': '10.0.0.0/24', 'Gateway': '10.0.0.1'}]

    (ps,) = play.debug_msgs('Service ps')
    lines = ps.splitlines()
    rows = [line.split() for line in lines[:-1]]
    assert rows[0][:3] == ['ID', 'NAME', 'NODE']
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows[1:]] == [('test.1', 'node1', 'Running', 'Running', '10.0.0.3'),
                                                                  ('test.2', 'node2', 'Running', 'Running', '10.0.0.4')]
    # the seed's addresses: the service's VIP is 10.0.0.2, as Docker hands it out before the tasks'
    assert lines[-1] == 'ENDPOINT MODE: vip  VIP: 10.0.0.2 (uber-net)'
    assert doc['Services'] == {'test': {'VIP': '10.0.0.2', 'EndpointMode': 'vip',
                                        'Tasks': [r[1] + '.' + c['Name'].split('.')[-1] for r, c in
                                                  zip(rows[1:], sorted(doc['Containers'].values(),
                                                                       key=lambda c: c['Name']))]}}

    (walk,) = play.debug_msgs('Print the walkthrough')
    t2 = seed['snap']['node2'].tasks[0]
    assert '3 packets transmitted, 3 received, 0% packet loss' in walk
    hops = walk.split('traceroute to 10.0.0.4', 1)[1].splitlines()[1:]
    # one hop, and the reverse lookup names the task as the seed shows: test.2.<id>.uber-net
    assert len(hops) == 1 and hops[0].split()[:3] == ['1', '%s.uber-net' % t2, '(10.0.0.4)'], walk


def test_second_run_changes_nothing(seed):
    seed['lab'].play().assert_unchanged()


def test_check_diff_on_the_converged_cluster_changes_nothing(seed):
    play = seed['lab'].play(check=True, diff=True).assert_unchanged()
    assert '--- before' not in play.out, 'a diff on a converged cluster:\n%s' % play.tail()
    # the walkthrough still runs (read-only) in check mode
    (walk,) = play.debug_msgs('Print the walkthrough')
    assert ' 0% packet loss' in walk


@pytest.mark.parametrize('node', ['node1', 'node2'])
def test_sandbox_bridge_and_vtep(seed, node):
    snap = seed['snap'][node]
    (sb,) = snap.sandboxes
    br0, vx = snap.link(sb, 'br0'), snap.link(sb, 'vxlan0')
    assert br0['linkinfo']['info_kind'] == 'bridge' and br0['mtu'] == 1450
    assert snap.addresses(sb, 'br0') == ['10.0.0.1/24']
    assert vx['linkinfo']['info_kind'] == 'vxlan' and vx['mtu'] == 1450 and vx['master'] == 'br0'
    data = vxlan_data(vx)
    assert (data['id'], data['port'], data['learning'], data['proxy']) == (4096, 4789, False, True)
    assert data['local'] == seed['lab'].node(node)['address']
    assert 'UP' in vx['flags'] and 'UP' in br0['flags']
    # the VTEP was made in the node namespace and moved in: its UDP socket stays in the node's
    assert any(a.endswith(':4789') for a in snap['udp']), snap['udp']
    assert snap['ns'][sb]['udp'] == []
    assert snap.link(None, 'vxlan0') is None                 # nothing left behind in the node namespace
    assert [li['ifname'] for _ns, li in snap.links_of_kind('vxlan')] == ['vxlan0']


@pytest.mark.parametrize('node,slot,ip', [('node1', 1, '10.0.0.3'), ('node2', 2, '10.0.0.4')])
def test_one_task_per_node_running_sleep(seed, node, slot, ip):
    snap = seed['snap'][node]
    (task,) = snap.tasks
    assert task.startswith('test.%d.' % slot)
    eth0 = snap.task_eth(task)
    assert eth0['mac'] == '02:42:0a:00:00:%02x' % int(ip.rsplit('.', 1)[1])
    assert eth0['addresses'] == ['%s/24' % ip] and eth0['mtu'] == 1450
    (sb,) = snap.sandboxes
    # its veth peer sits on br0 in the sandbox
    vets = [li for li in snap['ns'][sb]['links'] if li.get('linkinfo', {}).get('info_kind') == 'veth']
    assert len(vets) == 1 and vets[0]['master'] == 'br0' and vets[0]['mtu'] == 1450
    # `sleep infinity` runs inside the task's namespace, and nothing else does
    assert [p['argv'] for p in snap.processes_in(task)] == [['sleep', 'infinity']]
    # the hosts file names the service's VIP and both tasks, task.network first (what a reverse
    # lookup returns)
    hosts = snap['hosts'][task]
    assert snap['etc_netns'] == [task]
    assert re.search(r'^10\.0\.0\.2\ttest$', hosts, re.M), hosts
    assert re.search(r'^10\.0\.0\.3\ttest\.1\.[0-9a-z]{25}\.uber-net test\.1\.[0-9a-z]{25} tasks\.test$',
                     hosts, re.M), hosts
    assert re.search(r'^10\.0\.0\.4\ttest\.2\.[0-9a-z]{25}\.uber-net ', hosts, re.M), hosts


@pytest.mark.parametrize('node,remote_ip,remote_node', [('node1', '10.0.0.4', 'node2'),
                                                        ('node2', '10.0.0.3', 'node1')])
def test_peer_entries_for_the_remote_task_only(seed, node, remote_ip, remote_node):
    snap = seed['snap'][node]
    (sb,) = snap.sandboxes
    mac = '02:42:0a:00:00:%02x' % int(remote_ip.rsplit('.', 1)[1])
    assert snap.neigh(sb, 'vxlan0') == {('vxlan0', remote_ip): mac}
    assert snap.fdb(sb, 'vxlan0') == {('vxlan0', mac): seed['lab'].node(remote_node)['address']}
    # the local task knows the remote one as a permanent neighbour (it never ARPs); no entry anywhere else
    (task,) = snap.tasks
    assert snap.neigh(task) == {('eth0', remote_ip): mac}
    assert sorted(e[:2] for e in snap.all_peer_entries()) == sorted([(sb, 'fdb'), (sb, 'neigh'), (task, 'neigh')])


def test_ping_and_traceroute_with_the_tools(seed):
    lab, snap = seed['lab'], seed['snap']
    t1 = snap['node1'].tasks[0]
    t2 = snap['node2'].tasks[0]
    out = lab.exec('node1', ['ip', 'netns', 'exec', t1, 'ping', '-c', '2', '-i', '0.2', '-W', '2', t2])
    assert ' 0% packet loss' in out and '(10.0.0.4)' in out
    out = lab.exec('node2', ['ip', 'netns', 'exec', t2, 'traceroute', '-q', '1', '-w', '2', '10.0.0.3'])
    hops = out.splitlines()[1:]
    assert len(hops) == 1 and hops[0].split()[1:3] == ['%s.uber-net' % t1, '(10.0.0.3)'], out


def test_the_service_name_is_its_vip_and_answers(seed):
    # `test` resolves to the VIP, `tasks.test` to both tasks; a ping to the VIP is DNATed to a task
    lab, snap = seed['lab'], seed['snap']
    t1 = snap['node1'].tasks[0]
    assert lab.exec('node1', ['ip', 'netns', 'exec', t1, 'getent', 'ahostsv4', 'test']).split()[0] == '10.0.0.2'
    assert sorted(set(lab.exec('node1', ['ip', 'netns', 'exec', t1, 'getent', 'ahostsv4', 'tasks.test']).split())
                  & {'10.0.0.2', '10.0.0.3', '10.0.0.4'}) == ['10.0.0.3', '10.0.0.4']
    out = lab.exec('node1', ['ip', 'netns', 'exec', t1, 'ping', '-c', '4', '-i', '0.2', '-W', '2', 'test'])
    assert ' 0% packet loss' in out and '(10.0.0.2)' in out
    assert 'ip daddr 10.0.0.2 dnat to numgen random mod 2 map { 0 : 10.0.0.3, 1 : 10.0.0.4 }' in lab.exec(
        'node1', ['ip', 'netns', 'exec', t1, 'nft', 'list', 'table', 'ip', 'linuxnet_overlay_vip'])


NODE_PLAN = '/var/lib/linuxnet-overlay/node'


def test_cluster_state_on_the_manager_only(seed):
    n1, n2 = seed['snap']['node1'], seed['snap']['node2']
    files = n1['state_files']
    assert files['/var/lib/linuxnet-overlay']['mode'] == '0700'
    assert files['/var/lib/linuxnet-overlay/cluster.json']['mode'] == '0600'
    assert all(f['uid'] == 0 for f in files.values())
    state = json.loads(n1['cluster_json'])
    assert sorted(state['nodes']) == ['node1', 'node2']
    assert [s['subnet'] for s in state['networks']['uber-net']['subnets']] == ['10.0.0.0/24']
    # a worker holds no cluster state, only its own applied plan (for a restore), root only
    assert n2['cluster_json'] is None
    assert not [p for p in n2['state_files'] if p.endswith('.json') and not p.startswith(NODE_PLAN)], n2['state_files']
    for snap in (n1, n2):
        kept = snap['state_files']
        assert (kept[NODE_PLAN]['mode'], kept[NODE_PLAN + '/sandbox.json']['mode'], kept[NODE_PLAN + '/restore']['mode']) \
            == ('0700', '0600', '0700')
        assert all(f['uid'] == 0 for f in kept.values())


# --------------------------------------------------------------------------------------------
# scaling: runs last in this module, it changes the cluster (2 -> 5 -> 1 replicas)
# --------------------------------------------------------------------------------------------

def _by_slot(snaps):
    """{slot: (node, task name)} of the service test, from the namespaces on the nodes."""
    out = {}
    for node, snap in snaps.items():
        for t in snap.tasks:
            slot = int(t.split('.')[1])
            assert slot not in out, 'slot %d twice: %s and %s' % (slot, out[slot], (node, t))
            out[slot] = (node, t)
    return out


def _assert_converged(lab, snaps, placement):
    """Every node holds exactly its tasks, each running, and peer entries for exactly the remote ones."""
    by_slot = _by_slot(snaps)
    assert {s: n for s, (n, _t) in by_slot.items()} == placement
    eths = {}
    for slot, (node, task) in by_slot.items():
        snap = snaps[node]
        eth0 = snap.task_eth(task)
        ip = eth0['addresses'][0].split('/')[0]
        assert eth0['mac'] == '02:42:' + ':'.join('%02x' % int(b) for b in ip.split('.'))
        eths[task] = (node, ip, eth0['mac'])
        assert [p['argv'] for p in snap.processes_in(task)] == [['sleep', 'infinity']], task
    for node, snap in snaps.items():
        mine = sorted(t for _s, (n, t) in by_slot.items() if n == node)
        assert snap.tasks == mine
        assert sorted(snap['etc_netns'] or []) == mine
        assert sorted(snap['runtime'] or []) == mine
        # only the tasks' own commands run outside the node namespace
        assert sorted(p['argv'][0] for p in snap.foreign_processes()) == ['sleep'] * len(mine)
        if not mine:                                           # lazy: no task, no sandbox
            assert snap.sandboxes == [] and snap.links_of_kind('vxlan') == []
            continue
        (sb,) = snap.sandboxes
        remote = [v for v in eths.values() if v[0] != node]
        assert snap.neigh(sb) == {('vxlan0', ip): mac for _n, ip, mac in remote}
        assert snap.port_fdb(sb, 'vxlan0') == {mac: 'static' for _n, _ip, mac in remote}
        assert_task_neighbours_exact(snap, task_addresses(snaps), node)
        assert snap.fdb(sb) == {('vxlan0', mac): lab.node(n)['address'] for n, _ip, mac in remote}
        # every task's hosts file lists exactly the tasks that exist
        for t in mine:
            names = sorted(line.split()[2] for line in snap['hosts'][t].splitlines()
                           if line.startswith('10.') and len(line.split()) > 2)     # not the VIP's
            assert names == sorted(eths), (t, snap['hosts'][t])
    return by_slot


def test_scale_2_5_1(seed):
    lab = seed['lab']
    gv = lab.default_group_vars
    start = _assert_converged(lab, seed['snap'], {1: 'node1', 2: 'node2'})

    def scale(replicas, args=()):
        svc = dict(gv['overlay_services'][0], replicas=replicas)
        lab.play(group_vars=dict(gv, overlay_services=[svc]), args=args).assert_ok()     # verify passes
        lab.play(args=args).assert_unchanged()
        return lab.snapshots()

    # drift the scaling run must repair on the way: test.1's command died, node2 lost its peer
    # entries for test.1, node1 gained a stale entry for a task that does not exist
    (t1,) = seed['snap']['node1'].tasks
    (sb,) = seed['snap']['node1'].sandboxes
    lab.sh('node1', "kill $(cat /run/linuxnet-overlay/tasks/%s/pid)" % t1)
    lab.sh('node2', 'ip -n %s neigh del 10.0.0.3 dev vxlan0 && bridge -n %s fdb del 02:42:0a:00:00:03 dev vxlan0'
           % ((seed['snap']['node2'].sandboxes[0],) * 2))
    lab.sh('node1', 'ip -n {0} neigh add 10.0.0.99 lladdr 02:42:0a:00:00:63 dev vxlan0 nud permanent && '
           'bridge -n {0} fdb add 02:42:0a:00:00:63 dev vxlan0 dst 192.168.9.9 self permanent'.format(sb))
    # up: spread puts the new slots on the node with the fewest tasks, the first node on a tie
    # (the count comes the way users type it on the command line: `-e test_replicas=5`, a string)
    five = _assert_converged(lab, scale('{{ test_replicas }}', args=('-e', 'test_replicas=5')),
                             {1: 'node1', 2: 'node2', 3: 'node1', 4: 'node2', 5: 'node1'})
    assert five[1] == start[1] and five[2] == start[2]          # existing tasks stay where they are
    # down: the highest slots go, test.1 stays
    snaps = scale(1)
    one = _assert_converged(lab, snaps, {1: 'node1'})
    assert one[1] == start[1]
    gone = [t for s, (_n, t) in five.items() if s != 1]
    gone_ips = ['10.0.0.%d' % i for i in range(4, 8)]
    for node, snap in snaps.items():
        assert not set(gone) & set(snap['netns'])
        assert not set(gone) & set(snap['etc_netns'] or [])
        entries = snap.all_peer_entries()
        assert not [e for e in entries if e[1] == 'neigh' and e[2][1] in gone_ips], (node, entries)
        assert entries == [], (node, entries)          # test.1 has no remote peer left
        # nor any entry, learned or static, on any bridge, VTEP or task, for a removed task's MAC
        gone_macs = {'02:42:0a:00:00:%02x' % i for i in range(4, 8)}
        assert not gone_macs & snap.macs_anywhere(), (node, gone_macs & snap.macs_anywhere())


def test_48_tasks_on_two_nodes_every_pair_verifies(seed):
    """2256 task pairs in one kernel: the tasks' dynamic ARP entries alone would pass the host's one
    gc_thresh3 (1024 by default, in the root namespace only, which the lab may not change) and the
    probes missed (1232 of 4512 before the tasks got their neighbours from the plan). Runs last."""
    lab = seed['lab']
    gv = lab.default_group_vars
    svc = dict(gv['overlay_services'][0], replicas=48)
    play = lab.play(group_vars=dict(gv, overlay_services=[svc], verify_scope='all_pairs'))
    play.assert_ok()
    (matrix,) = play.debug_msgs('Print the matrix')
    assert 'pairs: 2256 ok, 0 failed;' in matrix, matrix
    snaps = lab.snapshots()
    assert sum(len(s.tasks) for s in snaps.values()) == 48
    addrs = task_addresses(snaps)
    for node, snap in snaps.items():
        assert_task_neighbours_exact(snap, addrs, node)
        for t in snap.tasks:                              # nothing learned by ARP in any task
            dynamic = [n for n in snap['ns'][t]['neigh'] if 'PERMANENT' not in n.get('state', [])]
            assert dynamic == [], (node, t, dynamic)
