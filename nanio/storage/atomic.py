"""
Temp files: how bytes enter the tree all at once, or not at all.

Every new file (object bytes, sidecar, bucket record) is written under a
random name in ``<root>/.nanio/tmp`` (outside every bucket, on the same file
system, so never listed and always renameable into place), fsynced when the
store is durable, then renamed over its final name: a reader sees the old
file or the new one, never a partial one.  A crash leaves only temp files,
which ``clean_temp`` sweeps at start-up.

Invariants:
- Every file nanio makes in ``.nanio/tmp`` (upload bodies, sidecars and
  records on their way, the start-up probe) is held under an exclusive
  ``flock`` on its writer's descriptor from the moment it exists until it
  has been renamed into place or removed.  The writer checks, once it holds
  the lock, that the file is still linked (``clean_temp`` may have taken it
  in the instant between its creation and the lock) and starts again with a
  new name if not.  So a lock proves a writer alive and its absence proves
  the file dead, whatever its age: ``clean_temp`` removes every unlocked
  file of nanio's own making at once (after a crash, at start-up), and never
  one a live process, of this host or another sharing the store, is writing.
  Files of any other name are removed only once unlocked and idle for
  ``TEMP_MIN_AGE_SECONDS``.
- ``abort`` is idempotent and safe after a commit: it never removes a file
  that is no longer the temp file's own.
- A ``.old`` file is a second name of a replaced big file
  (``set_aside``), dead from the start: its only use is to let the blocks
  be freed later.  ``release`` unlinks it in the background, in batches
  (``layout.Batched``); a sweep may take it first.

No Twisted imports here.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import time

from nanio.errors import InternalError
from nanio.storage.faults import os_error
from nanio.storage.layout import (
    FILE_MODE,
    PROBE_SUFFIX,
    TEMP_CREATE_FLAGS,
    StoreRoot,
    new_temp_name,
    unlink_if_there,
)

#: Upload temp files.
TEMP_SUFFIX = ".tmp"
#: Small files (sidecars, bucket records) on their way into place.
SMALL_TEMP_SUFFIX = ".new"
#: Deleted buckets, moved out of sight before their tree is removed.
TRASH_SUFFIX = ".trash"
#: A second name of a file being replaced, until its blocks are freed.
SET_ASIDE_SUFFIX = ".old"
#: Replaced files from this size on are set aside and freed in the
#: background.  Freeing blocks in place costs about 0.35 us per KiB on this
#: VM's ext4 on top of ~150 us that any unlink pays; the hop to a pool thread
#: and back costs about as much as 256 KiB of freeing (measured: with 4 KiB
#: overwrites, PUTs took 25% less CPU freed in place than set aside).
SET_ASIDE_MIN_BYTES = 256 * 1024
#: Files whose writers hold a lock from creation on: unlocked means dead.
LOCKED_SUFFIXES = (TEMP_SUFFIX, SMALL_TEMP_SUFFIX, PROBE_SUFFIX)
#: Files ``clean_temp`` removes as soon as no lock holds them.
_DEAD_WHEN_UNLOCKED = (*LOCKED_SUFFIXES, SET_ASIDE_SUFFIX)
#: ``clean_temp`` leaves files of other names alone until idle this long.
TEMP_MIN_AGE_SECONDS = 60.0
#: New names tried when ``clean_temp`` keeps taking a fresh temp file away.
CREATE_ATTEMPTS = 3
#: posix_fallocate's answers on file systems that cannot reserve blocks.
_NO_FALLOCATE_ERRNOS = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})


class TempFile:
    """A locked file being written in ``.nanio/tmp``: an upload body, or a small file.

    The lock lasts as long as the descriptor: ``committed``, ``abort`` and
    ``close`` release it.
    """

    __slots__ = ("_dir_fd", "_dir_path", "_finished", "fd", "name", "size")

    def __init__(self, dir_fd: int, dir_path: str, name: str, fd: int) -> None:
        #: Write-only descriptor, or -1 once closed.
        self.fd = fd
        self._dir_path = dir_path
        #: Bytes written so far.
        self.size = 0
        #: File name inside ``.nanio/tmp``.
        self.name = name
        self._dir_fd = dir_fd
        self._finished = False

    @property
    def path(self) -> str:
        """Absolute path, for the operator's eyes (never sent to clients)."""
        return os.path.join(self._dir_path, self.name)

    def write(self, data: bytes) -> None:
        """Append ``data``, looping over short writes; on failure the file is removed."""
        try:
            written = os.write(self.fd, data)
            if written != len(data):
                view = memoryview(data)
                while written < len(view):
                    written += os.write(self.fd, view[written:])
        except OSError as e:
            self.abort()
            raise os_error(e) from e
        self.size += written

    def reserve(self, size: int) -> None:
        """Allocate the blocks of a file that will hold ``size`` bytes, before writing them.

        Renaming a file over another makes ext4 allocate the new file's
        delayed blocks at once, in the renaming thread (``auto_da_alloc``,
        about 100 us for a small file); a file whose blocks were reserved
        has none left to allocate.  No room answers InsufficientStorage
        before the first byte is written.  File systems without fallocate
        are written as before.
        """
        try:
            os.posix_fallocate(self.fd, 0, size)
        except OSError as e:
            if e.errno in _NO_FALLOCATE_ERRNOS:
                return
            self.abort()
            raise os_error(e) from e

    def close(self) -> None:
        """Close the descriptor, keeping the file; its lock goes, so a sweep may take it."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def abort(self) -> None:
        """Remove and close the file (idempotent; a no-op after commit)."""
        if self._finished:
            return
        self._finished = True
        # Unlinked before the lock goes with the descriptor: a sweep never
        # finds this file unlocked.
        unlink_if_there(self._dir_fd, self.name)
        self.close()

    def committed(self) -> None:
        """Note that the file was renamed into place: it is no longer ours to remove."""
        self._finished = True
        self.close()

    @property
    def finished(self) -> bool:
        """Whether the file was committed or aborted."""
        return self._finished


def create_temp(root: StoreRoot) -> TempFile:
    """A new, empty, locked temp file in ``.nanio/tmp`` for an upload body."""
    return _create_locked(root, TEMP_SUFFIX)


def write_small_temp(root: StoreRoot, data: bytes) -> TempFile:
    """A locked temp file holding ``data``, fsynced if the store is durable.

    The caller renames ``.name`` into place, then calls ``committed()``; or
    ``abort()``.
    """
    temp = _create_locked(root, SMALL_TEMP_SUFFIX)
    try:
        temp.reserve(len(data))  # both remove the file themselves if they fail
        temp.write(data)
        if root.fsync:
            os.fsync(temp.fd)
    except OSError as e:
        temp.abort()
        raise os_error(e) from e
    except BaseException:
        temp.abort()
        raise
    return temp


def worth_setting_aside(size: int) -> bool:
    """Whether a file of ``size`` bytes is worth freeing in the background when replaced."""
    return size >= SET_ASIDE_MIN_BYTES


def set_aside(root: StoreRoot, dir_fd: int, name: bytes) -> str | None:
    """Give the file ``name`` a second name in ``.nanio/tmp`` before a rename replaces it.

    Freeing a big file's blocks is the slow part of replacing it (on ext4
    about 0.6 ms per MiB, 23 ms for 64 MiB, in the calling thread).  With a
    second name, the rename only drops a name, and ``release`` frees the
    blocks later, in the background.  Returns the second name, or
    None when there is nothing to keep: no such file, a directory, or a file
    system without hard links.
    """
    second = new_temp_name(SET_ASIDE_SUFFIX)
    try:
        os.link(name, second, src_dir_fd=dir_fd, dst_dir_fd=root.tmp_fd, follow_symlinks=False)
    except OSError:
        return None
    return second


def release(root: StoreRoot, second: str | None) -> None:
    """Drop a name given by ``set_aside`` (freeing the file, unless it is still in place)."""
    if second is not None:
        root.set_aside.add(second)


def _create_locked(root: StoreRoot, suffix: str) -> TempFile:
    """Create a file under a new name in ``.nanio/tmp`` and lock it; see the invariants."""
    for _ in range(CREATE_ATTEMPTS):
        name = new_temp_name(suffix)
        try:
            fd = os.open(name, TEMP_CREATE_FLAGS, FILE_MODE, dir_fd=root.tmp_fd)
        except OSError as e:
            raise os_error(e) from e
        try:
            # Blocks only while a sweep that opened this file a moment ago
            # decides about it (a few system calls).
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:
                return TempFile(root.tmp_fd, root.tmp_path, name, fd)
        except OSError as e:
            os.close(fd)
            raise os_error(e) from e
        # A sweep took the file between its creation and our lock.
        os.close(fd)
    raise InternalError("Temp files kept disappearing as soon as they were created.")


def clean_temp(root: StoreRoot, *, min_age_seconds: float = TEMP_MIN_AGE_SECONDS) -> int:
    """Remove temp files and trash that no live process uses; return how many went.

    A file of nanio's making goes as soon as nobody holds its lock; any other
    file once it has also been idle for ``min_age_seconds``.
    """
    removed = 0
    oldest_ns = time.time_ns() - int(min_age_seconds * 1e9)
    # A descriptor of our own: scandir shares the directory offset of the
    # descriptor it is given, and root.tmp_fd is shared by every thread.
    scan_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root.tmp_fd)
    try:
        with os.scandir(scan_fd) as entries:
            names = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    finally:
        os.close(scan_fd)
    for name, is_dir in names:
        if is_dir:
            if name.endswith(TRASH_SUFFIX):
                # A bucket deleted by a process that died before removing it
                # (two removals racing on live trash do no harm).
                shutil.rmtree(name, ignore_errors=True, dir_fd=root.tmp_fd)
                removed += 1
            continue
        locked_kind = name.endswith(_DEAD_WHEN_UNLOCKED)
        if _remove_if_unused(root.tmp_fd, name, None if locked_kind else oldest_ns):
            removed += 1
    return removed


def _remove_if_unused(dir_fd: int, name: str, oldest_ns: int | None) -> bool:
    """Unlink one temp file unless a writer locks it (or, with ``oldest_ns``, it is recent)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if oldest_ns is not None and st.st_mtime_ns > oldest_ns:
        return False
    if not stat.S_ISREG(st.st_mode):
        # Nothing nanio makes; a symlink or a FIFO is removed without opening it.
        os.unlink(name, dir_fd=dir_fd)
        return True
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
        )
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False  # a write in progress in some process
            raise
        try:
            # While we hold the lock, a writer that created this file and
            # has not locked it yet will find it unlinked and start again.
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)
