"""Listing: S3 key order, prefixes, delimiters, paging, against a brute-force reference."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from nanio.errors import NoSuchBucket, S3Error
from nanio.s3.model import ListPage, ObjectMeta
from nanio.storage import Store

#: Names keys are built from: few enough that keys share directories, with
#: the characters that sort next to "/" (0x2F) in UTF-8 ("-" 0x2D, "." 0x2E,
#: "0" 0x30) and multi-byte characters.
SEGMENTS = ["a", "a-b", "a.c", "a0", "ab", "b", "-", "0", "é", "中", "\U0001f600", "z-z"]


def put(store: Store, key: str, data: bytes = b"") -> None:
    """Store ``data`` as ``key`` in "bkt"."""
    meta = ObjectMeta(etag=hashlib.md5(data).hexdigest(), size=len(data), last_modified=0.0)
    store.put_object_bytes("bkt", key, data, meta)


def listed(page: ListPage) -> tuple[list[str], list[str], bool, str | None]:
    """The parts of a page the reference predicts."""
    return (
        [info.key for info in page.contents],
        page.common_prefixes,
        page.is_truncated,
        page.next_marker,
    )


def reference(
    keys: list[str], prefix: str, delimiter: str, start_after: str, max_keys: int
) -> tuple[list[str], list[str], bool, str | None]:
    """What S3 answers, computed by brute force over the sorted keys."""
    items: list[tuple[str, bool]] = []
    for key in sorted(keys, key=lambda k: k.encode()):
        if not key.startswith(prefix):
            continue
        item = (key, False)
        if delimiter:
            index = key.find(delimiter, len(prefix))
            if index >= 0:
                item = (key[: index + len(delimiter)], True)
        if item[0].encode() <= start_after.encode():
            continue
        if items and items[-1] == item:
            continue
        items.append(item)
    page = items[:max_keys]
    truncated = len(items) > max_keys
    return (
        [name for name, is_prefix in page if not is_prefix],
        [name for name, is_prefix in page if is_prefix],
        truncated,
        page[-1][0] if truncated else None,
    )


def random_keys(store: Store, rng: random.Random, count: int) -> list[str]:
    """Store up to ``count`` random keys (files, markers, hand-dropped files); return them."""
    stored: list[str] = []
    bucket = Path(store.root) / "bkt"
    for _ in range(count * 4):
        if len(stored) == count:
            break
        key = "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 4)))
        marker = rng.random() < 0.15
        if marker:
            key += "/"
        if key in stored:
            continue
        if not marker and rng.random() < 0.1:
            # Dropped in by hand, where nothing else is in the way.
            path = bucket / key
            if any(p.is_file() for p in path.parents) or path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"by hand")
        else:
            try:
                put(store, key, b"" if marker else key.encode())
            except S3Error:
                continue  # a file/directory clash with an earlier key
        stored.append(key)
    return stored


def interesting_strings(keys: list[str], rng: random.Random) -> list[str]:
    """Prefixes and markers worth listing from: cuts of stored keys, and misses."""
    cuts = {""}
    for key in rng.sample(keys, min(12, len(keys))):
        cuts.add(key[: rng.randint(1, len(key))])
        if "/" in key:
            cuts.add(key[: key.index("/") + 1])
    cuts.update({"zzz-none", "a", "a/", "0", "-", "é"})
    return sorted(cuts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_page_matches_the_reference(store: Store, seed: int) -> None:
    """Every page of every (prefix, delimiter, start_after, max_keys) matches brute force."""
    rng = random.Random(seed)
    keys = random_keys(store, rng, 70)
    strings = interesting_strings(keys, rng)
    mismatches = []
    for prefix in strings:
        for delimiter in ("", "/", "-", "0", "é", "/b"):
            for start_after in ["", *rng.sample(strings + keys, 4)]:
                for max_keys in (1, 3, 1000):
                    marker = start_after
                    for _ in range(len(keys) + 2):
                        got = listed(
                            store.list_objects(
                                "bkt",
                                prefix=prefix,
                                delimiter=delimiter,
                                start_after=marker,
                                max_keys=max_keys,
                            )
                        )
                        want = reference(keys, prefix, delimiter, marker, max_keys)
                        if got != want:
                            mismatches.append((prefix, delimiter, marker, max_keys, got, want))
                            break
                        if not got[2] or start_after:
                            break  # page through only from the start
                        marker = got[3]
    assert mismatches[:3] == []


def test_directory_sorts_as_name_plus_slash(store: Store) -> None:
    """A directory "a" sorts as "a/" among its siblings: a-b < a/b < a0."""
    for key in ("a0", "a/b", "a-b", "a.c/d"):
        put(store, key)
    assert [i.key for i in store.list_objects("bkt").contents] == ["a-b", "a.c/d", "a/b", "a0"]


def test_folder_marker_is_listed_before_its_contents(store: Store) -> None:
    """The marker "d/" is listed as a key, just before "d/x"."""
    put(store, "d/")
    put(store, "d/x")
    put(store, "c")
    assert [i.key for i in store.list_objects("bkt").contents] == ["c", "d/", "d/x"]


def test_folder_marker_rolls_into_common_prefix(store: Store) -> None:
    """With delimiter "/", the marker "d/" is the common prefix d/, not a key."""
    put(store, "d/")
    assert listed(store.list_objects("bkt", delimiter="/")) == ([], ["d/"], False, None)


def test_prefix_naming_a_marker_lists_it(store: Store) -> None:
    """prefix "d/" lists the marker "d/" itself among the contents."""
    put(store, "d/")
    put(store, "d/x")
    page = store.list_objects("bkt", prefix="d/", delimiter="/")
    assert listed(page) == (["d/", "d/x"], [], False, None)


def test_empty_directory_is_no_common_prefix(store: Store) -> None:
    """A directory holding no object is not a common prefix."""
    put(store, "real/x")
    (Path(store.root) / "bkt" / "empty" / "deeper").mkdir(parents=True)
    assert store.list_objects("bkt", delimiter="/").common_prefixes == ["real/"]


def test_max_keys_zero_is_empty_and_not_truncated(store: Store) -> None:
    """max_keys 0 answers an empty page that is not truncated."""
    put(store, "k")
    assert listed(store.list_objects("bkt", max_keys=0)) == ([], [], False, None)


def test_truncated_page_names_its_last_item(store: Store) -> None:
    """A truncated page says so and gives its last item as next_marker."""
    for key in ("a", "b/1", "b/2", "c"):
        put(store, key)
    page = store.list_objects("bkt", delimiter="/", max_keys=2)
    assert listed(page) == (["a"], ["b/"], True, "b/")


def test_last_full_page_is_not_truncated(store: Store) -> None:
    """A page that holds exactly the last items is not truncated."""
    put(store, "a")
    put(store, "b")
    assert store.list_objects("bkt", max_keys=2).is_truncated is False


def test_resuming_after_common_prefix_skips_it(store: Store) -> None:
    """start_after "b/" skips everything under b/."""
    for key in ("a", "b/1", "b/2", "c"):
        put(store, key)
    page = store.list_objects("bkt", delimiter="/", start_after="b/")
    assert listed(page) == (["c"], [], False, None)


def test_prefix_of_missing_directory_is_empty(store: Store) -> None:
    """A prefix naming a directory that does not exist lists nothing."""
    put(store, "k")
    assert listed(store.list_objects("bkt", prefix="no/such/")) == ([], [], False, None)


def test_missing_bucket_is_no_such_bucket(store: Store) -> None:
    """Listing a missing bucket raises NoSuchBucket."""
    with pytest.raises(NoSuchBucket):
        store.list_objects("nobucket")


def test_entries_carry_size_etag_and_mtime(store: Store) -> None:
    """A listed object has the size and mtime of its file and the ETag of its sidecar."""
    put(store, "k", b"hello")
    info = store.list_objects("bkt").contents[0]
    st = (Path(store.root) / "bkt" / "k").stat()
    assert (info.size, info.etag, info.last_modified) == (
        5,
        hashlib.md5(b"hello").hexdigest(),
        st.st_mtime_ns / 1e9,
    )


def test_hand_dropped_file_is_listed_with_synthesised_etag(store: Store) -> None:
    """A file with no sidecar is listed with the same ETag HeadObject gives it."""
    (Path(store.root) / "bkt" / "dropped.txt").write_bytes(b"abc")
    info = store.list_objects("bkt").contents[0]
    assert (info.key, info.size, info.etag) == (
        "dropped.txt",
        3,
        store.head_object("bkt", "dropped.txt").etag,
    )


def test_stale_sidecar_gives_synthesised_etag(store: Store) -> None:
    """A file edited in place is listed with the synthesised ETag, not the stale one."""
    put(store, "k", b"abc")
    with open(Path(store.root) / "bkt" / "k", "r+b") as f:
        f.write(b"xyz")
    info = store.list_objects("bkt").contents[0]
    assert info.etag != hashlib.md5(b"abc").hexdigest()
    assert info.etag == store.head_object("bkt", "k").etag


def test_internal_and_foreign_entries_are_skipped(store: Store, tmp_path: Path) -> None:
    """The sidecar tree, symlinks, FIFOs and non-UTF-8 names are not listed."""
    put(store, "kept")
    bucket = Path(store.root) / "bkt"
    (tmp_path / "target").write_text("x")
    (bucket / "link").symlink_to(tmp_path / "target")
    os.mkfifo(bucket / "fifo")
    with open(os.path.join(os.fsencode(bucket), b"bad\xffname"), "wb") as f:
        f.write(b"x")
    assert [i.key for i in store.list_objects("bkt").contents] == ["kept"]


def test_common_prefix_does_not_walk_its_subtree(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With delimiter "/", a directory is read only down to its first object."""
    for n in range(20):
        put(store, f"big/sub{n:02d}/leaf")
    put(store, "small")
    scanned: list[object] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda fd: scanned.append(fd) or real_scandir(fd))
    page = store.list_objects("bkt", delimiter="/")
    assert (page.common_prefixes, len(scanned)) == (["big/"], 3)


def test_subtrees_before_start_after_are_not_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Directories that sort before start_after are never opened."""
    for name in "abcdefgh":
        put(store, f"{name}/x/y")
    scanned: list[object] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda fd: scanned.append(fd) or real_scandir(fd))
    page = store.list_objects("bkt", start_after="g/x/y")
    # The top, g, g/x (which could hold "g/x/z"), h and h/x: a to f are skipped.
    assert ([i.key for i in page.contents], len(scanned)) == (["h/x/y"], 5)


def test_prefix_starts_in_its_directory(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """prefix "logs/2026/" reads logs/2026 and below, not the bucket's top."""
    put(store, "logs/2026/a")
    put(store, "logs/2025/b")
    put(store, "other")
    scanned: list[object] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda fd: scanned.append(fd) or real_scandir(fd))
    page = store.list_objects("bkt", prefix="logs/2026/")
    assert ([i.key for i in page.contents], len(scanned)) == (["logs/2026/a"], 1)
