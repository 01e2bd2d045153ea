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

A stop is graceful (``NanioService.stopService``): the ports close first, so
nothing new is accepted; then the site drains (``NanioSite.drain``: idle
connections close, requests in flight finish, and whatever is still busy
after ``Settings.shutdown_timeout`` is aborted, which aborts its upload);
only then do the services the listener needs stop, the disk thread pool
among them, so an upload finishing during the drain can still write.
twistd, twist and ``nanio serve`` all wait for the Deferred ``stopService``
returns before the reactor stops.

With ``--workers`` each worker process runs this same tree over sockets its
parent bound (``make_service(endpoints=...)``, see ``nanio.workers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

from twisted.application.internet import TimerService
from twisted.application.service import IService, MultiService, Service
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
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from nanio import __version__
from nanio.config import Settings, ensure_data_dir
from nanio.storage import Store
from nanio.web.resource import make_resource
from nanio.web.site import NanioSite, make_site

if TYPE_CHECKING:
    from twisted.internet.interfaces import (
        IAddress,
        IListeningPort,
        IProtocolFactory,
        IReactorTCP,
        IStreamServerEndpoint,
    )

_log = Logger()

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

    def __init__(self, pool: ThreadPool, reactor: IReactorFromThreads | None = None) -> None:
        self.pool = pool
        self._reactor = reactor

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> Deferred[None] | None:
        """Stop the pool once its work is done; fire once the results reached the reactor."""
        super().stopService()
        self.pool.stop()  # joins the threads: the work in hand is finished
        if self._reactor is None:
            return None
        # Each finished job handed its result over with callFromThread; this
        # call is queued behind them, so when it fires they have all run (an
        # aborted upload's last batch removes its temp file there) before the
        # reactor goes on to stop.
        flushed: Deferred[None] = Deferred()
        self._reactor.callFromThread(flushed.callback, None)
        return flushed


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
        *,
        announce: bool = True,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._factory = factory
        #: Log "nanio listening on"; a worker process, whose parent said it, does not.
        self._announce = announce
        self._reset()

    @property
    def descriptions(self) -> tuple[str, ...]:
        """The endpoint descriptions, in the order of the ports ``whenListening`` gives."""
        return tuple(description for description, _ in self._endpoints)

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
        if self._announce:
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
    """nanio's whole server: the listener and its helpers."""

    _log = Logger()

    def __init__(
        self,
        settings: Settings,
        listener: NanioListener,
        store: Store,
        disk_threads: ThreadPoolService | None = None,
        *,
        site: NanioSite | None = None,
        announce: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.listener = listener
        self.store = store
        #: The site the listener serves; a stop drains its connections.
        self.site = site
        if disk_threads is not None:
            # Added before the listener, so stopped only once the listener
            # has stopped and the connections drained: uploads finishing
            # meanwhile can still write.
            disk_threads.setServiceParent(self)
        #: Log the "nanio ... serving" line; a worker process does not.
        self._announces = announce
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
        if self._announced or not self._announces:
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
        """Remove temp files of uploads cut off by a crash (and stray bucket records).

        A temp file goes as soon as no live process (of this host or another
        sharing the store) holds its lock, so the sweep at start-up leaves
        none of a crashed server's; see ``nanio.storage.atomic``.  The sweep
        also forgets the answers of multipart uploads completed over a day
        ago, kept for clients that retry a Complete.
        """
        removed = self.store.clean_temp()
        if removed:
            self._log.info("Removed {count} stray temp file(s)", count=removed)
        self.store.forget_completed_uploads()

    def collect_abandoned_uploads(self) -> None:
        """Remove multipart uploads that received nothing for a week.

        Never one that received a part recently, nor one a live request holds.
        """
        removed = self.store.gc_abandoned_uploads()
        if removed:
            self._log.info("Removed {count} abandoned multipart upload(s)", count=removed)

    def stopService(self) -> Deferred[None]:
        """Stop gracefully; fires once every connection is closed and every child stopped.

        Children added after the listener (timers, a readiness notifier) stop
        first, then the listener closes its ports, the site drains, and the
        children added before the listener (the disk threads) stop last.
        """
        self._announced = False
        Service.stopService(self)
        children = list(self)
        position = children.index(self.listener)
        first = stop_services(reversed(children[position + 1 :]))
        stopped = maybeDeferred(self.listener.stopService)
        stopped.addErrback(self._log_stop_failure, "closing the ports")
        site = self.site
        if site is not None:
            timeout = self.settings.shutdown_timeout
            stopped.addCallback(lambda _: site.drain(timeout))
        stopped.addCallback(lambda _: stop_services(reversed(children[:position])))
        stopped.addErrback(self._log_stop_failure, "stopping")
        return gatherResults([first, stopped]).addCallback(lambda _: None)

    def _log_stop_failure(self, failure: Failure, what: str) -> None:
        # A stop goes on regardless: a failure must not keep the process alive.
        self._log.failure("nanio failed while {what}", failure, what=what)

    def whenListening(self) -> Deferred[list[IListeningPort]]:
        """Fire with the listening ports once every endpoint listens."""
        return self.listener.whenListening()


def stop_services(services: Iterable[IService]) -> Deferred[None]:
    """Stop these services at once; fire when all have stopped, failures logged."""
    stopping = []
    for service in services:
        stopped = maybeDeferred(service.stopService)
        stopped.addErrback(
            lambda failure, name: _log.failure("Cannot stop {service}", failure, service=name),
            repr(service),
        )
        stopping.append(stopped)
    return gatherResults(stopping).addCallback(lambda _: None)


def make_service(
    settings: Settings,
    reactor: IReactorTCP | None = None,
    *,
    endpoints: Sequence[tuple[str, IStreamServerEndpoint]] | None = None,
    announce: bool = True,
    housekeeping: bool = True,
) -> NanioService:
    """The service tree serving nanio with these settings; start it to listen.

    Only entry points pass no reactor: library code and tests pass their own.
    A worker process (``nanio.workers``) passes the ``endpoints`` that adopt
    its parent's sockets, ``announce=False`` (the parent announced the
    server and its addresses) and ``housekeeping`` only for one worker, so
    the temp-file sweep and the upload collection run once per host.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    ensure_data_dir(settings.data_dir)
    pool = ThreadPool(minthreads=0, maxthreads=DISK_THREADS, name="nanio-disk")
    site = make_site(settings, reactor, pool)
    if endpoints is None:
        endpoints = [
            (description, serverFromString(reactor, description))
            for description in settings.endpoints()
        ]
    store = site.s3.context.store
    listener = NanioListener(endpoints, site, announce=announce)
    # In-memory test reactors cannot call from threads; they run no threads.
    from_threads = reactor if IReactorFromThreads.providedBy(reactor) else None
    disk_threads = ThreadPoolService(pool, cast("IReactorFromThreads | None", from_threads))
    service = NanioService(settings, listener, store, disk_threads, site=site, announce=announce)
    if not housekeeping:
        return service
    # Swept at start-up (a crash's leftovers go before the first request)
    # and then every few minutes, for those of another process sharing the
    # store that died meanwhile.
    sweeper = TimerService(TEMP_SWEEP_SECONDS, service.sweep_temp)
    sweeper.clock = reactor
    sweeper.setServiceParent(service)
    if settings.gc_abandoned_uploads:
        collector = TimerService(UPLOAD_GC_SECONDS, service.collect_abandoned_uploads)
        collector.clock = reactor
        collector.setServiceParent(service)
    return service
