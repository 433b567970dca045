#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long a killed task's server is gone (issue #14 items 1 and 3), side by side in one run.

    bench/restart.py [--rounds 5] [--no-containers]

Re-executes itself inside tests/sandbox.sh unless already there. One task namespace (lo only)
whose server answers TCP on 127.0.0.1:8080; a poller in the same namespace connects every
millisecond and records the gap between the last answer before the kill and the first after it.
Methods, rotated round by round, each a fresh task made with the ``task`` module:

  runsv        restart_policy {any, delay 0s}: runsv starts the command again by itself
  runsv-1s     the same with a 1 s delay (the gap minus the delay is runsv's own cost)
  next-run     no policy: the gap lasts until a ``task`` module run starts the command again, the
               earliest a controller's next run could (its run started right after the kill)
  container    restart_policy {any, delay 0s} with the server in a podman container of a
               busybox image built offline (scripts/busybox-image.sh): a podman start per restart

Also: the wall time of the ``task`` module run that starts a task with a host command against one
that starts it as a container (what an image costs at start). Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lab  # noqa: E402

PY_SERVER = ['python3', '-c', 'import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n'
             's.bind(("127.0.0.1",8080))\ns.listen(64)\nwhile True:\n c,_=s.accept()\n c.close()']
BB_SERVER = ['httpd', '-f', '-p', '127.0.0.1:8080']
POLLER = r'''
import socket, sys, time
up = last_ok = None
gap = None
deadline = time.monotonic() + float(sys.argv[1])
print('ready', flush=True)
while time.monotonic() < deadline:
    s = socket.socket(); s.settimeout(0.05)
    try:
        s.connect(('127.0.0.1', 8080)); ok = True
    except OSError:
        ok = False
    s.close()
    now = time.monotonic()
    if ok:
        if last_ok is not None and now - last_ok > 0.02 and gap is None:
            gap = now - last_ok
            break
        last_ok = now
    time.sleep(0.001)
print('%r' % (gap if gap is not None else -1.0), flush=True)
'''


def module(args, check=False):
    cmd = [os.path.join(_lab.ROOT, '.venv', 'bin', 'ansible'), 'all', '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=' + _lab.VENV_PY, '-m', 'linuxnet.overlay.task', '-a', json.dumps(args)]
    start = time.monotonic()
    out = subprocess.run(cmd, env=_lab.ansible_env(), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError('task module failed: %s%s' % (out.stdout[-3000:], out.stderr[-2000:]))
    return time.monotonic() - start


def server_pid(name, argv0):
    for pid in _lab.sh(['ip', 'netns', 'pids', name]).split():
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if f.read().split(b'\0')[0] == argv0:
                    return int(pid)
        except OSError:
            pass
    return None


def wait_for(fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    raise RuntimeError('timed out')


def one(method, tmp, image):
    name = 'bench.1.%s' % uuid.uuid4().hex[:25]
    args = {'name': name, 'runtime_dir': os.path.join(tmp, 'rt'), 'etc_netns_dir': os.path.join(tmp, 'etc'),
            'stop_timeout': 1.0, 'command': PY_SERVER}
    argv0 = b'python3'
    if method.startswith('runsv'):
        args['restart'] = {'condition': 'any', 'delay': '1s' if method == 'runsv-1s' else '0s'}
    if method == 'container':
        args.update(image=image, command=BB_SERVER, restart={'condition': 'any', 'delay': '0s'})
        argv0 = b'httpd'
    try:
        start_wall = module(args)
        victim = wait_for(lambda: server_pid(name, argv0))
        poller = subprocess.Popen(['ip', 'netns', 'exec', name, sys.executable, '-c', POLLER, '30'],
                                  stdout=subprocess.PIPE, text=True)
        assert poller.stdout.readline().strip() == 'ready'
        time.sleep(0.2)
        os.kill(victim, 9)
        if method == 'next-run':
            module(args)
        gap = float(poller.stdout.readline().strip())
        poller.wait()
        if gap < 0:
            raise RuntimeError('%s: the server did not come back within 30 s' % method)
        return gap, start_wall
    finally:
        module(dict(args, state='absent', command=None, restart=None, image=None))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--no-containers', action='store_true')
    opts = ap.parse_args()
    _lab.reexec_in_sandbox(__file__)
    _lab.header('bench/restart.py: how long a killed task is gone')
    methods = ['runsv', 'runsv-1s', 'next-run']
    tmp = tempfile.mkdtemp(prefix='linuxnet-bench-restart-')
    image = None
    if not opts.no_containers and shutil.which('podman'):
        os.environ['CONTAINERS_CONF'] = os.path.join(_lab.ROOT, 'tests', 'integration', 'containers.conf')
        image = 'localhost/linuxnet-bench-busybox:%s' % uuid.uuid4().hex[:8]
        _lab.sh(['bash', os.path.join(_lab.ROOT, 'scripts', 'busybox-image.sh'), image])
        methods.append('container')
    gaps = {m: [] for m in methods}
    starts = {m: [] for m in methods}
    try:
        for r in range(opts.rounds):
            for m in methods[r % len(methods):] + methods[:r % len(methods)]:
                gap, wall = one(m, tmp, image)
                gaps[m].append(gap)
                starts[m].append(wall)
    finally:
        if image:
            _lab.sh(['podman', 'rmi', '--force', image], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    base = _lab.med(gaps['runsv'])
    rows = [[m, '%.3f' % _lab.med(gaps[m]), '%.3f' % min(gaps[m]), '%.1f' % (_lab.med(gaps[m]) / base),
             '%.2f' % _lab.med(starts[m])] for m in methods]
    _lab.table(rows, ['method', 'gap median s', 'gap min s', 'gap / runsv', 'first start run s'])
    print('next-run / runsv gap: %.1f' % (_lab.med(gaps['next-run']) / base))
    print('runsv-1s gap minus its delay: %.3f s' % (_lab.med(gaps['runsv-1s']) - 1.0))
    if image:
        print('container / host command: restart gap %.1f, start run %.2f'
              % (_lab.med(gaps['container']) / base, _lab.med(starts['container']) / _lab.med(starts['runsv'])))
    print('load average at the end: %s' % _lab.loadavg())


if __name__ == '__main__':
    main()
