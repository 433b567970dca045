# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrency (issue 6, part 4): two ``site.yml`` runs started at once on the same lab.

The first run takes the run lease on the first manager (``swarm role=lock``), the second waits
for it and then finds the cluster converged; a run that cannot get the lease in time fails with a
message naming the holder and changes nothing. Afterwards the cluster state is one valid cluster
whose allocations match the kernel. One seed lab for the module, fresh at the start."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import assert_nothing_stray, assert_peers_exact, task_addresses

LEASE = '/var/lib/linuxnet-overlay/run.lock'


@pytest.fixture(scope='module')
def lab(make_lab):
    return make_lab('seed')


def _allocations(state):
    """{ip: task or service id} of every address the cluster state hands out."""
    out = {}
    for net in state['networks'].values():
        for sub in net['subnets']:
            for ip, owner in (sub.get('allocated') or {}).items():
                assert ip not in out, 'address %s allocated twice in the state' % ip
                out[ip] = owner
    return out


def test_two_runs_at_once_on_a_fresh_lab(lab):
    runs = [lab.start_play(), lab.start_play()]
    plays = [r.wait() for r in runs]
    for p in plays:
        # both finish: the second one waited for the first one's lease, then found nothing to do
        p.assert_ok()
        (matrix,) = p.debug_msgs('Print the matrix')
        assert ', 0 failed' in matrix
    changed = sorted(sum(p.changed.values()) for p in plays)
    assert changed[0] == 0 and changed[1] > 0, 'the runs interleaved: %s' % [p.changed for p in plays]
    # one cluster, a valid state, allocations that match the kernel, nothing twice
    text = lab.sh('node1', 'cat /var/lib/linuxnet-overlay/cluster.json')
    state = json.loads(text)
    assert len(state['cluster']['id']) == 25
    assert sorted(state['nodes']) == ['node1', 'node2']
    snaps = lab.snapshots()
    kernel = task_addresses(snaps)                 # fails on an address held twice
    # the state hands out the VIP of test (10.0.0.2, owned by the service) and the two task addresses
    held = _allocations(state)
    assert held.pop('10.0.0.2') == state['services']['test']['id']
    assert sorted(held) == sorted(kernel) == ['10.0.0.3', '10.0.0.4']
    assert_nothing_stray(snaps)
    assert_peers_exact(lab, snaps)
    # the lease was released by the run that held it last
    assert lab.sh('node1', 'cat %s 2>/dev/null; true' % LEASE).strip() == ''
    assert not [f for f in snaps['node1']['state_files'] if f.endswith('.tmp')]


def test_a_run_that_cannot_get_the_lease_fails_clearly_and_changes_nothing(lab):
    # another controller's live run holds the cluster (a lease for the next hour)
    now = time.time()
    lease = {'run_id': 'ci-runner-7-1234', 'owner': {'host': 'ci-runner-7', 'pid': 1234, 'boot': 'x', 'pidns': 'y'},
             'since': now, 'expires': now + 3600}
    lab.sh('node1', "printf '%%s' '%s' > %s" % (json.dumps(lease), LEASE))
    # and a hand change the run would repair if it ran
    (task,) = lab.snapshot('node2').tasks
    lab.sh('node2', 'kill $(cat /run/linuxnet-overlay/tasks/%s/pid)' % task)
    t0 = time.monotonic()
    play = lab.play(extra_vars={'swarm_lock_timeout': 4})
    took = time.monotonic() - t0
    assert play.rc != 0
    assert 'another run holds the cluster: run ci-runner-7-1234 (pid 1234 on controller ci-runner-7) since ' \
        in play.out and 'gave up after waiting 4 s (lock_timeout)' in play.out, play.tail()
    assert took < 60, took
    assert sum(play.changed.values()) == 0, play.changed
    assert lab.snapshot('node2').processes_in(task) == []          # nothing was repaired
    # the holder's lease is untouched; once it is gone, the next run goes ahead and repairs
    assert json.loads(lab.sh('node1', 'cat %s' % LEASE))['run_id'] == 'ci-runner-7-1234'
    lab.sh('node1', 'rm %s' % LEASE)
    play = lab.play().assert_ok()
    assert play.changed['node2'] > 0
    assert [p['argv'] for p in lab.snapshot('node2').processes_in(task)] == [['sleep', 'infinity']]


def test_a_check_run_waits_for_the_lease_too_and_writes_none(lab):
    now = time.time()
    lease = {'run_id': 'ci-runner-8-1', 'owner': {'host': 'ci-runner-8', 'pid': 1}, 'since': now, 'expires': now + 2}
    lab.sh('node1', "printf '%%s' '%s' > %s" % (json.dumps(lease), LEASE))
    play = lab.play(check=True, diff=True)
    # the lease expired while the check waited: it went ahead, found no drift, took no lease
    play.assert_unchanged()
    assert json.loads(lab.sh('node1', 'cat %s' % LEASE))['run_id'] == 'ci-runner-8-1'
    lab.sh('node1', 'rm %s' % LEASE)


PLAYS = '''
- name: Swarm
  hosts: swarm_managers:swarm_workers
  gather_facts: false
  roles: [linuxnet.overlay.swarm]
- name: Networks and tasks
  hosts: swarm_managers:swarm_workers
  gather_facts: false
  roles: [{role: linuxnet.overlay.network, network_converge_tasks: true}]
'''
UNLOCK = '''
- name: Release the run lease
  hosts: swarm_managers:swarm_workers
  gather_facts: false
  tasks:
    - name: Release the run lease (the next run may start)
      ansible.builtin.include_role:
        name: linuxnet.overlay.swarm
        tasks_from: unlock
      run_once: true
'''


def test_a_playbook_without_the_verify_role_releases_the_lease_with_unlock(lab):
    # a playbook of the user's own: without the verify role the lease stays held after the run
    # (another controller would wait for it), with the swarm role's unlock.yml at its end it does not
    without = os.path.join(lab.path, 'no-verify.yml')
    with open(without, 'w', encoding='utf-8') as f:
        f.write('---' + PLAYS)
    lab.play(playbook=without).assert_ok()
    held = json.loads(lab.sh('node1', 'cat %s' % LEASE))
    assert held['expires'] - time.time() > 3000
    with_unlock = os.path.join(lab.path, 'no-verify-unlock.yml')
    with open(with_unlock, 'w', encoding='utf-8') as f:
        f.write('---' + PLAYS + UNLOCK)
    play = lab.play(playbook=with_unlock).assert_ok()
    # this run took over its dead predecessor's lease (same controller), then released it
    assert 'took over the run lease of run %s (its process is gone)' % held['run_id'] in play.err, play.tail()
    assert lab.sh('node1', 'cat %s 2>/dev/null; true' % LEASE).strip() == ''
