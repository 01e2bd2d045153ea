"""
Replaced big files are freed in the background; small uploads reserve their blocks.

``set_aside`` gives a big file about to be replaced a second name in
``.nanio/tmp``; the store's ``background`` runs the unlink of that name
later.  These tests hold the background work back to see both moments.
Small files (and every sidecar) are freed by the rename that replaces them.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nanio.errors import InsufficientStorage, InternalError, NoSuchKey
from nanio.s3.model import ObjectMeta
from nanio.storage import Store
from nanio.storage.atomic import SET_ASIDE_MIN_BYTES, SET_ASIDE_SUFFIX, clean_temp
from nanio.storage.layout import Batched
from tests.support.storage import read_object


class HeldBack:
    """A ``background`` that keeps the work until the test runs it."""

    def __init__(self) -> None:
        self.work: list[Callable[[], object]] = []

    def __call__(self, work: Callable[[], object]) -> None:
        self.work.append(work)

    def run(self) -> None:
        work, self.work = self.work, []
        for item in work:
            item()


@pytest.fixture
def held() -> HeldBack:
    """The background work of ``held_store``, not yet run."""
    return HeldBack()


@pytest.fixture
def held_store(tmp_path: Path, held: HeldBack) -> Iterator[Store]:
    """A store whose background work waits in ``held``, with one bucket "bkt"."""
    with Store(tmp_path / "data", fsync=False, background=held) as store:
        store.create_bucket("bkt", None)
        yield store


def _meta(data: bytes) -> ObjectMeta:
    return ObjectMeta(etag=hashlib.md5(data).hexdigest(), size=len(data), last_modified=0.0)


def _big(label: bytes) -> bytes:
    """A body just big enough to be set aside when replaced, starting with ``label``."""
    return label + b"." * (SET_ASIDE_MIN_BYTES - len(label))


def _set_aside(store: Store) -> list[bytes]:
    """The contents of the files set aside in ``.nanio/tmp``, sorted."""
    tmp = Path(store.root) / ".nanio" / "tmp"
    return sorted(p.read_bytes() for p in tmp.iterdir() if p.name.endswith(SET_ASIDE_SUFFIX))


def test_a_replaced_object_is_freed_by_the_background_work(
    held_store: Store, held: HeldBack
) -> None:
    """A replaced big object keeps a second name until the background frees it."""
    old = _big(b"old bytes")
    held_store.put_object_bytes("bkt", "k", old, _meta(old))
    held.run()
    held_store.put_object_bytes("bkt", "k", b"new bytes", _meta(b"new bytes"))
    assert read_object(held_store, "k") == b"new bytes"
    assert _set_aside(held_store) == [old]  # its old sidecar was freed by the rename
    held.run()
    assert _set_aside(held_store) == []
    assert read_object(held_store, "k") == b"new bytes"


def test_a_replaced_small_object_is_freed_by_the_rename(held_store: Store, held: HeldBack) -> None:
    """Below SET_ASIDE_MIN_BYTES the thread hop costs more than freeing in place: no background."""
    small = b"s" * (SET_ASIDE_MIN_BYTES - 1)
    held_store.put_object_bytes("bkt", "k", small, _meta(small))
    held_store.put_object_bytes("bkt", "k", b"new bytes", _meta(b"new bytes"))
    assert held.work == []
    assert _set_aside(held_store) == []
    assert read_object(held_store, "k") == b"new bytes"


def test_a_new_key_sets_nothing_aside(held_store: Store, held: HeldBack) -> None:
    """A first write replaces no file: no background work and nothing set aside."""
    held_store.put_object_bytes("bkt", "fresh", b"x", _meta(b"x"))
    assert held.work == []
    assert _set_aside(held_store) == []


def test_a_deleted_object_is_freed_before_the_delete_returns(
    held_store: Store, held: HeldBack
) -> None:
    """A delete frees its file at once, background or not: the room is there when it answers."""
    held_store.put_object_bytes("bkt", "k", b"doomed", _meta(b"doomed"))
    held.run()
    held_store.delete_object("bkt", "k")
    with pytest.raises(NoSuchKey):
        held_store.open_object("bkt", "k")
    assert held.work == []
    assert _set_aside(held_store) == []


def test_without_background_nothing_stays_set_aside(store: Store) -> None:
    """A store without a background frees replaced and deleted files at once."""
    store.put_object_bytes("bkt", "k", b"one", _meta(b"one"))
    store.put_object_bytes("bkt", "k", b"two", _meta(b"two"))
    store.delete_object("bkt", "k")
    assert _set_aside(store) == []


def test_a_sweep_removes_files_left_set_aside(held_store: Store, held: HeldBack) -> None:
    """Files set aside by a process that died before freeing them go at the next sweep."""
    v1 = _big(b"v1")
    held_store.put_object_bytes("bkt", "k", v1, _meta(v1))
    held_store.put_object_bytes("bkt", "k", b"v2", _meta(b"v2"))
    assert _set_aside(held_store) == [v1]
    held_store.clean_temp()
    assert _set_aside(held_store) == []
    held.run()  # the late unlink finds nothing and says nothing
    assert read_object(held_store, "k") == b"v2"


def test_clean_temp_takes_an_unlocked_set_aside_file_whatever_its_age(tmp_path: Path) -> None:
    """A ``.old`` file is dead from the start: a sweep removes it however young."""
    with Store(tmp_path / "data", fsync=False) as store:
        tmp = Path(store.root) / ".nanio" / "tmp"
        (tmp / ("0" * 32 + SET_ASIDE_SUFFIX)).write_bytes(b"x")
        assert clean_temp(store._root, min_age_seconds=3600) == 1
        assert list(tmp.iterdir()) == []


def test_a_reserved_upload_holds_exactly_its_bytes(store: Store) -> None:
    """A temp file reserved for its size, then written whole, is stored as written."""
    temp = store.create_temp()
    temp.reserve(11)
    temp.write(b"hello world")
    stored = store.commit_object("bkt", "k", temp, _meta(b"hello world"))
    assert stored.size == 11
    assert read_object(store, "k") == b"hello world"


def test_a_reserved_upload_that_is_short_is_never_stored(store: Store) -> None:
    """Reserved for more than was written: the commit refuses, nothing is stored."""
    temp = store.create_temp()
    temp.reserve(100)
    temp.write(b"only part")
    with pytest.raises(InternalError):
        store.commit_object("bkt", "k", temp, _meta(b"only part"))
    with pytest.raises(NoSuchKey):
        store.open_object("bkt", "k")
    assert list((Path(store.root) / ".nanio" / "tmp").iterdir()) == []


def test_reserving_on_a_file_system_without_fallocate_is_skipped(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where blocks cannot be reserved, the upload is written as before."""

    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    temp = store.create_temp()
    temp.reserve(5)
    temp.write(b"bytes")
    store.commit_object("bkt", "k", temp, _meta(b"bytes"))
    assert read_object(store, "k") == b"bytes"


def test_no_room_to_reserve_answers_insufficient_storage(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk refuses the reservation with InsufficientStorage and removes the temp file."""

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    temp = store.create_temp()
    with pytest.raises(InsufficientStorage):
        temp.reserve(5)
    assert temp.finished
    assert list((Path(store.root) / ".nanio" / "tmp").iterdir()) == []


def test_many_replaced_files_are_freed_by_one_background_run(
    held_store: Store, held: HeldBack
) -> None:
    """Overwrites while a run is pending add to it: one run frees them all, the next starts anew."""
    for i in range(6):
        data = _big(b"version %d" % i)
        held_store.put_object_bytes("bkt", "k", data, _meta(data))
    assert len(held.work) == 1  # one run for the 5 replaced files
    assert len(_set_aside(held_store)) == 5
    held.run()
    assert _set_aside(held_store) == []
    held_store.put_object_bytes("bkt", "k", b"again", _meta(b"again"))
    assert len(held.work) == 1
    held.run()
    assert _set_aside(held_store) == []
    assert read_object(held_store, "k") == b"again"


def test_items_queued_during_a_run_are_taken_by_that_run() -> None:
    """Batched: one run takes what was queued before it and while it worked."""
    runs: list[Callable[[], object]] = []
    seen: list[list[str]] = []

    def work(items: list[str]) -> None:
        seen.append(items)
        if len(seen) == 1:
            batch.add("c")  # queued while the run is busy

    batch: Batched[str] = Batched(runs.append, work)
    batch.add("a")
    batch.add("b")
    assert len(runs) == 1
    runs.pop()()
    assert seen == [["a", "b"], ["c"]]
    assert runs == []
    batch.add("d")
    assert len(runs) == 1


def test_a_failed_run_does_not_stop_later_ones() -> None:
    """Batched: work that raises ends its run; the next item starts a new one."""
    runs: list[Callable[[], object]] = []
    seen: list[list[str]] = []

    def work(items: list[str]) -> None:
        seen.append(items)
        if items == ["bad"]:
            raise OSError(errno.EIO, "disk error")

    batch: Batched[str] = Batched(runs.append, work)
    batch.add("bad")
    with pytest.raises(OSError):
        runs.pop()()
    batch.add("good")
    runs.pop()()
    assert seen == [["bad"], ["good"]]
