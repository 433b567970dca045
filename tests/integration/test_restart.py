# -*- coding: utf-8 -*-
"""A task's restart policy (linuxnet.overlay.task ``restart``, runit's runsv) against the real
kernel, inside the sandbox: what a user checks with ``docker service ps`` after killing a task's
process, a job that ends, a command that keeps failing."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from conftest import sh

pytestmark = pytest.mark.skipif(not any(os.access(os.path.join(d, 'runsv'), os.X_OK)
                                        for d in os.environ.get('PATH', '').split(':')),
                                reason='runit (runsv) is not installed: bash scripts/setup.sh installs it')


@pytest.fixture
def task(tmp_path):
    name = 'test.1.%s' % uuid.uuid4().hex[:25]
    args = {'name': name, 'runtime_dir': str(tmp_path / 'rt'), 'etc_netns_dir': str(tmp_path / 'etc'),
            'stop_timeout': 1.0}
    yield args
    sh('ip netns pids %s 2>/dev/null | xargs -r kill -9' % name, check=False)
    sh('ip netns del %s 2>/dev/null' % name, check=False)


def procs(name):
    """{pid: argv} of what runs in the task's namespace."""
    out = {}
    for pid in sh('ip netns pids %s' % name, check=False).split():
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                out[int(pid)] = f.read().split(b'\0')[:-1]
        except OSError:
            pass
    return out


def command_pids(name, argv=(b'sleep', b'infinity')):
    """The task's command (not a finish script sleeping its delay)."""
    return sorted(p for p, a in procs(name).items() if tuple(a) == tuple(argv))


def wait_for(what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    return what()


def test_a_killed_command_is_back_within_its_delay_and_the_runs_stay_unchanged(run_module, task):
    args = dict(task, command=['sleep', 'infinity'], restart={'condition': 'any', 'delay': '500ms'})
    pred = run_module('task', args, check=True)
    assert pred['changed'] and 'start command under runsv (restart any)' in pred['actions']
    assert task['name'] not in sh('ip netns list'), 'check mode must not create the namespace'

    res = run_module('task', args)
    assert res['changed'] and res['task']['running'] and res['task']['restart']['delay'] == 0.5
    (first,) = wait_for(lambda: command_pids(task['name']))
    runsv = [p for p, a in procs(task['name']).items() if a[:1] == [b'runsv']]
    assert runsv == [res['task']['pid']], 'the pid the task reports is its supervisor, in the namespace'
    svdir = os.path.join(task['runtime_dir'], task['name'], 'sv')
    assert oct(os.stat(svdir).st_mode & 0o777) == '0o700'

    again = run_module('task', args)
    assert not again['changed'], again['actions']
    assert again['task']['supervision'] == {'state': 'run', 'pid': first, 'restarts': 0, 'last_exit': None,
                                            'last_signal': None}

    killed = time.monotonic()
    sh('kill -9 %d' % first)
    back = wait_for(lambda: [p for p in command_pids(task['name']) if p != first])
    took = time.monotonic() - killed
    assert back, 'the killed command did not come back'
    assert 0.4 < took < 3.0, 'back after %.2f s; the delay is 0.5 s (runsv waits at least 1 s between starts)' % took

    # runsv did it: the next run changes nothing and reports the restart and how the command ended
    after = run_module('task', args)
    assert not after['changed'], after['actions']
    assert after['task']['supervision']['restarts'] == 1
    assert after['task']['supervision']['last_signal'] == 9 and after['task']['supervision']['pid'] == back[0]

    # a changed policy restarts the command (predicted first, touching nothing)
    slower = dict(args, restart={'condition': 'any', 'delay': '2s'})
    pred = run_module('task', slower, check=True)
    assert pred['actions'] == ['stop command (pid %d)' % res['task']['pid'], 'start command under runsv (restart any)']
    assert command_pids(task['name']) == back
    changed = run_module('task', slower)
    assert changed['changed'] and changed['task']['restart']['delay'] == 2.0
    assert wait_for(lambda: [p for p in command_pids(task['name']) if p not in back])
    assert len([a for a in procs(task['name']).values() if a[:1] == [b'runsv']]) == 1

    gone = run_module('task', dict(task, state='absent'))
    assert gone['changed'] and procs(task['name']) == {}
    assert not os.path.exists(os.path.join(task['runtime_dir'], task['name']))


def test_on_failure_leaves_a_job_that_ended_well_down(run_module, task):
    args = dict(task, command=['sh', '-c', 'sleep 0.3; exit 0'], restart={'condition': 'on-failure', 'delay': '0.1s'})
    run_module('task', args)
    log = os.path.join(task['runtime_dir'], task['name'], 'exits')
    assert wait_for(lambda: os.path.exists(log))
    time.sleep(1.5)             # more than runsv's 1 s between starts: a restart would have happened
    res = run_module('task', args)
    assert not res['changed'], 'the policy, not the next run, decides: %s' % res['actions']
    assert res['task']['supervision']['state'] == 'down'
    assert res['task']['supervision']['restarts'] == 0 and res['task']['supervision']['last_exit'] == 0
    assert command_pids(task['name'], (b'sh', b'-c', b'sleep 0.3; exit 0')) == []


def test_max_attempts_stops_a_command_that_keeps_failing(run_module, task):
    args = dict(task, command=['sh', '-c', 'sleep 0.2; exit 3'],
                restart={'condition': 'on-failure', 'delay': '0s', 'max_attempts': 2, 'window': '1m'})
    run_module('task', args)

    def given_up():
        r = run_module('task', args)
        return r if r['task'].get('supervision', {}).get('state') == 'down' else None
    res = wait_for(given_up, timeout=15)
    assert res, 'runsv still restarts the command after max_attempts'
    assert res['task']['supervision']['restarts'] == 2 and res['task']['supervision']['last_exit'] == 3
    exits = open(os.path.join(task['runtime_dir'], task['name'], 'exits')).read().split('\n')
    assert len([e for e in exits if e.strip()]) == 3, 'the first start and two restarts: %r' % exits


def test_a_command_that_cannot_start_is_an_error_and_is_not_restarted(run_module, task):
    args = dict(task, command=['/nonexistent/daemon'], restart={})
    res = run_module('task', args, expect_failure=True)
    assert '/nonexistent/daemon' in res['msg'] and 'exited at once' in res['msg']
    time.sleep(1.2)
    assert not [a for a in procs(task['name']).values() if a[:1] == [b'runsv']], 'runsv was left restarting it'


def test_a_bad_policy_is_refused_before_anything_is_made(run_module, task):
    for restart, says in (({'delay': 'soon'}, "restart: delay 'soon' is not a duration"),
                          ({'window': '-5s'}, 'not a duration'),
                          ({'condition': 'sometimes'}, 'condition')):
        res = run_module('task', dict(task, command=['sleep', '1'], restart=restart), expect_failure=True)
        assert says in res['msg'], res['msg']
        assert task['name'] not in sh('ip netns list') and not res.get('changed')
    res = run_module('task', {'tasks': [{'name': task['name'], 'command': ['sleep', '1'],
                                         'restart': {'max_attempts': -1}}],
                              'runtime_dir': task['runtime_dir'], 'etc_netns_dir': task['etc_netns_dir']},
                     expect_failure=True)
    assert 'tasks[0] (%s): restart: max_attempts -1 is not a whole number' % task['name'] in res['msg']
    assert task['name'] not in sh('ip netns list')
