# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The peer database of a VTEP (VXLAN FDB and neighbour entries): what to add, replace and delete for
the whole wanted set, and applying that through ``kernel/rtnl.py`` in one pipelined batch.

The planning half is pure (no kernel, no root; tests/unit/test_entries.py): validate and normalise,
compare with what the kernel dumped, return the operations. The applying half is the logic of the
``fdb`` and ``neigh`` modules, shared with ``sandbox``: ``fdb_converge`` / ``neigh_converge(params,
check_mode, diff)`` validate the module parameters and return the module result; ``converge_fdb`` /
``converge_neigh`` take entries already validated and a socket already open (the sandbox's). Errors
raise ``PeerError``: its message is meant for the user and its ``extra`` holds the result fields a
module adds to ``fail_json`` (counts so far, refused entries).

Entry shapes:

* desired FDB entry: ``{'mac', 'dst', 'vni', 'port'}`` (MAC lower-case with colons, IPs in
  Python's compressed form, vni/port None or left out when not given).
* current FDB entry (``_rtnl.fdb_dump``): ``{'mac', 'dst', 'port', 'vni', 'via', 'state',
  'self', 'master'}``; port/vni None when the kernel omitted them because they equal the device's.
* device: ``{'name', 'mac', 'vxlan': {'vni', 'port', 'group'}}``.
* desired neighbour: ``{'ip', 'mac'}``; current neighbour: ``{'ip', 'mac', 'state', 'flags'}``.
"""

from __future__ import annotations

import socket

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import (  # noqa: F401 (re-exported)
    NUD_DELAY, NUD_FAILED, NUD_INCOMPLETE, NUD_NOARP, NUD_PERMANENT, NUD_PROBE, NUD_REACHABLE, NUD_STALE,
    NUD_VALID_DYNAMIC, VNI_MAX, ZERO_MAC)
from ansible_collections.linuxnet.overlay.plugins.module_utils.values import ip_family, normalize_ip, normalize_mac  # noqa: F401
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import rtnl as _rtnl
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result

MAX_REPORTED_ERRORS = 20
FDB_DEFAULTS = {'device': None, 'netns': None, 'entries': [], 'state': 'present', 'exclusive': False}
NEIGH_DEFAULTS = {'device': None, 'netns': None, 'entries': [], 'state': 'present', 'exclusive': False,
                  'permanent': True}


class PeerError(Exception):
    """A user-facing error; ``extra`` are result fields to report with it."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.extra = extra


# ----------------------------------------------------------------------------------------------
# Values

def is_multi_mac(mac):
    """True for the all-zero MAC and multicast MACs: the kernel keeps a list of destinations
    for those (``bridge fdb append``) and refuses to ``replace`` them; a unicast MAC has
    exactly one destination."""
    return mac == ZERO_MAC or bool(int(mac[:2], 16) & 1)


def _int_in(value, low, high, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except ValueError:
            raise ValueError('%s %r is not an integer' % (what, value)) from None
    if not low <= value <= high:
        raise ValueError('%s %d is out of range (%d-%d)' % (what, value, low, high))
    return value


def error_summary(errors, what='entries'):
    """One message for a list of per-entry problems (the first few, then a count)."""
    shown = errors[:MAX_REPORTED_ERRORS]
    more = len(errors) - len(shown)
    text = 'invalid %s, nothing was changed: %s' % (what, '; '.join(shown))
    if more:
        text += '; and %d more' % more
    return text


# ----------------------------------------------------------------------------------------------
# FDB

def validate_fdb(raw_entries, state='present'):
    """Normalise the ``entries`` option of the fdb module.

    Returns (entries, errors). Exact duplicates are merged; a unicast MAC listed with two
    different destinations, or a (MAC, dst) pair of a multi-destination MAC listed with two
    different vni/port, is an error. ``dst`` is required with state=present.
    """
    entries, errors = [], []
    seen = {}
    for index, raw in enumerate(raw_entries or []):
        where = 'entries[%d]' % index
        if not isinstance(raw, dict):
            errors.append('%s: %r is not a dict with mac and dst' % (where, raw))
            continue
        try:
            mac = normalize_mac(raw.get('mac'))
            dst = raw.get('dst')
            if dst is None or dst == '':
                if state == 'present':
                    raise ValueError('dst (the remote VTEP address) is required with state=present')
                dst = None
            else:
                dst = normalize_ip(dst, 'dst')
            entry = {
                'mac': mac,
                'dst': dst,
                'vni': _int_in(raw.get('vni'), 0, VNI_MAX, 'vni'),
                'port': _int_in(raw.get('port'), 1, 65535, 'port'),
            }
        except ValueError as exc:
            errors.append('%s: %s' % (where, exc))
            continue
        key = (mac, dst) if (is_multi_mac(mac) or state != 'present') else (mac,)
        if key in seen:
            first_index, first = seen[key]
            if first != entry:
                if len(key) == 1:
                    errors.append('%s: mac %s is already listed in entries[%d] with %s; a unicast MAC has one '
                                  'destination' % (where, mac, first_index, fdb_line(first)))
                else:
                    errors.append('%s: %s is already listed in entries[%d] with %s'
                                  % (where, fdb_line(entry), first_index, fdb_line(first)))
            continue
        seen[key] = (index, entry)
        entries.append(entry)
    return entries, errors


def check_fdb_device(entries, device, state='present', refused=None):
    """Problems that depend on the device (list of messages); the kernel would refuse these.

    ``refused``: {address family (4 or 6): the kernel's reason} for the destination families
    the device does not take (``_rtnl.fdb_family_refused``).
    """
    errors = []
    refused = refused or {}
    group = device['vxlan'].get('group')
    for entry in entries:
        where = 'entry %s' % fdb_line(entry)
        if entry['mac'] == device.get('mac'):
            errors.append('%s: %s is the MAC address of device %s itself' % (where, entry['mac'], device['name']))
        family = ip_family(entry['dst']) if entry['dst'] else None
        if family in refused:
            errors.append('%s: device %s does not take IPv%d destinations (its local/remote address is IPv%d; '
                          'the kernel says: %s)' % (where, device['name'], family, 10 - family, refused[family]))
        if state == 'absent' and entry['mac'] == ZERO_MAC and entry['dst'] and entry['dst'] == group:
            errors.append('%s: this is the default destination of device %s (its remote/group); change it on '
                          'the device (linuxnet.overlay.vxlan), not here' % (where, device['name']))
    return errors


def _current_fdb(current, device):
    """The device's own-table (NTF_SELF) entries that have a destination, normalised, each
    with ``protected`` set for entries this module never removes."""
    vx = device['vxlan']
    out = []
    for c in current:
        if not c.get('self') or c.get('master') or not c.get('mac') or not c.get('dst'):
            continue
        entry = {
            'mac': c['mac'],
            'dst': c['dst'],
            'vni': c['vni'] if c.get('vni') is not None else vx['vni'],
            'port': c['port'] if c.get('port') is not None else vx['port'],
            'via': c.get('via') or 0,
            'permanent': bool(c.get('state', 0) & NUD_PERMANENT),
        }
        entry['protected'] = (c['mac'] == device.get('mac')
                              or (c['mac'] == ZERO_MAC and c['dst'] == vx.get('group')))
        out.append(entry)
    return out


def _same_fdb(current, wanted):
    return (current['dst'] == wanted['dst'] and current['vni'] == wanted['vni']
            and current['port'] == wanted['port'] and not current['via'])


def _public(entry):
    return {'mac': entry['mac'], 'dst': entry['dst'], 'vni': entry['vni'], 'port': entry['port']}


def fdb_line(entry, device=None):
    """A ``bridge fdb show``-like line; with ``device``, port/vni are shown only when they differ."""
    vx = device['vxlan'] if device else {}
    text = '%s dst %s' % (entry['mac'], entry['dst'] if entry.get('dst') else '(any)')
    if entry.get('port') is not None and entry['port'] != vx.get('port'):
        text += ' port %d' % entry['port']
    if entry.get('vni') is not None and entry['vni'] != vx.get('vni'):
        text += ' vni %d' % entry['vni']
    if entry.get('via'):
        text += ' via ifindex %d' % entry['via']
    if 'permanent' in entry and not entry['permanent']:
        text += ' (not permanent)'
    if entry.get('protected'):
        text += ' (device default)'
    return text


class _FdbPlan:
    """The operations and the report of one ``plan_fdb`` call, built entry by entry."""

    def __init__(self, device):
        self.vx = device['vxlan']
        self.deletes, self.sets = [], []
        self.added, self.replaced = [], []
        self.gone = set()         # ids of current entries that the plan deletes
        self.claimed = set()      # ids of current entries that a desired entry accounts for
        self.rewritten = set()    # ids of current entries whose replacement is listed in ``replaced``

    def delete(self, c):
        if id(c) not in self.gone:
            self.gone.add(id(c))
            self.deletes.append(('delete', c))

    def _set(self, op, want, changed_from):
        self.sets.append((op, want))
        if changed_from is not None:
            self.rewritten.add(id(changed_from))
            self.replaced.append({'before': _public(changed_from), 'after': _public(want)})
        else:
            self.added.append(_public(want))

    def unicast(self, want, existing):
        self.claimed.update(id(c) for c in existing)
        if len(existing) == 1 and _same_fdb(existing[0], want) and existing[0]['permanent']:
            return
        if len(existing) > 1:
            # The kernel keeps one destination per unicast MAC; more means something
            # unusual made them: start over.
            for c in existing:
                self.delete(c)
        self._set('replace', want, existing[0] if existing else None)

    def multi(self, want, existing):
        same_dst = [c for c in existing if c['dst'] == want['dst']]
        exact = [c for c in same_dst if _same_fdb(c, want) and c['permanent']]
        self.claimed.update(id(c) for c in same_dst)
        exact_ids = {id(c) for c in exact}
        for c in same_dst:
            if id(c) not in exact_ids and not c['protected']:
                self.delete(c)
        if exact:
            return
        changed_from = [c for c in same_dst if not c['protected']]
        self._set('append', want, changed_from[0] if changed_from else None)

    def present(self, desired, cur, by_mac, exclusive):
        for d in desired:
            want = dict(d)
            if want.get('vni') is None:
                want['vni'] = self.vx['vni']
            if want.get('port') is None:
                want['port'] = self.vx['port']
            existing = by_mac.get(want['mac'], [])
            if is_multi_mac(want['mac']):
                self.multi(want, existing)
            else:
                self.unicast(want, existing)
        if exclusive:
            for c in cur:
                if id(c) not in self.claimed and not c['protected']:
                    self.delete(c)

    def absent(self, desired, by_mac):
        for d in desired:
            for c in by_mac.get(d['mac'], []):
                if c['protected']:
                    continue
                if any(d[key] is not None and c[key] != d[key] for key in ('dst', 'vni', 'port')):
                    continue
                self.delete(c)

    def result(self, cur, device):
        removed = [_public(c) for _op, c in self.deletes if id(c) not in self.rewritten]
        before = sorted(fdb_line(c, device) for c in cur)
        # a 'replace' moves a unicast MAC: its old line goes away
        moved = {w['mac'] for op, w in self.sets if op == 'replace'}
        after_entries = [c for c in cur if id(c) not in self.gone and c['mac'] not in moved]
        after = sorted([fdb_line(c, device) for c in after_entries]
                       + [fdb_line(w, device) for _op, w in self.sets])
        return {'ops': self.deletes + self.sets, 'added': self.added, 'replaced': self.replaced,
                'removed': removed, 'before': before, 'after': after}


def plan_fdb(desired, current, device, state='present', exclusive=False):
    """Compute the operations that bring the device's FDB to the desired state.

    ``desired``: entries from ``validate_fdb`` (vni/port may be left out: the device's);
    ``current``: ``_rtnl.fdb_dump`` output; ``device``: the VXLAN link. Returns a dict:

    * ``ops``: [(op, entry), ...] with op 'delete' (entry carries the current port/vni/via),
      'replace' (unicast MAC: create or move) or 'append' (all-zero/multicast MAC); deletes first.
    * ``added``, ``replaced`` ([{'before', 'after'}]), ``removed``: what changes, for the report.
    * ``before``/``after``: sorted ``fdb_line`` lists of the entries with a destination.
    """
    cur = _current_fdb(current, device)
    by_mac = {}
    for c in cur:
        by_mac.setdefault(c['mac'], []).append(c)
    plan = _FdbPlan(device)
    if state == 'present':
        plan.present(desired, cur, by_mac, exclusive)
    else:
        plan.absent(desired, by_mac)
    return plan.result(cur, device)


# ----------------------------------------------------------------------------------------------
# Neighbours

def validate_neigh(raw_entries, state='present'):
    """Normalise the ``entries`` option of the neigh module: (entries, errors)."""
    entries, errors = [], []
    seen = {}
    for index, raw in enumerate(raw_entries or []):
        where = 'entries[%d]' % index
        if not isinstance(raw, dict):
            errors.append('%s: %r is not a dict with ip and mac' % (where, raw))
            continue
        try:
            ip = normalize_ip(raw.get('ip'), 'ip')
            mac = raw.get('mac')
            if mac is None or mac == '':
                if state == 'present':
                    raise ValueError('mac is required with state=present')
                mac = None
            else:
                mac = normalize_mac(mac)
                if mac == ZERO_MAC:
                    raise ValueError('mac 00:00:00:00:00:00 is not a usable link-layer address')
        except ValueError as exc:
            errors.append('%s: %s' % (where, exc))
            continue
        entry = {'ip': ip, 'mac': mac}
        if ip in seen:
            first_index, first = seen[ip]
            if first != entry:
                errors.append('%s: ip %s is already listed in entries[%d] with mac %s'
                              % (where, ip, first_index, first['mac']))
            continue
        seen[ip] = (index, entry)
        entries.append(entry)
    return entries, errors


def neigh_is_ours(current, permanent=True):
    """Which of the device's entries the module manages (and ``exclusive`` may remove):
    PERMANENT ones when ``permanent`` is true; otherwise every entry that is neither PERMANENT
    nor NOARP (NOARP entries are the kernel's own, for multicast and broadcast addresses)."""
    if permanent:
        return bool(current['state'] & NUD_PERMANENT)
    return not current['state'] & (NUD_PERMANENT | NUD_NOARP)


def _neigh_matches(current, wanted, permanent):
    if current['mac'] != wanted['mac']:
        return False
    if permanent:
        return bool(current['state'] & NUD_PERMANENT)
    return not current['state'] & NUD_PERMANENT and bool(current['state'] & NUD_VALID_DYNAMIC)


def nud_text(state):
    names = [name for bit, name in ((NUD_INCOMPLETE, 'INCOMPLETE'), (NUD_REACHABLE, 'REACHABLE'),
                                    (NUD_STALE, 'STALE'), (NUD_DELAY, 'DELAY'), (NUD_PROBE, 'PROBE'),
                                    (NUD_FAILED, 'FAILED'), (NUD_NOARP, 'NOARP'),
                                    (NUD_PERMANENT, 'PERMANENT')) if state & bit]
    return ' '.join(names) or 'NONE'


def _ip_key(entry):
    family = socket.AF_INET6 if ':' in entry['ip'] else socket.AF_INET
    return (family, socket.inet_pton(family, entry['ip']))


def neigh_line(entry):
    """An ``ip neigh show``-like line."""
    text = entry['ip']
    if entry.get('mac'):
        text += ' lladdr ' + entry['mac']
    if 'state' in entry:
        text += ' ' + nud_text(entry['state'])
    return text


def _neigh_public(entry):
    out = {'ip': entry['ip'], 'mac': entry['mac']}
    if 'state' in entry:
        out['state'] = nud_text(entry['state'])
    return out


def plan_neigh(desired, current, state='present', exclusive=False, permanent=True):
    """Operations for the neighbour table of one device: like ``plan_fdb`` with ops
    ('delete', current) and ('replace', wanted); ``before``/``after`` are ``neigh_line`` lists."""
    cur = [c for c in current if c.get('ip')]
    by_ip = {c['ip']: c for c in cur}
    new_state = NUD_PERMANENT if permanent else NUD_REACHABLE
    deletes, sets = [], []
    added, replaced, removed = [], [], []
    touched = set()

    if state == 'present':
        wanted_ips = set()
        for d in desired:
            wanted_ips.add(d['ip'])
            c = by_ip.get(d['ip'])
            if c is not None and _neigh_matches(c, d, permanent):
                continue
            want = {'ip': d['ip'], 'mac': d['mac'], 'state': new_state}
            sets.append(('replace', want))
            touched.add(d['ip'])
            if c is not None:
                replaced.append({'before': _neigh_public(c), 'after': _neigh_public(want)})
            else:
                added.append(_neigh_public(want))
        if exclusive:
            for c in cur:
                if c['ip'] not in wanted_ips and neigh_is_ours(c, permanent):
                    deletes.append(('delete', c))
                    touched.add(c['ip'])
                    removed.append(_neigh_public(c))
    else:
        for d in desired:
            c = by_ip.get(d['ip'])
            if c is None or (d['mac'] is not None and c['mac'] != d['mac']):
                continue
            deletes.append(('delete', c))
            touched.add(c['ip'])
            removed.append(_neigh_public(c))

    before = [neigh_line(c) for c in sorted(cur, key=_ip_key)]
    after = [neigh_line(c) for c in sorted([c for c in cur if c['ip'] not in touched] + [w for _op, w in sets],
                                           key=_ip_key)]
    return {
        'ops': deletes + sets,
        'added': added,
        'replaced': replaced,
        'removed': removed,
        'before': before,
        'after': after,
    }


def _port_line(entry):
    return '%s%s %s' % (entry['mac'], ' vlan %d' % entry['vlan'] if entry.get('vlan') is not None else '',
                        'static' if entry['state'] & NUD_NOARP else 'learned')


def plan_port_fdb(macs, current):
    """Operations for the bridge's FDB on a VTEP's port: exactly one static entry per remote MAC,
    nothing learned. The port does not learn (every remote MAC is known from the plan, as EVPN
    deployments do it), so an entry for a task that went cannot linger there, and frames to a
    remote MAC still go to the VTEP alone instead of being flooded to every local task.

    ``macs``: the remote unicast MACs; ``current``: ``_rtnl.fdb_dump`` of the port. The kernel's
    own permanent entry for the port's MAC is not the plan's. A kernel built with bridge VLANs copies
    an untagged add or delete to every VLAN of the port (the default PVID 1, even with VLAN filtering
    off: Debian's 6.1), so a tagged entry whose MAC has an untagged one is that copy and follows it.
    Returns ``plan_neigh``'s shape."""
    cur = [c for c in current if c['master'] and not c['self'] and c['mac'] and not c['state'] & NUD_PERMANENT]
    untagged = {c['mac'] for c in cur if c['vlan'] is None}
    cur = [c for c in cur if c['vlan'] is None or c['mac'] not in untagged]
    wanted = sorted(set(macs))
    ok = {c['mac'] for c in cur if c['state'] & NUD_NOARP and c['vlan'] is None and c['mac'] in wanted}
    deletes = [('delete', c) for c in cur if c['mac'] not in wanted or c['vlan'] is not None]
    learned = {c['mac']: c for c in cur if c['mac'] in wanted and c['vlan'] is None and not c['state'] & NUD_NOARP}
    sets = [('replace', {'mac': m, 'vlan': None, 'state': NUD_NOARP}) for m in wanted if m not in ok]
    before = sorted(_port_line(c) for c in cur)
    after = sorted(_port_line(c) for c in cur if c['mac'] in ok) + sorted(_port_line(w) for _op, w in sets)
    return {'ops': deletes + sets,
            'added': [w['mac'] for _op, w in sets if w['mac'] not in learned],
            'replaced': [{'before': _port_line(learned[w['mac']]), 'after': _port_line(w)}
                         for _op, w in sets if w['mac'] in learned],
            'removed': [_port_line(c) for _op, c in deletes],
            'before': before, 'after': sorted(after)}


# ----------------------------------------------------------------------------------------------
# Applying (kernel)

def _lines(lines):
    return '\n'.join(lines) + '\n' if lines else ''


def _open(netns, name):
    try:
        return _rtnl.open_device(netns, name)
    except _rtnl.DeviceError as exc:
        raise PeerError(str(exc)) from None


def open_socket(netns):
    """A socket in ``netns`` for ``converge_fdb``/``converge_neigh``, with ``_rtnl.open_device``'s messages."""
    try:
        return _rtnl.Socket(netns)
    except (_netns.NetnsError, ValueError) as exc:
        raise PeerError('%s; nothing was changed' % exc) from None
    except OSError as exc:
        raise PeerError('cannot open a netlink socket in %s: %s' % (_rtnl.where_of(netns), exc)) from None


def lookup_device(sock, netns, name):
    """The link dict of ``name`` seen through an open socket, with ``_rtnl.open_device``'s messages."""
    try:
        device = _rtnl.get_link(sock, name) if len(name.encode()) < 16 else None
    except _rtnl.NetlinkError as exc:
        raise PeerError('cannot look up device %r in %s: %s' % (name, _rtnl.where_of(netns), exc.strerror)) from None
    if device is None:
        raise PeerError('device %r does not exist in %s; nothing was changed' % (name, _rtnl.where_of(netns)))
    return device


def _module_params(params, defaults):
    p = dict(defaults, **params)
    if p['exclusive'] and p['state'] == 'absent':
        raise PeerError('exclusive=true only applies to state=present; nothing was changed')
    return p


def fdb_params(params):
    """The fdb module's parameters checked: ``(params with defaults, entries)``."""
    p = _module_params(params, FDB_DEFAULTS)
    entries, errors = validate_fdb(p['entries'], p['state'])
    if errors:
        raise PeerError(error_summary(errors))
    return p, entries


def neigh_params(params):
    """The neigh module's parameters checked: ``(params with defaults, entries)``."""
    p = _module_params(params, NEIGH_DEFAULTS)
    entries, errors = validate_neigh(p['entries'], p['state'])
    if errors:
        raise PeerError(error_summary(errors))
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


def _planned(plan, entries, state, name, key, diff):
    result = _result(plan, entries, state)
    if diff:
        result['diff'] = diff_result({'device': name, key: _lines(plan['before'])},
                                     {'device': name, key: _lines(plan['after'])})
    return result


def _send(sock, messages, what, result):
    try:
        return sock.batch(messages)
    except (_rtnl.NetlinkError, OSError) as exc:
        raise PeerError('programming the %s failed part way: %s; run the task again to see what is left'
                        % (what, exc), **result) from None


def _refused(failed, lines, total, what, result):
    more = len(failed) - len(lines)
    return PeerError('the kernel refused %d of %d %s: %s%s' % (len(failed), total, what, '; '.join(lines),
                                                               '; and %d more' % more if more else ''),
                     failed_entries=failed, **result)


def converge_fdb(sock, device, netns, entries, state='present', exclusive=False, check_mode=False, diff=False):
    """Bring the FDB of ``device`` (seen through ``sock``) to the validated ``entries``."""
    name, where = device['name'], _rtnl.where_of(netns)
    if device['kind'] != 'vxlan':
        raise PeerError('device %r in %s is not a VXLAN device (its link kind is %s); nothing was changed'
                        % (name, where, device['kind'] or 'none: loopback or physical'))
    ifindex = device['ifindex']
    refused = _rtnl.fdb_refused_families(sock, ifindex, (e['dst'] for e in entries)) if state == 'present' else {}
    errors = check_fdb_device(entries, device, state, refused)
    if errors:
        raise PeerError(error_summary(errors))
    plan = plan_fdb(entries, _rtnl.fdb_dump(sock, ifindex), device, state=state, exclusive=exclusive)
    ops = plan['ops']
    result = _planned(plan, entries, state, name, 'fdb', diff)
    if not ops or check_mode:
        return result
    failures = _send(sock, [_rtnl.fdb_message(op, ifindex, e['mac'], e['dst'], e['port'], e['vni'], e.get('via'))
                            for op, e in ops], 'FDB of %s in %s' % (name, where), result)
    if failures:
        failed = [dict(op=ops[i][0], mac=ops[i][1]['mac'], dst=ops[i][1]['dst'], error=err.strerror)
                  for i, err in failures]
        lines = ['entry %s dst %s (%s) failed: %s' % (f['mac'], f['dst'], f['op'], f['error'])
                 for f in failed[:MAX_REPORTED_ERRORS]]
        result['entries'] = sum(1 for e in _rtnl.fdb_dump(sock, ifindex) if e['self'] and e['dst'])
        raise _refused(failed, lines, len(ops), 'FDB changes on %s in %s' % (name, where), result)
    return result


def converge_neigh(sock, device, netns, entries, state='present', exclusive=False, permanent=True,
                   check_mode=False, diff=False):
    """Bring the neighbour table of ``device`` (seen through ``sock``) to the validated ``entries``."""
    name, where, ifindex = device['name'], _rtnl.where_of(netns), device['ifindex']
    plan = plan_neigh(entries, _rtnl.neigh_dump(sock, ifindex), state=state, exclusive=exclusive,
                      permanent=permanent)
    ops = plan['ops']
    result = _planned(plan, entries, state, name, 'neigh', diff)
    if not ops or check_mode:
        return result
    failures = _send(sock, [_rtnl.neigh_message(op, ifindex, e['ip'], e['mac'], permanent) for op, e in ops],
                     'neighbour table of %s in %s' % (name, where), result)
    if failures:
        failed = [dict(op=ops[i][0], ip=ops[i][1]['ip'], mac=ops[i][1]['mac'], error=err.strerror)
                  for i, err in failures]
        lines = ['entry %s lladdr %s (%s) failed: %s' % (f['ip'], f['mac'], f['op'], f['error'])
                 for f in failed[:MAX_REPORTED_ERRORS]]
        result['entries'] = len(_rtnl.neigh_dump(sock, ifindex))
        raise _refused(failed, lines, len(ops), 'neighbour changes on %s in %s' % (name, where), result)
    return result


def converge_port_fdb(sock, device, netns, macs, check_mode=False, diff=False):
    """Bring the bridge's FDB on VTEP port ``device`` to one static entry per MAC of ``macs``."""
    name, where, ifindex = device['name'], _rtnl.where_of(netns), device['ifindex']
    plan = plan_port_fdb(macs, _rtnl.fdb_dump(sock, ifindex))
    result = _planned(plan, macs, 'present', name, 'port_fdb', diff)
    if not plan['ops'] or check_mode:
        return result
    failures = _send(sock, [_rtnl.port_fdb_message(op, ifindex, e['mac'], e['vlan']) for op, e in plan['ops']],
                     'bridge entries on port %s in %s' % (name, where), result)
    if failures:
        failed = [dict(op=plan['ops'][i][0], mac=plan['ops'][i][1]['mac'], error=err.strerror) for i, err in failures]
        lines = ['entry %s (%s) failed: %s' % (f['mac'], f['op'], f['error']) for f in failed[:MAX_REPORTED_ERRORS]]
        raise _refused(failed, lines, len(plan['ops']), 'bridge entry changes on port %s in %s' % (name, where), result)
    return result


def predict_port_fdb(device, macs):
    """What ``converge_port_fdb`` would report on a VTEP this run creates (check mode)."""
    return _planned(plan_port_fdb(macs, []), macs, 'present', device, 'port_fdb', True)


def fdb_converge(params, check_mode=False, diff=False):
    """The fdb module: its parameters validated, the device opened, its FDB converged."""
    p, entries = fdb_params(params)
    sock, device = _open(p['netns'], p['device'])
    with sock:
        return converge_fdb(sock, device, p['netns'], entries, p['state'], p['exclusive'],
                            check_mode, diff)


def neigh_converge(params, check_mode=False, diff=False):
    """The neigh module: its parameters validated, the device opened, its neighbour table converged."""
    p, entries = neigh_params(params)
    sock, device = _open(p['netns'], p['device'])
    with sock:
        return converge_neigh(sock, device, p['netns'], entries, p['state'],
                              p['exclusive'], p['permanent'], check_mode, diff)


def predict_neigh(device, entries):
    """What ``converge_neigh`` would report on a device this run creates (check mode), for entries
    already validated."""
    return _planned(plan_neigh(entries, [], exclusive=True), entries, 'present', device, 'neigh', True)


def predict_new(device, vni, dstport, fdb_entries, neigh_entries):
    """What ``converge_fdb`` and ``converge_neigh`` would report on a VTEP this run creates (check
    mode: it does not exist yet, every entry is new), for entries already validated."""
    link = {'name': device, 'mac': None, 'vxlan': {'vni': vni, 'port': dstport, 'group': None}}
    return (_planned(plan_fdb(fdb_entries, [], link, exclusive=True), fdb_entries, 'present', device, 'fdb', True),
            _planned(plan_neigh(neigh_entries, [], exclusive=True), neigh_entries, 'present', device, 'neigh', True))
