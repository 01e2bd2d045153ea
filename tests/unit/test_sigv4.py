"""
SigV4 canonicalization, checked against the canonical requests botocore's
own signers build, and against AWS's published examples.
"""

from __future__ import annotations

import pytest

from nanio.s3 import sigv4
from nanio.s3.auth import SignedRequest
from tests.support.signing import (
    AWKWARD_KEYS,
    QUERIES,
    canonical_request_presigned_v4,
    canonical_request_v4,
    nanio_canonical_request,
    object_url,
)


def _ours(request: SignedRequest, theirs: str) -> str:
    """nanio's canonical request of a header-signed request, over what botocore signed."""
    signed_headers = theirs.split("\n")[-2]
    payload = request.headers["x-amz-content-sha256"][0]
    return nanio_canonical_request(request, signed_headers, payload, presigned=False)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_canonical_request_matches_botocore_for_awkward_keys(key: str) -> None:
    """The canonical request of a PUT to an awkward key equals botocore's."""
    request, theirs = canonical_request_v4("PUT", object_url("bkt", key), body=b"data")
    assert _ours(request, theirs) == theirs


@pytest.mark.parametrize("query", QUERIES)
def test_canonical_request_matches_botocore_for_queries(query: str) -> None:
    """The canonical request of a GET with a query string equals botocore's."""
    request, theirs = canonical_request_v4("GET", object_url("bkt", "", query))
    assert _ours(request, theirs) == theirs


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_presigned_canonical_request_matches_botocore(key: str) -> None:
    """The canonical request of a presigned GET equals botocore's."""
    request, theirs = canonical_request_presigned_v4("GET", object_url("bkt", key))
    assert (
        nanio_canonical_request(request, "host", sigv4.UNSIGNED_PAYLOAD, presigned=True) == theirs
    )


def test_canonical_headers_match_botocore_for_repeated_and_padded_headers() -> None:
    """Repeated headers join with commas and blanks are trimmed as botocore does."""
    headers = [
        ("x-amz-meta-list", "one"),
        ("x-amz-meta-list", "  two   words  "),
        ("Content-Type", "text/plain;   charset=utf-8"),
    ]
    request, theirs = canonical_request_v4("PUT", object_url("bkt", "k"), headers, b"x")
    assert _ours(request, theirs) == theirs


def test_canonical_uri_decodes_then_reencodes_once() -> None:
    """A path's escapes are decoded and re-encoded once, never doubled."""
    assert sigv4.canonical_uri("/bkt/a%20b%2Bc") == "/bkt/a%20b%2Bc"


def test_canonical_uri_encodes_characters_sent_unencoded() -> None:
    """Characters a client sent unencoded are encoded as UriEncode() does."""
    assert sigv4.canonical_uri("/bkt/a!b*c'd(e)") == "/bkt/a%21b%2Ac%27d%28e%29"


def test_canonical_uri_uppercases_escapes() -> None:
    """Lower-case escapes come out upper-case."""
    assert sigv4.canonical_uri("/bkt/%e2%82%ac") == "/bkt/%E2%82%AC"


def test_canonical_uri_decodes_escaped_unreserved_characters() -> None:
    """An escaped unreserved character (%7E) is written plainly."""
    assert sigv4.canonical_uri("/bkt/a%7Eb") == "/bkt/a~b"


def test_canonical_uri_keeps_dot_segments() -> None:
    """S3 does not normalise paths: dot segments and double slashes stay."""
    assert sigv4.canonical_uri("/bkt/a/../b//c/.") == "/bkt/a/../b//c/."


def test_canonical_uri_recovers_raw_utf8_bytes() -> None:
    """Raw UTF-8 bytes on the request line (latin-1 decoded) are encoded as bytes."""
    raw = "/bkt/€".encode().decode("latin-1")
    assert sigv4.canonical_uri(raw) == "/bkt/%E2%82%AC"


def test_canonical_uri_of_empty_path_is_slash() -> None:
    """An empty path canonicalizes to "/"."""
    assert sigv4.canonical_uri("") == "/"


def test_canonical_query_sorts_by_name_then_value() -> None:
    """Parameters sort by encoded name, then by encoded value."""
    assert sigv4.canonical_query("b=2&a=1&a=0&a-b=3") == "a=0&a=1&a-b=3&b=2"


def test_canonical_query_gives_bare_names_an_empty_value() -> None:
    """A parameter without "=" gets an empty value."""
    assert sigv4.canonical_query("uploads") == "uploads="


def test_canonical_query_keeps_a_literal_plus_as_plus() -> None:
    """A literal "+" is a plus (encoded %2B), never a space."""
    assert sigv4.canonical_query("prefix=a+b") == "prefix=a%2Bb"


def test_canonical_query_encodes_slash() -> None:
    """Slashes in query values are encoded as %2F."""
    assert sigv4.canonical_query("delimiter=/") == "delimiter=%2F"


def test_canonical_query_encodes_a_second_equals_sign() -> None:
    """Only the first "=" separates; later ones belong to the value."""
    assert sigv4.canonical_query("a=b=c") == "a=b%3Dc"


def test_canonical_query_normalises_escape_case() -> None:
    """Lower-case escapes come out upper-case and escaped unreserved ones plain."""
    assert sigv4.canonical_query("p=%2f%7e") == "p=%2F~"


def test_canonical_query_drops_the_presigned_signature() -> None:
    """X-Amz-Signature is left out of a presigned URL's canonical query."""
    assert sigv4.canonical_query("X-Amz-Signature=ab&a=1", drop_signature=True) == "a=1"


def test_trim_header_value_collapses_inner_blanks() -> None:
    """Trimall() strips the ends and folds inner runs of blanks to one space."""
    assert sigv4.trim_header_value("  a \t  b  c ") == "a b c"


def test_derive_signing_key_matches_aws_example() -> None:
    """The derived key equals the one in AWS's "derive a signing key" example."""
    key = sigv4.derive_signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
    )
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signing_key_cache_returns_the_same_key_for_the_same_day() -> None:
    """A second lookup for one user, day and region reuses the cached key."""
    cache = sigv4.SigningKeyCache()
    first = cache.get("AK", "secret", "20261125", "us-east-1")
    assert cache.get("AK", "secret", "20261125", "us-east-1") is first


def test_signing_key_cache_is_bounded() -> None:
    """The cache never holds more than its configured number of keys."""
    cache = sigv4.SigningKeyCache(max_entries=3)
    for day in range(10, 20):
        cache.get("AK", "secret", f"202611{day}", "us-east-1")
    assert len(cache) == 3


def test_signing_key_cache_separates_rotated_secrets() -> None:
    """A new secret for the same access key derives a new key."""
    cache = sigv4.SigningKeyCache()
    old = cache.get("AK", "old-secret", "20261125", "us-east-1")
    assert cache.get("AK", "new-secret", "20261125", "us-east-1").key != old.key


def test_split_authorization_reads_botocore_layout() -> None:
    """botocore's ", "-separated Authorization splits into its three parts."""
    value = (
        "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )
    assert sigv4.split_authorization(value) == (
        "AK/20261125/us-east-1/s3/aws4_request",
        "host;x-amz-date",
        "abc",
    )


def test_split_authorization_reads_components_in_any_order() -> None:
    """Components in another order, comma-separated without blanks, still parse."""
    value = (
        "AWS4-HMAC-SHA256 Signature=abc,SignedHeaders=host,"
        "Credential=AK/20261125/us-east-1/s3/aws4_request"
    )
    assert sigv4.split_authorization(value)[2] == "abc"


def test_split_authorization_requires_all_three_components() -> None:
    """An Authorization value without a Signature component is refused."""
    with pytest.raises(ValueError, match="three components"):
        sigv4.split_authorization("AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request")


def test_parse_credential_splits_the_scope() -> None:
    """A credential splits into access key and scope."""
    credential = sigv4.parse_credential("AK/20261125/eu-west-3/s3/aws4_request")
    assert (credential.access_key, credential.region, credential.scope) == (
        "AK",
        "eu-west-3",
        "20261125/eu-west-3/s3/aws4_request",
    )


def test_parse_credential_refuses_another_service() -> None:
    """A scope for a service other than s3 is refused."""
    with pytest.raises(ValueError, match='incorrect service "iam"'):
        sigv4.parse_credential("AK/20261125/us-east-1/iam/aws4_request")


def test_parse_credential_refuses_another_terminator() -> None:
    """A scope not ending in aws4_request is refused."""
    with pytest.raises(ValueError, match='incorrect terminal "aws5_request"'):
        sigv4.parse_credential("AK/20261125/us-east-1/s3/aws5_request")


def test_parse_credential_refuses_too_few_parts() -> None:
    """A credential without all five parts is refused."""
    with pytest.raises(ValueError, match="mal-formed"):
        sigv4.parse_credential("AK/20261125/s3/aws4_request")


def test_parse_amz_date_reads_iso8601_basic() -> None:
    """An ISO 8601 basic timestamp parses to epoch seconds."""
    assert sigv4.parse_amz_date("19700102T030405Z") == 86400 + 3 * 3600 + 4 * 60 + 5


@pytest.mark.parametrize("text", ["20261325T000000Z", "20261125T250000Z", "2026-11-25", ""])
def test_parse_amz_date_refuses_impossible_dates(text: str) -> None:
    """A malformed or impossible timestamp parses to None."""
    assert sigv4.parse_amz_date(text) is None


@pytest.mark.parametrize(
    "value",
    ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", sigv4.EMPTY_SHA256],
)
def test_valid_payload_hashes_are_accepted(value: str) -> None:
    """Hashes and the S3 payload keywords are valid x-amz-content-sha256 values."""
    assert sigv4.is_valid_payload_hash(value)


def test_invalid_payload_hash_is_refused() -> None:
    """A value that is neither a SHA-256 hex digest nor a keyword is invalid."""
    assert not sigv4.is_valid_payload_hash("abc")
