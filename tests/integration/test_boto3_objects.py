"""
Object operations through boto3 against a real server: PutObject, GetObject
(ranges, conditionals, response overrides), HeadObject, DeleteObject(s),
CopyObject, folder markers, hostile keys and presigned URLs.

Uploads run twice, through the ``s3`` fixture: once with botocore's newest
defaults (a CRC32 on every upload) and once with
``request_checksum_calculation="when_required"``.  Each test makes its own
bucket on the one session server.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.support.clients import (
    boto3_client_as,
    error_code,
    error_fields,
    http_status,
    refusal,
    signed_request,
    urlopen,
)
from tests.support.server import RunningServer, make_boto3_client
from tests.support.signing import frozen_botocore_clock

MIB = 1024 * 1024
EMPTY_MD5 = hashlib.md5(b"").hexdigest()
DAY = datetime.timedelta(days=1)

#: Keys with every character that needs care in a URL, a signature or XML.
SPECIAL_KEYS = [
    "with space",
    "two  spaces and trailing space ",
    "ünïcødé/日本語/😀",
    "plus+sign",
    "equals=sign",
    "percent%25literal%",
    "ampersand&amp",
    "question?mark",
    "hash#tag",
    "tilde~",
    "bang!",
    "quote'single",
    'double"quote',
    "(paren)",
    "star*",
    "comma,",
    "semi;colon",
    "at@sign",
    "dollar$",
    "less<than>greater",
    "colon:key",
    "back\\slash",
    "caret^pipe|brace{}",
    "dir/with space/and+plus=%",
]


@pytest.fixture(
    scope="module", params=["when_supported", "when_required"], ids=["newest", "when-required"]
)
def s3(request: pytest.FixtureRequest, server: RunningServer) -> Any:
    """The conftest ``s3`` pair of clients, built once per module: a client costs ~0.3 s."""
    return make_boto3_client(server, checksums=request.param)


@pytest.fixture
def stored(client: Any, bucket: str) -> dict[str, Any]:
    """One 100-byte object ``obj`` in a fresh bucket, with its HEAD answer."""
    body = bytes(range(100))
    client.put_object(Bucket=bucket, Key="obj", Body=body)
    head = client.head_object(Bucket=bucket, Key="obj")
    return {"bucket": bucket, "key": "obj", "body": body, "head": head}


def get_body(client: Any, bucket: str, key: str, **params: Any) -> bytes:
    """The bytes of a GetObject answer."""
    data: bytes = client.get_object(Bucket=bucket, Key=key, **params)["Body"].read()
    return data


def b64_md5(data: bytes) -> str:
    """Content-MD5 header value for ``data``."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


# --- PutObject ---------------------------------------------------------------------


def test_put_then_get_returns_the_bytes(s3: Any, bucket: str) -> None:
    """A PutObject body comes back unchanged from GetObject."""
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello, world\n")
    assert get_body(s3, bucket, "hello.txt") == b"hello, world\n"


def test_put_answers_md5_etag(s3: Any, bucket: str) -> None:
    """PutObject answers the quoted hex MD5 of the body as ETag."""
    response = s3.put_object(Bucket=bucket, Key="k", Body=b"etag me")
    assert response["ETag"] == f'"{hashlib.md5(b"etag me").hexdigest()}"'


def test_put_stores_plain_file(s3: Any, server: RunningServer, bucket: str) -> None:
    """The stored object is a plain file under the bucket directory holding exactly the bytes."""
    s3.put_object(Bucket=bucket, Key="dir/sub/file.bin", Body=b"on disk")
    assert (server.data_dir / bucket / "dir" / "sub" / "file.bin").read_bytes() == b"on disk"


@pytest.mark.parametrize("operation", ["get_object", "head_object"])
def test_user_metadata_round_trips(s3: Any, bucket: str, operation: str) -> None:
    """User metadata given to PutObject comes back on GetObject and HeadObject."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"color": "blue", "n": "42"})
    response = getattr(s3, operation)(Bucket=bucket, Key="k")
    assert response["Metadata"] == {"color": "blue", "n": "42"}


def test_user_metadata_names_come_back_lower_case(client: Any, bucket: str) -> None:
    """S3 lower-cases user metadata names: 'Mixed-Case' comes back as 'mixed-case'."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"Mixed-Case": "Value"})
    assert client.head_object(Bucket=bucket, Key="k")["Metadata"] == {"mixed-case": "Value"}


STANDARD_HEADERS: list[tuple[str, Any]] = [
    ("ContentType", "text/x-nanio; charset=utf-8"),
    ("ContentEncoding", "gzip"),
    ("ContentDisposition", 'attachment; filename="report.txt"'),
    ("ContentLanguage", "fr-CA"),
    ("CacheControl", "max-age=3600, must-revalidate"),
    ("Expires", datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)),
]


@pytest.mark.parametrize("operation", ["get_object", "head_object"])
@pytest.mark.parametrize(("field", "value"), STANDARD_HEADERS, ids=[f for f, _ in STANDARD_HEADERS])
def test_standard_header_round_trips(
    s3: Any, bucket: str, field: str, value: Any, operation: str
) -> None:
    """A standard header given to PutObject comes back on GetObject and HeadObject."""
    s3.put_object(Bucket=bucket, Key="k", Body=gzip.compress(b"x"), **{field: value})
    assert getattr(s3, operation)(Bucket=bucket, Key="k")[field] == value


def test_default_content_type_is_binary(client: Any, bucket: str) -> None:
    """An object stored without a Content-Type is served as binary/octet-stream."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert client.head_object(Bucket=bucket, Key="k")["ContentType"] == "binary/octet-stream"


def test_gzip_encoded_body_is_served_untouched(client: Any, bucket: str) -> None:
    """A Content-Encoding: gzip object is served as the stored compressed bytes."""
    body = gzip.compress(b"compressed " * 100)
    client.put_object(Bucket=bucket, Key="k.gz", Body=body, ContentEncoding="gzip")
    assert get_body(client, bucket, "k.gz") == body


def test_right_content_md5_is_accepted(s3: Any, bucket: str) -> None:
    """PutObject with a correct Content-MD5 stores the object."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"checked", ContentMD5=b64_md5(b"checked"))
    assert get_body(s3, bucket, "k") == b"checked"


def test_wrong_content_md5_is_bad_digest(s3: Any, bucket: str) -> None:
    """PutObject with a Content-MD5 of other bytes answers 400 BadDigest."""
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"checked", ContentMD5=b64_md5(b"other"))
    assert error_code(caught.value) == "BadDigest"
    assert http_status(caught.value.response) == 400


def test_wrong_content_md5_stores_nothing(s3: Any, bucket: str) -> None:
    """A PutObject refused with BadDigest leaves no object behind."""
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"checked", ContentMD5=b64_md5(b"other"))
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_wrong_content_md5_keeps_the_old_object(s3: Any, bucket: str) -> None:
    """A PutObject refused with BadDigest leaves the previous object intact."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key="k", Body=b"new", ContentMD5=b64_md5(b"other"))
    assert get_body(s3, bucket, "k") == b"old"


def test_empty_object_round_trips(s3: Any, bucket: str) -> None:
    """An empty object is stored and served as zero bytes with the MD5 of nothing."""
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    response = s3.get_object(Bucket=bucket, Key="empty")
    assert response["Body"].read() == b""
    assert response["ContentLength"] == 0
    assert response["ETag"] == f'"{EMPTY_MD5}"'


@pytest.mark.parametrize("size", [MIB, 20 * MIB], ids=["1MiB", "20MiB"])
def test_large_random_object_round_trips(s3: Any, bucket: str, size: int) -> None:
    """A large object of random bytes comes back with the same SHA-256."""
    body = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    got = get_body(s3, bucket, "big.bin")
    assert len(got) == size
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()


def test_large_object_etag_is_md5(client: Any, bucket: str) -> None:
    """A 20 MiB single-request upload gets the plain MD5 of its bytes as ETag."""
    body = os.urandom(20 * MIB)
    client.put_object(Bucket=bucket, Key="big.bin", Body=body)
    etag = client.head_object(Bucket=bucket, Key="big.bin")["ETag"]
    assert etag == f'"{hashlib.md5(body).hexdigest()}"'


def test_upload_file_and_download_file(client: Any, bucket: str, tmp_path: Any) -> None:
    """boto3 upload_file and download_file (single request) move a file unchanged."""
    source = tmp_path / "up.bin"
    source.write_bytes(os.urandom(3 * MIB))
    single = TransferConfig(multipart_threshold=64 * MIB)
    client.upload_file(str(source), bucket, "up.bin", Config=single)
    target = tmp_path / "down.bin"
    client.download_file(bucket, "up.bin", str(target), Config=single)
    assert target.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_special_key_round_trips(client: Any, bucket: str, key: str) -> None:
    """A key with characters that need escaping stores and serves its object."""
    client.put_object(Bucket=bucket, Key=key, Body=key.encode("utf-8"))
    assert get_body(client, bucket, key) == key.encode("utf-8")


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_special_key_is_listed_verbatim(client: Any, bucket: str, key: str) -> None:
    """A key with characters that need escaping is listed exactly as it was written."""
    client.put_object(Bucket=bucket, Key=key, Body=b"x")
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]


def test_overwrite_serves_the_new_bytes(s3: Any, bucket: str) -> None:
    """A second PutObject of one key replaces the bytes."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert get_body(s3, bucket, "k") == b"second"


def test_overwrite_replaces_metadata(client: Any, bucket: str) -> None:
    """A second PutObject of one key replaces metadata and content type too."""
    client.put_object(Bucket=bucket, Key="k", Body=b"1", Metadata={"a": "1"}, ContentType="a/b")
    client.put_object(Bucket=bucket, Key="k", Body=b"2", Metadata={"b": "2"})
    head = client.head_object(Bucket=bucket, Key="k")
    assert (head["Metadata"], head["ContentType"]) == ({"b": "2"}, "binary/octet-stream")


def test_put_into_missing_bucket_is_no_such_bucket(s3: Any, fresh_bucket: str) -> None:
    """PutObject into a bucket that does not exist answers 404 NoSuchBucket."""
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=fresh_bucket, Key="k", Body=b"x")
    assert error_code(caught.value) == "NoSuchBucket"


# --- GetObject: ranges -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-9", 0, 9), ("bytes=10-", 10, 99), ("bytes=-5", 95, 99), ("bytes=90-200", 90, 99)],
)
def test_range_get_answers_206_with_content_range(
    client: Any, stored: dict[str, Any], header: str, start: int, end: int
) -> None:
    """A satisfiable Range answers 206 with the bytes and a Content-Range."""
    response = client.get_object(Bucket=stored["bucket"], Key=stored["key"], Range=header)
    assert http_status(response) == 206
    assert response["ContentRange"] == f"bytes {start}-{end}/100"
    assert response["ContentLength"] == end - start + 1
    assert response["Body"].read() == stored["body"][start : end + 1]


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600"])
def test_unsatisfiable_range_is_invalid_range(
    client: Any, stored: dict[str, Any], header: str
) -> None:
    """A Range starting past the end answers 416 InvalidRange."""
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=stored["bucket"], Key=stored["key"], Range=header)
    assert error_code(caught.value) == "InvalidRange"
    assert http_status(caught.value.response) == 416


def test_get_advertises_accept_ranges(client: Any, stored: dict[str, Any]) -> None:
    """GetObject answers Accept-Ranges: bytes."""
    response = client.get_object(Bucket=stored["bucket"], Key=stored["key"])
    assert response["AcceptRanges"] == "bytes"


def test_get_missing_key_is_no_such_key(client: Any, bucket: str) -> None:
    """GetObject of a missing key answers 404 NoSuchKey."""
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=bucket, Key="missing")
    assert error_code(caught.value) == "NoSuchKey"
    assert http_status(caught.value.response) == 404


def test_get_from_missing_bucket_is_no_such_bucket(client: Any, fresh_bucket: str) -> None:
    """GetObject from a bucket that does not exist answers 404 NoSuchBucket."""
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=fresh_bucket, Key="k")
    assert error_code(caught.value) == "NoSuchBucket"


# --- GetObject and HeadObject: conditionals ----------------------------------------


#: Conditions built from the object's HEAD answer, and the status S3 answers to each.
CONDITIONS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], int]] = {
    "if-match-current-etag": (lambda head: {"IfMatch": head["ETag"]}, 200),
    "if-match-other-etag": (lambda head: {"IfMatch": '"0123abcd"'}, 412),
    "if-none-match-current-etag": (lambda head: {"IfNoneMatch": head["ETag"]}, 304),
    "if-none-match-other-etag": (lambda head: {"IfNoneMatch": '"0123abcd"'}, 200),
    "if-modified-since-last-modified": (
        lambda head: {"IfModifiedSince": head["LastModified"]},
        304,
    ),
    "if-modified-since-a-day-earlier": (
        lambda head: {"IfModifiedSince": head["LastModified"] - DAY},
        200,
    ),
    "if-unmodified-since-a-day-earlier": (
        lambda head: {"IfUnmodifiedSince": head["LastModified"] - DAY},
        412,
    ),
    "if-unmodified-since-last-modified": (
        lambda head: {"IfUnmodifiedSince": head["LastModified"]},
        200,
    ),
    # S3 answers 200 when If-Match holds even though If-Unmodified-Since fails.
    "if-match-true-overrides-if-unmodified-since-false": (
        lambda head: {"IfMatch": head["ETag"], "IfUnmodifiedSince": head["LastModified"] - DAY},
        200,
    ),
    # S3 answers 304 when If-None-Match fails even though If-Modified-Since holds.
    "if-none-match-false-overrides-if-modified-since-true": (
        lambda head: {"IfNoneMatch": head["ETag"], "IfModifiedSince": head["LastModified"] - DAY},
        304,
    ),
}


@pytest.mark.parametrize("operation", ["get_object", "head_object"])
@pytest.mark.parametrize(("condition", "expected"), CONDITIONS.values(), ids=CONDITIONS.keys())
def test_conditional_request_answers_as_s3_does(
    client: Any,
    stored: dict[str, Any],
    condition: Callable[[dict[str, Any]], dict[str, Any]],
    expected: int,
    operation: str,
) -> None:
    """Each conditional header and combination answers 200, 304 or 412 as S3 does."""
    params = condition(stored["head"])
    try:
        response = getattr(client, operation)(Bucket=stored["bucket"], Key=stored["key"], **params)
    except ClientError as error:
        response = error.response
    assert http_status(response) == expected


def test_if_match_failure_is_precondition_failed(client: Any, stored: dict[str, Any]) -> None:
    """A GetObject whose If-Match fails answers the PreconditionFailed code."""
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=stored["bucket"], Key=stored["key"], IfMatch='"0123abcd"')
    assert error_code(caught.value) == "PreconditionFailed"


def test_not_modified_answer_carries_etag(client: Any, stored: dict[str, Any]) -> None:
    """A 304 answer still carries the object's ETag header."""
    etag = stored["head"]["ETag"]
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=stored["bucket"], Key=stored["key"], IfNoneMatch=etag)
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag


# --- GetObject: response-* overrides ------------------------------------------------

OVERRIDES: list[tuple[str, str, Any]] = [
    ("ResponseContentType", "ContentType", "application/x-override"),
    ("ResponseContentDisposition", "ContentDisposition", 'inline; filename="o.txt"'),
    ("ResponseContentEncoding", "ContentEncoding", "identity"),
    ("ResponseContentLanguage", "ContentLanguage", "de-DE"),
    ("ResponseCacheControl", "CacheControl", "no-cache"),
    (
        "ResponseExpires",
        "Expires",
        datetime.datetime(2032, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    ),
]


@pytest.mark.parametrize(("param", "field", "value"), OVERRIDES, ids=[p for p, _, _ in OVERRIDES])
def test_response_override_sets_header(
    client: Any, bucket: str, param: str, field: str, value: Any
) -> None:
    """A response-* query parameter on GetObject overrides that response header."""
    client.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"x",
        ContentType="text/plain",
        CacheControl="max-age=1",
        ContentLanguage="en",
    )
    response = client.get_object(Bucket=bucket, Key="k", **{param: value})
    assert response[field] == value


def test_response_override_leaves_stored_metadata(client: Any, bucket: str) -> None:
    """A response-content-type override does not change what HeadObject answers later."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="text/plain")
    client.get_object(Bucket=bucket, Key="k", ResponseContentType="application/x-other")
    assert client.head_object(Bucket=bucket, Key="k")["ContentType"] == "text/plain"


# --- HeadObject ----------------------------------------------------------------------


def test_head_object_answers_size_etag_and_date(client: Any, stored: dict[str, Any]) -> None:
    """HeadObject answers the object's length, ETag and Last-Modified."""
    head = stored["head"]
    assert head["ContentLength"] == 100
    assert head["ETag"] == f'"{hashlib.md5(stored["body"]).hexdigest()}"'
    assert isinstance(head["LastModified"], datetime.datetime)


def test_head_missing_key_answers_404(client: Any, bucket: str) -> None:
    """HeadObject of a missing key answers 404."""
    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket=bucket, Key="missing")
    assert http_status(caught.value.response) == 404


# --- DeleteObject and DeleteObjects -------------------------------------------------


def test_delete_object_answers_204(client: Any, stored: dict[str, Any]) -> None:
    """DeleteObject of an existing key answers 204."""
    response = client.delete_object(Bucket=stored["bucket"], Key=stored["key"])
    assert http_status(response) == 204


def test_deleted_object_is_gone(client: Any, stored: dict[str, Any]) -> None:
    """After DeleteObject, GetObject answers NoSuchKey."""
    client.delete_object(Bucket=stored["bucket"], Key=stored["key"])
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=stored["bucket"], Key=stored["key"])
    assert error_code(caught.value) == "NoSuchKey"


def test_delete_missing_key_answers_204(client: Any, bucket: str) -> None:
    """DeleteObject of a key that never existed answers 204 (it is idempotent)."""
    assert http_status(client.delete_object(Bucket=bucket, Key="never-was")) == 204


def test_delete_nested_key_removes_empty_directories(
    client: Any, server: RunningServer, bucket: str
) -> None:
    """Deleting the last key under a prefix leaves no directory listed or on disk."""
    client.put_object(Bucket=bucket, Key="a/b/c", Body=b"x")
    client.delete_object(Bucket=bucket, Key="a/b/c")
    assert client.list_objects_v2(Bucket=bucket, Delimiter="/")["KeyCount"] == 0
    assert not (server.data_dir / bucket / "a").exists()


def test_delete_objects_removes_every_key(s3: Any, bucket: str) -> None:
    """DeleteObjects removes all the keys it names."""
    keys = ["one", "two", "dir/three"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_reports_each_deleted_key(s3: Any, bucket: str) -> None:
    """DeleteObjects answers a Deleted entry per key, missing keys included."""
    s3.put_object(Bucket=bucket, Key="present", Body=b"x")
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "present"}, {"Key": "absent"}]}
    )
    assert sorted(d["Key"] for d in response["Deleted"]) == ["absent", "present"]
    assert "Errors" not in response


def test_delete_objects_quiet_reports_nothing(s3: Any, bucket: str) -> None:
    """DeleteObjects in Quiet mode deletes the keys and answers no Deleted entries."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}], "Quiet": True})
    assert "Deleted" not in response
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_with_special_keys(client: Any, bucket: str) -> None:
    """DeleteObjects deletes keys whose names need XML escaping."""
    keys = ["a&b", "c<d>", "é ü", 'q"uote']
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    response = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in response["Deleted"]) == sorted(keys)
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_hostile_key_is_a_per_key_error(client: Any, bucket: str) -> None:
    """DeleteObjects reports a key that cannot exist as an Errors entry, not a failed batch."""
    client.put_object(Bucket=bucket, Key="fine", Body=b"x")
    response = client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "fine"}, {"Key": "../escape"}]}
    )
    assert [d["Key"] for d in response["Deleted"]] == ["fine"]
    assert [e["Key"] for e in response["Errors"]] == ["../escape"]


# --- CopyObject -----------------------------------------------------------------------


def test_copy_within_bucket_copies_bytes(client: Any, stored: dict[str, Any]) -> None:
    """CopyObject within one bucket makes a second object with the same bytes."""
    bucket = stored["bucket"]
    client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "obj"})
    assert get_body(client, bucket, "copy") == stored["body"]


def test_copy_answers_etag_of_source(client: Any, stored: dict[str, Any]) -> None:
    """CopyObject answers a CopyObjectResult whose ETag is the source's."""
    bucket = stored["bucket"]
    response = client.copy_object(
        Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "obj"}
    )
    assert response["CopyObjectResult"]["ETag"] == stored["head"]["ETag"]
    assert isinstance(response["CopyObjectResult"]["LastModified"], datetime.datetime)


def test_copy_across_buckets(client: Any, stored: dict[str, Any], fresh_bucket: str) -> None:
    """CopyObject copies an object into another bucket."""
    target = fresh_bucket + "-target"
    client.create_bucket(Bucket=target)
    client.copy_object(
        Bucket=target, Key="copied", CopySource={"Bucket": stored["bucket"], "Key": "obj"}
    )
    assert get_body(client, target, "copied") == stored["body"]


def test_copy_keeps_the_source(client: Any, stored: dict[str, Any]) -> None:
    """CopyObject leaves the source object in place."""
    bucket = stored["bucket"]
    client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "obj"})
    assert get_body(client, bucket, "obj") == stored["body"]


@pytest.mark.parametrize(
    ("directive", "expected"),
    [
        # Without a directive S3 copies (COPY).
        pytest.param({}, ({"origin": "src"}, "text/csv"), id="default"),
        # Metadata given on the request is ignored.
        pytest.param(
            {"MetadataDirective": "COPY", "Metadata": {"origin": "request"}},
            ({"origin": "src"}, "text/csv"),
            id="copy",
        ),
        pytest.param(
            {
                "MetadataDirective": "REPLACE",
                "Metadata": {"fresh": "yes"},
                "ContentType": "application/json",
            },
            ({"fresh": "yes"}, "application/json"),
            id="replace",
        ),
    ],
)
def test_copy_metadata_follows_the_directive(
    client: Any, bucket: str, directive: dict[str, Any], expected: tuple[dict[str, str], str]
) -> None:
    """CopyObject keeps the source's metadata and type, or with REPLACE takes the request's."""
    client.put_object(
        Bucket=bucket, Key="src", Body=b"x", Metadata={"origin": "src"}, ContentType="text/csv"
    )
    client.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, **directive
    )
    head = client.head_object(Bucket=bucket, Key="dst")
    assert (head["Metadata"], head["ContentType"]) == expected


def test_copy_onto_itself_without_replace_is_invalid_request(
    client: Any, stored: dict[str, Any]
) -> None:
    """CopyObject of a key onto itself without REPLACE answers 400 InvalidRequest."""
    bucket = stored["bucket"]
    with pytest.raises(ClientError) as caught:
        client.copy_object(Bucket=bucket, Key="obj", CopySource={"Bucket": bucket, "Key": "obj"})
    assert error_code(caught.value) == "InvalidRequest"
    assert http_status(caught.value.response) == 400


def test_copy_onto_itself_with_replace_updates_metadata(
    client: Any, stored: dict[str, Any]
) -> None:
    """CopyObject of a key onto itself with REPLACE rewrites its metadata and keeps its bytes."""
    bucket = stored["bucket"]
    client.copy_object(
        Bucket=bucket,
        Key="obj",
        CopySource={"Bucket": bucket, "Key": "obj"},
        MetadataDirective="REPLACE",
        Metadata={"touched": "yes"},
    )
    response = client.get_object(Bucket=bucket, Key="obj")
    assert response["Metadata"] == {"touched": "yes"}
    assert response["Body"].read() == stored["body"]


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_copy_source_with_special_key(client: Any, bucket: str, key: str) -> None:
    """CopyObject finds a source whose key needs escaping in x-amz-copy-source."""
    client.put_object(Bucket=bucket, Key=key, Body=b"special source")
    client.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": key})
    assert get_body(client, bucket, "dst") == b"special source"


def test_copy_to_special_key(client: Any, stored: dict[str, Any]) -> None:
    """CopyObject writes a destination key that needs escaping."""
    bucket = stored["bucket"]
    target = "to/ünï code+&=?#.bin"
    client.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": "obj"})
    assert get_body(client, bucket, target) == stored["body"]


@pytest.mark.parametrize(
    ("bucket_suffix", "key", "code"),
    [("", "missing", "NoSuchKey"), ("-nope", "k", "NoSuchBucket")],
    ids=["missing-key", "missing-bucket"],
)
def test_copy_from_a_missing_source_is_404(
    client: Any, bucket: str, bucket_suffix: str, key: str, code: str
) -> None:
    """CopyObject from a missing key answers 404 NoSuchKey, from a missing bucket NoSuchBucket."""
    source = {"Bucket": bucket + bucket_suffix, "Key": key}
    assert refusal(client.copy_object, Bucket=bucket, Key="dst", CopySource=source) == (404, code)


# --- Folder markers and key conflicts ---------------------------------------------------


def test_folder_marker_is_stored(s3: Any, bucket: str) -> None:
    """PutObject of a zero-byte key ending in '/' answers 200."""
    response = s3.put_object(Bucket=bucket, Key="photos/2026/", Body=b"")
    assert http_status(response) == 200


def test_folder_marker_is_listed_as_a_key(client: Any, bucket: str) -> None:
    """A folder marker appears in ListObjectsV2 as a key of size 0."""
    client.put_object(Bucket=bucket, Key="photos/2026/", Body=b"")
    contents = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in contents] == [("photos/2026/", 0)]


def test_folder_marker_fetches_as_zero_bytes(client: Any, bucket: str) -> None:
    """GetObject of a folder marker answers 200 with an empty body."""
    client.put_object(Bucket=bucket, Key="photos/2026/", Body=b"")
    response = client.get_object(Bucket=bucket, Key="photos/2026/")
    assert (response["ContentLength"], response["Body"].read()) == (0, b"")


def test_folder_marker_head_answers_etag_of_nothing(client: Any, bucket: str) -> None:
    """HeadObject of a folder marker answers the ETag of an empty body."""
    client.put_object(Bucket=bucket, Key="photos/2026/", Body=b"")
    assert client.head_object(Bucket=bucket, Key="photos/2026/")["ETag"] == f'"{EMPTY_MD5}"'


def test_folder_marker_keeps_its_content_type(client: Any, bucket: str) -> None:
    """A folder marker stored with a Content-Type serves it back (consoles use x-directory)."""
    client.put_object(Bucket=bucket, Key="dir/", Body=b"", ContentType="application/x-directory")
    assert client.head_object(Bucket=bucket, Key="dir/")["ContentType"] == "application/x-directory"


def test_folder_marker_is_deleted(client: Any, bucket: str) -> None:
    """DeleteObject of a folder marker removes it from listings."""
    client.put_object(Bucket=bucket, Key="photos/2026/", Body=b"")
    client.delete_object(Bucket=bucket, Key="photos/2026/")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_folder_marker_delete_keeps_objects_below(client: Any, bucket: str) -> None:
    """Deleting a folder marker leaves the objects under that prefix."""
    client.put_object(Bucket=bucket, Key="photos/", Body=b"")
    client.put_object(Bucket=bucket, Key="photos/cat.jpg", Body=b"meow")
    client.delete_object(Bucket=bucket, Key="photos/")
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "photos/cat.jpg"
    ]


def test_prefix_without_marker_is_not_a_key(client: Any, bucket: str) -> None:
    """A prefix that only holds objects is not itself a key: HeadObject of 'd/' answers 404."""
    client.put_object(Bucket=bucket, Key="d/file", Body=b"x")
    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket=bucket, Key="d/")
    assert http_status(caught.value.response) == 404


@pytest.mark.parametrize(
    ("existing", "new"),
    [("a", "a/b"), ("a/b", "a")],
    ids=["key-under-an-object", "object-over-a-prefix"],
)
def test_conflicting_put_is_key_conflict(client: Any, bucket: str, existing: str, new: str) -> None:
    """PutObject of 'a/b' while object 'a' exists, or of 'a' over 'a/b', answers 409 KeyConflict."""
    client.put_object(Bucket=bucket, Key=existing, Body=b"there first")
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key=new, Body=b"conflicting")
    assert error_code(caught.value) == "KeyConflict"
    assert http_status(caught.value.response) == 409


def test_key_conflict_keeps_both_sides_intact(client: Any, bucket: str) -> None:
    """A refused conflicting PutObject leaves the existing object untouched."""
    client.put_object(Bucket=bucket, Key="a", Body=b"file")
    with pytest.raises(ClientError):
        client.put_object(Bucket=bucket, Key="a/b", Body=b"under")
    assert get_body(client, bucket, "a") == b"file"
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["a"]


def test_copy_into_conflicting_key_is_key_conflict(client: Any, bucket: str) -> None:
    """CopyObject onto 'a/b' while object 'a' exists answers 409 KeyConflict."""
    client.put_object(Bucket=bucket, Key="a", Body=b"file")
    client.put_object(Bucket=bucket, Key="src", Body=b"src")
    with pytest.raises(ClientError) as caught:
        client.copy_object(Bucket=bucket, Key="a/b", CopySource={"Bucket": bucket, "Key": "src"})
    assert error_code(caught.value) == "KeyConflict"


# --- Hostile keys ------------------------------------------------------------------------

HOSTILE_KEYS: list[tuple[str, str]] = [
    ("../x", "InvalidArgument"),
    ("a/../b", "InvalidArgument"),
    ("a/..", "InvalidArgument"),
    ("./a", "InvalidArgument"),
    ("a/./b", "InvalidArgument"),
    ("a//b", "InvalidArgument"),
    ("a\x01b", "InvalidArgument"),
    ("tab\there", "InvalidArgument"),
    ("new\nline", "InvalidArgument"),
    ("del\x7f", "InvalidArgument"),
    (".nanio-meta/x", "InvalidArgument"),
    (".nanio-meta/x.json", "InvalidArgument"),
    ("k" * 1025, "KeyTooLongError"),
    ("é" * 513, "KeyTooLongError"),
]


@pytest.mark.parametrize(
    ("method", "body"), [("PUT", b"hostile"), ("GET", b"")], ids=["put", "get"]
)
@pytest.mark.parametrize(("key", "code"), HOSTILE_KEYS, ids=[repr(k[:20]) for k, _ in HOSTILE_KEYS])
def test_hostile_key_is_refused_with_s3_error(
    server: RunningServer, bucket: str, key: str, code: str, method: str, body: bytes
) -> None:
    """A PutObject or GetObject of a key that cannot be a file, sent byte for byte, answers 400."""
    path = f"/{bucket}/" + quote(key, safe="/")
    response = signed_request(server, method, path, body=body)
    assert response.status == 400
    assert error_fields(response.body)["Code"] == code


def test_dot_dot_key_writes_nothing_outside_the_bucket(server: RunningServer, bucket: str) -> None:
    """A PutObject of '../escaped' creates no file beside the bucket."""
    signed_request(server, "PUT", f"/{bucket}/../escaped-{bucket}", body=b"hostile")
    assert not (server.data_dir / f"escaped-{bucket}").exists()


def test_sidecar_cannot_be_read_as_an_object(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """GetObject of '.nanio-meta/<key>.json' for a stored key is refused with a 4xx."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"secret": "s"})
    response = signed_request(server, "GET", f"/{bucket}/.nanio-meta/k.json")
    assert 400 <= response.status < 500


def test_hostile_key_through_boto3_is_a_client_error(client: Any, bucket: str) -> None:
    """boto3 sees a hostile key refused as a 4xx ClientError with an S3 code."""
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="a//b", Body=b"x")
    assert 400 <= http_status(caught.value.response) < 500
    assert error_code(caught.value) == "InvalidArgument"


def test_key_of_exactly_1024_bytes_is_accepted(client: Any, bucket: str) -> None:
    """A key of exactly 1024 bytes in segments of 200 bytes is stored and served."""
    key = "/".join(["s" * 200] * 5) + "/" + "t" * 19
    assert len(key.encode()) == 1024
    client.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert get_body(client, bucket, key) == b"long"


# --- Presigned URLs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_client(server: RunningServer) -> Any:
    """A boto3 client with botocore's default signature choice (SigV2 presigning for S3)."""
    return boto3_client_as(server, signature_version=None)


@pytest.fixture(params=["s3v4", "default"])
def presigner(request: pytest.FixtureRequest, client: Any, default_client: Any) -> Any:
    """A client that presigns with SigV4, then one with botocore's default choice."""
    return client if request.param == "s3v4" else default_client


def test_presigned_get_serves_the_object(presigner: Any, stored: dict[str, Any]) -> None:
    """A presigned GetObject URL fetched with urllib serves the object."""
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": stored["bucket"], "Key": stored["key"]}, ExpiresIn=300
    )
    status, _, body = urlopen(url)
    assert (status, body) == (200, stored["body"])


def test_presigned_get_of_special_key(presigner: Any, client: Any, bucket: str) -> None:
    """A presigned GetObject URL works for a key that needs escaping."""
    key = "dir/ünï code+&=.txt"
    client.put_object(Bucket=bucket, Key=key, Body=b"escaped")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    assert urlopen(url)[2] == b"escaped"


def test_presigned_get_with_response_override(presigner: Any, stored: dict[str, Any]) -> None:
    """A presigned GetObject URL carrying response-content-disposition sets that header."""
    url = presigner.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": stored["bucket"],
            "Key": stored["key"],
            "ResponseContentDisposition": 'attachment; filename="x.bin"',
        },
        ExpiresIn=300,
    )
    status, headers, _ = urlopen(url)
    assert status == 200
    assert headers["content-disposition"] == 'attachment; filename="x.bin"'


def test_presigned_put_stores_the_object(presigner: Any, client: Any, bucket: str) -> None:
    """A presigned PutObject URL used with urllib stores the body."""
    # The Content-Type is part of the presigned request (SigV2 signs it), so
    # the uploader must send exactly the one it was given.
    url = presigner.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "uploaded", "ContentType": "text/plain"},
        ExpiresIn=300,
    )
    status, _, _ = urlopen(
        url, method="PUT", data=b"via presigned put", headers={"Content-Type": "text/plain"}
    )
    assert status == 200
    assert get_body(client, bucket, "uploaded") == b"via presigned put"


def test_presigned_url_with_tampered_key_is_refused(presigner: Any, stored: dict[str, Any]) -> None:
    """A presigned URL whose key was changed answers 403."""
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": stored["bucket"], "Key": stored["key"]}, ExpiresIn=300
    )
    status, _, body = urlopen(url.replace("/obj?", "/other?"))
    assert status == 403
    assert error_fields(body)["Code"] in ("SignatureDoesNotMatch", "AccessDenied")


def test_presigned_default_signature_is_accepted_by_head_object(
    default_client: Any, stored: dict[str, Any]
) -> None:
    """A presigned HeadObject URL made with botocore's default signer answers 200."""
    url = default_client.generate_presigned_url(
        "head_object", Params={"Bucket": stored["bucket"], "Key": stored["key"]}, ExpiresIn=300
    )
    assert urlopen(url, method="HEAD")[0] == 200


def test_expired_presigned_url_is_access_denied(presigner: Any, stored: dict[str, Any]) -> None:
    """A presigned URL whose expiry has passed answers 403 AccessDenied."""
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    with frozen_botocore_clock(long_ago):
        url = presigner.generate_presigned_url(
            "get_object", Params={"Bucket": stored["bucket"], "Key": stored["key"]}, ExpiresIn=60
        )
    status, _, body = urlopen(url)
    assert status == 403
    assert error_fields(body)["Code"] == "AccessDenied"
