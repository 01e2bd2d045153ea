"""Objects on disk: put, open, head, delete, folder markers, conflicts, symlinks, temps."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nanio.errors import (
    InsufficientStorage,
    InternalError,
    InvalidArgument,
    KeyConflict,
    KeyTooLongError,
    NoSuchBucket,
    NoSuchKey,
    ServiceUnavailable,
)
from nanio.s3.model import ObjectMeta
from nanio.storage import Store
from nanio.storage.faults import os_error
from nanio.storage.layout import StoreRoot
from tests.support.procs import open_descriptors
from tests.support.storage import bucket_path, read_object

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.fixture(params=["openat2", "walk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The shared store, reading through openat2 where it can; and by the walk alone."""
    with Store(tmp_path / "data", fsync=False) as s:
        root = s._root
        if request.param == "walk":
            root.open_beneath = None
        elif root.open_beneath is None:
            pytest.skip("this kernel (or its seccomp filter) refuses openat2")
        s.create_bucket("bkt", None)
        yield s


def meta_for(data: bytes, **fields: object) -> ObjectMeta:
    """Metadata as the web layer would build it for ``data``."""
    return ObjectMeta(
        etag=hashlib.md5(data).hexdigest(),
        size=len(data),
        last_modified=0.0,
        **fields,  # type: ignore[arg-type]
    )


def put(store: Store, key: str, data: bytes = b"data", **fields: object) -> ObjectMeta:
    """Store ``data`` as ``key`` in "bkt"."""
    return store.put_object_bytes("bkt", key, data, meta_for(data, **fields))


# -- round trips


def test_put_then_open_returns_the_bytes(store: Store) -> None:
    """An object reads back exactly as uploaded."""
    put(store, "dir/sub/file.bin", b"\x00\x01hello")
    assert read_object(store, "dir/sub/file.bin") == b"\x00\x01hello"


def test_metadata_round_trip(store: Store) -> None:
    """Content type, stored headers, user metadata and checksums come back unchanged."""
    put(
        store,
        "doc.txt",
        b"text",
        content_type="text/plain; charset=utf-8",
        headers={"cache-control": "no-cache", "content-disposition": "inline"},
        user_metadata={"colour": "blau", "note": "ünïcödé"},
        checksums={"crc32": "AAAAAA=="},
    )
    meta = store.head_object("bkt", "doc.txt")
    assert (meta.etag, meta.size, meta.content_type) == (
        hashlib.md5(b"text").hexdigest(),
        4,
        "text/plain; charset=utf-8",
    )
    assert meta.headers == {"cache-control": "no-cache", "content-disposition": "inline"}
    assert meta.user_metadata == {"colour": "blau", "note": "ünïcödé"}
    assert meta.checksums == {"crc32": "AAAAAA=="}


def test_commit_sets_last_modified_to_file_mtime(store: Store) -> None:
    """The store sets Last-Modified: the data file's mtime, not the caller's value."""
    stored = put(store, "k", b"abc")
    mtime_ns = (bucket_path(store) / "k").stat().st_mtime_ns
    assert stored.last_modified == mtime_ns / 1e9 != 0.0


def test_head_equals_open_meta(store: Store) -> None:
    """HeadObject answers the same metadata as GetObject."""
    put(store, "k", b"abc", content_type="x/y")
    with store.open_object("bkt", "k") as opened:
        assert store.head_object("bkt", "k") == opened.meta


def test_sidecar_is_json_at_the_layout_path(store: Store) -> None:
    """The sidecar of a/b.txt is .nanio-meta/a/b.txt.json, readable JSON."""
    put(store, "a/b.txt", b"abc", content_type="text/plain")
    doc = json.loads((bucket_path(store) / ".nanio-meta/a/b.txt.json").read_text())
    assert (doc["etag"], doc["size"], doc["content_type"]) == (
        hashlib.md5(b"abc").hexdigest(),
        3,
        "text/plain",
    )


def test_overwrite_replaces_bytes_and_metadata(store: Store) -> None:
    """A second PUT replaces the bytes and the metadata together."""
    put(store, "k", b"old", content_type="text/old")
    put(store, "k", b"newer", content_type="text/new")
    assert read_object(store, "k") == b"newer"
    assert store.head_object("bkt", "k").content_type == "text/new"


def test_unicode_and_long_keys_are_stored(store: Store) -> None:
    """Keys with spaces, non-ASCII text and 250-byte segments are stored and read."""
    keys = ["a b/c+d&e", "ключ/файл.txt", "emoji/\U0001f600", "x" * 250 + "/" + "y" * 250]
    for key in keys:
        put(store, key, key.encode())
    assert [read_object(store, key) for key in keys] == [key.encode() for key in keys]


@pytest.mark.parametrize(
    ("stored", "lookup", "key"),
    [
        pytest.param(None, Store.open_object, "nothere", id="missing-key"),
        pytest.param(None, Store.open_object, "no/such/dir/key", id="missing-directories"),
        # The .nanio-meta tree cannot be read as objects.
        pytest.param("k", Store.open_object, ".nanio-meta/k.json", id="sidecar-tree"),
        # A directory without a marker sidecar is only a prefix.
        pytest.param("d/inner", Store.head_object, "d/", id="plain-directory-as-marker"),
        pytest.param("d/inner", Store.head_object, "d", id="directory-name"),
    ],
)
def test_what_is_not_an_object_is_no_such_key(
    store: Store, stored: str | None, lookup: Callable[[Store, str, str], object], key: str
) -> None:
    """A missing key, the sidecar tree or a bare directory answers NoSuchKey."""
    if stored is not None:
        put(store, stored)
    with pytest.raises(NoSuchKey):
        lookup(store, "bkt", key)


def test_open_in_missing_bucket_is_no_such_bucket(store: Store) -> None:
    """GetObject in a missing bucket raises NoSuchBucket."""
    with pytest.raises(NoSuchBucket):
        store.open_object("nobucket", "k")


def test_open_object_close_is_idempotent(store: Store) -> None:
    """OpenObject.close may be called twice."""
    put(store, "k")
    opened = store.open_object("bkt", "k")
    opened.close()
    opened.close()
    assert opened.fd == -1


def test_put_in_missing_bucket_is_no_such_bucket_and_leaves_no_temp(store: Store) -> None:
    """PutObject into a missing bucket raises NoSuchBucket and leaves no temp file."""
    with pytest.raises(NoSuchBucket):
        store.put_object_bytes("nobucket", "k", b"x", meta_for(b"x"))
    assert list((Path(store.root) / ".nanio/tmp").iterdir()) == []


def test_put_into_hand_made_bucket_creates_sidecar_tree(store: Store) -> None:
    """A bucket directory made by hand gets its .nanio-meta on the first PutObject."""
    (Path(store.root) / "byhand").mkdir()
    store.put_object_bytes("byhand", "k", b"x", meta_for(b"x", content_type="x/y"))
    assert store.head_object("byhand", "k").content_type == "x/y"
    assert (Path(store.root) / "byhand/.nanio-meta/k.json").is_file()


def test_put_invalid_key_is_refused(store: Store) -> None:
    """A key that cannot be a path (a '..' segment) is refused with InvalidArgument."""
    with pytest.raises(InvalidArgument):
        put(store, "a/../b")


# -- hand-dropped files


def test_hand_dropped_file_gets_synthesised_meta(store: Store) -> None:
    """A file with no sidecar is served with size, mtime and type from its name."""
    path = bucket_path(store) / "photo.jpg"
    path.write_bytes(b"jpegbytes")
    os.utime(path, ns=(1_700_000_000_500_000_000, 1_700_000_000_500_000_000))
    meta = store.head_object("bkt", "photo.jpg")
    assert (meta.size, meta.last_modified, meta.content_type) == (9, 1_700_000_000.5, "image/jpeg")


def test_hand_dropped_etag_is_stable_32_hex(store: Store) -> None:
    """The synthesised ETag is 32 hex digits and the same on every read."""
    (bucket_path(store) / "notes").write_bytes(b"abc")
    first = store.head_object("bkt", "notes").etag
    assert len(first) == 32 and int(first, 16) >= 0
    assert store.head_object("bkt", "notes").etag == first


def test_unknown_extension_is_binary_octet_stream(store: Store) -> None:
    """A hand-dropped file with no known extension is binary/octet-stream, as S3 says."""
    (bucket_path(store) / "blob.zzzunknown").write_bytes(b"x")
    assert store.head_object("bkt", "blob.zzzunknown").content_type == "binary/octet-stream"


def test_compressed_extension_is_not_a_content_encoding(store: Store) -> None:
    """A hand-dropped .tar.gz is served as application/gzip."""
    (bucket_path(store) / "backup.tar.gz").write_bytes(b"x")
    assert store.head_object("bkt", "backup.tar.gz").content_type == "application/gzip"


def test_file_edited_in_place_gets_synthesised_meta(store: Store) -> None:
    """A file rewritten by hand no longer matches its sidecar: its meta is synthesised."""
    put(store, "k.txt", b"abc", content_type="x/stored")
    with open(bucket_path(store) / "k.txt", "r+b") as f:
        f.write(b"xyz")
    meta = store.head_object("bkt", "k.txt")
    assert (meta.content_type, meta.etag == hashlib.md5(b"abc").hexdigest()) == (
        "text/plain",
        False,
    )


def test_sidecar_survives_copy_preserving_mtime(store: Store, tmp_path: Path) -> None:
    """A data file replaced by a copy with the same size and mtime (a restore) keeps its meta."""
    put(store, "k", b"abc", content_type="x/stored")
    path = bucket_path(store) / "k"
    st = path.stat()
    copy = tmp_path / "copy"
    copy.write_bytes(path.read_bytes())
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(copy, path)
    assert store.head_object("bkt", "k").content_type == "x/stored"


def test_damaged_sidecar_gives_synthesised_meta(store: Store) -> None:
    """A sidecar that is not valid JSON is ignored: the meta is synthesised."""
    put(store, "k.html", b"abc", content_type="x/stored")
    (bucket_path(store) / ".nanio-meta/k.html.json").write_text("{broken")
    assert store.head_object("bkt", "k.html").content_type == "text/html"


# -- folder markers


def test_folder_marker_is_directory_plus_sidecar(store: Store) -> None:
    """A folder marker a/b/ is the directory a/b plus .nanio-meta/a/b/.json."""
    put(store, "a/b/", b"")
    assert (bucket_path(store) / "a/b").is_dir()
    assert (bucket_path(store) / ".nanio-meta/a/b/.json").is_file()


def test_folder_marker_opens_without_descriptor(store: Store) -> None:
    """Opening a folder marker gives fd -1, size 0 and the empty ETag."""
    put(store, "folder/", b"")
    with store.open_object("bkt", "folder/") as opened:
        assert (opened.fd, opened.meta.size, opened.meta.etag) == (-1, 0, EMPTY_MD5)


def test_folder_marker_through_commit_object(store: Store) -> None:
    """commit_object with an empty temp and a key ending in "/" stores a marker."""
    temp = store.create_temp()
    store.commit_object("bkt", "via-commit/", temp, meta_for(b""))
    assert store.head_object("bkt", "via-commit/").size == 0


def test_non_empty_folder_marker_is_refused(store: Store) -> None:
    """A key ending in "/" with a body raises InvalidArgument."""
    with pytest.raises(InvalidArgument):
        put(store, "folder/", b"body")


def test_non_empty_folder_marker_commit_removes_temp(store: Store) -> None:
    """A refused marker commit removes its temp file."""
    temp = store.create_temp()
    temp.write(b"body")
    with pytest.raises(InvalidArgument):
        store.commit_object("bkt", "folder/", temp, meta_for(b"body"))
    assert not os.path.exists(temp.path)


# -- key/file conflicts


def test_key_under_a_file_is_a_conflict(store: Store) -> None:
    """The key "a/b" cannot be stored when "a" is an object: KeyConflict, "a" stays."""
    put(store, "a", b"file a")
    with pytest.raises(KeyConflict):
        put(store, "a/b")
    assert read_object(store, "a") == b"file a"


def test_key_over_a_prefix_is_a_conflict(store: Store) -> None:
    """The key "a" cannot be stored when "a/b" exists: KeyConflict, "a/b" stays."""
    put(store, "a/b", b"inner")
    with pytest.raises(KeyConflict):
        put(store, "a")
    assert read_object(store, "a/b") == b"inner"


def test_marker_beside_file_is_a_conflict(store: Store) -> None:
    """The marker "a/" cannot be stored when "a" is an object."""
    put(store, "a")
    with pytest.raises(KeyConflict):
        put(store, "a/", b"")


def test_file_beside_marker_is_a_conflict(store: Store) -> None:
    """The object "a" cannot be stored when the marker "a/" exists, and the marker stays."""
    put(store, "a/", b"")
    with pytest.raises(KeyConflict):
        put(store, "a")
    assert store.head_object("bkt", "a/").size == 0


def test_sidecar_name_clash_is_a_conflict(store: Store) -> None:
    """The key "k" cannot be stored beside "k.json/x": their sidecars would share a name."""
    put(store, "k.json/x")
    with pytest.raises(KeyConflict):
        put(store, "k")


def test_conflict_leaves_no_temp(store: Store) -> None:
    """A refused commit removes its temp files."""
    put(store, "a/b")
    with pytest.raises(KeyConflict):
        put(store, "a")
    assert list((Path(store.root) / ".nanio/tmp").iterdir()) == []


def test_empty_leftover_directory_gives_way(store: Store) -> None:
    """An empty directory that is no marker is replaced by the object of its name."""
    (bucket_path(store) / "spot").mkdir()
    put(store, "spot", b"now a file")
    assert read_object(store, "spot") == b"now a file"


# -- reading in one go (openat2): a cached sidecar, or none at all

#: For a test of the openat2 path alone: the ``store`` fixture's openat2 case.
through_openat2 = pytest.mark.parametrize("store", ["openat2"], indirect=True)


def forbid_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, opening a bucket directory (where every walk starts) fails the test."""

    def no_walk(root: StoreRoot, bucket: str) -> int:
        raise AssertionError(f"walked into {bucket}")

    monkeypatch.setattr(StoreRoot, "open_bucket", no_walk)


@through_openat2
def test_a_warm_read_opens_no_directory(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """With openat2, a cached object is read without walking its bucket's directories."""
    stored = put(store, "d/e/k", b"abc", content_type="x/stored")
    assert read_object(store, "d/e/k") == b"abc"  # caches the sidecar
    forbid_walks(monkeypatch)
    with store.open_object("bkt", "d/e/k") as opened:
        assert os.pread(opened.fd, 10, 0) == b"abc"
        assert opened.meta == stored


def test_a_directory_turned_symlink_after_a_read_is_not_followed(store: Store) -> None:
    """A key's directory swapped for a symlink to the very same files is no longer the key's.

    The link stays inside the bucket, where RESOLVE_BENEATH alone would follow it.
    """
    put(store, "d/k", b"abc")
    assert read_object(store, "d/k") == b"abc"
    (bucket_path(store) / "d").rename(bucket_path(store) / "e")
    (bucket_path(store) / "d").symlink_to("e")
    with pytest.raises(NoSuchKey):
        store.open_object("bkt", "d/k")
    assert read_object(store, "e/k") == b"abc"


def test_a_bucket_turned_symlink_after_a_read_is_no_bucket(store: Store, tmp_path: Path) -> None:
    put(store, "d/k", b"abc")
    assert read_object(store, "d/k") == b"abc"
    moved = tmp_path / "moved-bucket"
    bucket_path(store).rename(moved)
    bucket_path(store).symlink_to(moved)
    with pytest.raises(NoSuchBucket):
        store.open_object("bkt", "d/k")


def test_a_file_edited_after_a_read_gets_synthesised_meta(store: Store) -> None:
    """The cached sidecar no longer describes the file: it is not used."""
    put(store, "d/k.txt", b"abc", content_type="x/stored")
    assert read_object(store, "d/k.txt") == b"abc"
    with open(bucket_path(store) / "d" / "k.txt", "r+b") as f:
        f.write(b"xyzw")
    with store.open_object("bkt", "d/k.txt") as opened:
        assert opened.meta.content_type == "text/plain"
        assert opened.meta.size == 4
        assert os.pread(opened.fd, 10, 0) == b"xyzw"


def test_a_key_removed_after_a_read_is_no_such_key(store: Store) -> None:
    put(store, "d/k", b"abc")
    assert read_object(store, "d/k") == b"abc"
    (bucket_path(store) / "d" / "k").unlink()
    with pytest.raises(NoSuchKey):
        store.open_object("bkt", "d/k")


def test_overwrites_in_a_deep_directory_are_read_back(store: Store) -> None:
    """Writers reuse the key's existing directories (one openat2 each when there is one)."""
    for version in (b"one", b"two", b"three"):
        stored = put(store, "a/b/c/k", version)
        with store.open_object("bkt", "a/b/c/k") as opened:
            assert os.pread(opened.fd, 10, 0) == version
            assert opened.meta == stored
    sidecar = bucket_path(store) / ".nanio-meta" / "a" / "b" / "c" / "k.json"
    assert json.loads(sidecar.read_bytes())["etag"] == hashlib.md5(b"three").hexdigest()


@through_openat2
def test_a_hand_dropped_file_is_read_without_a_walk(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With openat2, a file with no sidecar is read as the walk reads it, in one go."""
    store._root.open_beneath, opener = None, store._root.open_beneath
    (bucket_path(store) / "d" / "e").mkdir(parents=True)
    (bucket_path(store) / "d" / "e" / "notes.txt").write_bytes(b"by hand")
    walked = store.head_object("bkt", "d/e/notes.txt")
    store._root.open_beneath = opener
    forbid_walks(monkeypatch)
    with store.open_object("bkt", "d/e/notes.txt") as opened:
        assert os.pread(opened.fd, 10, 0) == b"by hand"
        assert opened.meta == walked
        assert (opened.meta.size, opened.meta.content_type) == (7, "text/plain")


def test_a_hand_dropped_file_deleted_before_its_sidecar_is_seen_is_no_such_key(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is gone by the time its sidecar is found missing: no object, not a stale one.

    A delete unlinks the data file first; between the read's open and its look
    for the sidecar, the link count it saw at the open is out of date.
    """
    data = bucket_path(store) / "d" / "k"
    data.parent.mkdir()
    data.write_bytes(b"by hand")
    real_stat = os.stat

    def stat_after_a_delete(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if isinstance(path, bytes) and path.endswith(b"k.json"):
            data.unlink(missing_ok=True)
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat_after_a_delete)
    with pytest.raises(NoSuchKey):
        store.open_object("bkt", "d/k")


# -- symlinks and other strangers


def test_symlinked_file_is_not_followed(store: Store, tmp_path: Path) -> None:
    """A symlink in the bucket pointing outside is not an object."""
    secret = tmp_path / "secret"
    secret.write_text("do not serve")
    (bucket_path(store) / "link").symlink_to(secret)
    with pytest.raises(NoSuchKey):
        store.open_object("bkt", "link")


def test_symlinked_directory_is_not_followed(store: Store, tmp_path: Path) -> None:
    """A key through a symlinked directory is missing, even if the target has the file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("do not serve")
    (bucket_path(store) / "dirlink").symlink_to(outside)
    with pytest.raises(NoSuchKey):
        store.open_object("bkt", "dirlink/passwd")


def test_write_through_symlinked_directory_is_refused(store: Store, tmp_path: Path) -> None:
    """Writing a key through a symlinked directory is refused and writes nothing outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (bucket_path(store) / "dirlink").symlink_to(outside)
    with pytest.raises(KeyConflict):
        put(store, "dirlink/planted")
    assert list(outside.iterdir()) == []


def test_symlinked_sidecar_tree_is_not_followed(store: Store, tmp_path: Path) -> None:
    """A symlinked .nanio-meta/<dir> is not read: the object gets synthesised meta."""
    put(store, "d/k.txt", b"abc", content_type="x/stored")
    meta_dir = bucket_path(store) / ".nanio-meta/d"
    moved = tmp_path / "moved-meta"
    meta_dir.rename(moved)
    meta_dir.symlink_to(moved)
    assert store.head_object("bkt", "d/k.txt").content_type == "text/plain"


def test_fifo_is_not_an_object(store: Store) -> None:
    """A FIFO dropped into the bucket is not an object, and opening it does not block."""
    os.mkfifo(bucket_path(store) / "pipe")
    with pytest.raises(NoSuchKey):
        store.open_object("bkt", "pipe")


# -- deleting


def test_delete_removes_file_and_sidecar(store: Store) -> None:
    """DeleteObject removes the data file and its sidecar."""
    put(store, "k")
    store.delete_object("bkt", "k")
    assert not (bucket_path(store) / "k").exists()
    assert not (bucket_path(store) / ".nanio-meta/k.json").exists()


def test_delete_missing_key_is_fine(store: Store) -> None:
    """DeleteObject of a missing key succeeds and changes nothing."""
    put(store, "other")
    store.delete_object("bkt", "nothere/at/all")
    assert read_object(store, "other") == b"data"


def test_delete_in_missing_bucket_is_no_such_bucket(store: Store) -> None:
    """DeleteObject in a missing bucket raises NoSuchBucket."""
    with pytest.raises(NoSuchBucket):
        store.delete_object("nobucket", "k")


def test_delete_removes_empty_parents_up_to_bucket(store: Store) -> None:
    """Deleting the last key under a/b/ removes a/b and a (both trees), not the bucket."""
    put(store, "a/b/c")
    store.delete_object("bkt", "a/b/c")
    bucket = bucket_path(store)
    assert sorted(p.name for p in bucket.iterdir()) == [".nanio-meta"]
    assert list((bucket / ".nanio-meta").iterdir()) == []


def test_delete_keeps_parents_holding_other_keys(store: Store) -> None:
    """Deleting a/b/c keeps a/ when a/d still lives there."""
    put(store, "a/b/c")
    put(store, "a/d")
    store.delete_object("bkt", "a/b/c")
    assert sorted(p.name for p in (bucket_path(store) / "a").iterdir()) == ["d"]


def test_delete_keeps_marker_parent(store: Store) -> None:
    """Deleting a/b keeps the directory a/ when a/ is a folder marker."""
    put(store, "a/", b"")
    put(store, "a/b")
    store.delete_object("bkt", "a/b")
    assert store.head_object("bkt", "a/").size == 0


def test_delete_marker_removes_sidecar_and_empty_dir(store: Store) -> None:
    """Deleting the marker a/ removes its sidecar and its now-empty directory."""
    put(store, "a/", b"")
    store.delete_object("bkt", "a/")
    assert not (bucket_path(store) / "a").exists()
    assert not (bucket_path(store) / ".nanio-meta/a").exists()


def test_delete_marker_keeps_directory_with_content(store: Store) -> None:
    """Deleting the marker a/ keeps a/ (now a plain prefix) while a/b lives there."""
    put(store, "a/", b"")
    put(store, "a/b", b"inner")
    store.delete_object("bkt", "a/")
    with pytest.raises(NoSuchKey):
        store.head_object("bkt", "a/")
    assert read_object(store, "a/b") == b"inner"


def test_delete_of_directory_name_keeps_the_directory(store: Store) -> None:
    """DeleteObject "a" does nothing to the prefix a/ and what it holds."""
    put(store, "a/b", b"inner")
    store.delete_object("bkt", "a")
    assert read_object(store, "a/b") == b"inner"


def test_delete_leaves_symlinks_alone(store: Store, tmp_path: Path) -> None:
    """DeleteObject of a key that is a symlink removes nothing (it is no object)."""
    target = tmp_path / "target"
    target.write_text("keep")
    (bucket_path(store) / "link").symlink_to(target)
    store.delete_object("bkt", "link")
    assert (bucket_path(store) / "link").is_symlink() and target.read_text() == "keep"


# -- temp files


def test_create_temp_is_in_nanio_tmp(store: Store) -> None:
    """create_temp makes an empty file in <root>/.nanio/tmp."""
    temp = store.create_temp()
    try:
        assert Path(temp.path).parent == Path(store.root) / ".nanio/tmp"
        assert (temp.size, Path(temp.path).stat().st_size) == (0, 0)
    finally:
        temp.abort()


def test_temp_write_counts_bytes(store: Store) -> None:
    """TempFile.write appends everything and counts it in size."""
    temp = store.create_temp()
    try:
        temp.write(b"abc")
        temp.write(b"x" * 100_000)
        assert (temp.size, Path(temp.path).stat().st_size) == (100_003, 100_003)
    finally:
        temp.abort()


def test_temp_abort_removes_file_and_is_idempotent(store: Store) -> None:
    """TempFile.abort removes the file and may be called again."""
    temp = store.create_temp()
    temp.abort()
    temp.abort()
    assert not os.path.exists(temp.path)


def test_abort_after_commit_keeps_the_object(store: Store) -> None:
    """Aborting a committed temp file is a no-op: the object stays."""
    temp = store.create_temp()
    temp.write(b"kept")
    store.commit_object("bkt", "k", temp, meta_for(b"kept"))
    temp.abort()
    assert read_object(store, "k") == b"kept"


def test_commit_after_close_works(store: Store) -> None:
    """A temp file whose descriptor was closed can still be committed."""
    temp = store.create_temp()
    temp.write(b"closed first")
    temp.close()
    store.commit_object("bkt", "k", temp, meta_for(b"closed first"))
    assert read_object(store, "k") == b"closed first"


def test_commit_of_aborted_temp_is_internal_error(store: Store) -> None:
    """Committing a temp file that was aborted raises InternalError."""
    temp = store.create_temp()
    temp.abort()
    with pytest.raises(InternalError):
        store.commit_object("bkt", "k", temp, meta_for(b""))


def test_failed_commit_leaves_old_object(store: Store) -> None:
    """A commit refused for its key removes its temp file and keeps what was there."""
    put(store, "a/b", b"old")
    temp = store.create_temp()
    temp.write(b"new")
    with pytest.raises(KeyConflict):
        store.commit_object("bkt", "a", temp, meta_for(b"new"))
    assert (read_object(store, "a/b"), os.path.exists(temp.path)) == (b"old", False)


def test_clean_temp_removes_stray_files(store: Store) -> None:
    """clean_temp removes temp files nobody holds and answers how many."""
    tmp = Path(store.root) / ".nanio/tmp"
    (tmp / "stray.tmp").write_bytes(b"x")
    (tmp / "old.trash").mkdir()
    (tmp / "old.trash" / "inside").write_bytes(b"x")
    assert store.clean_temp(min_age_seconds=0) == 2
    assert list(tmp.iterdir()) == []


def test_clean_temp_keeps_uploads_in_progress(store: Store) -> None:
    """clean_temp leaves a temp file that a live upload holds."""
    temp = store.create_temp()
    try:
        temp.write(b"in progress")
        assert store.clean_temp(min_age_seconds=0) == 0
        assert os.path.exists(temp.path)
    finally:
        temp.abort()


def test_clean_temp_keeps_recent_files(store: Store) -> None:
    """By default clean_temp leaves files younger than a minute when nanio did not name them."""
    stray = Path(store.root) / ".nanio/tmp/recent.partial"
    stray.write_bytes(b"x")
    assert store.clean_temp() == 0
    assert stray.exists()


# -- durability


def test_fsync_store_fsyncs_file_sidecar_and_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fsync, a commit fsyncs the data, the sidecar and both parent directories."""
    synced: list[bool] = []
    real_fsync = os.fsync
    with Store(tmp_path / "data", fsync=True) as store:
        store.create_bucket("bkt", None)
        monkeypatch.setattr(
            os,
            "fsync",
            lambda fd: synced.append(os.path.isdir(f"/proc/self/fd/{fd}")) or real_fsync(fd),
        )
        put(store, "k", b"durable")
    assert (synced.count(False), synced.count(True)) == (2, 2)


def test_no_fsync_store_never_fsyncs(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without fsync, a commit and a delete fsync nothing."""
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    put(store, "a/b/c", b"throwaway")
    store.delete_object("bkt", "a/b/c")
    assert calls == []


# -- OSError mapping


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (errno.ENOSPC, InsufficientStorage),
        (errno.EDQUOT, InsufficientStorage),
        (errno.ENAMETOOLONG, KeyTooLongError),
        (errno.ENOTDIR, KeyConflict),
        (errno.EISDIR, KeyConflict),
        (errno.EACCES, InternalError),
        (errno.EPERM, InternalError),
        (errno.EMFILE, ServiceUnavailable),
        (errno.EIO, InternalError),
    ],
)
def test_os_errors_map_to_s3_errors(code: int, expected: type[Exception]) -> None:
    """Each unexpected OSError becomes the S3 error that says what happened."""
    assert type(os_error(OSError(code, os.strerror(code), "/srv/secret/path"))) is expected


def test_os_error_message_names_no_path() -> None:
    """The message of a mapped OSError never names the server's path."""
    error = os_error(PermissionError(errno.EACCES, "Permission denied", "/srv/secret/path"))
    assert "/srv" not in error.message and error.status == 500


def test_unexpected_os_error_becomes_internal_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An I/O error while reading surfaces as InternalError, never as OSError."""
    put(store, "k")

    def failing_fstat(fd: int) -> os.stat_result:
        raise OSError(errno.EIO, "Input/output error")

    # Patched only around the call: pytest itself uses os.fstat.
    with pytest.raises(InternalError), monkeypatch.context() as patched:
        patched.setattr(os, "fstat", failing_fstat)
        store.open_object("bkt", "k")


def test_disk_full_while_writing_is_insufficient_storage(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while writing an upload is InsufficientStorage, and the temp file is removed."""
    temp = store.create_temp()

    def full_disk(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(InsufficientStorage), monkeypatch.context() as patched:
        patched.setattr(os, "write", full_disk)
        temp.write(b"more")
    assert not os.path.exists(temp.path)


def _open_directories_under(path: Path) -> list[str]:
    """What this process's descriptors name on ``path`` or below it."""
    return [name for name in open_descriptors() if name == str(path) or name.startswith(f"{path}/")]


def test_store_close_releases_its_directories(tmp_path: Path) -> None:
    """close() gives back every descriptor the store opened, and may be called twice."""
    store = Store(tmp_path / "data", fsync=False)
    assert len(_open_directories_under(tmp_path / "data")) == 4  # root, tmp, buckets, locks
    store.close()
    store.close()
    assert _open_directories_under(tmp_path / "data") == []


def test_a_store_dropped_unclosed_releases_its_directories(tmp_path: Path) -> None:
    """A store nobody closed (a throwaway, a discarded resource) leaks no descriptors."""
    Store(tmp_path / "data", fsync=False).create_bucket("bkt", owner=None)
    assert _open_directories_under(tmp_path / "data") == []
