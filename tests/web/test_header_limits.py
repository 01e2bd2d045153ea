"""
NanioChannel's header-section limits, driven with raw HTTP bytes in memory.

Twisted answers a header section over its limits with a bare ``400 Bad
Request`` (or, for one overlong line, just closes); nanio answers S3's
``RequestHeaderSectionTooLarge`` in XML, says ``Connection: close`` and drops
whatever the client sends after it.
"""

from __future__ import annotations

from pathlib import Path

from nanio.storage import Store
from nanio.web.site import HEADER_COUNT_LIMIT, HEADER_SECTION_LIMIT_BYTES
from tests.support.rawhttp import Connection, make_test_site, raw_request, status_of

REFUSAL = b"<Code>RequestHeaderSectionTooLarge</Code>"


def connection(tmp_path: Path) -> Connection:
    """A connection to a site over a store holding the bucket 'bkt'."""
    Store(tmp_path / "data", fsync=False).create_bucket("bkt", owner=None)
    site, _ = make_test_site(str(tmp_path / "data"))
    return Connection(site)


def list_buckets_with(extra: dict[str, str]) -> bytes:
    """A signed ListBuckets head carrying ``extra`` headers."""
    head, _ = raw_request("GET", "/", headers=extra)
    return head


def test_one_line_longer_than_the_section_is_refused_in_s3_xml(tmp_path: Path) -> None:
    """A header line longer than the whole section limit is RequestHeaderSectionTooLarge."""
    conn = connection(tmp_path)
    conn.send(b"GET / HTTP/1.1\r\nx-big: " + b"b" * HEADER_SECTION_LIMIT_BYTES + b"\r\n")
    out = conn.output()
    assert (status_of(out), REFUSAL in out) == (400, True)


def test_a_request_line_too_long_is_refused_before_its_end(tmp_path: Path) -> None:
    """A request line past the limit is refused while it is still arriving, without its CRLF."""
    conn = connection(tmp_path)
    conn.send(b"GET /" + b"p" * (HEADER_SECTION_LIMIT_BYTES + 1))
    assert REFUSAL in conn.output()


def test_headers_adding_up_past_the_limit_are_refused(tmp_path: Path) -> None:
    """Headers that are each short but together pass the limit are refused."""
    conn = connection(tmp_path)
    filler = {f"x-filler-{n}": "f" * 1000 for n in range(HEADER_SECTION_LIMIT_BYTES // 1000)}
    conn.send(list_buckets_with(filler))
    out = conn.output()
    assert (status_of(out), REFUSAL in out) == (400, True)


def test_one_header_more_than_the_count_limit_is_refused(tmp_path: Path) -> None:
    """Header line number limit + 1 is refused, though the section is small."""
    conn = connection(tmp_path)
    conn.send(list_buckets_with({f"x{n}": "v" for n in range(HEADER_COUNT_LIMIT)}))
    assert REFUSAL in conn.output()


def test_headers_up_to_the_count_limit_are_served(tmp_path: Path) -> None:
    """Exactly as many headers as the limit (the signed ones included) are served."""
    conn = connection(tmp_path)
    # raw_request adds Host, X-Amz-Date, X-Amz-Content-SHA256 and Authorization.
    conn.send(list_buckets_with({f"x{n}": "v" for n in range(HEADER_COUNT_LIMIT - 4)}))
    assert status_of(conn.output()) == 200


def test_refusal_says_connection_close_and_carries_a_request_id(tmp_path: Path) -> None:
    """The refusal closes the connection and carries x-amz-request-id, as every answer does."""
    conn = connection(tmp_path)
    conn.send(list_buckets_with({"x-big": "b" * HEADER_SECTION_LIMIT_BYTES}))
    head = conn.output().partition(b"\r\n\r\n")[0].lower()
    assert b"\r\nconnection: close" in head
    assert b"\r\nx-amz-request-id: " in head
    assert conn.transport.disconnecting


def test_bytes_after_the_refusal_are_dropped(tmp_path: Path) -> None:
    """A request sent after the refused one on the same connection gets no answer."""
    conn = connection(tmp_path)
    conn.send(list_buckets_with({"x-big": "b" * HEADER_SECTION_LIMIT_BYTES}))
    answered = conn.output()
    conn.send(list_buckets_with({}))
    assert conn.output() == answered
