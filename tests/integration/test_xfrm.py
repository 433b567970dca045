# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests for linuxnet.overlay.xfrm, against the real kernel inside tests/sandbox.sh.

Policies are tested for real everywhere. SAs need a kernel with ESP and AES-GCM: a probe adds one
with `ip xfrm` in a scratch namespace; where the kernel refuses (this project's CI host), the SA
tests skip with the kernel's reason and a test checks that the module fails clearly and leaves
nothing half-made. Everything is asserted with `ip xfrm`, not with the module's own output."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import sh

KEY1 = '00112233445566778899aabbccddeeff01020304'
KEY2 = 'ffeeddccbbaa99887766554433221100a0b0c0d0'
OUR_MARK = 0x4C4E4F


def policies(ns):
    """`ip xfrm policy` blocks (one string per policy, whitespace collapsed)."""
    out = sh('ip -n %s xfrm policy list' % ns)
    blocks, cur = [], []
    for line in out.splitlines():
        if line and not line[0].isspace() and cur:
            blocks.append(' '.join(' '.join(cur).split()))
            cur = []
        if line.strip():
            cur.append(line)
    if cur:
        blocks.append(' '.join(' '.join(cur).split()))
    return sorted(blocks)


def states(ns):
    out = sh('ip -n %s xfrm state list' % ns)
    return [line for line in out.splitlines() if line.startswith('src ')]


def probe_esp():
    """None if the kernel can hold an ESP AES-GCM SA, else the kernel's reason."""
    ns = 'esp-probe'
    sh('ip netns add %s' % ns)
    try:
        proc = subprocess.run(
            ['ip', '-n', ns, '-batch', '-'], capture_output=True, text=True, check=False,
            input="xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 mode transport "
                  "aead 'rfc4106(gcm(aes))' 0x%s 128\n" % KEY1)
        if proc.returncode == 0:
            return None
        msg = (proc.stderr or proc.stdout).strip().splitlines()[0].removeprefix('Error: ').rstrip('.')
        return msg
    finally:
        sh('ip netns del %s' % ns, check=False)


ESP_MISSING = probe_esp() if __import__('os').environ.get('LINUXNET_SANDBOX') == '1' else 'not in the sandbox'
needs_esp = pytest.mark.skipif(ESP_MISSING is not None,
                               reason='kernel lacks ESP (xfrm state add: %s)' % ESP_MISSING)


def out_policy(src='192.0.2.1', dst='192.0.2.2', spi=0x1000, **kw):
    pol = {'src': src, 'dst': dst, 'proto': 'udp', 'dport': 4789, 'dir': 'out', 'mark': {'value': OUR_MARK},
           'tmpl': {'src': src, 'dst': dst, 'spi': spi}}
    pol.update(kw)
    return pol


def sa(src='192.0.2.1', dst='192.0.2.2', spi=0x1000, key=KEY1, **kw):
    st = {'src': src, 'dst': dst, 'spi': spi, 'aead_key': key, 'selector': {'proto': 'udp', 'dport': 4789}}
    st.update(kw)
    return st


# --- policies (work on every kernel with XFRM_USER) ---------------------------------------------

def test_policy_add_rerun_check_diff(run_module, scratch_netns):
    ns = scratch_netns('xp')
    args = {'netns': ns, 'policies': [out_policy(), out_policy(dst='192.0.2.3', spi=0x2000)]}

    res = run_module('xfrm', args, check=True)
    assert res['changed'] and len(res['actions']) == 2
    assert policies(ns) == []                                   # check mode touched nothing

    res = run_module('xfrm', args)
    assert res['changed']
    got = policies(ns)
    assert len(got) == 2
    for dst, spi in (('192.0.2.2', '0x00001000'), ('192.0.2.3', '0x00002000')):
        block = [b for b in got if 'dst %s/32' % dst in b][0]
        assert 'src 192.0.2.1/32 dst %s/32 proto udp dport 4789' % dst in block
        assert 'dir out priority 0' in block and 'mark 0x4c4e4f/0xffffffff' in block
        assert 'tmpl src 192.0.2.1 dst %s proto esp spi %s reqid 5000783 mode transport' % (dst, spi) in block
    assert 'policy dir out src 192.0.2.1/32 dst 192.0.2.3/32' in res['diff']['after']
    assert res['diff']['before'].strip() == ''

    res = run_module('xfrm', args)
    assert not res['changed'] and res['actions'] == []
    assert res['diff']['before'] == res['diff']['after']
    assert policies(ns) == got


def test_policy_update_is_in_place(run_module, scratch_netns):
    ns = scratch_netns('xp')
    run_module('xfrm', {'netns': ns, 'policies': [out_policy()]})
    index_before = sh('ip -n %s xfrm policy list' % ns)
    res = run_module('xfrm', {'netns': ns, 'policies': [out_policy(spi=0x3000, priority=5)]}, check=True)
    assert res['changed'] and res['actions'][0].startswith('update policy')
    assert sh('ip -n %s xfrm policy list' % ns) == index_before
    res = run_module('xfrm', {'netns': ns, 'policies': [out_policy(spi=0x3000, priority=5)]})
    assert res['changed']
    got = policies(ns)
    assert len(got) == 1 and 'spi 0x00003000' in got[0] and 'priority 5' in got[0]
    assert 'spi 0x00001000' in res['diff']['before'] and 'spi 0x00003000' in res['diff']['after']


def test_exclusive_removes_stale_ours_never_foreign(run_module, scratch_netns):
    ns = scratch_netns('xp')
    # foreign: Docker's mark/reqid, a hand-made policy without mark, an inbound one with another reqid
    sh('ip -n %s xfrm policy add src 192.0.2.1/32 dst 192.0.2.9/32 proto udp dport 4789 dir out '
       'mark 0xd0c4e3 mask 0xffffffff tmpl src 192.0.2.1 dst 192.0.2.9 proto esp spi 0x77 reqid 0xd0c4e3 '
       'mode transport' % ns)
    sh('ip -n %s xfrm policy add src 198.51.100.0/24 dst 203.0.113.0/24 proto tcp dport 22 dir fwd action block' % ns)
    sh('ip -n %s xfrm policy add src 192.0.2.9/32 dst 192.0.2.1/32 dir in tmpl src 192.0.2.9 dst 192.0.2.1 '
       'proto esp reqid 42 mode transport' % ns)
    foreign = policies(ns)
    # ours: two, one of which is stale; the stale inbound one is ours by its template's reqid
    run_module('xfrm', {'netns': ns, 'policies': [
        out_policy(), out_policy(dst='192.0.2.3', spi=0x2000),
        {'src': '192.0.2.3', 'dst': '192.0.2.1', 'proto': 'udp', 'dport': 4789, 'dir': 'in',
         'tmpl': {'src': '192.0.2.3', 'dst': '192.0.2.1'}}]})
    assert len(policies(ns)) == 6

    args = {'netns': ns, 'policies': [out_policy()], 'exclusive': True}
    res = run_module('xfrm', args, check=True)
    assert res['changed'] and len(res['actions']) == 2 and all(a.startswith('delete') for a in res['actions'])
    assert len(policies(ns)) == 6
    res = run_module('xfrm', args)
    assert res['changed']
    left = policies(ns)
    assert len(left) == 4 and all(f in left for f in foreign)
    assert not any('192.0.2.3' in p for p in left)
    assert not run_module('xfrm', args)['changed']

    # absent + exclusive: all of ours go, foreign ones stay
    res = run_module('xfrm', {'netns': ns, 'exclusive': True, 'state': 'absent'})
    assert res['changed'] and policies(ns) == foreign
    assert not run_module('xfrm', {'netns': ns, 'exclusive': True, 'state': 'absent'})['changed']


def test_absent_removes_only_listed(run_module, scratch_netns):
    ns = scratch_netns('xp')
    run_module('xfrm', {'netns': ns, 'policies': [out_policy(), out_policy(dst='192.0.2.3')]})
    res = run_module('xfrm', {'netns': ns, 'policies': [out_policy(dst='192.0.2.3')], 'state': 'absent'},
                     check=True)
    assert res['changed'] and len(policies(ns)) == 2
    res = run_module('xfrm', {'netns': ns, 'policies': [out_policy(dst='192.0.2.3')], 'state': 'absent'})
    assert res['changed']
    left = policies(ns)
    assert len(left) == 1 and 'dst 192.0.2.2/32' in left[0]
    assert not run_module('xfrm', {'netns': ns, 'policies': [out_policy(dst='192.0.2.3')], 'state': 'absent'})[
        'changed']


def test_ipv6_policy(run_module, scratch_netns):
    ns = scratch_netns('xp')
    args = {'netns': ns, 'policies': [out_policy(src='2001:db8::1', dst='2001:db8::2')]}
    assert run_module('xfrm', args)['changed']
    got = policies(ns)
    assert len(got) == 1 and 'src 2001:db8::1/128 dst 2001:db8::2/128 proto udp dport 4789' in got[0]
    assert not run_module('xfrm', args)['changed']


@pytest.mark.parametrize('bad, words', [
    ({'policies': [dict(out_policy(), proto='any')]}, 'policies[0]: dport 4789 needs proto udp, tcp or sctp'),
    ({'policies': [out_policy(), dict(out_policy(), dst='192.0.2.1/24')]}, "'192.0.2.1/24' is not a CIDR prefix"),
    ({'policies': [out_policy(), out_policy()]}, 'policies[0] and policies[1] are the same object'),
    ({'policies': [out_policy()], 'states': [dict(sa(), spi=12)]}, 'states[0].spi: 12 is out of range'),
    ({'policies': [out_policy()], 'states': [dict(sa(), aead_key=KEY1[:30])]},
     'states[0].aead_key must be 40 hex digits'),
])
def test_bad_input_changes_nothing(run_module, scratch_netns, bad, words):
    ns = scratch_netns('xp')
    run_module('xfrm', {'netns': ns, 'policies': [out_policy(dst='192.0.2.7')]})
    before = policies(ns)
    res = run_module('xfrm', dict(bad, netns=ns), expect_failure=True)
    assert words in res['msg']
    assert KEY1[:30] not in json.dumps(res)
    assert policies(ns) == before


def test_missing_namespace_is_named(run_module):
    res = run_module('xfrm', {'netns': 'no-such-ns', 'policies': [out_policy()]}, expect_failure=True)
    assert "network namespace 'no-such-ns' does not exist" in res['msg']


# --- SAs -----------------------------------------------------------------------------------------

@pytest.mark.skipif(ESP_MISSING is None, reason='this kernel has ESP; the no-ESP failure cannot happen here')
def test_kernel_without_esp_fails_clearly_and_leaves_nothing(run_module, scratch_netns):
    ns = scratch_netns('xs')
    args = {'netns': ns, 'states': [sa(), sa(spi=0x2000, src='192.0.2.2', dst='192.0.2.1', key=KEY2)],
            'policies': [out_policy()]}
    res = run_module('xfrm', args, check=True)              # check mode only predicts
    assert res['changed'] and len(res['actions']) == 3
    res = run_module('xfrm', args, expect_failure=True)
    assert res['msg'].startswith('this kernel cannot hold IPsec SAs: %s' % ESP_MISSING)
    assert 'spi 0x00001000' in res['msg'] and 'nothing was changed' in res['msg']
    assert not res.get('changed')
    assert policies(ns) == [] and states(ns) == []           # no policy selecting into a missing SA
    text = json.dumps(res)
    assert KEY1 not in text and KEY2 not in text
    # an existing policy of ours stays exactly as it was
    run_module('xfrm', {'netns': ns, 'policies': [out_policy(spi=0x1000)]})
    before = policies(ns)
    res = run_module('xfrm', dict(args, policies=[out_policy(spi=0x2000)]), expect_failure=True)
    assert policies(ns) == before


@needs_esp
def test_states_add_rerun_rekey_exclusive_absent(run_module, scratch_netns):
    ns = scratch_netns('xs')
    args = {'netns': ns, 'states': [sa(), sa(spi=0x2000, src='192.0.2.2', dst='192.0.2.1', key=KEY2)],
            'policies': [out_policy()]}
    res = run_module('xfrm', args, check=True)
    assert res['changed'] and states(ns) == []
    res = run_module('xfrm', args)
    assert res['changed']
    text = json.dumps(res)
    assert KEY1 not in text and KEY2 not in text
    assert {s['spi'] for s in res['states']} == {0x1000, 0x2000}
    assert all(len(s['aead']['key_fingerprint']) == 8 for s in res['states'])
    out = sh('ip -n %s xfrm state list' % ns)
    assert 'spi 0x00001000 reqid 5000783 mode transport' in out and 'flag esn' in out
    assert 'replay_window 128' in out and 'sel src 192.0.2.1/32 dst 192.0.2.2/32 proto udp dport 4789' in out
    assert KEY1 in out                                            # the kernel holds the real key
    assert not run_module('xfrm', args)['changed']

    # a new key for an existing SPI: delete and add, visible as a new fingerprint
    args2 = dict(args, states=[sa(key=KEY2), args['states'][1]])
    res = run_module('xfrm', args2)
    assert res['changed'] and res['actions'][0].startswith('replace state')
    assert KEY2 in sh('ip -n %s xfrm state get src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000' % ns)

    # foreign SA (Docker's reqid) survives exclusive
    sh("ip -n %s xfrm state add src 192.0.2.1 dst 192.0.2.9 proto esp spi 0x77 reqid 0xd0c4e3 mode transport "
       "aead 'rfc4106(gcm(aes))' 0x%s 64" % (ns, KEY1))
    res = run_module('xfrm', {'netns': ns, 'states': [sa(key=KEY2)], 'policies': [out_policy()], 'exclusive': True})
    assert res['changed'] and len(states(ns)) == 2
    assert 'spi 0x00000077' in sh('ip -n %s xfrm state list' % ns)
    res = run_module('xfrm', {'netns': ns, 'exclusive': True, 'state': 'absent'})
    assert res['changed'] and len(states(ns)) == 1 and policies(ns) == []
