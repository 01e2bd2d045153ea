"""Header semantics: stored metadata, HTTP dates, Range and conditional requests."""

from __future__ import annotations

import calendar
import email.utils

import pytest

from nanio.errors import InvalidRange, MetadataTooLarge, NotModified, PreconditionFailed
from nanio.s3.headers import (
    STORED_HEADERS,
    ByteRange,
    _rfc850_year,
    content_range,
    evaluate_conditions,
    format_http_date,
    format_iso8601,
    metadata_from_headers,
    parse_etag_list,
    parse_http_date,
    parse_range,
)

# --------------------------------------------------------------------------
# Metadata


def test_content_type_is_returned_apart() -> None:
    """Content-Type comes back as the first element, not among stored headers."""
    content_type, stored, user = metadata_from_headers({"content-type": ["text/plain"]})
    assert (content_type, stored, user) == ("text/plain", {}, {})


def test_missing_content_type_is_none() -> None:
    """Without a Content-Type header the content type is None."""
    assert metadata_from_headers({})[0] is None


def test_standard_headers_are_stored() -> None:
    """Every header in STORED_HEADERS is kept under its lower-case name."""
    headers = {name: [f"value of {name}"] for name in STORED_HEADERS}
    assert metadata_from_headers(headers)[1] == {
        name: f"value of {name}" for name in STORED_HEADERS
    }


def test_other_headers_are_not_stored() -> None:
    """Headers S3 does not store (Authorization, Host, x-amz-date) are left out."""
    headers = {"authorization": ["AWS4-HMAC-SHA256 ..."], "host": ["h"], "x-amz-date": ["d"]}
    assert metadata_from_headers(headers) == (None, {}, {})


def test_user_metadata_loses_its_prefix() -> None:
    """x-amz-meta-* headers become user metadata named without the prefix."""
    headers = {"x-amz-meta-color": ["blue"], "x-amz-meta-owner-name": ["Zoë"]}
    assert metadata_from_headers(headers)[2] == {"color": "blue", "owner-name": "Zoë"}


def test_repeated_metadata_lines_are_joined_with_commas() -> None:
    """Two lines of one x-amz-meta header become one comma-separated value, as S3 does."""
    assert metadata_from_headers({"x-amz-meta-tag": ["a", "b"]})[2] == {"tag": "a,b"}


def test_bare_metadata_prefix_is_ignored() -> None:
    """A header named just x-amz-meta- names nothing and is not stored."""
    assert metadata_from_headers({"x-amz-meta-": ["x"]})[2] == {}


def test_user_metadata_at_the_limit_is_accepted() -> None:
    """User metadata of exactly 2 KiB (names plus values in UTF-8 bytes) is accepted."""
    headers = {"x-amz-meta-a": ["x" * 2047]}
    assert metadata_from_headers(headers)[2] == {"a": "x" * 2047}


def test_user_metadata_over_the_limit_is_refused() -> None:
    """User metadata one byte over 2 KiB answers MetadataTooLarge."""
    with pytest.raises(MetadataTooLarge):
        metadata_from_headers({"x-amz-meta-a": ["x" * 2048]})


def test_user_metadata_size_counts_utf8_bytes() -> None:
    """Multi-byte characters count by their UTF-8 bytes: 1 + 2 x 1024 bytes is over 2 KiB."""
    with pytest.raises(MetadataTooLarge):
        metadata_from_headers({"x-amz-meta-a": ["é" * 1024]})


def test_user_metadata_size_sums_every_entry() -> None:
    """The 2 KiB limit applies to all entries together, not to each one."""
    headers = {f"x-amz-meta-k{i}": ["v" * 500] for i in range(5)}
    with pytest.raises(MetadataTooLarge):
        metadata_from_headers(headers)


def test_aws_chunked_alone_is_dropped() -> None:
    """Content-Encoding: aws-chunked describes the upload only, so nothing is stored."""
    assert metadata_from_headers({"content-encoding": ["aws-chunked"]})[1] == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip,aws-chunked", "gzip"),
        ("aws-chunked,gzip", "gzip"),
        ("gzip, AWS-Chunked", "gzip"),
        ("gzip,aws-chunked,br", "gzip,br"),
    ],
)
def test_aws_chunked_token_is_stripped(value: str, expected: str) -> None:
    """The aws-chunked token is removed from Content-Encoding and other codings kept."""
    assert metadata_from_headers({"content-encoding": [value]})[1] == {"content-encoding": expected}


def test_content_encoding_without_aws_chunked_is_kept_verbatim() -> None:
    """A Content-Encoding without aws-chunked is stored exactly as sent."""
    assert metadata_from_headers({"content-encoding": ["gzip, br"]})[1] == {
        "content-encoding": "gzip, br"
    }


# --------------------------------------------------------------------------
# Dates

# Wed, 25 Nov 2026 01:02:03 GMT
EPOCH = calendar.timegm((2026, 11, 25, 1, 2, 3))


def test_format_http_date() -> None:
    """An epoch time formats as an RFC 7231 IMF-fixdate."""
    assert format_http_date(EPOCH) == "Wed, 25 Nov 2026 01:02:03 GMT"


def test_format_iso8601() -> None:
    """An epoch time formats as S3's ISO 8601 with milliseconds and Z."""
    assert format_iso8601(EPOCH) == "2026-11-25T01:02:03.000Z"


def test_formatting_drops_fractions_of_a_second() -> None:
    """A fractional time formats as its whole second."""
    assert format_iso8601(EPOCH + 0.999) == "2026-11-25T01:02:03.000Z"


def test_formatting_is_right_after_the_cached_second_changes() -> None:
    """Alternating between two seconds gives each its own text (the cache never leaks)."""
    results = [format_http_date(EPOCH + offset) for offset in (0, 86_399, 0, 86_399)]
    assert results == [
        "Wed, 25 Nov 2026 01:02:03 GMT",
        "Thu, 26 Nov 2026 01:02:02 GMT",
        "Wed, 25 Nov 2026 01:02:03 GMT",
        "Thu, 26 Nov 2026 01:02:02 GMT",
    ]


@pytest.mark.parametrize("epoch", [0, 951_868_799, 951_868_800, 1_700_000_000, 4_102_444_799])
def test_http_date_matches_the_standard_library(epoch: int) -> None:
    """format_http_date agrees with email.utils on edge dates (epoch, leap day, 2099)."""
    assert format_http_date(epoch) == email.utils.formatdate(epoch, usegmt=True)


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 25 Nov 2026 01:02:03 GMT",
        "Wednesday, 25-Nov-26 01:02:03 GMT",
        "Wed Nov 25 01:02:03 2026",
        "  Wed, 25 Nov 2026 01:02:03 GMT  ",
    ],
)
def test_parse_http_date_accepts_all_three_forms(value: str) -> None:
    """IMF-fixdate, RFC 850 and asctime dates all parse to the same instant."""
    assert parse_http_date(value) == EPOCH


def test_parse_asctime_with_a_one_digit_day() -> None:
    """An asctime date pads a one-digit day with a space."""
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == 784_111_777


def test_parse_rfc850_old_century() -> None:
    """An RFC 850 date from the last century parses to its instant."""
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777


@pytest.mark.parametrize(
    ("two_digits", "this_year", "expected"),
    [(94, 2026, 1994), (26, 2026, 2026), (76, 2026, 2076), (77, 2026, 1977), (5, 2098, 2105)],
)
def test_rfc850_year_is_never_more_than_50_years_ahead(
    two_digits: int, this_year: int, expected: int
) -> None:
    """A two-digit year more than 50 years ahead of this year means the previous century."""
    assert _rfc850_year(two_digits, this_year) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2026-11-25T01:02:03Z",
        "Wed, 25 Nov 2026 01:02:03 PST",
        "Wed, 31 Feb 2026 01:02:03 GMT",
        "Wed, 25 Foo 2026 01:02:03 GMT",
        "Wed, 25 Nov 2026 24:02:03 GMT",
        "Wed, 25 Nov 0000 01:02:03 GMT",
        "Wed, \uff125 Nov 2026 01:02:03 GMT",
    ],
)
def test_parse_http_date_refuses_garbage(value: str) -> None:
    """A value that is no valid HTTP date parses to None."""
    assert parse_http_date(value) is None


def test_http_date_round_trips() -> None:
    """Formatting then parsing gives back the whole second."""
    assert parse_http_date(format_http_date(EPOCH + 0.5)) == EPOCH


# --------------------------------------------------------------------------
# Range


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        ("bytes=0-9", 100, ByteRange(0, 10)),
        ("bytes=10-19", 100, ByteRange(10, 10)),
        ("bytes=99-99", 100, ByteRange(99, 1)),
        ("bytes=90-", 100, ByteRange(90, 10)),
        ("bytes=0-", 100, ByteRange(0, 100)),
        ("bytes=-10", 100, ByteRange(90, 10)),
        ("bytes=50-1000", 100, ByteRange(50, 50)),
        ("bytes=-1000", 100, ByteRange(0, 100)),
        ("BYTES=0-0", 100, ByteRange(0, 1)),
        ("bytes= 0-0", 100, ByteRange(0, 1)),
    ],
)
def test_satisfiable_range(value: str, size: int, expected: ByteRange) -> None:
    """A satisfiable range resolves to its start and length, clamped to the object."""
    assert parse_range(value, size) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=5-2",
        "bytes=a-b",
        "bytes=1.5-2",
        "bytes=0-1,5-6",
        "bytes=0-1, 5-6",
        "items=0-1",
        "0-1",
        "bytes=\uff10-1",
    ],
)
def test_absent_or_malformed_range_means_whole_object(value: str | None) -> None:
    """An absent, malformed or multi-range header is ignored: the whole object is sent."""
    assert parse_range(value, 100) is None


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=1-2", 0),
        ("bytes=-0", 0),
    ],
)
def test_unsatisfiable_range_is_refused(value: str, size: int) -> None:
    """A start at or past the end, a zero suffix, or any start on an empty object is 416."""
    with pytest.raises(InvalidRange):
        parse_range(value, size)


def test_unsatisfiable_range_reports_the_size() -> None:
    """InvalidRange carries ActualObjectSize and the Content-Range of a 416, as S3 sends them."""
    with pytest.raises(InvalidRange) as info:
        parse_range("bytes=200-", 100)
    assert info.value.fields["ActualObjectSize"] == "100"
    assert info.value.headers == {"Content-Range": "bytes */100"}


def test_suffix_range_of_empty_object_is_whole_object() -> None:
    """A positive suffix range on an empty object is served whole (200), as S3 does."""
    assert parse_range("bytes=-5", 0) is None


def test_content_range() -> None:
    """Content-Range shows first and last byte and the object size."""
    assert content_range(ByteRange(0, 10), 100) == "bytes 0-9/100"


def test_content_range_of_last_byte() -> None:
    """A one-byte range at the end shows the same first and last byte."""
    assert content_range(ByteRange(99, 1), 100) == "bytes 99-99/100"


# --------------------------------------------------------------------------
# Entity-tag lists


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"abc"', ["abc"]),
        ('"a", "b"', ["a", "b"]),
        ('"a","b"', ["a", "b"]),
        ('W/"abc"', ["abc"]),
        ("*", ["*"]),
        ("abc", ["abc"]),
        ('"a,b"', ["a,b"]),
        ('"abc-3"', ["abc-3"]),
        (' , "a" ,', ["a"]),
        ("", []),
    ],
)
def test_parse_etag_list(value: str, expected: list[str]) -> None:
    """An If-Match/If-None-Match value splits into bare tags, quotes and W/ removed."""
    assert parse_etag_list(value) == expected


# --------------------------------------------------------------------------
# Conditional requests

ETAG = "d41d8cd98f00b204e9800998ecf8427e"
OTHER = "0123456789abcdef0123456789abcdef"
# The object's time has a fraction: comparisons happen at whole seconds.
LAST_MODIFIED = EPOCH + 0.75
EARLIER = format_http_date(EPOCH - 60)
SAME = format_http_date(EPOCH)
LATER = format_http_date(EPOCH + 60)


def check(headers: dict[str, str], *, for_get: bool = True, etag: str = ETAG) -> str:
    """Evaluate conditions and say what the response would be: 200, 304 or 412."""
    try:
        evaluate_conditions(
            {k: [v] for k, v in headers.items()}, etag, LAST_MODIFIED, for_get=for_get
        )
    except NotModified:
        return "304"
    except PreconditionFailed:
        return "412"
    return "200"


CONDITION_CASES = [
    # (headers, for_get, expected, what it shows)
    ({}, True, "200", "no conditions"),
    ({"if-match": f'"{ETAG}"'}, True, "200", "If-Match equal"),
    ({"if-match": ETAG}, True, "200", "If-Match without quotes"),
    ({"if-match": f'W/"{ETAG}"'}, True, "200", "If-Match weak tag"),
    ({"if-match": f'"{OTHER}"'}, True, "412", "If-Match different"),
    ({"if-match": "*"}, True, "200", "If-Match star on an existing object"),
    ({"if-match": f'"{OTHER}", "{ETAG}"'}, True, "200", "If-Match list"),
    ({"if-match": f'"{OTHER}"'}, False, "412", "If-Match different on a write"),
    ({"if-none-match": f'"{ETAG}"'}, True, "304", "If-None-Match equal on GET"),
    ({"if-none-match": f'"{ETAG}"'}, False, "412", "If-None-Match equal on a write"),
    ({"if-none-match": "*"}, True, "304", "If-None-Match star on GET"),
    ({"if-none-match": "*"}, False, "412", "If-None-Match star on a write"),
    ({"if-none-match": f'"{OTHER}"'}, True, "200", "If-None-Match different"),
    ({"if-none-match": f'"{OTHER}", "{ETAG}"'}, True, "304", "If-None-Match list"),
    ({"if-modified-since": EARLIER}, True, "200", "modified since an earlier date"),
    ({"if-modified-since": SAME}, True, "304", "not modified since its own second"),
    ({"if-modified-since": LATER}, True, "304", "not modified since a later date"),
    ({"if-modified-since": LATER}, False, "200", "If-Modified-Since ignored on a write"),
    ({"if-modified-since": "garbage"}, True, "200", "unparseable If-Modified-Since ignored"),
    ({"if-unmodified-since": EARLIER}, True, "412", "modified after If-Unmodified-Since"),
    ({"if-unmodified-since": SAME}, True, "200", "unmodified since its own second"),
    ({"if-unmodified-since": LATER}, True, "200", "unmodified since a later date"),
    ({"if-unmodified-since": "garbage"}, True, "200", "unparseable If-Unmodified-Since ignored"),
    # S3's documented combinations (RFC 9110 section 13.2.2 order).
    (
        {"if-match": ETAG, "if-unmodified-since": EARLIER},
        True,
        "200",
        "If-Match true beats IUS false",
    ),
    (
        {"if-match": OTHER, "if-unmodified-since": LATER},
        True,
        "412",
        "If-Match false with IUS true",
    ),
    (
        {"if-none-match": ETAG, "if-modified-since": EARLIER},
        True,
        "304",
        "INM false beats IMS true",
    ),
    (
        {"if-none-match": OTHER, "if-modified-since": LATER},
        True,
        "200",
        "INM true overrides IMS false",
    ),
    ({"if-match": ETAG, "if-none-match": ETAG}, True, "304", "If-Match true then INM false"),
    ({"if-match": OTHER, "if-none-match": ETAG}, True, "412", "If-Match false is checked first"),
    ({"if-unmodified-since": EARLIER, "if-modified-since": LATER}, True, "412", "IUS before IMS"),
    (
        {"if-unmodified-since": LATER, "if-modified-since": LATER},
        True,
        "304",
        "IUS true then IMS false",
    ),
]


@pytest.mark.parametrize(
    ("headers", "for_get", "expected"),
    [case[:3] for case in CONDITION_CASES],
    ids=[case[3] for case in CONDITION_CASES],
)
def test_conditional_request(headers: dict[str, str], for_get: bool, expected: str) -> None:
    """Each conditional header and combination answers 200, 304 or 412 as S3 does."""
    assert check(headers, for_get=for_get) == expected


def test_stored_etag_with_quotes_still_matches() -> None:
    """An object ETag given with quotes compares equal to the same tag in a header."""
    assert check({"if-match": f'"{ETAG}"'}, etag=f'"{ETAG}"') == "200"


def test_multipart_etag_matches() -> None:
    """A multipart ETag (md5-N) compares as a whole."""
    assert check({"if-none-match": '"abc-3"'}, etag="abc-3") == "304"


def test_precondition_failed_names_the_condition() -> None:
    """PreconditionFailed names the header that failed, as S3's Condition field does."""
    with pytest.raises(PreconditionFailed) as info:
        evaluate_conditions({"if-match": ['"nope"']}, ETAG, LAST_MODIFIED, for_get=True)
    assert info.value.fields == {"Condition": "If-Match"}


def test_repeated_if_match_lines_are_combined() -> None:
    """If-Match sent on two lines is one list: a match on the second line passes."""
    headers = {"if-match": [f'"{OTHER}"', f'"{ETAG}"']}
    assert evaluate_conditions(headers, ETAG, LAST_MODIFIED, for_get=True) is None
