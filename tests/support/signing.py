"""
Requests signed by botocore's own signers, as nanio's server would receive them.

Each helper signs with botocore (``S3SigV4Auth``, ``S3SigV4QueryAuth``,
``HmacV1Auth``, ``HmacV1QueryAuth``, or a whole boto3 client whose request is
captured just before it would be sent) under a fixed clock, then returns a
``SignedRequest``: method, raw path, raw query and header lists exactly as
they would arrive on the wire, with the ``Host`` header the HTTP client adds.
Beside them stand the few helpers every auth test needs: an Authenticator on a
stopped clock, a header editor, and nanio's own canonical request to compare.

Only test code uses this module; it may import botocore and boto3.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import email.utils
import functools
import hashlib
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec
from unittest import mock
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
from botocore import httpchecksum
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

from nanio.s3 import sigv4
from nanio.s3.auth import Authenticator, SignedRequest

if TYPE_CHECKING:
    from nanio.s3.chunked import ChunkedDecoder

ENDPOINT = "http://localhost:9000"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
#: The instant every helper signs at unless told otherwise.
WHEN = datetime.datetime(2026, 11, 25, 1, 2, 3, tzinfo=datetime.UTC)
WHEN_EPOCH = WHEN.timestamp()

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | None
P = ParamSpec("P")


def object_url(bucket: str, key: str = "", query: str = "", endpoint: str = ENDPOINT) -> str:
    """Build a path-style URL, encoding the key as botocore's serializer does."""
    path = f"/{bucket}"
    if key:
        path += "/" + quote(key, safe="/~")
    return f"{endpoint}{path}?{query}" if query else f"{endpoint}{path}"


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Encode query parameters the way botocore puts them in a URL."""
    return str(percent_encode_sequence(list(pairs)))


#: Keys whose characters clients and servers most often disagree about.
AWKWARD_KEYS = [
    "plain.txt",
    "with space",
    "unicode-€-ü-日本語",
    "plus+sign",
    "equals=sign",
    "percent%sign",
    "percent%20literal",
    "tilde~",
    "bang!",
    "star*",
    "quote'",
    "paren(s)",
    "dir/sub/file",
    "all a+b=c%d~e!f*g'h(i)€",
]

#: Query strings as botocore puts them on the wire.
QUERIES = [
    encode_query([("list-type", "2"), ("prefix", "a b"), ("delimiter", "/")]),
    encode_query([("prefix", "a b"), ("delimiter", "/"), ("list-type", "2")]),
    "uploads",
    "acl",
    encode_query([("response-content-type", "text/plain")]),
    encode_query([("prefix", ""), ("delimiter", "/")]),
    encode_query([("prefix", "x+y=z&w"), ("marker", "€")]),
    "b=2&a=1&a=0",
    "versionId=&tagging",
    "tag=b&tag=a&tag=a%20b",
]


def host_from_url(url: str) -> str:
    """Return the Host header an HTTP client sends for ``url``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return host


def authenticator_at(now: float = WHEN_EPOCH) -> Authenticator:
    """An Authenticator that knows the test key pair and reads a clock stopped at ``now``."""
    return Authenticator({ACCESS_KEY: SECRET_KEY}.get, clock=lambda: now)


def with_headers(request: SignedRequest, **changes: list[str] | None) -> SignedRequest:
    """Return ``request`` with headers replaced (a list) or removed (None); "_" spells "-"."""
    headers = dict(request.headers)
    for name, values in changes.items():
        name = name.replace("_", "-")
        if values is None:
            headers.pop(name, None)
        else:
            headers[name] = values
    return dataclasses.replace(request, headers=headers)


def nanio_canonical_request(
    request: SignedRequest, signed_headers: str, payload: str, *, presigned: bool
) -> str:
    """Build the SigV4 canonical request from nanio's own functions, as nanio.s3.auth does."""
    return sigv4.canonical_request(
        request.method,
        sigv4.canonical_uri(request.raw_path),
        sigv4.canonical_query(request.raw_query, drop_signature=presigned),
        sigv4.canonical_headers(signed_headers.split(";"), request.headers),
        signed_headers,
        payload,
    )


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Normalise the header inputs the helpers accept to (name, value) pairs."""
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    pairs = []
    for name, value in items:
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        pairs.append((str(name), str(value)))
    return pairs


def to_signed_request(
    method: str, url: str, headers: HeaderInput, *, virtual_host_bucket: str | None = None
) -> SignedRequest:
    """Turn a URL and the headers a client sends into what the server receives."""
    parts = urlsplit(url)
    received: dict[str, list[str]] = {}
    for name, value in _header_pairs(headers):
        received.setdefault(name.lower(), []).append(value)
    received.setdefault("host", [host_from_url(url)])
    return SignedRequest(
        method=method.upper(),
        raw_path=parts.path or "/",
        raw_query=parts.query,
        headers=received,
        virtual_host_bucket=virtual_host_bucket,
    )


def _aws_request(
    method: str, url: str, headers: HeaderInput, body: bytes = b"", auth_path: str | None = None
) -> AWSRequest:
    """Build an AWSRequest whose headers may repeat a name."""
    request = AWSRequest(method=method, url=url, data=body, auth_path=auth_path)
    for name, value in _header_pairs(headers):
        # HTTPHeaders appends on assignment, so a repeated name stays repeated.
        request.headers[name] = value
    return request


@contextlib.contextmanager
def frozen_botocore_clock(when: datetime.datetime = WHEN) -> Iterator[None]:
    """Make every botocore signer believe it is ``when``."""
    naive = when.astimezone(datetime.UTC).replace(tzinfo=None)
    epoch = when.timestamp()

    def v2_query_date(signer: HmacV1QueryAuth) -> str:
        return str(int(epoch + int(signer._expires)))

    def current_datetime(remove_tzinfo: bool = True) -> datetime.datetime:
        return naive if remove_tzinfo else when.astimezone(datetime.UTC)

    # With awscrt installed, botocore signs SigV4 with the CRT signers, which
    # read the time through their own import of the same function.
    crt_auth = sys.modules.get("botocore.crt.auth")
    crt_patch = (
        mock.patch.object(crt_auth, "get_current_datetime", current_datetime)
        if crt_auth is not None
        else contextlib.nullcontext()
    )
    with (
        crt_patch,
        # SigV4 signers read the time through this one function.
        mock.patch.object(botocore.auth, "get_current_datetime", current_datetime),
        # HmacV1Auth dates its requests with email.utils.formatdate().
        mock.patch.object(
            botocore.auth, "formatdate", return_value=email.utils.formatdate(epoch, usegmt=True)
        ),
        # HmacV1QueryAuth computes Expires from time.time().
        mock.patch.object(HmacV1QueryAuth, "_get_date", v2_query_date),
    ):
        yield


class _Recording:
    """Mixin for a botocore SigV4 signer that keeps the canonical request it signed."""

    recorded = ""

    def canonical_request(self, request: AWSRequest) -> str:
        self.recorded = str(super().canonical_request(request))  # type: ignore[misc]
        return self.recorded


class _RecordingSigV4(_Recording, S3SigV4Auth):
    """S3SigV4Auth that keeps the canonical request it signed."""


class _RecordingSigV4Query(_Recording, S3SigV4QueryAuth):
    """S3SigV4QueryAuth that keeps the canonical request it signed."""


def _request_only(
    sign: Callable[P, tuple[SignedRequest, str]], name: str, doc: str
) -> Callable[P, SignedRequest]:
    """Wrap a helper that returns (request, botocore's signed text) to return the request."""

    @functools.wraps(sign)
    def request_only(*args: P.args, **kwargs: P.kwargs) -> SignedRequest:
        return sign(*args, **kwargs)[0]

    request_only.__name__ = request_only.__qualname__ = name
    request_only.__doc__ = doc
    return request_only


def canonical_request_v4(
    method: str,
    url: str,
    headers: HeaderInput = None,
    body: bytes = b"",
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    region: str = REGION,
    when: datetime.datetime = WHEN,
    payload: str = "signed",
) -> tuple[SignedRequest, str]:
    """Sign with S3SigV4Auth; return the request and botocore's canonical request.

    ``payload`` is "signed", "unsigned" (UNSIGNED-PAYLOAD) or "trailer"
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
    """
    request = _aws_request(method, url, headers, body)
    if payload == "unsigned":
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    elif payload == "trailer":
        request.context["checksum"] = {"request_algorithm": {"in": "trailer", "name": "crc32"}}
    signer = _RecordingSigV4(Credentials(access_key, secret), "s3", region)
    with frozen_botocore_clock(when):
        signer.add_auth(request)
    return to_signed_request(method, request.url, request.headers.items()), signer.recorded


sign_v4_headers = _request_only(
    canonical_request_v4, "sign_v4_headers", "Sign with S3SigV4Auth; return the request alone."
)


def canonical_request_presigned_v4(
    method: str,
    url: str,
    expires: int = 3600,
    headers: HeaderInput = None,
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    region: str = REGION,
    when: datetime.datetime = WHEN,
) -> tuple[SignedRequest, str]:
    """Presign with S3SigV4QueryAuth; return the request and botocore's canonical request."""
    request = _aws_request(method, url, headers)
    signer = _RecordingSigV4Query(Credentials(access_key, secret), "s3", region, expires=expires)
    with frozen_botocore_clock(when):
        signer.add_auth(request)
    # The client then sends only the headers it was told to, plus Host.
    return to_signed_request(method, request.url, headers), signer.recorded


presign_v4 = _request_only(
    canonical_request_presigned_v4,
    "presign_v4",
    "Presign with S3SigV4QueryAuth; the client then sends ``headers`` and Host.",
)


class _RecordingHmacV1(HmacV1Auth):
    """HmacV1Auth that keeps the string it signed."""

    recorded = ""

    def canonical_string(self, *args: Any, **kwargs: Any) -> str:
        self.recorded = str(super().canonical_string(*args, **kwargs))
        return self.recorded


def string_to_sign_v2(
    method: str,
    url: str,
    headers: HeaderInput = None,
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    when: datetime.datetime = WHEN,
    virtual_host_bucket: str | None = None,
) -> tuple[SignedRequest, str]:
    """Sign with HmacV1Auth; return the request and botocore's string to sign."""
    auth_path = None
    if virtual_host_bucket is not None:
        # What botocore records when it moves the bucket into the host name.
        auth_path = f"/{virtual_host_bucket}{urlsplit(url).path or '/'}"
    request = _aws_request(method, url, headers, auth_path=auth_path)
    signer = _RecordingHmacV1(Credentials(access_key, secret))
    with frozen_botocore_clock(when):
        signer.add_auth(request)
    signed = to_signed_request(
        method, request.url, request.headers.items(), virtual_host_bucket=virtual_host_bucket
    )
    return signed, signer.recorded


sign_v2 = _request_only(
    string_to_sign_v2, "sign_v2", "Sign with HmacV1Auth (the Authorization: AWS AKID:sig form)."
)


def presign_v2(
    method: str,
    url: str,
    expires: int = 3600,
    headers: HeaderInput = None,
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    when: datetime.datetime = WHEN,
) -> SignedRequest:
    """Presign with HmacV1QueryAuth (AWSAccessKeyId, Signature, Expires in the query)."""
    request = _aws_request(method, url, headers)
    signer = HmacV1QueryAuth(Credentials(access_key, secret), expires=expires)
    with frozen_botocore_clock(when):
        signer.add_auth(request)
    return to_signed_request(method, request.url, headers)


def boto3_client(
    signature_version: str | None = "s3v4",
    addressing_style: str = "path",
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    region: str = REGION,
    endpoint: str = ENDPOINT,
    **config: Any,
) -> Any:
    """Build a boto3 S3 client for ``endpoint`` (ENDPOINT) that never retries.

    ``signature_version=None`` keeps botocore's default, which presigns with
    SigV2 for a custom endpoint (what ``aws s3 presign`` of aws-cli v1 does).
    """
    if signature_version is not None:
        config["signature_version"] = signature_version
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(
            s3={"addressing_style": addressing_style},
            retries={"total_max_attempts": 1},
            **config,
        ),
    )


class _Captured(Exception):
    """Carries the prepared request out of botocore instead of sending it."""

    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request: AWSPreparedRequest, **kwargs: Any) -> None:
    """A before-send handler that stops the request at the wire."""
    raise _Captured(request)


def capture(
    client: Any,
    operation: str,
    *,
    when: datetime.datetime = WHEN,
    virtual_host_bucket: str | None = None,
    **params: Any,
) -> SignedRequest:
    """Call ``client.<operation>(**params)`` and return the request it would send."""
    client.meta.events.register("before-send.s3", _capture, unique_id="nanio-capture")
    try:
        with frozen_botocore_clock(when):
            getattr(client, operation)(**params)
    except _Captured as captured:
        request = captured.request
    else:  # pragma: no cover - the handler always raises
        raise AssertionError("the request was not captured")
    finally:
        client.meta.events.unregister("before-send.s3", unique_id="nanio-capture")
    return to_signed_request(
        request.method,
        request.url,
        request.headers.items(),
        virtual_host_bucket=virtual_host_bucket,
    )


def boto3_presigned(
    client: Any,
    operation: str,
    params: Mapping[str, Any],
    expires: int = 3600,
    *,
    when: datetime.datetime = WHEN,
    headers: HeaderInput = None,
    virtual_host_bucket: str | None = None,
) -> SignedRequest:
    """Return the request a plain HTTP client makes for a boto3 presigned URL."""
    with frozen_botocore_clock(when):
        url = client.generate_presigned_url(operation, Params=dict(params), ExpiresIn=expires)
    method = {"get_object": "GET", "put_object": "PUT", "head_object": "HEAD"}.get(operation, "GET")
    return to_signed_request(method, url, headers, virtual_host_bucket=virtual_host_bucket)


def _s3cmd_headers(access_key: str, secret: str, headers: Iterable[tuple[str, str]]) -> Any:
    """Point s3cmd's process-wide Config at these credentials; return its header dict."""
    from S3.Config import Config as S3cmdConfig
    from S3.SortedDict import SortedDict

    config = S3cmdConfig()
    config.access_key = access_key
    config.secret_key = secret
    sorted_headers = SortedDict(ignore_case=True)
    for name, value in headers:
        sorted_headers[name] = value
    return sorted_headers


@contextlib.contextmanager
def _frozen_s3cmd_clock(when: datetime.datetime) -> Iterator[None]:
    """Make s3cmd's SigV4 signer believe it is ``when``."""
    import S3.Crypto

    naive = when.astimezone(datetime.UTC).replace(tzinfo=None)

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls) -> datetime.datetime:  # type: ignore[override]
            return naive

    # s3cmd calls datetime.datetime.utcnow() through its module global.
    with mock.patch.object(S3.Crypto, "datetime", mock.Mock(datetime=FrozenDatetime)):
        yield


def _s3cmd_request(
    method: str, path: str, params: Mapping[str, str | None], signed_headers: Any
) -> SignedRequest:
    """The request s3cmd sends: path and parameters encoded as it puts them on the wire."""
    from S3.BaseUtils import s3_quote
    from S3.Crypto import format_param_str

    target = str(s3_quote(path, quote_backslashes=False, unicode_output=True)) + str(
        format_param_str(dict(params))
    )
    return to_signed_request(method, ENDPOINT + target, list(signed_headers.items()))


def s3cmd_sign_v4(
    method: str,
    path: str,
    params: Mapping[str, str | None] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    region: str = REGION,
    when: datetime.datetime = WHEN,
) -> SignedRequest:
    """Sign a path-style request with s3cmd 2.4's own SigV4 code."""
    from S3 import Crypto

    sorted_headers = _s3cmd_headers(access_key, secret, (headers or {}).items())
    host = host_from_url(ENDPOINT)
    with _frozen_s3cmd_clock(when):
        signed_headers = Crypto.sign_request_v4(
            method, host, path, dict(params or {}), region, sorted_headers, body
        )
    return _s3cmd_request(method, path, params or {}, signed_headers)


def s3cmd_sign_v2(
    method: str,
    path: str,
    params: Mapping[str, str | None] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    when: datetime.datetime = WHEN,
) -> SignedRequest:
    """Sign a path-style request with s3cmd 2.4's own SigV2 code."""
    from S3 import Crypto

    # s3cmd dates its requests with x-amz-date in RFC 1123 form.
    dated = [("x-amz-date", email.utils.formatdate(when.timestamp(), usegmt=True))]
    sorted_headers = _s3cmd_headers(access_key, secret, [*dated, *(headers or {}).items()])
    signed_headers = Crypto.sign_request_v2(method, path, dict(params or {}), sorted_headers)
    return _s3cmd_request(method, path, params or {}, signed_headers)


# -- aws-chunked bodies --------------------------------------------------------
# Encoders written from AWS's "Signature Calculations for the Authorization
# Header: Transferring Payload in Multiple Chunks" and "... Including Trailing
# Headers", without nanio.s3.chunked or nanio.s3.sigv4, so the decoder is
# checked against a second reading of the documents rather than itself;
# decode_chunked only drives the decoder under test.


def sigv4_signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """Derive a SigV4 signing key the way the AWS document lays it out."""
    import hashlib
    import hmac

    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_chunked_body(
    chunks: Iterable[bytes],
    *,
    signing_key: bytes,
    amz_date: str,
    scope: str,
    seed_signature: str,
    trailers: Iterable[tuple[str, str]] | None = None,
) -> tuple[bytes, list[str]]:
    """Frame ``chunks`` as a signed aws-chunked body; return it and its signatures in order.

    The final empty chunk is added.  Without ``trailers`` the body is
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD; with them (even none) it is
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER and the last signature is the
    trailer's.
    """
    import hashlib
    import hmac

    def sign(*lines: str) -> str:
        return hmac.new(signing_key, "\n".join(lines).encode(), hashlib.sha256).hexdigest()

    empty_hash = hashlib.sha256(b"").hexdigest()
    previous = seed_signature
    signatures: list[str] = []
    parts: list[bytes] = []
    for data in [*chunks, b""]:
        data_hash = hashlib.sha256(data).hexdigest()
        previous = sign(
            "AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty_hash, data_hash
        )
        signatures.append(previous)
        parts.append(f"{len(data):x};chunk-signature={previous}\r\n".encode())
        if data:
            parts.append(data + b"\r\n")
    if trailers is not None:
        lines = "".join(f"{name}:{value}\n" for name, value in trailers)
        trailer_hash = hashlib.sha256(lines.encode()).hexdigest()
        previous = sign("AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous, trailer_hash)
        signatures.append(previous)
        parts.append(lines.replace("\n", "\r\n").encode())
        parts.append(f"x-amz-trailer-signature:{previous}\r\n".encode())
    parts.append(b"\r\n")
    return b"".join(parts), signatures


def decode_chunked(decoder: ChunkedDecoder, pieces: Iterable[bytes]) -> bytes:
    """Feed every piece to an aws-chunked decoder, finish, and return the object bytes."""
    out = bytearray()
    for piece in pieces:
        for decoded in decoder.feed(piece):
            out += decoded
    decoder.finish()
    return bytes(out)


def unsigned_chunked_body(
    chunks: Iterable[bytes], trailers: Iterable[tuple[str, str]] = ()
) -> bytes:
    """Frame ``chunks`` as a STREAMING-UNSIGNED-PAYLOAD-TRAILER body."""
    parts = [b"%x\r\n%s\r\n" % (len(data), data) for data in chunks if data]
    parts.append(b"0\r\n")
    parts.extend(f"{name}:{value}\r\n".encode() for name, value in trailers)
    parts.append(b"\r\n")
    return b"".join(parts)


class _Md5Checksum(httpchecksum.BaseChecksum):
    """MD5 in botocore's checksum interface: botocore passes MD5 values through and has none."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)

    def digest(self) -> bytes:
        return self._md5.digest()


#: botocore's hasher of each flexible checksum algorithm (MD5: hashlib's, in its interface).
BOTOCORE_CHECKSUMS: dict[str, Any] = {
    "crc32": httpchecksum.Crc32Checksum,
    "crc32c": httpchecksum.CrtCrc32cChecksum,
    "crc64nvme": httpchecksum.CrtCrc64NvmeChecksum,
    "sha1": httpchecksum.Sha1Checksum,
    "sha256": httpchecksum.Sha256Checksum,
    "sha512": httpchecksum.Sha512Checksum,
    "md5": _Md5Checksum,
    "xxhash64": httpchecksum.CrtXxhash64Checksum,
    "xxhash3": httpchecksum.CrtXxhash3Checksum,
    "xxhash128": httpchecksum.CrtXxhash128Checksum,
}


def botocore_chunked_body(
    data: bytes, algorithm: str | None = "crc32", chunk_size: int = 1024 * 1024
) -> bytes:
    """Encode ``data`` with botocore's own aws-chunked encoder and checksum trailer."""
    import io

    wrapper = httpchecksum.AwsChunkedWrapper(
        io.BytesIO(data),
        checksum_cls=BOTOCORE_CHECKSUMS[algorithm] if algorithm else None,
        checksum_name=f"x-amz-checksum-{algorithm}",
        chunk_size=chunk_size,
    )
    return bytes(wrapper.read())
