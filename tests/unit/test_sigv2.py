"""
SigV2 (HMAC-SHA1): strings to sign checked against botocore's HmacV1Auth, and
the header and presigned forms verified end to end by the Authenticator
against requests signed by botocore, boto3 and s3cmd.
"""

from __future__ import annotations

import dataclasses

import pytest

from nanio.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from nanio.s3 import sigv2
from nanio.s3.auth import Authenticator, SignedRequest
from tests.support.signing import (
    ACCESS_KEY,
    SECRET_KEY,
    WHEN_EPOCH,
    boto3_client,
    boto3_presigned,
    capture,
    encode_query,
    object_url,
    presign_v2,
    s3cmd_sign_v2,
    sign_v2,
    string_to_sign_v2,
)

AWKWARD_KEYS = [
    "with space",
    "unicode-€-ü",
    "plus+sign",
    "equals=sign",
    "percent%sign",
    "tilde~",
    "bang!",
    "star*",
    "quote'",
    "paren(s)",
    "all a+b=c%d~e!f*g'h(i)",
]

SUBRESOURCE_QUERIES = [
    "acl",
    "uploads",
    encode_query([("uploadId", "abc/def=="), ("partNumber", "3")]),
    encode_query([("response-content-type", "text/plain"), ("response-expires", "Thu, 01 Dec")]),
    encode_query([("prefix", "a b"), ("delimiter", "/"), ("list-type", "2")]),
    "versioning&versionId=x",
]


def _authenticator(now: float = WHEN_EPOCH) -> Authenticator:
    """An Authenticator that knows the test key pair and reads a fixed clock."""
    return Authenticator({ACCESS_KEY: SECRET_KEY}.get, clock=lambda: now)


def _replace_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    """Return ``request`` with one header's values replaced."""
    return dataclasses.replace(request, headers={**request.headers, name: [value]})


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


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_header_signed_request_is_accepted(key: str) -> None:
    """A botocore HmacV1Auth request for an awkward key authenticates."""
    request = sign_v2("PUT", object_url("bkt", key), {"Content-Type": "text/plain"})
    result = _authenticator().authenticate(request)
    assert (result.access_key, result.signature_version) == (ACCESS_KEY, 2)


@pytest.mark.parametrize("query", SUBRESOURCE_QUERIES)
def test_header_signed_request_with_subresources_is_accepted(query: str) -> None:
    """A botocore HmacV1Auth request with sub-resources authenticates."""
    request = sign_v2("GET", object_url("bkt", "k", query))
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_header_signed_result_is_unsigned_payload() -> None:
    """SigV2 never signs the body, so the result says UNSIGNED-PAYLOAD."""
    request = sign_v2("GET", object_url("bkt", "k"))
    assert _authenticator().authenticate(request).content_sha256 == "UNSIGNED-PAYLOAD"


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
    assert _authenticator().authenticate(request).signature_version == 2


def test_boto3_sigv2_put_with_metadata_is_accepted() -> None:
    """A boto3 SigV2 PutObject with user metadata and a body authenticates."""
    client = boto3_client("s3", "path")
    request = capture(
        client, "put_object", Bucket="bkt", Key="k!", Body=b"data", Metadata={"colour": "blue"}
    )
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_s3cmd_sigv2_request_with_encoded_subresource_is_accepted() -> None:
    """s3cmd's SigV2, which signs sub-resource values still encoded, authenticates."""
    request = s3cmd_sign_v2(
        "PUT", "/bkt/a b+c~'!€", {"uploadId": "abc def", "partNumber": "2"}, {"x-amz-meta-a": "b"}
    )
    assert _authenticator().authenticate(request).signature_version == 2


def test_header_signed_request_with_wrong_secret_is_refused() -> None:
    """A signature made with another secret answers SignatureDoesNotMatch."""
    request = sign_v2("GET", object_url("bkt", "k"), secret="not-the-secret")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(request)


def test_header_signed_request_with_unknown_key_is_refused() -> None:
    """An access key the server does not know answers InvalidAccessKeyId."""
    request = sign_v2("GET", object_url("bkt", "k"), access_key="UNKNOWN")
    with pytest.raises(InvalidAccessKeyId):
        _authenticator().authenticate(request)


def test_header_signed_request_with_tampered_path_is_refused() -> None:
    """Changing the path after signing breaks the signature."""
    request = sign_v2("GET", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_path="/bkt/other"))


def test_header_signed_request_with_tampered_subresource_is_refused() -> None:
    """Changing a sub-resource after signing breaks the signature."""
    request = sign_v2("GET", object_url("bkt", "k", "acl"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_query="tagging"))


def test_header_signed_request_with_tampered_amz_header_is_refused() -> None:
    """Changing an x-amz- header after signing breaks the signature."""
    request = sign_v2("PUT", object_url("bkt", "k"), {"x-amz-meta-a": "1"})
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(_replace_header(request, "x-amz-meta-a", "2"))


def test_header_signed_request_with_added_amz_header_is_refused() -> None:
    """Adding an x-amz- header after signing breaks the signature."""
    request = sign_v2("PUT", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(_replace_header(request, "x-amz-acl", "public-read"))


def test_header_signed_request_from_the_past_is_too_skewed() -> None:
    """A Date more than 15 minutes behind the clock answers RequestTimeTooSkewed."""
    request = sign_v2("GET", object_url("bkt", "k"))
    with pytest.raises(RequestTimeTooSkewed):
        _authenticator(WHEN_EPOCH + 901).authenticate(request)


def test_header_signed_request_from_the_future_is_too_skewed() -> None:
    """A Date more than 15 minutes ahead of the clock answers RequestTimeTooSkewed."""
    request = sign_v2("GET", object_url("bkt", "k"))
    with pytest.raises(RequestTimeTooSkewed):
        _authenticator(WHEN_EPOCH - 901).authenticate(request)


def test_header_signed_request_within_skew_is_accepted() -> None:
    """A Date 14 minutes off is still inside the window."""
    request = sign_v2("GET", object_url("bkt", "k"))
    assert _authenticator(WHEN_EPOCH + 840).authenticate(request).access_key == ACCESS_KEY


def test_header_signed_request_without_date_is_refused() -> None:
    """Without Date or x-amz-date the request answers AccessDenied."""
    request = sign_v2("GET", object_url("bkt", "k"))
    headers = {k: v for k, v in request.headers.items() if k != "date"}
    with pytest.raises(AccessDenied, match="Date or x-amz-date"):
        _authenticator().authenticate(dataclasses.replace(request, headers=headers))


def test_header_with_x_amz_date_signs_an_empty_date_line() -> None:
    """With x-amz-date (as s3cmd sends it) the Date line of the string is empty."""
    request = s3cmd_sign_v2("GET", "/bkt/k")
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_date_added_beside_x_amz_date_is_not_signed() -> None:
    """A Date header added after signing with x-amz-date leaves the Date line empty."""
    request = s3cmd_sign_v2("GET", "/bkt/k")
    added = _replace_header(request, "date", "Wed, 25 Nov 2026 01:02:04 GMT")
    assert _authenticator().authenticate(added).access_key == ACCESS_KEY


def test_botocore_date_and_x_amz_date_together_are_accepted() -> None:
    """botocore signing both Date and x-amz-date (its Date on the Date line) authenticates."""
    headers = {"x-amz-date": "Wed, 25 Nov 2026 01:02:03 GMT"}
    request = sign_v2("GET", object_url("bkt", "k"), headers)
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_malformed_v2_authorization_is_refused() -> None:
    """``AWS`` without ``AKID:signature`` answers AuthorizationHeaderMalformed."""
    request = _replace_header(sign_v2("GET", object_url("bkt", "k")), "authorization", "AWS nope")
    with pytest.raises(AuthorizationHeaderMalformed):
        _authenticator().authenticate(request)


# -- presigned form ----------------------------------------------------------


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_presigned_get_is_accepted(key: str) -> None:
    """A HmacV1QueryAuth presigned GET for an awkward key authenticates."""
    request = presign_v2("GET", object_url("bkt", key))
    result = _authenticator().authenticate(request)
    assert (result.access_key, result.signature_version) == (ACCESS_KEY, 2)


def test_presigned_put_with_content_type_is_accepted() -> None:
    """A presigned PUT that signed a Content-Type authenticates when it is sent."""
    request = presign_v2("PUT", object_url("bkt", "k"), headers={"Content-Type": "text/plain"})
    assert _authenticator().authenticate(request).signature_version == 2


def test_presigned_put_with_amz_header_in_query_is_accepted() -> None:
    """x-amz- headers botocore moved into the query are part of the string to sign."""
    request = presign_v2("PUT", object_url("bkt", "k"), headers={"x-amz-acl": "private"})
    headers = {k: v for k, v in request.headers.items() if k != "x-amz-acl"}
    request = dataclasses.replace(request, headers=headers)
    assert _authenticator().authenticate(request).signature_version == 2


def test_boto3_default_presigned_url_is_sigv2_and_accepted() -> None:
    """boto3's default presign for a custom endpoint (SigV2) authenticates."""
    request = boto3_presigned(boto3_client(None), "get_object", {"Bucket": "bkt", "Key": "a b"})
    assert _authenticator().authenticate(request).signature_version == 2


def test_presigned_url_past_expiry_is_refused() -> None:
    """A presigned URL used after Expires answers AccessDenied "Request has expired"."""
    request = presign_v2("GET", object_url("bkt", "k"), expires=60)
    with pytest.raises(AccessDenied, match="Request has expired"):
        _authenticator(WHEN_EPOCH + 61).authenticate(request)


def test_presigned_url_at_expiry_is_accepted() -> None:
    """A presigned URL used exactly at its Expires second still works."""
    request = presign_v2("GET", object_url("bkt", "k"), expires=60)
    assert _authenticator(WHEN_EPOCH + 60).authenticate(request).access_key == ACCESS_KEY


def test_presigned_url_with_wrong_secret_is_refused() -> None:
    """A presigned URL signed with another secret answers SignatureDoesNotMatch."""
    request = presign_v2("GET", object_url("bkt", "k"), secret="not-the-secret")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(request)


def test_presigned_url_with_unknown_key_is_refused() -> None:
    """A presigned URL for an unknown access key answers InvalidAccessKeyId."""
    request = presign_v2("GET", object_url("bkt", "k"), access_key="UNKNOWN")
    with pytest.raises(InvalidAccessKeyId):
        _authenticator().authenticate(request)


def test_presigned_url_with_tampered_path_is_refused() -> None:
    """A presigned URL pointed at another key answers SignatureDoesNotMatch."""
    request = presign_v2("GET", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_path="/bkt/other"))


def test_presigned_url_with_extended_expiry_is_refused() -> None:
    """Editing Expires to live longer breaks the signature."""
    request = presign_v2("GET", object_url("bkt", "k"), expires=60)
    query = request.raw_query.replace(f"Expires={int(WHEN_EPOCH) + 60}", "Expires=9999999999")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


def test_presigned_url_without_signature_is_refused() -> None:
    """AWSAccessKeyId without Signature answers AuthorizationQueryParametersError."""
    request = SignedRequest("GET", "/bkt/k", "AWSAccessKeyId=AK&Expires=9999999999", {})
    with pytest.raises(AuthorizationQueryParametersError):
        _authenticator().authenticate(request)


def test_presigned_url_with_non_numeric_expires_is_refused() -> None:
    """An Expires that is not epoch seconds answers AuthorizationQueryParametersError."""
    request = SignedRequest("GET", "/bkt/k", "AWSAccessKeyId=AK&Signature=x&Expires=soon", {})
    with pytest.raises(AuthorizationQueryParametersError):
        _authenticator().authenticate(request)


def test_errors_never_carry_the_expected_v2_signature() -> None:
    """A refused request's error reveals neither the secret nor the expected signature."""
    genuine = sign_v2("GET", object_url("bkt", "k"))
    expected = genuine.headers["authorization"][0].rpartition(":")[2]
    forged = _replace_header(genuine, "authorization", f"AWS {ACCESS_KEY}:Zm9yZ2Vk")
    with pytest.raises(SignatureDoesNotMatch) as caught:
        _authenticator().authenticate(forged)
    text = f"{caught.value.message} {caught.value.fields}"
    assert expected not in text and SECRET_KEY not in text
