"""
Request-body consumers: where the bytes of a request go as they arrive.

A sink is chosen per operation before the body is read (see ``call.py``):
``ObjectSink`` streams object bytes into a temp file of the store while
computing their digests, ``BufferSink`` keeps a small XML document in memory,
``DiscardSink`` drops a body nobody asked for.

Invariants:
- ``write`` is called with each piece of body in order, then exactly one of
  ``finish`` (the body is complete) or ``abort`` (it never will be).
- ``abort`` is idempotent and safe after ``finish``; after it no temp file is
  left behind.
- Digests run once over each piece as it passes; the body is never read back.
- ``ObjectSink`` hands the bytes to a ``Spool`` (``spool.py``), which applies
  backpressure to the connection while the disk falls behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer

from nanio import errors
from nanio.s3.checksums import NO_CHECKSUM, ChecksumRequest, requested_checksums
from nanio.s3.chunked import ChunkedDecoder, decoder_for
from nanio.s3.operations import XML_BODY_LIMIT_BYTES
from nanio.web.spool import INLINE_LIMIT_BYTES, Offload, Spool

if TYPE_CHECKING:
    from nanio.s3.auth import AuthResult
    from nanio.storage import TempFile

#: S3's largest object, the default of ``Settings.max_object_size``.
MAX_OBJECT_SIZE_BYTES = 5 * 1024**4
#: S3's largest part of a multipart upload.
MAX_PART_SIZE_BYTES = 5 * 1024**3

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
#: Digits of the largest length worth reading exactly (2**64 has 20).
_LENGTH_DIGITS = 20


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def abort(self) -> None: ...


class DiscardSink:
    """Drops the body: for operations that take none."""

    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        pass


class BodyCheck:
    """The digests a body must match, computed once over each piece as it passes.

    Content-MD5, a signed (hex) x-amz-content-sha256 and an
    x-amz-checksum-* header or trailer: every body nanio keeps is checked
    against whichever of them the client sent.
    """

    def __init__(
        self,
        *,
        content_md5: bytes | None = None,
        content_sha256: str | None = None,
        checksum: ChecksumRequest = NO_CHECKSUM,
    ) -> None:
        self._md5 = hashlib.md5()
        self._expected_md5 = content_md5
        self._sha256 = hashlib.sha256() if content_sha256 else None
        self._expected_sha256 = content_sha256.lower() if content_sha256 else None
        self._checksum_request = checksum
        self._checksum = checksum.new_checksum()

    @classmethod
    def for_headers(
        cls, headers: Mapping[str, list[str]], auth: AuthResult, *, flexible: bool = True
    ) -> BodyCheck:
        """The checks a request's headers and signature ask for.

        ``flexible=False``: the x-amz-checksum-* headers are not the body's
        (CompleteMultipartUpload's describe the object it makes).
        """
        return cls(
            content_md5=_content_md5(headers),
            content_sha256=_payload_hash(auth),
            checksum=requested_checksums(headers) if flexible else NO_CHECKSUM,
        )

    def update(self, data: bytes) -> None:
        self._md5.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)
        if self._checksum is not None:
            self._checksum.update(data)

    def verify(self, trailers: Mapping[str, str] | None) -> tuple[bytes, dict[str, str]]:
        """The body's MD5 and its verified checksums; the S3 error for a mismatch."""
        md5 = self._md5.digest()
        if self._expected_md5 is not None and md5 != self._expected_md5:
            raise errors.BadDigest()
        if self._sha256 is not None and self._sha256.hexdigest() != self._expected_sha256:
            raise errors.XAmzContentSHA256Mismatch()
        return md5, self._checksum_request.verify(self._checksum, trailers)


class BufferSink:
    """Keeps a small body (an XML document) in memory, up to a limit, and checks it."""

    def __init__(
        self,
        limit: int = XML_BODY_LIMIT_BYTES,
        *,
        check: BodyCheck | None = None,
        decoder: ChunkedDecoder | None = None,
    ) -> None:
        self._limit = limit
        self._pieces: list[bytes] = []
        self._size = 0
        self._check = check or BodyCheck()
        self._decoder = decoder

    @classmethod
    def for_call(
        cls, headers: Mapping[str, list[str]], auth: AuthResult, *, flexible: bool = True
    ) -> BufferSink:
        """A sink for an XML body, checking the integrity headers it carries.

        A body declared larger than the limit is refused here, before any of
        it is read (no ``100 Continue``); one sent without a length is cut
        off by ``write`` as soon as it passes the limit.  ``flexible``: as
        ``BodyCheck.for_headers``.
        """
        decoder = decoder_for(auth)
        name = "content-length" if decoder is None else "x-amz-decoded-content-length"
        declared = _declared_length(headers, name)
        if declared is not None and declared > XML_BODY_LIMIT_BYTES:
            raise cls._too_big(XML_BODY_LIMIT_BYTES)
        return cls(check=BodyCheck.for_headers(headers, auth, flexible=flexible), decoder=decoder)

    @staticmethod
    def _too_big(limit: int) -> errors.MaxMessageLengthExceeded:
        return errors.MaxMessageLengthExceeded(
            f"Your request was too big: XML bodies are limited to {limit} bytes."
        )

    def write(self, data: bytes) -> None:
        pieces = [data] if self._decoder is None else self._decoder.feed(data)
        for piece in pieces:
            self._size += len(piece)
            if self._size > self._limit:
                self._pieces.clear()
                raise self._too_big(self._limit)
            self._check.update(piece)
            self._pieces.append(piece)

    def finish(self) -> bytes:
        """The whole body, once it matched every digest the client sent."""
        trailers = None
        if self._decoder is not None:
            self._decoder.finish()
            trailers = self._decoder.trailers
        self._check.verify(trailers)
        return b"".join(self._pieces)

    def abort(self) -> None:
        self._pieces.clear()


@dataclass(frozen=True, slots=True)
class ReceivedObject:
    """The body of an object upload, complete and verified, in its temp file."""

    temp: TempFile
    etag: str
    size: int
    #: Verified flexible checksums, algorithm -> base64 (``ObjectMeta.checksums``).
    checksums: dict[str, str] = field(default_factory=dict)


class ObjectSink:
    """Streams an object body into a temp file, decoding and verifying it on the way."""

    def __init__(
        self,
        temp: TempFile,
        *,
        offload: Offload | None = None,
        check: BodyCheck | None = None,
        decoder: ChunkedDecoder | None = None,
        decoded_length: int | None = None,
        max_size: int = MAX_OBJECT_SIZE_BYTES,
    ) -> None:
        self._temp = temp
        self._spool = Spool(temp, offload)
        self._check = check or BodyCheck()
        self._decoder = decoder
        self._decoded_length = decoded_length
        #: The most bytes the body may hold, decoded: a body sent chunked
        #: (no length up front) or one whose declared length lies is cut
        #: off here, as soon as it passes the cap.
        self._max_size = max_size
        self._size = 0

    @classmethod
    def for_call(
        cls,
        temp: TempFile,
        headers: Mapping[str, list[str]],
        auth: AuthResult,
        offload: Offload | None = None,
        max_size: int = MAX_OBJECT_SIZE_BYTES,
    ) -> ObjectSink:
        """A sink for an upload of at most ``max_size`` bytes, checking its integrity headers.

        A declared size over ``max_size`` is refused here, before the body:
        the client gets EntityTooLarge instead of ``100 Continue``.
        """
        try:
            if "content-length" not in headers and "transfer-encoding" not in headers:
                raise errors.MissingContentLength()
            decoder = decoder_for(auth)
            if decoder is None and "aws-chunked" in ",".join(headers.get("content-encoding", ())):
                # Storing aws-chunked framing as object bytes would corrupt
                # the object: the encoding goes with a STREAMING-* payload.
                raise errors.InvalidArgument(
                    "Content-Encoding aws-chunked needs a STREAMING-* x-amz-content-sha256.",
                    ArgumentName="x-amz-content-sha256",
                )
            if decoder is not None:
                decoded_length: int | None = _decoded_length(headers)
                declared = decoded_length
            else:
                # Twisted checked that Content-Length is digits; with
                # aws-chunked it counts the framing too, so the decoded
                # length is the object's size there.
                decoded_length = None
                declared = _declared_length(headers, "content-length")
            if declared is not None and declared > max_size:
                raise too_large(declared, max_size)
            if declared and declared <= INLINE_LIMIT_BYTES:
                # Small bodies only: their commit is where the time goes.
                temp.reserve(declared)
            return cls(
                temp,
                offload=offload,
                check=BodyCheck.for_headers(headers, auth),
                decoder=decoder,
                decoded_length=decoded_length,
                max_size=max_size,
            )
        except BaseException:
            temp.abort()
            raise

    def write(self, data: bytes) -> None:
        if self._decoder is None:
            self._consume(data)
            return
        for piece in self._decoder.feed(data):
            self._consume(piece)

    def _consume(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._max_size:
            raise too_large(self._size, self._max_size)
        if self._decoded_length is not None and self._size > self._decoded_length:
            raise errors.EntityTooLarge(
                "The aws-chunked body holds more bytes than x-amz-decoded-content-length declared."
            )
        self._check.update(data)
        self._spool.write(data)

    def attach(self, producer: IPushProducer) -> None:
        """Pause this producer (the connection) while the disk falls behind."""
        self._spool.attach(producer)

    @property
    def reading_paused(self) -> bool:
        """Whether nanio has stopped reading the body while the disk catches up."""
        return self._spool.paused

    def finish(self) -> Deferred[ReceivedObject]:
        """Once every byte is on disk, verify what the client declared.

        The temp file is removed if anything fails.
        """
        try:
            if self._decoder is not None:
                # Decoded bytes were spooled before the chunk signature that
                # follows them was checked: nothing is committed before this.
                self._decoder.finish()
                if self._decoded_length is not None and self._size != self._decoded_length:
                    raise errors.IncompleteBody()
        except errors.S3Error:
            self.abort()
            raise
        return self._spool.drained().addCallback(lambda _: self._verified())

    def _verified(self) -> ReceivedObject:
        try:
            trailers = self._decoder.trailers if self._decoder is not None else None
            md5, checksums = self._check.verify(trailers)
        except errors.S3Error:
            self.abort()
            raise
        return ReceivedObject(self._temp, md5.hex(), self._size, checksums)

    def abort(self) -> None:
        self._spool.abort()


def _decoded_length(headers: Mapping[str, list[str]]) -> int:
    """x-amz-decoded-content-length: required with aws-chunked bodies."""
    values = headers.get("x-amz-decoded-content-length")
    if not values:
        raise errors.MissingContentLength(
            "aws-chunked uploads must declare x-amz-decoded-content-length."
        )
    try:
        length = int(values[0])
    except ValueError:
        length = -1
    if length < 0:
        raise errors.InvalidArgument(
            "x-amz-decoded-content-length is not a valid length.",
            ArgumentName="x-amz-decoded-content-length",
        ) from None
    return length


def _declared_length(headers: Mapping[str, list[str]], name: str) -> int | None:
    """The length a header declares, or None if it is absent or not a number."""
    values = headers.get(name)
    if not values:
        return None
    value = values[0].strip()
    # isascii(): "²".isdigit() is true, and int() refuses it.
    if not (value.isascii() and value.isdigit()):
        return None
    # Past 20 digits it is beyond any limit (and int() refuses 4300).
    return int(value) if len(value) <= _LENGTH_DIGITS else 10**_LENGTH_DIGITS


def too_large(size: int, max_size: int) -> errors.EntityTooLarge:
    """The EntityTooLarge for ``size`` bytes where at most ``max_size`` are allowed."""
    # S3 names both sizes in the error body.
    return errors.EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(max_size))


def _content_md5(headers: Mapping[str, list[str]]) -> bytes | None:
    values = headers.get("content-md5")
    if not values:
        return None
    try:
        digest = base64.b64decode(values[0], validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidDigest() from None
    if len(digest) != 16:
        raise errors.InvalidDigest()
    return digest


def _payload_hash(auth: AuthResult) -> str | None:
    """The SHA-256 the body must have, or None when the payload is unsigned."""
    declared = auth.content_sha256
    if _HEX_SHA256.fullmatch(declared):
        return declared
    return None
