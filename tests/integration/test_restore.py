# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node rebuilt without the controller (inside tests/sandbox.sh): the sandbox, encryption_guard
and xfrm modules keep what they applied in ``plan_dir``; ``<plan_dir>/restore`` applies it again
after the kernel state and the processes are gone, as after a reboot. Asserted with ip/nft and the
files, not with the modules' output."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import sh
from _helpers_links import free_vni
# prefix and task_names are fixtures
from test_sandbox import (TASK_PATTERN, args, assert_sandbox, peers, plan_task, prefix,  # noqa: F401  pylint: disable=unused-import
                          sandbox, task_names)


def mode(path):
    return oct(os.stat(path).st_mode & 0o7777)


def restore(plan_dir, *argv):
    return subprocess.run([os.path.join(plan_dir, 'restore')] + list(argv), capture_output=True, text=True,
                          timeout=120, check=False)


def power_off(*netns):
    """What a reboot leaves of them: nothing (processes killed, namespaces and their links gone)."""
    for ns in netns:
        sh('ip netns pids %s 2>/dev/null | xargs -r kill -9; ip -n %s link del vxlan0 2>/dev/null; ip netns del %s'
           % (ns, ns, ns), check=False)


def test_the_sandbox_and_its_tasks_come_back_from_the_kept_plan(run_module, prefix, task_names, tmp_path):  # noqa: F811
    ns, vni = prefix + 'r', free_vni()
    t1, t2 = task_names
    plan_dir = str(tmp_path / 'node')
    want = args([sandbox(ns, vni, peers(3))], prefix=prefix, tasks=[plan_task(t1, ns, 1), plan_task(t2, ns, 2)],
                task_pattern=TASK_PATTERN, runtime_dir=str(tmp_path / 'rt'), etc_netns_dir=str(tmp_path / 'etc'),
                plan_dir=plan_dir)
    pred = run_module('sandbox', want, check=True)
    assert 'write %s/sandbox.json' % plan_dir in pred['actions'] and not os.path.exists(plan_dir)

    first = run_module('sandbox', want)
    assert 'write %s/sandbox.json' % plan_dir in first['actions']
    assert (mode(plan_dir), mode(plan_dir + '/sandbox.json'), mode(plan_dir + '/restore')) == ('0o700', '0o600', '0o700')
    kept = json.load(open(plan_dir + '/sandbox.json', encoding='utf-8'))
    assert [s['netns'] for s in kept['sandboxes']] == [ns] and [t['name'] for t in kept['tasks']] == task_names
    assert not run_module('sandbox', want)['changed']

    # "reboot": the kernel state and the processes are gone, the disk stays
    power_off(ns, t1, t2)
    assert ns not in sh('ip netns list')
    dry = restore(plan_dir, '--check')
    assert dry.returncode == 0 and 'sandbox: %s: create namespace %s' % (ns, ns) in dry.stdout, dry
    assert ns not in sh('ip netns list')
    done = restore(plan_dir)
    assert done.returncode == 0 and done.stdout.rstrip().splitlines()[-1].startswith('restored: '), done
    assert_sandbox(ns, vni, peers(3))
    for name in task_names:
        assert sh('ip netns pids %s' % name).split(), name      # the command runs again
    sh('ip netns exec %s ping -c 1 -W 2 10.0.0.12' % t1)        # and the tasks reach each other
    # what the restore built is what the run applied: the next run changes nothing
    again = run_module('sandbox', want)
    assert again['changed'] is False, again['actions']
    assert restore(plan_dir).stdout.strip() == 'restored: 0 changes (nothing to do)'

    # the plan edited by hand is drift: reported in check mode, written back by a run
    with open(plan_dir + '/sandbox.json', 'a', encoding='utf-8') as f:
        f.write(' ')
    drift = run_module('sandbox', want, check=True)
    assert drift['changed'] and drift['actions'] == ['write %s/sandbox.json' % plan_dir]
    assert run_module('sandbox', want)['changed'] and not run_module('sandbox', want)['changed']

    # a teardown (nothing left on the node) removes the plan directory
    gone = run_module('sandbox', dict(want, sandboxes=[], tasks=[]))
    assert 'remove the plan directory %s' % plan_dir in gone['actions'] and not os.path.exists(plan_dir)


def test_the_guard_and_the_policies_come_back_first(run_module, scratch_netns, tmp_path):
    node = scratch_netns('rg')
    plan_dir = str(tmp_path / 'node')
    run_module('encryption_guard', {'netns': node, 'vnis': [4100], 'plan_dir': plan_dir})
    pol = {'src': '192.0.2.1/32', 'dst': '192.0.2.2/32', 'proto': 'udp', 'dport': 4789, 'dir': 'out',
           'action': 'block'}
    run_module('xfrm', {'netns': node, 'policies': [pol], 'exclusive': True, 'plan_dir': plan_dir})
    assert sorted(os.listdir(plan_dir)) == ['guard.json', 'lib', 'restore', 'xfrm.json']
    table = sh('ip netns exec %s nft list table ip linuxnet-overlay' % node)
    policies = sh('ip -n %s xfrm policy' % node)
    sh('ip netns exec %s nft delete table ip linuxnet-overlay; ip -n %s xfrm policy flush' % (node, node))
    done = restore(plan_dir)
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    # fail closed: the guard before the SAs and policies (and both before any sandbox)
    assert lines[0].startswith('guard: ') and lines[1].startswith('xfrm: add policy'), lines
    assert sh('ip netns exec %s nft list table ip linuxnet-overlay' % node) == table
    assert sh('ip -n %s xfrm policy' % node) == policies

    # the guard removed (no encrypted network left): its kept plan goes, the others stay
    res = run_module('encryption_guard', {'netns': node, 'vnis': [], 'state': 'absent', 'plan_dir': plan_dir})
    assert res['actions'] == ['ip linuxnet-overlay: remove the table', 'remove the kept plan %s/guard.json' % plan_dir]
    assert sorted(os.listdir(plan_dir)) == ['lib', 'restore', 'xfrm.json']


def test_a_plan_that_cannot_be_read_stops_the_restore_with_its_name(run_module, scratch_netns, tmp_path):
    node = scratch_netns('rb')
    plan_dir = str(tmp_path / 'node')
    run_module('encryption_guard', {'netns': node, 'vnis': [4101], 'plan_dir': plan_dir})
    with open(plan_dir + '/guard.json', 'w', encoding='utf-8') as f:
        f.write('{"vnis": [')
    sh('ip netns exec %s nft delete table ip linuxnet-overlay' % node)
    res = restore(plan_dir)
    assert res.returncode == 1 and '%s/guard.json: not the JSON a run wrote' % plan_dir in res.stderr, res
    assert 'linuxnet-overlay' not in sh('ip netns exec %s nft list tables' % node)


def _restore_with_marker(plan_dir, marker, *argv):
    """The kept program's own code, with the boot marker somewhere a test may write."""
    with open(os.path.join(plan_dir, 'restore'), encoding='utf-8') as f:
        python = f.readline()[2:].strip()
    code = ('import sys; sys.path.insert(0, %r); from ansible_collections.linuxnet.overlay.plugins.module_utils.node '
            'import restore; sys.exit(restore.main(sys.argv[1:], %r, %r))' % (os.path.join(plan_dir, 'lib'), plan_dir, marker))
    return subprocess.run([python, '-c', code] + list(argv), capture_output=True, text=True, timeout=120, check=False)


def test_counters_without_sas_and_the_boot_marker(run_module, scratch_netns, tmp_path):
    node = scratch_netns('rc')
    plan_dir = str(tmp_path / 'node')
    pol = {'src': '192.0.2.1/32', 'dst': '192.0.2.2/32', 'proto': 'udp', 'dport': 4789, 'dir': 'out',
           'action': 'block'}
    run_module('xfrm', {'netns': node, 'policies': [pol], 'exclusive': True, 'plan_dir': plan_dir})
    counters = plan_dir + '/counters.json'

    # the unit's stop on a node without SAs (this kernel has no ESP): nothing to keep, no file
    saved = restore(plan_dir, '--save-counters')
    assert saved.returncode == 0 and saved.stdout == 'kept the sequence numbers of 0 SAs in %s\n' % counters, saved
    assert not os.path.exists(counters)

    # counters kept for an SA that is not there: nothing set, and the file is used once
    with open(counters, 'w', encoding='utf-8') as f:
        json.dump([{'src': '192.0.2.1', 'dst': '192.0.2.2', 'spi': 0x1000abcd, 'oseq': 77, 'seq': 0}], f)
    dry = restore(plan_dir, '--check')
    assert dry.returncode == 0 and 'sequence numbers' not in dry.stdout and os.path.exists(counters), dry
    done = restore(plan_dir)
    assert done.returncode == 0 and 'sequence numbers' not in done.stdout, done
    assert not os.path.exists(counters) and sorted(os.listdir(plan_dir)) == ['lib', 'restore', 'xfrm.json']

    # --boot: after a run in this boot (the marker) it rebuilds nothing, after a reboot (none) all
    policies = sh('ip -n %s xfrm policy' % node)
    sh('ip -n %s xfrm policy flush' % node)
    marker = str(tmp_path / 'run' / 'applied')
    os.makedirs(os.path.dirname(marker))
    with open(marker, 'w', encoding='utf-8') as f:
        f.write('x\n')
    boot = _restore_with_marker(plan_dir, marker, '--boot')
    assert boot.returncode == 0 and boot.stdout == 'a run applied the plan in this boot (%s): nothing to restore\n' % marker, boot
    assert sh('ip -n %s xfrm policy' % node) == ''
    os.unlink(marker)
    boot = _restore_with_marker(plan_dir, marker, '--boot')
    assert boot.returncode == 0 and 'xfrm: add policy' in boot.stdout, boot
    assert sh('ip -n %s xfrm policy' % node) == policies
