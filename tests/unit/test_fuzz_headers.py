"""
Property-based tests of nanio.s3.headers: the Range parser against a small
reference model written here from RFC 9110 section 14 and S3's documented
quirks; HTTP dates against the standard library; the conditional headers
against RFC 9110 section 13.2.2's evaluation order; and arbitrary text in
any of these headers raising nothing but the S3 errors they document.
"""

from __future__ import annotations

import calendar
import email.utils
import string
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanio.errors import (
    InvalidRange,
    MetadataTooLarge,
    NotModified,
    PreconditionFailed,
    S3Error,
)
from nanio.s3 import headers

EXAMPLES = 80

#: Object sizes worth trying: empty, tiny, and around the numbers drawn.
sizes = st.integers(0, 40) | st.sampled_from([2**31, 5 * 1024**4])

#: Any text a header value can hold: the web layer decodes header bytes as latin-1.
header_text = st.text(st.characters(max_codepoint=0xFF), max_size=40)

# Decimal positions: short, zero-padded, and longer than int() converts.
_positions = st.one_of(
    st.just(""),
    st.integers(0, 60).map(str),
    st.integers(0, 60).map(lambda n: f"{n:08d}"),
    st.integers(0, 2**70).map(str),
    st.integers(4290, 4400).map(lambda n: "9" * n),
    st.integers(4290, 4400).map(lambda n: "0" * n + "7"),
)
_blanks = st.sampled_from(["", " ", "\t", "  "])


@contextmanager
def _unlimited_int_digits() -> Iterator[None]:
    """Let int() read decimal strings of any length, for the reference model only."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


@st.composite
def range_values(draw: st.DrawFn) -> str:
    """A Range value from its grammar, with the mistakes clients make."""
    unit = draw(st.sampled_from(["bytes", "Bytes", "BYTES", "byte", "items", "bytes "]))
    spec = draw(_positions) + draw(st.sampled_from(["-", "-", "", "--", " -"])) + draw(_positions)
    extra = draw(st.sampled_from(["", "", ",0-1", ",", "x"]))
    return f"{unit}={draw(_blanks)}{spec}{extra}{draw(_blanks)}"


def _reference_range(value: str, size: int) -> tuple[int, int] | str | None:
    """What a Range value means for an object: (first byte, length), "416", or None (whole)."""
    if value[:6].lower() != "bytes=" or not value[:6].isascii():
        return None
    spec = value[6:].strip(" \t")
    first, dash, last = spec.partition("-")
    if not dash or not all(c in string.digits for c in first + last) or not (first or last):
        return None
    with _unlimited_int_digits():
        if first:
            # The bytes first..last (or first..end), clipped to the object.
            lo, hi = int(first), (int(last) if last else size - 1)
            if last and hi < lo:
                return None  # invalid syntax: ignored
            hi = min(hi, size - 1)
            return (lo, hi - lo + 1) if lo <= hi else "416"
        suffix = int(last)
    if suffix == 0:
        return "416"
    if size == 0:
        # S3 answers a positive suffix of an empty object with the whole (empty) object.
        return None
    length = min(suffix, size)
    return (size - length, length)


def _parsed_range(value: str, size: int) -> tuple[int, int] | str | None:
    """parse_range's answer in the reference model's terms."""
    try:
        parsed = headers.parse_range(value, size)
    except InvalidRange as error:
        assert error.headers == {"Content-Range": f"bytes */{size}"}
        return "416"
    return None if parsed is None else (parsed.start, parsed.length)


# -- Range ----------------------------------------------------------------------


@settings(max_examples=EXAMPLES * 2)
@given(value=range_values(), size=sizes)
def test_range_agrees_with_the_reference_model(value: str, size: int) -> None:
    """Every Range value from the grammar means what the reference model says."""
    assert _parsed_range(value, size) == _reference_range(value, size)


@settings(max_examples=EXAMPLES)
@given(value=header_text, size=sizes)
def test_range_of_arbitrary_text_is_whole_object_a_range_or_416(value: str, size: int) -> None:
    """Arbitrary text as a Range is ignored, a range inside the object, or InvalidRange."""
    result = _parsed_range(value, size)
    assert result == _reference_range(value, size)
    if isinstance(result, tuple):
        start, length = result
        assert start >= 0 and length >= 1 and start + length <= size


@settings(max_examples=EXAMPLES)
@given(size=st.integers(1, 2**40), data=st.data())
def test_content_range_names_the_bytes_the_range_selects(size: int, data: st.DataObject) -> None:
    """The Content-Range of a satisfiable "first-last" range names exactly those bytes."""
    first = data.draw(st.integers(0, size - 1))
    last = data.draw(st.integers(first, size - 1))
    byte_range = headers.parse_range(f"bytes={first}-{last}", size)
    assert byte_range is not None
    assert headers.content_range(byte_range, size) == f"bytes {first}-{last}/{size}"


# -- HTTP dates -----------------------------------------------------------------

# Epoch seconds from 1970 to 9999, the years an IMF-fixdate can write.
epochs = st.integers(0, calendar.timegm((9999, 12, 31, 23, 59, 59)))


@settings(max_examples=EXAMPLES)
@given(epoch=epochs)
def test_format_http_date_is_the_standard_librarys(epoch: int) -> None:
    """format_http_date writes what email.utils.formatdate(usegmt=True) writes."""
    assert headers.format_http_date(epoch) == email.utils.formatdate(epoch, usegmt=True)


@settings(max_examples=EXAMPLES)
@given(epoch=epochs)
def test_format_iso8601_is_strftimes(epoch: int) -> None:
    """format_iso8601 writes what time.strftime writes, with S3's ".000Z"."""
    expected = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))
    assert headers.format_iso8601(epoch) == expected


@settings(max_examples=EXAMPLES)
@given(epoch=epochs)
def test_imf_fixdate_round_trips(epoch: int) -> None:
    """An IMF-fixdate of any second parses back to that second."""
    assert headers.parse_http_date(email.utils.formatdate(epoch, usegmt=True)) == epoch


@settings(max_examples=EXAMPLES)
@given(epoch=epochs)
def test_asctime_date_round_trips(epoch: int) -> None:
    """An asctime date of any second parses back to that second."""
    assert headers.parse_http_date(time.asctime(time.gmtime(epoch))) == epoch


@settings(max_examples=EXAMPLES)
@given(offset_days=st.integers(-40 * 365, 40 * 365), second=st.integers(0, 86399))
def test_rfc850_date_within_forty_years_round_trips(offset_days: int, second: int) -> None:
    """An RFC 850 date within forty years of today parses back to its second."""
    today = int(time.time()) // 86400
    epoch = (today + offset_days) * 86400 + second
    text = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(epoch))
    assert headers.parse_http_date(text) == epoch


@settings(max_examples=EXAMPLES)
@given(value=header_text)
def test_parse_http_date_of_arbitrary_text_is_a_whole_second_or_none(value: str) -> None:
    """Any text parses to a whole second or to None, and never raises."""
    parsed = headers.parse_http_date(value)
    assert parsed is None or parsed == int(parsed)


@settings(max_examples=EXAMPLES)
@given(
    day=st.integers(0, 99),
    month=st.sampled_from(["Jan", "Feb", "Xyz", "feb", "DEC"]),
    year=st.integers(0, 9999),
    clock=st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
)
def test_impossible_calendar_fields_parse_to_none_or_the_calendar_date(
    day: int, month: str, year: int, clock: tuple[int, int, int]
) -> None:
    """An IMF-fixdate with any two-digit fields is None unless the calendar has that instant."""
    hh, mm, ss = clock
    text = f"Mon, {day:02d} {month} {year:04d} {hh:02d}:{mm:02d}:{ss:02d} GMT"
    number = {"jan": 1, "feb": 2, "dec": 12}.get(month.lower())
    expected = None
    plausible = number is not None and year >= 1 and hh <= 23 and mm <= 59 and ss <= 60
    if plausible and number is not None and 1 <= day <= calendar.monthrange(year, number)[1]:
        # A leap second (":60") is read as the second before it.
        expected = calendar.timegm((year, number, day, hh, mm, min(ss, 59)))
    assert headers.parse_http_date(text) == expected


# -- conditional headers -------------------------------------------------------

_ETAG = "9b2cf535f27731c974343645a3985328"
_MODIFIED = 1_700_000_000.0
_CONDITIONS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")


_KNOWN_TAGS = st.sampled_from([_ETAG, "0" * 32, f"{_ETAG}-2"])
# Any visible ASCII but the quote, commas and blanks included: a quoted tag may hold them.
_ANY_TAGS = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E).filter(lambda c: c != '"'),
    min_size=1,
    max_size=10,
)


@st.composite
def etag_lists(
    draw: st.DrawFn, tag_strategy: st.SearchStrategy[str] = _KNOWN_TAGS | _ANY_TAGS
) -> tuple[str, list[str]]:
    """A well-formed If-Match/If-None-Match value and the tags it lists."""
    tags = draw(st.lists(tag_strategy, min_size=1, max_size=4))
    items = [draw(st.sampled_from(["", "W/"])) + f'"{tag}"' for tag in tags]
    separators = st.sampled_from([",", ", ", " ,", " , ", ",\t"])
    text = items[0]
    for item in items[1:]:
        text += draw(separators) + item
    return text, tags


@settings(max_examples=EXAMPLES)
@given(listed=etag_lists())
def test_etag_list_yields_exactly_the_listed_tags(listed: tuple[str, list[str]]) -> None:
    """A well-formed entity-tag list parses to its tags, in order, weakness dropped."""
    text, tags = listed
    assert headers.parse_etag_list(text) == tags


@st.composite
def condition_headers(draw: st.DrawFn) -> dict[str, str]:
    """Any subset of the four conditional headers with well-formed values."""
    dates = st.integers(int(_MODIFIED) - 3, int(_MODIFIED) + 3).map(
        lambda e: email.utils.formatdate(e, usegmt=True)
    )
    choices = {
        "if-match": st.just("*") | etag_lists(_KNOWN_TAGS).map(lambda listed: listed[0]),
        "if-none-match": st.just("*") | etag_lists(_KNOWN_TAGS).map(lambda listed: listed[0]),
        "if-modified-since": dates,
        "if-unmodified-since": dates,
    }
    chosen = draw(st.lists(st.sampled_from(_CONDITIONS), unique=True))
    return {name: draw(choices[name]) for name in chosen}


def _reference_conditions(conditions: dict[str, str], for_get: bool) -> str:
    """RFC 9110 13.2.2 with S3's rules for other methods: "412", "304" or "pass"."""

    def matches(value: str) -> bool:
        # The values are made of _KNOWN_TAGS, none of which holds a comma.
        return value == "*" or _ETAG in [
            tag.strip(" \t").removeprefix("W/").strip('"') for tag in value.split(",")
        ]

    def since(name: str) -> float:
        return email.utils.parsedate_to_datetime(conditions[name]).timestamp()

    if "if-match" in conditions:
        if not matches(conditions["if-match"]):
            return "412"
    elif "if-unmodified-since" in conditions and since("if-unmodified-since") < _MODIFIED:
        return "412"
    if "if-none-match" in conditions:
        if matches(conditions["if-none-match"]):
            return "304" if for_get else "412"
    elif for_get and "if-modified-since" in conditions and since("if-modified-since") >= _MODIFIED:
        return "304"
    return "pass"


def _evaluated(conditions: dict[str, str], for_get: bool) -> str:
    """evaluate_conditions's verdict in the reference's terms."""
    try:
        headers.evaluate_conditions(
            {name: [value] for name, value in conditions.items()},
            f'"{_ETAG}"',
            _MODIFIED,
            for_get=for_get,
        )
    except PreconditionFailed:
        return "412"
    except NotModified:
        return "304"
    return "pass"


@settings(max_examples=EXAMPLES)
@given(conditions=condition_headers(), for_get=st.booleans())
def test_conditions_agree_with_rfc_9110_evaluation_order(
    conditions: dict[str, str], for_get: bool
) -> None:
    """Any mix of well-formed conditional headers gives the verdict RFC 9110 13.2.2 gives."""
    assert _evaluated(conditions, for_get) == _reference_conditions(conditions, for_get)


@settings(max_examples=EXAMPLES)
@given(
    conditions=st.dictionaries(
        st.sampled_from(_CONDITIONS), st.lists(header_text, min_size=1, max_size=3)
    ),
    etag=st.text(max_size=40),
    last_modified=st.floats(0, 2**40),
    for_get=st.booleans(),
)
def test_arbitrary_conditional_headers_raise_only_412_or_304(
    conditions: dict[str, list[str]], etag: str, last_modified: float, for_get: bool
) -> None:
    """Whatever the conditional headers hold, the outcome is pass, 412 or 304."""
    try:
        headers.evaluate_conditions(conditions, etag, last_modified, for_get=for_get)
    except S3Error as error:
        assert isinstance(error, (PreconditionFailed, NotModified))


@settings(max_examples=EXAMPLES)
@given(value=header_text)
def test_etag_list_of_arbitrary_text_is_a_list_of_tags(value: str) -> None:
    """Any If-Match text parses to tags that each occur in it."""
    assert all(tag in value for tag in headers.parse_etag_list(value))


@settings(max_examples=EXAMPLES)
@given(
    sent=st.dictionaries(
        st.sampled_from(["content-type", "content-encoding", "expires", "cache-control"])
        | st.text("abc-_\u00e9", max_size=8).map(lambda name: "x-amz-meta-" + name),
        st.lists(
            header_text | st.integers(500, 1100).map("\u00e9".__mul__), min_size=1, max_size=2
        ),
    )
)
def test_metadata_is_refused_exactly_when_its_utf8_size_exceeds_the_limit(
    sent: dict[str, list[str]],
) -> None:
    """Any request headers give stored metadata, or MetadataTooLarge exactly past 2 KiB of UTF-8."""
    size = sum(
        len(name[len("x-amz-meta-") :].encode("utf-8")) + len(",".join(values).encode("utf-8"))
        for name, values in sent.items()
        if name.startswith("x-amz-meta-") and name != "x-amz-meta-"
    )
    try:
        headers.metadata_from_headers(sent)
    except MetadataTooLarge:
        refused = True
    else:
        refused = False
    assert refused == (size > headers.USER_METADATA_MAX_BYTES)


# -- regressions found by the properties above ----------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=" + "9" * 5000 + "-", "416"),
        ("bytes=0-" + "9" * 5000, (0, 10)),
        ("bytes=-" + "9" * 5000, (0, 10)),
        ("bytes=" + "0" * 5000 + "3-", (3, 7)),
        ("bytes=" + "9" * 30 + "-" + "8" * 30, None),
    ],
)
def test_range_positions_longer_than_int_converts_are_read(
    value: str, expected: tuple[int, int] | str | None
) -> None:
    """Positions of thousands of digits are read, never handed to int() to crash on."""
    assert _parsed_range(value, 10) == expected
