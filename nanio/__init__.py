"""nanio: a small, stateless, S3-compatible object storage server on Twisted.

The public API (docs/embedding.md) is ``Settings`` and ``User`` (what a
server is built from), ``make_service`` (the whole server, for a twistd
application or any service tree), ``make_resource`` (an IResource to mount in
one's own Twisted Web site) and ``make_site`` (nanio's streaming HTTP
factory, to listen with on a port of one's own).  They are loaded on first
use, so ``import nanio`` (done by the twistd plugin cache and by ``nanio
--help``) stays cheap and imports no Twisted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

__all__ = ["Settings", "User", "__version__", "make_resource", "make_service", "make_site"]

if TYPE_CHECKING:
    from nanio.config import Settings, User
    from nanio.service import make_resource, make_service
    from nanio.web.site import make_site

_LAZY_NAMES = {
    "Settings": "nanio.config",
    "User": "nanio.config",
    "make_service": "nanio.service",
    "make_resource": "nanio.service",
    "make_site": "nanio.web.site",
}


def __getattr__(name: str) -> object:
    """Import a public name's module on first use."""
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'nanio' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
