"""Multipart upload operations: create, upload (and copy) parts, complete, abort, list."""

from __future__ import annotations

from functools import partial
from typing import Any

from nanio import errors
from nanio.s3 import headers as s3headers
from nanio.s3 import xml
from nanio.s3.checksums import (
    ALGORITHMS,
    CHECKSUM_TYPE_HEADER,
    HEADER_NAMES,
    upload_checksum_type,
)
from nanio.s3.model import ObjectMeta
from nanio.s3.numbers import decimal
from nanio.web.call import MAX_PART_NUMBER, S3Call, part_number
from nanio.web.handlers.context import (
    Context,
    no_content,
    refuse_canned_acl,
    refuse_tags,
    xml_response,
)
from nanio.web.handlers.object import (
    closed_on_error,
    copy_to_temp,
    open_copy_source,
    set_checksum_headers,
    write_precondition,
)
from nanio.web.handlers.service import parse_max
from nanio.web.keepalive import WhitespaceKeepAlive
from nanio.web.sinks import MAX_PART_SIZE_BYTES, BufferSink, ObjectSink, too_large

#: Pages of ListParts and ListMultipartUploads hold at most this many entries.
MAX_LISTED = 1000
#: Byte offsets past 20 digits lie beyond any object (5 TiB has 13).
_OFFSET_DIGITS = 20


def create_multipart_upload(ctx: Context, request: Any, call: S3Call) -> bytes:
    refuse_canned_acl(call)
    refuse_tags(call)
    content_type, stored, user_meta = s3headers.metadata_from_headers(call.headers)
    algorithm = (call.header("x-amz-checksum-algorithm") or "").lower()
    if algorithm and algorithm not in ALGORITHMS:
        raise errors.InvalidRequest("Value for x-amz-checksum-algorithm header is invalid.")
    checksum_type = upload_checksum_type(algorithm or None, call.header(CHECKSUM_TYPE_HEADER))
    meta = ObjectMeta(
        etag="",
        size=0,
        last_modified=ctx.clock.seconds(),
        content_type=content_type,
        headers=stored,
        user_metadata=user_meta,
        # The algorithm asked for, with no value yet: the parts carry theirs.
        checksums={algorithm: ""} if algorithm else {},
    )
    upload_id = ctx.store.create_multipart_upload(
        call.bucket, call.key, meta, owner=ctx.recorded_owner(call), checksum_type=checksum_type
    )
    if algorithm and checksum_type:
        request.setHeader(b"x-amz-checksum-algorithm", algorithm.upper().encode("ascii"))
        request.setHeader(CHECKSUM_TYPE_HEADER.encode("ascii"), checksum_type.encode("ascii"))
    return xml_response(request, xml.initiate_multipart_upload(call.bucket, call.key, upload_id))


async def upload_part(ctx: Context, request: Any, call: S3Call) -> bytes:
    number = part_number(call)
    assert isinstance(call.sink, ObjectSink)
    received = await call.sink.finish()
    part = ctx.store.commit_part(
        call.bucket,
        call.key,
        call.query["uploadId"],
        number,
        received.temp,
        received.etag,
        received.checksums,
    )
    request.setHeader(b"etag", b'"' + part.etag.encode("ascii") + b'"')
    set_checksum_headers(request, part.checksums)
    return b""


async def upload_part_copy(ctx: Context, request: Any, call: S3Call) -> bytes:
    number = part_number(call)
    upload_id = call.query["uploadId"]
    ctx.store.upload_info(call.bucket, call.key, upload_id)
    _, _, source = open_copy_source(ctx, call)
    with closed_on_error(source):
        size = source.meta.size
        byte_range = _copy_source_range(call.header("x-amz-copy-source-range"), size)
        offset, length = (0, size) if byte_range is None else (byte_range.start, byte_range.length)
        max_size = min(MAX_PART_SIZE_BYTES, ctx.settings.max_object_size)
        if length > max_size:
            raise too_large(length, max_size)
    temp, etag = await ctx.blocking(copy_to_temp, ctx, source, offset, length)
    part = ctx.store.commit_part(call.bucket, call.key, upload_id, number, temp, etag, {})
    return xml_response(request, xml.copy_part_result(part.etag, part.last_modified))


def _copy_source_range(value: str | None, size: int) -> s3headers.ByteRange | None:
    """x-amz-copy-source-range: only ``bytes=first-last`` inside the source is valid."""
    if value is None:
        return None
    first, _, last = value.removeprefix("bytes=").partition("-")
    digits = (first + last).isascii() and first.isdigit() and last.isdigit()
    if not (value.startswith("bytes=") and digits):
        raise errors.InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last "
            "where first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
        )
    start, end = decimal(first, _OFFSET_DIGITS), decimal(last, _OFFSET_DIGITS)
    # An offset too long to read lies beyond any object.
    if start is None or end is None or start > end or end >= size:
        raise errors.InvalidArgument(
            f"Range specified is not valid for source object of size: {size}",
            ArgumentName="x-amz-copy-source-range",
        )
    return s3headers.ByteRange(start, end - start + 1)


async def complete_multipart_upload(ctx: Context, request: Any, call: S3Call) -> bytes:
    assert isinstance(call.sink, BufferSink)
    parts = xml.parse_complete_multipart(call.sink.finish())
    precondition = write_precondition(call)
    # A long join gets its 200 early and whitespace meanwhile, as on S3;
    # a failure after that goes into the body (see resource._render_error).
    keepalive = WhitespaceKeepAlive(request, ctx.clock)
    try:
        # Joining the parts copies every byte once: off the reactor thread.
        meta = await ctx.blocking(
            partial(
                ctx.store.complete_multipart_upload,
                call.bucket,
                call.key,
                call.query["uploadId"],
                parts,
                precondition=precondition,
                max_size=ctx.settings.max_object_size,
                sent_checksums={
                    algorithm: value
                    for algorithm, name in HEADER_NAMES.items()
                    if (value := call.header(name)) is not None
                },
            )
        )
    finally:
        keepalive.stop()
    location = call.location(call.key)
    set_checksum_headers(request, meta.checksums)
    document = xml_response(
        request,
        xml.complete_multipart_upload(location, call.bucket, call.key, meta.etag, meta.checksums),
    )
    return keepalive.rest_of(document)


def abort_multipart_upload(ctx: Context, request: Any, call: S3Call) -> bytes:
    ctx.store.abort_multipart_upload(call.bucket, call.key, call.query["uploadId"])
    return no_content(request)


def list_parts(ctx: Context, request: Any, call: S3Call) -> bytes:
    upload_id = call.query["uploadId"]
    # Past the last part number a marker lists nothing, whatever its value.
    marker = parse_max(call, "part-number-marker", MAX_PART_NUMBER, default=0)
    max_parts = parse_max(call, "max-parts", MAX_LISTED)
    ctx.store.upload_info(call.bucket, call.key, upload_id)
    parts, truncated = ctx.store.list_parts(
        call.bucket, call.key, upload_id, part_number_marker=marker, max_parts=max_parts
    )
    owner_id, owner_name = ctx.owner(call)
    body = xml.list_parts(
        bucket=call.bucket,
        key=call.key,
        upload_id=upload_id,
        part_number_marker=marker,
        next_part_number_marker=parts[-1].part_number if truncated and parts else None,
        max_parts=max_parts,
        is_truncated=truncated,
        parts=[(p.part_number, p.last_modified, p.etag, p.size) for p in parts],
        owner_id=owner_id,
        owner_name=owner_name,
    )
    return xml_response(request, body)


def list_multipart_uploads(ctx: Context, request: Any, call: S3Call) -> bytes:
    query = call.query
    encoding_type = query.get("encoding-type")
    xml.validate_encoding_type(encoding_type)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    key_marker = query.get("key-marker", "")
    upload_id_marker = query.get("upload-id-marker", "")
    max_uploads = parse_max(call, "max-uploads", MAX_LISTED)
    page = ctx.store.list_multipart_uploads(
        call.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=max_uploads,
    )
    owner_id, owner_name = ctx.owner(call)
    body = xml.list_multipart_uploads(
        bucket=call.bucket,
        prefix=prefix,
        delimiter=delimiter or None,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        next_key_marker=page.next_key_marker,
        next_upload_id_marker=page.next_upload_id_marker,
        max_uploads=max_uploads,
        is_truncated=page.is_truncated,
        uploads=[(u.key, u.upload_id, u.initiated) for u in page.uploads],
        common_prefixes=page.common_prefixes,
        encoding_type=encoding_type,
        owner_id=owner_id,
        owner_name=owner_name,
    )
    return xml_response(request, body)
