"""
Socket activation without systemd: nanio adopts a listening socket it did not open.

The test plays systemd's part.  It binds and listens on a loopback port,
then starts ``nanio serve --listen systemd:domain=INET:index=0`` through a
tiny wrapper that puts the socket at descriptor 3 and sets ``LISTEN_FDS``,
``LISTEN_FDNAMES`` and ``LISTEN_PID`` (the pid of the process that will be
nanio: the wrapper's own, since it ``exec``s nanio), exactly what systemd
does for a ``nanio.socket`` unit.  Twisted's systemd endpoint requires
``LISTEN_FDNAMES`` to name as many sockets as ``LISTEN_FDS`` counts, as
systemd 227 and later always set.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import (
    RunningServer,
    clean_environ,
    console_script,
    make_boto3_client,
    start_server,
)

#: Runs in the child: socket to fd 3, systemd's variables, then exec nanio
#: (same pid, so LISTEN_PID names nanio).
ACTIVATE = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="nanio")
os.execv(sys.argv[2], sys.argv[2:])
"""
SOCKET_TIMEOUT_SECONDS = 30.0


def listening_socket() -> socket.socket:
    """A TCP socket listening on a free loopback port, as a socket unit's ListenStream= makes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def activated_command(fd: int, data_dir: Path) -> list[str]:
    """``nanio serve`` adopting descriptor ``fd`` as systemd's first socket."""
    return [
        sys.executable,
        "-c",
        ACTIVATE,
        str(fd),
        console_script("nanio"),
        "serve",
        "--listen",
        "systemd:domain=INET:index=0",
        "--data-dir",
        str(data_dir),
        "--no-fsync",
    ]


def activate(sock: socket.socket, tmp_path: Path) -> RunningServer:
    """Start nanio on an inherited socket; the test's own copy is closed once nanio has it."""
    try:
        return start_server(
            activated_command(sock.fileno(), tmp_path / "data"),
            data_dir=tmp_path / "data",
            log_path=tmp_path / "server.log",
            pass_fds=(sock.fileno(),),
        )
    finally:
        sock.close()


@pytest.fixture
def activated(tmp_path: Path) -> Iterator[tuple[RunningServer, int]]:
    """A nanio serving a socket the test bound, and that socket's port."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    server = activate(sock, tmp_path)
    try:
        yield server, port
    finally:
        status = server.stop()
    assert status == 0, f"exit status {status}; log: {server.log_path}"


def test_nanio_listens_on_the_inherited_socket(activated: tuple[RunningServer, int]) -> None:
    """nanio reports the very port systemd (here, the test) bound, not one of its own."""
    server, port = activated
    assert server.endpoint_url == f"http://127.0.0.1:{port}"


def test_boto3_works_through_the_inherited_socket(
    activated: tuple[RunningServer, int], fresh_bucket: str
) -> None:
    """A bucket is created, written, listed and read through the adopted socket."""
    server, _ = activated
    s3: Any = make_boto3_client(server)
    s3.create_bucket(Bucket=fresh_bucket)
    s3.put_object(Bucket=fresh_bucket, Key="socket/activated.txt", Body=b"hello from fd 3")
    listed = s3.list_objects_v2(Bucket=fresh_bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["socket/activated.txt"]
    body = s3.get_object(Bucket=fresh_bucket, Key="socket/activated.txt")["Body"].read()
    assert body == b"hello from fd 3"


def test_connection_made_before_nanio_starts_is_answered(tmp_path: Path) -> None:
    """A client connecting before nanio starts waits in the backlog, then gets its answer."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), SOCKET_TIMEOUT_SECONDS) as early:
        # Accepted by the kernel into the socket's backlog: nobody serves it yet.
        early.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        server = activate(sock, tmp_path)
        try:
            early.settimeout(SOCKET_TIMEOUT_SECONDS)
            answer = early.recv(4096)
        finally:
            assert server.stop() == 0
    # Unsigned, so refused, but answered by nanio in S3's words.
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"x-amz-request-id" in answer.lower()


def test_without_an_inherited_socket_serve_refuses_to_start(tmp_path: Path) -> None:
    """nanio serve asked to adopt a socket nobody passed exits 2 with one sentence saying so."""
    result = subprocess.run(
        [
            console_script("nanio"),
            "serve",
            "--listen",
            "systemd:domain=INET:index=0",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        env=clean_environ({"NANIO_ACCESS_KEY": "a", "NANIO_SECRET_KEY": "b"}),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "systemd:domain=INET:index=0" in line
    assert "no such socket was passed by systemd" in line
