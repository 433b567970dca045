# -*- coding: utf-8 -*-
# Copyright: linuxnet.overlay contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An image reference as a service's ``image`` and the task module's ``image`` take it (pure):
the cluster plan checks it on the controller, the node again before podman sees it, with one rule.
It goes into podman's argv, so it must never read as an option or hold a space."""

from __future__ import annotations

import re

# [registry[:port]/]path[:tag][@digest]
_IMAGE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$')


class ImageError(ValueError):
    pass


def validate_image(image, what):
    """None (no container) or the image reference, else ImageError naming the value."""
    if image is None:
        return None
    if not isinstance(image, str) or not _IMAGE_RE.match(image) or len(image) > 255:
        raise ImageError('%s: image must be an image reference such as localhost/web:1 (letters, digits '
                         'and ._:/@+-, not starting with one of those), got %r' % (what, image))
    return image
