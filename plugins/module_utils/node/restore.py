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

The SAs come back with their SPIs and keys, so their sequence numbers must go on where they were:
a peer's inbound SA drops what an outbound SA sends from 1 again. The unit's stop (at shutdown)
keeps them (``restore --save-counters``: ``counters.json``), the restore sets them on the fresh SAs,
above the kept ones by ``MARGIN``, and removes the file. systemd runs a stop only for a unit it
started in this boot, so a run that keeps the sandbox part also starts the unit, and marks the boot
(``MARKER``, on tmpfs) so that this start (``restore --boot``) rebuilds nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import dataplane as _dataplane
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import guard as _guard
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import ipsec as _ipsec
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel.xfrm import FULL_MASK, is_ours_state

PLAN_DIR = '/var/lib/linuxnet-overlay/node'
PACKAGE = 'ansible_collections.linuxnet.overlay.plugins.module_utils'
UNIT_DIR = '/etc/systemd/system'
UNIT = 'linuxnet-overlay.service'
WANTS = 'multi-user.target.wants'
COUNTERS = 'counters.json'
# on tmpfs: present, a run applied the plan in this boot (gone after a reboot)
MARKER = '/run/linuxnet-overlay/applied'
# packets an SA may still send between the save at the unit's stop and the halt; with ESN the
# receiver infers the high bits right for any jump below 2^32 minus its window (RFC 4303 app. A)
MARGIN = 1 << 20
_RUNNING = ('active', 'activating', 'reloading')
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
ExecStart={plan_dir}/restore --boot
ExecStop={plan_dir}/restore --save-counters

[Install]
WantedBy=multi-user.target
"""

SCRIPT = """#!{python}
# linuxnet.overlay: rebuild this node's overlay data plane from the plan its last run applied,
# with the code that applied it (lib/), without the controller. --check: say what it would do;
# --boot: nothing if a run applied the plan in this boot; --save-counters: keep the SAs' sequence numbers.
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


def counters_of(states):
    """What counters.json keeps of our SAs: src, dst, spi and the two sequence numbers (no key)."""
    kept = [{'src': str(st['src']), 'dst': str(st['dst']), 'spi': st['spi'],
             'oseq': st['counters']['oseq'], 'seq': st['counters']['seq']}
            for st in states if is_ours_state(st) and st.get('counters')]
    return sorted(kept, key=lambda c: (c['src'], c['dst'], c['spi']))


def _sa_name(st):
    return 'SA %s -> %s spi 0x%08x' % (st['src'], st['dst'], st['spi'])


def new_counters(states, kept):
    """The sequence numbers to set on the fresh SAs among ``states`` from ``kept`` (counters.json):
    [(SA, oseq, seq)], and a line for each SA left as it is that its peer will drop."""
    saved = {(c['src'], c['dst'], c['spi']): c for c in kept}
    changes, notes = [], []
    for st in states:
        old = saved.get((str(st['src']), str(st['dst']), st['spi']))
        cur = st.get('counters') or {'oseq': 0, 'seq': 0}
        # not kept at the stop; or no ESN and no window: the peer checks nothing
        if old is None or not (st['esn'] or st['replay_window']):
            continue
        if cur['oseq'] >= old['oseq'] and cur['seq'] >= old['seq']:
            continue        # not made again since the stop: the kernel's are the SA's own
        oseq = old['oseq'] + MARGIN if old['oseq'] > cur['oseq'] else cur['oseq']
        if not st['esn'] and oseq > FULL_MASK:
            notes.append('%s: no extended sequence numbers and %d + %d passes 2^32: left at %d, its peer drops '
                         'what it sends until the next key rotation' % (_sa_name(st), old['oseq'], MARGIN, cur['oseq']))
            continue
        changes.append((st, oseq, max(cur['seq'], old['seq'])))
    return changes, notes


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


def _systemctl(*args):
    """systemctl's answer (a CompletedProcess); tests replace it."""
    try:
        return subprocess.run(['systemctl'] + list(args), capture_output=True, text=True, check=False, timeout=300)
    except subprocess.TimeoutExpired:
        raise RestoreError('systemctl %s did not finish in 300 s' % ' '.join(args)) from None


def _must(*args):
    proc = _systemctl(*args)
    if proc.returncode != 0:
        raise RestoreError('systemctl %s failed (%d): %s' % (' '.join(args), proc.returncode,
                                                             (proc.stderr or proc.stdout).strip()))


def _unit_running():
    return _systemctl('is-active', UNIT).stdout.strip() in _RUNNING


def _remove_all(plan_dir, actions, check_mode, systemd=False, marker=MARKER):
    unit = os.path.join(UNIT_DIR, UNIT)
    link = os.path.join(UNIT_DIR, WANTS, UNIT)
    # stopped first: at shutdown its ExecStop would run a program that is gone
    if systemd and os.path.lexists(unit) and _unit_running():
        actions.append('stop the boot unit %s' % UNIT)
        if not check_mode:
            _must('stop', UNIT)
    removed = False
    for path in (link, unit):
        if os.path.lexists(path):
            actions.append('remove the boot unit %s' % path)
            removed = True
            if not check_mode:
                os.unlink(path)
    if not check_mode:
        if removed and systemd:
            _must('daemon-reload')
        if os.path.lexists(marker):
            os.unlink(marker)
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


def _boot_unit(unit_written, actions, check_mode, marker):
    """Enable the unit and have it started in this boot: systemd runs a unit's ExecStop (which keeps
    the counters) at shutdown only then, and a node site.yml provisioned has not booted with it. The
    marker, written first, makes that start (``restore --boot``) rebuild nothing."""
    link = os.path.join(UNIT_DIR, WANTS, UNIT)
    if os.path.realpath(link) != os.path.join(UNIT_DIR, UNIT):
        actions.append('enable the boot unit %s' % UNIT)
        if not check_mode:
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(os.path.join(UNIT_DIR, UNIT), link)
    if not check_mode and not os.path.exists(marker):
        _write(marker, 'a linuxnet.overlay run applied the plan in this boot\n', 0o600)
    running = _unit_running()
    if not running:
        actions.append('start the boot unit %s (its stop at shutdown keeps the ESP sequence numbers)' % UNIT)
    if check_mode:
        return
    if unit_written:
        _must('daemon-reload')      # before a start, and for a running unit: the ExecStop it will run
    if not running:
        _must('start', UNIT)


def save(part, params, check_mode=False, modules=None, python=None, systemd=None, marker=MARKER):
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
        _remove_all(plan_dir, actions, check_mode, systemd, marker)
    if want and (not os.path.isdir(plan_dir) or os.stat(plan_dir).st_mode & 0o7777 != 0o700):
        actions.append('make %s (root only)' % plan_dir)
        if not check_mode:
            os.makedirs(plan_dir, mode=0o700, exist_ok=True)
            os.chmod(plan_dir, 0o700)
    changed_code, unit_written = 0, False
    for path, (content, mode) in sorted(want.items()):
        have, have_mode = _read(path)
        if have == content and have_mode == mode:
            continue
        if path.startswith(os.path.join(plan_dir, 'lib') + os.sep):
            changed_code += 1
        else:
            actions.append('write %s' % path)
        unit_written = unit_written or path == os.path.join(UNIT_DIR, UNIT)
        if not check_mode:
            _write(path, content, mode)
    if changed_code:
        actions.append('write the restore code (%d files in %s)' % (changed_code, os.path.join(plan_dir, 'lib')))
    if systemd and part == 'sandbox' and want:
        _boot_unit(unit_written, actions, check_mode, marker)
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

def _load(path, what='a run', hint='run site.yml to write it again'):
    text, dummy = _read(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RestoreError('%s: not the JSON %s wrote (%s); %s' % (path, what, exc, hint)) from None


def _load_counters(path):
    kept = _load(path, 'the unit\'s stop', 'remove it to restore without them')
    fields = (('src', str), ('dst', str), ('spi', int), ('oseq', int), ('seq', int))
    if kept is not None and not (isinstance(kept, list) and all(
            isinstance(c, dict) and all(isinstance(c.get(k), t) for k, t in fields) for c in kept)):
        raise RestoreError('%s: not the counters the unit\'s stop wrote; remove it to restore without them' % path)
    return kept


def save_counters(plan_dir, check_mode=False, out=None):
    """``restore --save-counters`` (the unit's stop): the sequence numbers of our SAs, for the next
    restore, in counters.json (none: no file). Returns how many SAs it kept."""
    path = os.path.join(plan_dir, COUNTERS)
    params = _load(os.path.join(plan_dir, 'xfrm.json'))
    try:
        kept = counters_of(_ipsec.counted_states(params)) if params else []
    except _ipsec.IpsecError as exc:
        raise RestoreError('counters: %s' % exc) from None
    if not check_mode:
        try:
            if kept:
                _write(path, json.dumps(kept, indent=1, sort_keys=True) + '\n', 0o600)
            elif os.path.lexists(path):
                os.unlink(path)
        except OSError as exc:
            raise RestoreError('cannot write %s: %s' % (path, exc)) from None
    (out or (lambda line: None))('%s the sequence numbers of %d SA%s in %s' % (
        'would keep' if check_mode else 'kept', len(kept), '' if len(kept) == 1 else 's', path))
    return len(kept)


def restore_counters(plan_dir, params, check_mode=False, out=None):
    """After the SAs are back, before any VTEP: the fresh ones go on from the sequence numbers kept
    at the unit's stop, and counters.json goes (used once: after a later crash it would be old)."""
    out = out or (lambda line: None)
    path = os.path.join(plan_dir, COUNTERS)
    kept = _load_counters(path)
    if kept is None:
        return []
    if not check_mode:
        os.unlink(path)
    if not params:
        return []
    try:
        changes, notes = new_counters(_ipsec.counted_states(params, check_mode), kept)
        for note in notes:
            out('xfrm: ' + note)
        if changes and not check_mode:
            _ipsec.set_counters(params['netns'], changes)
    except _ipsec.IpsecError as exc:
        raise RestoreError('xfrm: %s (the counters kept at shutdown are used once: %s is gone)' % (exc, path)) from None
    if not changes:
        return []
    return ['set the sequence numbers of %d SA%s from the counters kept at shutdown'
            % (len(changes), '' if len(changes) == 1 else 's')]


def restore(plan_dir, check_mode=False, out=None):
    """Apply each kept part in order; returns the actions. Stops at the first failure (RestoreError)."""
    out = out or (lambda line: None)
    done = []
    for part, converge, error in PARTS:
        params = _load(os.path.join(plan_dir, part + '.json'))
        if params is not None:
            try:
                result = converge(params, check_mode, False)
            except error as exc:
                raise RestoreError('%s: %s' % (part, exc)) from None
            for action in result['actions']:
                done.append('%s: %s' % (part, action))
                out(done[-1])
        if part == 'xfrm':      # the SAs are back; no VTEP sends on them yet
            for action in restore_counters(plan_dir, params, check_mode, out):
                done.append('xfrm: ' + action)
                out(done[-1])
    return done


def applied_in_this_boot(plan_dir, marker, check_mode=False):
    """``--boot`` after a run applied the plan in this boot: nothing to rebuild. Counters a stop in
    this boot kept are of SAs still in the kernel: they go, not to be used after a later crash."""
    path = os.path.join(plan_dir, COUNTERS)
    if not check_mode and os.path.lexists(path):
        os.unlink(path)
    return 'a run applied the plan in this boot (%s): nothing to restore' % marker


def _print(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()      # to the journal as it happens, not when the boot unit ends


def main(argv, plan_dir=PLAN_DIR, marker=MARKER):
    unknown = [a for a in argv if a not in ('--check', '--boot', '--save-counters')]
    if unknown:
        sys.stderr.write('restore: unknown argument %s (--check, --boot, --save-counters)\n' % unknown[0])
        return 2
    check_mode = '--check' in argv
    if os.geteuid() != 0:
        sys.stderr.write('restore: run it as root\n')
        return 2
    try:
        if '--save-counters' in argv:
            save_counters(plan_dir, check_mode, _print)
            return 0
        if '--boot' in argv and os.path.exists(marker):
            _print(applied_in_this_boot(plan_dir, marker, check_mode))
            return 0
        done = restore(plan_dir, check_mode, out=_print)
    except (RestoreError, OSError) as exc:
        sys.stderr.write('restore failed: %s\n' % exc)
        return 1
    verb = 'would restore' if check_mode else 'restored'
    plural = '' if len(done) == 1 else 's'
    sys.stdout.write('%s: %d change%s%s\n' % (verb, len(done), plural, ' (nothing to do)' if not done else ''))
    return 0
