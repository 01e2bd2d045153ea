"""Buckets on disk: create, list, inspect and delete, with their records."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nanio.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    InternalError,
    InvalidBucketName,
    NoSuchBucket,
    S3Error,
)
from nanio.s3.model import ObjectMeta
from nanio.storage import Store

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store without fsync in a fresh directory."""
    with Store(tmp_path / "data", fsync=False) as s:
        yield s


def _meta() -> ObjectMeta:
    return ObjectMeta(etag=EMPTY_MD5, size=0, last_modified=0.0)


def test_create_makes_directory_sidecar_tree_and_record(store: Store) -> None:
    """CreateBucket makes the bucket directory, its .nanio-meta and its record."""
    store.create_bucket("photos", "AKIAOWNER")
    root = Path(store.root)
    record = json.loads((root / ".nanio" / "buckets" / "photos.json").read_text())
    assert (root / "photos").is_dir()
    assert (root / "photos" / ".nanio-meta").is_dir()
    assert record["owner"] == "AKIAOWNER"
    assert isinstance(record["created"], float)


def test_bucket_info_reports_owner_and_creation_time(store: Store) -> None:
    """bucket_info answers the owner and creation time from the record."""
    store.create_bucket("photos", "AKIAOWNER")
    info = store.bucket_info("photos")
    record = json.loads((Path(store.root) / ".nanio/buckets/photos.json").read_text())
    assert (info.name, info.owner, info.created) == ("photos", "AKIAOWNER", record["created"])


def test_shared_bucket_has_no_owner(store: Store) -> None:
    """A bucket created with owner None is shared: its record says null."""
    store.create_bucket("shared", None)
    assert store.bucket_info("shared").owner is None


def test_list_buckets_sorted_by_name(store: Store) -> None:
    """ListBuckets answers every bucket sorted by name."""
    for name in ("zeta", "alpha", "mid-1"):
        store.create_bucket(name, None)
    assert [b.name for b in store.list_buckets()] == ["alpha", "mid-1", "zeta"]


def test_list_buckets_skips_what_is_not_a_bucket(store: Store, tmp_path: Path) -> None:
    """Files, symlinks, invalid names and nanio's own area are not buckets."""
    root = Path(store.root)
    store.create_bucket("real", None)
    (root / "file-not-dir").write_text("x")
    (root / "Invalid_Name").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "linked").symlink_to(outside)
    assert [b.name for b in store.list_buckets()] == ["real"]


def test_hand_made_bucket_is_shared_and_dated_by_mtime(store: Store) -> None:
    """A bucket directory made by hand is listed with no owner and its mtime."""
    path = Path(store.root) / "byhand"
    path.mkdir()
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    info = store.bucket_info("byhand")
    assert (info.owner, info.created) == (None, 1_700_000_000.0)


def test_bucket_info_missing_is_no_such_bucket(store: Store) -> None:
    """bucket_info of a name with no directory raises NoSuchBucket."""
    with pytest.raises(NoSuchBucket):
        store.bucket_info("nothere")


def test_bucket_info_symlinked_bucket_is_no_such_bucket(store: Store, tmp_path: Path) -> None:
    """A symlink at the top of the data directory is never a bucket."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (Path(store.root) / "linked").symlink_to(outside)
    with pytest.raises(NoSuchBucket):
        store.bucket_info("linked")


def test_internal_area_is_never_a_bucket(store: Store) -> None:
    """nanio's own .nanio directory cannot be reached as a bucket."""
    with pytest.raises(NoSuchBucket):
        store.bucket_info(".nanio")


def test_create_invalid_name_is_refused(store: Store) -> None:
    """CreateBucket with a name S3 refuses raises InvalidBucketName."""
    with pytest.raises(InvalidBucketName):
        store.create_bucket("Not_Valid", None)


@pytest.mark.parametrize(
    ("owner", "creator", "error"),
    [
        pytest.param("AKIAONE", "AKIAONE", BucketAlreadyOwnedByYou, id="by-its-owner"),
        pytest.param("AKIAONE", "AKIATWO", BucketAlreadyExists, id="over-another-users"),
        # A shared bucket counts as everyone's.
        pytest.param(None, "AKIATWO", BucketAlreadyOwnedByYou, id="over-a-shared-one"),
        # A single-user store (owner None) owns every bucket it finds.
        pytest.param(
            "AKIAONE", None, BucketAlreadyOwnedByYou, id="without-owner-over-an-owned-one"
        ),
    ],
)
def test_create_again_says_whose_bucket_it_is(
    store: Store, owner: str | None, creator: str | None, error: type[S3Error]
) -> None:
    """Creating an existing bucket is BucketAlreadyOwnedByYou unless another user owns it."""
    store.create_bucket("taken", owner)
    with pytest.raises(error):
        store.create_bucket("taken", creator)


def test_create_over_stray_file_already_exists(store: Store) -> None:
    """A file at the root holding the name makes the name unavailable."""
    (Path(store.root) / "taken").write_text("x")
    with pytest.raises(BucketAlreadyExists):
        store.create_bucket("taken", None)


def test_delete_removes_directory_and_record(store: Store) -> None:
    """DeleteBucket removes the directory and its record, leaving no trash."""
    store.create_bucket("gone", "AKIAONE")
    store.delete_bucket("gone")
    root = Path(store.root)
    assert not (root / "gone").exists()
    assert not (root / ".nanio/buckets/gone.json").exists()
    assert list((root / ".nanio/tmp").iterdir()) == []


def test_delete_then_bucket_info_is_no_such_bucket(store: Store) -> None:
    """A deleted bucket is gone for bucket_info."""
    store.create_bucket("gone", None)
    store.delete_bucket("gone")
    with pytest.raises(NoSuchBucket):
        store.bucket_info("gone")


def test_delete_missing_is_no_such_bucket(store: Store) -> None:
    """DeleteBucket of a missing bucket raises NoSuchBucket."""
    with pytest.raises(NoSuchBucket):
        store.delete_bucket("nothere")


def test_delete_with_object_is_not_empty(store: Store) -> None:
    """DeleteBucket refuses a bucket that holds an object, and keeps it."""
    store.create_bucket("full", None)
    store.put_object_bytes("full", "deep/in/side.txt", b"x", _meta())
    with pytest.raises(BucketNotEmpty):
        store.delete_bucket("full")
    assert store.head_object("full", "deep/in/side.txt").size == 1


def test_delete_with_folder_marker_is_not_empty(store: Store) -> None:
    """A folder marker alone is an object: the bucket is not empty."""
    store.create_bucket("marked", None)
    store.put_object_bytes("marked", "folder/", b"", _meta())
    with pytest.raises(BucketNotEmpty):
        store.delete_bucket("marked")


def test_delete_with_hand_dropped_file_is_not_empty(store: Store) -> None:
    """A file dropped in by hand, even with an unlistable name, keeps the bucket."""
    store.create_bucket("hand", None)
    with open(os.path.join(os.fsencode(store.root), b"hand", b"bad\xffname"), "wb") as f:
        f.write(b"x")
    with pytest.raises(BucketNotEmpty):
        store.delete_bucket("hand")


def test_delete_ignores_empty_dirs_and_stale_sidecars(store: Store) -> None:
    """Leftover empty directories and sidecars without data do not block DeleteBucket."""
    store.create_bucket("leftovers", None)
    bucket = Path(store.root) / "leftovers"
    (bucket / "a" / "b").mkdir(parents=True)
    (bucket / ".nanio-meta" / "a").mkdir()
    (bucket / ".nanio-meta" / "a" / "gone.json").write_text("{}")
    store.delete_bucket("leftovers")
    assert not bucket.exists()


def test_recreated_bucket_has_new_owner(store: Store) -> None:
    """After delete and re-create, bucket_info answers the new owner, not a cached one."""
    store.create_bucket("again", "AKIAONE")
    assert store.bucket_info("again").owner == "AKIAONE"
    store.delete_bucket("again")
    store.create_bucket("again", "AKIATWO")
    assert store.bucket_info("again").owner == "AKIATWO"


def test_damaged_record_is_internal_error(store: Store) -> None:
    """A record that is not valid JSON is an InternalError, never a shared bucket."""
    store.create_bucket("damaged", "AKIAONE")
    (Path(store.root) / ".nanio/buckets/damaged.json").write_text("{not json")
    with pytest.raises(InternalError):
        store.bucket_info("damaged")


def test_damaged_record_is_left_out_of_list(store: Store) -> None:
    """ListBuckets leaves out a bucket whose record cannot be read."""
    store.create_bucket("damaged", "AKIAONE")
    store.create_bucket("fine", "AKIAONE")
    (Path(store.root) / ".nanio/buckets/damaged.json").write_text('{"owner": 5}')
    assert [b.name for b in store.list_buckets()] == ["fine"]
