"""FileProducer: GET bodies pushed from an open file with backpressure."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from twisted.internet import tcp
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from zope.interface.verify import verifyObject

from nanio.web.producers import CHUNK_BYTES, CHUNKS_PER_TURN, FileProducer
from nanio.web.transports import buffered_bytes, plain_socket


class OpenedFile:
    """A stand-in for storage's OpenObject: a descriptor and a counted close."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.closed = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.closed += 1


def one_turn(clock: Clock) -> None:
    """Run the calls that were due when the turn began, as the reactor does.

    ``Clock.advance(0)`` would also run calls scheduled during the turn,
    hiding whether the producer yields.
    """
    due = [c for c in clock.getDelayedCalls() if c.getTime() <= clock.seconds()]
    for call in due:
        clock.calls.remove(call)
        call.called = 1
        call.func(*call.args, **call.kw)


def make_file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path, data


def written(request: StringTransport) -> bytes:
    # StringTransport stands in for the request: it is the IConsumer the
    # producer registers with and writes to.
    return request.value()


def test_producer_provides_ipushproducer(tmp_path: Path) -> None:
    """FileProducer declares and implements IPushProducer."""
    path, _ = make_file(tmp_path, 10)
    producer = FileProducer(OpenedFile(path), 0, 10, StringTransport(), Clock())
    assert verifyObject(IPushProducer, producer)


def test_whole_file_is_written_and_done_fires(tmp_path: Path) -> None:
    """All bytes reach the request, the producer unregisters, the file is closed and done fires."""
    size = CHUNK_BYTES * 3 + 123
    path, data = make_file(tmp_path, size)
    request, clock, opened = StringTransport(), Clock(), OpenedFile(path)
    done = FileProducer(opened, 0, size, request, clock).start()
    clock.advance(0)
    assert written(request) == data
    assert request.producer is None
    assert opened.closed == 1
    assert done.called


def test_range_is_an_offset_and_a_length(tmp_path: Path) -> None:
    """A byte range is served as exactly length bytes from offset."""
    path, data = make_file(tmp_path, 1000)
    request, clock = StringTransport(), Clock()
    FileProducer(OpenedFile(path), 100, 250, request, clock).start()
    clock.advance(0)
    assert written(request) == data[100:350]


def test_pause_stops_reading_until_resume(tmp_path: Path) -> None:
    """While paused nothing more is read; resuming continues where it stopped."""
    size = CHUNK_BYTES * 2 * CHUNKS_PER_TURN
    path, data = make_file(tmp_path, size)
    request, clock = StringTransport(), Clock()
    producer = FileProducer(OpenedFile(path), 0, size, request, clock)
    done = producer.start()
    producer.pauseProducing()
    one_turn(clock)
    assert written(request) == b""
    producer.resumeProducing()
    one_turn(clock)
    assert len(written(request)) == CHUNK_BYTES * CHUNKS_PER_TURN
    assert not done.called
    one_turn(clock)
    one_turn(clock)
    assert written(request) == data
    assert done.called


def test_pause_during_write_is_honoured_at_once(tmp_path: Path) -> None:
    """A pause requested from inside request.write stops the pump before the next chunk."""
    size = CHUNK_BYTES * 4
    path, _ = make_file(tmp_path, size)
    request, clock = StringTransport(), Clock()
    producer = FileProducer(OpenedFile(path), 0, size, request, clock)
    original_write = request.write

    def write_then_pause(data: bytes) -> None:
        original_write(data)
        producer.pauseProducing()

    request.write = write_then_pause  # type: ignore[method-assign]
    producer.start()
    clock.advance(0)
    assert len(written(request)) == CHUNK_BYTES


def test_yields_to_the_reactor_between_turns(tmp_path: Path) -> None:
    """One pump writes at most CHUNKS_PER_TURN chunks, then schedules the next turn."""
    size = CHUNK_BYTES * (CHUNKS_PER_TURN + 1)
    path, _ = make_file(tmp_path, size)
    request, clock = StringTransport(), Clock()
    FileProducer(OpenedFile(path), 0, size, request, clock).start()
    one_turn(clock)
    assert len(written(request)) == CHUNK_BYTES * CHUNKS_PER_TURN
    assert len(clock.getDelayedCalls()) == 1


def test_cancelling_done_stops_and_closes_once(tmp_path: Path) -> None:
    """Cancelling done (the client went away) closes the file once and stops all reads."""
    size = CHUNK_BYTES * 10
    path, _ = make_file(tmp_path, size)
    request, clock, opened = StringTransport(), Clock(), OpenedFile(path)
    producer = FileProducer(opened, 0, size, request, clock)
    done = producer.start()
    done.cancel()
    done.addErrback(lambda _: None)
    producer.stopProducing()
    clock.advance(0)
    assert opened.closed == 1
    assert written(request) == b""
    assert clock.getDelayedCalls() == []


def test_a_file_that_shrinks_fails_the_response(tmp_path: Path) -> None:
    """A file truncated by hand mid-download aborts the response instead of hanging."""
    path, _ = make_file(tmp_path, 100)
    request, clock, opened = StringTransport(), Clock(), OpenedFile(path)
    done = FileProducer(opened, 0, 200, request, clock).start()
    failures: list[object] = []
    done.addErrback(failures.append)
    clock.advance(0)
    assert len(failures) == 1
    assert opened.closed == 1


# --- sendfile: which transports, and the transport's buffer -----------------------------


@pytest.fixture
def peer_and_connection() -> Iterator[tuple[socket.socket, tcp.Connection]]:
    """A socket pair: (the far end, a Twisted connection on the near end), off any reactor."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    connection = tcp.Connection(ours, Protocol(), reactor=MemoryReactorClock())
    connection.connected = 1
    # write() would register the socket with the reactor; nothing must send here.
    connection.startWriting = lambda: None  # type: ignore[method-assign]
    yield theirs, connection
    ours.close()
    theirs.close()


@pytest.fixture
def tcp_connection(peer_and_connection: tuple[socket.socket, tcp.Connection]) -> tcp.Connection:
    """The Twisted side of ``peer_and_connection``."""
    return peer_and_connection[1]


class SocketRequest:
    """A request whose headers are out and whose channel's transport is a real socket."""

    startedWriting = 1

    def __init__(self, transport: tcp.Connection) -> None:
        self.channel = SimpleNamespace(transport=transport)
        self.transport = transport
        self.sentLength = 0
        self.producer: object = None

    def registerProducer(self, producer: object, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.transport.write(data)
        self.sentLength += len(data)


def receive_all(peer: socket.socket) -> bytes:
    """Everything ``peer`` can read right now."""
    peer.setblocking(False)
    pieces = []
    while True:
        try:
            piece = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(pieces)
        if not piece:
            return b"".join(pieces)
        pieces.append(piece)


def test_sendfile_only_on_plain_sockets(tcp_connection: tcp.Connection) -> None:
    """A TCP (or UNIX) transport gets sendfile; TLS and non-socket transports do not."""
    assert plain_socket(tcp_connection) is tcp_connection
    assert plain_socket(StringTransport()) is None
    assert plain_socket(None) is None  # a request with no transport at all
    tcp_connection.TLS = True  # a socket that started TLS
    assert plain_socket(tcp_connection) is None


def test_buffered_bytes_reads_twisteds_write_buffer(tcp_connection: tcp.Connection) -> None:
    """Pins the FileDescriptor buffer names ``buffered_bytes`` reads (they are private)."""
    assert buffered_bytes(tcp_connection) == 0
    tcp_connection.write(b"x" * 10)
    tcp_connection.writeSequence([b"y" * 5, b"z" * 7])
    assert buffered_bytes(tcp_connection) == 22
    # What doWrite leaves after the kernel took 4 of 22 bytes.
    tcp_connection.dataBuffer = b"".join(tcp_connection._tempDataBuffer)
    tcp_connection._tempDataBuffer, tcp_connection._tempDataLen = [], 0
    tcp_connection.offset = 4
    assert buffered_bytes(tcp_connection) == 18


def test_plain_socket_gets_the_range_by_sendfile(
    tmp_path: Path, peer_and_connection: tuple[socket.socket, tcp.Connection]
) -> None:
    """Over a socket, a range goes out by sendfile: in order, counted, nothing via write()."""
    peer, connection = peer_and_connection
    path, data = make_file(tmp_path, 50_000)
    request, clock, opened = SocketRequest(connection), Clock(), OpenedFile(path)
    done = FileProducer(opened, 1_000, 40_000, request, clock).start()  # type: ignore[arg-type]
    clock.advance(0)
    assert receive_all(peer) == data[1_000:41_000]
    assert request.sentLength == 40_000
    assert buffered_bytes(connection) == 0  # no byte took the transport's way
    assert done.called and opened.closed == 1 and request.producer is None


def test_a_file_that_shrinks_under_sendfile_fails_the_response(
    tmp_path: Path, peer_and_connection: tuple[socket.socket, tcp.Connection]
) -> None:
    """Bytes promised by the headers but gone from the file abort the response."""
    peer, connection = peer_and_connection
    path, data = make_file(tmp_path, 100)
    request, clock, opened = SocketRequest(connection), Clock(), OpenedFile(path)
    done = FileProducer(opened, 0, 200, request, clock).start()  # type: ignore[arg-type]
    failures: list[object] = []
    done.addErrback(failures.append)
    clock.advance(0)
    assert receive_all(peer) == data  # what there was, then the connection is aborted
    assert len(failures) == 1 and opened.closed == 1
    assert connection._aborting


def test_a_chunked_body_never_takes_sendfile(
    tmp_path: Path, peer_and_connection: tuple[socket.socket, tcp.Connection]
) -> None:
    """Without a Content-Length Twisted frames each write as a chunk: sendfile would skip that."""
    peer, connection = peer_and_connection
    path, _ = make_file(tmp_path, 50_000)
    request, clock, opened = SocketRequest(connection), Clock(), OpenedFile(path)
    request.chunked = 1  # type: ignore[attr-defined]
    FileProducer(opened, 0, 50_000, request, clock).start()  # type: ignore[arg-type]
    clock.advance(0)
    assert receive_all(peer) == b""  # nothing bypassed the transport (never flushed here)
    assert buffered_bytes(connection) == 50_000
