# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes that live in a network namespace: find them, start one detached, stop them (private)."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def ns_inode(path):
    """(st_dev, st_ino) of a namespace file, or None if it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in_netns(netns_file):
    """PIDs of every process whose network namespace is the one bound at ``netns_file``."""
    want = ns_inode(netns_file)
    if want is None:
        return []
    found = []
    me = os.getpid()
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == me:
            continue
        if ns_inode('/proc/%s/ns/net' % entry) == want:
            found.append(int(entry))
    return sorted(found)


def alive(pid):
    """True if ``pid`` runs and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid, encoding='utf-8') as f:
            stat = f.read()
    except OSError:
        return False
    # the state letter follows the parenthesised command name
    return stat.rsplit(')', 1)[-1].split()[0] not in ('Z', 'X')


def cmdline(pid):
    """argv of ``pid`` as a list of str, or None."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            raw = f.read()
    except OSError:
        return None
    return [a.decode('utf-8', 'replace') for a in raw.split(b'\0')[:-1]]


def read_pidfile(path):
    try:
        with open(path, encoding='utf-8') as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


SETTLE = 0.05      # how long a command that fails at once (not found, bad arguments) takes to show it


def spawn_detached(argv, log_path):
    """Start ``argv`` in its own session, stdio away from Ansible's pipes; return the Popen at once."""
    with open(log_path, 'ab') as log, open(os.devnull, 'rb') as null:
        return subprocess.Popen(argv, stdin=null, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd='/')


def settle(procs):
    """Wait SETTLE once for all of ``procs`` (just spawned), then their exit status: None while running."""
    if procs:
        time.sleep(SETTLE)
    return [proc.poll() for proc in procs]


def start_detached(argv, log_path):
    """Start ``argv`` detached and report a command that fails at once: (pid, exit status or None)."""
    proc = spawn_detached(argv, log_path)
    (rc,) = settle([proc])
    return proc.pid, rc


def stop(pids, timeout=5.0):
    """SIGTERM the given pids, SIGKILL what is left after ``timeout`` seconds."""
    pids = [p for p in pids if alive(p)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
