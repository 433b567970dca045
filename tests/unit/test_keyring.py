# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the keyring in the cluster state (plugins/module_utils/cluster/ipsec.py: keyring_step,
confirm_installed, keyring_info/lines, parse_duration), the cluster_plan keyring step, and the
filters the network role uses to turn the keyring and the plan into a node's guard and SAs."""

from __future__ import annotations

import itertools
import json
import os
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipsec as I  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import plan as _plan  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.modules import cluster_plan as CP  # noqa: E402


def counter_rand():
    n = itertools.count(1)
    return lambda size: bytes([next(n) % 256]) * size


def all_key_texts(entry):
    return [k['key'] for k in entry['keys']]


# --- durations ----------------------------------------------------------------------------------

@pytest.mark.parametrize('value, seconds', [(None, 0), ('', 0), (0, 0), (90, 90), ('90', 90), ('90s', 90),
                                            ('30m', 1800), ('12h', 43200), ('7d', 604800), ('2w', 1209600),
                                            (' 12H ', 43200)])
def test_parse_duration(value, seconds):
    assert I.parse_duration(value) == seconds


@pytest.mark.parametrize('value', ['12x', 'h', '1.5h', '-3', True, '12 h'])
def test_parse_duration_refuses_and_names_the_value(value):
    with pytest.raises(ValueError, match='^key_max_age: ') as exc:
        I.parse_duration(value)
    assert repr(value) in str(exc.value)


# --- keyring_step -------------------------------------------------------------------------------

def test_created_when_a_network_is_encrypted_and_not_before():
    assert I.keyring_step(None, False, 1000) == (None, [])
    entry, msgs = I.keyring_step(None, True, 1000, rand=os.urandom)
    assert [k['tag'] for k in entry['keys']] == [1, 2, 3] and entry['installed'] is None
    assert all(len(bytes.fromhex(k)) == 16 for k in all_key_texts(entry))
    assert len(set(all_key_texts(entry))) == 3                       # os.urandom: three different keys
    assert msgs == [{'level': 'info', 'msg': 'keyring created: keys 1, 2, 3, nodes send with key 2'}]


def test_steady_state_changes_nothing_and_returns_a_copy():
    entry, _m = I.keyring_step(None, True, 1000, rand=counter_rand())
    again, msgs = I.keyring_step(entry, True, 5000)
    assert again == entry and again is not entry and msgs == []


def test_dropped_when_nothing_is_encrypted_any_more():
    entry, _m = I.keyring_step(None, True, 1000)
    gone, msgs = I.keyring_step(entry, False, 2000)
    assert gone is None and msgs == [{'level': 'info', 'msg': 'keyring removed: no network is encrypted any more'}]
    gone, msgs = I.keyring_step(None, False, 2000, rotate_now=True)
    assert gone is None and 'no keyring to rotate' in msgs[0]['msg'] and msgs[0]['level'] == 'warning'


def test_explicit_rotation_needs_the_newest_key_installed_everywhere():
    entry, _m = I.keyring_step(None, True, 1000, rand=counter_rand())
    with pytest.raises(I.KeyringError, match='key 3 is not installed on every node yet') as exc:
        I.keyring_step(entry, True, 2000, rotate_now=True)
    assert not any(k in str(exc.value) for k in all_key_texts(entry))
    entry, _m = I.confirm_installed(entry, 3)
    rotated, msgs = I.keyring_step(entry, True, 2000, rotate_now=True, rand=counter_rand())
    assert [k['tag'] for k in rotated['keys']] == [2, 3, 4] and rotated['installed'] == 3
    assert rotated['keys'][:2] == entry['keys'][1:]                   # kept keys are kept as they are
    assert rotated['keys'][2]['created'] == 2000
    assert msgs[0]['msg'] == 'keys rotated (rotate_keys): added key 4, nodes now send with key 3, dropped key 1'
    # a second rotation before key 4 reached every node is refused
    with pytest.raises(I.KeyringError, match='key 4 is not installed'):
        I.keyring_step(rotated, True, 2001, rotate_now=True)


def test_rotation_by_age_waits_for_installation_with_a_warning():
    entry, _m = I.keyring_step(None, True, 1000)
    same, msgs = I.keyring_step(entry, True, 1000 + 43200, max_age=43200)
    assert same == entry
    assert msgs[0]['level'] == 'warning' and msgs[0]['msg'].startswith('key rotation due (key 3 is 12h old')
    entry, _m = I.confirm_installed(entry, 3)
    same, msgs = I.keyring_step(entry, True, 1000 + 43199, max_age=43200)     # not due yet
    assert same == entry and msgs == []
    rotated, msgs = I.keyring_step(entry, True, 1000 + 43200, max_age=43200)
    assert [k['tag'] for k in rotated['keys']] == [2, 3, 4]
    assert 'key 3 is 12h old (key_max_age 12h)' in msgs[0]['msg']
    # the new key is fresh: no second rotation in the next run
    assert I.keyring_step(dict(rotated, installed=4), True, 1000 + 43300, max_age=43200)[1] == []


def test_confirm_installed():
    entry, _m = I.keyring_step(None, True, 1000)
    assert I.confirm_installed(None, 3) == (None, 'no keyring (no network is encrypted): nothing to confirm')
    confirmed, msg = I.confirm_installed(entry, 3)
    assert confirmed['installed'] == 3 and msg is None and entry['installed'] is None
    assert I.confirm_installed(confirmed, 2) == (confirmed, None)                  # never goes back
    with pytest.raises(I.KeyringError, match=r'installed: key 4 is not in the keyring \(keys 1, 2, 3\)'):
        I.confirm_installed(entry, 4)
    rotated, _m = I.keyring_step(confirmed, True, 2000, rotate_now=True)
    rotated, _m = I.keyring_step(I.confirm_installed(rotated, 4)[0], True, 3000, rotate_now=True)
    same, msg = I.confirm_installed(rotated, 1)                     # a run that installed a ring rotated since
    assert same == rotated and 'key 1 is not in the keyring any more' in msg


@pytest.mark.parametrize('bad, words', [
    ('x', 'must be null or {keys, installed}'),
    ({'keys': []}, 'non-empty list'),
    ({'keys': [{'tag': 1, 'key': 'zz'}]}, 'key with tag 1 must be 32 hex digits'),
    ({'keys': [{'tag': 1, 'key': '00' * 16}], 'installed': 'yes'}, 'installed must be a tag'),
    ({'keys': [{'tag': 1, 'key': '00' * 16}], 'extra': 1}, 'must be null or {keys, installed}'),
])
def test_a_damaged_keyring_is_named_never_shown(bad, words):
    with pytest.raises(I.KeyringError, match=words.replace('{', r'\{').replace('}', r'\}')):
        I.check_keyring_state(bad)


def test_info_and_lines_hold_no_key_material():
    entry, _m = I.keyring_step(None, True, 1000)
    entry, _m = I.confirm_installed(entry, 3)
    info = I.keyring_info(entry)
    assert [k['tag'] for k in info['keys']] == [1, 2, 3] and info['installed'] == 3
    assert [k['primary'] for k in info['keys']] == [False, True, False]
    text = json.dumps(info) + '\n'.join(I.keyring_lines(entry))
    for key in all_key_texts(entry):
        assert key not in text and key.upper() not in text
    assert I.keyring_lines(entry)[1].startswith('keyring key 2 fingerprint=') and ' primary' in I.keyring_lines(entry)[1]
    assert I.keyring_lines(entry)[-1] == 'keyring installed on every node: 3'
    assert I.keyring_info(None) is None and I.keyring_lines(None) == []


# --- the cluster_plan keyring step ---------------------------------------------------------------

def planned(networks, state=None, rotate_now=False, max_age=0):
    state = state or _state.new_state()
    inventory = {'nodes': [{'hostname': 'node1', 'role': 'manager', 'addr': '192.0.2.1'},
                           {'hostname': 'node2', 'role': 'worker', 'addr': '192.0.2.2'}],
                 'networks': networks,
                 'services': [{'name': 'web', 'networks': [n['name'] for n in networks
                                                           if n.get('state', 'present') == 'present'],
                               'replicas': 2}] if networks else []}
    new, plan, messages = _plan.plan(state, inventory, require_joined=False)
    CP.keyring(state, new, plan, messages, rotate_now, max_age)
    return new, plan, messages


def test_cluster_plan_makes_the_keyring_only_for_encrypted_networks_and_never_plans_it():
    new, plan, _m = planned([{'name': 'clear'}])
    assert new['keyring'] is None
    new, plan, messages = planned([{'name': 'clear'}, {'name': 'secret', 'encrypted': True}], state=new)
    assert [k['tag'] for k in new['keyring']['keys']] == [1, 2, 3]
    assert plan['cluster']['version'] == new['version']
    text = json.dumps(plan)
    assert all(k not in text for k in all_key_texts(new['keyring']))
    assert any(m['msg'].startswith('keyring created') for m in messages)
    # the encrypted network's sandboxes say so; MTU 1416 on the default 1500 underlay
    sandboxes = {sb['network']: sb for sb in plan['nodes']['node1']['sandboxes']}
    assert sandboxes['secret']['encrypted'] and sandboxes['secret']['mtu'] == 1416
    assert not sandboxes['clear']['encrypted'] and sandboxes['clear']['mtu'] == 1450
    # the same input again: nothing changes, the version stays
    again, plan2, _m = planned([{'name': 'clear'}, {'name': 'secret', 'encrypted': True}], state=new)
    assert again == new and plan2 == plan
    # the diff lines show fingerprints, never keys
    lines = CP.state_lines(new)
    assert 'keyring key 2 fingerprint=' in lines and all(k not in lines for k in all_key_texts(new['keyring']))


def test_cluster_plan_keyring_only_change_bumps_the_version_once():
    new, _p, _m = planned([{'name': 'secret', 'encrypted': True}])
    new['keyring'] = I.confirm_installed(new['keyring'], 3)[0]
    new['version'] += 1
    rotated, plan, _m = planned([{'name': 'secret', 'encrypted': True}], state=new, rotate_now=True)
    assert rotated['version'] == new['version'] + 1 == plan['cluster']['version']
    assert [k['tag'] for k in rotated['keyring']['keys']] == [2, 3, 4]


def test_cluster_plan_drops_the_keyring_with_the_last_encrypted_network():
    new, _p, _m = planned([{'name': 'secret', 'encrypted': True}])
    off, plan, messages = planned([{'name': 'secret', 'encrypted': False}], state=new)
    assert off['keyring'] is None and off['version'] == new['version'] + 1
    assert 'keyring removed: no network is encrypted any more' in [m['msg'] for m in messages]
    assert plan['nodes']['node1']['sandboxes'][0]['mtu'] == 1450


# --- MTU: the planner and the SA layer agree ------------------------------------------------------

def test_planner_mtu_agrees_with_the_esp_arithmetic_everywhere():
    assert _ipam.overlay_mtu(1500, 4, True) == 1416


# --- the network role's filters -------------------------------------------------------------------

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.linuxnet.overlay.plugins.filter import encryption as F  # noqa: E402


def revealed(entry):
    """The keyring as linuxnet.overlay.keyring (reveal: true) returns it."""
    return [{'tag': k['tag'], 'key': k['key'], 'created': k['created']} for k in entry['keys']]


def test_filters_guard_and_sas_follow_the_plan():
    new, plan, _m = planned([{'name': 'clear'}, {'name': 'secret', 'encrypted': True}])
    n1, n2 = plan['nodes']['node1'], plan['nodes']['node2']
    secret_vni = [n for n in plan['networks'] if n['name'] == 'secret'][0]['subnets'][0]['vni']
    assert F.encrypted_vnis(n1) == F.encrypted_vnis(n2) == [secret_vni]
    assert [sb['network'] for sb in F.encrypted_sandboxes(n1)] == ['secret']
    assert F.encrypted_peers(n1) == ['192.0.2.2'] and F.encrypted_peers(n2) == ['192.0.2.1']
    assert F.encrypted_nodes(plan) == ['node1', 'node2']
    assert F.underlay_family(n1) == 'ip' and F.underlay_family({'addr': '2001:db8::1'}) == 'ip6'

    ring = revealed(new['keyring'])
    x1, x2 = F.ipsec_node_xfrm(ring, n1, 4789), F.ipsec_node_xfrm(ring, n2, '4789')
    # per peer: 3 inbound SAs (every key) + 1 outbound (the primary); one outbound policy
    assert len(x1['states']) == len(x2['states']) == 4 and len(x1['policies']) == len(x2['policies']) == 1
    out1 = [s for s in x1['states'] if s['src'] == '192.0.2.1']
    in2 = [s for s in x2['states'] if s['dst'] == '192.0.2.2']
    assert len(out1) == 1 and out1[0] in in2                  # what node1 sends with, node2 accepts
    pol = x1['policies'][0]
    assert (pol['src'], pol['dst'], pol['proto'], pol['dport'], pol['dir']) == \
        ('192.0.2.1/32', '192.0.2.2/32', 'udp', 4789, 'out')
    assert pol['mark'] == {'value': 0x4C4E4F, 'mask': 0xFFFFFFFF} and pol['tmpl']['spi'] == out1[0]['spi']
    assert all(s['icv_bits'] == 128 and s['esn'] and s['replay_window'] == 128 for s in x1['states'])
    # F.keyring_tags shows tags only
    assert F.keyring_tags(ring) == [1, 2, 3]


def test_filters_nothing_encrypted_and_errors_without_keys():
    _new, plan, _m = planned([{'name': 'clear'}])
    n1 = plan['nodes']['node1']
    assert F.encrypted_vnis(n1) == [] and F.encrypted_peers(n1) == [] and F.encrypted_nodes(plan) == []
    assert F.ipsec_node_xfrm(None, n1) == {'states': [], 'policies': []}
    new, plan, _m = planned([{'name': 'secret', 'encrypted': True}])
    with pytest.raises(AnsibleFilterError, match='there is no keyring') as exc:
        F.ipsec_node_xfrm(None, plan['nodes']['node1'])
    with pytest.raises(AnsibleFilterError, match='must be 32 hex digits') as exc:
        F.ipsec_node_xfrm([{'tag': 1, 'key': 'secret-text'}], plan['nodes']['node1'])
    assert 'secret-text' not in str(exc.value)
