# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``encrypted: true`` end to end on simulated hosts (the seed lab), on a kernel WITHOUT IPsec ESP
(xfrm policies can be made here, SAs cannot; real ESP is proven in molecule/vm).

One seed lab for the module, in phases (each fixture runs site.yml once, in order):

1. ``single``: ``uber-net`` and ``clear-net`` (clear, one task of each per node) and ``secret-net``
   (encrypted, one task on node1 only: Docker's CVE-2023-28842 case, no peer, so no SA is needed).
   The run succeeds: the guard exists before the VTEP (order of the run, nft counters), clear-text
   VXLAN crafted for the encrypted VNI and sent from node2 is dropped while the same packet for the
   clear VNI is delivered, keys appear in no output (-vvv) and no world-readable file, re-run changes
   nothing.
2. ``flipped``: uber-net becomes encrypted across both nodes, so SAs are needed and this kernel
   cannot hold them: the run fails closed with a message that says so, before any VTEP is touched,
   and while test.1 pings test.2 over the existing VTEPs nothing of uber-net's VNI reaches the wire
   (capture on node1's underlay) - clear-net still works. The role's own policies, installed alone,
   select exactly uber-net's VXLAN (XfrmOutNoStates counts them; clear-net is not selected).
3. ``cleared``: uber-net back to clear: its VNI leaves the guard; node2 (no encrypted sandbox) loses
   the guard table; then secret-net is removed: the table and the keyring go.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import sys
import time

import pytest

from conftest import PYTHON, ROOT

sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
sys.path.insert(0, os.path.join(ROOT, '.build'))
from _helpers_vxlan import vxlan_icmp  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipsec as _ipsec  # noqa: E402

SLEEP = ['sleep', 'infinity']
NODE_ADDR = {'node1': '172.31.1.5', 'node2': '192.168.1.5'}


def group_vars(uber_encrypted=False, secret='present', vault=True):
    networks = [{'name': 'uber-net', 'encrypted': uber_encrypted}, {'name': 'clear-net'}]
    services = [{'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': SLEEP},
                {'name': 'web', 'networks': ['clear-net'], 'replicas': 2, 'command': SLEEP}]
    networks.append({'name': 'secret-net', 'encrypted': True, 'state': secret})
    if vault:
        services.append({'name': 'vault', 'networks': ['secret-net'], 'replicas': 1, 'command': SLEEP,
                         'constraints': ['node.hostname==node1']})
    else:
        services.append({'name': 'vault', 'state': 'absent', 'networks': ['secret-net']})
    return {'overlay_networks': networks, 'overlay_services': services}


# --------------------------------------------------------------------------------------------
# reading the nodes

def nft(lab, node):
    """{'vnis': [...], 'counters': {chain: packets}} of the guard table, or None."""
    text = lab.sh(node, 'nft -j list table ip linuxnet-overlay 2>/dev/null || true')
    if not text.strip():
        return None
    out = {'vnis': [], 'counters': {}}
    for item in json.loads(text)['nftables']:
        if 'set' in item:
            out['vnis'] = sorted(item['set'].get('elem', []))
        for e in item.get('rule', {}).get('expr', []):
            if 'counter' in e:
                out['counters'][item['rule']['chain']] = e['counter']['packets']
    return out


def xfrm(lab, node):
    return (lab.sh(node, 'ip xfrm state').strip(), lab.sh(node, 'ip xfrm policy').strip())


def xfrm_stat(lab, node, name):
    for line in lab.sh(node, 'cat /proc/net/xfrm_stat').splitlines():
        key, value = line.split()
        if key == name:
            return int(value)
    raise AssertionError(name)


def tasks(lab):
    """{(service, slot): (node, task name)}"""
    out = {}
    for node in lab.nodes:
        for t in lab.snapshot(node).tasks:
            service, slot = t.split('.')[:2]
            out[(service, int(slot))] = (node, t)
    return out


def rx(lab, node, task):
    """ICMP echo requests the task's IPv4 stack received (Icmp InEchos of /proc/net/snmp in its
    namespace): what the forged packets are. Not eth0's packet count, which also counts the IPv6
    link-local chatter (MLD, neighbour discovery) of a freshly made bridge and made this flaky."""
    lines = [ln.split() for ln in lab.sh(node, 'ip netns exec %s cat /proc/net/snmp' % task).splitlines()
             if ln.startswith('Icmp:')]
    return int(dict(zip(lines[0][1:], lines[1][1:]))['InEchos'])


def task_mac(lab, node, task):
    return json.loads(lab.sh(node, 'ip -n %s -j link show eth0' % task))[0]['address']


def task_ip(lab, node, task):
    (addr,) = json.loads(lab.sh(node, 'ip -n %s -j -4 addr show eth0' % task))[0]['addr_info']
    return addr['local']


def vni_of(state, network):
    return state['networks'][network]['subnets'][0]['vni']


def inject(lab, from_node, to_addr, payloads):
    """Send hand-made VXLAN datagrams from a node's own namespace to another node's data-path port."""
    # the code goes in argv: a node has its own /tmp, where a checkout under /tmp is not
    code = ('import socket, sys\n'
            's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
            'for p in sys.argv[1:]:\n'
            '    s.sendto(bytes.fromhex(p), (%r, 4789))\n' % to_addr)
    lab.exec(from_node, [PYTHON, '-c', code] + [p.hex() for p in payloads])
    time.sleep(0.5)


def task_order(out, host):
    """The task names that reported a result for ``host``, in order (``changed``/``ok``/``failed``)."""
    order, task = [], None
    for line in out.splitlines():
        m = re.match(r'^TASK \[(?:[^:\]]+ : )?(.*)\] \*+$', line)
        if m:
            task = m.group(1)
        elif task and re.match(r'^(ok|changed|fatal|failed): \[%s[\] ]' % host, line):
            order.append((task, line.split(':', 1)[0]))
    return order


def index_of(order, prefix, status=None):
    for i, (task, st) in enumerate(order):
        if task.startswith(prefix) and (status is None or st == status):
            return i
    raise AssertionError('no task %r (%s) in %s' % (prefix, status, order))


# --------------------------------------------------------------------------------------------
# the keys and where they must not be

def key_forms(state):
    """The ring's keys and every per-SA key derived from them (between the two nodes), each in hex
    (both cases) and base64: whatever form a leak could take."""
    raws = []
    for k in state['keyring']['keys']:
        raws.append(bytes.fromhex(k['key']))
        for src, dst in ((NODE_ADDR['node1'], NODE_ADDR['node2']), (NODE_ADDR['node2'], NODE_ADDR['node1'])):
            raws.append(bytes.fromhex(_ipsec.sa_key(k['key'], src, dst, k['tag'])))
    forms = set()
    for raw in raws:
        forms.update({raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode().rstrip('=')})
    return forms


def world_readable_files(top):
    for base, dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(base, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH:
                yield path


def assert_no_key_anywhere(lab, play, state):
    forms = key_forms(state)
    text = play.out + play.err
    assert [f for f in forms if f in text] == [], 'key material in the output of %s' % ' '.join(play.argv)
    leaks = []
    for path in world_readable_files(lab.path):
        with open(path, 'rb') as f:
            data = f.read()
        leaks += [path for f in forms if f.encode() in data]
    assert leaks == [], 'key material in world-readable files: %s' % sorted(set(leaks))
    # and the keys are where they belong: the cluster state, root only
    path = os.path.join(lab.dir, 'nodes', 'node1', 'varlib.upper', 'linuxnet-overlay', 'cluster.json')
    assert os.path.exists(path), path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, encoding='utf-8') as f:
        assert state['keyring']['keys'][0]['key'] in f.read()


# --------------------------------------------------------------------------------------------
# phases

@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('seed', group_vars=group_vars())


@pytest.fixture(scope='module')
def single(lab):
    play = lab.play(args=['-vvv'])
    play.assert_ok()
    state = lab.cluster_state('node1')
    return {'play': play, 'state': state, 'tasks': tasks(lab), 'again': lab.play()}


@pytest.fixture(scope='module')
def flipped(single, lab):
    play = lab.play(group_vars=group_vars(uber_encrypted=True), args=['-vvv'])
    return {'play': play, 'state': lab.cluster_state('node1'), 'tasks': single['tasks']}


@pytest.fixture(scope='module')
def cleared(flipped, lab):
    back = lab.play(group_vars=group_vars(uber_encrypted=False))
    back_guard = {n: nft(lab, n) for n in lab.nodes}
    back_xfrm = {n: xfrm(lab, n) for n in lab.nodes}
    gone = lab.play(group_vars=group_vars(secret='absent', vault=False))
    return {'back': back, 'back_guard': back_guard, 'back_xfrm': back_xfrm, 'gone': gone,
            'state': lab.cluster_state('node1')}


# --- phase 1: an encrypted network on one node ------------------------------------------------

def test_single_node_encrypted_network_guard_before_vtep(single, lab):
    state = single['state']
    secret, uber, clear = (vni_of(state, n) for n in ('secret-net', 'uber-net', 'clear-net'))
    assert [k['tag'] for k in state['keyring']['keys']] == [1, 2, 3]
    # node1: the guard (only secret-net's VNI), then the VTEP; no SA (no peer on secret-net)
    order = task_order(single['play'].out, 'node1')
    guard = index_of(order, 'Encryption guard', 'changed')
    assert guard < index_of(order, 'IPsec SAs and policies') < index_of(order, 'VTEPs', 'changed')
    g1 = nft(lab, 'node1')
    assert g1['vnis'] == [secret] and g1['counters'] == {'enc-out': 0, 'enc-in': 0, 'enc-post': 0}
    assert xfrm(lab, 'node1') == ('', '')
    # node2 has no encrypted sandbox: no guard, nothing of ours
    assert nft(lab, 'node2') is None and xfrm(lab, 'node2') == ('', '')
    # the key was confirmed installed (nobody needs an SA yet)
    assert state['keyring']['installed'] == 3
    # MTU: 1416 on the encrypted network, 1450 on the others
    snap = lab.snapshot('node1')
    node, vault = single['tasks'][('vault', 1)]
    assert node == 'node1' and snap.task_eth(vault)['mtu'] == 1416
    assert snap.task_eth(single['tasks'][('test', 1)][1])['mtu'] == 1450
    vteps = {li['linkinfo']['info_data']['id']: li['mtu'] for _ns, li in snap.links_of_kind('vxlan')}
    assert vteps == {uber: 1450, clear: 1450, secret: 1416}


def test_clear_text_into_the_encrypted_vni_is_dropped_the_clear_vni_delivered(single, lab):
    state, t = single['state'], single['tasks']
    secret, clear = vni_of(state, 'secret-net'), vni_of(state, 'clear-net')
    (n1, vault), (n1b, web1) = t[('vault', 1)], t[('web', 1)]
    assert n1 == n1b == 'node1'
    forged = [vxlan_icmp(secret, task_mac(lab, 'node1', vault), '10.0.2.99', task_ip(lab, 'node1', vault), i)
              for i in range(5)]
    honest = [vxlan_icmp(clear, task_mac(lab, 'node1', web1), '10.0.1.99', task_ip(lab, 'node1', web1), i)
              for i in range(5)]
    before = nft(lab, 'node1')['counters']['enc-in']
    rx_vault, rx_web = rx(lab, 'node1', vault), rx(lab, 'node1', web1)
    inject(lab, 'node2', NODE_ADDR['node1'], forged + honest)
    assert nft(lab, 'node1')['counters']['enc-in'] - before == 5        # exactly the five forged packets
    assert rx(lab, 'node1', vault) == rx_vault                          # nothing reached the task
    assert rx(lab, 'node1', web1) - rx_web == 5                         # the clear network's packets did


def test_no_key_in_the_verbose_output_or_any_world_readable_file(single, lab):
    assert_no_key_anywhere(lab, single['play'], single['state'])


def test_rerun_and_check_diff_change_nothing(single, lab):
    single['again'].assert_unchanged()
    play = lab.play(check=True, diff=True).assert_unchanged()
    assert '--- before' not in play.out, play.tail()


# --- phase 2: encryption across nodes on a kernel without ESP ---------------------------------

def test_fails_closed_with_a_message_that_says_why(flipped, lab):
    play = flipped['play']
    assert play.rc != 0 and play.recap['node1']['failed'] == 1 and play.recap['node2']['failed'] == 1
    assert 'this kernel cannot hold IPsec SAs' in play.out
    assert 'Fail closed: the run stops on every node before any VTEP is made or changed' in play.out
    # the run stopped at the encryption part: no VTEP task, no service task ran after it
    for node in ('node1', 'node2'):
        order = task_order(play.out, node)
        assert index_of(order, 'Encryption guard', 'changed') < index_of(order, 'IPsec SAs and policies', 'fatal')
        assert not [task for task, _st in order if task.startswith(('VTEPs', 'Task namespaces', 'Probe'))]
        assert xfrm(lab, node) == ('', '')                               # the xfrm module undid its SAs
    state = flipped['state']
    uber, secret = vni_of(state, 'uber-net'), vni_of(state, 'secret-net')
    assert nft(lab, 'node1')['vnis'] == sorted([uber, secret]) and nft(lab, 'node2')['vnis'] == [uber]


def test_no_clear_text_of_the_encrypted_network_leaves_while_a_task_pings(flipped, lab):
    state, t = flipped['state'], flipped['tasks']
    uber, clear = vni_of(state, 'uber-net'), vni_of(state, 'clear-net')
    (_n, test1), (_n2, test2) = t[('test', 1)], t[('test', 2)]
    (_n, web1), (_n2, web2) = t[('web', 1)], t[('web', 2)]
    post = nft(lab, 'node1')['counters']['enc-post']
    out = lab.sh('node1', '''
        set -e
        rm -f /tmp/enc.pcap
        timeout 25 tcpdump -U -ni eth0 -w /tmp/enc.pcap 'udp port 4789' 2>/dev/null & T=$!
        sleep 2
        ip netns exec %(test1)s ping -c 10 -i 0.2 -W 1 %(test2)s >/dev/null && echo "ping-uber reached" || echo "ping-uber lost"
        ip netns exec %(web1)s ping -c 10 -i 0.2 -W 1 %(web2)s >/dev/null && echo "ping-clear reached" || echo "ping-clear lost"
        sleep 1; kill $T; wait $T || true
        echo "wire-uber $(tcpdump -nr /tmp/enc.pcap 'udp port 4789 and (udp[12:4] >> 8) = %(uber)d' 2>/dev/null | wc -l)"
        echo "wire-clear $(tcpdump -nr /tmp/enc.pcap 'udp port 4789 and (udp[12:4] >> 8) = %(clear)d' 2>/dev/null | wc -l)"
        rm -f /tmp/enc.pcap
    ''' % {'test1': test1, 'test2': task_ip(lab, 'node2', test2), 'web1': web1, 'web2': task_ip(lab, 'node2', web2),
           'uber': uber, 'clear': clear})
    seen = dict(line.split(' ', 1) for line in out.splitlines() if line.startswith(('ping-', 'wire-')))
    assert seen['ping-uber'] == 'lost' and seen['ping-clear'] == 'reached', out
    assert int(seen['wire-uber']) == 0, out                            # nothing of uber-net on the wire
    assert int(seen['wire-clear']) >= 20, out                          # while the capture saw clear-net
    assert nft(lab, 'node1')['counters']['enc-post'] - post >= 10      # the guard stopped them before the wire


def test_clear_text_injection_into_the_flipped_network_is_dropped(flipped, lab):
    """node2 guards uber-net's VNI too, so it refuses to send the forged clear text itself (EPERM from
    its enc-post); the forger is the router between the segments, on the path like an attacker."""
    state, t = flipped['state'], flipped['tasks']
    uber = vni_of(state, 'uber-net')
    _n, test1 = t[('test', 1)]
    forged = [vxlan_icmp(uber, task_mac(lab, 'node1', test1), '10.0.0.99', task_ip(lab, 'node1', test1), i)
              for i in range(5)]
    post2 = nft(lab, 'node2')['counters']['enc-post']
    with pytest.raises(AssertionError, match='Operation not permitted'):
        inject(lab, 'node2', NODE_ADDR['node1'], forged[:1])
    assert nft(lab, 'node2')['counters']['enc-post'] - post2 == 1
    before, rx_test = nft(lab, 'node1')['counters']['enc-in'], rx(lab, 'node1', test1)
    inject(lab, 'router', NODE_ADDR['node1'], forged)
    assert nft(lab, 'node1')['counters']['enc-in'] - before == 5 and rx(lab, 'node1', test1) == rx_test


def test_the_roles_policies_select_exactly_the_encrypted_vxlan(flipped, lab):
    """The policies the network role computes for node1 (the same filter), installed alone (this
    kernel takes policies, not SAs): UDP to the data-path port from node1 to node2 with the overlay's
    mark. uber-net's VXLAN is selected (no SA behind it: XfrmOutNoStates counts every packet),
    clear-net's is not (it still flows)."""
    state, t = flipped['state'], flipped['tasks']
    ring = [{'tag': k['tag'], 'key': k['key'], 'created': k['created']} for k in state['keyring']['keys']]
    sys.path.insert(0, os.path.join(ROOT, '.build'))
    from ansible_collections.linuxnet.overlay.plugins.filter import encryption as F
    node_plan = {'addr': NODE_ADDR['node1'], 'remote_vteps': [
        {'hostname': 'node2', 'addr': NODE_ADDR['node2'], 'encrypted': True}]}
    policies = F.ipsec_node_xfrm(ring, node_plan, 4789)['policies']
    pb = os.path.join(lab.path, 'policies-only.yml')
    with open(pb, 'w', encoding='utf-8') as f:
        json.dump([{'hosts': 'node1', 'gather_facts': False, 'tasks': [
            {'name': 'the role\'s policies alone', 'linuxnet.overlay.xfrm': {'policies': policies}}]}], f)
    lab.play(playbook=pb).assert_ok()
    try:
        pol = lab.sh('node1', 'ip xfrm policy')
        assert 'src 172.31.1.5/32 dst 192.168.1.5/32 proto udp dport 4789' in pol
        assert 'dir out priority 0' in pol and 'mark 0x4c4e4f/0xffffffff' in pol
        assert 'tmpl src 172.31.1.5 dst 192.168.1.5' in pol and 'proto esp spi 0x%08x reqid 5000783 mode transport' \
            % policies[0]['tmpl']['spi'] in pol
        (_n, test1), (_n2, test2) = t[('test', 1)], t[('test', 2)]
        (_n, web1), (_n2, web2) = t[('web', 1)], t[('web', 2)]
        nostates, marked = xfrm_stat(lab, 'node1', 'XfrmOutNoStates'), nft(lab, 'node1')['counters']['enc-out']
        lab.sh('node1', 'ip netns exec %s ping -c 5 -i 0.2 -W 1 %s >/dev/null || true'
               % (test1, task_ip(lab, 'node2', test2)))
        marked = nft(lab, 'node1')['counters']['enc-out'] - marked
        assert marked >= 5 and xfrm_stat(lab, 'node1', 'XfrmOutNoStates') - nostates == marked
        nostates = xfrm_stat(lab, 'node1', 'XfrmOutNoStates')
        lab.sh('node1', 'ip netns exec %s ping -c 3 -i 0.2 -W 1 %s >/dev/null' % (web1, task_ip(lab, 'node2', web2)))
        assert xfrm_stat(lab, 'node1', 'XfrmOutNoStates') == nostates
    finally:
        with open(pb, 'w', encoding='utf-8') as f:
            json.dump([{'hosts': 'node1', 'gather_facts': False, 'tasks': [
                {'name': 'remove them', 'linuxnet.overlay.xfrm': {'exclusive': True, 'state': 'absent'}}]}], f)
        lab.play(playbook=pb).assert_ok()
    assert xfrm(lab, 'node1') == ('', '')


def test_no_key_in_the_failed_runs_output_either(flipped, lab):
    assert_no_key_anywhere(lab, flipped['play'], flipped['state'])


# --- phase 3: back to clear text, then no encrypted network -----------------------------------

def test_decrypting_a_network_removes_its_vni_from_the_guard(cleared, flipped, lab):
    cleared['back'].assert_ok()
    state = flipped['state']
    assert cleared['back_guard']['node1']['vnis'] == [vni_of(state, 'secret-net')]
    assert cleared['back_guard']['node2'] is None                     # no encrypted sandbox left there
    assert cleared['back_xfrm'] == {'node1': ('', ''), 'node2': ('', '')}
    assert 'task pair(s) reach each other' in cleared['back'].out    # uber-net works in clear text again


def test_no_encrypted_network_left_no_guard_no_xfrm_no_keyring(cleared, lab):
    cleared['gone'].assert_ok()
    for node in lab.nodes:
        assert nft(lab, node) is None and xfrm(lab, node) == ('', '')
    assert cleared['state']['keyring'] is None and 'secret-net' not in cleared['state']['networks']
    lab.play().assert_unchanged()
