"""
The service tree in memory: listening, whenListening, failures and stopping.

``make_service`` runs against a ``MemoryReactorClock``, which records each
listen instead of opening a socket; ``NanioListener`` alone runs against
small fake endpoints that can fail.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from nanio.config import Settings, User
from nanio.service import ListenFailed, NanioListener, describe_address, make_service
from nanio.web.site import NanioSite

if TYPE_CHECKING:
    from tests.conftest import LogEvents

# successResultOf and failureResultOf read better than hand-rolled callbacks.
_deferreds = SynchronousTestCase()


def settings(tmp_path: Path, *listen: str) -> Settings:
    """One-user settings storing in tmp_path."""
    return Settings(
        data_dir=str(tmp_path / "data"),
        listen=listen,
        fsync=False,
        users=(User("alice", "alice-secret"),),
    )


@implementer(IListeningPort)
class FakePort:
    """A listening port that records whether it was stopped."""

    def __init__(self, address: object) -> None:
        self.address = address
        self.stopped = False

    def startListening(self) -> None:
        """Nothing to do: the fake is born listening."""

    def stopListening(self) -> Deferred[None]:
        """Record the stop."""
        self.stopped = True
        return succeed(None)

    def getHost(self) -> object:
        """The address given at creation."""
        return self.address


class FakeEndpoint:
    """A server endpoint whose listen succeeds with a FakePort, fails, or waits."""

    def __init__(self, port: FakePort | None = None, error: Exception | None = None) -> None:
        self.port = port
        self.error = error
        self.pending: Deferred[FakePort] | None = None

    def listen(self, factory: object) -> Deferred[FakePort]:
        """Answer at once, or (with neither port nor error) hand back a pending Deferred."""
        if self.error is not None:
            return fail(self.error)
        if self.port is not None:
            return succeed(self.port)
        self.pending = Deferred()
        return self.pending


def address_in_use(port: int) -> CannotListenError:
    """The error listenTCP raises for a port someone else holds."""
    return CannotListenError("127.0.0.1", port, OSError(errno.EADDRINUSE, "Address already in use"))


def loopback_port(port: int) -> FakePort:
    """A fake port listening on 127.0.0.1."""
    return FakePort(IPv4Address("TCP", "127.0.0.1", port))


# --- make_service against a memory reactor ------------------------------------


def test_start_service_listens_on_the_endpoint(tmp_path: Path) -> None:
    """startService listens on the --listen endpoint: port and interface reach the reactor."""
    reactor = MemoryReactorClock()
    make_service(settings(tmp_path, "tcp:0:interface=127.0.0.1"), reactor).startService()
    assert [(port, interface) for port, _, _, interface in reactor.tcpServers] == [(0, "127.0.0.1")]


def test_start_service_listens_on_host_and_port_by_default(tmp_path: Path) -> None:
    """Without --listen the service listens on the default host and port."""
    reactor = MemoryReactorClock()
    make_service(settings(tmp_path), reactor).startService()
    assert [(port, interface) for port, _, _, interface in reactor.tcpServers] == [
        (9000, "0.0.0.0")
    ]


def test_listening_factory_is_a_nanio_site(tmp_path: Path) -> None:
    """The factory given to the reactor is the streaming NanioSite."""
    reactor = MemoryReactorClock()
    make_service(settings(tmp_path, "tcp:0"), reactor).startService()
    assert isinstance(reactor.tcpServers[0][1], NanioSite)


def test_every_endpoint_is_listened_on_in_order(tmp_path: Path) -> None:
    """Two TCP endpoints and a unix socket are all listened on."""
    reactor = MemoryReactorClock()
    sock = str(tmp_path / "nanio.sock")
    service = make_service(settings(tmp_path, "tcp:7001", "tcp:7002", f"unix:{sock}"), reactor)
    service.startService()
    assert [entry[0] for entry in reactor.tcpServers] == [7001, 7002]
    assert [entry[0] for entry in reactor.unixServers] == [sock]


def test_when_listening_fires_with_every_port(tmp_path: Path) -> None:
    """whenListening fires with one listening port per endpoint once started."""
    service = make_service(settings(tmp_path, "tcp:7001", "tcp:7002"), MemoryReactorClock())
    service.startService()
    ports = _deferreds.successResultOf(service.whenListening())
    assert [port.getHost().port for port in ports] == [7001, 7002]


def test_when_listening_before_start_fires_after_start(tmp_path: Path) -> None:
    """A whenListening Deferred taken before the start fires once the service starts."""
    service = make_service(settings(tmp_path, "tcp:7001"), MemoryReactorClock())
    waiting = service.whenListening()
    _deferreds.assertNoResult(waiting)
    service.startService()
    assert len(_deferreds.successResultOf(waiting)) == 1


def test_privileged_start_then_start_listens_once(tmp_path: Path) -> None:
    """twistd's privileged start followed by the normal start listens only once."""
    reactor = MemoryReactorClock()
    service = make_service(settings(tmp_path, "tcp:7001"), reactor)
    service.privilegedStartService()
    service.startService()
    assert len(reactor.tcpServers) == 1


def test_make_service_creates_the_data_dir(tmp_path: Path) -> None:
    """make_service creates a missing data directory."""
    make_service(settings(tmp_path, "tcp:0"), MemoryReactorClock())
    assert (tmp_path / "data").is_dir()


# --- NanioListener with fake endpoints ------------------------------------------


def test_listening_is_logged_with_a_url(log_events: LogEvents) -> None:
    """Each port is announced as "nanio listening on http://host:port"."""
    listener = NanioListener([("tcp:41233", FakeEndpoint(loopback_port(41233)))], Factory())
    listener.startService()
    messages = [formatEvent(event) for event in log_events]
    assert "nanio listening on http://127.0.0.1:41233" in messages


def test_failed_listen_raises_one_sentence(log_events: LogEvents) -> None:
    """A port in use makes the start raise ListenFailed naming endpoint and reason."""
    endpoint = FakeEndpoint(error=address_in_use(80))
    listener = NanioListener([("tcp:80", endpoint)], Factory())
    with pytest.raises(ListenFailed) as caught:
        listener.privilegedStartService()
    assert str(caught.value) == "Cannot listen on tcp:80: Address already in use."


def test_failed_listen_fails_when_listening(log_events: LogEvents) -> None:
    """After a failed listen, whenListening fails with ListenFailed."""
    listener = NanioListener([("tcp:80", FakeEndpoint(error=address_in_use(80)))], Factory())
    with pytest.raises(ListenFailed):
        listener.startService()
    _deferreds.failureResultOf(listener.whenListening(), ListenFailed)


def test_failed_listen_closes_ports_already_open(log_events: LogEvents) -> None:
    """When the second endpoint fails, the first one's port is closed again."""
    first = loopback_port(7001)
    endpoints = [
        ("tcp:7001", FakeEndpoint(first)),
        ("tcp:80", FakeEndpoint(error=address_in_use(80))),
    ]
    with pytest.raises(ListenFailed):
        NanioListener(endpoints, Factory()).startService()
    assert first.stopped


def test_stop_service_closes_every_port() -> None:
    """stopService stops listening on every port and fires when done."""
    ports = [loopback_port(7001), loopback_port(7002)]
    listener = NanioListener([(f"tcp:{p.address.port}", FakeEndpoint(p)) for p in ports], Factory())
    listener.startService()
    _deferreds.successResultOf(listener.stopService())
    assert [port.stopped for port in ports] == [True, True]


def test_stop_before_listening_cancels_waiters() -> None:
    """Stopping while a listen is pending fails whenListening with CancelledError."""
    endpoint = FakeEndpoint()
    listener = NanioListener([("tcp:7001", endpoint)], Factory())
    listener.startService()
    waiting = listener.whenListening()
    listener.stopService()
    _deferreds.failureResultOf(waiting, CancelledError)


def test_listener_can_start_again_after_stop() -> None:
    """A stopped listener listens again on the next start."""
    listener = NanioListener([("tcp:7001", FakeEndpoint(loopback_port(7001)))], Factory())
    listener.startService()
    listener.stopService()
    listener.startService()
    assert len(_deferreds.successResultOf(listener.whenListening())) == 1


# --- addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "secure", "text"),
    [
        (IPv4Address("TCP", "127.0.0.1", 9000), False, "http://127.0.0.1:9000"),
        (IPv6Address("TCP", "::1", 9000), False, "http://[::1]:9000"),
        (IPv4Address("TCP", "10.1.2.3", 443), True, "https://10.1.2.3:443"),
        (UNIXAddress(b"/run/nanio.sock"), False, "unix:/run/nanio.sock"),
    ],
    ids=["ipv4", "ipv6", "tls", "unix"],
)
def test_address_is_described_as_a_person_types_it(
    address: object, secure: bool, text: str
) -> None:
    """Listening addresses are shown as URLs, or as the unix socket path."""
    assert describe_address(address, secure) == text  # type: ignore[arg-type]


def test_failed_listen_leaves_later_endpoints_alone(log_events: LogEvents) -> None:
    """After the first endpoint fails, the following ones are not listened on."""
    later = FakeEndpoint()
    endpoints = [("tcp:80", FakeEndpoint(error=address_in_use(80))), ("tcp:7001", later)]
    with pytest.raises(ListenFailed):
        NanioListener(endpoints, Factory()).startService()
    assert later.pending is None
