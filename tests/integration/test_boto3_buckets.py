"""
Service and bucket operations through boto3 against a real server, plus the
error contract every operation shares: S3 error XML, request ids, the
signature checks and the answers for what nanio does not implement.

Each test makes its own bucket (``fresh_bucket``) on the one session server.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import (
    boto3_client_as,
    error_code,
    error_fields,
    http_status,
    open_connection,
    refusal,
    response_headers,
    signed_request,
)
from tests.support.server import RunningServer


@pytest.fixture
def client_with(server: RunningServer) -> Callable[..., Any]:
    """A factory of boto3 clients signing with other credentials."""

    def make(access_key: str, secret_key: str) -> Any:
        return boto3_client_as(server, access_key=access_key, secret_key=secret_key)

    return make


# --- ListBuckets ---------------------------------------------------------------


def test_list_buckets_shows_a_created_bucket(client: Any, bucket: str) -> None:
    """ListBuckets names a bucket just created, with a creation date."""
    buckets = {b["Name"]: b for b in client.list_buckets()["Buckets"]}
    assert bucket in buckets
    assert buckets[bucket]["CreationDate"] is not None


def test_list_buckets_names_an_owner(client: Any, bucket: str) -> None:
    """ListBuckets answers with an Owner that has an ID."""
    assert client.list_buckets()["Owner"]["ID"]


def test_list_buckets_prefix_filters_names(client: Any, fresh_bucket: str) -> None:
    """ListBuckets with Prefix lists only the buckets whose names start with it."""
    names = [f"{fresh_bucket}-{suffix}" for suffix in ("a", "b")]
    for name in names:
        client.create_bucket(Bucket=name)
    client.create_bucket(Bucket=fresh_bucket.replace("test-", "other-"))
    listed = [b["Name"] for b in client.list_buckets(Prefix=fresh_bucket)["Buckets"]]
    assert listed == names


def test_list_buckets_echoes_the_prefix(client: Any, bucket: str) -> None:
    """ListBuckets with Prefix returns that Prefix in its answer."""
    assert client.list_buckets(Prefix=bucket)["Prefix"] == bucket


def test_list_buckets_pages_with_max_buckets(client: Any, fresh_bucket: str) -> None:
    """ListBuckets with MaxBuckets=1 pages through every bucket once via ContinuationToken."""
    names = [f"{fresh_bucket}-{suffix}" for suffix in ("a", "b", "c")]
    for name in names:
        client.create_bucket(Bucket=name)
    listed: list[str] = []
    params: dict[str, Any] = {"Prefix": fresh_bucket, "MaxBuckets": 1}
    for _ in range(10):
        page = client.list_buckets(**params)
        assert len(page["Buckets"]) <= 1
        listed += [b["Name"] for b in page["Buckets"]]
        if "ContinuationToken" not in page:
            break
        params["ContinuationToken"] = page["ContinuationToken"]
    assert listed == names


def test_list_buckets_last_page_has_no_continuation_token(client: Any, bucket: str) -> None:
    """A ListBuckets page that holds the last bucket carries no ContinuationToken."""
    page = client.list_buckets(Prefix=bucket, MaxBuckets=1)
    assert [b["Name"] for b in page["Buckets"]] == [bucket]
    assert "ContinuationToken" not in page


# --- CreateBucket ------------------------------------------------------------------


def test_create_bucket_answers_200(client: Any, fresh_bucket: str) -> None:
    """CreateBucket without a body answers 200."""
    response = client.create_bucket(Bucket=fresh_bucket)
    assert http_status(response) == 200


def test_create_bucket_makes_a_directory(
    client: Any, server: RunningServer, fresh_bucket: str
) -> None:
    """A created bucket is a directory of that name in the data directory."""
    client.create_bucket(Bucket=fresh_bucket)
    assert (server.data_dir / fresh_bucket).is_dir()


def test_create_bucket_with_location_constraint(client: Any, fresh_bucket: str) -> None:
    """CreateBucket with a CreateBucketConfiguration body naming the server's region creates it."""
    client.create_bucket(
        Bucket=fresh_bucket, CreateBucketConfiguration={"LocationConstraint": "us-east-1"}
    )
    assert http_status(client.head_bucket(Bucket=fresh_bucket)) == 200


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "x" * 64,
        "UpperCase",
        "under_score",
        "-leading-dash",
        "trailing-dash-",
        "two..dots",
        "192.168.5.4",
        ".leading-dot",
    ],
)
def test_create_bucket_invalid_name_is_invalid_bucket_name(client: Any, name: str) -> None:
    """CreateBucket with a name S3 forbids answers 400 InvalidBucketName."""
    with pytest.raises(ClientError) as caught:
        client.create_bucket(Bucket=name)
    assert error_code(caught.value) == "InvalidBucketName"
    assert http_status(caught.value.response) == 400


def test_create_bucket_twice_is_already_owned_by_you(client: Any, bucket: str) -> None:
    """Creating a bucket one already owns answers 409 BucketAlreadyOwnedByYou."""
    with pytest.raises(ClientError) as caught:
        client.create_bucket(Bucket=bucket)
    assert error_code(caught.value) == "BucketAlreadyOwnedByYou"
    assert http_status(caught.value.response) == 409


# --- DeleteBucket ------------------------------------------------------------------


def test_delete_empty_bucket_answers_204(client: Any, bucket: str) -> None:
    """DeleteBucket of an empty bucket answers 204 No Content."""
    assert http_status(client.delete_bucket(Bucket=bucket)) == 204


def test_deleted_bucket_is_gone(client: Any, bucket: str) -> None:
    """After DeleteBucket, HeadBucket answers 404."""
    client.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        client.head_bucket(Bucket=bucket)
    assert http_status(caught.value.response) == 404


@pytest.mark.parametrize(
    "key",
    ["left-behind", "folder/", "deep/down/object"],
    ids=["object", "folder-marker-only", "nested-object-only"],
)
def test_delete_bucket_holding_a_key_is_bucket_not_empty(
    client: Any, bucket: str, key: str
) -> None:
    """DeleteBucket of a bucket holding an object, a folder marker or a nested key answers 409."""
    client.put_object(Bucket=bucket, Key=key, Body=b"" if key.endswith("/") else b"x")
    assert refusal(client.delete_bucket, Bucket=bucket) == (409, "BucketNotEmpty")


def test_delete_bucket_after_emptying_it(client: Any, bucket: str) -> None:
    """A bucket emptied of a nested object can be deleted (no directories are left behind)."""
    client.put_object(Bucket=bucket, Key="deep/down/object", Body=b"x")
    client.delete_object(Bucket=bucket, Key="deep/down/object")
    assert http_status(client.delete_bucket(Bucket=bucket)) == 204


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("delete_bucket", "NoSuchBucket"),
        # A HEAD answer has no body: botocore names the error by its status.
        ("head_bucket", "404"),
        ("get_bucket_location", "NoSuchBucket"),
    ],
)
def test_missing_bucket_is_404_no_such_bucket(
    client: Any, fresh_bucket: str, operation: str, code: str
) -> None:
    """DeleteBucket, HeadBucket and GetBucketLocation of a missing bucket answer 404."""
    assert refusal(getattr(client, operation), Bucket=fresh_bucket) == (404, code)


# --- HeadBucket, GetBucketLocation, GetBucketVersioning ----------------------------


def test_head_bucket_answers_200(client: Any, bucket: str) -> None:
    """HeadBucket of an existing bucket answers 200."""
    assert http_status(client.head_bucket(Bucket=bucket)) == 200


def test_get_bucket_location_of_us_east_1_is_empty(client: Any, bucket: str) -> None:
    """GetBucketLocation on a us-east-1 server answers an empty LocationConstraint."""
    response = client.get_bucket_location(Bucket=bucket)
    assert response.get("LocationConstraint") in (None, "")


def test_get_bucket_versioning_has_no_status(client: Any, bucket: str) -> None:
    """GetBucketVersioning of a never-versioned bucket answers without a Status."""
    response = client.get_bucket_versioning(Bucket=bucket)
    assert http_status(response) == 200
    assert "Status" not in response


# --- ACLs --------------------------------------------------------------------------


def test_get_bucket_acl_grants_owner_full_control(client: Any, bucket: str) -> None:
    """GetBucketAcl answers one grant: the owner, FULL_CONTROL."""
    response = client.get_bucket_acl(Bucket=bucket)
    owner_id = response["Owner"]["ID"]
    grants = [(g["Grantee"].get("ID"), g["Permission"]) for g in response["Grants"]]
    assert grants == [(owner_id, "FULL_CONTROL")]


def test_get_object_acl_grants_owner_full_control(client: Any, bucket: str) -> None:
    """GetObjectAcl answers one grant: the owner, FULL_CONTROL."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    response = client.get_object_acl(Bucket=bucket, Key="k")
    owner_id = response["Owner"]["ID"]
    grants = [(g["Grantee"].get("ID"), g["Permission"]) for g in response["Grants"]]
    assert grants == [(owner_id, "FULL_CONTROL")]


def test_get_object_acl_of_missing_key_is_no_such_key(client: Any, bucket: str) -> None:
    """GetObjectAcl of a missing key answers 404 NoSuchKey."""
    with pytest.raises(ClientError) as caught:
        client.get_object_acl(Bucket=bucket, Key="missing")
    assert error_code(caught.value) == "NoSuchKey"


def test_put_bucket_acl_private_is_accepted(client: Any, bucket: str) -> None:
    """PutBucketAcl with the canned ACL 'private' answers 200."""
    assert http_status(client.put_bucket_acl(Bucket=bucket, ACL="private")) == 200


def test_put_object_acl_private_is_accepted(client: Any, bucket: str) -> None:
    """PutObjectAcl with the canned ACL 'private' answers 200."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert http_status(client.put_object_acl(Bucket=bucket, Key="k", ACL="private")) == 200


def test_create_bucket_with_private_acl_is_accepted(client: Any, fresh_bucket: str) -> None:
    """CreateBucket with ACL 'private' creates the bucket."""
    client.create_bucket(Bucket=fresh_bucket, ACL="private")
    assert http_status(client.head_bucket(Bucket=fresh_bucket)) == 200


def test_put_object_with_private_acl_is_accepted(client: Any, bucket: str) -> None:
    """PutObject with ACL 'private' stores the object."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_put_object_with_public_acl_is_not_implemented(client: Any, bucket: str) -> None:
    """PutObject with ACL 'public-read' answers 501 NotImplemented and stores nothing."""
    answer = refusal(client.put_object, Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert answer == (501, "NotImplemented")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# --- Errors and request ids ----------------------------------------------------------


def test_error_body_has_code_message_and_request_id(server: RunningServer, bucket: str) -> None:
    """An error answer is S3 error XML with Code, Message and RequestId."""
    response = signed_request(server, "GET", f"/{bucket}/missing-key")
    fields = error_fields(response.body)
    assert response.status == 404
    assert fields["Code"] == "NoSuchKey"
    assert fields["Message"]
    assert fields["RequestId"]


def test_error_body_names_the_resource(server: RunningServer, bucket: str) -> None:
    """An error about a key names the request path in Resource."""
    response = signed_request(server, "GET", f"/{bucket}/missing-key")
    assert error_fields(response.body)["Resource"] == f"/{bucket}/missing-key"


def test_error_request_id_matches_header(server: RunningServer, bucket: str) -> None:
    """The RequestId in an error body is the x-amz-request-id header of that answer."""
    response = signed_request(server, "GET", f"/{bucket}/missing-key")
    assert error_fields(response.body)["RequestId"] == response.headers["x-amz-request-id"]


def test_error_is_served_as_xml(server: RunningServer, bucket: str) -> None:
    """An error answer has an XML content type."""
    response = signed_request(server, "GET", f"/{bucket}/missing-key")
    assert "xml" in response.headers["content-type"]


@pytest.mark.parametrize("operation", ["list_objects_v2", "head_bucket"])
def test_error_answer_carries_request_id_header(
    client: Any, fresh_bucket: str, operation: str
) -> None:
    """A refused request carries an x-amz-request-id header, a bodiless HEAD answer too."""
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(Bucket=fresh_bucket)
    assert response_headers(caught.value.response)["x-amz-request-id"]


@pytest.mark.parametrize(
    "operation",
    [
        "list_buckets",
        "head_bucket",
        "get_bucket_location",
        "list_objects_v2",
        "put_object",
        "get_object",
        "head_object",
        "delete_object",
    ],
)
def test_every_answer_carries_a_request_id(client: Any, bucket: str, operation: str) -> None:
    """Successful answers of every kind carry an x-amz-request-id header."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    all_params: dict[str, dict[str, Any]] = {
        "list_buckets": {},
        "head_bucket": {"Bucket": bucket},
        "get_bucket_location": {"Bucket": bucket},
        "list_objects_v2": {"Bucket": bucket},
        "put_object": {"Bucket": bucket, "Key": "k2", "Body": b"y"},
        "get_object": {"Bucket": bucket, "Key": "k"},
        "head_object": {"Bucket": bucket, "Key": "k"},
        "delete_object": {"Bucket": bucket, "Key": "k"},
    }
    params = all_params[operation]
    response = getattr(client, operation)(**params)
    assert response_headers(response)["x-amz-request-id"]


def test_request_ids_differ_between_requests(client: Any) -> None:
    """Two requests get two different request ids."""
    first = client.list_buckets()["ResponseMetadata"]["RequestId"]
    second = client.list_buckets()["ResponseMetadata"]["RequestId"]
    assert first != second


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        (lambda server: (server.access_key, server.secret_key + "-wrong"), "SignatureDoesNotMatch"),
        (lambda server: ("AKIDNOBODYKNOWS", "whatever-secret"), "InvalidAccessKeyId"),
    ],
    ids=["wrong-secret", "unknown-access-key"],
)
def test_wrong_credentials_are_refused(
    client_with: Callable[..., Any],
    server: RunningServer,
    credentials: Callable[[RunningServer], tuple[str, str]],
    code: str,
) -> None:
    """A wrong secret answers 403 SignatureDoesNotMatch, an unknown key 403 InvalidAccessKeyId."""
    stranger = client_with(*credentials(server))
    assert refusal(stranger.list_buckets) == (403, code)


def test_wrong_secret_put_stores_nothing(
    client_with: Callable[..., Any], server: RunningServer, client: Any, bucket: str
) -> None:
    """A PutObject signed with the wrong secret is refused and leaves no object."""
    wrong = client_with(server.access_key, server.secret_key + "-wrong")
    with pytest.raises(ClientError):
        wrong.put_object(Bucket=bucket, Key="k", Body=b"sneaky")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_unsigned_request_is_access_denied(server: RunningServer, bucket: str) -> None:
    """An unsigned request answers 403 AccessDenied in S3 error XML."""
    response = signed_request(server, "GET", f"/{bucket}", sign=False)
    assert response.status == 403
    assert error_fields(response.body)["Code"] == "AccessDenied"


#: What nanio does not implement: sub-resources, and canned ACLs other than 'private'.
NOT_IMPLEMENTED: dict[str, tuple[str, dict[str, str]]] = {
    "bucket-policy": ("get_bucket_policy", {}),
    "bucket-lifecycle": ("get_bucket_lifecycle_configuration", {}),
    "object-retention": ("get_object_retention", {"Key": "k"}),
    "bucket-acl-public-read": ("put_bucket_acl", {"ACL": "public-read"}),
    "object-acl-public-read": ("put_object_acl", {"Key": "k", "ACL": "public-read"}),
    "object-acl-public-read-write": ("put_object_acl", {"Key": "k", "ACL": "public-read-write"}),
    "object-acl-authenticated-read": ("put_object_acl", {"Key": "k", "ACL": "authenticated-read"}),
}


@pytest.mark.parametrize(("operation", "params"), NOT_IMPLEMENTED.values(), ids=NOT_IMPLEMENTED)
def test_what_nanio_lacks_is_not_implemented(
    client: Any, bucket: str, operation: str, params: dict[str, str]
) -> None:
    """A sub-resource nanio lacks, or a canned ACL other than 'private', answers 501."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert refusal(getattr(client, operation), Bucket=bucket, **params) == (501, "NotImplemented")


def test_put_bucket_policy_is_not_implemented(client: Any, fresh_bucket: str) -> None:
    """PutBucketPolicy answers 501 NotImplemented and does not create the bucket."""
    answer = refusal(client.put_bucket_policy, Bucket=fresh_bucket, Policy="{}")
    assert answer == (501, "NotImplemented")
    assert refusal(client.head_bucket, Bucket=fresh_bucket)[0] == 404


def test_patch_is_method_not_allowed_xml(server: RunningServer, bucket: str) -> None:
    """A signed PATCH answers 405 MethodNotAllowed in S3 error XML, not HTML."""
    response = signed_request(server, "PATCH", f"/{bucket}/k", body=b"x")
    assert response.status == 405
    assert error_fields(response.body)["Code"] == "MethodNotAllowed"
    assert b"<html" not in response.body.lower()


def test_unsigned_patch_is_xml_not_html(server: RunningServer, bucket: str) -> None:
    """An unsigned PATCH answers a 4xx S3 error document, not HTML."""
    response = signed_request(server, "PATCH", f"/{bucket}/k", sign=False)
    assert 400 <= response.status < 500
    assert error_fields(response.body)["Code"]


# --- Keep-alive after an early answer ----------------------------------------------------

EARLY_ANSWERS: list[tuple[str, str, str, dict[str, str]]] = [
    # (method, path under the bucket, query, signing overrides); every one has a body.
    ("PUT", "", "policy=", {}),
    ("PUT", "-missing/k", "", {}),
    ("PUT", "/k", "", {"secret_key": "not-the-secret"}),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "signing"),
    EARLY_ANSWERS,
    ids=["not-implemented", "no-such-bucket", "bad-signature"],
)
def test_early_error_answer_leaves_keep_alive_honest(
    server: RunningServer,
    bucket: str,
    method: str,
    path: str,
    query: str,
    signing: dict[str, str],
) -> None:
    """An error answered before the body is read says Connection: close, or keeps the connection."""
    # botocore reuses a kept-alive connection; one the server closes without
    # saying so fails the client's next, unrelated request.
    connection = open_connection(server)
    try:
        first = signed_request(
            server,
            method,
            f"/{bucket}{path}",
            query=query,
            body=b"{}",
            connection=connection,
            **signing,  # type: ignore[arg-type]
        )
        assert 400 <= first.status < 600
        if first.headers.get("connection", "").lower() != "close":
            try:
                second = signed_request(server, "HEAD", f"/{bucket}", connection=connection)
            except (http.client.HTTPException, OSError) as error:
                pytest.fail(
                    f"the server closed the connection without Connection: close: {error!r}"
                )
            assert second.status == 200
    finally:
        connection.close()
