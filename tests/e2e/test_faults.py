# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults (issue 6, part 2), each repaired by the next ``site.yml`` run on simulated hosts:

* a task namespace deleted by hand is made again (and the orphaned one does not linger);
* stale peer entries added by hand on a VTEP are removed, a wrong one is corrected;
* an address freed by one task and handed to a new task on another node: every node points at
  the new node's VTEP, none keeps the old entry (Docker's most reported bug, moby/moby#52661);
* a run interrupted half-way (SIGKILL to the whole ansible-playbook process group in the
  services play): no lock stays held, the re-run converges, nothing is leaked;
* a worker powered off and brought back empty (its disk erased): site.yml converges, verify
  passes, the other nodes point at it;
* the FIRST manager powered off and brought back empty: it restores the cluster state from
  another manager's replica (same cluster id, same tasks), instead of starting a new cluster;
* a worker powered off and brought back with its disk (a reboot): its kept plan's restore command
  rebuilds it with no site.yml run, its tasks reach the others, a check-mode run (the verify
  matrix) changes nothing and finds every pair reachable (issue 14, part 2).

One lab for the module: three nodes of the large lab (two managers, one worker, three segments).
Each test leaves the cluster converged for the next one."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from conftest import assert_nothing_stray, assert_peers_exact, task_addresses, tasks_by_service

NODES = ['node1', 'node2', 'node4']            # managers node1 (first), node2; worker node4
REUSE_NET = {'name': 'reuse-net', 'subnets': ['10.9.9.0/29']}   # 5 task addresses: .2 to .6
NETWORKS = [{'name': 'uber-net'}, REUSE_NET]
TEST = {'name': 'test', 'networks': ['uber-net'], 'mode': 'global', 'command': ['sleep', 'infinity']}
# dnsrr: no VIP takes an address of the tiny subnet, which the tasks fill exactly
KEEP = {'name': 'keep', 'networks': ['reuse-net'], 'mode': 'global', 'command': ['sleep', 'infinity'],
        'endpoint_mode': 'dnsrr'}
# fills reuse-net: keep takes .2 .3 .4, mover .5 .6 (the last handed out)
MOVER = {'name': 'mover', 'networks': ['reuse-net'], 'replicas': 2, 'constraints': ['node.hostname==node1'],
         'command': ['sleep', 'infinity'], 'endpoint_mode': 'dnsrr'}
MOVED = {'name': 'moved', 'networks': ['reuse-net'], 'replicas': 1, 'constraints': ['node.hostname==node4'],
         'command': ['sleep', 'infinity'], 'endpoint_mode': 'dnsrr'}
STATE = '/var/lib/linuxnet-overlay/cluster.json'
RESTORE = '/var/lib/linuxnet-overlay/node/restore'


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('large', nodes=NODES,
                    group_vars={'overlay_networks': NETWORKS, 'overlay_services': [TEST, KEEP, MOVER]})


@pytest.fixture(scope='module')
def converged(lab):
    lab.play().assert_ok()
    snaps = lab.snapshots()
    assert_converged(lab, snaps)
    return {'snap': snaps, 'cluster_id': lab.cluster_state('node1')['cluster']['id']}


def assert_converged(lab, snaps):
    assert_nothing_stray(snaps)
    assert_peers_exact(lab, snaps)
    for node, snap in snaps.items():
        for t in snap.tasks:
            assert [p['argv'] for p in snap.processes_in(t)] == [['sleep', 'infinity']], (node, t)


def managers_agree(lab, cluster_id):
    states = {n: lab.cluster_state(n) for n in ('node1', 'node2')}
    assert {n: s['cluster']['id'] for n, s in states.items()} == {'node1': cluster_id, 'node2': cluster_id}
    assert states['node1'] == states['node2']
    return states['node1']


def matrix_ok(play):
    (matrix,) = play.debug_msgs('Print the matrix')
    assert 'pairs:' in matrix and ', 0 failed' in matrix, matrix
    return matrix


def ping(lab, node, task, ip):
    out = lab.exec(node, ['ip', 'netns', 'exec', task, 'ping', '-c', '2', '-i', '0.2', '-W', '2', ip], check=False)
    assert out.returncode == 0 and ' 0% packet loss' in out.stdout, (node, task, ip, out.stdout, out.stderr)


def test_task_namespace_deleted_by_hand_is_recreated(lab, converged):
    snap = converged['snap']['node4']
    (task,) = tasks_by_service({'node4': snap})['test']
    (old,) = snap.processes_in(task)
    lab.exec('node4', ['ip', 'netns', 'del', task])
    play = lab.play().assert_ok()
    assert play.changed['node4'] > 0
    snaps = lab.snapshots()
    assert task in snaps['node4'].tasks
    # the old namespace is not kept alive by its old command (it would hold the old veth on the
    # bridge too): the command runs once, in the new namespace, as a new process
    assert_converged(lab, snaps)
    assert old['pid'] not in [p['pid'] for p in snaps['node4']['processes']]
    (new,) = snaps['node4'].processes_in(task)
    assert new['pid'] != old['pid']
    ip = [a for a, (n, _m, t) in task_addresses(snaps).items() if t == task][0]
    (t1,) = tasks_by_service({'node1': snaps['node1']})['test']
    ping(lab, 'node1', t1, ip)


def test_stale_peer_entries_added_by_hand_are_removed(lab, converged):
    snaps = lab.snapshots()
    addrs = task_addresses(snaps)
    sb = next(s for s in snaps['node2'].sandboxes if snaps['node2'].addresses(s, 'br0') == ['10.0.0.1/24'])
    # a stale entry for an address no task has, and node4's task pointed at the wrong VTEP
    (ip4, (_n, mac4, _t)), = [(ip, v) for ip, v in addrs.items() if v[0] == 'node4' and ip.startswith('10.0.0.')]
    lab.sh('node2', 'ip -n {0} neigh add 10.0.0.200 lladdr 02:42:0a:00:00:c8 dev vxlan0 nud permanent && '
           'bridge -n {0} fdb add 02:42:0a:00:00:c8 dev vxlan0 dst 192.168.2.99 self permanent && '
           'bridge -n {0} fdb replace {1} dev vxlan0 dst 192.168.2.5 self permanent'.format(sb, mac4))
    hand = lab.snapshot('node2')
    assert hand.fdb(sb)[('vxlan0', mac4)] == '192.168.2.5' and ('vxlan0', '10.0.0.200') in hand.neigh(sb)
    play = lab.play().assert_ok()
    assert play.changed['node2'] > 0 and play.changed['node4'] == 0, play.changed
    snaps = lab.snapshots()
    assert_converged(lab, snaps)
    assert snaps['node2'].fdb(sb)[('vxlan0', mac4)] == lab.node('node4')['address']
    (t2,) = tasks_by_service({'node2': snaps['node2']})['test']
    ping(lab, 'node2', t2, ip4)


def test_address_reused_by_a_new_task_on_another_node(lab, converged):
    before = lab.snapshots()
    addrs = task_addresses(before)
    mover = {ip: v for ip, v in addrs.items() if v[2].startswith('mover.')}
    assert sorted(mover) == ['10.9.9.5', '10.9.9.6'] and {v[0] for v in mover.values()} == {'node1'}
    # before: node2 and node4 point 10.9.9.5 at node1
    for node in ('node2', 'node4'):
        fdb = {e[2][1]: e[3] for e in before[node].all_peer_entries() if e[1] == 'fdb'}
        assert fdb['02:42:0a:09:09:05'] == lab.node('node1')['address'], (node, fdb)
    # one run: mover goes, moved comes on node4; the subnet was full, so moved gets a freed address,
    # the first after the last handed out (.6), wrapping: .5, whose MAC stays 02:42:0a:09:09:05
    services = [TEST, KEEP, dict(MOVER, state='absent'), MOVED]
    play = lab.play(group_vars={'overlay_networks': NETWORKS, 'overlay_services': services}).assert_ok()
    matrix_ok(play)
    snaps = lab.snapshots()
    assert_converged(lab, snaps)
    addrs = task_addresses(snaps)
    assert addrs['10.9.9.5'][0] == 'node4' and addrs['10.9.9.5'][2].startswith('moved.1.'), addrs
    assert '10.9.9.6' not in addrs
    # every other node's VTEP now points the reused address and its MAC at node4, none at node1
    for node in ('node1', 'node2'):
        entries = snaps[node].all_peer_entries()
        neigh = {k[1]: v for _ns, kind, k, v in entries if kind == 'neigh'}
        fdb = {k[1]: v for _ns, kind, k, v in entries if kind == 'fdb'}
        assert neigh['10.9.9.5'] == '02:42:0a:09:09:05', (node, neigh)
        assert fdb['02:42:0a:09:09:05'] == lab.node('node4')['address'], (node, fdb)
    # node4 holds the address itself now: no entry sends it to the old node
    # (its other tasks know the address as a neighbour with the same MAC: that points at no node)
    assert not [e for e in snaps['node4'].all_peer_entries() if e[0] in snaps['node4'].sandboxes
                and ((e[1] == 'neigh' and e[2][1] == '10.9.9.5') or (e[1] == 'fdb' and e[2][1] == '02:42:0a:09:09:05'))]
    # and traffic reaches the new task: from node1 (where the address was) and node2
    for node in ('node1', 'node2'):
        (keep,) = tasks_by_service({node: snaps[node]})['keep']
        out = lab.exec(node, ['ip', 'netns', 'exec', keep, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.9.9.5'])
        assert ' 0% packet loss' in out
    out = lab.exec('node4', ['ip', 'netns', 'exec', addrs['10.9.9.5'][2], 'ip', '-j', 'neigh', 'show'])
    assert [n for n in json.loads(out) if n.get('lladdr') == '02:42:0a:09:09:05'] == []


def test_run_interrupted_half_way_then_rerun(lab, converged):
    # work for the services play: a new service with a task on every node
    services = [TEST, KEEP, MOVED, dict(TEST, name='late')]
    lab.set_group_vars({'overlay_networks': NETWORKS, 'overlay_services': services})
    run = lab.start_play()
    run.wait_for(r'^PLAY \[Services')
    time.sleep(1.0)                              # in the middle of the services play
    run.kill(signal.SIGKILL)
    killed = run.wait()
    assert killed.rc == -signal.SIGKILL and 'PLAY RECAP' not in killed.out
    # no lock is left held: the cluster lock can be taken at once on both managers
    for node in ('node1', 'node2'):
        out = lab.sh(node, 'flock -n -E 99 /var/lib/linuxnet-overlay/cluster.lock true; echo rc=$?')
        assert out.strip() == 'rc=0', (node, out)
    t0 = time.monotonic()
    play = lab.play().assert_ok()
    matrix_ok(play)
    assert time.monotonic() - t0 < 120, 'the re-run waited for something: %s' % play
    snaps = lab.snapshots()
    assert_converged(lab, snaps)
    assert sorted(tasks_by_service(snaps)['late'].values()) == sorted(NODES)
    for node in NODES:
        # no half-written state file, no module temp files left on the node
        out = lab.sh(node, 'find /tmp /var/tmp /root/.ansible /var/lib/linuxnet-overlay -mindepth 1 '
                           '\\( -name "*.tmp" -o -name "ansible-tmp-*" -o -name "AnsiballZ*" \\) 2>/dev/null; true')
        assert out.strip() == '', (node, out)
    managers_agree(lab, converged['cluster_id'])
    # the re-run took over the lease the killed run left behind, at once
    assert 'took over the run lease of run ' in play.out + play.err, play.tail()


def _kill_and_bring_back(lab, node):
    out = lab.kill(node, wipe=True)
    assert '%s: killed' % node in out['actions'], out
    lab.up()
    snap = lab.snapshot(node)
    assert snap['netns'] == [] and snap['cluster_json'] is None and not snap['etc_netns']


def test_worker_killed_and_brought_back_empty(lab, converged):
    before = tasks_by_service(lab.snapshots())
    _kill_and_bring_back(lab, 'node4')
    play = lab.play().assert_ok()
    matrix_ok(play)
    assert play.changed['node4'] > 0
    snaps = lab.snapshots()
    assert_converged(lab, snaps)
    # the same tasks (names, so ids and addresses) come back on it
    assert tasks_by_service(snaps) == before
    addrs = task_addresses(snaps)
    for node in ('node1', 'node2'):
        fdb = [e for e in snaps[node].all_peer_entries() if e[1] == 'fdb' and e[3] == lab.node('node4')['address']]
        assert len(fdb) == len([v for v in addrs.values() if v[0] == 'node4']), (node, fdb)
    managers_agree(lab, converged['cluster_id'])


def test_first_manager_killed_and_brought_back_empty(lab, converged):
    before = tasks_by_service(lab.snapshots())
    version = lab.cluster_state('node2')['version']
    _kill_and_bring_back(lab, 'node1')
    play = lab.play().assert_ok()
    matrix_ok(play)
    snaps = lab.snapshots()
    assert_converged(lab, snaps)
    # the cluster went on: same id (restored from node2's replica), same tasks, nothing replaced
    state = managers_agree(lab, converged['cluster_id'])
    assert state['version'] >= version
    assert tasks_by_service(snaps) == before
    assert play.changed['node2'] == 0 and play.changed['node4'] == 0, play.changed
    assert re.search(r'^-?rw-------', lab.sh('node1', 'ls -l %s' % STATE), re.M)


def test_worker_rebooted_comes_back_with_its_restore_command(lab, converged):
    before = lab.snapshots()
    addrs = task_addresses(before)
    out = lab.kill('node4')                    # powered off; its disk (/var/lib, /etc/netns) stays
    assert 'node4: killed' in out['actions'], out
    lab.up()
    assert lab.snapshot('node4')['netns'] == []
    dry = lab.sh('node4', RESTORE + ' --check')
    assert lab.snapshot('node4')['netns'] == [] and dry.rstrip().splitlines()[-1].startswith('would restore: ')
    done = lab.sh('node4', RESTORE)
    assert done.rstrip().splitlines()[-1].startswith('restored: '), done
    snaps = lab.snapshots()
    assert_converged(lab, snaps)
    assert tasks_by_service(snaps) == tasks_by_service(before)
    # its tasks reach the other nodes' tasks over the overlay, before any Ansible run
    (mine,) = [task for node, _mac, task in addrs.values() if node == 'node4' and task.startswith('test.')]
    others = [ip for ip, (node, _mac, task) in addrs.items() if node != 'node4' and task.startswith('test.')]
    assert len(others) == 2
    for ip in others:
        ping(lab, 'node4', mine, ip)
    # the next run finds nothing to do, and its verify matrix passes
    check = lab.play(check=True, diff=True).assert_unchanged()
    matrix_ok(check)
    assert lab.sh('node4', RESTORE).strip() == 'restored: 0 changes (nothing to do)'
