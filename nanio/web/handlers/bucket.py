"""Bucket operations: create, delete, probe, list, batch delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def _bucket_owner(call: S3Call, ctx: Context) -> str | None:
    """The owner recorded for a new bucket: only multi-user stores record one."""
    if call.auth is None or not ctx.credentials.multi_user:
        return None
    return call.auth.access_key


def create_bucket(ctx: Context, request: Any, call: S3Call) -> bytes:
    refuse_canned_acl(call)
    # The LocationConstraint is accepted whatever it says: one server, one region.
    xml.parse_create_bucket(_xml_body(call))
    ctx.store.create_bucket(call.bucket, owner=_bucket_owner(call, ctx))
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


@dataclass(frozen=True, slots=True)
class _Listing:
    """The parameters every listing shares, and the page they select."""

    prefix: str
    delimiter: str
    max_keys: int
    encoding_type: str | None
    page: ListPage


def _list(ctx: Context, call: S3Call, start_after: str) -> _Listing:
    """Read the shared listing parameters and fetch the page after ``start_after``."""
    query = call.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = parse_max(call, "max-keys", MAX_KEYS_PER_PAGE)
    encoding_type = query.get("encoding-type")
    xml.validate_encoding_type(encoding_type)
    page = ctx.store.list_objects(
        call.bucket, prefix=prefix, delimiter=delimiter, start_after=start_after, max_keys=max_keys
    )
    return _Listing(prefix, delimiter, max_keys, encoding_type, page)


def list_objects_v2(ctx: Context, request: Any, call: S3Call) -> bytes:
    query = call.query
    token = query.get("continuation-token")
    # A continuation token wins over start-after, as in S3.
    resume_after = decode_token(token) if token is not None else query.get("start-after", "")
    listing = _list(ctx, call, resume_after)
    page = listing.page
    owner_id, owner_name = ctx.owner(call)
    body = xml.list_objects_v2(
        page,
        bucket=call.bucket,
        prefix=listing.prefix,
        delimiter=listing.delimiter or None,
        max_keys=listing.max_keys,
        encoding_type=listing.encoding_type,
        continuation_token=token,
        next_continuation_token=(
            encode_token(page.next_marker) if page.is_truncated and page.next_marker else None
        ),
        start_after=query.get("start-after"),
        fetch_owner=query.get("fetch-owner") == "true",
        owner_id=owner_id,
        owner_name=owner_name,
    )
    return xml_response(request, body)


def list_objects(ctx: Context, request: Any, call: S3Call) -> bytes:
    marker = call.query.get("marker", "")
    listing = _list(ctx, call, marker)
    owner_id, owner_name = ctx.owner(call)
    body = xml.list_objects_v1(
        listing.page,
        bucket=call.bucket,
        prefix=listing.prefix,
        delimiter=listing.delimiter or None,
        marker=marker,
        max_keys=listing.max_keys,
        encoding_type=listing.encoding_type,
        owner_id=owner_id,
        owner_name=owner_name,
    )
    return xml_response(request, body)


def list_object_versions(ctx: Context, request: Any, call: S3Call) -> bytes:
    key_marker = call.query.get("key-marker", "")
    listing = _list(ctx, call, key_marker)
    owner_id, owner_name = ctx.owner(call)
    body = xml.list_object_versions(
        listing.page,
        bucket=call.bucket,
        prefix=listing.prefix,
        delimiter=listing.delimiter or None,
        key_marker=key_marker,
        max_keys=listing.max_keys,
        encoding_type=listing.encoding_type,
        owner_id=owner_id,
        owner_name=owner_name,
    )
    return xml_response(request, body)


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
