#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netns
short_description: Create or remove a named network namespace
version_added: 0.1.0
description:
  - Makes sure a named network namespace (a file under C(/run/netns), as C(ip netns add) makes it) exists or not.
  - A new namespace gets its loopback device C(lo) up; an existing one gets C(lo) brought up if it is down.
  - Removing a namespace first deletes every VXLAN device inside it. Deleting a device is synchronous,
    while the kernel destroys a namespace asynchronously; a VXLAN device left to die with its namespace
    could keep its VNI busy on the node for a moment and make an immediate re-create fail with
    C(File exists).
  - Other devices inside (bridges, veth ends) go away with the namespace; a veth end in another namespace
    disappears together with its peer.
author: linuxnet.overlay developers (@linuxnet-overlay)
extends_documentation_fragment:
  - linuxnet.overlay._attributes
options:
  name:
    description:
      - Name of the namespace, a file name under C(/run/netns).
      - 1-255 characters from C(A-Z a-z 0-9 _ . @ + -).
    type: str
    required: true
  state:
    description:
      - V(present) creates the namespace when it is missing; V(absent) removes it when it exists.
    type: str
    choices: [present, absent]
    default: present
  sysctls:
    description:
      - "Per-namespace kernel settings to hold inside the namespace, as C(key: value), for example
        C(net.ipv4.ip_forward: 1) in a sandbox that routes between the subnets of one network."
      - Only C(net.*) keys, which the kernel keeps per network namespace; keys not listed are left alone.
    type: dict
notes:
  - A leftover plain file under C(/run/netns) that is not a mounted namespace makes O(state=present) fail
    with a message naming it; O(state=absent) removes such a file.
requirements:
  - pyroute2 >= 0.9.1 on the managed node
  - Linux, run as root (CAP_NET_ADMIN and CAP_SYS_ADMIN)
seealso:
  - module: linuxnet.overlay.bridge
  - module: linuxnet.overlay.vxlan
  - module: linuxnet.overlay.veth
"""

EXAMPLES = r"""
---
- name: Sandbox namespace for overlay network uber-net
  linuxnet.overlay.netns:
    name: ov-uber-net

- name: A sandbox that routes between the subnets of its network
  linuxnet.overlay.netns:
    name: ov-prod-net
    sysctls:
      net.ipv4.ip_forward: 1

- name: Remove it again (its VXLAN devices are deleted first)
  linuxnet.overlay.netns:
    name: ov-uber-net
    state: absent
"""

RETURN = r"""
netns:
  description: The namespace after the module ran (predicted in check mode).
  returned: always
  type: dict
  contains:
    name:
      description: Namespace name.
      type: str
      sample: ov-uber-net
    exists:
      description: Whether the namespace exists.
      type: bool
      sample: true
    path:
      description: Path of the namespace file.
      type: str
      sample: /run/netns/ov-uber-net
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["delete vxlan device vxlan0", "remove namespace ov-uber-net"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils import _links, _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils._common import diff_result, require_pyroute2


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


def run(module):
    name = module.params['name']
    state = module.params['state']
    path = _netns.netns_path(name)
    exists = _netns.exists(name)
    stale = not exists and os.path.lexists(path)
    links = read_links(name) if exists else {}
    wanted = {k: str(v).strip() for k, v in (module.params['sysctls'] or {}).items()}
    for key in wanted:
        _sysctl_path(key)
    sysctls = read_sysctls(name, wanted) if exists and wanted else {}
    before = {'name': name, 'exists': exists, 'links': links}
    if wanted:
        before['sysctls'] = sysctls
    actions = []

    if state == 'present':
        if stale:
            raise _links.LinkError('%s exists but is not a mounted network namespace (a leftover file?); '
                                   'remove it, for example with state=absent' % path)
        after_links = dict(links) if exists else {'lo': {'kind': 'loopback', 'up': False}}
        if not exists:
            actions.append('create namespace %s' % name)
        if not after_links.get('lo', {}).get('up', True):
            actions.append('bring lo up')
            after_links['lo'] = dict(after_links['lo'], up=True)
        to_set = {k: v for k, v in wanted.items() if sysctls.get(k) != v}
        actions.extend('set %s=%s' % kv for kv in sorted(to_set.items()))
        if actions and not module.check_mode:
            if not exists:
                _netns.create(name)
            with _links.opened(name) as ipr:
                ipr.link('set', index=_links.lookup_index(ipr, 'lo'), state='up')
            if to_set:
                write_sysctls(name, to_set)
    else:
        after_links = {}
        vxlans = sorted(n for n, link in links.items() if link['kind'] == 'vxlan')
        actions.extend('delete vxlan device %s' % n for n in vxlans)
        if exists or stale:
            actions.append('remove namespace %s' % name if exists else 'remove leftover file %s' % path)
        if actions and not module.check_mode:
            if vxlans:
                with _links.opened(name) as ipr:
                    for n in vxlans:
                        for index in ipr.link_lookup(ifname=n):
                            ipr.link('del', index=index)
            if exists:
                _netns.remove(name)
            elif stale:
                os.unlink(path)

    changed = bool(actions)
    if module.check_mode or not changed:
        after_exists = state == 'present'
    else:
        after_exists = _netns.exists(name)
        after_links = read_links(name) if after_exists else {}
    after = {'name': name, 'exists': after_exists, 'links': after_links}
    if wanted:
        after['sysctls'] = (read_sysctls(name, wanted) if after_exists and changed and not module.check_mode
                            else dict(wanted) if state == 'present' else {})
    result = {'changed': changed, 'actions': actions,
              'netns': {'name': name, 'exists': after_exists, 'path': path}}
    if module._diff:
        result['diff'] = diff_result(before, after)
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            'name': {'type': 'str', 'required': True},
            'state': {'type': 'str', 'default': 'present', 'choices': ['present', 'absent']},
            'sysctls': {'type': 'dict'},
        },
        supports_check_mode=True,
    )
    require_pyroute2(module)
    try:
        _netns.validate_name(module.params['name'])
        result = run(module)
    except (ValueError, _links.LinkError, _netns.NetnsError) as exc:
        module.fail_json(msg=str(exc))
    except _links.NetlinkError as exc:
        module.fail_json(msg=_links.netlink_message('namespace %s' % module.params['name'], exc))
    except OSError as exc:
        module.fail_json(msg='namespace %s: %s' % (module.params['name'], exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
