"""
Whole answers go straight into an idle socket (NanioChannel.send_whole).

A real Twisted TCP transport over a loopback connection, on an in-memory reactor that
never runs: whatever the peer can read before any write cycle was sent at
once.  An answer the socket cannot take whole must still arrive whole and in
order once the transport's own queue is flushed.  These tests also pin the
private names of Twisted's write buffer that send_whole reads.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet import tcp

from nanio.web.site import UPLOAD_READ_BYTES, NanioChannel
from tests.support.rawhttp import Connection, make_test_site, raw_request, status_of

#: The objects in "bkt": key -> body.
BODIES = {"small": bytes(range(256)) * 16, "larger": bytes(range(256)) * 240}


def _wait_readable(sock: socket.socket, timeout_seconds: float = 5.0) -> None:
    """Block until ``sock`` has data; poll(), as select() refuses descriptors above 1023."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    poller.poll(timeout_seconds * 1000)


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two ends of one loopback TCP connection: (server side, client side)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server_side, _ = listener.accept()
    return server_side, client


class SocketConnection:
    """A NanioChannel on a real ``tcp.Server`` transport whose peer is ``self.peer``."""

    def __init__(self, data_dir: Path, sndbuf: int | None = None) -> None:
        self.site, self.clock = make_test_site(str(data_dir))
        uploads = Connection(self.site)
        for key, body in BODIES.items():
            uploads.send(b"".join(raw_request("PUT", f"/bkt/{key}", body=body)))
        assert uploads.output().count(b"HTTP/1.1 200 ") == len(BODIES)
        ours, self.peer = _tcp_pair()
        if sndbuf is not None:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        ours.setblocking(False)
        self.peer.setblocking(False)
        self.channel: NanioChannel = self.site.buildProtocol(None)  # type: ignore[assignment]
        port = SimpleNamespace(_realPortNumber=9000)
        self.transport = tcp.Server(ours, self.channel, ("127.0.0.1", 50000), port, 1, self.clock)
        self.channel.makeConnection(self.transport)

    def received(self) -> bytes:
        """What the peer can read right now."""
        chunks = []
        while True:
            try:
                chunk = self.peer.recv(1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.transport.socket.close()
        self.peer.close()


@pytest.fixture
def connection(data_dir: Path) -> Iterator[SocketConnection]:
    conn = SocketConnection(data_dir)
    yield conn
    conn.close()


def _writer_registered(conn: SocketConnection) -> bool:
    return conn.transport in conn.clock.getWriters()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_small_answer_is_in_the_socket_before_any_write_cycle(
    connection: SocketConnection, method: str
) -> None:
    """A 4 KiB GET or HEAD answer is readable at once; the transport queued nothing."""
    connection.channel.dataReceived(raw_request(method, "/bkt/small")[0])
    answer = connection.received()
    assert status_of(answer) == 200, answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\nContent-Length: 4096\r\n" in head + b"\r\n"
    assert body == (b"" if method == "HEAD" else BODIES["small"])
    assert not _writer_registered(connection)
    assert connection.transport.dataBuffer == b""
    assert connection.transport._tempDataLen == 0


def test_pipelined_answers_arrive_in_order(connection: SocketConnection) -> None:
    """Two requests in one read: two answers, the first one first."""
    first = raw_request("HEAD", "/bkt/small")[0]
    second = raw_request("GET", "/bkt/missing")[0]
    connection.channel.dataReceived(first + second)
    answer = connection.received()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 404 " in answer[answer.index(b"\r\n\r\n") :]
    assert answer.endswith(b"</Error>")


def _flush(conn: SocketConnection) -> bytes:
    """Let the transport write its queue, as the reactor would, reading the peer meanwhile."""
    received = [conn.received()]
    for _ in range(10_000):
        if not _writer_registered(conn):
            break
        conn.transport.doWrite()
        received.append(conn.received())
    received.append(conn.received())
    return b"".join(received)


def test_answer_the_socket_cannot_take_whole_arrives_whole(data_dir: Path) -> None:
    """With a tiny send buffer the rest of the answer is queued and sent after, in order."""
    conn = SocketConnection(data_dir, sndbuf=4096)
    try:
        conn.channel.dataReceived(raw_request("GET", "/bkt/larger")[0])
        assert _writer_registered(conn)  # the socket did not take it all
        answer = _flush(conn)
        assert status_of(answer) == 200, answer[:200]
        assert answer.partition(b"\r\n\r\n")[2] == BODIES["larger"]
        # The next answer waits behind nothing and goes straight out again.
        conn.channel.dataReceived(raw_request("HEAD", "/bkt/small")[0])
        assert status_of(conn.received()) == 200
    finally:
        conn.close()


def test_answer_after_queued_bytes_waits_behind_them(connection: SocketConnection) -> None:
    """Bytes already in the transport's queue are sent before a new answer, never after."""
    transport: Any = connection.transport
    transport.write(b"queued before\r\n")
    assert transport._tempDataLen  # Twisted holds it until the next write cycle
    connection.channel.dataReceived(raw_request("HEAD", "/bkt/small")[0])
    assert connection.received() == b""  # nothing jumped the queue
    answer = _flush(connection)
    assert answer.startswith(b"queued before\r\nHTTP/1.1 200 ")


def _count_reads(connection: SocketConnection) -> list[int]:
    """Record the size of every piece the channel is given from now on."""
    reads: list[int] = []
    receive = connection.channel.dataReceived

    def counted(data: bytes) -> None:
        reads.append(len(data))
        receive(data)

    connection.channel.dataReceived = counted  # type: ignore[method-assign]
    return reads


def test_upload_bodies_are_read_in_large_pieces(connection: SocketConnection) -> None:
    """A large PUT body may be read more than Twisted's 64 KiB at a time; then 64 KiB again."""
    body = bytes(range(256)) * (3 * UPLOAD_READ_BYTES // 256)
    head, body = raw_request("PUT", "/bkt/uploaded", body=body)
    reads = _count_reads(connection)
    # More than the socket buffers hold: a thread sends while this one reads.
    sender = threading.Thread(target=connection.peer.sendall, args=(head + body,))
    connection.peer.setblocking(True)
    sender.start()
    try:
        while sum(reads) < len(head) + len(body):
            _wait_readable(connection.transport.socket)
            connection.transport.doRead()
    finally:
        sender.join(5.0)
    connection.peer.setblocking(False)
    assert status_of(connection.received()) == 200
    # What one recv() returns depends on the kernel too; Twisted's own reads stop at 64 KiB.
    assert 64 * 1024 < max(reads) <= UPLOAD_READ_BYTES
    assert connection.transport.bufferSize == 64 * 1024  # responses: Twisted's buffering


def test_small_upload_keeps_twisted_reads(connection: SocketConnection) -> None:
    """A body that fits in one of Twisted's 64 KiB reads never gets the large read size."""
    sizes: list[int | None] = []
    raise_reads = connection.channel.read_uploads_in

    def recorded(size: int | None) -> None:
        sizes.append(size)
        raise_reads(size)

    connection.channel.read_uploads_in = recorded  # type: ignore[method-assign]
    head, body = raw_request("PUT", "/bkt/small-upload", body=b"s" * 4096, expect_continue=True)
    connection.peer.sendall(head)
    connection.transport.doRead()  # the head: the body is awaited with 100 Continue
    connection.peer.sendall(body)
    _wait_readable(connection.transport.socket)
    connection.transport.doRead()
    answer = _flush(connection)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ")
    assert sizes == []
    assert connection.transport.bufferSize == 64 * 1024
