"""
Whole request heads taken in one pass (NanioChannel._take_whole_head).

A head that arrives whole and plain skips Twisted's line reader; anything
else goes to it.  Whatever the path, the answer must be the same: each case
here is sent once in a single read and once a byte at a time (which always
takes Twisted's line reader), and the two answers must be equal, request
ids aside.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nanio.storage import Store
from tests.support.rawhttp import Connection, make_test_site, raw_request, status_of

HOST = b"Host: 127.0.0.1:9000\r\n"
GET_HEAD = b"GET /bkt/obj HTTP/1.1\r\n" + HOST
PUT_HEAD = b"PUT /bkt/new HTTP/1.1\r\n" + HOST

_REQUEST_ID = re.compile(rb"[0-9A-F]{16}")
#: Each connection has a store of its own, made a moment apart.
_TIMES = re.compile(rb"(?m)^(Date|Last-Modified): [^\r]*")


def _signed(method: str, path: str, body: bytes = b"", **options: object) -> bytes:
    head, body = raw_request(method, path, body=body, **options)  # type: ignore[arg-type]
    return head + body


def _cases() -> list[tuple[str, bytes]]:
    return [
        ("signed GET", _signed("GET", "/bkt/obj")),
        ("signed HEAD", _signed("HEAD", "/bkt/obj")),
        ("signed PUT with its body", _signed("PUT", "/bkt/new", b"hello world")),
        ("signed DELETE", _signed("DELETE", "/bkt/obj")),
        ("signed listing", _signed("GET", "/bkt?list-type=2&prefix=o")),
        ("two pipelined GETs", _signed("GET", "/bkt/obj") * 2),
        ("pipelined PUT then GET", _signed("PUT", "/bkt/new", b"abc") + _signed("GET", "/bkt/obj")),
        ("unsigned GET", GET_HEAD + b"\r\n"),
        ("HTTP/1.0 GET", b"GET /bkt/obj HTTP/1.0\r\n" + HOST + b"\r\n"),
        ("leading blank line", b"\r\n" + GET_HEAD + b"\r\n"),
        ("lower-case method", b"get /bkt/obj HTTP/1.1\r\n" + HOST + b"\r\n"),
        ("unknown method", b"PROPFIND /bkt/obj HTTP/1.1\r\n" + HOST + b"\r\n"),
        ("unknown version", b"GET /bkt/obj HTTP/9.9\r\n" + HOST + b"\r\n"),
        ("extra token in request line", b"GET /bkt/obj HTTP/1.1 x\r\n" + HOST + b"\r\n"),
        ("empty target", b"GET  HTTP/1.1\r\n" + HOST + b"\r\n"),
        ("control byte in target", b"GET /bkt/\x01 HTTP/1.1\r\n" + HOST + b"\r\n"),
        ("non-ASCII target", b"GET /bkt/\xc3\xa9 HTTP/1.1\r\n" + HOST + b"\r\n"),
        ("header without colon", GET_HEAD + b"NoColon\r\n\r\n"),
        ("empty header name", GET_HEAD + b": value\r\n\r\n"),
        ("blank before colon", GET_HEAD + b"X-A : b\r\n\r\n"),
        ("blank in a header name", GET_HEAD + b"X A: b\r\n\r\n"),
        ("obsolete line folding", GET_HEAD + b"X-A: a\r\n b\r\n\r\n"),
        ("bare CR in a header value", GET_HEAD + b"X-A: a\rb\r\n\r\n"),
        ("LF injecting a header", GET_HEAD + b"X-A: a\nX-B: b\r\n\r\n"),
        ("NUL in a header value", GET_HEAD + b"X-A: a\x00b\r\n\r\n"),
        ("non-ASCII header value", GET_HEAD + b"X-A: caf\xc3\xa9\r\n\r\n"),
        ("two Content-Lengths", PUT_HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        ("non-numeric Content-Length", PUT_HEAD + b"Content-Length: abc\r\n\r\n"),
        ("signed Content-Length", PUT_HEAD + b"Content-Length: +5\r\n\r\nhello"),
        (
            "Content-Length and chunked",
            PUT_HEAD + b"Content-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        ("chunked body", PUT_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("header section just over 16 KiB", GET_HEAD + b"X-A: " + b"a" * 16_400 + b"\r\n\r\n"),
        ("501 header lines", GET_HEAD + b"".join(b"X-%d: v\r\n" % i for i in range(501)) + b"\r\n"),
    ]


def _fresh_connection(tmp_path: Path, name: str) -> Connection:
    data = str(tmp_path / name)
    site, _ = make_test_site(data)
    store = Store(data, fsync=False)
    store.create_bucket("bkt", owner=None)
    connection = Connection(site)
    put, body = raw_request("PUT", "/bkt/obj", body=b"0123456789")
    connection.send(put + body)
    assert status_of(connection.output()) == 200
    connection.transport.clear()
    return connection


def _lines_read(connection: Connection) -> list[bytes]:
    """The lines Twisted's line reader hands the channel from now on (a live list)."""
    lines: list[bytes] = []
    original = connection.channel.lineReceived

    def recording(line: bytes) -> None:
        lines.append(line)
        original(line)

    connection.channel.lineReceived = recording  # type: ignore[method-assign]
    return lines


def _normalized(answer: bytes) -> bytes:
    return _TIMES.sub(rb"\1: <time>", _REQUEST_ID.sub(b"<id>", answer))


@pytest.mark.parametrize(("case", "data"), _cases(), ids=[name for name, _ in _cases()])
def test_a_head_gets_the_same_answer_whole_or_byte_by_byte(
    tmp_path: Path, case: str, data: bytes
) -> None:
    """One read or one byte per read, a request is answered alike, byte for byte."""
    whole = _fresh_connection(tmp_path, "whole")
    whole.send(data)
    piecemeal = _fresh_connection(tmp_path, "piecemeal")
    for index in range(len(data)):
        if piecemeal.transport.disconnecting:
            break  # a real client's further bytes would go nowhere
        piecemeal.send(data[index : index + 1])
    assert whole.output(), case
    assert _normalized(whole.output()) == _normalized(piecemeal.output())
    assert whole.transport.disconnecting == piecemeal.transport.disconnecting


def test_a_plain_whole_head_skips_the_line_reader(tmp_path: Path) -> None:
    """A signed GET that arrives whole is answered without Twisted's line reader."""
    connection = _fresh_connection(tmp_path, "data")
    lines = _lines_read(connection)
    connection.send(_signed("GET", "/bkt/obj"))
    assert status_of(connection.output()) == 200
    assert connection.output().endswith(b"0123456789")
    assert lines == []


def test_an_odd_head_goes_through_the_line_reader(tmp_path: Path) -> None:
    """A head with a folded line is read by Twisted's line reader, line by line."""
    connection = _fresh_connection(tmp_path, "data")
    lines = _lines_read(connection)
    connection.send(GET_HEAD + b"X-A: a\r\n b\r\n\r\n")
    assert lines[0] == GET_HEAD.split(b"\r\n")[0]


def test_a_body_split_from_its_whole_head_is_stored_whole(tmp_path: Path) -> None:
    """A PUT whose head arrives whole and whose body follows in pieces stores every byte."""
    connection = _fresh_connection(tmp_path, "data")
    body = bytes(range(256)) * 40
    head, _ = raw_request("PUT", "/bkt/split", body=body)
    connection.send(head)
    for start in range(0, len(body), 1000):
        connection.send(body[start : start + 1000])
    assert status_of(connection.output()) == 200
    connection.transport.clear()
    connection.send(_signed("GET", "/bkt/split"))
    assert connection.output().endswith(body)
