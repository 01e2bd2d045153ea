"""
``--workers N``: one parent process binds the sockets, N worker processes serve them.

The parent (``WorkerSupervisor``, built by ``make_supervisor`` for ``nanio
serve``) listens on every endpoint with Twisted's own endpoint parsers, then
stops reading from those ports: it never accepts a connection.  It starts N
workers, ``python -m nanio.workers``, passing each listening socket at the
same descriptor number and, on the worker's stdin, one JSON line with the
settings and which descriptor belongs to which endpoint description.  Each
worker adopts the sockets (``IReactorSocket.adoptStreamPort``) and runs the
ordinary service tree (``make_service(endpoints=...)``) over them; the kernel
hands each new connection to whichever worker accepts it first.

Why the parent binds and passes the descriptors, rather than every worker
binding its own socket with ``SO_REUSEPORT``:
- It works for every endpoint nanio accepts: a UNIX socket path can be bound
  only once; a systemd-activated socket is handed to one process (the
  parent); ``tcp:0`` gives one port the parent reports, not N ports.
- The "nanio listening on" line names the one real address, printed once per
  endpoint by the parent, and a port that cannot be bound fails the start
  with one sentence before any worker exists.
- ``SO_REUSEPORT`` lets any process of the same user bind the same port and
  take a share of the connections; a passed descriptor cannot be hijacked.
The cost: a shared accept queue balances connections less evenly than
``SO_REUSEPORT``'s hashing; under load, busy workers accept less often.

TLS (``ssl:``): a worker parses the same description with a stand-in reactor
whose ``listenSSL`` adopts the inherited socket and wraps the factory in TLS
itself, so certificates are read and TLS runs in the workers.  The same
stand-in serves ``tcp:``, ``tcp6:``, ``unix:`` and wrapping endpoints
(``haproxy:``); ``systemd:`` sockets are adopted directly, since the worker
is not the process systemd handed them to.

Supervision: a worker that exits while the parent is not stopping is
replaced after a short delay that doubles while replacements keep dying
young (a crash loop does not spin).  On SIGTERM or SIGINT the parent closes
its sockets (no worker accepts after that: new connections are refused),
sends SIGTERM to every worker, waits for them (each drains its connections,
see ``nanio.service``) for the shutdown timeout plus a margin, kills the
rest with SIGKILL and exits 0.  A worker whose parent dies sees its stdin
reach end of file and stops the same graceful way: no orphan keeps serving.

Only worker 1 sweeps temp files and collects abandoned uploads: they are
safe to run concurrently, but N sweeps of one directory are waste.  Every
worker logs like a server does, each line tagged ``[worker N pid P]``.

Under ``twistd`` and ``twist`` the runner owns logging, daemonizing and the
pid file, which worker processes cannot share: ``nanio.tap`` refuses
``--workers`` above 1 with one sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import IO, TYPE_CHECKING, Any

from twisted.application.service import MultiService, Service
from twisted.internet import main, tcp, unix
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, fail, gatherResults, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import (
    ConnectionDone,
    ProcessExitedAlready,
    ProcessTerminated,
    ReactorNotRunning,
)
from twisted.internet.interfaces import IReadDescriptor, IStreamServerEndpoint
from twisted.internet.protocol import Factory, ProcessProtocol
from twisted.logger import (
    ILogObserver,
    Logger,
    globalLogBeginner,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from nanio import __version__
from nanio.config import Settings, User, ensure_data_dir
from nanio.logs import level_filter, text_observer
from nanio.service import ListenFailed, NanioListener, describe_address, stop_services

if TYPE_CHECKING:
    from twisted.internet.interfaces import (
        IAddress,
        IDelayedCall,
        IListeningPort,
        IProcessTransport,
        IProtocolFactory,
        IReactorProcess,
        IReactorTime,
    )

__all__ = [
    "SharedSocket",
    "WorkerSpec",
    "WorkerSupervisor",
    "make_supervisor",
    "worker_main",
]

log = Logger()
#: Stop signals are the entry point's business, single process or not.
_stop_log = Logger(namespace="nanio.stop")

#: How a worker is started: this interpreter, this module.
WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "nanio.workers")

#: The first delay before a dead worker is replaced...
RESTART_DELAY_SECONDS = 0.25
#: ...doubled for each replacement that died young, up to this.
MAX_RESTART_DELAY_SECONDS = 30.0
#: A worker that ran this long did not die young: the delay starts over.
STABLE_SECONDS = 10.0
#: After the shutdown timeout, how long workers get to finish stopping
#: (abort their last connections, flush the disk threads) before SIGKILL.
STOP_MARGIN_SECONDS = 10.0

#: Environment variables meant for the parent alone: systemd's socket
#: activation and readiness protocol talk to the main process.
PARENT_ONLY_ENVIRONMENT = frozenset({"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"})

_FAMILIES: Mapping[str, socket.AddressFamily] = {
    "INET": socket.AF_INET,
    "INET6": socket.AF_INET6,
    "UNIX": socket.AF_UNIX,
}


# --- what a worker is told -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedSocket:
    """A listening socket the parent passes to its workers."""

    #: The endpoint description it was bound from.
    description: str
    #: Its descriptor number, the same in the parent and the workers.
    fd: int
    #: "INET", "INET6" or "UNIX".
    family: str


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker needs: sent as one JSON line on its stdin."""

    #: 1 to N; worker 1 also does the housekeeping.
    number: int
    settings: Settings
    sockets: tuple[SharedSocket, ...]

    def encode(self) -> bytes:
        """The spec as one line of JSON."""
        document = {
            "number": self.number,
            "settings": asdict(self.settings),
            "sockets": [asdict(shared) for shared in self.sockets],
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> WorkerSpec:
        """The spec from the line ``encode`` wrote."""
        document = json.loads(line)
        values: dict[str, Any] = {}
        for spec_field in fields(Settings):
            if spec_field.name not in document["settings"]:
                continue
            value = document["settings"][spec_field.name]
            if spec_field.name == "users":
                value = tuple(User(**user) for user in value)
            elif isinstance(value, list):
                # JSON has no tuples; Settings keeps its sequences in tuples.
                value = tuple(value)
            values[spec_field.name] = value
        sockets = tuple(SharedSocket(**shared) for shared in document["sockets"])
        return cls(int(document["number"]), Settings(**values), sockets)


def family_name(address: IAddress) -> str:
    """The address family of a listening port's address, as ``SharedSocket`` names it."""
    if isinstance(address, IPv6Address):
        return "INET6"
    if isinstance(address, IPv4Address):
        return "INET"
    if isinstance(address, UNIXAddress):
        return "UNIX"
    raise ValueError(f"{type(address).__name__} is not a stream socket address")


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a worker: the parent's, without what systemd said to the parent."""
    return {name: value for name, value in environ.items() if name not in PARENT_ONLY_ENVIRONMENT}


# --- the parent ------------------------------------------------------------------


class _NoConnections(Factory):
    """The parent's factory: it never reads from its ports, and would refuse a connection."""

    noisy = False

    def logPrefix(self) -> str:
        # Twisted logs "<prefix> starting on <port>" for every port.
        return "nanio parent"

    def buildProtocol(self, addr: IAddress | None) -> None:
        return None


class _WorkerProcess(ProcessProtocol):
    """One running worker, seen from the parent."""

    def __init__(self, supervisor: WorkerSupervisor, number: int, spec: bytes) -> None:
        self.supervisor = supervisor
        self.number = number
        self.started = 0.0
        self.pid: int | None = None
        self._spec = spec

    def connectionMade(self) -> None:
        # The spec goes on stdin, which then stays open: the worker takes its
        # end of file as the news that the parent is gone.
        assert self.transport is not None
        self.transport.write(self._spec)

    def signal(self, name: str) -> None:
        """Send a signal ("TERM", "KILL") unless the worker already exited."""
        transport: IProcessTransport | None = self.transport
        if transport is None:
            return
        with contextlib.suppress(ProcessExitedAlready):
            transport.signalProcess(name)

    def processEnded(self, reason: Failure) -> None:
        self.supervisor.worker_ended(self, reason)


class WorkerSupervisor(MultiService):
    """The parent of ``--workers``: binds the sockets, keeps N workers running, stops them."""

    _log = Logger()

    def __init__(
        self,
        settings: Settings,
        listener: NanioListener,
        reactor: IReactorProcess,
        clock: IReactorTime,
        *,
        command: Sequence[str] = WORKER_COMMAND,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.listener = listener
        self._reactor = reactor
        self._clock = clock
        self._command = tuple(command)
        self._environ = worker_environment(os.environ if environ is None else environ)
        self._sockets: tuple[SharedSocket, ...] | None = None
        #: Running workers by number.
        self.workers: dict[int, _WorkerProcess] = {}
        #: Consecutive replacements of each worker number that died young.
        self._young_deaths: dict[int, int] = {}
        self._restarts: dict[int, IDelayedCall] = {}
        self._stopping = False
        self._kill_timer: IDelayedCall | None = None
        self._ended_waiters: list[Deferred[None]] = []
        self._ready: Failure | list[IListeningPort] | None = None
        self._ready_waiters: list[Deferred[list[IListeningPort]]] = []
        self._announced = False
        listener.setServiceParent(self)

    # -- starting ---------------------------------------------------------------

    def privilegedStartService(self) -> None:
        self._announce()
        super().privilegedStartService()

    def startService(self) -> None:
        self._announce()
        super().startService()
        self._stopping = False
        self._ready = None
        self.listener.whenListening().addCallback(self._share).addBoth(self._listening)

    def _announce(self) -> None:
        if self._announced:
            return
        self._announced = True
        settings = self.settings
        self._log.info(
            "nanio {version} serving {data_dir} (region {region}, {users} user(s), "
            "fsync {fsync}, {workers} worker processes)",
            version=__version__,
            data_dir=settings.data_dir,
            region=settings.region,
            users=len(settings.users),
            fsync="on" if settings.fsync else "off",
            workers=settings.workers,
        )

    def _share(self, ports: list[IListeningPort]) -> list[IListeningPort]:
        """Stop accepting on the parent's ports and start the workers over them."""
        sockets = []
        for description, port in zip(self.listener.descriptions, ports, strict=True):
            stop_reading = getattr(port, "stopReading", None)
            fileno = getattr(port, "fileno", None)
            try:
                family = family_name(port.getHost())
                if stop_reading is None or fileno is None:
                    raise ValueError("its port is not a socket")
            except ValueError as e:
                raise ListenFailed(
                    f"Cannot share {description} with worker processes: {e}."
                ) from None
            # The workers accept; the parent only holds the socket open.
            stop_reading()
            sockets.append(SharedSocket(description, fileno(), family))
        self._sockets = tuple(sockets)
        if self.running and not self._stopping:
            for number in range(1, self.settings.workers + 1):
                self._spawn(number)
        return ports

    def _listening(self, result: Failure | list[IListeningPort]) -> None:
        self._ready = result
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(list(result))

    def whenListening(self) -> Deferred[list[IListeningPort]]:
        """Fire with the parent's ports once they listen and the workers were started."""
        ready = self._ready
        if isinstance(ready, Failure):
            return fail(ready)
        if ready is not None:
            return succeed(list(ready))
        waiter: Deferred[list[IListeningPort]] = Deferred()
        self._ready_waiters.append(waiter)
        return waiter

    def _spawn(self, number: int) -> None:
        self._restarts.pop(number, None)
        if self._stopping or not self.running or self._sockets is None:
            return
        spec = WorkerSpec(number, self.settings, self._sockets).encode()
        worker = _WorkerProcess(self, number, spec)
        # stdin is a pipe from the parent; stdout and stderr are the
        # parent's own, so every worker logs where the parent does.
        child_fds: dict[int, int | str] = {0: "w", 1: 1, 2: 2}
        for shared in self._sockets:
            child_fds[shared.fd] = shared.fd
        argv = [*self._command, "--worker", str(number)]
        try:
            transport = self._reactor.spawnProcess(
                worker, argv[0], argv, env=self._environ, childFDs=child_fds
            )
        except OSError as e:
            self._log.error(
                "Cannot start worker {number}: {reason}", number=number, reason=e.strerror or e
            )
            self._schedule_restart(number, young=True)
            return
        worker.started = self._clock.seconds()
        worker.pid = transport.pid
        self.workers[number] = worker
        self._log.info("Started worker {number} (pid {pid})", number=number, pid=worker.pid)

    # -- replacing ----------------------------------------------------------------

    def worker_ended(self, worker: _WorkerProcess, reason: Failure) -> None:
        """Note a worker's end: replace it, unless the server is stopping."""
        if self.workers.get(worker.number) is worker:
            del self.workers[worker.number]
        if self._stopping:
            # A worker still starting up when our SIGTERM came dies of it:
            # it had nothing to finish.  Any other end is worth a word.
            ended = reason.value
            if isinstance(ended, ProcessTerminated) and ended.signal != signal.SIGTERM:
                self._log.warn(
                    "Worker {number} (pid {pid}) {how} while stopping",
                    number=worker.number,
                    pid=worker.pid,
                    how=_how_it_ended(reason),
                )
            if not self.workers:
                self._all_ended()
            return
        young = self._clock.seconds() - worker.started < STABLE_SECONDS
        delay = self._schedule_restart(worker.number, young=young)
        self._log.warn(
            "Worker {number} (pid {pid}) {how}; starting another in {delay:g}s",
            number=worker.number,
            pid=worker.pid,
            how=_how_it_ended(reason),
            delay=delay,
        )

    def _schedule_restart(self, number: int, *, young: bool) -> float:
        # Capped well past the maximum delay, so the power stays small.
        deaths = min(self._young_deaths.get(number, 0) + 1, 16) if young else 0
        self._young_deaths[number] = deaths
        delay = min(MAX_RESTART_DELAY_SECONDS, RESTART_DELAY_SECONDS * 2.0**deaths)
        self._restarts[number] = self._clock.callLater(delay, self._spawn, number)
        return delay

    # -- stopping -----------------------------------------------------------------

    def stopService(self) -> Deferred[None]:
        """Close the sockets, stop every worker (SIGTERM, then SIGKILL after the deadline)."""
        Service.stopService(self)
        self._announced = False
        self._stopping = True
        for call in self._restarts.values():
            if call.active():
                call.cancel()
        self._restarts.clear()
        others = [child for child in self if child is not self.listener]
        first = stop_services(reversed(others))
        # The sockets shut down for every process holding them: from now on
        # new connections are refused, while the workers finish what they have.
        closed = maybeDeferred(self.listener.stopService)
        closed.addErrback(lambda failure: self._log.failure("Cannot close the ports", failure))
        ended: Deferred[None] = Deferred()
        self._ended_waiters.append(ended)
        # Told once the sockets are shut, so that no worker draining its
        # connections can still be handed a new one.
        closed.addCallback(lambda _: self._stop_workers())
        return gatherResults([first, closed, ended]).addCallback(lambda _: None)

    def _stop_workers(self) -> None:
        if not self.workers:
            self._all_ended()
            return
        self._log.info("Stopping {count} worker(s)", count=len(self.workers))
        for worker in list(self.workers.values()):
            worker.signal("TERM")
        deadline = self.settings.shutdown_timeout + STOP_MARGIN_SECONDS
        self._kill_timer = self._clock.callLater(deadline, self._kill_remaining)

    def _kill_remaining(self) -> None:
        self._kill_timer = None
        self._log.warn(
            "{count} worker(s) still running after the shutdown timeout: killing them",
            count=len(self.workers),
        )
        for worker in list(self.workers.values()):
            worker.signal("KILL")

    def _all_ended(self) -> None:
        if self._kill_timer is not None and self._kill_timer.active():
            self._kill_timer.cancel()
        self._kill_timer = None
        waiters, self._ended_waiters = self._ended_waiters, []
        for waiter in waiters:
            waiter.callback(None)


def _how_it_ended(reason: Failure) -> str:
    """A worker's end in words: "exited with status 1", "was killed by signal 9"."""
    value = reason.value
    if isinstance(value, ProcessTerminated):
        if value.signal is not None:
            return f"was killed by signal {value.signal}"
        return f"exited with status {value.exitCode}"
    return "exited with status 0"


def make_supervisor(settings: Settings, reactor: Any) -> WorkerSupervisor:
    """The parent of ``settings.workers`` worker processes; start it to listen."""
    ensure_data_dir(settings.data_dir)
    endpoints = [
        (description, serverFromString(reactor, description))
        for description in settings.endpoints()
    ]
    listener = NanioListener(endpoints, _NoConnections())
    return WorkerSupervisor(settings, listener, reactor, reactor)


# --- a worker --------------------------------------------------------------------


class _TakesTurns:
    """A listening port that accepts one connection per wake-up.

    Every worker polls the same listening socket.  Twisted's port accepts up
    to ``numberAccepts`` connections (100, then adapted) each time it wakes,
    so the first worker to wake took a whole burst of new connections and
    the others idled (seen with 16 connections opened at once by wrk: one
    worker did all the work).  Taking one at a time lets every waiting
    worker have its share, and a busy worker, slower to come back to
    accept(), takes fewer.
    """

    @property
    def numberAccepts(self) -> int:
        return 1

    @numberAccepts.setter
    def numberAccepts(self, value: int) -> None:
        # tcp.Port adapts the count after each wake-up: keep it at one.
        pass


class _SharedTCPPort(_TakesTurns, tcp.Port):
    """A TCP (or TCP6) port adopted from the parent, taking turns with the other workers."""


class _SharedUNIXPort(_TakesTurns, unix.Port):
    """A UNIX port adopted from the parent, which owns the path: its mode and its removal.

    Twisted's adopted UNIX port would chmod the path to its default mode
    (0666) and unlink it when the worker stops, undoing a ``mode=`` of the
    endpoint and cutting the other workers off.
    """

    def connectionLost(self, reason: Failure) -> None:
        # unix.Port.connectionLost unlinks the path; the TCP half only closes.
        super(unix.Port, self).connectionLost(reason)


def _adopt_unix(reactor: Any, fd: int, factory: IProtocolFactory) -> IListeningPort:
    """Listen on an inherited UNIX socket without touching its path."""
    with socket.socket(fileno=os.dup(fd)) as probe:
        path = probe.getsockname()
    # The classmethod the reactor's own adoptStreamPort uses for UNIX sockets.
    port = _SharedUNIXPort._fromListeningDescriptor(reactor, fd, factory)
    if isinstance(path, str) and path.startswith("/"):
        # startListening chmods the path to port.mode: make that its mode now.
        port.mode = stat.S_IMODE(os.stat(path).st_mode)
    port.startListening()
    listening: IListeningPort = port
    return listening


class _AdoptingReactor:
    """The reactor, except that every listen adopts one inherited socket instead.

    An endpoint parsed with it (``ssl:``, ``tcp:``, ``unix:``, ``haproxy:``...)
    builds its factory (TLS included) exactly as it would in the parent, and
    listens on the parent's socket.
    """

    def __init__(self, reactor: Any, shared: SharedSocket) -> None:
        self._reactor = reactor
        self._shared = shared

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def adopt(self, factory: IProtocolFactory) -> IListeningPort:
        """Listen with ``factory`` on the inherited socket."""
        shared = self._shared
        if shared.family == "UNIX":
            port = _adopt_unix(self._reactor, shared.fd, factory)
        else:
            # The classmethod the reactor's own adoptStreamPort uses, with our class.
            tcp_port = _SharedTCPPort._fromListeningDescriptor(
                self._reactor, shared.fd, _FAMILIES[shared.family], factory
            )
            tcp_port.startListening()
            port = tcp_port
        # The port holds its own duplicate; the inherited one is not needed.
        os.close(shared.fd)
        return port

    # The endpoints pass port, factory (and TLS context) by position, the
    # rest (backlog, interface, mode, wantPID) by keyword: none of it applies
    # to a socket that is already bound and listening.

    def listenTCP(self, port: int, factory: IProtocolFactory, **options: object) -> IListeningPort:
        return self.adopt(factory)

    def listenSSL(
        self,
        port: int,
        factory: IProtocolFactory,
        contextFactory: Any,  # noqa: N803 (the keyword the ssl: endpoint passes)
        **options: object,
    ) -> IListeningPort:
        # What the reactor's own listenSSL does over a new socket.  Imported
        # here: it loads OpenSSL, which only ssl: endpoints need.
        from twisted.protocols.tls import TLSMemoryBIOFactory

        return self.adopt(TLSMemoryBIOFactory(contextFactory, False, factory))

    def listenUNIX(
        self, address: str, factory: IProtocolFactory, **options: object
    ) -> IListeningPort:
        return self.adopt(factory)

    def adoptStreamPort(
        self, file_descriptor: int, address_family: int, factory: IProtocolFactory
    ) -> IListeningPort:
        return self.adopt(factory)


@implementer(IStreamServerEndpoint)
class SharedSocketEndpoint:
    """A server endpoint listening on a socket inherited from the parent."""

    def __init__(self, reactor: Any, shared: SharedSocket) -> None:
        self._reactor = reactor
        self._shared = shared

    def listen(self, protocol_factory: IProtocolFactory) -> Deferred[IListeningPort]:
        """Adopt the socket, building the factory as the endpoint description says."""
        shared = self._shared
        adopting = _AdoptingReactor(self._reactor, shared)
        if shared.description.split(":", 1)[0] == "systemd":
            # Its parser reads LISTEN_FDS, which described the parent's
            # descriptors; the socket is already at hand.
            return maybeDeferred(adopting.adopt, protocol_factory)
        try:
            endpoint = serverFromString(adopting, shared.description)
        except Exception:
            return fail()
        listening: Deferred[IListeningPort] = endpoint.listen(protocol_factory)
        return listening


@implementer(IReadDescriptor)
class _ParentWatch:
    """Watches the worker's stdin, a pipe the parent holds open: end of file means it is gone."""

    def __init__(self, gone: Callable[[], None]) -> None:
        self._gone = gone

    def fileno(self) -> int:
        return 0

    def logPrefix(self) -> str:
        return "nanio-parent-watch"

    def doRead(self) -> Failure | None:
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            return Failure(main.CONNECTION_DONE)
        return None

    def connectionLost(self, reason: Failure) -> None:
        # The reactor also disconnects every reader as it stops: that is
        # ConnectionLost, while the end of the pipe is ConnectionDone.
        if reason.check(ConnectionDone):
            self._gone()


def worker_log_observer(stream: IO[str], tag: str) -> ILogObserver:
    """A text observer like ``nanio serve``'s, every line tagged with the worker."""
    return text_observer(stream, tag)


def stop_on_signals(reactor: Any) -> Callable[[], None]:
    """Stop the reactor once on SIGTERM or SIGINT; return that stop, for other causes.

    Twisted's own handlers call ``reactor.stop()`` for every signal, and a
    second one (Ctrl-C twice; or, for a worker, SIGINT from the terminal and
    SIGTERM from its parent) while the stop waits for requests in flight
    logs ``ReactorNotRunning`` with a traceback.  Here later signals only say
    that the stop is under way; the shutdown timeout still bounds it.
    """
    stopping = [False]

    def stop() -> None:
        if stopping[0]:
            return
        stopping[0] = True
        with contextlib.suppress(ReactorNotRunning):  # stopped by someone else already
            reactor.stop()

    def stop_for(name: str) -> None:
        if stopping[0]:
            _stop_log.info("Received {signal}; already stopping", signal=name)
            return
        _stop_log.info("Received {signal}, shutting down.", signal=name)
        stop()

    def handle(number: int, frame: object) -> None:
        # Only hand over to the reactor thread: a log line written here could
        # interrupt another write to the same stream.
        reactor.callFromThread(stop_for, signal.Signals(number).name)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def worker_main(stdin: IO[bytes] | None = None) -> int:
    """A worker process: read the spec, adopt the sockets, serve until told to stop."""
    spec = WorkerSpec.decode((stdin or sys.stdin.buffer).readline())
    settings = spec.settings

    from twisted.internet import reactor as global_reactor

    from nanio.allocator import tune_allocator
    from nanio.service import make_service

    # run(installSignalHandlers=...) and callFromThread are beyond IReactorCore.
    reactor: Any = global_reactor

    tag = f"worker {spec.number} pid {os.getpid()}"
    observer = level_filter(worker_log_observer(sys.stdout, tag), settings.log_level)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    tune_allocator()  # a new program (spawnProcess execs), not a fork of the parent

    endpoints = [
        (shared.description, SharedSocketEndpoint(reactor, shared)) for shared in spec.sockets
    ]
    service = make_service(
        settings,
        reactor,
        endpoints=endpoints,
        announce=False,
        housekeeping=spec.number == 1,
    )
    status = [0]
    # SIGINT from the terminal and SIGTERM from the parent both come.
    stop = stop_on_signals(reactor)

    def parent_gone() -> None:
        log.warn("The parent process is gone; stopping")
        stop()

    def failed(failure: Failure) -> None:
        if failure.check(ListenFailed):
            log.error("Worker {number}: {reason}", number=spec.number, reason=failure.value)
        else:
            log.failure("Worker {number} cannot serve", failure, number=spec.number)
        status[0] = 1
        stop()

    def listening(ports: list[IListeningPort]) -> None:
        log.info(
            "Worker {number} accepting on {addresses}",
            number=spec.number,
            addresses=", ".join(describe_address(port.getHost()) for port in ports),
        )

    def start() -> None:
        try:
            service.privilegedStartService()
            service.startService()
        except ListenFailed as e:
            # Told in one sentence, as nanio serve tells it; the parent retries.
            log.error("Worker {number}: {reason}", number=spec.number, reason=str(e))
            status[0] = 1
            stop()
            return
        except Exception:
            failed(Failure())
            return
        reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
        service.whenListening().addCallbacks(listening, failed)

    os.set_blocking(0, False)
    reactor.addReader(_ParentWatch(parent_gone))
    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return status[0]


if __name__ == "__main__":
    # Run as python -m nanio.workers: this file is __main__, so call the
    # copy importable as nanio.workers, the one every other module sees.
    from nanio import workers

    sys.exit(workers.worker_main())
