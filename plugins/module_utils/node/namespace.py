# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge one named network namespace (the logic of the ``netns`` module, shared with ``sandbox``).

``converge(params, check_mode, diff)`` returns the module result; bad input raises ``ValueError``,
``_linkplan.LinkError`` or ``_netns.NetnsError`` before any change. ``state=absent`` deletes the VXLAN
devices inside first, then the namespace (namespace deletion is asynchronous in the kernel).
"""

from __future__ import annotations

import os

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

DEFAULTS = {'name': None, 'state': 'present', 'sysctls': None}


def read_links(name):
    """``{ifname: {kind, up}}`` of every device inside the namespace."""
    with _links.opened(name) as ipr:
        return {link['name']: {'kind': link['kind'] or ('loopback' if link['name'] == 'lo' else 'device'),
                               'up': link['up']}
                for link in _links.read_links(ipr)}


def _sysctl_path(key):
    if not isinstance(key, str) or not key.startswith('net.') or '/' in key or '..' in key:
        raise ValueError('sysctl %r: only per-namespace net.* keys can be set in a namespace' % (key,))
    return '/proc/sys/' + key.replace('.', '/')


def read_sysctls(name, keys):
    """Current values (as strings) of ``keys`` inside the namespace; /proc/sys/net follows the
    network namespace of the process that opens the file."""
    values = {}
    with _netns.entered(name):
        for key in keys:
            try:
                with open(_sysctl_path(key), encoding='ascii') as f:
                    values[key] = f.read().strip()
            except FileNotFoundError as exc:
                raise ValueError('sysctl %s does not exist in a network namespace on this kernel' % key) from exc
    return values


def write_sysctls(name, values):
    with _netns.entered(name):
        for key, value in values.items():
            with open(_sysctl_path(key), 'w', encoding='ascii') as f:
                f.write('%s\n' % value)


def _present(name, path, exists, stale, links, wanted, sysctls, check_mode):
    """``(actions, links after)`` for state=present, applied unless ``check_mode``."""
    if stale:
        raise _linkplan.LinkError('%s exists but is not a mounted network namespace (a leftover file?); '
                                  'remove it, for example with state=absent' % path)
    after_links = dict(links) if exists else {'lo': {'kind': 'loopback', 'up': False}}
    actions = [] if exists else ['create namespace %s' % name]
    if not after_links.get('lo', {}).get('up', True):
        actions.append('bring lo up')
        after_links['lo'] = dict(after_links['lo'], up=True)
    to_set = {k: v for k, v in wanted.items() if sysctls.get(k) != v}
    actions.extend('set %s=%s' % kv for kv in sorted(to_set.items()))
    if actions and not check_mode:
        if not exists:
            _netns.create(name)
        with _links.opened(name) as ipr:
            ipr.link('set', index=_links.lookup_index(ipr, 'lo'), state='up')
        if to_set:
            write_sysctls(name, to_set)
    return actions, after_links


def _absent(name, path, exists, stale, links, check_mode):
    """Actions for state=absent (the VXLAN devices first, then the namespace), applied unless ``check_mode``."""
    vxlans = sorted(n for n, link in links.items() if link['kind'] == 'vxlan')
    actions = ['delete vxlan device %s' % n for n in vxlans]
    if exists or stale:
        actions.append('remove namespace %s' % name if exists else 'remove leftover file %s' % path)
    if actions and not check_mode:
        if vxlans:
            with _links.opened(name) as ipr:
                for n in vxlans:
                    for index in ipr.link_lookup(ifname=n):
                        ipr.link('del', index=index)
        if exists:
            _netns.remove(name)
        elif stale:
            os.unlink(path)
    return actions


def converge(params, check_mode=False, diff=False):
    p = dict(DEFAULTS, **params)
    name = _netns.validate_name(p['name'])
    state = p['state']
    path = _netns.netns_path(name)
    exists = _netns.exists(name)
    stale = not exists and os.path.lexists(path)
    links = read_links(name) if exists else {}
    wanted = {k: str(v).strip() for k, v in (p['sysctls'] or {}).items()}
    for key in wanted:
        _sysctl_path(key)
    sysctls = read_sysctls(name, wanted) if exists and wanted else {}
    before = {'name': name, 'exists': exists, 'links': links}
    if wanted:
        before['sysctls'] = sysctls
    if state == 'present':
        actions, after_links = _present(name, path, exists, stale, links, wanted, sysctls, check_mode)
    else:
        actions, after_links = _absent(name, path, exists, stale, links, check_mode), {}
    changed = bool(actions)
    if check_mode or not changed:
        after_exists = state == 'present'
    else:
        after_exists = _netns.exists(name)
        after_links = read_links(name) if after_exists else {}
    after = {'name': name, 'exists': after_exists, 'links': after_links}
    if wanted:
        after['sysctls'] = (read_sysctls(name, wanted) if after_exists and changed and not check_mode
                            else dict(wanted) if state == 'present' else {})
    result = {'changed': changed, 'actions': actions,
              'netns': {'name': name, 'exists': after_exists, 'path': path}}
    if diff:
        result['diff'] = diff_result(before, after)
    return result
