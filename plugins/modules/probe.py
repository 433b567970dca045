#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: probe
short_description: Prove overlay connectivity from inside task namespaces
version_added: 0.1.0
description:
  - Runs connectivity probes from inside named network namespaces (tasks) on the managed node
    and reports each result as data, for the M(linuxnet.overlay.probe) based verification role.
  - A probe pings its target (an address or a name the task resolves through its
    C(/etc/netns/<task>/hosts)), optionally counts the traceroute hops, and optionally proves
    the path MTU with two pings that forbid fragmentation (DF) - the largest payload the MTU
    allows must pass, one byte more must fail.
  - A probe with O(probes[].expect=isolated) passes when the target does NOT answer (tasks on
    different networks must not reach each other).
  - Probes run in parallel. The module never changes anything; it only sends traffic from the
    given namespaces.
author: linuxnet.overlay developers (@linuxnet-overlay)
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only sends probes; it runs the same way in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
options:
  probes:
    description: The probes to run.
    type: list
    elements: dict
    required: true
    suboptions:
      netns:
        description: Namespace to probe from (a task).
        type: str
        required: true
      target:
        description: Address or name to probe.
        type: str
        required: true
      label:
        description: Free text returned with the result, for reports.
        type: str
      expect:
        description: C(reach) - the target must answer; C(isolated) - it must not.
        type: str
        choices: [reach, isolated]
        default: reach
      hops:
        description: When set, traceroute must reach the target in exactly this many hops.
        type: int
      mtu:
        description:
          - When set, a DF ping with a payload of O(probes[].mtu) - 28 bytes must pass and one
            with one byte more must fail (IPv4 targets).
        type: int
  count:
    description: Echo requests per ping.
    type: int
    default: 1
  timeout:
    description: Seconds to wait for each reply.
    type: float
    default: 1.0
  parallel:
    description: How many probes run at once.
    type: int
    default: 8
requirements:
  - iputils ping and traceroute on the managed node
"""

EXAMPLES = r"""
- name: test.1 reaches test.2 by name in one hop, at the overlay MTU
  linuxnet.overlay.probe:
    probes:
      - netns: test.1.vh3k8m2q0d9x1c7b5n4p6r8t0
        target: test.2.a8d7f6g5h4j3k2l1z0x9c8v7b
        hops: 1
        mtu: 1450
  register: reach
"""

RETURN = r"""
results:
  description: One entry per probe, in the order given.
  returned: always
  type: list
  elements: dict
  sample:
    - {netns: test.1.vh3k, target: 10.0.0.3, label: null, expect: reach, ok: true, reachable: true,
       address: 10.0.0.3, rtt_ms: 0.12, hops: 1, mtu_ok: true, detail: ""}
summary:
  description: Counts of the probes.
  returned: always
  type: dict
  sample: {total: 4, ok: 4, failed: 0}
"""

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

_RTT = re.compile(r'time[=<]([0-9.]+) ms')
_TR_HEAD = re.compile(r'^traceroute to \S+ \(([^)]+)\)')
_TR_HOP = re.compile(r'^\s*(\d+)\s+(\S+)', re.M)


def _exec(module, netns, argv):
    # subprocess directly: probes run in threads, and AnsibleModule.run_command is not meant for that
    try:
        proc = subprocess.run(['ip', 'netns', 'exec', netns] + argv, capture_output=True, text=True,
                              timeout=60, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return 124, '', 'timed out after 60 s'
    except OSError as exc:
        module.fail_json(msg='cannot run %s: %s' % (argv[0], exc))
    return proc.returncode, proc.stdout, proc.stderr


def run_probe(module, probe):
    p = module.params
    wait = '%g' % max(p['timeout'], 0.1)
    res = {'netns': probe['netns'], 'target': probe['target'], 'label': probe.get('label'),
           'expect': probe['expect'], 'reachable': False, 'address': None, 'rtt_ms': None,
           'hops': None, 'mtu_ok': None, 'detail': ''}
    rc, out, err = _exec(module, probe['netns'], ['ping', '-n', '-c', str(p['count']), '-W', wait, probe['target']])
    res['reachable'] = rc == 0
    m = re.search(r'^PING \S+ \(([^)]+)\)', out, re.M)
    res['address'] = m.group(1) if m else None
    rtts = [float(x) for x in _RTT.findall(out)]
    res['rtt_ms'] = round(min(rtts), 3) if rtts else None
    problems = []
    if probe['expect'] == 'isolated':
        if res['reachable']:
            problems.append('answered although the networks are isolated')
    elif not res['reachable']:
        problems.append('no reply (%s)' % (err.strip() or 'ping exit %d' % rc))
    if probe['expect'] == 'reach' and res['reachable'] and probe.get('hops') is not None:
        rc, out, err = _exec(module, probe['netns'],
                             ['traceroute', '-n', '-q', '1', '-w', wait, '-m', str(probe['hops'] + 3), probe['target']])
        head = _TR_HEAD.search(out)
        dest = head.group(1) if head else None
        hops = [(int(n), addr) for n, addr in _TR_HOP.findall(out)]
        reached = [n for n, addr in hops if addr == dest]
        res['hops'] = reached[0] if reached else None
        if res['hops'] != probe['hops']:
            problems.append('traceroute: %s hop(s), expected %d: %s'
                            % (res['hops'] if res['hops'] else 'target not reached', probe['hops'],
                               ' / '.join('%d %s' % h for h in hops)))
    if probe['expect'] == 'reach' and res['reachable'] and probe.get('mtu'):
        payload = probe['mtu'] - 28
        rc_fit, _o, _e = _exec(module, probe['netns'],
                               ['ping', '-n', '-c', '1', '-W', wait, '-M', 'do', '-s', str(payload), probe['target']])
        rc_over, _o, err_over = _exec(module, probe['netns'],
                                      ['ping', '-n', '-c', '1', '-W', wait, '-M', 'do', '-s', str(payload + 1),
                                       probe['target']])
        res['mtu_ok'] = rc_fit == 0 and rc_over != 0
        if rc_fit != 0:
            problems.append('DF ping with %d bytes (MTU %d) failed' % (payload, probe['mtu']))
        if rc_over == 0:
            problems.append('DF ping with %d bytes passed although the MTU is %d' % (payload + 1, probe['mtu']))
    res['ok'] = not problems
    res['detail'] = '; '.join(problems)
    return res


def main():
    module = AnsibleModule(
        argument_spec={
            'probes': {'type': 'list', 'elements': 'dict', 'required': True, 'options': {
                'netns': {'type': 'str', 'required': True},
                'target': {'type': 'str', 'required': True},
                'label': {'type': 'str'},
                'expect': {'type': 'str', 'default': 'reach', 'choices': ['reach', 'isolated']},
                'hops': {'type': 'int'},
                'mtu': {'type': 'int'},
            }},
            'count': {'type': 'int', 'default': 1},
            'timeout': {'type': 'float', 'default': 1.0},
            'parallel': {'type': 'int', 'default': 8},
        },
        supports_check_mode=True,
    )
    for probe in module.params['probes']:
        if probe.get('mtu') is not None and not 68 <= probe['mtu'] <= 65535:
            module.fail_json(msg='probe from %s to %s: mtu %r is not between 68 and 65535'
                             % (probe['netns'], probe['target'], probe['mtu']))
    with ThreadPoolExecutor(max_workers=max(1, module.params['parallel'])) as pool:
        results = list(pool.map(lambda pr: run_probe(module, pr), module.params['probes']))
    ok = sum(1 for r in results if r['ok'])
    module.exit_json(changed=False, results=results,
                     summary={'total': len(results), 'ok': ok, 'failed': len(results) - ok})


if __name__ == '__main__':
    main()
