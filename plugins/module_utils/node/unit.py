# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A supervised task's command as a systemd unit, where systemd is PID 1 (private).

Why a unit and not runsv there: the node's own supervisor then restarts the task (``Restart=``,
``RestartSec=``, ``StartLimitBurst=``/``StartLimitIntervalSec=`` for Docker's max attempts and
window), puts it in the task's namespace (``NetworkNamespacePath=``), logs and accounts it like any
service, and starts it at boot after ``linuxnet-overlay.service`` has rebuilt the namespaces. The
unit is ``/etc/systemd/system/linuxnet-overlay-task-<task>.service``, enabled in
``multi-user.target``; its ``ExecStopPost`` records each exit in ``<runtime_dir>/<task>/exits`` as
runsv's ``finish`` does (``service ps`` reads either). ``render`` and what a state means are pure
(tests/unit/test_unit.py); the rest is ``systemctl``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess

UNIT_DIR = '/etc/systemd/system'
WANTS = 'multi-user.target.wants'
BOOT_UNIT = 'linuxnet-overlay.service'
PREFIX = 'linuxnet-overlay-task-'
SYSTEMD_RUN = '/run/systemd/system'
RESTART = {'any': 'always', 'on-failure': 'on-failure', 'none': 'no'}
_PLAIN = re.compile(r'[A-Za-z0-9_.-]')
_PROPS = ('LoadState', 'ActiveState', 'SubState', 'MainPID', 'NRestarts', 'Result')


class UnitError(Exception):
    pass


def available():
    """systemd is PID 1 here (what sd_booted() checks)."""
    return os.path.isdir(SYSTEMD_RUN)


def name_of(task):
    """The unit of a task: netns names may hold @ and +, which unit names cannot (systemd-escape)."""
    return PREFIX + ''.join(c if _PLAIN.match(c) else '\\x%02x' % ord(c) for c in task) + '.service'


def quote(arg):
    """One ExecStart word: double-quoted, systemd's C escapes, % and $ doubled (no specifier or
    variable expansion of the user's command)."""
    out = arg.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n').replace('\t', '\\t')
    return '"%s"' % out.replace('%', '%%').replace('$', '$$')


def _seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.') or '0'


def render(task, argv, policy, rtdir, hosts=None, container=None, stop_timeout=5.0):
    """The unit text (pure). ``argv[0]`` absolute; ``hosts``: the task's hosts file, bound on
    /etc/hosts as ``ip netns exec`` does (a container mounts it itself); ``container``: podman and
    the container name, removed after each exit. Docker's max_attempts counts restarts, systemd's
    burst counts starts: burst = attempts + 1 (window 0: over the unit's life)."""
    limit = ['StartLimitIntervalSec=0']
    if policy['max_attempts']:
        limit = ['StartLimitIntervalSec=%s' % (_seconds(policy['window']) if policy['window'] else 'infinity'),
                 'StartLimitBurst=%d' % (policy['max_attempts'] + 1)]
    exits = os.path.join(rtdir, 'exits')
    head = ['# linuxnet.overlay: task %s; written by the task module, edits are undone by the next run' % task,
            '[Unit]', 'Description=linuxnet.overlay task %s' % task, 'After=%s' % BOOT_UNIT]
    lines = head + limit + ['', '[Service]', 'Type=exec', 'NetworkNamespacePath=/run/netns/%s' % task]
    if hosts and not container:
        lines.append('BindReadOnlyPaths=%s:/etc/hosts' % hosts)
    lines += ['WorkingDirectory=/', 'ExecStart=' + ' '.join(quote(a) for a in argv),
              'Restart=%s' % RESTART[policy['condition']], 'RestartSec=%s' % _seconds(policy['delay']),
              'TimeoutStopSec=%s' % _seconds(stop_timeout),
              'StandardOutput=append:%s' % os.path.join(rtdir, 'log'), 'StandardError=inherit',
              # systemd passes the exit as EXIT_CODE (exited, killed, dumped) and EXIT_STATUS
              'ExecStopPost=/bin/sh -c %s' % quote('echo "$(date +%%s) $EXIT_CODE $EXIT_STATUS" >> %s' % exits)]
    if container:
        podman, cname = container
        lines.append('ExecStopPost=-%s rm --force --ignore %s' % (quote(podman), quote(cname)))
    return '\n'.join(lines + ['', '[Install]', 'WantedBy=multi-user.target', ''])


def history(rtdir):
    """The command's exits as ``supervise.history`` reports them: last_exit or last_signal."""
    out = {'last_exit': None, 'last_signal': None}
    try:
        with open(os.path.join(rtdir, 'exits'), encoding='ascii') as f:
            last = [ln.split() for ln in f if ln.strip()][-1]
    except (OSError, IndexError):
        return out
    if len(last) >= 3 and last[1] == 'exited' and last[2].isdigit():
        out['last_exit'] = int(last[2])
    elif len(last) >= 3 and last[1] in ('killed', 'dumped'):
        try:
            out['last_signal'] = int(signal.Signals['SIG' + last[2]]) if not last[2].isdigit() else int(last[2])
        except KeyError:
            out['last_signal'] = -1
    return out


def settled(state, policy, hist):
    """A stopped unit its policy keeps down (pure): max attempts reached, or an exit the condition
    does not restart. Any other stopped unit (``systemctl stop`` by hand) is drift a run restarts."""
    if state['active'] not in ('inactive', 'failed'):
        return False
    # systemd 252 ends a unit whose restart the start limit refused as failed with the exit's own
    # result (exit-code), "Start request repeated too quickly"; NRestarts counts that refused one too
    if state['result'] == 'start-limit-hit' or (policy['max_attempts'] and state['restarts'] >= policy['max_attempts']):
        return True
    if policy['condition'] == 'none':
        return hist['last_exit'] is not None or hist['last_signal'] is not None
    return policy['condition'] == 'on-failure' and hist['last_exit'] == 0


def supervision(state, hist, policy=None):
    """What ``service ps`` shows of a unit, in runsv's words (filter ``_supervised_state``); the
    restarts that ran (NRestarts counts the one the start limit refused too)."""
    if state['active'] == 'active':
        name = 'run'
    elif state['active'] == 'deactivating':
        name = 'finish'          # recording the exit, before the delay
    elif state['active'] in ('activating', 'reloading') or state['queued']:
        name = 'starting'
    else:
        name = 'down'
    restarts = state['restarts']
    if name == 'down' and policy and policy['max_attempts']:
        restarts = min(restarts, policy['max_attempts'])
    return dict(hist, state=name, pid=state['pid'] if name == 'run' else None, restarts=restarts)


# ---------------------------------------------------------------------------------------------
# systemctl

def _systemctl(*args):
    exe = shutil.which('systemctl')
    if exe is None:
        raise UnitError('systemctl is not installed, yet %s exists' % SYSTEMD_RUN)
    return subprocess.run([exe] + list(args), capture_output=True, text=True, check=False)


def _must(*args):
    proc = _systemctl(*args)
    if proc.returncode != 0:
        raise UnitError('systemctl %s failed (%d): %s' % (' '.join(args), proc.returncode,
                                                          (proc.stderr or proc.stdout).strip()))
    return proc.stdout


def paths(unit):
    return os.path.join(UNIT_DIR, unit), os.path.join(UNIT_DIR, WANTS, unit)


def read_file(unit):
    try:
        with open(paths(unit)[0], encoding='utf-8') as f:
            return f.read()
    except OSError:
        return None


def enabled(unit):
    path, link = paths(unit)
    return os.path.realpath(link) == path and os.path.exists(path)


def state(unit):
    """What systemd knows of the unit: active (ActiveState), pid, restarts, result, queued (a start
    job waits: at boot, for the restore)."""
    props = {}
    for line in _must('show', '--property=' + ','.join(_PROPS), unit).splitlines():
        key, _sep, value = line.partition('=')
        props[key] = value
    active = props.get('ActiveState') or 'inactive'
    queued = False
    if active in ('inactive', 'failed'):
        jobs = _systemctl('list-jobs', '--no-legend', '--plain', unit).stdout
        queued = any(unit in ln.split() for ln in jobs.splitlines())
    pid = int(props.get('MainPID') or 0)
    return {'active': active, 'sub': props.get('SubState'), 'pid': pid or None, 'queued': queued,
            'restarts': int(props.get('NRestarts') or 0), 'result': props.get('Result'),
            'loaded': props.get('LoadState') == 'loaded'}


def _write(path, content):
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def install(unit, text):
    """Write and enable the unit (the wants link, as ``systemctl enable`` makes it), and reload."""
    path, link = paths(unit)
    if read_file(unit) != text:
        _write(path, text)
    if not enabled(unit):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(path, link)
    _must('daemon-reload')


def in_boot_unit():
    """This process runs in the boot unit (the restore): a task unit is ordered after it, so waiting
    for the task's start job there would wait for ourselves."""
    try:
        with open('/proc/self/cgroup', encoding='ascii') as f:
            return any(line.rstrip().endswith('/' + BOOT_UNIT) for line in f)
    except OSError:
        return False


def start(unit):
    """(Re)start with a fresh start count; '' or what systemd said when the command could not start.
    From the boot unit the job is queued, not waited for: it runs once the restore is done."""
    _systemctl('reset-failed', unit)
    proc = _systemctl('restart', unit, *(['--no-block'] if in_boot_unit() else []))
    return '' if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()


def stop(unit):
    if os.path.exists(paths(unit)[0]):
        _must('stop', unit)


def remove(unit):
    """Stop, disable, delete, reload: nothing of the unit is left."""
    stop(unit)
    for path in reversed(paths(unit)):
        if os.path.lexists(path):
            os.unlink(path)
    _must('daemon-reload')
    _systemctl('reset-failed', unit)
