# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure part of node/restore.py: what a node's plan directory holds (no root, no kernel)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import types

import pytest

_BUILD = os.path.join(os.path.dirname(__file__), '..', '..', '.build')
if os.path.isdir(_BUILD) and os.path.abspath(_BUILD) not in sys.path:
    sys.path.insert(0, os.path.abspath(_BUILD))

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import restore as R  # noqa: E402

PKG = R.PACKAGE


def _mod(name, source, package=False):
    m = types.ModuleType(name)

    class Loader:
        @staticmethod
        def get_source(fullname):
            assert fullname == name
            return source
    m.__loader__ = Loader()
    if package:
        m.__path__ = []
    return m


@pytest.mark.parametrize('part,params,empty', [
    ('guard', {'vnis': [4097], 'state': 'present'}, False),
    ('guard', {'vnis': [], 'state': 'present'}, True),
    ('guard', {'vnis': [4097], 'state': 'absent'}, True),
    ('xfrm', {'states': [], 'policies': [{'dir': 'out'}], 'state': 'present'}, False),
    ('xfrm', {'states': [], 'policies': []}, True),
    ('sandbox', {'sandboxes': [], 'tasks': [], 'gateway': None}, True),
    ('sandbox', {'sandboxes': [], 'tasks': [{'name': 't'}]}, False),
    ('sandbox', {'sandboxes': [{'netns': 'ov-x'}], 'tasks': None}, False),
])
def test_an_empty_part_keeps_no_file(part, params, empty):
    assert R.is_empty(part, params) is empty


def test_the_plan_is_the_parameters_without_the_directory_in_a_stable_form():
    a = R.plan_text({'plan_dir': '/x', 'b': [2, 1], 'a': {'z': 1, 'y': 2}})
    b = R.plan_text({'a': {'y': 2, 'z': 1}, 'b': [2, 1], 'plan_dir': '/elsewhere'})
    assert a == b and json.loads(a) == {'a': {'y': 2, 'z': 1}, 'b': [2, 1]}   # list order is kept (argv)


def test_code_files_are_this_package_only_by_path():
    modules = {PKG: _mod(PKG, '', package=True), PKG + '.node': _mod(PKG + '.node', '', package=True),
               PKG + '.node.task': _mod(PKG + '.node.task', 'X = 1\n'), 'json': json, 'gone': None}
    files = R.code_files(modules)
    assert files == {PKG.replace('.', '/') + '/__init__.py': '', PKG.replace('.', '/') + '/node/__init__.py': '',
                     PKG.replace('.', '/') + '/node/task.py': 'X = 1\n'}


def test_a_module_without_source_is_an_error_a_namespace_package_is_skipped():
    ns = types.ModuleType(PKG)
    ns.__path__ = []
    assert R.code_files({PKG: ns}) == {}
    bare = types.ModuleType(PKG + '.node.task')
    with pytest.raises(R.RestoreError, match='cannot read the source of %s' % (PKG + '.node.task')):
        R.code_files({PKG + '.node.task': bare})


def test_wanted_files_modes_and_the_boot_unit_only_with_systemd():
    mods = {PKG + '.node.task': _mod(PKG + '.node.task', 'X = 1\n')}
    params = {'plan_dir': '/p', 'sandboxes': [{'netns': 'ov-x'}]}
    want, gone = R.wanted_files('/p', 'sandbox', params, mods, '/usr/bin/python3', systemd=False)
    assert gone == [] and {p: m for p, (_c, m) in want.items()} == {
        '/p/sandbox.json': 0o600, '/p/restore': 0o700, '/p/lib/%s/node/task.py' % PKG.replace('.', '/'): 0o600}
    assert want['/p/restore'][0].startswith('#!/usr/bin/python3\n') and "'/p/lib'" in want['/p/restore'][0]
    with_unit, dummy = R.wanted_files('/p', 'sandbox', params, mods, '/usr/bin/python3', systemd=True)
    unit = with_unit['/etc/systemd/system/linuxnet-overlay.service']
    assert unit[1] == 0o644 and 'After=network-online.target' in unit[0]
    # the start rebuilds nothing after a run in this boot; the stop keeps the SAs' sequence numbers
    assert 'ExecStart=/p/restore --boot\n' in unit[0] and 'ExecStop=/p/restore --save-counters\n' in unit[0]
    assert 'RemainAfterExit=yes\n' in unit[0]
    # only the sandbox part writes the unit; an empty part wants its file gone
    guard, dummy = R.wanted_files('/p', 'guard', {'vnis': [1]}, mods, '/usr/bin/python3', systemd=True)
    assert not [p for p in guard if p.startswith('/etc/')]
    assert R.wanted_files('/p', 'xfrm', {'states': [], 'policies': []}, mods, 'py', True) == ({}, ['/p/xfrm.json'])


def test_restore_runs_the_parts_in_fail_closed_order():
    assert [p for p, _c, _e in R.PARTS] == ['guard', 'xfrm', 'sandbox']


# --- the sequence numbers kept at the unit's stop -----------------------------------------------

REQID = 0x4C4E4F


def _sa(src, dst, spi, oseq=0, seq=0, esn=True, window=128, reqid=REQID):
    return {'src': ipaddress.ip_address(src), 'dst': ipaddress.ip_address(dst), 'spi': spi, 'proto': 50,
            'reqid': reqid, 'esn': esn, 'replay_window': window, 'mark': None, 'aead': {'key': b'k' * 20},
            'counters': {'oseq': oseq, 'seq': seq}}


def _kept(src, dst, spi, oseq=0, seq=0):
    return {'src': src, 'dst': dst, 'spi': spi, 'oseq': oseq, 'seq': seq}


def test_what_a_stop_keeps_is_ours_and_no_key():
    sts = [_sa('192.0.2.2', '192.0.2.1', 0x300, seq=7), _sa('192.0.2.1', '192.0.2.2', 0x200, oseq=9),
           _sa('192.0.2.1', '192.0.2.9', 0x400, oseq=1, reqid=0xD0C4E3),            # Docker's: not ours
           dict(_sa('192.0.2.1', '192.0.2.3', 0x500), counters=None)]                # nothing dumped
    assert R.counters_of(sts) == [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=9),
                                  _kept('192.0.2.2', '192.0.2.1', 0x300, seq=7)]


def test_fresh_sas_go_on_above_the_kept_numbers():
    out_sa, in_sa = _sa('192.0.2.1', '192.0.2.2', 0x200), _sa('192.0.2.2', '192.0.2.1', 0x300)
    kept = [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=(7 << 32) + 5), _kept('192.0.2.2', '192.0.2.1', 0x300, seq=1234)]
    changes, notes = R.new_counters([out_sa, in_sa], kept)
    # outbound: what it may have sent after the save is below the margin; inbound: the peer goes on above
    assert changes == [(out_sa, (7 << 32) + 5 + R.MARGIN, 0), (in_sa, 0, 1234)] and notes == []
    assert R.MARGIN == 1 << 20


def test_an_esn_jump_across_2_to_the_32_is_fine():
    sa = _sa('192.0.2.1', '192.0.2.2', 0x200)
    changes, dummy = R.new_counters([sa], [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=(1 << 32) - 10)])
    assert changes == [(sa, (1 << 32) - 10 + R.MARGIN, 0)]


def test_without_esn_the_numbers_stay_below_2_to_the_32():
    sa = _sa('192.0.2.1', '192.0.2.2', 0x200, esn=False, window=32)
    assert R.new_counters([sa], [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=1000)])[0] == [(sa, 1000 + R.MARGIN, 0)]
    changes, notes = R.new_counters([sa], [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=(1 << 32) - 100)])
    assert changes == [] and len(notes) == 1
    assert 'SA 192.0.2.1 -> 192.0.2.2 spi 0x00000200: no extended sequence numbers' in notes[0]
    assert 'passes 2^32' in notes[0] and 'next key rotation' in notes[0]
    # no ESN and no window: the peer checks nothing, there is nothing to set
    bare = _sa('192.0.2.1', '192.0.2.2', 0x200, esn=False, window=0)
    assert R.new_counters([bare], [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=1000)]) == ([], [])


def test_sas_not_kept_or_not_fresh_are_left_alone():
    kept = [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=500), _kept('192.0.2.2', '192.0.2.1', 0x300, seq=500)]
    other_spi = _sa('192.0.2.1', '192.0.2.2', 0x201)                       # a rotation made it: not in the file
    other_src = _sa('192.0.2.9', '192.0.2.2', 0x200)
    live_out = _sa('192.0.2.1', '192.0.2.2', 0x200, oseq=900)             # still in the kernel since the stop
    live_in = _sa('192.0.2.2', '192.0.2.1', 0x300, seq=501)
    assert R.new_counters([other_spi, other_src, live_out, live_in], kept) == ([], [])
    never_used = [_kept('192.0.2.1', '192.0.2.2', 0x200)]
    assert R.new_counters([_sa('192.0.2.1', '192.0.2.2', 0x200)], never_used) == ([], [])


class FakeIpsec:
    def __init__(self, states, fail=None):
        self.states, self.fail, self.set = states, fail, []

    def counted_states(self, params, check_mode=False):
        assert params['netns'] == 'ns1'
        return self.states

    def set_counters(self, netns, changes):
        if self.fail:
            raise R._ipsec.IpsecError(self.fail)
        self.set.append((netns, changes))


def _plan_dir(tmp_path, kept=None):
    plan_dir = tmp_path / 'node'
    plan_dir.mkdir(mode=0o700, parents=True)
    if kept is not None:
        (plan_dir / 'counters.json').write_text(json.dumps(kept))
    return str(plan_dir)


def _fake_ipsec(monkeypatch, fake):
    monkeypatch.setattr(R._ipsec, 'counted_states', fake.counted_states)
    monkeypatch.setattr(R._ipsec, 'set_counters', fake.set_counters)


def test_the_restore_sets_the_counters_once(monkeypatch, tmp_path):
    sa = _sa('192.0.2.1', '192.0.2.2', 0x200)
    fake = FakeIpsec([sa])
    _fake_ipsec(monkeypatch, fake)
    plan_dir = _plan_dir(tmp_path, [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=50)])
    params = {'netns': 'ns1'}
    assert R.restore_counters(plan_dir, params, check_mode=True) == [
        'set the sequence numbers of 1 SA from the counters kept at shutdown']
    assert fake.set == [] and os.path.exists(plan_dir + '/counters.json')       # check mode: nothing changed
    assert R.restore_counters(plan_dir, params) == ['set the sequence numbers of 1 SA from the counters kept at shutdown']
    assert fake.set == [('ns1', [(sa, 50 + R.MARGIN, 0)])]
    assert not os.path.exists(plan_dir + '/counters.json')                      # used once
    assert R.restore_counters(plan_dir, params) == []


def test_counters_that_cannot_be_used_stop_the_restore_with_a_clear_message(monkeypatch, tmp_path):
    _fake_ipsec(monkeypatch, FakeIpsec([_sa('192.0.2.1', '192.0.2.2', 0x200)], fail='cannot set ... : No such process'))
    plan_dir = _plan_dir(tmp_path, [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=50)])
    with pytest.raises(R.RestoreError, match=r'^xfrm: cannot set .*used once: .*counters.json is gone'):
        R.restore_counters(plan_dir, {'netns': 'ns1'})
    bad = _plan_dir(tmp_path / 'b', [{'src': '192.0.2.1'}])
    with pytest.raises(R.RestoreError, match="counters.json: not the counters the unit's stop wrote"):
        R.restore_counters(bad, {'netns': 'ns1'})
    (tmp_path / 'b' / 'node' / 'counters.json').write_text('[{')
    with pytest.raises(R.RestoreError, match="not the JSON the unit's stop wrote .*remove it to restore without them"):
        R.restore_counters(bad, {'netns': 'ns1'})


def test_save_counters_writes_root_only_and_nothing_for_no_sa(monkeypatch, tmp_path):
    fake = FakeIpsec([_sa('192.0.2.1', '192.0.2.2', 0x200, oseq=3)])
    _fake_ipsec(monkeypatch, fake)
    plan_dir = _plan_dir(tmp_path)
    lines = []
    assert R.save_counters(plan_dir, out=lines.append) == 0                     # no xfrm part kept: nothing
    assert not os.path.exists(plan_dir + '/counters.json')
    with open(plan_dir + '/xfrm.json', 'w', encoding='utf-8') as f:
        json.dump({'netns': 'ns1', 'state': 'present'}, f)
    assert R.save_counters(plan_dir, check_mode=True, out=lines.append) == 1
    assert not os.path.exists(plan_dir + '/counters.json')
    assert R.save_counters(plan_dir, out=lines.append) == 1
    path = plan_dir + '/counters.json'
    assert oct(os.stat(path).st_mode & 0o7777) == '0o600'
    assert json.load(open(path, encoding='utf-8')) == [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=3)]
    assert lines[-1] == 'kept the sequence numbers of 1 SA in %s' % path
    assert lines[-2].startswith('would keep the sequence numbers of 1 SA')
    fake.states = []
    assert R.save_counters(plan_dir, out=lines.append) == 0 and not os.path.exists(path)   # an old file goes


def test_boot_after_a_run_in_this_boot_rebuilds_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(os, 'geteuid', lambda: 0)
    calls = []
    monkeypatch.setattr(R, 'restore', lambda plan_dir, check_mode=False, out=None: calls.append(check_mode) or [])
    plan_dir = _plan_dir(tmp_path, [_kept('192.0.2.1', '192.0.2.2', 0x200, oseq=5)])
    marker = str(tmp_path / 'run' / 'applied')
    assert R.main(['--boot'], plan_dir, marker) == 0 and calls == [False]        # no marker: a reboot, restore
    assert os.path.exists(plan_dir + '/counters.json')                         # (the fake restore keeps it)
    os.makedirs(os.path.dirname(marker))
    open(marker, 'w', encoding='utf-8').close()
    assert R.main(['--boot', '--check'], plan_dir, marker) == 0 and calls == [False]
    assert os.path.exists(plan_dir + '/counters.json')
    assert R.main(['--boot'], plan_dir, marker) == 0 and calls == [False]
    assert 'a run applied the plan in this boot (%s): nothing to restore' % marker in capsys.readouterr().out
    # counters from a stop in this boot are of SAs still in the kernel: never for a later crash
    assert not os.path.exists(plan_dir + '/counters.json')
    assert R.main([], plan_dir, marker) == 0 and calls == [False, False]         # without --boot: always
    assert R.main(['--bogus'], plan_dir, marker) == 2


# --- the boot unit runs in this boot (systemd faked) -------------------------------------------

class FakeSystemctl:
    def __init__(self, state='inactive'):
        self.state, self.calls = state, []

    def __call__(self, *args):
        self.calls.append(' '.join(args))
        if args[0] == 'is-active':
            return subprocess.CompletedProcess(args, 0 if self.state == 'active' else 3, self.state + '\n', '')
        if args[0] == 'start':
            self.state = 'active'
        if args[0] == 'stop':
            self.state = 'inactive'
        return subprocess.CompletedProcess(args, 0, '', '')


def _systemd(monkeypatch, tmp_path, state='inactive'):
    fake = FakeSystemctl(state)
    monkeypatch.setattr(R, '_systemctl', fake)
    monkeypatch.setattr(R, 'UNIT_DIR', str(tmp_path / 'etc'))
    return fake


def _save(tmp_path, check_mode=False, sandboxes=({'netns': 'ov-x'},)):
    params = {'plan_dir': str(tmp_path / 'node'), 'sandboxes': list(sandboxes)}
    return R.save('sandbox', params, check_mode, modules={PKG + '.x': _mod(PKG + '.x', 'X = 1\n')},
                  python='/usr/bin/python3', systemd=True, marker=str(tmp_path / 'run' / 'applied'))


START = 'start the boot unit linuxnet-overlay.service (its stop at shutdown keeps the ESP sequence numbers)'


def test_a_run_starts_the_boot_unit_after_marking_the_boot(monkeypatch, tmp_path):
    fake = _systemd(monkeypatch, tmp_path)
    pred = _save(tmp_path, check_mode=True)
    assert pred[-2:] == ['enable the boot unit linuxnet-overlay.service', START]
    assert fake.calls == ['is-active linuxnet-overlay.service'] and not os.path.exists(tmp_path / 'run')
    fake.calls.clear()
    done = _save(tmp_path)
    assert done == pred
    assert fake.calls == ['is-active linuxnet-overlay.service', 'daemon-reload', 'start linuxnet-overlay.service']
    marker = str(tmp_path / 'run' / 'applied')
    assert oct(os.stat(marker).st_mode & 0o7777) == '0o600'
    # the next run: the unit runs, nothing to do
    fake.calls.clear()
    assert _save(tmp_path) == [] and fake.calls == ['is-active linuxnet-overlay.service']


def test_a_unit_that_changed_while_running_is_reloaded_not_restarted(monkeypatch, tmp_path):
    fake = _systemd(monkeypatch, tmp_path, state='active')
    _save(tmp_path)
    unit = tmp_path / 'etc' / 'linuxnet-overlay.service'
    unit.write_text(unit.read_text().replace(' --boot', ''))          # an older collection's unit
    fake.calls.clear()
    assert _save(tmp_path) == ['write %s' % unit]
    assert fake.calls == ['is-active linuxnet-overlay.service', 'daemon-reload']


def test_a_boot_with_the_unit_writes_the_marker_without_a_change(monkeypatch, tmp_path):
    fake = _systemd(monkeypatch, tmp_path, state='active')
    _save(tmp_path)
    os.unlink(str(tmp_path / 'run' / 'applied'))                      # a reboot: tmpfs is empty
    fake.calls.clear()
    assert _save(tmp_path) == [] and os.path.exists(str(tmp_path / 'run' / 'applied'))
    assert _save(tmp_path, check_mode=True) == []


def test_a_teardown_stops_and_removes_the_unit_and_leaves_nothing(monkeypatch, tmp_path):
    fake = _systemd(monkeypatch, tmp_path)
    _save(tmp_path)
    with open(str(tmp_path / 'node' / 'counters.json'), 'w', encoding='utf-8') as f:
        f.write('[]')
    fake.calls.clear()
    gone = _save(tmp_path, sandboxes=())
    assert gone[0] == 'remove the kept plan %s' % (tmp_path / 'node' / 'sandbox.json')
    assert gone[1] == 'stop the boot unit linuxnet-overlay.service'
    assert fake.calls == ['is-active linuxnet-overlay.service', 'stop linuxnet-overlay.service', 'daemon-reload']
    assert not os.path.exists(tmp_path / 'node') and not os.path.exists(tmp_path / 'run' / 'applied')
    assert os.listdir(str(tmp_path / 'etc')) == ['multi-user.target.wants']
    assert os.listdir(str(tmp_path / 'etc' / 'multi-user.target.wants')) == []


def test_a_systemctl_failure_is_a_restore_error(monkeypatch, tmp_path):
    fake = _systemd(monkeypatch, tmp_path)

    def refuse(*args):
        if args[0] == 'start':
            return subprocess.CompletedProcess(args, 1, '', 'Job for linuxnet-overlay.service failed.\n')
        return fake(*args)
    monkeypatch.setattr(R, '_systemctl', refuse)
    with pytest.raises(R.RestoreError, match=r'systemctl start linuxnet-overlay.service failed \(1\): Job for'):
        _save(tmp_path)
