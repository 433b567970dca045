# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The swarm module's run lease (role=lock / role=unlock) and export with missing_ok, run as
Ansible runs them (module + action plugin), with state_dir under a temporary path. Assertions
read the lease file itself."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

import pytest


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / 'linuxnet-overlay')


def lease(d):
    with open(os.path.join(d, 'run.lock'), encoding='utf-8') as f:
        return json.load(f)


def write_lease(d, data):
    os.makedirs(d, mode=0o700, exist_ok=True)
    with open(os.path.join(d, 'run.lock'), 'w', encoding='utf-8') as f:
        json.dump(data, f)


def test_lock_records_this_controller_run_and_unlock_releases(run_module, state_dir):
    res = run_module('swarm', {'role': 'lock', 'state_dir': state_dir})
    assert res['changed'] is False and res['waited'] < 5
    held = lease(state_dir)
    assert held['run_id'] == res['run_id']
    owner = held['owner']
    assert owner['host'] == socket.gethostname() and owner['pid'] > 1
    assert stat.S_IMODE(os.stat(os.path.join(state_dir, 'run.lock')).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert held['expires'] - held['since'] == pytest.approx(3600, abs=1)
    # that ansible process is gone: the next run (another process) takes the lease over at once
    res2 = run_module('swarm', {'role': 'lock', 'state_dir': state_dir, 'lock_timeout': 30})
    assert res2['run_id'] != res['run_id'] and res2['waited'] < 3
    assert res2['replaced']['run_id'] == res['run_id']
    assert any('took over the run lease of run %s (its process is gone)' % res['run_id'] in w
               for w in res2.get('warnings', [])), res2
    # unlock is by run: another run's unlock leaves it alone (each ansible process is another run)
    res3 = run_module('swarm', {'role': 'unlock', 'state_dir': state_dir})
    assert res3['released'] is False and lease(state_dir)['run_id'] == res2['run_id']


def test_lock_waits_for_a_live_holder_then_fails_naming_it(run_module, state_dir):
    now = time.time()
    # a live run on another controller (its process cannot be checked from here)
    write_lease(state_dir, {'run_id': 'ci-9-42', 'owner': {'host': 'ci-9', 'pid': 42}, 'since': now,
                            'expires': now + 600})
    t0 = time.monotonic()
    res = run_module('swarm', {'role': 'lock', 'state_dir': state_dir, 'lock_timeout': 2}, expect_failure=True)
    assert time.monotonic() - t0 >= 2
    assert res['msg'].startswith('another run holds the cluster: run ci-9-42 (pid 42 on controller ci-9) since ')
    assert res['msg'].endswith('gave up after waiting 2 s (lock_timeout)'), res['msg']
    assert res['holder']['run_id'] == 'ci-9-42'
    assert lease(state_dir)['run_id'] == 'ci-9-42'                      # untouched


def test_lock_takes_an_expired_lease(run_module, state_dir):
    now = time.time()
    write_lease(state_dir, {'run_id': 'ci-9-43', 'owner': {'host': 'ci-9', 'pid': 43}, 'since': now - 90,
                            'expires': now + 1})
    res = run_module('swarm', {'role': 'lock', 'state_dir': state_dir, 'lock_timeout': 30})
    assert res['replaced']['run_id'] == 'ci-9-43' and res['waited'] < 10
    assert any('(expired)' in w for w in res.get('warnings', []))
    assert lease(state_dir)['run_id'] == res['run_id']


def test_lock_in_check_mode_writes_nothing(run_module, state_dir):
    res = run_module('swarm', {'role': 'lock', 'state_dir': state_dir}, check=True)
    assert res['changed'] is False and not os.path.exists(state_dir)
    os.makedirs(state_dir, mode=0o700)
    run_module('swarm', {'role': 'lock', 'state_dir': state_dir}, check=True)
    assert os.listdir(state_dir) == []


def test_export_missing_ok(run_module, state_dir):
    res = run_module('swarm', {'role': 'export', 'state_dir': state_dir, 'missing_ok': True})
    assert res['cluster_state'] is None and res['cluster_id'] is None and res['version'] == 0
    res = run_module('swarm', {'role': 'export', 'state_dir': state_dir}, expect_failure=True)
    assert 'no cluster state in %s' % state_dir in res['msg']
