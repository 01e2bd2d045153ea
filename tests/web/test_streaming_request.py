"""
NanioSite's streaming request, driven with raw HTTP bytes in memory.

These tests show the invariants of nanio/web/site.py: refusals come before
``100 Continue`` and write nothing; bodies reach a temp file while they
arrive; a lost connection leaves nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure

from nanio.web.site import StreamingRequest
from tests.support.procs import temp_files
from tests.support.rawhttp import Connection, make_test_site, raw_request, status_of

CONTINUE = b"HTTP/1.1 100 Continue"


def test_unsigned_put_is_refused_before_continue(data_dir: Path) -> None:
    """A PUT with no credentials gets 403 AccessDenied and never a 100 Continue."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, _ = raw_request("PUT", "/bkt/k", body=b"x" * 1000, signed=False, expect_continue=True)
    conn.send(head)
    out = conn.output()
    assert CONTINUE not in out
    assert status_of(out) == 403
    assert b"<Code>AccessDenied</Code>" in out
    assert temp_files(data_dir) == []


def test_bad_signature_is_refused_before_continue(data_dir: Path) -> None:
    """A PUT signed with the wrong secret gets SignatureDoesNotMatch before any body is read."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, _ = raw_request("PUT", "/bkt/k", body=b"abc", secret="wrong", expect_continue=True)
    conn.send(head)
    out = conn.output()
    assert CONTINUE not in out
    assert b"<Code>SignatureDoesNotMatch</Code>" in out
    assert b"x-amz-request-id" in out.lower()


def test_missing_bucket_is_refused_before_continue(data_dir: Path) -> None:
    """A signed PUT into a missing bucket gets 404 NoSuchBucket and writes nothing."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, body = raw_request("PUT", "/nobucket/k", body=b"abc", expect_continue=True)
    conn.send(head)
    out = conn.output()
    assert CONTINUE not in out
    assert status_of(out) == 404
    assert b"<Code>NoSuchBucket</Code>" in out
    conn.send(body)
    assert temp_files(data_dir) == []
    assert not (data_dir / "nobucket").exists()


def test_early_answer_closes_the_connection(data_dir: Path) -> None:
    """A refused upload is answered with the connection closed and the rest of the body dropped."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, _ = raw_request("PUT", "/bkt/k", body=b"x" * 10, secret="wrong")
    conn.send(head + b"x" * 10)
    assert conn.transport.disconnecting
    assert conn.output().count(b"HTTP/1.1 ") == 1


def test_accepted_put_gets_continue_then_stores_the_body(data_dir: Path) -> None:
    """A good PUT with Expect gets 100 Continue, then its body is stored under the key."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, body = raw_request("PUT", "/bkt/dir/k", body=b"hello world", expect_continue=True)
    conn.send(head)
    assert conn.output().startswith(CONTINUE)
    conn.send(body)
    out = conn.output()
    assert status_of(out) == 200
    assert b'etag: "5eb63bbbe01eeed093cb22bb8f5acdc3"' in out.lower()
    assert (data_dir / "bkt" / "dir" / "k").read_bytes() == b"hello world"
    assert temp_files(data_dir) == []


def test_body_reaches_a_temp_file_while_it_arrives(data_dir: Path) -> None:
    """Half an upload is in a temp file, not in request.content, before the rest arrives."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    body = os.urandom(300_000)
    head, _ = raw_request("PUT", "/bkt/big", body=body, payload_hash="hash")
    conn.send(head + body[:150_000])
    [temp] = temp_files(data_dir)
    # Its blocks are reserved for the whole body; what has not come is empty.
    assert temp.read_bytes() == body[:150_000] + bytes(150_000)
    request = conn.channel.requests[-1]
    assert isinstance(request, StreamingRequest)
    assert request.content.getvalue() == b""
    conn.send(body[150_000:])
    assert status_of(conn.output()) == 200
    assert (data_dir / "bkt" / "big").read_bytes() == body


def test_lost_connection_mid_body_leaves_nothing(data_dir: Path) -> None:
    """A client that goes away halfway through an upload leaves no object and no temp file."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, body = raw_request("PUT", "/bkt/gone", body=b"y" * 100_000)
    conn.send(head + body[:50_000])
    assert len(temp_files(data_dir)) == 1
    conn.channel.connectionLost(Failure(ConnectionLost()))
    assert temp_files(data_dir) == []
    assert not (data_dir / "bkt" / "gone").exists()


def test_wrong_payload_hash_stores_nothing(data_dir: Path) -> None:
    """A body that does not match its signed SHA-256 is refused and nothing is stored."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, _ = raw_request("PUT", "/bkt/h", body=b"good", payload_hash="hash")
    conn.send(head + b"evil")
    out = conn.output()
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in out
    assert not (data_dir / "bkt" / "h").exists()
    assert temp_files(data_dir) == []


def test_oversized_xml_body_is_cut_off(data_dir: Path) -> None:
    """An XML body over 1 MiB is answered MaxMessageLengthExceeded before it is all read."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    size = 2 * 1024 * 1024
    head, _ = raw_request("POST", "/bkt?delete", content_length=size, body=b"")
    conn.send(head)
    conn.send(b"<" * (1024 * 1024 + 10))
    out = conn.output()
    assert b"<Code>MaxMessageLengthExceeded</Code>" in out
    assert conn.transport.disconnecting


def test_keep_alive_after_a_bodiless_refusal(data_dir: Path) -> None:
    """A refused GET (no body) keeps the connection open for the next request."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, _ = raw_request("GET", "/bkt/missing")
    conn.send(head)
    assert status_of(conn.output()) == 404
    assert not conn.transport.disconnecting
    conn.transport.clear()
    head, _ = raw_request("GET", "/bkt/missing", signed=False)
    conn.send(head)
    assert status_of(conn.output()) == 403
