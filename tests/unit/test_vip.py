# -*- coding: utf-8 -*-
"""The virtual IP table of a task (node/vip.py, pure parts): what it renders and what it refuses.
That the rendering is exactly what ``nft list table`` prints is checked against the kernel in
tests/integration/test_vip.py (a second run reports no change)."""

from __future__ import annotations

import pytest

from ansible_collections.linuxnet.overlay.plugins.module_utils.node import task as _task
from ansible_collections.linuxnet.overlay.plugins.module_utils.node import vip as _vip

WEB = {'service': 'web', 'vip': '10.0.0.2', 'backends': ['10.0.0.3', '10.0.0.4']}
IDLE = {'service': 'idle', 'vip': '10.0.0.9', 'backends': []}


def test_render_one_rule_per_vip_and_reject_without_backends():
    text = _vip.render([WEB, IDLE])
    assert text == (
        'table ip linuxnet_overlay_vip {\n'
        '\tchain nat_output {\n'
        '\t\ttype nat hook output priority -100; policy accept;\n'
        '\t\tip daddr 10.0.0.2 dnat to numgen random mod 2 map { 0 : 10.0.0.3, 1 : 10.0.0.4 }\n'
        '\t}\n\n'
        '\tchain filter_output {\n'
        '\t\ttype filter hook output priority filter; policy accept;\n'
        '\t\tip daddr 10.0.0.9 reject\n'
        '\t}\n}\n')
    assert _vip.render([]) is None


def test_select_takes_the_networks_in_order_and_names_a_missing_one():
    eps = {'a': [WEB], 'b': [IDLE]}
    assert _vip.select(eps, ['b', 'a'], 'x') == [IDLE, WEB]
    assert _vip.select(eps, [], 'x') == []
    with pytest.raises(_vip.VipError, match=r'^x: endpoint_networks names c, which endpoints does not have \(it has: a, b\)'):
        _vip.select(eps, ['c'], 'x')


@pytest.mark.parametrize('endpoints, words', [
    ([], 'endpoints must be a dict'),
    ({'n': {}}, 'network n must have a list'),
    ({'n': [{'service': 'web', 'vip': '10.0.0.2'}]}, 'must be a dict of exactly service, vip, backends'),
    ({'n': [dict(WEB, service='a.b')]}, "service 'a.b' is not a service name"),
    ({'n': [dict(WEB, vip='fe80::1')]}, "endpoints[n][0] (web): vip 'fe80::1' is not an IPv4 address"),
    ({'n': [dict(WEB, backends='10.0.0.3')]}, 'backends must be a list'),
    ({'n': [WEB, dict(IDLE, vip='10.0.0.2')]}, 'vip 10.0.0.2 is also the VIP of service web'),
])
def test_bad_endpoints_name_the_value(endpoints, words):
    with pytest.raises(_vip.VipError) as err:
        _vip.validate_endpoints(endpoints)
    assert words in str(err.value)


def test_tasks_of_the_same_networks_share_one_rendering_and_need_the_endpoints():
    tasks = [{'name': 'web.%d.x' % i, 'endpoint_networks': ['n']} for i in (1, 2)]
    a, b = _task.validate_tasks(tasks, endpoints={'n': [WEB]})
    assert a['vip_managed'] and a['vip_table'] is b['vip_table'] and '10.0.0.2 dnat' in a['vip_table']
    (c,) = _task.validate_tasks([dict(tasks[0], endpoint_networks=[])], endpoints={'n': [WEB]})
    assert c['vip_managed'] and c['vip_table'] is None               # managed: no table
    with pytest.raises(_task.TaskError, match=r'tasks\[0\] \(web.1.x\): endpoint_networks needs the endpoints option'):
        _task.validate_tasks(tasks)
