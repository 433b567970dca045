# -*- coding: utf-8 -*-
"""linuxnet.overlay.task against the real kernel, inside the sandbox."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from conftest import sh


@pytest.fixture
def task_name():
    name = 'test.1.%s' % uuid.uuid4().hex[:25]
    yield name
    sh('ip netns pids %s 2>/dev/null | xargs -r kill -9' % name, check=False)
    sh('ip netns del %s 2>/dev/null; rm -rf /etc/netns/%s /tmp/linuxnet-rt/%s' % (name, name, name), check=False)


@pytest.fixture
def dirs(tmp_path):
    # /etc/netns does not exist on this machine and must not be made on the shared root file
    # system: the sandbox's mount namespace gets a private tmpfs there for this test.
    if not os.path.ismount('/etc/netns'):
        if not os.path.isdir('/etc/netns'):
            etc = str(tmp_path / 'etc-netns')
            os.makedirs(etc)
        else:
            etc = '/etc/netns'
    else:
        etc = '/etc/netns'
    return {'runtime_dir': str(tmp_path / 'rt'), 'etc_netns_dir': etc}


HOSTS = '127.0.0.1 localhost\n10.0.0.2 test.1.x test tasks.test\n'


def pids(name):
    return sh('ip netns pids %s' % name).split()


def test_task_lifecycle(run_module, task_name, dirs):
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'], **dirs)
    pred = run_module('task', args, check=True)
    assert pred['changed'] and 'create namespace' in pred['actions']
    assert task_name not in sh('ip netns list'), 'check mode must not create the namespace'

    res = run_module('task', args)
    assert res['changed'] and res['task']['running']
    assert task_name in sh('ip netns list')
    assert len(pids(task_name)) == 1
    assert open(os.path.join(dirs['etc_netns_dir'], task_name, 'hosts')).read() == HOSTS
    assert res['diff']['before']['exists'] is False and res['diff']['after']['running'] is True
    # lo is up inside the task, as a container's is
    assert 'UP' in sh('ip -n %s -br link show lo' % task_name)

    again = run_module('task', args)
    assert not again['changed'], again['actions']
    assert pids(task_name) == [str(res['task']['pid'])]

    # the command died: the next run starts it again
    sh('kill -9 %d' % res['task']['pid'])
    time.sleep(0.2)
    revived = run_module('task', args)
    assert revived['changed'] and revived['actions'] == ['start command']
    assert len(pids(task_name)) == 1

    # a changed command is restarted
    changed = run_module('task', dict(args, command=['sleep', '1000']))
    assert changed['actions'] == ['stop command (pid %d)' % revived['task']['pid'], 'start command']
    assert 'sleep 1000' in sh('ps -o args= -p %s' % pids(task_name)[0])

    gone = run_module('task', dict(name=task_name, state='absent', **dirs))
    assert gone['changed']
    assert task_name not in sh('ip netns list')
    assert not os.path.exists(os.path.join(dirs['etc_netns_dir'], task_name))
    assert not run_module('task', dict(name=task_name, state='absent', **dirs))['changed']


def test_namespace_deleted_by_hand_is_made_again(run_module, task_name, dirs):
    args = dict(name=task_name, hosts=HOSTS, command=['sleep', 'infinity'], **dirs)
    first = run_module('task', args)
    old_pid = first['task']['pid']
    sh('ip netns del %s' % task_name)
    res = run_module('task', args)
    assert res['changed']
    assert res['actions'][:2] == ['stop stale command (pid %d, in a namespace that no longer has this name)' % old_pid,
                                  'create namespace']
    assert not os.path.exists('/proc/%d' % old_pid) or 'Z' in sh('ps -o stat= -p %d' % old_pid, check=False)
    assert len(pids(task_name)) == 1


def test_task_without_command(run_module, task_name, dirs):
    res = run_module('task', dict(name=task_name, **dirs))
    assert res['changed'] and not res['task']['running'] and res['task']['pid'] is None
    assert not run_module('task', dict(name=task_name, **dirs))['changed']


def test_bad_name_and_bad_command(run_module, dirs):
    bad = run_module('task', dict(name='../etc', **dirs), expect_failure=True)
    assert 'invalid network namespace name' in bad['msg']
    name = 'test.9.%s' % uuid.uuid4().hex[:25]
    try:
        res = run_module('task', dict(name=name, command=['/nonexistent/binary'], **dirs), expect_failure=True)
        assert 'exited at once' in res['msg'] and '/nonexistent/binary' in res['msg']
    finally:
        sh('ip netns del %s 2>/dev/null; true' % name, check=False)


def test_omitted_command_leaves_the_process_alone(run_module, task_name, dirs):
    args = dict(name=task_name, hosts=HOSTS, **dirs)
    first = run_module('task', dict(args, command=['sleep', 'infinity']))
    untouched = run_module('task', args)
    assert not untouched['changed'] and untouched['task']['pid'] == first['task']['pid']
    stopped = run_module('task', dict(args, command=[]))
    assert stopped['actions'] == ['stop command (pid %d)' % first['task']['pid']]
    assert pids(task_name) == []
