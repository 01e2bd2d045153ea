"""
nanio's resource mounted in a plain Twisted ``Site``, driven in memory by StubTreq.

A foreign Site buffers request bodies; nanio must still authenticate, verify
and store them through the same path, and answer every failure in S3 XML.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from treq.testing import StubTreq

from tests.support.rawhttp import HOST, make_test_resource, result_of, sign


def make_stub(tmp_path: Path) -> StubTreq:
    """StubTreq over nanio's resource in a plain Site."""
    return StubTreq(make_test_resource(str(tmp_path / "data")))


def request(
    stub: StubTreq, method: str, path: str, body: bytes = b"", **options: Any
) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    headers = sign(method, path, body=body, **options)
    response = result_of(
        stub, stub.request(method, f"http://{HOST}{path}", headers=headers, data=body or None)
    )
    content = result_of(stub, response.content())
    return response.code, dict(response.headers.getAllRawHeaders()), content


def test_put_and_get_through_a_foreign_site(tmp_path: Path) -> None:
    """An object PUT through a plain Site is stored and read back byte for byte."""
    stub = make_stub(tmp_path)
    assert request(stub, "PUT", "/bkt")[0] == 200
    body = b"embedded nanio" * 100
    status, headers, _ = request(stub, "PUT", "/bkt/k", body, payload_hash="hash")
    assert status == 200
    assert headers[b"ETag"] == [f'"{hashlib.md5(body).hexdigest()}"'.encode()]
    status, _, content = request(stub, "GET", "/bkt/k")
    assert (status, content) == (200, body)


def test_buffered_body_is_still_verified(tmp_path: Path) -> None:
    """A body that does not match its signed hash is refused even when Twisted buffered it."""
    stub = make_stub(tmp_path)
    request(stub, "PUT", "/bkt")
    headers = sign("PUT", "/bkt/k", body=b"good", payload_hash="hash")
    response = result_of(
        stub, stub.request("PUT", f"http://{HOST}/bkt/k", headers=headers, data=b"evil")
    )
    content = result_of(stub, response.content())
    assert response.code == 400
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in content
    assert not (tmp_path / "data" / "bkt" / "k").exists()


def test_unknown_method_answers_s3_xml(tmp_path: Path) -> None:
    """A method S3 lacks gets 405 MethodNotAllowed in S3 XML, never an HTML page."""
    stub = make_stub(tmp_path)
    status, headers, content = request(stub, "PATCH", "/bkt/k")
    assert status == 405
    assert b"<Code>MethodNotAllowed</Code>" in content
    assert b"<html" not in content.lower()
    assert headers[b"X-Amz-Request-Id"]


def test_every_error_carries_a_request_id(tmp_path: Path) -> None:
    """An error response has x-amz-request-id, and the same id in its XML body."""
    stub = make_stub(tmp_path)
    status, headers, content = request(stub, "GET", "/nobucket/k")
    assert status == 404
    [request_id] = headers[b"X-Amz-Request-Id"]
    assert b"<RequestId>" + request_id + b"</RequestId>" in content


def test_not_implemented_operation_answers_501(tmp_path: Path) -> None:
    """An S3 operation nanio does not implement answers 501 NotImplemented in S3 XML."""
    stub = make_stub(tmp_path)
    request(stub, "PUT", "/bkt")
    status, _, content = request(stub, "GET", "/bkt?policy")
    assert status == 501
    assert b"<Code>NotImplemented</Code>" in content
