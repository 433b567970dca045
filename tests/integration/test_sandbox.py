# -*- coding: utf-8 -*-
"""linuxnet.overlay.sandbox against the real kernel (inside tests/sandbox.sh): all sandboxes of a
node in one run. Asserted with ip/bridge, not with the module's own output. The namespace the
module runs in is the sandbox's own ("the node"); VNIs are drawn at random per test."""

from __future__ import annotations

import json
import uuid

import pytest

from conftest import sh
from _helpers_links import addresses, free_vni, ip_json, is_up, link, snapshot, udp_sockets, vxlan_data
from _helpers_peers import fdb_remote, neigh_table


@pytest.fixture
def prefix():
    """A name prefix of its own per test; every namespace with it is removed afterwards, VTEPs first."""
    pre = 'sbt%s-' % uuid.uuid4().hex[:6]
    yield pre
    for ns in sh('ip netns list').split():
        if ns.startswith(pre):
            for line in sh('ip -n %s -o link show type vxlan' % ns, check=False).splitlines():
                sh('ip -n %s link del %s' % (ns, line.split(':')[1].strip().split('@')[0]), check=False)
            sh('ip netns del %s' % ns, check=False)


def peers(*nums):
    return [{'ip': '10.0.0.%d' % n, 'mac': '02:42:0a:00:00:%02x' % n, 'vtep': '192.168.1.%d' % n} for n in nums]


def sandbox(ns, vni, peer_list=(), network='uber-net', **kw):
    out = {'netns': ns, 'network': network, 'network_id': 'x' * 25, 'encrypted': False, 'mtu': 1450,
           'subnets': [{'bridge': 'br0', 'address': '10.0.0.1/24', 'vxlan': 'vxlan0', 'vni': vni,
                        'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'prefixlen': 24,
                        'peers': list(peer_list)}]}
    out.update(kw)
    return out


def args(sandboxes, **kw):
    out = {'sandboxes': sandboxes, 'dstport': 4789, 'local': '172.31.1.5', 'exclusive': True}
    out.update(kw)
    return out


def diff_text(res, side):
    return ''.join(d[side] for d in res['diff'])


def assert_sandbox(ns, vni, peer_list, mtu=1450):
    br, vx = link(ns, 'br0'), link(ns, 'vxlan0')
    assert br['linkinfo']['info_kind'] == 'bridge' and br['mtu'] == mtu and is_up(br)
    assert addresses(ns, 'br0') == ['10.0.0.1/24']
    data = vxlan_data(vx)
    assert (data['id'], data['port'], data['local']) == (vni, 4789, '172.31.1.5')
    assert (data['learning'], data['proxy']) == (False, True)
    assert vx['mtu'] == mtu and vx['master'] == 'br0' and is_up(vx)
    assert 'link_netnsid' in vx                     # made in the node namespace and moved in
    assert udp_sockets(ns) == [] and '0.0.0.0:4789' in udp_sockets()
    assert fdb_remote(ns, 'vxlan0') == sorted((p['mac'], p['vtep'], None, None) for p in peer_list)
    assert {ip: v[0] for ip, v in neigh_table(ns, 'vxlan0', 'permanent').items()} == {
        p['ip']: p['mac'] for p in peer_list}
    # the bridge learns nothing on its VTEP port: it holds one static entry per remote MAC
    assert port_learning(ns) is False
    assert port_entries(ns) == {p['mac']: ['static'] for p in peer_list}


def port_learning(ns, dev='vxlan0'):
    (port,) = json.loads(sh('ip netns exec %s bridge -j -d link show dev %s' % (ns, dev)))
    return port['learning']


def port_entries(ns, dev='vxlan0'):
    """{mac: flags/state words} of the bridge's own entries on the port (not the VTEP's, not the
    kernel's permanent one for the port's MAC)."""
    out = {}
    for e in json.loads(sh('ip netns exec %s bridge -j fdb show dev %s' % (ns, dev))):
        if 'master' in e and 'self' not in e.get('flags', []) and e.get('state') != 'permanent':
            out[e['mac']] = [e['state']] if e.get('state') else ['learned']
    return out


def test_bridge_port_learns_nothing_and_keeps_exactly_the_peers(run_module, prefix):
    ns, vni = prefix + 'p', free_vni()
    want = args([sandbox(ns, vni, peers(3, 4))], prefix=prefix)
    check = run_module('sandbox', want, check=True)
    assert '%s: vxlan0: bridge port learning off' % ns in check['actions']
    assert '%s: vxlan0: bridge port entries: add 2' % ns in check['actions']
    run_module('sandbox', want)
    assert_sandbox(ns, vni, peers(3, 4))
    # drift: learning back on, a learned entry of a task that went, a peer's entry gone, one learned
    sh('ip netns exec {0} bridge link set dev vxlan0 learning on && '
       'ip netns exec {0} bridge fdb add 02:42:0a:00:00:09 dev vxlan0 master dynamic && '
       'ip netns exec {0} bridge fdb del 02:42:0a:00:00:03 dev vxlan0 master && '
       'ip netns exec {0} bridge fdb replace 02:42:0a:00:00:04 dev vxlan0 master dynamic'.format(ns))
    drifted = port_entries(ns)
    pred = run_module('sandbox', want, check=True)
    assert '%s: vxlan0: bridge port learning on -> off' % ns in pred['actions']
    assert '%s: vxlan0: bridge port entries: add 1, replace 1, remove 1' % ns in pred['actions'], pred['actions']
    assert port_entries(ns) == drifted and port_learning(ns) is True
    assert '  vxlan0 bridge port fdb 02:42:0a:00:00:09 learned' in diff_text(pred, 'before')
    res = run_module('sandbox', want)
    assert res['actions'] == pred['actions']
    assert_sandbox(ns, vni, peers(3, 4))
    # a peer less: its static entry goes too
    run_module('sandbox', args([sandbox(ns, vni, peers(4))], prefix=prefix))
    assert port_entries(ns) == {'02:42:0a:00:00:04': ['static']}
    assert not run_module('sandbox', args([sandbox(ns, vni, peers(4))], prefix=prefix))['changed']


def test_create_repeat_check_and_diff(run_module, prefix):
    ns, vni = prefix + 'a', free_vni()
    want = args([sandbox(ns, vni, peers(3, 4))], prefix=prefix)
    before = snapshot()
    check = run_module('sandbox', want, check=True)
    assert check['changed'] is True and snapshot() == before          # predicted, nothing touched
    assert '%s: create namespace %s' % (ns, ns) in check['actions']
    after_text = diff_text(check, 'after')
    assert 'sandbox %s (network uber-net)' % ns in after_text
    assert '  bridge br0: mtu 1450, up, addresses 10.0.0.1/24' in after_text
    assert '  vtep vxlan0: vni %d, dstport 4789, local 172.31.1.5, learning off, proxy on' % vni in after_text
    assert '  vxlan0 fdb 02:42:0a:00:00:03 dst 192.168.1.3' in after_text
    assert '  vxlan0 neigh 10.0.0.4 lladdr 02:42:0a:00:00:04' in after_text
    assert diff_text(check, 'before') == ''

    res = run_module('sandbox', want)
    assert res['changed'] is True
    assert_sandbox(ns, vni, peers(3, 4))
    assert diff_text(res, 'after') == after_text                      # check mode predicted exactly this
    counts = {'added': 2, 'replaced': 0, 'removed': 0, 'unchanged': 0, 'entries': 2}
    assert res['sandboxes'][0]['fdb'] == {'vxlan0': counts}

    again = run_module('sandbox', want)
    assert again['changed'] is False and again['actions'] == [] and again['diff'] == []
    converged = snapshot(ns)
    check = run_module('sandbox', want, check=True)
    assert check['changed'] is False and check['diff'] == [] and snapshot(ns) == converged


def test_drift_is_reported_exactly_and_repaired(run_module, prefix):
    ns, vni = prefix + 'a', free_vni()
    want = args([sandbox(ns, vni, peers(3, 4))], prefix=prefix)
    run_module('sandbox', want)
    # by hand: a peer entry deleted, a stale entry of a task that is gone added
    sh('ip -n {0} neigh del 10.0.0.3 dev vxlan0 && bridge -n {0} fdb add 02:42:0a:00:00:63 dev vxlan0 '
       'dst 192.168.9.9 self permanent'.format(ns))
    drifted = snapshot(ns)
    check = run_module('sandbox', want, check=True)
    assert check['changed'] is True and snapshot(ns) == drifted
    assert check['actions'] == ['%s: vxlan0: neighbour entries: add 1' % ns, '%s: vxlan0: FDB entries: remove 1' % ns]
    before, after = diff_text(check, 'before'), diff_text(check, 'after')
    gone = set(before.splitlines()) - set(after.splitlines())
    new = set(after.splitlines()) - set(before.splitlines())
    assert gone == {'  vxlan0 fdb 02:42:0a:00:00:63 dst 192.168.9.9'}
    assert new == {'  vxlan0 neigh 10.0.0.3 lladdr 02:42:0a:00:00:03 PERMANENT'}
    assert run_module('sandbox', want)['changed'] is True
    assert_sandbox(ns, vni, peers(3, 4))
    assert run_module('sandbox', want)['changed'] is False


def test_mtu_and_peers_change_in_place(run_module, prefix):
    ns, vni = prefix + 'a', free_vni()
    run_module('sandbox', args([sandbox(ns, vni, peers(3))], prefix=prefix))
    ifindex = link(ns, 'vxlan0')['ifindex']
    res = run_module('sandbox', args([sandbox(ns, vni, peers(4, 5), mtu=1400)], prefix=prefix))
    assert res['changed'] is True
    assert_sandbox(ns, vni, peers(4, 5), mtu=1400)
    assert link(ns, 'vxlan0')['ifindex'] == ifindex                    # changed in place, not re-made


def test_flood_entries_for_head_end_replication(run_module, prefix):
    ns, vni = prefix + 'a', free_vni()
    zero = '00:00:00:00:00:00'
    unicast = [(p['mac'], p['vtep'], None, None) for p in peers(3, 4)]

    def want(flood):
        sb = sandbox(ns, vni, peers(3, 4))
        sb['subnets'][0]['flood'] = flood
        return args([sb], prefix=prefix)

    run_module('sandbox', want([]))
    before = snapshot(ns)
    check = run_module('sandbox', want(['192.168.1.3', '192.168.1.4']), check=True)
    assert check['changed'] is True and snapshot(ns) == before
    assert check['actions'] == ['%s: vxlan0: FDB entries: add 2' % ns]
    assert '  vxlan0 fdb %s dst 192.168.1.4' % zero in diff_text(check, 'after')
    res = run_module('sandbox', want(['192.168.1.3', '192.168.1.4']))
    assert res['changed'] is True
    assert fdb_remote(ns, 'vxlan0') == sorted(unicast + [(zero, '192.168.1.3', None, None),
                                                         (zero, '192.168.1.4', None, None)])
    assert run_module('sandbox', want(['192.168.1.3', '192.168.1.4']))['changed'] is False
    # a node without tasks of the subnet any more leaves the flood list; then multicast is off
    assert run_module('sandbox', want(['192.168.1.4']))['changed'] is True
    assert fdb_remote(ns, 'vxlan0') == sorted(unicast + [(zero, '192.168.1.4', None, None)])
    assert run_module('sandbox', want([]))['changed'] is True
    assert fdb_remote(ns, 'vxlan0') == sorted(unicast)
    assert_sandbox(ns, vni, peers(3, 4))


def test_several_subnets_and_sandboxes(run_module, prefix):
    a, b = prefix + 'a', prefix + 'b'
    v1, v2, v3 = free_vni(), free_vni(), free_vni()
    two = sandbox(a, v1, peers(3), network='multi')
    two['subnets'].append({'bridge': 'br1', 'address': '10.0.1.1/24', 'vxlan': 'vxlan1', 'vni': v2,
                           'peers': [{'ip': '10.0.1.7', 'mac': '02:42:0a:00:01:07', 'vtep': '192.168.1.7'}]})
    res = run_module('sandbox', args([two, sandbox(b, v3)], prefix=prefix))
    assert res['changed'] is True
    assert sh('ip netns exec %s sysctl -n net.ipv4.ip_forward' % a).strip() == '1'
    # one subnet: off, whatever a new namespace takes from the host's (IPv4 inherits the root's value)
    assert sh('ip netns exec %s sysctl -n net.ipv4.ip_forward' % b).strip() == '0'
    assert addresses(a, 'br1') == ['10.0.1.1/24'] and link(a, 'vxlan1')['master'] == 'br1'
    assert vxlan_data(link(a, 'vxlan1'))['id'] == v2
    assert fdb_remote(a, 'vxlan1') == [('02:42:0a:00:01:07', '192.168.1.7', None, None)]
    assert_sandbox(b, v3, [])
    assert run_module('sandbox', args([two, sandbox(b, v3)], prefix=prefix))['changed'] is False


def test_exclusive_removes_unlisted_sandboxes_of_the_prefix(run_module, prefix, scratch_netns):
    a, b = prefix + 'a', prefix + 'b'
    va, vb = free_vni(), free_vni()
    other = scratch_netns('other')                                    # another prefix: never touched
    run_module('sandbox', args([sandbox(a, va, peers(3)), sandbox(b, vb, peers(4))], prefix=prefix))
    keep = args([sandbox(a, va, peers(3))], prefix=prefix)
    before = snapshot(a, b)
    check = run_module('sandbox', keep, check=True)
    assert check['changed'] is True and check['removed'] == [b] and snapshot(a, b) == before
    assert check['actions'] == ['%s: delete vxlan device vxlan0' % b, '%s: remove namespace %s' % (b, b)]
    assert diff_text(check, 'after') == '' and 'sandbox %s' % b in diff_text(check, 'before')
    res = run_module('sandbox', keep)
    assert res['removed'] == [b]
    names = sh('ip netns list')
    assert b not in names and a in names and other in names
    assert_sandbox(a, va, peers(3))
    # without exclusive nothing is removed
    run_module('sandbox', args([sandbox(b, vb)], exclusive=False))
    res = run_module('sandbox', args([sandbox(a, va, peers(3))], exclusive=False))
    assert res['changed'] is False and b in sh('ip netns list')


@pytest.mark.parametrize('change, words', [
    (lambda s: s['subnets'][0].update(vni=99999999), 'vni 99999999 is out of range'),
    (lambda s: s['subnets'][0].update(address='10.0.0.1'), "'10.0.0.1' has no prefix length"),
    (lambda s: s['subnets'][0].update(bridge='a-very-long-bridge-name'), "'a-very-long-bridge-name'"),
    (lambda s: s['subnets'][0].update(vxlan='br0'), 'device name br0 is used twice'),
    (lambda s: s['subnets'][0].update(vnii=5), 'unknown key(s) vnii'),
    (lambda s: s['subnets'][0]['peers'].append({'ip': '10.0.0.9', 'mac': 'zz', 'vtep': '192.168.1.9'}), 'zz'),
    (lambda s: s['subnets'][0]['peers'].append({'ip': '10.0.0.9', 'mac': '02:42:0a:00:00:09'}), 'needs vtep'),
    (lambda s: s.update(mtu=20), 'mtu 20 is out of range'),
    (lambda s: s.update(netns='bad/name'), "'bad/name'"),
    (lambda s: s.update(subnets=[]), 'needs subnets'),
])
def test_bad_input_is_refused_before_any_change(run_module, prefix, change, words):
    good, bad = sandbox(prefix + 'a', free_vni(), peers(3)), sandbox(prefix + 'b', free_vni(), peers(4))
    change(bad)
    before = snapshot()
    res = run_module('sandbox', args([good, bad], prefix=prefix), expect_failure=True)
    assert words in res['msg'], res['msg']
    assert snapshot() == before                                       # the good sandbox was not made either


def test_bad_arguments(run_module, prefix):
    vni = free_vni()
    res = run_module('sandbox', args([sandbox(prefix + 'a', vni), sandbox(prefix + 'b', vni)], prefix=prefix),
                     expect_failure=True)
    assert 'vni %d is also used by' % vni in res['msg']
    res = run_module('sandbox', args([sandbox(prefix + 'a', vni), sandbox(prefix + 'a', free_vni())], prefix=prefix),
                     expect_failure=True)
    assert 'listed twice' in res['msg']
    res = run_module('sandbox', args([sandbox(prefix + 'a', vni)]), expect_failure=True)
    assert 'exclusive=true needs a prefix' in res['msg']
    assert not [n for n in sh('ip netns list').split() if n.startswith(prefix)]


def test_vni_taken_by_another_device_and_wrong_kind(run_module, prefix, scratch_netns):
    vni = free_vni()
    sh('ip link add vxt%d type vxlan id %d dstport 4789' % (vni % 1000, vni))   # node namespace
    try:
        for check in (True, False):
            res = run_module('sandbox', args([sandbox(prefix + 'a', vni)], prefix=prefix), check=check,
                             expect_failure=True)
            assert 'VNI %d on dstport 4789 is already used by VXLAN device vxt%d' % (vni, vni % 1000) in res['msg']
    finally:
        sh('ip link del vxt%d' % (vni % 1000))
    ns = prefix + 'w'
    sh('ip netns add %s && ip -n %s link add br0 type veth peer name p0' % (ns, ns))
    res = run_module('sandbox', args([sandbox(ns, free_vni())], prefix=prefix), expect_failure=True)
    assert 'device br0 in namespace %s is a veth, not a bridge' % ns in res['msg']
    assert link(ns, 'vxlan0') is None


def test_check_mode_in_an_existing_sandbox_without_its_bridge(run_module, prefix):
    ns, vni = prefix + 'a', free_vni()
    sh('ip netns add %s' % ns)
    before = snapshot(ns)
    res = run_module('sandbox', args([sandbox(ns, vni, peers(3))], prefix=prefix), check=True)
    assert res['changed'] is True and snapshot(ns) == before
    assert '%s: create bridge br0' % ns in res['actions']
    assert '  vtep vxlan0: vni %d' % vni in diff_text(res, 'after')
    assert ip_json('link show type vxlan', ns) == []


# --- the node's tasks in the same run (tasks: the network role with network_converge_tasks) ------

TASK_PATTERN = r'^[a-zA-Z0-9][a-zA-Z0-9_-]*\.([0-9]+|[0-9a-z]{25})\.[0-9a-z]{25}$'


@pytest.fixture
def task_names(tmp_path):
    made = ['test.%d.%s' % (i, uuid.uuid4().hex[:25]) for i in (1, 2)]
    yield made
    for name in made:
        sh('ip netns pids %s 2>/dev/null | xargs -r kill -9; ip netns del %s 2>/dev/null' % (name, name), check=False)


def plan_task(name, sb_ns, n):
    """A task of the plan attached to the sandbox's br0 (with the plan's own keys, ignored)."""
    return {'name': name, 'netns': name, 'service': 'test', 'slot': n, 'id': name.split('.')[-1], 'node_id': 'x',
            'hosts': '127.0.0.1 localhost\n', 'command': ['sleep', 'infinity'],
            'interfaces': [{'veth': 'veth%d%s' % (n, name[-4:]), 'sandbox': sb_ns, 'bridge': 'br0', 'ifname': 'eth0',
                            'mtu': 1450, 'mac': '02:42:0a:00:00:%02x' % (10 + n), 'address': '10.0.0.%d/24' % (10 + n),
                            'network': 'uber-net', 'ip': '10.0.0.%d' % (10 + n)}]}


def test_tasks_in_the_same_run_after_their_sandbox(run_module, prefix, task_names, tmp_path):
    ns, vni = prefix + 't', free_vni()
    t1, t2 = task_names
    dirs = {'runtime_dir': str(tmp_path / 'rt'), 'etc_netns_dir': str(tmp_path / 'etc-netns')}
    want = args([sandbox(ns, vni, peers(3))], prefix=prefix, tasks=[plan_task(t1, ns, 1), plan_task(t2, ns, 2)],
                task_pattern=TASK_PATTERN, **dirs)
    before = snapshot()
    check = run_module('sandbox', want, check=True)
    # the sandbox and the tasks attached to it are predicted, nothing is touched
    assert check['changed'] is True and snapshot() == before
    assert [t['name'] for t in check['tasks']] == task_names and check['removed_tasks'] == []
    assert '%s: create namespace %s' % (ns, ns) in check['actions'] and '%s: create namespace' % t1 in check['actions']
    assert [d['before_header'] for d in check['diff']][-2:] == ['task %s' % t1, 'task %s' % t2]

    res = run_module('sandbox', want)
    assert res['changed'] is True and all(t['task']['running'] for t in res['tasks'])
    assert_sandbox(ns, vni, peers(3))
    for n, name in enumerate(task_names, 1):
        eth0 = json.loads(sh('ip -j -n %s addr show dev eth0' % name))[0]
        assert eth0['address'] == '02:42:0a:00:00:%02x' % (10 + n) and eth0['mtu'] == 1450
        assert ['%s/%d' % (a['local'], a['prefixlen']) for a in eth0['addr_info'] if a['family'] == 'inet'] == [
            '10.0.0.%d/24' % (10 + n)]
        # its peer end is a port of the sandbox's br0
        assert link(ns, 'veth%d%s' % (n, name[-4:]))['master'] == 'br0'
    sh('ip netns exec %s ping -c 1 -W 2 10.0.0.12' % t1)              # task to task through br0

    again = run_module('sandbox', want)
    assert again['changed'] is False and again['actions'] == [] and again['diff'] == []

    # a task leaves the list: exclusive removes it (after the sandboxes, as the service role did)
    one = dict(want, tasks=want['tasks'][:1])
    pred = run_module('sandbox', one, check=True)
    assert pred['removed_tasks'] == [t2] and t2 in sh('ip netns list')
    res = run_module('sandbox', one)
    assert res['removed_tasks'] == [t2] and t2 not in sh('ip netns list').split()
    assert not run_module('sandbox', one)['changed']


def test_a_bad_task_is_refused_before_the_sandboxes_change(run_module, prefix, task_names, tmp_path):
    ns, vni = prefix + 'u', free_vni()
    t1, _t2 = task_names
    bad = dict(plan_task(t1, ns, 1), command='sleep 1')
    before = snapshot()
    res = run_module('sandbox', args([sandbox(ns, vni)], prefix=prefix, tasks=[bad], runtime_dir=str(tmp_path / 'rt')),
                     expect_failure=True)
    assert 'tasks[0] (%s): command must be a list of strings' % t1 in res['msg'] and res['changed'] is False
    assert snapshot() == before and ns not in sh('ip netns list')
    res = run_module('sandbox', args([sandbox(ns, vni)], prefix=prefix, tasks=[plan_task(t1, ns, 1)],
                                     task_pattern='(', runtime_dir=str(tmp_path / 'rt')), expect_failure=True)
    assert "pattern '(' is not a regular expression" in res['msg'] and ns not in sh('ip netns list')
