"""
Slowloris against a real server: 200 connections trickle their request heads
one byte every second or two while ordinary boto3 requests are served, and
the head deadline then cuts every slow connection off with RequestTimeout.

The server is ``nanio serve`` started through a tiny wrapper that shortens
the head deadline to a few seconds; nothing else changes.  One thread drives
all the slow sockets round-robin with non-blocking sends and reads.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.procs import patched_server
from tests.support.server import RunningServer, make_boto3_client

HEAD_DEADLINE_SECONDS = 6

# ``nanio serve`` with a short head deadline.
SHORT_DEADLINE = f"""
import nanio.web.site as site
site.HEADER_TIMEOUT_SECONDS = {HEAD_DEADLINE_SECONDS}
"""

SLOW_CONNECTIONS = 200
#: What each slow client sends, a byte at a time: a head it never finishes.
TRICKLED_HEAD = b"GET /slow/never HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"z" * 200
#: How long the slow sockets get to be answered and closed, in seconds: the
#: deadline, nanio's 5 s linger, and plenty of room on a busy machine.
CUT_OFF_WAIT_SECONDS = 90.0
ORDINARY_REQUESTS = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with patched_server(tmp_path_factory.mktemp("slow-clients"), SHORT_DEADLINE) as running:
        yield running


@dataclass
class SlowClient:
    """One slow connection: how far its head got, what it read, how it ended."""

    sock: socket.socket
    next_send_at: float
    sent: int = 0
    received: bytearray = field(default_factory=bytearray)
    #: "eof" or "reset" once the server ended the connection.
    ended: str | None = None


class Trickler(threading.Thread):
    """Sends each slow client's next byte every 1-2 s and reads what comes back."""

    def __init__(self, clients: list[SlowClient], deadline: float) -> None:
        super().__init__(daemon=True)
        self.clients = clients
        self.deadline = deadline
        self.selector = selectors.DefaultSelector()
        for client in clients:
            self.selector.register(client.sock, selectors.EVENT_READ, client)

    def run(self) -> None:
        rng = random.Random(6)
        open_count = len(self.clients)
        while open_count and time.monotonic() < self.deadline:
            for key, _ in self.selector.select(timeout=0.05):
                client: SlowClient = key.data
                try:
                    data = client.sock.recv(65536)
                except ConnectionResetError:
                    data, client.ended = b"", "reset"
                if data:
                    client.received += data
                    continue
                client.ended = client.ended or "eof"
                self.selector.unregister(client.sock)
                client.sock.close()
                open_count -= 1
            now = time.monotonic()
            for client in self.clients:
                if client.ended or client.received or now < client.next_send_at:
                    continue
                if client.sent < len(TRICKLED_HEAD):
                    # A failed send means answered or cut: the read side says which.
                    with contextlib.suppress(BlockingIOError, ConnectionError):
                        client.sent += client.sock.send(
                            TRICKLED_HEAD[client.sent : client.sent + 1]
                        )
                client.next_send_at = now + rng.uniform(1.0, 2.0)
        self.selector.close()


def open_slow_clients(server: RunningServer) -> list[SlowClient]:
    """SLOW_CONNECTIONS connected, non-blocking sockets that have sent nothing yet."""
    parts = urlsplit(server.endpoint_url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    clients = []
    start = time.monotonic()
    for i in range(SLOW_CONNECTIONS):
        sock = socket.create_connection(address, timeout=30)
        sock.setblocking(False)
        # Spread the first bytes over a second, as independent clients would.
        clients.append(SlowClient(sock, start + (i % 10) / 10))
    return clients


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``call``'s result and how long it took, in milliseconds."""
    began = time.perf_counter()
    result = call(*args, **kwargs)
    return result, (time.perf_counter() - began) * 1000


def test_slow_heads_are_cut_while_ordinary_requests_are_served(server: RunningServer) -> None:
    """200 trickling heads do not hold up boto3 PUTs and GETs, and all are cut off after."""
    s3 = make_boto3_client(server)
    s3.create_bucket(Bucket="slow")
    body = b"x" * 4096
    clients = open_slow_clients(server)
    trickler = Trickler(clients, time.monotonic() + CUT_OFF_WAIT_SECONDS)
    trickler.start()
    # Let every slow client get its first bytes in before the ordinary requests.
    time.sleep(1.5)
    assert all(c.sent and not c.received for c in clients)
    latencies_ms: list[tuple[str, float]] = []
    for i in range(ORDINARY_REQUESTS):
        _, put_ms = timed(s3.put_object, Bucket="slow", Key=f"k{i}", Body=body)
        answer, get_ms = timed(s3.get_object, Bucket="slow", Key=f"k{i}")
        assert answer["Body"].read() == body
        latencies_ms += [(f"PUT k{i}", put_ms), (f"GET k{i}", get_ms)]
    still_trickling = sum(1 for c in clients if not c.received and not c.ended)
    trickler.join(CUT_OFF_WAIT_SECONDS + 10)
    answered = sum(1 for c in clients if b"<Code>RequestTimeout</Code>" in c.received)
    ended = sum(1 for c in clients if c.ended)
    logged = server.log_text().count("Cut off a client whose request head took over")
    figures = (
        f"{SLOW_CONNECTIONS} slow connections, {still_trickling} still trickling after the "
        f"ordinary requests; {answered} answered RequestTimeout, {ended} closed by the server, "
        f"{logged} cuts logged; "
        f"heads got {min(c.sent for c in clients)}-{max(c.sent for c in clients)} bytes in; "
        "latencies: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in latencies_ms)
    )
    print(figures)
    assert still_trickling == SLOW_CONNECTIONS, figures
    assert ended == SLOW_CONNECTIONS, figures
    # Half-closed after the answer, never reset: every slow client can read why.
    assert answered == SLOW_CONNECTIONS, figures
    assert all(c.received.startswith(b"HTTP/1.1 400 ") for c in clients), figures
    assert all(c.sent < len(TRICKLED_HEAD) for c in clients), figures
    # Healthy afterwards.
    assert s3.get_object(Bucket="slow", Key="k0")["Body"].read() == body
    for i in range(ORDINARY_REQUESTS):
        s3.delete_object(Bucket="slow", Key=f"k{i}")
    s3.delete_bucket(Bucket="slow")
