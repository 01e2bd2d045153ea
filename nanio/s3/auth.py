"""
Request authentication: which scheme a request uses, and whether it holds.

Owns the policy around the signature algorithms of ``nanio.s3.sigv4`` and
``nanio.s3.sigv2``: choosing the scheme (SigV4 header or presigned query,
SigV2 header or presigned query), the clock-skew window, presigned URL
expiry, the required headers, and the S3 error each failure answers with.
There is no anonymous access: a request without credentials is refused.

Errors never carry the secret key or the signature the server expected, and
this module never logs.  Pure code: no Twisted, no filesystem; the clock and
the access-key lookup are injected.
"""

from __future__ import annotations

import email.utils
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from nanio.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
)
from nanio.s3 import sigv2, sigv4
from nanio.s3.numbers import decimal, digits_for

#: How far a request's own timestamp may be from the server clock.
CLOCK_SKEW_SECONDS = 900
#: The longest lifetime S3 allows a SigV4 presigned URL (seven days).
PRESIGNED_MAX_EXPIRES_SECONDS = 604800
_EXPIRES_DIGITS = digits_for(PRESIGNED_MAX_EXPIRES_SECONDS)
#: Digits of epoch seconds until the year 33658: a SigV2 Expires with more
#: is in the future of any clock.
_EPOCH_DIGITS = 12

_MISSING_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_V4_QUERY_PARAMETERS = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, "
    "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
    "and X-Amz-Expires parameters."
)
_V2_QUERY_PARAMETERS = (
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
)
_V4_QUERY_NAMES = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"})
_V2_QUERY_NAMES = frozenset({"AWSAccessKeyId", "Signature"})
_QUERY_AUTH_NAMES = _V4_QUERY_NAMES | _V2_QUERY_NAMES
_BAD_PAYLOAD_HASH = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
    "or a valid sha256 value."
)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What authentication needs of a request, exactly as it arrived."""

    #: "GET", upper case.
    method: str
    #: The request line's path, still percent-encoded, no query ("/bkt/a%20b"),
    #: latin-1 decoded.
    raw_path: str
    #: The query string as received, without "?"; "" when there is none.
    raw_query: str
    #: Lower-case header name -> values as received, in order (latin-1
    #: decoded; a header sent twice has two values).
    headers: Mapping[str, list[str]]
    #: The bucket named by the Host header of a virtual-host style request,
    #: None for path style.  Only SigV2 needs it: its canonicalized resource
    #: is "/bucket/key" whatever the addressing style.
    virtual_host_bucket: str | None = None
    #: The raw path prefix where nanio is mounted in a foreign site ("/s3"),
    #: "" at the root.  SigV4 signs the whole path; botocore's SigV2 signer
    #: signs only the S3 resource below it.
    mount: str = ""
    #: The query already decoded by the caller (first value of each name),
    #: so that a presigned request is not parsed twice; None: decoded here.
    query: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who signed a request, and what the body must still prove."""

    access_key: str
    #: 2 or 4.
    signature_version: int
    #: The x-amz-content-sha256 value (SigV4 header auth): a 64-hex-char hash
    #: the body must match, "UNSIGNED-PAYLOAD", or one of the STREAMING-*
    #: values; "UNSIGNED-PAYLOAD" for presigned URLs and SigV2 (unless a
    #: presigned URL carries X-Amz-Content-Sha256).
    content_sha256: str
    #: For aws-chunked streaming payloads: the derived SigV4 key.
    signing_key: bytes | None = None
    #: "20261125/us-east-1/s3/aws4_request"; "" for SigV2.
    scope: str = ""
    #: "20261125T010203Z"; "" for SigV2.
    amz_date: str = ""
    #: The request's own signature (hex), the seed of chunk signatures; "" for SigV2.
    seed_signature: str = ""


class Authenticator:
    """Verify request signatures against the known access keys."""

    __slots__ = ("_clock", "_secret_for", "signing_keys")

    def __init__(
        self, secret_for: Callable[[str], str | None], clock: Callable[[], float] = time.time
    ) -> None:
        self._secret_for = secret_for
        self._clock = clock
        #: Derived SigV4 keys, so the hot path never re-derives one.
        self.signing_keys = sigv4.SigningKeyCache()

    def authenticate(self, request: SignedRequest) -> AuthResult:
        """Return who signed ``request``, or raise the S3Error that refuses it."""
        values = request.headers.get("authorization")
        if values:
            if len(values) != 1:
                raise AuthorizationHeaderMalformed(
                    "The authorization header is malformed; it was sent more than once."
                )
            value = values[0]
            scheme = value.partition(" ")[0]
            if scheme == sigv4.ALGORITHM:
                _refuse_second_mechanism(request)
                return self._sigv4_header(request, value)
            if scheme == sigv2.SCHEME:
                _refuse_second_mechanism(request)
                return self._sigv2_header(request, value)
            raise InvalidArgument("Unsupported Authorization Type", ArgumentName="Authorization")
        if request.raw_query:
            params = _parameters(request)
            if not _V4_QUERY_NAMES.isdisjoint(params):
                return self._sigv4_presigned(request, params)
            if not _V2_QUERY_NAMES.isdisjoint(params):
                return self._sigv2_presigned(request, params)
        raise AccessDenied()

    # -- SigV4 ---------------------------------------------------------------

    def _sigv4_header(self, request: SignedRequest, value: str) -> AuthResult:
        """Verify an ``Authorization: AWS4-HMAC-SHA256 ...`` request."""
        try:
            credential_value, signed_headers, signature = sigv4.split_authorization(value)
            credential = sigv4.parse_credential(credential_value)
            signed_names = sigv4.parse_signed_headers(signed_headers)
        except ValueError as exc:
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; {exc}"
            ) from None
        if "host" not in signed_names:
            raise _host_not_signed()
        headers = request.headers
        payload_values = headers.get("x-amz-content-sha256")
        if not payload_values:
            raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        payload_hash = payload_values[0]
        if not sigv4.is_valid_payload_hash(payload_hash):
            raise InvalidArgument(
                _BAD_PAYLOAD_HASH, ArgumentName="x-amz-content-sha256", ArgumentValue=payload_hash
            )
        amz_date, request_time = _sigv4_header_time(headers)
        if credential.date != amz_date[:8]:
            raise AuthorizationHeaderMalformed(
                "The authorization header is malformed; "
                f'Invalid credential date "{credential.date}". '
                f'This date is not the same as X-Amz-Date: "{amz_date[:8]}".'
            )
        _check_skew(amz_date, request_time, self._clock())
        return self._sigv4_verify(
            request, credential, amz_date, signed_names, signed_headers, payload_hash, signature
        )

    def _sigv4_presigned(self, request: SignedRequest, params: Mapping[str, str]) -> AuthResult:
        """Verify a SigV4 presigned URL (``X-Amz-Algorithm=AWS4-HMAC-SHA256&...``)."""
        algorithm = params.get("X-Amz-Algorithm")
        credential_value = params.get("X-Amz-Credential")
        amz_date = params.get("X-Amz-Date")
        expires = params.get("X-Amz-Expires")
        signed_headers = params.get("X-Amz-SignedHeaders")
        signature = params.get("X-Amz-Signature")
        if (
            algorithm is None
            or credential_value is None
            or amz_date is None
            or expires is None
            or signed_headers is None
            or signature is None
        ):
            raise AuthorizationQueryParametersError(_V4_QUERY_PARAMETERS)
        if algorithm != sigv4.ALGORITHM:
            raise AuthorizationQueryParametersError(
                f'X-Amz-Algorithm only supports "{sigv4.ALGORITHM}"'
            )
        try:
            credential = sigv4.parse_credential(credential_value)
        except ValueError as exc:
            raise AuthorizationQueryParametersError(
                f"Error parsing the X-Amz-Credential parameter; {exc}"
            ) from None
        try:
            signed_names = sigv4.parse_signed_headers(signed_headers)
        except ValueError as exc:
            raise AuthorizationQueryParametersError(
                f"Error parsing the X-Amz-SignedHeaders parameter; {exc}"
            ) from None
        if "host" not in signed_names:
            raise _host_not_signed()
        request_time = sigv4.parse_amz_date(amz_date)
        if request_time is None:
            raise AuthorizationQueryParametersError(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            )
        if credential.date != amz_date[:8]:
            raise AuthorizationQueryParametersError(
                f'Invalid credential date "{credential.date}". '
                f'This date is not the same as X-Amz-Date: "{amz_date[:8]}".'
            )
        lifetime = _presigned_lifetime(expires)
        now = self._clock()
        # A URL may be used long after it was made (that is what the expiry
        # is for), but one dated in the future comes from a skewed clock.
        if request_time - now > CLOCK_SKEW_SECONDS:
            raise _too_skewed(amz_date, now)
        if now > request_time + lifetime:
            expired = AccessDenied("Request has expired")
            # "X-Amz-Expires" is no Python identifier, so not a keyword argument.
            expired.fields.update(
                {
                    "X-Amz-Expires": expires,
                    "Expires": _iso8601(request_time + lifetime),
                    "ServerTime": _iso8601(now),
                }
            )
            raise expired
        payload_hash = params.get("X-Amz-Content-Sha256", sigv4.UNSIGNED_PAYLOAD)
        if not sigv4.is_valid_payload_hash(payload_hash):
            raise InvalidArgument(
                _BAD_PAYLOAD_HASH, ArgumentName="X-Amz-Content-Sha256", ArgumentValue=payload_hash
            )
        return self._sigv4_verify(
            request,
            credential,
            amz_date,
            signed_names,
            signed_headers,
            payload_hash,
            signature,
            presigned=True,
        )

    def _sigv4_verify(
        self,
        request: SignedRequest,
        credential: sigv4.Credential,
        amz_date: str,
        signed_names: tuple[str, ...],
        signed_headers: str,
        payload_hash: str,
        signature: str,
        *,
        presigned: bool = False,
    ) -> AuthResult:
        """Check a parsed SigV4 signature (header or presigned) and say who signed."""
        secret = self._secret(credential.access_key)
        key = self.signing_keys.get(
            credential.access_key, secret, credential.date, credential.region
        )
        scope = credential.scope
        # A presigned URL carries its own signature in the query; it is not signed.
        tail = (
            f"{sigv4.canonical_query(request.raw_query, drop_signature=presigned)}\n"
            f"{sigv4.canonical_headers(signed_names, request.headers)}\n"
            f"{signed_headers}\n{payload_hash}"
        )
        if not _sigv4_matches(key, amz_date, scope, request, tail, signature):
            raise SignatureDoesNotMatch(AWSAccessKeyId=credential.access_key)
        if payload_hash not in sigv4.PAYLOAD_HASH_KEYWORDS:
            payload_hash = payload_hash.lower()
        return AuthResult(
            access_key=credential.access_key,
            signature_version=4,
            content_sha256=payload_hash,
            signing_key=key.key,
            scope=scope,
            amz_date=amz_date,
            seed_signature=signature,
        )

    # -- SigV2 ---------------------------------------------------------------

    def _sigv2_header(self, request: SignedRequest, value: str) -> AuthResult:
        """Verify an ``Authorization: AWS AKID:signature`` request."""
        try:
            access_key, signature = sigv2.parse_authorization(value)
        except ValueError as exc:
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; {exc}"
            ) from None
        headers = request.headers
        amz_date = _first_value(headers, "x-amz-date")
        date = _first_value(headers, "date")
        request_time = _parse_http_date(amz_date or date)
        if request_time is None:
            raise AccessDenied(_MISSING_DATE)
        _check_skew(amz_date or date, request_time, self._clock())
        secret = self._secret(access_key)
        # botocore and s3cmd sign the Date header when they send one, even
        # beside x-amz-date; the S3 documentation says the line is then empty
        # (a Date added by an HTTP library or proxy was never signed).
        date_lines = (date, "") if amz_date and date else (date,)
        if not _sigv2_matches(
            secret, request, date_lines, sigv2.canonical_amz_headers(headers), {}, signature
        ):
            raise SignatureDoesNotMatch(AWSAccessKeyId=access_key)
        return AuthResult(access_key, 2, sigv4.UNSIGNED_PAYLOAD)

    def _sigv2_presigned(self, request: SignedRequest, params: Mapping[str, str]) -> AuthResult:
        """Verify a SigV2 presigned URL (``AWSAccessKeyId=...&Signature=...&Expires=...``)."""
        access_key = params.get("AWSAccessKeyId")
        signature = params.get("Signature")
        expires = params.get("Expires")
        if not access_key or not signature or expires is None:
            raise AuthorizationQueryParametersError(_V2_QUERY_PARAMETERS)
        if not (expires.isascii() and expires.isdigit()):
            raise AuthorizationQueryParametersError(
                "Invalid Expires parameter: it must be a number of seconds since the epoch"
            )
        now = self._clock()
        # More digits than any clock reading has is far in the future.
        expires_at = decimal(expires, _EPOCH_DIGITS)
        if expires_at is not None and now > expires_at:
            raise AccessDenied(
                "Request has expired",
                Expires=_iso8601(expires_at),
                ServerTime=_iso8601(now),
            )
        secret = self._secret(access_key)
        # botocore's HmacV1QueryAuth moves the x-amz-* headers (and
        # Content-Type / Content-MD5) it signed into the query string.
        query_amz = {
            name.lower(): value
            for name, value in params.items()
            if name.lower().startswith("x-amz-")
        }
        amz_headers = sigv2.canonical_amz_headers(request.headers, query_amz)
        if not _sigv2_matches(secret, request, (expires,), amz_headers, params, signature):
            raise SignatureDoesNotMatch(AWSAccessKeyId=access_key)
        return AuthResult(access_key, 2, sigv4.UNSIGNED_PAYLOAD)

    # -- shared --------------------------------------------------------------

    def _secret(self, access_key: str) -> str:
        """Return the secret of ``access_key`` or refuse the request."""
        secret = self._secret_for(access_key)
        if secret is None:
            raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
        return secret


def query_parameters(raw_query: str) -> dict[str, str]:
    """Decode a raw query string to a dict; the first of repeated names wins."""
    params: dict[str, str] = {}
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            # Percent escapes only: a literal "+" is a plus in S3 query strings.
            if "%" in name:
                name = unquote(name)
            params.setdefault(name, unquote(value) if "%" in value else value)
    return params


def _parameters(request: SignedRequest) -> Mapping[str, str]:
    """The request's decoded query: the caller's if it gave one, else decoded now."""
    query = request.query
    return query if query is not None else query_parameters(request.raw_query)


def _refuse_second_mechanism(request: SignedRequest) -> None:
    """Refuse a request that carries query-string credentials besides its header."""
    raw_query = request.raw_query
    # A substring test first keeps the common case free of query parsing.
    if not raw_query or (
        "X-Amz-" not in raw_query and "Signature" not in raw_query and "AWSAccess" not in raw_query
    ):
        return
    if not _QUERY_AUTH_NAMES.isdisjoint(_parameters(request)):
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
        )


def _sigv4_matches(
    key: sigv4.SigningKey,
    amz_date: str,
    scope: str,
    request: SignedRequest,
    tail: str,
    provided: str,
) -> bool:
    """Tell whether ``provided`` signs the request under any accepted path spelling."""
    if not provided.isascii():
        return False
    raw_path = request.raw_path
    uri = sigv4.canonical_uri(raw_path)
    # AWS's own rule first; then the path exactly as sent, for clients that
    # sign what they send without re-encoding it.
    uris = (uri, raw_path) if raw_path and raw_path != uri else (uri,)
    for candidate_uri in uris:
        text = f"{request.method}\n{candidate_uri}\n{tail}"
        for data in sigv4.request_encodings(text):
            expected = key.sign(sigv4.string_to_sign(amz_date, scope, data))
            if hmac.compare_digest(expected, provided):
                return True
    return False


def _sigv2_matches(
    secret: str,
    request: SignedRequest,
    date_lines: tuple[str, ...],
    amz_headers: str,
    params: Mapping[str, str],
    provided: str,
) -> bool:
    """Tell whether ``provided`` signs the request under any accepted spelling."""
    if not provided.isascii():
        return False
    headers = request.headers
    content_md5 = _first_value(headers, "content-md5") or params.get("content-md5", "").strip()
    content_type = _first_value(headers, "content-type") or params.get("content-type", "").strip()
    resources = sigv2.resource_candidates(
        request.raw_path, request.raw_query, request.virtual_host_bucket, mount=request.mount
    )
    for resource in resources:
        for date_line in date_lines:
            text = sigv2.string_to_sign(
                request.method, content_md5, content_type, date_line, amz_headers, resource
            )
            for data in sigv4.request_encodings(text):
                if hmac.compare_digest(sigv2.sign(secret, data), provided):
                    return True
    return False


def _first_value(headers: Mapping[str, list[str]], name: str) -> str:
    """Return the first value of a header, stripped, or ""."""
    values = headers.get(name)
    return values[0].strip() if values else ""


def _sigv4_header_time(headers: Mapping[str, list[str]]) -> tuple[str, float]:
    """Return the SigV4 timestamp of a header-signed request and its epoch seconds."""
    amz_date = _first_value(headers, "x-amz-date")
    if amz_date:
        request_time = sigv4.parse_amz_date(amz_date)
        if request_time is None:
            raise AccessDenied(_MISSING_DATE)
        return amz_date, request_time
    # SigV4 allows Date instead of X-Amz-Date; the string to sign then holds
    # the same instant in ISO 8601 basic form (botocore does this).
    date_time = _parse_http_date(_first_value(headers, "date"))
    if date_time is None:
        raise AccessDenied(_MISSING_DATE)
    return sigv4.format_amz_date(date_time), date_time


def _parse_http_date(text: str) -> float | None:
    """Parse an RFC 1123 date (or an ISO 8601 basic one) to epoch seconds."""
    if not text:
        return None
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        return sigv4.parse_amz_date(text)
    try:
        return float(email.utils.mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def _check_skew(request_date: str, request_time: float, now: float) -> None:
    """Refuse a request whose timestamp is too far from the server clock."""
    if abs(now - request_time) > CLOCK_SKEW_SECONDS:
        raise _too_skewed(request_date, now)


def _too_skewed(request_date: str, now: float) -> S3Error:
    """Build the RequestTimeTooSkewed error S3 answers with."""
    return RequestTimeTooSkewed(
        RequestTime=request_date,
        ServerTime=_iso8601(now),
        MaxAllowedSkewMilliseconds=str(CLOCK_SKEW_SECONDS * 1000),
    )


def _host_not_signed() -> S3Error:
    """Build the error for a SigV4 request whose SignedHeaders lacks host."""
    # AccessDenied, not AuthorizationHeaderMalformed: the header parses fine,
    # it just does not cover a header S3 insists on, and that is how S3
    # itself answers (with HeadersNotSigned naming the header).  The same
    # code then serves the header and the presigned form.
    return AccessDenied(
        "There were headers present in the request which were not signed",
        HeadersNotSigned="host",
    )


def _presigned_lifetime(expires: str) -> int:
    """Parse X-Amz-Expires, refusing what S3 refuses."""
    digits = expires[1:] if expires.startswith("-") else expires
    if not (digits.isascii() and digits.isdigit()):
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number")
    if expires.startswith("-"):
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    lifetime = decimal(digits, _EXPIRES_DIGITS)
    if lifetime is None or lifetime > PRESIGNED_MAX_EXPIRES_SECONDS:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    return lifetime


def _iso8601(epoch: float) -> str:
    """Format epoch seconds the way S3 error bodies show times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
