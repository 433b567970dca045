# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Shared `plan_dir` option of the modules that build a node's data plane (node/restore.py).
    DOCUMENTATION = r"""
options:
  plan_dir:
    description:
      - Where the node keeps what this run applied, so that it can be rebuilt after a reboot without the
        controller (C(restore) in that directory, or the boot unit C(linuxnet-overlay.service) where systemd
        is PID 1). Only after a run that worked; the directory is root's only (0700, files 0600).
      - An empty plan (nothing of this module left on the node) removes its file; the last one removes the
        directory and the boot unit. Not given, nothing is kept.
    type: path
    version_added: 0.1.0
"""
