"""
A CompleteMultipartUpload whose join takes long answers 200 early and sends
whitespace until the result document, as S3 does; a quick one answers as usual.

The join runs on a SlowDisk, so the test decides when it finishes, and the
clock is in memory, so the keep-alive timers fire when the test advances it.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from nanio.s3.xml import XML_DECLARATION
from nanio.web.keepalive import KEEPALIVE_AFTER_SECONDS, KEEPALIVE_EVERY_SECONDS
from nanio.web.site import NanioSite
from tests.support.rawhttp import Connection, raw_request, status_of
from tests.support.slowdisk import SlowDisk, slow_site

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def request(site: NanioSite, method: str, path: str, body: bytes = b"", **kw: object) -> bytes:
    conn = Connection(site)
    head, payload = raw_request(method, path, body=body, **kw)  # type: ignore[arg-type]
    conn.send(head + payload)
    return conn.output()


def body_of(response: bytes) -> bytes:
    """The body of a response, de-chunked when it was sent chunked."""
    head, _, body = response.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, body = out + body[:size], body[size + 2 :]


def start_upload(site: NanioSite, key: str) -> tuple[str, bytes]:
    """An upload of ``key`` with one part; its id and the Complete request body."""
    created = request(site, "POST", f"/bkt/{key}?uploads")
    upload_id = re.search(rb"<UploadId>([^<]+)</UploadId>", created)
    assert upload_id is not None
    uid = upload_id.group(1).decode()
    uploaded = request(site, "PUT", f"/bkt/{key}?partNumber=1&uploadId={uid}", body=b"p" * 1000)
    etag = re.search(rb'(?i)etag: ("[0-9a-f]+")', uploaded)
    assert etag is not None
    complete = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{etag.group(1).decode()}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    return uid, complete


def begin_complete(
    site: NanioSite, key: str, headers: dict[str, str] | None = None
) -> tuple[Connection, SlowDisk]:
    uid, complete = start_upload(site, key)
    conn = Connection(site)
    head, payload = raw_request(
        "POST", f"/bkt/{key}?uploadId={uid}", body=complete, headers=headers
    )
    conn.send(head + payload)
    return conn, site.s3.context.offload  # type: ignore[return-value]


def test_a_quick_complete_answers_with_its_length_and_no_whitespace(tmp_path: Path) -> None:
    """A join finished before the keep-alive delay is answered whole, with Content-Length."""
    site, disk = slow_site(tmp_path)
    conn, _ = begin_complete(site, "quick")
    assert conn.output() == b""
    disk.complete_all()
    response = conn.output()
    assert status_of(response) == 200
    assert b"content-length:" in response.lower()
    assert body_of(response).startswith(XML_DECLARATION + b"<CompleteMultipartUploadResult")


def test_a_slow_complete_sends_200_then_spaces_then_the_result(tmp_path: Path) -> None:
    """Past the delay: 200 and the declaration, a space each interval, then the result."""
    site, disk = slow_site(tmp_path)
    conn, _ = begin_complete(site, "slow")
    site.clock.advance(KEEPALIVE_AFTER_SECONDS)
    early = conn.output()
    assert status_of(early) == 200
    assert body_of(early + b"0\r\n\r\n") == XML_DECLARATION
    site.clock.advance(KEEPALIVE_EVERY_SECONDS)
    site.clock.advance(KEEPALIVE_EVERY_SECONDS)
    assert body_of(conn.output() + b"0\r\n\r\n") == XML_DECLARATION + b"  "
    disk.complete_all()
    body = body_of(conn.output())
    assert body.startswith(XML_DECLARATION + b"  <CompleteMultipartUploadResult")
    root = ElementTree.fromstring(body)
    assert root.tag == NS + "CompleteMultipartUploadResult"
    assert root.findtext(NS + "Key") == "slow"
    assert (tmp_path / "bkt" / "slow").read_bytes() == b"p" * 1000


def test_a_failure_after_the_early_200_is_an_error_document_in_the_body(tmp_path: Path) -> None:
    """If-None-Match: * failing once the 200 is out gives a 200 whose body is the S3 Error."""
    site, disk = slow_site(tmp_path)
    assert status_of(request(site, "PUT", "/bkt/taken", body=b"old")) == 200
    conn, _ = begin_complete(site, "taken", headers={"If-None-Match": "*"})
    site.clock.advance(KEEPALIVE_AFTER_SECONDS)
    disk.complete_all()
    response = conn.output()
    assert status_of(response) == 200
    root = ElementTree.fromstring(body_of(response))
    assert root.tag == "Error"
    assert root.findtext("Code") == "PreconditionFailed"
    assert (tmp_path / "bkt" / "taken").read_bytes() == b"old"


def test_a_failure_before_the_delay_keeps_its_status(tmp_path: Path) -> None:
    """A Complete that fails quickly answers with the error's own status, not an early 200."""
    site, disk = slow_site(tmp_path)
    assert status_of(request(site, "PUT", "/bkt/taken", body=b"old")) == 200
    conn, _ = begin_complete(site, "taken", headers={"If-None-Match": "*"})
    disk.complete_all()
    answered = conn.output()
    assert status_of(answered) == 412
    site.clock.advance(KEEPALIVE_AFTER_SECONDS + KEEPALIVE_EVERY_SECONDS)
    assert conn.output() == answered


def test_a_client_gone_during_the_join_stops_the_whitespace(tmp_path: Path) -> None:
    """Once the client hangs up nothing more is written, and the upload still completes."""
    site, disk = slow_site(tmp_path)
    conn, _ = begin_complete(site, "gone")
    site.clock.advance(KEEPALIVE_AFTER_SECONDS)
    conn.channel.connectionLost(Failure(ConnectionDone()))
    written = conn.output()
    site.clock.advance(10 * KEEPALIVE_EVERY_SECONDS)
    assert conn.output() == written
    disk.complete_all()
    assert (tmp_path / "bkt" / "gone").read_bytes() == b"p" * 1000
