"""Object operations: put, get, head, attributes, delete, copy and the ACL probes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from nanio import errors
from nanio.s3 import headers as s3headers
from nanio.s3 import xml
from nanio.s3.checksums import checksum_type_of
from nanio.s3.keys import validate_bucket_name, validate_key
from nanio.s3.model import ObjectMeta
from nanio.storage import OpenObject, TempFile
from nanio.storage.multipart import MAX_PARTS_PER_PAGE
from nanio.storage.objects import Precondition
from nanio.web.call import MAX_PART_NUMBER, S3Call, part_number
from nanio.web.handlers.context import (
    Context,
    no_content,
    refuse_canned_acl,
    refuse_tags,
    xml_response,
)
from nanio.web.handlers.service import parse_count
from nanio.web.producers import FileProducer
from nanio.web.sinks import ObjectSink, too_large

#: Bodies up to this size are read with one pread and written at once: a
#: producer costs more than it saves for small objects (the hot path).
SMALL_BODY_BYTES = 64 * 1024

#: Copies are read and written in pieces of this size.
COPY_CHUNK_BYTES = 1024 * 1024

#: ``response-*`` query parameters and the header each one overrides.
RESPONSE_OVERRIDES = (
    ("response-content-type", b"content-type"),
    ("response-content-language", b"content-language"),
    ("response-expires", b"expires"),
    ("response-cache-control", b"cache-control"),
    ("response-content-disposition", b"content-disposition"),
    ("response-content-encoding", b"content-encoding"),
)

_DEFAULT_CONTENT_TYPE = b"binary/octet-stream"


def _meta_from_request(call: S3Call) -> tuple[str | None, dict[str, str], dict[str, str]]:
    return s3headers.metadata_from_headers(call.headers)


async def put_object(ctx: Context, request: Any, call: S3Call) -> bytes:
    refuse_canned_acl(call)
    refuse_tags(call)
    content_type, stored, user_meta = _meta_from_request(call)
    assert isinstance(call.sink, ObjectSink)
    received = await call.sink.finish()
    meta = ObjectMeta(
        etag=received.etag,
        size=received.size,
        last_modified=ctx.clock.seconds(),
        content_type=content_type,
        headers=stored,
        user_metadata=user_meta,
        checksums=received.checksums,
    )
    # Folder markers ("a/b/") take the same path: the store makes the
    # directory and its sidecar, and refuses one with bytes.
    result = ctx.store.commit_object(
        call.bucket, call.key, received.temp, meta, write_precondition(call)
    )
    request.setHeader(b"etag", _quoted(result.etag))
    set_checksum_headers(request, result.checksums)
    return b""


def set_checksum_headers(request: Any, checksums: dict[str, str]) -> None:
    """Send stored flexible checksums as x-amz-checksum-<algorithm> headers, with their type."""
    for algorithm, value in checksums.items():
        request.setHeader(b"x-amz-checksum-" + algorithm.encode("ascii"), value.encode("ascii"))
        request.setHeader(b"x-amz-checksum-type", checksum_type_of(value).encode("ascii"))


def write_precondition(call: S3Call) -> Precondition | None:
    """The check a conditional write (If-None-Match: *, If-Match) makes at commit.

    The store runs it under the key's lock, so it is decided atomically
    against any racing writer of the same key.
    """
    if_none_match = call.header("if-none-match")
    if_match = call.header("if-match")
    if if_none_match is None and if_match is None:
        return None
    if if_none_match is not None and if_none_match.strip() != "*":
        raise errors.S3NotImplemented("On writes If-None-Match supports only '*'.")
    expected = s3headers.parse_etag_list(if_match) if if_match is not None else None

    def check(current_etag: str | None) -> None:
        if if_none_match is not None and current_etag is not None:
            raise errors.PreconditionFailed(Condition="If-None-Match")
        if expected is not None:
            if current_etag is None:
                raise errors.NoSuchKey()
            if "*" not in expected and current_etag not in expected:
                raise errors.PreconditionFailed(Condition="If-Match")

    return check


def _quoted(etag: str) -> bytes:
    return b'"' + etag.encode("ascii") + b'"'


def _set_object_headers(request: Any, call: S3Call, meta: ObjectMeta) -> None:
    set_header = request.setHeader
    set_header(b"etag", _quoted(meta.etag))
    set_header(b"last-modified", s3headers.format_http_date(meta.last_modified).encode("ascii"))
    set_header(b"accept-ranges", b"bytes")
    set_header(
        b"content-type",
        meta.content_type.encode("utf-8") if meta.content_type else _DEFAULT_CONTENT_TYPE,
    )
    for name, value in meta.headers.items():
        set_header(name.encode("latin-1"), value.encode("utf-8"))
    for name, value in meta.user_metadata.items():
        set_header(b"x-amz-meta-" + name.encode("latin-1"), value.encode("utf-8"))
    query = call.query
    if query:
        for param, header in RESPONSE_OVERRIDES:
            override = query.get(param)
            if override is not None:
                set_header(header, override.encode("utf-8"))


def _open_for_read(ctx: Context, request: Any, call: S3Call) -> tuple[OpenObject, int, int]:
    """Open the object, apply conditionals and Range, set the headers: (object, offset, length)."""
    opened = ctx.store.open_object(call.bucket, call.key)
    byte_range: s3headers.ByteRange | None
    try:
        meta = opened.meta
        # GET and HEAD alike answer 304 where a condition says "not modified".
        s3headers.evaluate_conditions(call.headers, meta.etag, meta.last_modified, for_get=True)
        if "partNumber" in call.query:
            byte_range = _part_range(call, meta)
        else:
            byte_range = s3headers.parse_range(call.header("range"), meta.size)
    except errors.S3Error as e:
        if isinstance(e, errors.NotModified):
            # A 304 still carries the validators, as S3 sends them.
            request.setHeader(b"etag", _quoted(opened.meta.etag))
            request.setHeader(
                b"last-modified",
                s3headers.format_http_date(opened.meta.last_modified).encode("ascii"),
            )
        opened.close()
        raise
    _set_object_headers(request, call, meta)
    if meta.parts and "partNumber" in call.query:
        request.setHeader(b"x-amz-mp-parts-count", b"%d" % len(meta.parts))
    if byte_range is None:
        offset, length = 0, meta.size
        # A checksum describes the whole object: S3 sends none with a range.
        if meta.checksums and call.header("x-amz-checksum-mode") == "ENABLED":
            set_checksum_headers(request, meta.checksums)
    else:
        offset, length = byte_range.start, byte_range.length
        request.setResponseCode(206)
        request.setHeader(
            b"content-range", s3headers.content_range(byte_range, meta.size).encode("ascii")
        )
    request.setHeader(b"content-length", str(length).encode("ascii"))
    return opened, offset, length


def _part_range(call: S3Call, meta: ObjectMeta) -> s3headers.ByteRange:
    """The bytes of part N of an object (?partNumber=N on GET and HEAD).

    An object not made by a multipart upload has one part: itself.
    """
    if call.header("range") is not None:
        raise errors.InvalidRequest(
            "Cannot specify both Range header and partNumber query parameter."
        )
    number = part_number(call)
    sizes = meta.parts or (meta.size,)
    if number > len(sizes):
        raise errors.InvalidPartNumber()
    start = sum(sizes[: number - 1])
    return s3headers.ByteRange(start, sizes[number - 1])


def get_object(ctx: Context, request: Any, call: S3Call) -> Any:
    opened, offset, length = _open_for_read(ctx, request, call)
    if length <= SMALL_BODY_BYTES:
        try:
            data = os.pread(opened.fd, length, offset) if length else b""
        finally:
            opened.close()
        if len(data) != length:
            # Replaced in place by hand between fstat and read: the headers
            # promised more than there is, so fail before sending any byte.
            raise errors.InternalError("The object changed while it was being read.")
        return data
    return FileProducer(opened, offset, length, request, ctx.clock).start()


def head_object(ctx: Context, request: Any, call: S3Call) -> bytes:
    opened, _, _ = _open_for_read(ctx, request, call)
    opened.close()
    return b""


#: What GetObjectAttributes may be asked for (x-amz-object-attributes).
_OBJECT_ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})


def get_object_attributes(ctx: Context, request: Any, call: S3Call) -> bytes:
    listed = ",".join(call.headers.get("x-amz-object-attributes", []))
    wanted = {name.strip() for name in listed.split(",")} - {""}
    if not wanted or not wanted <= _OBJECT_ATTRIBUTES:
        raise errors.InvalidArgument(
            "Invalid attribute name specified.", ArgumentName="x-amz-object-attributes"
        )
    # At most as many parts as a ListParts page holds.
    max_parts = parse_count(call.header("x-amz-max-parts"), "x-amz-max-parts", MAX_PARTS_PER_PAGE)
    marker = parse_count(
        call.header("x-amz-part-number-marker"),
        "x-amz-part-number-marker",
        MAX_PART_NUMBER,
        default=0,
    )
    meta = ctx.store.head_object(call.bucket, call.key)
    request.setHeader(
        b"last-modified", s3headers.format_http_date(meta.last_modified).encode("ascii")
    )
    body = xml.object_attributes(
        wanted=wanted,
        etag=meta.etag,
        size=meta.size,
        checksums=meta.checksums,
        part_sizes=meta.parts,
        part_number_marker=marker,
        max_parts=max_parts,
    )
    return xml_response(request, body)


def delete_object(ctx: Context, request: Any, call: S3Call) -> bytes:
    ctx.store.delete_object(call.bucket, call.key)
    return no_content(request)


def get_object_acl(ctx: Context, request: Any, call: S3Call) -> bytes:
    ctx.store.head_object(call.bucket, call.key)
    return xml_response(request, xml.acl(*ctx.owner(call)))


def put_object_acl(ctx: Context, request: Any, call: S3Call) -> bytes:
    refuse_canned_acl(call)
    ctx.store.head_object(call.bucket, call.key)
    assert call.sink is not None
    if call.sink.finish():  # type: ignore[attr-defined]
        raise errors.S3NotImplemented(
            "Access control lists other than 'private' are not supported."
        )
    return b""


def parse_copy_source(value: str) -> tuple[str, str]:
    """(bucket, key) from an ``x-amz-copy-source`` header ("/bkt/key", URL-encoded)."""
    source, _, version = value.partition("?")
    if version and version not in ("versionId=null", "versionId="):
        raise errors.InvalidArgument("Versions other than 'null' do not exist on this server.")
    try:
        bucket, _, key = unquote(source, errors="strict").lstrip("/").partition("/")
        validate_bucket_name(bucket)
        validate_key(key)
    except (errors.S3Error, UnicodeDecodeError):
        # UnicodeDecodeError: an escape that is not UTF-8 ("%FF", or ".."
        # spelled as overlong UTF-8) names no key at all.
        raise errors.InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
        ) from None
    return bucket, key


def open_copy_source(ctx: Context, call: S3Call) -> tuple[str, str, OpenObject]:
    """The object x-amz-copy-source names, opened, after checking the caller may read it."""
    assert call.auth is not None
    source_bucket, source_key = parse_copy_source(call.header("x-amz-copy-source") or "")
    source_owner = ctx.store.bucket_info(source_bucket).owner
    if not ctx.can_see(call.auth.access_key, source_owner):
        raise errors.AccessDenied()
    source = ctx.store.open_object(source_bucket, source_key)
    try:
        _check_copy_source_conditions(call, source.meta)
    except BaseException:
        source.close()
        raise
    return source_bucket, source_key, source


#: x-amz-copy-source-if-* headers and the plain conditional each one mirrors.
_COPY_SOURCE_CONDITIONS = (
    ("x-amz-copy-source-if-match", "if-match"),
    ("x-amz-copy-source-if-none-match", "if-none-match"),
    ("x-amz-copy-source-if-modified-since", "if-modified-since"),
    ("x-amz-copy-source-if-unmodified-since", "if-unmodified-since"),
)


def _check_copy_source_conditions(call: S3Call, meta: ObjectMeta) -> None:
    """Apply x-amz-copy-source-if-* to the source, with GET's precedence rules.

    Where a GET would answer 304, a copy answers 412: S3 copies nothing and
    says the precondition failed.
    """
    mirrored = {
        plain: call.headers[copy] for copy, plain in _COPY_SOURCE_CONDITIONS if copy in call.headers
    }
    if not mirrored:
        return
    try:
        s3headers.evaluate_conditions(mirrored, meta.etag, meta.last_modified, for_get=True)
    except errors.NotModified:
        raise errors.PreconditionFailed() from None


@contextmanager
def closed_on_error(source: OpenObject) -> Iterator[OpenObject]:
    """Close ``source`` if the block raises; otherwise leave it open for ``copy_to_temp``."""
    try:
        yield source
    except BaseException:
        source.close()
        raise


def copy_to_temp(
    ctx: Context, source: OpenObject, offset: int, length: int
) -> tuple[TempFile, str]:
    """Copy ``length`` bytes of an open object into a new temp file, then close it.

    Returns (temp, hex MD5).  Blocking: callers run it through
    ``ctx.blocking`` so that a large copy happens on the disk thread pool.  It
    owns ``source`` from the call on: if the request is cancelled meanwhile,
    the thread still finishes with the descriptor and closes it (an
    abandoned temp file is swept later).  The bytes pass through Python in
    1 MiB pieces because the ETag is their MD5.
    """
    with source:
        return _copy_range(ctx, source, offset, length)


def _copy_range(ctx: Context, source: OpenObject, offset: int, length: int) -> tuple[TempFile, str]:
    temp = ctx.store.create_temp()
    try:
        md5 = hashlib.md5()
        end = offset + length
        while offset < end:
            piece = os.pread(source.fd, min(COPY_CHUNK_BYTES, end - offset), offset)
            if not piece:
                raise errors.InternalError("The source object changed while it was copied.")
            md5.update(piece)
            temp.write(piece)
            offset += len(piece)
    except BaseException:
        temp.abort()
        raise
    return temp, md5.hexdigest()


def _directive(call: S3Call, what: str) -> str:
    """COPY (the default) or REPLACE, from the ``x-amz-<what>-directive`` header."""
    header = f"x-amz-{what}-directive"
    value = (call.header(header) or "COPY").upper()
    if value not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument(f"Unknown {what} directive.", ArgumentName=header)
    return value


async def copy_object(ctx: Context, request: Any, call: S3Call) -> bytes:
    refuse_canned_acl(call)
    directive = _directive(call, "metadata")
    if _directive(call, "tagging") == "REPLACE":
        # COPY copies the source's tags, of which there are none.
        refuse_tags(call)
    source_bucket, source_key, source = open_copy_source(ctx, call)
    with closed_on_error(source):
        if (source_bucket, source_key) == (call.bucket, call.key) and directive == "COPY":
            raise errors.InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes."
            )
        if directive == "REPLACE":
            content_type, stored, user_meta = _meta_from_request(call)
        else:
            content_type = source.meta.content_type
            stored, user_meta = source.meta.headers, source.meta.user_metadata
        size = source.meta.size
        if size > ctx.settings.max_object_size:
            # A source stored before the cap was lowered, or dropped in by hand.
            raise too_large(size, ctx.settings.max_object_size)
    temp, etag = await ctx.blocking(copy_to_temp, ctx, source, 0, size)
    meta = ObjectMeta(
        etag=etag,
        size=size,
        last_modified=ctx.clock.seconds(),
        content_type=content_type,
        headers=dict(stored),
        user_metadata=dict(user_meta),
    )
    if call.key.endswith("/"):
        temp.abort()
        if size:
            raise errors.InvalidArgument("A key ending in '/' (a folder marker) must be empty.")
        result = ctx.store.put_object_bytes(call.bucket, call.key, b"", meta)
    else:
        result = ctx.store.commit_object(call.bucket, call.key, temp, meta)
    return xml_response(request, xml.copy_object_result(result.etag, result.last_modified))
