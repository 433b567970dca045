# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge the FDB or neighbour entries of one VXLAN device (the logic of the ``fdb`` and ``neigh``
modules, shared with ``sandbox``): validate, open the device, dump, plan with ``_entries``, send the
bulk batch with ``_nlbatch``.

``fdb_converge`` / ``neigh_converge(params, check_mode, diff)`` return the module result. Errors
raise ``PeerError``: its message is meant for the user and its ``extra`` holds the result fields a
module adds to ``fail_json`` (counts so far, refused entries).
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _entries
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _nlbatch
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

FDB_DEFAULTS = {'device': None, 'netns': None, 'entries': [], 'state': 'present', 'exclusive': False}
NEIGH_DEFAULTS = {'device': None, 'netns': None, 'entries': [], 'state': 'present', 'exclusive': False,
                  'permanent': True}


class PeerError(Exception):
    """A user-facing error; ``extra`` are result fields to report with it."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.extra = extra


def _fdb_entries(raw):
    """Argument-spec defaults for entries given as plain dicts (by ``sandbox``)."""
    return [dict({'dst': None, 'vni': None, 'port': None}, **e) for e in raw or []]


def _lines(lines):
    return '\n'.join(lines) + '\n' if lines else ''


def _open(netns, name):
    try:
        return _nlbatch.open_device(netns, name)
    except _nlbatch.DeviceError as exc:
        raise PeerError(str(exc)) from None


def validate_fdb(params):
    p = dict(FDB_DEFAULTS, **params)
    if p['exclusive'] and p['state'] == 'absent':
        raise PeerError('exclusive=true only applies to state=present; nothing was changed')
    entries, errors = _entries.validate_fdb(_fdb_entries(p['entries']), p['state'])
    if errors:
        raise PeerError(_entries.error_summary(errors))
    return p, entries


def validate_neigh(params):
    p = dict(NEIGH_DEFAULTS, **params)
    if p['exclusive'] and p['state'] == 'absent':
        raise PeerError('exclusive=true only applies to state=present; nothing was changed')
    entries, errors = _entries.validate_neigh([dict({'mac': None}, **e) for e in p['entries'] or []], p['state'])
    if errors:
        raise PeerError(_entries.error_summary(errors))
    return p, entries


def _result(plan, entries, state):
    return dict(
        changed=bool(plan['ops']),
        added=plan['added'],
        replaced=plan['replaced'],
        removed=plan['removed'],
        unchanged=len(entries) - len(plan['added']) - len(plan['replaced']) if state == 'present' else 0,
        entries=len(plan['after']),
    )


def fdb_converge(params, check_mode=False, diff=False):
    p, entries = validate_fdb(params)
    name, netns, state = p['device'], p['netns'], p['state']
    where = _nlbatch.where_of(netns)
    sock, device = _open(netns, name)
    with sock:
        if device['kind'] != 'vxlan':
            raise PeerError('device %r in %s is not a VXLAN device (its link kind is %s); nothing was changed'
                            % (name, where, device['kind'] or 'none: loopback or physical'))
        refused = {}
        if state == 'present':
            refused = _nlbatch.fdb_refused_families(sock, device['ifindex'], (e['dst'] for e in entries))
        errors = _entries.check_fdb_device(entries, device, state, refused)
        if errors:
            raise PeerError(_entries.error_summary(errors))

        plan = _entries.plan_fdb(entries, _nlbatch.fdb_dump(sock, device['ifindex']), device,
                                 state=state, exclusive=p['exclusive'])
        ops = plan['ops']
        result = _result(plan, entries, state)
        if diff:
            result['diff'] = diff_result({'device': name, 'fdb': _lines(plan['before'])},
                                         {'device': name, 'fdb': _lines(plan['after'])})
        if not ops or check_mode:
            return result

        ifindex = device['ifindex']
        messages = [_nlbatch.fdb_message(op, ifindex, e['mac'], e['dst'], e['port'], e['vni'], e.get('via'))
                    for op, e in ops]
        try:
            failures = sock.batch(messages)
        except (_nlbatch.NetlinkError, OSError) as exc:
            raise PeerError('programming the FDB of %s in %s failed part way: %s; run the task again to see '
                            'what is left' % (name, where, exc), **result) from None
        if failures:
            failed = [dict(op=ops[i][0], mac=ops[i][1]['mac'], dst=ops[i][1]['dst'], error=err.strerror)
                      for i, err in failures]
            lines = ['entry %s dst %s (%s) failed: %s' % (f['mac'], f['dst'], f['op'], f['error'])
                     for f in failed[:_entries.MAX_REPORTED_ERRORS]]
            more = len(failed) - len(lines)
            result['entries'] = sum(1 for e in _nlbatch.fdb_dump(sock, ifindex) if e['self'] and e['dst'])
            raise PeerError('the kernel refused %d of %d FDB changes on %s in %s: %s%s'
                            % (len(failed), len(ops), name, where, '; '.join(lines),
                               '; and %d more' % more if more else ''),
                            failed_entries=failed, **result)
    return result


def neigh_converge(params, check_mode=False, diff=False):
    p, entries = validate_neigh(params)
    name, netns, state = p['device'], p['netns'], p['state']
    where = _nlbatch.where_of(netns)
    sock, device = _open(netns, name)
    with sock:
        plan = _entries.plan_neigh(entries, _nlbatch.neigh_dump(sock, device['ifindex']), state=state,
                                   exclusive=p['exclusive'], permanent=p['permanent'])
        ops = plan['ops']
        result = _result(plan, entries, state)
        if diff:
            result['diff'] = diff_result({'device': name, 'neigh': _lines(plan['before'])},
                                         {'device': name, 'neigh': _lines(plan['after'])})
        if not ops or check_mode:
            return result

        ifindex = device['ifindex']
        messages = [_nlbatch.neigh_message(op, ifindex, e['ip'], e['mac'], p['permanent']) for op, e in ops]
        try:
            failures = sock.batch(messages)
        except (_nlbatch.NetlinkError, OSError) as exc:
            raise PeerError('programming the neighbour table of %s in %s failed part way: %s; run the task '
                            'again to see what is left' % (name, where, exc), **result) from None
        if failures:
            failed = [dict(op=ops[i][0], ip=ops[i][1]['ip'], mac=ops[i][1]['mac'], error=err.strerror)
                      for i, err in failures]
            lines = ['entry %s lladdr %s (%s) failed: %s' % (f['ip'], f['mac'], f['op'], f['error'])
                     for f in failed[:_entries.MAX_REPORTED_ERRORS]]
            more = len(failed) - len(lines)
            result['entries'] = len(_nlbatch.neigh_dump(sock, ifindex))
            raise PeerError('the kernel refused %d of %d neighbour changes on %s in %s: %s%s'
                            % (len(failed), len(ops), name, where, '; '.join(lines),
                               '; and %d more' % more if more else ''),
                            failed_entries=failed, **result)
    return result


def predict_new(device, vni, dstport, fdb_entries, neigh_entries):
    """What ``fdb_converge`` and ``neigh_converge`` would report on a VTEP this run creates
    (check mode: it does not exist yet, every entry is new). Validates the entries."""
    dummy, fdb = validate_fdb({'device': device, 'entries': fdb_entries, 'exclusive': True})
    dummy, neigh = validate_neigh({'device': device, 'entries': neigh_entries, 'exclusive': True})
    link = {'name': device, 'mac': None, 'vxlan': {'vni': vni, 'port': dstport, 'group': None}}
    out = []
    for key, plan, entries in (('fdb', _entries.plan_fdb(fdb, [], link, exclusive=True), fdb),
                               ('neigh', _entries.plan_neigh(neigh, [], exclusive=True), neigh)):
        result = _result(plan, entries, 'present')
        result['diff'] = diff_result({'device': device, key: _lines(plan['before'])},
                                     {'device': device, key: _lines(plan['after'])})
        out.append(result)
    return tuple(out)
