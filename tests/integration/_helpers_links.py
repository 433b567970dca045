# -*- coding: utf-8 -*-
"""Helpers for the netns / bridge / vxlan / veth integration tests. They read the kernel with
iproute2's JSON output and ss(8), independently of the modules' own netlink code."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid

from conftest import PYTHON, ROOT, sh

VXLAN_FLAGS = ('learning', 'proxy', 'l2miss', 'l3miss')


def ns_opt(ns):
    return '-n %s ' % ns if ns else ''


def ip_json(args, ns=None):
    out = sh('ip -j %s%s' % (ns_opt(ns), args))
    return json.loads(out) if out.strip() else []


def link(ns, name):
    """``ip -j -d link show`` of one device, or None."""
    out = sh('ip -j -d %slink show dev %s 2>/dev/null' % (ns_opt(ns), name), check=False)
    data = json.loads(out) if out.strip() else []
    return data[0] if data else None


def kind(dev):
    return dev.get('linkinfo', {}).get('info_kind') if dev else None


def is_up(dev):
    return 'UP' in dev['flags']


def vxlan_data(dev):
    """A vxlan's data as ip -d reports it, with absent flags filled in as false."""
    data = dict(dev['linkinfo']['info_data'])
    for flag in VXLAN_FLAGS:
        data.setdefault(flag, False)
    return data


def addresses(ns, name):
    """Addresses of a device as CIDRs, without IPv6 link-local ones."""
    out = []
    for entry in ip_json('addr show dev %s' % name, ns):
        for a in entry.get('addr_info', []):
            if a['family'] == 'inet6' and a.get('scope') == 'link':
                continue
            out.append('%s/%d' % (a['local'], a['prefixlen']))
    return sorted(out)


def routes(ns, name):
    """Main-table routes through a device that the kernel did not make, as (dst, via)."""
    out = []
    for family in ('-4', '-6'):
        for r in ip_json('%s route show dev %s' % (family, name), ns):
            if r.get('protocol') == 'kernel':
                continue
            out.append((r['dst'], r.get('gateway')))
    return sorted(out)


def udp_sockets(ns=None):
    """Local addresses of the UDP sockets of a namespace, from ss(8)."""
    prefix = 'ip netns exec %s ' % ns if ns else ''
    return sorted(line.split()[3] for line in sh(prefix + 'ss -Huan').splitlines() if line.strip())


def netns_list():
    return sorted(line.split()[0] for line in sh('ip netns list').splitlines() if line.strip())


def _link_view(dev):
    view = {k: dev.get(k) for k in ('ifindex', 'ifname', 'mtu', 'address', 'master', 'link_netnsid', 'link_index')}
    view['flags'] = sorted(f for f in dev.get('flags', []) if f != 'LOWER_UP' and f != 'NO-CARRIER')
    view['kind'] = kind(dev)
    if view['kind'] == 'vxlan':
        view['vxlan'] = vxlan_data(dev)
    view['addresses'] = sorted('%s/%d' % (a['local'], a['prefixlen']) for a in dev.get('addr_info', [])
                               if not (a['family'] == 'inet6' and a.get('scope') == 'link'))
    return view


def snapshot(*namespaces):
    """What "changes nothing" compares: the namespace list, and the links, addresses, routes and UDP
    sockets of the module's own namespace (None) and of each given namespace that exists."""
    snap = {'netns': netns_list()}
    for ns in (None,) + namespaces:
        if ns is not None and ns not in snap['netns']:
            continue
        links = ip_json('-d addr show', ns)
        snap[ns or '-'] = {
            'links': sorted((_link_view(d) for d in links), key=lambda v: v['ifname']),
            'routes': sorted(json.dumps(r, sort_keys=True) for r in ip_json('route show table all', ns)
                             if r.get('protocol') != 'kernel'),
            'udp': udp_sockets(ns),
        }
    return snap


def run_in_node(node, module, args, check=False, diff=True, expect_failure=False):
    """Run a module with ``node`` (a namespace) as the namespace the module runs in, the way the
    lab's nsenter connection does: ``nsenter --net=/run/netns/NODE ansible ...``.

    Not ``ip netns exec``: it gives its child a private (slave) mount namespace, so a namespace the
    netns module creates there would be an empty file outside."""
    tmpdir = tempfile.mkdtemp(prefix='linuxnet-node-')
    result_file = os.path.join(tmpdir, 'result.json')
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.build'),
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(ROOT, 'tests', 'integration', 'callback_plugins'),
        'ANSIBLE_CALLBACKS_ENABLED': 'result_file',
        'ANSIBLE_LOCAL_TEMP': os.path.join(tmpdir, 'ansible-local'),
        'LINUXNET_RESULT_FILE': result_file,
    })
    cmd = ['nsenter', '--net=/run/netns/' + node, os.path.join(os.path.dirname(PYTHON), 'ansible'), 'all', '-i',
           'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=' + PYTHON,
           '-m', 'linuxnet.overlay.' + module, '-a', json.dumps(args)]
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        with open(result_file, encoding='utf-8') as f:
            results = [json.loads(line) for line in f]
    finally:
        subprocess.run(['rm', '-rf', tmpdir], check=False)
    if len(results) != 1:
        raise AssertionError('no single result from %s\n%s\n%s' % (' '.join(cmd), proc.stdout, proc.stderr))
    res = results[0]
    failed = res['_status'] != 'ok' or res.get('failed')
    if bool(failed) != bool(expect_failure):
        raise AssertionError('%s in node %s: unexpected result %s' % (module, node, json.dumps(res, indent=2)))
    return res


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:6])


def free_vni():
    """A VNI no other test of this run uses (tests share the module's namespace, where VNIs are unique)."""
    return 100000 + (uuid.uuid4().int % 16000000)
