"""
The Authenticator: scheme selection, SigV4 header and presigned requests
signed by botocore, boto3 and s3cmd, and every way a request is refused;
the refusals SigV2 shares with SigV4 are checked here for all four forms.
"""

from __future__ import annotations

import calendar
import dataclasses
import functools
import hashlib
from collections.abc import Callable

import pytest

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
from nanio.s3 import sigv4
from nanio.s3.auth import Authenticator, SignedRequest
from tests.support.signing import (
    ACCESS_KEY,
    AWKWARD_KEYS,
    QUERIES,
    SECRET_KEY,
    WHEN_EPOCH,
    authenticator_at,
    boto3_client,
    boto3_presigned,
    capture,
    encode_query,
    object_url,
    presign_v2,
    presign_v4,
    s3cmd_sign_v4,
    sign_v2,
    sign_v4_headers,
    with_headers,
)


def _authorization(request: SignedRequest) -> str:
    """Return the request's Authorization value."""
    return request.headers["authorization"][0]


# -- scheme selection --------------------------------------------------------


def test_request_without_credentials_is_denied() -> None:
    """A request with neither header nor query credentials answers AccessDenied."""
    request = SignedRequest("GET", "/bkt/k", "", {"host": ["localhost:9000"]})
    with pytest.raises(AccessDenied):
        authenticator_at().authenticate(request)


def test_request_with_only_an_ordinary_query_is_denied() -> None:
    """A query without auth parameters is not credentials: AccessDenied."""
    request = SignedRequest("GET", "/bkt", "list-type=2&prefix=a", {"host": ["h"]})
    with pytest.raises(AccessDenied):
        authenticator_at().authenticate(request)


def test_unknown_authorization_scheme_is_refused() -> None:
    """An Authorization header of another scheme answers InvalidArgument."""
    request = SignedRequest("GET", "/bkt/k", "", {"authorization": ["Bearer abc"]})
    with pytest.raises(InvalidArgument, match="Unsupported Authorization Type"):
        authenticator_at().authenticate(request)


def test_two_authorization_headers_are_refused() -> None:
    """An Authorization header sent twice answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    doubled = with_headers(request, authorization=[_authorization(request)] * 2)
    with pytest.raises(AuthorizationHeaderMalformed):
        authenticator_at().authenticate(doubled)


def test_header_and_query_credentials_together_are_refused() -> None:
    """Credentials in both the header and the query answer InvalidArgument."""
    presigned = presign_v4("GET", object_url("bkt", "k"))
    signed = sign_v4_headers("GET", object_url("bkt", "k"))
    both = dataclasses.replace(signed, raw_query=presigned.raw_query)
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        authenticator_at().authenticate(both)


def test_a_presigned_url_is_checked_with_the_callers_decoded_query() -> None:
    """A query decoded by the caller is accepted and verifies as the raw one would."""
    presigned = presign_v4("GET", object_url("bkt", "k"))
    query = dict(pair.split("=", 1) for pair in presigned.raw_query.split("&"))
    decoded = {name: value.replace("%2F", "/") for name, value in query.items()}
    result = authenticator_at().authenticate(dataclasses.replace(presigned, query=decoded))
    assert result.access_key == ACCESS_KEY


def test_the_callers_decoded_query_is_not_parsed_again() -> None:
    """Given a decoded query, authentication reads it rather than the raw query string."""
    presigned = presign_v4("GET", object_url("bkt", "k"))
    # The raw query holds credentials, the decoded one says there are none:
    # the decoded one is what counts.
    with pytest.raises(AccessDenied):
        authenticator_at().authenticate(dataclasses.replace(presigned, query={"x": "y"}))


def test_a_header_signed_request_with_credentials_in_the_decoded_query_is_refused() -> None:
    """Header credentials beside query credentials are refused from the decoded query too."""
    presigned = presign_v4("GET", object_url("bkt", "k"))
    signed = sign_v4_headers("GET", object_url("bkt", "k"))
    decoded = dict(pair.split("=", 1) for pair in presigned.raw_query.split("&"))
    both = dataclasses.replace(signed, raw_query=presigned.raw_query, query=decoded)
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        authenticator_at().authenticate(both)


# -- SigV4 header form: accepted ---------------------------------------------


@pytest.mark.parametrize("query", QUERIES)
def test_signed_get_with_query_is_accepted(query: str) -> None:
    """A botocore-signed GET with a query string authenticates."""
    request = sign_v4_headers("GET", object_url("bkt", "", query))
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_signed_payload_hash_is_returned() -> None:
    """The SHA-256 of a signed body is handed on for the body to be checked."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), body=b"hello")
    result = authenticator_at().authenticate(request)
    assert result.content_sha256 == hashlib.sha256(b"hello").hexdigest()


def test_unsigned_payload_is_returned() -> None:
    """A request declaring UNSIGNED-PAYLOAD authenticates and says so."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), body=b"x", payload="unsigned")
    assert authenticator_at().authenticate(request).content_sha256 == "UNSIGNED-PAYLOAD"


def test_streaming_trailer_payload_is_returned() -> None:
    """A STREAMING-UNSIGNED-PAYLOAD-TRAILER request authenticates and says so."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), payload="trailer")
    result = authenticator_at().authenticate(request)
    assert result.content_sha256 == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def test_result_carries_what_chunk_signatures_need() -> None:
    """The result holds the signing key, scope, timestamp and seed signature."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), body=b"x")
    result = authenticator_at().authenticate(request)
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
    assert authenticator_at().authenticate(request).scope.split("/")[1] == "eu-central-1"


def test_repeated_signed_header_is_accepted() -> None:
    """A signed header sent twice is canonicalized as its comma-joined values."""
    headers = [("x-amz-meta-a", "1"), ("x-amz-meta-a", "2")]
    request = sign_v4_headers("PUT", object_url("bkt", "k"), headers, b"x")
    assert request.headers["x-amz-meta-a"] == ["1", "2"]
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_date_header_may_replace_x_amz_date() -> None:
    """A request dated by Date instead of X-Amz-Date (botocore's option) authenticates."""
    request = sign_v4_headers("GET", object_url("bkt", "k"), {"Date": "placeholder"})
    assert "x-amz-date" not in request.headers
    assert authenticator_at().authenticate(request).amz_date == "20261125T010203Z"


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
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_non_ascii_header_value_signed_as_utf8_is_accepted() -> None:
    """A latin-1 header value botocore signed as UTF-8 authenticates."""
    request = sign_v4_headers("PUT", object_url("bkt", "k"), {"x-amz-meta-name": "café"}, b"x")
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


# -- SigV4 header form: real clients -----------------------------------------


@pytest.fixture(scope="module")
def client() -> object:
    """A boto3 client with today's defaults (checksums on, SigV4, path style)."""
    return boto3_client()


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_boto3_put_object_is_accepted(client: object, key: str) -> None:
    """boto3's PutObject (CRC32 checksum header, signed payload) authenticates."""
    request = capture(client, "put_object", Bucket="bkt", Key=key, Body=b"body")
    result = authenticator_at().authenticate(request)
    assert result.content_sha256 == hashlib.sha256(b"body").hexdigest()


def test_boto3_list_objects_v2_is_accepted(client: object) -> None:
    """boto3's ListObjectsV2 with prefix and delimiter authenticates."""
    request = capture(client, "list_objects_v2", Bucket="bkt", Prefix="a b+c", Delimiter="/")
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_boto3_create_multipart_upload_is_accepted(client: object) -> None:
    """boto3's CreateMultipartUpload (a bare ?uploads) authenticates."""
    request = capture(client, "create_multipart_upload", Bucket="bkt", Key="k k")
    assert request.raw_query == "uploads"
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_boto3_upload_part_is_accepted(client: object) -> None:
    """boto3's UploadPart with uploadId and partNumber authenticates."""
    request = capture(
        client, "upload_part", Bucket="bkt", Key="k", UploadId="a/b+c=", PartNumber=2, Body=b"p"
    )
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_boto3_when_required_checksums_are_accepted() -> None:
    """boto3 with request_checksum_calculation="when_required" authenticates."""
    client = boto3_client(request_checksum_calculation="when_required")
    request = capture(client, "put_object", Bucket="bkt", Key="k", Body=b"body")
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_boto3_virtual_host_request_is_accepted() -> None:
    """boto3 with virtual-host addressing authenticates (SigV4 signs the path as sent)."""
    client = boto3_client("s3v4", "virtual")
    request = capture(client, "get_object", Bucket="bkt", Key="a b", virtual_host_bucket="bkt")
    assert request.headers["host"] == ["bkt.localhost:9000"]
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_s3cmd_signed_listing_is_accepted() -> None:
    """s3cmd's own SigV4 (components joined by "," alone) authenticates."""
    request = s3cmd_sign_v4("GET", "/bkt/", {"prefix": "a b+c", "delimiter": "/", "list-type": "2"})
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY


def test_s3cmd_signed_put_to_awkward_key_is_accepted() -> None:
    """s3cmd's SigV4 PUT of an awkward key with a Content-Type authenticates."""
    request = s3cmd_sign_v4(
        "PUT", "/bkt/a b+c=d~e!f*g'h(i)€", None, {"content-type": "text/plain"}, b"data"
    )
    result = authenticator_at().authenticate(request)
    assert result.content_sha256 == hashlib.sha256(b"data").hexdigest()


# -- SigV4 header form: refused ----------------------------------------------


def test_host_not_signed_is_denied() -> None:
    """SignedHeaders without host answers AccessDenied naming the header."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request).replace("SignedHeaders=host;", "SignedHeaders=")
    with pytest.raises(AccessDenied) as caught:
        authenticator_at().authenticate(with_headers(request, authorization=[value]))
    assert caught.value.fields == {"HeadersNotSigned": "host"}


def test_missing_content_sha256_is_refused() -> None:
    """SigV4 header auth without x-amz-content-sha256 answers InvalidRequest."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(InvalidRequest, match="x-amz-content-sha256"):
        authenticator_at().authenticate(with_headers(request, x_amz_content_sha256=None))


def test_invalid_content_sha256_is_refused() -> None:
    """An x-amz-content-sha256 that is neither hash nor keyword answers InvalidArgument."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    with pytest.raises(InvalidArgument):
        authenticator_at().authenticate(with_headers(request, x_amz_content_sha256=["nope"]))


@pytest.mark.parametrize(
    ("signed", "sent", "message"),
    [
        # The scope must be dated the day of X-Amz-Date.
        ("/20261125/", "/20261124/", "Invalid credential date"),
        ("/s3/", "/iam/", 'incorrect service "iam"'),
        ("/aws4_request", "/aws5_request", 'incorrect terminal "aws5_request"'),
    ],
    ids=["another-day", "another-service", "another-terminator"],
)
def test_credential_scope_of_another_kind_is_malformed(
    signed: str, sent: str, message: str
) -> None:
    """A scope for another day, service or terminator answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request).replace(signed, sent)
    with pytest.raises(AuthorizationHeaderMalformed, match=message):
        authenticator_at().authenticate(with_headers(request, authorization=[value]))


def test_unparseable_authorization_is_malformed() -> None:
    """An AWS4-HMAC-SHA256 header missing its components answers AuthorizationHeaderMalformed."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    broken = with_headers(request, authorization=["AWS4-HMAC-SHA256 Credential"])
    with pytest.raises(AuthorizationHeaderMalformed):
        authenticator_at().authenticate(broken)


def test_non_ascii_signature_is_a_mismatch() -> None:
    """A signature with non-ASCII characters is a mismatch, not a crash."""
    request = sign_v4_headers("GET", object_url("bkt", "k"))
    value = _authorization(request)[:-1] + "é"
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(with_headers(request, authorization=[value]))


# -- SigV4 presigned ---------------------------------------------------------


def test_presigned_put_is_accepted() -> None:
    """A botocore-presigned PUT authenticates with an unsigned payload."""
    request = presign_v4("PUT", object_url("bkt", "upload me"))
    assert authenticator_at().authenticate(request).content_sha256 == "UNSIGNED-PAYLOAD"


def test_presigned_get_with_response_override_is_accepted() -> None:
    """A presigned GET carrying response-content-type authenticates."""
    url = object_url("bkt", "k", encode_query([("response-content-type", "text/plain")]))
    assert authenticator_at().authenticate(presign_v4("GET", url)).signature_version == 4


def test_boto3_presigned_put_is_accepted(client: object) -> None:
    """boto3's generate_presigned_url for put_object (SigV4) authenticates."""
    request = boto3_presigned(client, "put_object", {"Bucket": "bkt", "Key": "a b+c"})
    assert authenticator_at().authenticate(request).signature_version == 4


def test_presigned_expiry_beyond_a_week_is_refused() -> None:
    """X-Amz-Expires over 604800 answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=604801)
    with pytest.raises(AuthorizationQueryParametersError, match="604800"):
        authenticator_at().authenticate(request)


def test_presigned_url_without_host_signed_is_denied() -> None:
    """X-Amz-SignedHeaders without host answers AccessDenied."""
    request = presign_v4("GET", object_url("bkt", "k"), headers={"x-amz-meta-a": "1"})
    query = request.raw_query.replace("X-Amz-SignedHeaders=host%3B", "X-Amz-SignedHeaders=")
    assert query != request.raw_query
    with pytest.raises(AccessDenied, match="not signed"):
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=query))


@pytest.mark.parametrize(
    "name", ["X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"]
)
def test_presigned_url_missing_a_parameter_is_refused(name: str) -> None:
    """A presigned URL without one of its parameters answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"))
    query = "&".join(p for p in request.raw_query.split("&") if not p.startswith(name + "="))
    with pytest.raises(AuthorizationQueryParametersError):
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=query))


@pytest.mark.parametrize(
    ("signed", "sent", "message"),
    [
        ("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", "X-Amz-Algorithm"),
        # A credential scope for another service.
        ("%2Fs3%2F", "%2Fiam%2F", "X-Amz-Credential"),
        # Not in ISO 8601 basic form.
        ("X-Amz-Date=20261125T010203Z", "X-Amz-Date=yesterday", "X-Amz-Date"),
        ("X-Amz-Expires=60", "X-Amz-Expires=-60", "non-negative"),
    ],
    ids=["other-algorithm", "bad-credential", "malformed-date", "negative-expiry"],
)
def test_presigned_url_with_a_malformed_parameter_is_refused(
    signed: str, sent: str, message: str
) -> None:
    """A malformed presigned auth parameter answers AuthorizationQueryParametersError."""
    request = presign_v4("GET", object_url("bkt", "k"), expires=60)
    query = request.raw_query.replace(signed, sent)
    assert query != request.raw_query
    with pytest.raises(AuthorizationQueryParametersError, match=message):
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=query))


# -- refusals and time windows shared by SigV2 and SigV4 -----------------------

#: The four ways a client signs a request, each called as ``sign(method, url, ...)``.
SIGNERS: dict[str, Callable[..., SignedRequest]] = {
    "sigv4-header": sign_v4_headers,
    "sigv4-presigned": presign_v4,
    "sigv2-header": sign_v2,
    "sigv2-presigned": presign_v2,
}


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@pytest.mark.parametrize(
    ("sign", "version", "content_sha256"),
    [
        pytest.param(
            lambda url: sign_v4_headers("PUT", url, body=b"data"),
            4,
            hashlib.sha256(b"data").hexdigest(),
            id="sigv4-header",
        ),
        pytest.param(
            lambda url: presign_v4("GET", url), 4, "UNSIGNED-PAYLOAD", id="sigv4-presigned"
        ),
        # SigV2 never signs the body.
        pytest.param(
            lambda url: sign_v2("PUT", url, {"Content-Type": "text/plain"}),
            2,
            "UNSIGNED-PAYLOAD",
            id="sigv2-header",
        ),
        pytest.param(
            lambda url: presign_v2("GET", url), 2, "UNSIGNED-PAYLOAD", id="sigv2-presigned"
        ),
    ],
)
def test_request_for_an_awkward_key_is_accepted(
    sign: Callable[[str], SignedRequest], version: int, content_sha256: str, key: str
) -> None:
    """A request botocore signed for an awkward key authenticates in every signing form."""
    result = authenticator_at().authenticate(sign(object_url("bkt", key)))
    assert (result.access_key, result.signature_version, result.content_sha256) == (
        ACCESS_KEY,
        version,
        content_sha256,
    )


#: Requests with a query or sub-resource and a signed header, in three forms.
SIGNED_V4 = functools.partial(
    sign_v4_headers, "GET", object_url("bkt", "k", "prefix=a"), {"x-amz-meta-a": "1"}
)
SIGNED_V2 = functools.partial(sign_v2, "PUT", object_url("bkt", "k", "acl"), {"x-amz-meta-a": "1"})
PRESIGNED_V4 = functools.partial(
    presign_v4, "PUT", object_url("bkt", "k"), headers={"Content-Type": "text/plain"}
)


@pytest.mark.parametrize(
    ("sign", "tamper"),
    [
        pytest.param(
            SIGNED_V4, lambda r: dataclasses.replace(r, raw_query="prefix=b"), id="sigv4-query"
        ),
        # Replaying a GET signature as a DELETE.
        pytest.param(
            SIGNED_V4, lambda r: dataclasses.replace(r, method="DELETE"), id="sigv4-method"
        ),
        pytest.param(
            SIGNED_V4, lambda r: with_headers(r, x_amz_meta_a=["2"]), id="sigv4-signed-header"
        ),
        pytest.param(
            SIGNED_V4,
            lambda r: with_headers(r, x_amz_content_sha256=["UNSIGNED-PAYLOAD"]),
            id="sigv4-payload-hash",
        ),
        # Replaying a signature against another Host.
        pytest.param(
            SIGNED_V4, lambda r: with_headers(r, host=["evil.example:9000"]), id="sigv4-host"
        ),
        pytest.param(
            PRESIGNED_V4,
            lambda r: dataclasses.replace(r, raw_query=r.raw_query + "&acl"),
            id="sigv4-presigned-added-parameter",
        ),
        # The URL signed a Content-Type; the client sends another.
        pytest.param(
            PRESIGNED_V4,
            lambda r: with_headers(r, content_type=["text/html"]),
            id="sigv4-presigned-signed-header",
        ),
        pytest.param(
            SIGNED_V2, lambda r: dataclasses.replace(r, raw_query="tagging"), id="sigv2-subresource"
        ),
        pytest.param(
            SIGNED_V2, lambda r: with_headers(r, x_amz_meta_a=["2"]), id="sigv2-changed-amz-header"
        ),
        pytest.param(
            SIGNED_V2,
            lambda r: with_headers(r, x_amz_acl=["public-read"]),
            id="sigv2-added-amz-header",
        ),
    ],
)
def test_request_changed_after_signing_is_refused(
    sign: Callable[[], SignedRequest], tamper: Callable[[SignedRequest], SignedRequest]
) -> None:
    """A request changed in any signed part after signing answers SignatureDoesNotMatch."""
    request = sign()
    assert authenticator_at().authenticate(request).access_key == ACCESS_KEY
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(tamper(request))


@pytest.mark.parametrize("sign", SIGNERS.values(), ids=SIGNERS.keys())
@pytest.mark.parametrize(
    ("credentials", "error"),
    [
        ({"secret": "not-the-secret"}, SignatureDoesNotMatch),
        ({"access_key": "UNKNOWN"}, InvalidAccessKeyId),
    ],
    ids=["wrong-secret", "unknown-access-key"],
)
def test_wrong_credentials_are_refused(
    sign: Callable[..., SignedRequest], credentials: dict[str, str], error: type[S3Error]
) -> None:
    """A wrong secret answers SignatureDoesNotMatch, an unknown access key InvalidAccessKeyId."""
    request = sign("GET", object_url("bkt", "k"), **credentials)
    with pytest.raises(error):
        authenticator_at().authenticate(request)


@pytest.mark.parametrize("sign", SIGNERS.values(), ids=SIGNERS.keys())
def test_tampered_path_is_refused(sign: Callable[..., SignedRequest]) -> None:
    """A request pointed at another key after signing answers SignatureDoesNotMatch."""
    request = sign("GET", object_url("bkt", "k"))
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(dataclasses.replace(request, raw_path="/bkt/other"))


@pytest.mark.parametrize(
    ("sign", "clock_ahead_seconds"),
    [
        pytest.param(sign_v4_headers, 901, id="sigv4-header-from-the-past"),
        pytest.param(sign_v4_headers, -901, id="sigv4-header-from-the-future"),
        pytest.param(presign_v4, -901, id="sigv4-presigned-from-the-future"),
        pytest.param(sign_v2, 901, id="sigv2-header-from-the-past"),
        pytest.param(sign_v2, -901, id="sigv2-header-from-the-future"),
    ],
)
def test_request_dated_over_15_minutes_off_is_too_skewed(
    sign: Callable[..., SignedRequest], clock_ahead_seconds: int
) -> None:
    """A request dated more than 15 minutes behind or ahead answers RequestTimeTooSkewed."""
    request = sign("GET", object_url("bkt", "k"))
    with pytest.raises(RequestTimeTooSkewed):
        authenticator_at(WHEN_EPOCH + clock_ahead_seconds).authenticate(request)


@pytest.mark.parametrize(
    ("sign", "options", "clock_ahead_seconds"),
    [
        pytest.param(sign_v4_headers, {}, 900, id="sigv4-header-exactly-15-minutes-off"),
        pytest.param(sign_v2, {}, 840, id="sigv2-header-14-minutes-off"),
        # No skew check on old URLs: a week-long URL still works six days later.
        pytest.param(
            presign_v4, {"expires": 604800}, 6 * 86400, id="sigv4-presigned-six-days-into-a-week"
        ),
        pytest.param(presign_v2, {"expires": 60}, 60, id="sigv2-presigned-at-its-expires-second"),
    ],
)
def test_request_at_the_edge_of_its_window_is_accepted(
    sign: Callable[..., SignedRequest], options: dict[str, int], clock_ahead_seconds: int
) -> None:
    """A request used at the last second its skew window or expiry allows still authenticates."""
    request = sign("GET", object_url("bkt", "k"), **options)
    result = authenticator_at(WHEN_EPOCH + clock_ahead_seconds).authenticate(request)
    assert result.access_key == ACCESS_KEY


@pytest.mark.parametrize("sign", [presign_v4, presign_v2], ids=["sigv4", "sigv2"])
def test_presigned_url_past_expiry_is_refused(sign: Callable[..., SignedRequest]) -> None:
    """A presigned URL used after it expires answers AccessDenied "Request has expired"."""
    request = sign("GET", object_url("bkt", "k"), expires=60)
    with pytest.raises(AccessDenied, match="Request has expired"):
        authenticator_at(WHEN_EPOCH + 61).authenticate(request)


@pytest.mark.parametrize(
    ("sign", "expires", "extended"),
    [
        pytest.param(presign_v4, "X-Amz-Expires=60", "X-Amz-Expires=6000", id="sigv4"),
        pytest.param(
            presign_v2, f"Expires={int(WHEN_EPOCH) + 60}", "Expires=9999999999", id="sigv2"
        ),
    ],
)
def test_presigned_url_with_extended_expiry_is_refused(
    sign: Callable[..., SignedRequest], expires: str, extended: str
) -> None:
    """Editing a presigned URL's expiry to live longer breaks the signature."""
    request = sign("GET", object_url("bkt", "k"), expires=60)
    query = request.raw_query.replace(expires, extended)
    assert query != request.raw_query
    with pytest.raises(SignatureDoesNotMatch):
        authenticator_at().authenticate(dataclasses.replace(request, raw_query=query))


@pytest.mark.parametrize(
    ("sign", "version"), [(presign_v4, 4), (presign_v2, 2)], ids=["sigv4", "sigv2"]
)
def test_presigned_put_with_signed_content_type_is_accepted(
    sign: Callable[..., SignedRequest], version: int
) -> None:
    """A presigned PUT that signed a Content-Type authenticates when it is sent."""
    request = sign("PUT", object_url("bkt", "k"), headers={"Content-Type": "text/plain"})
    result = authenticator_at().authenticate(request)
    assert (result.access_key, result.signature_version) == (ACCESS_KEY, version)


@pytest.mark.parametrize("sign", [sign_v4_headers, sign_v2], ids=["sigv4", "sigv2"])
def test_missing_date_is_denied(sign: Callable[..., SignedRequest]) -> None:
    """Without X-Amz-Date or Date the request answers AccessDenied."""
    request = with_headers(sign("GET", object_url("bkt", "k")), date=None, x_amz_date=None)
    with pytest.raises(AccessDenied, match="Date or x-amz-date"):
        authenticator_at().authenticate(request)


@pytest.mark.parametrize(
    ("sign", "separator", "forged"),
    [(sign_v4_headers, "Signature=", "0" * 64), (sign_v2, ":", "Zm9yZ2Vk")],
    ids=["sigv4", "sigv2"],
)
def test_errors_never_carry_the_secret_or_expected_signature(
    sign: Callable[..., SignedRequest], separator: str, forged: str
) -> None:
    """A refused request's error reveals neither the secret nor the expected signature."""
    genuine = sign("GET", object_url("bkt", "k"))
    head, _, expected = _authorization(genuine).rpartition(separator)
    forgery = with_headers(genuine, authorization=[head + separator + forged])
    with pytest.raises(SignatureDoesNotMatch) as caught:
        authenticator_at().authenticate(forgery)
    text = f"{caught.value.message} {caught.value.fields}"
    assert expected not in text and SECRET_KEY not in text


# -- signing key cache -------------------------------------------------------


def test_signing_key_is_derived_once_per_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests of one user on one day derive the signing key only once."""
    calls: list[tuple[str, str]] = []
    real = sigv4.derive_signing_key

    def counting(secret: str, date: str, region: str, service: str = "s3") -> bytes:
        calls.append((date, region))
        return real(secret, date, region, service)

    monkeypatch.setattr(sigv4, "derive_signing_key", counting)
    authenticator = authenticator_at()
    authenticator.authenticate(sign_v4_headers("GET", object_url("bkt", "a")))
    authenticator.authenticate(sign_v4_headers("PUT", object_url("bkt", "b"), body=b"x"))
    assert calls == [("20261125", "us-east-1")]


def test_signing_key_cache_fills_one_entry_per_region() -> None:
    """Requests for two regions on one day leave two cached keys."""
    authenticator = authenticator_at()
    for region in ("us-east-1", "us-east-1", "eu-west-1"):
        authenticator.authenticate(sign_v4_headers("GET", object_url("b", "k"), region=region))
    assert len(authenticator.signing_keys) == 2


def test_sigv2_requests_do_not_touch_the_signing_key_cache() -> None:
    """SigV2 has no derived key, so the SigV4 cache stays empty."""
    authenticator = authenticator_at()
    authenticator.authenticate(sign_v2("GET", object_url("bkt", "k")))
    assert len(authenticator.signing_keys) == 0
