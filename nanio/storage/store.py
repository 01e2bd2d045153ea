"""
``Store``: the storage layer's one public face, a bucket-and-object store on
a plain POSIX directory tree.

The web layer codes against this class only; each method hands over to the
module that owns the concern (``buckets``, ``objects``, ``listing``,
``atomic``, ``multipart``).  Every method is synchronous and thread-safe: the instance holds
only descriptors of its fixed directories and a cache of bucket records, so
it serves the reactor thread, worker threads and unit tests alike, and any
number of processes may share one data directory.

Errors are ``nanio.errors.S3Error`` subclasses.  The modules map the
``OSError``s they expect where they happen; each method here maps whatever
is left (``faults.os_error``), so no ``OSError`` ever reaches the caller.

No Twisted imports here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial

from nanio.s3.model import BucketInfo, ListPage, ObjectMeta
from nanio.storage import atomic, completions, listing, multipart, objects
from nanio.storage.atomic import TEMP_MIN_AGE_SECONDS, TempFile
from nanio.storage.buckets import Buckets
from nanio.storage.faults import os_error
from nanio.storage.layout import Background, ClosesOnExit, StoreRoot
from nanio.storage.multipart import PartInfo, UploadInfo, UploadsPage
from nanio.storage.objects import OpenObject


class Store(ClosesOnExit):
    """Buckets and objects in a data directory (see SPEC.md, "Storage layout")."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fsync: bool = True,
        background: Background | None = None,
    ) -> None:
        """Open (creating) the store at ``root``.

        ``background`` runs clean-up that nobody waits for (freeing the
        blocks of replaced files; a delete frees its file before it returns)
        in another thread, e.g. a thread pool's ``callInThread``; without it
        that work runs at once.
        """
        #: Absolute path of the data directory.
        self.root = os.path.abspath(os.fspath(root))
        #: Whether writes are fsynced before they are acknowledged.
        self.fsync = fsync
        self._root = StoreRoot(self.root, fsync=fsync, background=background)
        self._buckets = Buckets(self._root)

    def close(self) -> None:
        """Release the store's directory descriptors (idempotent)."""
        self._root.close()

    # -- buckets

    def list_buckets(self) -> list[BucketInfo]:
        """Every bucket, sorted by name."""
        try:
            return self._buckets.list_buckets()
        except OSError as e:
            raise os_error(e) from e

    def bucket_info(self, bucket: str) -> BucketInfo:
        """A bucket's creation time and owner: NoSuchBucket."""
        try:
            return self._buckets.bucket_info(bucket)
        except OSError as e:
            raise os_error(e) from e

    def create_bucket(self, bucket: str, owner: str | None) -> None:
        """Create a bucket: InvalidBucketName, BucketAlreadyOwnedByYou, BucketAlreadyExists."""
        try:
            self._buckets.create_bucket(bucket, owner)
        except OSError as e:
            raise os_error(e) from e

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket (and its multipart uploads): NoSuchBucket, BucketNotEmpty."""
        root = self._root
        try:
            self._buckets.delete_bucket(bucket, then=partial(_forget_uploads, root, bucket))
        except OSError as e:
            raise os_error(e) from e

    # -- objects

    def open_object(self, bucket: str, key: str) -> OpenObject:
        """Open an object for reading (the caller closes it): NoSuchBucket, NoSuchKey."""
        try:
            return objects.open_object(self._root, bucket, key)
        except OSError as e:
            raise os_error(e) from e

    def head_object(self, bucket: str, key: str) -> ObjectMeta:
        """An object's metadata: NoSuchBucket, NoSuchKey."""
        try:
            return objects.head_object(self._root, bucket, key)
        except OSError as e:
            raise os_error(e) from e

    def create_temp(self) -> TempFile:
        """A new temp file to stream an upload into, for ``commit_object``."""
        try:
            return atomic.create_temp(self._root)
        except OSError as e:
            raise os_error(e) from e

    def commit_object(
        self,
        bucket: str,
        key: str,
        temp: TempFile,
        meta: ObjectMeta,
        precondition: objects.Precondition | None = None,
    ) -> ObjectMeta:
        """Atomically put a finished upload in place; return the metadata as stored.

        ``precondition`` gets the ETag the write would replace (None if none)
        under the key's lock and may raise to refuse it (conditional writes).
        """
        try:
            return objects.commit_object(self._root, bucket, key, temp, meta, precondition)
        except OSError as e:
            raise os_error(e) from e

    def put_object_bytes(self, bucket: str, key: str, data: bytes, meta: ObjectMeta) -> ObjectMeta:
        """Store ``data`` as ``key`` (a key ending in "/" is a folder marker)."""
        try:
            return objects.put_object_bytes(self._root, bucket, key, data, meta)
        except OSError as e:
            raise os_error(e) from e

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object or folder marker; a missing key is fine.  NoSuchBucket."""
        try:
            objects.delete_object(self._root, bucket, key)
        except OSError as e:
            raise os_error(e) from e

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ListPage:
        """One page of keys and common prefixes in S3 order: NoSuchBucket."""
        try:
            return listing.list_objects(
                self._root,
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                start_after=start_after,
                max_keys=max_keys,
            )
        except OSError as e:
            raise os_error(e) from e

    def clean_temp(self, *, min_age_seconds: float = TEMP_MIN_AGE_SECONDS) -> int:
        """Remove what crashes leave (unused temp files, trash, stray bucket records); count them.

        ``min_age_seconds`` only concerns files nanio did not name (see ``atomic``).
        """
        try:
            removed = atomic.clean_temp(self._root, min_age_seconds=min_age_seconds)
            return removed + self._buckets.remove_stray_records()
        except OSError as e:
            raise os_error(e) from e

    # -- multipart uploads

    def create_multipart_upload(
        self,
        bucket: str,
        key: str,
        meta: ObjectMeta,
        owner: str | None,
        checksum_type: str | None = None,
    ) -> str:
        """Start a multipart upload and return its id: NoSuchBucket, InvalidArgument.

        ``checksum_type``: how the object's checksum is made from the parts'
        (COMPOSITE or FULL_OBJECT, when ``meta.checksums`` names an algorithm).
        """
        try:
            return multipart.create_upload(self._root, bucket, key, meta, owner, checksum_type)
        except OSError as e:
            raise os_error(e) from e

    def upload_info(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        """An upload of this bucket and key: NoSuchBucket, NoSuchUpload."""
        try:
            return multipart.upload_info(self._root, bucket, key, upload_id)
        except OSError as e:
            raise os_error(e) from e

    def commit_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        temp: TempFile,
        etag: str,
        checksums: dict[str, str],
    ) -> PartInfo:
        """Store (or replace) one part from a finished temp file: InvalidArgument, NoSuchUpload."""
        try:
            return multipart.commit_part(
                self._root, bucket, key, upload_id, part_number, temp, etag, checksums
            )
        except OSError as e:
            temp.abort()
            raise os_error(e) from e

    def list_parts(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> tuple[list[PartInfo], bool]:
        """The parts above the marker, ascending: (page, is_truncated).  NoSuchUpload."""
        try:
            return multipart.list_parts(
                self._root,
                bucket,
                key,
                upload_id,
                part_number_marker=part_number_marker,
                max_parts=max_parts,
            )
        except OSError as e:
            raise os_error(e) from e

    def list_multipart_uploads(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadsPage:
        """One page of the bucket's uploads in progress: NoSuchBucket."""
        try:
            return multipart.list_uploads(
                self._root,
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                upload_id_marker=upload_id_marker,
                max_uploads=max_uploads,
            )
        except OSError as e:
            raise os_error(e) from e

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Remove an upload and its parts: NoSuchBucket, NoSuchUpload."""
        try:
            multipart.abort_upload(self._root, bucket, key, upload_id)
        except OSError as e:
            raise os_error(e) from e

    def complete_multipart_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[tuple[int, str]],
        *,
        min_part_size: int = multipart.MIN_PART_SIZE_BYTES,
        precondition: objects.Precondition | None = None,
        max_size: int | None = None,
        sent_checksums: Mapping[str, str] | None = None,
    ) -> ObjectMeta:
        """Join the listed parts into the object and end the upload; return its metadata.

        MalformedXML (no parts), InvalidPartOrder, InvalidPart, EntityTooSmall,
        EntityTooLarge (the parts add up to more than ``max_size``), BadDigest
        (``sent_checksums``, by algorithm, holds an object checksum the parts
        do not make),
        NoSuchUpload.  A Complete repeated after it succeeded (a client's
        retry) returns the first one's metadata again, for a day; with
        another part list it is NoSuchUpload.
        """
        try:
            return multipart.complete_upload(
                self._root,
                bucket,
                key,
                upload_id,
                parts,
                min_part_size=min_part_size,
                precondition=precondition,
                max_size=max_size,
                sent_checksums=sent_checksums,
            )
        except OSError as e:
            raise os_error(e) from e

    def forget_completed_uploads(
        self, *, older_than_seconds: float = completions.KEEP_SECONDS
    ) -> int:
        """Drop what uploads completed before the limit answered (retries of them: NoSuchUpload)."""
        try:
            return completions.forget_old(self._root, older_than_seconds=older_than_seconds)
        except OSError as e:
            raise os_error(e) from e

    def gc_abandoned_uploads(
        self, *, older_than_seconds: float = multipart.ABANDONED_AFTER_SECONDS
    ) -> int:
        """Remove uploads idle (no initiation, no part) past the limit; return the count."""
        try:
            return multipart.gc_abandoned(self._root, older_than_seconds=older_than_seconds)
        except OSError as e:
            raise os_error(e) from e


def _forget_uploads(root: StoreRoot, bucket: str, bucket_ino: int) -> None:
    """What goes with a deleted bucket: its uploads in progress, and completed ones' answers."""
    # S3 deletes a bucket whose only contents are uploads in progress, and
    # those uploads go with it.  Done after the bucket lock is released (lock
    # order: multipart.py), by the inode of the deleted directory: a bucket
    # of the same name created meanwhile keeps its own uploads.
    multipart.remove_bucket_uploads(root, bucket, bucket_ino)
    completions.forget_bucket(root, bucket)
