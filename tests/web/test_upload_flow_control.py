"""
Upload flow control: the connection is paused while the disk falls behind.

The disk is played by a deliberately slow offload whose writes complete only
when the test says so; the connection's transport is a StringTransport, whose
producerState shows whether nanio paused reading.
"""

from __future__ import annotations

import os
from pathlib import Path

from nanio.web.spool import BATCH_BYTES, HIGH_WATER_BYTES, INLINE_LIMIT_BYTES, LOW_WATER_BYTES
from tests.support.rawhttp import Connection, raw_request, status_of
from tests.support.slowdisk import slow_site


def test_small_upload_never_leaves_the_reactor_thread(tmp_path: Path) -> None:
    """An upload within the inline limit is written at once: no offloaded write at all."""
    site, disk = slow_site(tmp_path)
    conn = Connection(site)
    head, body = raw_request("PUT", "/bkt/small", body=b"s" * 4096)
    conn.send(head + body)
    assert status_of(conn.output()) == 200
    assert disk.calls == []


def test_transport_pauses_above_high_water_and_resumes_below_low(tmp_path: Path) -> None:
    """Bytes piling up for a slow disk pause the connection, and draining them resumes it."""
    site, disk = slow_site(tmp_path)
    conn = Connection(site)
    size = INLINE_LIMIT_BYTES + HIGH_WATER_BYTES + 2 * 65536
    body = os.urandom(size)
    head, _ = raw_request("PUT", "/bkt/big", body=body, payload_hash="hash")
    conn.send(head)
    sent = 0
    while sent < INLINE_LIMIT_BYTES + HIGH_WATER_BYTES - LOW_WATER_BYTES:
        conn.send(body[sent : sent + 65536])
        sent += 65536
    assert conn.transport.producerState == "producing"
    while sent < size - 1:
        conn.send(body[sent : sent + 65536])
        sent += 65536
    assert conn.transport.producerState == "paused"
    disk.complete_all()
    assert conn.transport.producerState == "producing"
    conn.send(body[sent:])
    disk.complete_all()
    assert status_of(conn.output()) == 200
    assert (tmp_path / "bkt" / "big").read_bytes() == body


def test_answer_waits_for_the_disk(tmp_path: Path) -> None:
    """The 200 is sent only after every byte is written, never while writes are pending."""
    site, disk = slow_site(tmp_path)
    conn = Connection(site)
    body = os.urandom(INLINE_LIMIT_BYTES + 100_000)
    head, _ = raw_request("PUT", "/bkt/wait", body=body)
    conn.send(head + body)
    assert b"HTTP/1.1 200" not in conn.output()
    assert disk.calls
    disk.complete_all()
    assert status_of(conn.output()) == 200


def test_lost_connection_with_writes_in_flight_leaves_nothing(tmp_path: Path) -> None:
    """A client gone while a write is in flight leaves no temp file once the write ends."""
    from twisted.internet.error import ConnectionLost
    from twisted.python.failure import Failure

    site, disk = slow_site(tmp_path)
    conn = Connection(site)
    body = os.urandom(INLINE_LIMIT_BYTES + 200_000)
    head, _ = raw_request("PUT", "/bkt/gone", body=body)
    conn.send(head + body[:-10])
    assert disk.calls
    conn.channel.connectionLost(Failure(ConnectionLost()))
    disk.complete_all()
    assert list((tmp_path / ".nanio" / "tmp").iterdir()) == []
    assert not (tmp_path / "bkt" / "gone").exists()


def test_a_disk_that_keeps_up_gets_large_batches(tmp_path: Path) -> None:
    """Reads of 64 KiB reach the worker in batches of BATCH_BYTES, not one hop each."""
    site, disk = slow_site(tmp_path)
    conn = Connection(site)
    size = INLINE_LIMIT_BYTES + 8 * BATCH_BYTES + 1000
    body = os.urandom(size)
    head, _ = raw_request("PUT", "/bkt/batched", body=body)
    conn.send(head)
    offloaded = 0
    for start in range(0, size, 65536):
        conn.send(body[start : start + 65536])
        offloaded += len(disk.calls)
        disk.complete_all()  # the disk is done before the next read
    assert status_of(conn.output()) == 200
    assert offloaded == 9  # eight full batches and the short rest at the end
    assert (tmp_path / "bkt" / "batched").read_bytes() == body
