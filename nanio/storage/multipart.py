"""
Multipart uploads: their directories, parts, listings, completion and GC.

::

    <root>/.nanio/multipart/<upload-id>/init.json          who, where, what metadata
    <root>/.nanio/multipart/<upload-id>/parts/000001.bin   a part's bytes, as uploaded
    <root>/.nanio/multipart/<upload-id>/parts/000001.json  its ETag, size, time, checksums
    <root>/.nanio/completed/<upload-id>.<bucket>.json      once completed: what it made

An upload id is 32 lower-case hex characters from ``secrets``: unguessable,
URL-safe, and checked against that form before it is used, so an id never
names any other path.

Invariants:
- ``init.json`` enters the upload directory by rename, complete, and is
  never rewritten; an upload exists exactly while its ``init.json`` does.
- Writers of an upload (``commit_part``, ``abort_upload``,
  ``complete_upload``) hold an exclusive ``flock`` on the descriptor of
  ``init.json``; readers of its parts (``list_parts``) hold it shared.  An
  upload is removed under that lock by unlinking ``init.json`` first, so
  whoever was waiting for the lock finds the descriptor it holds unlinked
  (``st_nlink == 0``) and answers ``NoSuchUpload``: a second Complete, or an
  Abort or UploadPart racing a Complete, never sees half an upload, and a
  Complete never joins parts that are being replaced.  A Complete that
  succeeds records what it made before it removes the upload, so a second
  Complete with the same part list answers as the first did (see
  ``completions``); a retry is not an error.  The directory is
  then renamed into ``.nanio/tmp`` as trash and removed outside the lock; a
  crash leaves trash for ``clean_temp`` or a directory without
  ``init.json`` for ``gc_abandoned_uploads``.
- A part's json records the inode and size of its ``.bin`` (renamed, so
  the inode survives from ``.nanio/tmp``); json first, then bytes, under
  the lock.  A pair that disagrees (a crash between the renames) is treated
  as a missing part.
- Lock order: an upload's lock, then (inside ``objects.commit_object``) a
  bucket lock shared and a key lock.  Nothing takes an upload lock while
  holding a bucket or key lock; ``create_upload`` holds only the bucket lock,
  and the uploads of a deleted bucket are removed after ``delete_bucket``
  has released it.
- Completing joins the parts in the kernel (``copy_file_range``, else
  ``sendfile``): part bytes never pass through Python memory.

No Twisted imports here.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nanio.errors import (
    EntityTooLarge,
    EntityTooSmall,
    InternalError,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    NoSuchUpload,
)
from nanio.s3.checksums import (
    ALGORITHMS,
    COMPOSITE,
    FULL_OBJECT,
    combine,
    decode_value,
    mismatch,
    new_checksum,
)
from nanio.s3.keys import validate_key
from nanio.s3.model import ObjectMeta
from nanio.storage import completions, objects
from nanio.storage.atomic import TRASH_SUFFIX, TempFile, create_temp, write_small_temp
from nanio.storage.layout import (
    DIR_FLAGS,
    DIR_MODE,
    FILE_READ_FLAGS,
    StoreRoot,
    close_all,
    new_temp_name,
    open_if_present,
    open_internal_dir,
    raise_unless_missing,
    read_small_file,
)
from nanio.storage.locks import bucket_lock

MULTIPART_DIR = "multipart"
PARTS_DIR = "parts"
INIT_NAME = "init.json"
PART_DATA_SUFFIX = ".bin"
PART_META_SUFFIX = ".json"
UPLOAD_FORMAT = 1
MIN_PART_NUMBER = 1
MAX_PART_NUMBER = 10_000
#: S3's minimum size of every part but the last.
MIN_PART_SIZE_BYTES = 5 * 1024 * 1024
#: S3's default (and maximum) page sizes for ListParts and ListMultipartUploads.
MAX_PARTS_PER_PAGE = 1000
MAX_UPLOADS_PER_PAGE = 1000
#: Uploads untouched this long are abandoned (SPEC: "older than 7 days").
ABANDONED_AFTER_SECONDS = 7 * 86400.0
#: init.json and part json are a few hundred bytes; larger files are not ours.
UPLOAD_JSON_LIMIT_BYTES = 64 * 1024
#: Bytes asked of the kernel per copy call when joining parts.
COPY_CHUNK_BYTES = 1 << 30

_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")
_PART_NAME_RE = re.compile(r"([0-9]{6})\.json")
#: copy_file_range refuses these pairs of files (old kernels, other file systems).
_NO_COPY_RANGE_ERRNOS = frozenset({errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP})


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """A multipart upload in progress, as CreateMultipartUpload recorded it."""

    upload_id: str
    bucket: str
    key: str
    #: Seconds since the epoch.
    initiated: float
    owner: str | None
    #: content_type, headers, user_metadata and, when the client asked for a
    #: checksum algorithm, checksums ``{algorithm: ""}``; etag "" and size 0.
    meta: ObjectMeta
    #: Inode of the bucket's directory when the upload began (None: not
    #: recorded): tells the bucket apart from one of the same name created
    #: after it was deleted.
    bucket_ino: int | None = None
    #: How the object's checksum is made from the parts' (checksums.COMPOSITE
    #: or FULL_OBJECT); None without a checksum algorithm.
    checksum_type: str | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One uploaded part."""

    part_number: int
    #: Hex MD5 of the part's bytes, no quotes.
    etag: str
    size: int
    #: Seconds since the epoch.
    last_modified: float
    checksums: dict[str, str]


@dataclass(frozen=True, slots=True)
class UploadsPage:
    """One page of ListMultipartUploads, in (key bytes, initiated, id) order."""

    uploads: list[UploadInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None = None
    next_upload_id_marker: str | None = None


# -- small helpers --------------------------------------------------------------


def valid_upload_id(upload_id: str) -> bool:
    """Tell whether ``upload_id`` has the form of an id nanio makes."""
    return _UPLOAD_ID_RE.fullmatch(upload_id) is not None


def _no_such_upload(upload_id: str) -> NoSuchUpload:
    """A ``NoSuchUpload`` naming the id when it is one of ours."""
    return NoSuchUpload(UploadId=upload_id) if valid_upload_id(upload_id) else NoSuchUpload()


def _uploads_dir(root: StoreRoot) -> int:
    """Open (creating if missing) ``.nanio/multipart``; the caller closes it."""
    return open_internal_dir(root.fd, MULTIPART_DIR)


def _part_stem(part_number: int) -> str:
    """The file name of a part without its suffix: ``000001``."""
    return f"{part_number:06d}"


def _dumps(doc: dict[str, Any]) -> bytes:
    """JSON bytes readable with ``cat`` when the values are proper text."""
    try:
        return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8; JSON escapes carry it intact.
        return (json.dumps(doc, separators=(",", ":")) + "\n").encode("ascii")


def _read_json(dir_fd: int, name: str) -> dict[str, Any] | None:
    """The JSON object in file ``name``; None if missing, not a file or not JSON."""
    data = read_small_file(dir_fd, name, UPLOAD_JSON_LIMIT_BYTES)
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return doc if type(doc) is dict else None


def _text_map(value: object) -> dict[str, str]:
    """``value`` if it is a str-to-str mapping, else {}."""
    if type(value) is not dict:
        return {}
    return {k: v for k, v in value.items() if type(k) is str and type(v) is str}


def _upload_from(upload_id: str, doc: dict[str, Any] | None) -> UploadInfo | None:
    """Decode an ``init.json``; None if it is not one nanio wrote."""
    if doc is None:
        return None
    bucket, key, initiated = doc.get("bucket"), doc.get("key"), doc.get("initiated")
    owner, content_type = doc.get("owner"), doc.get("content_type")
    algorithm = doc.get("checksum_algorithm")
    if (
        type(bucket) is not str
        or type(key) is not str
        or type(initiated) not in (int, float)
        or not isinstance(initiated, int | float)
        or not (owner is None or type(owner) is str)
        or not (content_type is None or type(content_type) is str)
        or not (algorithm is None or algorithm in ALGORITHMS)
    ):
        return None
    meta = ObjectMeta(
        etag="",
        size=0,
        last_modified=float(initiated),
        content_type=content_type,
        headers=_text_map(doc.get("headers")),
        user_metadata=_text_map(doc.get("user_metadata")),
        checksums={algorithm: ""} if algorithm else {},
    )
    bucket_ino = doc.get("bucket_ino")
    if type(bucket_ino) is not int:
        bucket_ino = None
    checksum_type = doc.get("checksum_type")
    if algorithm is None or checksum_type not in (COMPOSITE, FULL_OBJECT):
        # Uploads begun before nanio knew FULL_OBJECT were all COMPOSITE.
        checksum_type = COMPOSITE if algorithm else None
    return UploadInfo(
        upload_id, bucket, key, float(initiated), owner, meta, bucket_ino, checksum_type
    )


# -- the lock on one upload -----------------------------------------------------


class _LockedUpload:
    """An upload's directory, open and locked through its ``init.json``."""

    __slots__ = ("dir_fd", "info", "init_fd", "uploads_fd")

    def __init__(self, uploads_fd: int, dir_fd: int, init_fd: int, info: UploadInfo) -> None:
        self.uploads_fd = uploads_fd
        self.dir_fd = dir_fd
        self.init_fd = init_fd
        self.info = info

    def close(self) -> None:
        """Release the lock and every descriptor."""
        for fd in (self.init_fd, self.dir_fd, self.uploads_fd):
            os.close(fd)

    def remove(self, root: StoreRoot) -> None:
        """Make the upload vanish (init.json first), still holding the lock."""
        os.unlink(INIT_NAME, dir_fd=self.dir_fd)
        trash = new_temp_name(TRASH_SUFFIX)
        try:
            os.rename(
                self.info.upload_id, trash, src_dir_fd=self.uploads_fd, dst_dir_fd=root.tmp_fd
            )
        except OSError:
            # Left for gc_abandoned_uploads: without init.json it is no upload.
            return
        if root.fsync:
            os.fsync(self.uploads_fd)
        shutil.rmtree(trash, ignore_errors=True, dir_fd=root.tmp_fd)


def _open_locked(root: StoreRoot, upload_id: str, *, exclusive: bool) -> tuple[int, int, int]:
    """Open an upload and flock its ``init.json``: (uploads fd, dir fd, init fd); NoSuchUpload."""
    uploads_fd = _uploads_dir(root)
    fds = [uploads_fd]
    try:
        dir_fd = open_if_present(uploads_fd, upload_id, DIR_FLAGS)
        if dir_fd is None:
            raise _no_such_upload(upload_id)
        fds.append(dir_fd)
        init_fd = open_if_present(dir_fd, INIT_NAME, FILE_READ_FLAGS)
        if init_fd is None:
            raise _no_such_upload(upload_id)
        fds.append(init_fd)
        fcntl.flock(init_fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if os.fstat(init_fd).st_nlink == 0:
            raise _no_such_upload(upload_id)  # removed while we waited for the lock
    except BaseException:
        close_all(fds[::-1])
        raise
    return uploads_fd, dir_fd, init_fd


def _lock_upload(
    root: StoreRoot, bucket: str, key: str, upload_id: str, *, exclusive: bool
) -> _LockedUpload:
    """Open and lock an upload of ``bucket``/``key``: NoSuchBucket, NoSuchUpload."""
    os.close(root.open_bucket(bucket))
    if not valid_upload_id(upload_id):
        raise _no_such_upload(upload_id)
    uploads_fd, dir_fd, init_fd = _open_locked(root, upload_id, exclusive=exclusive)
    try:
        info = _upload_from(upload_id, _read_json(dir_fd, INIT_NAME))
        if info is None or info.bucket != bucket or info.key != key:
            raise _no_such_upload(upload_id)
    except BaseException:
        close_all((init_fd, dir_fd, uploads_fd))
        raise
    return _LockedUpload(uploads_fd, dir_fd, init_fd, info)


# -- create, info, abort ----------------------------------------------------------


def create_upload(
    root: StoreRoot,
    bucket: str,
    key: str,
    meta: ObjectMeta,
    owner: str | None,
    checksum_type: str | None = None,
) -> str:
    """Start an upload of ``key``: NoSuchBucket, InvalidArgument; return its id.

    ``checksum_type`` is COMPOSITE or FULL_OBJECT when ``meta.checksums``
    names an algorithm (``checksums.upload_checksum_type`` chooses it).
    """
    validate_key(key)
    algorithm = next(iter(meta.checksums), None)
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise InvalidArgument(
            "Checksum algorithm is not supported.", ArgumentName="x-amz-checksum-algorithm"
        )
    upload_id = secrets.token_hex(16)
    doc: dict[str, Any] = {
        "format": UPLOAD_FORMAT,
        "bucket": bucket,
        "key": key,
        "initiated": time.time(),
        "owner": owner,
        "content_type": meta.content_type,
        "headers": meta.headers,
        "user_metadata": meta.user_metadata,
        "checksum_algorithm": algorithm,
        "checksum_type": checksum_type,
    }
    # Held shared so a concurrent delete_bucket either sees this upload when
    # it sweeps the bucket's uploads, or happened first (NoSuchBucket).
    with bucket_lock(root.locks_fd, bucket, exclusive=False):
        bfd = root.open_bucket(bucket)
        try:
            doc["bucket_ino"] = os.fstat(bfd).st_ino
        finally:
            os.close(bfd)
        init_temp = write_small_temp(root, _dumps(doc))
        try:
            uploads_fd = _uploads_dir(root)
            try:
                os.mkdir(upload_id, DIR_MODE, dir_fd=uploads_fd)
                dir_fd = os.open(upload_id, DIR_FLAGS, dir_fd=uploads_fd)
                try:
                    os.mkdir(PARTS_DIR, DIR_MODE, dir_fd=dir_fd)
                    os.rename(init_temp.name, INIT_NAME, src_dir_fd=root.tmp_fd, dst_dir_fd=dir_fd)
                    init_temp.committed()
                    if root.fsync:
                        os.fsync(dir_fd)
                        os.fsync(uploads_fd)
                finally:
                    os.close(dir_fd)
            finally:
                os.close(uploads_fd)
        finally:
            init_temp.abort()  # a no-op once committed
    return upload_id


def upload_info(root: StoreRoot, bucket: str, key: str, upload_id: str) -> UploadInfo:
    """The upload ``upload_id`` of ``bucket``/``key``: NoSuchBucket, NoSuchUpload."""
    os.close(root.open_bucket(bucket))
    if not valid_upload_id(upload_id):
        raise _no_such_upload(upload_id)
    uploads_fd = _uploads_dir(root)
    try:
        dir_fd = open_if_present(uploads_fd, upload_id, DIR_FLAGS)
        if dir_fd is None:
            raise _no_such_upload(upload_id)
        try:
            info = _upload_from(upload_id, _read_json(dir_fd, INIT_NAME))
        finally:
            os.close(dir_fd)
    finally:
        os.close(uploads_fd)
    if info is None or info.bucket != bucket or info.key != key:
        raise _no_such_upload(upload_id)
    return info


def abort_upload(root: StoreRoot, bucket: str, key: str, upload_id: str) -> None:
    """Remove an upload and all its parts: NoSuchBucket, NoSuchUpload."""
    locked = _lock_upload(root, bucket, key, upload_id, exclusive=True)
    try:
        locked.remove(root)
    finally:
        locked.close()


# -- parts ----------------------------------------------------------------------


def _check_part_number(part_number: int) -> None:
    """Refuse a part number outside 1..10000."""
    if not MIN_PART_NUMBER <= part_number <= MAX_PART_NUMBER:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=str(part_number),
        )


def commit_part(
    root: StoreRoot,
    bucket: str,
    key: str,
    upload_id: str,
    part_number: int,
    temp: TempFile,
    etag: str,
    checksums: dict[str, str],
) -> PartInfo:
    """Move a finished part into its upload, replacing any part of that number."""
    meta_temp: TempFile | None = None
    try:
        if temp.finished:
            raise InternalError("The upload was already committed or aborted.")
        _check_part_number(part_number)
        locked = _lock_upload(root, bucket, key, upload_id, exclusive=True)
        try:
            st = _finish_temp(root, temp)
            part = PartInfo(part_number, etag, st.st_size, st.st_mtime_ns / 1e9, dict(checksums))
            doc = {
                "format": UPLOAD_FORMAT,
                "part_number": part_number,
                "etag": etag,
                "size": st.st_size,
                "last_modified": part.last_modified,
                "checksums": part.checksums,
                "ino": st.st_ino,
            }
            meta_temp = write_small_temp(root, _dumps(doc))
            parts_fd = os.open(PARTS_DIR, DIR_FLAGS, dir_fd=locked.dir_fd)
            try:
                stem = _part_stem(part_number)
                os.rename(
                    meta_temp.name,
                    stem + PART_META_SUFFIX,
                    src_dir_fd=root.tmp_fd,
                    dst_dir_fd=parts_fd,
                )
                meta_temp.committed()
                os.rename(
                    temp.name, stem + PART_DATA_SUFFIX, src_dir_fd=root.tmp_fd, dst_dir_fd=parts_fd
                )
                temp.committed()
                if root.fsync:
                    os.fsync(parts_fd)
            finally:
                os.close(parts_fd)
        finally:
            locked.close()
        return part
    except BaseException:
        temp.abort()
        if meta_temp is not None:
            meta_temp.abort()  # a no-op once committed
        raise


def _finish_temp(root: StoreRoot, temp: TempFile) -> os.stat_result:
    """Fsync an upload's temp file if the store is durable; return its stat."""
    fd = temp.fd
    own_fd = fd < 0
    if own_fd:
        fd = os.open(temp.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root.tmp_fd)
    try:
        if root.fsync:
            os.fsync(fd)
        return os.fstat(fd)
    finally:
        if own_fd:
            os.close(fd)


def _read_part(parts_fd: int, part_number: int) -> PartInfo | None:
    """A part whose json and bytes agree; None if missing or torn by a crash."""
    stem = _part_stem(part_number)
    doc = _read_json(parts_fd, stem + PART_META_SUFFIX)
    if doc is None:
        return None
    etag, size, modified = doc.get("etag"), doc.get("size"), doc.get("last_modified")
    ino = doc.get("ino")
    if (
        type(etag) is not str
        or type(size) is not int
        or type(modified) not in (int, float)
        or not isinstance(modified, int | float)
        or type(ino) is not int
    ):
        return None
    try:
        st = os.stat(stem + PART_DATA_SUFFIX, dir_fd=parts_fd, follow_symlinks=False)
    except OSError as e:
        raise_unless_missing(e)
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size != size or st.st_ino != ino:
        return None
    return PartInfo(part_number, etag, size, float(modified), _text_map(doc.get("checksums")))


def _part_numbers(parts_fd: int) -> list[int]:
    """The numbers of the parts in ``parts_fd``, ascending."""
    scan_fd = os.open(".", DIR_FLAGS, dir_fd=parts_fd)
    try:
        with os.scandir(scan_fd) as entries:
            found = [_PART_NAME_RE.fullmatch(entry.name) for entry in entries]
    finally:
        os.close(scan_fd)
    return sorted(int(m.group(1)) for m in found if m is not None)


def list_parts(
    root: StoreRoot,
    bucket: str,
    key: str,
    upload_id: str,
    *,
    part_number_marker: int = 0,
    max_parts: int = MAX_PARTS_PER_PAGE,
) -> tuple[list[PartInfo], bool]:
    """The parts numbered above the marker, in order: (page, is_truncated)."""
    locked = _lock_upload(root, bucket, key, upload_id, exclusive=False)
    try:
        parts_fd = os.open(PARTS_DIR, DIR_FLAGS, dir_fd=locked.dir_fd)
        try:
            page: list[PartInfo] = []
            for number in _part_numbers(parts_fd):
                if number <= part_number_marker:
                    continue
                part = _read_part(parts_fd, number)
                if part is None:
                    continue
                if len(page) >= max_parts:
                    return page, True
                page.append(part)
            return page, False
        finally:
            os.close(parts_fd)
    finally:
        locked.close()


# -- complete -------------------------------------------------------------------


def complete_upload(
    root: StoreRoot,
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[tuple[int, str]],
    *,
    min_part_size: int = MIN_PART_SIZE_BYTES,
    precondition: objects.Precondition | None = None,
    max_size: int | None = None,
    sent_checksums: Mapping[str, str] | None = None,
) -> ObjectMeta:
    """Join the listed parts into the object ``key`` and end the upload; return its metadata.

    Before anything is copied: EntityTooLarge when the parts add up to more
    than ``max_size`` bytes (None: no limit), and BadDigest when
    ``sent_checksums`` (the object checksums the client sent, by algorithm)
    holds one of the upload's algorithm that its parts do not make.
    """
    if not parts:
        raise MalformedXML()
    previous = 0
    for number, _etag in parts:
        if number <= previous:
            raise InvalidPartOrder()
        previous = number
    digest = completions.parts_digest(parts)
    try:
        locked = _lock_upload(root, bucket, key, upload_id, exclusive=True)
    except NoSuchUpload:
        # Gone: completed already, perhaps (a retry, or a Complete that
        # waited for the lock), and then it gets that Complete's answer.
        # Only an id of nanio's form names a record file.
        if not valid_upload_id(upload_id):
            raise
        done = completions.find(root, upload_id, bucket, key, digest)
        if done is None:
            raise
        return done
    try:
        parts_fd = os.open(PARTS_DIR, DIR_FLAGS, dir_fd=locked.dir_fd)
        try:
            chosen = _chosen_parts(parts_fd, parts, min_part_size)
            total = sum(part.size for part in chosen)
            if max_size is not None and total > max_size:
                raise EntityTooLarge(ProposedSize=str(total), MaxSizeAllowed=str(max_size))
            checksums = _object_checksums(locked.info, chosen)
            _check_sent(checksums, sent_checksums or {})
            temp = create_temp(root)
            try:
                _join(parts_fd, chosen, temp)
            except BaseException:
                temp.abort()
                raise
        finally:
            os.close(parts_fd)
        info = locked.info
        md5s = b"".join(bytes.fromhex(part.etag) for part in chosen)
        meta = ObjectMeta(
            etag=f"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(chosen)}",
            size=temp.size,
            last_modified=0.0,
            content_type=info.meta.content_type,
            headers=info.meta.headers,
            user_metadata=info.meta.user_metadata,
            checksums=checksums,
            parts=tuple(part.size for part in chosen),
        )
        stored = objects.commit_object(root, bucket, key, temp, meta, precondition)
        completions.record(root, upload_id, bucket, key, digest, stored)
        locked.remove(root)
        return stored
    finally:
        locked.close()


def _chosen_parts(
    parts_fd: int, wanted: list[tuple[int, str]], min_part_size: int
) -> list[PartInfo]:
    """The stored parts the client listed: InvalidPart, EntityTooSmall."""
    chosen: list[PartInfo] = []
    last = len(wanted) - 1
    for index, (number, etag) in enumerate(wanted):
        in_range = MIN_PART_NUMBER <= number <= MAX_PART_NUMBER
        part = _read_part(parts_fd, number) if in_range else None
        # Clients echo the ETag with or without its quotes.
        if part is None or part.etag.lower() != etag.strip('"').lower():
            raise InvalidPart(PartNumber=str(number), ETag=etag)
        if index < last and part.size < min_part_size:
            raise EntityTooSmall(
                ProposedSize=str(part.size),
                MinSizeAllowed=str(min_part_size),
                PartNumber=str(number),
                ETag=etag,
            )
        chosen.append(part)
    return chosen


def _join(parts_fd: int, chosen: list[PartInfo], temp: TempFile) -> None:
    """Append the parts' bytes to ``temp`` in the kernel, never through Python memory."""
    offset = 0
    for part in chosen:
        name = _part_stem(part.part_number) + PART_DATA_SUFFIX
        fd = os.open(name, FILE_READ_FLAGS, dir_fd=parts_fd)
        try:
            _copy(fd, temp.fd, part.size, offset)
        finally:
            os.close(fd)
        offset += part.size
    temp.size = offset


def _copy(src_fd: int, dst_fd: int, count: int, dst_offset: int) -> None:
    """Copy ``count`` bytes from the start of ``src_fd`` to ``dst_offset`` in ``dst_fd``."""
    done = 0
    use_range = hasattr(os, "copy_file_range")
    while done < count:
        want = min(count - done, COPY_CHUNK_BYTES)
        if use_range:
            try:
                n = os.copy_file_range(src_fd, dst_fd, want, done, dst_offset + done)
            except OSError as e:
                if e.errno not in _NO_COPY_RANGE_ERRNOS:
                    raise
                use_range = False
                continue
        else:
            # sendfile writes at the destination's file offset.
            os.lseek(dst_fd, dst_offset + done, os.SEEK_SET)
            n = os.sendfile(dst_fd, src_fd, done, want)
        if n == 0:
            raise InternalError("A part was shorter than recorded.")
        done += n


def _object_checksums(info: UploadInfo, chosen: list[PartInfo]) -> dict[str, str]:
    """The object's checksum, made from its parts' as the upload's type says; {} if one lacks it.

    COMPOSITE: the checksum of the parts' checksums, "-N" appended.
    FULL_OBJECT: the parts' CRCs combined into the whole object's CRC.
    """
    algorithm = next(iter(info.meta.checksums), None)
    if algorithm is None:
        return {}
    digests = []
    for part in chosen:
        raw = decode_value(algorithm, part.checksums.get(algorithm, ""))
        if raw is None:
            return {}
        digests.append(raw)
    if info.checksum_type == FULL_OBJECT:
        whole = digests[0]
        for part, raw in zip(chosen[1:], digests[1:], strict=True):
            whole = combine(algorithm, whole, raw, part.size)
        return {algorithm: base64.b64encode(whole).decode("ascii")}
    hasher = new_checksum(algorithm)
    for raw in digests:
        hasher.update(raw)
    return {algorithm: f"{hasher.b64digest()}-{len(chosen)}"}


def _check_sent(checksums: Mapping[str, str], sent: Mapping[str, str]) -> None:
    """BadDigest if the client sent the object's checksum and the parts make another."""
    for algorithm, ours in checksums.items():
        theirs = sent.get(algorithm)
        # A composite value may come with or without its "-N".
        if theirs is not None and theirs.strip().partition("-")[0] != ours.partition("-")[0]:
            raise mismatch(algorithm)


# -- listing uploads --------------------------------------------------------------


def _upload_ids(uploads_fd: int) -> list[str]:
    """The names in ``.nanio/multipart`` that have the form of an upload id."""
    scan_fd = os.open(".", DIR_FLAGS, dir_fd=uploads_fd)
    try:
        with os.scandir(scan_fd) as entries:
            return [entry.name for entry in entries if valid_upload_id(entry.name)]
    finally:
        os.close(scan_fd)


def _all_uploads(root: StoreRoot) -> list[UploadInfo]:
    """Every readable upload in the store."""
    uploads_fd = _uploads_dir(root)
    try:
        found: list[UploadInfo] = []
        for name in _upload_ids(uploads_fd):
            dir_fd = open_if_present(uploads_fd, name, DIR_FLAGS)
            if dir_fd is None:
                continue  # completed or aborted meanwhile
            try:
                info = _upload_from(name, _read_json(dir_fd, INIT_NAME))
            finally:
                os.close(dir_fd)
            if info is not None:
                found.append(info)
        return found
    finally:
        os.close(uploads_fd)


def _order(info: UploadInfo) -> tuple[bytes, float, str]:
    """S3's order of uploads: key bytes, then initiation, then id."""
    return info.key.encode("utf-8", "surrogatepass"), info.initiated, info.upload_id


def list_uploads(
    root: StoreRoot,
    bucket: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    key_marker: str = "",
    upload_id_marker: str = "",
    max_uploads: int = MAX_UPLOADS_PER_PAGE,
) -> UploadsPage:
    """One page of a bucket's uploads and common prefixes: NoSuchBucket."""
    os.close(root.open_bucket(bucket))
    uploads = sorted(
        (u for u in _all_uploads(root) if u.bucket == bucket and u.key.startswith(prefix)),
        key=_order,
    )
    raw_marker = key_marker.encode("utf-8", "surrogatepass")
    # With an id marker, the marker's own key continues after that upload
    # (S3: "uploads for key-marker with an id after upload-id-marker").
    after_in_marker_key: tuple[float, str] | None = None
    if key_marker and upload_id_marker:
        for u in uploads:
            if u.key == key_marker and u.upload_id == upload_id_marker:
                after_in_marker_key = (u.initiated, u.upload_id)
                break
    items: list[UploadInfo | str] = []
    seen_prefixes: set[str] = set()
    truncated = False
    for u in uploads:
        raw_key = u.key.encode("utf-8", "surrogatepass")
        item: UploadInfo | str = u
        if delimiter:
            cut = u.key.find(delimiter, len(prefix))
            if cut >= 0:
                item = u.key[: cut + len(delimiter)]
        if isinstance(item, str):
            if item in seen_prefixes or item.encode("utf-8", "surrogatepass") <= raw_marker:
                continue
            seen_prefixes.add(item)
        elif key_marker:
            if raw_key < raw_marker:
                continue
            if raw_key == raw_marker:
                if not upload_id_marker:
                    continue
                if after_in_marker_key is not None:
                    if (u.initiated, u.upload_id) <= after_in_marker_key:
                        continue
                elif u.upload_id <= upload_id_marker:
                    continue
        if len(items) >= max_uploads:
            truncated = True
            break
        items.append(item)
    page_uploads = [i for i in items if isinstance(i, UploadInfo)]
    prefixes = [i for i in items if isinstance(i, str)]
    if not truncated or not items:
        return UploadsPage(page_uploads, prefixes, truncated)
    last = items[-1]
    if isinstance(last, str):
        return UploadsPage(page_uploads, prefixes, True, last, None)
    return UploadsPage(page_uploads, prefixes, True, last.key, last.upload_id)


# -- removal ----------------------------------------------------------------------


def remove_bucket_uploads(root: StoreRoot, bucket: str, bucket_ino: int | None = None) -> int:
    """Abort every upload of ``bucket`` (after it was deleted); return how many went.

    With ``bucket_ino`` (the deleted directory's inode, not yet freed), the
    uploads of a bucket of the same name created since are left alone.
    """
    removed = 0
    for info in _all_uploads(root):
        if info.bucket != bucket:
            continue
        if bucket_ino is not None and info.bucket_ino not in (None, bucket_ino):
            continue
        with contextlib.suppress(NoSuchUpload):
            _remove_unchecked(root, info)
            removed += 1
    return removed


def _remove_unchecked(root: StoreRoot, info: UploadInfo) -> None:
    """Abort an upload without asking for its bucket (which may be gone)."""
    locked = _LockedUpload(*_open_locked(root, info.upload_id, exclusive=True), info)
    try:
        locked.remove(root)
    finally:
        locked.close()


def gc_abandoned(root: StoreRoot, *, older_than_seconds: float = ABANDONED_AFTER_SECONDS) -> int:
    """Remove uploads neither started nor given a part within the limit; return the count."""
    cutoff_ns = time.time_ns() - int(older_than_seconds * 1e9)
    uploads_fd = _uploads_dir(root)
    removed = 0
    try:
        for name in _upload_ids(uploads_fd):
            if _collect(root, uploads_fd, name, cutoff_ns):
                removed += 1
    finally:
        os.close(uploads_fd)
    return removed


def _newest_ns(dir_fd: int) -> int:
    """The newest mtime among the upload directory, its parts directory and its parts."""
    newest = os.fstat(dir_fd).st_mtime_ns
    parts_fd = open_if_present(dir_fd, PARTS_DIR, DIR_FLAGS)
    if parts_fd is None:
        return newest
    try:
        newest = max(newest, os.fstat(parts_fd).st_mtime_ns)
        with os.scandir(parts_fd) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
    finally:
        os.close(parts_fd)
    return newest


def _collect(root: StoreRoot, uploads_fd: int, name: str, cutoff_ns: int) -> bool:
    """Remove one upload directory if it is abandoned and nobody holds its lock."""
    dir_fd = open_if_present(uploads_fd, name, DIR_FLAGS)
    if dir_fd is None:
        return False
    init_fd: int | None = None
    try:
        init_fd = open_if_present(dir_fd, INIT_NAME, FILE_READ_FLAGS)
        if init_fd is not None:
            try:
                fcntl.flock(init_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False  # a part or a Complete is being committed right now
                raise
            st = os.fstat(init_fd)
            if st.st_nlink == 0:
                return False
            newest = max(st.st_mtime_ns, _newest_ns(dir_fd))
        else:
            # A directory being created, or left by a crash mid-removal.
            newest = _newest_ns(dir_fd)
        if newest > cutoff_ns:
            return False
        if init_fd is not None:
            os.unlink(INIT_NAME, dir_fd=dir_fd)
        trash = new_temp_name(TRASH_SUFFIX)
        try:
            os.rename(name, trash, src_dir_fd=uploads_fd, dst_dir_fd=root.tmp_fd)
        except OSError as e:
            raise_unless_missing(e)
            return False
    finally:
        if init_fd is not None:
            os.close(init_fd)
        os.close(dir_fd)
    shutil.rmtree(trash, ignore_errors=True, dir_fd=root.tmp_fd)
    return True


__all__ = [
    "PartInfo",
    "UploadInfo",
    "UploadsPage",
    "abort_upload",
    "commit_part",
    "complete_upload",
    "create_upload",
    "gc_abandoned",
    "list_parts",
    "list_uploads",
    "remove_bucket_uploads",
    "upload_info",
    "valid_upload_id",
]
