"""
The Authenticator: scheme selection, SigV4 header and presigned requests
signed by botocore, boto3 and s3cmd, and every way a request is refused.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib

import pytest

from nanio.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from nanio.s3 import sigv4
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
    presign_v4,
    s3cmd_sign_v4,
    sign_v2,
    sign_v4_headers,
)

AWKWARD_KEYS = [
    "with space",
    "unicode-€-ü-日本語",
    "plus+sign",
    "equals=sign",
    "percent%sign",
    "tilde~",
    "bang!",
    "star*",
    "quote'",
    "paren(s)",
    "all a+b=c%d~e!f*g'h(i)€",
]

QUERIES = [
    encode_query([("prefix", "a b"), ("delimiter", "/"), ("list-type", "2")]),
    "uploads",
    "acl",
    encode_query([("response-content-type", "text/plain")]),
    encode_query([("prefix", ""), ("delimiter", "/")]),
    "tag=b&tag=a&tag=a%20b",
]


def _authenticator(now: float = WHEN_EPOCH) -> Authenticator:
    """An Authenticator that knows the test key pair and reads a fixed clock."""
    return Authenticator({ACCESS_KEY: SECRET_KEY}.get, clock=lambda: now)


def _with_headers(request: SignedRequest, **changes: list[str] | None) -> SignedRequest:
    """Return ``request`` with headers replaced (a list) or removed (None)."""
    headers = dict(request.headers)
    for name, values in changes.items():
        name = name.replace("_", "-")
        if values is None:
            headers.pop(name, None)
        else:
            headers[name] = values
    return dataclasses.replace(request, headers=headers)


def _authorization(request: SignedRequest) -> str:
    """Return the request's Authorization value."""
    return request.headers["authorization"][0]


# -- scheme selection --------------------------------------------------------


def test_request_without_credentials_is_denied() -> None:
    """A request with neither header nor query credentials answers AccessDenied."""
    request = SignedRequest("GET", "/bkt/k", "", {"host": ["localhost:9000"]})
    with pytest.raises(AccessDenied):
        _authenticator().authenticate(request)


def test_request_with_only_an_ordinary_query_is_denied() -> None:
    """A query without auth parameters is not credentials: AccessDenied."""
    request = SignedRequest("GET", "/bkt", "list-type=2&prefix=a", {"host": ["h"]})
    with pytest.raises(AccessDenied):
        _authenticator().authenticate(request)


def test_unknown_authorization_scheme_is_refused() -> None:
    """An Authorization header of another scheme answers InvalidArgument."""
    request = SignedRequest("GET", "/bkt/k", "", {"authorization": ["Bearer abc"]})
    with pytest.raises(InvalidArgument, match="Unsupported Authorization Type"):
        _authenticator().authenticate(request)


def test_two_authorization_headers_are_refused() -> None:
    """An Authorization header sent twice answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    doubled = _with_headers(request, authorization=[_authorization(request)] * 2)
    with pytest.raises(AuthorizationHeaderMalformed):
        _authenticator().authenticate(doubled)


def test_header_and_query_credentials_together_are_refused() -> None:
    """Credentials in both the header and the query answer InvalidArgument."""
    presigned = presign_v4("GET", object_url("bkt", "k"))
    signed = sign_v4_headers("GET", object_url("bkt", "k"))
    both = dataclasses.replace(signed, raw_query=presigned.raw_query)
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        _authenticator().authenticate(both)


# -- SigV4 header form: accepted ---------------------------------------------


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_signed_put_to_awkward_key_is_accepted(key: str) -> None:
    """A botocore-signed PUT to an awkward key authenticates."""
    request = sign_v4_headers("PUT", object_url("bkt", key), body=b"data")
    result = _authenticator().authenticate(request)
    assert (result.access_key, result.signature_version) == (ACCESS_KEY, 4)


@pytest.mark.parametrize("query", QUERIES)
def test_signed_get_with_query_is_accepted(query: str) -> None:
    """A botocore-signed GET with a query string authenticates."""
    request = sign_v4_headers("GET", object_url("bkt", "", query))
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_signed_payload_hash_is_returned() -> None:
    """The SHA-256 of a signed body is handed on for the body to be checked."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), body=b"hello")
    result = _authenticator().authenticate(request)
    assert result.content_sha256 == hashlib.sha256(b"hello").hexdigest()


def test_unsigned_payload_is_returned() -> None:
    """A request declaring UNSIGNED-PAYLOAD authenticates and says so."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), body=b"x", payload="unsigned")
    assert _authenticator().authenticate(request).content_sha256 == "UNSIGNED-PAYLOAD"


def test_streaming_trailer_payload_is_returned() -> None:
    """A STREAMING-UNSIGNED-PAYLOAD-TRAILER request authenticates and says so."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), payload="trailer")
    result = _authenticator().authenticate(request)
    assert result.content_sha256 == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def test_result_carries_what_chunk_signatures_need() -> None:
    """The result holds the signing key, scope, timestamp and seed signature."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), body=b"x")
    result = _authenticator().authenticate(request)
    expected_key = sigv4.derive_signing_key(SECRET_KEY, "20261125", "us-east-1")
    assert (result.signing_key, result.scope, result.amz_date, result.seed_signature) == (
        expected_key,
        "20261125/us-east-1/s3/aws4_request",
        "20261125T010203Z",
        _authorization(request).rpartition("Signature=")[2],
    )


def test_any_region_is_accepted() -> None:
    """A request signed for another region (s3cmd's default, say) authenticates."""
    request = sign_v4_headers("GET", object_url("bkt", "k"), region="eu-central-1")
    assert _authenticator().authenticate(request).scope.split("/")[1] == "eu-central-1"


def test_repeated_signed_header_is_accepted() -> None:
    """A signed header sent twice is canonicalized as its comma-joined values."""
    headers = [("x-amz-meta-a", "1"), ("x-amz-meta-a", "2")]
    request = sign_v4_headers("PUT", object_url("bkt", "k"), headers, b"x")
    assert request.headers["x-amz-meta-a"] == ["1", "2"]
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_date_header_may_replace_x_amz_date() -> None:
    """A request dated by Date instead of X-Amz-Date (botocore's option) authenticates."""
    request = sign_v4_headers("GET", object_url("bkt", "k"), {"Date": "placeholder"})
    assert "x-amz-date" not in request.headers
    assert _authenticator().authenticate(request).amz_date == "20261125T010203Z"


def test_aws_documentation_example_is_accepted() -> None:
    """The GET-object example of the S3 SigV4 documentation authenticates."""
    authenticator = Authenticator(
        {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}.get,
        clock=lambda: calendar.timegm((2013, 5, 24, 0, 0, 0)),
    )
    request = SignedRequest(
        "GET",
        "/test.txt",
        "",
        {
            "host": ["examplebucket.s3.amazonaws.com"],
            "range": ["bytes=0-9"],
            "x-amz-content-sha256": [sigv4.EMPTY_SHA256],
            "x-amz-date": ["20130524T000000Z"],
            "authorization": [
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ],
        },
    )
    assert authenticator.authenticate(request).access_key == "AKIAIOSFODNN7EXAMPLE"


def test_path_signed_as_sent_is_accepted() -> None:
    """A client that signs its unencoded path verbatim is accepted on the second try."""
    request = sign_v4_headers("GET", "http://localhost:9000/bkt/a!b")
    assert request.raw_path == "/bkt/a!b"
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_non_ascii_header_value_signed_as_utf8_is_accepted() -> None:
    """A latin-1 header value botocore signed as UTF-8 authenticates."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), {"x-amz-meta-name": "café"}, b"x")
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


# -- SigV4 header form: real clients -----------------------------------------


@pytest.fixture(scope="module")
def client() -> object:
    """A boto3 client with today's defaults (checksums on, SigV4, path style)."""
    return boto3_client()


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_boto3_put_object_is_accepted(client: object, key: str) -> None:
    """boto3's PutObject (CRC32 checksum header, signed payload) authenticates."""
    request = capture(client, "put_object", Bucket="bkt", Key=key, Body=b"body")
    result = _authenticator().authenticate(request)
    assert result.content_sha256 == hashlib.sha256(b"body").hexdigest()


def test_boto3_list_objects_v2_is_accepted(client: object) -> None:
    """boto3's ListObjectsV2 with prefix and delimiter authenticates."""
    request = capture(client, "list_objects_v2", Bucket="bkt", Prefix="a b+c", Delimiter="/")
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_boto3_create_multipart_upload_is_accepted(client: object) -> None:
    """boto3's CreateMultipartUpload (a bare ?uploads) authenticates."""
    request = capture(client, "create_multipart_upload", Bucket="bkt", Key="k k")
    assert request.raw_query == "uploads"
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_boto3_upload_part_is_accepted(client: object) -> None:
    """boto3's UploadPart with uploadId and partNumber authenticates."""
    request = capture(
        client, "upload_part", Bucket="bkt", Key="k", UploadId="a/b+c=", PartNumber=2, Body=b"p"
    )
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_boto3_when_required_checksums_are_accepted() -> None:
    """boto3 with request_checksum_calculation="when_required" authenticates."""
    client = boto3_client(request_checksum_calculation="when_required")
    request = capture(client, "put_object", Bucket="bkt", Key="k", Body=b"body")
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_boto3_virtual_host_request_is_accepted() -> None:
    """boto3 with virtual-host addressing authenticates (SigV4 signs the path as sent)."""
    client = boto3_client("s3v4", "virtual")
    request = capture(client, "get_object", Bucket="bkt", Key="a b", virtual_host_bucket="bkt")
    assert request.headers["host"] == ["bkt.localhost:9000"]
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_s3cmd_signed_listing_is_accepted() -> None:
    """s3cmd's own SigV4 (components joined by "," alone) authenticates."""
    request = s3cmd_sign_v4("GET", "/bkt/", {"prefix": "a b+c", "delimiter": "/", "list-type": "2"})
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_s3cmd_signed_put_to_awkward_key_is_accepted() -> None:
    """s3cmd's SigV4 PUT of an awkward key with a Content-Type authenticates."""
    request = s3cmd_sign_v4(
        "PUT", "/bkt/a b+c=d~e!f*g'h(i)€", None, {"content-type": "text/plain"}, b"data"
    )
    result = _authenticator().authenticate(request)
    assert result.content_sha256 == hashlib.sha256(b"data").hexdigest()


# -- SigV4 header form: refused ----------------------------------------------


def test_wrong_secret_is_refused() -> None:
    """A signature made with another secret answers SignatureDoesNotMatch."""
    request = sign_v4_headers("GET", object_url("bkt", "k"), secret="not-the-secret")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(request)


def test_unknown_access_key_is_refused() -> None:
    """An access key the server does not know answers InvalidAccessKeyId."""
    request = sign_v4_headers("GET", object_url("bkt", "k"), access_key="UNKNOWN")
    with pytest.raises(InvalidAccessKeyId):
        _authenticator().authenticate(request)


def test_tampered_path_is_refused() -> None:
    """Changing the path after signing answers SignatureDoesNotMatch."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_path="/bkt/other"))


def test_tampered_query_is_refused() -> None:
    """Changing the query after signing answers SignatureDoesNotMatch."""
    request = sign_v4_headers("GET", object_url("bkt", "", "prefix=a"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_query="prefix=b"))


def test_tampered_method_is_refused() -> None:
    """Replaying a GET signature as a DELETE answers SignatureDoesNotMatch."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, method="DELETE"))


def test_tampered_signed_header_is_refused() -> None:
    """Changing a signed header after signing answers SignatureDoesNotMatch."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), {"x-amz-meta-a": "1"}, b"x")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(_with_headers(request, x_amz_meta_a=["2"]))


def test_tampered_payload_hash_is_refused() -> None:
    """Swapping the declared body hash answers SignatureDoesNotMatch."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), body=b"x")
    forged = _with_headers(request, x_amz_content_sha256=["UNSIGNED-PAYLOAD"])
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(forged)


def test_tampered_host_is_refused() -> None:
    """Replaying a signature against another Host answers SignatureDoesNotMatch."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(_with_headers(request, host=["evil.example:9000"]))


def test_host_not_signed_is_denied() -> None:
    """SignedHeaders without host answers AccessDenied naming the header."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request).replace("SignedHeaders=host;", "SignedHeaders=")
    with pytest.raises(AccessDenied) as caught:
        _authenticator().authenticate(_with_headers(request, authorization=[value]))
    assert caught.value.fields == {"HeadersNotSigned": "host"}


def test_missing_content_sha256_is_refused() -> None:
    """SigV4 header auth without x-amz-content-sha256 answers InvalidRequest."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(InvalidRequest, match="x-amz-content-sha256"):
        _authenticator().authenticate(_with_headers(request, x_amz_content_sha256=None))


def test_invalid_content_sha256_is_refused() -> None:
    """An x-amz-content-sha256 that is neither hash nor keyword answers InvalidArgument."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(InvalidArgument):
        _authenticator().authenticate(_with_headers(request, x_amz_content_sha256=["nope"]))


def test_request_from_the_past_is_too_skewed() -> None:
    """An X-Amz-Date more than 15 minutes behind answers RequestTimeTooSkewed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(RequestTimeTooSkewed):
        _authenticator(WHEN_EPOCH + 901).authenticate(request)


def test_request_from_the_future_is_too_skewed() -> None:
    """An X-Amz-Date more than 15 minutes ahead answers RequestTimeTooSkewed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(RequestTimeTooSkewed):
        _authenticator(WHEN_EPOCH - 901).authenticate(request)


def test_request_at_the_edge_of_the_window_is_accepted() -> None:
    """An X-Amz-Date exactly 15 minutes off is still accepted."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    assert _authenticator(WHEN_EPOCH + 900).authenticate(request).access_key == ACCESS_KEY


def test_missing_date_is_denied() -> None:
    """Without X-Amz-Date or Date the request answers AccessDenied."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(AccessDenied, match="Date or x-amz-date"):
        _authenticator().authenticate(_with_headers(request, x_amz_date=None))


def test_credential_date_must_match_x_amz_date() -> None:
    """A scope dated another day than X-Amz-Date answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request).replace("/20261125/", "/20261124/")
    with pytest.raises(AuthorizationHeaderMalformed, match="Invalid credential date"):
        _authenticator().authenticate(_with_headers(request, authorization=[value]))


def test_credential_for_another_service_is_malformed() -> None:
    """A scope for a service other than s3 answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request).replace("/s3/", "/iam/")
    with pytest.raises(AuthorizationHeaderMalformed, match='incorrect service "iam"'):
        _authenticator().authenticate(_with_headers(request, authorization=[value]))


def test_credential_with_another_terminator_is_malformed() -> None:
    """A scope not ending in aws4_request answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request).replace("/aws4_request", "/aws5_request")
    with pytest.raises(AuthorizationHeaderMalformed, match='incorrect terminal "aws5_request"'):
        _authenticator().authenticate(_with_headers(request, authorization=[value]))


def test_unparseable_authorization_is_malformed() -> None:
    """An AWS4-HMAC-SHA256 header missing its components answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    broken = _with_headers(request, authorization=["AWS4-HMAC-SHA256 Credential"])
    with pytest.raises(AuthorizationHeaderMalformed):
        _authenticator().authenticate(broken)


def test_non_ascii_signature_is_a_mismatch() -> None:
    """A signature with non-ASCII characters is a mismatch, not a crash."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request)[:-1] + "é"
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(_with_headers(request, authorization=[value]))


def test_errors_never_carry_the_secret_or_expected_signature() -> None:
    """A refused request's error reveals neither the secret nor the expected signature."""
    genuine = sign_v4_headers("GET", object_url("bkt", "k"))
    expected = _authorization(genuine).rpartition("Signature=")[2]
    forged_value = _authorization(genuine).replace(expected, "0" * 64)
    with pytest.raises(SignatureDoesNotMatch) as caught:
        _authenticator().authenticate(_with_headers(genuine, authorization=[forged_value]))
    text = f"{caught.value.message} {caught.value.fields}"
    assert expected not in text and SECRET_KEY not in text


# -- SigV4 presigned ---------------------------------------------------------


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_presigned_get_is_accepted(key: str) -> None:
    """A botocore-presigned GET for an awkward key authenticates."""
    request = presign_v4("GET", object_url("bkt", key))
    result = _authenticator().authenticate(request)
    assert (result.signature_version, result.content_sha256) == (4, "UNSIGNED-PAYLOAD")


def test_presigned_put_is_accepted() -> None:
    """A botocore-presigned PUT authenticates with an unsigned payload."""
    request = presign_v4("PUT", object_url("bkt", "upload me"))
    assert _authenticator().authenticate(request).content_sha256 == "UNSIGNED-PAYLOAD"


def test_presigned_get_with_response_override_is_accepted() -> None:
    """A presigned GET carrying response-content-type authenticates."""
    url = object_url("bkt", "k", encode_query([("response-content-type", "text/plain")]))
    assert _authenticator().authenticate(presign_v4("GET", url)).signature_version == 4


def test_presigned_put_with_signed_header_is_accepted() -> None:
    """A presigned PUT that signed a Content-Type authenticates when it is sent."""
    request = presign_v4("PUT", object_url("bkt", "k"), headers={"Content-Type": "text/plain"})
    assert _authenticator().authenticate(request).access_key == ACCESS_KEY


def test_boto3_presigned_put_is_accepted(client: object) -> None:
    """boto3's generate_presigned_url for put_object (SigV4) authenticates."""
    request = boto3_presigned(client, "put_object", {"Bucket": "bkt", "Key": "a b+c"})
    assert _authenticator().authenticate(request).signature_version == 4


def test_presigned_url_past_expiry_is_refused() -> None:
    """A presigned URL used after X-Amz-Date + X-Amz-Expires answers AccessDenied."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=60)
    with pytest.raises(AccessDenied, match="Request has expired"):
        _authenticator(WHEN_EPOCH + 61).authenticate(request)


def test_presigned_url_long_after_signing_is_accepted_within_expiry() -> None:
    """A week-long URL still works six days later: no skew check on old URLs."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=604800)
    assert _authenticator(WHEN_EPOCH + 6 * 86400).authenticate(request).access_key == ACCESS_KEY


def test_presigned_url_from_the_future_is_too_skewed() -> None:
    """A presigned URL dated over 15 minutes ahead answers RequestTimeTooSkewed."""
    request = presign_v4("GET", object_url("bkt", "k"))
    with pytest.raises(RequestTimeTooSkewed):
        _authenticator(WHEN_EPOCH - 901).authenticate(request)


def test_presigned_expiry_beyond_a_week_is_refused() -> None:
    """X-Amz-Expires over 604800 answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=604801)
    with pytest.raises(AuthorizationQueryParametersError, match="604800"):
        _authenticator().authenticate(request)


def test_presigned_url_with_extended_expiry_is_refused() -> None:
    """Editing X-Amz-Expires to live longer breaks the signature."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=60)
    query = request.raw_query.replace("X-Amz-Expires=60", "X-Amz-Expires=6000")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


def test_presigned_url_with_wrong_secret_is_refused() -> None:
    """A URL presigned with another secret answers SignatureDoesNotMatch."""
    request = presign_v4("GET", object_url("bkt", "k"), secret="not-the-secret")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(request)


def test_presigned_url_with_unknown_key_is_refused() -> None:
    """A URL presigned for an unknown access key answers InvalidAccessKeyId."""
    request = presign_v4("GET", object_url("bkt", "k"), access_key="UNKNOWN")
    with pytest.raises(InvalidAccessKeyId):
        _authenticator().authenticate(request)


def test_presigned_url_with_tampered_path_is_refused() -> None:
    """A presigned URL pointed at another key answers SignatureDoesNotMatch."""
    request = presign_v4("GET", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(dataclasses.replace(request, raw_path="/bkt/other"))


def test_presigned_url_with_added_parameter_is_refused() -> None:
    """A parameter appended to a presigned URL answers SignatureDoesNotMatch."""
    request = presign_v4("GET", object_url("bkt", "k"))
    tampered = dataclasses.replace(request, raw_query=request.raw_query + "&acl")
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(tampered)


def test_presigned_url_with_tampered_signed_header_is_refused() -> None:
    """Sending another value for a header the URL signed answers SignatureDoesNotMatch."""
    request = presign_v4("PUT", object_url("bkt", "k"), headers={"Content-Type": "text/plain"})
    with pytest.raises(SignatureDoesNotMatch):
        _authenticator().authenticate(_with_headers(request, content_type=["text/html"]))


def test_presigned_url_without_host_signed_is_denied() -> None:
    """X-Amz-SignedHeaders without host answers AccessDenied."""
    request = presign_v4("GET", object_url("bkt", "k"), headers={"x-amz-meta-a": "1"})
    query = request.raw_query.replace("X-Amz-SignedHeaders=host%3B", "X-Amz-SignedHeaders=")
    assert query != request.raw_query
    with pytest.raises(AccessDenied, match="not signed"):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


@pytest.mark.parametrize(
    "name", ["X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"]
)
def test_presigned_url_missing_a_parameter_is_refused(name: str) -> None:
    """A presigned URL without one of its parameters answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"))
    query = "&".join(p for p in request.raw_query.split("&") if not p.startswith(name + "="))
    with pytest.raises(AuthorizationQueryParametersError):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


def test_presigned_url_with_other_algorithm_is_refused() -> None:
    """An X-Amz-Algorithm other than AWS4-HMAC-SHA256 answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"))
    query = request.raw_query.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")
    with pytest.raises(AuthorizationQueryParametersError, match="X-Amz-Algorithm"):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


def test_presigned_url_with_bad_credential_is_refused() -> None:
    """A malformed X-Amz-Credential answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"))
    query = request.raw_query.replace("%2Fs3%2F", "%2Fiam%2F")
    with pytest.raises(AuthorizationQueryParametersError, match="X-Amz-Credential"):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


def test_presigned_url_with_malformed_date_is_refused() -> None:
    """An X-Amz-Date not in ISO 8601 basic form answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"))
    query = request.raw_query.replace("X-Amz-Date=20261125T010203Z", "X-Amz-Date=yesterday")
    with pytest.raises(AuthorizationQueryParametersError, match="X-Amz-Date"):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


def test_presigned_url_with_negative_expiry_is_refused() -> None:
    """A negative X-Amz-Expires answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=60)
    query = request.raw_query.replace("X-Amz-Expires=60", "X-Amz-Expires=-60")
    with pytest.raises(AuthorizationQueryParametersError, match="non-negative"):
        _authenticator().authenticate(dataclasses.replace(request, raw_query=query))


# -- signing key cache -------------------------------------------------------


def test_signing_key_is_derived_once_per_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests of one user on one day derive the signing key only once."""
    calls: list[tuple[str, str]] = []
    real = sigv4.derive_signing_key

    def counting(secret: str, date: str, region: str, service: str = "s3") -> bytes:
        calls.append((date, region))
        return real(secret, date, region, service)

    monkeypatch.setattr(sigv4, "derive_signing_key", counting)
    authenticator = _authenticator()
    authenticator.authenticate(sign_v4_headers("GET", object_url("bkt", "a")))
    authenticator.authenticate(sign_v4_headers("PUT", object_url("bkt", "b"), body=b"x"))
    assert calls == [("20261125", "us-east-1")]


def test_signing_key_cache_fills_one_entry_per_region() -> None:
    """Requests for two regions on one day leave two cached keys."""
    authenticator = _authenticator()
    for region in ("us-east-1", "us-east-1", "eu-west-1"):
        authenticator.authenticate(sign_v4_headers("GET", object_url("b", "k"), region=region))
    assert len(authenticator.signing_keys) == 2


def test_sigv2_requests_do_not_touch_the_signing_key_cache() -> None:
    """SigV2 has no derived key, so the SigV4 cache stays empty."""
    authenticator = _authenticator()
    authenticator.authenticate(sign_v2("GET", object_url("bkt", "k")))
    assert len(authenticator.signing_keys) == 0
