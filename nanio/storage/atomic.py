"""
Temp files: how bytes enter the tree all at once, or not at all.

Every new file (object bytes, sidecar, bucket record) is written under a
random name in ``<root>/.nanio/tmp`` (outside every bucket, on the same file
system, so never listed and always renameable into place), fsynced when the
store is durable, then renamed over its final name: a reader sees the old
file or the new one, never a partial one.  A crash leaves only temp files,
which ``clean_temp`` sweeps at start-up.

Invariants:
- An upload's ``TempFile`` holds an exclusive ``flock`` on its own
  descriptor until it is committed, aborted or closed: ``clean_temp`` in
  another worker skips a locked file, so it never deletes an upload in
  progress; a dead process's locks vanish with it.  Files younger than
  ``TEMP_MIN_AGE_SECONDS`` are skipped as well, which covers the instant
  between creating a temp file and locking it, and the short life of a
  sidecar's temp file (written, closed, then renamed).
- ``abort`` is idempotent and safe after a commit: it never removes a file
  that is no longer the temp file's own.

No Twisted imports here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import time

from nanio.storage.faults import os_error
from nanio.storage.layout import (
    FILE_MODE,
    INTERNAL_DIR,
    TEMP_CREATE_FLAGS,
    TMP_DIR,
    StoreRoot,
    new_temp_name,
)

#: Upload temp files.
TEMP_SUFFIX = ".tmp"
#: Small files (sidecars, bucket records) on their way into place.
SMALL_TEMP_SUFFIX = ".new"
#: Deleted buckets, moved out of sight before their tree is removed.
TRASH_SUFFIX = ".trash"
#: ``clean_temp`` leaves files younger than this alone.
TEMP_MIN_AGE_SECONDS = 60.0


class TempFile:
    """A file being written in ``.nanio/tmp``: an upload body before commit."""

    __slots__ = ("_dir_fd", "_finished", "fd", "name", "path", "size")

    def __init__(self, dir_fd: int, dir_path: str, name: str, fd: int) -> None:
        #: Write-only descriptor, or -1 once closed.
        self.fd = fd
        #: Absolute path, for the operator's eyes (never sent to clients).
        self.path = os.path.join(dir_path, name)
        #: Bytes written so far.
        self.size = 0
        #: File name inside ``.nanio/tmp``.
        self.name = name
        self._dir_fd = dir_fd
        self._finished = False

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

    def close(self) -> None:
        """Close the descriptor, keeping the file for a later commit or abort."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def abort(self) -> None:
        """Close and remove the file (idempotent; a no-op after commit)."""
        if self._finished:
            return
        self._finished = True
        self.close()
        with contextlib.suppress(OSError):
            os.unlink(self.name, dir_fd=self._dir_fd)

    def committed(self) -> None:
        """Note that the file was renamed into place: it is no longer ours to remove."""
        self._finished = True
        self.close()

    @property
    def finished(self) -> bool:
        """Whether the file was committed or aborted."""
        return self._finished


def create_temp(root: StoreRoot) -> TempFile:
    """A new, empty, locked temp file in ``.nanio/tmp``."""
    name = new_temp_name(TEMP_SUFFIX)
    try:
        fd = os.open(name, TEMP_CREATE_FLAGS, FILE_MODE, dir_fd=root.tmp_fd)
    except OSError as e:
        raise os_error(e) from e
    # Cannot block: the name is new.  Tells clean_temp the upload is alive.
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return TempFile(root.tmp_fd, os.path.join(root.path, INTERNAL_DIR, TMP_DIR), name, fd)


def write_small_temp(root: StoreRoot, data: bytes) -> str:
    """Write ``data`` to a new temp file, fsynced if the store is durable; return its name."""
    name = new_temp_name(SMALL_TEMP_SUFFIX)
    try:
        fd = os.open(name, TEMP_CREATE_FLAGS, FILE_MODE, dir_fd=root.tmp_fd)
    except OSError as e:
        raise os_error(e) from e
    try:
        try:
            view = memoryview(data)
            written = 0
            while written < len(view):
                written += os.write(fd, view[written:])
            if root.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        discard_temp(root, name)
        raise os_error(e) from e
    except BaseException:
        discard_temp(root, name)
        raise
    return name


def discard_temp(root: StoreRoot, name: str) -> None:
    """Remove a temp file by name if it is still there."""
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=root.tmp_fd)


def clean_temp(root: StoreRoot, *, min_age_seconds: float = TEMP_MIN_AGE_SECONDS) -> int:
    """Remove temp files and trash that no live process uses; return how many went."""
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
                # A bucket deleted by a process that died before removing it.
                shutil.rmtree(name, ignore_errors=True, dir_fd=root.tmp_fd)
                removed += 1
            continue
        if _remove_if_unused(root.tmp_fd, name, oldest_ns):
            removed += 1
    return removed


def _remove_if_unused(dir_fd: int, name: str, oldest_ns: int) -> bool:
    """Unlink one temp file unless it is recent or locked by a live upload."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if st.st_mtime_ns > oldest_ns:
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
                return False  # an upload in progress in some process
            raise
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)
