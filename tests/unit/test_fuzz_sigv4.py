"""
Property-based tests of SigV4: the canonical request nanio builds equals the
one botocore's own signer builds for random keys, query strings and header
values; what botocore signs is accepted; a request changed in one byte of its
signature, path, query or a signed header is refused unless the change leaves
its meaning intact; and no input whatever makes authentication raise anything
but an S3 error.

The oracles for "same meaning" are written here from the SigV4 document
(percent-decoding, Trimall), not taken from nanio.
"""

from __future__ import annotations

import dataclasses
import re
import string
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanio.errors import S3Error, SignatureDoesNotMatch
from nanio.s3 import sigv4
from nanio.s3.auth import SignedRequest
from tests.support.signing import (
    ACCESS_KEY,
    authenticator_at,
    canonical_request_presigned_v4,
    canonical_request_v4,
    encode_query,
    nanio_canonical_request,
    object_url,
    presign_v4,
    sign_v4_headers,
)

#: Budget of the properties that sign with botocore.
SIGNING_EXAMPLES = 40
#: Budget of the properties that only run nanio's pure code.
PURE_EXAMPLES = 80

# Object keys: any Unicode text a client can encode (no lone surrogates).
keys = st.text(st.characters(codec="utf-8"), min_size=1, max_size=24)

# Query parameter names that would turn a request into a presigned one or
# collide with the presigned parameters are left to the scheme tests.
_AUTH_NAMES = {"signature", "awsaccesskeyid", "expires"}


def _ordinary_name(name: str) -> bool:
    """Tell whether a query parameter name has nothing to do with authentication."""
    lowered = name.lower()
    return lowered not in _AUTH_NAMES and not lowered.startswith("x-amz-")


query_pairs = st.lists(
    st.tuples(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=12).filter(_ordinary_name),
        st.text(st.characters(codec="utf-8"), max_size=12),
    ),
    max_size=4,
)

_BLANKS = st.sampled_from([" ", "  ", "\t", " \t ", "    "])
_WORDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)


@st.composite
def header_values(draw: st.DrawFn) -> str:
    """A header value made of words with runs of blanks between and around them."""
    words = draw(st.lists(_WORDS, min_size=1, max_size=4))
    value = words[0]
    for word in words[1:]:
        value += draw(_BLANKS) + word
    return draw(st.just("") | _BLANKS) + value + draw(st.just("") | _BLANKS)


meta_headers = st.dictionaries(
    st.from_regex(r"x-amz-meta-[a-z0-9]{1,8}", fullmatch=True), header_values(), max_size=3
)

# What can stand in for a byte of a request target: visible ASCII but the
# characters that end the path or the query, and some latin-1 text (raw
# UTF-8 bytes arrive latin-1 decoded).
_TARGET_CHARACTERS = st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(
    lambda c: c not in "?#"
) | st.sampled_from(["\xe2", "\x82", "\xac", "\xff"])


def _replace_at(text: str, index: int, character: str) -> str:
    """Return ``text`` with the character at ``index`` replaced."""
    return text[:index] + character + text[index + 1 :]


def _decoded_path(raw_path: str) -> bytes:
    """The bytes a raw path names once percent-decoded (what S3 compares)."""
    return unquote_to_bytes(raw_path.encode("latin-1"))


def _decoded_query(raw_query: str) -> list[tuple[bytes, bytes]]:
    """The sorted, percent-decoded parameters of a raw query string."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append(
                (
                    unquote_to_bytes(name.encode("latin-1")),
                    unquote_to_bytes(value.encode("latin-1")),
                )
            )
    return sorted(pairs)


def _trimall(value: str) -> str:
    """SigV4's Trimall(): no blanks at the ends, one space for each inner run."""
    return re.sub(r"[ \t]+", " ", value.strip(" \t"))


# -- canonicalization ---------------------------------------------------------


@settings(max_examples=SIGNING_EXAMPLES)
@given(key=keys, pairs=query_pairs, headers=meta_headers)
def test_canonical_request_equals_botocores(
    key: str, pairs: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    """For any key, query and padded header values, nanio's canonical request is botocore's."""
    url = object_url("bkt", key, encode_query(pairs))
    request, theirs = canonical_request_v4("PUT", url, headers, b"data")
    signed_headers = theirs.split("\n")[-2]
    payload = request.headers["x-amz-content-sha256"][0]
    assert nanio_canonical_request(request, signed_headers, payload, presigned=False) == theirs


@settings(max_examples=SIGNING_EXAMPLES)
@given(key=keys, pairs=query_pairs)
def test_presigned_canonical_request_equals_botocores(
    key: str, pairs: list[tuple[str, str]]
) -> None:
    """For any key and query, nanio's canonical request of a presigned URL is botocore's."""
    url = object_url("bkt", key, encode_query(pairs))
    request, theirs = canonical_request_presigned_v4("GET", url)
    assert (
        nanio_canonical_request(request, "host", sigv4.UNSIGNED_PAYLOAD, presigned=True) == theirs
    )


@settings(max_examples=PURE_EXAMPLES)
@given(raw_path=st.text(_TARGET_CHARACTERS | st.just("%"), max_size=40).map(lambda p: "/" + p))
def test_canonical_uri_is_the_reencoding_of_the_decoded_path(raw_path: str) -> None:
    """Any raw path canonicalizes to UriEncode() of its decoded bytes, slashes kept."""
    reencoded = "".join(
        chr(byte) if chr(byte) in string.ascii_letters + string.digits + "-._~/" else f"%{byte:02X}"
        for byte in _decoded_path(raw_path)
    )
    assert sigv4.canonical_uri(raw_path) == reencoded


@settings(max_examples=PURE_EXAMPLES)
@given(raw_query=st.text(_TARGET_CHARACTERS | st.sampled_from("%&="), max_size=40))
def test_canonical_query_is_the_sorted_reencoding_of_the_decoded_parameters(
    raw_query: str,
) -> None:
    """Any raw query canonicalizes to its decoded parameters, re-encoded and sorted."""
    unreserved = string.ascii_letters + string.digits + "-._~"

    def encode(data: bytes) -> str:
        return "".join(chr(b) if chr(b) in unreserved else f"%{b:02X}" for b in data)

    expected = sorted((encode(name), encode(value)) for name, value in _decoded_query(raw_query))
    assert sigv4.canonical_query(raw_query) == "&".join(f"{n}={v}" for n, v in expected)


@settings(max_examples=PURE_EXAMPLES)
@given(value=header_values())
def test_trim_header_value_is_trimall(value: str) -> None:
    """Any header value is trimmed as SigV4's Trimall() says."""
    assert sigv4.trim_header_value(value) == _trimall(value)


# -- what botocore signs is accepted -------------------------------------------


@settings(max_examples=SIGNING_EXAMPLES)
@given(key=keys, pairs=query_pairs, headers=meta_headers)
def test_botocore_signed_request_is_accepted(
    key: str, pairs: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    """A request botocore signed in the header, for any key, query and headers, is accepted."""
    request = sign_v4_headers("PUT", object_url("bkt", key, encode_query(pairs)), headers, b"x")
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


@settings(max_examples=SIGNING_EXAMPLES)
@given(key=keys, pairs=query_pairs)
def test_botocore_presigned_url_is_accepted(key: str, pairs: list[tuple[str, str]]) -> None:
    """A URL botocore presigned, for any key and query, is accepted."""
    request = presign_v4("GET", object_url("bkt", key, encode_query(pairs)))
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


# -- one byte changed ---------------------------------------------------------


@settings(max_examples=SIGNING_EXAMPLES)
@given(key=keys, data=st.data())
def test_signature_changed_in_one_character_is_refused(key: str, data: st.DataObject) -> None:
    """A header signature with any one character changed does not match."""
    request = sign_v4_headers("GET", object_url("bkt", key))
    authorization = request.headers["authorization"][0]
    start = authorization.rindex("Signature=") + len("Signature=")
    index = data.draw(st.integers(start, len(authorization) - 1))
    replacement = data.draw(st.sampled_from(string.hexdigits + "gG-"))
    assume(replacement != authorization[index])
    forged = dataclasses.replace(
        request,
        headers={
            **request.headers,
            "authorization": [_replace_at(authorization, index, replacement)],
        },
    )
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(forged)


@settings(max_examples=SIGNING_EXAMPLES)
@given(key=keys, data=st.data())
def test_presigned_signature_changed_in_one_character_is_refused(
    key: str, data: st.DataObject
) -> None:
    """A presigned URL's signature with any one character changed does not match."""
    request = presign_v4("GET", object_url("bkt", key))
    query = request.raw_query
    start = query.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    index = data.draw(st.integers(start, start + 63))
    replacement = data.draw(st.sampled_from(string.hexdigits))
    assume(replacement != query[index])
    forged = dataclasses.replace(request, raw_query=_replace_at(query, index, replacement))
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(forged)


@settings(max_examples=SIGNING_EXAMPLES)
@given(key=keys, presigned=st.booleans(), data=st.data())
def test_path_changed_in_one_byte_is_refused_unless_it_names_the_same_key(
    key: str, presigned: bool, data: st.DataObject
) -> None:
    """A path with one byte changed is refused whenever it decodes to other bytes."""
    url = object_url("bkt", key)
    request = presign_v4("GET", url) if presigned else sign_v4_headers("GET", url)
    index = data.draw(st.integers(1, len(request.raw_path) - 1))
    changed = _replace_at(request.raw_path, index, data.draw(_TARGET_CHARACTERS))
    assume(_decoded_path(changed) != _decoded_path(request.raw_path))
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(dataclasses.replace(request, raw_path=changed))


@settings(max_examples=SIGNING_EXAMPLES)
@given(
    pairs=query_pairs.filter(bool),
    data=st.data(),
)
def test_query_changed_in_one_byte_is_refused_unless_it_means_the_same(
    pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    """A query with one byte changed is refused whenever its decoded parameters differ."""
    request = sign_v4_headers("GET", object_url("bkt", "k", encode_query(pairs)))
    query = request.raw_query
    assume(query)
    index = data.draw(st.integers(0, len(query) - 1))
    changed = _replace_at(query, index, data.draw(_TARGET_CHARACTERS | st.sampled_from("&=")))
    assume(_decoded_query(changed) != _decoded_query(query))
    with pytest.raises(S3Error):
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=changed))


@settings(max_examples=SIGNING_EXAMPLES)
@given(headers=meta_headers, data=st.data())
def test_signed_header_changed_in_one_byte_is_refused_unless_trimall_hides_it(
    headers: dict[str, str], data: st.DataObject
) -> None:
    """A signed header value with one byte changed is refused whenever Trimall() differs."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), headers, b"body")
    signed = request.headers["authorization"][0].split("SignedHeaders=")[1].split(",")[0]
    name = data.draw(st.sampled_from(signed.split(";")))
    value = request.headers[name][0]
    assume(value)
    index = data.draw(st.integers(0, len(value) - 1))
    changed = _replace_at(
        value, index, data.draw(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | _BLANKS)
    )
    assume(_trimall(changed) != _trimall(value))
    forged = dataclasses.replace(request, headers={**request.headers, name: [changed]})
    with pytest.raises(S3Error):
        authenticator_at().authenticate(forged)


# -- no input crashes authentication --------------------------------------------

_DIGIT_RUNS = st.one_of(
    st.from_regex(r"-?[0-9]{1,12}", fullmatch=True),
    # Longer than int() converts (4300 digits): parsers must not hand them to it.
    st.integers(4200, 6000).map(lambda n: "9" * n),
)
_JUNK = st.text(st.characters(max_codepoint=0xFF), max_size=40) | _DIGIT_RUNS
_V4_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Content-Sha256",
)


def _authorization_values() -> st.SearchStrategy[str]:
    """Authorization values from junk to nearly right."""
    component = st.sampled_from(["Credential", "SignedHeaders", "Signature", "Other", ""])
    components = st.lists(st.tuples(component, _JUNK), max_size=4).map(
        lambda items: ", ".join(f"{name}={value}" for name, value in items)
    )
    return st.one_of(
        _JUNK,
        components.map(lambda rest: f"AWS4-HMAC-SHA256 {rest}"),
        _JUNK.map(lambda rest: f"AWS4-HMAC-SHA256 Credential={rest}"),
        st.tuples(_JUNK, _JUNK).map(lambda pair: f"AWS {pair[0]}:{pair[1]}"),
    )


@st.composite
def junk_requests(draw: st.DrawFn) -> SignedRequest:
    """A request with arbitrary authentication headers and query parameters."""
    headers: dict[str, list[str]] = {"host": ["localhost:9000"]}
    for name in ("authorization", "x-amz-date", "date", "x-amz-content-sha256"):
        if draw(st.booleans()):
            values = draw(
                st.lists(
                    _authorization_values() if name == "authorization" else _JUNK,
                    min_size=1,
                    max_size=2,
                )
            )
            headers[name] = values
    names = st.sampled_from(
        [*_V4_PARAMETERS, "AWSAccessKeyId", "Signature", "Expires", "x-amz-meta-a"]
    )
    params = draw(st.lists(st.tuples(names, _JUNK), max_size=6))
    raw_query = "&".join(f"{name}={value}" for name, value in params)
    raw_path = draw(st.text(_TARGET_CHARACTERS | st.just("%"), max_size=20))
    return SignedRequest(
        method=draw(st.sampled_from(["GET", "PUT", "é"])),
        raw_path="/" + raw_path,
        raw_query=raw_query,
        headers=headers,
    )


@settings(max_examples=PURE_EXAMPLES)
@given(request=junk_requests())
def test_arbitrary_authentication_input_raises_only_s3_errors(request: SignedRequest) -> None:
    """Whatever a request carries for credentials, authentication refuses it with an S3 error."""
    with pytest.raises(S3Error):
        authenticator_at().authenticate(request)


@settings(max_examples=PURE_EXAMPLES)
@given(data=st.data())
def test_presigned_url_with_one_parameter_replaced_raises_only_s3_errors(
    data: st.DataObject,
) -> None:
    """A valid presigned URL with any one parameter's value replaced by junk is refused cleanly."""
    request = presign_v4("GET", object_url("bkt", "k"))
    params = [part.partition("=") for part in request.raw_query.split("&")]
    index = data.draw(st.integers(0, len(params) - 1))
    name = params[index][0]
    params[index] = (name, "=", data.draw(_JUNK))
    assume(params[index] != request.raw_query.split("&")[index].partition("="))
    changed = "&".join("".join(p) for p in params)
    with pytest.raises(S3Error):
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=changed))


# -- regressions found by the properties above ----------------------------------


def test_presigned_expires_of_thousands_of_digits_is_refused_cleanly() -> None:
    """An X-Amz-Expires longer than int() converts is an AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"))
    changed = re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=" + "9" * 5000, request.raw_query)
    with pytest.raises(S3Error) as caught:
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=changed))
    assert caught.value.code == "AuthorizationQueryParametersError"


def test_presigned_expires_with_leading_zeros_is_read_as_its_value() -> None:
    """An X-Amz-Expires padded with thousands of zeros still means its value."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=3600)
    changed = request.raw_query.replace(
        "X-Amz-Expires=3600", "X-Amz-Expires=" + "0" * 5000 + "3600"
    )
    # The padded value is part of the signed query, so the signature no longer matches:
    # the point is that the lifetime parsed without crashing.
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=changed))


def test_sigv2_presigned_expires_of_thousands_of_digits_is_refused_cleanly() -> None:
    """A SigV2 Expires longer than int() converts is far in the future, not a crash."""
    request = SignedRequest(
        method="GET",
        raw_path="/bkt/k",
        raw_query="AWSAccessKeyId=" + ACCESS_KEY + "&Signature=abc&Expires=" + "9" * 5000,
        headers={"host": ["localhost:9000"]},
    )
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(request)
