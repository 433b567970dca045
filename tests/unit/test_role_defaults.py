# -*- coding: utf-8 -*-
"""Role defaults agree with their argument specs, and the settings two roles share agree."""

from __future__ import annotations

import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = ('swarm', 'network', 'service', 'verify')


def _load(role, path):
    with open(os.path.join(ROOT, 'roles', role, path), encoding='utf-8') as f:
        return yaml.safe_load(f) or {}


@pytest.mark.parametrize('role', ROLES)
def test_literal_defaults_match_the_argument_spec(role):
    defaults = _load(role, 'defaults/main.yml')
    spec = _load(role, 'meta/argument_specs.yml')['argument_specs']['main']['options']
    for name, value in defaults.items():
        if isinstance(value, str) and '{{' in value:
            continue                      # templated: follows another variable
        if name in spec and 'default' in spec[name]:
            assert spec[name]['default'] == value, '%s: %s' % (role, name)


def test_the_network_role_removes_the_same_stale_tasks_as_the_service_role():
    # with network_converge_tasks the network role does the service role's work: same pattern
    assert (_load('network', 'defaults/main.yml')['network_task_netns_pattern']
            == _load('service', 'defaults/main.yml')['service_task_netns_pattern'])
    spec = _load('network', 'meta/argument_specs.yml')['argument_specs']['main']['options']
    assert spec['network_task_netns_pattern']['default'] == _load('service', 'defaults/main.yml')['service_task_netns_pattern']
