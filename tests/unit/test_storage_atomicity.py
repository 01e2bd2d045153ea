"""Atomic writes under concurrency: readers never see torn objects or mismatched metadata."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable

import pytest

from nanio.errors import NoSuchKey
from nanio.s3.model import ObjectMeta
from nanio.storage import Store

#: Overwrites per writer thread; sizes vary so torn reads would show.
WRITES = 150
READERS = 3


def version(n: int, writer: int = 0) -> tuple[bytes, ObjectMeta]:
    """Version ``n`` of an object: bytes of varying size and metadata naming them."""
    data = f"w{writer}-v{n}-".encode() * (1 + (n * 37) % 200)
    digest = hashlib.md5(data).hexdigest()
    meta = ObjectMeta(
        etag=digest,
        size=len(data),
        last_modified=0.0,
        content_type=f"text/v{n}",
        user_metadata={"md5": digest},
    )
    return data, meta


def run_threads(*targets: Callable[[], None]) -> list[BaseException]:
    """Run the targets in threads until all finish; return what they raised."""
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_readers_see_bytes_with_their_own_metadata(store: Store) -> None:
    """While a key is overwritten, every read's bytes hash to its metadata's ETag."""
    store.put_object_bytes("bkt", "k", *version(0))
    done = threading.Event()
    bad: list[str] = []
    reads: list[int] = []

    def writer() -> None:
        try:
            for n in range(1, WRITES):
                store.put_object_bytes("bkt", "k", *version(n))
        finally:
            done.set()

    def reader() -> None:
        count = 0
        while not done.is_set():
            with store.open_object("bkt", "k") as opened:
                data = os.pread(opened.fd, opened.meta.size + 1, 0)
                meta = opened.meta
            count += 1
            if hashlib.md5(data).hexdigest() != meta.etag or meta.user_metadata != {
                "md5": meta.etag
            }:
                bad.append(meta.etag)
        reads.append(count)

    errors = run_threads(writer, *[reader] * READERS)
    assert (errors, bad, len(reads)) == ([], [], READERS)


def test_head_never_misses_a_key_being_overwritten(store: Store) -> None:
    """An object being overwritten is always there for HeadObject, old or new."""
    store.put_object_bytes("bkt", "dir/k", *version(0))
    done = threading.Event()
    misses: list[int] = []

    def writer() -> None:
        try:
            for n in range(1, WRITES):
                store.put_object_bytes("bkt", "dir/k", *version(n))
        finally:
            done.set()

    def reader() -> None:
        while not done.is_set():
            try:
                meta = store.head_object("bkt", "dir/k")
            except NoSuchKey:
                misses.append(1)
                continue
            if meta.user_metadata.get("md5") != meta.etag:
                misses.append(2)

    errors = run_threads(writer, reader, reader)
    assert (errors, misses) == ([], [])


def test_concurrent_writers_leave_a_matching_pair(store: Store) -> None:
    """After writers race on one key, the bytes in place have their own sidecar."""

    def writer(number: int) -> Callable[[], None]:
        def write() -> None:
            for n in range(WRITES // 3):
                store.put_object_bytes("bkt", "k", *version(n, number))

        return write

    errors = run_threads(writer(1), writer(2), writer(3))
    with store.open_object("bkt", "k") as opened:
        data = os.pread(opened.fd, opened.meta.size + 1, 0)
        meta = opened.meta
    assert (errors, hashlib.md5(data).hexdigest()) == ([], meta.user_metadata["md5"])


def empty_marker(n: int) -> tuple[bytes, ObjectMeta]:
    """A folder marker's body and metadata (the same for every ``n``)."""
    return b"", ObjectMeta(etag=hashlib.md5(b"").hexdigest(), size=0, last_modified=0.0)


@pytest.mark.parametrize(
    ("churned", "kept", "body"),
    [
        # A key written while a neighbour's delete empties the directory.
        pytest.param(lambda n: "shared/churn", lambda n: f"shared/keep-{n}", version, id="object"),
        # A folder marker written while a delete removes its empty directory.
        pytest.param(lambda n: f"m{n % 5}/x", lambda n: f"m{n % 5}/", empty_marker, id="marker"),
    ],
)
def test_writes_survive_deletes_emptying_their_directory(
    store: Store,
    churned: Callable[[int], str],
    kept: Callable[[int], str],
    body: Callable[[int], tuple[bytes, ObjectMeta]],
) -> None:
    """A key or folder marker written while a delete empties its directory is stored."""
    lost: list[int] = []

    def churn() -> None:
        for n in range(WRITES):
            store.put_object_bytes("bkt", churned(n), *version(n))
            store.delete_object("bkt", churned(n))

    def keep() -> None:
        for n in range(WRITES):
            key = kept(n)
            store.put_object_bytes("bkt", key, *body(n))
            try:
                store.head_object("bkt", key)
            except NoSuchKey:
                lost.append(n)
            store.delete_object("bkt", key)

    errors = run_threads(churn, keep)
    assert (errors, lost) == ([], [])


def test_upload_never_committed_is_invisible(store: Store) -> None:
    """A temp file left by a dead upload is neither listed nor readable, and is swept."""
    temp = store.create_temp()
    temp.write(b"half an upload")
    temp.close()  # the process "died": its lock is gone
    page = store.list_objects("bkt")
    with pytest.raises(NoSuchKey):
        store.head_object("bkt", os.path.basename(temp.path))
    assert (page.contents, store.clean_temp(min_age_seconds=0)) == ([], 1)
