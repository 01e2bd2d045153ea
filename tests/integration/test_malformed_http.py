"""
Malformed HTTP on raw sockets against a real ``nanio serve``.

Each request below is broken in one way: the request line, the framing
(Content-Length and Transfer-Encoding, chunk sizes), the header block
(injection, NUL, sizes), or numbers no client can mean.  Each must end
within a deadline in one of the ways the table names:

- ``TWISTED``: Twisted's own bare ``400 Bad Request``, sent before nanio sees
  the request (Twisted's HTTP parser refuses it), then a close;
- ``NANIO``: a 4xx S3 error document with its request id, from nanio (a
  header section over its limits included: ``RequestHeaderSectionTooLarge``);
- ``WAITS``: not yet a complete request to the server, which waits for more,
  answers nothing, and closes once the client has finished sending.

Never a 5xx, never a traceback or an unhandled error in the server log,
and after each case a normal boto3 request still works.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import connect, own_server, signed_head
from tests.support.server import RunningServer, make_boto3_client

#: How long one malformed exchange may take before the test calls it a hang.
DEADLINE_SECONDS = 20.0
BUCKET = "malformed"
KEY = "object"
OBJECT_BODY = b"0123456789"

TWISTED = "twisted"
NANIO = "nanio"
WAITS = "waits"

# An access-log line: "[nanio.web.site.NanioSite#info] METHOD URI STATUS ...".
_ACCESS_STATUS = re.compile(r"NanioSite#info\] \S+ \S+ (\d{3}) ")


@dataclass
class Target:
    """The module's server and what the cases need to know about it."""

    server: RunningServer
    client: Any
    upload_id: str

    @property
    def host(self) -> bytes:
        """The Host header value a client sends."""
        return self.server.endpoint_url.split("://", 1)[1].encode()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A server of this module's own (its log holds only these cases), with one object."""
    root: Path = tmp_path_factory.mktemp("malformed-http")
    with own_server(root, "--log-level", "debug") as server:
        client = make_boto3_client(server)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=KEY, Body=OBJECT_BODY)
        upload_id = client.create_multipart_upload(Bucket=BUCKET, Key="upload")["UploadId"]
        yield Target(server, client, upload_id)
        status = server.stop()
    assert status == 0, f"exit status {status}; log: {server.log_path}"


# -- exchanging raw bytes ------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What came back on a connection: raw bytes, and whether the server closed it."""

    data: bytes
    closed: bool

    @property
    def status(self) -> int | None:
        """The status of the first final (non-1xx) response, None without one."""
        for match in re.finditer(rb"HTTP/1\.[01] (\d{3}) ", self.data):
            if not match[1].startswith(b"1"):
                return int(match[1])
        return None

    @property
    def from_nanio(self) -> bool:
        """Whether the answer carries nanio's request id (Twisted's own 400 does not)."""
        return b"\r\nx-amz-request-id: " in self.data


def _complete(data: bytes) -> bool:
    """Whether ``data`` holds one whole final response (head and Content-Length body)."""
    position = 0
    while True:
        end = data.find(b"\r\n\r\n", position)
        if end < 0:
            return False
        head = data[position:end]
        if head[9:10] != b"1":
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            return length is not None and len(data) - end - 4 >= int(length[1])
        position = end + 4


def exchange(target: Target, request: bytes, *, finish_sending: bool = False) -> Answer:
    """Send ``request``; read until one whole answer or a close, within the deadline.

    ``finish_sending`` half-closes the connection after the request, telling
    the server that nothing more will come.
    """
    sock = connect(target.server)
    deadline = time.monotonic() + DEADLINE_SECONDS
    received = b""
    try:
        try:
            sock.sendall(request)
            if finish_sending:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            # The server refused before reading everything (a header block
            # too large): what it answered is still there to read.
            pass
        while not _complete(received):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no answer and no close within {DEADLINE_SECONDS}s; got {received[:200]!r}"
                )
            sock.settimeout(remaining)
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                return Answer(received, closed=True)
            except TimeoutError:
                continue
            if not piece:
                return Answer(received, closed=True)
            received += piece
        return Answer(received, closed=False)
    finally:
        sock.close()


def assert_healthy(target: Target, since: int) -> None:
    """A signed boto3 request works, and the log since ``since`` shows no 5xx or traceback."""
    response = target.client.get_object(Bucket=BUCKET, Key=KEY)
    assert response["Body"].read() == OBJECT_BODY
    # The access line of this request comes after those of every earlier one.
    target.server.wait_for_log(re.escape(response["ResponseMetadata"]["RequestId"]))
    log = target.server.log_text()[since:]
    assert "Traceback" not in log and "Unhandled" not in log, log
    assert not [s for s in _ACCESS_STATUS.findall(log) if s.startswith("5")], log


def assert_ended_as(answer: Answer, expected: str) -> None:
    """Check that an exchange ended the way the table says."""
    if expected == TWISTED:
        assert (answer.status, answer.from_nanio, answer.closed) == (400, False, True), answer
    elif expected == NANIO:
        assert answer.status is not None and 400 <= answer.status < 500, answer
        assert answer.from_nanio and b"<Error><Code>" in answer.data, answer
    else:
        assert (answer.data, answer.closed) == (b"", True), answer


# -- the cases -----------------------------------------------------------------

Build = Callable[[Target], bytes]


def plain(text: bytes) -> Build:
    """A request sent as is, with ``{host}`` replaced by the server's address."""
    return lambda target: text.replace(b"{host}", target.host)


def signed(
    method: str, path: str, headers: dict[str, str] | None = None, tail: bytes = b""
) -> Build:
    """A request signed for ``path`` (``{upload_id}`` filled in), ``headers``, then ``tail``."""
    return lambda target: (
        signed_head(target.server, method, path.format(upload_id=target.upload_id), headers) + tail
    )


HOST = b"Host: {host}\r\n"
PUT_HEAD = b"PUT /malformed/put HTTP/1.1\r\n" + HOST
GET_HEAD = b"GET / HTTP/1.1\r\n" + HOST


def chunked_put(body: bytes) -> Build:
    """A signed chunked PutObject head followed by ``body`` as its chunks."""
    return signed("PUT", "/malformed/put", {"Transfer-Encoding": "chunked"}, body)


CASES: list[tuple[str, Build, str]] = [
    # The request line.
    ("garbage request line", plain(b"GARBAGE\r\n\r\n"), TWISTED),
    ("HTTP/0.9 request", plain(b"GET /\r\n\r\n"), TWISTED),
    ("unknown HTTP version", plain(b"GET / HTTP/9.9\r\n" + HOST + b"\r\n"), TWISTED),
    ("extra token in request line", plain(b"GET / HTTP/1.1 x\r\n" + HOST + b"\r\n"), TWISTED),
    ("empty path", plain(b"GET  HTTP/1.1\r\n" + HOST + b"\r\n"), TWISTED),
    ("tabs between request line parts", plain(b"GET\t/\tHTTP/1.1\r\n" + HOST + b"\r\n"), TWISTED),
    ("only blank lines", plain(b"\r\n\r\n"), TWISTED),
    ("non-ASCII method", plain(b"G\xc3\x89T / HTTP/1.1\r\n" + HOST + b"\r\n"), TWISTED),
    ("control byte in path", plain(b"GET /malformed/\x01 HTTP/1.1\r\n" + HOST + b"\r\n"), TWISTED),
    (
        "huge request line",
        plain(b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n" + HOST + b"\r\n"),
        NANIO,
    ),
    ("lower-case method", plain(b"get / HTTP/1.1\r\n" + HOST + b"\r\n"), NANIO),
    (
        "CONNECT to another port",
        plain(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n" + HOST + b"\r\n"),
        NANIO,
    ),
    ("escaped NUL in path", plain(b"GET /malformed/%00 HTTP/1.1\r\n" + HOST + b"\r\n"), NANIO),
    (
        "absolute-form request target",
        lambda t: signed_head(t.server, "GET", f"/{BUCKET}/{KEY}").replace(
            f"GET /{BUCKET}/".encode(), f"GET {t.server.endpoint_url}/{BUCKET}/".encode(), 1
        ),
        NANIO,
    ),
    ("missing Host", plain(b"GET / HTTP/1.1\r\n\r\n"), NANIO),
    ("HTTP/1.0 without Host", plain(b"GET / HTTP/1.0\r\n\r\n"), NANIO),
    # Content-Length and Transfer-Encoding.
    (
        "Content-Length and Transfer-Encoding",
        plain(
            PUT_HEAD
            + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        ),
        TWISTED,
    ),
    (
        "two different Content-Lengths",
        plain(PUT_HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        TWISTED,
    ),
    (
        "the same Content-Length twice",
        plain(PUT_HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        TWISTED,
    ),
    ("Content-Length list", plain(PUT_HEAD + b"Content-Length: 5, 5\r\n\r\nhello"), TWISTED),
    ("negative Content-Length", plain(PUT_HEAD + b"Content-Length: -5\r\n\r\n"), TWISTED),
    ("non-numeric Content-Length", plain(PUT_HEAD + b"Content-Length: abc\r\n\r\n"), TWISTED),
    (
        "Content-Length with a plus sign",
        plain(PUT_HEAD + b"Content-Length: +5\r\n\r\nhello"),
        TWISTED,
    ),
    ("hexadecimal Content-Length", plain(PUT_HEAD + b"Content-Length: 0x5\r\n\r\nhello"), TWISTED),
    ("unknown Transfer-Encoding", plain(PUT_HEAD + b"Transfer-Encoding: gzip\r\n\r\n"), TWISTED),
    (
        "chunked twice",
        plain(PUT_HEAD + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
        TWISTED,
    ),
    (
        "unsigned Content-Length of 2**70",
        plain(PUT_HEAD + b"Content-Length: 1180591620717411303424\r\n\r\n"),
        NANIO,
    ),
    ("non-hex chunk size", chunked_put(b"zz\r\nhello\r\n0\r\n\r\n"), TWISTED),
    ("negative chunk size", chunked_put(b"-5\r\nhello\r\n0\r\n\r\n"), TWISTED),
    ("NUL in chunk extension", chunked_put(b"5;\x00\r\nhello\r\n0\r\n\r\n"), TWISTED),
    ("chunk longer than its size", chunked_put(b"5\r\nhelloXX0\r\n\r\n"), TWISTED),
    # The header block.
    ("bare CR in a header value", plain(GET_HEAD + b"X-A: a\rb\r\n\r\n"), TWISTED),
    ("LF injecting a header", plain(GET_HEAD + b"X-A: a\nX-B: b\r\n\r\n"), TWISTED),
    ("NUL in a header name", plain(GET_HEAD + b"X-\x00A: a\r\n\r\n"), TWISTED),
    ("NUL in a header value", plain(GET_HEAD + b"X-A: a\x00b\r\n\r\n"), TWISTED),
    ("blank in a header name", plain(GET_HEAD + b"X A: b\r\n\r\n"), TWISTED),
    (
        "100k headers",
        plain(GET_HEAD + b"".join(b"X-%d: v\r\n" % i for i in range(100_000)) + b"\r\n"),
        NANIO,
    ),
    ("huge header value", plain(GET_HEAD + b"X-A: " + b"a" * 70_000 + b"\r\n\r\n"), NANIO),
    ("obsolete line folding", plain(GET_HEAD + b"X-A: a\r\n b\r\n\r\n"), NANIO),
    # Not (yet) a whole request: the server waits, then closes.
    ("bare LF line ends", plain(b"GET / HTTP/1.1\nHost: {host}\n\n"), WAITS),
    ("chunk size of 40 hex digits", chunked_put(b"f" * 40 + b"\r\nhello"), WAITS),
]


@pytest.mark.parametrize(
    ("build", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_malformed_request_is_refused_cleanly(target: Target, build: Build, expected: str) -> None:
    """A malformed request gets a 4xx or a close in time, and the server stays healthy."""
    since = len(target.server.log_text())
    answer = exchange(target, build(target), finish_sending=expected == WAITS)
    assert_ended_as(answer, expected)
    assert_healthy(target, since)


def test_100_continue_is_not_sent_before_refusing(target: Target) -> None:
    """An unauthenticated upload that expects 100-continue is refused without a 100 first."""
    answer = exchange(
        target, plain(PUT_HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n")(target)
    )
    assert answer.data.startswith(b"HTTP/1.1 403 ")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_body_on_a_bodiless_request_is_never_taken_for_the_next_request(
    target: Target, method: str
) -> None:
    """A GET or HEAD body that looks like a request is read as a body, not smuggled in."""
    smuggled = f"DELETE /{BUCKET}/{KEY} HTTP/1.1\r\n\r\n".encode()
    first = signed_head(
        target.server, method, f"/{BUCKET}/{KEY}", {"Content-Length": str(len(smuggled))}
    )
    second = signed_head(target.server, "GET", f"/{BUCKET}/{KEY}")
    sock = connect(target.server)
    try:
        sock.sendall(first + smuggled + second)
        sock.settimeout(DEADLINE_SECONDS)
        received = b""
        while received.count(b"HTTP/1.1 ") < 2 or not received.endswith(OBJECT_BODY):
            piece = sock.recv(65536)
            assert piece, f"closed after {received!r}"
            received += piece
    finally:
        sock.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"200", b"200"]
    assert target.client.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == OBJECT_BODY


# -- numbers no client can mean ----------------------------------------------------
# Digits Python's int() accepts in str.isdigit() but refuses to convert
# ("²", U+00B2), and decimal strings longer than int() converts (4300
# digits).  Every one must be a 4xx S3 error.

SUPERSCRIPT_TWO = "%C2%B2"
THOUSANDS_OF_NINES = "9" * 5000


def part_target(number: str) -> str:
    """The target of an UploadPart (or UploadPartCopy) with ``number`` as its partNumber."""
    return f"/{BUCKET}/upload?partNumber={number}&uploadId={{upload_id}}"


PARTS_MARKER = f"/{BUCKET}/upload?uploadId={{upload_id}}&part-number-marker="
ONE_BYTE = {"Content-Length": "1"}
COPY_SOURCE = {"x-amz-copy-source": f"/{BUCKET}/{KEY}"}

NUMBER_CASES: list[tuple[str, Build]] = [
    ("UploadPart partNumber ²", signed("PUT", part_target(SUPERSCRIPT_TWO), ONE_BYTE, b"x")),
    (
        "UploadPart partNumber of 5000 digits",
        signed("PUT", part_target(THOUSANDS_OF_NINES), ONE_BYTE, b"x"),
    ),
    ("GetObject partNumber ²", signed("GET", f"/{BUCKET}/{KEY}?partNumber={SUPERSCRIPT_TWO}")),
    ("ListParts part-number-marker ²", signed("GET", PARTS_MARKER + SUPERSCRIPT_TWO)),
    (
        "ListParts part-number-marker of 5000 digits",
        signed("GET", PARTS_MARKER + THOUSANDS_OF_NINES),
    ),
    (
        "UploadPartCopy range of 5000 digits",
        signed(
            "PUT",
            part_target("1"),
            {**COPY_SOURCE, "x-amz-copy-source-range": f"bytes=0-{THOUSANDS_OF_NINES}"},
        ),
    ),
    (
        "UploadPartCopy range with ²",
        signed("PUT", part_target("1"), {**COPY_SOURCE, "x-amz-copy-source-range": "bytes=\xb2-3"}),
    ),
    (
        "Range of 5000 digits",
        signed("GET", f"/{BUCKET}/{KEY}", {"Range": f"bytes={THOUSANDS_OF_NINES}-"}),
    ),
    (
        "max-keys of 5000 digits",
        signed("GET", f"/{BUCKET}?list-type=2&max-keys={THOUSANDS_OF_NINES}"),
    ),
    (
        "signed Content-Length of 2**70",
        signed("PUT", f"/{BUCKET}/huge", {"Content-Length": str(2**70)}),
    ),
]


@pytest.mark.parametrize(
    "build", [case[1] for case in NUMBER_CASES], ids=[case[0] for case in NUMBER_CASES]
)
def test_number_no_client_can_mean_is_a_4xx(target: Target, build: Build) -> None:
    """An absurd number in a signed request is a 4xx S3 error, never a 500 or a dropped line."""
    since = len(target.server.log_text())
    assert_ended_as(exchange(target, build(target)), NANIO)
    assert_healthy(target, since)
