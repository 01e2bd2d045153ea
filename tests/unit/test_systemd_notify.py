"""
The sd_notify protocol: datagrams to ``$NOTIFY_SOCKET``, and when nanio sends them.

Each test binds a real AF_UNIX datagram socket, as systemd does, and reads
what ``notify`` and ``ReadinessNotifier`` send to it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError, Deferred

from nanio.systemd import READY, STOPPING, ReadinessNotifier, notify, notify_address
from tests.conftest import LogEvents
from tests.support.notify import notify_receiver

#: A datagram is either waiting at once or never comes: a short wait is a deadline.
RECEIVE_TIMEOUT_SECONDS = 5.0


class FakePort:
    """A listening port: only its address is used."""

    def __init__(self, port: int) -> None:
        self._address = IPv4Address("TCP", "127.0.0.1", port)

    def getHost(self) -> IPv4Address:
        return self._address


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where systemd would listen, and its NOTIFY_SOCKET value."""
    with notify_receiver(tmp_path, RECEIVE_TIMEOUT_SECONDS) as bound:
        yield bound


def start_notifier(listening: Deferred[list[Any]], path: str) -> ReadinessNotifier:
    """A started ReadinessNotifier waiting on ``listening``, telling the socket at ``path``."""
    notifier = ReadinessNotifier(lambda: listening, {"NOTIFY_SOCKET": path})
    notifier.startService()
    return notifier


def pending(receiver: socket.socket) -> list[str]:
    """Every datagram waiting on the socket now, without waiting for more."""
    messages = []
    receiver.setblocking(False)
    try:
        while True:
            messages.append(receiver.recv(4096).decode("utf-8"))
    except BlockingIOError:
        return messages
    finally:
        receiver.settimeout(RECEIVE_TIMEOUT_SECONDS)


def test_notify_without_notify_socket_does_nothing() -> None:
    """With no NOTIFY_SOCKET (not run by systemd), notify sends nothing and says so."""
    assert notify(READY, {}) is False


def test_notify_sends_the_state_as_one_datagram(
    systemd_socket: tuple[socket.socket, str],
) -> None:
    """notify delivers the state, byte for byte, to a socket named by its path."""
    receiver, path = systemd_socket
    assert notify("READY=1\nSTATUS=hello", {"NOTIFY_SOCKET": path}) is True
    assert receiver.recv(4096) == b"READY=1\nSTATUS=hello"


def test_notify_reaches_an_abstract_socket() -> None:
    """A NOTIFY_SOCKET starting with '@' names a socket in the abstract namespace."""
    name = f"nanio-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + name)
        receiver.settimeout(RECEIVE_TIMEOUT_SECONDS)
        assert notify(READY, {"NOTIFY_SOCKET": "@" + name}) is True
        assert receiver.recv(4096) == b"READY=1"


def test_abstract_address_starts_with_a_nul_byte() -> None:
    """'@name' becomes the NUL-prefixed address Linux uses for abstract sockets."""
    assert notify_address({"NOTIFY_SOCKET": "@nanio/notify"}) == "\0nanio/notify"


def test_notify_ignores_addresses_it_cannot_use() -> None:
    """A vsock address (or any other kind) is not a socket nanio can reach: nothing is sent."""
    assert notify_address({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    assert notify(READY, {"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_notify_to_a_missing_socket_warns_and_carries_on(
    tmp_path: Path, log_events: LogEvents
) -> None:
    """A NOTIFY_SOCKET nobody listens on costs a warning, never an exception."""
    assert notify(READY, {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    warnings = [event for event in log_events if event["log_level"].name == "warn"]
    assert len(warnings) == 1
    assert warnings[0]["state"] == READY


def test_notify_reads_the_process_environment(
    systemd_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an explicit environment, notify uses this process's NOTIFY_SOCKET."""
    receiver, path = systemd_socket
    monkeypatch.setitem(os.environ, "NOTIFY_SOCKET", path)
    assert notify(STOPPING) is True
    assert receiver.recv(4096) == b"STOPPING=1"


def test_readiness_waits_for_every_port(systemd_socket: tuple[socket.socket, str]) -> None:
    """ReadinessNotifier says nothing until the listener fires, then READY=1 with the addresses."""
    receiver, path = systemd_socket
    listening: Deferred[list[Any]] = Deferred()
    start_notifier(listening, path)
    assert pending(receiver) == []
    listening.callback([FakePort(9000), FakePort(9001)])
    assert pending(receiver) == [
        "READY=1\nSTATUS=nanio listening on http://127.0.0.1:9000, http://127.0.0.1:9001"
    ]


def test_stop_says_stopping(systemd_socket: tuple[socket.socket, str]) -> None:
    """Stopping the ReadinessNotifier tells systemd STOPPING=1."""
    receiver, path = systemd_socket
    listening: Deferred[list[Any]] = Deferred()
    notifier = start_notifier(listening, path)
    listening.callback([FakePort(9000)])
    pending(receiver)
    notifier.stopService()
    assert pending(receiver) == ["STOPPING=1"]


def test_stop_before_listening_never_says_ready(
    systemd_socket: tuple[socket.socket, str], log_events: LogEvents
) -> None:
    """A server stopped before it listened sends STOPPING=1 only, and logs no error."""
    receiver, path = systemd_socket
    listening: Deferred[list[Any]] = Deferred()
    notifier = start_notifier(listening, path)
    notifier.stopService()
    listening.errback(CancelledError("stopped before listening"))
    assert pending(receiver) == ["STOPPING=1"]
    assert log_events.failures() == []


def test_failed_listen_never_says_ready(systemd_socket: tuple[socket.socket, str]) -> None:
    """A listen that fails sends nothing: the entry point reports it and stops."""
    receiver, path = systemd_socket
    listening: Deferred[list[Any]] = Deferred()
    start_notifier(listening, path)
    listening.errback(OSError("Address already in use"))
    assert pending(receiver) == []
