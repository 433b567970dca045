# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named network namespaces: validation, existence, and entering one without forking.

Private to the collection. pyroute2's own ``IPRoute(netns=...)`` forks a helper process for
every socket; a module process is
single-threaded, so it can setns(2) itself, open its netlink socket there (a socket stays bound
to the namespace it was created in) and setns back home.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re

NETNS_RUN_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000
NSFS_MAGIC = 0x6E736673

# ip-netns(8) accepts any file name; we accept the portable subset that also makes a valid
# /etc/netns/<name> directory and cannot escape /run/netns.
_NAME_RE = re.compile(r'^[A-Za-z0-9_.@+-]{1,255}$')

_libc = None


class NetnsError(Exception):
    """A namespace is missing or cannot be entered; the message is meant for the user."""


def validate_name(name):
    """Return ``name`` if it is a usable namespace name, else raise ValueError."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in ('.', '..'):
        raise ValueError(
            'invalid network namespace name %r: use 1-255 characters from A-Z a-z 0-9 _ . @ + -' % (name,))
    return name


def netns_path(name):
    return os.path.join(NETNS_RUN_DIR, validate_name(name))


def _is_nsfs(path):
    """True if ``path`` is a bind-mounted network namespace (not a stale empty file)."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(path))
    except OSError:
        return False
    # A live namespace file is an nsfs mount: its device differs from its directory's.
    return st.st_dev != parent.st_dev


def exists(name):
    return _is_nsfs(netns_path(name))


def list_names():
    try:
        names = sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []
    return [n for n in names if _is_nsfs(os.path.join(NETNS_RUN_DIR, n))]


def require(name):
    """Raise NetnsError with a clear message unless the named namespace exists."""
    if name is None:
        return
    validate_name(name)
    if not exists(name):
        raise NetnsError('network namespace %r does not exist (looked for %s); '
                         'create it first, for example with linuxnet.overlay.netns' % (name, netns_path(name)))


def _setns(fd):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def entered(name):
    """Run the body with this thread inside namespace ``name`` (None: stay where we are)."""
    if name is None:
        yield
        return
    require(name)
    home = os.open('/proc/self/ns/net', os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def same_as_current(name):
    """True if namespace ``name`` is the namespace this process runs in."""
    if name is None:
        return True
    st = os.stat(netns_path(name))
    me = os.stat('/proc/self/ns/net')
    return (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino)


def iproute(name=None):
    """An ``IPRoute`` bound to namespace ``name`` (None: the current one), opened without a fork."""
    from pyroute2 import IPRoute  # imported late: callers report a missing library themselves

    with entered(name):
        return IPRoute()


def create(name):
    """Create a named namespace like ``ip netns add`` (the bind mount keeps it alive)."""
    from pyroute2 import netns as pr_netns

    validate_name(name)
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    try:
        pr_netns.create(name)
    except OSError as exc:
        if exc.errno == errno.EEXIST and exists(name):
            return
        raise


def remove(name):
    """Unmount and unlink a named namespace like ``ip netns delete`` (asynchronous in the kernel)."""
    from pyroute2 import netns as pr_netns

    pr_netns.remove(validate_name(name))
