# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses on the overlay, the last step of the allocation: every task's address on each of its
networks and every vip-mode service's virtual IP, serially from the subnet as Docker's allocator
hands them out (private, pure). A VIP is an address of the subnet owned by the service's id; it
comes before the service's task addresses, so a new seed cluster has VIP 10.0.0.2 and tasks
10.0.0.3 and 10.0.0.4, and a cluster planned before VIPs existed keeps its task addresses and gets
VIPs from the free ones."""

from __future__ import annotations

import ipaddress

from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import ipam as _ipam
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import names as _names
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import publish as _publish
from ansible_collections.linuxnet.overlay.plugins.module_utils.cluster import state as _state


class Addresses:
    """The address phase of ``allocate.Allocation`` (``self.new``, ``self.errors``, ``self.exhausted``)."""

    def _release(self, net_name, ip, owner):
        net = self.new['networks'].get(net_name)
        if net is None:
            return
        idx = _ipam.subnet_of(net['subnets'], ip)
        if idx is not None and net['subnets'][idx]['allocated'].get(ip) == owner:
            _ipam.release_address(net['subnets'][idx], ip)

    def addresses(self):
        nets, svcs = self.new['networks'], self.new['services']
        # 1. release: addresses of networks a task left, of stale pins, and of owners that are gone
        live = set()
        self.keep_endpoints(live)
        for name, svc in svcs.items():
            pins = dict((a['name'], a['subnet']) for a in svc['networks'])
            self._keep_vips(svc, pins, live)
            for task in svc['tasks']:
                for net_name, ip in list(task['addresses'].items()):
                    net = nets.get(net_name)
                    idx = _ipam.subnet_of(net['subnets'], ip) if net is not None else None
                    ok = (net_name in pins and idx is not None
                          and net['subnets'][idx]['allocated'].get(ip) == task['id']
                          and pins[net_name] in (None, net['subnets'][idx]['subnet']))
                    if ok:
                        live.add((net_name, ip))
                    else:
                        self._release(net_name, ip, task['id'])
                        del task['addresses'][net_name]
        for net_name, net in nets.items():
            for entry in net['subnets']:
                for ip in [ip for ip in entry['allocated'] if (net_name, ip) not in live]:
                    _ipam.release_address(entry, ip)
        # 2. allocate, in service order: its virtual IPs first (network order), so that a new
        # service's VIP comes before its tasks' addresses as in Docker (10.0.0.2, then .3 and .4),
        # then task order, network order; each node's ingress endpoint before any of them
        self.allocate_endpoints()
        for name, svc in svcs.items():
            if svc.get('endpoint_mode', 'vip') == 'vip':
                vips = {}
                for attach in svc['networks']:
                    net_name = attach['name']
                    if net_name == _publish.INGRESS:     # the endpoints balance there, not a VIP
                        continue
                    ip = svc.get('vips', {}).get(net_name)
                    if ip is None:
                        ip = self._allocate_vip(name, svc, net_name, nets[net_name], attach['subnet'])
                    if ip is not None:
                        vips[net_name] = ip
                _state.set_or_drop(svc, 'vips', vips, {})
            for task in svc['tasks']:
                addresses = {}
                for attach in svc['networks']:
                    net_name = attach['name']
                    if net_name in task['addresses']:
                        addresses[net_name] = task['addresses'][net_name]
                        continue
                    net = nets[net_name]
                    ip = self._allocate(name, task, net_name, net, attach['subnet'])
                    if ip is not None:
                        addresses[net_name] = ip
                task['addresses'] = addresses

    def _keep_vips(self, svc, pins, live):
        """A service's virtual IPs that stay (vip mode, a network it still uses, its subnet pin);
        the others are released."""
        vips = svc.pop('vips', {})
        if svc.get('endpoint_mode', 'vip') != 'vip':
            vips, gone = {}, vips
        else:
            gone = {}
        nets = self.new['networks']
        for net_name, ip in list(vips.items()):
            net = nets.get(net_name)
            idx = _ipam.subnet_of(net['subnets'], ip) if net is not None else None
            if (net_name in pins and idx is not None and net['subnets'][idx]['allocated'].get(ip) == svc['id']
                    and pins[net_name] in (None, net['subnets'][idx]['subnet'])):
                live.add((net_name, ip))
            else:
                gone[net_name] = vips.pop(net_name)
        for net_name, ip in gone.items():
            self._release(net_name, ip, svc['id'])
        if vips:
            svc['vips'] = vips

    def _allocate_vip(self, svc_name, svc, net_name, net, pin):
        """A service's virtual IP on a network: the next free address of its subnet (the pinned one,
        else the first with room), owned by the service."""
        entries = [e for e in net['subnets'] if pin is None or e['subnet'] == pin]
        for entry in entries:
            if len(entry['allocated']) < _ipam.subnet_capacity(ipaddress.IPv4Network(entry['subnet'])):
                return _ipam.allocate_address(entry, svc['id'], net_name)
        if entries:
            self.errors.append('network %s: no free address left in subnet %s for the virtual IP of service %s; '
                               'add a subnet, use fewer tasks or endpoint_mode: dnsrr (no virtual IP)'
                               % (net_name, ', '.join(e['subnet'] for e in entries), svc_name))
        return None

    def _allocate(self, svc_name, task, net_name, net, pin):
        entries = net['subnets']
        if pin is not None:
            entries = [e for e in entries if e['subnet'] == pin]
            if not entries:
                self.errors.append('service %s: network %s has no subnet %s (it has %s)' % (
                    svc_name, net_name, pin, ', '.join(e['subnet'] for e in net['subnets'])))
                return None
        for entry in entries:
            if len(entry['allocated']) < _ipam.subnet_capacity(ipaddress.IPv4Network(entry['subnet'])):
                return _ipam.allocate_address(entry, task['id'], net_name)
        # one error per service and network, not one per task
        key = (net_name, svc_name, tuple(e['subnet'] for e in entries))
        if key not in self.exhausted:
            self.exhausted[key] = {'count': 0, 'index': len(self.errors), 'first': _names.task_name(svc_name, task)}
            self.errors.append(None)
        info = self.exhausted[key]
        info['count'] += 1
        capacity = sum(_ipam.subnet_capacity(ipaddress.IPv4Network(sub)) for sub in key[2])
        self.errors[info['index']] = (
            'network %s: no free address left in subnet %s (%d task addresses) for %d task(s) of service %s, '
            'first %s; add a subnet or use fewer tasks'
            % (net_name, ', '.join(key[2]), capacity, info['count'], svc_name, info['first']))
        return None
