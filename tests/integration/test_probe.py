# -*- coding: utf-8 -*-
"""linuxnet.overlay.probe against real namespaces inside the sandbox: two "tasks" on one bridge,
a third behind a router hop, and a fourth on an isolated bridge."""

from __future__ import annotations

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


def test_probe_bad_mtu(run_module, topo):
    res = run_module('probe', {'probes': [{'netns': topo['a'], 'target': '10.9.0.3', 'mtu': 10}]},
                     expect_failure=True)
    assert 'mtu 10 is not between 68 and 65535' in res['msg']
