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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import namespace as _namespace
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import require_pyroute2


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
        result = _namespace.converge(module.params, module.check_mode, module._diff)
    except (ValueError, _linkplan.LinkError, _netns.NetnsError) as exc:
        module.fail_json(msg=str(exc))
    except _links.NetlinkError as exc:
        module.fail_json(msg=_linkplan.netlink_message('namespace %s' % module.params['name'], exc))
    except OSError as exc:
        module.fail_json(msg='namespace %s: %s' % (module.params['name'], exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
