"""
A server of one's own, its memory, its temp files, and raw sockets to it.

For integration tests that must watch or hurt a server: read its resident
memory from ``/proc/<pid>/status`` and its open files from ``/proc/<pid>/fd``,
list the upload temp files in
``<data-dir>/.nanio/tmp``, kill it, restart it on the same data directory,
and talk to it over a plain socket so a test controls exactly when each byte
of a request goes out (or never does).

Test support only: nothing here imports nanio, so the server is seen from the
outside, as any client or operator sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.support.server import REGION, RunningServer, serve_command, start_server

T = TypeVar("T")

MIB = 1024 * 1024
#: How often ``wait_for`` looks again; a deadline, not this, bounds the wait.
POLL_INTERVAL_SECONDS = 0.05
#: Deadline for the server to tidy up after a client went away.
CLEANUP_TIMEOUT_SECONDS = 15.0
#: Deadline for one raw socket read or write.
SOCKET_TIMEOUT_SECONDS = 30.0
#: The longest response head a raw reader accepts.
RESPONSE_HEAD_LIMIT_BYTES = 64 * 1024


# -- memory ------------------------------------------------------------------


def status_bytes(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (VmRSS, VmHWM...) in bytes."""
    prefix = field + ":"
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(prefix):
                value, unit = line[len(prefix) :].split()
                assert unit == "kB", f"unexpected unit in {line!r}"
                return int(value) * 1024
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def rss_bytes(pid: int) -> int:
    """The process's resident memory now."""
    return status_bytes(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory (VmHWM)."""
    return status_bytes(pid, "VmHWM")


def reset_peak_rss(pid: int) -> None:
    """Make VmHWM start again from the current VmRSS (Linux 4.0+, same user)."""
    # "5" resets the peak RSS; what start-up once needed no longer hides a rise.
    with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")


# -- open descriptors ------------------------------------------------------------


def open_descriptors(pid: int | str = "self") -> list[str]:
    """What the descriptors of process ``pid`` name (paths, ``socket:[...]``...), sorted."""
    fd_dir = f"/proc/{pid}/fd"
    targets = []
    for fd in os.listdir(fd_dir):
        try:
            targets.append(os.readlink(f"{fd_dir}/{fd}"))
        except OSError:
            continue  # closed meanwhile (for "self": the one listdir used)
    return sorted(targets)


# -- files and waiting -----------------------------------------------------------


def temp_dir(data_dir: Path) -> Path:
    """Where the server keeps the temp files of uploads in progress."""
    return data_dir / ".nanio" / "tmp"


def temp_files(data_dir: Path) -> list[Path]:
    """Every file now in the server's temp directory."""
    directory = temp_dir(data_dir)
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if path.is_file())


def object_path(data_dir: Path, bucket: str, key: str) -> Path:
    """Where the bytes of ``bucket/key`` live once committed."""
    return data_dir / bucket / key


def wait_for(probe: Callable[[], T], what: str, timeout: float = CLEANUP_TIMEOUT_SECONDS) -> T:
    """Call ``probe`` until it returns something true and return that; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}; last saw {result!r}")
        time.sleep(POLL_INTERVAL_SECONDS)


def wait_for_no_temp_files(data_dir: Path, timeout: float = CLEANUP_TIMEOUT_SECONDS) -> None:
    """Wait until the server's temp directory is empty; fail naming what stayed."""
    deadline = time.monotonic() + timeout
    while left := temp_files(data_dir):
        if time.monotonic() > deadline:
            names = ", ".join(path.name for path in left)
            raise AssertionError(f"temp files still there after {timeout}s: {names}")
        time.sleep(POLL_INTERVAL_SECONDS)


def age_files(paths: Iterable[Path], seconds: float) -> None:
    """Move the access and modification times of ``paths`` ``seconds`` into the past."""
    then = time.time() - seconds
    for path in paths:
        os.utime(path, (then, then))


# -- a server of one's own ------------------------------------------------------


def start_own_server(root: Path, *extra: str) -> RunningServer:
    """Start ``nanio serve`` with its data in ``root/data`` and its log beside it."""
    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    # Append to the same log across restarts: one file tells the whole story.
    return start_server(
        serve_command(data_dir, *extra),
        data_dir=data_dir,
        log_path=root / "server.log",
        cwd=root,
    )


@contextlib.contextmanager
def patched_server(root: Path, patch: str, *extra: str) -> Iterator[RunningServer]:
    """``nanio serve`` run through ``python -c``, with ``patch`` (Python source) run first.

    For what only time can show (a long join, a slow client): the patch
    shortens a timeout or slows a step, and the server is otherwise the real
    one.  It must stop cleanly at the end.
    """
    data_dir = root / "data"
    script = f"{patch}\nimport sys\nfrom nanio.cli import main\nsys.exit(main())\n"
    command = [sys.executable, "-c", script, *serve_command(data_dir, *extra)[1:]]
    server = start_server(command, data_dir=data_dir, log_path=root / "server.log", cwd=root)
    try:
        yield server
    finally:
        assert server.stop() == 0


@contextlib.contextmanager
def own_server(root: Path, *extra: str) -> Iterator[RunningServer]:
    """A server of one's own for the ``with`` block; stopped (if still alive) at its end."""
    server = start_own_server(root, *extra)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


@contextlib.contextmanager
def killed_when_done(
    start: Callable[..., RunningServer],
) -> Iterator[Callable[..., RunningServer]]:
    """``start`` as it is, but every server it started that still runs is killed on exit."""
    servers: list[RunningServer] = []

    def start_and_remember(*extra: str) -> RunningServer:
        server = start(*extra)
        servers.append(server)
        return server

    try:
        yield start_and_remember
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()


# -- raw sockets ---------------------------------------------------------------


def connect(server: RunningServer, *, receive_buffer_bytes: int | None = None) -> socket.socket:
    """A TCP connection to ``server``; a small receive buffer makes a slow reader slower."""
    parts = urlsplit(server.endpoint_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer_bytes is not None:
        # Before connect(): the window offered in the handshake depends on it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
    sock.settimeout(SOCKET_TIMEOUT_SECONDS)
    sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
    return sock


def signed_head(
    server: RunningServer,
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes of a request head signed with SigV4 and ``UNSIGNED-PAYLOAD``.

    Framing headers (Content-Length, Transfer-Encoding) go in ``headers``;
    they are sent but not signed, as SDKs do.
    """
    host = urlsplit(server.endpoint_url).netloc
    request = AWSRequest(method=method, url=server.endpoint_url + path, headers={"Host": host})
    # S3SigV4Auth signs the payload over plain HTTP unless told not to.
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(request)
    lines = [f"{method} {path} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in request.headers.items())
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read a response head: (status, headers with lower-case names, body bytes already read)."""
    received = b""
    while b"\r\n\r\n" not in received:
        piece = sock.recv(4096)
        if not piece:
            raise AssertionError(f"connection closed inside the response head: {received!r}")
        received += piece
        assert len(received) < RESPONSE_HEAD_LIMIT_BYTES, "response head too long"
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, rest


def read_exactly(sock: socket.socket, size: int, sink: Callable[[memoryview], object]) -> None:
    """Read ``size`` bytes from ``sock``, handing each piece to ``sink``."""
    buffer = bytearray(256 * 1024)
    view = memoryview(buffer)
    remaining = size
    while remaining:
        count = sock.recv_into(view, min(remaining, len(buffer)))
        if count == 0:
            raise AssertionError(f"connection closed with {remaining} of {size} bytes unread")
        sink(view[:count])
        remaining -= count


def pattern_block(seed: int, size: int = MIB) -> bytes:
    """``size`` bytes that differ with ``seed`` and cost nothing to regenerate."""
    # A cheap, deterministic, non-repeating-looking byte pattern: os.urandom
    # for hundreds of MiB would dominate a test's run time.
    base = (seed * 2654435761 + 12345) & 0xFFFFFFFF
    unit = base.to_bytes(4, "big") + bytes(range(251))
    return (unit * (size // len(unit) + 1))[:size]


def write_pattern_file(path: Path, size: int, seed: int = 1) -> str:
    """Write ``size`` patterned bytes to ``path``; return their MD5 hex digest."""
    digest = hashlib.md5()
    with path.open("wb") as out:
        remaining = size
        index = 0
        while remaining:
            block = pattern_block(seed + index)[: min(MIB, remaining)]
            out.write(block)
            digest.update(block)
            remaining -= len(block)
            index += 1
    return digest.hexdigest()
