"""
Small readers of a nanio Store that the storage tests share.

Only test code uses this module; it reads through the Store's own API or
the bucket's directory, never changes anything.
"""

from __future__ import annotations

import os
from pathlib import Path

from nanio.storage import Store


def read_object(store: Store, key: str, bucket: str = "bkt") -> bytes:
    """The bytes of ``key`` in ``bucket``, read through an opened object."""
    with store.open_object(bucket, key) as opened:
        return os.pread(opened.fd, opened.meta.size + 1, 0)


def bucket_path(store: Store, bucket: str = "bkt") -> Path:
    """The directory holding ``bucket``'s objects."""
    return Path(store.root) / bucket
