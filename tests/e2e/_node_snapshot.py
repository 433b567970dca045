# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run INSIDE a lab node (``labctl exec --dir LAB NODE -- python _node_snapshot.py``): what the
node's kernel and files hold, read with the independent tools (``ip -j``, ``bridge -j``, ``ss``,
``/proc``), printed as one JSON object. One process per node instead of one per question keeps
the end-to-end suite fast. Standard library only; reads, never writes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

STATE_DIR = '/var/lib/linuxnet-overlay'
ETC_NETNS = '/etc/netns'
RUN_NETNS = '/run/netns'
RUNTIME = '/run/linuxnet-overlay/tasks'


def sh(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else ''


def ipj(args, ns=None):
    text = sh((['ip', '-n', ns] if ns else ['ip']) + ['-j'] + args)
    return json.loads(text) if text.strip() else []


def bridgej(args, ns=None):
    text = sh((['bridge', '-n', ns] if ns else ['bridge']) + ['-j'] + args)
    return json.loads(text) if text.strip() else []


def listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return None


def read(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except OSError:
        return None


def addresses(ns=None):
    """``ip -j addr show`` without the IPv6 DAD state: an address is ``tentative`` for a second or two
    after its interface comes up and then is not, by itself; that is the kernel, not a change."""
    out = ipj(['addr', 'show'], ns)
    for link in out:
        for info in link.get('addr_info', []):
            info.pop('tentative', None)
    return out


def namespace(name):
    path = os.path.join(RUN_NETNS, name)
    fwd = sh(['ip', 'netns', 'exec', name, 'cat', '/proc/sys/net/ipv4/ip_forward']).strip()
    return {
        'inode': os.stat(path).st_ino,
        'links': ipj(['-d', 'link', 'show'], name),
        'addrs': addresses(name),
        'routes': ipj(['route', 'show'], name),
        'neigh': ipj(['neigh', 'show'], name),
        'fdb': bridgej(['fdb', 'show'], name),
        'ip_forward': int(fwd) if fwd.isdigit() else None,
        'udp': sorted(line.split()[3] for line in sh(['ip', 'netns', 'exec', name, 'ss', '-Huan']).splitlines()
                      if line.strip()),
    }


def processes():
    out = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry, 'rb') as f:
                st = f.read()
            if st[st.rindex(b')') + 2:][:1] in (b'Z', b'X'):
                continue
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv = [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
            net = os.readlink('/proc/%s/ns/net' % entry)
        except (OSError, ValueError):
            continue
        out.append({'pid': int(entry), 'net': int(net.split('[', 1)[1].rstrip(']')), 'argv': argv})
    return sorted(out, key=lambda p: p['pid'])


def files(path):
    out = {}
    for root, dirs, names in os.walk(path):
        for n in dirs + names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[p] = {'mode': '%04o' % stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'dir': stat.S_ISDIR(st.st_mode)}
    if os.path.isdir(path):
        st = os.lstat(path)
        out[path] = {'mode': '%04o' % stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'dir': True}
    return out


def nft_tables():
    """[family, name] of every nftables table of the node namespace."""
    text = sh(['nft', '-j', 'list', 'tables'])
    try:
        items = json.loads(text)['nftables'] if text.strip() else []
    except (ValueError, KeyError):
        return None
    return sorted([i['table']['family'], i['table']['name']] for i in items if 'table' in i)


def main():
    names = listdir(RUN_NETNS) or []
    etc = listdir(ETC_NETNS)
    snap = {
        'hostname': os.uname().nodename,
        'self_pid': os.getpid(),
        'self_net': int(os.readlink('/proc/self/ns/net').split('[', 1)[1].rstrip(']')),
        'netns': names,
        'ns': {n: namespace(n) for n in names},
        'links': ipj(['-d', 'link', 'show']),
        'udp': sorted(line.split()[3] for line in sh(['ss', '-Huan']).splitlines() if line.strip()),
        'etc_netns': etc,
        'hosts': {n: read(os.path.join(ETC_NETNS, n, 'hosts')) for n in (etc or [])},
        'runtime': listdir(RUNTIME),
        'state_files': files(STATE_DIR),
        'cluster_json': read(os.path.join(STATE_DIR, 'cluster.json')),
        'processes': processes(),
        'nft_tables': nft_tables(),
        'xfrm_state': sh(['ip', 'xfrm', 'state', 'list']).strip(),
        'xfrm_policy': sh(['ip', 'xfrm', 'policy', 'list']).strip(),
    }
    json.dump(snap, sys.stdout)


if __name__ == '__main__':
    main()
