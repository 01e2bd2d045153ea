"""
The nanio service tree: what twistd, ``twist``, ``nanio serve`` and an
embedding program all start.

``make_service`` builds a ``NanioService`` (a ``MultiService``) holding
``NanioListener``, nanio's own listening service.  The listener binds in
``privilegedStartService`` (before twistd drops privileges, so port 80 or a
root-owned socket works), or in ``startService`` for runners that skip the
privileged step (``twist``, ``MultiService.startService`` alone).

Invariants of ``NanioListener``:
- It listens at most once per start; a second start call is a no-op.
- A listen that fails synchronously (port in use, no permission) makes the
  start call raise ``ListenFailed`` with one clear sentence, after closing
  every port that did open: half a server never keeps running.
- ``whenListening()`` fires with every port, in the order of
  ``Settings.endpoints()``, once all are listening; or fails with
  ``ListenFailed``.
- ``stopService`` closes every port it opened and cancels pending listens.

It never reaches into Twisted internals to learn a port: the address comes
from ``IListeningPort.getHost()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    fail,
    gatherResults,
    maybeDeferred,
    succeed,
)
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from nanio import __version__
from nanio.config import Settings, ensure_data_dir
from nanio.storage import Store
from nanio.web.resource import make_resource
from nanio.web.site import make_site

if TYPE_CHECKING:
    from twisted.internet.interfaces import (
        IAddress,
        IListeningPort,
        IProtocolFactory,
        IReactorTCP,
        IStreamServerEndpoint,
    )

__all__ = ["ListenFailed", "NanioListener", "NanioService", "make_resource", "make_service"]


class ListenFailed(Exception):
    """nanio could not listen on one of its endpoints; the message says which and why."""


def describe_address(address: IAddress, secure: bool = False) -> str:
    """A listening address as a person would type it: a URL, or a unix socket path."""
    if isinstance(address, IPv6Address | IPv4Address):
        scheme = "https" if secure else "http"
        host = f"[{address.host}]" if isinstance(address, IPv6Address) else address.host
        return f"{scheme}://{host}:{address.port}"
    if isinstance(address, UNIXAddress):
        name = address.name
        path = name.decode("utf-8", "backslashreplace") if isinstance(name, bytes) else name
        return f"unix:{path}"
    return str(address)


def _reason(failure: Failure) -> str:
    """Why a listen failed, without a traceback: "Address already in use"."""
    error = failure.value
    if isinstance(error, CannotListenError):
        socket_error = error.socketError
        strerror = getattr(socket_error, "strerror", None)
        return str(strerror or socket_error)
    return str(error) or type(error).__name__


class ThreadPoolService(Service):
    """Owns a thread pool: started and stopped with the service tree."""

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()


#: How often abandoned multipart uploads are looked for, when enabled.
UPLOAD_GC_SECONDS = 3600

#: How often stray temp files (of uploads cut off by a crash) are swept.
TEMP_SWEEP_SECONDS = 600

#: Worker threads for disk writes of large uploads.  Uploads are written a
#: batch at a time each, so a few threads serve many concurrent uploads.
DISK_THREADS = 4


class NanioListener(Service):
    """Listens on every configured endpoint with one protocol factory."""

    _log = Logger()

    def __init__(
        self,
        endpoints: Sequence[tuple[str, IStreamServerEndpoint]],
        factory: IProtocolFactory,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._factory = factory
        self._reset()

    def _reset(self) -> None:
        self._listening: list[Deferred[IListeningPort]] | None = None
        self._ports: dict[int, IListeningPort] = {}
        self._error: ListenFailed | None = None
        self._waiters: list[Deferred[list[IListeningPort]]] = []

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._listen()

    def startService(self) -> None:
        super().startService()
        self._listen()

    def _listen(self) -> None:
        if self._listening is not None:
            return
        self._listening = []
        for index, (description, endpoint) in enumerate(self._endpoints):
            listening = endpoint.listen(self._factory)
            self._listening.append(listening)
            listening.addCallbacks(
                self._port_ready,
                self._port_failed,
                callbackArgs=(index, description),
                errbackArgs=(description,),
            )
            if self._error is not None:
                # No point opening the rest: this server will not run.
                raise self._error

    def _port_ready(self, port: IListeningPort, index: int, description: str) -> None:
        if self._listening is None or self._error is not None:
            # Stopped meanwhile, or another endpoint failed: this server will
            # not run, so the port must not stay open.
            port.stopListening()
            return
        self._ports[index] = port
        secure = description.startswith("ssl:")
        self._log.info(
            "nanio listening on {address}",
            address=describe_address(port.getHost(), secure),
            endpoint=description,
        )
        if len(self._ports) == len(self._endpoints):
            ports = self._ordered_ports()
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.callback(list(ports))

    def _port_failed(self, failure: Failure, description: str) -> None:
        if self._listening is None or self._error is not None:
            # Stopped meanwhile (a cancelled listen), or already reported.
            return
        self._error = ListenFailed(f"Cannot listen on {description}: {_reason(failure)}.")
        self._log.error(
            "nanio cannot listen on {endpoint}: {reason}",
            endpoint=description,
            reason=_reason(failure),
        )
        for port in self._ordered_ports():
            port.stopListening()
        self._ports.clear()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(self._error)

    def _ordered_ports(self) -> list[IListeningPort]:
        return [self._ports[index] for index in sorted(self._ports)]

    def whenListening(self) -> Deferred[list[IListeningPort]]:
        """Fire with the listening ports once every endpoint listens."""
        if self._error is not None:
            return fail(self._error)
        if self._listening is not None and len(self._ports) == len(self._endpoints):
            return succeed(self._ordered_ports())
        waiter: Deferred[list[IListeningPort]] = Deferred()
        self._waiters.append(waiter)
        return waiter

    def stopService(self) -> Deferred[None]:
        """Close every port this service opened."""
        super().stopService()
        listening = self._listening or []
        ports = self._ordered_ports()
        self._listening = None
        for pending in listening:
            pending.cancel()  # a no-op for listens that already finished
        waiters = self._waiters
        self._reset()
        for waiter in waiters:
            waiter.errback(CancelledError("nanio stopped before it was listening"))
        stopped = gatherResults([maybeDeferred(port.stopListening) for port in ports])
        return stopped.addCallback(lambda _: None)


class NanioService(MultiService):
    """nanio's whole server: the listener (and, later, its helpers)."""

    _log = Logger()

    def __init__(
        self,
        settings: Settings,
        listener: NanioListener,
        store: Store,
        disk_threads: ThreadPoolService | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.listener = listener
        self.store = store
        if disk_threads is not None:
            # Added before the listener, so stopped after it (MultiService
            # stops children in reverse): uploads finishing while the ports
            # close can still write.
            disk_threads.setServiceParent(self)
        self._announced = False
        listener.setServiceParent(self)

    def privilegedStartService(self) -> None:
        self._announce()
        super().privilegedStartService()

    def startService(self) -> None:
        self._announce()
        super().startService()

    def _announce(self) -> None:
        # Once per start, before the listener speaks; twist skips the
        # privileged step, twistd and nanio serve do both.
        if self._announced:
            return
        self._announced = True
        settings = self.settings
        self._log.info(
            "nanio {version} serving {data_dir} (region {region}, {users} user(s), fsync {fsync})",
            version=__version__,
            data_dir=settings.data_dir,
            region=settings.region,
            users=len(settings.users),
            fsync="on" if settings.fsync else "off",
        )

    def sweep_temp(self) -> None:
        """Remove temp files of uploads cut off by a crash.

        Only files idle for a minute go, and never one a live process (of
        this host or another sharing the store) holds a lock on.
        """
        removed = self.store.clean_temp()
        if removed:
            self._log.info("Removed {count} stray temp file(s)", count=removed)

    def collect_abandoned_uploads(self) -> None:
        """Remove multipart uploads that received nothing for a week.

        Never one that received a part recently, nor one a live request holds.
        """
        removed = self.store.gc_abandoned_uploads()
        if removed:
            self._log.info("Removed {count} abandoned multipart upload(s)", count=removed)

    def stopService(self) -> Deferred[None]:
        """Stop every child service; fires when all ports are closed."""
        self._announced = False
        stopped: Deferred[None] = super().stopService()
        return stopped

    def whenListening(self) -> Deferred[list[IListeningPort]]:
        """Fire with the listening ports once every endpoint listens."""
        return self.listener.whenListening()


def make_service(settings: Settings, reactor: IReactorTCP | None = None) -> NanioService:
    """The service tree serving nanio with these settings; start it to listen.

    Only entry points pass no reactor: library code and tests pass their own.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    ensure_data_dir(settings.data_dir)
    pool = ThreadPool(minthreads=0, maxthreads=DISK_THREADS, name="nanio-disk")
    site = make_site(settings, reactor, pool)
    endpoints = [
        (description, serverFromString(reactor, description))
        for description in settings.endpoints()
    ]
    store = site.s3.context.store
    service = NanioService(settings, NanioListener(endpoints, site), store, ThreadPoolService(pool))
    # Swept at start-up and then every few minutes, so a temp file too
    # fresh to remove at start goes at a later sweep.
    sweeper = TimerService(TEMP_SWEEP_SECONDS, service.sweep_temp)
    sweeper.clock = reactor
    sweeper.setServiceParent(service)
    if settings.gc_abandoned_uploads:
        collector = TimerService(UPLOAD_GC_SECONDS, service.collect_abandoned_uploads)
        collector.clock = reactor
        collector.setServiceParent(service)
    return service
