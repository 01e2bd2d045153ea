"""
What a completed multipart upload answered, so that a retried Complete gets it again.

A client whose CompleteMultipartUpload was cut off (a timeout, a connection
dropped during a long join) sends it again.  S3 answers the retry as it
answered the first; nanio has removed the upload by then, and without a
record would answer NoSuchUpload, so the client would report a failed
upload for an object that is stored.  ``multipart.complete_upload`` leaves a
record behind, before it removes the upload::

    <root>/.nanio/completed/<upload-id>.<bucket>.json

It is the sidecar of the object made (``metadata.encode_sidecar``) plus the
bucket, the key and a digest of the part list the client sent.  A Complete
that finds no upload asks ``find``: the same bucket, key and part list get
the recorded metadata; anything else stays NoSuchUpload, as does everything
but Complete (UploadPart, ListParts, Abort).  ``forget_old`` removes records
after ``KEEP_SECONDS`` (the server's periodic sweep calls it), and
``forget_bucket`` those of a deleted bucket, so that a bucket made again
under its name answers no retry of the old one's uploads.

No Twisted imports here.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

from nanio.s3.model import ObjectMeta
from nanio.storage.atomic import write_small_temp
from nanio.storage.layout import DIR_FLAGS, StoreRoot, open_internal_dir, read_small_file
from nanio.storage.metadata import Sidecar, sidecar_fields, sidecar_from_fields

COMPLETED_DIR = "completed"
RECORD_SUFFIX = ".json"
#: How long a retried Complete still gets the first one's answer.  Clients
#: retry within seconds or minutes; a day also covers a person retrying.
KEEP_SECONDS = 24 * 3600.0
#: A record is a sidecar and a few names: far below this.
RECORD_LIMIT_BYTES = 64 * 1024


def parts_digest(parts: list[tuple[int, str]]) -> str:
    """A digest of a Complete's part list: numbers and ETags, quotes and case aside."""
    listed = "".join(f"{number}:{_bare(etag)}\n" for number, etag in parts)
    return hashlib.sha256(listed.encode("utf-8")).hexdigest()


def _bare(etag: str) -> str:
    # Clients echo a part's ETag with or without its quotes, in either case.
    return etag.strip('"').lower()


def _completed_dir(root: StoreRoot) -> int:
    """Open (creating if missing) ``.nanio/completed``; the caller closes it."""
    return open_internal_dir(root.fd, COMPLETED_DIR)


def record(
    root: StoreRoot, upload_id: str, bucket: str, key: str, digest: str, stored: ObjectMeta
) -> None:
    """Keep what completing ``upload_id`` made, for a retry of the same Complete."""
    doc = sidecar_fields(stored, mtime_ns=round(stored.last_modified * 1e9), ino=0)
    doc.update(bucket=bucket, key=key, parts_digest=digest)
    temp = write_small_temp(root, json.dumps(doc, separators=(",", ":")).encode("ascii"))
    try:
        completed_fd = _completed_dir(root)
        try:
            os.rename(
                temp.name,
                _record_name(upload_id, bucket),
                src_dir_fd=root.tmp_fd,
                dst_dir_fd=completed_fd,
            )
            temp.committed()
            if root.fsync:
                os.fsync(completed_fd)
        finally:
            os.close(completed_fd)
    finally:
        temp.abort()  # a no-op once committed


def find(root: StoreRoot, upload_id: str, bucket: str, key: str, digest: str) -> ObjectMeta | None:
    """What completing ``upload_id`` made, if a Complete of this bucket, key and part list did.

    ``upload_id`` must have been checked to be of nanio's form: it names a file.
    """
    completed_fd = _completed_dir(root)
    try:
        found = _read_record(completed_fd, _record_name(upload_id, bucket))
    finally:
        os.close(completed_fd)
    if found is None:
        return None
    doc, sidecar = found
    if (doc.get("bucket"), doc.get("key"), doc.get("parts_digest")) != (bucket, key, digest):
        return None
    return sidecar.meta


def forget_old(root: StoreRoot, *, older_than_seconds: float = KEEP_SECONDS) -> int:
    """Remove the records of uploads completed longer ago than that; return the count."""
    cutoff_ns = time.time_ns() - int(older_than_seconds * 1e9)
    return _forget(root, lambda entry: entry.stat(follow_symlinks=False).st_mtime_ns < cutoff_ns)


def forget_bucket(root: StoreRoot, bucket: str) -> int:
    """Remove the records of ``bucket``'s uploads (it was deleted); return the count."""

    # Named by the file name alone: an upload id has no dot, so the bucket
    # is everything between the first dot and the suffix.
    suffix = _record_name("", bucket)
    return _forget(root, lambda entry: entry.name.partition(".")[2] == suffix[1:])


def _record_name(upload_id: str, bucket: str) -> str:
    """The file of a record: upload id and bucket, so a bucket's records go by name."""
    return f"{upload_id}.{bucket}{RECORD_SUFFIX}"


def _read_record(completed_fd: int, name: str) -> tuple[dict[str, Any], Sidecar] | None:
    """A record's fields and the sidecar in it; None if missing or not one nanio wrote."""
    data = read_small_file(completed_fd, name, RECORD_LIMIT_BYTES)
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    sidecar = sidecar_from_fields(doc)
    return None if sidecar is None else (doc, sidecar)


def _forget(root: StoreRoot, chosen: Callable[[os.DirEntry[str]], bool]) -> int:
    """Remove the records ``chosen`` picks; return the count."""
    completed_fd = _completed_dir(root)
    removed = 0
    try:
        scan_fd = os.open(".", DIR_FLAGS, dir_fd=completed_fd)
        try:
            with os.scandir(scan_fd) as entries:
                for entry in entries:
                    try:
                        if not entry.is_file(follow_symlinks=False) or not chosen(entry):
                            continue
                        os.unlink(entry.name, dir_fd=completed_fd)
                    except FileNotFoundError:
                        continue  # another worker's sweep took it first
                    removed += 1
        finally:
            os.close(scan_fd)
    finally:
        os.close(completed_fd)
    return removed


__all__ = ["KEEP_SECONDS", "find", "forget_bucket", "forget_old", "parts_digest", "record"]
