"""A supervised task as a systemd unit (node/unit.py): the unit text, the name, what a stopped
unit means. Where systemd-analyze is installed (systemd 252 on Debian 12, even without systemd
as PID 1), the rendered units are also parsed by systemd itself."""

import os
import shutil
import subprocess

import pytest

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import unit as U
from ansible_collections.linuxnet.overlay.plugins.module_utils.restart import validate_policy

RT = '/run/linuxnet-overlay/tasks/mesh.1.x'


def _lines(text):
    return [ln for ln in text.splitlines() if ln and not ln.startswith('#')]


def test_name_escapes_what_a_unit_name_cannot_hold():
    assert U.name_of('mesh.1.abc') == 'linuxnet-overlay-task-mesh.1.abc.service'
    assert U.name_of('a+b@c_d-e') == 'linuxnet-overlay-task-a\\x2bb\\x40c_d-e.service'


def test_policy_maps_to_restart_and_start_limits():
    text = U.render('mesh.1.x', ['/bin/sleep', '1'], validate_policy({'condition': 'on-failure', 'delay': '1500ms',
                                                                     'max_attempts': 3, 'window': '1m'}), RT)
    lines = _lines(text)
    assert 'Restart=on-failure' in lines and 'RestartSec=1.5' in lines
    # systemd counts starts, Docker restarts: 3 restarts are 4 starts
    assert 'StartLimitBurst=4' in lines and 'StartLimitIntervalSec=60' in lines
    assert 'NetworkNamespacePath=/run/netns/mesh.1.x' in lines and 'After=linuxnet-overlay.service' in lines
    assert 'WantedBy=multi-user.target' in lines and 'Type=exec' in lines
    always = _lines(U.render('t', ['/bin/true'], validate_policy({}), RT))
    assert 'Restart=always' in always and 'RestartSec=5' in always and 'StartLimitIntervalSec=0' in always
    assert not any(ln.startswith('StartLimitBurst') for ln in always)
    lifelong = _lines(U.render('t', ['/bin/true'], validate_policy({'condition': 'none', 'max_attempts': 2}), RT))
    assert 'Restart=no' in lifelong and 'StartLimitIntervalSec=infinity' in lifelong and 'StartLimitBurst=3' in lifelong


def test_hosts_file_is_bound_for_a_command_not_for_a_container():
    pol = validate_policy({})
    cmd = U.render('t', ['/bin/true'], pol, RT, hosts='/etc/netns/t/hosts')
    assert 'BindReadOnlyPaths=/etc/netns/t/hosts:/etc/hosts' in cmd
    box = U.render('t', ['/usr/bin/podman', 'run', 'img'], pol, RT, hosts='/etc/netns/t/hosts',
                   container=('/usr/bin/podman', 't'))
    assert 'BindReadOnlyPaths' not in box
    assert 'ExecStopPost=-"/usr/bin/podman" rm --force --ignore "t"' in box


def test_quote_keeps_the_command_literal():
    assert U.quote('a b') == '"a b"'
    assert U.quote('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert U.quote('100% of $HOME') == '"100%% of $$HOME"'
    assert U.quote('back\\slash') == '"back\\\\slash"'


def _hist(tmp_path, line):
    (tmp_path / 'exits').write_text(line)
    return U.history(str(tmp_path))


def test_history_reads_systemds_exit_codes(tmp_path):
    assert U.history(str(tmp_path)) == {'last_exit': None, 'last_signal': None}
    assert _hist(tmp_path, '1 exited 0\n2 exited 3\n') == {'last_exit': 3, 'last_signal': None}
    assert _hist(tmp_path, '1 killed KILL\n') == {'last_exit': None, 'last_signal': 9}
    assert _hist(tmp_path, '1 dumped SEGV\n') == {'last_exit': None, 'last_signal': 11}


def _st(active, result='success', queued=False, pid=None, restarts=0):
    return {'active': active, 'result': result, 'queued': queued, 'pid': pid, 'restarts': restarts}


def test_settled_is_what_the_policy_keeps_down():
    exit0, exit1 = {'last_exit': 0, 'last_signal': None}, {'last_exit': 1, 'last_signal': None}
    none = {'last_exit': None, 'last_signal': None}
    on_failure, anyc, never = (validate_policy({'condition': c}) for c in ('on-failure', 'any', 'none'))
    assert U.settled(_st('inactive'), on_failure, exit0)
    assert not U.settled(_st('failed', 'exit-code'), on_failure, exit1)     # it would restart: drift
    assert U.settled(_st('failed', 'start-limit-hit'), anyc, exit1)        # a start refused by the limit
    capped = validate_policy({'max_attempts': 2})
    # systemd 252: the refused restart leaves Result=exit-code, NRestarts counts it (measured in a VM guest)
    assert U.settled(_st('failed', 'exit-code', restarts=3), capped, exit1)
    assert not U.settled(_st('failed', 'exit-code', restarts=1), capped, exit1)
    assert not U.settled(_st('inactive'), anyc, exit0)                     # stopped by hand: drift
    assert U.settled(_st('failed', 'exit-code'), never, exit1)
    assert not U.settled(_st('inactive'), never, none)                     # never ran
    assert not U.settled(_st('active'), never, exit0)


def test_supervision_in_runsvs_words():
    hist = {'last_exit': None, 'last_signal': 9}
    assert U.supervision(_st('active', pid=42, restarts=2), hist) == dict(hist, state='run', pid=42, restarts=2)
    assert U.supervision(_st('activating', pid=42), hist)['state'] == 'starting'
    assert U.supervision(_st('inactive', queued=True), hist)['state'] == 'starting'
    assert U.supervision(_st('deactivating'), hist)['state'] == 'finish'
    assert U.supervision(_st('failed', 'start-limit-hit'), hist) == dict(hist, state='down', pid=None, restarts=0)
    assert U.supervision(_st('failed', 'exit-code', restarts=3), hist, validate_policy({'max_attempts': 2}))['restarts'] == 2


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='systemd-analyze is not installed')
def test_systemd_parses_the_units(tmp_path):
    script = 'import socket\nprint("50% of $HOME", \'x\')\n'
    text = U.render('mesh.1.x', ['/bin/sh', '-c', script], validate_policy({'max_attempts': 2, 'window': '10s'}),
                    str(tmp_path), hosts='/etc/hosts')
    path = tmp_path / U.name_of('mesh.1.x')
    path.write_text(text)
    proc = subprocess.run(['systemd-analyze', 'verify', '--man=no', str(path)], capture_output=True, text=True,
                          env=dict(os.environ, SYSTEMD_LOG_LEVEL='debug'), check=False)
    assert proc.returncode == 0, proc.stderr
    dump = proc.stdout + proc.stderr
    assert 'Restart: always' in dump and 'StartLimitBurst' not in text.split('[Service]')[1]
    # the command line systemd will run: the script kept verbatim ($$ is systemd's literal $)
    assert 'Command Line: /bin/sh -c "import socket\\nprint(\\"50% of \\$\\$HOME\\", \'x\')\\n"' in dump
