"""Service-level operations: ListBuckets."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from nanio import errors
from nanio.s3 import xml
from nanio.s3.numbers import decimal, digits_for
from nanio.web.call import S3Call
from nanio.web.handlers.context import Context, xml_response

#: ListBuckets pages hold at most this many buckets (S3's own limit).
MAX_BUCKETS_PER_PAGE = 10000


def encode_token(marker: str) -> str:
    """An opaque continuation token that resumes after ``marker``."""
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    """The marker inside a continuation token; InvalidArgument when it is not one."""
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise errors.InvalidArgument(
            "The continuation token provided is incorrect", ArgumentName="continuation-token"
        ) from None


#: S3 reads max-keys and its kin as 32-bit signed integers.
_INT32_MAX = 2**31 - 1
_INT32_DIGITS = digits_for(_INT32_MAX)


def parse_max(call: S3Call, name: str, limit: int, default: int | None = None) -> int:
    """A max-keys style parameter: an integer from 0, capped at ``limit`` (its default)."""
    return parse_count(call.query.get(name), name, limit, default)


def parse_count(raw: str | None, name: str, limit: int, default: int | None = None) -> int:
    """A count or marker sent as ``raw`` (a parameter or a header), as ``parse_max`` reads it."""
    if raw is None or raw == "":
        return limit if default is None else default
    value = decimal(raw, _INT32_DIGITS)
    if value is None or value > _INT32_MAX:
        raise errors.InvalidArgument(
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=raw,
        )
    return min(value, limit)


def list_buckets(ctx: Context, request: Any, call: S3Call) -> bytes:
    assert call.auth is not None
    access_key = call.auth.access_key
    prefix = call.query.get("prefix", "")
    token = call.query.get("continuation-token")
    start_after = decode_token(token) if token else ""
    limit = parse_max(call, "max-buckets", MAX_BUCKETS_PER_PAGE)
    visible = [
        b
        for b in ctx.store.list_buckets()
        if b.name.startswith(prefix) and b.name > start_after and ctx.can_see(access_key, b.owner)
    ]
    page = visible[:limit]
    next_token = encode_token(page[-1].name) if len(visible) > limit and page else None
    owner_id, owner_name = ctx.owner(call)
    body = xml.list_buckets(
        page,
        owner_id,
        owner_name,
        prefix=prefix if "prefix" in call.query else None,
        continuation_token=next_token,
    )
    return xml_response(request, body)
