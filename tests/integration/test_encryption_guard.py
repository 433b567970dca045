# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests for linuxnet.overlay.encryption_guard inside tests/sandbox.sh.

Besides the usual module checks, two behavioural proofs on the real kernel:

* inbound: a clear-text VXLAN packet, built by hand, for an encrypted VNI is dropped before it
  reaches the task (the enc-in counter rises, the task's RX counter does not) while the same packet
  for an unencrypted VNI is delivered; with the guard gone the encrypted VNI is delivered again;
* outbound: the mark set by enc-out makes the kernel select the overlay's xfrm policy; with no SA
  behind the policy the packets are dropped (XfrmOutNoStates), never sent in clear text;
* outbound without any policy (the SAs could not be made, or a peer's policy is missing): enc-post
  drops the encrypted VNI's clear text before it leaves, the unencrypted VNI still goes out.

The hand-made VXLAN packets come from _helpers_vxlan.py (shared with tests/e2e).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid

import pytest

from _helpers_vxlan import vxlan_icmp
from conftest import ROOT, sh

sys.path.insert(0, os.path.join(ROOT, '.build'))
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns  # noqa: E402

MARK = 0x4C4E4F
VNI_X, VNI_Y = 4096, 4097


def nft_text(ns, family='ip'):
    return sh('ip netns exec %s nft list table %s linuxnet-overlay' % (ns, family))


def nft_tables(ns):
    return sh('ip netns exec %s nft list tables' % ns).split('\n')


def set_elements(ns, family='ip'):
    doc = json.loads(sh('ip netns exec %s nft -j list set %s linuxnet-overlay encrypted-vnis' % (ns, family)))
    return sorted(e for item in doc['nftables'] if 'set' in item for e in item['set'].get('elem', []))


def rule_handles(ns):
    out = sh('ip netns exec %s nft -a list table ip linuxnet-overlay' % ns)
    return sorted(line.split('# handle ')[1] for line in out.splitlines() if '# handle' in line and 'dport' in line)


def counter(ns, chain, family='ip'):
    doc = json.loads(sh('ip netns exec %s nft -j list chain %s linuxnet-overlay %s' % (ns, family, chain)))
    for item in doc['nftables']:
        for e in item.get('rule', {}).get('expr', []):
            if 'counter' in e:
                return e['counter']['packets']
    raise AssertionError('no counter in %s' % chain)


# --- module behaviour ----------------------------------------------------------------------------

def test_create_rerun_check_vni_change_absent(run_module, scratch_netns):
    ns = scratch_netns('g')
    args = {'netns': ns, 'vnis': [VNI_X, 5000]}
    res = run_module('encryption_guard', args, check=True)
    assert res['changed'] and res['reason'] == 'create the table'
    assert 'linuxnet-overlay' not in ' '.join(nft_tables(ns))

    res = run_module('encryption_guard', args)
    assert res['changed']
    text = nft_text(ns)
    assert 'udp dport 4789 @th,96,24 @encrypted-vnis counter packets 0 bytes 0 meta mark set 0x004c4e4f' in text
    assert 'type route hook output priority mangle; policy accept;' in text
    assert 'type filter hook input priority raw; policy accept;' in text
    assert 'meta ipsec missing udp dport 4789 @th,96,24 @encrypted-vnis counter packets 0 bytes 0 drop' in text
    assert 'type filter hook postrouting priority filter; policy accept;' in text
    assert 'rt ipsec missing udp dport 4789 @th,96,24 @encrypted-vnis counter packets 0 bytes 0 drop' in text
    assert set_elements(ns) == [VNI_X, 5000]
    assert '+  set encrypted-vnis: 4096 5000' in '\n'.join('+' + line for line in res['diff']['after'].splitlines())

    res = run_module('encryption_guard', args)
    assert not res['changed'] and res['reason'] == '' and res['diff']['before'] == res['diff']['after']

    handles = rule_handles(ns)
    new = {'netns': ns, 'vnis': [VNI_X, VNI_Y]}
    res = run_module('encryption_guard', new, check=True)
    assert res['changed'] and res['reason'] == 'add VNIs 4097, remove VNIs 5000'
    assert set_elements(ns) == [VNI_X, 5000]
    res = run_module('encryption_guard', new)
    assert res['changed'] and set_elements(ns) == [VNI_X, VNI_Y]
    assert rule_handles(ns) == handles                       # only the set changed
    assert 'set encrypted-vnis: 4096 5000' in res['diff']['before']
    assert 'set encrypted-vnis: 4096 4097' in res['diff']['after']

    res = run_module('encryption_guard', {'netns': ns, 'vnis': []})
    assert res['changed'] and set_elements(ns) == [] and len(rule_handles(ns)) == 3

    res = run_module('encryption_guard', {'netns': ns, 'state': 'absent'}, check=True)
    assert res['changed'] and 'linuxnet-overlay' in ' '.join(nft_tables(ns))
    res = run_module('encryption_guard', {'netns': ns, 'state': 'absent'})
    assert res['changed'] and 'linuxnet-overlay' not in ' '.join(nft_tables(ns))
    assert not run_module('encryption_guard', {'netns': ns, 'state': 'absent'})['changed']


def test_port_mark_change_and_tampering_rebuild(run_module, scratch_netns):
    ns = scratch_netns('g')
    run_module('encryption_guard', {'netns': ns, 'vnis': [VNI_X]})
    res = run_module('encryption_guard', {'netns': ns, 'vnis': [VNI_X], 'port': 4790, 'mark': '0xabc'})
    assert res['changed'] and res['reason'].startswith('rebuild the table')
    text = nft_text(ns)
    assert 'udp dport 4790' in text and 'meta mark set 0x00000abc' in text and 'dport 4789' not in text
    assert set_elements(ns) == [VNI_X]
    # somebody adds an accept rule in our table and a foreign table exists: ours is rebuilt, theirs kept
    sh('ip netns exec %s nft add rule ip linuxnet-overlay enc-in udp dport 4790 accept' % ns)
    sh('ip netns exec %s nft add table ip docker-overlay' % ns)
    res = run_module('encryption_guard', {'netns': ns, 'vnis': [VNI_X], 'port': 4790, 'mark': '0xabc'})
    assert res['changed'] and 'chain enc-in rules differ' in res['reason']
    assert 'accept' not in nft_text(ns).replace('policy accept', '')
    assert 'table ip docker-overlay' in nft_tables(ns)
    assert not run_module('encryption_guard', {'netns': ns, 'vnis': [VNI_X], 'port': 4790, 'mark': 2748})['changed']


def test_ip6_family(run_module, scratch_netns):
    ns = scratch_netns('g')
    args = {'netns': ns, 'vnis': [VNI_X], 'family': 'ip6'}
    assert run_module('encryption_guard', args)['changed']
    assert 'meta ipsec missing udp dport 4789' in nft_text(ns, 'ip6')
    assert 'table ip linuxnet-overlay' not in nft_tables(ns)
    assert not run_module('encryption_guard', args)['changed']
    assert run_module('encryption_guard', dict(args, state='absent'))['changed']


@pytest.mark.parametrize('bad, words', [
    ({'vnis': [16777216]}, 'vnis: 16777216 is out of range 0..16777215'),
    ({'vnis': [4096, 4096]}, 'vnis: 4096 listed more than once'),
    ({'vnis': [1], 'port': 0}, 'port: 0 is out of range'),
    ({'vnis': [1], 'mark': 0}, 'mark: 0 is out of range'),
    ({'vnis': [1], 'mark': 'red'}, "mark: 'red' is not an integer"),
])
def test_bad_input_changes_nothing(run_module, scratch_netns, bad, words):
    ns = scratch_netns('g')
    run_module('encryption_guard', {'netns': ns, 'vnis': [7]})
    before = nft_text(ns)
    res = run_module('encryption_guard', dict(bad, netns=ns), expect_failure=True)
    assert words in res['msg']
    assert nft_text(ns) == before


def test_missing_namespace(run_module):
    res = run_module('encryption_guard', {'netns': 'nope-ns', 'vnis': [1]}, expect_failure=True)
    assert "network namespace 'nope-ns' does not exist" in res['msg']


# --- behaviour on the wire -----------------------------------------------------------------------

def send_clear_vxlan(from_ns, to_addr, payloads):
    with _netns.entered(from_ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        for p in payloads:
            s.sendto(p, (to_addr, 4789))
    time.sleep(0.3)


def rx_packets(ns, dev='eth0'):
    return json.loads(sh('ip -n %s -s -j link show %s' % (ns, dev)))[0]['stats64']['rx']['packets']


def tx_packets(ns, dev='eth0'):
    return json.loads(sh('ip -n %s -s -j link show %s' % (ns, dev)))[0]['stats64']['tx']['packets']


def mac(ns, dev='eth0'):
    return json.loads(sh('ip -n %s -j link show %s' % (ns, dev)))[0]['address']


def xfrm_stat(ns, name):
    for line in sh('ip netns exec %s cat /proc/net/xfrm_stat' % ns).splitlines():
        key, value = line.split()
        if key == name:
            return int(value)
    raise AssertionError(name)


@pytest.fixture
def two_nodes(scratch_netns):
    """Nodes A (192.0.2.1) and B (192.0.2.2) on one veth cable. B has one sandbox namespace with
    a bridge + VTEP per VNI (VTEPs created in B and moved, so their UDP socket stays in B) and one
    task namespace per VNI (10.0.0.2 on VNI X, 10.0.1.2 on VNI Y). IPv6 is off everywhere and the cable's
    neighbours are permanent so that nothing but our packets moves."""
    tag = uuid.uuid4().hex[:6]
    a, b, sbx, tx, ty = (scratch_netns(p + tag, create=False) for p in ('A', 'B', 'S', 'TX', 'TY'))
    for ns in (a, b, sbx, tx, ty):
        sh('ip netns add %s' % ns)
        sh('ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1' % ns)
        sh('ip -n %s link set lo up' % ns)
    sh('ip -n %s link add eth0 type veth peer name eth0 netns %s' % (a, b))
    sh('ip -n %s addr add 192.0.2.1/24 dev eth0 && ip -n %s link set eth0 up' % (a, a))
    sh('ip -n %s addr add 192.0.2.2/24 dev eth0 && ip -n %s link set eth0 up' % (b, b))
    for vni, task, addr in ((VNI_X, tx, '10.0.0.2/24'), (VNI_Y, ty, '10.0.1.2/24')):
        sh('ip -n %s link add vx%d type vxlan id %d dstport 4789 local 192.0.2.2 dev eth0' % (b, vni, vni))
        sh('ip -n %s link set vx%d netns %s' % (b, vni, sbx))
        sh('ip -n %s link add br%d type bridge && ip -n %s link set vx%d master br%d'
           % (sbx, vni, sbx, vni, vni))
        sh('ip -n %s link add eth0 type veth peer name t%d netns %s' % (task, vni, sbx))
        sh('ip -n %s link set t%d master br%d' % (sbx, vni, vni))
        for dev in ('vx%d' % vni, 'br%d' % vni, 't%d' % vni):
            sh('ip -n %s link set %s up' % (sbx, dev))
        sh('ip -n %s addr add %s dev eth0 && ip -n %s link set eth0 up' % (task, addr, task))
    # Permanent neighbours on the cable: no ARP refresh (a probe 5 s after the first ping) is
    # counted as a packet that left A's cable (failed 2 in 3 runs before).
    for here, there, addr in ((a, b, '192.0.2.2'), (b, a, '192.0.2.1')):
        sh('ip -n %s neigh replace %s lladdr %s dev eth0 nud permanent' % (here, addr, mac(there)))
    sh('ip netns exec %s ping -c1 -W2 192.0.2.2 >/dev/null' % a)
    return {'a': a, 'b': b, 'sandbox': sbx, 'tx': tx, 'ty': ty}


def test_clear_text_for_an_encrypted_vni_is_dropped(run_module, two_nodes):
    n = two_nodes
    mac_x, mac_y = mac(n['tx']), mac(n['ty'])

    def burst(vni):
        if vni == VNI_X:
            return [vxlan_icmp(VNI_X, mac_x, '10.0.0.9', '10.0.0.2', i) for i in range(5)]
        return [vxlan_icmp(VNI_Y, mac_y, '10.0.1.9', '10.0.1.2', i) for i in range(5)]

    # baseline: without a guard both VNIs reach their task
    rx_x, rx_y = rx_packets(n['tx']), rx_packets(n['ty'])
    send_clear_vxlan(n['a'], '192.0.2.2', burst(VNI_X) + burst(VNI_Y))
    assert rx_packets(n['tx']) - rx_x >= 5 and rx_packets(n['ty']) - rx_y >= 5

    # guard B with VNI X encrypted
    assert run_module('encryption_guard', {'netns': n['b'], 'vnis': [VNI_X]})['changed']
    rx_x, rx_y = rx_packets(n['tx']), rx_packets(n['ty'])
    dropped = counter(n['b'], 'enc-in')
    send_clear_vxlan(n['a'], '192.0.2.2', burst(VNI_X) + burst(VNI_Y))
    assert counter(n['b'], 'enc-in') - dropped == 5             # exactly our five VNI X packets
    assert rx_packets(n['tx']) == rx_x                          # nothing reached the task on VNI X
    assert rx_packets(n['ty']) - rx_y >= 5                      # VNI Y (not encrypted) still flows
    res = run_module('encryption_guard', {'netns': n['b'], 'vnis': [VNI_X]})
    assert not res['changed'] and res['counters']['enc_in']['packets'] == 5

    # the guard is what dropped it: without the table VNI X is delivered again
    assert run_module('encryption_guard', {'netns': n['b'], 'state': 'absent'})['changed']
    rx_x = rx_packets(n['tx'])
    send_clear_vxlan(n['a'], '192.0.2.2', burst(VNI_X))
    assert rx_packets(n['tx']) - rx_x >= 5


def test_mark_selects_the_overlay_policy_and_no_sa_means_drop(run_module, two_nodes):
    """Outbound: A has VTEPs for both VNIs toward B, the guard marks VNI X, and the overlay's
    outbound policy (mark-selected, ESP template) has no SA on this kernel (or on any kernel, here:
    we add none). VNI X must be dropped at A (XfrmOutNoStates), VNI Y goes through in clear text."""
    n = two_nodes
    a = n['a']
    for vni, addr in ((VNI_X, '10.0.0.1/24'), (VNI_Y, '10.0.1.1/24')):
        sh('ip -n %s link add vx%d type vxlan id %d dstport 4789 local 192.0.2.1 remote 192.0.2.2 dev eth0'
           % (a, vni, vni))
        sh('ip -n %s addr add %s dev vx%d && ip -n %s link set vx%d up' % (a, addr, vni, a, vni))
    assert run_module('encryption_guard', {'netns': a, 'vnis': [VNI_X]})['changed']
    assert run_module('encryption_guard', {'netns': n['b'], 'vnis': [VNI_X]})['changed']
    assert run_module('xfrm', {'netns': a, 'policies': [
        {'src': '192.0.2.1', 'dst': '192.0.2.2', 'proto': 'udp', 'dport': 4789, 'dir': 'out',
         'mark': {'value': MARK}, 'tmpl': {'src': '192.0.2.1', 'dst': '192.0.2.2', 'spi': 0x1000}}]})['changed']

    marked, nostates, cleared = counter(a, 'enc-out'), xfrm_stat(a, 'XfrmOutNoStates'), counter(n['b'], 'enc-in')
    wire = tx_packets(a)
    sh('ip netns exec %s ping -c3 -i0.2 -W1 10.0.0.2 >/dev/null || true' % a)
    marked = counter(a, 'enc-out') - marked
    assert marked >= 1                                          # the VXLAN packets (ARP here) got the mark,
    assert xfrm_stat(a, 'XfrmOutNoStates') - nostates == marked  # ... selected the policy, found no SA: dropped
    assert counter(n['b'], 'enc-in') == cleared                 # nothing arrived at B in clear text
    assert tx_packets(a) == wire                                # nothing left A's cable at all

    rx_y = rx_packets(n['ty'])
    sh('ip netns exec %s ping -c3 -i0.2 -W1 10.0.1.2 >/dev/null || true' % a)
    assert rx_packets(n['ty']) - rx_y >= 3                      # VNI Y: not marked, no policy, delivered


def test_no_policy_means_the_encrypted_vni_never_leaves_in_clear_text(run_module, two_nodes):
    """Outbound fail closed without any xfrm object (what a node has while its SAs cannot be made):
    A's VTEPs send both VNIs to B, the guard lists VNI X. enc-post drops VNI X before it leaves A
    (counter rises, nothing on A's cable, nothing at B's task); VNI Y goes out in clear text."""
    n = two_nodes
    a = n['a']
    for vni, addr in ((VNI_X, '10.0.0.1/24'), (VNI_Y, '10.0.1.1/24')):
        sh('ip -n %s link add vx%d type vxlan id %d dstport 4789 local 192.0.2.1 remote 192.0.2.2 dev eth0'
           % (a, vni, vni))
        sh('ip -n %s addr add %s dev vx%d && ip -n %s link set vx%d up' % (a, addr, vni, a, vni))
    # baseline without a guard: VNI X reaches B's task in clear text
    rx_x = rx_packets(n['tx'])
    sh('ip netns exec %s ping -c3 -i0.2 -W1 10.0.0.2 >/dev/null' % a)
    assert rx_packets(n['tx']) - rx_x >= 3

    assert run_module('encryption_guard', {'netns': a, 'vnis': [VNI_X]})['changed']
    assert sh('ip -n %s xfrm policy' % a) == '' and sh('ip -n %s xfrm state' % a) == ''
    dropped, marked, wire, rx_x = counter(a, 'enc-post'), counter(a, 'enc-out'), tx_packets(a), rx_packets(n['tx'])
    sh('ip netns exec %s ping -c3 -i0.2 -W1 10.0.0.2 >/dev/null || true' % a)
    dropped = counter(a, 'enc-post') - dropped
    assert dropped >= 3 and counter(a, 'enc-out') - marked == dropped   # every marked packet was stopped
    assert tx_packets(a) == wire                                       # nothing left A's cable
    assert rx_packets(n['tx']) == rx_x                                 # nothing reached B's task

    post, rx_y = counter(a, 'enc-post'), rx_packets(n['ty'])
    sh('ip netns exec %s ping -c3 -i0.2 -W1 10.0.1.2 >/dev/null' % a)  # VNI Y: not guarded, delivered
    assert rx_packets(n['ty']) - rx_y >= 3 and counter(a, 'enc-post') == post
