# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The former import path of the fdb and neigh modules' logic, kept so they import it unchanged;
the peer database lives in ``node/peerdb.py``."""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.node.peerdb import (
    FDB_DEFAULTS, NEIGH_DEFAULTS, PeerError, fdb_converge, neigh_converge, predict_new,
    fdb_params as validate_fdb, neigh_params as validate_neigh)

__all__ = ['FDB_DEFAULTS', 'NEIGH_DEFAULTS', 'PeerError', 'fdb_converge', 'neigh_converge', 'predict_new',
           'validate_fdb', 'validate_neigh']
