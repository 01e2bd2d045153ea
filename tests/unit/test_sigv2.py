"""
SigV2 (HMAC-SHA1): strings to sign checked against botocore's HmacV1Auth, and
the header and presigned forms verified end to end by the Authenticator
against requests signed by botocore, boto3 and s3cmd.  The refusals SigV2
shares with SigV4 (awkward keys, wrong credentials, changes after signing,
clock skew, expiry) are tabled with SigV4's in test_auth.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from nanio.errors import (
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
)
from nanio.s3 import sigv2
from nanio.s3.auth import SignedRequest
from tests.support.signing import (
    ACCESS_KEY,
    AWKWARD_KEYS,
    authenticator_at,
    boto3_client,
    boto3_presigned,
    capture,
    encode_query,
    object_url,
    presign_v2,
    s3cmd_sign_v2,
    sign_v2,
    string_to_sign_v2,
    with_headers,
)

SUBRESOURCE_QUERIES = [
    "acl",
    "uploads",
    encode_query([("uploadId", "abc/def=="), ("partNumber", "3")]),
    encode_query([("response-content-type", "text/plain"), ("response-expires", "Thu, 01 Dec")]),
    encode_query([("prefix", "a b"), ("delimiter", "/"), ("list-type", "2")]),
    "versioning&versionId=x",
]


def _ours(request: SignedRequest) -> str:
    """Build the primary SigV2 string to sign the way nanio.s3.auth does."""
    headers = request.headers
    resource = next(
        sigv2.resource_candidates(request.raw_path, request.raw_query, request.virtual_host_bucket)
    )
    return sigv2.string_to_sign(
        request.method,
        headers.get("content-md5", [""])[0],
        headers.get("content-type", [""])[0],
        headers["date"][0],
        sigv2.canonical_amz_headers(headers),
        resource,
    )


# -- strings to sign ---------------------------------------------------------


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_string_to_sign_matches_botocore_for_awkward_keys(key: str) -> None:
    """The string to sign of a PUT to an awkward key equals botocore's."""
    request, theirs = string_to_sign_v2(
        "PUT", object_url("bkt", key), {"Content-Type": "text/plain", "Content-MD5": "abc=="}
    )
    assert _ours(request) == theirs


@pytest.mark.parametrize("query", SUBRESOURCE_QUERIES)
def test_string_to_sign_matches_botocore_for_subresources(query: str) -> None:
    """Sub-resources are kept, decoded and sorted as botocore does."""
    request, theirs = string_to_sign_v2("GET", object_url("bkt", "k", query))
    assert _ours(request) == theirs


def test_string_to_sign_matches_botocore_for_amz_headers() -> None:
    """x-amz- headers are lower-cased, sorted and repeated values comma-joined."""
    headers = [
        ("X-Amz-Meta-Zeta", " last "),
        ("x-amz-meta-alpha", "one"),
        ("x-amz-meta-alpha", "two"),
        ("Cache-Control", "no-cache"),
    ]
    request, theirs = string_to_sign_v2("PUT", object_url("bkt", "k"), headers)
    assert _ours(request) == theirs


def test_string_to_sign_matches_botocore_for_virtual_host_bucket() -> None:
    """A virtual-host request signs "/bucket" plus the path."""
    request, theirs = string_to_sign_v2(
        "GET", "http://bkt.localhost:9000/dir/key", virtual_host_bucket="bkt"
    )
    assert _ours(request) == theirs


def test_string_to_sign_of_virtual_host_bucket_itself_ends_in_slash() -> None:
    """A virtual-host request for the bucket itself signs "/bucket/"."""
    request, theirs = string_to_sign_v2(
        "GET", "http://bkt.localhost:9000/?acl", virtual_host_bucket="bkt"
    )
    assert _ours(request) == theirs


def test_subresources_ignore_ordinary_parameters() -> None:
    """Listing parameters are not part of the canonicalized resource."""
    assert sigv2.canonical_subresources("prefix=a&max-keys=2") == ""


def test_parse_authorization_splits_key_and_signature() -> None:
    """``AWS AKID:sig`` splits into access key and signature."""
    assert sigv2.parse_authorization("AWS AKID:c2ln+/=") == ("AKID", "c2ln+/=")


def test_sign_matches_the_s3_documentation_example() -> None:
    """The signature of the S3 developer guide's GET example is reproduced."""
    text = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
    signature = sigv2.sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", text.encode())
    assert signature == "bWq2s1WEIj+Ydj0vQ697zp+IXMU="


# -- header form -------------------------------------------------------------


@pytest.mark.parametrize("query", SUBRESOURCE_QUERIES)
def test_header_signed_request_with_subresources_is_accepted(query: str) -> None:
    """A botocore HmacV1Auth request with sub-resources authenticates."""
    request = sign_v2("GET", object_url("bkt", "k", query))
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_header_signed_result_is_unsigned_payload() -> None:
    """SigV2 never signs the body, so the result says UNSIGNED-PAYLOAD."""
    request = sign_v2("GET", object_url("bkt", "k"))
    assert authenticator_at().authenticate(request).content_sha256 == "UNSIGNED-PAYLOAD"


def test_boto3_sigv2_virtual_host_request_is_accepted() -> None:
    """A boto3 client with signature_version="s3" and virtual hosting authenticates."""
    client = boto3_client("s3", "virtual")
    request = capture(
        client,
        "get_object",
        Bucket="bkt",
        Key="a b+c",
        ResponseContentType="text/plain",
        virtual_host_bucket="bkt",
    )
    assert authenticator_at().authenticate(request).signature_version == 2


def test_boto3_sigv2_put_with_metadata_is_accepted() -> None:
    """A boto3 SigV2 PutObject with user metadata and a body authenticates."""
    client = boto3_client("s3", "path")
    request = capture(
        client, "put_object", Bucket="bkt", Key="k!", Body=b"data", Metadata={"colour": "blue"}
    )
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_s3cmd_sigv2_request_with_encoded_subresource_is_accepted() -> None:
    """s3cmd's SigV2, which signs sub-resource values still encoded, authenticates."""
    request = s3cmd_sign_v2(
        "PUT", "/bkt/a b+c~'!€", {"uploadId": "abc def", "partNumber": "2"}, {"x-amz-meta-a": "b"}
    )
    assert authenticator_at().authenticate(request).signature_version == 2


def test_header_with_x_amz_date_signs_an_empty_date_line() -> None:
    """With x-amz-date (as s3cmd sends it) the Date line of the string is empty."""
    request = s3cmd_sign_v2("GET", "/bkt/k")
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_date_added_beside_x_amz_date_is_not_signed() -> None:
    """A Date header added after signing with x-amz-date leaves the Date line empty."""
    request = s3cmd_sign_v2("GET", "/bkt/k")
    added = with_headers(request, date=["Wed, 25 Nov 2026 01:02:04 GMT"])
    assert authenticator_at().authenticate(added).access_key == ACCESS_KEY


def test_botocore_date_and_x_amz_date_together_are_accepted() -> None:
    """botocore signing both Date and x-amz-date (its Date on the Date line) authenticates."""
    headers = {"x-amz-date": "Wed, 25 Nov 2026 01:02:03 GMT"}
    request = sign_v2("GET", object_url("bkt", "k"), headers)
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_malformed_v2_authorization_is_refused() -> None:
    """``AWS`` without ``AKID:signature`` answers AuthorizationHeaderMalformed."""
    request = with_headers(sign_v2("GET", object_url("bkt", "k")), authorization=["AWS nope"])
    with pytest.raises(AuthorizationHeaderMalformed):
        authenticator_at().authenticate(request)


# -- presigned form ----------------------------------------------------------


def test_presigned_put_with_amz_header_in_query_is_accepted() -> None:
    """x-amz- headers botocore moved into the query are part of the string to sign."""
    request = presign_v2("PUT", object_url("bkt", "k"), headers={"x-amz-acl": "private"})
    headers = {k: v for k, v in request.headers.items() if k != "x-amz-acl"}
    request = dataclasses.replace(request, headers=headers)
    assert authenticator_at().authenticate(request).signature_version == 2


def test_boto3_default_presigned_url_is_sigv2_and_accepted() -> None:
    """boto3's default presign for a custom endpoint (SigV2) authenticates."""
    request = boto3_presigned(boto3_client(None), "get_object", {"Bucket": "bkt", "Key": "a b"})
    assert authenticator_at().authenticate(request).signature_version == 2


@pytest.mark.parametrize(
    "query",
    ["AWSAccessKeyId=AK&Expires=9999999999", "AWSAccessKeyId=AK&Signature=x&Expires=soon"],
    ids=["without-signature", "non-numeric-expires"],
)
def test_presigned_url_with_a_broken_query_is_refused(query: str) -> None:
    """A query without Signature, or with an Expires that is not epoch seconds, is refused."""
    with pytest.raises(AuthorizationQueryParametersError):
        authenticator_at().authenticate(SignedRequest("GET", "/bkt/k", query, {}))
