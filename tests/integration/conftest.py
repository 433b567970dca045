# -*- coding: utf-8 -*-
"""Integration fixtures: run the collection's modules as Ansible runs them, against the real
kernel, inside the throwaway sandbox made by tests/sandbox.sh (own net/mount/pid namespaces, a
private /run/netns). Nothing here can reach the root namespace."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PYTHON = os.environ.get('LINUXNET_OVERLAY_PYTHON', os.path.join(ROOT, '.venv', 'bin', 'python'))


def pytest_collection_modifyitems(config, items):
    if os.environ.get('LINUXNET_SANDBOX') != '1' or os.geteuid() != 0:
        skip = pytest.mark.skip(reason='integration tests run as root inside tests/sandbox.sh '
                                       '(a private network/mount/pid namespace); use scripts/test.sh')
        for item in items:
            item.add_marker(skip)


class ModuleRunner:
    """Runs ``ansible localhost -m linuxnet.overlay.<module>`` and returns the task result."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir

    def __call__(self, module, args, check=False, diff=True, expect_failure=False):
        result_file = os.path.join(self.tmpdir, 'result-%s.json' % uuid.uuid4().hex)
        env = dict(os.environ)
        env.update({
            'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
            'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.build'),
            'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(ROOT, 'tests', 'integration', 'callback_plugins'),
            'ANSIBLE_CALLBACKS_ENABLED': 'result_file',
            'ANSIBLE_LOCAL_TEMP': os.path.join(self.tmpdir, 'ansible-local'),
            'LINUXNET_RESULT_FILE': result_file,
        })
        fqcn = module if '.' in module else 'linuxnet.overlay.' + module
        cmd = [os.path.join(os.path.dirname(PYTHON), 'ansible'), 'all', '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=' + PYTHON, '-m', fqcn, '-a', json.dumps(args)]
        if check:
            cmd.append('--check')
        if diff:
            cmd.append('--diff')
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
        try:
            with open(result_file, encoding='utf-8') as f:
                results = [json.loads(line) for line in f]
        except FileNotFoundError:
            results = []
        if len(results) != 1:
            raise AssertionError('expected one task result from %s, got %d\nstdout:\n%s\nstderr:\n%s'
                                 % (' '.join(cmd), len(results), proc.stdout, proc.stderr))
        res = results[0]
        failed = res['_status'] != 'ok' or res.get('failed')
        if failed and not expect_failure:
            raise AssertionError('%s failed: %s' % (fqcn, json.dumps(res, indent=2, default=str)))
        if expect_failure and not failed:
            raise AssertionError('%s was expected to fail but returned: %s' % (fqcn, json.dumps(res, indent=2)))
        return res


@pytest.fixture
def run_module(tmp_path):
    return ModuleRunner(str(tmp_path))


def sh(cmd, check=True):
    """Run a shell command in the sandbox and return its stdout (for arranging and asserting)."""
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError('%s failed (%d): %s%s' % (cmd, proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


@pytest.fixture
def scratch_netns():
    """Names a fresh namespace per test and removes every namespace the test made afterwards."""
    made = []

    def factory(prefix='t', create=True):
        name = '%s-%s' % (prefix, uuid.uuid4().hex[:8])
        if create:
            sh('ip netns add %s && ip -n %s link set lo up' % (name, name))
        made.append(name)
        return name

    yield factory
    for name in made:
        # VXLAN devices first (synchronous), then the namespace (asynchronous in the kernel).
        out = sh('ip -n %s -o link show type vxlan 2>/dev/null || true' % name, check=False)
        for line in out.splitlines():
            dev = line.split(':')[1].strip().split('@')[0]
            sh('ip -n %s link del %s' % (name, dev), check=False)
        sh('ip netns del %s 2>/dev/null || true' % name, check=False)
