"""
aws-chunked uploads and flexible checksums through NanioSite, in memory.

Bodies are framed by independent encoders (botocore's own, and one written
from the AWS document in tests/support/signing.py); the request headers are
signed by botocore.
"""

from __future__ import annotations

import base64
import os
import zlib
from pathlib import Path

import pytest

from tests.support.rawhttp import (
    SECRET_KEY,
    Connection,
    make_test_site,
    raw_request,
    sign,
    status_of,
)
from tests.support.signing import botocore_chunked_body, signed_chunked_body, sigv4_signing_key

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def put_signed_chunks(
    conn: Connection, key: str, chunks: list[bytes], *, tamper: bool = False
) -> bytes:
    """PUT ``chunks`` as a signed aws-chunked body; return the response bytes."""
    decoded = b"".join(chunks)
    extra = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(decoded)),
    }
    headers = sign("PUT", f"/bkt/{key}", headers=extra, payload_hash=SIGNED)
    amz_date = headers["X-Amz-Date"]
    seed = headers["Authorization"].rsplit("Signature=", 1)[1]
    body, _ = signed_chunked_body(
        chunks,
        signing_key=sigv4_signing_key(SECRET_KEY, amz_date[:8], "us-east-1"),
        amz_date=amz_date,
        scope=f"{amz_date[:8]}/us-east-1/s3/aws4_request",
        seed_signature=seed,
    )
    if tamper:
        # One byte of data changed: its chunk signature no longer holds.
        index = body.index(b"\r\n") + 2
        body = body[:index] + bytes([body[index] ^ 1]) + body[index + 1 :]
    head, _ = raw_request(
        "PUT", f"/bkt/{key}", headers=headers, signed=False, content_length=len(body)
    )
    conn.send(head + body)
    return conn.output()


def get(conn: Connection, key: str, **headers: str) -> bytes:
    conn.transport.clear()
    head, _ = raw_request("GET", f"/bkt/{key}", headers=headers)
    conn.send(head)
    # Large bodies are pushed by a producer that runs on the clock.
    conn.site.clock.advance(0)
    return conn.output()


def test_signed_chunks_store_the_decoded_bytes(data_dir: Path) -> None:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload stores the payload, not the framing."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    chunks = [os.urandom(65536), os.urandom(65536), b"tail"]
    assert status_of(put_signed_chunks(conn, "signed", chunks)) == 200
    assert (data_dir / "bkt" / "signed").read_bytes() == b"".join(chunks)
    response = get(conn, "signed")
    assert b"aws-chunked" not in response.lower()


def test_tampered_chunk_is_refused_and_nothing_stored(data_dir: Path) -> None:
    """A chunk whose bytes do not match its signature gets SignatureDoesNotMatch and no object."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    out = put_signed_chunks(conn, "evil", [b"a" * 9000, b"b" * 100], tamper=True)
    assert b"<Code>SignatureDoesNotMatch</Code>" in out
    assert not (data_dir / "bkt" / "evil").exists()
    assert list((data_dir / ".nanio" / "tmp").iterdir()) == []


def unsigned_trailer_put(conn: Connection, key: str, data: bytes, body: bytes) -> bytes:
    extra = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }
    headers = sign("PUT", f"/bkt/{key}", headers=extra, payload_hash=UNSIGNED_TRAILER)
    head, _ = raw_request(
        "PUT", f"/bkt/{key}", headers=headers, signed=False, content_length=len(body)
    )
    conn.send(head + body)
    return conn.output()


def test_unsigned_trailer_checksum_is_verified_and_returned(data_dir: Path) -> None:
    """botocore's aws-chunked body with a CRC32 trailer is stored and its checksum returned."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    data = os.urandom(200_000)
    out = unsigned_trailer_put(conn, "crc", data, botocore_chunked_body(data, "crc32", 65536))
    assert status_of(out) == 200
    assert f"x-amz-checksum-crc32: {crc32_b64(data)}".encode() in out
    assert (data_dir / "bkt" / "crc").read_bytes() == data
    assert f"x-amz-checksum-crc32: {crc32_b64(data)}".encode() in get(
        conn, "crc", **{"x-amz-checksum-mode": "ENABLED"}
    )
    assert b"x-amz-checksum-crc32" not in get(conn, "crc")


def test_wrong_trailer_checksum_is_bad_digest(data_dir: Path) -> None:
    """A CRC32 trailer that does not match the body gets BadDigest and stores nothing."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    data = os.urandom(5000)
    body = botocore_chunked_body(data, "crc32", 4096)
    body = body.replace(crc32_b64(data).encode(), crc32_b64(data + b"x").encode())
    out = unsigned_trailer_put(conn, "badcrc", data, body)
    assert b"<Code>BadDigest</Code>" in out
    assert not (data_dir / "bkt" / "badcrc").exists()


def test_decoded_length_must_match(data_dir: Path) -> None:
    """A body shorter than its x-amz-decoded-content-length is IncompleteBody."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    data = os.urandom(5000)
    out = unsigned_trailer_put(conn, "short", data + b"more", botocore_chunked_body(data))
    assert b"<Code>IncompleteBody</Code>" in out
    assert not (data_dir / "bkt" / "short").exists()


@pytest.mark.parametrize(
    ("headers", "body", "payload_hash", "code"),
    [
        pytest.param(
            {"x-amz-checksum-crc32": crc32_b64(b"other")},
            b"hello",
            "hash",
            "BadDigest",
            id="wrong-checksum-header",
        ),
        # Never stored with its framing.
        pytest.param(
            {"Content-Encoding": "aws-chunked"},
            b"5\r\nhello\r\n0\r\n\r\n",
            "UNSIGNED-PAYLOAD",
            "InvalidArgument",
            id="aws-chunked-without-streaming-hash",
        ),
    ],
)
def test_plain_put_with_a_misleading_header_is_refused(
    data_dir: Path, headers: dict[str, str], body: bytes, payload_hash: str, code: str
) -> None:
    """A wrong x-amz-checksum-crc32, or aws-chunked with a plain payload hash, stores nothing."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, body = raw_request("PUT", "/bkt/k", body=body, headers=headers, payload_hash=payload_hash)
    conn.send(head + body)
    assert f"<Code>{code}</Code>".encode() in conn.output()
    assert not (data_dir / "bkt" / "k").exists()
