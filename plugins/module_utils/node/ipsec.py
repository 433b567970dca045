# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPsec SAs and policies of one node (the logic of the ``xfrm`` module, and of a restore).

``converge(params, check_mode, diff)`` takes the module's parameters (defaults filled) and returns
its result; ``IpsecError`` carries the message and what the module reports with it. Changes are
applied in fail-safe order with undo: SAs in, policies in, policies out, SAs out, so a failure
half-way never leaves a policy that points at no SA.
"""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import netns as _netns
from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import xfrm as X
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result


class IpsecError(Exception):
    """``extra``: the fields the module returns with the message (actions, changed)."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.extra = extra


_PORT_PROTOS = (6, 17, 132)


# ---------------------------------------------------------------------------------------------
# Validation: options -> normalised objects (raise ValueError naming the bad value, never a key)


def _mark(opt, what):
    if not opt:
        return None
    value = X.parse_int(opt['value'], what + '.mark.value')
    mask = X.parse_int(opt['mask'], what + '.mark.mask')
    if value & ~mask:
        raise ValueError('%s.mark: value 0x%x has bits outside mask 0x%x' % (what, value, mask))
    return (value, mask) if (value or mask) else None


def _selector(src, dst, proto, dport, what):
    src, dst = X.parse_prefix(src), X.parse_prefix(dst)
    if src.version != dst.version:
        raise ValueError('%s: src %s and dst %s are not of one address family' % (what, src, dst))
    try:
        proto = X.parse_proto(proto)
    except ValueError as exc:
        raise ValueError('%s: %s' % (what, exc)) from None
    if dport is not None:
        if proto not in _PORT_PROTOS:
            raise ValueError('%s: dport %s needs proto udp, tcp or sctp (got %s)' % (what, dport, X.proto_name(proto)))
        if not 1 <= dport <= 65535:
            raise ValueError('%s: dport %s is out of range 1..65535' % (what, dport))
    return {'src': src, 'dst': dst, 'proto': proto, 'dport': dport or 0}


def normalise_state(opt, index, present):
    what = 'states[%d]' % index
    src, dst = X.parse_addr(opt['src']), X.parse_addr(opt['dst'])
    if src.version != dst.version:
        raise ValueError('%s: src %s and dst %s are not of one address family' % (what, src, dst))
    spi = X.parse_int(opt['spi'], what + '.spi', 256, X.FULL_MASK)
    esn, window = opt['esn'], opt['replay_window']
    if not 0 <= window <= X.REPLAY_ESN_MAX_WINDOW:
        raise ValueError('%s.replay_window: %d is out of range 0..%d' % (what, window, X.REPLAY_ESN_MAX_WINDOW))
    if esn and window == 0:
        raise ValueError('%s.replay_window: extended sequence numbers need a replay window of at least 1' % what)
    st = {'src': src, 'dst': dst, 'spi': spi, 'proto': X.IPPROTO_ESP, 'mode': opt['mode'],
          'reqid': X.parse_int(opt['reqid'], what + '.reqid'), 'esn': esn, 'replay_window': window,
          'mark': _mark(opt.get('mark'), what), 'selector': None, 'aead': None, 'other_alg': None}
    sel = opt.get('selector')
    if sel:
        st['selector'] = _selector(sel.get('src') or str(src), sel.get('dst') or str(dst), sel.get('proto'),
                                   sel.get('dport'), what + '.selector')
        if st['selector']['src'].version != src.version:
            raise ValueError('%s.selector: family differs from the SA addresses' % what)
    if present:
        if not opt.get('aead_key'):
            raise ValueError('%s.aead_key is required with state=present' % what)
        st['aead'] = {'name': X.AEAD_GCM, 'key': X.parse_key(opt['aead_key'], what + '.aead_key'),
                      'icv_bits': opt['icv_bits']}
    return st


def normalise_policy(opt, index):
    what = 'policies[%d]' % index
    pol = {'dir': opt['dir'], 'selector': _selector(opt['src'], opt['dst'], opt['proto'], opt.get('dport'), what),
           'mark': _mark(opt.get('mark'), what), 'priority': opt['priority'], 'action': opt['action'], 'tmpls': []}
    if not 0 <= pol['priority'] <= X.FULL_MASK:
        raise ValueError('%s.priority: %d is out of range 0..%d' % (what, pol['priority'], X.FULL_MASK))
    tmpl = opt.get('tmpl')
    if tmpl:
        if pol['action'] == 'block':
            raise ValueError('%s: a block policy takes no tmpl' % what)
        tsrc, tdst = X.parse_addr(tmpl['src']), X.parse_addr(tmpl['dst'])
        if tsrc.version != tdst.version:
            raise ValueError('%s.tmpl: src %s and dst %s are not of one address family' % (what, tsrc, tdst))
        if tmpl['mode'] == 'transport' and tsrc.version != pol['selector']['src'].version:
            raise ValueError('%s.tmpl: a transport-mode template must be of the selector\'s address family' % what)
        pol['tmpls'].append({'src': tsrc, 'dst': tdst, 'proto': X.IPPROTO_ESP,
                             'spi': X.parse_int(tmpl['spi'], what + '.tmpl.spi'), 'mode': tmpl['mode'],
                             'reqid': X.parse_int(tmpl['reqid'], what + '.tmpl.reqid'),
                             'optional': tmpl['level'] == 'use'})
    return pol


def _dupes(items, ident, kind):
    seen = {}
    for i, item in enumerate(items):
        key = ident(item)
        if key in seen:
            raise ValueError('%s[%d] and %s[%d] are the same object (%s)'
                             % (kind, seen[key], kind, i, ', '.join(str(k) for k in key)))
        seen[key] = i


# ---------------------------------------------------------------------------------------------
# Apply with undo


class _Undo:
    """Records the inverse of every change; ``rollback`` replays them newest first (best effort)."""

    def __init__(self, sock):
        self.sock = sock
        self.steps = []

    def do(self, action, undo):
        action()
        self.steps.append(undo)

    def rollback(self):
        failed = []
        for undo in reversed(self.steps):
            try:
                undo()
            except (X.XfrmError, OSError) as exc:
                failed.append(str(exc))
        return failed


def apply_plan(sock, plan):
    """Run the plan in fail-safe order: SAs in, policies in, policies out, SAs out."""
    undo = _Undo(sock)
    current = None
    try:
        for st in plan['state_add']:
            current = ('add', st)
            undo.do(lambda st=st: sock.add_state(st), lambda st=st: sock.del_state(st))
        for old, new in plan['state_replace']:
            current = ('replace', new)
            undo.do(lambda old=old: sock.del_state(old), lambda old=old: sock.add_state(old))
            undo.do(lambda new=new: sock.add_state(new), lambda new=new: sock.del_state(new))
        current = None
        for pol in plan['policy_add']:
            undo.do(lambda pol=pol: sock.add_policy(pol), lambda pol=pol: sock.del_policy(pol))
        for old, new in plan['policy_update']:
            undo.do(lambda new=new: sock.add_policy(new, update=True),
                    lambda old=old: sock.add_policy(old, update=True))
        for pol in plan['policy_delete']:
            undo.do(lambda pol=pol: sock.del_policy(pol), lambda pol=pol: sock.add_policy(pol))
        for st in plan['state_delete']:
            undo.do(lambda st=st: sock.del_state(st), lambda st=st: sock.add_state(st))
    except (X.XfrmError, OSError) as exc:
        failed = undo.rollback()
        return exc, current, failed
    return None, None, []


def sa_failure_message(exc, st):
    where = 'xfrm state add %s -> %s spi 0x%08x' % (st['src'], st['dst'], st['spi'])
    if getattr(exc, 'errno', None) in X.NO_SA_SUPPORT:
        return ('this kernel cannot hold IPsec SAs: %s (%s). It needs ESP (CONFIG_INET_ESP/INET6_ESP, modules esp4 '
                'and esp6) and AES-GCM (CONFIG_CRYPTO_GCM) for rfc4106(gcm(aes))' % (exc, where))
    return 'cannot add IPsec SA (%s): %s' % (where, exc)


def _read_params(p):
    """The listed states and policies, normalised; IpsecError on a bad entry."""
    present = p['state'] == 'present'
    try:
        _netns.require(p['netns'])
        states = [normalise_state(o, i, present) for i, o in enumerate(p['states'])]
        policies = [normalise_policy(o, i) for i, o in enumerate(p['policies'])]
        _dupes(states, X.state_id, 'states')
        _dupes(policies, X.policy_id, 'policies')
    except (ValueError, _netns.NetnsError) as exc:
        raise IpsecError(str(exc)) from None
    return states, policies


def _open_socket(netns):
    try:
        with _netns.entered(netns):
            return X.XfrmSocket()
    except (OSError, _netns.NetnsError) as exc:
        raise IpsecError('cannot open a NETLINK_XFRM socket in %s: %s (needs CONFIG_XFRM_USER and CAP_NET_ADMIN)'
                         % ('namespace ' + netns if netns else 'this namespace', exc)) from None


def _read_current(sock):
    try:
        return sock.states(), sock.policies()
    except (X.XfrmError, OSError) as exc:
        raise IpsecError('cannot read xfrm states and policies: %s' % exc) from None


def _plan(states, policies, cur_states, cur_policies, present, exclusive):
    """The steps in the order they are applied, and their one-line descriptions."""
    st_add, st_replace, st_delete = X.diff_states(states, cur_states, present, exclusive)
    po_add, po_update, po_delete = X.diff_policies(policies, cur_policies, present, exclusive)
    plan = {'state_add': st_add, 'state_replace': st_replace, 'policy_add': po_add,
            'policy_update': po_update, 'policy_delete': po_delete, 'state_delete': st_delete}
    actions = ([('add ' + X.describe_state(s)) for s in st_add]
               + [('replace ' + X.describe_state(n)) for _o, n in st_replace]
               + [('add ' + X.describe_policy(s)) for s in po_add]
               + [('update ' + X.describe_policy(n)) for _o, n in po_update]
               + [('delete ' + X.describe_policy(s)) for s in po_delete]
               + [('delete ' + X.describe_state(s)) for s in st_delete])
    return plan, actions


def _before_after(states, policies, cur_states, cur_policies, plan):
    """What the result and the diff show: every listed object and every object of ours."""
    listed_s = {X.state_id(s) for s in states}
    listed_p = {X.policy_id(s) for s in policies}
    before_s = [s for s in cur_states if X.state_id(s) in listed_s or X.is_ours_state(s)]
    before_p = [s for s in cur_policies if X.policy_id(s) in listed_p or X.is_ours_policy(s)]
    gone_s = {X.state_id(s) for s in plan['state_delete']} | {X.state_id(o) for o, _n in plan['state_replace']}
    gone_p = {X.policy_id(s) for s in plan['policy_delete']} | {X.policy_id(o) for o, _n in plan['policy_update']}
    after_s = ([s for s in before_s if X.state_id(s) not in gone_s] + plan['state_add']
               + [n for _o, n in plan['state_replace']])
    after_p = ([s for s in before_p if X.policy_id(s) not in gone_p] + plan['policy_add']
               + [n for _o, n in plan['policy_update']])
    return before_s, before_p, after_s, after_p


def _apply(sock, plan, actions):
    error, failed_sa, rollback_failed = apply_plan(sock, plan)
    if error is None:
        return
    if failed_sa is not None:
        msg = sa_failure_message(error, failed_sa[1])
    else:
        msg = 'xfrm change failed: %s' % error
    if rollback_failed:
        msg += '; undoing the changes already made failed too: %s' % '; '.join(rollback_failed)
    else:
        msg += '; nothing was changed (the steps already done were undone)'
    raise IpsecError(msg, actions=actions, changed=bool(rollback_failed))


# ---------------------------------------------------------------------------------------------
# Sequence numbers (a restore's counters, node/restore.py)


def counted_states(p, check_mode=False):
    """Our SAs in ``p['netns']`` with the kernel's counters; in check mode also the listed SAs a run
    of ``p`` would add, as fresh ones (counters 0), so that a restore's --check predicts."""
    sock = _open_socket(p['netns'])
    with sock:
        try:
            have = [s for s in sock.states() if X.is_ours_state(s)]
        except (X.XfrmError, OSError) as exc:
            raise IpsecError('cannot read xfrm states: %s' % exc) from None
    if check_mode and p['state'] == 'present':
        ids = {X.state_id(s) for s in have}
        have += [dict(s, counters={'oseq': 0, 'seq': 0}) for s in _read_params(p)[0]
                 if X.state_id(s) not in ids and X.is_ours_state(s)]
    return have


def set_counters(netns, changes):
    """Set the sequence numbers of each (SA, oseq, seq) in ``changes``; IpsecError names the SA."""
    sock = _open_socket(netns)
    with sock:
        for st, oseq, seq in changes:
            try:
                sock.set_counters(st, oseq, seq)
            except (X.XfrmError, OSError) as exc:
                raise IpsecError('cannot set the sequence numbers of SA %s -> %s spi 0x%08x: %s'
                                 % (st['src'], st['dst'], st['spi'], exc)) from None


def converge(p, check_mode=False, diff=False):
    """The xfrm module's run: ``p`` its parameters with defaults."""
    states, policies = _read_params(p)
    sock = _open_socket(p['netns'])
    with sock:
        cur_states, cur_policies = _read_current(sock)
        plan, actions = _plan(states, policies, cur_states, cur_policies, p['state'] == 'present', p['exclusive'])
        changed = bool(actions)
        before_s, before_p, after_s, after_p = _before_after(states, policies, cur_states, cur_policies, plan)
        if changed and not check_mode:
            _apply(sock, plan, actions)
    result = {
        'changed': changed,
        'actions': actions,
        'states': [X.public_state(s) for s in sorted(after_s, key=X.describe_state)],
        'policies': [X.public_policy(s) for s in sorted(after_p, key=X.describe_policy)],
    }
    if diff:
        result['diff'] = diff_result(
            '\n'.join(sorted(X.describe_state(s) for s in before_s) + sorted(X.describe_policy(s) for s in before_p)) + '\n',
            '\n'.join(sorted(X.describe_state(s) for s in after_s) + sorted(X.describe_policy(s) for s in after_p)) + '\n')
    return result
