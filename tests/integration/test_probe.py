# -*- coding: utf-8 -*-
"""linuxnet.overlay.probe against real namespaces inside the sandbox: two "tasks" on one bridge,
a third behind a router hop, and a fourth on an isolated bridge."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from conftest import sh


@pytest.fixture
def topo():
    s = uuid.uuid4().hex[:6]
    sb, a, b, c, far = ('sb-' + s, 'a-' + s, 'b-' + s, 'c-' + s, 'far-' + s)
    names = [sb, a, b, c, far]
    script = f"""
    for n in {' '.join(names)}; do ip netns add $n; ip -n $n link set lo up; done
    ip -n {sb} link add br0 mtu 1450 type bridge; ip -n {sb} addr add 10.9.0.1/24 dev br0; ip -n {sb} link set br0 up
    ip -n {sb} link add br1 type bridge; ip -n {sb} link set br1 up
    i=2
    for t in {a} {b}; do
      ip -n {sb} link add v$t mtu 1450 type veth peer name eth0 netns $t mtu 1450
      ip -n {sb} link set v$t master br0 up
      ip -n $t addr add 10.9.0.$i/24 dev eth0; ip -n $t link set eth0 up; i=$((i+1))
    done
    ip -n {sb} link add v{c} type veth peer name eth0 netns {c}
    ip -n {sb} link set v{c} master br1 up
    ip -n {c} addr add 10.9.0.50/24 dev eth0; ip -n {c} link set eth0 up
    # a task one routed hop away: far <-> sb via a /30, sb forwards
    ip -n {sb} link add vfar type veth peer name eth0 netns {far}
    ip -n {sb} addr add 10.8.0.1/30 dev vfar; ip -n {sb} link set vfar up
    ip -n {far} addr add 10.8.0.2/30 dev eth0; ip -n {far} link set eth0 up; ip -n {far} route add default via 10.8.0.1
    ip -n {a} route add 10.8.0.0/30 via 10.9.0.1
    ip netns exec {sb} sysctl -qw net.ipv4.ip_forward=1
    """
    sh(script)
    yield dict(sb=sb, a=a, b=b, c=c, far=far)
    for n in names:
        sh('ip netns del %s' % n, check=False)


def test_probe_reports_reach_hops_mtu_and_isolation(run_module, topo):
    res = run_module('probe', {'probes': [
        {'netns': topo['a'], 'target': '10.9.0.3', 'hops': 1, 'mtu': 1450, 'label': 'a->b'},
        {'netns': topo['a'], 'target': '10.8.0.2', 'hops': 2},
        {'netns': topo['a'], 'target': '10.9.0.50', 'expect': 'isolated'},
    ]})
    assert not res['changed']
    good, routed, isolated = res['results']
    assert good['ok'] and good['reachable'] and good['hops'] == 1 and good['mtu_ok'] is True, good['detail']
    assert good['label'] == 'a->b' and good['address'] == '10.9.0.3'
    assert routed['ok'] and routed['hops'] == 2, routed['detail']
    assert isolated['ok'] and not isolated['reachable'], isolated
    assert res['summary'] == {'total': 3, 'ok': 3, 'failed': 0}


def test_probe_reports_misses(run_module, topo):
    res = run_module('probe', {'probes': [
        {'netns': topo['a'], 'target': '10.9.0.3', 'hops': 2},          # it is one hop
        {'netns': topo['a'], 'target': '10.9.0.3', 'mtu': 1500},        # the path is 1450
        {'netns': topo['a'], 'target': '10.9.0.50'},                    # isolated: no reply
        {'netns': topo['a'], 'target': '10.9.0.3', 'expect': 'isolated'},
    ], 'timeout': 0.5})
    hops, mtu, miss, leak = res['results']
    assert not hops['ok'] and 'expected 2' in hops['detail']
    assert not mtu['ok'] and mtu['mtu_ok'] is False and 'MTU 1500' in mtu['detail']
    assert not miss['ok'] and 'no reply' in miss['detail']
    assert not leak['ok'] and 'isolated' in leak['detail']
    assert res['summary'] == {'total': 4, 'ok': 0, 'failed': 4}


def test_probe_report_failed_returns_only_the_misses_and_the_labels_that_passed(run_module, topo):
    probes = [
        {'netns': topo['a'], 'target': '10.9.0.3', 'hops': 1, 'label': 'a->b'},
        {'netns': topo['a'], 'target': '10.9.0.50', 'label': 'a->c'},        # isolated: no reply
        {'netns': topo['b'], 'target': '10.9.0.2'},                          # no label: its target
        {'netns': topo['a'], 'target': '10.9.0.50', 'expect': 'isolated', 'label': 'a-/-c'},
    ]
    res = run_module('probe', {'probes': probes, 'timeout': 0.5, 'report': 'failed'})
    assert res['passed'] == ['a->b', '10.9.0.2', 'a-/-c']
    [miss] = res['results']
    assert miss['label'] == 'a->c' and not miss['ok'] and 'no reply' in miss['detail']
    assert res['summary'] == {'total': 4, 'ok': 3, 'failed': 1}
    # the default still returns every result and no passed list
    full = run_module('probe', {'probes': probes, 'timeout': 0.5})
    assert [r['ok'] for r in full['results']] == [True, False, True, True] and 'passed' not in full


def test_probe_bad_mtu(run_module, topo):
    res = run_module('probe', {'probes': [{'netns': topo['a'], 'target': '10.9.0.3', 'mtu': 10}]},
                     expect_failure=True)
    assert 'mtu 10 is not between 68 and 65535' in res['msg']


@pytest.fixture
def etc_netns(tmp_path):
    """A private /etc/netns for this test: an overlay on /etc inside the sandbox's own mount
    namespace (/etc/netns must not be made on the shared root file system)."""
    upper, work = tmp_path / 'upper', tmp_path / 'work'
    upper.mkdir()
    work.mkdir()
    sh('mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,workdir=%s /etc' % (upper, work))
    try:
        sh('mkdir -p /etc/netns')
        yield '/etc/netns'
    finally:
        sh('umount /etc')


def test_probe_two_hops_path_and_wrong_expectation(run_module, topo):
    res = run_module('probe', {'probes': [
        {'netns': topo['a'], 'target': '10.8.0.2', 'hops': 1},
        {'netns': topo['far'], 'target': '10.9.0.2', 'hops': 2},
    ]})
    wrong, back = res['results']
    assert wrong['hops'] == 2 and not wrong['ok']
    # the path names the router that answered TTL 1 and the target at TTL 2
    assert 'expected 1: 1 10.9.0.1 / 2 10.8.0.2' in wrong['detail'], wrong['detail']
    assert back['ok'] and back['hops'] == 2, back['detail']


def test_probe_df_at_the_mtu_behind_a_router(run_module, topo):
    # the routed link is narrower than a's own interface: the 1401-byte packet leaves a and the
    # router answers fragmentation-needed (no local EMSGSIZE)
    sh(f"ip -n {topo['sb']} link set vfar mtu 1400; ip -n {topo['far']} link set eth0 mtu 1400")
    res = run_module('probe', {'probes': [
        {'netns': topo['a'], 'target': '10.8.0.2', 'mtu': 1400},
        {'netns': topo['a'], 'target': '10.8.0.2', 'mtu': 1401},
        {'netns': topo['a'], 'target': '10.9.0.3', 'mtu': 1400},     # the path allows 1450: 1401 passes
        {'netns': topo['a'], 'target': '10.9.0.3', 'mtu': 1450},
    ], 'parallel': 1})
    exact, over, under, local = res['results']
    assert exact['ok'] and exact['mtu_ok'] is True, exact['detail']
    assert not over['ok'] and over['mtu_ok'] is False and 'DF ping with 1373 bytes (MTU 1401) failed' in over['detail']
    assert not under['ok'] and 'DF ping with 1373 bytes passed although the MTU is 1400' in under['detail']
    assert local['ok'] and local['mtu_ok'] is True, local['detail']
    # independent check: iputils agrees on both sides of the router's MTU
    sh(f"ip netns exec {topo['a']} ping -n -c 1 -W 1 -M do -s 1372 10.8.0.2")
    assert 'rc=1' in sh(f"ip netns exec {topo['a']} ping -n -c 1 -W 1 -M do -s 1373 10.8.0.2 >/dev/null 2>&1; echo rc=$?")


def test_probe_names_from_the_task_hosts_file(run_module, topo, etc_netns):
    os.makedirs(os.path.join(etc_netns, topo['a']))
    with open(os.path.join(etc_netns, topo['a'], 'hosts'), 'w') as fh:
        fh.write('127.0.0.1 localhost\n10.9.0.3 b.task Tasks.B\n10.9.0.50 c.task\n')
    res = run_module('probe', {'probes': [
        {'netns': topo['a'], 'target': 'tasks.b', 'hops': 1, 'mtu': 1450},
        {'netns': topo['a'], 'target': 'c.task', 'expect': 'isolated'},
        {'netns': topo['a'], 'target': 'nobody.task'},
        {'netns': topo['b'], 'target': 'localhost'},                 # b has no own file: /etc/hosts
        {'netns': topo['b'], 'target': 'b.task'},
    ], 'timeout': 0.5})
    named, isolated, unknown, fallback, not_b = res['results']
    assert named['ok'] and named['address'] == '10.9.0.3' and named['hops'] == 1, named['detail']
    assert isolated['ok'] and isolated['address'] == '10.9.0.50' and not isolated['reachable']
    assert not unknown['ok'] and 'cannot resolve nobody.task' in unknown['detail']
    assert '/etc/netns/%s/hosts' % topo['a'] in unknown['detail']
    assert fallback['ok'] and fallback['address'] == '127.0.0.1', fallback['detail']
    assert not not_b['ok'] and 'no IPv4 entry in /etc/hosts' in not_b['detail']


def test_probe_unreachable_times_out_and_count(run_module, topo):
    start = time.monotonic()
    res = run_module('probe', {'probes': [
        {'netns': topo['a'], 'target': '10.9.0.99'},                  # nobody there: no ARP answer
        {'netns': topo['a'], 'target': '10.9.0.99', 'expect': 'isolated'},
        {'netns': topo['a'], 'target': '10.9.0.3'},
        {'netns': 'missing-' + topo['a'], 'target': '10.9.0.3'},
    ], 'timeout': 0.7, 'count': 3})
    elapsed = time.monotonic() - start
    silent, isolated, good, missing = res['results']
    assert not silent['ok'] and 'no reply (no answer to 3 echo request(s) within the timeout)' in silent['detail']
    assert isolated['ok'] and not isolated['reachable']
    assert good['ok'] and good['rtt_ms'] is not None
    assert not missing['ok'] and 'does not exist' in missing['detail']
    # the two silent probes wait in parallel, once each: far less than a second per request
    assert elapsed < 15, elapsed
