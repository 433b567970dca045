# -*- coding: utf-8 -*-
"""linuxnet.overlay.overlay_info against the real kernel, inside the sandbox (tests/sandbox.sh).

The expected values come from iproute2's JSON output, not from the module's own code."""

from __future__ import annotations

import json
import os

import pytest

from conftest import sh
from _helpers_peers import fdb_all, vxlan


def ipj(cmd):
    return json.loads(sh(cmd) or '[]')


@pytest.fixture
def sandbox(scratch_netns):
    """A sandbox like the overlay's: br0 + vxlan0 (made in the module's namespace, then moved),
    a task namespace on a veth, peer entries, an address and a route."""
    sb = scratch_netns('info-sb')
    task = scratch_netns('info-task')
    vx = 'vxi%s' % sb[-6:]
    sh('ip link add %s type vxlan id 4242 dstport 4789 nolearning proxy ttl 64 && ip link set %s netns %s'
       % (vx, vx, sb))
    sh('ip -n {sb} link set {vx} name vxlan0 && ip -n {sb} link add br0 type bridge && '
       'ip -n {sb} link set vxlan0 master br0 mtu 1450 && '
       'ip -n {sb} link add veth-t mtu 1450 type veth peer name eth0 netns {t} && '
       'ip -n {sb} link set veth-t master br0 && ip -n {sb} addr add 10.0.0.1/24 dev br0 && '
       'ip -n {sb} link set br0 up && ip -n {sb} link set vxlan0 up && ip -n {sb} link set veth-t up && '
       'ip -n {sb} route add 10.0.9.0/24 via 10.0.0.9 && '
       'bridge -n {sb} fdb append 02:42:0a:00:00:04 dev vxlan0 dst 192.168.1.5 self permanent && '
       'bridge -n {sb} fdb append 02:42:0a:00:00:05 dev vxlan0 dst 192.168.1.6 port 4790 vni 5000 self permanent && '
       'ip -n {sb} neigh add 10.0.0.4 lladdr 02:42:0a:00:00:04 dev vxlan0 nud permanent'.format(sb=sb, vx=vx, t=task))
    yield {'sb': sb, 'task': task}
    sh('ip -n %s link del vxlan0' % sb, check=False)


def by(items, **kw):
    return [i for i in items if all(i.get(k) == v for k, v in kw.items())]


def test_one_namespace_all_sections(run_module, sandbox):
    sb, task = sandbox['sb'], sandbox['task']
    res = run_module('overlay_info', {'netns': sb})
    assert res['changed'] is False
    assert list(res['namespaces']) == [sb]
    report = res['namespaces'][sb]
    assert sorted(report) == ['addresses', 'fdb', 'links', 'neigh', 'routes']

    links = {link['name']: link for link in report['links']}
    assert sorted(links) == sorted(l['ifname'] for l in ipj('ip -n %s -j link show' % sb))
    for kernel in ipj('ip -n %s -j -d link show' % sb):
        link = links[kernel['ifname']]
        assert link['ifindex'] == kernel['ifindex'] and link['mtu'] == kernel['mtu']
        assert link['mac'] == kernel['address'] and link['master'] == kernel.get('master')
        assert link['up'] == ('UP' in kernel['flags'])
        assert link['kind'] == kernel.get('linkinfo', {}).get('info_kind')
    vx = links['vxlan0']['vxlan']
    kvx = ipj('ip -n %s -j -d link show vxlan0' % sb)[0]['linkinfo']['info_data']
    assert vx['vni'] == kvx['id'] == 4242 and vx['dstport'] == kvx['port'] == 4789
    assert vx['learning'] is False and vx['proxy'] is True and vx['l2miss'] is False and vx['ttl'] == 64
    assert links['vxlan0']['mtu'] == 1450
    assert links['vxlan0']['link_netns'] == ''      # its socket is in the module's namespace
    assert links['br0']['bridge']['stp'] is False and links['br0']['bridge']['forward_delay'] == 1500
    assert links['veth-t']['veth']['peer_netns'] == task
    peer = ipj('ip -n %s -j link show eth0' % task)[0]
    assert links['veth-t']['veth']['peer_ifindex'] == peer['ifindex']

    assert by(report['addresses'], dev='br0', address='10.0.0.1', prefixlen=24, family=4, scope='global')
    assert by(report['routes'], dst='10.0.9.0/24', gateway='10.0.0.9', dev='br0', table='main')
    assert by(report['routes'], dst='10.0.0.0/24', dev='br0', proto='kernel', scope='link')
    assert not by(report['routes'], table='local')

    fdb = by(report['fdb'], dev='vxlan0', self=True)
    kernel_fdb = [e for e in fdb_all(sb, 'vxlan0') if 'self' in e.get('flags', [])]
    assert sorted((e['mac'], e['dst']) for e in fdb) == sorted((e['mac'], e.get('dst')) for e in kernel_fdb)
    assert by(fdb, mac='02:42:0a:00:00:04', dst='192.168.1.5', vni=4242, port=4789, state='permanent')
    assert by(fdb, mac='02:42:0a:00:00:05', dst='192.168.1.6', vni=5000, port=4790)
    own = by(report['fdb'], dev='vxlan0', master='br0')
    assert own and own[0]['mac'] == links['vxlan0']['mac'] and own[0]['self'] is False

    assert by(report['neigh'], dev='vxlan0', ip='10.0.0.4', mac='02:42:0a:00:00:04', state='PERMANENT')
    # NOARP entries come and go with IPv6 autoconfiguration; the others must match exactly
    kernel_neigh = {(e['dst'], e.get('lladdr'), e.get('dev')) for e in ipj('ip -n %s -j neigh show nud all' % sb)
                    if 'NOARP' not in e.get('state', [])}
    assert {(e['ip'], e['mac'], e['dev']) for e in report['neigh'] if 'NOARP' not in e['state']} == kernel_neigh


def test_default_is_own_plus_every_named_namespace(run_module, sandbox):
    res = run_module('overlay_info', {'include': ['links']})
    names = set(res['namespaces'])
    listed = {line.split()[0] for line in sh('ip netns list').splitlines() if line.strip()}
    assert names == {''} | listed
    assert sandbox['sb'] in names and sandbox['task'] in names
    for report in res['namespaces'].values():
        assert list(report) == ['links']
    own = {link['name'] for link in res['namespaces']['']['links']}
    assert own == {l['ifname'] for l in ipj('ip -j link show')}


def test_include_selects_sections_and_check_mode(run_module, sandbox):
    res = run_module('overlay_info', {'netns': sandbox['sb'], 'include': ['fdb', 'neigh']}, check=True)
    assert sorted(res['namespaces'][sandbox['sb']]) == ['fdb', 'neigh']
    assert res['changed'] is False
    assert by(res['namespaces'][sandbox['sb']]['fdb'], mac='02:42:0a:00:00:04', dst='192.168.1.5')


def test_reading_never_creates_or_changes_anything(run_module, sandbox, scratch_netns):
    scratch_netns('info-x')            # a namespace the sandbox has no id for yet
    before_ns = sorted(os.listdir('/run/netns'))
    before_fdb = fdb_all(sandbox['sb'], 'vxlan0')
    before_nsids = sh('ip -n %s netns list-id' % sandbox['sb'])
    # (an empty args dict becomes -a '{}', which ansible reads as raw params: name the default)
    run_module('overlay_info', {'include': ['links', 'addresses', 'routes', 'fdb', 'neigh']})
    assert sorted(os.listdir('/run/netns')) == before_ns
    assert fdb_all(sandbox['sb'], 'vxlan0') == before_fdb
    assert sh('ip -n %s netns list-id' % sandbox['sb']) == before_nsids   # no namespace id was assigned
    res = run_module('overlay_info', {'netns': 'info-missing'}, expect_failure=True)
    assert "network namespace 'info-missing' does not exist" in res['msg']
    assert not os.path.exists('/run/netns/info-missing')
    res = run_module('overlay_info', {'include': ['links', 'arp']}, expect_failure=True)
    assert 'include' in res['msg'] and 'arp' in res['msg']


def test_vxlan_remote_and_fdb_default_entry(run_module, scratch_netns):
    ns = scratch_netns('info-r')
    vxlan(ns, 'vx1', 4098, 'local 10.1.1.2 remote 10.1.1.1')
    res = run_module('overlay_info', {'netns': ns, 'include': ['links', 'fdb']})
    report = res['namespaces'][ns]
    vx = by(report['links'], name='vx1')[0]['vxlan']
    assert vx['local'] == '10.1.1.2' and vx['remote'] == '10.1.1.1' and vx['learning'] is True
    assert by(report['fdb'], dev='vx1', mac='00:00:00:00:00:00', dst='10.1.1.1', self=True)
