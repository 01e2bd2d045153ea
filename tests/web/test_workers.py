"""
The ``--workers`` parent in memory: sharing sockets, replacing workers, stopping them.

``WorkerSupervisor`` runs over a fake process reactor that records each
spawn and each signal instead of starting processes, and a ``Clock``; its
listener listens on fake ports that stand for sockets.  The worker side, the
spec a worker reads, and the refusal of ``--workers`` under twistd are
checked here too.  Real processes are in tests/integration/test_workers.py.
"""

from __future__ import annotations

import io
import os
import socket
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from twisted.application.internet import TimerService
from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from nanio import tap
from nanio.config import Settings, User
from nanio.service import ListenFailed, NanioListener, make_service
from nanio.workers import (
    MAX_RESTART_DELAY_SECONDS,
    RESTART_DELAY_SECONDS,
    STABLE_SECONDS,
    STOP_MARGIN_SECONDS,
    SharedSocket,
    SharedSocketEndpoint,
    WorkerSpec,
    WorkerSupervisor,
    worker_environment,
    worker_log_observer,
)
from tests.integration.test_tls_aws_chunked import make_certificate

if TYPE_CHECKING:
    from tests.conftest import LogEvents

_deferreds = SynchronousTestCase()

COMMAND = ("python", "-m", "nanio.workers")


@implementer(IListeningPort)
class SocketPort:
    """A listening port standing for a socket: a descriptor number, read or not."""

    def __init__(self, fd: int, address: object) -> None:
        self.fd = fd
        self.address = address
        self.reading = True
        self.stopped = False

    def startListening(self) -> None:
        """Born listening."""

    def stopListening(self) -> None:
        """Record the stop."""
        self.stopped = True

    def getHost(self) -> object:
        """The address given at creation."""
        return self.address

    def fileno(self) -> int:
        """The descriptor this port stands for."""
        return self.fd

    def stopReading(self) -> None:
        """Record that the parent no longer accepts here."""
        self.reading = False


@implementer(IListeningPort)
class OpaquePort(SocketPort):
    """A port with no descriptor to share (as a port of some plugin endpoint)."""

    fileno = None  # type: ignore[assignment]


@dataclass
class PortEndpoint:
    """A server endpoint that listens at once with its port."""

    port: SocketPort

    def listen(self, factory: object) -> Deferred[SocketPort]:
        """The port."""
        return succeed(self.port)


@dataclass
class FakeProcess:
    """A spawned worker: what it was started with and the signals it got."""

    protocol: Any
    argv: list[str]
    env: dict[str, str]
    child_fds: dict[int, int | str]
    pid: int
    signals: list[str] = field(default_factory=list)
    written: bytes = b""

    def write(self, data: bytes) -> None:
        """Collect what the parent writes to the worker's stdin."""
        self.written += data

    def signalProcess(self, name: str) -> None:
        """Record the signal."""
        self.signals.append(name)

    def end(self, reason: Exception) -> None:
        """The process ends: tell its protocol."""
        self.protocol.processEnded(Failure(reason))


class FakeProcessReactor:
    """Records spawnProcess calls; each returns a FakeProcess."""

    def __init__(self) -> None:
        self.spawned: list[FakeProcess] = []
        self._next_pid = 1000

    def spawnProcess(
        self,
        protocol: Any,
        executable: str,
        args: list[str],
        env: dict[str, str],
        childFDs: dict[int, int | str],  # noqa: N803 (IReactorProcess's name)
    ) -> FakeProcess:
        """Start nothing; hand the protocol a fake transport."""
        self._next_pid += 1
        process = FakeProcess(protocol, args, env, childFDs, self._next_pid)
        self.spawned.append(process)
        protocol.makeConnection(process)
        return process


def settings(tmp_path: Path, workers: int = 3, shutdown_timeout: float = 30.0) -> Settings:
    """Settings with several workers and one user."""
    return Settings(
        data_dir=str(tmp_path / "data"),
        listen=("tcp:9000",),
        workers=workers,
        shutdown_timeout=shutdown_timeout,
        fsync=False,
        users=(User("alice", "alice-secret"),),
    )


@dataclass
class Parent:
    """A started supervisor over fakes."""

    supervisor: WorkerSupervisor
    reactor: FakeProcessReactor
    clock: Clock
    port: SocketPort


def start_parent(
    tmp_path: Path,
    workers: int = 3,
    shutdown_timeout: float = 30.0,
    port: SocketPort | None = None,
    environ: dict[str, str] | None = None,
) -> Parent:
    """A supervisor listening on one fake socket (fd 7), started."""
    port = port or SocketPort(7, IPv4Address("TCP", "127.0.0.1", 9000))
    listener = NanioListener([("tcp:9000", PortEndpoint(port))], object())  # type: ignore[list-item, arg-type]
    reactor = FakeProcessReactor()
    clock = Clock()
    supervisor = WorkerSupervisor(
        settings(tmp_path, workers, shutdown_timeout),
        listener,
        reactor,  # type: ignore[arg-type]
        clock,
        command=COMMAND,
        environ=environ or {"PATH": "/usr/bin"},
    )
    supervisor.privilegedStartService()
    supervisor.startService()
    return Parent(supervisor, reactor, clock, port)


# -- starting ---------------------------------------------------------------------


def test_starts_one_process_per_worker(tmp_path: Path) -> None:
    """Once the sockets listen, the parent starts as many worker processes as --workers says."""
    parent = start_parent(tmp_path, workers=3)
    assert [process.argv[-1] for process in parent.reactor.spawned] == ["1", "2", "3"]
    assert parent.reactor.spawned[0].argv == [*COMMAND, "--worker", "1"]


def test_parent_stops_accepting_on_its_ports(tmp_path: Path) -> None:
    """The parent stops reading its listening sockets: only the workers accept."""
    parent = start_parent(tmp_path)
    assert not parent.port.reading
    assert not parent.port.stopped


def test_socket_is_passed_at_its_own_descriptor_number(tmp_path: Path) -> None:
    """Each worker gets the listening socket at the parent's descriptor number, stdin a pipe."""
    parent = start_parent(tmp_path)
    assert parent.reactor.spawned[0].child_fds == {0: "w", 1: 1, 2: 2, 7: 7}


def test_worker_reads_its_spec_on_stdin(tmp_path: Path) -> None:
    """A worker's stdin carries one JSON line: its number, the settings, the sockets."""
    parent = start_parent(tmp_path)
    spec = WorkerSpec.decode(parent.reactor.spawned[1].written)
    assert spec.number == 2
    assert spec.settings == parent.supervisor.settings
    assert spec.sockets == (SharedSocket("tcp:9000", 7, "INET"),)


def test_unix_socket_is_shared_as_unix(tmp_path: Path) -> None:
    """A UNIX listening socket is described to the workers as family UNIX."""
    port = SocketPort(9, UNIXAddress("/run/nanio.sock"))
    parent = start_parent(tmp_path, port=port)
    spec = WorkerSpec.decode(parent.reactor.spawned[0].written)
    assert spec.sockets[0].family == "UNIX"


def test_workers_do_not_see_systemd_variables(tmp_path: Path) -> None:
    """LISTEN_FDS, LISTEN_PID and NOTIFY_SOCKET were for the parent; the workers do not get them."""
    environ = {"PATH": "/usr/bin", "LISTEN_FDS": "1", "LISTEN_PID": "42", "NOTIFY_SOCKET": "@x"}
    parent = start_parent(tmp_path, environ=environ)
    assert parent.reactor.spawned[0].env == {"PATH": "/usr/bin"}


def test_port_without_a_descriptor_fails_the_start(tmp_path: Path) -> None:
    """An endpoint whose port is no socket fails whenListening with ListenFailed, one sentence."""
    parent = start_parent(tmp_path, port=OpaquePort(7, IPv4Address("TCP", "127.0.0.1", 9000)))
    failure = _deferreds.failureResultOf(parent.supervisor.whenListening(), ListenFailed)
    assert str(failure.value) == (
        "Cannot share tcp:9000 with worker processes: its port is not a socket."
    )
    assert parent.reactor.spawned == []


def test_when_listening_fires_with_the_parent_ports(tmp_path: Path) -> None:
    """whenListening fires with the parent's ports once the workers were started."""
    parent = start_parent(tmp_path)
    assert _deferreds.successResultOf(parent.supervisor.whenListening()) == [parent.port]


def test_start_is_announced_with_the_worker_count(tmp_path: Path, log_events: LogEvents) -> None:
    """The parent logs the server line once, naming the number of worker processes."""
    start_parent(tmp_path, workers=4)
    lines = [event for event in log_events if "worker processes" in event.get("log_format", "")]
    assert len(lines) == 1
    assert lines[0]["workers"] == 4


# -- replacing ----------------------------------------------------------------------


def test_dead_worker_is_replaced_after_a_short_delay(tmp_path: Path) -> None:
    """A worker killed by a signal is started again, with the same number, after a delay."""
    parent = start_parent(tmp_path)
    parent.clock.advance(STABLE_SECONDS)
    parent.reactor.spawned[1].end(ProcessTerminated(signal=9))
    assert len(parent.reactor.spawned) == 3
    parent.clock.advance(RESTART_DELAY_SECONDS)
    assert len(parent.reactor.spawned) == 4
    assert parent.reactor.spawned[3].argv[-1] == "2"
    assert sorted(parent.supervisor.workers) == [1, 2, 3]


def test_workers_dying_young_are_replaced_ever_more_slowly(tmp_path: Path) -> None:
    """A worker that keeps dying young is replaced after a delay that doubles each time."""
    parent = start_parent(tmp_path, workers=1)
    delays = []
    for _ in range(4):
        before = parent.clock.seconds()
        parent.reactor.spawned[-1].end(ProcessTerminated(exitCode=1))
        count = len(parent.reactor.spawned)
        while len(parent.reactor.spawned) == count:
            parent.clock.advance(0.125)
        delays.append(parent.clock.seconds() - before)
    assert delays == [RESTART_DELAY_SECONDS * 2**n for n in range(1, 5)]


def test_restart_delay_is_bounded(tmp_path: Path) -> None:
    """However long a crash loop, a replacement never waits more than the maximum delay."""
    parent = start_parent(tmp_path, workers=1)
    for _ in range(40):
        parent.reactor.spawned[-1].end(ProcessTerminated(exitCode=1))
        parent.clock.advance(MAX_RESTART_DELAY_SECONDS)
    assert len(parent.reactor.spawned) == 41


def test_worker_that_ran_long_starts_the_delay_over(tmp_path: Path) -> None:
    """After a worker ran for a while, its replacement comes after the first, short delay."""
    parent = start_parent(tmp_path, workers=1)
    for _ in range(3):
        parent.reactor.spawned[-1].end(ProcessTerminated(exitCode=1))
        parent.clock.advance(MAX_RESTART_DELAY_SECONDS)
    parent.clock.advance(STABLE_SECONDS)
    parent.reactor.spawned[-1].end(ProcessTerminated(signal=9))
    count = len(parent.reactor.spawned)
    parent.clock.advance(RESTART_DELAY_SECONDS)
    assert len(parent.reactor.spawned) == count + 1


def test_worker_end_is_logged_with_its_cause(tmp_path: Path, log_events: LogEvents) -> None:
    """A worker's unexpected end is logged with its number, pid and signal."""
    parent = start_parent(tmp_path)
    process = parent.reactor.spawned[0]
    process.end(ProcessTerminated(signal=9))
    [event] = [e for e in log_events if e.get("how")]
    assert (event["number"], event["pid"], event["how"]) == (
        1,
        process.pid,
        "was killed by signal 9",
    )


# -- stopping ------------------------------------------------------------------------


def test_stop_closes_the_sockets(tmp_path: Path) -> None:
    """On stop the parent closes its listening sockets at once: new connections are refused."""
    parent = start_parent(tmp_path)
    parent.supervisor.stopService()
    assert parent.port.stopped


def test_stop_sends_sigterm_to_every_worker(tmp_path: Path) -> None:
    """On stop every worker gets SIGTERM, once."""
    parent = start_parent(tmp_path)
    parent.supervisor.stopService()
    assert [process.signals for process in parent.reactor.spawned] == [["TERM"]] * 3


def test_stop_fires_once_every_worker_ended(tmp_path: Path) -> None:
    """The stop's Deferred fires when the last worker has exited."""
    parent = start_parent(tmp_path)
    stopped = parent.supervisor.stopService()
    for process in parent.reactor.spawned[:-1]:
        process.end(ProcessDone(0))
    _deferreds.assertNoResult(stopped)
    parent.reactor.spawned[-1].end(ProcessDone(0))
    _deferreds.successResultOf(stopped)


def test_workers_ending_during_a_stop_are_not_replaced(tmp_path: Path) -> None:
    """A worker that exits because the server stops is not started again."""
    parent = start_parent(tmp_path)
    parent.supervisor.stopService()
    for process in parent.reactor.spawned:
        process.end(ProcessDone(0))
    parent.clock.advance(MAX_RESTART_DELAY_SECONDS)
    assert len(parent.reactor.spawned) == 3


def test_pending_replacement_is_cancelled_by_a_stop(tmp_path: Path) -> None:
    """A worker waiting to be replaced when the stop begins is not started again."""
    parent = start_parent(tmp_path)
    parent.reactor.spawned[0].end(ProcessTerminated(signal=9))
    stopped = parent.supervisor.stopService()
    for process in parent.reactor.spawned[1:]:
        process.end(ProcessDone(0))
    parent.clock.advance(MAX_RESTART_DELAY_SECONDS)
    assert len(parent.reactor.spawned) == 3
    _deferreds.successResultOf(stopped)


def test_workers_still_running_after_the_deadline_are_killed(tmp_path: Path) -> None:
    """Workers still running at the shutdown timeout plus the margin get SIGKILL."""
    parent = start_parent(tmp_path, shutdown_timeout=5)
    stopped = parent.supervisor.stopService()
    parent.reactor.spawned[0].end(ProcessDone(0))
    parent.clock.advance(5 + STOP_MARGIN_SECONDS - 0.5)
    assert all("KILL" not in process.signals for process in parent.reactor.spawned)
    parent.clock.advance(0.5)
    assert [process.signals for process in parent.reactor.spawned[1:]] == [["TERM", "KILL"]] * 2
    for process in parent.reactor.spawned[1:]:
        process.end(ProcessTerminated(signal=9))
    _deferreds.successResultOf(stopped)


def test_stop_without_workers_fires_at_once(tmp_path: Path) -> None:
    """A parent whose workers never started stops at once."""
    parent = start_parent(tmp_path, port=OpaquePort(7, IPv4Address("TCP", "127.0.0.1", 9000)))
    _deferreds.failureResultOf(parent.supervisor.whenListening(), ListenFailed)
    _deferreds.successResultOf(parent.supervisor.stopService())


# -- what a worker is told ----------------------------------------------------------


def test_spec_survives_the_trip_through_json(tmp_path: Path) -> None:
    """Every setting, users and tuples included, reaches the worker unchanged."""
    every_setting = Settings(
        data_dir=str(tmp_path),
        host="::1",
        port=9100,
        listen=("tcp:9100", "unix:/tmp/n.sock:mode=600"),
        region="eu-west-3",
        log_level="debug",
        access_log=False,
        fsync=False,
        gc_abandoned_uploads=True,
        workers=5,
        shutdown_timeout=2.5,
        users=(User("alice", "alice-secret"), User("root", "root-secret", admin=True)),
    )
    spec = WorkerSpec(4, every_setting, (SharedSocket("tcp:9100", 5, "INET6"),))
    assert WorkerSpec.decode(spec.encode()) == spec


def test_spec_is_one_line(tmp_path: Path) -> None:
    """The spec is a single line, so a worker reads exactly it from its stdin."""
    spec = WorkerSpec(1, settings(tmp_path), (SharedSocket("tcp:9000", 7, "INET"),))
    encoded = spec.encode()
    assert encoded.endswith(b"\n")
    assert encoded.count(b"\n") == 1


def test_worker_environment_keeps_everything_else() -> None:
    """Only systemd's variables for the main process are withheld from the workers."""
    environ = {"HOME": "/root", "NANIO_REGION": "x", "LISTEN_FDNAMES": "web"}
    assert worker_environment(environ) == {"HOME": "/root", "NANIO_REGION": "x"}


# -- twistd and twist -----------------------------------------------------------------


def test_twistd_refuses_workers(tmp_path: Path) -> None:
    """twistd nanio --workers 2 stops with one sentence pointing at nanio serve."""
    options = tap.Options()
    options.environ = {"NANIO_ACCESS_KEY": "a", "NANIO_SECRET_KEY": "b"}
    with pytest.raises(usage.UsageError) as raised:
        options.parseOptions(["--data-dir", str(tmp_path), "--workers", "2"])
    assert str(raised.value) == (
        "--workers is for nanio serve only: twistd and twist run one process "
        "(run nanio serve --workers N instead)."
    )


def test_twistd_accepts_one_worker(tmp_path: Path) -> None:
    """twistd nanio --workers 1 is the ordinary single process."""
    options = tap.Options()
    options.environ = {"NANIO_ACCESS_KEY": "a", "NANIO_SECRET_KEY": "b"}
    options.parseOptions(["--data-dir", str(tmp_path), "--workers", "1"])
    assert options.settings.workers == 1


# -- a worker adopting the sockets ------------------------------------------------------


def listening_tcp_socket() -> int:
    """A descriptor of a TCP socket listening on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock.detach()


def adopt(description: str, fd: int, family: str = "INET") -> tuple[Any, Factory]:
    """Listen through SharedSocketEndpoint on a memory reactor; return the port and the factory."""
    reactor = MemoryReactorClock()
    factory = Factory()
    endpoint = SharedSocketEndpoint(reactor, SharedSocket(description, fd, family))
    port = _deferreds.successResultOf(endpoint.listen(factory))
    return port, factory


def adopted_address(port: Any, fd: int) -> bool:
    """Whether the port listens on the socket ``fd`` was (its own duplicate of it)."""
    with socket.socket(fileno=os.dup(fd)) as original:
        return bool(port.getHost().port == original.getsockname()[1])


@pytest.mark.parametrize(
    "description",
    # Whatever port a tcp: socket names; a worker has no LISTEN_FDS of its own.
    ["tcp:0:interface=127.0.0.1", "systemd:domain=INET:index=0"],
    ids=["tcp", "systemd"],
)
def test_socket_is_adopted_as_it_is_with_the_factory(description: str) -> None:
    """A tcp: or systemd: socket is adopted directly, with the site's factory."""
    fd = listening_tcp_socket()
    keep = os.dup(fd)
    port, factory = adopt(description, fd)
    assert port.factory is factory
    assert adopted_address(port, keep)
    os.close(keep)


def test_adopted_tcp_port_accepts_one_connection_per_wake_up(tmp_path: Path) -> None:
    """Workers take turns: a wake-up accepts one connection, however Twisted adapts the count."""
    port, _ = adopt("tcp:0:interface=127.0.0.1", listening_tcp_socket())
    assert port.numberAccepts == 1
    port.numberAccepts = 21  # what tcp.Port.doRead does after a full batch
    assert port.numberAccepts == 1


def test_ssl_socket_is_adopted_with_tls_in_the_worker(tmp_path: Path) -> None:
    """An ssl: socket is adopted with the factory wrapped in TLS, certificate read by the worker."""
    cert, key = make_certificate(tmp_path)
    fd = listening_tcp_socket()
    keep = os.dup(fd)
    port, factory = adopt(f"ssl:0:privateKey={key}:certKey={cert}", fd)
    assert isinstance(port.factory, TLSMemoryBIOFactory)
    assert port.factory.wrappedFactory is factory
    assert adopted_address(port, keep)
    os.close(keep)


def test_inherited_descriptor_is_closed_once_adopted(tmp_path: Path) -> None:
    """After adopting, the worker closes the descriptor it inherited; the port has its own."""
    fd = listening_tcp_socket()
    with socket.socket(fileno=os.dup(fd)) as keep:
        adopt("tcp:0", fd)
        with pytest.raises(OSError):
            os.fstat(fd)
        assert keep.getsockname()[0] == "127.0.0.1"


def unix_listener(path: Path, mode: int) -> int:
    """A descriptor of a UNIX socket listening at ``path`` with ``mode``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, mode)
    sock.listen(8)
    sock.setblocking(False)
    return sock.detach()


def test_unix_socket_keeps_its_mode_when_adopted(tmp_path: Path) -> None:
    """Adopting a UNIX socket leaves its path's mode as the parent set it, not 0666."""
    path = tmp_path / "n.sock"
    fd = unix_listener(path, 0o600)
    adopt(f"unix:{path}:mode=600", fd, "UNIX")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unix_socket_path_survives_a_worker_stop(tmp_path: Path) -> None:
    """A worker that stops listening leaves the UNIX socket's path to the parent and the others."""
    path = tmp_path / "n.sock"
    fd = unix_listener(path, 0o600)
    reactor = MemoryReactorClock()
    endpoint = SharedSocketEndpoint(reactor, SharedSocket(f"unix:{path}", fd, "UNIX"))
    port = _deferreds.successResultOf(endpoint.listen(Factory()))
    port.stopListening()
    reactor.advance(0)
    assert path.exists()


# -- a worker's service tree --------------------------------------------------------------


def test_worker_tree_has_no_housekeeping(tmp_path: Path) -> None:
    """make_service(housekeeping=False), for workers 2 to N, runs no sweeper and no collector."""
    worker_settings = replace(settings(tmp_path), gc_abandoned_uploads=True)
    service = make_service(worker_settings, MemoryReactorClock(), housekeeping=False)
    assert [child for child in service if isinstance(child, TimerService)] == []


def test_first_worker_tree_has_housekeeping(tmp_path: Path) -> None:
    """make_service(housekeeping=True), for worker 1, sweeps and collects."""
    worker_settings = replace(settings(tmp_path), gc_abandoned_uploads=True)
    service = make_service(worker_settings, MemoryReactorClock(), housekeeping=True)
    assert len([child for child in service if isinstance(child, TimerService)]) == 2


def test_worker_tree_announces_nothing(tmp_path: Path, log_events: LogEvents) -> None:
    """A worker's tree logs neither the server line nor "nanio listening on": the parent did."""
    service = make_service(settings(tmp_path), MemoryReactorClock(), announce=False)
    service.privilegedStartService()
    service.startService()
    texts = [formatEvent(event) for event in log_events]
    assert not [text for text in texts if "listening on" in text or "serving" in text]


def test_worker_log_lines_name_the_worker() -> None:
    """Every line a worker logs carries its tag after the time stamp."""
    stream = io.StringIO()
    observer = worker_log_observer(stream, "worker 2 pid 77")
    observer({"log_format": "hello {who}", "who": "you", "log_time": 0.0, "log_namespace": "n"})
    assert stream.getvalue().endswith("[worker 2 pid 77] [n#-] hello you\n")
