# -*- coding: utf-8 -*-
"""linuxnet.overlay.task against the real kernel, inside the sandbox."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from conftest import sh
from _helpers_links import snapshot


@pytest.fixture
def task_name():
    name = 'test.1.%s' % uuid.uuid4().hex[:25]
    yield name
    sh('ip netns pids %s 2>/dev/null | xargs -r kill -9' % name, check=False)
    sh('ip netns del %s 2>/dev/null; rm -rf /etc/netns/%s /tmp/linuxnet-rt/%s' % (name, name, name), check=False)


@pytest.fixture
def dirs(tmp_path):
    # /etc/netns does not exist on this machine and must not be made on the shared root file
    # system: the sandbox's mount namespace gets a private tmpfs there for this test.
    if not os.path.ismount('/etc/netns'):
        if not os.path.isdir('/etc/netns'):
            etc = str(tmp_path / 'etc-netns')
            os.makedirs(etc)
        else:
            etc = '/etc/netns'
    else:
        etc = '/etc/netns'
    return {'runtime_dir': str(tmp_path / 'rt'), 'etc_netns_dir': etc}


HOSTS = '127.0.0.1 localhost\n10.0.0.2 test.1.x test tasks.test\n'


def pids(name):
    return sh('ip netns pids %s' % name).split()


def test_task_lifecycle(run_module, task_name, dirs):
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'], **dirs)
    pred = run_module('task', args, check=True)
    assert pred['changed'] and 'create namespace' in pred['actions']
    assert task_name not in sh('ip netns list'), 'check mode must not create the namespace'

    res = run_module('task', args)
    assert res['changed'] and res['task']['running']
    assert task_name in sh('ip netns list')
    assert len(pids(task_name)) == 1
    assert open(os.path.join(dirs['etc_netns_dir'], task_name, 'hosts')).read() == HOSTS
    assert res['diff']['before']['exists'] is False and res['diff']['after']['running'] is True
    # lo is up inside the task, as a container's is
    assert 'UP' in sh('ip -n %s -br link show lo' % task_name)

    again = run_module('task', args)
    assert not again['changed'], again['actions']
    assert pids(task_name) == [str(res['task']['pid'])]

    # the command died: the next run starts it again
    sh('kill -9 %d' % res['task']['pid'])
    time.sleep(0.2)
    revived = run_module('task', args)
    assert revived['changed'] and revived['actions'] == ['start command']
    assert len(pids(task_name)) == 1

    # a changed command is restarted
    changed = run_module('task', dict(args, command=['sleep', '1000']))
    assert changed['actions'] == ['stop command (pid %d)' % revived['task']['pid'], 'start command']
    assert 'sleep 1000' in sh('ps -o args= -p %s' % pids(task_name)[0])

    gone = run_module('task', dict(name=task_name, state='absent', **dirs))
    assert gone['changed']
    assert task_name not in sh('ip netns list')
    assert not os.path.exists(os.path.join(dirs['etc_netns_dir'], task_name))
    assert not run_module('task', dict(name=task_name, state='absent', **dirs))['changed']


def test_namespace_deleted_by_hand_is_made_again(run_module, task_name, dirs):
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'], **dirs)
    first = run_module('task', args)
    old_pid = first['task']['pid']
    sh('ip netns del %s' % task_name)
    res = run_module('task', args)
    assert res['changed']
    assert res['actions'][:2] == ['stop stale command (pid %d, in a namespace that no longer has this name)' % old_pid,
                                  'create namespace']
    assert not os.path.exists('/proc/%d' % old_pid) or 'Z' in sh('ps -o stat= -p %d' % old_pid, check=False)
    assert len(pids(task_name)) == 1


def test_task_without_command(run_module, task_name, dirs):
    res = run_module('task', dict(name=task_name, **dirs))
    assert res['changed'] and not res['task']['running'] and res['task']['pid'] is None
    assert not run_module('task', dict(name=task_name, **dirs))['changed']


def test_bad_name_and_bad_command(run_module, dirs):
    bad = run_module('task', dict(name='../etc', **dirs), expect_failure=True)
    assert 'invalid network namespace name' in bad['msg']
    name = 'test.9.%s' % uuid.uuid4().hex[:25]
    try:
        res = run_module('task', dict(name=name, command=['/nonexistent/binary'], **dirs), expect_failure=True)
        assert 'exited at once' in res['msg'] and '/nonexistent/binary' in res['msg']
    finally:
        sh('ip netns del %s 2>/dev/null; true' % name, check=False)


def test_omitted_command_leaves_the_process_alone(run_module, task_name, dirs):
    args = dict(name=task_name, hosts=HOSTS, **dirs)
    first = run_module('task', dict(args, command=['sleep', 'infinity']))
    untouched = run_module('task', args)
    assert not untouched['changed'] and untouched['task']['pid'] == first['task']['pid']
    stopped = run_module('task', dict(args, command=[]))
    assert stopped['actions'] == ['stop command (pid %d)' % first['task']['pid']]
    assert pids(task_name) == []


# --- interfaces: namespace, hosts file, veths and command in one run -----------------------------

@pytest.fixture
def sandbox_ns(scratch_netns):
    """A sandbox with br0 (gateway 10.0.0.1/24) and br1 (10.0.1.1/24), as the network role makes it."""
    ns = scratch_netns('sb')
    for i in (0, 1):
        sh('ip -n {0} link add br{1} type bridge && ip -n {0} addr add 10.0.{1}.1/24 dev br{1} && '
           'ip -n {0} link set br{1} up'.format(ns, i))
    return ns


def interface(sandbox, veth='vethT0', **kw):
    out = {'veth': veth, 'sandbox': sandbox, 'bridge': 'br0', 'ifname': 'eth0', 'mtu': 1450,
           'mac': '02:42:0a:00:00:02', 'address': '10.0.0.2/24', 'routes': [{'dst': '10.0.1.0/24', 'via': '10.0.0.1'}],
           # keys of the cluster plan, ignored
           'network': 'uber-net', 'ip': '10.0.0.2', 'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'vni': 4096}
    out.update(kw)
    return out


def eth(task, name='eth0'):
    return json.loads(sh('ip -j -d -n %s addr show dev %s' % (task, name)))[0]


def test_interfaces_with_the_task_in_one_run(run_module, task_name, dirs, sandbox_ns):
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'], interfaces=[interface(sandbox_ns)],
                **dirs)
    before = sh('ip netns list') + sh('ip -n %s -br link' % sandbox_ns)
    pred = run_module('task', args, check=True)
    assert pred['changed'] and before == sh('ip netns list') + sh('ip -n %s -br link' % sandbox_ns)
    assert pred['actions'][:2] == ['create namespace', 'write hosts file']
    assert pred['actions'][2].startswith('create veth pair vethT0 (namespace %s) - eth0' % sandbox_ns)
    assert pred['actions'][-1] == 'start command'
    assert pred['interfaces'][0]['peer']['addresses'] == ['10.0.0.2/24']
    assert pred['diff']['before']['interfaces'] == [{'name': 'vethT0', 'netns': sandbox_ns, 'exists': False}]

    res = run_module('task', args)
    assert res['changed'] and res['task']['running']
    e0 = eth(task_name)
    assert e0['address'] == '02:42:0a:00:00:02' and e0['mtu'] == 1450 and 'UP' in e0['flags']
    assert [(a['local'], a['prefixlen']) for a in e0['addr_info'] if a['family'] == 'inet'] == [('10.0.0.2', 24)]
    # as Docker on a network without IPv6: eth0 has no IPv6 (no link-local address, no router
    # solicitations or MLD into the overlay); lo keeps ::1
    assert [a for a in e0['addr_info'] if a['family'] == 'inet6'] == []
    assert sh('ip netns exec %s cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6' % task_name).strip() == '1'
    assert '::1/128' in sh('ip -n %s -6 addr show dev lo' % task_name)
    assert '10.0.1.0/24 via 10.0.0.1 dev eth0' in sh('ip -n %s route' % task_name)
    v = json.loads(sh('ip -j -d -n %s link show dev vethT0' % sandbox_ns))[0]
    assert v['master'] == 'br0' and v['mtu'] == 1450
    # the command runs with its interface: it reaches the gateway in the sandbox
    sh('ip netns exec %s ping -c 1 -W 2 10.0.0.1' % task_name)
    assert pred['diff']['after']['interfaces'][0]['peer']['addresses'] == \
        res['diff']['after']['interfaces'][0]['peer']['addresses']

    again = run_module('task', args)
    assert not again['changed'], again['actions']
    snap = snapshot(task_name, sandbox_ns)
    check = run_module('task', args, check=True)
    assert not check['changed'] and check['diff']['before'] == check['diff']['after']
    assert snap == snapshot(task_name, sandbox_ns)


def test_a_mac_the_bridge_learned_elsewhere_is_forgotten_when_the_task_comes(run_module, task_name, dirs, sandbox_ns,
                                                                             scratch_netns):
    # the task's address (and so its MAC) was remote before: the sandbox bridge learned it on its
    # VTEP port (here a veth port up0 whose far end, in another namespace, sent from that MAC).
    # Frames for it arriving on that port would be dropped until the new task sent something;
    # attaching the task's veth makes the bridge forget it.
    mac = '02:42:0a:00:00:02'
    far = scratch_netns('far')
    # the far end sends only what the test makes it send: without IPv6 it has no DAD, router
    # solicitation or MLD report to teach the bridge the MAC again after the module ran.
    sh('ip netns exec %s sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1' % far)
    sh('ip -n {0} link add up0 type veth peer name up0p netns {1} && ip -n {0} link set up0 master br0 up && '
       'ip -n {1} link set up0p address {2} up && ip -n {1} addr add 10.0.0.250/24 dev up0p && '
       'ip netns exec {1} ping -c 1 -W 2 10.0.0.1 >/dev/null'.format(sandbox_ns, far, mac))
    assert mac in sh('ip netns exec %s bridge fdb show dev up0' % sandbox_ns)
    args = dict(name=task_name, hosts=HOSTS, command=None, interfaces=[interface(sandbox_ns, mac=mac)], **dirs)
    res = run_module('task', args)
    assert 'vethT0: the bridge forgets %s learned on another port' % mac in res['actions'], res['actions']
    assert mac not in sh('ip netns exec %s bridge fdb show dev up0' % sandbox_ns)
    assert not run_module('task', args)['changed']


def test_interface_drift_is_repaired_and_reported(run_module, task_name, dirs, sandbox_ns):
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'], interfaces=[interface(sandbox_ns)],
                **dirs)
    run_module('task', args)
    sh('ip -n %s link del vethT0' % sandbox_ns)              # the pair goes with it
    pred = run_module('task', args, check=True)
    assert pred['changed'] and pred['actions'] == [
        'create veth pair vethT0 (namespace %s) - eth0 (namespace %s)' % (sandbox_ns, task_name),
        'eth0: add address 10.0.0.2/24', 'eth0: add route 10.0.1.0/24 via 10.0.0.1']
    assert sh('ip -n %s -br link show dev vethT0' % sandbox_ns, check=False) == ''
    res = run_module('task', args)
    assert res['changed'] and eth(task_name)['address'] == '02:42:0a:00:00:02'
    # moved to the other subnet: the address changes in place
    moved = dict(args, interfaces=[interface(sandbox_ns, bridge='br1', address='10.0.1.2/24', routes=[])])
    res = run_module('task', moved)
    assert 'eth0: add address 10.0.1.2/24' in res['actions'] and 'eth0: remove address 10.0.0.2/24' in res['actions']
    assert json.loads(sh('ip -j -n %s link show dev vethT0' % sandbox_ns))[0]['master'] == 'br1'
    assert not run_module('task', moved)['changed']


def test_several_interfaces_and_a_task_deleted_by_hand(run_module, task_name, dirs, sandbox_ns):
    two = [interface(sandbox_ns), interface(sandbox_ns, veth='vethT1', bridge='br1', ifname='eth1',
                                            mac='02:42:0a:00:01:02', address='10.0.1.2/24', routes=[])]
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'], interfaces=two, **dirs)
    run_module('task', args)
    assert eth(task_name, 'eth1')['address'] == '02:42:0a:00:01:02'
    sh('ip netns pids %s | xargs -r kill -9; ip netns del %s' % (task_name, task_name))
    time.sleep(0.3)
    res = run_module('task', args)
    assert res['changed'] and 'create namespace' in res['actions'] and 'start command' in res['actions']
    assert eth(task_name)['address'] == '02:42:0a:00:00:02' and eth(task_name, 'eth1')['mtu'] == 1450
    assert len(pids(task_name)) == 1
    assert not run_module('task', args)['changed']


def neighbours(task):
    """{ip: (mac, states)} of eth0's neighbour entries in the task."""
    return {n['dst']: (n.get('lladdr'), n.get('state')) for n in
            json.loads(sh('ip -j -n %s neigh show dev eth0' % task) or '[]')}


def test_neighbours_are_exactly_the_listed_ones_and_permanent(run_module, task_name, dirs, sandbox_ns):
    peers = [{'ip': '10.0.0.3', 'mac': '02:42:0a:00:00:03'}, {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'}]
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'],
                interfaces=[interface(sandbox_ns, neighbours=peers)], **dirs)
    pred = run_module('task', args, check=True)
    assert 'eth0: neighbour entries: add 2' in pred['actions'] and task_name not in sh('ip netns list')
    res = run_module('task', args)
    assert res['actions'] == pred['actions'], (res['actions'], pred['actions'])
    assert neighbours(task_name) == {'10.0.0.3': ('02:42:0a:00:00:03', ['PERMANENT']),
                                     '10.0.0.4': ('02:42:0a:00:00:04', ['PERMANENT'])}
    assert '10.0.0.3' in res['diff']['after']['interfaces'][0]['neigh']
    assert not run_module('task', args)['changed']
    # a peer gone, one moved to another MAC, one entry added by hand: the run makes it exact again;
    # dynamic entries (the gateway's, learned by ARP) are not the module's and stay
    sh('ip netns exec %s ping -c 1 -W 2 10.0.0.1 >/dev/null' % task_name)
    sh('ip -n %s neigh add 10.0.0.9 lladdr 02:42:0a:00:00:09 dev eth0 nud permanent' % task_name)
    moved = dict(args, interfaces=[interface(sandbox_ns, neighbours=[{'ip': '10.0.0.3', 'mac': '02:42:0a:00:00:33'}])])
    snap = neighbours(task_name)
    pred = run_module('task', moved, check=True)
    assert 'eth0: neighbour entries: replace 1, remove 2' in pred['actions'], pred['actions']
    assert neighbours(task_name) == snap
    run_module('task', moved)
    now = neighbours(task_name)
    assert now['10.0.0.3'] == ('02:42:0a:00:00:33', ['PERMANENT']) and '10.0.0.4' not in now and '10.0.0.9' not in now
    assert '10.0.0.1' in now and 'PERMANENT' not in now['10.0.0.1'][1]
    assert not run_module('task', moved)['changed']


@pytest.mark.parametrize('change, words', [
    ({'neighbours': [{'ip': '10.0.0.3'}]}, 'entries[0]: mac is required'),
    ({'neighbours': [{'ip': 'x', 'mac': '02:42:0a:00:00:03'}]}, "neighbours: invalid entries, nothing was changed: entries[0]: ip 'x'"),
    ({'neighbours': 'all'}, 'neighbours must be a list of {ip, mac}'),
    ({'address': '10.0.0.2'}, "'10.0.0.2' has no prefix length"),
    ({'mac': 'nope'}, "'nope' is not a MAC address"),
    ({'veth': 'a-very-long-veth-name'}, "'a-very-long-veth-name'"),
    ({'routes': [{'dst': '10.0.1.0/24', 'via': '10.9.9.9'}]}, 'gateway 10.9.9.9'),
    ({'vethh': 'x'}, 'unknown key(s) vethh'),
    ({'bridge': None}, 'interfaces[0] needs bridge'),
    ({'mtu': 'big'}, "mtu 'big' is not an integer"),
])
def test_bad_interface_is_refused_before_any_change(run_module, task_name, dirs, sandbox_ns, change, words):
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'],
                interfaces=[interface(sandbox_ns, **change)], **dirs)
    res = run_module('task', args, expect_failure=True)
    assert words in res['msg'], res['msg']
    assert task_name not in sh('ip netns list') and not os.path.exists(os.path.join(dirs['etc_netns_dir'], task_name))


def test_missing_sandbox_is_a_clear_error(run_module, task_name, dirs):
    args = dict(name=task_name, command=['sleep', 'infinity'], interfaces=[interface('ov-missing')], **dirs)
    pred = run_module('task', args, check=True)
    assert pred['changed'] and task_name not in sh('ip netns list')
    res = run_module('task', args, expect_failure=True)
    assert "network namespace 'ov-missing' does not exist" in res['msg']
    assert res['actions'][0] == 'create namespace' and 'start command' not in res['actions']


# --- every task of a node in one run (tasks, exclusive) ------------------------------------------

def plan_task(name, sandbox, n, command=('sleep', 'infinity')):
    """A task as the cluster plan lists it (with the plan's own keys)."""
    return {'name': name, 'netns': name, 'service': 'test', 'slot': n, 'id': name.split('.')[-1], 'node_id': 'x',
            'hosts': HOSTS, 'command': list(command) if command else None,
            'interfaces': [interface(sandbox, veth='vethA%d' % n, mac='02:42:0a:00:00:%02x' % (10 + n),
                                     address='10.0.0.%d/24' % (10 + n))]}


@pytest.fixture
def names():
    made = ['test.%d.%s' % (i, uuid.uuid4().hex[:25]) for i in (1, 2, 3)]
    yield made
    for name in made:
        sh('ip netns pids %s 2>/dev/null | xargs -r kill -9; ip netns del %s 2>/dev/null' % (name, name), check=False)


def test_all_tasks_in_one_run_and_stale_ones_removed(run_module, names, dirs, sandbox_ns):
    t1, t2, t3 = names
    pattern = r'^[a-zA-Z0-9][a-zA-Z0-9_-]*\.([0-9]+|[0-9a-z]{25})\.[0-9a-z]{25}$'
    every = dict(tasks=[plan_task(t1, sandbox_ns, 1), plan_task(t2, sandbox_ns, 2), plan_task(t3, sandbox_ns, 3)],
                 exclusive=True, pattern=pattern, **dirs)
    pred = run_module('task', every, check=True)
    assert pred['changed'] and pred['removed'] == [] and [t['name'] for t in pred['tasks']] == names
    assert not set(names) & set(sh('ip netns list').split())
    assert [d['before_header'] for d in pred['diff']] == ['task %s' % n for n in names]
    res = run_module('task', every)
    assert res['changed'] and all(t['task']['running'] for t in res['tasks'])
    for n, name in enumerate(names, 1):
        assert eth(name)['address'] == '02:42:0a:00:00:%02x' % (10 + n) and len(pids(name)) == 1
    again = run_module('task', every)
    assert not again['changed'] and again['diff'] == [], again['actions']

    # t3 leaves the plan; a namespace named like a task that nobody listed goes too, others stay
    stray = 'web.1.%s' % uuid.uuid4().hex[:25]
    keep = 'not-a-task-%s' % uuid.uuid4().hex[:6]
    sh('ip netns add %s && ip netns add %s' % (stray, keep))
    try:
        two = dict(every, tasks=every['tasks'][:2])
        before = sh('ip netns list')
        pred = run_module('task', two, check=True)
        assert pred['removed'] == sorted([t3, stray]) and sh('ip netns list') == before
        assert '%s: delete namespace' % t3 in pred['actions']
        run_module('task', two)
        left = sh('ip netns list').split()
        assert t3 not in left and stray not in left and keep in left and t1 in left
        assert not os.path.exists(os.path.join(dirs['runtime_dir'], t3))
        assert sh('ip -n %s -br link show dev vethA3' % sandbox_ns, check=False) == ''   # its veth went with it
        assert not run_module('task', two)['changed']
    finally:
        sh('ip netns del %s; ip netns del %s' % (stray, keep), check=False)


def test_all_tasks_a_command_that_fails_at_once_is_reported(run_module, names, dirs, sandbox_ns):
    # the commands of a node's tasks are started together and checked with one wait: the bad one
    # is named with its output, the others run
    t1, t2, t3 = names
    every = dict(tasks=[plan_task(t1, sandbox_ns, 1), plan_task(t2, sandbox_ns, 2, command=('/nonexistent/cmd',)),
                        plan_task(t3, sandbox_ns, 3)], **dirs)
    res = run_module('task', every, expect_failure=True)
    assert 'task %s: command [\'/nonexistent/cmd\'] exited at once with status' % t2 in res['msg'], res['msg']
    assert '/nonexistent/cmd' in res['msg'].split('exited at once', 1)[1]           # its output is shown
    assert res['changed'] and '%s: start command' % t3 in res['actions']
    assert len(pids(t1)) == 1 and len(pids(t3)) == 1 and pids(t2) == []
    # fixed: the next run starts it and changes nothing else
    fixed = dict(every, tasks=[every['tasks'][0], plan_task(t2, sandbox_ns, 2), every['tasks'][2]])
    res = run_module('task', fixed)
    assert res['actions'] == ['%s: start command' % t2] and len(pids(t2)) == 1
    assert not run_module('task', fixed)['changed']


def test_all_tasks_drift_and_bad_input(run_module, names, dirs, sandbox_ns):
    t1, t2, _t3 = names
    every = dict(tasks=[plan_task(t1, sandbox_ns, 1), plan_task(t2, sandbox_ns, 2, command=None)], **dirs)
    run_module('task', every)
    assert pids(t2) == []                                           # no command: no process
    sh('kill -9 %s' % pids(t1)[0])
    time.sleep(0.2)
    pred = run_module('task', every, check=True)
    assert pred['actions'] == ['%s: start command' % t1]
    res = run_module('task', every)
    assert res['actions'] == ['%s: start command' % t1] and len(pids(t1)) == 1
    # a bad entry anywhere: refused before anything, naming it
    bad = dict(every, tasks=every['tasks'] + [dict(plan_task(names[2], sandbox_ns, 3), command='sleep 1')])
    res = run_module('task', bad, expect_failure=True)
    assert 'tasks[2] (%s): command must be a list of strings' % names[2] in res['msg']
    assert names[2] not in sh('ip netns list')
    res = run_module('task', dict(every, tasks=[every['tasks'][0], every['tasks'][0]]), expect_failure=True)
    assert 'is listed twice' in res['msg']
    res = run_module('task', dict(every, tasks=[dict(every['tasks'][0], slott=1)]), expect_failure=True)
    assert 'unknown key(s) slott' in res['msg']
    res = run_module('task', dict(every, name=t1), expect_failure=True)
    assert 'mutually exclusive' in res['msg']
    res = run_module('task', dict(name=t1, exclusive=True, **dirs), expect_failure=True)
    assert 'exclusive=true applies to the tasks option' in res['msg']


def test_all_tasks_hosts_files_from_the_name_tables(run_module, names, dirs, sandbox_ns):
    # the cluster plan's shape: each network's table once, each task the networks of its file
    t1, t2, t3 = names
    table = '# linuxnet.overlay network uber-net\n' + ''.join(
        '10.0.0.%d\t%s.uber-net %s test tasks.test\n' % (10 + n, t, t) for n, t in enumerate((t1, t2), 1))
    entries = [dict({k: v for k, v in plan_task(t, sandbox_ns, n).items() if k != 'hosts'}, hosts_networks=['uber-net'])
               for n, t in enumerate((t1, t2), 1)]
    every = dict(tasks=entries, name_tables={'uber-net': table}, **dirs)

    def hosts(name):
        with open(os.path.join(dirs['etc_netns_dir'], name, 'hosts'), encoding='utf-8') as fh:
            return fh.read()

    res = run_module('task', every)
    assert res['changed'] and '%s: write hosts file' % t2 in res['actions']
    assert hosts(t1) == hosts(t2) == '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' + table
    assert not run_module('task', every)['changed']
    # a third task joins the network: the table grows, both files follow; check mode only predicts
    grown = table + '10.0.0.13\t%s.uber-net %s test tasks.test\n' % (t3, t3)
    more = dict(every, name_tables={'uber-net': grown})
    pred = run_module('task', more, check=True)
    assert pred['actions'] == ['%s: write hosts file' % t for t in (t1, t2)] and hosts(t1).endswith(table)
    res = run_module('task', more)
    assert res['actions'] == pred['actions'] and hosts(t1) == hosts(t2) and hosts(t2).endswith(grown)
    assert not run_module('task', more)['changed']
    # a network missing from the tables: refused before anything, naming it
    bad = dict(more, tasks=more['tasks'] + [dict(entries[0], name=t3, netns=t3, hosts_networks=['clear-net'])])
    res = run_module('task', bad, expect_failure=True)
    assert "tasks[2] (%s): hosts_networks names clear-net, which name_tables does not have (it has: uber-net)" % t3 \
        in res['msg'] and not res['changed']
    assert t3 not in sh('ip netns list') and hosts(t1).endswith(grown)


def test_an_interface_the_plan_no_longer_lists_goes(run_module, task_name, dirs, sandbox_ns):
    # a service left a network (or a task lost its way out): the task's listed interfaces are all it keeps
    two = [interface(sandbox_ns), interface(sandbox_ns, veth='vethT1', bridge='br1', ifname='eth1',
                                            mac='02:42:0a:00:01:02', address='10.0.1.2/24', routes=[])]
    args = dict(name=task_name, command=['sleep', 'infinity'], interfaces=two, **dirs)
    run_module('task', args)
    one = dict(args, interfaces=two[:1])
    pred = run_module('task', one, check=True)
    assert pred['actions'] == ['remove interface eth1 (not in the plan)'] and 'eth1' in sh('ip -n %s -br link' % task_name)
    res = run_module('task', one)
    assert res['actions'] == pred['actions']
    assert 'eth1' not in sh('ip -n %s -br link' % task_name) and 'vethT1' not in sh('ip -n %s -br link' % sandbox_ns)
    assert not run_module('task', one)['changed']
