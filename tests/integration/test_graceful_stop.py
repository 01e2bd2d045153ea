"""
A graceful stop of a real ``nanio serve``: SIGTERM in the middle of a large upload.

The upload goes over a raw socket, so the test decides when each byte is
sent: part of the body, then SIGTERM, then (or never) the rest.  The server
has begun the request once its temp file exists, and has begun stopping once
it logs "Stopping: waiting up to".  With a long ``--shutdown-timeout`` the
upload completes and is there after a restart; with ``--shutdown-timeout 1``
it is cut off and leaves neither object nor temp file.  Either way the
server exits 0, and from the moment it stops it refuses new connections.
The same holds with ``--workers``: the parent passes SIGTERM on.
"""

from __future__ import annotations

import hashlib
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.procs import (
    MIB,
    connect,
    killed_when_done,
    object_path,
    pattern_block,
    read_exactly,
    read_response_head,
    signed_head,
    start_own_server,
    temp_files,
    wait_for,
)
from tests.support.server import RunningServer, make_boto3_client

UPLOAD_BYTES = 200 * MIB
#: Sent before the SIGTERM; the rest after it (or never).
FIRST_PART_BYTES = 32 * MIB
#: Deadline for the server to exit once it is told to stop.
EXIT_TIMEOUT_SECONDS = 60.0
STOPPING = r"Stopping: waiting up to"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers on one data directory; any still running at the end is killed."""
    with killed_when_done(lambda *extra: start_own_server(tmp_path, *extra)) as start_one:
        yield start_one


class Upload:
    """A PUT of ``UPLOAD_BYTES`` patterned bytes over a raw socket, sent in parts."""

    def __init__(self, server: RunningServer, key: str) -> None:
        make_boto3_client(server).create_bucket(Bucket="bkt")
        self.key = key
        self.digest = hashlib.md5()
        self.sent = 0
        self.sock = connect(server)
        self.sock.sendall(
            signed_head(server, "PUT", f"/bkt/{key}", {"Content-Length": str(UPLOAD_BYTES)})
        )

    def send(self, size: int) -> None:
        """Send the next ``size`` bytes of the body."""
        end = self.sent + size
        while self.sent < end:
            block = pattern_block(self.sent // MIB)[: min(MIB, end - self.sent)]
            self.sock.sendall(block)
            self.digest.update(block)
            self.sent += len(block)

    def close(self) -> None:
        """Close the client's socket."""
        self.sock.close()

    def finish(self) -> tuple[int, dict[str, str]]:
        """Send the rest of the body, read the answer's status and headers, and close."""
        self.send(UPLOAD_BYTES - self.sent)
        status, headers, _ = read_response_head(self.sock)
        self.close()
        return status, headers


def begin(server: RunningServer, key: str) -> Upload:
    """Start an upload and send its first part; return once the server is writing it."""
    upload = Upload(server, key)
    upload.send(FIRST_PART_BYTES)
    wait_for(lambda: temp_files(server.data_dir), "the upload's temp file")
    return upload


def stop_during(server: RunningServer) -> None:
    """Send SIGTERM and wait until the server says it is waiting for requests in flight."""
    server.process.send_signal(signal.SIGTERM)
    server.wait_for_log(STOPPING, EXIT_TIMEOUT_SECONDS)


WORKER_OPTIONS = [
    pytest.param((), id="one-process"),
    pytest.param(("--workers", "2"), id="workers"),
]


@pytest.mark.parametrize("workers", WORKER_OPTIONS)
def test_upload_under_way_at_sigterm_completes(
    start: Callable[..., RunningServer], workers: tuple[str, ...]
) -> None:
    """An upload in flight at SIGTERM is finished (200, Connection: close); the server exits 0."""
    server = start("--shutdown-timeout", "120", *workers)
    upload = begin(server, "big")
    stop_during(server)
    status, headers = upload.finish()
    assert (status, headers.get("connection")) == (200, "close")
    assert headers["etag"] == f'"{upload.digest.hexdigest()}"'
    assert server.process.wait(EXIT_TIMEOUT_SECONDS) == 0


@pytest.mark.parametrize("workers", WORKER_OPTIONS)
def test_upload_finished_during_the_stop_is_there_after_a_restart(
    start: Callable[..., RunningServer], workers: tuple[str, ...]
) -> None:
    """An upload finished during the stop is stored whole, as a restarted server shows."""
    server = start("--shutdown-timeout", "120", *workers)
    upload = begin(server, "kept")
    stop_during(server)
    upload.finish()
    assert server.process.wait(EXIT_TIMEOUT_SECONDS) == 0
    restarted = start()
    head = make_boto3_client(restarted).head_object(Bucket="bkt", Key="kept")
    assert head["ContentLength"] == UPLOAD_BYTES
    assert head["ETag"] == f'"{upload.digest.hexdigest()}"'


@pytest.mark.parametrize("workers", WORKER_OPTIONS)
def test_upload_cut_off_by_the_timeout_leaves_nothing(
    start: Callable[..., RunningServer], workers: tuple[str, ...]
) -> None:
    """With --shutdown-timeout 1 an unfinished upload is cut off: exit 0, no object, no temp."""
    server = start("--shutdown-timeout", "1", *workers)
    upload = begin(server, "cut")
    stop_during(server)
    assert server.process.wait(EXIT_TIMEOUT_SECONDS) == 0
    upload.close()
    assert temp_files(server.data_dir) == []
    assert not object_path(server.data_dir, "bkt", "cut").exists()
    server.wait_for_log(r"the shutdown timeout passed; cutting off 1 connection")
    restarted = start()
    listing = make_boto3_client(restarted).list_objects_v2(Bucket="bkt")
    assert listing["KeyCount"] == 0
    assert temp_files(restarted.data_dir) == []


@pytest.mark.parametrize("workers", WORKER_OPTIONS)
def test_new_connections_are_refused_while_stopping(
    start: Callable[..., RunningServer], workers: tuple[str, ...]
) -> None:
    """While a stopping server waits for an upload, a new connection is refused."""
    server = start("--shutdown-timeout", "120", *workers)
    upload = begin(server, "waiting")
    stop_during(server)
    address = urlsplit(server.endpoint_url)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address.hostname, address.port), timeout=10)
    finally:
        upload.finish()
    assert server.process.wait(EXIT_TIMEOUT_SECONDS) == 0


def test_idle_keep_alive_connection_is_closed_at_sigterm(
    start: Callable[..., RunningServer],
) -> None:
    """An idle keep-alive connection is closed by the stop, which does not wait for it."""
    server = start("--shutdown-timeout", "120")
    sock = connect(server)
    sock.sendall(signed_head(server, "GET", "/"))
    status, headers, received = read_response_head(sock)
    assert status == 200
    read_exactly(sock, int(headers["content-length"]) - len(received), lambda _: None)
    server.process.send_signal(signal.SIGTERM)
    # Well within the 120 s the stop would give a request in flight.
    assert server.process.wait(EXIT_TIMEOUT_SECONDS) == 0
    assert sock.recv(4096) == b""
    sock.close()
