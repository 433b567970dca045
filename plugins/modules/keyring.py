#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: keyring
short_description: Read the IPsec keyring of the encrypted overlay networks, and record that every node installed it
version_added: 0.1.0
author: linuxnet.overlay developers (@linuxnet-overlay)
description:
  - Runs on a manager, on the cluster state kept by M(linuxnet.overlay.cluster_plan), which generates the keyring
    when a network is encrypted and rotates it (O(linuxnet.overlay.cluster_plan#module:rotate_keys),
    O(linuxnet.overlay.cluster_plan#module:key_max_age)).
  - With O(reveal=true) returns the keys (C(keyring)), for the nodes' SAs (the network role derives every SA's own key from them).
    Such a result is marked no_log by the collection's action plugin - the output shows "the output has been hidden",
    a registered variable still has the keys. Without O(reveal), nothing secret is returned.
  - With O(installed), records that every node with an encrypted network has installed the keys up to that tag
    (its SAs exist). A rotation is only allowed once the newest key is installed everywhere, so that no node ever
    sends with a key a peer does not accept yet. The network role does this after a run that converged every such
    node.
extends_documentation_fragment:
  - linuxnet.overlay._attributes
options:
  state_dir:
    description: Directory of the cluster state on this manager.
    type: path
    default: /var/lib/linuxnet-overlay
  reveal:
    description: Return the keys (C(keyring)); the result is then hidden from the output (no_log).
    type: bool
    default: false
  installed:
    description:
      - The newest key tag that every node with an encrypted network has installed. Raises the recorded value, never
        lowers it; a tag the keyring no longer holds (a rotation happened since) changes nothing.
    type: int
  lock_timeout:
    description: Seconds to wait for the cluster lock held by another run before failing with a message naming the holder.
    type: float
    default: 60
notes:
  - Keys are 16 random bytes each, kept only in the cluster state (0600, root only) and in the hidden result.
seealso:
  - module: linuxnet.overlay.cluster_plan
  - module: linuxnet.overlay.xfrm
"""

EXAMPLES = r"""
- name: The keyring for the nodes' SAs (hidden result)
  linuxnet.overlay.keyring:
    reveal: true
  delegate_to: "{{ groups['swarm_managers'][0] }}"
  run_once: true
  register: keyring

- name: Keep it as a fact without printing it
  ansible.builtin.set_fact:
    overlay_keyring: "{{ keyring.keyring }}"
  no_log: true

- name: After every node installed the SAs - record it, so that the next rotation may go ahead
  linuxnet.overlay.keyring:
    installed: "{{ keyring.keyring | map(attribute='tag') | max }}"
  delegate_to: "{{ groups['swarm_managers'][0] }}"
  run_once: true

- name: Which keys, how old, which one is sent with (no key material)
  linuxnet.overlay.keyring:
"""

RETURN = r"""
keyring_info:
  description:
    - The keyring without key material (null while no network is encrypted) - per key its tag, creation time, whether
      nodes send with it (C(primary)) and an 8-hex-digit fingerprint; C(installed) is the newest tag every node has.
  returned: success
  type: dict
  sample:
    keys:
      - {tag: 2, created: 1764390000, primary: false, fingerprint: 71be0c42}
      - {tag: 3, created: 1764390000, primary: true, fingerprint: c08d5e11}
      - {tag: 4, created: 1764433200, primary: false, fingerprint: 5a0e77d3}
    installed: 4
keyring:
  description:
    - With O(reveal=true) and a keyring - the keys as C({tag, key, created}) (C(key) is 32 hex digits), oldest first.
      Null otherwise. The whole result is then hidden from the output (no_log).
  returned: success
  type: list
  elements: dict
version:
  description: Version of the cluster state after the task.
  returned: success
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipsec as _ipsec
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import statefile as _statefile
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

ARG_SPEC = dict(
    state_dir=dict(type='path', default=_statefile.DEFAULT_STATE_DIR),
    reveal=dict(type='bool', default=False),
    installed=dict(type='int'),
    lock_timeout=dict(type='float', default=60.0),
)


def _lines(entry):
    return ''.join(line + '\n' for line in _ipsec.keyring_lines(entry))


def main():
    module = AnsibleModule(argument_spec=ARG_SPEC, supports_check_mode=True)
    p = module.params
    state_dir = p['state_dir']
    write = p['installed'] is not None and not module.check_mode
    if not os.path.isdir(state_dir):
        if module.check_mode:
            module.warn('no cluster state in %s yet (check mode): no keyring' % state_dir)
            module.exit_json(changed=False, keyring_info=None, keyring=None, version=0)
        module.fail_json(msg='no cluster state in %s: initialise the cluster first (linuxnet.overlay.swarm with '
                             'role: init on the first manager)' % state_dir)
    try:
        with _statefile.cluster_lock(state_dir, timeout=p['lock_timeout'], purpose='keyring', exclusive=write):
            old = _statefile.read_state(state_dir)
            if old is None:
                if module.check_mode:
                    module.exit_json(changed=False, keyring_info=None, keyring=None, version=0)
                module.fail_json(msg='no cluster state in %s: initialise the cluster first' % state_dir)
            new = old
            if p['installed'] is not None:
                entry, note = _ipsec.confirm_installed(old.get('keyring'), p['installed'])
                if note:
                    module.warn(note)
                if entry != _ipsec.check_keyring_state(old.get('keyring')):
                    new = dict(old, keyring=entry)
                    _state.bump(old, new)
                    if write:
                        _statefile.write_state(state_dir, new)
    except (_statefile.StateFileError, _ipsec.KeyringError) as exc:
        module.fail_json(msg=str(exc))
    entry = _ipsec.check_keyring_state(new.get('keyring'))
    result = dict(changed=new is not old, keyring_info=_ipsec.keyring_info(entry), version=new['version'],
                  keyring=None)
    if p['reveal'] and entry is not None:
        result['keyring'] = [{'tag': k['tag'], 'key': k['key'], 'created': k.get('created')} for k in entry['keys']]
    if module._diff:
        result['diff'] = diff_result(_lines(old.get('keyring')), _lines(new.get('keyring')))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
