"""
A graceful stop in memory: ``NanioSite.drain`` and ``NanioService.stopService``.

Connections are NanioSite channels over a transport that, like a real one,
reports its end to the protocol on the next turn of the (in-memory) clock.
These tests show the invariants in nanio/web/site.py and nanio/service.py:
idle connections close at once, requests in flight are answered (with
``Connection: close``) before their connection closes, and the shutdown
timeout aborts the rest, leaving no object and no temp file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.application.internet import TimerService
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionAborted, ConnectionDone
from twisted.internet.interfaces import IListeningPort
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from nanio.service import NanioService, ThreadPoolService, make_service
from nanio.web.site import IDLE_CLOSE_GRACE_SECONDS, NanioSite
from tests.support.procs import temp_files
from tests.support.rawhttp import (
    Connection,
    make_settings,
    make_test_site,
    raw_request,
    status_of,
)

if TYPE_CHECKING:
    from tests.conftest import LogEvents

_deferreds = SynchronousTestCase()

#: An upload of 200 KiB, a whole number of 256-byte patterns.
UPLOAD_BYTES = 256 * 800


class ClosingTransport(StringTransport):
    """A StringTransport that reports the connection's end on the next clock turn, as TCP does."""

    def __init__(self, clock: MemoryReactorClock) -> None:
        super().__init__()
        self._clock = clock
        self.protocol: object = None
        self.aborted = False

    def loseConnection(self) -> None:
        if not self.disconnecting:
            super().loseConnection()
            self._clock.callLater(0, self._report, ConnectionDone())

    def abortConnection(self) -> None:
        self.aborted = True
        if not self.disconnecting:
            super().loseConnection()
            self._clock.callLater(0, self._report, ConnectionAborted())

    def _report(self, reason: Exception) -> None:
        self.protocol.connectionLost(Failure(reason))  # type: ignore[attr-defined]


def connect(site: NanioSite, clock: MemoryReactorClock) -> Connection:
    """A connection to ``site`` whose transport reports its end."""
    transport = ClosingTransport(clock)
    connection = Connection(site, transport)
    transport.protocol = connection.channel
    return connection


def start_upload(site: NanioSite, clock: MemoryReactorClock, key: str) -> tuple[Connection, bytes]:
    """A connection with half of an upload sent; returns it and the other half."""
    connection = connect(site, clock)
    body = bytes(range(256)) * (UPLOAD_BYTES // 256)
    head, _ = raw_request("PUT", f"/bkt/{key}", body=body)
    half = len(body) // 2
    connection.send(head + body[:half])
    return connection, body[half:]


def test_drain_without_connections_fires_at_once(data_dir: Path) -> None:
    """A site with no open connection has drained as soon as it is asked to."""
    site, _ = make_test_site(str(data_dir))
    _deferreds.successResultOf(site.drain(30))


def test_idle_connection_is_closed_at_once(data_dir: Path) -> None:
    """An idle keep-alive connection is closed when the drain begins, and the drain then fires."""
    site, clock = make_test_site(str(data_dir))
    connection = connect(site, clock)
    head, _ = raw_request("GET", "/bkt/missing")
    connection.send(head)
    assert status_of(connection.output()) == 404
    assert not connection.transport.disconnecting
    drained = site.drain(30)
    assert connection.transport.disconnecting
    clock.advance(0)
    assert site.channels == set()
    _deferreds.successResultOf(drained)


class WaitingTLSTransport(ClosingTransport):
    """A TLS transport: loseConnection waits for the client's close_notify, which never comes."""

    def loseConnection(self) -> None:
        StringTransport.loseConnection(self)

    def abortConnection(self) -> None:
        self.aborted = True
        self._clock.callLater(0, self._report, ConnectionAborted())


def test_idle_connection_that_does_not_close_is_cut_soon(data_dir: Path) -> None:
    """An idle connection still open after the grace (TLS awaiting close_notify) is aborted."""
    site, clock = make_test_site(str(data_dir))
    transport = WaitingTLSTransport(clock)
    connection = Connection(site, transport)
    transport.protocol = connection.channel
    head, _ = raw_request("GET", "/bkt/missing")
    connection.send(head)
    drained = site.drain(30)
    clock.advance(IDLE_CLOSE_GRACE_SECONDS - 0.1)
    assert not transport.aborted
    clock.advance(0.1)
    assert transport.aborted
    clock.advance(0)
    _deferreds.successResultOf(drained)


def test_upload_in_flight_is_finished_before_its_connection_closes(data_dir: Path) -> None:
    """An upload under way as the drain begins is stored and answered, then its connection ends."""
    site, clock = make_test_site(str(data_dir))
    connection, rest = start_upload(site, clock, "inflight")
    drained = site.drain(30)
    _deferreds.assertNoResult(drained)
    assert not connection.transport.disconnecting
    connection.send(rest)
    assert status_of(connection.output()) == 200
    assert (data_dir / "bkt" / "inflight").stat().st_size == UPLOAD_BYTES
    assert connection.transport.disconnecting
    clock.advance(0)
    _deferreds.successResultOf(drained)


def test_answer_during_the_drain_says_connection_close(data_dir: Path) -> None:
    """The answer to a request in flight during the drain carries Connection: close."""
    site, clock = make_test_site(str(data_dir))
    connection, rest = start_upload(site, clock, "closing")
    site.drain(30)
    connection.send(rest)
    head = connection.output().split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nconnection: close" in head


def test_request_with_headers_still_arriving_is_the_last(data_dir: Path) -> None:
    """A request whose headers end after the drain began is served, then its connection closes."""
    site, clock = make_test_site(str(data_dir))
    connection = connect(site, clock)
    head, _ = raw_request("GET", "/bkt/missing")
    first_line, rest = head.split(b"\r\n", 1)
    connection.send(first_line + b"\r\n")
    drained = site.drain(30)
    connection.send(rest)
    out = connection.output()
    assert status_of(out) == 404
    assert b"\r\nconnection: close" in out.split(b"\r\n\r\n", 1)[0].lower()
    clock.advance(0)
    _deferreds.successResultOf(drained)


def test_upload_still_running_at_the_timeout_leaves_nothing(data_dir: Path) -> None:
    """An upload cut off by the shutdown timeout is aborted: no object, no temp file."""
    site, clock = make_test_site(str(data_dir))
    connection, _ = start_upload(site, clock, "cut")
    assert len(temp_files(data_dir)) == 1
    drained = site.drain(5)
    clock.advance(4.9)
    _deferreds.assertNoResult(drained)
    assert not connection.transport.aborted
    clock.advance(0.1)
    assert connection.transport.aborted  # type: ignore[attr-defined]
    clock.advance(0)
    _deferreds.successResultOf(drained)
    assert temp_files(data_dir) == []
    assert not (data_dir / "bkt" / "cut").exists()


def test_zero_timeout_aborts_requests_in_flight_at_once(data_dir: Path) -> None:
    """With a shutdown timeout of 0 an upload under way is aborted on the next clock turn."""
    site, clock = make_test_site(str(data_dir))
    connection, _ = start_upload(site, clock, "zero")
    drained = site.drain(0)
    clock.advance(0)
    assert connection.transport.aborted  # type: ignore[attr-defined]
    clock.advance(0)
    _deferreds.successResultOf(drained)
    assert temp_files(data_dir) == []


def test_drain_gives_up_on_a_transport_that_never_reports_its_end(data_dir: Path) -> None:
    """A connection whose transport never reports its end cannot keep the drain waiting forever."""
    site, clock = make_test_site(str(data_dir))
    connection = Connection(site)  # a plain StringTransport never calls connectionLost
    head, _ = raw_request("PUT", "/bkt/stuck", body=b"x" * 1000)
    connection.send(head + b"x" * 10)
    drained = site.drain(1)
    clock.advance(1)
    _deferreds.assertNoResult(drained)
    clock.advance(5)
    _deferreds.successResultOf(drained)


def test_connection_made_during_the_drain_is_closed(data_dir: Path) -> None:
    """A connection the port accepted just before it closed is closed without being served."""
    site, clock = make_test_site(str(data_dir))
    site.drain(30)
    connection = connect(site, clock)
    assert connection.transport.disconnecting


def test_drain_logs_the_requests_it_waits_for(data_dir: Path, log_events: LogEvents) -> None:
    """The drain says how many requests it waits for and for how long."""
    site, clock = make_test_site(str(data_dir))
    start_upload(site, clock, "logged")
    site.drain(12)
    [event] = [e for e in log_events if "waiting up to" in e.get("log_format", "")]
    assert event["count"] == 1
    assert event["timeout"] == 12


def test_closed_connections_are_forgotten(data_dir: Path) -> None:
    """The site's set of open connections loses each connection as it closes."""
    site, clock = make_test_site(str(data_dir))
    connection = connect(site, clock)
    assert site.channels == {connection.channel}
    connection.transport.loseConnection()
    clock.advance(0)
    assert site.channels == set()


# -- the service tree ------------------------------------------------------------


@implementer(IListeningPort)
class RecordingPort:
    """A listening port that records when it is stopped."""

    def __init__(self) -> None:
        self.stopped = False

    def startListening(self) -> None:
        """Nothing to do: born listening."""

    def stopListening(self) -> None:
        """Record the stop."""
        self.stopped = True

    def getHost(self) -> IPv4Address:
        """A loopback address."""
        return IPv4Address("TCP", "127.0.0.1", 9000)


class RecordingEndpoint:
    """A server endpoint whose listen succeeds at once with its RecordingPort."""

    def __init__(self) -> None:
        self.port = RecordingPort()

    def listen(self, factory: object) -> Deferred[RecordingPort]:
        """The port, listening already."""
        return succeed(self.port)


@dataclass
class Running:
    """A started service in memory, with an upload half sent to its site."""

    service: NanioService
    reactor: MemoryReactorClock
    port: RecordingPort
    connection: Connection
    rest: bytes


def running_upload(data_dir: Path, shutdown_timeout: float) -> Running:
    """Start a service in memory and send half an upload to its site."""
    reactor = MemoryReactorClock()
    reactor.advance(time.time())  # SigV4 checks the request date against the clock
    settings = make_settings(str(data_dir), shutdown_timeout=shutdown_timeout)
    endpoint = RecordingEndpoint()
    service = make_service(settings, reactor, endpoints=[("tcp:9000", endpoint)])
    service.startService()
    assert service.site is not None
    connection, rest = start_upload(service.site, reactor, "service")
    return Running(service, reactor, endpoint.port, connection, rest)


def test_stop_closes_the_ports_before_the_upload_finishes(data_dir: Path) -> None:
    """stopService closes the listening port at once, while an upload is still under way."""
    running = running_upload(data_dir, 30)
    stopped = running.service.stopService()
    assert running.port.stopped
    _deferreds.assertNoResult(stopped)


def test_stop_waits_for_the_upload_in_flight(data_dir: Path) -> None:
    """stopService fires only once the upload under way is stored and its connection closed."""
    running = running_upload(data_dir, 30)
    stopped = running.service.stopService()
    running.reactor.advance(10)
    _deferreds.assertNoResult(stopped)
    running.connection.send(running.rest)
    assert status_of(running.connection.output()) == 200
    running.reactor.advance(0)
    _deferreds.successResultOf(stopped)
    assert (data_dir / "bkt" / "service").stat().st_size == UPLOAD_BYTES


def test_stop_aborts_the_upload_at_the_shutdown_timeout(data_dir: Path) -> None:
    """stopService aborts an upload still under way at the shutdown timeout, then fires."""
    running = running_upload(data_dir, 3)
    stopped = running.service.stopService()
    running.reactor.advance(2.9)
    _deferreds.assertNoResult(stopped)
    running.reactor.advance(0.1)
    running.reactor.advance(0)
    _deferreds.successResultOf(stopped)
    assert temp_files(data_dir) == []
    assert not (data_dir / "bkt" / "service").exists()


def test_disk_threads_stop_only_after_the_drain(data_dir: Path) -> None:
    """The disk thread pool keeps running while the stop waits for an upload, and stops after."""
    running = running_upload(data_dir, 30)
    [disk_threads] = [child for child in running.service if isinstance(child, ThreadPoolService)]
    running.service.stopService()
    running.reactor.advance(1)
    assert disk_threads.running
    running.connection.send(running.rest)
    running.reactor.advance(0)
    assert not disk_threads.running


def test_timers_stop_before_the_drain(data_dir: Path) -> None:
    """The temp-file sweeper, added after the listener, stops as soon as the stop begins."""
    running = running_upload(data_dir, 30)
    [sweeper] = [child for child in running.service if isinstance(child, TimerService)]
    running.service.stopService()
    assert not sweeper.running
