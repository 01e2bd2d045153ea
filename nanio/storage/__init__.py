"""
The filesystem backend: buckets are directories, objects are files.

Plain synchronous Python with no Twisted imports, so it runs the same in the
reactor thread, a worker thread or a unit test.  ``Store`` is the public
entry point; ``OpenObject`` and ``TempFile`` are the handles it gives out.
"""

from __future__ import annotations

from nanio.storage.atomic import TempFile
from nanio.storage.objects import OpenObject
from nanio.storage.store import Store

__all__ = ["OpenObject", "Store", "TempFile"]
