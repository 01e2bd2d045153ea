"""
Slow clients in memory: the head deadline, the body stall timeout, the idle timeout.

The site runs on a MemoryReactorClock, so a client "trickling" bytes is the
test sending a byte and advancing the clock.  These tests show the rules in
nanio/web/site.py: a head still incomplete HEADER_TIMEOUT_SECONDS after its
first byte, or a body with no byte for BODY_STALL_SECONDS, is answered with
S3's RequestTimeout and the connection closed; an idle keep-alive connection,
a slow but steady body and a body nanio itself stopped reading are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from nanio.web.site import (
    BODY_STALL_SECONDS,
    HEADER_TIMEOUT_SECONDS,
    IDLE_TIMEOUT_SECONDS,
    NanioSite,
)
from nanio.web.spool import HIGH_WATER_BYTES, INLINE_LIMIT_BYTES
from tests.support.procs import temp_files
from tests.support.rawhttp import Connection, make_test_site, raw_request, status_of
from tests.support.slowdisk import slow_site


@pytest.fixture
def site(data_dir: Path) -> tuple[NanioSite, MemoryReactorClock]:
    return make_test_site(str(data_dir))


def is_request_timeout(output: bytes) -> bool:
    """Whether ``output`` is one 400 RequestTimeout answer in S3 XML that says Connection: close."""
    head, _, body = output.partition(b"\r\n\r\n")
    return (
        head.startswith(b"HTTP/1.1 400 ")
        and b"\r\nconnection: close" in head.lower()
        and b"<Code>RequestTimeout</Code>" in body
        and output.count(b"HTTP/1.1 ") == 1
    )


def test_trickled_head_is_cut_at_the_deadline(site: tuple[NanioSite, MemoryReactorClock]) -> None:
    """A head sent a byte every 2 s is answered 400 RequestTimeout once the deadline passes."""
    nanio, clock = site
    conn = Connection(nanio)
    head, _ = raw_request("GET", "/bkt/missing")
    steps = int(HEADER_TIMEOUT_SECONDS // 2)
    for byte in head[:steps]:
        conn.send(bytes([byte]))
        clock.advance(1.99)
    assert conn.output() == b""
    assert not conn.transport.disconnecting
    clock.advance(steps * 0.01)
    assert is_request_timeout(conn.output())
    assert conn.transport.disconnecting


def test_timed_out_answer_carries_the_s3_message(
    site: tuple[NanioSite, MemoryReactorClock],
) -> None:
    """The RequestTimeout document carries S3's message about idle connections."""
    nanio, clock = site
    conn = Connection(nanio)
    conn.send(b"GET /bkt/missing HTTP/1.1\r\nHost: x")
    clock.advance(HEADER_TIMEOUT_SECONDS)
    assert b"Idle connections will be closed." in conn.output()


def test_head_in_two_reads_within_the_deadline_is_served(
    site: tuple[NanioSite, MemoryReactorClock],
) -> None:
    """A head finished just before the deadline is served, and the deadline does not fire later."""
    nanio, clock = site
    conn = Connection(nanio)
    head, _ = raw_request("GET", "/bkt/missing")
    conn.send(head[:40])
    clock.advance(HEADER_TIMEOUT_SECONDS - 0.5)
    conn.send(head[40:])
    clock.advance(HEADER_TIMEOUT_SECONDS)
    assert status_of(conn.output()) == 404
    assert b"RequestTimeout" not in conn.output()
    assert not conn.transport.disconnecting


def test_idle_keepalive_connection_is_not_cut_by_the_head_deadline(
    site: tuple[NanioSite, MemoryReactorClock],
) -> None:
    """A keep-alive connection idle between requests for 3x the head deadline still serves."""
    nanio, clock = site
    conn = Connection(nanio)
    head, _ = raw_request("GET", "/bkt/missing")
    conn.send(head)
    clock.advance(HEADER_TIMEOUT_SECONDS * 3)
    assert not conn.transport.disconnecting
    conn.send(raw_request("GET", "/bkt/missing")[0])
    assert conn.output().count(b"HTTP/1.1 404 ") == 2


def test_pipelined_partial_head_is_timed(site: tuple[NanioSite, MemoryReactorClock]) -> None:
    """The start of a second head sent with a first request is cut if it is never finished."""
    nanio, clock = site
    conn = Connection(nanio)
    head, _ = raw_request("GET", "/bkt/missing")
    conn.send(head + head[:30])
    assert status_of(conn.output()) == 404
    first = conn.output()
    clock.advance(HEADER_TIMEOUT_SECONDS)
    assert is_request_timeout(conn.output()[len(first) :])


def start_put(nanio: NanioSite, size: int, first: int) -> tuple[Connection, bytes]:
    """A connection with the head and ``first`` bytes of a ``size``-byte PUT sent; the rest."""
    conn = Connection(nanio)
    body = os.urandom(size)
    head, _ = raw_request("PUT", "/bkt/obj", body=body)
    conn.send(head + body[:first])
    return conn, body[first:]


def test_stalled_body_is_cut_and_leaves_no_temp_file(
    site: tuple[NanioSite, MemoryReactorClock], data_dir: Path
) -> None:
    """A body with no byte for the stall timeout is answered RequestTimeout; no temp file stays."""
    nanio, clock = site
    conn, _ = start_put(nanio, 100_000, 1000)
    assert len(temp_files(data_dir)) == 1
    clock.advance(BODY_STALL_SECONDS - 0.1)
    assert conn.output() == b""
    clock.advance(0.1)
    assert is_request_timeout(conn.output())
    assert temp_files(data_dir) == []
    assert not (data_dir / "bkt" / "obj").exists()


def test_stall_is_counted_from_the_last_byte(
    site: tuple[NanioSite, MemoryReactorClock],
) -> None:
    """A body that stalls after a late piece is cut a full stall timeout after that piece."""
    nanio, clock = site
    conn, rest = start_put(nanio, 100_000, 1000)
    clock.advance(BODY_STALL_SECONDS - 1)
    conn.send(rest[:1000])
    clock.advance(BODY_STALL_SECONDS - 0.1)
    assert conn.output() == b""
    clock.advance(0.1)
    assert is_request_timeout(conn.output())


def test_slow_but_steady_body_is_not_cut(
    site: tuple[NanioSite, MemoryReactorClock], data_dir: Path
) -> None:
    """A body sent a piece every 10 s for far longer than the stall timeout is stored."""
    nanio, clock = site
    pieces = 12
    conn, rest = start_put(nanio, 1000 * (pieces + 1), 1000)
    for i in range(pieces):
        clock.advance(10)
        conn.send(rest[i * 1000 : (i + 1) * 1000])
    assert status_of(conn.output()) == 200
    assert (data_dir / "bkt" / "obj").stat().st_size == 1000 * (pieces + 1)


def test_body_paused_by_nanio_is_not_cut(tmp_path: Path) -> None:
    """While nanio stops reading for a slow disk the client is not timed out; the upload ends."""
    nanio, disk = slow_site(tmp_path)
    clock = nanio.clock
    assert isinstance(clock, MemoryReactorClock)
    size = INLINE_LIMIT_BYTES + HIGH_WATER_BYTES + 2 * 65536
    conn, rest = start_put(nanio, size, 0)
    sent = 0
    while conn.transport.producerState != "paused":
        conn.send(rest[sent : sent + 65536])
        sent += 65536
    # Past both the stall timeout and Twisted's idle timeout, in steps.
    for _ in range(int(2 * IDLE_TIMEOUT_SECONDS // 10)):
        clock.advance(10)
    assert conn.output() == b""
    disk.complete_all()
    assert conn.transport.producerState == "producing"
    conn.send(rest[sent:])
    disk.complete_all()
    assert status_of(conn.output()) == 200
    assert (tmp_path / "bkt" / "obj").stat().st_size == size


def test_complete_body_waiting_for_the_disk_is_not_cut(tmp_path: Path) -> None:
    """Once the body is all in, waiting for the disk before the answer is not a stall."""
    nanio, disk = slow_site(tmp_path)
    clock = nanio.clock
    assert isinstance(clock, MemoryReactorClock)
    conn, rest = start_put(nanio, INLINE_LIMIT_BYTES + 100_000, 0)
    conn.send(rest)
    clock.advance(BODY_STALL_SECONDS * 4)
    assert conn.output() == b""
    disk.complete_all()
    assert status_of(conn.output()) == 200


# Twisted's idle timeout between requests, which NanioChannel keeps lazily
# (a deadline that requests move, one DelayedCall per connection).


def _closes_after_the_idle_timeout(conn: Connection, clock: MemoryReactorClock) -> None:
    """Open a second before IDLE_TIMEOUT_SECONDS from now, closed a second after."""
    clock.advance(IDLE_TIMEOUT_SECONDS - 1)
    assert not conn.transport.disconnecting
    clock.advance(2)
    assert conn.transport.disconnecting


def test_idle_keepalive_connection_is_closed_after_the_idle_timeout(
    site: tuple[NanioSite, MemoryReactorClock],
) -> None:
    """A keep-alive connection with no request for IDLE_TIMEOUT_SECONDS is closed, not before."""
    nanio, clock = site
    conn = Connection(nanio)
    conn.send(raw_request("GET", "/bkt/missing")[0])
    _closes_after_the_idle_timeout(conn, clock)


def test_every_request_restarts_the_idle_timeout(
    site: tuple[NanioSite, MemoryReactorClock],
) -> None:
    """Requests 3/4 of the idle timeout apart keep a connection open; idling then closes it."""
    nanio, clock = site
    conn = Connection(nanio)
    for _ in range(6):
        clock.advance(IDLE_TIMEOUT_SECONDS * 0.75)
        assert not conn.transport.disconnecting
        conn.send(raw_request("GET", "/bkt/missing")[0])
    assert conn.output().count(b"HTTP/1.1 404 ") == 6
    _closes_after_the_idle_timeout(conn, clock)


def test_request_waiting_for_the_disk_is_not_cut_by_the_idle_timeout(tmp_path: Path) -> None:
    """The idle timer stops while a request is in progress and starts again after its answer."""
    nanio, disk = slow_site(tmp_path)
    clock = nanio.clock
    assert isinstance(clock, MemoryReactorClock)
    conn, rest = start_put(nanio, INLINE_LIMIT_BYTES + 100_000, 0)
    conn.send(rest)
    clock.advance(IDLE_TIMEOUT_SECONDS * 3)
    assert not conn.transport.disconnecting
    disk.complete_all()
    assert status_of(conn.output()) == 200
    _closes_after_the_idle_timeout(conn, clock)


def test_closed_connection_leaves_no_idle_timer(
    site: tuple[NanioSite, MemoryReactorClock],
) -> None:
    """A connection that goes away cancels its idle timer: the clock holds nothing of it."""
    nanio, clock = site
    conn = Connection(nanio)
    conn.send(raw_request("GET", "/bkt/missing")[0])

    def of_channel() -> list[object]:
        return [
            call
            for call in clock.getDelayedCalls()
            if getattr(call.func, "__self__", None) is conn.channel
        ]

    assert of_channel()  # the idle timer of the open connection
    conn.channel.connectionLost(Failure(ConnectionDone()))
    assert not of_channel()
