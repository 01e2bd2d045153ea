"""
The ``Content-Encoding: aws-chunked`` body framing and its SigV4 chunk
signatures.

A client that sends ``x-amz-content-sha256`` as one of the ``STREAMING-*``
values frames the object like this (AWS, "Signature Calculations for the
Authorization Header: Transferring Payload in Multiple Chunks" and
"... Including Trailing Headers")::

    hex-size[;chunk-signature=<64 hex>]\\r\\n <size bytes> \\r\\n   (repeated)
    0[;chunk-signature=<64 hex>]\\r\\n
    [name:value\\r\\n ...] [x-amz-trailer-signature:<64 hex>\\r\\n]
    \\r\\n

Each chunk signature signs the chunk's data and the previous signature,
starting from the request's own (seed) signature; the trailer signature
continues the chain over the trailer lines.

This module owns the incremental decoder, which accepts the body split
anywhere (down to one byte at a time), passes object bytes through as they
arrive without accumulating them, holds at most one header or trailer line,
and raises the S3 error S3 answers with:

- broken framing (a size that is not hex, a missing CRLF, data longer than
  declared, a line over ``LINE_LIMIT_BYTES``, bytes after the end) and a
  stream that stops early: ``IncompleteBody``, "The request body terminated
  unexpectedly", which S3 answers for any malformed aws-chunked encoding;
- a chunk or trailer signature that does not verify: ``SignatureDoesNotMatch``;
- a trailer that is not ``name:value``, repeats a name, follows the trailer
  signature, exceeds ``TRAILER_LIMIT_BYTES`` or appears where the payload
  type announced none: ``MalformedTrailerError``;
- a chunk over ``max_chunk_bytes``: ``EntityTooLarge``.

S3 also refuses signed chunks under 8 KiB other than the last
(``InvalidChunkSizeError``); nanio does not, since clients differ in how they
cut their last chunks and the size costs nanio nothing.

Object bytes are handed on before the chunk's signature (which follows the
data) can be checked: nothing decoded may be committed before ``finish()``
returns.  Which trailers a request may carry, and what their checksum must
be, is ``nanio.s3.checksums``'s business.

Pure code: no Twisted, no filesystem.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from nanio.errors import (
    EntityTooLarge,
    IncompleteBody,
    MalformedTrailerError,
    S3Error,
    SignatureDoesNotMatch,
)
from nanio.s3 import sigv4
from nanio.s3.auth import AuthResult

#: The "algorithm" line of a chunk's string to sign.
PAYLOAD_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
#: The "algorithm" line of the trailer's string to sign.
TRAILER_ALGORITHM = "AWS4-HMAC-SHA256-TRAILER"
#: The trailer line carrying the trailer signature.
TRAILER_SIGNATURE_NAME = "x-amz-trailer-signature"

#: The longest chunk-size line accepted (a signed one is about 90 bytes).
LINE_LIMIT_BYTES = 4096
#: The most trailer bytes accepted (a checksum and its signature take ~130).
TRAILER_LIMIT_BYTES = 4096
#: The default largest chunk: S3's largest single PUT.  Chunk data is never
#: buffered, so this bounds nothing but nonsense sizes.
CHUNK_LIMIT_BYTES = 5 * 1024**3

_TERMINATED = "The request body terminated unexpectedly"

_SIGNED_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16});chunk-signature=([0-9A-Fa-f]{64})")
# Unsigned chunks: HTTP/1.1 chunk extensions are allowed and ignored.
_UNSIGNED_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?")
# name:value; the name is an HTTP token (visible ASCII but ':'), and optional
# blanks around the value are not part of it.
_TRAILER_LINE = re.compile(rb"([!-9;-~]+):[ \t]*(.*?)[ \t]*")

_EMPTY_SHA256 = sigv4.EMPTY_SHA256.encode("ascii")

# Decoder states.
_SIZE_LINE = 0
_DATA = 1
_DATA_CRLF = 2
_TRAILER = 3
_DONE = 4


class ChunkSigner:
    """The chain of chunk signatures of one SigV4 streaming request."""

    __slots__ = ("_access_key", "_chunk_prefix", "_key", "_previous", "_trailer_prefix")

    def __init__(
        self,
        signing_key: bytes,
        amz_date: str,
        scope: str,
        seed_signature: str,
        *,
        access_key: str = "",
    ) -> None:
        self._key = sigv4.SigningKey(signing_key, hmac.new(signing_key, digestmod=hashlib.sha256))
        # The first three lines of every string to sign never change.
        self._chunk_prefix = f"{PAYLOAD_ALGORITHM}\n{amz_date}\n{scope}\n".encode()
        self._trailer_prefix = f"{TRAILER_ALGORITHM}\n{amz_date}\n{scope}\n".encode()
        self._previous = seed_signature.encode("ascii")
        self._access_key = access_key

    @classmethod
    def for_auth(cls, auth: AuthResult) -> ChunkSigner:
        """Start the chain of a request SigV4 authenticated."""
        if auth.signing_key is None or not auth.seed_signature:
            raise ValueError("aws-chunked signatures need a SigV4-authenticated request")
        return cls(
            auth.signing_key,
            auth.amz_date,
            auth.scope,
            auth.seed_signature,
            access_key=auth.access_key,
        )

    def chunk_signature(self, data_sha256_hex: bytes) -> str:
        """Return the signature the next chunk must carry, given its data's hex SHA-256."""
        return self._key.sign(
            b"%s%s\n%s\n%s" % (self._chunk_prefix, self._previous, _EMPTY_SHA256, data_sha256_hex)
        )

    def trailer_signature(self, trailer_sha256_hex: bytes) -> str:
        """Return the signature the trailer must carry, given its lines' hex SHA-256."""
        return self._key.sign(
            b"%s%s\n%s" % (self._trailer_prefix, self._previous, trailer_sha256_hex)
        )

    def verify_chunk(self, data_sha256_hex: bytes, provided: str) -> None:
        """Check the next chunk's signature and move the chain past it."""
        self._advance(self.chunk_signature(data_sha256_hex), provided)

    def verify_trailer(self, trailer_sha256_hex: bytes, provided: str) -> None:
        """Check the trailer signature, the last link of the chain."""
        self._advance(self.trailer_signature(trailer_sha256_hex), provided)

    def _advance(self, expected: str, provided: str) -> None:
        """Refuse ``provided`` unless it is ``expected``; else make it the previous link."""
        # compare_digest refuses non-ASCII str; such a signature is just wrong.
        if not (provided.isascii() and hmac.compare_digest(expected, provided)):
            error = SignatureDoesNotMatch()
            if self._access_key:
                error.fields["AWSAccessKeyId"] = self._access_key
            raise error
        self._previous = expected.encode("ascii")


class ChunkedDecoder:
    """An incremental decoder of one aws-chunked request body.

    Call ``feed`` with the body as it arrives, in pieces of any size, and
    pass on the object bytes it returns; call ``finish`` once the body has
    ended.  After either raises, the decoder raises that error again.
    """

    __slots__ = (
        "_chunk_hash",
        "_crlf_seen",
        "_error",
        "_expect_trailer",
        "_line",
        "_max_chunk_bytes",
        "_remaining",
        "_signature",
        "_signer",
        "_size_line",
        "_state",
        "_trailer_bytes",
        "_trailer_signature",
        "_trailer_text",
        "decoded_length",
        "trailers",
    )

    def __init__(
        self,
        *,
        signer: ChunkSigner | None,
        expect_trailer: bool,
        max_chunk_bytes: int = CHUNK_LIMIT_BYTES,
    ) -> None:
        self._signer = signer
        self._expect_trailer = expect_trailer
        self._max_chunk_bytes = max_chunk_bytes
        self._size_line = _SIGNED_SIZE_LINE if signer is not None else _UNSIGNED_SIZE_LINE
        self._state = _SIZE_LINE
        # The part of a size or trailer line that arrived without its end.
        self._line = bytearray()
        self._remaining = 0
        self._crlf_seen = 0
        self._chunk_hash: hashlib._Hash | None = None
        self._signature = ""
        self._trailer_bytes = 0
        self._trailer_text = bytearray()
        self._trailer_signature: str | None = None
        self._error: S3Error | None = None
        #: Object bytes decoded so far (to check x-amz-decoded-content-length).
        self.decoded_length = 0
        #: The trailers received, lower-case names, without the trailer signature.
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes) -> list[bytes]:
        """Decode the next piece of the body; return the object bytes it held."""
        if self._error is not None:
            raise self._error
        pieces: list[bytes] = []
        try:
            self._feed(data, pieces)
        except S3Error as error:
            self._error = error
            raise
        return pieces

    def finish(self) -> None:
        """Refuse a body that ended before its final chunk, trailers and CRLF."""
        if self._error is not None:
            raise self._error
        if self._state != _DONE:
            self._error = IncompleteBody(_TERMINATED)
            raise self._error

    def _feed(self, data: bytes, pieces: list[bytes]) -> None:
        """Run the state machine over ``data``, appending object bytes to ``pieces``."""
        position = 0
        end = len(data)
        while position < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - position)
                # A whole read inside a chunk (the common case) slices to the
                # very same bytes object: no copy.
                piece = data[position : position + take]
                if self._chunk_hash is not None:
                    self._chunk_hash.update(piece)
                pieces.append(piece)
                position += take
                self.decoded_length += take
                self._remaining -= take
                if not self._remaining:
                    self._chunk_data_ended()
            elif state == _DATA_CRLF:
                seen = self._crlf_seen
                expected = b"\r\n"[seen:]
                got = data[position : position + len(expected)]
                if not expected.startswith(got):
                    # Data longer than its declared size, or no CRLF after it.
                    raise IncompleteBody(_TERMINATED)
                position += len(got)
                self._crlf_seen = seen + len(got)
                if self._crlf_seen == 2:
                    self._state = _SIZE_LINE
            elif state == _DONE:
                raise IncompleteBody(_TERMINATED)
            else:
                position = self._read_line(data, position, end)

    def _read_line(self, data: bytes, position: int, end: int) -> int:
        """Take one size or trailer line from ``data``; return where the next byte is."""
        newline = data.find(b"\n", position)
        held = len(self._line)
        if newline < 0:
            # Never buffer more than one line's worth, whatever the client sends.
            if held + end - position > LINE_LIMIT_BYTES:
                self._line_too_long()
            self._line += data[position:end]
            return end
        if held + newline - position > LINE_LIMIT_BYTES:
            self._line_too_long()
        if held:
            self._line += data[position:newline]
            line = bytes(self._line)
            self._line.clear()
        else:
            line = data[position:newline]
        if not line.endswith(b"\r"):
            raise IncompleteBody(_TERMINATED)
        if self._state == _SIZE_LINE:
            self._size_line_received(line[:-1])
        else:
            self._trailer_line_received(line[:-1])
        return newline + 1

    def _line_too_long(self) -> None:
        """Refuse a line longer than any legitimate client sends."""
        if self._state == _SIZE_LINE:
            raise IncompleteBody(_TERMINATED)
        raise MalformedTrailerError()

    def _size_line_received(self, line: bytes) -> None:
        """Start a chunk from its ``hex-size[;chunk-signature=...]`` line."""
        match = self._size_line.fullmatch(line)
        if match is None:
            raise IncompleteBody(_TERMINATED)
        size = int(match[1], 16)
        if size > self._max_chunk_bytes:
            raise EntityTooLarge()
        if self._signer is not None:
            self._signature = match[2].decode("ascii")
        if size:
            self._remaining = size
            self._state = _DATA
            if self._signer is not None:
                self._chunk_hash = hashlib.sha256()
            return
        # The final, empty chunk: its signature covers no data.
        if self._signer is not None:
            self._signer.verify_chunk(_EMPTY_SHA256, self._signature)
        self._state = _TRAILER

    def _chunk_data_ended(self) -> None:
        """Check the signature of the chunk whose data just ended."""
        if self._chunk_hash is not None and self._signer is not None:
            digest = self._chunk_hash.hexdigest().encode("ascii")
            self._chunk_hash = None
            self._signer.verify_chunk(digest, self._signature)
        self._crlf_seen = 0
        self._state = _DATA_CRLF

    def _trailer_line_received(self, line: bytes) -> None:
        """Take one trailer line, or the empty line that ends the body."""
        if not line:
            self._trailers_ended()
            self._state = _DONE
            return
        self._trailer_bytes += len(line) + 2
        if (
            not self._expect_trailer
            or self._trailer_bytes > TRAILER_LIMIT_BYTES
            # The signature closes the trailer: nothing may follow it.
            or self._trailer_signature is not None
        ):
            raise MalformedTrailerError()
        match = _TRAILER_LINE.fullmatch(line)
        if match is None:
            raise MalformedTrailerError()
        name = match[1].decode("ascii").lower()
        value = match[2].decode("latin-1")
        if self._signer is not None:
            if name == TRAILER_SIGNATURE_NAME:
                self._trailer_signature = value
                return
            # The trailer signature signs each line as sent, "\n"-terminated.
            self._trailer_text += line
            self._trailer_text += b"\n"
        if name in self.trailers:
            raise MalformedTrailerError()
        self.trailers[name] = value

    def _trailers_ended(self) -> None:
        """Check the trailer signature of a signed stream that has trailers."""
        if self._signer is None or (not self.trailers and self._trailer_signature is None):
            return
        if self._trailer_signature is None:
            # Trailers nobody signed could carry any checksum.
            raise SignatureDoesNotMatch()
        digest = hashlib.sha256(self._trailer_text).hexdigest().encode("ascii")
        self._signer.verify_trailer(digest, self._trailer_signature)


def decoder_for(
    auth: AuthResult, *, max_chunk_bytes: int = CHUNK_LIMIT_BYTES
) -> ChunkedDecoder | None:
    """Return the decoder a request's x-amz-content-sha256 calls for; None if not aws-chunked."""
    mode = auth.content_sha256
    if mode == sigv4.STREAMING_SIGNED_PAYLOAD:
        return ChunkedDecoder(
            signer=ChunkSigner.for_auth(auth),
            expect_trailer=False,
            max_chunk_bytes=max_chunk_bytes,
        )
    if mode == sigv4.STREAMING_SIGNED_PAYLOAD_TRAILER:
        return ChunkedDecoder(
            signer=ChunkSigner.for_auth(auth),
            expect_trailer=True,
            max_chunk_bytes=max_chunk_bytes,
        )
    if mode == sigv4.STREAMING_UNSIGNED_PAYLOAD_TRAILER:
        return ChunkedDecoder(signer=None, expect_trailer=True, max_chunk_bytes=max_chunk_bytes)
    return None
