"""
nanio's resource mounted below the root of a plain Twisted ``Site``, in memory.

An S3 client whose endpoint is ``http://host/s3`` signs the whole path it
sends (``/s3/bkt/key``); nanio must verify that path while routing the part
below its mount point, and the site's other resources must keep working.
"""

from __future__ import annotations

import email.utils
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from treq.testing import StubTreq
from twisted.web.resource import Resource

from nanio.web.call import split_mount
from tests.support.rawhttp import (
    ACCESS_KEY,
    HOST,
    SECRET_KEY,
    make_test_resource,
    result_of,
    sign,
)

GREETING = b"hello from the host site\n"


class Greeting(Resource):
    """The host site's own page."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return GREETING


def make_stub(tmp_path: Path, *mount: bytes) -> StubTreq:
    """A plain Site with a greeting at / and nanio at ``/<mount...>``."""
    root = Resource()
    root.putChild(b"", Greeting())
    parent = root
    for segment in mount[:-1]:
        child = Resource()
        parent.putChild(segment, child)
        parent = child
    parent.putChild(mount[-1], make_test_resource(str(tmp_path / "data")))
    return StubTreq(root)


def request(
    stub: StubTreq,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    signed_path: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    """Send ``path``, SigV4-signed over ``signed_path`` (by default the path itself)."""
    if headers is None:
        headers = sign(method, signed_path or path, body=body, payload_hash="hash")
    response = result_of(
        stub, stub.request(method, f"http://{HOST}{path}", headers=headers, data=body or None)
    )
    content = result_of(stub, response.content())
    return response.code, dict(response.headers.getAllRawHeaders()), content


@pytest.mark.parametrize(
    ("raw_path", "depth", "expected"),
    [
        ("/s3/bkt/k", 1, ("/s3", "/bkt/k")),
        ("/s3", 1, ("/s3", "/")),
        ("/s3/", 1, ("/s3", "/")),
        ("/api/s3/bkt//k", 2, ("/api/s3", "/bkt//k")),
        ("/s%33/b%20t/k", 1, ("/s%33", "/b%20t/k")),
    ],
)
def test_split_mount_cuts_the_mount_point_off_the_raw_path(
    raw_path: str, depth: int, expected: tuple[str, str]
) -> None:
    """split_mount separates a mount point of N raw segments from the S3 path below it."""
    assert split_mount(raw_path, depth) == expected


def test_objects_round_trip_below_a_mount_point(tmp_path: Path) -> None:
    """A bucket and an object made under /s3 are stored and read back byte for byte."""
    stub = make_stub(tmp_path, b"s3")
    assert request(stub, "PUT", "/s3/bkt")[0] == 200
    assert request(stub, "PUT", "/s3/bkt/dir/k", b"mounted")[0] == 200
    status, _, content = request(stub, "GET", "/s3/bkt/dir/k")
    assert (status, content) == (200, b"mounted")
    assert (tmp_path / "data" / "bkt" / "dir" / "k").read_bytes() == b"mounted"


def test_signature_must_cover_the_whole_path(tmp_path: Path) -> None:
    """A request signed over the path below the mount point only is refused."""
    stub = make_stub(tmp_path, b"s3")
    request(stub, "PUT", "/s3/bkt")
    status, _, content = request(stub, "GET", "/s3/bkt?list-type=2", signed_path="/bkt?list-type=2")
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in content


@pytest.mark.parametrize("path", ["/s3", "/s3/"])
def test_mount_point_itself_lists_buckets(tmp_path: Path, path: str) -> None:
    """GET of the mount point, with or without a trailing slash, is ListBuckets."""
    stub = make_stub(tmp_path, b"s3")
    request(stub, "PUT", "/s3/bkt")
    status, _, content = request(stub, "GET", path)
    assert status == 200
    assert b"<ListAllMyBucketsResult" in content
    assert b"<Name>bkt</Name>" in content


def test_sibling_resource_still_answers(tmp_path: Path) -> None:
    """The host site's own resource at / answers beside nanio."""
    stub = make_stub(tmp_path, b"s3")
    response = result_of(stub, stub.get(f"http://{HOST}/"))
    assert response.code == 200
    assert result_of(stub, response.content()) == GREETING


def test_deep_mount_point_works(tmp_path: Path) -> None:
    """nanio mounted two levels deep (/api/s3) routes and verifies alike."""
    stub = make_stub(tmp_path, b"api", b"s3")
    assert request(stub, "PUT", "/api/s3/bkt")[0] == 200
    assert request(stub, "PUT", "/api/s3/bkt/k", b"deep")[0] == 200
    assert request(stub, "GET", "/api/s3/bkt/k")[::2] == (200, b"deep")


def test_error_resource_is_the_s3_path(tmp_path: Path) -> None:
    """An error under a mount point names /bucket/key, the S3 resource, in Resource."""
    stub = make_stub(tmp_path, b"s3")
    request(stub, "PUT", "/s3/bkt")
    status, _, content = request(stub, "GET", "/s3/bkt/missing")
    assert status == 404
    assert b"<Resource>/bkt/missing</Resource>" in content


def test_create_bucket_location_includes_the_mount_point(tmp_path: Path) -> None:
    """CreateBucket's Location is the bucket's path as this client reaches it: /s3/bkt."""
    stub = make_stub(tmp_path, b"s3")
    status, headers, _ = request(stub, "PUT", "/s3/bkt")
    assert status == 200
    assert headers[b"Location"] == [b"/s3/bkt"]


def test_sigv2_signed_below_the_mount_point_is_accepted(tmp_path: Path) -> None:
    """boto3's SigV2 signs /bucket/key without the endpoint's path; that is accepted."""
    stub = make_stub(tmp_path, b"s3")
    request(stub, "PUT", "/s3/bkt")
    request(stub, "PUT", "/s3/bkt/k", b"v2 body")
    aws_request = AWSRequest(method="GET", url=f"http://{HOST}/s3/bkt/k", auth_path="/bkt/k")
    aws_request.headers["Date"] = email.utils.formatdate(time.time(), usegmt=True)
    HmacV1Auth(Credentials(ACCESS_KEY, SECRET_KEY)).add_auth(aws_request)
    status, _, content = request(stub, "GET", "/s3/bkt/k", headers=dict(aws_request.headers))
    assert (status, content) == (200, b"v2 body")


def test_path_that_is_not_utf8_answers_s3_xml(tmp_path: Path) -> None:
    """A path below the mount point that is not UTF-8 answers InvalidURI in S3 XML."""
    stub = make_stub(tmp_path, b"s3")
    status, headers, content = request(stub, "GET", "/s3/bkt/%ff")
    assert status == 400
    assert b"<Code>InvalidURI</Code>" in content
    assert headers[b"Content-Type"] == [b"application/xml"]
