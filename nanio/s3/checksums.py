"""
S3's flexible checksums: the ten algorithms, their incremental hashers, and
which checksum a PutObject/UploadPart request asks for.

Owns what the ``x-amz-checksum-<algorithm>``, ``x-amz-sdk-checksum-algorithm``
and ``x-amz-trailer`` request headers mean, the S3 errors their misuse
answers with, and the final comparison of the value a client sent (in a
header or in an aws-chunked trailer) against the bytes received.  It does not
read bodies or decode aws-chunked framing (``nanio.s3.chunked`` does) and
does not decide which operations accept checksums (the web layer does).

CRC32C, CRC64NVME and the three XXHash variants come from ``awscrt``, the
AWS common runtime that botocore itself uses for them: a table-driven
pure-Python CRC runs at a few MB/s, about a thousand times slower, which a
multi-GiB upload cannot afford.  The SHAs and MD5 come from hashlib.  This
is the only nanio module that imports awscrt.

Pure code: no Twisted, no filesystem.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from awscrt import checksums as _crt  # type: ignore[import-untyped]

from nanio.errors import BadDigest, InvalidRequest, MalformedTrailerError

#: The algorithms S3 accepts, by the lower-case name its headers use (the
#: last five since April 2026).
ALGORITHMS = (
    "crc32",
    "crc32c",
    "crc64nvme",
    "sha1",
    "sha256",
    "sha512",
    "md5",
    "xxhash64",
    "xxhash3",
    "xxhash128",
)

#: Size of each algorithm's binary digest; its base64 is what clients send.
DIGEST_SIZE_BYTES = {
    "crc32": 4,
    "crc32c": 4,
    "crc64nvme": 8,
    "sha1": 20,
    "sha256": 32,
    "sha512": 64,
    "md5": 16,
    "xxhash64": 8,
    "xxhash3": 8,
    "xxhash128": 16,
}

#: How a multipart object's checksum is made from its parts' (x-amz-checksum-type):
#: a checksum of the part checksums, "<base64>-N"; or the checksum of the
#: whole object, combined from the parts' CRCs without reading the bytes again.
COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"
#: The algorithms whose values combine into a whole object's (the CRCs).
FULL_OBJECT_ALGORITHMS = ("crc32", "crc32c", "crc64nvme")
CHECKSUM_TYPE_HEADER = "x-amz-checksum-type"

CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"
SDK_ALGORITHM_HEADER = "x-amz-sdk-checksum-algorithm"
TRAILER_HEADER = "x-amz-trailer"

#: ``x-amz-checksum-<algorithm>`` for each algorithm.
HEADER_NAMES = {algorithm: CHECKSUM_HEADER_PREFIX + algorithm for algorithm in ALGORITHMS}
_ALGORITHM_BY_HEADER = {name: algorithm for algorithm, name in HEADER_NAMES.items()}

_MULTIPLE_CHECKSUMS = (
    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
)
_BAD_SDK_ALGORITHM = "Value for x-amz-sdk-checksum-algorithm header is invalid."
_SDK_ALGORITHM_ALONE = (
    "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
    "or x-amz-trailer headers were found."
)
_BAD_TRAILER_HEADER = "The value specified in the x-amz-trailer header is not supported"


class Checksum(Protocol):
    """An incremental hasher for one flexible-checksum algorithm."""

    #: The lower-case algorithm name ("crc32c").
    algorithm: str

    def update(self, data: bytes) -> None:
        """Feed the next bytes of the object."""

    def digest(self) -> bytes:
        """Return the big-endian binary digest of everything fed so far."""

    def b64digest(self) -> str:
        """Return the digest in base64, as S3 headers carry it."""


class _Base64Digest:
    """The base64 form of a hasher's ``digest()``, as S3 headers carry it."""

    __slots__ = ()

    def digest(self) -> bytes:
        raise NotImplementedError

    def b64digest(self) -> str:
        """Return the digest in base64, as S3 headers carry it."""
        return base64.b64encode(self.digest()).decode("ascii")


class _Crc32(_Base64Digest):
    """CRC32 (the zlib/gzip polynomial)."""

    __slots__ = ("_crc",)
    algorithm = "crc32"

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes) -> None:
        """Feed the next bytes of the object."""
        self._crc = zlib.crc32(data, self._crc)

    def digest(self) -> bytes:
        """Return the big-endian binary digest of everything fed so far."""
        return self._crc.to_bytes(4, "big")


class _Crc32c(_Base64Digest):
    """CRC32C (Castagnoli), through awscrt."""

    __slots__ = ("_crc",)
    algorithm = "crc32c"

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes) -> None:
        """Feed the next bytes of the object."""
        self._crc = int(_crt.crc32c(data, self._crc))

    def digest(self) -> bytes:
        """Return the big-endian binary digest of everything fed so far."""
        return self._crc.to_bytes(4, "big")


class _Crc64Nvme(_Base64Digest):
    """CRC64/NVME, through awscrt."""

    __slots__ = ("_crc",)
    algorithm = "crc64nvme"

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes) -> None:
        """Feed the next bytes of the object."""
        self._crc = int(_crt.crc64nvme(data, self._crc))

    def digest(self) -> bytes:
        """Return the big-endian binary digest of everything fed so far."""
        return self._crc.to_bytes(8, "big")


class _Hashlib(_Base64Digest):
    """SHA-1, SHA-256, SHA-512 or MD5, through hashlib."""

    __slots__ = ("_hash", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        # An integrity check, not security: MD5 stays usable on FIPS systems.
        self._hash = hashlib.new(algorithm, usedforsecurity=False)

    def update(self, data: bytes) -> None:
        """Feed the next bytes of the object."""
        self._hash.update(data)

    def digest(self) -> bytes:
        """Return the big-endian binary digest of everything fed so far."""
        return self._hash.digest()


#: awscrt's constructors of the XXHash variants S3 names.
_XXHASHES = {
    "xxhash64": _crt.XXHash.new_xxhash64,
    "xxhash3": _crt.XXHash.new_xxhash3_64,
    "xxhash128": _crt.XXHash.new_xxhash3_128,
}


class _XXHash(_Base64Digest):
    """XXH64, XXH3-64 or XXH3-128, through awscrt (digests big-endian, as S3 sends them)."""

    __slots__ = ("_hash", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._hash = _XXHASHES[algorithm]()

    def update(self, data: bytes) -> None:
        """Feed the next bytes of the object."""
        # awscrt takes bytes only, not other buffers (a memoryview).
        self._hash.update(data if type(data) is bytes else bytes(data))

    def digest(self) -> bytes:
        """Return the big-endian binary digest of everything fed so far."""
        return bytes(self._hash.finalize())


def new_checksum(algorithm: str) -> Checksum:
    """Return a fresh hasher for ``algorithm`` (one of ALGORITHMS)."""
    if algorithm == "crc32":
        return _Crc32()
    if algorithm == "crc32c":
        return _Crc32c()
    if algorithm == "crc64nvme":
        return _Crc64Nvme()
    if algorithm in ("sha1", "sha256", "sha512", "md5"):
        return _Hashlib(algorithm)
    if algorithm in _XXHASHES:
        return _XXHash(algorithm)
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def upload_checksum_type(algorithm: str | None, requested: str | None) -> str | None:
    """The checksum type of a new multipart upload: InvalidRequest for a combination S3 refuses.

    ``requested`` is the x-amz-checksum-type header (None: not sent).  Without
    it, CRC64NVME uploads are FULL_OBJECT (S3 has no composite CRC64NVME) and
    the others COMPOSITE; no algorithm, no type.
    """
    if algorithm is None:
        if requested is not None:
            raise InvalidRequest(
                "The x-amz-checksum-type header can only be used "
                "with the x-amz-checksum-algorithm header."
            )
        return None
    if requested is None:
        return FULL_OBJECT if algorithm == "crc64nvme" else COMPOSITE
    checksum_type = requested.strip().upper()
    if checksum_type == FULL_OBJECT and algorithm in FULL_OBJECT_ALGORITHMS:
        return FULL_OBJECT
    if checksum_type == COMPOSITE and algorithm != "crc64nvme":
        return COMPOSITE
    if checksum_type in (FULL_OBJECT, COMPOSITE):
        raise InvalidRequest(
            f"The {algorithm.upper()} checksum algorithm does not support "
            f"the {checksum_type} checksum type."
        )
    raise InvalidRequest(f"Value for {CHECKSUM_TYPE_HEADER} header is invalid.")


_COMBINERS = {
    "crc32": _crt.combine_crc32,
    "crc32c": _crt.combine_crc32c,
    "crc64nvme": _crt.combine_crc64nvme,
}


def combine(algorithm: str, first: bytes, second: bytes, second_length: int) -> bytes:
    """The CRC of two blocks of data one after the other, from each one's CRC (FULL_OBJECT)."""
    combined = _COMBINERS[algorithm](
        int.from_bytes(first, "big"), int.from_bytes(second, "big"), second_length
    )
    return int(combined).to_bytes(DIGEST_SIZE_BYTES[algorithm], "big")


def mismatch(algorithm: str) -> BadDigest:
    """S3's answer when a checksum the client sent does not match the bytes'."""
    return BadDigest(
        f"The {algorithm.upper()} you specified did not match the calculated checksum."
    )


def checksum_type_of(value: str) -> str:
    """The type of a stored checksum value: composite ones end in "-<parts>"."""
    return COMPOSITE if "-" in value else FULL_OBJECT


def decode_value(algorithm: str, value: str) -> bytes | None:
    """Return the digest a base64 checksum value stands for, or None if it is not one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # ValueError: a header value with non-ASCII characters.
        return None
    return raw if len(raw) == DIGEST_SIZE_BYTES[algorithm] else None


@dataclass(frozen=True, slots=True)
class ChecksumRequest:
    """The flexible checksum a request asks for, and where its value comes from.

    Build it with ``requested_checksums`` when the headers arrive; hash the
    body with ``new_checksum()``; call ``verify`` once the body (and its
    aws-chunked trailers) is complete.
    """

    #: The algorithm to compute, or None when the request asks for none.
    algorithm: str | None = None
    #: The digest sent in an ``x-amz-checksum-<algorithm>`` header, if any.
    expected: bytes | None = None
    #: ``x-amz-checksum-<algorithm>`` when ``x-amz-trailer`` announced that
    #: the value comes in the aws-chunked trailer; None otherwise.
    trailer: str | None = None

    def new_checksum(self) -> Checksum | None:
        """Return a hasher for the body, or None when no checksum is asked for."""
        return None if self.algorithm is None else new_checksum(self.algorithm)

    def verify(
        self, checksum: Checksum | None, trailers: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Check the body's checksum against the value sent; return what to store.

        ``checksum`` is the hasher ``new_checksum()`` gave, fed the whole
        decoded body; ``trailers`` the aws-chunked trailers (lower-case names,
        without the trailer signature).  The result maps the algorithm to its
        base64 digest (``ObjectMeta.checksums``); it is empty when the request
        asked for no checksum.
        """
        trailers = trailers or {}
        for name in trailers:
            if name != self.trailer:
                # S3: a trailer x-amz-trailer did not announce, or a
                # different one, is "MalformedTrailerError".
                raise MalformedTrailerError()
        if self.algorithm is None:
            return {}
        if checksum is None or checksum.algorithm != self.algorithm:
            raise ValueError("verify() needs the hasher new_checksum() returned")
        expected = self.expected
        if self.trailer is not None:
            sent = trailers.get(self.trailer)
            if sent is not None:
                expected = decode_value(self.algorithm, sent.strip())
                if expected is None:
                    raise InvalidRequest(f"Value for {self.trailer} trailing header is invalid.")
            elif expected is None:
                # Announced in x-amz-trailer, never sent.  (A header value
                # serves instead: the AWS SDK for Java v2 announces a trailer
                # yet sends the value as a header over trailerless chunks.)
                raise MalformedTrailerError()
        digest = checksum.digest()
        if expected is not None and digest != expected:
            raise mismatch(self.algorithm)
        return {self.algorithm: base64.b64encode(digest).decode("ascii")}


#: What a request without any checksum header asks for.
NO_CHECKSUM = ChecksumRequest()


def requested_checksums(headers: Mapping[str, list[str]]) -> ChecksumRequest:
    """Read the checksum a PutObject/UploadPart request asks for from its headers.

    ``headers`` maps lower-case names to the values received.  Raises the
    ``InvalidRequest`` S3 answers for contradictory or malformed headers.
    """
    # Only the algorithm names count: x-amz-checksum-algorithm,
    # -type and -mode are other headers that share the prefix.
    value_algorithm: str | None = None
    value_text = ""
    for algorithm, name in HEADER_NAMES.items():
        values = headers.get(name)
        if values is None:
            continue
        if value_algorithm is not None:
            # S3 refuses two of them even when both are empty.
            raise InvalidRequest(_MULTIPLE_CHECKSUMS)
        value_algorithm = algorithm
        # A header sent twice is invalid as a value, as its joined form would be.
        value_text = values[0].strip() if len(values) == 1 else ","
    sdk_values = headers.get(SDK_ALGORITHM_HEADER)
    trailer_values = headers.get(TRAILER_HEADER)
    if value_algorithm is None and sdk_values is None and trailer_values is None:
        return NO_CHECKSUM

    expected: bytes | None = None
    if value_algorithm is not None:
        expected = decode_value(value_algorithm, value_text)
        if expected is None:
            raise InvalidRequest(f"Value for {HEADER_NAMES[value_algorithm]} header is invalid.")

    trailer: str | None = None
    trailer_algorithm: str | None = None
    if trailer_values is not None:
        trailer = trailer_values[0].strip().lower() if len(trailer_values) == 1 else ""
        trailer_algorithm = _ALGORITHM_BY_HEADER.get(trailer)
        if trailer_algorithm is None:
            raise InvalidRequest(_BAD_TRAILER_HEADER)
        if value_algorithm is not None and value_algorithm != trailer_algorithm:
            raise InvalidRequest(_MULTIPLE_CHECKSUMS)

    requested = value_algorithm or trailer_algorithm
    if sdk_values is not None:
        # botocore sends the name upper-case ("CRC32"); S3 takes any case.
        sdk_algorithm = sdk_values[0].strip().lower() if len(sdk_values) == 1 else ""
        if sdk_algorithm not in DIGEST_SIZE_BYTES:
            raise InvalidRequest(_BAD_SDK_ALGORITHM)
        if requested is None:
            # S3 refuses this rather than computing a checksum nobody sent.
            raise InvalidRequest(_SDK_ALGORITHM_ALONE)
        if sdk_algorithm != requested:
            raise InvalidRequest(_BAD_SDK_ALGORITHM)
    return ChecksumRequest(requested, expected, trailer)
