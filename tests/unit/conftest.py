# -*- coding: utf-8 -*-
"""Unit tests import the collection as ansible_collections.linuxnet.overlay from .build (made by
scripts/setup.sh), exactly as Ansible does."""

from __future__ import annotations

import os
import sys

_BUILD = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '.build'))
if os.path.isdir(_BUILD) and _BUILD not in sys.path:
    sys.path.insert(0, _BUILD)
