# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab of simulated hosts, end to end, through the real playbooks and labctl.

Runs as root inside tests/sandbox.sh (its own network, mount and PID namespaces), so every
holder the lab starts is a child of the sandbox and dies with it:

    tests/sandbox.sh .venv/bin/pytest -q tests/lab

Assertions use independent tools (nsenter, ip, traceroute, /proc) rather than labctl's answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PYTHON = os.environ.get('LINUXNET_OVERLAY_PYTHON', os.path.join(ROOT, '.venv', 'bin', 'python'))
BIN = os.path.dirname(PYTHON)
LABCTL = os.path.join(ROOT, 'roles', 'lab', 'files', 'labctl')
SEED = os.path.join(ROOT, 'inventories', 'lab', 'seed', 'lab.yml')
LARGE = os.path.join(ROOT, 'inventories', 'lab', 'large', 'lab.yml')
IPV6 = os.path.join(ROOT, 'inventories', 'lab', 'ipv6', 'lab.yml')
NS_FLAGS = ['--net', '--mount', '--uts', '--ipc', '--pid']
# Paths the collection uses on a node; none of them may appear on the machine's root file system.
NODE_ONLY = ('/etc/netns', '/var/lib/linuxnet-overlay', '/run/linuxnet-overlay')

pytestmark = pytest.mark.skipif(
    os.environ.get('LINUXNET_SANDBOX') != '1' or os.geteuid() != 0,
    reason='lab tests run as root inside tests/sandbox.sh (private network/mount/pid namespaces)')


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def env():
    e = dict(os.environ)
    e.update({
        'PATH': BIN + os.pathsep + e.get('PATH', ''),
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.build'),
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_NOCOLOR': '1',
        'PWD': ROOT,
    })
    return e


def run(argv, check=True, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env(), cwd=ROOT, **kw)
    if check and proc.returncode != 0:
        raise AssertionError('%s failed (%d):\n%s\n%s' % (' '.join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def recap(out, host='localhost'):
    m = re.search(r'^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)' % re.escape(host),
                  out, re.M)
    assert m, 'no PLAY RECAP for %s in:\n%s' % (host, out)
    return {'ok': int(m.group(1)), 'changed': int(m.group(2)), 'unreachable': int(m.group(3)),
            'failed': int(m.group(4))}


def lab_up(lab_dir, description=SEED, check=False):
    argv = [os.path.join(BIN, 'ansible-playbook'), 'linuxnet.overlay.lab_up',
            '-e', 'lab_description=' + description, '-e', 'lab_dir=' + lab_dir]
    if check:
        argv.append('--check')
    proc = run(argv)
    return recap(proc.stdout)


def lab_down(lab_dir):
    proc = run([os.path.join(BIN, 'ansible-playbook'), 'linuxnet.overlay.lab_down', '-e', 'lab_dir=' + lab_dir])
    return recap(proc.stdout)


def holder(lab_dir, name):
    sub = 'router' if name == 'router' else os.path.join('nodes', name)
    with open(os.path.join(lab_dir, sub, 'holder.pid'), encoding='ascii') as f:
        return int(f.read().split()[0])


def nx(lab_dir, name, cmd, check=True):
    """Run a shell command inside a lab host with plain nsenter."""
    return run(['nsenter', '--target', str(holder(lab_dir, name))] + NS_FLAGS + ['--', 'sh', '-c', cmd],
               check=check)


def ansible(lab_dir, pattern, module, args=None, check=True):
    argv = [os.path.join(BIN, 'ansible'), pattern, '-i', os.path.join(lab_dir, 'inventory.yml'),
            '-m', module, '-o']
    if args:
        argv += ['-a', args]
    return run(argv, check=check)


def reap():
    """In the sandbox this process is PID 1: reap the orphaned unshare processes it inherits."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def live_processes():
    """{pid: namespace ids} of every live (non-zombie) process this PID namespace shows."""
    out = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry, 'rb') as f:
                stat = f.read()
            if stat[stat.rindex(b')') + 2:][:1] in (b'Z', b'X'):
                continue
            out[int(entry)] = tuple(os.readlink('/proc/%s/ns/%s' % (entry, ns))
                                    for ns in ('net', 'mnt', 'uts', 'ipc', 'pid'))
        except (OSError, ValueError):
            continue
    return out


def snapshot():
    reap()
    procs = live_processes()
    mine = tuple(os.readlink('/proc/self/ns/%s' % ns) for ns in ('net', 'mnt', 'uts', 'ipc', 'pid'))
    with open('/proc/self/mountinfo', encoding='utf-8') as f:
        mounts = f.read().splitlines()
    lsns = run(['lsns', '-n', '-o', 'NS,TYPE']).stdout.split('\n')
    return {
        'processes': len(procs),
        'foreign_processes': sorted(p for p, ids in procs.items() if ids != mine),
        'namespaces': sorted(line.strip() for line in lsns if line.strip()),
        'mounts': len(mounts),
        'lab_mounts': [m for m in mounts if 'linuxnet-lab' in m or '/lab/' in m or 'overlay' in m],
        'run_netns': sorted(os.listdir('/run/netns')),
        'node_only_paths': [p for p in NODE_ONLY if os.path.lexists(p)],
        'hostname': os.uname().nodename,
    }


def file_digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


ROOT_FILES = ('/etc/hostname', '/etc/hosts')


@pytest.fixture(scope='module')
def seed(tmp_path_factory):
    """The seed lab, up for the whole module, always taken down."""
    base = tmp_path_factory.mktemp('lab')
    lab_dir = str(base / 'seed')
    before = snapshot()
    digests = {p: file_digest(p) for p in ROOT_FILES}
    try:
        assert lab_up(lab_dir)['changed'] == 1
        yield {'dir': lab_dir, 'before': before, 'digests': digests}
    finally:
        if os.path.isdir(lab_dir):
            lab_down(lab_dir)


# --------------------------------------------------------------------------------------------
# lab up: each node is its own host
# --------------------------------------------------------------------------------------------

def test_each_node_sees_only_its_own_interfaces_and_hostname(seed):
    for name, cidr in (('node1', '172.31.1.5/24'), ('node2', '192.168.1.5/24')):
        assert nx(seed['dir'], name, 'hostname').stdout.strip() == name
        links = json.loads(nx(seed['dir'], name, 'ip -j addr show').stdout)
        assert sorted(li['ifname'] for li in links) == ['eth0', 'lo']
        eth0 = next(li for li in links if li['ifname'] == 'eth0')
        assert ['%s/%d' % (a['local'], a['prefixlen']) for a in eth0['addr_info'] if a['family'] == 'inet'] == [cidr]
        # sysfs is the node's own (T6), so tools that read /sys agree with netlink
        assert nx(seed['dir'], name, 'ls /sys/class/net').stdout.split() == ['eth0', 'lo']
        # the PID namespace: the node sees only its own processes, its holder is PID 1
        assert '_init' in nx(seed['dir'], name, 'tr "\\0" " " < /proc/1/cmdline').stdout
        ps = nx(seed['dir'], name, 'ps -e -o pid=').stdout.split()
        assert ps[0] == '1' and len(ps) <= 3, ps          # holder, sh, ps
    # the sandbox's own hostname and links are untouched
    assert os.uname().nodename == seed['before']['hostname']
    assert sorted(li['ifname'] for li in json.loads(run(['ip', '-j', 'link']).stdout)) == ['lo']


def test_default_routes_and_router(seed):
    for name, gw in (('node1', '172.31.1.1'), ('node2', '192.168.1.1')):
        routes = json.loads(nx(seed['dir'], name, 'ip -j route show default').stdout)
        assert [(r['gateway'], r['dev']) for r in routes] == [(gw, 'eth0')]
        assert nx(seed['dir'], name, 'cat /proc/sys/net/ipv4/ip_forward').stdout.strip() == '0'
    assert nx(seed['dir'], 'router', 'cat /proc/sys/net/ipv4/ip_forward').stdout.strip() == '1'
    bridges = json.loads(nx(seed['dir'], 'router', 'ip -j addr show type bridge').stdout)
    assert sorted((b['ifname'], b['addr_info'][0]['local']) for b in bridges) == [
        ('outside', '203.0.113.1'), ('seg1', '172.31.1.1'), ('seg2', '192.168.1.1')]


def test_named_netns_is_private_to_the_node(seed):
    nx(seed['dir'], 'node1', 'ip netns add labtest-x')
    try:
        assert nx(seed['dir'], 'node1', 'ip netns list').stdout.split()[0] == 'labtest-x'
        assert nx(seed['dir'], 'node2', 'ip netns list').stdout.strip() == ''
        assert 'labtest-x' not in os.listdir('/run/netns')
        assert run(['ip', 'netns', 'list']).stdout.strip() == ''
        # `ip netns exec` works inside a PID-namespace node when entered with --pid (T9)
        assert nx(seed['dir'], 'node1', 'ip netns exec labtest-x ip -br link').stdout.split()[0] == 'lo'
    finally:
        nx(seed['dir'], 'node1', 'ip netns del labtest-x')


def test_node1_reaches_node2_through_the_router(seed):
    out = nx(seed['dir'], 'node1', 'traceroute -n -q1 -w2 192.168.1.5').stdout.splitlines()[1:]
    assert [line.split()[1] for line in out] == ['172.31.1.1', '192.168.1.5']
    out = nx(seed['dir'], 'node2', 'ping -c2 -i0.2 -W2 172.31.1.5').stdout
    assert ' 0% packet loss' in out


def test_no_route_out_of_the_lab(seed):
    # the router has no uplink: anything that is not a lab address is unreachable
    out = nx(seed['dir'], 'node1', 'ping -c1 -W1 192.0.2.1', check=False)
    assert out.returncode != 0
    assert 'Unreachable' in out.stdout
    routes = json.loads(nx(seed['dir'], 'router', 'ip -j route show').stdout)
    assert sorted(r['dst'] for r in routes) == ['172.31.1.0/24', '192.168.1.0/24', '203.0.113.0/24']


def test_facts_through_the_connection(seed):
    out = ansible(seed['dir'], 'all', 'ansible.builtin.setup',
                  'filter=ansible_hostname,ansible_interfaces,ansible_default_ipv4,ansible_all_ipv4_addresses').stdout
    facts = {}
    for line in out.splitlines():
        host, _sep, rest = line.partition(' | SUCCESS => ')
        if rest:
            facts[host.strip()] = json.loads(rest)['ansible_facts']
    assert sorted(facts) == ['client', 'node1', 'node2']
    for name, addr, gw in (('node1', '172.31.1.5', '172.31.1.1'), ('node2', '192.168.1.5', '192.168.1.1'),
                           ('client', '203.0.113.5', '203.0.113.1')):
        f = facts[name]
        assert f['ansible_hostname'] == name
        assert sorted(f['ansible_interfaces']) == ['eth0', 'lo']
        assert f['ansible_all_ipv4_addresses'] == [addr]
        assert (f['ansible_default_ipv4']['address'], f['ansible_default_ipv4']['gateway']) == (addr, gw)


def test_inventory_groups_and_vars(seed):
    inv = json.loads(run([os.path.join(BIN, 'ansible-inventory'), '-i', os.path.join(seed['dir'], 'inventory.yml'),
                          '--list']).stdout)
    assert inv['swarm_managers']['hosts'] == ['node1']
    assert inv['swarm_workers']['hosts'] == ['node2']
    # the client host is in the lab, not in the cluster: site.yml (swarm_managers:swarm_workers) skips it
    assert inv['lab_clients']['hosts'] == ['client']
    hv = inv['_meta']['hostvars']
    assert 'overlay_advertise_addr' not in hv['client'] and hv['client']['linuxnet_lab_address'] == '203.0.113.5'
    assert hv['node1']['overlay_advertise_addr'] == '172.31.1.5'
    assert hv['node2']['overlay_advertise_addr'] == '192.168.1.5'
    assert hv['node1']['ansible_connection'] == 'linuxnet.overlay.nsenter'
    # the description's group_vars are linked next to the inventory
    assert hv['node1']['overlay_networks'] == [{'name': 'uber-net'}]
    assert os.path.realpath(os.path.join(seed['dir'], 'group_vars')) == os.path.join(
        ROOT, 'inventories', 'lab', 'seed', 'group_vars')


def test_node_files_are_private(seed):
    nx(seed['dir'], 'node1', 'mkdir -p /var/lib/linuxnet-overlay /etc/netns/t1 /run/linuxnet-overlay && '
                             'echo one > /var/lib/linuxnet-overlay/state && echo nameserver 10.0.0.2 > /etc/netns/t1/resolv.conf '
                             '&& echo 1 > /run/linuxnet-overlay/pid && echo tmp > /tmp/labtest && echo h > /root/labtest')
    assert nx(seed['dir'], 'node1', 'cat /var/lib/linuxnet-overlay/state /etc/netns/t1/resolv.conf').stdout.split() == [
        'one', 'nameserver', '10.0.0.2']
    listing = nx(seed['dir'], 'node2', 'ls -d /var/lib/linuxnet-overlay /etc/netns /run/linuxnet-overlay '
                                       '/tmp/labtest /root/labtest 2>&1; true').stdout
    assert listing.count('No such file or directory') == 5, listing
    for path in NODE_ONLY + ('/tmp/labtest', '/root/labtest'):
        assert not os.path.lexists(path), path
    # the writes landed in the lab folder (node1's layers), nowhere else
    assert os.path.isfile(os.path.join(seed['dir'], 'nodes', 'node1', 'varlib.upper', 'linuxnet-overlay', 'state'))
    for p, digest in seed['digests'].items():
        assert file_digest(p) == digest, p
    assert nx(seed['dir'], 'node1', 'cat /etc/hostname').stdout.strip() == 'node1'
    # podman's configuration of a node (no cgroups, events in a file) is the node's, in its /etc layer
    conf = nx(seed['dir'], 'node1', 'cat /etc/containers/containers.conf').stdout
    assert 'cgroups = "disabled"' in conf
    assert os.path.isfile(os.path.join(seed['dir'], 'nodes', 'node1', 'etc.upper', 'containers', 'containers.conf'))
    assert 'cgroup2' in nx(seed['dir'], 'node1', 'stat -f -c %T /sys/fs/cgroup').stdout


def test_file_transfer_streams_through_the_connection(seed, tmp_path):
    src = tmp_path / 'blob'
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    ansible(seed['dir'], 'node2', 'ansible.builtin.copy', 'src=%s dest=/tmp/blob mode=0600' % src)
    assert nx(seed['dir'], 'node2', 'sha256sum /tmp/blob').stdout.split()[0] == file_digest(src)
    ansible(seed['dir'], 'node2', 'ansible.builtin.fetch', 'src=/tmp/blob dest=%s/ flat=true' % (tmp_path / 'back'))
    assert file_digest(tmp_path / 'back' / 'blob') == file_digest(src)
    assert not os.path.exists('/tmp/blob')


def test_lab_up_twice_changes_nothing_and_check_mode_predicts(seed):
    assert lab_up(seed['dir'])['changed'] == 0
    assert lab_up(seed['dir'], check=True)['changed'] == 0
    pids = {n: holder(seed['dir'], n) for n in ('router', 'node1', 'node2')}
    assert lab_up(seed['dir'])['changed'] == 0
    assert {n: holder(seed['dir'], n) for n in pids} == pids


def test_killed_node_is_detected_and_brought_back(seed):
    old = holder(seed['dir'], 'node1')
    nx(seed['dir'], 'node1', 'ip netns add before-reboot')
    os.kill(old, 9)
    for _attempt in range(100):
        reap()
        if not os.path.exists('/proc/%d' % old):
            break
        time.sleep(0.02)
    out = ansible(seed['dir'], 'node1', 'ansible.builtin.ping', check=False).stdout
    assert 'UNREACHABLE' in out and 'node1: holder pid %d is not running; run linuxnet.overlay.lab_up' % old in out
    # check mode sees it, changes nothing
    assert lab_up(seed['dir'], check=True)['changed'] == 1
    assert holder(seed['dir'], 'node1') == old
    assert lab_up(seed['dir'])['changed'] == 1
    new = holder(seed['dir'], 'node1')
    assert new != old
    # back as a rebooted host: cabled again, kernel state empty, its disk (/etc layer) kept
    assert nx(seed['dir'], 'node1', 'ip netns list').stdout.strip() == ''
    out = nx(seed['dir'], 'node1', 'traceroute -n -q1 -w2 192.168.1.5').stdout.splitlines()[1:]
    assert [line.split()[1] for line in out] == ['172.31.1.1', '192.168.1.5']
    assert 'SUCCESS' in ansible(seed['dir'], 'node1', 'ansible.builtin.ping').stdout
    assert lab_up(seed['dir'])['changed'] == 0


def test_kill_wipe_powers_a_node_off_and_up_brings_it_back_fresh(seed):
    nx(seed['dir'], 'node2', 'mkdir -p /var/lib/disk-test && echo x > /var/lib/disk-test/f && '
       'echo y > /etc/disk-test && ip netns add before-kill')
    assert ' 0% packet loss' in nx(seed['dir'], 'node1', 'ping -c1 -W2 192.168.1.5').stdout   # the router knows node2's MAC
    old_mac = nx(seed['dir'], 'router', 'ip -j neigh show 192.168.1.5').stdout
    assert json.loads(old_mac)[0]['lladdr']
    old = holder(seed['dir'], 'node2')
    out = json.loads(run([PYTHON, LABCTL, 'kill', '--dir', seed['dir'], 'node2', '--wipe']).stdout)
    assert out['changed'] and 'node2: killed' in out['actions'], out
    assert 'node2: erased its /var/lib' in out['actions'] and 'node2: erased its /etc' in out['actions'], out
    for _attempt in range(100):
        reap()
        if not os.path.exists('/proc/%d' % old):
            break
        time.sleep(0.02)
    assert not os.path.exists('/proc/%d' % old)
    assert json.loads(run([PYTHON, LABCTL, 'status', '--dir', seed['dir']]).stdout)['up'] is False
    # a killed node is refused, an unknown one too
    bad = run([PYTHON, LABCTL, 'kill', '--dir', seed['dir'], 'node9'], check=False)
    assert bad.returncode == 1 and 'node9: no such node' in bad.stdout
    assert lab_up(seed['dir'])['changed'] == 1
    # back as a fresh host: no namespace, no file it wrote, its own /etc/hosts again, cabled
    assert nx(seed['dir'], 'node2', 'ip netns list').stdout.strip() == ''
    assert nx(seed['dir'], 'node2', 'ls /var/lib/disk-test /etc/disk-test', check=False).returncode != 0
    assert 'node2' in nx(seed['dir'], 'node2', 'cat /etc/hosts').stdout
    # its new eth0 has a new MAC: the router forgot the old one (as a gratuitous ARP would make it),
    # so traffic toward the node flows at once, before the node itself sends anything
    assert nx(seed['dir'], 'router', 'ip -j neigh show 192.168.1.5').stdout.strip() in ('', '[]')
    assert ' 0% packet loss' in nx(seed['dir'], 'node1', 'ping -c1 -W2 192.168.1.5').stdout
    assert ' 0% packet loss' in nx(seed['dir'], 'node2', 'ping -c1 -W2 172.31.1.5').stdout
    assert lab_up(seed['dir'])['changed'] == 0


def test_recable_after_a_cable_was_cut(seed):
    nx(seed['dir'], 'router', 'ip link del r-node2')
    assert lab_up(seed['dir'])['changed'] == 1
    assert ' 0% packet loss' in nx(seed['dir'], 'node1', 'ping -c1 -W2 192.168.1.5').stdout


def test_connection_refuses_the_controllers_own_namespaces(seed):
    out = run([os.path.join(BIN, 'ansible'), 'all', '-i', 'x,', '-c', 'linuxnet.overlay.nsenter',
               '-e', 'ansible_nsenter_pid=%d' % os.getpid(), '-e', 'ansible_python_interpreter=' + PYTHON,
               '-m', 'ansible.builtin.ping', '-o'], check=False).stdout
    assert 'UNREACHABLE' in out and "shares the controller's network namespace" in out


def test_lab_down_leaves_nothing(seed):
    lab_dir = seed['dir']
    nx(lab_dir, 'node1', 'ip netns add leftover && ip netns exec leftover sleep 600 >/dev/null 2>&1 &')
    # a process that entered node2's network namespace from outside its PID namespace (T8)
    stray = subprocess.Popen(['nsenter', '--net=/proc/%d/ns/net' % holder(lab_dir, 'node2'), 'sleep', '600'])
    try:
        assert lab_down(lab_dir)['changed'] == 1
        stray.wait(timeout=5)
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
    after = snapshot()
    before = seed['before']
    assert not os.path.exists(lab_dir)
    assert after['foreign_processes'] == []
    assert after['processes'] == before['processes']
    assert after['namespaces'] == before['namespaces']
    assert after['mounts'] == before['mounts'] and after['lab_mounts'] == before['lab_mounts']
    assert after['run_netns'] == [] and after['node_only_paths'] == []
    for p, digest in seed['digests'].items():
        assert file_digest(p) == digest, p
    assert lab_down(lab_dir)['changed'] == 0


# --------------------------------------------------------------------------------------------
# repetition and the larger lab
# --------------------------------------------------------------------------------------------

def test_ten_up_down_cycles_leak_nothing(tmp_path):
    lab_dir = str(tmp_path / 'cycles')
    before = snapshot()
    times = []
    for _cycle in range(10):
        t0 = time.monotonic()
        proc = run([PYTHON, LABCTL, 'up', '--dir', lab_dir, '--spec', SEED])
        t1 = time.monotonic()
        assert json.loads(proc.stdout)['changed']
        assert ' 0% packet loss' in nx(lab_dir, 'node1', 'ping -c1 -W2 192.168.1.5').stdout
        t2 = time.monotonic()
        assert json.loads(run([PYTHON, LABCTL, 'down', '--dir', lab_dir]).stdout)['changed']
        times.append((t1 - t0, time.monotonic() - t2))
        assert not os.path.exists(lab_dir)
    after = snapshot()
    for key in ('processes', 'foreign_processes', 'namespaces', 'mounts', 'lab_mounts', 'run_netns',
                'node_only_paths'):
        assert after[key] == before[key], key
    print('labctl up/down x10, seconds (up, down): %s' % ', '.join('(%.3f, %.3f)' % t for t in times))


def test_large_lab(tmp_path):
    lab_dir = str(tmp_path / 'large')
    try:
        assert lab_up(lab_dir, LARGE)['changed'] == 1
        inv = json.loads(run([os.path.join(BIN, 'ansible-inventory'), '-i', os.path.join(lab_dir, 'inventory.yml'),
                              '--list']).stdout)
        assert sorted(inv['swarm_managers']['hosts']) == ['node1', 'node2', 'node3']
        assert sorted(inv['swarm_workers']['hosts']) == ['node4', 'node5', 'node6']
        assert inv['_meta']['hostvars']['node4']['overlay_node_labels'] == {'zone': 'a', 'disk': 'ssd'}
        # same segment: one hop; other segment: router then node
        hops = nx(lab_dir, 'node1', 'traceroute -n -q1 -w2 172.31.1.6').stdout.splitlines()[1:]
        assert [h.split()[1] for h in hops] == ['172.31.1.6']
        hops = nx(lab_dir, 'node6', 'traceroute -n -q1 -w2 172.31.1.5').stdout.splitlines()[1:]
        assert [h.split()[1] for h in hops] == ['192.168.2.1', '172.31.1.5']
        out = ansible(lab_dir, 'all', 'ansible.builtin.command', 'hostname').stdout
        names = sorted(line.split(' | ')[0] + '=' + line.rsplit(' ', 1)[-1] for line in out.splitlines() if ' | ' in line)
        assert names == ['node%d=node%d' % (i, i) for i in range(1, 7)]
        assert lab_up(lab_dir, LARGE)['changed'] == 0
    finally:
        if os.path.isdir(lab_dir):
            lab_down(lab_dir)
    assert not os.path.exists(lab_dir)


def test_ipv6_lab(tmp_path):
    lab_dir = str(tmp_path / 'ipv6')
    before = snapshot()
    try:
        assert lab_up(lab_dir, IPV6)['changed'] == 1
        # IPv6 only on the cables: a global address (usable at once, no DAD), the default route via the gateway
        for name, addr, gw in (('node1', 'fd00:172:31:1::5/64', 'fd00:172:31:1::1'),
                               ('node2', 'fd00:192:168:1::5/64', 'fd00:192:168:1::1')):
            (eth0,) = json.loads(nx(lab_dir, name, 'ip -j addr show dev eth0').stdout)
            glob = [a for a in eth0['addr_info'] if a.get('scope') == 'global']
            assert ['%s/%d' % (a['local'], a['prefixlen']) for a in glob] == [addr]
            # no address in DAD, the link-local one neither: neighbour discovery works at once
            assert not [a for a in eth0['addr_info'] if a.get('tentative') or a['family'] == 'inet'], eth0
            (route,) = json.loads(nx(lab_dir, name, 'ip -j -6 route show default').stdout)
            assert (route['gateway'], route['dev']) == (gw, 'eth0')
        # node2 reaches node1 through the router: two hops
        hops = nx(lab_dir, 'node2', 'traceroute -6 -n -q1 -w2 fd00:172:31:1::5').stdout.splitlines()[1:]
        assert [h.split()[1] for h in hops] == ['fd00:192:168:1::1', 'fd00:172:31:1::5']
        inv = json.loads(run([os.path.join(BIN, 'ansible-inventory'), '-i', os.path.join(lab_dir, 'inventory.yml'),
                              '--list']).stdout)
        assert inv['_meta']['hostvars']['node2']['overlay_advertise_addr'] == 'fd00:192:168:1::5'
        assert lab_up(lab_dir, IPV6)['changed'] == 0
        assert lab_up(lab_dir, IPV6, check=True)['changed'] == 0
    finally:
        if os.path.isdir(lab_dir):
            lab_down(lab_dir)
    assert not os.path.exists(lab_dir)
    assert snapshot()['processes'] == before['processes']


def test_bad_description_fails_before_making_anything(tmp_path):
    bad = tmp_path / 'bad.yml'
    bad.write_text('lab_name: bad\nlab_segments: [{name: seg1, gateway: 172.31.1.1/24}]\n'
                   'lab_nodes: [{name: node1, segment: seg1, address: 172.31.2.5, role: manager}]\n')
    lab_dir = str(tmp_path / 'bad')
    before = snapshot()
    proc = run([os.path.join(BIN, 'ansible-playbook'), 'linuxnet.overlay.lab_up', '-e', 'lab_description=%s' % bad,
                '-e', 'lab_dir=' + lab_dir], check=False)
    assert proc.returncode != 0
    assert 'node node1: address 172.31.2.5 is not a host address of segment seg1 (172.31.1.0/24)' in proc.stdout
    assert not os.path.exists(lab_dir)
    assert snapshot()['processes'] == before['processes']
