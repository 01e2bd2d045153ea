"""
Buckets: the directories at the top of the data directory, and their records.

A bucket is a real directory (never a symlink) whose name is a valid bucket
name.  Its record ``.nanio/buckets/<bucket>.json`` says who created it::

    {"owner": "AKIA...", "created": 1767225600.25}

``owner`` is null for a shared bucket.  A directory made by hand has no
record: it is shared, and its "created" time is the directory's mtime.

Invariants:
- The record is in place before the directory appears, and goes after the
  directory has vanished; a reader that finds no record checks that the
  directory it saw is still there before calling the bucket shared, so
  ownership never flickers to "shared" while a bucket is deleted.  A
  record without its directory (a crash between the two steps) is no
  bucket, and the next CreateBucket of that name replaces it.
- Creating and deleting a bucket hold its bucket lock exclusively; object
  writers hold it shared (``objects.py``), so a bucket is never deleted
  under a commit, and its emptiness check cannot be outrun by one.
- A deleted bucket vanishes in one rename (into ``.nanio/tmp``, as
  ``<random>.trash``) and its tree is removed afterwards, outside the lock;
  a crash leaves only trash for ``clean_temp``.
- A record that cannot be read is an ``InternalError`` for that bucket,
  never "no owner": an unreadable record must not make a private bucket
  shared.  ``list_buckets`` leaves such a bucket out.

No Twisted imports here.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import time
from collections.abc import Callable

from nanio.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InternalError,
    S3Error,
)
from nanio.s3.keys import validate_bucket_name
from nanio.s3.model import BucketInfo
from nanio.storage.atomic import TRASH_SUFFIX, write_small_temp
from nanio.storage.faults import os_error
from nanio.storage.layout import (
    DIR_FLAGS,
    DIR_MODE,
    FILE_READ_FLAGS,
    INTERNAL_DIR,
    META_DIR,
    MISSING_ERRNOS,
    RECORD_SUFFIX,
    StoreRoot,
    is_bucket_dir_name,
    new_temp_name,
    no_such_bucket,
    open_if_present,
    raise_unless_missing,
)
from nanio.storage.locks import bucket_lock
from nanio.storage.metadata import has_marker_sidecar

#: A bucket record is a few dozen bytes; anything larger is not one.
RECORD_LIMIT_BYTES = 4096
#: Records remembered, keyed by bucket name (a server sees few buckets).
RECORD_CACHE_SIZE = 4096
#: Looks at a bucket without a record before giving up on a name that keeps
#: being deleted and created again.
RECORD_LOOKS = 3

#: (st_ino, st_size, st_mtime_ns, st_ctime_ns) of a record file.
_RecordIdentity = tuple[int, int, int, int]
_META_DIR_NAME = META_DIR.decode("ascii")


class Buckets:
    """Bucket operations on one store root, with a cache of bucket records."""

    def __init__(self, root: StoreRoot) -> None:
        self._root = root
        # Every request asks who owns its bucket: a record is parsed once,
        # then only stat'ed.  Records are replaced by rename with a fresh
        # nanosecond mtime, so a changed record never has a cached identity.
        self._records: dict[str, tuple[_RecordIdentity, BucketInfo]] = {}

    def list_buckets(self) -> list[BucketInfo]:
        """Every bucket, sorted by name."""
        root = self._root
        scan_fd = os.open(b".", DIR_FLAGS, dir_fd=root.fd)
        try:
            with os.scandir(scan_fd) as entries:
                names = [
                    entry.name
                    for entry in entries
                    if entry.is_dir(follow_symlinks=False) and entry.name != INTERNAL_DIR
                ]
        finally:
            os.close(scan_fd)
        buckets = []
        for name in sorted(names):
            try:
                validate_bucket_name(name)
                buckets.append(self.bucket_info(name))
            except S3Error:
                continue  # not a bucket name, vanished, or an unreadable record
        return buckets

    def bucket_info(self, bucket: str) -> BucketInfo:
        """A bucket's name, creation time and owner; NoSuchBucket."""
        if not is_bucket_dir_name(bucket):
            raise no_such_bucket(bucket)
        st = self._stat_dir(bucket)
        for _ in range(RECORD_LOOKS):
            info = self._read_record(bucket)
            if info is not None:
                return info
            # No record: a directory made by hand (shared), or a bucket being
            # deleted right now (its directory goes first, then its record).
            # Only a directory still in place, the same one, is shared;
            # otherwise a private bucket would flicker to shared as it goes.
            again = self._stat_dir(bucket)
            if again.st_ino == st.st_ino and again.st_dev == st.st_dev:
                return BucketInfo(bucket, st.st_mtime_ns / 1e9, None)
            st = again  # deleted and created again meanwhile: look again
        raise InternalError("The bucket keeps being created and deleted.")

    def _stat_dir(self, bucket: str) -> os.stat_result:
        """The stat of a bucket's directory: NoSuchBucket unless it is a real directory."""
        try:
            st = os.stat(bucket, dir_fd=self._root.fd, follow_symlinks=False)
        except OSError as e:
            raise_unless_missing(e)  # every request passes here: no helper call
            raise no_such_bucket(bucket) from None
        if not stat.S_ISDIR(st.st_mode):
            raise no_such_bucket(bucket)
        return st

    def create_bucket(self, bucket: str, owner: str | None) -> None:
        """Create a bucket owned by ``owner`` (None: shared)."""
        validate_bucket_name(bucket)
        root = self._root
        with bucket_lock(root.locks_fd, bucket, exclusive=True):
            try:
                st: os.stat_result | None = os.stat(bucket, dir_fd=root.fd, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            except OSError as e:
                raise os_error(e) from e
            if st is not None:
                self._refuse_existing(bucket, owner, st)
            self._write_record(bucket, owner)
            try:
                self._make_bucket_dir(bucket)
            except BaseException:
                self._remove_record(bucket)
                raise

    def _refuse_existing(self, bucket: str, owner: str | None, st: os.stat_result) -> None:
        """Raise the error S3 gives for creating a bucket that exists."""
        if stat.S_ISDIR(st.st_mode):
            record = self._read_record(bucket)
            recorded_owner = record.owner if record is not None else None
            if owner is None or recorded_owner is None or recorded_owner == owner:
                raise BucketAlreadyOwnedByYou(BucketName=bucket)
        # Someone else's bucket, or a stray file or symlink holding the name.
        raise BucketAlreadyExists(BucketName=bucket)

    def _write_record(self, bucket: str, owner: str | None) -> None:
        """Put the bucket's record in place (before its directory exists)."""
        root = self._root
        data = json.dumps({"owner": owner, "created": time.time()}).encode("utf-8") + b"\n"
        temp = write_small_temp(root, data)
        try:
            # A fresh nanosecond mtime: the cache can never mistake this
            # record for an older one that had the same inode number.
            now_ns = time.time_ns()
            os.utime(temp.fd, ns=(now_ns, now_ns))
            os.rename(
                temp.name,
                root.record_name(bucket),
                src_dir_fd=root.tmp_fd,
                dst_dir_fd=root.buckets_fd,
            )
            temp.committed()
            if root.fsync:
                os.fsync(root.buckets_fd)
        except OSError as e:
            temp.abort()
            raise os_error(e) from e

    def _make_bucket_dir(self, bucket: str) -> None:
        """Create the bucket directory and its sidecar tree."""
        root = self._root
        try:
            # A directory made by hand a moment ago is this bucket now.
            with contextlib.suppress(FileExistsError):
                os.mkdir(bucket, DIR_MODE, dir_fd=root.fd)
            bfd = root.open_bucket(bucket)
            try:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(META_DIR, DIR_MODE, dir_fd=bfd)
                if root.fsync:
                    os.fsync(bfd)
                    os.fsync(root.fd)
            finally:
                os.close(bfd)
        except OSError as e:
            raise os_error(e) from e

    def delete_bucket(self, bucket: str, *, then: Callable[[int], object] | None = None) -> None:
        """Delete an empty bucket: NoSuchBucket, BucketNotEmpty.

        ``then`` is called with the inode the bucket's directory had, once the
        bucket is gone and its lock released, but before its tree is removed:
        until then no new directory can have that inode.
        """
        root = self._root
        trash: str | None = None
        with bucket_lock(root.locks_fd, bucket, exclusive=True):
            bfd = root.open_bucket(bucket)
            try:
                ino = os.fstat(bfd).st_ino
                if _holds_objects(bfd):
                    raise BucketNotEmpty(BucketName=bucket)
            except OSError as e:
                raise os_error(e) from e
            finally:
                os.close(bfd)
            try:
                trash = new_temp_name(TRASH_SUFFIX)
                try:
                    os.rename(bucket, trash, src_dir_fd=root.fd, dst_dir_fd=root.tmp_fd)
                except OSError as e:
                    if e.errno in MISSING_ERRNOS:
                        raise no_such_bucket(bucket) from None
                    if e.errno != errno.EXDEV:
                        raise
                    # The bucket is a mount point of its own: remove in place.
                    trash = None
                    shutil.rmtree(bucket, dir_fd=root.fd)
                self._remove_record(bucket)
                if root.fsync:
                    os.fsync(root.fd)
            except OSError as e:
                raise os_error(e) from e
        try:
            if then is not None:
                then(ino)
        finally:
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True, dir_fd=root.tmp_fd)

    def remove_stray_records(self) -> int:
        """Remove records whose directory is gone (a crash mid-create or mid-delete)."""
        root = self._root
        scan_fd = os.open(b".", DIR_FLAGS, dir_fd=root.buckets_fd)
        try:
            with os.scandir(scan_fd) as entries:
                names = [entry.name for entry in entries if entry.name.endswith(RECORD_SUFFIX)]
        finally:
            os.close(scan_fd)
        removed = 0
        for name in names:
            bucket = name[: -len(RECORD_SUFFIX)]
            if not bucket or bucket[0] == "." or self._dir_exists(bucket):
                continue
            # Under the lock: a create in progress has its record before its
            # directory, and is not stray.
            with bucket_lock(root.locks_fd, bucket, exclusive=True):
                if self._dir_exists(bucket):
                    continue
                self._remove_record(bucket)
                removed += 1
        return removed

    def _dir_exists(self, bucket: str) -> bool:
        """Tell whether anything holds the name ``bucket`` in the root."""
        try:
            os.stat(bucket, dir_fd=self._root.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _remove_record(self, bucket: str) -> None:
        """Remove the bucket's record, if any."""
        root = self._root
        self._records.pop(bucket, None)
        try:
            os.unlink(root.record_name(bucket), dir_fd=root.buckets_fd)
        except FileNotFoundError:
            return
        except OSError as e:
            raise os_error(e) from e
        if root.fsync:
            os.fsync(root.buckets_fd)

    def _read_record(self, bucket: str) -> BucketInfo | None:
        """The bucket as its record describes it; None if it has no record."""
        root = self._root
        name = root.record_name(bucket)
        try:
            st = os.stat(name, dir_fd=root.buckets_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise os_error(e) from e
        identity = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._records.get(bucket)
        if cached is not None and cached[0] == identity:
            return cached[1]
        info = self._parse_record(bucket, name, st)
        if len(self._records) >= RECORD_CACHE_SIZE:
            self._records.clear()
        self._records[bucket] = (identity, info)
        return info

    def _parse_record(self, bucket: str, name: str, st: os.stat_result) -> BucketInfo:
        """Read and check a record file; InternalError if it is not one."""
        unreadable = InternalError("A bucket record on the server is damaged.")
        if not stat.S_ISREG(st.st_mode) or st.st_size > RECORD_LIMIT_BYTES:
            raise unreadable
        try:
            fd = os.open(name, FILE_READ_FLAGS, dir_fd=self._root.buckets_fd)
            try:
                data = os.read(fd, RECORD_LIMIT_BYTES + 1)
            finally:
                os.close(fd)
        except OSError as e:
            raise os_error(e) from e
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            raise unreadable from None
        if type(doc) is not dict:
            raise unreadable
        owner = doc.get("owner")
        created = doc.get("created")
        if not (owner is None or type(owner) is str) or not (
            type(created) is int or type(created) is float
        ):
            raise unreadable
        return BucketInfo(bucket, float(created), owner)


def _holds_objects(bfd: int) -> bool:
    """Tell whether a bucket holds any object: a file, or a folder marker."""
    # Leftover empty directories and stale sidecars do not count; any file
    # does, even one whose name no S3 key could spell, so that deleting the
    # bucket never removes data nobody could see.
    meta_fd = open_if_present(bfd, META_DIR, DIR_FLAGS)
    return _subtree_holds_objects(
        os.open(b".", DIR_FLAGS, dir_fd=bfd), -1 if meta_fd is None else meta_fd, top=True
    )


def _subtree_holds_objects(fd: int, meta_fd: int, *, top: bool) -> bool:
    """Depth first, closing ``fd`` and ``meta_fd``: does this directory hold an object?"""
    try:
        with os.scandir(fd) as entries:
            listed = [
                (
                    entry.name,
                    entry.is_dir(follow_symlinks=False),
                    entry.is_file(follow_symlinks=False),
                )
                for entry in entries
            ]
        if any(is_file for _, _, is_file in listed):
            return True
        for name, is_dir, _ in listed:
            if not is_dir or (top and name == _META_DIR_NAME):
                continue
            child = open_if_present(fd, name, DIR_FLAGS)
            if child is None:
                continue
            child_meta = -1
            if meta_fd >= 0:
                try:
                    found = open_if_present(meta_fd, name, DIR_FLAGS)
                except BaseException:
                    os.close(child)
                    raise
                if found is not None:
                    child_meta = found
            if child_meta >= 0 and has_marker_sidecar(child_meta):
                os.close(child)
                os.close(child_meta)
                return True
            if _subtree_holds_objects(child, child_meta, top=False):
                return True
        return False
    finally:
        os.close(fd)
        if meta_fd >= 0:
            os.close(meta_fd)
