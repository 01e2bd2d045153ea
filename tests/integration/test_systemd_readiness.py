"""
Readiness under a ``Type=notify`` unit, without systemd: the test binds the
notification socket and sets ``NOTIFY_SOCKET`` as systemd would.

The server is started without waiting for its log, so that the test sees
``READY=1`` first and only then knocks on the port: the port must already
answer, or readiness came too early.
"""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.notify import notify_receiver
from tests.support.server import (
    ACCESS_KEY,
    SECRET_KEY,
    START_TIMEOUT_SECONDS,
    TWISTED_RUNNER_EXIT_STATUSES,
    RunningServer,
    serve_command,
    spawn,
    twist_command,
)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """systemd's side of sd_notify: a bound datagram socket and its path."""
    with notify_receiver(tmp_path, START_TIMEOUT_SECONDS) as bound:
        yield bound


def launch(
    command: list[str], tmp_path: Path, notify_path: str, clean_exit_statuses: tuple[int, ...]
) -> RunningServer:
    """Start a server with NOTIFY_SOCKET set, without waiting for anything."""
    process, pump = spawn(
        command,
        log_path=tmp_path / "server.log",
        environ={"NOTIFY_SOCKET": notify_path},
        cwd=tmp_path,
    )
    return RunningServer(
        endpoint_url="",  # known from READY=1's STATUS line
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        data_dir=tmp_path / "data",
        log_path=tmp_path / "server.log",
        process=process,
        clean_exit_statuses=clean_exit_statuses,
        _pump=pump,
    )


def answers(url: str) -> bool:
    """True if an HTTP request to ``url`` gets any answer at all."""
    try:
        with urllib.request.urlopen(url + "/", timeout=START_TIMEOUT_SECONDS):
            return True
    except urllib.error.HTTPError:
        return True  # an S3 error is an answer
    except OSError:
        return False


def receive(receiver: socket.socket, server: RunningServer) -> str:
    """The next notification; fails with the server's log if none comes in time."""
    try:
        return receiver.recv(4096).decode("utf-8")
    except TimeoutError:
        server.process.kill()
        raise AssertionError(f"no notification; the server said:\n{server.log_text()}") from None


RUNNERS: dict[str, tuple[Callable[..., list[str]], tuple[int, ...]]] = {
    "nanio-serve": (serve_command, (0,)),
    "twist": (twist_command, TWISTED_RUNNER_EXIT_STATUSES),
}


@pytest.mark.parametrize("runner", list(RUNNERS))
def test_ready_comes_once_the_port_answers(
    tmp_path: Path, notify_socket: tuple[socket.socket, str], runner: str
) -> None:
    """READY=1 arrives with a STATUS naming the port, and that port already answers."""
    receiver, path = notify_socket
    command, clean = RUNNERS[runner]
    server = launch(command(tmp_path / "data"), tmp_path, path, clean)
    try:
        message = receive(receiver, server)
        ready, _, status = message.partition("\n")
        assert ready == "READY=1"
        assert status.startswith("STATUS=nanio listening on http://127.0.0.1:")
        url = status.removeprefix("STATUS=nanio listening on ")
        assert answers(url)
        # The log reaches the test through a reader thread: wait for it.
        server.wait_for_log(re.escape(f"nanio listening on {url}"))
    finally:
        exit_status = server.stop()
    assert exit_status in clean


def test_stopping_is_said_on_sigterm(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    """SIGTERM makes nanio serve tell systemd STOPPING=1 before it exits cleanly."""
    receiver, path = notify_socket
    server = launch(serve_command(tmp_path / "data"), tmp_path, path, (0,))
    try:
        assert receive(receiver, server).startswith("READY=1\n")
    finally:
        exit_status = server.stop()
    assert receive(receiver, server) == "STOPPING=1"
    assert exit_status == 0
