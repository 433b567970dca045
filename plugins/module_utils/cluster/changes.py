# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readable changes between two cluster states, for diff mode and the ``changes`` return of
``cluster_plan`` (private, pure; never secrets)."""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import names as _names


def _net_line(name, e):
    return 'network %s id=%s encrypted=%s mtu=%s%s subnets=%s' % (
        name, e['id'], str(e['encrypted']).lower(), e['mtu'] if e['mtu'] is not None else 'auto',
        (' multicast=true' if e.get('multicast') else '') + (' internal=true' if e.get('internal') else ''),
        ','.join('%s(gw %s, vni %d)' % (s['subnet'], s['gateway'], s['vni']) for s in e['subnets']))


def _task_line(svc_name, t):
    addrs = ' '.join('%s=%s' % kv for kv in sorted(t['addresses'].items()))
    gateway = ' gateway=%s' % t['gateway'] if t.get('gateway') else ''
    return 'task %s node=%s %s%s' % (_names.task_name(svc_name, t), t['node'], addrs, gateway)


def state_lines(state):
    """The allocations of a state as sorted readable lines (for ``--diff``); never secrets."""
    if state is None:
        return ''
    lines = ['cluster %s data_path_port=%s pool=%s mask=/%s' % (
        state['cluster']['id'], state['cluster']['data_path_port'],
        ','.join(state['cluster']['default_addr_pool']), state['cluster']['mask_length'])]
    for host, n in state['nodes'].items():
        labels = ','.join('%s=%s' % kv for kv in sorted(n.get('labels', {}).items()))
        lines.append('node %s id=%s role=%s addr=%s state=%s labels=%s%s' % (
            host, n['id'], n.get('role'), n.get('addr'), n.get('state'), labels or '-',
            ' availability=%s' % n['availability'] if n.get('availability') else ''))
    for name, e in state['networks'].items():
        lines.append(_net_line(name, e))
    for name, s in state['services'].items():
        lines.append('service %s id=%s mode=%s replicas=%s networks=%s constraints=%s endpoint_mode=%s%s%s' % (
            name, s['id'], s['mode'], s['replicas'], ','.join(a['name'] for a in s['networks']) or '-',
            ','.join(s['constraints']) or '-', s.get('endpoint_mode', 'vip'),
            ''.join(' vip=%s=%s' % kv for kv in (s.get('vips') or {}).items()),
            ' max_replicas_per_node=%d' % s['max_replicas_per_node'] if s.get('max_replicas_per_node') else '')
            + (' restart_policy=%s' % ','.join('%s=%s' % kv for kv in sorted(s['restart_policy'].items()))
               if s.get('restart_policy') else '')
            + (' image=%s' % s['image'] if s.get('image') else ''))
        for t in s['tasks']:
            lines.append(_task_line(name, t))
    return '\n'.join(sorted(lines)) + '\n'


def changes(old, new):
    """What a new state adds, removes or moves compared to the old one (names only)."""
    old = old or {'nodes': {}, 'networks': {}, 'services': {}}
    result = {}

    def config(kind, entry):  # what the user set, without allocation bookkeeping and tasks
        if kind == 'networks':
            return dict(entry, subnets=[(s['subnet'], s['gateway'], s['vni']) for s in entry['subnets']])
        if kind == 'services':
            return dict((k, v) for k, v in entry.items() if k not in ('tasks', 'vips'))
        return dict((k, v) for k, v in entry.items() if k != 'gateway')
    for kind in ('nodes', 'networks', 'services'):
        before, after = set(old[kind]), set(new[kind])
        result[kind] = {'added': sorted(after - before), 'removed': sorted(before - after),
                        'changed': sorted(k for k in before & after
                                          if config(kind, old[kind][k]) != config(kind, new[kind][k]))}

    def tasks(state):
        out = {}
        for name, s in state['services'].items():
            for t in s['tasks']:
                out[t['id']] = (name, t)
        return out
    before, after = tasks(old), tasks(new)
    moved = []
    slots_before = dict(((n, t['slot'] if t['slot'] is not None else t['node']), (t, n))
                        for n, t in before.values())
    for tid in sorted(set(after) - set(before)):
        name, t = after[tid]
        key = (name, t['slot'] if t['slot'] is not None else t['node'])
        if key in slots_before and slots_before[key][0]['id'] not in after and slots_before[key][0]['node'] != t['node']:
            moved.append('%s: %s -> %s' % (_names.task_name(name, t), slots_before[key][0]['node'], t['node']))
    result['tasks'] = {'added': sorted(_names.task_name(*after[t]) for t in set(after) - set(before)),
                       'removed': sorted(_names.task_name(*before[t]) for t in set(before) - set(after)),
                       'moved': moved}
    return result
