"""
Values that cross layers: what storage returns and what the wire renders.

Plain frozen dataclasses; no Twisted, no filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BucketInfo:
    """A bucket as ListBuckets shows it."""

    name: str
    #: Creation time, seconds since the epoch.
    created: float
    #: Access key of the user who created it; None for a shared bucket
    #: (one made by hand on disk, or by a single-user server).
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """Everything nanio stores about one object besides its bytes."""

    #: Hex MD5 of the body (no quotes), or ``<hex>-N`` for multipart objects.
    etag: str
    size: int
    #: Seconds since the epoch.
    last_modified: float
    content_type: str | None = None
    #: Stored standard headers, lower-case names: content-encoding,
    #: content-disposition, content-language, cache-control, expires.
    headers: dict[str, str] = field(default_factory=dict)
    #: User metadata: ``x-amz-meta-`` names, lower-case, without the prefix.
    user_metadata: dict[str, str] = field(default_factory=dict)
    #: Flexible checksums: algorithm name (``crc32``, ``sha256``...) to base64.
    checksums: dict[str, str] = field(default_factory=dict)
    #: Sizes of the parts of an object made by a multipart upload, in order;
    #: empty for any other object.  GetObject's partNumber reads them.
    parts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One entry of an object listing."""

    key: str
    size: int
    etag: str
    last_modified: float


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a listing, in S3 key order."""

    contents: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    #: The last key or common prefix on this page, when truncated: where the
    #: next page starts after.
    next_marker: str | None = None
