# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster state on a manager's disk: lock, atomic read and write (private).

Layout under ``state_dir`` (default ``/var/lib/linuxnet-overlay``, mode 0700, root only):

* ``cluster.json`` (0600): the state (see ``_state``); replaced atomically (temporary file in
  the same directory, fsync, rename, fsync of the directory), so a reader never sees half a file
  and a crash leaves either the old or the new state.
* ``cluster.lock`` (0600): ``flock(2)`` target held exclusively during every read-modify-write.
  While held it contains who holds it (pid, host, time, purpose), so that a waiting run can say
  "another run holds the cluster lock since ...".
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import tempfile
import time

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state

DEFAULT_STATE_DIR = '/var/lib/linuxnet-overlay'
STATE_FILE = 'cluster.json'
LOCK_FILE = 'cluster.lock'
DIR_MODE = 0o700
FILE_MODE = 0o600


class StateFileError(Exception):
    """The state directory or file cannot be used; the message is meant for the user."""


class LockTimeout(StateFileError):
    """Another run holds the cluster lock for longer than the timeout."""


def state_path(state_dir):
    return os.path.join(state_dir, STATE_FILE)


def ensure_dir(state_dir):
    """Create ``state_dir`` (0700) or tighten its mode. Returns a list of what was done."""
    done = []
    try:
        st = os.lstat(state_dir)
    except FileNotFoundError:
        try:
            os.makedirs(state_dir, mode=DIR_MODE)
        except FileExistsError:
            # another run (a concurrent site.yml, or join racing init) made it between the two
            # calls: fall through to the same checks as for a folder that was already there
            st = os.lstat(state_dir)
        else:
            os.chmod(state_dir, DIR_MODE)  # makedirs' mode is filtered by the umask
            return ['created %s (mode 0700)' % state_dir]
    if not stat.S_ISDIR(st.st_mode):
        raise StateFileError('state_dir %s exists but is not a directory' % state_dir)
    if st.st_uid != os.geteuid():
        raise StateFileError('state_dir %s belongs to uid %d, not to the user running the module (uid %d)'
                             % (state_dir, st.st_uid, os.geteuid()))
    if stat.S_IMODE(st.st_mode) != DIR_MODE:
        os.chmod(state_dir, DIR_MODE)
        done.append('mode of %s changed from %04o to 0700' % (state_dir, stat.S_IMODE(st.st_mode)))
    return done


def read_state(state_dir):
    """The state in ``state_dir`` or None when there is none; StateFileError if unreadable."""
    path = state_path(state_dir)
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError('cannot read the cluster state %s: %s' % (path, exc.strerror)) from None
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise StateFileError('the cluster state %s is not valid JSON (%s); restore it from another manager '
                             '(swarm, role: import)' % (path, exc)) from None
    try:
        return _state.check_state(state)
    except _state.StateError as exc:
        raise StateFileError('%s: %s' % (path, exc)) from None


def write_state(state_dir, state):
    """Atomically replace the state file with ``state`` (mode 0600)."""
    path = state_path(state_dir)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % STATE_FILE, suffix='.tmp', dir=state_dir)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(_state.dumps(state))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _holder(fd):
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode('utf-8')) if raw else {}
    except (OSError, ValueError):
        info = {}
    if not info:
        return 'another run holds the cluster lock'
    return 'another run holds the cluster lock since %s (pid %s on %s, %s)' % (
        info.get('since', '?'), info.get('pid', '?'), info.get('host', '?'), info.get('purpose', '?'))


@contextlib.contextmanager
def cluster_lock(state_dir, timeout=60.0, purpose='linuxnet.overlay', exclusive=True, poll=0.1):
    """Hold ``<state_dir>/cluster.lock`` for the ``with`` block.

    ``exclusive`` (read-modify-write) creates the lock file if needed and records the holder in
    it; a shared lock (check mode: read only) never creates anything and is skipped when there is
    no lock file yet. Waits at most ``timeout`` seconds, then raises LockTimeout naming the
    holder."""
    path = os.path.join(state_dir, LOCK_FILE)
    if exclusive:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise LockTimeout('%s; gave up after %s s (lock_timeout). If no run is active, the lock is '
                                  'released by itself: flock locks die with their process'
                                  % (_holder(fd), timeout))
            time.sleep(poll)
        if exclusive:
            info = {'pid': os.getpid(), 'host': socket.gethostname(), 'purpose': purpose,
                    'since': time.strftime('%Y-%m-%dT%H:%M:%S%z')}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode('utf-8'), 0)
        try:
            yield
        finally:
            if exclusive:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# The run lease: one site.yml run at a time on a cluster.
#
# The flock above guards each read-modify-write of one module run. A whole run of site.yml is
# many module runs on many nodes, so a second run started meanwhile would interleave its data
# plane changes with the first one's. The lease is a small record in <state_dir>/run.lock on the
# first manager, taken at the start of a run and released at its end (under the flock):
# ``{run_id, owner, since, expires}``. A second run waits for it (lock_timeout), then fails with a
# message naming the holder. A run that died without releasing it (SIGKILL, a failed play) does
# not block: its lease expires, and the action plugin frees it at once when it sees that the
# holder was started on the same controller and its process is gone (``stale``).

LEASE_FILE = 'run.lock'


def read_lease(state_dir):
    """The current lease record or None (a missing or unreadable file is no lease)."""
    try:
        with open(os.path.join(state_dir, LEASE_FILE), encoding='utf-8') as f:
            lease = json.load(f)
    except (OSError, ValueError):
        return None
    return lease if isinstance(lease, dict) and lease.get('run_id') else None


def lease_free_for(lease, run_id, now, stale=()):
    """Pure: can ``run_id`` take (or keep) the lease at time ``now``?"""
    return (lease is None or lease.get('run_id') == run_id or lease.get('run_id') in stale
            or float(lease.get('expires', 0)) <= now)


def describe_lease(lease, now):
    owner = lease.get('owner') or {}
    return ('another run holds the cluster: run %s (pid %s on controller %s) since %s, lease until %s (%d s from now)'
            % (lease.get('run_id'), owner.get('pid', '?'), owner.get('host', '?'),
               time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(float(lease.get('since', 0)))),
               time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(float(lease.get('expires', 0)))),
               max(0, float(lease.get('expires', 0)) - now)))


def _write_lease(state_dir, lease):
    path = os.path.join(state_dir, LEASE_FILE)
    if lease is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % LEASE_FILE, suffix='.tmp', dir=state_dir)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            os.fchmod(f.fileno(), FILE_MODE)
            json.dump(lease, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def take_lease(state_dir, run_id, owner, duration, timeout, stale=(), write=True, poll=0.5,
               clock=time.time, sleep=time.sleep):
    """Wait until the lease is free for ``run_id`` and take it (``write``) or just see it free.

    Returns ``(lease, waited_seconds, taken_from)`` where ``taken_from`` is the expired or stale
    lease this run replaced (None otherwise). Raises LockTimeout naming the holder."""
    start = clock()
    while True:
        now = clock()
        with cluster_lock(state_dir, timeout=max(timeout - (now - start), 0), purpose='run lease',
                          exclusive=write):
            lease = read_lease(state_dir)
            if lease_free_for(lease, run_id, now, stale):
                replaced = lease if lease is not None and lease.get('run_id') != run_id else None
                kept = lease is not None and lease.get('run_id') == run_id
                mine = {'run_id': run_id, 'owner': owner, 'since': lease.get('since', now) if kept else now,
                        'expires': now + duration}
                if write:
                    _write_lease(state_dir, mine)
                return mine, now - start, replaced
        if now - start >= timeout:
            raise LeaseHeld('%s; gave up after waiting %d s (lock_timeout)' % (describe_lease(lease, now), timeout),
                            lease)
        sleep(poll)


def release_lease(state_dir, run_id):
    """Drop the lease if ``run_id`` holds it. Returns True when it did."""
    with cluster_lock(state_dir, purpose='run lease release'):
        lease = read_lease(state_dir)
        if lease is None or lease.get('run_id') != run_id:
            return False
        _write_lease(state_dir, None)
        return True


class LeaseHeld(LockTimeout):
    """Another live run holds the run lease; ``lease`` is its record."""

    def __init__(self, msg, lease):
        super().__init__(msg)
        self.lease = lease
