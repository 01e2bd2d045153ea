"""
Listing: a bucket's keys in S3 order, read straight from the directory tree.

S3 orders keys by their UTF-8 bytes.  A directory ``d`` holds exactly the
keys that start with ``d/``, so among its siblings it sorts as ``d/``:
``a-b`` (0x2D) < ``a/b`` (0x2F) < ``a0`` (0x30).  Each directory is read
once with ``os.scandir``, its entries sorted by those bytes, and walked
depth first; the walk is lazy and goes only as deep and as far as the page
needs.

The walk keeps one lower bound, ``bound``: nothing at or below it is ever
yielded, and a subtree whose keys all sort at or below it is never opened.
``start_after`` sets it; emitting a common prefix ``P`` raises it to
``P + b"\\xff"``: the byte 0xFF never occurs in UTF-8, so every key that
starts with ``P`` sorts below that and every other key after ``P`` sorts
above it.  One comparison thus skips a whole rolled-up subtree, which for
the delimiter ``/`` is a directory the walk leaves after finding its first
object.

Semantics (what ``tests/unit/test_storage_listing.py`` checks against a
brute-force reference):
- keys that start with ``prefix`` and sort after ``start_after``;
- with a delimiter, a key whose remainder after the prefix contains it rolls
  up into ``prefix + remainder[: index + len(delimiter)]``; an item (key or
  common prefix) is emitted only if it sorts after ``start_after``, each
  common prefix once; keys and common prefixes together count toward
  ``max_keys``;
- ``is_truncated`` only if one more item exists; ``next_marker`` is then the
  last item of the page; ``max_keys`` 0 gives an empty, untruncated page.

Skipped: ``.nanio-meta`` at the top of the bucket, names that are not UTF-8
(no S3 key could name them), symlinks and anything but files and
directories.  A directory is a key (a folder marker ``d/``) only if its
sidecar ``.nanio-meta/<d>/.json`` exists.

No Twisted imports here.
"""

from __future__ import annotations

import bisect
import codecs
import os
import stat
import sys
from collections.abc import Callable, Iterator

from nanio.s3.model import ListPage, ObjectInfo
from nanio.storage.faults import os_error
from nanio.storage.layout import (
    DIR_FLAGS,
    META_DIR,
    SIDECAR_SUFFIX,
    StoreRoot,
    meta_dirs,
    open_dirs_if_present,
    open_if_present,
    raise_unless_missing,
)
from nanio.storage.metadata import Sidecar, describes, has_marker_sidecar, synthesized_etag

_FILE = 0
_MARKER = 1
_SLASH = 0x2F
#: Sorts after every UTF-8 byte: ``P + _PAST`` bounds all keys starting with P.
_PAST = b"\xff"
_IMPOSSIBLE_SEGMENTS = (b"", b".", b"..")


def _utf8_name(name: str) -> bytes:
    """The bytes of a file name that is valid UTF-8 (UnicodeError otherwise)."""
    # os.scandir decodes undecodable bytes to lone surrogates, which strict
    # UTF-8 refuses to encode.
    return name.encode("utf-8")


def _any_encoding_name(name: str) -> bytes:
    """The bytes of a file name, checked to be valid UTF-8, under a non-UTF-8 locale."""
    raw = os.fsencode(name)
    raw.decode("utf-8")
    return raw


_name_bytes: Callable[[str], bytes] = (
    _utf8_name if codecs.lookup(sys.getfilesystemencoding()).name == "utf-8" else _any_encoding_name
)


class _Frame:
    """One open directory of the walk."""

    __slots__ = ("bound", "entries", "fd", "meta_fd", "pos", "rel")

    def __init__(self, fd: int, meta_fd: int, rel: bytes, bound: bytes | None) -> None:
        self.fd = fd
        #: Its directory in the sidecar tree, or -1 when that does not exist.
        self.meta_fd = meta_fd
        #: Key prefix of everything inside, ending with "/" (b"" at the top).
        self.rel = rel
        #: Sort keys of the entries: names, with "/" after directory names.
        self.entries: list[bytes] = []
        self.pos = 0
        #: The bound that ``pos`` last accounted for.
        self.bound = bound

    def close(self) -> None:
        """Close the descriptors (idempotent)."""
        fd, meta_fd, self.fd, self.meta_fd = self.fd, self.meta_fd, -1, -1
        if fd >= 0:
            os.close(fd)
        if meta_fd >= 0:
            os.close(meta_fd)


class _Walker:
    """Yields (kind, key bytes, frame) in S3 order, above a bound the consumer may raise."""

    def __init__(self, bound: bytes | None) -> None:
        #: Nothing at or below this is yielded; None: no bound.
        self.bound = bound
        self._stack: list[_Frame] = []
        #: Whether the start directory itself is a key of the listing (the
        #: prefix names it exactly, as "logs/2026/" does).
        self._start_is_key = False

    def start(self, bfd: int, dir_names: tuple[bytes, ...], rel: bytes, name_prefix: bytes) -> bool:
        """Open the directory the walk starts in; False if it does not exist."""
        fd = open_dirs_if_present(bfd, dir_names)
        if fd == bfd:
            # A descriptor of our own: scandir moves the offset it shares.
            fd = open_if_present(bfd, b".", DIR_FLAGS)
        if fd is None:
            return False
        frame = _Frame(fd, -1, rel, self.bound)
        self._stack.append(frame)
        meta_fd = open_dirs_if_present(bfd, meta_dirs(dir_names))
        if meta_fd is not None:
            frame.meta_fd = meta_fd
        frame.entries = _scan(fd, not dir_names, rel, name_prefix, self.bound)
        self._start_is_key = bool(rel) and not name_prefix
        return True

    def walk(self) -> Iterator[tuple[int, bytes, _Frame]]:
        """The keys under the start directory, in order."""
        stack = self._stack
        if not stack:
            return
        top = stack[0]
        # The start directory's own marker sorts before everything inside it.
        if (
            self._start_is_key
            and top.meta_fd >= 0
            and (self.bound is None or top.rel > self.bound)
            and has_marker_sidecar(top.meta_fd)
        ):
            yield _MARKER, top.rel, top
        while stack:
            frame = stack[-1]
            bound = self.bound
            if frame.bound is not bound:
                frame.bound = bound
                if bound is not None and not _reposition(frame, bound):
                    stack.pop().close()
                    continue
            entries = frame.entries
            if frame.pos >= len(entries):
                stack.pop().close()
                continue
            sort_key = entries[frame.pos]
            frame.pos += 1
            full = frame.rel + sort_key
            if sort_key[-1] == _SLASH:
                if bound is not None and full < bound and not bound.startswith(full):
                    continue  # the whole subtree sorts at or below the bound
                child = self._push(frame, sort_key[:-1], full)
                if (
                    child is not None
                    and child.meta_fd >= 0
                    and (bound is None or full > bound)
                    and has_marker_sidecar(child.meta_fd)
                ):
                    yield _MARKER, full, child
                continue
            if bound is None or full > bound:
                yield _FILE, full, frame

    def _push(self, parent: _Frame, name: bytes, rel: bytes) -> _Frame | None:
        """Open and scan the subdirectory ``name`` of ``parent``; None if it vanished."""
        fd = open_if_present(parent.fd, name, DIR_FLAGS)
        if fd is None:
            return None
        frame = _Frame(fd, -1, rel, self.bound)
        self._stack.append(frame)
        if parent.meta_fd >= 0:
            meta_fd = open_if_present(parent.meta_fd, name, DIR_FLAGS)
            if meta_fd is not None:
                frame.meta_fd = meta_fd
        frame.entries = _scan(fd, False, rel, b"", self.bound)
        return frame

    def close(self) -> None:
        """Close every directory still open."""
        while self._stack:
            self._stack.pop().close()


def _scan(fd: int, top: bool, rel: bytes, name_prefix: bytes, bound: bytes | None) -> list[bytes]:
    """The sorted sort keys of a directory's entries that can matter to this walk."""
    rest = bound[len(rel) :] if bound is not None and bound.startswith(rel) else None
    keys: list[bytes] = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    sort_key = _name_bytes(entry.name)
                except UnicodeError:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if top and sort_key == META_DIR:
                        continue
                    sort_key += b"/"
                    if rest is not None and sort_key <= rest and not rest.startswith(sort_key):
                        continue
                elif entry.is_file(follow_symlinks=False):
                    if rest is not None and sort_key <= rest:
                        continue
                else:
                    continue
                if name_prefix and not sort_key.startswith(name_prefix):
                    continue
                keys.append(sort_key)
    except OSError as e:
        raise os_error(e) from e
    keys.sort()
    return keys


def _reposition(frame: _Frame, bound: bytes) -> bool:
    """Move ``frame`` past entries at or below a raised bound; False if nothing above is left."""
    rel = frame.rel
    if not bound.startswith(rel):
        return rel > bound
    rest = bound[len(rel) :]
    entries = frame.entries
    pos = bisect.bisect_left(entries, rest)
    # The directory just before may hold keys above the bound ("d/" < "d/x").
    if pos and entries[pos - 1][-1] == _SLASH and rest.startswith(entries[pos - 1]):
        pos -= 1
    if pos > frame.pos:
        frame.pos = pos
    return True


def list_objects(
    root: StoreRoot,
    bucket: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    start_after: str = "",
    max_keys: int = 1000,
) -> ListPage:
    """One page of ``bucket``'s keys and common prefixes, in S3 order."""
    bfd = root.open_bucket(bucket)
    try:
        if max_keys <= 0:
            return ListPage([], [], False)
        return _list(root, bucket, bfd, prefix, delimiter, start_after, max_keys)
    finally:
        os.close(bfd)


def _list(
    root: StoreRoot,
    bucket: str,
    bfd: int,
    prefix: str,
    delimiter: str,
    start_after: str,
    max_keys: int,
) -> ListPage:
    """The page, once the bucket is open."""
    # Lone surrogates cannot be in a stored key: kept as bytes, they match nothing.
    prefix_b = prefix.encode("utf-8", "surrogatepass")
    delimiter_b = delimiter.encode("utf-8", "surrogatepass")
    after_b = start_after.encode("utf-8", "surrogatepass")
    slash = prefix_b.rfind(b"/")
    rel = prefix_b[: slash + 1]
    dir_names = tuple(rel.split(b"/")[:-1])
    if any(name in _IMPOSSIBLE_SEGMENTS for name in dir_names) or (
        dir_names and dir_names[0] == META_DIR
    ):
        return ListPage([], [], False)  # no stored key can start with this prefix
    name_prefix = prefix_b[slash + 1 :]

    bound: bytes | None = after_b or None
    if bound is not None and delimiter_b and after_b.startswith(prefix_b):
        # Resuming after a key inside a common prefix resumes after the
        # whole prefix: that prefix sorts at or below start_after, so it is
        # not emitted again, and neither is anything it rolls up.
        index = after_b.find(delimiter_b, len(prefix_b))
        if index >= 0:
            bound = max(bound, after_b[: index + len(delimiter_b)] + _PAST)

    walker = _Walker(bound)
    contents: list[ObjectInfo] = []
    common_prefixes: list[str] = []
    last = b""
    truncated = False
    try:
        if not walker.start(bfd, dir_names, rel, name_prefix):
            return ListPage([], [], False)
        plen = len(prefix_b)
        for kind, key, frame in walker.walk():
            if len(contents) + len(common_prefixes) == max_keys:
                truncated = True
                break
            if delimiter_b:
                index = key.find(delimiter_b, plen)
                if index >= 0:
                    common = key[: index + len(delimiter_b)]
                    common_prefixes.append(common.decode("utf-8"))
                    last = common
                    walker.bound = common + _PAST
                    continue
            info = (
                _describe_file(root, bucket, frame, key)
                if kind == _FILE
                else _describe_marker(root, bucket, frame, key)
            )
            if info is not None:
                contents.append(info)
                last = key
    finally:
        walker.close()
    return ListPage(
        contents, common_prefixes, truncated, last.decode("utf-8") if truncated else None
    )


def _describe_file(root: StoreRoot, bucket: str, frame: _Frame, key: bytes) -> ObjectInfo | None:
    """The listing entry of a file in ``frame``; None if it vanished."""
    name = key[len(frame.rel) :]
    try:
        st = os.stat(name, dir_fd=frame.fd, follow_symlinks=False)
    except OSError as e:
        raise_unless_missing(e)  # every listed key passes here: no helper call
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    text_key = key.decode("utf-8")
    sidecar = _sidecar(root, bucket, frame, text_key, name + SIDECAR_SUFFIX)
    etag = (
        sidecar.meta.etag
        if sidecar is not None and describes(sidecar, st, root.exact_mtime)
        else synthesized_etag(st)
    )
    return ObjectInfo(text_key, st.st_size, etag, st.st_mtime_ns / 1e9)


def _describe_marker(root: StoreRoot, bucket: str, frame: _Frame, key: bytes) -> ObjectInfo | None:
    """The listing entry of the folder marker whose directory is ``frame``; None if it vanished."""
    text_key = key.decode("utf-8")
    sidecar = _sidecar(root, bucket, frame, text_key, SIDECAR_SUFFIX)
    if sidecar is None:
        return None
    return ObjectInfo(text_key, 0, sidecar.meta.etag, sidecar.mtime_ns / 1e9)


def _sidecar(root: StoreRoot, bucket: str, frame: _Frame, key: str, name: bytes) -> Sidecar | None:
    """The sidecar ``name`` in the frame's sidecar directory, from the cache if unchanged."""
    if frame.meta_fd < 0:
        return None
    try:
        st = os.stat(name, dir_fd=frame.meta_fd, follow_symlinks=False)
    except OSError as e:
        raise_unless_missing(e)  # every listed key passes here: no helper call
        return None
    cache = root.sidecars
    cached = cache.get(bucket, key, st)
    if cached is not None:
        return cached
    return cache.read(bucket, key, frame.meta_fd, name)
