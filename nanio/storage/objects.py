"""
Objects: open, head, commit and delete; one file (or folder marker) per key.

An object ``a/b/c`` is the file ``<bucket>/a/b/c`` plus its sidecar
``<bucket>/.nanio-meta/a/b/c.json``; a folder marker ``a/b/`` is the
directory ``<bucket>/a/b/`` plus the sidecar ``.nanio-meta/a/b/.json``.  A
directory without that sidecar is only a prefix.

Invariants (how readers never see a torn object, nor bytes with another
version's metadata):

1. Bytes and sidecars enter the tree only by rename from ``.nanio/tmp``
   (``atomic.py``), so every file in the tree is complete.
2. A commit stamps the data file (``metadata.py``: its size and nanosecond
   mtime identify it), writes the sidecar, then, holding the key's lock,
   renames the sidecar into place and the data file after it.  The data
   rename is the commit point.  The lock orders concurrent writers of one
   key, so the last data file renamed is always paired with its own
   sidecar.
3. Before those renames the commit has made sure the data file's name is
   free or a file (an empty leftover directory is removed, a folder marker or
   a non-empty directory is a ``KeyConflict``), so the data rename cannot
   fail because of what it replaces; if it fails anyway (the directory was
   removed meanwhile, or refuses the rename: no permission, a full or
   failing disk), the sidecar it replaced, read under the lock before, is put
   back (or the new one taken out if there was none), so the old version is
   still whole, metadata included.
4. A reader opens the data file, and each directory on the way to it, with
   ``O_NOFOLLOW`` (or all at once through ``openat2``, which refuses
   symlinks as well: ``beneath.py``), fstat's that descriptor and reads the
   sidecar.  When the sidecar describes the descriptor's file, the two are
   one version (the common case: no lock).
   When there is no sidecar and the file is still linked, no writer or
   delete can be midway (they put the sidecar first and unlink the data
   first), so the file was dropped in by hand: its metadata is synthesised
   from fstat of that same descriptor.  Otherwise a writer or a delete may be
   between its two steps, so the reader looks once more holding the key's
   lock shared, when nothing can move; if the two still disagree, the file
   was edited by hand and its metadata is synthesised.  Bytes and metadata
   served always belong together.
5. A delete, holding the key's lock, unlinks the data file and then the
   sidecar.  Empty parent directories go afterwards, each one checked and
   removed under the lock of the folder-marker key it would be, so it is
   never a marker and a marker commit (which checks its directory is still
   linked, under that lock) never lands in a removed directory.  Writers
   whose directory is removed under them see ENOENT and walk again.
6. With ``fsync``: the data and the sidecar are fsynced before their
   renames, and every directory whose entries changed after them, before
   the call returns.

No Twisted imports here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import stat
import time
from collections.abc import Callable

from nanio.errors import InternalError, InvalidArgument, KeyConflict, NoSuchKey, S3Error
from nanio.s3.keys import validate_key
from nanio.s3.model import ObjectMeta
from nanio.storage.atomic import (
    TempFile,
    create_temp,
    release,
    set_aside,
    worth_setting_aside,
    write_small_temp,
)
from nanio.storage.beneath import Opener
from nanio.storage.faults import os_error
from nanio.storage.layout import (
    CONFLICT_ERRNOS,
    FILE_READ_FLAGS,
    META_DIR,
    MISSING_ERRNOS,
    SIDECAR_SUFFIX,
    ClosesOnExit,
    DirChain,
    ParentVanished,
    StoreRoot,
    close_all,
    is_bucket_dir_name,
    meta_dirs,
    no_such_key,
    open_chain,
    open_dirs,
    open_dirs_if_present,
    raise_unless_missing,
    sidecar_name,
    split_key,
)
from nanio.storage.locks import bucket_lock, key_lock
from nanio.storage.metadata import (
    Sidecar,
    describes,
    encode_sidecar,
    has_marker_sidecar,
    read_sidecar,
    sidecar_bytes,
    synthesized_etag,
    synthesized_meta,
)

#: A writer walks again this many times when concurrent deletes keep
#: removing the empty directories it is about to use.
COMMIT_ATTEMPTS = 5

_MARKER_NOT_EMPTY = "A key ending in '/' (a folder marker) must be empty."


class OpenObject(ClosesOnExit):
    """An object opened for reading: a descriptor and the metadata of those very bytes."""

    __slots__ = ("fd", "meta")

    def __init__(self, fd: int, meta: ObjectMeta) -> None:
        #: Read-only descriptor (use ``os.pread``), or -1 for a folder marker.
        self.fd = fd
        self.meta = meta

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


# -- reading ------------------------------------------------------------------


def open_object(root: StoreRoot, bucket: str, key: str) -> OpenObject:
    """Open an object: NoSuchBucket, NoSuchKey; the caller closes it."""
    path = split_key(key)
    if path is not None and path[1] and root.open_beneath is not None:
        opened = _open_in_one_go(root, root.open_beneath, bucket, key, *path)
        if opened is not None:
            return opened
    bfd = root.open_bucket(bucket)
    try:
        if path is None:
            raise no_such_key(key)
        dirs, leaf = path
        dfd = bfd
        if dirs:
            try:
                dfd = open_dirs(bfd, dirs)
            except OSError as e:
                raise_unless_missing(e)  # every GET passes here: no helper call
                raise no_such_key(key) from None
        try:
            if not leaf:
                return OpenObject(-1, _marker_meta(root, bucket, key, bfd, dirs))
            return _open_file(root, bucket, key, bfd, dfd, dirs, leaf)
        finally:
            if dfd != bfd:
                os.close(dfd)
    finally:
        os.close(bfd)


def _open_in_one_go(
    root: StoreRoot,
    open_beneath: Opener,
    bucket: str,
    key: str,
    dirs: tuple[bytes, ...],
    leaf: bytes,
) -> OpenObject | None:
    """The common cases of ``_open_file`` in three system calls (four with the caller's close).

    None means walk instead.

    The data file is opened through ``openat2``, which refuses symlinks as
    the walk does.  Its sidecar must be in the cache, unchanged, and
    describe it; or be missing while the file is still in place, as
    ``_open_file`` decides for a file dropped in by hand (one more fstat).
    Anything else (no such file, an uncached sidecar, a writer midway, an
    error) is left to the walk, which says what it is.
    """
    if not is_bucket_dir_name(bucket):
        return None  # the walk refuses it with NoSuchBucket
    base = os.fsencode(bucket)
    try:
        fd = open_beneath(root.fd, b"/".join((base, *dirs, leaf)), FILE_READ_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            # By path, as ``_sidecar`` looks: the cache entry is only used if
            # that file still has the identity it was read with.
            try:
                sidecar_st = os.stat(
                    b"/".join((base, META_DIR, *dirs, sidecar_name(leaf))),
                    dir_fd=root.fd,
                    follow_symlinks=False,
                )
            except OSError as e:
                # A fresh link count, as in _open_file: a delete unlinks the
                # data file before the sidecar, and may have done both since.
                if e.errno in MISSING_ERRNOS and os.fstat(fd).st_nlink:
                    return OpenObject(fd, synthesized_meta(key, st))
                raise
            sidecar = root.sidecars.get(bucket, key, sidecar_st)
            if sidecar is not None and describes(sidecar, st, root.exact_mtime):
                return OpenObject(fd, sidecar.meta)
    except OSError:
        pass
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def head_object(root: StoreRoot, bucket: str, key: str) -> ObjectMeta:
    """An object's metadata: NoSuchBucket, NoSuchKey."""
    opened = open_object(root, bucket, key)
    opened.close()
    return opened.meta


def _open_file(
    root: StoreRoot,
    bucket: str,
    key: str,
    bfd: int,
    dfd: int,
    dirs: tuple[bytes, ...],
    leaf: bytes,
) -> OpenObject:
    """Open the data file ``leaf`` in ``dfd`` and pair it with its own metadata (invariant 4)."""
    name = sidecar_name(leaf)
    fd, st = _open_data(dfd, leaf, key)
    try:
        sidecar = _sidecar(root, bucket, key, bfd, dirs, name)
        if sidecar is not None and describes(sidecar, st, root.exact_mtime):
            return OpenObject(fd, sidecar.meta)
        if sidecar is None and os.fstat(fd).st_nlink:
            # No sidecar, and the file is still in place: nothing nanio is
            # doing explains that (writers put the sidecar first, deletes
            # unlink the data first), so the file was dropped in by hand.
            return OpenObject(fd, synthesized_meta(key, st))
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    # A writer or a delete may be between its two steps.  Under the key's
    # lock, shared, none can be: look once more, and what is seen is stable.
    with key_lock(root.locks_fd, bucket, key.encode("utf-8"), exclusive=False):
        fd, st = _open_data(dfd, leaf, key)
        try:
            sidecar = _sidecar(root, bucket, key, bfd, dirs, name)
        except BaseException:
            os.close(fd)
            raise
    if sidecar is not None and describes(sidecar, st, root.exact_mtime):
        return OpenObject(fd, sidecar.meta)
    # The sidecar is stale (the file was edited by hand) or damaged.
    return OpenObject(fd, synthesized_meta(key, st))


def _open_data(dfd: int, leaf: bytes, key: str) -> tuple[int, os.stat_result]:
    """Open a data file without following a symlink: (descriptor, its stat); NoSuchKey."""
    try:
        fd = os.open(leaf, FILE_READ_FLAGS, dir_fd=dfd)
    except OSError as e:
        raise_unless_missing(e)  # every GET passes here: no helper call
        raise no_such_key(key) from None
    try:
        st = os.fstat(fd)
    except OSError as e:
        os.close(fd)
        raise os_error(e) from e
    if not stat.S_ISREG(st.st_mode):
        # A directory (a prefix or a marker "key/"), a FIFO, a device.
        os.close(fd)
        raise no_such_key(key)
    return fd, st


def _marker_meta(
    root: StoreRoot, bucket: str, key: str, bfd: int, dirs: tuple[bytes, ...]
) -> ObjectMeta:
    """The metadata of the folder marker whose directory ``dirs`` exists; NoSuchKey if none."""
    sidecar = _sidecar(root, bucket, key, bfd, dirs, SIDECAR_SUFFIX)
    if sidecar is None:
        raise no_such_key(key)  # a directory without its sidecar is only a prefix
    meta = sidecar.meta
    if meta.size != 0:
        # A marker has no bytes to serve, whatever a hand-edited sidecar says.
        meta = dataclasses.replace(meta, size=0)
    return meta


def _sidecar(
    root: StoreRoot, bucket: str, key: str, bfd: int, dirs: tuple[bytes, ...], name: bytes
) -> Sidecar | None:
    """The sidecar ``name`` in ``.nanio-meta/<dirs>``, from the cache if unchanged; None if none."""
    # One stat by path finds out whether the cached copy is still the file
    # in place.  It is only a lookup: what is read is read by walking with
    # O_NOFOLLOW, and a cached sidecar read that way has a file identity
    # no other file can have (it holds st_ctime_ns, which a new link or a
    # rename changes: the same inode reached through a planted symlink
    # misses the cache, and the walk below then refuses the symlink).
    try:
        st = os.stat(b"/".join((META_DIR, *dirs, name)), dir_fd=bfd, follow_symlinks=False)
    except OSError as e:
        raise_unless_missing(e)  # every GET passes here: no helper call
        return None
    cache = root.sidecars
    cached = cache.get(bucket, key, st)
    if cached is not None:
        return cached
    mfd = open_dirs_if_present(bfd, meta_dirs(dirs))
    if mfd is None:
        return None
    try:
        return cache.read(bucket, key, mfd, name)
    finally:
        os.close(mfd)


# -- writing ------------------------------------------------------------------


#: Called, under the key's exclusive lock, with the ETag of the object the
#: commit would replace (None when there is none); raises to refuse the write.
Precondition = Callable[[str | None], None]


def commit_object(
    root: StoreRoot,
    bucket: str,
    key: str,
    temp: TempFile,
    meta: ObjectMeta,
    precondition: Precondition | None = None,
) -> ObjectMeta:
    """Move a finished upload into place as ``key``; return the metadata as stored.

    ``precondition`` (conditional writes) is decided atomically: no other
    writer of the key can commit between its check and this rename.
    """
    try:
        if temp.finished:
            raise InternalError("The upload was already committed or aborted.")
        validate_key(key)
        dirs, leaf = _writable_path(key)
        if not leaf:
            if temp.size:
                raise InvalidArgument(_MARKER_NOT_EMPTY, ArgumentName="key")
            temp.abort()
            if precondition is not None:
                # Markers have no bytes to tear; checked without the lock.
                precondition(_current_marker_etag(root, bucket, key))
            return _commit_marker(root, bucket, key, dirs, meta)
        return _commit_file(root, bucket, key, dirs, leaf, temp, meta, precondition)
    except BaseException:
        temp.abort()
        raise


def put_object_bytes(
    root: StoreRoot, bucket: str, key: str, data: bytes, meta: ObjectMeta
) -> ObjectMeta:
    """Store ``data`` as ``key`` (a key ending in "/" becomes a folder marker)."""
    if key.endswith("/"):
        validate_key(key)
        if data:
            raise InvalidArgument(_MARKER_NOT_EMPTY, ArgumentName="key")
        dirs, _ = _writable_path(key)
        return _commit_marker(root, bucket, key, dirs, meta)
    temp = create_temp(root)
    temp.write(data)  # removes the temp file itself if it fails
    return commit_object(root, bucket, key, temp, meta)


def _writable_path(key: str) -> tuple[tuple[bytes, ...], bytes]:
    """Split a validated key; refuse one the file system cannot hold."""
    path = split_key(key)
    if path is None:
        # validate_key is stricter than split_key; this only guards the tree.
        raise InvalidArgument("This key cannot be stored on this server.", ArgumentName="key")
    return path


def _commit_file(
    root: StoreRoot,
    bucket: str,
    key: str,
    dirs: tuple[bytes, ...],
    leaf: bytes,
    temp: TempFile,
    meta: ObjectMeta,
    precondition: Precondition | None = None,
) -> ObjectMeta:
    """Stamp the upload, write its sidecar and rename both into place (invariants 2, 3, 6)."""
    raw_key = key.encode("utf-8")
    with bucket_lock(root.locks_fd, bucket, exclusive=False):
        bfd = root.open_bucket(bucket)
        try:
            stored, sidecar = _stamp(root, temp, meta)
            _place_file(root, bucket, raw_key, bfd, dirs, leaf, temp, sidecar, precondition)
        except OSError as e:
            raise os_error(e) from e
        finally:
            os.close(bfd)
    temp.committed()
    return stored


def _stamp(root: StoreRoot, temp: TempFile, meta: ObjectMeta) -> tuple[ObjectMeta, bytes]:
    """Give the upload its Last-Modified stamp and make it durable; (stored meta, sidecar bytes)."""
    fd = temp.fd
    own_fd = fd < 0
    try:
        if own_fd:
            fd = os.open(temp.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root.tmp_fd)
        try:
            # The stamp identifies this version of the file (metadata.py).
            now_ns = time.time_ns()
            os.utime(fd, ns=(now_ns, now_ns))
            if root.fsync:
                os.fsync(fd)
            st = os.fstat(fd)
        finally:
            if own_fd:
                os.close(fd)
    except OSError as e:
        raise os_error(e) from e
    if st.st_size != temp.size:
        # Blocks reserved for a body that never came whole: never store the
        # zeros that fill the rest.
        raise InternalError("An upload's temp file does not hold the bytes written to it.")
    stored = dataclasses.replace(meta, size=st.st_size, last_modified=st.st_mtime_ns / 1e9)
    return stored, encode_sidecar(stored, mtime_ns=st.st_mtime_ns, ino=st.st_ino)


def _place_file(
    root: StoreRoot,
    bucket: str,
    raw_key: bytes,
    bfd: int,
    dirs: tuple[bytes, ...],
    leaf: bytes,
    temp: TempFile,
    sidecar: bytes,
    precondition: Precondition | None = None,
) -> None:
    """Rename the sidecar, then the data file, into place under the key's lock."""
    name = sidecar_name(leaf)

    def place(sidecar_temp: TempFile, data_fd: int, side_fd: int) -> None:
        """Clear the way; under the key's lock, rename the sidecar, then the data file."""
        in_the_way = _clear_way(root, bucket, raw_key, bfd, dirs, leaf, data_fd, side_fd)
        with key_lock(root.locks_fd, bucket, raw_key, exclusive=True):
            if precondition is not None:
                precondition(_current_etag(data_fd, side_fd, leaf, root.exact_mtime))
            # Kept to put back if the data rename fails: the old version
            # stays whole, metadata included.
            old_sidecar = sidecar_bytes(side_fd, name)
            _rename_in(root, sidecar_temp.name, side_fd, name)
            sidecar_temp.committed()
            try:
                # Sized before the lock: a concurrent writer may have replaced
                # it since, which only makes this a worse guess, never wrong.
                _rename_in(
                    root, temp.name, data_fd, leaf, set_aside_first=worth_setting_aside(in_the_way)
                )
            except BaseException:
                # Nothing old was in the way (invariant 3), yet the data
                # directory refused the rename (no permission, a full or
                # failing disk...).
                _put_back_sidecar(root, side_fd, name, old_sidecar)
                raise

    _with_key_dirs(root, bfd, dirs, sidecar, place)


#: Renames a sidecar temp file (and whatever goes with it) into the key's
#: directories, given as (data directory fd, sidecar directory fd).
_Placement = Callable[[TempFile, int, int], None]


def _with_key_dirs(
    root: StoreRoot, bfd: int, dirs: tuple[bytes, ...], sidecar: bytes, place: _Placement
) -> None:
    """Open (creating) the key's data and sidecar directories and ``place`` the sidecar there.

    A concurrent delete may remove an empty directory on the way
    (``ParentVanished``): then walk again, with a fresh sidecar temp file if
    ``place`` used the last one.  Every directory that changed is fsynced.
    """
    sidecar_temp: TempFile | None = None
    try:
        for _ in range(COMMIT_ATTEMPTS):
            if sidecar_temp is None or sidecar_temp.finished:
                sidecar_temp = write_small_temp(root, sidecar)
            try:
                with (
                    DirChain(bfd, dirs, root.open_beneath) as data_dirs,
                    DirChain(bfd, meta_dirs(dirs), root.open_beneath) as side_dirs,
                ):
                    place(sidecar_temp, data_dirs.fd, side_dirs.fd)
                    if root.fsync:
                        data_dirs.fsync_changed()
                        side_dirs.fsync_changed()
                    return
            except ParentVanished:
                continue
        raise InternalError("The key's directory kept disappearing under concurrent deletes.")
    finally:
        if sidecar_temp is not None:
            sidecar_temp.abort()  # a no-op once committed


def _put_back_sidecar(root: StoreRoot, dir_fd: int, name: bytes, old: bytes | None) -> None:
    """Undo a sidecar rename whose data rename failed: the old sidecar again, or none."""
    if old is not None:
        try:
            restored = write_small_temp(root, old)
        except S3Error:
            pass  # no room even for that: better no sidecar than a wrong one
        else:
            try:
                os.rename(restored.name, name, src_dir_fd=root.tmp_fd, dst_dir_fd=dir_fd)
            except OSError:
                restored.abort()
            else:
                restored.committed()
                return
    with contextlib.suppress(OSError):  # the rename's own error is the one to report
        _unlink_quietly(dir_fd, name)


def _current_etag(data_fd: int, meta_fd: int, leaf: bytes, exact_mtime: bool) -> str | None:
    """The ETag of the object now at ``leaf``, read without locks (the caller holds the key's)."""
    try:
        st = os.stat(leaf, dir_fd=data_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    sidecar, _ = read_sidecar(meta_fd, sidecar_name(leaf))
    if sidecar is not None and describes(sidecar, st, exact_mtime):
        return sidecar.meta.etag
    return synthesized_etag(st)


def _current_marker_etag(root: StoreRoot, bucket: str, key: str) -> str | None:
    try:
        return head_object(root, bucket, key).etag
    except NoSuchKey:
        return None


def _clear_way(
    root: StoreRoot,
    bucket: str,
    raw_key: bytes,
    bfd: int,
    dirs: tuple[bytes, ...],
    leaf: bytes,
    dfd: int,
    mfd: int,
) -> int:
    """Make sure the data file's name is free or a file: remove an empty leftover directory.

    Returns the size of the file the rename will replace (0 when none).
    """
    try:
        st = os.stat(leaf, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise os_error(e) from e
    if not stat.S_ISDIR(st.st_mode):
        # A file (the old version) or a stray symlink: the rename replaces it.
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    with key_lock(root.locks_fd, bucket, raw_key + b"/", exclusive=True):
        if _is_marker(bfd, (*dirs, leaf)):
            raise KeyConflict()  # the folder marker "key/" beside the object "key"
        try:
            os.rmdir(leaf, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return 0
            if e.errno in CONFLICT_ERRNOS:
                raise KeyConflict() from None  # a prefix holding other objects
            raise os_error(e) from e
        # Its sidecar directory goes too when it holds nothing.
        _rmdir_quietly(mfd, leaf)
    return 0


def _rename_in(
    root: StoreRoot, temp_name: str, dir_fd: int, name: bytes, *, set_aside_first: bool = False
) -> None:
    """Rename a temp file over ``name`` in ``dir_fd``.

    With ``set_aside_first`` (a big file in the way) the file it replaces is
    freed later, in the background; otherwise by the rename itself.
    """
    replaced = set_aside(root, dir_fd, name) if set_aside_first else None
    try:
        os.rename(temp_name, name, src_dir_fd=root.tmp_fd, dst_dir_fd=dir_fd)
    except OSError as e:
        release(root, replaced)
        if e.errno == errno.ENOENT:
            if _exists(root.tmp_fd, temp_name):
                raise ParentVanished() from None
            raise InternalError("An upload's temp file disappeared before its commit.") from e
        if e.errno in CONFLICT_ERRNOS:
            # The sidecar's name is a directory: "k" beside "k.json/...".
            raise KeyConflict() from None
        raise os_error(e) from e
    release(root, replaced)


def _commit_marker(
    root: StoreRoot, bucket: str, key: str, dirs: tuple[bytes, ...], meta: ObjectMeta
) -> ObjectMeta:
    """Store the folder marker ``key``: its directory and its sidecar."""
    raw_key = key.encode("utf-8")
    now_ns = time.time_ns()
    stored = dataclasses.replace(meta, size=0, last_modified=now_ns / 1e9)
    sidecar = encode_sidecar(stored, mtime_ns=now_ns, ino=0)

    def place(sidecar_temp: TempFile, data_fd: int, side_fd: int) -> None:
        """Under the key's lock, rename the sidecar into the marker's directory if still linked."""
        with key_lock(root.locks_fd, bucket, raw_key, exclusive=True):
            if os.fstat(data_fd).st_nlink == 0:
                # Removed as an empty directory after we opened it.
                raise ParentVanished()
            _rename_in(root, sidecar_temp.name, side_fd, SIDECAR_SUFFIX)
            sidecar_temp.committed()

    with bucket_lock(root.locks_fd, bucket, exclusive=False):
        bfd = root.open_bucket(bucket)
        try:
            _with_key_dirs(root, bfd, dirs, sidecar, place)
        except OSError as e:
            raise os_error(e) from e
        finally:
            os.close(bfd)
    return stored


# -- deleting -----------------------------------------------------------------


def delete_object(root: StoreRoot, bucket: str, key: str) -> None:
    """Delete an object or folder marker; a missing key is fine.  NoSuchBucket."""
    path = split_key(key)
    with bucket_lock(root.locks_fd, bucket, exclusive=False):
        bfd = root.open_bucket(bucket)
        try:
            if path is None:
                return  # no such key can exist
            _delete(root, bucket, key.encode("utf-8"), bfd, *path)
        except OSError as e:
            raise os_error(e) from e
        finally:
            os.close(bfd)


def _delete(
    root: StoreRoot, bucket: str, raw_key: bytes, bfd: int, dirs: tuple[bytes, ...], leaf: bytes
) -> None:
    """Unlink the data file and sidecar, then the directories this left empty (invariant 5)."""
    data_chain = open_chain(bfd, dirs)
    try:
        if len(data_chain) < len(dirs):
            return  # a directory on the way is missing: so is the object
        side_chain = open_chain(bfd, meta_dirs(dirs))
        try:
            dfd = data_chain[-1] if dirs else bfd
            mfd = side_chain[-1] if len(side_chain) == len(dirs) + 1 else -1
            with key_lock(root.locks_fd, bucket, raw_key, exclusive=True):
                if leaf and _unlink_file(dfd, leaf) and root.fsync:
                    os.fsync(dfd)
                if mfd >= 0 and _unlink_quietly(mfd, sidecar_name(leaf)) and root.fsync:
                    os.fsync(mfd)
            _remove_empty_dirs(root, bucket, bfd, dirs, data_chain, side_chain)
        finally:
            close_all(side_chain)
    finally:
        close_all(data_chain)


def _remove_empty_dirs(
    root: StoreRoot,
    bucket: str,
    bfd: int,
    dirs: tuple[bytes, ...],
    data_chain: list[int],
    side_chain: list[int],
) -> None:
    """Remove the now-empty directories of ``dirs``, deepest first, keeping folder markers."""
    for depth in range(len(dirs), 0, -1):
        name = dirs[depth - 1]
        parent = data_chain[depth - 2] if depth > 1 else bfd
        # side_chain[i] is .nanio-meta/<dirs[:i]>: the sidecars' parent is at depth - 1.
        side_parent = side_chain[depth - 1] if len(side_chain) >= depth else -1
        marker_key = b"/".join(dirs[:depth]) + b"/"
        with key_lock(root.locks_fd, bucket, marker_key, exclusive=True):
            if _is_marker(bfd, dirs[:depth]):
                return  # a folder marker is an object: its directory stays
            try:
                os.rmdir(name, dir_fd=parent)
            except FileNotFoundError:
                pass
            except OSError:
                return  # not empty (or not ours to remove): stop here
            if side_parent >= 0:
                _rmdir_quietly(side_parent, name)
        if root.fsync:
            os.fsync(parent)


# -- small helpers ------------------------------------------------------------


def _is_marker(bfd: int, dirs: tuple[bytes, ...]) -> bool:
    """Tell whether the directory ``dirs`` has a folder-marker sidecar (checked afresh)."""
    # Walked with O_NOFOLLOW like every read: a path lookup would go through
    # a symlinked sidecar directory, and a ".json" planted out there would
    # turn a prefix into a marker (kept on delete, a conflict on write).
    try:
        mfd = open_dirs(bfd, meta_dirs(dirs))
    except OSError:
        return False
    try:
        return has_marker_sidecar(mfd)
    finally:
        os.close(mfd)


def _unlink_file(dir_fd: int, name: bytes) -> bool:
    """Unlink ``name`` if it is a regular file (a directory or symlink is no object).

    Its blocks are freed here, not in the background: a client that deletes
    to make room may write again as soon as the delete is answered.
    """
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            return False
        os.unlink(name, dir_fd=dir_fd)
    except OSError as e:
        raise_unless_missing(e)
        return False
    return True


def _unlink_quietly(dir_fd: int, name: bytes) -> bool:
    """Unlink ``name`` if it is there and not a directory."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in MISSING_ERRNOS or e.errno in (errno.EISDIR, errno.EPERM):
            return False  # EPERM: Linux's answer to unlink() on a directory
        raise
    return True


def _rmdir_quietly(dir_fd: int, name: bytes) -> None:
    """Remove the directory ``name`` if it is empty."""
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=dir_fd)


def _exists(dir_fd: int, name: str) -> bool:
    """Tell whether ``name`` exists in ``dir_fd`` (without following a symlink)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
