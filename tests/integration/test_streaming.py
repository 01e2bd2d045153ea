"""
Streaming against a real server: memory stays flat both ways, bodies arrive whole.

The memory tests start a server of their own, so no other test's traffic
moves its resident memory, and read VmHWM/VmRSS from ``/proc``.  The others
share one server for this module, whose data directory they inspect: an
aborted or refused upload must leave neither an object nor a temp file.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import error_fields, signed_request
from tests.support.procs import (
    MIB,
    connect,
    object_path,
    open_descriptors,
    own_server,
    pattern_block,
    peak_rss_bytes,
    read_exactly,
    read_response_head,
    reset_peak_rss,
    rss_bytes,
    signed_head,
    temp_files,
    wait_for,
    wait_for_no_temp_files,
    write_pattern_file,
)
from tests.support.server import RunningServer, make_boto3_client

#: Big enough that buffering it would show in RSS many times over.
LARGE_OBJECT_BYTES = 256 * MIB
#: The peak RSS a 256 MiB upload may add: a few spool batches and buffers.
UPLOAD_PEAK_GROWTH_LIMIT_BYTES = 40 * MIB
#: What a GET to a reader that has stopped reading may add to RSS.
SLOW_READER_GROWTH_LIMIT_BYTES = 6 * MIB
#: A small receive window, so the reader's socket is full after little data.
SLOW_READER_RECEIVE_BUFFER_BYTES = 64 * 1024
#: How much of the body the slow reader takes before it stops reading.
SLOW_READER_FIRST_READ_BYTES = 4 * 1024
#: How long the slow reader stops: long enough to buffer the whole object.
SLOW_READER_PAUSE_SECONDS = 1.0
#: The upload a client abandons, and how much of it it sends first.
ABANDONED_UPLOAD_BYTES = 64 * MIB
ABANDONED_SENT_BYTES = 32 * MIB


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server for this module alone, so its temp directory holds only our uploads."""
    with own_server(tmp_path_factory.mktemp("streaming")) as server:
        yield server


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path``, its big files removed afterwards (pytest keeps it for three runs)."""
    yield tmp_path
    # The server log stays for a failure's post-mortem; the 256 MiB bodies go.
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size > MIB:
            path.unlink()


def make_bucket(server: RunningServer, name: str) -> Any:
    """Create bucket ``name`` on ``server``; return the client that did it."""
    client = make_boto3_client(server, checksums="when_required")
    client.create_bucket(Bucket=name)
    return client


def chunked_body(pieces: list[bytes]) -> bytes:
    """``pieces`` framed as an HTTP/1.1 chunked body, last chunk included."""
    framed = [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces]
    return b"".join(framed) + b"0\r\n\r\n"


def test_256_mib_upload_keeps_peak_rss_growth_under_40_mib(
    scratch: Path, fresh_bucket: str, record_property: Any
) -> None:
    """A 256 MiB boto3 upload from a file raises the server's peak RSS by less than 40 MiB."""
    source = scratch / "upload.bin"
    md5 = write_pattern_file(source, LARGE_OBJECT_BYTES)
    with own_server(scratch / "server") as server:
        client = make_bucket(server, fresh_bucket)
        # Warm the upload path up so the measurement sees the body alone.
        client.put_object(Bucket=fresh_bucket, Key="warm-up", Body=pattern_block(0))
        pid = server.process.pid
        reset_peak_rss(pid)
        before = peak_rss_bytes(pid)
        with source.open("rb") as body:
            response = client.put_object(Bucket=fresh_bucket, Key="big", Body=body)
        growth = peak_rss_bytes(pid) - before
    record_property("peak_rss_growth_bytes", growth)
    assert response["ETag"] == f'"{md5}"'
    assert growth < UPLOAD_PEAK_GROWTH_LIMIT_BYTES, f"peak RSS grew by {growth / MIB:.1f} MiB"


def test_slow_reader_pauses_the_get_and_still_receives_every_byte(
    scratch: Path, fresh_bucket: str, record_property: Any
) -> None:
    """A reader that stops after 4 KiB of a 256 MiB GET costs the server a few MiB at most."""
    with own_server(scratch / "server") as server:
        client = make_bucket(server, fresh_bucket)
        # Dropped in by hand (served like any object): faster than uploading it.
        md5 = write_pattern_file(
            object_path(server.data_dir, fresh_bucket, "big"), LARGE_OBJECT_BYTES
        )
        client.put_object(Bucket=fresh_bucket, Key="warm-up", Body=pattern_block(0))
        client.get_object(Bucket=fresh_bucket, Key="warm-up")["Body"].read()
        pid = server.process.pid
        before = rss_bytes(pid)
        with connect(server, receive_buffer_bytes=SLOW_READER_RECEIVE_BUFFER_BYTES) as sock:
            sock.sendall(signed_head(server, "GET", f"/{fresh_bucket}/big"))
            status, headers, first = read_response_head(sock)
            digest = hashlib.md5(first)
            read_exactly(sock, SLOW_READER_FIRST_READ_BYTES - len(first), digest.update)
            # Not a timing assertion: a server that ignores backpressure
            # reads the whole file into its send buffer in this time.
            time.sleep(SLOW_READER_PAUSE_SECONDS)
            growth = rss_bytes(pid) - before
            read_exactly(sock, LARGE_OBJECT_BYTES - SLOW_READER_FIRST_READ_BYTES, digest.update)
    record_property("slow_reader_rss_growth_bytes", growth)
    assert (status, headers["content-length"]) == (200, str(LARGE_OBJECT_BYTES))
    assert growth < SLOW_READER_GROWTH_LIMIT_BYTES, f"RSS grew by {growth / MIB:.1f} MiB"
    assert digest.hexdigest() == md5


def test_chunked_transfer_encoding_upload_stores_exactly_the_bytes(
    module_server: RunningServer, fresh_bucket: str
) -> None:
    """A PUT with Transfer-Encoding: chunked and UNSIGNED-PAYLOAD stores the de-chunked bytes."""
    client = make_bucket(module_server, fresh_bucket)
    # Odd sizes, a one-byte chunk, and chunks bigger than any read buffer.
    pieces = [
        b"x",
        pattern_block(1, 7),
        pattern_block(2, 65536),
        pattern_block(3, MIB + 3),
        b"\r\n0\r\n",
        pattern_block(4, 2 * MIB + 11),
    ]
    head = signed_head(
        module_server,
        "PUT",
        f"/{fresh_bucket}/chunked",
        {"Transfer-Encoding": "chunked", "Connection": "close"},
    )
    with connect(module_server) as sock:
        sock.sendall(head + chunked_body(pieces))
        status, _, _ = read_response_head(sock)
    stored = client.get_object(Bucket=fresh_bucket, Key="chunked")["Body"].read()
    assert status == 200
    assert stored == b"".join(pieces)


def test_client_disconnecting_midway_leaves_no_object_and_no_temp_file(
    module_server: RunningServer, fresh_bucket: str
) -> None:
    """A client that closes its connection halfway through a 64 MiB PUT leaves nothing behind."""
    client = make_bucket(module_server, fresh_bucket)
    head = signed_head(
        module_server,
        "PUT",
        f"/{fresh_bucket}/abandoned",
        {"Content-Length": str(ABANDONED_UPLOAD_BYTES)},
    )
    with connect(module_server) as sock:
        sock.sendall(head)
        for index in range(ABANDONED_SENT_BYTES // MIB):
            sock.sendall(pattern_block(index))
        # The upload is in flight once its temp file exists.
        wait_for(lambda: temp_files(module_server.data_dir), "the upload's temp file")
    wait_for_no_temp_files(module_server.data_dir)
    with pytest.raises(ClientError) as raised:
        client.head_object(Bucket=fresh_bucket, Key="abandoned")
    assert raised.value.response["Error"]["Code"] == "404"
    assert not object_path(module_server.data_dir, fresh_bucket, "abandoned").exists()


def test_wrong_content_md5_keeps_the_previous_version(
    module_server: RunningServer, fresh_bucket: str
) -> None:
    """A PUT whose Content-MD5 is wrong answers BadDigest and the old bytes and ETag stay."""
    client = make_bucket(module_server, fresh_bucket)
    old = pattern_block(1, 3 * MIB)
    old_etag = client.put_object(Bucket=fresh_bucket, Key="kept", Body=old)["ETag"]
    new = pattern_block(2, 3 * MIB)
    wrong_md5 = base64.b64encode(hashlib.md5(new + b"!").digest()).decode("ascii")
    refused = signed_request(
        module_server,
        "PUT",
        f"/{fresh_bucket}/kept",
        headers={"Content-MD5": wrong_md5},
        body=new,
    )
    wait_for_no_temp_files(module_server.data_dir)
    kept = client.get_object(Bucket=fresh_bucket, Key="kept")
    assert (refused.status, error_fields(refused.body)["Code"]) == (400, "BadDigest")
    assert (kept["Body"].read(), kept["ETag"]) == (old, old_etag)


# --- GET bodies over sendfile (plain TCP) ----------------------------------------------

#: Large enough for many rounds of "socket full, drained, sendfile again".
SENDFILE_OBJECT_BYTES = 40 * MIB


def dropped_object(server: RunningServer, bucket: str, key: str) -> tuple[Path, bytes]:
    """A patterned object put into the bucket directory by hand: (its path, its bytes)."""
    make_bucket(server, bucket)
    path = object_path(server.data_dir, bucket, key)
    write_pattern_file(path, SENDFILE_OBJECT_BYTES)
    return path, path.read_bytes()


def test_get_to_a_slow_small_window_reader_arrives_whole_and_logged(
    module_server: RunningServer, fresh_bucket: str
) -> None:
    """A 40 MiB GET read in small pieces (many full-socket rounds) arrives byte for byte.

    Bytes sent by sendfile bypass Twisted's write(): the access log must
    still count every one of them.
    """
    _, data = dropped_object(module_server, fresh_bucket, "big")
    received = bytearray()
    with connect(module_server, receive_buffer_bytes=SLOW_READER_RECEIVE_BUFFER_BYTES) as sock:
        sock.sendall(signed_head(module_server, "GET", f"/{fresh_bucket}/big"))
        status, headers, first = read_response_head(sock)
        received += first
        while len(received) < len(data):
            piece = sock.recv(16 * 1024)
            assert piece, f"connection closed after {len(received)} bytes"
            received += piece
            if len(received) % (4 * MIB) < len(piece):
                time.sleep(0.01)  # now and then, let the socket fill up
    assert (status, headers["content-length"]) == (200, str(len(data)))
    assert received == data
    request_id = headers["x-amz-request-id"]
    line = module_server.wait_for_log(rf"GET /{fresh_bucket}/big 200 (\d+) \S+ {request_id}")
    assert int(line.group(1)) == len(data)


def test_range_get_from_an_offset_over_sendfile(
    module_server: RunningServer, fresh_bucket: str
) -> None:
    """A large range starting mid-file is exactly that slice of the object."""
    _, data = dropped_object(module_server, fresh_bucket, "big")
    first, last = 5 * MIB + 3, 30 * MIB + 7
    head = signed_head(
        module_server, "GET", f"/{fresh_bucket}/big", {"Range": f"bytes={first}-{last}"}
    )
    with connect(module_server) as sock:
        sock.sendall(head)
        status, headers, body = read_response_head(sock)
        received = bytearray(body)
        read_exactly(sock, last - first + 1 - len(body), received.extend)
    assert (status, headers["content-range"]) == (206, f"bytes {first}-{last}/{len(data)}")
    assert received == data[first : last + 1]


def server_has_open(server: RunningServer, path: Path) -> bool:
    """Whether the server process holds ``path`` open."""
    return str(path) in open_descriptors(server.process.pid)


def test_client_leaving_a_download_is_not_an_error(
    module_server: RunningServer, fresh_bucket: str
) -> None:
    """A client that resets its connection mid-GET: the file is closed, no failure is logged."""
    path, _ = dropped_object(module_server, fresh_bucket, "big")
    with connect(module_server, receive_buffer_bytes=SLOW_READER_RECEIVE_BUFFER_BYTES) as sock:
        sock.sendall(signed_head(module_server, "GET", f"/{fresh_bucket}/big"))
        status, headers, _ = read_response_head(sock)
        wait_for(lambda: server_has_open(module_server, path), "the download's open file")
        # A reset, not a polite close: the server's next send fails at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert status == 200
    wait_for(lambda: not server_has_open(module_server, path), "the file closed")
    request_id = headers["x-amz-request-id"]
    about_it = [line for line in module_server.log_text().splitlines() if request_id in line]
    assert not [line for line in about_it if "#critical]" in line or "#error]" in line], about_it
    client = make_boto3_client(module_server)
    assert client.head_object(Bucket=fresh_bucket, Key="big")["ContentLength"] == len(
        path.read_bytes()
    )
