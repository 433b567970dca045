# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A task's command under runit's ``runsv``, with Docker's restart policy (``--restart-condition``,
``--restart-delay``, ``--restart-max-attempts``, ``--restart-window``).

Why runsv: a node need not have systemd as PID 1 (the lab has none), and runsv (Debian's
``runit``) is a small, long-kept supervisor that needs no init: one runsv per task, started in the
task's namespace, runs ``./run`` again after ``./finish``. The policy lives in ``./finish``, which
runsv calls with the exit status: it records the exit (the restarts and the last exit status
``service ps`` shows), then sleeps the delay, or tells runsv not to start the command again (``o``,
"once", on ``supervise/control``). The service folder is ``<runtime_dir>/<task>/sv``, 0700.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time

from ansible_collections.linuxnet.overlay.plugins.module_utils.restart import PolicyError

RUNSV = 'runsv'


def render_run(netns, command):
    """``./run``: the command itself (runsv already runs in the task's namespace, with its hosts file)."""
    return ('#!/bin/sh\n# linuxnet.overlay: the command of task %s\ncd /\nexec %s\n'
            % (netns, ' '.join(shlex.quote(a) for a in command)))


def render_finish(netns, policy, exits):
    """``./finish EXIT SIGNAL``: record the exit in ``exits`` (epoch seconds, status, signal; the
    status is -1 when a signal killed it), then give up (``o``) or sleep the delay. A restart counts
    against max_attempts when it falls inside the window (0: every restart since the start)."""
    return '''#!/bin/sh
# linuxnet.overlay: the restart policy of task {netns}
condition={condition} delay={delay} max_attempts={max_attempts} window={window}
now=$(date +%s)
echo "$now $1 $2" >> {exits}
again=yes
case $condition in
  none) again=no ;;
  on-failure) [ "$1" = 0 ] && again=no ;;
esac
if [ "$again" = yes ] && [ "$max_attempts" -gt 0 ]; then
  since=0
  [ "$window" -gt 0 ] && since=$((now - window))
  restarts=$(awk -v since="$since" '$1 >= since' {restarts} 2>/dev/null | wc -l)
  [ "$restarts" -ge "$max_attempts" ] && again=no
fi
if [ "$again" = no ]; then
  # runsv reaps this script before it reads its control pipe: wait until it wants the task down
  # (status byte 17), or it would start the command once more
  printf o > supervise/control
  i=0
  while [ "$(od -An -c -j17 -N1 supervise/status 2>/dev/null | tr -d ' ')" != d ] && [ $i -lt 200 ]; do
    sleep 0.01; i=$((i + 1))
  done
  exit 0
fi
echo "$now" >> {restarts}
sleep {delay_s}
'''.format(netns=netns, exits=shlex.quote(exits), restarts=shlex.quote(exits + '.restarts'), delay_s=_num(policy['delay']),
           condition=policy['condition'], delay=_num(policy['delay']),
           max_attempts=policy['max_attempts'], window=int(policy['window']))


def _num(seconds):
    return ('%.3f' % seconds).rstrip('0').rstrip('.')


def files(svdir, netns, command, policy):
    """What the service folder must hold: {path: content}, all 0700."""
    exits = os.path.join(os.path.dirname(svdir), 'exits')
    return {os.path.join(svdir, 'run'): render_run(netns, command),
            os.path.join(svdir, 'finish'): render_finish(netns, policy, exits)}


def argv(svdir):
    """runsv of a service folder, after the launcher that puts it in the task's namespace."""
    return [RUNSV, svdir]


def binary():
    path = shutil.which(RUNSV)
    if path is None:
        raise PolicyError('runsv is not installed on this node: a restart policy needs runit '
                          '(Debian: apt install runit)')
    return path


def status(svdir):
    """What runsv reports: {'state', 'pid'}. ``state``: run, finish (the finish script, in its
    delay), starting (down, runsv starts it again: it keeps 1 s between starts), down (the policy
    gave up), or None (no runsv status). ``pid``: the command's, while it runs."""
    try:
        with open(os.path.join(svdir, 'supervise', 'status'), 'rb') as f:
            raw = f.read()
    except OSError:
        return {'state': None, 'pid': None}
    if len(raw) < 20:
        return {'state': None, 'pid': None}
    # runit's 20-byte status: tai64n stamp (12), pid (4, little endian), paused, want (u/d), term, state
    pid = int.from_bytes(raw[12:16], 'little')
    want, state = raw[17:18], raw[19]
    name = {1: 'run', 2: 'finish'}.get(state, 'down' if want == b'd' else 'starting')
    return {'state': name, 'pid': pid if state == 1 and pid else None}


def history(rtdir):
    """The command's exits: {'restarts': N, 'last_exit': status or None, 'last_signal': N or None}."""
    def lines(path):
        try:
            with open(path, encoding='ascii') as f:
                return [ln.split() for ln in f if ln.strip()]
        except OSError:
            return []
    exits = lines(os.path.join(rtdir, 'exits'))
    restarts = lines(os.path.join(rtdir, 'exits.restarts'))
    last = exits[-1] if exits else None
    out = {'restarts': len(restarts), 'last_exit': None, 'last_signal': None}
    if last and len(last) >= 3:
        code, sig = int(last[1]), int(last[2])
        out['last_exit'] = code if code >= 0 else None
        out['last_signal'] = sig if code < 0 else None
    return out


def svdir_of(rtdir):
    return os.path.join(rtdir, 'sv')


def cmdline(svdir):
    """runsv's argv once ``ip netns exec`` has exec'd it: how a pid from the pidfile is recognised."""
    return [RUNSV, svdir]


def write(rtdir, netns, command, policy):
    """The service folder for a (re)start: run and finish, 0700; a new start has no exits yet."""
    binary()
    svdir = svdir_of(rtdir)
    os.makedirs(svdir, mode=0o700, exist_ok=True)
    for path, content in files(svdir, netns, command, policy).items():
        tmp = path + '.tmp'
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(content)
        os.chmod(tmp, 0o700)
        os.replace(tmp, path)
    for name in ('exits', 'exits.restarts'):
        try:
            os.unlink(os.path.join(rtdir, name))
        except FileNotFoundError:
            pass
    return svdir


def stop(runsv_pid, rtdir, netns_pids, stop_fn, timeout, release=None):
    """runsv first (SIGKILL: it must not start the command again), then ``release()`` (a container
    stopped by its runtime), then the command, a finish script in its delay and whatever else runs
    in the task's namespace (``netns_pids()``)."""
    child = status(svdir_of(rtdir))['pid']
    try:
        os.kill(runsv_pid, 9)
    except ProcessLookupError:
        pass
    if release is not None:
        release()
    stop_fn([p for p in [child] + list(netns_pids()) if p and p != runsv_pid], timeout)


def settled_exit(rtdir, command, cmdline_of, timeout=1.0):
    """The exit status of a command that died right after its start, or None once it runs: runsv
    has exec'd it (its argv is the command's) or ``timeout`` passed (a program that rewrites its
    argv). Negative: the signal that ended it."""
    deadline = time.monotonic() + timeout
    svdir = svdir_of(rtdir)
    while True:
        h = history(rtdir)
        if h['last_exit'] is not None:
            return h['last_exit']
        if h['last_signal'] is not None:
            return -int(h['last_signal'])
        st = status(svdir)
        if (st['pid'] and cmdline_of(st['pid']) == list(command)) or time.monotonic() > deadline:
            return None
        time.sleep(0.01)
