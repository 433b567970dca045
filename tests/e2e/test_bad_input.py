# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wrong inventories through ``site.yml`` on the seed's simulated hosts: each run fails, its error
names the bad value and says what is wrong, and NOTHING changes on ANY node.

Two situations, one lab (the cases run in file order):

* fresh: the first run with a wrong inventory does not even initialise the swarm - no cluster
  state, no namespace, no link, no nft table, no process on any node, before == after;
* converged: after a good run, a wrong edit changes nothing - every node's snapshot, the cluster
  state file and its version stay as they were.

A snapshot (``_node_snapshot.py``) holds every namespace with its links, addresses, routes,
neighbour and FDB entries, the UDP sockets, ``/etc/netns``, the runtime folder, the state files
with their modes, ``cluster.json`` itself and every process; the nft tables are read here too.
"""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest

from conftest import ROOT, dump_yaml, load_yaml

sys.path.insert(0, os.path.join(ROOT, '.build'))
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402  pylint: disable=wrong-import-position

STATE_DIR = '/var/lib/linuxnet-overlay'
SEED_NET = {'name': 'uber-net'}
SEED_SVC = {'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': ['sleep', 'infinity']}


def gv(networks=None, services=None, **extra):
    """Group vars: the seed's network and service unless replaced, plus ``extra`` variables."""
    data = {'overlay_networks': copy.deepcopy([SEED_NET] if networks is None else networks),
            'overlay_services': copy.deepcopy([SEED_SVC] if services is None else services)}
    data.update(extra)
    return data


def svc(**changes):
    return dict(copy.deepcopy(SEED_SVC), **changes)


# --------------------------------------------------------------------------------------------
# set-ups that need more than variables (each returns its undo)

def groups_inventory(lab, managers, workers, tag):
    """A copy of the lab's inventory with the nodes in other groups (next to it, so the lab's
    group_vars and host_vars apply)."""
    inv = load_yaml(lab.inventory)
    children = inv['all']['children']
    hosts = {}
    for group in ('swarm_managers', 'swarm_workers'):
        hosts.update(children[group].get('hosts') or {})
    children['swarm_managers']['hosts'] = {h: hosts[h] for h in managers}
    children['swarm_workers']['hosts'] = {h: hosts[h] for h in workers}
    path = os.path.join(lab.dir, 'inventory-%s.yml' % tag)
    dump_yaml(path, inv)
    return path


def other_cluster_state(lab, node, base=None):
    """Put the state of ANOTHER cluster (a new id) on ``node``, as a manager that initialised a
    cluster of its own would hold it."""
    state = _state.new_state() if base is None else dict(copy.deepcopy(base), cluster=dict(
        base['cluster'], id=_state.new_state()['cluster']['id']))
    state['version'] = max(state.get('version', 1), 3)
    text = _state.dumps(state)
    lab.sh(node, "umask 077 && mkdir -p %s && cat > %s/cluster.json <<'EOF'\n%sEOF\n" % (STATE_DIR, STATE_DIR, text))
    return state['cluster']['id']


def _hold_port(lab, proto, port):
    """A user-space program on node2 holding PORT (a bound UDP socket, or a TCP listener); returns
    the undo."""
    sock = 'socket.socket(socket.AF_INET, socket.SOCK_DGRAM)' if proto == 'udp' else 'socket.socket()'
    listen = '' if proto == 'udp' else '; s.listen(1)'
    pid = lab.sh('node2', "setsid python3 -c 'import socket, time\n"
                          "s = %s\n"
                          "s.bind((\"0.0.0.0\", %d))%s\n"
                          "time.sleep(3600)' </dev/null >/dev/null 2>&1 & echo $!; sleep 0.5"
                 % (sock, port, listen)).strip()
    assert ':%04X ' % port in lab.sh('node2', 'cat /proc/net/%s' % proto), 'nothing holds %s %d' % (proto, port)
    return lambda: lab.sh('node2', 'kill %s; sleep 0.2' % pid, check=False)


def setup_udp_socket(lab, ctx):
    # a user-space program holding UDP 4789 on node2 (the classic clash with another VXLAN stack)
    return _hold_port(lab, 'udp', 4789)


def setup_tcp_listener(lab, ctx):
    # a process of node2 already listening on 8080, which a service then wants to publish
    return _hold_port(lab, 'tcp', 8080)


def setup_vxlan_device(lab, ctx):
    # another VXLAN stack (flannel, a second overlay) with its VTEP on 4789 in node1's namespace
    lab.sh('node1', 'ip link add vx-other type vxlan id 42 dstport 4789 dev eth0 && ip link set vx-other up')
    return lambda: lab.sh('node1', 'ip link del vx-other', check=False)


def setup_two_managers(lab, ctx):
    # node2 becomes a manager (listed after node1) and holds the state of another cluster
    base = lab.cluster_state('node1')
    existed = lab.sh('node2', 'test -d %s && echo yes || true' % STATE_DIR).strip() == 'yes'
    ctx['values'] = [other_cluster_state(lab, 'node2', base)]
    ctx['inventory'] = groups_inventory(lab, ['node1', 'node2'], [], 'two-managers')
    # undo: the other cluster's state goes; the node's own kept plan (node/) stays as it was, and
    # a directory the set-up made (a fresh worker holds none) goes with it
    if not existed:
        return lambda: lab.sh('node2', 'rm -rf %s' % STATE_DIR)
    return lambda: lab.sh('node2', 'find %s -mindepth 1 -maxdepth 1 ! -name node -exec rm -rf {} +' % STATE_DIR)


def setup_no_manager(lab, ctx):
    ctx['inventory'] = groups_inventory(lab, [], ['node1', 'node2'], 'no-manager')
    return None


# --------------------------------------------------------------------------------------------
# the cases: id, group vars, host vars, set-up, the values the error must name, what it must say

def case(cid, group_vars=None, host_vars=None, setup=None, values=(), says=()):
    return pytest.param({'id': cid, 'group_vars': group_vars or gv(), 'host_vars': host_vars or {}, 'setup': setup,
                         'values': list(values), 'says': list(says)}, id=cid)


FRESH = [
    case('overlapping-subnets',
         gv([{'name': 'uber-net', 'subnets': ['10.20.0.0/16']}, {'name': 'back', 'subnets': ['10.20.5.0/24']}]),
         values=['10.20.5.0/24', '10.20.0.0/16'], says=['network back', 'overlaps subnet', 'of network uber-net']),
    case('subnet-overlaps-node-route',
         gv([{'name': 'uber-net', 'subnets': ['192.168.1.0/25']}]),
         values=['192.168.1.0/25', '192.168.1.0/24'], says=['network uber-net', 'overlaps route', 'on node node2']),
    case('pool-exhausted',
         gv([{'name': 'uber-net'}, {'name': 'back'}], overlay_default_addr_pool=['10.30.0.0/24']),
         values=['10.30.0.0/24'], says=['network back', 'exhausted']),
    case('pool-mask-length-shorter-than-pool',
         gv(overlay_default_addr_pool=['10.40.0.0/24'], overlay_default_addr_pool_mask_length=16),
         values=['/16', '10.40.0.0/24'], says=['default_addr_pool_mask_length', 'shorter than pool']),
    case('vni-out-of-range',
         gv([{'name': 'uber-net', 'vnis': [16777216]}]),
         values=['16777216'], says=['network uber-net', 'out of range 1..16777215']),
    case('unknown-network-in-service',
         gv(services=[svc(networks=['uber-nett'])]),
         values=["'uber-nett'"], says=['service test', 'unknown network', "did you mean 'uber-net'"]),
    case('impossible-constraint',
         gv(services=[svc(constraints=['node.labels.zone==mars'])]),
         values=['node.labels.zone==mars'], says=['service test', 'no node satisfies constraint']),
    case('malformed-constraint',
         gv(services=[svc(constraints=['node.role=worker'])]),
         values=['node.role=worker'], says=['service test', 'malformed', '==']),
    case('duplicate-network-names',
         gv([{'name': 'uber-net'}, {'name': 'uber-net', 'subnets': ['10.60.0.0/24']}]),
         values=["'uber-net'"], says=['duplicate network name']),
    case('bad-cidr',
         gv([{'name': 'uber-net', 'subnets': ['10.0.0.300/24']}]),
         values=['10.0.0.300/24'], says=['network uber-net', 'not a valid CIDR']),
    case('gateway-outside-subnet',
         gv([{'name': 'uber-net', 'subnets': ['10.50.0.0/24'], 'gateway': '10.51.0.1'}]),
         values=['10.51.0.1', '10.50.0.0/24'], says=['network uber-net', 'outside its subnet']),
    case('data-path-port-out-of-range',
         gv(overlay_data_path_port=80),
         values=['80'], says=['data-path port', 'out of range 1024..49151']),
    case('data-path-port-not-a-number',
         gv(overlay_data_path_port='vxlan'),
         # the role's argument validation (overlay_data_path_port is swarm_data_path_port's default)
         values=["'vxlan'"], says=['swarm_data_path_port', 'unable to convert to int']),
    case('data-path-port-taken-by-a-socket', setup=setup_udp_socket,
         values=['4789'], says=['already taken on node node2', 'UDP socket', 'overlay_data_path_port']),
    case('two-managers-claim-init', setup=setup_two_managers,
         says=['node2 holds the state of cluster', 'which node1 never belonged to',
               'the first manager node1 holds none', 'two managers claim the cluster']),
    case('data-path-address-not-on-node',
         host_vars={'node2': {'overlay_advertise_addr': '192.168.1.99'}},
         values=['192.168.1.99'], says=['is not configured on node node2', '192.168.1.5/24']),
    case('replicas-negative',
         gv(services=[svc(replicas=-1)]),
         values=['-1'], says=['service test', 'replicas', 'below 0']),
    case('replicas-with-mode-global',
         gv(services=[svc(mode='global')]),
         values=['replicas 2'], says=['service test', 'mode: global exclude each other']),
    case('encrypted-not-a-bool',
         gv([{'name': 'uber-net', 'encrypted': 'maybe'}]),
         values=["'maybe'"], says=['network uber-net', 'encrypted', 'not a boolean']),
    case('mtu-too-small',
         gv([{'name': 'uber-net', 'mtu': 500}]),
         values=['500'], says=['network uber-net', 'mtu', 'out of range 1280..9000']),
    case('command-wrong-type',
         gv(services=[svc(command={'run': 'sleep'})]),
         values=["{'run': 'sleep'}"], says=['service test', 'neither a string nor a list']),
    case('network-name-docker-would-refuse',
         gv([{'name': 'uber net'}], services=[svc(networks=['uber net'])]),
         values=["'uber net'"], says=['name', 'is not valid', 'letters, digits']),
    case('typo-in-a-key',
         gv([{'name': 'uber-net', 'subnet': '10.70.0.0/24'}]),
         values=["'subnet'"], says=['network uber-net', 'unknown key', "did you mean 'subnets'"]),
    case('duplicate-service-names',
         gv(services=[SEED_SVC, svc(replicas=1)]),
         values=["'test'"], says=['service test', 'duplicate service name']),
    case('no-manager', setup=setup_no_manager,
         values=['swarm_managers'], says=['a swarm needs at least one host in the group']),
    case('node-availability-unknown',
         host_vars={'node2': {'overlay_node_availability': 'drained'}},
         values=["'drained'"],
         says=['overlay_node_availability', 'is not active, pause or drain', 'nothing was changed on any node']),
    case('node-labels-not-a-mapping',
         host_vars={'node2': {'overlay_node_labels': ['zone=a']}},
         values=['node2', '["zone=a"]'], says=['overlay_node_labels', 'must be a mapping']),
    case('max-replicas-per-node-leaves-no-room',
         gv(services=[svc(replicas=3, max_replicas_per_node=1)]),
         values=['max_replicas_per_node 1'], says=['service test', 'leaves room for 2 of its 3 replicas']),
    case('first-manager-leaves',
         host_vars={'node1': {'overlay_node_state': 'absent'}},
         values=['node1', 'overlay_node_state=absent'],
         says=['is the first host of swarm_managers', 'cannot leave', 'List another manager first']),
]

CONVERGED = [
    case('subnet-taken-by-an-existing-network',
         gv([SEED_NET, {'name': 'back', 'subnets': ['10.0.0.0/25']}]),
         values=['10.0.0.0/25', '10.0.0.0/24'], says=['network back', 'overlaps subnet', 'of network uber-net']),
    case('vni-taken',
         gv([SEED_NET, {'name': 'back', 'vnis': [4096]}]),
         values=['4096'], says=['network back', 'already used by network uber-net']),
    case('subnets-change-in-place',
         gv([{'name': 'uber-net', 'subnets': ['10.9.0.0/24']}]),
         values=['10.0.0.0/24'], says=['network uber-net', 'cannot change in place']),
    case('network-absent-still-used',
         gv([dict(SEED_NET, state='absent')]),
         values=['uber-net'], says=['state: absent but service test still uses it']),
    case('impossible-constraint',
         gv(services=[svc(constraints=['node.hostname==node9'])]),
         values=['node.hostname==node9'], says=['service test', 'no node satisfies constraint']),
    case('two-managers-two-clusters', setup=setup_two_managers,
         says=['node2 holds the state of cluster', 'but the first manager node1 holds cluster',
               'two clusters claim this inventory']),
    case('data-path-address-not-on-node',
         host_vars={'node2': {'overlay_advertise_addr': '192.168.1.99'}},
         values=['192.168.1.99'], says=['is not configured on node node2']),
    # published ports (issue #12)
    case('published-port-used-twice',
         gv(services=[svc(publish=[{'published': 8080, 'target': 80}]),
                      dict(svc(name='other'), publish=[{'published': 8080}])]),
         values=['8080/tcp'], says=['service other', 'also published by service test']),
    case('published-port-out-of-range',
         gv(services=[svc(publish=[{'published': 70000, 'target': 80}])]),
         values=['70000'], says=['service test', 'is not a port (1-65535)']),
    case('dnsrr-in-the-routing-mesh',
         gv(services=[svc(endpoint_mode='dnsrr', publish=[{'published': 8080}])]),
         values=['dnsrr'], says=['service test', 'mode ingress needs endpoint_mode vip']),
    case('published-port-in-use-on-a-node', setup=setup_tcp_listener,
         group_vars=gv(services=[svc(publish=[{'published': 8080, 'target': 80}])]),
         values=['8080/tcp'], says=['in use on node node2', 'listens on it']),
]


# --------------------------------------------------------------------------------------------
# reading every node

def nft_tables(lab, node):
    return lab.sh(node, 'nft list tables 2>/dev/null || true')


def snapshot_all(lab):
    """Every node's snapshot, without the snapshot's own process, plus its nft tables."""
    out = {}
    for node, snap in lab.snapshots().items():
        snap = type(snap)(snap)
        me = snap.pop('self_pid', None)
        snap['processes'] = [p for p in snap['processes']
                             if p['pid'] != me and 'def processes' not in ' '.join(p['argv'])]
        snap['nft'] = nft_tables(lab, node)
        # dynamic neighbour entries (a task's ARP cache) age by themselves; the permanent ones are ours
        snap['ns'] = {ns: dict(data, neigh=[n for n in data['neigh'] if 'PERMANENT' in n.get('state', [])])
                      for ns, data in snap['ns'].items()}
        out[node] = snap
    return out


# the bridge's timers (gc_timer, hello_timer, forward_delay_timer, ...) run by themselves: not state
# anyone changed
def volatile(key):
    return str(key).endswith('_timer')


def differences(before, after, path=''):
    """Paths where two snapshots differ (volatile timers left out)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after), key=str):
            if volatile(k):
                continue
            if k == 'cluster_json' and before[k] != after.get(k):   # holds secrets: never print it
                out.append('%s/cluster_json: version %s -> %s' % (path, _version(before[k]), _version(after.get(k))))
            elif k not in before or k not in after:
                out.append('%s/%s: %r -> %r' % (path, k, before.get(k, '<none>'), after.get(k, '<none>')))
            else:
                out += differences(before[k], after[k], '%s/%s' % (path, k))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after)):
            out += differences(b, a, '%s[%d]' % (path, i))
        return out
    return [] if before == after else ['%s: %s -> %s' % (path, str(before)[:300], str(after)[:300])]


def _version(text):
    return json.loads(text)['version'] if text else None


def assert_same(before, after):
    for node in before:
        b, a = before[node], after[node]
        # every key both hold (a key only one holds comes from a newer _node_snapshot.py, not the run)
        common = set(a) & set(b)
        diff = differences({k: b[k] for k in common}, {k: a[k] for k in common})
        assert not diff, 'node %s changed:\n%s' % (node, '\n'.join(diff[:40]))


def failure_text(play):
    """The messages of every failed task result of the run, as one text."""
    parts = []
    for status, host, _item, data in play.task_results(''):
        if status in ('fatal', 'failed'):
            parts.append('%s: %s' % (host, data.get('msg', '')))
            parts += [str(e) for e in data.get('errors') or []]
    return '\n'.join(parts)


def run_case(lab, param, baseline):
    ctx = {'values': [], 'inventory': None}
    undo = param['setup'](lab, ctx) if param['setup'] else None
    for host, data in param['host_vars'].items():
        lab.set_host_vars(host, data)
    try:
        before = baseline if undo is None and ctx['inventory'] is None else snapshot_all(lab)
        play = lab.play(group_vars=param['group_vars'], inventory=ctx['inventory'])
        after = snapshot_all(lab)
    finally:
        for host in param['host_vars']:
            lab.set_host_vars(host, None)
        lab.set_group_vars(lab.default_group_vars)
        if undo is not None:
            undo()
    assert play.rc != 0 and play.recap, 'the wrong inventory did not fail:\n%s' % play.tail()
    assert any(r['failed'] for r in play.recap.values()), play.recap
    msg = failure_text(play)
    if os.environ.get('BAD_INPUT_SHOW'):    # read the messages as a user would: BAD_INPUT_SHOW=1 pytest -s
        print('\n--- %s (%.1fs)\n%s' % (param['id'], play.seconds, msg))
    for text in param['values'] + ctx['values'] + param['says']:
        assert text in msg, 'the error does not say %r:\n%s' % (text, msg or play.tail())
    assert 'Traceback' not in play.out + play.err, play.tail()
    assert_same(before, after)
    return play, msg, after


# --------------------------------------------------------------------------------------------
# fixtures and tests

@pytest.fixture(scope='module')
def lab(make_lab):
    lab = make_lab('seed')
    lab.fresh = snapshot_all(lab)
    lab.converged = None
    return lab


@pytest.mark.parametrize('param', FRESH)
def test_fresh_cluster_refuses_and_makes_nothing(lab, param):
    assert lab.converged is None, 'the fresh cases must run before the cluster converged (file order)'
    _play, _msg, after = run_case(lab, param, lab.fresh)
    # not even swarm init: no cluster state on the first manager, nothing of ours on any node
    # (besides what a case put there itself: another cluster's state, another VXLAN stack)
    assert after['node1']['cluster_json'] is None and after['node1']['state_files'] == {}
    for node, snap in after.items():
        assert snap['netns'] == [] and snap['etc_netns'] in (None, []) and snap['runtime'] is None, node
        assert [li['ifname'] for _ns, li in snap.links_of_kind('vxlan')] in ([], ['vx-other']), node
        assert not snap.links_of_kind('bridge') and 'linuxnet' not in snap['nft'], node


@pytest.fixture(scope='module')
def converged(lab):
    lab.play().assert_ok()
    lab.converged = snapshot_all(lab)
    return lab


@pytest.mark.parametrize('param', CONVERGED)
def test_converged_cluster_refuses_and_changes_nothing(converged, param):
    lab = converged
    version = json.loads(lab.converged['node1']['cluster_json'])['version']
    _play, _msg, after = run_case(lab, param, lab.converged)
    assert json.loads(after['node1']['cluster_json'])['version'] == version
    assert after['node1'].tasks and after['node2'].tasks   # the cluster still runs
