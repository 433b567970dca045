# -*- coding: utf-8 -*-
"""The node's gateway bridge (linuxnet.overlay.sandbox ``gateway``, tasks' ``gateway_interface``)
against the real kernel. The namespace the test runs in plays the node (tests/sandbox.sh made it:
never the machine's own); a scratch namespace cabled to it plays the outside, 198.51.100.1."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from conftest import sh
from test_task import dirs  # noqa: F401  # pylint: disable=unused-import

GATEWAY = {'bridge': 'ov-gwbridge', 'subnet': '172.18.0.0/16', 'address': '172.18.0.1/16', 'veth_prefix': 'vgw'}
OUTSIDE = '198.51.100.1'


@pytest.fixture
def outside(scratch_netns):
    # the gateway turns forwarding on in the node (here: the test's own namespace); put it back after
    forwarding = sh('sysctl -n net.ipv4.ip_forward').strip()
    ns = scratch_netns('out')
    sh('ip link add gwtest-up type veth peer name eth0 netns {0} && ip addr add 198.51.100.2/24 dev gwtest-up && '
       'ip link set gwtest-up up && ip -n {0} addr add 198.51.100.1/24 dev eth0 && ip -n {0} link set eth0 up && '
       'ip -n {0} link set lo up'.format(ns))
    yield ns
    sh('ip link del gwtest-up 2>/dev/null; ip link del ov-gwbridge 2>/dev/null; '
       'nft delete table ip linuxnet_overlay_gw 2>/dev/null; nft delete table bridge linuxnet_overlay_gw 2>/dev/null; '
       'sysctl -qw net.ipv4.ip_forward=%s' % forwarding, check=False)


@pytest.fixture
def names():
    made = ['web.%d.%s' % (i, uuid.uuid4().hex[:25]) for i in (1, 2)]
    yield made
    for name in made:
        sh('ip netns pids %s 2>/dev/null | xargs -r kill -9; ip netns del %s 2>/dev/null' % (name, name), check=False)


def gw_interface(n):
    return {'veth': 'vgwtest%d' % n, 'sandbox': None, 'bridge': 'ov-gwbridge', 'ifname': 'eth0',
            'address': '172.18.0.%d/16' % (1 + n), 'mac': '02:42:ac:12:00:%02x' % (1 + n), 'mtu': 1500,
            'routes': [{'dst': 'default', 'via': '172.18.0.1'}],
            'ip': '172.18.0.%d' % (1 + n), 'gateway': '172.18.0.1'}            # the plan's, ignored


def args(names, dirs, gateway=None):  # noqa: F811
    return dict(sandboxes=[], exclusive=True, prefix='ov-', gateway=gateway or GATEWAY,
                tasks=[{'name': t, 'command': ['sleep', 'infinity'], 'gateway_interface': gw_interface(n)}
                       for n, t in enumerate(names, 1)],
                task_pattern=r'^web\.', **dirs)


def in_ns(ns, cmd, check=True):
    return subprocess.run(['ip', 'netns', 'exec', ns, 'sh', '-c', cmd], capture_output=True, text=True,
                          check=check, timeout=60)


def tables():
    return sh('nft list tables')


def test_a_way_out_masqueraded_and_nothing_in(run_module, names, dirs, outside):  # noqa: F811
    # the node here is the sandbox's own namespace (tests/sandbox.sh), which took IPv4 forwarding from
    # the root one when it was made: start it from off, as on a host that never forwarded
    sh('sysctl -qw net.ipv4.ip_forward=0')
    every = args(names, dirs)
    pred = run_module('sandbox', every, check=True)
    assert 'add nftables table ip linuxnet_overlay_gw' in pred['actions'] and 'linuxnet_overlay_gw' not in tables()
    assert 'ov-gwbridge' not in sh('ip -br link')
    res = run_module('sandbox', every)
    assert res['changed'] and 'set net.ipv4.ip_forward=1 (the node forwards the gateway bridge\'s traffic)' \
        in res['actions']
    assert sh('ip -br addr show ov-gwbridge').split()[2] == '172.18.0.1/16'
    assert 'ip saddr 172.18.0.0/16 oifname != "ov-gwbridge" masquerade' in sh('nft list table ip linuxnet_overlay_gw')
    # the task reaches the outside; the outside sees the node's address, not the task's
    t1, t2 = names
    srv = subprocess.Popen(['ip', 'netns', 'exec', outside, 'python3', '-c', (
        'import socket; s = socket.socket(); s.bind(("0.0.0.0", 80)); s.listen(4)\n'
        'for i in range(2):\n'
        '    c, peer = s.accept(); c.sendall(peer[0].encode() + b"\\n"); c.close()\n')])
    try:
        got = ''
        for dummy in range(30):
            got = in_ns(t1, 'python3 -c "import socket; c = socket.create_connection((\'%s\', 80), timeout=2); '
                            'print(c.makefile().readline().strip())"' % OUTSIDE, check=False).stdout.strip()
            if got:
                break
        assert got == '198.51.100.2', got
    finally:
        srv.kill()
    assert in_ns(t1, 'ip route show default').stdout.split()[:3] == ['default', 'via', '172.18.0.1']
    # nothing outside starts a connection to a task, and tasks do not reach each other over the bridge
    sh('ip -n %s route add 172.18.0.0/16 via 198.51.100.2' % outside)
    assert in_ns(outside, 'ping -c 1 -W 1 172.18.0.2', check=False).returncode != 0
    assert in_ns(t1, 'ping -c 1 -W 1 172.18.0.3', check=False).returncode != 0
    assert in_ns(t1, 'ping -c 1 -W 1 172.18.0.1', check=False).returncode == 0        # its gateway answers

    assert not run_module('sandbox', every)['changed']
    assert not run_module('sandbox', every, check=True)['changed']


def test_gateway_drift_is_repaired_and_it_goes_with_the_last_task(run_module, names, dirs, outside):  # noqa: F811
    every = args(names, dirs)
    run_module('sandbox', every)
    want = sh('nft list table ip linuxnet_overlay_gw')
    sh('nft flush chain ip linuxnet_overlay_gw postrouting && nft delete table bridge linuxnet_overlay_gw')
    pred = run_module('sandbox', every, check=True)
    assert pred['actions'] == ['replace nftables table ip linuxnet_overlay_gw', 'add nftables table bridge '
                               'linuxnet_overlay_gw'], pred['actions']
    assert 'masquerade' not in sh('nft list table ip linuxnet_overlay_gw')
    (d,) = [d for d in pred['diff'] if d.get('before_header') == 'gateway bridge']
    assert 'masquerade' in d['after']['ip_table'] and 'masquerade' not in d['before']['ip_table']
    assert run_module('sandbox', every)['actions'] == pred['actions']
    assert sh('nft list table ip linuxnet_overlay_gw') == want and 'bridge linuxnet_overlay_gw' in tables()
    # no task with a way out left: bridge and tables go; a table of the node's own stays
    sh('nft add table ip nodes_own && nft add chain ip nodes_own input "{ type filter hook input priority 0; }"')
    gone = run_module('sandbox', dict(args([], dirs), gateway=None))
    assert 'delete bridge ov-gwbridge' in gone['actions'], gone['actions']
    assert 'linuxnet_overlay_gw' not in tables() and 'ip nodes_own' in tables()
    assert 'ov-gwbridge' not in sh('ip -br link')
    assert not run_module('sandbox', dict(args([], dirs), gateway=None))['changed']
    sh('nft delete table ip nodes_own')


@pytest.mark.parametrize('gateway, words', [
    (dict(GATEWAY, address='172.19.0.1/16'), 'address 172.19.0.1/16 is not in subnet 172.18.0.0/16'),
    (dict(GATEWAY, subnet='172.18.0.0/33'), 'gateway: '),
    ({'bridge': 'ov-gwbridge'}, 'gateway must be a dict of bridge, subnet, address, veth_prefix, published'),
])
def test_bad_gateway_changes_nothing(run_module, names, dirs, outside, gateway, words):  # noqa: F811
    res = run_module('sandbox', args(names, dirs, gateway), expect_failure=True)
    assert words in res['msg'] and not res['changed']
    assert 'ov-gwbridge' not in sh('ip -br link') and 'linuxnet_overlay_gw' not in tables()
