"""Bucket operations: create, delete, probe, list, batch delete."""

from __future__ import annotations

from typing import Any, TypedDict

from nanio import errors
from nanio.s3 import xml
from nanio.s3.keys import validate_key
from nanio.s3.model import ListPage
from nanio.web.call import S3Call
from nanio.web.handlers.context import (
    Context,
    no_content,
    refuse_canned_acl,
    xml_response,
)
from nanio.web.handlers.service import decode_token, encode_token, parse_max
from nanio.web.sinks import BufferSink

#: S3 returns at most 1000 keys per listing page, whatever max-keys asks.
MAX_KEYS_PER_PAGE = 1000


def _xml_body(call: S3Call) -> bytes:
    assert isinstance(call.sink, BufferSink)
    return call.sink.finish()


def create_bucket(ctx: Context, request: Any, call: S3Call) -> bytes:
    refuse_canned_acl(call)
    # The LocationConstraint is accepted whatever it says: one server, one region.
    xml.parse_create_bucket(_xml_body(call))
    ctx.store.create_bucket(call.bucket, owner=ctx.recorded_owner(call))
    # "/bkt" path style, "/" on bkt.base-domain: where this client finds it.
    request.setHeader(b"location", call.location().encode("latin-1"))
    return b""


def delete_bucket(ctx: Context, request: Any, call: S3Call) -> bytes:
    ctx.store.delete_bucket(call.bucket)
    return no_content(request)


def head_bucket(ctx: Context, request: Any, call: S3Call) -> bytes:
    # Existence and access were checked before the body (call.Preflight).
    request.setHeader(b"x-amz-bucket-region", ctx.settings.region.encode("ascii"))
    return b""


def get_bucket_location(ctx: Context, request: Any, call: S3Call) -> bytes:
    return xml_response(request, xml.location(ctx.settings.region))


def get_bucket_versioning(ctx: Context, request: Any, call: S3Call) -> bytes:
    return xml_response(request, xml.versioning())


def get_bucket_acl(ctx: Context, request: Any, call: S3Call) -> bytes:
    return xml_response(request, xml.acl(*ctx.owner(call)))


def put_bucket_acl(ctx: Context, request: Any, call: S3Call) -> bytes:
    refuse_canned_acl(call)
    if _xml_body(call):
        raise errors.S3NotImplemented(
            "Access control lists other than 'private' are not supported."
        )
    return b""


class _ListingArgs(TypedDict):
    """The keyword arguments every listing renderer in ``s3/xml.py`` takes."""

    bucket: str
    prefix: str
    delimiter: str | None
    max_keys: int
    encoding_type: str | None
    owner_id: str
    owner_name: str


def _list(ctx: Context, call: S3Call, start_after: str) -> tuple[ListPage, _ListingArgs]:
    """Read the shared listing parameters, fetch the page after ``start_after``; (page, args)."""
    query = call.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = parse_max(call, "max-keys", MAX_KEYS_PER_PAGE)
    encoding_type = query.get("encoding-type")
    xml.validate_encoding_type(encoding_type)
    page = ctx.store.list_objects(
        call.bucket, prefix=prefix, delimiter=delimiter, start_after=start_after, max_keys=max_keys
    )
    owner_id, owner_name = ctx.owner(call)
    return page, _ListingArgs(
        bucket=call.bucket,
        prefix=prefix,
        delimiter=delimiter or None,
        max_keys=max_keys,
        encoding_type=encoding_type,
        owner_id=owner_id,
        owner_name=owner_name,
    )


def list_objects_v2(ctx: Context, request: Any, call: S3Call) -> bytes:
    query = call.query
    token = query.get("continuation-token")
    # A continuation token wins over start-after, as in S3.
    resume_after = decode_token(token) if token is not None else query.get("start-after", "")
    page, args = _list(ctx, call, resume_after)
    body = xml.list_objects_v2(
        page,
        continuation_token=token,
        next_continuation_token=(
            encode_token(page.next_marker) if page.is_truncated and page.next_marker else None
        ),
        start_after=query.get("start-after"),
        fetch_owner=query.get("fetch-owner") == "true",
        **args,
    )
    return xml_response(request, body)


def list_objects(ctx: Context, request: Any, call: S3Call) -> bytes:
    marker = call.query.get("marker", "")
    page, args = _list(ctx, call, marker)
    return xml_response(request, xml.list_objects_v1(page, marker=marker, **args))


def list_object_versions(ctx: Context, request: Any, call: S3Call) -> bytes:
    key_marker = call.query.get("key-marker", "")
    page, args = _list(ctx, call, key_marker)
    return xml_response(request, xml.list_object_versions(page, key_marker=key_marker, **args))


def delete_objects(ctx: Context, request: Any, call: S3Call) -> bytes:
    # Content-MD5 and x-amz-checksum-* were checked by the sink.
    keys, quiet = xml.parse_delete(_xml_body(call))
    deleted: list[str] = []
    failed: list[tuple[str, str, str]] = []
    for key in keys:
        try:
            validate_key(key)
            ctx.store.delete_object(call.bucket, key)
        except errors.S3Error as e:
            failed.append((key, e.code, e.message))
        else:
            deleted.append(key)
    return xml_response(request, xml.delete_result([] if quiet else deleted, failed))
