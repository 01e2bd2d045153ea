"""
Response bodies read from an open file and pushed to the request.

``FileProducer`` owns one open object (its descriptor was opened by the
store with O_NOFOLLOW, and the response headers came from the same
descriptor) and writes ``length`` bytes from ``offset`` with ``os.pread``.

Invariants:
- ``pauseProducing`` only sets a flag; nothing is read while paused.
- ``resumeProducing`` schedules a pump through the injected clock.  A pump
  writes at most ``CHUNKS_PER_TURN`` chunks, then yields to the reactor, so one
  large download cannot starve other connections.  ``request.write`` may call
  ``pauseProducing`` re-entrantly: the flag is checked after every write.
- ``stopProducing`` is idempotent: it closes the object once, cancels the
  scheduled pump and drops the request.
- ``done`` fires once, after the last byte was written and the producer
  unregistered; cancelling it stops the producer (Klein cancels it when the
  client goes away).
- Over a plain socket (TCP or UNIX, not TLS) bytes go from the page cache to
  the socket with ``os.sendfile``, never through Python, but only once the
  first chunk went through ``request.write`` (which sends the status line
  and headers), for a body with a Content-Length (not chunked), and while
  the transport has nothing of its own buffered: bytes reach the client in
  order.  When the socket is full, one chunk goes the ordinary way instead,
  so the transport pauses the producer and resumes it once the socket has
  drained: the same backpressure as without sendfile.
"""

from __future__ import annotations

import os
from typing import Protocol

from twisted.internet import tcp
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IDelayedCall, IPushProducer, IReactorTime
from zope.interface import implementer

from nanio.web.transports import plain_socket, writes_go_next


class OpenFile(Protocol):
    """An open object: its descriptor, and how to close it."""

    @property
    def fd(self) -> int: ...

    def close(self) -> None: ...


#: Bytes read per ``pread``.  Large enough to amortise the syscall and the
#: transport's bookkeeping, small enough to keep per-connection memory low.
CHUNK_BYTES = 256 * 1024
#: Chunks written per reactor turn before yielding to other connections.
CHUNKS_PER_TURN = 4
#: Bytes asked of one ``os.sendfile``: the kernel sends what the socket's
#: buffer takes (a few MiB on loopback), without a copy through Python.
SENDFILE_BYTES = 4 * 1024 * 1024


@implementer(IPushProducer)
class FileProducer:
    """Pushes a byte range of an open file to a request, with backpressure."""

    def __init__(
        self, source: OpenFile, offset: int, length: int, request: IConsumer, clock: IReactorTime
    ) -> None:
        self._source: OpenFile | None = source
        self._fd = source.fd
        self._offset = offset
        self._remaining = length
        self._request: IConsumer | None = request
        self._socket = plain_socket(getattr(getattr(request, "channel", None), "transport", None))
        self._clock = clock
        self._paused = False
        self._call: IDelayedCall | None = None
        self.done: Deferred[None] = Deferred(lambda _: self.stopProducing())

    def start(self) -> Deferred[None]:
        """Register with the request and begin pushing; returns ``done``."""
        assert self._request is not None
        self._request.registerProducer(self, True)
        self._schedule()
        return self.done

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._schedule()

    def stopProducing(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._request = None
        self._close()

    def _schedule(self) -> None:
        if self._call is None and self._request is not None:
            self._call = self._clock.callLater(0, self._pump)

    def _pump(self) -> None:
        self._call = None
        request = self._request
        if request is None:
            return
        for _ in range(CHUNKS_PER_TURN):
            if self._paused:
                return
            if self._remaining <= 0:
                self._finish(request)
                return
            if (
                self._socket is not None
                and request.startedWriting  # type: ignore[attr-defined]
                # Raw bytes only: a chunked body (no Content-Length) needs framing.
                and not getattr(request, "chunked", False)
                and writes_go_next(self._socket)
            ):
                sent = self._send_file(self._socket)
                if sent is None:
                    return  # failed: the connection is being aborted
                if sent:
                    request.sentLength += sent  # type: ignore[attr-defined]
                    continue
                # The socket is full: the chunk below waits in the transport,
                # which pauses this producer until the socket drains.
            try:
                data = os.pread(self._fd, min(CHUNK_BYTES, self._remaining), self._offset)
            except OSError as e:
                self._fail(e)
                return
            if not data:
                # The file shrank under us: it was replaced in place by hand.
                # The headers promised more bytes, so the response is broken.
                self._fail(OSError("file truncated during read"))
                return
            self._offset += len(data)
            self._remaining -= len(data)
            request.write(data)
            if self._request is None:
                # stopProducing ran re-entrantly (the client went away).
                return
        self._schedule()

    def _send_file(self, socket: tcp.Connection) -> int | None:
        """Send file bytes straight to the socket: how many (0: it is full), None when it failed."""
        try:
            sent = os.sendfile(
                socket.fileno(), self._fd, self._offset, min(SENDFILE_BYTES, self._remaining)
            )
        except BlockingIOError:
            return 0
        except ConnectionError:
            # The client went away (EPIPE, ECONNRESET): as when the transport
            # finds that out, the connection goes and the request's
            # cancellation stops this producer.
            socket.abortConnection()
            return None
        except OSError as e:
            self._fail(e)  # the file failed
            return None
        if not sent:
            self._fail(OSError("file truncated during read"))
            return None
        self._offset += sent
        self._remaining -= sent
        return sent

    def _finish(self, request: IConsumer) -> None:
        self._close()
        self._request = None
        request.unregisterProducer()
        self.done.callback(None)

    def _fail(self, reason: Exception) -> None:
        request = self._request
        self.stopProducing()
        if request is not None:
            request.unregisterProducer()
            # Headers are out: the only honest signal left is a broken connection.
            transport = getattr(request, "transport", None) or getattr(
                getattr(request, "channel", None), "transport", None
            )
            if transport is not None:
                transport.abortConnection()
        if not self.done.called:
            self.done.errback(reason)

    def _close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
