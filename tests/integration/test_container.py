# -*- coding: utf-8 -*-
"""A task that runs an image (linuxnet.overlay.task ``image``, podman) against the real kernel,
inside the sandbox: the container answers on the task's address, has the task's name and hosts
file, runs are idempotent, a changed image restarts it, a missing image changes nothing, removal
leaves no container, and a restart policy brings a killed container back. The image is built
offline from busybox-static (scripts/busybox-image.sh) and removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import sh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(shutil.which('podman') is None or shutil.which('busybox') is None,
                                reason='podman or busybox-static is not installed: bash scripts/setup.sh installs them')


@pytest.fixture(scope='module')
def images():
    """Two images (the second to change to), built for this module only and removed after it."""
    os.environ['CONTAINERS_CONF'] = os.path.join(ROOT, 'tests', 'integration', 'containers.conf')
    tag = uuid.uuid4().hex[:8]
    made = ['localhost/linuxnet-test-busybox:%s-%d' % (tag, i) for i in (1, 2)]
    try:
        for image in made:
            sh('bash %s/scripts/busybox-image.sh %s' % (ROOT, image))
        yield made
    finally:
        sh('podman rmi --force %s' % ' '.join(made), check=False)
        os.environ.pop('CONTAINERS_CONF', None)


@pytest.fixture
def task(tmp_path, scratch_netns):
    """A task with one interface (10.0.0.2/24) on br0 of a sandbox (10.0.0.1/24) to reach it from."""
    sandbox = scratch_netns('sb')
    sh('ip -n {0} link add br0 type bridge && ip -n {0} addr add 10.0.0.1/24 dev br0 && '
       'ip -n {0} link set br0 up'.format(sandbox))
    name = 'web.1.%s' % uuid.uuid4().hex[:25]
    args = {'name': name, 'runtime_dir': str(tmp_path / 'rt'), 'etc_netns_dir': str(tmp_path / 'etc'),
            'stop_timeout': 1.0, 'hosts': '127.0.0.1\tlocalhost\n10.0.0.2\tweb.1 web\n',
            'interfaces': [{'veth': 'vethC0', 'sandbox': sandbox, 'bridge': 'br0', 'ifname': 'eth0',
                            'address': '10.0.0.2/24'}]}
    args['sandbox'] = sandbox
    yield args
    sh('podman rm --force --ignore --time 0 %s' % name, check=False)
    sh('ip netns pids %s 2>/dev/null | xargs -r kill -9' % name, check=False)
    sh('ip netns del %s 2>/dev/null' % name, check=False)


def module_args(task, **kw):
    return dict({k: v for k, v in task.items() if k != 'sandbox'}, **kw)


def fetch(sandbox, path='', timeout=15.0):
    """What the task's httpd answers from the sandbox (retried while the container starts)."""
    deadline = time.monotonic() + timeout
    while True:
        # (busybox 1.35's wget -T crashes: timeout(1) bounds it instead)
        proc = subprocess.run(['timeout', '3', 'ip', 'netns', 'exec', sandbox, 'busybox', 'wget', '-q', '-O', '-',
                               'http://10.0.0.2:8080/%s' % path], capture_output=True, text=True, check=False)
        if proc.returncode == 0 or time.monotonic() > deadline:
            return proc.stdout if proc.returncode == 0 else None
        time.sleep(0.2)


def container(name):
    """(image, state) of the task's container, or None when podman has none of that name."""
    out = sh('podman container inspect --format "{{.ImageName}} {{.State.Status}}" %s 2>/dev/null' % name,
             check=False).split()
    return tuple(out) if out else None


HTTPD = ['sh', '-c', 'hostname > /srv/name; cp /etc/hosts /srv/hosts; exec httpd -f -p 8080 -h /srv']


def test_a_container_task_answers_on_its_address_with_its_name_and_hosts(run_module, images, task):
    args = module_args(task, image=images[0], command=HTTPD)
    pred = run_module('task', args, check=True)
    assert pred['changed'] and 'start container of %s' % images[0] in pred['actions']
    assert container(task['name']) is None and task['name'] not in sh('ip netns list'), 'check mode changed something'

    res = run_module('task', args)
    assert res['changed'] and res['task']['running'] and res['task']['image'] == images[0]
    assert fetch(task['sandbox']) == 'linuxnet.overlay busybox image\n'
    assert fetch(task['sandbox'], 'name') == task['name'] + '\n'
    assert fetch(task['sandbox'], 'hosts') == task['hosts']
    assert container(task['name']) == (images[0], 'running')
    # the task's process is the podman client, in the task's namespace; the httpd is there too
    pids = sh('ip netns pids %s' % task['name']).split()
    assert str(res['task']['pid']) in pids

    again = run_module('task', args)
    assert not again['changed'], again['actions']
    assert again['task']['pid'] == res['task']['pid']


def test_a_changed_image_restarts_the_container_and_removal_leaves_none(run_module, images, task):
    first = run_module('task', module_args(task, image=images[0], command=HTTPD))
    assert fetch(task['sandbox'])
    changed = module_args(task, image=images[1], command=HTTPD)
    pred = run_module('task', changed, check=True, diff=True)
    assert pred['diff']['before']['image'] == images[0] and pred['diff']['after']['image'] == images[1]
    assert container(task['name']) == (images[0], 'running'), 'check mode touched the container'
    res = run_module('task', changed)
    assert res['changed'] and 'stop container (pid %d)' % first['task']['pid'] in res['actions']
    assert fetch(task['sandbox']) and container(task['name']) == (images[1], 'running')

    gone = run_module('task', module_args(task, state='absent'))
    assert gone['changed'] and 'remove container' in gone['actions']
    assert container(task['name']) is None
    assert task['name'] not in sh('ip netns list')


def test_a_missing_image_is_named_and_nothing_changes(run_module, images, task):
    missing = 'localhost/linuxnet-not-here:%s' % uuid.uuid4().hex[:8]
    res = run_module('task', module_args(task, image=missing, command=HTTPD), expect_failure=True)
    assert missing in res['msg'] and 'not on node' in res['msg']
    assert not res.get('changed')
    assert task['name'] not in sh('ip netns list'), 'the namespace was made before the image check'
    assert not os.path.exists(os.path.join(task['runtime_dir'], task['name']))

    bad = run_module('task', module_args(task, image='-v /:/host evil', command=HTTPD), expect_failure=True)
    assert 'image must be an image reference' in bad['msg'] and task['name'] not in sh('ip netns list')


def test_a_killed_container_is_back_under_its_restart_policy(run_module, images, task):
    args = module_args(task, image=images[0], command=HTTPD, restart={'condition': 'any', 'delay': '500ms'})
    res = run_module('task', args)
    assert res['changed'] and fetch(task['sandbox'])
    httpd = [p for p in sh('ip netns pids %s' % task['name']).split()
             if open('/proc/%s/cmdline' % p, 'rb').read().startswith(b'httpd')]
    assert len(httpd) == 1
    sh('kill -9 %s' % httpd[0])
    assert fetch(task['sandbox'], timeout=20), 'the container did not come back'
    again = run_module('task', args)
    assert not again['changed'], again['actions']
    assert again['task']['supervision']['restarts'] == 1
    assert again['task']['supervision']['last_exit'] == 137, 'podman reports the killed container as 128+9'
    run_module('task', module_args(task, state='absent'))
    assert container(task['name']) is None
