"""
``nanio serve --workers N`` for real: worker processes, their replacement, their stop.

The workers are seen from outside: their pids are the parent's children in
``/proc`` whose command line runs ``nanio.workers``, and every worker tags
its log lines ``[worker N pid P]``, so the access-log line of a request
names the process that served it.  Each probe is an unsigned GET of a
unique path on a new connection (403 AccessDenied, logged like any request).
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import ssl
import stat
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nanio.allocator import on_glibc
from tests.integration.test_socket_activation import activated_command, listening_socket
from tests.integration.test_tls_aws_chunked import make_certificate
from tests.support.procs import killed_when_done, own_server, start_own_server, wait_for
from tests.support.server import (
    LISTENING,
    RunningServer,
    make_boto3_client,
    start_server,
)

WORKERS = 3
#: Deadline for a worker to appear, be replaced, or go away.
PROCESS_TIMEOUT_SECONDS = 30.0
#: Deadline for one probe request.
REQUEST_TIMEOUT_SECONDS = 30.0


def worker_pids(parent: int) -> set[int]:
    """The pids of the live ``nanio.workers`` processes whose parent is ``parent``."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as status:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
                fields = status.read().rpartition(")")[2].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue  # it exited meanwhile
        if int(fields[1]) == parent and fields[0] != "Z" and b"nanio.workers" in argv:
            pids.add(int(entry))
    return pids


def alive(pid: int) -> bool:
    """Whether ``pid`` names a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as status:
            return status.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_for_workers(
    server: RunningServer, count: int = WORKERS, without: int | None = None
) -> set[int]:
    """Wait until ``count`` workers (``without`` not among them) accept; return their pids."""
    parent = server.process.pid

    def ready() -> set[int]:
        pids = worker_pids(parent)
        return pids if len(pids) == count and without not in pids else set()

    pids = wait_for(ready, f"{count} worker processes", PROCESS_TIMEOUT_SECONDS)
    for pid in pids:
        server.wait_for_log(rf"pid {pid}\] .* accepting on", PROCESS_TIMEOUT_SECONDS)
    return pids


def probe(server: RunningServer, base_url: str | None = None, **urlopen: object) -> int:
    """Send a request on a new connection; return the pid of the worker that served it."""
    name = f"probe-{uuid.uuid4().hex}"
    url = f"{base_url or server.endpoint_url}/{name}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_SECONDS, **urlopen)  # type: ignore[arg-type]
    assert refused.value.code == 403
    line = server.wait_for_log(rf"\[worker \d+ pid (\d+)\] .* GET /{name} 403")
    return int(line.group(1))


@pytest.fixture
def start_own(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start three-worker servers of the test's own; any still running at the end is killed."""
    numbers = itertools.count()

    def start(*extra: str) -> RunningServer:
        root = tmp_path / f"server-{next(numbers)}"
        return start_own_server(root, "--workers", "3", *extra)

    with killed_when_done(start) as start_and_remember:
        yield start_and_remember


@pytest.fixture(scope="module")
def workers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with three workers, shared by the tests that do not stop it."""
    root = tmp_path_factory.mktemp("workers")
    with own_server(root, "--workers", str(WORKERS)) as server:
        wait_for_workers(server)
        yield server


def test_runs_one_process_per_worker(workers_server: RunningServer) -> None:
    """--workers 3 runs three worker processes under the parent."""
    assert len(wait_for_workers(workers_server)) == WORKERS


def test_listening_line_is_printed_once(workers_server: RunningServer) -> None:
    """The "nanio listening on" line appears once for the one endpoint, not once per worker."""
    wait_for_workers(workers_server)
    workers_server.wait_for_log(r"Worker 3 accepting on")
    assert len(LISTENING.findall(workers_server.log_text())) == 1


def test_requests_are_served_by_the_workers(workers_server: RunningServer) -> None:
    """A request is served by one of the worker processes, not by the parent."""
    pids = wait_for_workers(workers_server)
    assert probe(workers_server) in pids


def test_requests_are_served_by_more_than_one_worker(workers_server: RunningServer) -> None:
    """While the worker that served a request is frozen, another worker serves the next."""
    first = probe(workers_server)
    os.kill(first, signal.SIGSTOP)
    try:
        second = probe(workers_server)
    finally:
        os.kill(first, signal.SIGCONT)
    assert second != first
    assert {first, second} <= worker_pids(workers_server.process.pid)


def test_a_burst_of_connections_is_shared_among_the_workers(
    workers_server: RunningServer,
) -> None:
    """24 connections opened at once are not all taken by the first worker to wake."""
    host, port = workers_server.endpoint_url.removeprefix("http://").split(":")
    connections = [socket.create_connection((host, int(port)), timeout=30) for _ in range(24)]
    names = [f"burst-{uuid.uuid4().hex}" for _ in connections]
    try:
        for connection, name in zip(connections, names, strict=True):
            connection.sendall(f"GET /{name} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        for connection in connections:
            assert connection.recv(12).startswith(b"HTTP/1.1 403")
    finally:
        for connection in connections:
            connection.close()
    served_by = {
        int(workers_server.wait_for_log(rf"\[worker \d+ pid (\d+)\] .* GET /{name} 403").group(1))
        for name in names
    }
    assert len(served_by) >= 2, f"one worker took all 24 connections: {served_by}"


def test_s3_requests_work_across_workers(workers_server: RunningServer) -> None:
    """An object written through one connection is read back through others."""
    client = make_boto3_client(workers_server)
    client.create_bucket(Bucket="across")
    client.put_object(Bucket="across", Key="k", Body=b"shared store")
    for _ in range(5):
        assert client.get_object(Bucket="across", Key="k")["Body"].read() == b"shared store"


def test_every_worker_sets_the_allocator(start_own: Callable[..., RunningServer]) -> None:
    """Each worker (a program of its own, not a fork) sets glibc's thresholds for itself."""
    if not on_glibc():
        pytest.skip("the allocator setting is glibc's")
    server = start_own("--log-level", "debug")
    pids = wait_for_workers(server)
    for pid in pids:
        server.wait_for_log(rf"pid {pid}\] .*glibc allocator: mmap threshold 4 MiB")


def test_killed_worker_is_replaced(workers_server: RunningServer) -> None:
    """A worker killed with SIGKILL is replaced by a new process, and the server keeps answering."""
    before = wait_for_workers(workers_server)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    after = wait_for_workers(workers_server, without=victim)
    assert len(after - before) == 1
    workers_server.wait_for_log(rf"Worker \d \(pid {victim}\) was killed by signal 9")
    assert probe(workers_server) in after


def test_sigterm_stops_every_worker_and_the_parent_exits_0(
    start_own: Callable[..., RunningServer],
) -> None:
    """SIGTERM to the parent stops all workers; the parent exits 0 and leaves no process behind."""
    server = start_own()
    pids = wait_for_workers(server)
    assert server.stop() == 0
    wait_for(lambda: not any(alive(pid) for pid in pids), "the workers to exit")
    assert "was killed by signal" not in server.log_text()


def test_new_connections_are_refused_after_a_stop(
    start_own: Callable[..., RunningServer],
) -> None:
    """Once the parent has stopped, its port refuses connections."""
    server = start_own()
    wait_for_workers(server)
    address = server.endpoint_url.removeprefix("http://").split(":")
    assert server.stop() == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address[0], int(address[1])), timeout=REQUEST_TIMEOUT_SECONDS)


def test_workers_of_a_killed_parent_exit(start_own: Callable[..., RunningServer]) -> None:
    """When the parent is killed with SIGKILL, its workers notice and exit: no orphans."""
    server = start_own()
    pids = wait_for_workers(server)
    server.process.kill()
    server.process.wait()
    wait_for(lambda: not any(alive(pid) for pid in pids), "the orphaned workers to exit")


def test_sigint_stops_like_sigterm(start_own: Callable[..., RunningServer]) -> None:
    """SIGINT to the parent (Ctrl-C) stops the workers and the parent exits 0."""
    server = start_own()
    pids = wait_for_workers(server)
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(PROCESS_TIMEOUT_SECONDS) == 0
    wait_for(lambda: not any(alive(pid) for pid in pids), "the workers to exit")


# -- other endpoints ------------------------------------------------------------------


def unix_get(path: Path) -> bytes:
    """The status line of an unsigned GET sent over the UNIX socket at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(REQUEST_TIMEOUT_SECONDS)
        sock.connect(str(path))
        sock.sendall(b"GET /probe HTTP/1.1\r\nHost: nanio\r\nConnection: close\r\n\r\n")
        received = b""
        while b"\r\n" not in received:
            piece = sock.recv(4096)
            if not piece:
                break
            received += piece
    return received.split(b"\r\n", 1)[0]


def test_workers_serve_a_unix_socket_with_its_mode(
    start_own: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """Workers answer on a UNIX socket, whose mode= they keep even as a worker is replaced."""
    path = tmp_path / "nanio.sock"
    server = start_own("--listen", f"unix:{path}:mode=600", "--listen", "tcp:0:interface=127.0.0.1")
    pids = wait_for_workers(server)
    assert unix_get(path) == b"HTTP/1.1 403 Forbidden"
    os.kill(min(pids), signal.SIGKILL)
    # Adopting the socket is where Twisted would chmod the path to 0666.
    wait_for_workers(server, without=min(pids))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert unix_get(path) == b"HTTP/1.1 403 Forbidden"


def test_unix_socket_path_is_removed_at_stop(
    start_own: Callable[..., RunningServer], tmp_path: Path
) -> None:
    """After a stop the UNIX socket's path is gone, removed once, by the parent."""
    path = tmp_path / "gone.sock"
    server = start_own("--listen", f"unix:{path}", "--listen", "tcp:0:interface=127.0.0.1")
    wait_for_workers(server)
    assert server.stop() == 0
    assert not path.exists()
    assert "Traceback" not in server.log_text()


def test_workers_serve_tls(start_own: Callable[..., RunningServer], tmp_path: Path) -> None:
    """With an ssl: endpoint every worker speaks TLS on the parent's socket."""
    cert, key = make_certificate(tmp_path)
    listen = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    server = start_own("--listen", listen)
    pids = wait_for_workers(server)
    https_url = server.wait_for_log(r"nanio listening on (https://\S+)").group(1)
    context = ssl.create_default_context(cafile=str(cert))
    assert probe(server, https_url, context=context) in pids


def test_workers_serve_a_socket_from_systemd(tmp_path: Path) -> None:
    """Workers serve a socket handed to the parent by systemd socket activation."""
    sock = listening_socket()
    command = [*activated_command(sock.fileno(), tmp_path / "data"), "--workers", "2"]
    try:
        server = start_server(
            command,
            data_dir=tmp_path / "data",
            log_path=tmp_path / "server.log",
            pass_fds=(sock.fileno(),),
        )
    finally:
        sock.close()
    try:
        pids = wait_for_workers(server, 2)
        assert probe(server) in pids
    finally:
        assert server.stop() == 0
