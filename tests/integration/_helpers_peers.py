# -*- coding: utf-8 -*-
"""Helpers for the fdb / neigh / overlay_info integration tests: read the kernel with iproute2's
JSON output (independent of the modules' own netlink code)."""

from __future__ import annotations

import json

from conftest import sh


def vxlan(ns, dev='vx0', vni=4097, extra='nolearning proxy', up=True):
    """A VXLAN device made inside namespace ``ns`` (its UDP socket lives there too)."""
    sh('ip -n %s link add %s type vxlan id %d dstport 4789 %s' % (ns, dev, vni, extra))
    if up:
        sh('ip -n %s link set %s up' % (ns, dev))
    return dev


def fdb_all(ns, dev):
    """Every FDB entry of ``dev`` as ``bridge -j fdb show`` reports it."""
    return json.loads(sh('bridge -n %s -j fdb show dev %s' % (ns, dev)) or '[]')


def fdb_remote(ns, dev):
    """Sorted (mac, dst, port, vni) of the device's own entries that have a destination."""
    out = []
    for e in fdb_all(ns, dev):
        if 'self' in e.get('flags', []) and e.get('dst'):
            out.append((e['mac'], e['dst'], e.get('port'), e.get('vni')))
    return sorted(out, key=lambda t: tuple('' if v is None else str(v) for v in t))


def fdb_states(ns, dev):
    return {(e['mac'], e.get('dst')): e.get('state') for e in fdb_all(ns, dev)}


def neigh_all(ns, dev, nud='all'):
    return json.loads(sh('ip -n %s -j neigh show dev %s nud %s' % (ns, dev, nud)) or '[]')


def neigh_table(ns, dev, nud='all'):
    """{ip: (mac, states)} of the device's neighbour entries."""
    return {e['dst']: (e.get('lladdr'), tuple(e.get('state', []))) for e in neigh_all(ns, dev, nud)}


def mac_of(i):
    return '02:42:0b:00:%02x:%02x' % (i // 256, i % 256)
