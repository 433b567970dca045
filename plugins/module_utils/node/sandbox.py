# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""All overlay sandboxes of one node in one module run (the logic of the ``sandbox`` module).

A sandbox is a network namespace holding, per subnet, a bridge with the gateway address and a VTEP
(VXLAN made in the node namespace, moved in, enslaved to the bridge) with the exact set of peer
neighbour and FDB entries. The work is the per-object converge functions the single-object
modules use (``_namespace``, ``_bridge``, ``_vxlan``, ``_peerdb``), called in order in one process:
one module process per node instead of five loops is what makes site.yml scale (bench/scale.py).

Pure part (unit-tested in tests/unit/test_sandbox.py): ``validate`` (every input error, named,
before any change; its output is the model ``converge`` takes, so the per-object functions get
checked values and do not check them again), ``peer_entries``, ``plan_removals``, ``render``.
The rest talks to the kernel, through one socket set per sandbox namespace.
"""

from __future__ import annotations

import contextlib

from ansible_collections.linuxnet.overlay.plugins.module_utils.constants import VNI_MAX, VNI_MIN, VXLAN_PORT, ZERO_MAC
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import bridge as _bridge
from ansible_collections.linuxnet.overlay.plugins.module_utils import linkplan as _linkplan
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import namespace as _namespace
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import peerdb as _peerdb
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import vtep as _vxlan

SANDBOX_KEYS = ('netns', 'mtu', 'ip_forward', 'subnets')
SANDBOX_INFO_KEYS = ('network', 'network_id', 'encrypted')      # the cluster plan's, shown or ignored
SUBNET_KEYS = ('bridge', 'address', 'vxlan', 'vni', 'peers', 'flood')
SUBNET_INFO_KEYS = ('subnet', 'gateway', 'prefixlen')
PEER_KEYS = ('ip', 'mac', 'vtep')
DEFAULTS = {'sandboxes': [], 'dstport': VXLAN_PORT, 'local': None, 'exclusive': False,
            'prefix': None}


class SandboxError(Exception):
    """A user-facing error; ``actions`` are what was already done (empty for input errors)."""

    def __init__(self, msg, actions=None):
        super().__init__(msg)
        self.actions = actions or []


# ---------------------------------------------------------------------------------------------
# Pure planning

def _int(value, what, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SandboxError('%s %r is not an integer' % (what, value))
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise SandboxError('%s %r is not an integer' % (what, value))
        value = int(value)
    if not low <= value <= high:
        raise SandboxError('%s %d is out of range: use %d-%d' % (what, value, low, high))
    return value


def _bool(value, what):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('1', 'true', 'yes', 'on'):
        return True
    if text in ('0', 'false', 'no', 'off'):
        return False
    raise SandboxError('%s %r is not a boolean' % (what, value))


def _keys(item, what, known, info=()):
    if not isinstance(item, dict):
        raise SandboxError('%s must be a dict, got %r' % (what, item))
    unknown = sorted(set(item) - set(known) - set(info))
    if unknown:
        raise SandboxError('%s: unknown key(s) %s; known: %s' % (what, ', '.join(unknown), ', '.join(known)))


def peer_entries(peers, flood=()):
    """A subnet's peers ``{ip, mac, vtep}`` as neighbour entries and FDB entries (one per MAC),
    plus one all-zeros FDB entry per VTEP of ``flood``: the VXLAN device sends broadcast, multicast
    and unknown unicast frames to each of them (head-end replication)."""
    neigh = [{'ip': p['ip'], 'mac': p['mac']} for p in peers]
    fdb = {}
    for p in peers:
        fdb.setdefault(p['mac'], {'mac': p['mac'], 'dst': p['vtep']})
    return neigh, list(fdb.values()) + [{'mac': ZERO_MAC, 'dst': vtep} for vtep in flood]


def _linkerr(what, func, *args):
    try:
        return func(*args)
    except (_linkplan.LinkError, ValueError) as exc:
        raise SandboxError('%s: %s' % (what, exc)) from None


def _validate_peers(swhat, sraw):
    """A subnet's peers and flood list as validated neighbour and FDB entries."""
    peers = sraw.get('peers') or []
    if not isinstance(peers, list):
        raise SandboxError('%s: peers must be a list of {ip, mac, vtep}' % swhat)
    for k, peer in enumerate(peers):
        _keys(peer, '%s peers[%d]' % (swhat, k), PEER_KEYS)
        missing = [key for key in PEER_KEYS if not peer.get(key)]
        if missing:
            raise SandboxError('%s peers[%d] needs %s' % (swhat, k, ', '.join(missing)))
    flood = sraw.get('flood') or []
    if not isinstance(flood, list) or not all(isinstance(v, str) and v for v in flood):
        raise SandboxError('%s: flood must be a list of VTEP addresses, got %r' % (swhat, flood))
    neigh, fdb = peer_entries(peers, flood)
    neigh, errors = _peerdb.validate_neigh(neigh)
    if not errors:
        fdb, errors = _peerdb.validate_fdb(fdb)
    if errors:
        raise SandboxError('%s peers or flood: %s' % (swhat, _peerdb.error_summary(errors)))
    return [{'ip': e['ip'], 'mac': e['mac']} for e in neigh], [{'mac': e['mac'], 'dst': e['dst']} for e in fdb]


def _validate_subnet(swhat, sraw, devices, vnis):
    _keys(sraw, swhat, SUBNET_KEYS, SUBNET_INFO_KEYS)
    for key in ('bridge', 'address', 'vxlan', 'vni'):
        if sraw.get(key) is None:
            raise SandboxError('%s needs %s' % (swhat, key))
    bridge = _linkerr('%s: bridge' % swhat, _linkplan.validate_ifname, sraw['bridge'], 'bridge')
    vxlan = _linkerr('%s: vxlan' % swhat, _linkplan.validate_ifname, sraw['vxlan'], 'vxlan')
    for dev in (bridge, vxlan):
        if dev in devices:
            raise SandboxError('%s: device name %s is used twice in the sandbox' % (swhat, dev))
        devices[dev] = True
    address = _linkerr('%s: address' % swhat, _linkplan.normalize_cidrs, [sraw['address']], 'address')[0]
    vni = _int(sraw['vni'], '%s: vni' % swhat, VNI_MIN, VNI_MAX)
    if vni in vnis:
        raise SandboxError('%s: vni %d is also used by %s; a VNI exists once per node and port'
                           % (swhat, vni, vnis[vni]))
    vnis[vni] = swhat
    neigh, fdb = _validate_peers(swhat, sraw)
    return {'bridge': bridge, 'address': address, 'vxlan': vxlan, 'vni': vni, 'neigh': neigh, 'fdb': fdb}


def _validate_sandbox(i, raw, names, vnis):
    what = 'sandboxes[%d]' % i
    _keys(raw, what, SANDBOX_KEYS, SANDBOX_INFO_KEYS)
    if raw.get('netns') is None:
        raise SandboxError('%s needs netns (the name of the sandbox namespace)' % what)
    netns = _linkerr('%s.netns' % what, _netns.validate_name, raw['netns'])
    if netns in names:
        raise SandboxError('%s.netns %s is listed twice (also sandboxes[%d])' % (what, netns, names[netns]))
    names[netns] = i
    what = 'sandbox %s (sandboxes[%d])' % (netns, i)
    mtu = _int(raw['mtu'], '%s: mtu' % what, 68, 65535) if raw.get('mtu') is not None else None
    subnets_raw = raw.get('subnets')
    if not isinstance(subnets_raw, list) or not subnets_raw:
        raise SandboxError('%s needs subnets: a non-empty list of {bridge, address, vxlan, vni, peers}' % what)
    ip_forward = (_bool(raw['ip_forward'], '%s: ip_forward' % what) if raw.get('ip_forward') is not None
                  else len(subnets_raw) > 1)
    devices = {}
    subnets = [_validate_subnet('%s subnets[%d]' % (what, j), sraw, devices, vnis) for j, sraw in enumerate(subnets_raw)]
    return {'netns': netns, 'network': raw.get('network'), 'mtu': mtu, 'ip_forward': ip_forward, 'subnets': subnets}


def validate(params):
    """Every input error, raised as SandboxError naming the bad value; the normalised input, the model
    ``converge`` takes, otherwise: ``{'dstport', 'local', 'exclusive', 'prefix', 'sandboxes': [...]}``."""
    p = dict(DEFAULTS, **params)
    dstport = _int(p['dstport'], 'dstport', 1, 65535)
    try:
        local = _linkplan.normalize_ip(p['local'], 'local') if p['local'] else None
    except _linkplan.LinkError as exc:
        raise SandboxError('%s; nothing was changed' % exc) from None
    prefix = p['prefix']
    if p['exclusive'] and not prefix:
        raise SandboxError('exclusive=true needs a prefix (the names of the sandboxes this module owns, '
                           'for example ov-): without one it would remove every namespace; nothing was changed')
    if prefix is not None:
        _linkerr('prefix', _netns.validate_name, prefix)
    if not isinstance(p['sandboxes'], list):
        raise SandboxError('sandboxes must be a list, got %r' % (p['sandboxes'],))
    names, vnis = {}, {}
    out = [_validate_sandbox(i, raw, names, vnis) for i, raw in enumerate(p['sandboxes'])]
    return {'dstport': dstport, 'local': local, 'exclusive': bool(p['exclusive']), 'prefix': prefix,
            'sandboxes': out}


def task_neighbours(v, tasks):
    """The ``tasks`` option with each interface on one of these sandboxes' bridges given its
    ``neighbours`` (pure): every other task interface of its subnet, the subnet's peers (remote) and
    this node's other tasks on the same bridge. Interfaces that list their own are left as they are."""
    remote = {(sb['netns'], sub['bridge']): sub['neigh'] for sb in v['sandboxes'] for sub in sb['subnets']}
    local = {}
    for task in tasks:
        for itf in task.get('interfaces') or ():
            key = (itf.get('sandbox'), itf.get('bridge'))
            if key in remote and itf.get('mac') and itf.get('address'):
                local.setdefault(key, []).append({'ip': itf['address'].split('/', 1)[0], 'mac': itf['mac']})
    out = []
    for task in tasks:
        itfs = []
        for itf in task.get('interfaces') or ():
            key = (itf.get('sandbox'), itf.get('bridge'))
            if key in remote and itf.get('neighbours') is None:
                own = (itf.get('address') or '').split('/', 1)[0]
                itf = dict(itf, neighbours=[e for e in local.get(key, []) if e['ip'] != own] + remote[key])
            itfs.append(itf)
        out.append(dict(task, interfaces=itfs) if task.get('interfaces') is not None else task)
    return out


def plan_removals(existing, sandboxes, prefix):
    """Namespaces named ``prefix``... that exist but are not listed, sorted."""
    listed = {s['netns'] for s in sandboxes}
    return sorted(n for n in existing if n.startswith(prefix) and n not in listed)


def _onoff(value):
    return 'on' if value else 'off'


def render(view):
    """A sandbox as readable text (one line per object or entry) for --diff; '' when it does not exist.

    ``view``: ``{'netns', 'network', 'exists', 'sysctls', 'links' (for a sandbox being removed),
    'subnets': [{'bridge': diff view, 'vxlan': diff view, 'neigh': text, 'fdb': text, 'port_learning': bool or
    None, 'port_fdb': text}]}``."""
    if not view.get('exists'):
        return ''
    lines = ['sandbox %s%s' % (view['netns'], ' (network %s)' % view['network'] if view.get('network') else '')]
    lines.extend('  sysctl %s = %s' % kv for kv in sorted((view.get('sysctls') or {}).items()))
    for name, link in sorted((view.get('links') or {}).items()):
        lines.append('  device %s (%s)' % (name, link.get('kind')))
    for sub in view.get('subnets') or []:
        br = sub['bridge']
        if not br.get('exists'):
            lines.append('  bridge %s: absent' % br['name'])
        else:
            lines.append('  bridge %s: mtu %s, %s, addresses %s' % (
                br['name'], br['mtu'], 'up' if br['up'] else 'down', ' '.join(br['addresses']) or '-'))
        vx = sub['vxlan']
        if not vx.get('exists'):
            lines.append('  vtep %s: absent' % vx['name'])
        else:
            lines.append('  vtep %s: vni %s, dstport %s, local %s, learning %s, proxy %s, mtu %s, master %s, %s%s' % (
                vx['name'], vx.get('vni'), vx.get('dstport'), vx.get('local') or '-', _onoff(vx.get('learning')),
                _onoff(vx.get('proxy')), vx.get('mtu'), vx.get('master') or '-', 'up' if vx.get('up') else 'down',
                ', UDP socket in %s' % vx['socket_netns'] if vx.get('socket_netns') else ''))
        lines.extend('  %s neigh %s' % (vx['name'], line) for line in (sub.get('neigh') or '').splitlines())
        lines.extend('  %s fdb %s' % (vx['name'], line) for line in (sub.get('fdb') or '').splitlines())
        if sub.get('port_learning') is not None:
            lines.append('  %s bridge port: learning %s' % (vx['name'], _onoff(sub['port_learning'])))
        lines.extend('  %s bridge port fdb %s' % (vx['name'], line) for line in (sub.get('port_fdb') or '').splitlines())
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------------------------
# Applying (kernel)

def _diff_entry(name, before, after):
    return {'before_header': 'sandbox %s' % name, 'after_header': 'sandbox %s' % name,
            'before': before, 'after': after}


def _count(value):
    return len(value) if isinstance(value, (list, tuple)) else value


def _peer_counts(res):
    return {k: _count(res[k]) for k in ('added', 'replaced', 'removed', 'unchanged', 'entries')}


def _peer_action(kind, res):
    parts = ['%s %d' % (w, _count(res[k])) for w, k in (('add', 'added'), ('replace', 'replaced'), ('remove', 'removed'))
             if _count(res[k])]
    return '%s entries: %s' % (kind, ', '.join(parts))


def _vtep_want(sub, sb, v, master):
    """The VTEP of a subnet in ``_vxlan.desired_state``'s shape, from input ``validate`` checked."""
    return {'vni': sub['vni'], 'dstport': v['dstport'], 'local': v['local'], 'learning': False, 'proxy': True,
            'l2miss': False, 'l3miss': False, 'ttl': None, 'mtu': sb['mtu'], 'master': master, 'up': True}


def _vtep(ctx, sub, sb, v, new, bridge_made, check_mode):
    netns, name = sb['netns'], sub['vxlan']
    if new:
        return _vxlan.predict_new(name, netns, _vtep_want(sub, sb, v, sub['bridge']), ctx['scan'])
    if check_mode and bridge_made:
        # the bridge this run would make does not exist yet to be a master: predict the enslaving
        vx = _vxlan.converge_in(ctx['home'], ctx['ipr'], name, netns, _vtep_want(sub, sb, v, None), check_mode, True,
                                ctx['scan'])
        if vx['vxlan'] is not None and vx['vxlan'].get('master') != sub['bridge']:
            vx['actions'].append('set master %s -> %s' % (vx['vxlan'].get('master'), sub['bridge']))
            vx['vxlan']['master'] = sub['bridge']
            vx['diff']['after'] = dict(vx['diff']['after'], master=sub['bridge'])
            vx['changed'] = True
        return vx
    return _vxlan.converge_in(ctx['home'], ctx['ipr'], name, netns, _vtep_want(sub, sb, v, sub['bridge']),
                              check_mode, True, ctx['scan'])


def _peer_tables(ctx, sub, sb, v, vtep_made, check_mode):
    """``(neigh, fdb)`` results of the subnet's VTEP: exactly its peers, nothing else."""
    if check_mode and vtep_made:
        fdb, neigh = _peerdb.predict_new(sub['vxlan'], sub['vni'], v['dstport'], sub['fdb'], sub['neigh'])
        return neigh, fdb
    netns, sock = sb['netns'], ctx['sock']
    device = _peerdb.lookup_device(sock, netns, sub['vxlan'])
    neigh = _peerdb.converge_neigh(sock, device, netns, sub['neigh'], exclusive=True, check_mode=check_mode,
                                   diff=True)
    fdb = _peerdb.converge_fdb(sock, device, netns, sub['fdb'], exclusive=True, check_mode=check_mode, diff=True)
    return neigh, fdb


def _port_learning(ctx, sub, predicted, check_mode):
    """``(before, actions)``: the VTEP's bridge port set not to learn (the plan knows every remote MAC,
    ``_peerdb.plan_port_fdb``). ``predicted``: a check-mode run would make the VTEP or its bridge."""
    if predicted:
        return None, ['%s: bridge port learning off' % sub['vxlan']]
    (link,) = ctx['ipr'].link('get', ifname=sub['vxlan'])
    info = link.get_attr('IFLA_LINKINFO')
    data = info.get_attr('IFLA_INFO_SLAVE_DATA') if info is not None else None
    learning = data.get_attr('IFLA_BRPORT_LEARNING') if data is not None else None
    if learning == 0:
        return False, []
    if not check_mode:
        ctx['ipr'].brport('set', index=link['index'], learning=0)
    return bool(learning), ['%s: bridge port learning %s -> off' % (sub['vxlan'], _onoff(learning))]


def _port(ctx, sub, sb, predicted, check_mode):
    """The VTEP's bridge port: learning off, one static entry per remote MAC; ``(learning before,
    actions, port FDB result)``."""
    macs = sorted({e['mac'] for e in sub['fdb'] if not _peerdb.is_multi_mac(e['mac'])})
    learning, actions = _port_learning(ctx, sub, predicted, check_mode)
    if predicted:
        return learning, actions, _peerdb.predict_port_fdb(sub['vxlan'], macs)
    device = _peerdb.lookup_device(ctx['sock'], sb['netns'], sub['vxlan'])
    port = _peerdb.converge_port_fdb(ctx['sock'], device, sb['netns'], macs, check_mode=check_mode, diff=True)
    return learning, actions, port


def _subnet(ctx, sub, sb, v, new, check_mode):
    """The bridge, VTEP, peer entries and bridge port of one subnet: their five results."""
    brw = {'name': sub['bridge'], 'netns': sb['netns'], 'state': 'present', 'mtu': sb['mtu'],
           'addresses': [sub['address']], 'up': True}
    br = _bridge.predict_new(brw) if new else _bridge.converge_in(ctx['ipr'], brw, check_mode, True)
    bridge_made = any(a.startswith('create bridge') for a in br['actions'])
    vx = _vtep(ctx, sub, sb, v, new, bridge_made, check_mode)
    vtep_made = any(a.startswith('create ') for a in vx['actions'])
    neigh, fdb = _peer_tables(ctx, sub, sb, v, vtep_made, check_mode)
    port = _port(ctx, sub, sb, check_mode and (vtep_made or bridge_made), check_mode)
    return br, vx, neigh, fdb, port


def _report(out, actions, views, sub, br, vx, neigh, fdb, port):
    learning, port_actions, port_fdb = port
    actions.extend(br['actions'])
    actions.extend(vx['actions'])
    if neigh['changed']:
        actions.append('%s: %s' % (sub['vxlan'], _peer_action('neighbour', neigh)))
    if fdb['changed']:
        actions.append('%s: %s' % (sub['vxlan'], _peer_action('FDB', fdb)))
    actions.extend(port_actions)
    if port_fdb['changed']:
        actions.append('%s: %s' % (sub['vxlan'], _peer_action('bridge port', port_fdb)))
    out['bridges'].append(br['bridge'])
    out['vteps'].append(vx['vxlan'])
    out['neigh'][sub['vxlan']] = _peer_counts(neigh)
    out['fdb'][sub['vxlan']] = _peer_counts(fdb)
    out['port_fdb'][sub['vxlan']] = _peer_counts(port_fdb)
    for side, view in zip(('before', 'after'), views):
        view['subnets'].append({'bridge': br['diff'][side], 'vxlan': vx['diff'][side],
                                'neigh': neigh['diff'][side]['neigh'], 'fdb': fdb['diff'][side]['fdb'],
                                'port_learning': learning if side == 'before' else False,
                                'port_fdb': port_fdb['diff'][side]['port_fdb']})


def converge_one(sb, v, check_mode, home=None, scan=None):
    """Converge one sandbox; returns ``(result, before_view, after_view)``. Its bridges, VTEPs and peer
    entries share one pyroute2 socket and one rtnetlink socket in the namespace; ``home`` is an IPRoute
    in the module's namespace, ``scan`` a ``_vxlan.VxlanScan`` of the run."""
    netns = sb['netns']
    new = check_mode and not _netns.exists(netns)
    # off is set too: a new namespace takes IPv4 forwarding from the root one, and a sandbox of one
    # subnet must not route because its host does
    sysctls = {'net.ipv4.ip_forward': 1 if sb['ip_forward'] else 0}
    ns = _namespace.converge({'name': netns, 'sysctls': sysctls}, check_mode, True)
    actions = list(ns['actions'])
    before = {'netns': netns, 'network': sb['network'], 'exists': ns['diff']['before']['exists'],
              'sysctls': ns['diff']['before'].get('sysctls'), 'subnets': []}
    after = {'netns': netns, 'network': sb['network'], 'exists': True,
             'sysctls': ns['diff']['after'].get('sysctls'), 'subnets': []}
    out = {'name': netns, 'network': sb['network'], 'bridges': [], 'vteps': [], 'neigh': {}, 'fdb': {}, 'port_fdb': {}}
    with contextlib.ExitStack() as stack:
        ctx = {'home': home, 'scan': scan if scan is not None else _vxlan.VxlanScan()}
        if not new:
            if home is None:
                ctx['home'] = stack.enter_context(_links.opened(None))
            ctx['ipr'] = stack.enter_context(_links.opened(netns))
            ctx['sock'] = stack.enter_context(_peerdb.open_socket(netns))
        for sub in sb['subnets']:
            _report(out, actions, (before, after), sub, *_subnet(ctx, sub, sb, v, new, check_mode))
    out['changed'] = bool(actions)
    out['actions'] = actions
    return out, before, after


def _remove(name, check_mode, actions, removed, diffs):
    res = _namespace.converge({'name': name, 'state': 'absent'}, check_mode, True)
    actions.extend('%s: %s' % (name, a) for a in res['actions'])
    removed.append(name)
    before = dict(res['diff']['before'], netns=name)
    diffs.append(_diff_entry(name, render(before), ''))


def converge(v, check_mode=False, diff=False):
    """Converge the node's sandboxes to ``v``, the model ``validate`` returned."""
    actions, sandboxes, removed, diffs = [], [], [], []
    removals = plan_removals(_netns.list_names(), v['sandboxes'], v['prefix']) if v['exclusive'] else []
    current = None
    try:
        for name in removals:
            current = name
            _remove(name, check_mode, actions, removed, diffs)
        scan = _vxlan.VxlanScan()
        with _links.opened(None) as home:
            for sb in v['sandboxes']:
                current = sb['netns']
                res, before, after = converge_one(sb, v, check_mode, home, scan)
                actions.extend('%s: %s' % (sb['netns'], a) for a in res['actions'])
                sandboxes.append(res)
                if res['changed']:
                    diffs.append(_diff_entry(sb['netns'], render(before), render(after)))
    except _peerdb.PeerError as exc:
        raise SandboxError('sandbox %s: %s' % (current, exc), actions) from None
    except (_linkplan.LinkError, _netns.NetnsError, ValueError) as exc:
        raise SandboxError('sandbox %s: %s' % (current, exc), actions) from None
    except _links.NetlinkError as exc:
        raise SandboxError(_linkplan.netlink_message('sandbox %s' % current, exc), actions) from None
    except OSError as exc:
        raise SandboxError('sandbox %s: %s' % (current, exc), actions) from None
    result = {'changed': bool(actions), 'actions': actions, 'sandboxes': sandboxes, 'removed': removed}
    if diff:
        result['diff'] = diffs
    return result
