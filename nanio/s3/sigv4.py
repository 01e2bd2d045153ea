"""
AWS Signature Version 4 as S3 applies it: canonical request, string to sign,
signing keys.

This module owns the byte-exact canonicalization that botocore, s3cmd and the
AWS SDKs compute, the parsing of the SigV4 ``Authorization`` header and
credential scope, and the cache of derived signing keys.  It does not decide
policy (which scheme, clock skew, expiry, which error to raise): that is
``nanio.s3.auth``.  Parse failures are reported as ``ValueError`` with an
S3-style detail so the caller can wrap them in the error class its scheme
uses.

Pure code: no Twisted, no filesystem, no clock.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
TERMINATOR = "aws4_request"

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#: The x-amz-content-sha256 values that are not a hash of the body.
PAYLOAD_HASH_KEYWORDS = frozenset(
    {
        UNSIGNED_PAYLOAD,
        STREAMING_SIGNED_PAYLOAD,
        STREAMING_SIGNED_PAYLOAD_TRAILER,
        STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    }
)
#: SHA-256 of the empty string, what a signed bodiless request declares.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#: Derived keys kept per Authenticator: one per (user, day, region) in use.
SIGNING_KEY_CACHE_ENTRIES = 256

# A percent escape UriEncode() would produce: upper-case hex of a byte that
# is not unreserved (A-Z a-z 0-9 - . _ ~).  Paths keep "/" literal, so an
# escaped slash is not canonical there.
_RESERVED_ESCAPE = r"%(?:[0189A-F][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF])"
_PATH_RESERVED_ESCAPE = r"%(?:[0189A-F][0-9A-F]|2[0-9A-C]|3[A-F]|40|5[B-E]|60|7[B-DF])"
# A path or query already in canonical form (what botocore sends) is used
# as is; only the others pay for decode+encode.  The quantifiers are
# possessive: with plain "(?:[...]+|...)*" a long run of plain characters
# followed by one that fails (a "%2F" in a path) made the engine try every
# way of splitting the run, exponential in its length: one request of
# ~40 bytes held the reactor for hours.
_CANONICAL_PATH = re.compile(rf"(?:[A-Za-z0-9\-._~/]++|{_PATH_RESERVED_ESCAPE})*+")
_CANONICAL_QUERY = re.compile(rf"(?:[A-Za-z0-9\-._~=&]++|{_RESERVED_ESCAPE})*+")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# Trimall() in the SigV4 document: leading/trailing blanks go, inner runs
# become one space.  botocore also folds tabs, so we do too.
_BLANK_RUN = re.compile(r"[ \t]+")
_AMZ_DATE = re.compile(r"(\d{8})T(\d\d)(\d\d)(\d\d)Z")
# botocore writes "Credential=..., SignedHeaders=..., Signature=..." and
# s3cmd the same without the blanks; one regex match covers both.
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 +Credential=([^,\s]+) *, *SignedHeaders=([^,\s]+) *, *Signature=([^,\s]+)"
)
_CREDENTIAL_SHAPE = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"'


@dataclass(frozen=True, slots=True)
class Credential:
    """The ``Credential=`` value: an access key and its scope."""

    access_key: str
    date: str
    region: str
    service: str
    terminator: str
    #: "date/region/service/aws4_request": the scope as the string to sign has it.
    scope: str


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A derived SigV4 signing key, with its HMAC state ready to copy."""

    key: bytes
    #: HMAC-SHA256 keyed with ``key`` and fed nothing: copying it skips the
    #: key schedule each request would otherwise repeat.
    mac: hmac.HMAC

    def sign(self, string_to_sign_bytes: bytes) -> str:
        """Return the hex SigV4 signature of a string to sign."""
        mac = self.mac.copy()
        mac.update(string_to_sign_bytes)
        return mac.hexdigest()


def wire_bytes(text: str) -> bytes:
    """Return the bytes a latin-1 decoded request string came from."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        # Not latin-1 text after all (a caller built it from real Unicode):
        # UTF-8 is what any client would have put on the wire.
        return text.encode("utf-8")


def uri_encode(raw: str, safe: str) -> str:
    """Percent-decode ``raw`` and URI-encode its bytes again, keeping ``safe`` as is."""
    # quote() always keeps A-Z a-z 0-9 - . _ ~ and encodes everything else
    # (including + and a literal %) with upper-case hex, as UriEncode() wants.
    return quote(unquote_to_bytes(wire_bytes(raw)), safe=safe)


def canonical_uri(raw_path: str) -> str:
    """Return the SigV4 canonical URI of a raw (still encoded) S3 request path."""
    if not raw_path:
        return "/"
    if _CANONICAL_PATH.fullmatch(raw_path):
        return raw_path
    # S3 neither normalises dot segments nor double-encodes: decode once,
    # encode once, slashes kept.
    return uri_encode(raw_path, "/")


def canonical_query(raw_query: str, *, drop_signature: bool = False) -> str:
    """Return the SigV4 canonical query string of a raw query string."""
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    plain = _CANONICAL_QUERY.fullmatch(raw_query) is not None
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if plain and "=" not in value:
            pairs.append((name, value))
        else:
            # A literal + stays a plus: SigV4 decodes percent escapes only.
            # A second "=" belongs to the value and is encoded as %3D.
            pairs.append((uri_encode(name, ""), uri_encode(value, "")))
    if drop_signature:
        pairs = [pair for pair in pairs if pair[0] != "X-Amz-Signature"]
    pairs.sort()
    return "&".join([f"{name}={value}" for name, value in pairs])


def trim_header_value(value: str) -> str:
    """Apply SigV4's Trimall() to one header value."""
    value = value.strip(" \t")
    if "  " in value or "\t" in value:
        value = _BLANK_RUN.sub(" ", value)
    return value


def canonical_headers(signed_names: Iterable[str], headers: Mapping[str, Sequence[str]]) -> str:
    """Return the canonical headers block (each line ending in a newline)."""
    lines = []
    for name in signed_names:
        values = headers.get(name.lower())
        if not values:
            value = ""
        elif len(values) == 1:
            value = trim_header_value(values[0])
        else:
            value = ",".join([trim_header_value(v) for v in values])
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers_block: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    """Assemble the canonical request from its canonical parts."""
    return f"{method}\n{uri}\n{query}\n{headers_block}\n{signed_headers}\n{payload_hash}"


def string_to_sign(amz_date: str, scope: str, canonical_request_bytes: bytes) -> bytes:
    """Return the SigV4 string to sign for an encoded canonical request."""
    digest = hashlib.sha256(canonical_request_bytes).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}".encode()


def request_encodings(text: str) -> tuple[bytes, ...]:
    """Return the byte forms a client may have hashed ``text`` as, likeliest first."""
    if text.isascii():
        return (text.encode("ascii"),)
    # A non-ASCII header value: the wire bytes are what S3 and most SDKs
    # sign; botocore signs the UTF-8 of its str but sends it as latin-1.
    utf8 = text.encode("utf-8")
    try:
        return (text.encode("latin-1"), utf8)
    except UnicodeEncodeError:
        return (utf8,)


def derive_signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """Derive the SigV4 signing key for one secret, day, region and service."""
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, TERMINATOR.encode(), "sha256")


class SigningKeyCache:
    """A small bounded map from (access key, secret, date, region) to signing key."""

    __slots__ = ("_keys", "_max_entries")

    def __init__(self, max_entries: int = SIGNING_KEY_CACHE_ENTRIES) -> None:
        self._keys: dict[tuple[str, str, str, str], SigningKey] = {}
        self._max_entries = max_entries

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, access_key: str, secret: str, date: str, region: str) -> SigningKey:
        """Return the signing key, deriving and remembering it on first use."""
        # The secret is part of the cache key so a rotated secret can never
        # be served a key derived from the old one.
        cache_key = (access_key, secret, date, region)
        signing_key = self._keys.get(cache_key)
        if signing_key is None:
            key = derive_signing_key(secret, date, region)
            signing_key = SigningKey(key, hmac.new(key, digestmod=hashlib.sha256))
            if len(self._keys) >= self._max_entries:
                # Oldest insertion first: yesterday's keys go before today's.
                self._keys.pop(next(iter(self._keys)), None)
            self._keys[cache_key] = signing_key
        return signing_key


@functools.lru_cache(maxsize=256)
def parse_credential(value: str) -> Credential:
    """Split ``AKID/date/region/service/aws4_request`` and check the scope."""
    # Cached: one user sends the same credential all day long.  Failures
    # raise, and lru_cache does not keep those.
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise ValueError(f"the Credential is mal-formed; expecting {_CREDENTIAL_SHAPE}.")
    access_key, date, region, service, terminator = parts
    if len(date) != 8 or not date.isdigit():
        raise ValueError(f'incorrect date format "{date}". It should be in "YYYYMMDD" format.')
    if service != SERVICE:
        raise ValueError(f'incorrect service "{service}". This endpoint belongs to "{SERVICE}".')
    if terminator != TERMINATOR:
        raise ValueError(f'incorrect terminal "{terminator}". This endpoint uses "{TERMINATOR}".')
    scope = value[len(access_key) + 1 :]
    credential = Credential(access_key, date, region, service, terminator, scope)
    return credential


@functools.lru_cache(maxsize=256)
def parse_signed_headers(value: str) -> tuple[str, ...]:
    """Split a SignedHeaders value into header names."""
    names = tuple(value.split(";"))
    if not all(names):
        raise ValueError("the SignedHeaders component is malformed.")
    return names


def split_authorization(value: str) -> tuple[str, str, str]:
    """Return the Credential, SignedHeaders and Signature of a SigV4 Authorization value."""
    match = _AUTHORIZATION.fullmatch(value)
    if match is not None:
        credential, signed_headers, signature = match.groups()
        return credential, signed_headers, signature
    # Not botocore's exact layout: components in another order, or extra
    # blanks.  Parse it the long way.
    _, _, rest = value.partition(" ")
    fields: dict[str, str] = {}
    for component in rest.split(","):
        name, equals, component_value = component.strip().partition("=")
        if not equals:
            raise ValueError(f'the authorization component "{name}" is malformed.')
        fields[name] = component_value
    try:
        return fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError:
        raise ValueError(
            "the authorization header requires three components: "
            "Credential, SignedHeaders, and Signature."
        ) from None


def is_valid_payload_hash(value: str) -> bool:
    """Tell whether an x-amz-content-sha256 value is a hash or a known keyword."""
    return value in PAYLOAD_HASH_KEYWORDS or _SHA256_HEX.fullmatch(value) is not None


@functools.lru_cache(maxsize=64)
def _day_start(day: str) -> float | None:
    """Return the epoch second at which a YYYYMMDD day begins, None if no such day."""
    try:
        return float(calendar.timegm(time.strptime(day, "%Y%m%d")))
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def parse_amz_date(text: str) -> float | None:
    """Parse an ISO 8601 basic timestamp (``20261125T010203Z``) to epoch seconds."""
    match = _AMZ_DATE.fullmatch(text)
    if match is None:
        return None
    # Cached, since requests arriving in the same second share the text; and
    # the day is cached apart, so a miss parses only the time of day.
    start = _day_start(match[1])
    hours, minutes, seconds = int(match[2]), int(match[3]), int(match[4])
    if start is None or hours > 23 or minutes > 59 or seconds > 59:
        return None
    return start + hours * 3600 + minutes * 60 + seconds


def format_amz_date(epoch: float) -> str:
    """Format epoch seconds as an ISO 8601 basic timestamp."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))
