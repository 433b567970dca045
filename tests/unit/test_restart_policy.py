# -*- coding: utf-8 -*-
"""The restart policy as Docker takes it (module_utils/restart.py) and the runsv scripts that
carry it out (node/supervise.py), pure."""

from __future__ import annotations

import pytest

from ansible_collections.linuxnet.overlay.plugins.module_utils import restart as R
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import supervise as S


@pytest.mark.parametrize('text,seconds', [(5, 5.0), (0.5, 0.5), ('5', 5.0), ('5s', 5.0), ('500ms', 0.5),
                                          ('1m30s', 90.0), ('1h', 3600.0), ('0s', 0.0), ('2.5s', 2.5)])
def test_durations_as_docker_takes_them(text, seconds):
    assert R.duration(text, 'delay') == seconds


@pytest.mark.parametrize('bad', ['soon', '5 s', '-1s', -1, True, '1d', 's', ''])
def test_bad_durations_name_the_value(bad):
    with pytest.raises(R.PolicyError, match='delay'):
        R.duration(bad, 'delay')


def test_policy_defaults_are_dockers():
    assert R.validate_policy(None) is None
    assert R.validate_policy({}) == {'condition': 'any', 'delay': 5.0, 'max_attempts': 0, 'window': 0.0}
    p = R.validate_policy({'condition': 'on-failure', 'delay': '2s', 'max_attempts': '3', 'window': '1m'})
    assert p == {'condition': 'on-failure', 'delay': 2.0, 'max_attempts': 3, 'window': 60.0}
    assert R.validate_policy(p) == p, 'a checked policy checks again to itself (plan -> task module)'


@pytest.mark.parametrize('raw,says', [
    ({'condition': 'always'}, "condition 'always' is not one of any, on-failure, none"),
    ({'max_attempts': -1}, 'max_attempts -1 is not a whole number'),
    ({'max_attempts': 1.5}, 'max_attempts 1.5'),
    ({'delay': 'later'}, "delay 'later' is not a duration"),
    ({'retries': 3}, 'unknown key(s) retries'),
    ('any', 'must be a mapping'),
])
def test_bad_policies_are_refused(raw, says):
    with pytest.raises(R.PolicyError) as err:
        R.validate_policy(raw, 'service web: restart_policy')
    assert says in str(err.value) and str(err.value).startswith('service web: restart_policy')


def test_the_scripts_carry_the_policy():
    policy = R.validate_policy({'condition': 'on-failure', 'delay': '1.5s', 'max_attempts': 2, 'window': '10s'})
    files = S.files('/run/x/t/sv', 't', ['sh', '-c', 'echo "a b"; exit 1'], policy)
    run, finish = files['/run/x/t/sv/run'], files['/run/x/t/sv/finish']
    assert run.endswith("exec sh -c 'echo \"a b\"; exit 1'\n")
    assert 'condition=on-failure delay=1.5 max_attempts=2 window=10' in finish
    assert 'sleep 1.5\n' in finish and '>> /run/x/t/exits\n' in finish
    assert S.argv('/run/x/t/sv') == ['runsv', '/run/x/t/sv']


def test_status_reads_runits_status_record(tmp_path):
    sup = tmp_path / 'sv' / 'supervise'
    sup.mkdir(parents=True)
    assert S.status(str(tmp_path / 'sv')) == {'state': None, 'pid': None}

    def record(pid, want, state):
        (sup / 'status').write_bytes(b'\0' * 12 + pid.to_bytes(4, 'little') + b'\0' + want + b'\0' + bytes([state]))
        return S.status(str(tmp_path / 'sv'))
    assert record(4242, b'u', 1) == {'state': 'run', 'pid': 4242}
    assert record(4243, b'u', 2) == {'state': 'finish', 'pid': None}
    assert record(0, b'u', 0) == {'state': 'starting', 'pid': None}
    assert record(0, b'd', 0) == {'state': 'down', 'pid': None}


def test_history_counts_restarts_and_keeps_the_last_exit(tmp_path):
    assert S.history(str(tmp_path)) == {'restarts': 0, 'last_exit': None, 'last_signal': None}
    (tmp_path / 'exits').write_text('100 3 0\n101 -1 9\n')
    (tmp_path / 'exits.restarts').write_text('100\n101\n')
    assert S.history(str(tmp_path)) == {'restarts': 2, 'last_exit': None, 'last_signal': 9}
