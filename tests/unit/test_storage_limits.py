"""
The store against planted symlinks and over-large joins.

A symlink where a key needs a directory is refused with a message that says
so; a symlinked sidecar directory never turns a prefix into a folder marker;
CompleteMultipartUpload refuses, before copying anything, parts that add up
to more than the object size cap.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nanio.errors import EntityTooLarge, KeyConflict
from nanio.s3.model import ObjectMeta
from nanio.storage import Store
from tests.support.storage import bucket_path

META = ObjectMeta(etag="", size=0, last_modified=0.0)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the store holding a file named like a marker's sidecar."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / ".json").write_text("{}")
    return directory


def test_symlinked_directory_on_the_way_is_a_conflict_that_says_so(
    store: Store, outside: Path
) -> None:
    """Writing 'd/x' where 'd' is a symlink is KeyConflict naming the symbolic link."""
    (bucket_path(store) / "d").symlink_to(outside)
    with pytest.raises(KeyConflict) as caught:
        store.put_object_bytes("bkt", "d/x", b"x", META)
    assert "symbolic link" in caught.value.message
    assert sorted(p.name for p in outside.iterdir()) == [".json"]


def test_a_file_on_the_way_is_a_conflict_about_the_key(store: Store) -> None:
    """Writing 'a/b' where 'a' is an object is KeyConflict about the two keys, not a symlink."""
    store.put_object_bytes("bkt", "a", b"a", META)
    with pytest.raises(KeyConflict) as caught:
        store.put_object_bytes("bkt", "a/b", b"b", META)
    assert "symbolic link" not in caught.value.message


def test_symlinked_sidecar_directory_does_not_make_a_marker(store: Store, outside: Path) -> None:
    """A '.json' behind a symlinked sidecar directory does not keep 'd' alive as a marker."""
    store.put_object_bytes("bkt", "d/x", b"x", META)
    side = bucket_path(store) / ".nanio-meta" / "d"
    (side / "x.json").unlink()
    side.rmdir()
    side.symlink_to(outside)
    store.delete_object("bkt", "d/x")
    assert not (bucket_path(store) / "d").exists()
    assert (outside / ".json").read_text() == "{}"


def put_part(store: Store, upload_id: str, number: int, data: bytes) -> dict[str, object]:
    etag = hashlib.md5(data).hexdigest()
    temp = store.create_temp()
    temp.write(data)
    store.commit_part("bkt", "big", upload_id, number, temp, etag, {})
    return {"number": number, "etag": etag}


@pytest.fixture
def two_parts(store: Store) -> tuple[str, list[tuple[int, str]]]:
    """An upload of 'big' with parts of 3 and 4 bytes: (upload id, parts for Complete)."""
    upload_id = store.create_multipart_upload("bkt", "big", META, None)
    parts = [put_part(store, upload_id, 1, b"abc"), put_part(store, upload_id, 2, b"defg")]
    return upload_id, [(int(p["number"]), str(p["etag"])) for p in parts]  # type: ignore[call-overload]


def test_complete_over_the_size_cap_is_entity_too_large(
    store: Store, two_parts: tuple[str, list[tuple[int, str]]]
) -> None:
    """Parts adding up to 7 bytes under a 6-byte cap: EntityTooLarge, and the upload stays."""
    upload_id, parts = two_parts
    with pytest.raises(EntityTooLarge) as caught:
        store.complete_multipart_upload("bkt", "big", upload_id, parts, min_part_size=1, max_size=6)
    assert caught.value.fields == {"ProposedSize": "7", "MaxSizeAllowed": "6"}
    assert [p.part_number for p in store.list_parts("bkt", "big", upload_id)[0]] == [1, 2]
    assert not (bucket_path(store) / "big").exists()


def test_complete_at_the_size_cap_is_stored(
    store: Store, two_parts: tuple[str, list[tuple[int, str]]]
) -> None:
    """Parts adding up to exactly the cap are joined."""
    upload_id, parts = two_parts
    meta = store.complete_multipart_upload(
        "bkt", "big", upload_id, parts, min_part_size=1, max_size=7
    )
    assert meta.size == 7
    assert (bucket_path(store) / "big").read_bytes() == b"abcdefg"
