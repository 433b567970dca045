# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One before/after bookkeeping for the link converge functions (bridge, VTEP, veth), so each reports
its change, its state after the run and its --diff the same way."""

from __future__ import annotations

from ansible_collections.linuxnet.overlay.plugins.module_utils.kernel import links as _links
from ansible_collections.linuxnet.overlay.plugins.module_utils.common import diff_result


def state_after(actions, check_mode, current, predicted, read):
    """The object after the run: read back from the kernel when something was done, the prediction in
    check mode, ``current`` when nothing changes."""
    if actions and not check_mode:
        return read()
    return predicted if actions else current


def link_result(kind, actions, current, after, name, netns, diff, **after_extra):
    """The module result of one link: ``changed``, ``actions``, the link after (under ``kind``) and,
    with ``diff``, the before/after views (``after_extra`` added to the after view)."""
    result = {'changed': bool(actions), 'actions': actions, kind: after}
    if diff:
        result['diff'] = diff_result(_links.diff_view(current, name=name, netns=netns),
                                     dict(_links.diff_view(after, name=name, netns=netns), **after_extra))
    return result
