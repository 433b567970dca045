# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Shared `netns` option.
    DOCUMENTATION = r"""
options:
  netns:
    description:
      - Name of the network namespace (as listed by C(ip netns list), a file under C(/run/netns))
        in which the module works.
      - When omitted, the module works in the namespace it runs in.
      - The namespace must exist; the module never creates it implicitly. Use M(linuxnet.overlay.netns) for that.
    type: str
requirements:
  - pyroute2 >= 0.9.1 on the managed node
  - Linux, run as root (CAP_NET_ADMIN and CAP_SYS_ADMIN)
"""
