# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration tests of the swarm and cluster_plan modules, run as Ansible runs them, with their
state_dir under a temporary path. Assertions read the files themselves (modes, bytes, JSON) rather
than the modules' own answers where they can."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state  # noqa: E402
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import statefile as _statefile  # noqa: E402

from conftest import PYTHON, ROOT  # noqa: E402

NODE1 = {'hostname': 'node1', 'role': 'manager', 'addr': '172.31.1.5'}
NODE2 = {'hostname': 'node2', 'role': 'worker', 'addr': '192.168.1.5'}
PLAN_NODES = [dict(NODE1, routes=['172.31.1.0/24']), dict(NODE2, routes=['192.168.1.0/24'])]
NETWORKS = [{'name': 'uber-net'}]
SERVICES = [{'name': 'test', 'networks': ['uber-net'], 'replicas': 2, 'command': 'sleep infinity'}]


@pytest.fixture
def state_dir(tmp_path):
    return str(tmp_path / 'linuxnet-overlay')


def file_state(d):
    with open(os.path.join(d, 'cluster.json'), encoding='utf-8') as f:
        return json.load(f)


def fingerprint(d, lock_mtime=False):
    """Bytes and metadata of every file in the state directory (to prove nothing was written).
    A committing run records and clears its holder record in cluster.lock even when it then fails,
    so that file's mtime only counts with ``lock_mtime`` (check mode must not touch it at all)."""
    if not os.path.isdir(d):
        return None
    out = {}
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        st = os.stat(path)
        mtime = st.st_mtime_ns if (lock_mtime or name != 'cluster.lock') else None
        with open(path, 'rb') as f:
            out[name] = (hashlib.sha256(f.read()).hexdigest(), mtime, st.st_ino, stat.S_IMODE(st.st_mode))
    return out


def module_status(out):
    """'changed' or 'ok': how the terminal reported the module task of a ``registered`` playbook."""
    section = out.split('TASK [the module]', 1)[1].split('TASK [', 1)[0]
    return 'changed' if 'changed: [localhost]' in section else 'ok'


def registered(tmp_path, module, args, check=False):
    """Run ``module`` in a playbook, ``register`` its result and hand the registered variable back,
    with what the terminal showed. A result marked no_log reaches callbacks censored, so this is how
    a role sees the tokens (and how these tests read them)."""
    work = tmp_path / ('reg-%d' % len(list(tmp_path.glob('reg-*'))))
    work.mkdir()
    out = work / 'result.json'
    playbook = work / 'pb.yml'
    playbook.write_text(json.dumps([{'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': 'the module', 'linuxnet.overlay.' + module: args, 'register': 'r'},
        {'name': 'hand the registered result to the test', 'no_log': True,
         'ansible.builtin.copy': {'content': '{{ r | to_json }}', 'dest': str(out), 'mode': '0600'}}]}]))
    cmd = [os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-v',
           '-e', 'ansible_python_interpreter=' + PYTHON, '--diff', str(playbook)] + (['--check'] if check else [])
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build'),
               ANSIBLE_LOCAL_TEMP=str(work / 'ansible-local'))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if check:  # the copy task does not write in check mode
        return None, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout + proc.stderr


def init(run_module, d, **kw):
    """Init through run_module; the tokens come from the state file (the callback sees them censored)."""
    res = run_module('swarm', dict({'role': 'init', 'state_dir': d, 'node': NODE1}, **kw))
    assert res['_ansible_no_log'] is True and 'tokens' not in res
    res['tokens'] = _state.tokens(file_state(d))
    return res


def joined(run_module, d):
    tokens = init(run_module, d)['tokens']
    run_module('swarm', {'role': 'join', 'state_dir': d, 'node': NODE2, 'join_token': tokens['worker']})
    return tokens


def plan_args(d, **kw):
    return dict({'state_dir': d, 'nodes': PLAN_NODES, 'networks': NETWORKS, 'services': SERVICES}, **kw)


# ---- swarm --------------------------------------------------------------------------------

def test_init_changed_then_unchanged_with_modes(tmp_path, state_dir):
    res, out = registered(tmp_path, 'swarm', {'role': 'init', 'state_dir': state_dir, 'node': NODE1})
    assert res['changed'] is True
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(state_dir, 'cluster.json')).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(state_dir, 'cluster.lock')).st_mode) == 0o600
    assert os.stat(os.path.join(state_dir, 'cluster.json')).st_uid == 0
    st = file_state(state_dir)
    assert res['cluster_id'] == st['cluster']['id'] and res['version'] == st['version']
    assert res['tokens'] == _state.tokens(st)
    assert res['tokens']['manager'] != res['tokens']['worker']
    assert res['tokens']['worker'].startswith('SWMTKN-1-') and len(res['tokens']['worker']) == 85
    assert st['nodes']['node1']['role'] == 'manager' and st['nodes']['node1']['addr'] == '172.31.1.5'
    # the terminal (-v, --diff) never shows a token or the cluster key
    assert module_status(out) == 'changed' and 'output has been hidden' in out
    for secret in list(res['tokens'].values()) + [st['secrets']['cluster_key']]:
        assert secret not in out and secret[-25:] not in out
    before = fingerprint(state_dir)
    res2, out2 = registered(tmp_path, 'swarm', {'role': 'init', 'state_dir': state_dir, 'node': NODE1})
    assert res2['changed'] is False
    assert res2['cluster_id'] == res['cluster_id'] and res2['tokens'] == res['tokens']
    assert fingerprint(state_dir) == before
    assert module_status(out2) == 'ok'


def test_join_with_the_right_token(run_module, state_dir):
    tokens = init(run_module, state_dir)['tokens']
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'node': dict(NODE2, labels={'zone': 'b'}),
                               'join_token': tokens['worker']})
    assert res['changed'] is True and res['_ansible_no_log'] is False  # no secret in it: printed as usual
    st = file_state(state_dir)
    assert st['nodes']['node2'] == {'id': res['node']['id'], 'role': 'worker', 'addr': '192.168.1.5',
                                    'labels': {'zone': 'b'}, 'state': 'ready'}
    assert 'node node2 id=%s role=worker addr=192.168.1.5 state=ready labels=zone=b' % res['node']['id'] \
        in res['diff']['after']
    assert 'node node2' not in res['diff']['before']
    before = fingerprint(state_dir)
    res2 = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'node': dict(NODE2, labels={'zone': 'b'}),
                                'join_token': tokens['worker']})
    assert res2['changed'] is False and fingerprint(state_dir) == before
    # a manager joins with the manager token
    res3 = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'join_token': tokens['manager'],
                                'node': {'hostname': 'node3', 'role': 'manager', 'addr': '10.9.0.3'}})
    assert res3['changed'] is True and file_state(state_dir)['nodes']['node3']['role'] == 'manager'


@pytest.mark.parametrize('which', ['manager-token-as-worker', 'tampered', 'other-cluster', 'malformed'])
def test_wrong_token_refused_and_not_echoed(run_module, state_dir, tmp_path, which):
    tokens = init(run_module, state_dir)['tokens']
    if which == 'manager-token-as-worker':
        bad, needle = tokens['manager'], 'the manager token of this cluster, but the node joins as a worker'
    elif which == 'tampered':
        bad, needle = tokens['worker'][:-5] + ('zzzzz' if not tokens['worker'].endswith('zzzzz') else 'yyyyy'), \
            'not valid for a worker'
    elif which == 'other-cluster':
        other = init(run_module, str(tmp_path / 'other'))['tokens']
        bad, needle = other['worker'], 'does not belong to this cluster'
    else:
        bad, needle = 'SWMTKN-1-letmein', 'malformed'
    before = fingerprint(state_dir)
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'node': NODE2, 'join_token': bad},
                     expect_failure=True)
    assert needle in res['msg'] and 'node node2 cannot join' in res['msg']
    text = json.dumps(res)
    assert bad not in text and bad[-25:] not in text
    assert res['invocation']['module_args']['join_token'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert fingerprint(state_dir) == before
    assert 'node2' not in file_state(state_dir)['nodes']


def test_join_needs_a_cluster(run_module, state_dir):
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'node': NODE2,
                               'join_token': 'SWMTKN-1-' + 'a' * 50 + '-' + 'b' * 25}, expect_failure=True)
    assert 'no cluster state in %s' % state_dir in res['msg']
    assert not os.path.exists(state_dir)


def test_leave(run_module, state_dir):
    joined(run_module, state_dir)
    res = run_module('swarm', {'role': 'leave', 'state_dir': state_dir, 'node': {'hostname': 'node2'}})
    assert res['changed'] is True and res['node'] is None
    assert 'node2' not in file_state(state_dir)['nodes']
    res = run_module('swarm', {'role': 'join', 'state': 'absent', 'state_dir': state_dir,
                               'node': {'hostname': 'node2'}})
    assert res['changed'] is False


def test_check_mode_writes_nothing(run_module, state_dir, tmp_path):
    res, out = registered(tmp_path, 'swarm', {'role': 'init', 'state_dir': state_dir, 'node': NODE1}, check=True)
    assert module_status(out) == 'changed'
    res = run_module('swarm', {'role': 'init', 'state_dir': state_dir, 'node': NODE1}, check=True)
    assert res['changed'] is True and res['cluster_id'] is None
    assert not os.path.exists(state_dir)
    tokens = init(run_module, state_dir)['tokens']
    before = fingerprint(state_dir, lock_mtime=True)
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'node': NODE2,
                               'join_token': tokens['worker']}, check=True)
    assert res['changed'] is True and res['node']['addr'] == '192.168.1.5'
    assert fingerprint(state_dir, lock_mtime=True) == before
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'node': NODE2,
                               'join_token': tokens['manager']}, check=True, expect_failure=True)
    assert 'manager token' in res['msg']
    res = run_module('cluster_plan', plan_args(state_dir, require_joined=False), check=True)
    assert res['changed'] is True and res['pending'] is True
    assert [t['addresses'] for t in res['plan']['services'][0]['tasks']] == [{'uber-net': '10.0.0.3'},
                                                                             {'uber-net': '10.0.0.4'}]
    res = run_module('cluster_plan', plan_args(state_dir, require_joined=False, commit=False))
    assert res['changed'] is False and res['pending'] is True
    assert fingerprint(state_dir, lock_mtime=True) == before


def test_check_mode_plan_without_cluster(run_module, state_dir):
    res = run_module('cluster_plan', plan_args(state_dir), check=True)
    assert res['changed'] is True and res['plan']['networks'][0]['subnets'][0]['subnet'] == '10.0.0.0/24'
    assert any('provisional' in w for w in res.get('warnings', []))
    assert not os.path.exists(state_dir)
    res = run_module('cluster_plan', plan_args(state_dir), expect_failure=True)
    assert 'initialise the cluster first' in res['msg']


def test_lock_contention_gives_a_clear_error(run_module, state_dir):
    joined(run_module, state_dir)
    before = fingerprint(state_dir)
    with _statefile.cluster_lock(state_dir, timeout=5, purpose='test holder'):
        res = run_module('cluster_plan', plan_args(state_dir, lock_timeout=1), expect_failure=True)
        assert res['msg'].startswith('another run holds the cluster lock since ')
        assert 'pid %d' % os.getpid() in res['msg'] and 'test holder' in res['msg']
        assert 'gave up after 1.0 s' in res['msg']
        res = run_module('swarm', {'role': 'leave', 'state_dir': state_dir, 'node': {'hostname': 'node2'},
                                   'lock_timeout': 0.5}, expect_failure=True)
        assert 'another run holds the cluster lock' in res['msg']
    assert {k: v for k, v in fingerprint(state_dir).items() if k != 'cluster.lock'} == \
        {k: v for k, v in before.items() if k != 'cluster.lock'}
    assert run_module('cluster_plan', plan_args(state_dir, lock_timeout=1))['changed'] is True


def test_plan_commit_then_rerun_unchanged(run_module, state_dir):
    joined(run_module, state_dir)
    res = run_module('cluster_plan', plan_args(state_dir))
    assert res['changed'] is True
    st = file_state(state_dir)
    assert st['version'] == res['version'] == res['plan']['cluster']['version']
    assert list(st['networks']) == ['uber-net']
    assert st['networks']['uber-net']['subnets'][0]['vni'] == 4096
    tasks = st['services']['test']['tasks']
    assert [(t['slot'], t['node'], t['addresses']) for t in tasks] == [
        (1, 'node1', {'uber-net': '10.0.0.3'}), (2, 'node2', {'uber-net': '10.0.0.4'})]
    assert st['services']['test']['vips'] == {'uber-net': '10.0.0.2'}
    plan = res['plan']
    peers = plan['nodes']['node1']['sandboxes'][0]['subnets'][0]['peers']
    assert peers == [{'ip': '10.0.0.4', 'mac': '02:42:0a:00:00:04', 'vtep': '192.168.1.5'}]
    assert 'network uber-net id=' in res['diff']['after'] and 'network uber-net' not in res['diff']['before']
    assert res['changes']['tasks']['added'] == sorted(t['name'] for t in plan['services'][0]['tasks'])
    text = json.dumps(plan)
    for secret in list(_state.tokens(st).values()) + [st['secrets']['cluster_key']]:
        assert secret not in text
    before = fingerprint(state_dir)
    res2 = run_module('cluster_plan', plan_args(state_dir))
    assert res2['changed'] is False and res2['pending'] is False and res2['plan'] == plan
    assert res2['diff']['before'] == res2['diff']['after']
    assert {k: v for k, v in fingerprint(state_dir).items() if k != 'cluster.lock'} == \
        {k: v for k, v in before.items() if k != 'cluster.lock'}
    # scale down: the state shrinks and the change is reported
    res3 = run_module('cluster_plan', plan_args(state_dir, services=[dict(SERVICES[0], replicas=1)]))
    assert res3['changed'] is True and len(file_state(state_dir)['services']['test']['tasks']) == 1
    assert res3['plan']['removed']['tasks'][0]['reason'] == 'scaled down to 1'


def test_plan_refuses_bad_input_and_writes_nothing(run_module, state_dir):
    joined(run_module, state_dir)
    before = fingerprint(state_dir)
    res = run_module('cluster_plan', plan_args(
        state_dir, networks=[{'name': 'uber-net', 'subnets': ['10.0.0.1/24'], 'encrpyted': True}],
        services=[{'name': 'test', 'networks': ['nope'], 'replicas': 2, 'mode': 'global'}],
        data_path_port=80), expect_failure=True)
    assert res['errors'] == [
        "network uber-net: unknown key 'encrpyted' (did you mean 'encrypted'?); known keys: name, subnets, gateway, "
        "encrypted, mtu, state, vnis, multicast, internal",
        "network uber-net: subnet '10.0.0.1/24' has host bits set: did you mean 10.0.0.0/24?",
        'service test: replicas 2 and mode: global exclude each other',
        'data_path_port: data-path port 80 is out of range 1024..49151',
    ]
    assert '4 problem(s)' in res['msg']
    res = run_module('cluster_plan', plan_args(state_dir, nodes=PLAN_NODES + [
        {'hostname': 'node9', 'addr': '10.9.9.9'}]), expect_failure=True)
    assert res['errors'] == ['node node9 has not joined the cluster: join it first (swarm, role: join) with the '
                             'worker token']
    assert fingerprint(state_dir) == before


def test_export_import_newest_wins(run_module, state_dir, tmp_path):
    joined(run_module, state_dir)
    run_module('cluster_plan', plan_args(state_dir))
    censored = run_module('swarm', {'role': 'export', 'state_dir': state_dir})
    assert censored['_ansible_no_log'] is True and 'cluster_state' not in censored
    exported, out = registered(tmp_path, 'swarm', {'role': 'export', 'state_dir': state_dir})
    assert exported['changed'] is False
    assert json.loads(exported['cluster_state']) == file_state(state_dir)
    assert file_state(state_dir)['secrets']['cluster_key'] not in out
    other = str(tmp_path / 'manager2')
    res = run_module('swarm', {'role': 'import', 'state_dir': other, 'import_state': exported['cluster_state']})
    assert res['changed'] is True and res['imported'] is True and res['_ansible_no_log'] is False
    assert file_state(other) == file_state(state_dir)
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(other, 'cluster.json')).st_mode) == 0o600
    assert res['invocation']['module_args']['import_state'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert res['state_dir']['path'] == other  # the rest of the result is not masked
    res = run_module('swarm', {'role': 'import', 'state_dir': other, 'import_state': exported['cluster_state']})
    assert res['changed'] is False
    # the first manager moves on; an older copy never overwrites a newer one
    run_module('cluster_plan', plan_args(state_dir, services=[dict(SERVICES[0], replicas=3)]))
    newer = file_state(state_dir)
    assert run_module('swarm', {'role': 'import', 'state_dir': other,
                                'import_state': json.dumps(newer)})['changed'] is True
    before = fingerprint(other)
    res = run_module('swarm', {'role': 'import', 'state_dir': other, 'import_state': exported['cluster_state']})
    assert res['changed'] is False and fingerprint(other) == before
    assert file_state(other)['version'] == newer['version']
    # a copy of another cluster is refused
    third = str(tmp_path / 'third')
    init(run_module, third)
    res = run_module('swarm', {'role': 'import', 'state_dir': third, 'import_state': json.dumps(newer)},
                     expect_failure=True)
    assert 'belongs to cluster' in res['msg']


def test_state_dir_mode_is_tightened(run_module, state_dir):
    init(run_module, state_dir)
    os.chmod(state_dir, 0o755)
    res = run_module('swarm', {'role': 'join', 'state_dir': state_dir, 'node': NODE2,
                               'join_token': _state.tokens(file_state(state_dir))['worker']})
    assert res['state_dir']['actions'] == ['mode of %s changed from 0755 to 0700' % state_dir]
    assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
