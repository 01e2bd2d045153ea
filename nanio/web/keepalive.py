"""
Whitespace keep-alives for answers that take long to prepare.

S3 answers a CompleteMultipartUpload that is still joining parts with
``200 OK`` and the XML declaration, then a space every few seconds, and only
then the result document, or an ``<Error>`` document if the join failed.
Clients and proxies with read timeouts (60 s is common) would otherwise
give up on a large Complete.  AWS SDKs know the pattern: botocore treats a
200 whose body is an ``<Error>`` as a failure for this operation.

Only a slow answer gets this treatment: an answer ready within
``KEEPALIVE_AFTER_SECONDS`` goes out as usual, with its real status code,
so the fast failures (InvalidPart, EntityTooSmall, ...) keep theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanio.s3.xml import XML_DECLARATION

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

#: An answer not ready after this long starts with 200 and whitespace.
KEEPALIVE_AFTER_SECONDS = 2.0
#: Then one space goes out this often, well inside common 60 s timeouts.
KEEPALIVE_EVERY_SECONDS = 5.0


class WhitespaceKeepAlive:
    """Starts a 200 answer and sends spaces until the handler has its document."""

    def __init__(self, request: Any, clock: IReactorTime) -> None:
        self._request = request
        self._clock = clock
        #: Whether the 200 and the declaration went out: the answer is committed.
        self.started = False
        self._pending: IDelayedCall | None = clock.callLater(KEEPALIVE_AFTER_SECONDS, self._start)
        request.notifyFinish().addBoth(self._connection_gone)

    def _start(self) -> None:
        request = self._request
        request.setResponseCode(200)
        request.setHeader(b"content-type", b"application/xml")
        request.write(XML_DECLARATION)
        self.started = True
        self._pending = self._clock.callLater(KEEPALIVE_EVERY_SECONDS, self._tick)

    def _tick(self) -> None:
        self._request.write(b" ")
        self._pending = self._clock.callLater(KEEPALIVE_EVERY_SECONDS, self._tick)

    def _connection_gone(self, result: object) -> None:
        # Fires when the answer is done, or fails when the client hangs up:
        # either way, nothing more to write.
        self.stop()

    def stop(self) -> None:
        """No more whitespace: the answer is ready (or failed)."""
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self._pending = None

    def rest_of(self, document: bytes) -> bytes:
        """What the handler returns: ``document``, less its declaration once started."""
        if not self.started:
            return document
        # The declaration is already on the wire; a second one is not XML.
        return document.removeprefix(XML_DECLARATION)
