"""nanio: a small, stateless, S3-compatible object storage server on Twisted.

The public API is ``Settings``, ``make_service`` and ``make_resource``.  They
are loaded on first use, so ``import nanio`` (done by the twistd plugin
cache and by ``nanio --help``) stays cheap and imports no Twisted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

__all__ = ["Settings", "__version__", "make_resource", "make_service"]

if TYPE_CHECKING:
    from nanio.config import Settings
    from nanio.service import make_resource, make_service

_LAZY_NAMES = {
    "Settings": "nanio.config",
    "make_service": "nanio.service",
    "make_resource": "nanio.service",
}


def __getattr__(name: str) -> object:
    """Import a public name's module on first use."""
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'nanio' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
