"""
Sidecar metadata: what nanio keeps about an object besides its bytes, and how
a reader knows that a sidecar describes the very bytes it holds.

A sidecar is one compact UTF-8 JSON object per file::

    {"format":1,"etag":"9e107d9d372bb6826bd81d3542a419d6","size":43,
     "mtime_ns":1767225600123456789,"ino":1835017,"content_type":"text/plain",
     "headers":{...},"user_metadata":{...},"checksums":{...}}

(the last four members are left out when empty).  A folder marker's sidecar
has the same shape with size 0; its ``mtime_ns`` is its Last-Modified.

Identity, the heart of atomic replacement (see ``objects.py``):

- A commit stamps the data file's mtime with the current time in
  nanoseconds (the object's Last-Modified), then records in the sidecar the
  size, the mtime exactly as the file system kept it, and the inode number.
- A sidecar *describes* a data file when size and mtime agree, and, on a
  file system that rounds mtimes (``StoreRoot.exact_mtime`` false), the
  inode too.  Two commits of one key never share a nanosecond stamp, so a
  reader holding the old file and the new sidecar (or the reverse) sees a
  mismatch, never a false match.
- Why mtime and not only the inode: ``cp -a``, ``rsync -a`` and
  ``tar --format=posix`` keep sizes and nanosecond mtimes but not inode
  numbers, so metadata survives a backup and restore; and a file edited in
  place by hand keeps its inode but not its mtime, so its stale sidecar is
  noticed.
- A file with no sidecar, or with one that does not describe it, is served
  with metadata synthesised from ``stat`` (``synthesized_meta``).

No Twisted imports here.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nanio.s3.model import ObjectMeta
from nanio.storage.faults import os_error
from nanio.storage.layout import FILE_READ_FLAGS, SIDECAR_SUFFIX, open_if_present

SIDECAR_FORMAT = 1
#: A sidecar is read with one system call of this size (they are a few
#: hundred bytes; user metadata is capped at 2 KiB by S3).
SIDECAR_READ_BYTES = 16 * 1024
#: A larger file in the sidecar tree is not a sidecar nanio wrote.
SIDECAR_LIMIT_BYTES = 1024 * 1024
#: Decoded sidecars a store keeps (a few hundred bytes each).
SIDECAR_CACHE_ENTRIES = 8192
#: MD5 of nothing: the ETag of every empty object, folder markers included.
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
#: What S3 answers for an object stored without a Content-Type.
DEFAULT_CONTENT_TYPE = "binary/octet-stream"

# A file named "x.tar.gz" is gzip bytes to a client: mimetypes calls that
# "application/x-tar with encoding gzip", and serving it as Content-Encoding
# gzip would make browsers and SDKs unpack it.  Serve the container type.
_ENCODED_CONTENT_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}
_CONTENT_TYPE_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class Sidecar:
    """A decoded sidecar: the object's metadata and the identity of the file it describes."""

    meta: ObjectMeta
    mtime_ns: int
    ino: int


def encode_sidecar(meta: ObjectMeta, *, mtime_ns: int, ino: int) -> bytes:
    """The sidecar bytes for ``meta``, describing a file of its size stamped ``mtime_ns``."""
    doc = sidecar_fields(meta, mtime_ns=mtime_ns, ino=ino)
    try:
        # Readable with `cat` when the values are proper text.
        return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8; JSON escapes carry it intact.
        return (json.dumps(doc, separators=(",", ":")) + "\n").encode("ascii")


def sidecar_fields(meta: ObjectMeta, *, mtime_ns: int, ino: int) -> dict[str, Any]:
    """A sidecar as the JSON object ``encode_sidecar`` writes (others may add fields)."""
    doc: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "etag": meta.etag,
        "size": meta.size,
        "mtime_ns": mtime_ns,
        "ino": ino,
    }
    if meta.content_type is not None:
        doc["content_type"] = meta.content_type
    if meta.headers:
        doc["headers"] = meta.headers
    if meta.user_metadata:
        doc["user_metadata"] = meta.user_metadata
    if meta.checksums:
        doc["checksums"] = meta.checksums
    if meta.parts:
        doc["parts"] = list(meta.parts)
    return doc


def decode_sidecar(data: bytes) -> Sidecar | None:
    """The sidecar in ``data``, or None if it is not one nanio could have written."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return sidecar_from_fields(doc)


def sidecar_from_fields(doc: object) -> Sidecar | None:
    """The sidecar a decoded JSON value holds, or None if it is not one nanio could have written."""
    if type(doc) is not dict:
        return None
    etag = doc.get("etag")
    size = doc.get("size")
    mtime_ns = doc.get("mtime_ns")
    ino = doc.get("ino", 0)
    content_type = doc.get("content_type")
    # type() rather than isinstance(): JSON true is a bool, and bool is an int.
    if (
        type(etag) is not str
        or type(size) is not int
        or type(mtime_ns) is not int
        or type(ino) is not int
        or not (content_type is None or type(content_type) is str)
    ):
        return None
    headers = _text_map(doc.get("headers"))
    user_metadata = _text_map(doc.get("user_metadata"))
    checksums = _text_map(doc.get("checksums"))
    parts = doc.get("parts", [])
    if headers is None or user_metadata is None or checksums is None:
        return None
    if type(parts) is not list or any(type(p) is not int or p < 0 for p in parts):
        return None
    meta = ObjectMeta(
        etag=etag,
        size=size,
        last_modified=mtime_ns / 1e9,
        content_type=content_type,
        headers=headers,
        user_metadata=user_metadata,
        checksums=checksums,
        parts=tuple(parts),
    )
    return Sidecar(meta, mtime_ns, ino)


def _text_map(value: object) -> dict[str, str] | None:
    """``value`` if it is a str-to-str mapping, {} if absent, None if malformed."""
    if value is None:
        return {}
    if type(value) is not dict:
        return None
    for _name, text in value.items():
        if type(text) is not str:
            return None
    return value


#: What tells one sidecar file from another: (st_dev, st_ino, st_size,
#: st_mtime_ns, st_ctime_ns).  Sidecars are replaced by rename, never
#: rewritten in place by nanio, so a new one is a new inode.
FileIdentity = tuple[int, int, int, int, int]


def file_identity(st: os.stat_result) -> FileIdentity:
    """The identity of a sidecar file from its stat."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_sidecar(dir_fd: int, name: bytes) -> tuple[Sidecar | None, FileIdentity | None]:
    """Read and decode the sidecar ``name`` in ``dir_fd``: (sidecar or None, file identity)."""
    fd = open_if_present(dir_fd, name, FILE_READ_FLAGS)
    if fd is None:
        return None, None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, None  # a stale directory (or a FIFO) has the name
        data = os.read(fd, SIDECAR_READ_BYTES)
        if len(data) == SIDECAR_READ_BYTES:
            whole = _read_rest(fd, data)
            if whole is None:
                return None, None  # too large to be a sidecar
            data = whole
    except OSError as e:
        raise os_error(e) from e
    finally:
        os.close(fd)
    return decode_sidecar(data), file_identity(st)


def sidecar_bytes(dir_fd: int, name: bytes) -> bytes | None:
    """The raw bytes of the sidecar ``name``; None if missing, not a file, unreadable or too big."""
    try:
        fd = os.open(name, FILE_READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, SIDECAR_READ_BYTES)
        if len(data) == SIDECAR_READ_BYTES:
            return _read_rest(fd, data)
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


class SidecarCache:
    """Decoded sidecars by (bucket, key), each valid while its file's identity holds.

    A hit costs one ``stat`` of the sidecar instead of open, read, close and
    a JSON parse: the hot path of every GET.  An entry is used only when the
    sidecar file at the key's path still has the identity it was read with,
    and, like any sidecar, only if it describes the data file in hand.
    Entries go oldest first when the cache is full.
    """

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int) -> None:
        self._entries: dict[tuple[str, str], tuple[FileIdentity, Sidecar]] = {}
        self._limit = limit

    def get(self, bucket: str, key: str, st: os.stat_result) -> Sidecar | None:
        """The cached sidecar of (bucket, key) if it was read from the file whose stat is ``st``."""
        entry = self._entries.get((bucket, key))
        if entry is not None and entry[0] == file_identity(st):
            return entry[1]
        return None

    def read(self, bucket: str, key: str, dir_fd: int, name: bytes) -> Sidecar | None:
        """Read (bucket, key)'s sidecar, ``name`` in ``dir_fd``, and remember it; None if none."""
        sidecar, identity = read_sidecar(dir_fd, name)
        if sidecar is not None and identity is not None:
            self.put(bucket, key, identity, sidecar)
        return sidecar

    def put(self, bucket: str, key: str, identity: FileIdentity, sidecar: Sidecar) -> None:
        """Remember the sidecar of (bucket, key), read from the file ``identity`` names."""
        entries = self._entries
        if len(entries) >= self._limit:
            # Dicts keep insertion order: drop the older half in one go.
            for old in list(entries)[: self._limit // 2]:
                entries.pop(old, None)
        entries[(bucket, key)] = (identity, sidecar)


def _read_rest(fd: int, head: bytes) -> bytes | None:
    """Read past a first full buffer up to the limit; None if the file is larger."""
    pieces = [head]
    total = len(head)
    while True:
        piece = os.read(fd, SIDECAR_READ_BYTES)
        if not piece:
            return b"".join(pieces)
        total += len(piece)
        if total > SIDECAR_LIMIT_BYTES:
            return None
        pieces.append(piece)


def has_marker_sidecar(meta_fd: int) -> bool:
    """Tell whether the sidecar directory ``meta_fd`` holds a folder marker's sidecar."""
    try:
        st = os.stat(SIDECAR_SUFFIX, dir_fd=meta_fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode)


def describes(sidecar: Sidecar, st: os.stat_result, exact_mtime: bool) -> bool:
    """Tell whether ``sidecar`` was written for the file whose stat is ``st``."""
    return (
        sidecar.meta.size == st.st_size
        and sidecar.mtime_ns == st.st_mtime_ns
        and (exact_mtime or sidecar.ino == st.st_ino)
    )


def synthesized_etag(st: os.stat_result) -> str:
    """A stable 32-hex ETag for a file without a valid sidecar (hashing would cost a read)."""
    ident = b"%d:%d:%d" % (st.st_ino, st.st_size, st.st_mtime_ns)
    return hashlib.md5(ident, usedforsecurity=False).hexdigest()


def synthesized_meta(key: str, st: os.stat_result) -> ObjectMeta:
    """Metadata for a file that nanio did not write (or whose sidecar is stale), from its stat."""
    return ObjectMeta(
        etag=synthesized_etag(st),
        size=st.st_size,
        last_modified=st.st_mtime_ns / 1e9,
        content_type=guess_content_type(key),
    )


def guess_content_type(key: str) -> str:
    """The Content-Type a file's name suggests, ``binary/octet-stream`` when it suggests none."""
    name = key.rpartition("/")[2]
    dot = name.rfind(".")
    if dot <= 0:
        return DEFAULT_CONTENT_TYPE  # no extension, or a dot file such as ".profile"
    # The last two suffixes are all mimetypes looks at ("x.tar.gz"); caching
    # on them keeps the cache small however many files there are.
    previous = name.rfind(".", 0, dot)
    return _content_type_for_suffixes(name[previous if previous > 0 else dot :].lower())


@lru_cache(maxsize=_CONTENT_TYPE_CACHE_SIZE)
def _content_type_for_suffixes(suffixes: str) -> str:
    """The guessed Content-Type of a file name ending in ``suffixes``."""
    content_type, encoding = mimetypes.guess_type("f" + suffixes, strict=False)
    if encoding is not None:
        return _ENCODED_CONTENT_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    return content_type or DEFAULT_CONTENT_TYPE
