#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a published port costs a client outside the cluster (issue #12 item 3), measured side by side.

    bench/mesh.py [--rounds 5] [--connections 1000]

Re-executes itself inside tests/sandbox.sh unless already there. The seed lab (node1, node2 behind
the router) with a client host on its own segment; ``site.yml`` with ``web`` (2 replicas, one per
node, a small server answering every TCP connection) publishing 8080 in mode ingress and ``edge``
(1 replica, on node2) publishing 9090 in mode host. Paths, rotated round by round, each
CONNECTIONS sequential connect-read-close from the client host:

  plain      to the same server run in node2's own namespace (port 7070): the underlay alone
  host       to node2:9090, DNAT on node2 to its task through the gateway bridge (mode host)
  mesh-here  to node2:8080 through the routing mesh (node2's ingress-sbox, a task on either node)
  mesh-away  to node1:8080 likewise: node1 has a task of web too; the endpoint picks at random

Prints per path the connection rate and median latency (medians over rounds), and each against
plain. The lab is always taken down; nothing touches the root namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _lab  # noqa: E402  pylint: disable=wrong-import-position

SERVER = r'''
import socket, sys, threading
port = int(sys.argv[1]) if len(sys.argv) > 1 else 80
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', port)); s.listen(512)
while True:
    c, _ = s.accept()
    try:
        c.sendall(b'ok\n')
    except OSError:
        pass
    c.close()
'''
CLIENT = r'''
import json, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lat, errors = [], 0
start = time.monotonic()
for i in range(n):
    t = time.monotonic()
    try:
        c = socket.create_connection((host, port), timeout=2); c.recv(8); c.close()
        lat.append(time.monotonic() - t)
    except OSError:
        errors += 1
wall = time.monotonic() - start
lat.sort()
print(json.dumps({'rate': len(lat) / wall, 'median_us': lat[len(lat) // 2] * 1e6 if lat else None, 'errors': errors}))
'''
PATHS = {'plain': ('192.168.1.5', 7070), 'host': ('192.168.1.5', 9090), 'mesh-here': ('192.168.1.5', 8080),
         'mesh-away': ('172.31.1.5', 8080)}


def cluster_vars():
    return {'overlay_networks': [{'name': 'uber-net'}],
            'overlay_services': [
                {'name': 'web', 'networks': ['uber-net'], 'replicas': 2, 'command': ['python3', '-c', SERVER],
                 'publish': [{'published': 8080, 'target': 80}]},
                {'name': 'edge', 'networks': ['uber-net'], 'replicas': 1, 'constraints': ['node.hostname==node2'],
                 'command': ['python3', '-c', SERVER], 'publish': [{'published': 9090, 'target': 80, 'mode': 'host'}]}]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--connections', type=int, default=1000)
    args = ap.parse_args()
    _lab.reexec_in_sandbox(__file__)
    segments, nodes = _lab.seed_topology()
    segments.append({'name': 'outside', 'gateway': '203.0.113.1/24'})
    nodes.append({'name': 'client', 'segment': 'outside', 'address': '203.0.113.5', 'role': 'client', 'labels': {}})
    tmp = _lab.tmpdir('bench-mesh-')
    results = dict((p, []) for p in PATHS)
    try:
        with _lab.Lab(tmp, 'mesh', segments, nodes, cluster_vars()) as lab:
            seconds, dummy, recap = lab.site()
            print('site.yml: %.1f s, %s' % (seconds, recap))
            lab.run('node2', 'setsid nohup python3 -c %s 7070 >/dev/null 2>&1 &' % shlex.quote(SERVER))
            for path in PATHS:                      # warm up: every path answers before timing
                host, port = PATHS[path]
                lab.run('client', [_lab.VENV_PY, '-c', CLIENT, host, str(port), '20'])
            order = list(PATHS)
            for r in range(args.rounds):
                for path in order[r % len(order):] + order[:r % len(order)]:
                    host, port = PATHS[path]
                    out = lab.run('client', [_lab.VENV_PY, '-c', CLIENT, host, str(port), str(args.connections)])
                    res = json.loads(out)
                    results[path].append(res)
                    print('round %d %-10s %7.0f conn/s  median %5.0f us  errors %d'
                          % (r + 1, path, res['rate'], res['median_us'] or 0, res['errors']))
    finally:
        _lab.rmtree(tmp)
    _lab.header('medians over %d rounds of %d connections (load %s)'
                % (args.rounds, args.connections, _lab.loadavg()))
    base = _lab.med([r['rate'] for r in results['plain']])
    base_lat = _lab.med([r['median_us'] for r in results['plain']])
    for path, rs in results.items():
        rate, lat = _lab.med([r['rate'] for r in rs]), _lab.med([r['median_us'] for r in rs])
        print('%-10s %7.0f conn/s (%.2f of plain)  median latency %5.0f us (+%.0f)  errors %d'
              % (path, rate, rate / base, lat, lat - base_lat, sum(r['errors'] for r in rs)))


if __name__ == '__main__':
    main()
