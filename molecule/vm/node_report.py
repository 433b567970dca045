# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run on a guest by molecule/vm/verify.yml: what the node holds, as one JSON object, read with the
independent tools (ip, nft): its tasks (namespace, address) by service, the VNIs of its VTEPs, the
encrypted VNIs of the guard, the guard's counters, the xfrm SAs (src, dst, spi, packets) and the
outbound policies' template SPIs. Reads only; never prints key material (``ip xfrm state`` without
``-s -s`` and the key lines dropped)."""

from __future__ import annotations

import json
import re
import subprocess


def sh(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else ''


def main():
    out = {'tasks': {}, 'vnis': [], 'encrypted_vnis': [], 'guard': {}, 'sas': [], 'policy_spis': []}
    netns = [line.split()[0] for line in sh(['ip', 'netns', 'list']).splitlines() if line.strip()]
    for ns in netns:
        if ns.startswith('ov-'):
            for link in json.loads(sh(['ip', '-n', ns, '-d', '-j', 'link', 'show', 'type', 'vxlan']) or '[]'):
                out['vnis'].append(link['linkinfo']['info_data']['id'])
            continue
        m = re.match(r'^([a-zA-Z0-9][a-zA-Z0-9_-]*)\.(\d+)\.[0-9a-z]{25}$', ns)
        if m:
            addrs = json.loads(sh(['ip', '-n', ns, '-4', '-j', 'addr', 'show', 'eth0']) or '[]')
            ip = addrs[0]['addr_info'][0]['local'] if addrs and addrs[0].get('addr_info') else None
            out['tasks'].setdefault(m.group(1), []).append({'netns': ns, 'slot': int(m.group(2)), 'ip': ip})
    table = sh(['nft', '-j', 'list', 'table', 'ip', 'linuxnet-overlay'])
    for item in json.loads(table)['nftables'] if table else []:
        if 'set' in item:
            out['encrypted_vnis'] = sorted(item['set'].get('elem', []))
        for e in item.get('rule', {}).get('expr', []):
            if 'counter' in e:
                out['guard'][item['rule']['chain']] = e['counter']['packets']
    sa = None
    for line in sh(['ip', '-s', 'xfrm', 'state', 'list']).splitlines():
        m = re.match(r'^src (\S+) dst (\S+)', line)
        if m:
            sa = {'src': m.group(1), 'dst': m.group(2), 'spi': None, 'packets': None}
            out['sas'].append(sa)
            continue
        m = re.search(r'proto esp spi (0x[0-9a-f]+)', line)
        if m and sa is not None:
            sa['spi'] = int(m.group(1), 16)
        m = re.match(r'^\s+\d+\(bytes\), (\d+)\(packets\)', line)
        if m and sa is not None and sa['packets'] is None:
            sa['packets'] = int(m.group(1))
    for m in re.finditer(r'proto esp spi (0x[0-9a-f]+)', sh(['ip', 'xfrm', 'policy', 'list'])):
        out['policy_spis'].append(int(m.group(1), 16))
    out['vnis'].sort()
    print(json.dumps(out))


if __name__ == '__main__':
    main()
