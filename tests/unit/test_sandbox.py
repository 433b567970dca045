# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the pure part of plugins/module_utils/node/sandbox.py and _task.py's interface
validation: input errors named before any change, peer entries, removals, the diff text (no root)."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import sandbox as _sandbox
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import task as _task
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import taskspec as _taskspec

PLAN_SANDBOX = {   # as the cluster plan writes it (module_utils/cluster/plan.py)
    'network': 'uber-net', 'network_id': 'a' * 25, 'netns': 'ov-aaaaaaaaaa', 'encrypted': False, 'mtu': 1450,
    'ip_forward': False,
    'subnets': [{'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'prefixlen': 24, 'address': '10.0.0.1/24',
                 'vni': 4096, 'bridge': 'br0', 'vxlan': 'vxlan0',
                 'peers': [{'ip': '10.0.0.3', 'mac': '02:42:0A:00:00:03', 'vtep': '192.168.1.5'},
                           {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04', 'vtep': '192.168.1.5'}]}]}


def params(*sandboxes, **kw):
    out = {'sandboxes': [copy.deepcopy(s) for s in sandboxes or (PLAN_SANDBOX,)], 'dstport': 4789,
           'local': '172.31.1.5', 'exclusive': True, 'prefix': 'ov-'}
    out.update(kw)
    return out


def test_the_plans_sandbox_is_taken_as_it_is():
    v = _sandbox.validate(params())
    (sb,) = v['sandboxes']
    assert sb['netns'] == 'ov-aaaaaaaaaa' and sb['network'] == 'uber-net' and sb['ip_forward'] is False
    (sub,) = sb['subnets']
    assert sub['neigh'] == [{'ip': '10.0.0.3', 'mac': '02:42:0a:00:00:03'}, {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'}]
    assert sub['fdb'] == [{'mac': '02:42:0a:00:00:03', 'dst': '192.168.1.5'},
                          {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'}]
    assert (v['dstport'], v['local'], v['exclusive'], v['prefix']) == (4789, '172.31.1.5', True, 'ov-')


def test_ip_forward_defaults_to_several_subnets_and_strings_are_converted():
    sb = copy.deepcopy(PLAN_SANDBOX)
    del sb['ip_forward']
    sb['mtu'] = '1400'
    sb['subnets'].append(dict(sb['subnets'][0], bridge='br1', vxlan='vxlan1', vni='4097', address='10.0.1.1/24',
                              peers=[]))
    (out,) = _sandbox.validate(params(sb))['sandboxes']
    assert out['ip_forward'] is True and out['mtu'] == 1400 and out['subnets'][1]['vni'] == 4097


def test_peer_entries_one_fdb_entry_per_mac():
    peers = [{'ip': '10.0.0.3', 'mac': 'm1', 'vtep': 'a'}, {'ip': 'fd00::3', 'mac': 'm1', 'vtep': 'a'},
             {'ip': '10.0.0.4', 'mac': 'm2', 'vtep': 'b'}]
    neigh, fdb = _sandbox.peer_entries(peers)
    assert len(neigh) == 3 and fdb == [{'mac': 'm1', 'dst': 'a'}, {'mac': 'm2', 'dst': 'b'}]


def test_flood_adds_one_all_zeros_entry_per_vtep():
    sb = copy.deepcopy(PLAN_SANDBOX)
    sb['subnets'][0]['flood'] = ['192.168.1.5', '192.168.2.5']
    (out,) = _sandbox.validate(params(sb))['sandboxes']
    assert out['subnets'][0]['fdb'] == [{'mac': '02:42:0a:00:00:03', 'dst': '192.168.1.5'},
                                        {'mac': '02:42:0a:00:00:04', 'dst': '192.168.1.5'},
                                        {'mac': '00:00:00:00:00:00', 'dst': '192.168.1.5'},
                                        {'mac': '00:00:00:00:00:00', 'dst': '192.168.2.5'}]
    sb['subnets'][0]['flood'] = []
    (out,) = _sandbox.validate(params(sb))['sandboxes']
    assert [e for e in out['subnets'][0]['fdb'] if e['mac'] == '00:00:00:00:00:00'] == []


def bad(path, value=None, delete=False):
    sb = copy.deepcopy(PLAN_SANDBOX)
    target = sb
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return sb


@pytest.mark.parametrize('sb, words', [
    (bad(['subnets', 0, 'vni'], 0), 'subnets[0]: vni 0 is out of range: use 1-16777215'),
    (bad(['subnets', 0, 'vni'], 'x'), "vni 'x' is not an integer"),
    (bad(['subnets', 0, 'vni'], True), 'vni True is not an integer'),
    (bad(['subnets', 0, 'address'], '10.0.0.300/24'), "'10.0.0.300/24' is not an address in CIDR notation"),
    (bad(['subnets', 0, 'bridge'], 'b' * 16), 'is 16 bytes long'),
    (bad(['subnets', 0, 'vxlan'], 'br0'), 'device name br0 is used twice in the sandbox'),
    (bad(['subnets', 0, 'vxlan'], delete=True), 'subnets[0] needs vxlan'),
    (bad(['subnets', 0, 'peerz'], []), 'unknown key(s) peerz'),
    (bad(['subnets', 0, 'peers'], 'x'), 'peers must be a list'),
    (bad(['subnets', 0, 'peers', 0, 'vtep'], 'not-an-ip'), "not-an-ip"),
    (bad(['subnets', 0, 'peers', 0, 'mac'], '02:42:zz'), '02:42:zz'),
    (bad(['subnets', 0, 'peers', 1, 'ip'], None), 'peers[1] needs ip'),
    (bad(['subnets', 0, 'flood'], '192.168.1.5'), 'flood must be a list of VTEP addresses'),
    (bad(['subnets', 0, 'flood'], ['192.168.1.500']), "192.168.1.500"),
    (bad(['subnets'], []), 'needs subnets'),
    (bad(['mtu'], 9999999), 'mtu 9999999 is out of range'),
    (bad(['ip_forward'], 'maybe'), "ip_forward 'maybe' is not a boolean"),
    (bad(['netns'], '..'), "invalid network namespace name '..'"),
    (bad(['netns'], None), 'sandboxes[0] needs netns'),
    (bad(['nets'], 1), 'unknown key(s) nets'),
])
def test_bad_input_names_the_value(sb, words):
    with pytest.raises(_sandbox.SandboxError) as err:
        _sandbox.validate(params(sb))
    assert words in str(err.value)


def test_duplicates_across_sandboxes():
    other = dict(copy.deepcopy(PLAN_SANDBOX), netns='ov-b')
    with pytest.raises(_sandbox.SandboxError, match='vni 4096 is also used by sandbox ov-aaaaaaaaaa'):
        _sandbox.validate(params(PLAN_SANDBOX, other))
    with pytest.raises(_sandbox.SandboxError, match='listed twice'):
        _sandbox.validate(params(PLAN_SANDBOX, PLAN_SANDBOX))


def test_module_level_arguments():
    with pytest.raises(_sandbox.SandboxError, match='exclusive=true needs a prefix'):
        _sandbox.validate(params(prefix=None))
    with pytest.raises(_sandbox.SandboxError, match='dstport 0 is out of range'):
        _sandbox.validate(params(dstport=0))
    with pytest.raises(_sandbox.SandboxError, match="local 'x' is not an IPv4 or IPv6 address"):
        _sandbox.validate(params(local='x'))
    assert _sandbox.validate(params(prefix=None, exclusive=False))['prefix'] is None


def test_plan_removals_only_the_prefix_and_unlisted():
    listed = [{'netns': 'ov-a'}]
    assert _sandbox.plan_removals(['ov-b', 'ov-a', 'test.1.x', 'other', 'ov-c'], listed, 'ov-') == ['ov-b', 'ov-c']
    assert _sandbox.plan_removals([], listed, 'ov-') == []


def test_render_is_one_line_per_object_or_entry():
    view = {'netns': 'ov-a', 'network': 'n', 'exists': True, 'sysctls': {'net.ipv4.ip_forward': '1'},
            'subnets': [{'bridge': {'name': 'br0', 'exists': True, 'mtu': 1450, 'up': True,
                                    'addresses': ['10.0.0.1/24']},
                         'vxlan': {'name': 'vxlan0', 'exists': True, 'vni': 4096, 'dstport': 4789,
                                   'local': '172.31.1.5', 'learning': False, 'proxy': True, 'mtu': 1450,
                                   'master': 'br0', 'up': True, 'socket_netns': None},
                         'neigh': '10.0.0.3 lladdr 02:42:0a:00:00:03 PERMANENT\n',
                         'fdb': '02:42:0a:00:00:03 dst 192.168.1.5\n'}]}
    assert _sandbox.render(view) == (
        'sandbox ov-a (network n)\n'
        '  sysctl net.ipv4.ip_forward = 1\n'
        '  bridge br0: mtu 1450, up, addresses 10.0.0.1/24\n'
        '  vtep vxlan0: vni 4096, dstport 4789, local 172.31.1.5, learning off, proxy on, mtu 1450, master br0, up\n'
        '  vxlan0 neigh 10.0.0.3 lladdr 02:42:0a:00:00:03 PERMANENT\n'
        '  vxlan0 fdb 02:42:0a:00:00:03 dst 192.168.1.5\n')
    missing = {'netns': 'ov-a', 'exists': True, 'subnets': [{'bridge': {'name': 'br0', 'exists': False},
                                                             'vxlan': {'name': 'vxlan0', 'exists': False},
                                                             'neigh': '', 'fdb': ''}]}
    assert _sandbox.render(missing) == 'sandbox ov-a\n  bridge br0: absent\n  vtep vxlan0: absent\n'
    assert _sandbox.render({'netns': 'ov-a', 'exists': False}) == ''


# --- task interfaces --------------------------------------------------------------------------

PLAN_ITF = {'network': 'uber-net', 'sandbox': 'ov-a', 'bridge': 'br0', 'veth': 'veth1a2b3c4d', 'ifname': 'eth0',
            'address': '10.0.0.2/24', 'ip': '10.0.0.2', 'mac': '02:42:0a:00:00:02', 'mtu': 1450,
            'subnet': '10.0.0.0/24', 'gateway': '10.0.0.1', 'vni': 4096, 'routes': []}


def test_interfaces_become_veth_parameters():
    (p,) = _taskspec.validate_interfaces('test.1.x', [PLAN_ITF])
    assert p == {'name': 'veth1a2b3c4d', 'netns': 'ov-a', 'master': 'br0', 'mtu': 1450, 'peer': 'eth0',
                 'peer_netns': 'test.1.x', 'peer_mac': '02:42:0a:00:00:02', 'peer_addresses': ['10.0.0.2/24'],
                 'peer_routes': []}
    assert _taskspec.validate_interfaces('t', None) is None
    (p,) = _taskspec.validate_interfaces('t', [{'veth': 'v', 'sandbox': 's', 'bridge': 'b'}])
    assert p['peer'] == 'eth0' and p['peer_addresses'] is None


@pytest.mark.parametrize('change, words', [
    ({'routes': [{'dst': '10.0.1.0/24', 'via': '10.0.9.1'}]}, 'gateway 10.0.9.1 of 10.0.1.0/24'),
    ({'routes': 'x'}, 'routes must be a list'),
    ({'sandbox': 'a/b'}, "'a/b'"),
    ({'veth': ''}, 'interfaces[0] needs veth'),
    ({'ifname': 'e' * 16}, 'is 16 bytes long'),
    ({'mac': '00:00:00:00:00:00'}, 'all-zero'),
    ({'extra': 1}, 'unknown key(s) extra'),
])
def test_bad_interfaces(change, words):
    with pytest.raises(_task.TaskError) as err:
        _taskspec.validate_interfaces('t', [dict(PLAN_ITF, **change)])
    assert words in str(err.value)


def test_duplicate_interfaces():
    with pytest.raises(_task.TaskError, match='ifname eth0 is also used by interfaces'):
        _taskspec.validate_interfaces('t', [PLAN_ITF, dict(PLAN_ITF, veth='other')])
    with pytest.raises(_task.TaskError, match='veth veth1a2b3c4d in ov-a is also used'):
        _taskspec.validate_interfaces('t', [PLAN_ITF, dict(PLAN_ITF, ifname='eth1')])


# --- every task of a node in one run ------------------------------------------------------------

PLAN_TASK = {'name': 'test.1.' + 'a' * 25, 'netns': 'test.1.' + 'a' * 25, 'service': 'test', 'slot': 1,
             'id': 'a' * 25, 'node_id': 'n' * 25, 'hosts': '127.0.0.1 localhost\n', 'command': None,
             'interfaces': [PLAN_ITF]}


def test_plan_tasks_are_taken_as_they_are():
    (t,) = _taskspec.validate_tasks([PLAN_TASK])
    assert t == {'name': PLAN_TASK['name'], 'hosts': PLAN_TASK['hosts'], 'command': [], 'image': None, 'restart': None,
                 'interfaces': [PLAN_ITF], 'vip_managed': False, 'vip_table': None, 'ingress': None}     # no endpoint_networks: no VIP rules


@pytest.mark.parametrize('change, words', [
    ({'name': 'a/b'}, "tasks[0]: invalid network namespace name 'a/b'"),
    ({'netns': 'other'}, 'netns other differs from name'),
    ({'command': 'sleep 1'}, 'command must be a list of strings'),
    ({'command': ['sleep', 1]}, 'command must be a list of strings'),
    ({'hosts': ['x']}, 'hosts must be the text'),
    ({'interfaces': [dict(PLAN_ITF, mac='x')]}, "tasks[0] (test.1.%s): interfaces[0]: mac 'x'" % ('a' * 25)),
    ({'extra': 1}, 'unknown key(s) extra'),
])
def test_bad_tasks(change, words):
    with pytest.raises(_task.TaskError) as err:
        _taskspec.validate_tasks([dict(PLAN_TASK, **change)])
    assert words in str(err.value)
    with pytest.raises(_task.TaskError, match='listed twice'):
        _taskspec.validate_tasks([PLAN_TASK, PLAN_TASK])


TABLES = {'uber-net': '# linuxnet.overlay network uber-net\n10.0.0.2\ttest.1.x.uber-net test.1.x test tasks.test\n',
          'clear-net': '# linuxnet.overlay network clear-net\n10.0.1.2\ttest.1.x.clear-net test.1.x test tasks.test\n'}


def test_hosts_composed_from_the_name_tables_in_the_order_given():
    task = {k: v for k, v in PLAN_TASK.items() if k != 'hosts'}
    (t,) = _taskspec.validate_tasks([dict(task, hosts_networks=['clear-net', 'uber-net'])], TABLES)
    assert t['hosts'] == _taskspec.HOSTS_HEAD + TABLES['clear-net'] + TABLES['uber-net']
    (t,) = _taskspec.validate_tasks([dict(task, hosts_networks=[])], TABLES)
    assert t['hosts'] == _taskspec.HOSTS_HEAD
    (t,) = _taskspec.validate_tasks([task], TABLES)          # neither: the file is left alone
    assert t['hosts'] is None


@pytest.mark.parametrize('change, tables, words', [
    ({'hosts_networks': ['uber-net']}, TABLES, 'give hosts (the text) or hosts_networks'),
    ({'hosts': None, 'hosts_networks': ['nope', 'uber-net']}, TABLES,
     'hosts_networks names nope, which name_tables does not have (it has: clear-net, uber-net)'),
    ({'hosts': None, 'hosts_networks': ['uber-net']}, None, 'which name_tables does not have (it has: none)'),
    ({'hosts': None, 'hosts_networks': 'uber-net'}, TABLES, 'hosts_networks must be a list of network names'),
    ({'hosts': None, 'hosts_networks': []}, ['x'], 'name_tables must be a dict'),
    ({'hosts': None, 'hosts_networks': []}, {'uber-net': ['x']}, 'the table of network uber-net must be text'),
])
def test_bad_hosts_networks(change, tables, words):
    with pytest.raises(_task.TaskError) as err:
        _taskspec.validate_tasks([dict(PLAN_TASK, **change)], tables)
    assert words in str(err.value)


def test_plan_stale():
    pattern = r'^[a-z]+\.[0-9]+\.[0-9a-z]{25}$'
    listed = ['test.1.' + 'a' * 25]
    runtime = ['test.1.' + 'a' * 25, 'leftover']                    # every runtime folder counts
    netns = ['test.1.' + 'a' * 25, 'test.2.' + 'b' * 25, 'ov-abc', 'lab-thing']
    assert _task.plan_stale(runtime, netns, listed, pattern) == ['leftover', 'test.2.' + 'b' * 25]
    assert _task.plan_stale(runtime, netns, listed) == ['leftover']
    assert _task.plan_stale([], [], []) == []


def test_task_neighbours_are_the_other_interfaces_of_the_subnet():
    sb = dict(copy.deepcopy(PLAN_SANDBOX), netns='ov-a')
    v = _sandbox.validate(params(sb))
    other = dict(PLAN_TASK, name='test.2.' + 'b' * 25, netns='test.2.' + 'b' * 25,
                 interfaces=[dict(PLAN_ITF, veth='veth9', address='10.0.0.5/24', ip='10.0.0.5', mac='02:42:0a:00:00:05')])
    elsewhere = dict(PLAN_TASK, name='x.1.' + 'c' * 25, netns='x.1.' + 'c' * 25,
                     interfaces=[dict(PLAN_ITF, sandbox='ov-z', veth='veth8')])      # a sandbox not listed
    own = [{'ip': '10.0.0.9', 'mac': '02:42:0a:00:00:09'}]
    given = dict(PLAN_TASK, name='y.1.' + 'd' * 25, netns='y.1.' + 'd' * 25,
                 interfaces=[dict(PLAN_ITF, veth='veth7', address='10.0.0.6/24', mac='02:42:0a:00:00:06', neighbours=own)])
    first, second, third, fourth = _sandbox.task_neighbours(v, [PLAN_TASK, other, elsewhere, given])
    remote = [{'ip': '10.0.0.3', 'mac': '02:42:0a:00:00:03'}, {'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04'}]
    # the node's other tasks on the bridge, then the subnet's remote peers; never the interface itself
    assert first['interfaces'][0]['neighbours'] == [{'ip': '10.0.0.5', 'mac': '02:42:0a:00:00:05'},
                                                    {'ip': '10.0.0.6', 'mac': '02:42:0a:00:00:06'}] + remote
    assert second['interfaces'][0]['neighbours'] == [{'ip': '10.0.0.2', 'mac': '02:42:0a:00:00:02'},
                                                     {'ip': '10.0.0.6', 'mac': '02:42:0a:00:00:06'}] + remote
    assert 'neighbours' not in third['interfaces'][0]                     # not on these sandboxes: left alone
    assert fourth['interfaces'][0]['neighbours'] == own                   # listed by the caller: kept
    assert 'neighbours' not in PLAN_TASK['interfaces'][0]                 # the input is not changed
    (t,) = _taskspec.validate_tasks([first])
    (p,) = _taskspec.validate_interfaces(t['name'], t['interfaces'])
    assert p['neighbours'] == first['interfaces'][0]['neighbours']
