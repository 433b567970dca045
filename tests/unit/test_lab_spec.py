# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""labctl's pure part: validating a lab description and rendering the inventory (no root)."""

from __future__ import annotations

import copy
import importlib.machinery
import importlib.util
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
_path = os.path.join(ROOT, 'roles', 'lab', 'files', 'labctl')
_loader = importlib.machinery.SourceFileLoader('labctl', _path)
_spec = importlib.util.spec_from_loader('labctl', _loader)
labctl = importlib.util.module_from_spec(_spec)
_loader.exec_module(labctl)

SEED = {
    'lab_name': 'seed',
    'lab_segments': [{'name': 'seg1', 'gateway': '172.31.1.1/24'}, {'name': 'seg2', 'gateway': '192.168.1.1/24'}],
    'lab_nodes': [
        {'name': 'node1', 'segment': 'seg1', 'address': '172.31.1.5', 'role': 'manager', 'labels': {'zone': 'a'}},
        {'name': 'node2', 'segment': 'seg2', 'address': '192.168.1.5/24', 'role': 'worker'},
    ],
}


def seed(**changes):
    spec = copy.deepcopy(SEED)
    spec.update(changes)
    return spec


def node(**kw):
    n = {'name': 'node1', 'segment': 'seg1', 'address': '172.31.1.5', 'role': 'manager'}
    n.update(kw)
    return n


def test_seed_normalizes():
    lab = labctl.normalize(seed())
    assert lab['name'] == 'seed'
    assert lab['segments']['seg1'] == {'name': 'seg1', 'gateway': '172.31.1.1/24', 'network': '172.31.1.0/24',
                                       'mtu': 1500, 'family': 'inet'}
    n1, n2 = lab['nodes']['node1'], lab['nodes']['node2']
    assert (n1['cidr'], n1['gateway'], n1['veth']) == ('172.31.1.5/24', '172.31.1.1', 'r-node1')
    assert n1['labels'] == {'zone': 'a'}
    assert (n2['address'], n2['cidr'], n2['labels']) == ('192.168.1.5', '192.168.1.5/24', {})
    assert lab['python_interpreter'] == '{{ ansible_playbook_python }}'


def test_keys_without_prefix_are_accepted():
    spec = {k[4:]: v for k, v in SEED.items()}
    assert labctl.normalize(spec)['nodes'].keys() == {'node1', 'node2'}


def test_repository_descriptions_are_valid():
    for name, managers, workers in (('seed', 1, 1), ('large', 3, 3)):
        with open(os.path.join(ROOT, 'inventories', 'lab', name, 'lab.yml'), encoding='utf-8') as f:
            lab = labctl.normalize(yaml.safe_load(f))
        roles = [n['role'] for n in lab['nodes'].values()]
        assert (roles.count('manager'), roles.count('worker')) == (managers, workers)
    assert len(lab['segments']) == 3 and all(n['labels'].get('zone') for n in lab['nodes'].values())


@pytest.mark.parametrize('change, message', [
    ({'lab_name': 'Bad Name'}, "invalid lab name 'Bad Name'"),
    ({'lab_segments': []}, 'segments must be a non-empty list'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': '172.31.1.1'}]}, "gateway '172.31.1.1' must be an address with a prefix"),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'fd00::1'}]}, "gateway 'fd00::1' must be an address with a prefix"),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'fd00::/64'}]}, 'must be a global host address'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'fe80::1/64'}]}, 'must be a global host address'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'fd00::1/127'}]}, 'must be a global host address'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': '172.31.1.0/24'}]}, 'must be a host address'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'nope/24'}]}, "gateway 'nope/24' is not an address"),
    ({'lab_segments': [{'name': 'a-very-long-segment', 'gateway': '172.31.1.1/24'}]}, "invalid segment name 'a-very-long-segment'"),
    ({'lab_segments': [{'name': 'r-x', 'gateway': '172.31.1.1/24'}]}, "invalid segment name 'r-x'"),
    ({'lab_segments': [{'name': 'seg1', 'gateway': '172.31.1.1/24', 'mtu': 100}]}, 'mtu 100 must be an integer'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': '172.31.1.1/24', 'vlan': 3}]}, 'segment seg1: unknown keys vlan'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': '172.31.1.1/24'}, {'name': 'seg1', 'gateway': '10.9.0.1/24'}]},
     'segment seg1 is defined twice'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': '172.31.1.1/24'}, {'name': 'seg2', 'gateway': '172.31.0.1/16'}]},
     'segment seg2 (172.31.0.0/16) overlaps segment seg1 (172.31.1.0/24)'),
    ({'lab_nodes': []}, 'nodes must be a non-empty list'),
    ({'lab_nodes': [node(name='Node_1')]}, "invalid node name 'Node_1'"),
    ({'lab_nodes': [node(name='router')]}, "invalid node name 'router'"),
    ({'lab_nodes': [node(), node(address='172.31.1.6')]}, 'node node1 is defined twice'),
    ({'lab_nodes': [node(segment='seg9')]}, "node node1: segment 'seg9' is not defined (segments: seg1, seg2)"),
    ({'lab_nodes': [node(address='172.31.2.5')]}, 'address 172.31.2.5 is not a host address of segment seg1'),
    ({'lab_nodes': [node(address='172.31.1.5/16')]}, 'address 172.31.1.5/16 does not match segment seg1'),
    ({'lab_nodes': [node(address='172.31.1.255')]}, 'is not a host address'),
    ({'lab_nodes': [node(address='172.31.1.1')]}, 'address 172.31.1.1 is the gateway of segment seg1'),
    ({'lab_nodes': [node(address='x')]}, "node node1: address 'x' is not an IP address"),
    ({'lab_nodes': [node(address='fd00::5')]},
     'node node1: address fd00::5 is not an IPv4 address like the gateway of segment seg1 (172.31.1.0/24)'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'fd00:1::1/64'}]},
     'node node1: address 172.31.1.5 is not an IPv6 address like the gateway of segment seg1 (fd00:1::/64)'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'fd00:1::1/64'}], 'lab_nodes': [node(address='fd00:1::1')]},
     'node node1: address fd00:1::1 is the gateway of segment seg1'),
    ({'lab_segments': [{'name': 'seg1', 'gateway': 'fd00:1::1/64'}], 'lab_nodes': [node(address='fd00:1::')]},
     'node node1: address fd00:1:: is not a host address of segment seg1'),
    ({'lab_nodes': [node(), node(name='node2')]}, 'node node2: address 172.31.1.5 is already used by node node1'),
    ({'lab_nodes': [node(role='leader')]}, "role 'leader' must be manager, worker or client"),
    ({'lab_nodes': [node(labels=['zone'])]}, 'labels must be a mapping'),
    ({'lab_nodes': [node(labels={'zone': {'x': 1}})]}, "label 'zone' must be a string or a number"),
    ({'lab_nodes': [node(labels={'bad key': 'a'})]}, "label name 'bad key'"),
    ({'lab_nodes': [node(ip='1.2.3.4')]}, 'node node1: unknown keys ip'),
    ({'lab_group_vars': 'relative/group_vars'}, 'group_vars must be an absolute path'),
])
def test_bad_descriptions_name_the_bad_value(change, message):
    with pytest.raises(labctl.LabError) as err:
        labctl.normalize(seed(**change))
    assert message in str(err.value)


def test_ipv6_segments():
    lab = labctl.normalize({
        'name': 'v6', 'segments': [{'name': 'seg1', 'gateway': 'fd00:172:31:1::1/64'},
                                   {'name': 'seg2', 'gateway': '192.168.1.1/24'}],
        'nodes': [node(address='fd00:172:31:1:0::5'), node(name='node2', segment='seg2', address='192.168.1.5')]})
    assert lab['segments']['seg1']['family'] == 'inet6' and lab['segments']['seg2']['family'] == 'inet'
    n1 = lab['nodes']['node1']
    assert (n1['address'], n1['cidr'], n1['gateway'], n1['family']) == (
        'fd00:172:31:1::5', 'fd00:172:31:1::5/64', 'fd00:172:31:1::1', 'inet6')
    assert labctl.addr_add(n1['cidr'], 'eth0') == 'addr add fd00:172:31:1::5/64 dev eth0 nodad'
    assert labctl.addr_add('172.31.1.5/24', 'eth0') == 'addr add 172.31.1.5/24 dev eth0'


def test_long_node_names_get_a_short_router_interface():
    long = 'a' * 40
    lab = labctl.normalize(seed(lab_nodes=[node(name=long)]))
    veth = lab['nodes'][long]['veth']
    assert veth.startswith('r-') and len(veth) == 15
    assert labctl.veth_name(long) == veth and labctl.veth_name('node1') == 'r-node1'


def test_inventory_groups_and_vars():
    lab = labctl.normalize(seed())
    inv = yaml.safe_load(labctl.render_inventory(lab, '/srv/lab/seed'))
    assert inv['all']['vars'] == {'linuxnet_lab_name': 'seed', 'linuxnet_lab_dir': '/srv/lab/seed'}
    managers = inv['all']['children']['swarm_managers']['hosts']
    workers = inv['all']['children']['swarm_workers']['hosts']
    assert list(managers) == ['node1'] and list(workers) == ['node2']
    assert managers['node1'] == {
        'ansible_connection': 'linuxnet.overlay.nsenter',
        'ansible_python_interpreter': '{{ ansible_playbook_python }}',
        'ansible_nsenter_pidfile': '/srv/lab/seed/nodes/node1/holder.pid',
        'overlay_advertise_addr': '172.31.1.5',
        'overlay_node_labels': {'zone': 'a'},
        'linuxnet_lab_segment': 'seg1',
        'linuxnet_lab_gateway': '172.31.1.1',
    }
    assert workers['node2']['overlay_node_labels'] == {}


def test_inventory_with_no_workers_and_custom_python():
    lab = labctl.normalize(seed(lab_nodes=[node(labels={'rack': 7})], lab_python_interpreter='/opt/py/bin/python'))
    inv = yaml.safe_load(labctl.render_inventory(lab, '/l'))
    assert inv['all']['children']['swarm_workers']['hosts'] == {}
    host = inv['all']['children']['swarm_managers']['hosts']['node1']
    assert host['ansible_python_interpreter'] == '/opt/py/bin/python'
    assert host['overlay_node_labels'] == {'rack': '7'}
