"""
Striped ``flock`` locks that order writers of one key, and bucket changes.

Lock files are empty files in ``<root>/.nanio/locks``: ``k-00`` .. ``k-ff``
for keys, ``b-00`` .. ``b-3f`` for buckets, picked by CRC-32 (stable across
processes, unlike ``hash()``).  Each acquisition opens its own descriptor, so
the lock excludes other threads of this process as well as other processes
(``flock`` locks belong to the open file description), and closing that
descriptor releases it; a crashed process releases everything it held.

Who takes what (always in this order, never two key locks at once, so no
cycle can form even when stripes collide):
- a bucket lock, shared: object writers and deletes, for their whole call,
  so a bucket cannot be deleted under them;
- a bucket lock, exclusive: create_bucket and delete_bucket;
- a key lock, exclusive: a writer around its two renames (sidecar, then
  data), a delete around its unlinks, and whoever removes an empty
  directory, around checking it is no folder marker and removing it;
- a key lock, shared: a reader whose first look found a file and a sidecar
  that disagree, for its second look, when no writer can be midway.

Critical sections hold no fsync and no I/O on object bytes: they last a few
system calls.  No Twisted imports here.
"""

from __future__ import annotations

import fcntl
import os
import zlib

from nanio.storage.layout import ClosesOnExit

KEY_LOCK_STRIPES = 256
BUCKET_LOCK_STRIPES = 64

_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_LOCK_MODE = 0o600
_KEY_LOCK_NAMES = [b"k-%02x" % i for i in range(KEY_LOCK_STRIPES)]
_BUCKET_LOCK_NAMES = [b"b-%02x" % i for i in range(BUCKET_LOCK_STRIPES)]


class StripeLock(ClosesOnExit):
    """One flock on one stripe file, as a context manager."""

    __slots__ = ("_dir_fd", "_fd", "_name", "_operation")

    def __init__(self, dir_fd: int, name: bytes, *, exclusive: bool) -> None:
        self._dir_fd = dir_fd
        self._name = name
        self._operation = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        self._fd = -1

    def __enter__(self) -> StripeLock:
        fd = os.open(self._name, _LOCK_FLAGS, _LOCK_MODE, dir_fd=self._dir_fd)
        try:
            fcntl.flock(fd, self._operation)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def close(self) -> None:
        """Release the lock by closing its descriptor (idempotent)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def key_lock(locks_fd: int, bucket: str, raw_key: bytes, *, exclusive: bool) -> StripeLock:
    """The lock that orders writers of ``raw_key`` (UTF-8) in ``bucket``."""
    stripe = (
        zlib.crc32(raw_key, zlib.crc32(bucket.encode("utf-8", "surrogatepass"))) % KEY_LOCK_STRIPES
    )
    return StripeLock(locks_fd, _KEY_LOCK_NAMES[stripe], exclusive=exclusive)


def bucket_lock(locks_fd: int, bucket: str, *, exclusive: bool) -> StripeLock:
    """The lock that keeps ``bucket`` from being created or deleted under a writer."""
    stripe = zlib.crc32(bucket.encode("utf-8", "surrogatepass")) % BUCKET_LOCK_STRIPES
    return StripeLock(locks_fd, _BUCKET_LOCK_NAMES[stripe], exclusive=exclusive)
