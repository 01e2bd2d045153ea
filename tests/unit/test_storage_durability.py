"""
What the store fsyncs before an operation returns, operation by operation.

``os.fsync`` is wrapped in-process and every call is recorded as the kind
(file or directory) and the path, relative to the data directory, of the
descriptor it was given.  A durable write needs its bytes, its sidecar and
the directory entries its renames made (and its deletes removed) on disk
before it is acknowledged; a store without fsync makes no call at all.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nanio.s3.model import ObjectMeta
from nanio.storage import Store

#: Random temp-file names, shown as their kind only.
_TEMP_NAME = re.compile(r"\.nanio/tmp/[0-9a-f]{32}(\.\w+)$")
#: Upload ids, shown as "<id>".
_UPLOAD_ID = re.compile(r"(\.nanio/multipart/)[0-9a-f]{32}")


class FsyncLog:
    """The fsync calls made while it is recording, as (kind, path) pairs."""

    def __init__(self, root: Path) -> None:
        self._root = str(root)
        self.calls: list[tuple[str, str]] = []

    def record(self, fd: int) -> None:
        """Note one fsync call (kind and path of ``fd``)."""
        path = os.readlink(f"/proc/self/fd/{fd}")
        kind = "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"
        relative = os.path.relpath(path, self._root)
        relative = _TEMP_NAME.sub(r".nanio/tmp/*\1", relative)
        relative = _UPLOAD_ID.sub(r"\1<id>", relative)
        self.calls.append((kind, relative))

    def sorted(self) -> list[tuple[str, str]]:
        """The calls in a stable order (multiplicity kept)."""
        return sorted(self.calls)


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Store]:
    """A store with fsync on, holding the bucket "bkt"."""
    with Store(tmp_path / "data", fsync=True) as store:
        store.create_bucket("bkt", None)
        yield store


@pytest.fixture
def fsyncs(durable: Store, monkeypatch: pytest.MonkeyPatch) -> FsyncLog:
    """A log of every fsync from now on (the real fsync still runs)."""
    log = FsyncLog(Path(durable.root))
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        log.record(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return log


def meta_for(data: bytes) -> ObjectMeta:
    """Metadata as the web layer builds it for a PUT of ``data``."""
    return ObjectMeta(
        etag=hashlib.md5(data).hexdigest(),
        size=len(data),
        last_modified=0.0,
        content_type="text/plain",
        user_metadata={"colour": "blue"},
    )


def put(store: Store, key: str, data: bytes = b"durable bytes") -> None:
    """Store ``data`` as ``key`` in "bkt" the way an upload does (temp file, commit)."""
    temp = store.create_temp()
    temp.write(data)
    store.commit_object("bkt", key, temp, meta_for(data))


def start_upload(store: Store, key: str = "big") -> str:
    """Start a multipart upload of ``key`` in "bkt" with one part; return its id."""
    upload_id = store.create_multipart_upload("bkt", key, meta_for(b""), None)
    temp = store.create_temp()
    temp.write(b"part one")
    store.commit_part("bkt", key, upload_id, 1, temp, hashlib.md5(b"part one").hexdigest(), {})
    return upload_id


#: What a commit of a new file at the top of "bkt" fsyncs.
TOP_LEVEL_COMMIT = [
    ("dir", "bkt"),
    ("dir", "bkt/.nanio-meta"),
    ("file", ".nanio/tmp/*.new"),  # the sidecar, before its rename
    ("file", ".nanio/tmp/*.tmp"),  # the bytes, before their rename
]


def test_put_fsyncs_bytes_sidecar_and_both_directories(durable: Store, fsyncs: FsyncLog) -> None:
    """PutObject fsyncs the data file, its sidecar, and the directories they are renamed into."""
    put(durable, "k")
    assert fsyncs.sorted() == TOP_LEVEL_COMMIT


def test_overwrite_fsyncs_like_a_first_put(durable: Store, fsyncs: FsyncLog) -> None:
    """Overwriting a key (as CopyObject onto an existing key does) fsyncs the same four things."""
    put(durable, "k", b"first")
    fsyncs.calls.clear()
    put(durable, "k", b"second")
    assert fsyncs.sorted() == TOP_LEVEL_COMMIT


def test_nested_put_fsyncs_every_directory_it_created(durable: Store, fsyncs: FsyncLog) -> None:
    """A PUT of a/b/c fsyncs each new directory and the parent that gained it, on both trees."""
    put(durable, "a/b/c")
    assert fsyncs.sorted() == [
        ("dir", "bkt"),
        ("dir", "bkt/.nanio-meta"),
        ("dir", "bkt/.nanio-meta/a"),
        ("dir", "bkt/.nanio-meta/a/b"),
        ("dir", "bkt/a"),
        ("dir", "bkt/a/b"),
        ("file", ".nanio/tmp/*.new"),
        ("file", ".nanio/tmp/*.tmp"),
    ]


def test_folder_marker_fsyncs_its_sidecar_and_directories(durable: Store, fsyncs: FsyncLog) -> None:
    """A folder marker d/ fsyncs its sidecar and the directories it created, with their parents."""
    durable.put_object_bytes("bkt", "d/", b"", meta_for(b""))
    assert fsyncs.sorted() == [
        ("dir", "bkt"),
        ("dir", "bkt/.nanio-meta"),
        ("dir", "bkt/.nanio-meta/d"),
        ("dir", "bkt/d"),
        ("file", ".nanio/tmp/*.new"),
    ]


def test_delete_fsyncs_the_directories_it_unlinked_from(durable: Store, fsyncs: FsyncLog) -> None:
    """DeleteObject fsyncs the directory of the data file and that of its sidecar."""
    put(durable, "k")
    fsyncs.calls.clear()
    durable.delete_object("bkt", "k")
    assert fsyncs.sorted() == [("dir", "bkt"), ("dir", "bkt/.nanio-meta")]


def test_nested_delete_also_fsyncs_the_parents_of_removed_directories(
    durable: Store, fsyncs: FsyncLog
) -> None:
    """Deleting a/b/c fsyncs a/b and .nanio-meta/a/b, then each parent of an emptied directory."""
    put(durable, "a/b/c")
    fsyncs.calls.clear()
    durable.delete_object("bkt", "a/b/c")
    assert fsyncs.sorted() == [
        ("dir", "bkt"),
        ("dir", "bkt/.nanio-meta/a/b"),
        ("dir", "bkt/a"),
        ("dir", "bkt/a/b"),
    ]


def test_create_bucket_fsyncs_record_and_directories(durable: Store, fsyncs: FsyncLog) -> None:
    """CreateBucket fsyncs its record and the records directory, then its directory and the root."""
    durable.create_bucket("other", "owner")
    assert fsyncs.sorted() == [
        ("dir", "."),
        ("dir", ".nanio/buckets"),
        ("dir", "other"),
        ("file", ".nanio/tmp/*.new"),
    ]


def test_delete_bucket_fsyncs_the_root_and_the_records_directory(
    durable: Store, fsyncs: FsyncLog
) -> None:
    """DeleteBucket fsyncs the root (the bucket's entry left it) and the records directory."""
    durable.create_bucket("other", "owner")
    fsyncs.calls.clear()
    durable.delete_bucket("other")
    assert fsyncs.sorted() == [("dir", "."), ("dir", ".nanio/buckets")]


def test_create_multipart_upload_fsyncs_its_record_and_directories(
    durable: Store, fsyncs: FsyncLog
) -> None:
    """CreateMultipartUpload fsyncs init.json and the directories that gained the upload."""
    durable.create_multipart_upload("bkt", "big", meta_for(b""), None)
    assert fsyncs.sorted() == [
        ("dir", ".nanio/multipart"),
        ("dir", ".nanio/multipart/<id>"),
        ("file", ".nanio/tmp/*.new"),
    ]


def test_upload_part_fsyncs_its_bytes_json_and_directory(durable: Store, fsyncs: FsyncLog) -> None:
    """UploadPart fsyncs the part's bytes, its json and the parts directory."""
    upload_id = durable.create_multipart_upload("bkt", "big", meta_for(b""), None)
    fsyncs.calls.clear()
    temp = durable.create_temp()
    temp.write(b"part")
    durable.commit_part("bkt", "big", upload_id, 1, temp, hashlib.md5(b"part").hexdigest(), {})
    assert fsyncs.sorted() == [
        ("dir", ".nanio/multipart/<id>/parts"),
        ("file", ".nanio/tmp/*.new"),
        ("file", ".nanio/tmp/*.tmp"),
    ]


def test_complete_fsyncs_the_object_then_the_upload_removal(
    durable: Store, fsyncs: FsyncLog
) -> None:
    """CompleteMultipartUpload fsyncs the joined object like a PUT, its answer, and the removal.

    The answer (kept for a retried Complete) is durable before the upload's
    removal is: a client retrying after a crash gets it, not NoSuchUpload.
    """
    upload_id = start_upload(durable, "k")
    fsyncs.calls.clear()
    durable.complete_multipart_upload(
        "bkt", "k", upload_id, [(1, hashlib.md5(b"part one").hexdigest())]
    )
    assert fsyncs.sorted() == sorted(
        [
            *TOP_LEVEL_COMMIT,
            ("file", ".nanio/tmp/*.new"),  # the answer, before its rename
            ("dir", ".nanio/completed"),
            ("dir", ".nanio/multipart"),
        ]
    )
    answer, removal = (
        fsyncs.calls.index(("dir", d)) for d in (".nanio/completed", ".nanio/multipart")
    )
    assert answer < removal


def operations(store: Store) -> list[Callable[[], object]]:
    """Every kind of write, in an order that works."""
    upload: list[str] = []
    return [
        lambda: store.create_bucket("other", None),
        lambda: put(store, "k"),
        lambda: put(store, "k", b"again"),
        lambda: put(store, "a/b/c"),
        lambda: store.put_object_bytes("bkt", "d/", b"", meta_for(b"")),
        lambda: upload.append(start_upload(store)),
        lambda: store.complete_multipart_upload(
            "bkt", "big", upload[0], [(1, hashlib.md5(b"part one").hexdigest())]
        ),
        lambda: store.delete_object("bkt", "a/b/c"),
        lambda: store.delete_object("bkt", "d/"),
        lambda: store.delete_object("bkt", "k"),
        lambda: store.delete_bucket("other"),
    ]


def test_every_write_fsyncs_when_durable(durable: Store, fsyncs: FsyncLog) -> None:
    """With fsync on, every kind of write makes at least one fsync (the list below is complete)."""
    silent = []
    for index, operation in enumerate(operations(durable)):
        before = len(fsyncs.calls)
        operation()
        if len(fsyncs.calls) == before:
            silent.append(index)
    assert silent == []


def test_no_fsync_store_makes_no_fsync_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fsync off (--no-fsync), none of those writes calls fsync."""
    calls: list[int] = []
    with Store(tmp_path / "data", fsync=False) as store:
        store.create_bucket("bkt", None)
        monkeypatch.setattr(os, "fsync", calls.append)
        for operation in operations(store):
            operation()
    assert calls == []
