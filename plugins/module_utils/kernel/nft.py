# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables tables of the collection's own, read and replaced inside a network namespace (private).

The ``nft`` program of Debian's ``nftables`` package is the well-kept interface: one ``nft -f -``
is one kernel transaction, so a table is replaced atomically (``table``, ``delete table`` and the
new table in one input) and never seen half-made; conntrack keeps the NAT of connections already
established, so replacing a table of DNAT rules does not break them. The process is started from
inside the namespace (``netns.entered``: a child inherits the thread's network namespace), so no
``ip netns exec`` and no mount namespace is needed. Only tables this collection names are touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns

SEARCH = ('/usr/sbin', '/sbin', '/usr/bin', '/bin')


class NftError(Exception):
    """``nft`` is missing or refused the input; the message is meant for the user."""


def _find():
    # modules can run with a short PATH, so the system folders are searched too
    return shutil.which('nft') or shutil.which('nft', path=os.pathsep.join(SEARCH))


def available():
    return bool(_find())


def binary():
    """Path of ``nft``, or NftError saying which package gives it."""
    found = _find()
    if not found:
        raise NftError('nft is not installed on this node (Debian package nftables): the collection\'s tables need it')
    return found


def run(netns, args, text=None):
    """(rc, stdout, stderr stripped) of ``nft args`` in ``netns``; NftError when nft is missing."""
    with _netns.entered(netns):
        proc = subprocess.run([binary()] + args, input=text, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr.strip()


def list_table(netns, family, name):
    """The table's text as ``nft list table`` prints it (its canonical form), or None when it does
    not exist."""
    rc, out, err = run(netns, ['list', 'table', family, name])
    if rc == 0:
        return out
    if 'No such file or directory' in err:
        return None
    raise NftError('nft list table %s %s in %s: %s' % (family, name, netns, err))


def replace_table(netns, family, name, text):
    """Make the table exactly ``text`` (a whole ``table <family> <name> { ... }``), or remove it
    when ``text`` is None, in one transaction."""
    # "table" first makes the delete valid when the table does not exist yet
    script = 'table %s %s\ndelete table %s %s\n' % (family, name, family, name) + (text or '')
    rc, dummy, err = run(netns, ['-f', '-'], script)
    if rc != 0:
        raise NftError('nft could not replace table %s %s in %s: %s' % (family, name, netns, err))
