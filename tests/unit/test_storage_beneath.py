"""openat2 through ctypes: what it opens, what it refuses, when nanio does without it."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from nanio.errors import KeyConflict
from nanio.storage import beneath
from nanio.storage.beneath import Opener, find_opener
from nanio.storage.layout import DIR_FLAGS, FILE_READ_FLAGS, DirChain


class Tree(NamedTuple):
    path: Path
    fd: int
    open_beneath: Opener


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    """``root/bkt/a/b/k`` holding b"inside", a file outside the root, and the opener."""
    root = tmp_path / "root"
    (root / "bkt" / "a" / "b").mkdir(parents=True)
    (root / "bkt" / "a" / "b" / "k").write_bytes(b"inside")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "k").write_bytes(b"outside")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        opener = find_opener(fd)
        if opener is None:
            pytest.skip("this kernel (or its seccomp filter) refuses openat2")
        yield Tree(root, fd, opener)
    finally:
        os.close(fd)


@pytest.fixture
def bucket_fd(tree: Tree) -> Iterator[int]:
    """The directory ``root/bkt``, open, as a writer holds its bucket."""
    fd = os.open(tree.path / "bkt", DIR_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def read_via(tree: Tree, path: bytes) -> bytes:
    fd = tree.open_beneath(tree.fd, path, FILE_READ_FLAGS)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_opens_a_file_several_directories_down(tree: Tree) -> None:
    assert read_via(tree, b"bkt/a/b/k") == b"inside"


def test_opens_a_directory(tree: Tree) -> None:
    fd = tree.open_beneath(tree.fd, b"bkt/a/b", DIR_FLAGS)
    try:
        assert os.listdir(fd) == ["k"]
    finally:
        os.close(fd)


def test_a_symlinked_directory_on_the_way_is_refused(tree: Tree) -> None:
    (tree.path / "bkt" / "link").symlink_to(tree.path.parent / "outside")
    with pytest.raises(OSError) as raised:
        read_via(tree, b"bkt/link/k")
    assert raised.value.errno == errno.ELOOP


def test_a_symlink_pointing_inside_is_refused_too(tree: Tree) -> None:
    (tree.path / "bkt" / "alias").symlink_to("a")
    with pytest.raises(OSError) as raised:
        read_via(tree, b"bkt/alias/b/k")
    assert raised.value.errno == errno.ELOOP


def test_a_symlinked_file_is_refused(tree: Tree) -> None:
    (tree.path / "bkt" / "a" / "b" / "ln").symlink_to(tree.path.parent / "outside" / "k")
    with pytest.raises(OSError) as raised:
        read_via(tree, b"bkt/a/b/ln")
    assert raised.value.errno == errno.ELOOP


@pytest.mark.parametrize("path", [b"bkt/../../outside/k", b"../outside/k"])
def test_a_path_leaving_the_directory_is_refused(tree: Tree, path: bytes) -> None:
    with pytest.raises(OSError) as raised:
        read_via(tree, path)
    assert raised.value.errno == errno.EXDEV


def test_an_absolute_path_is_refused(tree: Tree) -> None:
    with pytest.raises(OSError) as raised:
        read_via(tree, os.fsencode(tree.path.parent / "outside" / "k"))
    assert raised.value.errno == errno.EXDEV


def test_a_missing_name_is_enoent(tree: Tree) -> None:
    with pytest.raises(FileNotFoundError):
        read_via(tree, b"bkt/a/nope")


def test_a_null_byte_is_refused_not_cut_short(tree: Tree) -> None:
    # C would stop at the NUL and open "bkt/a/b/k", another name than asked.
    with pytest.raises(OSError) as raised:
        read_via(tree, b"bkt/a/b/k\x00.json")
    assert raised.value.errno == errno.EINVAL


def test_the_flags_are_kept_per_call(tree: Tree) -> None:
    """One cached struct per flags: a directory open after a file open is still a directory open."""
    assert read_via(tree, b"bkt/a/b/k") == b"inside"
    with pytest.raises(NotADirectoryError):
        tree.open_beneath(tree.fd, b"bkt/a/b/k", DIR_FLAGS)


def test_no_opener_when_the_kernel_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A system call the kernel does not know (ENOSYS, as before Linux 5.6): walk instead."""
    monkeypatch.setattr(beneath, "_SYS_OPENAT2", 999_999)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert find_opener(fd) is None
    finally:
        os.close(fd)


def test_no_opener_off_the_generic_system_call_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An architecture whose openat2 has another number is never guessed at."""
    real = os.uname()
    fake = os.uname_result((real.sysname, real.nodename, real.release, real.version, "alpha"))
    monkeypatch.setattr(os, "uname", lambda: fake)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert find_opener(fd) is None
    finally:
        os.close(fd)


def test_a_writer_opens_existing_directories_in_one_go(tree: Tree, bucket_fd: int) -> None:
    with DirChain(bucket_fd, (b"a", b"b"), tree.open_beneath) as chain:
        assert len(chain.fds) == 2  # the bucket, then the target: nothing between
        assert chain.first_created == 0
        assert os.listdir(chain.fd) == ["k"]


def test_a_writer_walks_to_make_missing_directories(tree: Tree, bucket_fd: int) -> None:
    with DirChain(bucket_fd, (b"a", b"new", b"deeper"), tree.open_beneath) as chain:
        assert len(chain.fds) == 4
        assert chain.first_created == 2  # "new" was made, "a" was there
        assert os.listdir(chain.fd) == []
    assert (tree.path / "bkt" / "a" / "new" / "deeper").is_dir()


def test_a_writer_never_goes_through_a_symlinked_directory(tree: Tree, bucket_fd: int) -> None:
    (tree.path / "bkt" / "link").symlink_to(tree.path.parent / "outside")
    with pytest.raises(KeyConflict):
        DirChain(bucket_fd, (b"link", b"sub"), tree.open_beneath)
    assert sorted(os.listdir(tree.path.parent / "outside")) == ["k"]


def test_a_writer_never_goes_through_a_symlink_pointing_inside(tree: Tree, bucket_fd: int) -> None:
    """A link that stays inside the bucket is refused too: a key's directories are real ones."""
    (tree.path / "bkt" / "alias").symlink_to("a")
    with pytest.raises(KeyConflict):
        DirChain(bucket_fd, (b"alias", b"b"), tree.open_beneath)
