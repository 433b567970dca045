# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure part of node/restore.py: what a node's plan directory holds (no root, no kernel)."""

from __future__ import annotations

import json
import os
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
    assert unit[1] == 0o644 and 'ExecStart=/p/restore\n' in unit[0] and 'After=network-online.target' in unit[0]
    # only the sandbox part writes the unit; an empty part wants its file gone
    guard, dummy = R.wanted_files('/p', 'guard', {'vnis': [1]}, mods, '/usr/bin/python3', systemd=True)
    assert not [p for p in guard if p.startswith('/etc/')]
    assert R.wanted_files('/p', 'xfrm', {'states': [], 'policies': []}, mods, 'py', True) == ({}, ['/p/xfrm.json'])


def test_restore_runs_the_parts_in_fail_closed_order():
    assert [p for p, _c, _e in R.PARTS] == ['guard', 'xfrm', 'sandbox']
