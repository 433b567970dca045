# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/cluster/state.py (membership, versions, replication choice) and
plugins/module_utils/cluster/statefile.py (0700/0600, atomic replace, the cluster lock). No root needed."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import stat
import sys
import time

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ids as _ids  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import statefile as _statefile  # noqa: E402

N1 = {'hostname': 'node1', 'role': 'manager', 'addr': '172.31.1.5'}
N2 = {'hostname': 'node2', 'role': 'worker', 'addr': '192.168.1.5', 'labels': {'zone': 'a'}}


def fresh(seed=1):
    return _state.new_state(random.Random(seed))


# ---- state --------------------------------------------------------------------------------

def test_new_state_shape():
    st = fresh()
    assert st['format'] == 1 and st['version'] == 1 and st['keyring'] is None
    assert _ids.ID_RE.match(st['cluster']['id'])
    assert st['cluster']['data_path_port'] == 4789
    assert st['cluster']['default_addr_pool'] == ['10.0.0.0/8'] and st['cluster']['mask_length'] == 24
    assert st['nodes'] == st['networks'] == st['services'] == {}
    assert _state.check_state(st) is st
    st2 = _state.new_state(random.Random(1), 4790, ['172.20.0.0/16'], 26)
    assert st2['cluster']['data_path_port'] == 4790 and st2['cluster']['mask_length'] == 26


def test_new_states_differ():
    assert fresh(1)['cluster']['id'] != fresh(2)['cluster']['id']
    a, b = _state.new_state(), _state.new_state()
    assert a['secrets'] != b['secrets']


@pytest.mark.parametrize('bad', [None, [], {'format': 2}, {'format': 1}, dict(fresh(), version='3')])
def test_check_state_refuses(bad):
    with pytest.raises(_state.StateError):
        _state.check_state(bad)


def test_join_records_node_and_bumps_version():
    st = fresh()
    tokens = _state.tokens(st)
    st2 = _state.join(st, N2, tokens['worker'])
    assert st2 is not st and st['nodes'] == {}
    assert st2['version'] == 2
    n = st2['nodes']['node2']
    assert _ids.ID_RE.match(n['id']) and n['role'] == 'worker' and n['labels'] == {'zone': 'a'}
    assert n['state'] == 'ready' and n['addr'] == '192.168.1.5'
    # joining again with the same facts changes nothing and keeps the id
    st3 = _state.join(st2, N2, tokens['worker'])
    assert st3 == st2
    # new facts update the record, same id
    st4 = _state.join(st3, dict(N2, labels={'zone': 'b'}), tokens['worker'])
    assert st4['nodes']['node2']['id'] == n['id'] and st4['nodes']['node2']['labels'] == {'zone': 'b'}
    assert st4['version'] == 3


def test_join_refuses_wrong_token_without_echo():
    st = fresh()
    tokens = _state.tokens(st)
    with pytest.raises(_ids.TokenError) as exc:
        _state.join(st, dict(N2, role='manager'), tokens['worker'])
    assert 'node node2 cannot join' in str(exc.value) and tokens['worker'] not in str(exc.value)


def test_record_node_refuses_bad_facts():
    st = fresh()
    for facts, needle in (({'hostname': 'x'}, 'no data-path address'), ({'hostname': 'x', 'addr': 'bad'}, 'not a valid'),
                          ({'hostname': '', 'addr': '1.2.3.4'}, 'hostname'), ({'hostname': 'x', 'addr': '1.2.3.4',
                                                                               'role': 'boss'}, 'manager or worker'),
                          ({'hostname': 'x', 'addr': '1.2.3.4', 'color': 'red'}, 'unknown node fact'),
                          ({'hostname': 'x', 'addr': '1.2.3.4', 'labels': ['a']}, 'labels must be a dict'), ('x', 'dict')):
        with pytest.raises(_state.StateError) as exc:
            _state.record_node(st, facts)
        assert needle in str(exc.value)


def test_record_node_refuses_duplicate_address():
    st = _state.record_node(fresh(), N1)
    with pytest.raises(_state.StateError) as exc:
        _state.record_node(st, dict(N2, addr=N1['addr']))
    assert 'already used by node node1' in str(exc.value)


def test_leave():
    st = _state.record_node(fresh(), N1)
    st2 = _state.leave(st, 'node1')
    assert st2['nodes'] == {} and st2['version'] == st['version'] + 1
    assert _state.leave(st2, 'node1') == st2  # idempotent


def test_bump():
    a = fresh()
    b = dict(a)
    assert _state.bump(a, b) is False and b['version'] == a['version']
    c = dict(a, keyring='x')
    assert _state.bump(a, c) is True and c['version'] == a['version'] + 1
    d = dict(a)
    assert _state.bump(None, d) is True and d['version'] == 1


def test_choose_import():
    local = _state.record_node(fresh(), N1)
    newer = _state.record_node(local, N2)
    got, changed = _state.choose_import(local, newer)
    assert changed and got == newer and got is not newer
    got, changed = _state.choose_import(newer, local)  # older copy: keep the local one
    assert not changed and got is newer
    got, changed = _state.choose_import(None, local)
    assert changed and got == local
    assert _state.choose_import(local, json.loads(_state.dumps(local))) == (local, False)


def test_choose_import_refuses_other_cluster_and_split_brain():
    local = _state.record_node(fresh(1), N1)
    with pytest.raises(_state.StateError) as exc:
        _state.choose_import(local, _state.record_node(fresh(2), N1))
    assert 'belongs to cluster' in str(exc.value)
    a = _state.record_node(local, N2)
    b = _state.record_node(local, dict(N2, hostname='node3', addr='10.9.9.9'))
    assert a['version'] == b['version']
    with pytest.raises(_state.StateError) as exc:
        _state.choose_import(a, b)
    assert 'state conflict' in str(exc.value)
    with pytest.raises(_state.StateError):
        _state.choose_import(a, {'format': 1})


# ---- state file ---------------------------------------------------------------------------

def test_ensure_dir_creates_0700_and_tightens(tmp_path):
    d = str(tmp_path / 'st')
    old = os.umask(0o022)
    try:
        assert _statefile.ensure_dir(d) == ['created %s (mode 0700)' % d]
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert _statefile.ensure_dir(d) == []
    os.chmod(d, 0o755)
    assert _statefile.ensure_dir(d) == ['mode of %s changed from 0755 to 0700' % d]
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700


def test_ensure_dir_refuses_a_file(tmp_path):
    f = tmp_path / 'f'
    f.write_text('x')
    with pytest.raises(_statefile.StateFileError):
        _statefile.ensure_dir(str(f))


def test_write_read_round_trip_mode_and_atomicity(tmp_path):
    d = str(tmp_path)
    assert _statefile.read_state(d) is None
    st = _state.record_node(fresh(), N1)
    old = os.umask(0o000)
    try:
        _statefile.write_state(d, st)
    finally:
        os.umask(old)
    assert _statefile.read_state(d) == st
    assert stat.S_IMODE(os.stat(_statefile.state_path(d)).st_mode) == 0o600
    ino = os.stat(_statefile.state_path(d)).st_ino
    _statefile.write_state(d, _state.record_node(st, N2))
    assert os.stat(_statefile.state_path(d)).st_ino != ino  # replaced by rename, never rewritten in place
    assert sorted(os.listdir(d)) == ['cluster.json']  # no temporary file left behind


def test_write_failure_leaves_old_state(tmp_path, monkeypatch):
    d = str(tmp_path)
    st = fresh()
    _statefile.write_state(d, st)

    def boom(*a, **k):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(_statefile.os, 'replace', boom)
    with pytest.raises(OSError):
        _statefile.write_state(d, _state.record_node(st, N1))
    assert _statefile.read_state(d) == st
    assert sorted(os.listdir(d)) == ['cluster.json']


def test_read_state_refuses_garbage(tmp_path):
    (tmp_path / 'cluster.json').write_text('{not json')
    with pytest.raises(_statefile.StateFileError) as exc:
        _statefile.read_state(str(tmp_path))
    assert 'not valid JSON' in str(exc.value)
    (tmp_path / 'cluster.json').write_text('{"format": 7}')
    with pytest.raises(_statefile.StateFileError) as exc:
        _statefile.read_state(str(tmp_path))
    assert 'format 7' in str(exc.value)


def _hold_lock(d, ready, release):
    with _statefile.cluster_lock(d, timeout=5, purpose='holder test'):
        ready.set()
        release.wait(20)


def test_lock_contention_names_the_holder(tmp_path):
    d = str(tmp_path)
    ctx = multiprocessing.get_context('fork')
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(d, ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        t0 = time.monotonic()
        with pytest.raises(_statefile.LockTimeout) as exc:
            with _statefile.cluster_lock(d, timeout=0.5):
                pass
        waited = time.monotonic() - t0
        msg = str(exc.value)
        assert msg.startswith('another run holds the cluster lock since ')
        assert 'pid %d' % proc.pid in msg and 'holder test' in msg and 'gave up after 0.5 s' in msg
        assert 0.4 <= waited < 3
        # a shared (check mode) lock waits for the writer too
        with pytest.raises(_statefile.LockTimeout):
            with _statefile.cluster_lock(d, timeout=0.2, exclusive=False):
                pass
    finally:
        release.set()
        proc.join(10)
    # released: the lock is free again and its holder record is cleared
    with _statefile.cluster_lock(d, timeout=1):
        pass
    assert os.path.getsize(os.path.join(d, 'cluster.lock')) == 0
    assert stat.S_IMODE(os.stat(os.path.join(d, 'cluster.lock')).st_mode) == 0o600


def test_lock_waits_for_a_short_holder(tmp_path):
    d = str(tmp_path)
    ctx = multiprocessing.get_context('fork')
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(d, ready, release))
    proc.start()
    assert ready.wait(10)
    ctx.Process(target=lambda: (time.sleep(0.3), release.set())).start()
    with _statefile.cluster_lock(d, timeout=10):
        pass
    proc.join(10)


def test_shared_lock_creates_nothing(tmp_path):
    d = str(tmp_path)
    with _statefile.cluster_lock(d, exclusive=False):
        pass
    assert os.listdir(d) == []


def test_lock_released_on_exception(tmp_path):
    d = str(tmp_path)
    with pytest.raises(RuntimeError):
        with _statefile.cluster_lock(d, timeout=1):
            raise RuntimeError('x')
    with _statefile.cluster_lock(d, timeout=0):
        pass


def test_ensure_dir_tolerates_a_concurrent_creation(tmp_path, monkeypatch):
    """Two runs at once: the folder appears between lstat and makedirs (seen with strategy free)."""
    target = str(tmp_path / 'state')
    real_makedirs = os.makedirs

    def racing_makedirs(path, mode=0o777, exist_ok=False):
        real_makedirs(path, mode=0o700)          # the other run wins the race
        real_makedirs(path, mode=mode, exist_ok=exist_ok)

    monkeypatch.setattr(_statefile.os, 'makedirs', racing_makedirs)
    assert _statefile.ensure_dir(target) == []
    assert os.path.isdir(target)


# --------------------------------------------------------------------------------------------
# the run lease (one site.yml run at a time)

class _Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def test_lease_taken_kept_and_released(tmp_path):
    d = str(tmp_path)
    clock = _Clock()
    lease, waited, replaced = _statefile.take_lease(d, 'run-a', {'pid': 1}, 60, 5, clock=clock, sleep=clock.sleep)
    assert (lease['run_id'], lease['expires'], waited, replaced) == ('run-a', 1060.0, 0, None)
    assert stat.S_IMODE(os.stat(os.path.join(d, 'run.lock')).st_mode) == 0o600
    clock.t += 10                                 # the same run takes it again: renewed, same since
    lease, _w, replaced = _statefile.take_lease(d, 'run-a', {'pid': 1}, 60, 5, clock=clock, sleep=clock.sleep)
    assert (lease['since'], lease['expires'], replaced) == (1000.0, 1070.0, None)
    assert _statefile.release_lease(d, 'run-b') is False           # not its lease
    assert _statefile.read_lease(d)['run_id'] == 'run-a'
    assert _statefile.release_lease(d, 'run-a') is True
    assert _statefile.read_lease(d) is None and os.listdir(d) == ['cluster.lock']


def test_lease_held_by_another_run_waits_then_names_it(tmp_path):
    d = str(tmp_path)
    clock = _Clock()
    _statefile.take_lease(d, 'run-a', {'pid': 42, 'host': 'ci-1'}, 600, 5, clock=clock, sleep=clock.sleep)
    with pytest.raises(_statefile.LeaseHeld) as exc:
        _statefile.take_lease(d, 'run-b', {}, 600, 3, clock=clock, sleep=clock.sleep)
    msg = str(exc.value)
    assert msg.startswith('another run holds the cluster: run run-a (pid 42 on controller ci-1) since ')
    assert 'gave up after waiting 3 s (lock_timeout)' in msg and exc.value.lease['run_id'] == 'run-a'
    assert clock.t >= 1003.0                                         # it waited
    assert _statefile.read_lease(d)['run_id'] == 'run-a'             # and changed nothing


def test_lease_freed_by_release_expiry_or_stale(tmp_path):
    d = str(tmp_path)
    clock = _Clock()
    _statefile.take_lease(d, 'run-a', {}, 60, 5, clock=clock, sleep=clock.sleep)
    # a dead holder named by the controller is replaced at once
    lease, waited, replaced = _statefile.take_lease(d, 'run-b', {}, 60, 5, stale=['run-a'], clock=clock,
                                                    sleep=clock.sleep)
    assert (lease['run_id'], waited, replaced['run_id']) == ('run-b', 0, 'run-a')
    # an expired one too, after the wait it takes
    clock2 = _Clock(1050.0)
    lease, waited, replaced = _statefile.take_lease(d, 'run-c', {}, 60, 30, clock=clock2, sleep=clock2.sleep)
    assert lease['run_id'] == 'run-c' and replaced['run_id'] == 'run-b' and 10 <= waited <= 11


def test_lease_check_mode_waits_but_writes_nothing(tmp_path):
    d = str(tmp_path)
    clock = _Clock()
    lease, _w, _r = _statefile.take_lease(d, 'run-a', {}, 60, 5, write=False, clock=clock, sleep=clock.sleep)
    assert lease['run_id'] == 'run-a' and os.listdir(d) == []
    _statefile.take_lease(d, 'run-a', {}, 60, 5, clock=clock, sleep=clock.sleep)
    with pytest.raises(_statefile.LeaseHeld):
        _statefile.take_lease(d, 'run-b', {}, 60, 1, write=False, clock=clock, sleep=clock.sleep)


@pytest.mark.parametrize('text', ['', 'garbage', '[]', '{"run_id": ""}'])
def test_unreadable_lease_is_no_lease(tmp_path, text):
    (tmp_path / 'run.lock').write_text(text)
    assert _statefile.read_lease(str(tmp_path)) is None
