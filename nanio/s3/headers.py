"""
Header semantics of S3 requests and responses: stored metadata, HTTP dates,
Range and the conditional headers.

Input headers arrive as a mapping of lower-case names to the list of values
received (one entry per header line), which is what the web layer gets from
Twisted once decoded.  Everything here is a pure function of its arguments:
the web layer decides what to do with the results.

No Twisted imports here, and no filesystem access.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from nanio.errors import InvalidRange, MetadataTooLarge, NotModified, PreconditionFailed
from nanio.s3.numbers import decimal

# --------------------------------------------------------------------------
# Metadata

#: Standard headers S3 stores with an object and returns on GET/HEAD.
STORED_HEADERS = (
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
)

#: Prefix of user metadata headers.
USER_METADATA_PREFIX = "x-amz-meta-"

#: S3's limit on user metadata: the UTF-8 bytes of every name (without the
#: prefix) and value, summed.
USER_METADATA_MAX_BYTES = 2 * 1024

# The streaming-signature token SigV4 clients add to Content-Encoding; it
# describes the request framing, not the object, so it is never stored.
_AWS_CHUNKED = "aws-chunked"

_PREFIX_LEN = len(USER_METADATA_PREFIX)


def _joined(values: list[str]) -> str:
    """Combine repeated header lines into one value, as RFC 9110 5.3 does."""
    # S3 also joins repeated x-amz-meta-* lines with a comma.
    return values[0] if len(values) == 1 else ",".join(values)


def _strip_aws_chunked(value: str) -> str:
    """Remove the ``aws-chunked`` token from a Content-Encoding value."""
    if _AWS_CHUNKED not in value.lower():
        return value
    tokens = [t.strip() for t in value.split(",")]
    return ",".join(t for t in tokens if t and t.lower() != _AWS_CHUNKED)


def metadata_from_headers(
    headers: Mapping[str, list[str]],
) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """Pick (content type, stored standard headers, user metadata) from request headers."""
    content_types = headers.get("content-type")
    content_type = _joined(content_types) if content_types else None

    stored: dict[str, str] = {}
    for name in STORED_HEADERS:
        values = headers.get(name)
        if values:
            stored[name] = _joined(values)
    encoding = stored.get("content-encoding")
    if encoding is not None:
        encoding = _strip_aws_chunked(encoding)
        if encoding:
            stored["content-encoding"] = encoding
        else:
            # "aws-chunked" alone: the object itself has no encoding.
            del stored["content-encoding"]

    user: dict[str, str] = {}
    size_bytes = 0
    for name, values in headers.items():
        if not name.startswith(USER_METADATA_PREFIX) or not values:
            continue
        short = name[_PREFIX_LEN:]
        if not short:
            # A bare "x-amz-meta-" names nothing; there is nothing to store.
            continue
        value = _joined(values)
        user[short] = value
        size_bytes += len(short.encode("utf-8")) + len(value.encode("utf-8"))
    if size_bytes > USER_METADATA_MAX_BYTES:
        raise MetadataTooLarge(Size=str(size_bytes), MaxSizeAllowed=str(USER_METADATA_MAX_BYTES))
    return content_type, stored, user


# --------------------------------------------------------------------------
# Dates

# English names, fixed: time.strftime would follow the process locale.
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(_MONTH_NAMES, 1)}

# Both formatters remember the last whole second they rendered (every
# response in one second shares its Date header) and the calendar part of
# recent days (a listing renders thousands of timestamps, mostly a few days
# apart), so the common call costs a comparison and the rest a divmod.  S3
# shows these times at one-second resolution (ISO 8601's ".000" included),
# so nothing is lost by working in whole seconds.
_SECONDS_PER_DAY = 86400
_DAY_CACHE_SIZE = 1024
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(61))


@lru_cache(maxsize=_DAY_CACHE_SIZE)
def _http_day(day: int) -> str:
    """Render the date part of an IMF-fixdate ("Wed, 25 Nov 2026 ") for a day since the epoch."""
    t = time.gmtime(day * _SECONDS_PER_DAY)
    return f"{_DAY_NAMES[t.tm_wday]}, {t.tm_mday:02d} {_MONTH_NAMES[t.tm_mon - 1]} {t.tm_year:04d} "


@lru_cache(maxsize=_DAY_CACHE_SIZE)
def _iso8601_day(day: int) -> str:
    """Render the date part of S3's ISO 8601 ("2026-11-25T") for a day since the epoch."""
    t = time.gmtime(day * _SECONDS_PER_DAY)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"


def _clock(second_of_day: int) -> str:
    """Render a time of day as HH:MM:SS."""
    hours, rest = divmod(second_of_day, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_TWO_DIGITS[hours]}:{_TWO_DIGITS[minutes]}:{_TWO_DIGITS[seconds]}"


def _time_format(day_text: Callable[[int], str], end: str) -> Callable[[float], str]:
    """A formatter of seconds since the epoch: ``day_text`` of the day, HH:MM:SS, then ``end``."""
    # (second, text) of the last call; replaced whole, so a reader in another
    # thread sees either the old pair or the new one, never a mix.
    last = (-1, "")

    def format_time(epoch: float) -> str:
        """Format ``epoch`` to the whole second."""
        nonlocal last
        second = int(epoch)
        previous = last
        if previous[0] == second:
            return previous[1]
        day, second_of_day = divmod(second, _SECONDS_PER_DAY)
        text = f"{day_text(day)}{_clock(second_of_day)}{end}"
        last = (second, text)
        return text

    return format_time


#: Format seconds since the epoch as an HTTP date ("Wed, 25 Nov 2026 01:02:03 GMT").
format_http_date = _time_format(_http_day, " GMT")
#: Format seconds since the epoch as S3's ISO 8601 ("2026-11-25T01:02:03.000Z").
format_iso8601 = _time_format(_iso8601_day, ".000Z")


# RFC 7231 section 7.1.1.1: the preferred IMF-fixdate and the two obsolete
# forms a recipient must still accept.  re.ASCII: \d must not match other
# scripts' digits, which int() would then accept.  Day names are not checked against
# the date (RFC 7231 lets a recipient ignore them).
_IMF_FIXDATE = re.compile(
    r"[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT", re.ASCII
)
_RFC850_DATE = re.compile(
    r"[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT", re.ASCII
)
_ASCTIME_DATE = re.compile(
    r"[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})", re.ASCII
)


def _epoch(
    year: int, month_name: str, day: int, hour: int, minute: int, second: int
) -> float | None:
    """Convert calendar fields to seconds since the epoch, or None if they name no date."""
    month = _MONTH_NUMBERS.get(month_name.lower())
    if month is None or year < 1 or hour > 23 or minute > 59 or second > 60:
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    # A leap second (":60") is taken as the second before it.
    return float(calendar.timegm((year, month, day, hour, minute, min(second, 59))))


def _rfc850_year(two_digits: int, this_year: int) -> int:
    """Expand an RFC 850 two-digit year as RFC 7231 says: never more than 50 years ahead."""
    # Take the year within 50 years of now, either way: that satisfies the
    # RFC and keeps "05" read in 2098 as 2105 rather than 2005.
    year = this_year - this_year % 100 + two_digits
    if year > this_year + 50:
        year -= 100
    elif year <= this_year - 50:
        year += 100
    return year


def parse_http_date(value: str) -> float | None:
    """Parse an HTTP date (IMF-fixdate, RFC 850 or asctime); None when it is none of them."""
    value = value.strip()
    m = _IMF_FIXDATE.fullmatch(value)
    if m is not None:
        day, month, year, hh, mm, ss = m.groups()
        return _epoch(int(year), month, int(day), int(hh), int(mm), int(ss))
    m = _RFC850_DATE.fullmatch(value)
    if m is not None:
        day, month, year, hh, mm, ss = m.groups()
        return _epoch(
            _rfc850_year(int(year), time.gmtime().tm_year),
            month,
            int(day),
            int(hh),
            int(mm),
            int(ss),
        )
    m = _ASCTIME_DATE.fullmatch(value)
    if m is not None:
        month, day, hh, mm, ss, year = m.groups()
        return _epoch(int(year), month, int(day), int(hh), int(mm), int(ss))
    return None


# --------------------------------------------------------------------------
# Range


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A satisfiable byte range of an object: where it starts and how many bytes."""

    start: int
    length: int


# One range-spec: "a-b", "a-" or "-n".  The unit is case-insensitive
# (RFC 9110 14.1); whitespace around the spec is tolerated; digits are
# ASCII only (re.ASCII).
_RANGE = re.compile(r"[Bb][Yy][Tt][Ee][Ss]=[ \t]*(\d*)-(\d*)[ \t]*", re.ASCII)

#: Significant digits past which a position lies beyond any object (S3's
#: largest is 5 TiB, 13 digits).  Such a number is never given to int():
#: Python refuses strings of more than 4300 digits, and a Range header can
#: carry longer ones.
_POSITION_DIGITS = 20
_BEYOND_ANY_OBJECT: int = 10**_POSITION_DIGITS


def _position(digits: str) -> int:
    """Read a Range position; one beyond every object size reads as ``_BEYOND_ANY_OBJECT``."""
    position = decimal(digits, _POSITION_DIGITS)
    return _BEYOND_ANY_OBJECT if position is None else position


def _precedes(smaller: str, larger: str) -> bool:
    """Tell whether one digit string names a smaller number than another, at any length."""
    smaller, larger = smaller.lstrip("0"), larger.lstrip("0")
    return (len(smaller), smaller) < (len(larger), larger)


def parse_range(value: str | None, size: int) -> ByteRange | None:
    """Resolve a Range header against an object of ``size`` bytes; None means the whole object."""
    if value is None:
        return None
    # A multi-range header ("bytes=0-1,5-6") does not match: S3 does not
    # serve multipart/byteranges and answers such a request with the whole
    # object and 200, so do we.  Any other malformed value is ignored the
    # same way, as RFC 9110 14.2 allows.
    m = _RANGE.fullmatch(value)
    if m is None:
        return None
    first, last = m.groups()
    if first:
        start = _position(first)
        if last:
            end = _position(last)
            # Two positions beyond any object read alike: compare their digits.
            if end < start or (end == _BEYOND_ANY_OBJECT and _precedes(last, first)):
                # "bytes=5-2" is syntactically invalid: ignored.
                return None
        else:
            end = size - 1
        if start >= size:
            # Includes every "a-b" and "a-" on an empty object: S3 answers
            # 416 there even for "bytes=0-".
            raise _unsatisfiable(value, size)
        return ByteRange(start, min(end, size - 1) - start + 1)
    if not last:
        # "bytes=-" names nothing.
        return None
    suffix = _position(last)
    if suffix == 0:
        raise _unsatisfiable(value, size)
    if size == 0:
        # A positive suffix of an empty object: S3 answers 200 with the
        # empty body rather than 416 (readers that fetch a file's tail,
        # such as Trino and arrow's object_store, rely on it).
        return None
    length = min(suffix, size)
    return ByteRange(size - length, length)


def _unsatisfiable(value: str, size: int) -> InvalidRange:
    """Build the 416 error S3 sends for an unsatisfiable range."""
    return InvalidRange(
        headers={"Content-Range": f"bytes */{size}"},
        RangeRequested=value,
        ActualObjectSize=str(size),
    )


def content_range(r: ByteRange, size: int) -> str:
    """Format the Content-Range header of a 206 response ("bytes 0-9/100")."""
    return f"bytes {r.start}-{r.start + r.length - 1}/{size}"


# --------------------------------------------------------------------------
# Conditional requests

# One entity-tag in a list: optional weakness marker, then a quoted tag
# (which may hold commas) or, leniently, a bare token (curl users often
# forget the quotes).
_ETAG_ITEM = re.compile(r'(?:\s*,)*\s*(?:W/)?(?:"([^"]*)"|([^,\s]+))\s*(?:,|\Z)')


def parse_etag_list(value: str) -> list[str]:
    """Split an If-Match/If-None-Match value into bare entity-tags ("*" kept as is)."""
    tags: list[str] = []
    pos = 0
    end = len(value)
    while pos < end:
        m = _ETAG_ITEM.match(value, pos)
        if m is None or m.end() == pos:
            break
        quoted, bare = m.groups()
        tag = quoted if quoted is not None else bare
        if tag is not None:
            tags.append(tag)
        pos = m.end()
    return tags


def _normalize_etag(etag: str) -> str:
    """Strip quotes and a weakness marker from a stored or sent ETag."""
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def _etag_matches(value: str, etag: str) -> bool:
    """Tell whether an If-Match/If-None-Match value matches the object's ETag."""
    # Comparison is weak (RFC 9110 8.8.3.2): S3 ETags are never weak, and
    # clients that add W/ still mean the same object.
    return any(tag == "*" or tag == etag for tag in parse_etag_list(value))


def _header(headers: Mapping[str, list[str]], name: str) -> str | None:
    """Return one header's value, repeated lines joined, or None when absent."""
    values = headers.get(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


def evaluate_conditions(
    headers: Mapping[str, list[str]],
    etag: str,
    last_modified: float,
    *,
    for_get: bool,
) -> None:
    """Apply the conditional headers (If-Match, If-None-Match, If-[Un]Modified-Since) to an object.

    Raises ``PreconditionFailed`` (412) or ``NotModified`` (304), in the
    order of RFC 9110 section 13.2.2, which is how S3 resolves combinations:
    a true If-Match overrides a false If-Unmodified-Since, and a false
    If-None-Match answers 304 whatever If-Modified-Since says.
    ``for_get`` is true for GET and HEAD; for other methods a matching
    If-None-Match is a 412 and If-Modified-Since is ignored.  The caller
    handles a missing object itself (S3 answers 404 before preconditions).
    """
    if_match = _header(headers, "if-match")
    if_none_match = _header(headers, "if-none-match")
    if_modified_since = _header(headers, "if-modified-since")
    if_unmodified_since = _header(headers, "if-unmodified-since")
    if (
        if_match is None
        and if_none_match is None
        and if_modified_since is None
        and if_unmodified_since is None
    ):
        return
    current = _normalize_etag(etag)
    # HTTP dates have whole seconds; compare the object's time the same way.
    modified_second = int(last_modified)

    # Steps 1 and 2: If-Match, else If-Unmodified-Since.
    if if_match is not None:
        if not _etag_matches(if_match, current):
            raise PreconditionFailed(Condition="If-Match")
    elif if_unmodified_since is not None:
        since = parse_http_date(if_unmodified_since)
        # An unparseable date is ignored (RFC 9110 13.1.4), as S3 does.
        if since is not None and modified_second > since:
            raise PreconditionFailed(Condition="If-Unmodified-Since")

    # Steps 3 and 4: If-None-Match, else If-Modified-Since (GET/HEAD only).
    if if_none_match is not None:
        if _etag_matches(if_none_match, current):
            if for_get:
                raise NotModified()
            raise PreconditionFailed(Condition="If-None-Match")
    elif for_get and if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        if since is not None and modified_second <= since:
            raise NotModified()
