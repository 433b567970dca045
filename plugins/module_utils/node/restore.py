# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node that comes back after a reboot without a controller run (private).

Everything the collection makes on a node is kernel state (namespaces, links, peer entries, nft
tables, xfrm) or a process, so a reboot loses all of it. Docker keeps its networks in its own
store and rebuilds them when dockerd starts; here each module that builds a node's data plane
(``encryption_guard``, ``xfrm``, ``sandbox``) keeps, after a run that worked, the parameters it
applied in the node's plan directory (root only: 0700, files 0600; the SA keys are there as they
are in the kernel), together with the code that applied them (this package's own files, as the
module loaded them) and ``restore``, a program that runs that code again in the same order as
the roles: the guard, the SAs, then the sandboxes, gateway and tasks (fail closed). Where systemd
is PID 1 a boot unit (``linuxnet-overlay.service``) runs it; elsewhere it is one command.

A part whose plan is empty (a teardown) removes its file; the last one removes the directory and
the unit, so a node that left the cluster keeps nothing.
"""

from __future__ import annotations

import json
import os
import sys

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import dataplane as _dataplane
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import guard as _guard
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import ipsec as _ipsec

PLAN_DIR = '/var/lib/linuxnet-overlay/node'
PACKAGE = 'ansible_collections.linuxnet.overlay.plugins.module_utils'
UNIT_DIR = '/etc/systemd/system'
UNIT = 'linuxnet-overlay.service'
WANTS = 'multi-user.target.wants'
# restore order: nothing of an encrypted network before its guard and SAs (as roles/network does)
PARTS = (('guard', _guard.converge, _guard.GuardError), ('xfrm', _ipsec.converge, _ipsec.IpsecError),
         ('sandbox', _dataplane.converge, _dataplane.DataplaneError))

UNIT_TEXT = """[Unit]
Description=linuxnet.overlay: rebuild this node's overlay networks and tasks from its last applied plan
Documentation=file://{plan_dir}/restore
Wants=network-online.target
After=network-online.target
ConditionPathExists={plan_dir}/sandbox.json

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={plan_dir}/restore

[Install]
WantedBy=multi-user.target
"""

SCRIPT = """#!{python}
# linuxnet.overlay: rebuild this node's overlay data plane from the plan its last run applied,
# with the code that applied it (lib/), without the controller. --check: say what it would do.
import sys
sys.path.insert(0, {lib!r})
from {package}.node import restore
sys.exit(restore.main(sys.argv[1:], {plan_dir!r}))
"""


class RestoreError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Pure: what the plan directory should hold

def is_empty(part, params):
    """An empty plan (nothing of this part on the node) keeps no file."""
    if part == 'guard':
        return params.get('state') == 'absent' or not params.get('vnis')
    if part == 'xfrm':
        return params.get('state') == 'absent' or not (params.get('states') or params.get('policies'))
    return not (params.get('sandboxes') or params.get('tasks') or params.get('gateway'))


def plan_text(params):
    kept = {k: v for k, v in sorted(params.items()) if k != 'plan_dir'}
    return json.dumps(kept, indent=1, sort_keys=True) + '\n'


def _mitogen_source(mod):
    """Mitogen's importer for module_utils has no get_source: it fetches each file from the
    controller by the path after "master:" in ``__file__``; ask it the same way."""
    origin = getattr(mod, '__file__', None) or ''
    if not origin.startswith('master:'):
        return None
    try:
        from ansible_mitogen import target  # pylint: disable=import-outside-toplevel
        return target.get_small_file(mod.__loader__._context, origin[len('master:'):]).decode('utf-8')
    # any failure (mitogen's CallError too) is reported by code_files as a source it cannot read
    except Exception:  # pylint: disable=broad-except
        return None


def code_files(modules):
    """{relative path: source} of this package's modules among ``modules`` (sys.modules)."""
    files = {}
    for name, mod in sorted(modules.items()):
        if mod is None or not (name == PACKAGE or name.startswith(PACKAGE + '.')):
            continue
        loader = getattr(mod, '__loader__', None)
        source = None
        if loader is not None and hasattr(loader, 'get_source'):
            try:
                source = loader.get_source(name)
            except (ImportError, OSError):
                source = None
        if source is None:
            source = _mitogen_source(mod)
        if source is None and getattr(mod, '__file__', None) and os.path.isfile(mod.__file__):
            with open(mod.__file__, encoding='utf-8') as f:
                source = f.read()
        if source is None:
            if hasattr(mod, '__path__'):
                continue          # a namespace package: nothing to write
            raise RestoreError('cannot read the source of %s to keep it for a restore' % name)
        path = name.replace('.', '/') + ('/__init__.py' if hasattr(mod, '__path__') else '.py')
        files[path] = source
    return files


def wanted_files(plan_dir, part, params, modules, python, systemd):
    """{absolute path: (content, mode)} this part wants, and the paths it wants gone."""
    path = os.path.join(plan_dir, part + '.json')
    if is_empty(part, params):
        return {}, [path]
    lib = os.path.join(plan_dir, 'lib')
    want = {path: (plan_text(params), 0o600),
            os.path.join(plan_dir, 'restore'): (SCRIPT.format(python=python, lib=lib, package=PACKAGE,
                                                              plan_dir=plan_dir), 0o700)}
    for rel, source in code_files(modules).items():
        want[os.path.join(lib, rel)] = (source, 0o600)
    if systemd and part == 'sandbox':
        want[os.path.join(UNIT_DIR, UNIT)] = (UNIT_TEXT.format(plan_dir=plan_dir), 0o644)
    return want, []


# ---------------------------------------------------------------------------------------------
# Files

def _read(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read(), os.stat(path).st_mode & 0o7777
    except OSError:
        return None, None


def _write(path, content, mode):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = '%s.tmp.%d' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _remove_all(plan_dir, actions, check_mode):
    unit = os.path.join(UNIT_DIR, UNIT)
    link = os.path.join(UNIT_DIR, WANTS, UNIT)
    for path in (link, unit):
        if os.path.lexists(path):
            actions.append('remove the boot unit %s' % path)
            if not check_mode:
                os.unlink(path)
    if os.path.isdir(plan_dir):
        actions.append('remove the plan directory %s' % plan_dir)
        if not check_mode:
            for root, dirs, files in os.walk(plan_dir, topdown=False):
                for n in files:
                    os.unlink(os.path.join(root, n))
                for n in dirs:
                    os.rmdir(os.path.join(root, n))
            os.rmdir(plan_dir)
            try:
                os.rmdir(os.path.dirname(plan_dir))     # made for it on a worker; a manager's holds its state
            except OSError:
                pass


def save(part, params, check_mode=False, modules=None, python=None, systemd=None):
    """Keep ``part``'s applied ``params`` in params['plan_dir'] for a restore; the actions (what was
    or would be written). A no-op without plan_dir."""
    plan_dir = params.get('plan_dir')
    if not plan_dir:
        return []
    systemd = os.path.isdir('/run/systemd/system') if systemd is None else systemd
    want, gone = wanted_files(plan_dir, part, params, sys.modules if modules is None else modules,
                              python or sys.executable, systemd)
    actions = []
    for path in gone:
        if os.path.lexists(path):
            actions.append('remove the kept plan %s' % path)
            if not check_mode:
                os.unlink(path)
    others = [os.path.join(plan_dir, p + '.json') for p, _c, _e in PARTS if p != part]
    if gone and not any(os.path.exists(o) for o in others):
        _remove_all(plan_dir, actions, check_mode)
    if want and (not os.path.isdir(plan_dir) or os.stat(plan_dir).st_mode & 0o7777 != 0o700):
        actions.append('make %s (root only)' % plan_dir)
        if not check_mode:
            os.makedirs(plan_dir, mode=0o700, exist_ok=True)
            os.chmod(plan_dir, 0o700)
    changed_code = 0
    for path, (content, mode) in sorted(want.items()):
        have, have_mode = _read(path)
        if have == content and have_mode == mode:
            continue
        if path.startswith(os.path.join(plan_dir, 'lib') + os.sep):
            changed_code += 1
        else:
            actions.append('write %s' % path)
        if not check_mode:
            _write(path, content, mode)
    if changed_code:
        actions.append('write the restore code (%d files in %s)' % (changed_code, os.path.join(plan_dir, 'lib')))
    if systemd and part == 'sandbox' and want:
        link = os.path.join(UNIT_DIR, WANTS, UNIT)
        if os.path.realpath(link) != os.path.join(UNIT_DIR, UNIT):
            actions.append('enable the boot unit %s' % UNIT)
            if not check_mode:
                os.makedirs(os.path.dirname(link), exist_ok=True)
                if os.path.lexists(link):
                    os.unlink(link)
                os.symlink(os.path.join(UNIT_DIR, UNIT), link)
    return actions


def keep(part, params, result, check_mode, diff):
    """``save`` folded into a module's ``result``: its actions, changed, and a diff entry."""
    try:
        actions = save(part, params, check_mode)
    except (OSError, RestoreError) as exc:
        raise RestoreError('cannot keep the applied plan for a restore in %s: %s' % (params.get('plan_dir'), exc)) from None
    if actions:
        result['changed'] = True
        result['actions'] = result.get('actions', []) + actions
        if diff:
            entry = {'before_header': 'kept plan (%s)' % part, 'after_header': 'kept plan (%s)' % part,
                     'before': '', 'after': '\n'.join(actions) + '\n'}
            old = result.get('diff')
            result['diff'] = (old if isinstance(old, list) else [old] if old else []) + [entry]
    return result


# ---------------------------------------------------------------------------------------------
# The restore program

def restore(plan_dir, check_mode=False, out=None):
    """Apply each kept part in order; returns the actions. Stops at the first failure (RestoreError)."""
    out = out or (lambda line: None)
    done = []
    for part, converge, error in PARTS:
        path = os.path.join(plan_dir, part + '.json')
        text, dummy = _read(path)
        if text is None:
            continue
        try:
            params = json.loads(text)
        except ValueError as exc:
            raise RestoreError('%s: not the JSON a run wrote (%s); run site.yml to write it again' % (path, exc))
        try:
            result = converge(params, check_mode, False)
        except error as exc:
            raise RestoreError('%s: %s' % (part, exc)) from None
        for action in result['actions']:
            done.append('%s: %s' % (part, action))
            out(done[-1])
    return done


def main(argv, plan_dir=PLAN_DIR):
    check_mode = '--check' in argv
    if os.geteuid() != 0:
        sys.stderr.write('restore: run it as root\n')
        return 2
    try:
        done = restore(plan_dir, check_mode, out=lambda line: sys.stdout.write(line + '\n'))
    except RestoreError as exc:
        sys.stderr.write('restore failed: %s\n' % exc)
        return 1
    verb = 'would restore' if check_mode else 'restored'
    plural = '' if len(done) == 1 else 's'
    sys.stdout.write('%s: %d change%s%s\n' % (verb, len(done), plural, ' (nothing to do)' if not done else ''))
    return 0
