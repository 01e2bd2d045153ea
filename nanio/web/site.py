"""
The streaming HTTP site: request bodies go to their sink as they arrive.

Twisted Web collects a whole request body before ``render()`` runs.
``NanioSite`` takes over when the headers are in (``gotLength``): the request
is routed, classified and authenticated there (``call.Preflight``), and each
piece of body is handed to the sink the operation chose — a temp file for
object uploads, a bounded buffer for XML, nothing for bodiless requests.
Klein's ``render()`` then only commits and answers.

Invariants:
- A request refused before its body (bad signature, unknown bucket, ...) is
  answered at once, with no ``100 Continue``; its body is never written
  anywhere, and the connection is closed after the answer.
- A body that fails midway (too large, ...) is answered at once in the same
  way: the rest of it is read and dropped, never stored.
- An early answer half-closes the connection and drains what the client
  already sent for a few seconds: closing a socket with unread data makes the
  kernel send RST, which can destroy the answer before the client reads it.
- When the connection is lost before the body is complete, the sink is
  aborted: no partial object, no temp file.
- ``request.content`` is an empty BytesIO for every request: Twisted's
  ``requestReceived`` seeks it, and nothing reads it.

Slow clients (slowloris) are cut off by three timeouts, each answered with
S3's ``RequestTimeout`` through the early-answer path: Twisted's idle timeout
(``IDLE_TIMEOUT_SECONDS``, between requests), a deadline for the request line
and headers counted from the first byte of each request
(``HEADER_TIMEOUT_SECONDS``: Twisted's idle timer restarts on every byte, so
one byte every few seconds would hold a connection forever), and a body stall
(``BODY_STALL_SECONDS`` with no body byte).  A body is not stalled while nanio
itself has stopped reading it (the spool waits for the disk), nor once it is
complete.  The head deadline costs nothing when a head arrives in one read:
it starts only when a read ends mid-head.  The body timer is one per request;
each chunk only records the time, and the timer re-arms for what is left.

A graceful stop (``NanioSite.drain``, called once the ports no longer
accept): idle keep-alive connections close at once; a connection with a
request in progress closes right after its answer, which says
``Connection: close``; when the shutdown timeout passes, what is left is
aborted, so an upload cut off there leaves nothing (see above).  The site
knows its open connections (a set, touched once per connection) and asks
each channel's ``requests`` whether it is busy: nothing is added per request.
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING, Any, cast

from twisted.internet import tcp
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, ITCPTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.http import NO_BODY_CODES, RESPONSES, HTTPChannel, datetimeToString

from nanio import errors
from nanio.logs import censor_uri
from nanio.s3 import xml
from nanio.web.call import S3Call, new_request_id
from nanio.web.resource import NanioResource, S3Resource, make_s3_resource
from nanio.web.sinks import DiscardSink
from nanio.web.transports import plain_socket, writes_go_next

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime
    from twisted.python.threadpool import ThreadPool

    from nanio.config import Settings

#: How long an early-answered connection is drained before it is cut.
LINGER_SECONDS = 5.0
#: Idle connections are closed after this long.
IDLE_TIMEOUT_SECONDS = 120
#: The request line and headers must be complete this long after their first byte.
HEADER_TIMEOUT_SECONDS = 20.0
#: A request body with no new byte for this long is cut off.
BODY_STALL_SECONDS = 30.0
#: The request line and headers of one request, in bytes: Twisted's default,
#: twice S3's 8 KiB, as presigned URLs for long keys need room.
HEADER_SECTION_LIMIT_BYTES = 16 * 1024
#: Header lines in one request (Twisted's default).
HEADER_COUNT_LIMIT = 500
#: After a drain aborted its last connections, how long it waits for the
#: transports to report the loss (they do on the next reactor turn).
ABORT_GRACE_SECONDS = 2.0
#: An idle connection closed by a stop is cut if still open after this long.
IDLE_CLOSE_GRACE_SECONDS = 2.0
#: Bytes a TCP transport asks of one recv() while a large upload's body
#: arrives (Twisted's default is 64 KiB).  The upload then takes fewer
#: reactor turns, each carrying the same Python work whatever its size: at
#: 1 MiB, loopback hands over ~570 KB a read (~217 KB at 256 KiB), and a
#: 1 GiB PUT with curl went 10-20% faster than at 256 KiB in five
#: alternating pairs (233-248 against 256-297 MB/s, server CPU 4.4 against
#: 3.9 s), no faster at 2 MiB; peak RSS the same.  Twisted also pauses a
#: response's producer at this many buffered bytes, so it goes back to the
#: default once the body is in.
UPLOAD_READ_BYTES = 1024 * 1024


def _cancel(timer: IDelayedCall | None) -> None:
    """Cancel a delayed call, unless there is none or it already ran."""
    if timer is not None and timer.active():
        timer.cancel()


#: Bytes a header name may hold (RFC 9110 token characters).
_TOKEN_BYTES = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Bytes a request target may hold: visible ASCII, as Twisted allows.
_TARGET_BYTES = bytes(range(33, 127))
#: The methods S3 clients send; a head with any other goes to Twisted's parser.
_PLAIN_METHODS = frozenset({b"GET", b"HEAD", b"PUT", b"POST", b"DELETE"})
_PLAIN_VERSIONS = frozenset({b"HTTP/1.1", b"HTTP/1.0"})

#: (method, target, version, [(name, value)], Content-Length value or None)
_PlainHead = tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]], bytes | None]


def _plain_head(head: bytes, max_headers: int) -> _PlainHead | None:
    """Parse a request head (without its blank line) that needs no judgement; else None.

    Plain means: CR and LF only as line ends, no NUL, a known method and
    version, a visible-ASCII target, token header names, no folded lines,
    no Transfer-Encoding and at most one all-digit Content-Length.  Every
    head outside that is left to Twisted, which accepts or refuses it.
    """
    lines = head.split(b"\r\n")
    breaks = len(lines) - 1
    if (
        breaks > max_headers
        or head.count(b"\n") != breaks
        or head.count(b"\r") != breaks
        or b"\x00" in head
    ):
        return None
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return None
    method, target, version = parts
    if (
        method not in _PLAIN_METHODS
        or version not in _PLAIN_VERSIONS
        or not target
        or target.translate(None, _TARGET_BYTES)
    ):
        return None
    fields = []
    length = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _TOKEN_BYTES):
            return None  # no colon, a folded line, space before the colon...
        value = value.strip(b" \t")
        lowered = name.lower()
        if lowered == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = value
        elif lowered == b"transfer-encoding":
            return None
        fields.append((name, value))
    return method, target, version, fields, length


def response_head(version: bytes, code: bytes, reason: bytes, headers: Any) -> list[bytes]:
    """The status line and header lines of a response, as pieces to join."""
    # Twisted writes header names in Http-Header-Case.  S3 sends its
    # x-amz-* names in lower case, and for x-amz-meta-* the case is data:
    # SDKs hand the rest of the name to the user as the metadata key.
    sequence = [version, b" ", code, b" ", reason, b"\r\n"]
    for name, values in headers.getAllRawHeaders():
        if name.startswith(b"X-Amz-"):
            name = name.lower()
        for value in values:
            sequence.extend((name, b": ", value, b"\r\n"))
    sequence.append(b"\r\n")
    return sequence


class StreamingRequest(server.Request):
    """A request whose body is streamed to the sink its operation chose."""

    # S3 answers without a body type where there is no body; never text/html.
    defaultContentType = None
    s3call: S3Call | None = None
    _started: float = 0.0
    #: The channel reads UPLOAD_READ_BYTES at a time for this request's body.
    _reads_raised = False

    def gotLength(self, length: int | None) -> None:
        self.content = BytesIO()
        channel = cast(NanioChannel, self.channel)
        site: NanioSite = channel.site
        self._started = site.clock.seconds()
        # The request line is on the channel until requestReceived(); these
        # private names are pinned by tests/web/test_streaming_request.py.
        self.s3call = call = site.s3.preflight.begin(
            channel._command, channel._path, self.requestHeaders
        )
        attach = getattr(call.sink, "attach", None)
        if attach is not None and channel.transport is not None:
            # Reading from the socket pauses while the disk falls behind.
            attach(channel.transport)
            if length is None or length > tcp.Connection.bufferSize:
                # A body that fits in one of Twisted's reads keeps them:
                # nothing to save, and no 1 MiB buffer for a few KiB.
                channel.read_uploads_in(UPLOAD_READ_BYTES)
                self._reads_raised = True

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # Twisted's, less what nanio never reads: ``request.args`` (the
        # S3Call holds the decoded query; a presigned URL's is long) and HTML
        # form bodies (a body went to its sink).
        if self._reads_raised:
            cast(NanioChannel, self.channel).read_uploads_in(None)
        if self.content is not None:
            self.content.seek(0, 0)
        self.args = {}
        self.method, self.uri = command, path
        self.clientproto = version
        self.path = path.partition(b"?")[0]
        self.process()

    def process(self) -> None:
        # Twisted's, less the resource walk: a NanioSite's root is the leaf
        # NanioResource, which reads neither postpath nor the walk's result.
        # The Date header is formatted once a second, not per request.
        site = cast(NanioChannel, self.channel).site
        self.site = site
        self.setHeader(b"server", server.version)
        self.setHeader(b"date", site.http_date())
        self.prepath = []
        self.postpath = []
        self.sitepath: list[bytes] = []
        if self.path == b"*":
            self._handleStar()
            return
        try:
            self.render(site.resource)
        except BaseException:
            self.processingFailed(Failure())

    def answer_whole(self, body: bytes) -> None:
        """Send the status line, the headers and all of ``body`` in one write, and finish.

        What ``write(body)`` then ``finish()`` would send, without the
        per-write bookkeeping of a response that streams.  Only for an
        answer whose length is set; anything else takes Twisted's way.
        """
        if (
            self.startedWriting
            or self.lastModified is not None
            or self.etag is not None
            or self.cookies
            or not self.responseHeaders.hasHeader(b"content-length")
        ):
            if body:
                self.write(body)
            self.finish()
            return
        self.startedWriting = 1
        head = response_head(
            self.clientproto, b"%d" % self.code, self.code_message, self.responseHeaders
        )
        if body and self.method != b"HEAD" and self.code not in NO_BODY_CODES:
            head.append(body)
            self.sentLength = len(body)
        cast(NanioChannel, self.channel).send_whole(b"".join(head))
        self.finish()

    def handleContentChunk(self, data: bytes) -> None:
        call = self.s3call
        if call is None or call.error is not None:
            return
        try:
            call.sink.write(data)
        except errors.S3Error as e:
            call.error = e
            call.sink.abort()
            call.sink = DiscardSink()
            cast(NanioChannel, self.channel).answer_early()

    def connectionLost(self, reason: Failure) -> None:
        # Before the body was complete, or while the handler had not yet
        # committed: nothing of this upload may stay behind.
        if self.s3call is not None:
            self.s3call.sink.abort()
        super().connectionLost(reason)


class NanioChannel(HTTPChannel):
    """An HTTP/1.1 channel that lets the request decide before the body."""

    #: The request line and headers together, in bytes (line ends aside).
    totalHeadersSize = HEADER_SECTION_LIMIT_BYTES
    #: Header lines per request.
    maxHeaders = HEADER_COUNT_LIMIT
    #: One line: a request line or header longer than the whole section may
    #: be is refused as it arrives, not buffered.
    MAX_LENGTH = HEADER_SECTION_LIMIT_BYTES

    _answered_early = False
    _linger: IDelayedCall | None = None
    #: Runs out HEADER_TIMEOUT_SECONDS after a head began arriving.
    _head_timer: IDelayedCall | None = None
    #: Checks, while a body arrives, that it has not stalled.
    _body_timer: IDelayedCall | None = None
    #: When the last piece of the current body arrived (site clock).
    _body_seen_at = 0.0
    #: The server is stopping: the request in progress is this connection's last.
    _closing = False
    site: NanioSite

    def connectionMade(self) -> None:
        super().connectionMade()
        self.site.track(self)

    def read_uploads_in(self, size: int | None) -> None:
        """Read (and buffer) ``size`` bytes at a time from a TCP socket; None: Twisted's size."""
        transport: object = self.transport
        if isinstance(transport, tcp.Connection):
            transport.bufferSize = size or tcp.Connection.bufferSize

    # Every request asks for both ends' addresses; Twisted's transports
    # make new address objects each time, for a connection whose ends never
    # change.

    _peer: Any = None
    _host: Any = None

    def getPeer(self) -> Any:
        if self._peer is None:
            self._peer = super().getPeer()
        return self._peer

    def getHost(self) -> Any:
        if self._host is None:
            self._host = super().getHost()
        return self._host

    def dataReceived(self, data: bytes) -> None:
        while (rest := self._take_whole_head(data)) is not None:
            if not rest:
                break
            data = rest
        else:
            super().dataReceived(data)
        if self._head_timer is None and self.line_mode:
            self._watch_head()

    def _take_whole_head(self, data: bytes) -> bytes | None:
        """Handle a whole, plain request head at the start of ``data``; return what follows.

        Twisted reads a head line by line, and each line costs several
        calls; most requests arrive whole in one read.  A head that is whole
        and plain (see ``_plain_head``) is taken here in one pass, with the
        same effects on the channel as Twisted's parser.  Anything else
        (None) goes to Twisted's parser, which judges and refuses odd input.
        """
        if (
            not self.line_mode
            or self._buffer
            or self._busyReceiving
            or self.paused
            or self._receivedHeaderSize
            or self.requests
            or self._answered_early
            or not self.persistent
        ):
            return None  # mid-head, mid-request, or about to close: Twisted's way
        end = data.find(b"\r\n\r\n")
        if end <= 0 or end > self.totalHeadersSize:
            return None
        head = _plain_head(data[:end], self.maxHeaders)
        if head is None:
            return None
        method, target, version, fields, length = head
        self.resetTimeout()
        request = self.requestFactory(self, len(self.requests))
        self.requests.append(request)
        self._command, self._path, self._version = method, target, version
        add_header = request.requestHeaders.addRawHeader
        for name, value in fields:
            add_header(name, value)
        if length is not None:
            # Twisted's own choice of body decoder for a Content-Length.
            self._maybeChooseTransferDecoder(b"Content-Length", length)
        # From here on as Twisted's line reader after the blank line: what
        # follows the head waits in the buffer, and the handlers may re-enter.
        self._buffer = data[end + 4 :]
        self._busyReceiving = True
        try:
            self.allHeadersReceived()
            if self.length == 0:
                self.allContentReceived()
            else:
                self.setRawMode()
        finally:
            self._busyReceiving = False
        rest, self._buffer = self._buffer, b""
        if rest and (self.transport is None or getattr(self.transport, "disconnecting", False)):
            self._buffer = rest  # closing: Twisted's reader stops here too
            return b""
        return rest

    def _watch_head(self) -> None:
        # A head that arrived whole was handled inside dataReceived: nothing
        # to time.  One cut mid-line or between header lines is timed from
        # here, the end of the read that brought its first bytes.
        if (self._buffer or self._receivedHeaderSize) and not self._answered_early:
            self._head_timer = self.site.clock.callLater(
                HEADER_TIMEOUT_SECONDS, self._head_timed_out
            )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        request_id = self._refuse_head(errors.RequestTimeout())
        if request_id is not None:
            self._log.info(
                "Cut off a client whose request head took over {timeout:g}s {request_id}",
                timeout=HEADER_TIMEOUT_SECONDS,
                request_id=request_id,
            )

    def _stop_head_timer(self) -> None:
        _cancel(self._head_timer)
        self._head_timer = None

    def _watch_body(self) -> None:
        clock = self.site.clock
        self._body_seen_at = clock.seconds()
        self._body_timer = clock.callLater(BODY_STALL_SECONDS, self._check_body)

    def _check_body(self) -> None:
        clock = self.site.clock
        now = clock.seconds()
        request = self.requests[-1] if self.requests else None
        call: S3Call | None = getattr(request, "s3call", None)
        if call is not None and getattr(call.sink, "reading_paused", False):
            # nanio is the one not reading (the disk is behind): the client
            # gets a whole new period once reading resumes, and Twisted's
            # idle timer, which only sees bytes arrive, must not fire either.
            self._body_seen_at = now
            self.resetTimeout()
        idle = now - self._body_seen_at
        if idle < BODY_STALL_SECONDS:
            self._body_timer = clock.callLater(BODY_STALL_SECONDS - idle, self._check_body)
            return
        self._body_timer = None
        if call is None:
            return  # not reachable: a body follows a preflighted head
        self._log.info(
            "Cut off a client whose request body stalled for {timeout:g}s {request_id}",
            timeout=BODY_STALL_SECONDS,
            request_id=call.request_id,
        )
        call.error = errors.RequestTimeout()
        call.sink.abort()
        call.sink = DiscardSink()
        self.answer_early()

    def _stop_body_timer(self) -> None:
        _cancel(self._body_timer)
        self._body_timer = None

    def requestDone(self, request: server.Request) -> None:
        super().requestDone(request)
        # Pipelined bytes of the next request were replayed from the buffer,
        # not through dataReceived: time the head they began.
        if self._head_timer is None and self.line_mode and self.transport is not None:
            self._watch_head()

    def close_when_idle(self) -> None:
        """Close now if no request is in progress, else right after its answer."""
        self._closing = True
        if self._linger is not None:
            return  # already half-closed after an early answer: the linger ends it
        if not self.requests:
            self.loseConnection()
            # Over TLS, loseConnection waits for the client's close_notify,
            # which an idle pooled client (boto3's) never sends: a stop must
            # not wait for it.
            self.site.clock.callLater(IDLE_CLOSE_GRACE_SECONDS, self._abort_if_open)
            return
        self.persistent = False
        for request in self.requests:
            if not request.startedWriting:
                # Tell the client, so it does not send another request here.
                request.setHeader(b"connection", b"close")

    def _abort_if_open(self) -> None:
        transport = self.transport
        if self in self.site.channels and transport is not None:
            cast(ITCPTransport, transport).abortConnection()

    # Twisted answers a header section over its limits with a bare "400 Bad
    # Request": no S3 error code, no request id.  These three catch each
    # limit just before Twisted would, and answer as S3 does.

    def lineReceived(self, line: bytes) -> None:
        if self._answered_early:
            return  # refused: what follows is dropped until the linger ends
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self.refuse_header_section()
            return
        super().lineReceived(line)

    def headerReceived(self, line: bytes) -> bool:
        if self._receivedHeaderCount >= self.maxHeaders:
            self.refuse_header_section()
            return False
        return bool(super().headerReceived(line))

    def lineLengthExceeded(self, line: bytes) -> None:
        self.refuse_header_section()

    def refuse_header_section(self) -> None:
        """Answer 400 RequestHeaderSectionTooLarge in S3 XML and close after it."""
        request_id = self._refuse_head(errors.RequestHeaderSectionTooLarge())
        if request_id is not None:
            self._log.info(
                "Refused a request whose header section passed {limit} bytes or {count} "
                "headers {request_id}",
                limit=self.totalHeadersSize,
                count=self.maxHeaders,
                request_id=request_id,
            )

    def _refuse_head(self, error: errors.S3Error) -> str | None:
        """Answer ``error`` in S3 XML before any request was dispatched; close after it.

        Returns the answer's request id, or None if the connection was
        already answered or gone.
        """
        if self._answered_early or self.transport is None:
            return None
        self._answered_early = True
        self.persistent = False
        self._stop_head_timer()
        self._stop_body_timer()
        request_id = new_request_id()
        body = xml.error_body(error.code, error.message, None, request_id, error.fields)
        self.transport.writeSequence(
            [
                b"HTTP/1.1 %d %s\r\n" % (error.status, RESPONSES[error.status]),
                b"Content-Type: application/xml\r\n",
                b"Content-Length: %d\r\n" % len(body),
                b"x-amz-request-id: " + request_id.encode("ascii") + b"\r\n",
                b"Connection: close\r\n\r\n",
                body,
            ]
        )
        # Half-closed and drained for a while (loseConnection below): the
        # client is most likely still sending, and closing a socket with
        # unread data makes the kernel reset it, answer and all.
        self.loseConnection()
        return request_id

    def allHeadersReceived(self) -> None:
        self._stop_head_timer()
        request = self.requests[-1]
        self.persistent = self.checkPersistence(request, self._version)
        if self._closing:
            # Its headers were still arriving when the stop began: served, but the last.
            self.persistent = False
            request.setHeader(b"connection", b"close")
        request.gotLength(self.length)
        call: S3Call | None = request.s3call
        if call is not None and call.error is not None and self.length != 0:
            # With no body to come, the ordinary path answers just as soon
            # and keeps the connection alive.
            self.answer_early()
            return
        expect = request.requestHeaders.getRawHeaders(b"expect")
        if expect and expect[0].lower() == b"100-continue" and self._version == b"HTTP/1.1":
            self._send100Continue()
        if self.length != 0:
            self._watch_body()

    def answer_early(self) -> None:
        """Answer the current request now; drop the rest of its body."""
        if self._answered_early:
            return
        self.persistent = False
        # Say so: a client that is not told may send its next request on a
        # connection that is about to close.
        self.requests[-1].setHeader(b"connection", b"close")
        # Set before the dispatch: an answer written at once (an error) ends
        # in loseConnection() right inside it, which must half-close and
        # linger, not close on unread body bytes (the kernel would send RST
        # and the client lose the answer: EPIPE mid-body).
        self._answered_early = True
        self._stop_body_timer()
        super().allContentReceived()

    def allContentReceived(self) -> None:
        # After an early answer the transfer decoder may still report the end
        # of the body; the request was already dispatched.
        if not self._answered_early:
            # Whatever comes now is the answer, or the next request.
            self._stop_body_timer()
            super().allContentReceived()

    def rawDataReceived(self, data: bytes) -> None:
        if self._answered_early:
            return
        if self._body_timer is not None:
            self._body_seen_at = self.site.clock.seconds()
        super().rawDataReceived(data)

    def loseConnection(self) -> None:
        transport = self.transport
        if not self._answered_early or not ITCPTransport.providedBy(transport):
            # Transports without a half-close (unix sockets) just close.
            super().loseConnection()
            return
        # What HTTPChannel.loseConnection does, with a half-close in place
        # of the close: unhook the transport as our producer first.
        self._networkProducer.unregisterProducer()  # type: ignore[attr-defined]
        transport.loseWriteConnection()
        self._linger = self.callLater(LINGER_SECONDS, transport.abortConnection)

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:
        assert self.transport is not None
        self.transport.writeSequence(response_head(version, code, reason, headers))

    def send_whole(self, data: bytes) -> None:
        """Send a whole answer: straight into the socket when nothing waits before it.

        Twisted's transports only queue a write and send it on the next
        reactor turn, after asking epoll to watch the socket for writing
        and, once sent, to stop: two system calls and a turn for every
        answer.  A small answer to an idle plain TCP connection fits in the
        socket buffer, so it is sent here, as asyncio's transports do; what
        the socket does not take goes to the transport's queue as before.
        Anything else (TLS, a queue not yet empty, a closing connection)
        takes the transport's own way.
        """
        socket = plain_socket(self.transport)
        if socket is not None and writes_go_next(socket):
            try:
                sent = socket.socket.send(data)
            except OSError:
                sent = 0  # EAGAIN, or a lost connection the transport will see
            if sent == len(data):
                return
            data = data[sent:]
        assert self.transport is not None
        self.transport.write(data)

    # Twisted's idle timer (TimeoutMixin), kept lazily.  HTTPChannel stops
    # it when a request is in and starts it again after the answer: one
    # DelayedCall cancelled and another scheduled for every request.  Here
    # stopping, starting and every byte's reset only move a deadline; one
    # DelayedCall per connection looks at it when it fires, and sleeps again
    # if the deadline moved on (or, stopped, waits for the next start).

    _idle_deadline: float | None = None
    _idle_period = 0.0
    _idle_call: IDelayedCall | None = None

    def setTimeout(self, period: float | None) -> float | None:
        previous = self.timeOut
        self.timeOut = period  # type: ignore[assignment]
        if period is None:
            self._idle_deadline = None
            return previous
        clock = self.site.clock
        self._idle_period = period
        self._idle_deadline = deadline = clock.seconds() + period
        call = self._idle_call
        if call is None:
            self._idle_call = clock.callLater(period, self._idle_check)
        elif call.getTime() > deadline:
            call.reset(period)
        return previous

    def resetTimeout(self) -> None:
        if self._idle_deadline is not None:
            self._idle_deadline = self.site.clock.seconds() + self._idle_period

    def _idle_check(self) -> None:
        self._idle_call = None
        if self._idle_deadline is None:
            return  # a request is in progress: the answer starts the timer again
        left = self._idle_deadline - self.site.clock.seconds()
        if left > 0:
            self._idle_call = self.site.clock.callLater(left, self._idle_check)
            return
        self.timeoutConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        _cancel(self._linger)
        _cancel(self._idle_call)
        self._idle_call = None
        self._stop_head_timer()
        self._stop_body_timer()
        super().connectionLost(reason)
        self.site.forget(self)


class NanioSite(server.Site):
    """A Site that streams request bodies and logs one censored event per request."""

    _log = Logger()
    protocol = NanioChannel  # type: ignore[assignment]
    requestFactory = StreamingRequest
    displayTracebacks = False
    # One "starting on" line from the listener is enough; Twisted would add two.
    noisy = False

    def __init__(
        self, s3: S3Resource, *, clock: IReactorTime, access_log: bool = True, **kwargs: Any
    ) -> None:
        # nanio's idle timeout, not Twisted's minute, unless told otherwise.
        kwargs.setdefault("timeout", IDLE_TIMEOUT_SECONDS)
        super().__init__(NanioResource(s3), requestFactory=StreamingRequest, **kwargs)
        self.s3 = s3
        self.clock = clock
        self.access_log = access_log
        #: Open connections, for a graceful stop.
        self.channels: set[NanioChannel] = set()
        self._draining = False
        self._drain_waiters: list[Deferred[None]] = []
        self._drain_timer: IDelayedCall | None = None
        self._date_second = -1
        self._date = b""

    def http_date(self) -> bytes:
        """Now as an HTTP date, for the Date header: formatted once per second."""
        second = int(self.clock.seconds())
        if second != self._date_second:
            self._date_second = second
            self._date = datetimeToString(second)
        return self._date

    def track(self, channel: NanioChannel) -> None:
        """Count a new connection as open."""
        self.channels.add(channel)
        if self._draining:
            # Accepted just before the port closed: not to be served after all.
            channel.close_when_idle()

    def forget(self, channel: NanioChannel) -> None:
        """Count a connection as closed."""
        self.channels.discard(channel)
        if self._draining and not self.channels:
            self._drained()

    def drain(self, timeout_seconds: float) -> Deferred[None]:
        """Close every connection as its request finishes; fire once none is left.

        Call it once the ports no longer accept.  Idle connections close now;
        after ``timeout_seconds`` the connections still busy are aborted,
        which aborts their uploads.
        """
        waiter: Deferred[None] = Deferred()
        self._drain_waiters.append(waiter)
        if not self._draining:
            self._draining = True
            busy = sum(1 for channel in self.channels if channel.requests)
            if busy:
                self._log.info(
                    "Stopping: waiting up to {timeout:g}s for {count} request(s) in progress",
                    timeout=timeout_seconds,
                    count=busy,
                )
            for channel in list(self.channels):
                channel.close_when_idle()
            if self.channels:
                self._drain_timer = self.clock.callLater(timeout_seconds, self._abort_remaining)
        if not self.channels:
            self._drained()
        return waiter

    def _abort_remaining(self) -> None:
        self._drain_timer = None
        channels = list(self.channels)
        self._log.warn(
            "Stopping: the shutdown timeout passed; cutting off {count} connection(s)",
            count=len(channels),
        )
        for channel in channels:
            transport = channel.transport
            if transport is not None:
                # Every stream transport nanio listens with (TCP, UNIX, TLS)
                # can abort; loseConnection would wait for a slow reader.
                cast(ITCPTransport, transport).abortConnection()
        if self.channels:
            self._drain_timer = self.clock.callLater(ABORT_GRACE_SECONDS, self._give_up)

    def _give_up(self) -> None:
        self._drain_timer = None
        self._log.warn(
            "Stopping with {count} connection(s) that did not report their end",
            count=len(self.channels),
        )
        self._drained()

    def _drained(self) -> None:
        _cancel(self._drain_timer)
        self._drain_timer = None
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def log(self, request: Any) -> None:
        if not self.access_log:
            return
        call: S3Call | None = getattr(request, "s3call", None)
        started = getattr(request, "_started", 0.0)
        method = request.method.decode("latin-1")
        uri = censor_uri(request.uri)
        status = request.code
        sent = request.sentLength
        duration_ms = (self.clock.seconds() - started) * 1000 if started else 0.0
        request_id = call.request_id if call else "-"
        access_key = call.auth.access_key if call and call.auth else "-"
        # The line is made here, once, for text observers (nanio.logs); the
        # fields stay for structured ones.
        self._log.info(
            "{access_line}",
            access_line=(
                f"{method} {uri} {status} {sent} {duration_ms:.1f}ms {request_id} {access_key}"
            ),
            method=method,
            uri=uri,
            status=status,
            bytes=sent,
            duration_ms=duration_ms,
            request_id=request_id,
            access_key=access_key,
            operation=call.operation.api_name if call and call.operation else "-",
            peer=request.getClientAddress(),
        )


def make_site(settings: Settings, reactor: Any = None, pool: ThreadPool | None = None) -> NanioSite:
    """The streaming HTTP factory serving nanio for these settings.

    ``pool``, when given, takes the disk writes of large uploads; its owner
    starts and stops it (``make_service`` does).
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    s3 = make_s3_resource(settings, reactor, pool)
    return NanioSite(
        s3,
        clock=reactor,
        access_log=settings.access_log,
        reactor=reactor,
    )
