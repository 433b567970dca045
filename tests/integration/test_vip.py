# -*- coding: utf-8 -*-
"""Service virtual IPs (linuxnet.overlay.task with endpoints) against the real kernel: a sandbox
with a bridge, a client task and three server tasks that answer with their names; connections to
the VIP, as a user of a service makes them."""

from __future__ import annotations

import collections
import json
import subprocess
import time
import uuid

import pytest

from conftest import sh
from test_task import dirs, interface  # noqa: F401  # pylint: disable=unused-import

VIP = '10.0.0.2'
SERVER = r'''
import socket, sys, threading
name = sys.argv[1].encode() + b'\n'
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 80))
    while True:
        data, peer = u.recvfrom(64); u.sendto(name, peer)
threading.Thread(target=udp, daemon=True).start()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 80)); s.listen(128)
def serve(c):
    try:
        c.sendall(name)
        while c.recv(64):
            c.sendall(name)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
'''
CLIENT = r'''
import json, socket, sys
addr, n, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = []
for i in range(n):
    try:
        if proto == 'tcp':
            c = socket.create_connection((addr, 80), timeout=2); f = c.makefile(); out.append(f.readline().strip()); c.close()
        else:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2); u.sendto(b'x', (addr, 80))
            out.append(u.recvfrom(64)[0].decode().strip()); u.close()
    except OSError as exc:
        out.append('error: %s' % exc.__class__.__name__)
print(json.dumps(out))
'''


@pytest.fixture
def sandbox_ns(scratch_netns):
    ns = scratch_netns('sb')
    sh('ip -n {0} link add br0 type bridge && ip -n {0} addr add 10.0.0.1/24 dev br0 && '
       'ip -n {0} link set br0 up'.format(ns))
    return ns


@pytest.fixture
def names():
    made = ['web.%d.%s' % (i, uuid.uuid4().hex[:25]) for i in (1, 2, 3)] + ['client.1.%s' % uuid.uuid4().hex[:25]]
    yield made
    for name in made:
        sh('ip netns pids %s 2>/dev/null | xargs -r kill -9; ip netns del %s 2>/dev/null' % (name, name), check=False)


def entry(name, sandbox, n, command):
    return {'name': name, 'hosts_networks': ['uber-net'], 'endpoint_networks': ['uber-net'], 'command': command,
            'interfaces': [interface(sandbox, veth='vethV%d' % n, mac='02:42:0a:00:00:%02x' % (2 + n),
                                     address='10.0.0.%d/24' % (2 + n), routes=[])]}


def cluster(names, sandbox, backends=3):
    """The module arguments for 3 web tasks (10.0.0.3-5) and a client (10.0.0.6), VIP 10.0.0.2 of web
    leading to the first ``backends`` of them."""
    tasks = [entry(t, sandbox, n, ['python3', '-c', SERVER, t.split('.')[0] + '.%d' % n])
             for n, t in enumerate(names[:3], 1)]
    tasks.append(entry(names[3], sandbox, 4, ['sleep', 'infinity']))
    ips = ['10.0.0.%d' % (2 + n) for n in range(1, backends + 1)]
    table = '# linuxnet.overlay network uber-net\n%s\tweb\n' % VIP
    return {'tasks': tasks, 'name_tables': {'uber-net': table},
            'endpoints': {'uber-net': [{'service': 'web', 'vip': VIP, 'backends': ips}]}}


def connect(task, addr, n, proto='tcp'):
    out = subprocess.run(['ip', 'netns', 'exec', task, 'python3', '-c', CLIENT, addr, str(n), proto],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return collections.Counter(json.loads(out))


def table(task):
    return subprocess.run(['ip', 'netns', 'exec', task, 'nft', 'list', 'table', 'ip', 'linuxnet_overlay_vip'],
                          capture_output=True, text=True, check=False).stdout


def wait_serving(task, addr, tries=50):
    for dummy in range(tries):
        if not any(k.startswith('error') for k in connect(task, addr, 1)):
            return
        time.sleep(0.1)


def test_vip_balances_tcp_and_udp_is_idempotent_and_keeps_a_held_connection(run_module, names, dirs, sandbox_ns):
    client = names[3]
    args = dict(cluster(names, sandbox_ns), **dirs)
    pred = run_module('task', args, check=True)
    assert '%s: add virtual IP rules (1)' % client in pred['actions']
    assert client not in sh('ip netns list')
    res = run_module('task', args)
    assert res['changed'] and '%s: add virtual IP rules (1)' % client in res['actions']
    for t in names:
        assert 'ip daddr 10.0.0.2 dnat to numgen random mod 3 map { 0 : 10.0.0.3, 1 : 10.0.0.4, 2 : 10.0.0.5 }' \
            in table(t)
    assert 'linuxnet_overlay_vip' not in sh('nft list tables'), 'nothing in the namespace the test runs in'
    wait_serving(client, '10.0.0.5')
    tcp = connect(client, VIP, 200)
    assert set(tcp) == {'web.1', 'web.2', 'web.3'}, tcp
    assert max(tcp.values()) / min(tcp.values()) < 3, tcp          # random per connection: ~67 each
    udp = connect(client, VIP, 60, 'udp')
    assert set(udp) == {'web.1', 'web.2', 'web.3'}, udp
    # hairpin: a task of the service reaching its own VIP is served, itself included
    assert set(connect(names[0], VIP, 60)) == {'web.1', 'web.2', 'web.3'}

    again = run_module('task', args)
    assert not again['changed'], again['actions']
    assert not run_module('task', args, check=True)['changed']

    # scale 3 -> 2 while a connection to web.1 is open: it stays open, no new one reaches web.3
    held = subprocess.Popen(['ip', 'netns', 'exec', client, 'python3', '-c', (
        'import socket, sys, time\n'
        'c = socket.create_connection(("10.0.0.3", 80), timeout=5); f = c.makefile()\n'
        'print(f.readline().strip(), flush=True); sys.stdin.readline()\n'
        'c.sendall(b"again\\n"); print(f.readline().strip(), flush=True)\n')],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert held.stdout.readline().strip() == 'web.1'
    smaller = dict(cluster(names, sandbox_ns, backends=2), **dirs)
    res = run_module('task', smaller)
    assert res['actions'] == ['%s: replace virtual IP rules (1)' % t for t in names], res['actions']
    held.stdin.write('go\n')
    held.stdin.flush()
    assert held.stdout.readline().strip() == 'web.1'
    held.wait(10)
    assert set(connect(client, VIP, 100)) == {'web.1', 'web.2'}


def test_vip_drift_is_reported_and_repaired_and_no_backend_rejects(run_module, names, dirs, sandbox_ns):
    client = names[3]
    args = dict(cluster(names, sandbox_ns), **dirs)
    run_module('task', args)
    want = table(client)
    sh('ip netns exec %s nft flush chain ip linuxnet_overlay_vip nat_output' % client)
    pred = run_module('task', args, check=True)
    assert pred['actions'] == ['%s: replace virtual IP rules (1)' % client]
    (d,) = pred['diff']
    assert d['before']['vip_table'] != d['after']['vip_table'] == want
    assert ' dnat to ' not in table(client), 'check mode must not repair'
    fixed = run_module('task', args)
    assert fixed['actions'] == pred['actions'] and table(client) == want
    # a table removed by hand comes back too
    sh('ip netns exec %s nft delete table ip linuxnet_overlay_vip' % client)
    assert run_module('task', args)['actions'] == ['%s: add virtual IP rules (1)' % client]

    # a service with no task: its VIP rejects at once instead of timing out
    empty = dict(args, endpoints={'uber-net': [{'service': 'web', 'vip': VIP, 'backends': []}]})
    run_module('task', empty)
    assert 'ip daddr 10.0.0.2 reject' in table(client)
    start = time.monotonic()
    assert connect(client, VIP, 1) == {'error: ConnectionRefusedError': 1}
    assert time.monotonic() - start < 1.5

    # no VIP on the task's networks: its table goes
    none = dict(args, endpoints={'uber-net': []})
    res = run_module('task', none)
    assert '%s: remove virtual IP rules' % client in res['actions'] and table(client) == ''
    assert not run_module('task', none)['changed']


@pytest.mark.parametrize('change, words', [
    (lambda a: a['endpoints']['uber-net'][0].update(vip='10.0.0.300'),
     "endpoints[uber-net][0] (web): vip '10.0.0.300' is not an IPv4 address"),
    (lambda a: a['endpoints']['uber-net'][0].update(backends=['10.0.0.3', 'x']),
     "endpoints[uber-net][0] (web): backend 'x' is not an IPv4 address"),
    (lambda a: a['tasks'][1].update(endpoint_networks=['other-net']),
     'endpoint_networks names other-net, which endpoints does not have (it has: uber-net)'),
    (lambda a: a['endpoints']['uber-net'].append({'service': 'api', 'vip': VIP, 'backends': []}),
     'endpoints[uber-net][1] (api): vip 10.0.0.2 is also the VIP of service web'),
])
def test_bad_endpoints_are_refused_before_any_change(run_module, names, dirs, sandbox_ns, change, words):
    args = dict(cluster(names, sandbox_ns), **dirs)
    change(args)
    res = run_module('task', args, expect_failure=True)
    assert words in res['msg'] and not res['changed'], res['msg']
    assert not any(t in sh('ip netns list') for t in names)
