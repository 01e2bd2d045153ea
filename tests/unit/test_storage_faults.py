"""
The store under crashes, failing renames and racing bucket changes.

Temp files are locked from birth, so a sweep removes a dead one at once and
never a live one; a commit whose data rename fails leaves the old version
whole, metadata included; a bucket being deleted never looks shared; a
record left by a crash is swept; and the uploads of a bucket created again
survive the deletion of the bucket that had its name before.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from nanio.errors import InternalError, NoSuchBucket, NoSuchUpload
from nanio.s3.model import ObjectMeta
from nanio.storage import Store, multipart

#: The data rename of a commit: from a random ``<hex>.tmp`` in .nanio/tmp.
_UPLOAD_SUFFIX = ".tmp"


def tmp_dir(store: Store) -> Path:
    """The store's temp directory."""
    return Path(store.root) / ".nanio" / "tmp"


def meta_for(data: bytes, colour: str) -> ObjectMeta:
    """Metadata as the web layer builds it, with a user metadata value to recognise."""
    return ObjectMeta(
        etag=hashlib.md5(data).hexdigest(),
        size=len(data),
        last_modified=0.0,
        content_type="text/plain",
        user_metadata={"colour": colour},
    )


def put(store: Store, key: str, data: bytes, colour: str = "blue") -> None:
    """Store ``data`` as ``key`` in "bkt" through a temp file."""
    temp = store.create_temp()
    temp.write(data)
    store.commit_object("bkt", key, temp, meta_for(data, colour))


def read(store: Store, key: str) -> tuple[bytes, str, dict[str, str]]:
    """The bytes, ETag and user metadata of ``key`` in "bkt"."""
    with store.open_object("bkt", key) as opened:
        data = os.pread(opened.fd, opened.meta.size + 1, 0)
        return data, opened.meta.etag, dict(opened.meta.user_metadata)


# -- temp files: a lock proves them alive ------------------------------------------


def test_sweep_removes_an_unlocked_upload_temp_however_young(store: Store) -> None:
    """An upload temp file nobody holds is removed at once, with the default minimum age."""
    temp = store.create_temp()
    temp.write(b"half an upload")
    temp.close()  # its writer died: the lock went with it
    assert (store.clean_temp(), os.path.exists(temp.path)) == (1, False)


def test_sweep_removes_an_unlocked_small_temp_however_young(store: Store) -> None:
    """A sidecar temp file left by a crash mid-commit is removed at once."""
    stray = tmp_dir(store) / ("ab" * 16 + ".new")
    stray.write_bytes(b'{"etag": "..."}')
    assert (store.clean_temp(), stray.exists()) == (1, False)


def test_sweep_keeps_a_small_temp_being_committed(store: Store, monkeypatch: Any) -> None:
    """A sidecar temp file still held by its commit survives a sweep run in the middle of it."""
    from nanio.storage import objects

    real_rename_in = objects._rename_in
    survived: list[bool] = []

    def sweep_then_rename(
        root: Any, temp_name: str, dir_fd: int, name: bytes, **options: bool
    ) -> None:
        if temp_name.endswith(".new"):
            store.clean_temp()
            survived.append((tmp_dir(store) / temp_name).exists())
        real_rename_in(root, temp_name, dir_fd, name, **options)

    monkeypatch.setattr(objects, "_rename_in", sweep_then_rename)
    put(store, "k", b"committed while swept")
    assert (survived, read(store, "k")[0]) == ([True], b"committed while swept")


def test_sweep_keeps_files_nanio_did_not_name_while_they_are_young(store: Store) -> None:
    """A recent file of an unknown name is left for a minute: nothing says who writes it."""
    stray = tmp_dir(store) / "operator-copy.part"
    stray.write_bytes(b"x")
    assert (store.clean_temp(), stray.exists()) == (0, True)


def test_create_temp_starts_again_when_a_sweep_takes_its_new_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep that removes a temp file between its creation and its lock costs a new name only."""
    real_flock = fcntl.flock
    swept: list[int] = []

    def flock_after_a_sweep(fd: int, operation: int) -> None:
        if not swept and operation == fcntl.LOCK_EX:
            # Another process sweeps right now: the new file is not locked yet.
            swept.append(store.clean_temp())
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a_sweep)
    temp = store.create_temp()
    try:
        temp.write(b"alive")
        assert (swept, os.path.exists(temp.path)) == ([1], True)
    finally:
        temp.abort()


def test_abort_leaves_nothing_in_the_temp_directory(store: Store) -> None:
    """An aborted upload removes its temp file."""
    temp = store.create_temp()
    temp.write(b"aborted")
    temp.abort()
    assert list(tmp_dir(store).iterdir()) == []


# -- a data rename that fails -------------------------------------------------------


def refuse_data_renames(monkeypatch: pytest.MonkeyPatch, code: int = errno.EACCES) -> None:
    """Make every rename of an upload's bytes into a bucket fail with ``code``."""
    real_rename = os.rename

    def rename(src: Any, dst: Any, **kwargs: Any) -> None:
        if isinstance(src, str) and src.endswith(_UPLOAD_SUFFIX):
            raise OSError(code, os.strerror(code))
        real_rename(src, dst, **kwargs)

    monkeypatch.setattr(os, "rename", rename)


def test_failed_data_rename_keeps_the_old_version_with_its_metadata(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the bucket directory refuses the data rename, the old bytes keep their own metadata."""
    put(store, "k", b"old bytes", colour="blue")
    before = read(store, "k")
    refuse_data_renames(monkeypatch)
    with pytest.raises(InternalError):
        put(store, "k", b"new bytes", colour="red")
    assert read(store, "k") == before


def test_failed_data_rename_of_a_new_key_leaves_no_sidecar(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new key whose data rename fails leaves neither object nor sidecar."""
    refuse_data_renames(monkeypatch, errno.ENOSPC)
    with pytest.raises(Exception, match="storage"):
        put(store, "fresh", b"never stored")
    sidecar = Path(store.root) / "bkt" / ".nanio-meta" / "fresh.json"
    assert (sidecar.exists(), list(tmp_dir(store).iterdir())) == (False, [])


def test_failed_data_rename_leaves_no_temp_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a refused data rename, neither the bytes' nor any sidecar's temp file remains."""
    put(store, "k", b"old bytes")
    refuse_data_renames(monkeypatch)
    with pytest.raises(InternalError):
        put(store, "k", b"new bytes")
    assert list(tmp_dir(store).iterdir()) == []


# -- buckets: never half there -------------------------------------------------------


def test_bucket_being_deleted_never_looks_shared(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private bucket deleted between the look at its directory and at its record is gone."""
    store.create_bucket("private", "alice")
    buckets: Any = store._buckets
    real_read_record = buckets._read_record

    def deleted_meanwhile(bucket: str) -> Any:
        store.delete_bucket(bucket)  # directory away first, then the record
        monkeypatch.setattr(buckets, "_read_record", real_read_record)
        return real_read_record(bucket)

    monkeypatch.setattr(buckets, "_read_record", deleted_meanwhile)
    with pytest.raises(NoSuchBucket):
        store.bucket_info("private")


def test_hand_made_directory_is_still_a_shared_bucket(store: Store) -> None:
    """A directory with no record, made by hand, is a shared bucket."""
    (Path(store.root) / "byhand").mkdir()
    assert store.bucket_info("byhand").owner is None


def test_sweep_removes_a_record_whose_directory_is_gone(store: Store) -> None:
    """A record left by a crash between its two steps goes at the next sweep."""
    store.create_bucket("real", "alice")
    records = Path(store.root) / ".nanio" / "buckets"
    (records / "ghost.json").write_text(json.dumps({"owner": "alice", "created": 1.0}))
    assert store.clean_temp() == 1
    assert sorted(path.name for path in records.iterdir()) == ["bkt.json", "real.json"]


def test_bucket_created_again_keeps_its_uploads_when_the_old_one_goes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads begun in a new bucket of the same name survive the old bucket's upload sweep."""
    store.create_bucket("again", "alice")
    meta = ObjectMeta(etag="", size=0, last_modified=0.0)
    old_upload = store.create_multipart_upload("again", "k", meta, "alice")
    real_remove = multipart.remove_bucket_uploads
    new_upload: list[str] = []

    def recreated_first(root: Any, bucket: str, bucket_ino: int | None = None) -> int:
        # Another client, between the deletion and its upload sweep.
        store.create_bucket("again", "alice")
        new_upload.append(store.create_multipart_upload("again", "k", meta, "alice"))
        return real_remove(root, bucket, bucket_ino)

    monkeypatch.setattr(multipart, "remove_bucket_uploads", recreated_first)
    store.delete_bucket("again")
    assert store.upload_info("again", "k", new_upload[0]).upload_id == new_upload[0]
    with pytest.raises(NoSuchUpload):
        store.upload_info("again", "k", old_upload)
