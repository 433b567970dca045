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


def test_lock_waits_while_another_module_run_holds_the_flock(run_module, state_dir):
    # a second run taking the lease (or any module run's read-modify-write) holds the cluster's
    # flock for a moment: the lock waits for it instead of failing on the first look (CI saw that)
    os.makedirs(state_dir, mode=0o700)
    code = ('import fcntl, os, sys, time\n'
            'fd = os.open(os.path.join(sys.argv[1], "cluster.lock"), os.O_RDWR | os.O_CREAT, 0o600)\n'
            'fcntl.flock(fd, fcntl.LOCK_EX)\n'
            'print("held", flush=True)\n'
            'time.sleep(3)\n')
    holder = subprocess.Popen([sys.executable, '-c', code, state_dir], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        t0 = time.monotonic()
        res = run_module('swarm', {'role': 'lock', 'state_dir': state_dir, 'lock_timeout': 60})
        assert time.monotonic() - t0 >= 2
    finally:
        holder.kill()
        holder.wait()
    assert not res.get('failed') and lease(state_dir)['run_id'] == res['run_id']
    # and a flock that stays held past lock_timeout fails clearly, saying who holds it
    holder = subprocess.Popen([sys.executable, '-c', code.replace('sleep(3)', 'sleep(60)'), state_dir],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        res = run_module('swarm', {'role': 'lock', 'state_dir': state_dir, 'lock_timeout': 2}, expect_failure=True)
    finally:
        holder.kill()
        holder.wait()
    assert res['busy'] is True and res['msg'].endswith('gave up after waiting 2 s (lock_timeout)'), res['msg']


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


# ---- bulk join and leave (members): one run under one lock, each token checked on its own ----

import hashlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402

from conftest import PYTHON, ROOT  # noqa: E402

NODE1 = {'hostname': 'node1', 'role': 'manager', 'addr': '172.31.1.5'}


def cluster_file(d):
    with open(os.path.join(d, 'cluster.json'), encoding='utf-8') as f:
        return json.load(f)


def files(d, lock_mtime=True):
    """Bytes, inode, mode and mtime of every file in the state directory (proves nothing was written)."""
    if not os.path.isdir(d):
        return None
    out = {}
    for name in sorted(os.listdir(d)):
        st = os.stat(os.path.join(d, name))
        with open(os.path.join(d, name), 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        out[name] = (digest, st.st_ino, stat.S_IMODE(st.st_mode),
                     st.st_mtime_ns if lock_mtime or name != 'cluster.lock' else None)
    return out


def cluster(run_module, d):
    """An initialised cluster and its tokens (read from the file: the init result is censored)."""
    run_module('swarm', {'role': 'init', 'state_dir': d, 'node': NODE1})
    return _state.tokens(cluster_file(d))


def members(tokens, **override):
    out = [{'hostname': 'node2', 'role': 'worker', 'addr': '192.168.1.5', 'join_token': tokens['worker']},
           {'hostname': 'node3', 'role': 'manager', 'addr': '192.168.1.6', 'join_token': tokens['manager']},
           {'hostname': 'node4', 'addr': '192.168.2.7', 'labels': {'zone': 'b'}, 'join_token': tokens['worker']}]
    for m in out:
        m.update(override.get(m['hostname'], {}))
    return out


def test_bulk_join_changed_then_unchanged(run_module, state_dir):
    tokens = cluster(run_module, state_dir)
    v0 = cluster_file(state_dir)['version']
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'members': members(tokens)})
    assert res['changed'] is True and res['refused'] == []
    assert '_ansible_no_log' not in res or not res['_ansible_no_log']         # no secret in it: printed
    st = cluster_file(state_dir)
    assert st['version'] == v0 + 1                                         # one step for the whole run
    assert {h: (n['role'], n['addr'], n['labels'], n['state']) for h, n in st['nodes'].items()} == {
        'node1': ('manager', '172.31.1.5', {}, 'ready'), 'node2': ('worker', '192.168.1.5', {}, 'ready'),
        'node3': ('manager', '192.168.1.6', {}, 'ready'), 'node4': ('worker', '192.168.2.7', {'zone': 'b'}, 'ready')}
    assert {h: r['status'] for h, r in res['members'].items()} == {'node2': 'joined', 'node3': 'joined',
                                                                   'node4': 'joined'}
    assert res['members']['node3']['node']['id'] == st['nodes']['node3']['id']
    assert '+node node4 id=%s role=worker addr=192.168.2.7 state=ready labels=zone=b' % st['nodes']['node4']['id'] \
        in res['diff']['after'].replace('\n', '\n+').replace('cluster', '+cluster', 1)
    for m in res['invocation']['module_args']['members']:
        assert m['join_token'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert not any(t in json.dumps(res) for t in tokens.values())
    before = files(state_dir, lock_mtime=False)
    res2 = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'members': members(tokens)})
    assert res2['changed'] is False and {r['status'] for r in res2['members'].values()} == {'unchanged'}
    assert files(state_dir, lock_mtime=False) == before
    # one member's facts change: only that one is updated (its id kept)
    res3 = run_module('swarm', {'role': 'join', 'state_dir': state_dir,
                                'members': members(tokens, node2={'labels': {'disk': 'ssd'}})})
    assert res3['changed'] is True
    assert {h: r['status'] for h, r in res3['members'].items()} == {'node2': 'updated', 'node3': 'unchanged',
                                                                    'node4': 'unchanged'}
    st3 = cluster_file(state_dir)
    assert st3['nodes']['node2']['labels'] == {'disk': 'ssd'} and st3['nodes']['node2']['id'] == \
        st['nodes']['node2']['id'] and st3['version'] == st['version'] + 1


def test_bulk_join_check_mode_touches_nothing(run_module, state_dir):
    # a fresh cluster (no state at all): predicted, tokens cannot be checked, nothing created
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir,
                               'members': [{'hostname': 'node2', 'addr': '192.168.1.5'}]}, check=True)
    assert res['changed'] is True and res['members']['node2']['status'] == 'joined'
    assert any('cannot be checked' in w for w in res['warnings'])
    assert not os.path.exists(state_dir)
    tokens = cluster(run_module, state_dir)
    before = files(state_dir)
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'members': members(tokens)}, check=True)
    assert res['changed'] is True and {r['status'] for r in res['members'].values()} == {'joined'}
    assert files(state_dir) == before and sorted(cluster_file(state_dir)['nodes']) == ['node1']
    # the tokens are checked in check mode too
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir,
                               'members': members(tokens, node3={'join_token': tokens['worker']})}, check=True)
    assert res['refused'] == ['node3'] and files(state_dir) == before


def test_bulk_join_refuses_a_wrong_token_for_that_member_only(run_module, state_dir, tmp_path):
    tokens = cluster(run_module, state_dir)
    other = cluster(run_module, str(tmp_path / 'other'))                  # another cluster's token
    bad = other['worker']
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir,
                               'members': members(tokens, node4={'join_token': bad})})
    assert not res.get('failed') and res['changed'] is True and res['refused'] == ['node4']
    msg = res['members']['node4']['msg']
    assert msg == 'node node4 cannot join: the join token does not belong to this cluster (the token itself is not shown)'
    assert res['members']['node2']['status'] == 'joined' and res['members']['node3']['status'] == 'joined'
    text = json.dumps(res)
    assert bad not in text and bad[-25:] not in text and bad.split('-')[2] not in text
    assert sorted(cluster_file(state_dir)['nodes']) == ['node1', 'node2', 'node3']
    # the refused member stays refused on the next run; the others are unchanged
    res2 = run_module('swarm', {'role': 'join', 'state_dir': state_dir,
                                'members': members(tokens, node4={'join_token': bad})})
    assert res2['changed'] is False and res2['refused'] == ['node4']


def test_bulk_join_token_never_in_the_output(state_dir, tmp_path):
    """A playbook at -vvv with a refused member: no presented token anywhere in what it prints."""
    work = tmp_path / 'pb'
    work.mkdir()
    secrets_file = work / 'secrets.json'
    playbook = work / 'pb.yml'
    playbook.write_text(json.dumps([{'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': 'init', 'linuxnet.overlay.swarm': {'role': 'init', 'state_dir': state_dir, 'node': NODE1},
         'register': 'init'},
        {'name': 'bulk join', 'register': 'joined', 'linuxnet.overlay.swarm': {
            'role': 'join', 'state_dir': state_dir, 'members': [
                {'hostname': 'node2', 'addr': '192.168.1.5', 'join_token': '{{ init.tokens.worker }}'},
                {'hostname': 'node3', 'addr': '192.168.1.6', 'join_token': '{{ wrong }}'},
                {'hostname': 'node4', 'role': 'manager', 'addr': '192.168.1.7',
                 'join_token': '{{ init.tokens.worker }}'}]}},
        {'name': 'show it', 'ansible.builtin.debug': {'var': 'joined'}},
        {'name': 'keep the tokens for the test', 'no_log': True,
         'ansible.builtin.copy': {'content': '{{ init.tokens | to_json }}', 'dest': str(secrets_file),
                                  'mode': '0600'}}]}]))
    wrong = 'SWMTKN-1-wrong' + '0123456789abcdefghijklmnopqrstuvwxyz012345678' + '-' + 'zyxwvutsrqponmlkjihgfedcb'
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build'), ANSIBLE_LOCAL_TEMP=str(work / 'tmp'))
    (work / 'vars.json').write_text(json.dumps({'wrong': wrong}))       # a file: not in argv either
    proc = subprocess.run([os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', 'localhost,',
                           '-c', 'local', '-vvv', '--diff', '-e', 'ansible_python_interpreter=' + PYTHON,
                           '-e', '@' + str(work / 'vars.json'), str(playbook)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    flat = ' '.join(out.split())                                        # the YAML output wraps long lines
    assert 'node node3 cannot join: the join token does not belong to this cluster' in flat
    assert 'the worker token of this cluster, but the node joins as a manager' in flat
    tokens = json.loads(secrets_file.read_text())
    for secret in [wrong, wrong.split('-')[2]] + list(tokens.values()) + [t.split('-')[3] for t in tokens.values()]:
        assert secret not in out and secret not in flat
    assert sorted(cluster_file(state_dir)['nodes']) == ['node1', 'node2']


@pytest.mark.parametrize('case', ['twice', 'no-addr', 'bad-addr', 'no-token', 'with-node', 'init'])
def test_bulk_join_bad_input_changes_nothing(run_module, state_dir, case):
    tokens = cluster(run_module, state_dir)
    args = {'role': 'join', 'state_dir': state_dir, 'members': members(tokens)}
    if case == 'twice':
        args['members'][2]['hostname'] = 'node2'
        needle = 'members: node node2 is listed twice'
    elif case == 'no-addr':
        del args['members'][1]['addr']
        needle = 'members[1]: node node3: no data-path address (addr)'
    elif case == 'bad-addr':
        args['members'][2]['addr'] = '192.168.2.300'
        needle = "members[2]: node node4: "
    elif case == 'no-token':
        del args['members'][0]['join_token']
        needle = 'members[0]: node node2 has no join_token (role=join needs one per member)'
    elif case == 'with-node':
        args['node'] = {'hostname': 'node5', 'addr': '192.168.1.9'}
        needle = 'parameters are mutually exclusive: node|members'
    else:
        args['role'] = 'init'
        needle = 'members is for role=join and role=leave, not role=init'
    before = files(state_dir, lock_mtime=False)
    res = run_module('swarm', args, expect_failure=True)
    assert needle in res['msg'], res['msg']
    if case == 'bad-addr':
        assert '192.168.2.300' in res['msg']
    assert not any(t in json.dumps(res) for t in tokens.values())
    assert files(state_dir, lock_mtime=False) == before


def test_bulk_leave(run_module, state_dir):
    tokens = cluster(run_module, state_dir)
    run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'members': members(tokens)})
    v = cluster_file(state_dir)['version']
    gone = [{'hostname': 'node2'}, {'hostname': 'node4'}, {'hostname': 'node9'}]
    res = run_module('swarm', {'role': 'leave', 'state_dir': state_dir, 'members': gone}, check=True)
    assert res['changed'] is True and sorted(cluster_file(state_dir)['nodes']) == ['node1', 'node2', 'node3', 'node4']
    res = run_module('swarm', {'role': 'leave', 'state_dir': state_dir, 'members': gone})
    assert res['changed'] is True
    assert {h: r['status'] for h, r in res['members'].items()} == {'node2': 'left', 'node4': 'left', 'node9': 'unchanged'}
    st = cluster_file(state_dir)
    assert sorted(st['nodes']) == ['node1', 'node3'] and st['version'] == v + 1
    res = run_module('swarm', {'role': 'leave', 'state_dir': state_dir, 'members': gone})
    assert res['changed'] is False
