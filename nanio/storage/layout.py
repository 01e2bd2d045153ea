"""
Where everything lives on disk: the only module that spells nanio's paths.

::

    <root>/<bucket>/<key path>               object bytes, exactly as uploaded
    <root>/<bucket>/.nanio-meta/<key>.json   sidecar of the object <key>
    <root>/<bucket>/.nanio-meta/<dir>/.json  sidecar of the folder marker "<dir>/"
    <root>/.nanio/tmp/                       temp files of uploads in progress
    <root>/.nanio/buckets/<bucket>.json      bucket records
    <root>/.nanio/locks/                     empty files that writers flock
    <root>/.nanio/multipart/<upload-id>/     multipart uploads (not this module's)

One formula places every sidecar: a key splits into directory names and a
leaf (``b""`` for a folder marker); the sidecar is ``leaf + ".json"`` in the
same directories under ``.nanio-meta``.

Names are bytes (the UTF-8 of the key) opened one component at a time
relative to a directory descriptor with ``O_NOFOLLOW``: a symlink anywhere
below the root is never followed, and ``split_key`` never yields ``.``,
``..`` or an empty name, so nothing resolves outside the bucket.

This module owns the descriptors of the store's fixed directories
(``StoreRoot``) and the walks through directory chains.  It does not read
or write object bytes or metadata.  No Twisted imports here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import stat
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from nanio.errors import KeyConflict, NoSuchBucket, NoSuchKey
from nanio.storage.beneath import Opener, find_opener
from nanio.storage.faults import os_error

if TYPE_CHECKING:
    from nanio.storage.metadata import SidecarCache

#: The sidecar tree at the top of every bucket (never a key: keys.py refuses
#: the reserved ``.nanio`` prefix, ``split_key`` refuses this name too).
META_DIR = b".nanio-meta"
#: nanio's own area beside the buckets (bucket names never start with ".").
INTERNAL_DIR = ".nanio"
TMP_DIR = "tmp"
BUCKETS_DIR = "buckets"
LOCKS_DIR = "locks"
#: Appended to a leaf to name its sidecar; alone, it is a marker's sidecar.
SIDECAR_SUFFIX = b".json"
#: Appended to a bucket name to name its record.
RECORD_SUFFIX = ".json"
#: The file that finds out, at start-up, how exact the file system's mtimes are.
PROBE_SUFFIX = ".probe"

#: Opening a directory component: never through a symlink.
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Opening a file to read: never through a symlink, and never blocking on a
#: FIFO someone dropped into a bucket (O_NONBLOCK is a no-op on regular files).
FILE_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
#: Creating a temp file: a fresh name that nobody else can be using.
TEMP_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: Mode of new files and directories, before the process umask.
FILE_MODE = 0o666
DIR_MODE = 0o777

#: errno values that, on the way to an object, mean "there is no such thing":
#: a missing name, a file where a directory was expected, a symlink refused
#: by O_NOFOLLOW, a name longer than the file system allows.  The
#: ``*_if_present`` helpers below answer None for them; every other errno
#: becomes the S3 error ``faults.os_error`` gives it.
MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG})

#: errno values that, on the way to write an object, mean a name is taken by
#: something of the other kind (a file where a directory is needed, a
#: symlink, a non-empty directory where the file should go).
CONFLICT_ERRNOS = frozenset(
    {errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP, errno.ENOTEMPTY}
)

#: Why a key cannot be written when a directory it needs is a symlink.
SYMLINK_IN_THE_WAY = (
    "The key cannot be stored: the server's store holds a symbolic link where "
    "this key needs a directory, and nanio never follows symbolic links."
)

#: A key split for the file system: its directory names and its leaf.
KeyPath = tuple[tuple[bytes, ...], bytes]

_BAD_SEGMENTS = (b"", b".", b"..")


T = TypeVar("T")

#: Takes a function and runs it some time later, in any thread.
Background = Callable[[Callable[[], object]], object]


def _run_now(work: Callable[[], object]) -> None:
    work()


def unlink_if_there(dir_fd: int, name: str) -> None:
    """Unlink a file of ``.nanio/tmp``; gone already (a sweep took it) is fine."""
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


class Batched(Generic[T]):
    """Items handed to ``work`` later, in batches, one background run at a time.

    A run takes every item queued so far and, when done, whatever was queued
    meanwhile: under load one thread hop serves many items, not one each.
    Safe to call ``add`` from any thread.
    """

    __slots__ = ("_background", "_items", "_lock", "_running", "_work")

    def __init__(self, background: Background, work: Callable[[list[T]], object]) -> None:
        self._background = background
        self._work = work
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._running = False

    def add(self, item: T) -> None:
        """Queue ``item``; start a background run unless one is going."""
        with self._lock:
            self._items.append(item)
            if self._running:
                return
            self._running = True
        self._background(self._run)

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    items, self._items = self._items, []
                    if not items:
                        self._running = False
                        return
                self._work(items)
        except BaseException:
            with self._lock:
                self._running = False  # the next add starts a new run
            raise


def _unlinker(root: weakref.ref[StoreRoot]) -> Callable[[list[str]], None]:
    """Unlinks names from the root's ``tmp``, holding the root weakly (no reference cycle)."""

    def unlink_from_tmp(names: list[str]) -> None:
        live = root()
        if live is None:
            return  # dropped: the next clean_temp of this directory takes them
        for name in names:
            unlink_if_there(live.tmp_fd, name)

    return unlink_from_tmp


class StoreRoot:
    """The store's fixed directories, opened once; shared by every thread."""

    __slots__ = (
        "__weakref__",
        "_release",
        "background",
        "buckets_fd",
        "exact_mtime",
        "fd",
        "fsync",
        "locks_fd",
        "open_beneath",
        "path",
        "set_aside",
        "sidecars",
        "tmp_fd",
        "tmp_path",
    )

    def __init__(self, path: str, *, fsync: bool, background: Background | None = None) -> None:
        # metadata.py builds on this module; only the instance needs it.
        from nanio.storage.metadata import SIDECAR_CACHE_ENTRIES, SidecarCache

        #: Absolute path of the data directory (for messages to the operator only).
        self.path = path
        self.fsync = fsync
        #: Runs clean-up nobody waits for (freeing replaced files) later, in
        #: some other thread; without one it runs at once.
        self.background: Background = background or _run_now
        #: Second names of replaced files (``atomic.set_aside``) in ``tmp``,
        #: unlinked in the background, in batches.
        self.set_aside: Batched[str] = Batched(self.background, _unlinker(weakref.ref(self)))
        #: Decoded sidecars, shared by readers and listings.
        self.sidecars: SidecarCache = SidecarCache(SIDECAR_CACHE_ENTRIES)
        os.makedirs(path, exist_ok=True)
        opened: list[int] = []
        # A root dropped without close() (a test's throwaway store, an
        # embedder's discarded resource) still gives its descriptors back.
        self._release = weakref.finalize(self, close_all, opened)
        # The root itself may be a symlink (an operator's choice); nothing
        # below it is followed.
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        opened.append(self.fd)
        #: Opens ``bucket/dirs.../name`` below ``fd`` in one system call,
        #: refusing symlinks as a walk does; None where the kernel cannot.
        self.open_beneath: Opener | None = find_opener(self.fd)
        try:
            internal = make_dir(self.fd, INTERNAL_DIR)
            try:
                self.tmp_fd = make_dir(internal, TMP_DIR)
                opened.append(self.tmp_fd)
                #: For messages to the operator (never sent to clients).
                self.tmp_path = os.path.join(path, INTERNAL_DIR, TMP_DIR)
                self.buckets_fd = make_dir(internal, BUCKETS_DIR)
                opened.append(self.buckets_fd)
                self.locks_fd = make_dir(internal, LOCKS_DIR)
                opened.append(self.locks_fd)
            finally:
                os.close(internal)
            #: Whether this file system keeps the nanosecond mtimes nanio
            #: stamps on objects (see ``metadata.describes``).
            self.exact_mtime = _keeps_exact_mtime(self.tmp_fd)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the directory descriptors (idempotent)."""
        self.fd = self.tmp_fd = self.buckets_fd = self.locks_fd = -1
        self._release()  # runs close_all once, whoever calls first

    def open_bucket(self, bucket: str) -> int:
        """Open a bucket's directory; raise ``NoSuchBucket`` unless it is a real directory."""
        if not is_bucket_dir_name(bucket):
            raise no_such_bucket(bucket)
        try:
            return os.open(bucket, DIR_FLAGS, dir_fd=self.fd)
        except OSError as e:
            raise_unless_missing(e)  # every request passes here: no helper call
            raise no_such_bucket(bucket) from None

    def record_name(self, bucket: str) -> str:
        """The file name of a bucket's record in ``.nanio/buckets``."""
        return bucket + RECORD_SUFFIX


def split_key(key: str) -> KeyPath | None:
    """Split a key into (directory names, leaf) as bytes; None if it cannot be a path."""
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if b"\0" in raw:
        return None
    if b"/" not in raw:
        # The hot path: a key at the top of the bucket.
        if raw in _BAD_SEGMENTS or raw == META_DIR:
            return None
        return (), raw
    parts = raw.split(b"/")
    leaf = parts.pop()
    if leaf in (b".", b".."):
        return None
    for part in parts:
        if part in _BAD_SEGMENTS:
            return None
    if parts[0] == META_DIR:
        return None
    return tuple(parts), leaf


def sidecar_name(leaf: bytes) -> bytes:
    """The sidecar's file name for a leaf (``b".json"`` for a folder marker)."""
    return leaf + SIDECAR_SUFFIX


def meta_dirs(dirs: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The directory names, from the bucket, that hold the sidecars of ``dirs``."""
    return (META_DIR, *dirs)


def is_bucket_dir_name(bucket: str) -> bool:
    """Whether ``bucket`` may be looked up as a directory of the root (else: NoSuchBucket).

    Bucket names are checked by nanio.s3.keys before they get here; this only
    keeps a stray name from reaching nanio's own ".nanio" or leaving the root.
    """
    return bool(bucket) and bucket[0] != "." and "/" not in bucket and "\0" not in bucket


def no_such_bucket(bucket: str) -> NoSuchBucket:
    """A ``NoSuchBucket`` naming the bucket when it is printable."""
    return NoSuchBucket(BucketName=bucket) if bucket.isprintable() else NoSuchBucket()


def no_such_key(key: str) -> NoSuchKey:
    """A ``NoSuchKey`` naming the key when it is printable."""
    return NoSuchKey(Key=key) if key.isprintable() else NoSuchKey()


def raise_unless_missing(e: OSError) -> None:
    """Raise the S3 error ``e`` stands for, unless it says the name is not there."""
    if e.errno not in MISSING_ERRNOS:
        raise os_error(e) from e


# The *_if_present helpers take the directory first, positionally, as the
# other helpers here do (CPython 3.11 does not specialise calls that pass
# keywords).  The few sites that every GET or every listed key passes keep
# their own ``try``, free when nothing is raised, and call
# ``raise_unless_missing``: a helper call there would cost each request
# about 400 more instructions.


def open_if_present(dir_fd: int, name: str | bytes, flags: int) -> int | None:
    """Open ``name`` in ``dir_fd`` with ``flags``; None if it is not there (``MISSING_ERRNOS``)."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        raise_unless_missing(e)
        return None


def open_internal_dir(root_fd: int, name: str) -> int:
    """Open (creating if missing) ``.nanio/<name>`` of the store at ``root_fd``; caller closes."""
    internal = os.open(INTERNAL_DIR, DIR_FLAGS, dir_fd=root_fd)
    try:
        return make_dir(internal, name)
    finally:
        os.close(internal)


def read_small_file(dir_fd: int, name: str, limit: int) -> bytes | None:
    """The bytes of regular file ``name``; None if missing, not a file, or over ``limit`` bytes."""
    fd = open_if_present(dir_fd, name, FILE_READ_FLAGS)
    if fd is None:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    return data if len(data) <= limit else None


def open_dirs_if_present(base_fd: int, names: Sequence[bytes]) -> int | None:
    """``open_dirs``, or None if a directory on the way is not there."""
    try:
        return open_dirs(base_fd, names)
    except OSError as e:
        raise_unless_missing(e)
        return None


def open_dirs(base_fd: int, names: Sequence[bytes]) -> int:
    """Open ``base/names...`` without following symlinks; the caller closes it unless base_fd."""
    fd = base_fd
    try:
        for name in names:
            child = os.open(name, DIR_FLAGS, dir_fd=fd)
            if fd != base_fd:
                os.close(fd)
            fd = child
    except BaseException:
        if fd != base_fd:
            os.close(fd)
        raise
    return fd


def open_chain(base_fd: int, names: Sequence[bytes]) -> list[int]:
    """Open each directory of ``base/names...`` in turn, stopping at the first that is missing."""
    chain: list[int] = []
    parent = base_fd
    try:
        for name in names:
            fd = open_if_present(parent, name, DIR_FLAGS)
            if fd is None:
                break
            chain.append(fd)
            parent = fd
    except BaseException:
        close_all(chain)
        raise
    return chain


def close_all(fds: Sequence[int]) -> None:
    """Close every descriptor in ``fds``."""
    for fd in fds:
        os.close(fd)


def make_dir(parent_fd: int, name: str | bytes) -> int:
    """Open the directory ``name`` under ``parent_fd``, creating it if missing."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
    return os.open(name, DIR_FLAGS, dir_fd=parent_fd)


class ClosesOnExit:
    """Base of storage handles: ``with`` yields the handle and calls ``close()`` on leaving."""

    __slots__ = ()

    def close(self) -> None:
        """Release what the handle holds (idempotent)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ParentVanished(Exception):
    """A directory on the way was removed by a concurrent delete: start the walk again."""


class DirChain(ClosesOnExit):
    """The directories from a base down to a target, created where missing, kept open.

    A writer needs them open: to create entries relative to them, and to
    fsync exactly the directories whose entries it changed.
    """

    __slots__ = ("fds", "first_created")

    def __init__(
        self, base_fd: int, names: Sequence[bytes], open_beneath: Opener | None = None
    ) -> None:
        #: fds[0] is the base (not owned); then the directories opened on
        #: the way to the target, the target last.
        self.fds = [base_fd]
        #: Index in ``fds`` of the first directory this walk created, if any.
        self.first_created = 0
        if len(names) > 1 and open_beneath is not None:
            try:
                # Every directory there already, the usual case: one open.
                self.fds.append(open_beneath(base_fd, b"/".join(names), DIR_FLAGS))
                return
            except OSError:
                pass  # one missing, in the way or refused: the walk makes it or says what
        try:
            for name in names:
                self._step(name)
        except BaseException:
            self.close()
            raise

    def _step(self, name: bytes) -> None:
        """Open (creating if missing) one more directory at the end of the chain."""
        parent = self.fds[-1]
        for _ in range(2):
            try:
                self.fds.append(os.open(name, DIR_FLAGS, dir_fd=parent))
                return
            except OSError as e:
                if e.errno in CONFLICT_ERRNOS:
                    # A file or a symlink holds the name of a directory we need.
                    raise _conflict_at(parent, name) from None
                if e.errno != errno.ENOENT:
                    raise os_error(e) from e
            try:
                os.mkdir(name, DIR_MODE, dir_fd=parent)
            except FileExistsError:
                continue  # made meanwhile by another writer, or a file: look again
            except FileNotFoundError:
                # Our parent was removed (an empty directory, cleaned up by a
                # concurrent delete) while we held it open.
                raise ParentVanished() from None
            except OSError as e:
                raise os_error(e) from e
            if not self.first_created:
                self.first_created = len(self.fds)
        raise ParentVanished()

    @property
    def fd(self) -> int:
        """The target directory."""
        return self.fds[-1]

    def fsync_changed(self) -> None:
        """Fsync the target and every directory that gained a new subdirectory."""
        start = self.first_created - 1 if self.first_created else len(self.fds) - 1
        for fd in self.fds[start:]:
            os.fsync(fd)

    def close(self) -> None:
        """Close the descriptors this chain opened (idempotent)."""
        fds, self.fds = self.fds, self.fds[:1]
        for fd in fds[1:]:
            os.close(fd)


def _conflict_at(parent_fd: int, name: bytes) -> KeyConflict:
    """The KeyConflict for a name that is not the directory a key needs there."""
    # Linux answers O_DIRECTORY | O_NOFOLLOW on a symlink with ENOTDIR, as
    # for a file: only a look at the name tells the two apart.  A symlink
    # is never followed nor replaced: someone put it there by hand.
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except OSError:
        is_link = False
    return KeyConflict(SYMLINK_IN_THE_WAY) if is_link else KeyConflict()


def new_temp_name(suffix: str) -> str:
    """A random file name for ``.nanio/tmp``."""
    # Unique is all it must be (128 random bits; a temp file is created
    # O_EXCL, so even a clash could only fail), not secret: the random
    # module's generator, seeded from the OS and again in every forked
    # worker, spares a system call per name.
    return f"{random.getrandbits(128):032x}{suffix}"


def _keeps_exact_mtime(tmp_fd: int) -> bool:
    """Tell whether this file system stores nanosecond mtimes as given."""
    name = new_temp_name(PROBE_SUFFIX)
    fd = os.open(name, TEMP_CREATE_FLAGS, FILE_MODE, dir_fd=tmp_fd)
    try:
        # Locked like every temp file (atomic.py), so another process's
        # sweep leaves it alone; if a sweep took it before the lock, the
        # probe works as well on the unlinked file.
        fcntl.flock(fd, fcntl.LOCK_EX)
        # An odd nanosecond count survives only on a file system with
        # nanosecond timestamps (ext4, XFS, btrfs, tmpfs, ZFS...).
        probe_ns = (time.time_ns() // 1_000_000_000) * 1_000_000_000 + 123_456_789
        os.utime(fd, ns=(probe_ns, probe_ns))
        return os.fstat(fd).st_mtime_ns == probe_ns
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=tmp_fd)
        os.close(fd)
