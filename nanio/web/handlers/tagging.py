"""Tagging of objects and buckets: nanio stores no tags, and says so as S3 would.

Clients read tags more often than they write them: aws-cli v2 reads an
object's tags before every multipart copy, to copy them along.  So an
object's tag set is read as empty and a bucket's as missing (S3's
NoSuchTagSet for a bucket that never had tags); deleting tags, or putting an
empty set, succeeds; putting any tag answers 501 NotImplemented rather than
dropping what the client asked to keep.
"""

from __future__ import annotations

from typing import Any

from nanio import errors
from nanio.s3 import xml
from nanio.web.call import S3Call
from nanio.web.handlers.context import Context, no_content, tags_not_supported, xml_response
from nanio.web.sinks import BufferSink


def _refuse_tag_set(call: S3Call) -> None:
    """Accept an empty TagSet in the body, refuse any tag (MalformedXML for a bad document)."""
    assert isinstance(call.sink, BufferSink)
    if xml.parse_tagging(call.sink.finish()):
        raise tags_not_supported()


def get_object_tagging(ctx: Context, request: Any, call: S3Call) -> bytes:
    ctx.store.head_object(call.bucket, call.key)
    return xml_response(request, xml.empty_tagging())


def put_object_tagging(ctx: Context, request: Any, call: S3Call) -> bytes:
    ctx.store.head_object(call.bucket, call.key)
    _refuse_tag_set(call)
    return b""


def delete_object_tagging(ctx: Context, request: Any, call: S3Call) -> bytes:
    ctx.store.head_object(call.bucket, call.key)
    return no_content(request)


def get_bucket_tagging(ctx: Context, request: Any, call: S3Call) -> bytes:
    raise errors.NoSuchTagSet(BucketName=call.bucket)


def put_bucket_tagging(ctx: Context, request: Any, call: S3Call) -> bytes:
    _refuse_tag_set(call)
    return no_content(request)


def delete_bucket_tagging(ctx: Context, request: Any, call: S3Call) -> bytes:
    return no_content(request)
