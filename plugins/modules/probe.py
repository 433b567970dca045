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
  - A probe pings its target (an IPv4 address, or a name the task resolves through its
    C(/etc/netns/<task>/hosts) - or C(/etc/hosts) when the task has none - the way
    C(ip netns exec) and glibc would), optionally counts the hops to it, and optionally proves
    the path MTU with two echo requests that forbid fragmentation (DF) - a packet of exactly the
    MTU must get a reply, one byte more must fail.
  - No process runs per probe. The module enters each source namespace once, opens a raw ICMP
    socket there and drives all probes from one poll loop; echo replies and ICMP errors are
    matched to their requests by identifier, sequence number and source namespace.
  - A ping passes when any of its O(count) echo requests gets a reply, as with iputils C(ping).
    The requests of one ping are sent together, not one per second.
  - The hop count is read like traceroute's, with TTL-limited echo requests (TTL 1 to
    O(probes[].hops) + 3, sent together) instead of UDP datagrams - the hop count is the
    smallest TTL the target itself answers; the path in the problem text lists who answered
    each TTL (ICMP time-exceeded from routers, C(*) for silence - routers rate-limit those).
  - The DF check sends with C(IP_PMTUDISC_DO) like C(ping -M do -s); the oversized packet fails
    when the kernel refuses to send it (EMSGSIZE, local route MTU), when a router answers
    fragmentation-needed, or when no reply comes.
  - Names are looked up in the hosts file only (first IPv4 entry); DNS is not asked. A name
    that does not resolve is a problem of the probe, except for O(probes[].expect=isolated),
    where it counts as no answer (as a failing C(ping) did). Targets are IPv4 only (the overlay
    is IPv4 only); an IPv6 target is a problem of the probe. A source namespace that does not
    exist is a problem of every probe from it.
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
        description:
          - When set, the target must be reached in exactly this many hops (1 - same subnet,
            2 - one router between); 1 to 60.
        type: int
      mtu:
        description:
          - When set, a DF echo request of exactly O(probes[].mtu) bytes (payload
            O(probes[].mtu) - 28) must get a reply and one with one byte more must fail.
        type: int
  count:
    description: Echo requests per ping.
    type: int
    default: 1
  timeout:
    description: Seconds to wait for the replies of each ping, hop count and DF check (as C(ping -W)).
    type: float
    default: 1.0
  report:
    description:
      - C(all) - RV(results) holds every probe's result.
      - C(failed) - RV(results) holds only the probes that failed and RV(passed) the labels of
        those that passed, so that a cluster's probes can be summed up on the controller without
        handling a result per passed probe (a 64-node cluster probes ~64,000 pairs).
    type: str
    choices: [all, failed]
    default: all
  parallel:
    description:
      - How many probes are in flight at once. A probe in flight is a few packets on the module's
        own sockets, not a process, so the limit is high; an O(probes[].expect=isolated) probe holds
        its slot for the whole O(timeout).
    type: int
    default: 64
requirements:
  - root or CAP_NET_RAW and CAP_SYS_ADMIN (raw ICMP sockets opened inside the task namespaces)
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
  description: One entry per probe, in the order given (with O(report=failed) only the probes that failed).
  returned: always
  type: list
  elements: dict
  sample:
    - {netns: test.1.vh3k, target: 10.0.0.3, label: null, expect: reach, ok: true, reachable: true,
       address: 10.0.0.3, rtt_ms: 0.12, hops: 1, mtu_ok: true, detail: ""}
passed:
  description:
    - With O(report=failed), the labels of the probes that passed (the target of a probe without
      a label stands for it), in the order given.
  returned: when O(report=failed)
  type: list
  elements: str
  sample: ["test|test.1|test.2|addr"]
summary:
  description: Counts of the probes.
  returned: always
  type: dict
  sample: {total: 4, ok: 4, failed: 0}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import icmp as _icmp
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel.netns import entered


def evaluate(probe, res, ping, hop_answers=None, fit=None, over=None):
    """Fill ``res`` (reachable, rtt_ms, hops, mtu_ok, ok, detail) from the answers. Pure."""
    problems = []
    replies = [a for a in ping if a and a['kind'] == 'reply']
    res['reachable'] = bool(replies)
    res['rtt_ms'] = min(a['rtt_ms'] for a in replies) if replies else None
    if probe['expect'] == 'isolated':
        if res['reachable']:
            problems.append('answered although the networks are isolated')
    elif not res['reachable']:
        problems.append('no reply (%s)' % why_not(ping))
    if hop_answers is not None:
        hops, path = _icmp.hop_count(dict(hop_answers), res['address'])
        res['hops'] = hops
        if hops != probe['hops']:
            problems.append('hops: %s hop(s), expected %d: %s'
                            % (hops if hops else 'target not reached', probe['hops'],
                               ' / '.join('%d %s' % h for h in path)))
    if fit is not None:
        fit_ok = fit['kind'] == 'reply' if fit else False
        over_ok = over['kind'] == 'reply' if over else False
        res['mtu_ok'] = fit_ok and not over_ok
        payload = probe['mtu'] - 28
        if not fit_ok:
            problems.append('DF ping with %d bytes (MTU %d) failed (%s)' % (payload, probe['mtu'], why_not([fit])))
        if over_ok:
            problems.append('DF ping with %d bytes passed although the MTU is %d' % (payload + 1, probe['mtu']))
    res['ok'] = not problems
    res['detail'] = '; '.join(problems)
    return res


def why_not(answers):
    for ans in answers:
        if not ans:
            continue
        if ans['kind'] == 'send_error':
            return 'send: %s' % os.strerror(ans['errno'])
        if ans['kind'] == 'unreach':
            if ans.get('mtu'):
                return 'fragmentation needed, next-hop MTU %d, from %s' % (ans['mtu'], ans['src'])
            return '%s from %s' % (_icmp.UNREACH_TEXT.get(ans['code'], 'unreachable, code %d' % ans['code']), ans['src'])
        if ans['kind'] == 'time_exceeded':
            return 'time to live exceeded at %s' % ans['src']
    return 'no answer to %d echo request(s) within the timeout' % len(answers)


def run_probe(prober, params, probe):
    """One probe as a generator for ``_icmp.Prober.run``: yields its jobs, returns its result."""
    wait = max(params['timeout'], 0.1)
    res = {'netns': probe['netns'], 'target': probe['target'], 'label': probe.get('label'),
           'expect': probe['expect'], 'reachable': False, 'address': None, 'rtt_ms': None,
           'hops': None, 'mtu_ok': None, 'detail': ''}
    try:
        prober.socket_for(probe['netns'])
    except Exception as exc:  # pylint: disable=broad-except
        res.update(ok=False, detail='cannot probe from %s: %s' % (probe['netns'], exc))
        return res
    addr, problem = _icmp.resolve(probe['target'], probe['netns'])
    if problem:
        # as with ping, an unresolvable name is not reachable; an isolation probe still passes
        res['ok'] = probe['expect'] == 'isolated'
        res['detail'] = '' if res['ok'] else problem
        return res
    res['address'] = addr
    ns = probe['netns']
    ping = yield (ns, addr, [{}] * max(1, params['count']), wait)
    reach = probe['expect'] == 'reach' and any(a and a['kind'] == 'reply' for a in ping)
    hop_answers = fit = over = None
    if reach and probe.get('hops') is not None:
        ttls = list(range(1, probe['hops'] + 4))
        answers = yield (ns, addr, [{'ttl': t} for t in ttls], wait)
        hop_answers = list(zip(ttls, answers))
    if reach and probe.get('mtu'):
        payload = probe['mtu'] - _icmp.IPV4_HEADER - _icmp.ICMP_HEADER
        fit, over = yield (ns, addr, [{'df': True, 'size': payload}, {'df': True, 'size': payload + 1}], wait)
    return evaluate(probe, res, ping, hop_answers, fit, over)


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
            'report': {'type': 'str', 'default': 'all', 'choices': ['all', 'failed']},
            'parallel': {'type': 'int', 'default': 64},
        },
        supports_check_mode=True,
    )
    for probe in module.params['probes']:
        if probe.get('mtu') is not None and not 68 <= probe['mtu'] <= 65535:
            module.fail_json(msg='probe from %s to %s: mtu %r is not between 68 and 65535'
                             % (probe['netns'], probe['target'], probe['mtu']))
        if probe.get('hops') is not None and not 1 <= probe['hops'] <= 60:
            module.fail_json(msg='probe from %s to %s: hops %r is not between 1 and 60'
                             % (probe['netns'], probe['target'], probe['hops']))
    prober = _icmp.Prober(entered)
    try:
        results = prober.run((run_probe(prober, module.params, pr) for pr in module.params['probes']),
                             parallel=module.params['parallel'])
    finally:
        prober.close()
    ok = sum(1 for r in results if r['ok'])
    summary = {'total': len(results), 'ok': ok, 'failed': len(results) - ok}
    if module.params['report'] == 'failed':
        module.exit_json(changed=False, results=[r for r in results if not r['ok']], summary=summary,
                         passed=[r['label'] if r['label'] is not None else r['target'] for r in results if r['ok']])
    module.exit_json(changed=False, results=results, summary=summary)


if __name__ == '__main__':
    main()
