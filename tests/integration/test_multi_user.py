"""
Several users on one server: a bucket belongs to its creator.

The server reads two users, alice and bob, and an admin from ``[[users]]``
tables of its options file.  Alice's bucket is invisible in bob's
ListBuckets and every operation bob tries on it (or through it, as a copy
source or destination) answers 403 AccessDenied, presigned URLs included;
creating its name is BucketAlreadyExists.  The admin sees and uses every
bucket.  A bucket made by hand on disk has no owner: everyone shares it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import (
    boto3_client_as,
    error_code,
    error_fields,
    http_status,
    refusal,
    signed_request,
    urlopen,
)
from tests.support.server import RunningServer, serve_command, start_server

USERS = {
    "alice": ("alice-access", "alice-secret-key"),
    "bob": ("bob-access", "bob-secret-key"),
    "root": ("root-access", "root-secret-key"),
}
OPTIONS = """
[[users]]
access_key = "alice-access"
secret_key = "alice-secret-key"

[[users]]
access_key = "bob-access"
secret_key = "bob-secret-key"

[[users]]
access_key = "root-access"
secret_key = "root-secret-key"
admin = true
"""


@pytest.fixture(scope="module")
def users_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose only users are alice, bob and the admin root."""
    root = tmp_path_factory.mktemp("multi-user")
    options = root / "options.toml"
    options.write_text(OPTIONS)
    data_dir = root / "data"
    server = start_server(
        serve_command(data_dir, "--options", str(options)),
        data_dir=data_dir,
        log_path=root / "server.log",
        cwd=root,
        # No single user from the environment: the three tables are all.
        environ={"NANIO_ACCESS_KEY": "", "NANIO_SECRET_KEY": ""},
    )
    try:
        yield server
    finally:
        assert server.stop() == 0


def client_of(server: RunningServer, user: str, **options: Any) -> Any:
    access_key, secret_key = USERS[user]
    return boto3_client_as(server, access_key=access_key, secret_key=secret_key, **options)


@pytest.fixture(scope="module")
def alice(users_server: RunningServer) -> Any:
    return client_of(users_server, "alice")


@pytest.fixture(scope="module")
def bob(users_server: RunningServer) -> Any:
    return client_of(users_server, "bob")


@pytest.fixture(scope="module")
def root(users_server: RunningServer) -> Any:
    return client_of(users_server, "root")


def new_name(owner: str) -> str:
    return f"{owner}-{uuid.uuid4().hex[:16]}"


def new_bucket(client: Any, owner: str, key: str, body: bytes) -> str:
    """A bucket ``owner`` creates with ``client``, holding one object ``key``."""
    name = new_name(owner)
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key=key, Body=body)
    return name


@pytest.fixture
def alices(alice: Any) -> str:
    """Alice's bucket, holding the object 'secret'."""
    return new_bucket(alice, "alice", "secret", b"alice's")


@pytest.fixture
def alices_upload(alice: Any, alices: str) -> str:
    """An upload of 'big' in alice's bucket, with part 1 uploaded."""
    upload_id: str = alice.create_multipart_upload(Bucket=alices, Key="big")["UploadId"]
    alice.upload_part(Bucket=alices, Key="big", UploadId=upload_id, PartNumber=1, Body=b"p")
    return upload_id


@pytest.fixture
def bobs(bob: Any) -> str:
    """Bob's own bucket, holding the object 'mine'."""
    return new_bucket(bob, "bob", "mine", b"bob's")


def names(client: Any) -> list[str]:
    return [b["Name"] for b in client.list_buckets()["Buckets"]]


def assert_access_denied(call: Callable[[], Any]) -> None:
    """The call fails with 403 AccessDenied (HEAD answers carry no body: only the 403)."""
    with pytest.raises(ClientError) as caught:
        call()
    code = error_code(caught.value)
    assert (http_status(caught.value.response), code) in ((403, "AccessDenied"), (403, "403"))
    if code == "403":
        assert caught.value.operation_name in ("HeadBucket", "HeadObject")


# -- who sees what ----------------------------------------------------------------------


def test_a_bucket_is_listed_for_its_creator(alice: Any, alices: str) -> None:
    """Alice's ListBuckets shows the bucket she created."""
    assert alices in names(alice)


def test_another_users_bucket_is_not_listed(bob: Any, alices: str, bobs: str) -> None:
    """Bob's ListBuckets shows his bucket and not alice's."""
    listed = names(bob)
    assert bobs in listed and alices not in listed


def test_prefix_listing_does_not_reveal_another_users_bucket(bob: Any, alices: str) -> None:
    """ListBuckets with alice's bucket name as the prefix shows bob nothing."""
    assert bob.list_buckets(Prefix=alices).get("Buckets", []) == []


def test_the_admin_sees_every_bucket(root: Any, alices: str, bobs: str) -> None:
    """The admin's ListBuckets shows alice's bucket and bob's."""
    listed = names(root)
    assert alices in listed and bobs in listed


def test_a_bucket_made_by_hand_is_shared(users_server: RunningServer, alice: Any, bob: Any) -> None:
    """A directory made on disk has no owner: both users see it and can write to it."""
    name = new_name("shared")
    (users_server.data_dir / name).mkdir()
    assert name in names(alice) and name in names(bob)
    alice.put_object(Bucket=name, Key="from-alice", Body=b"a")
    assert bob.get_object(Bucket=name, Key="from-alice")["Body"].read() == b"a"


# -- bob against alice's bucket ---------------------------------------------------------

#: Every operation bob might try on alice's bucket "A" (with its object
#: "secret" and upload "U"), or between it and his own bucket "B".
DENIED: dict[str, Callable[[Any, str, str, str], Any]] = {
    "HeadBucket": lambda c, a, b, u: c.head_bucket(Bucket=a),
    "GetBucketLocation": lambda c, a, b, u: c.get_bucket_location(Bucket=a),
    "GetBucketVersioning": lambda c, a, b, u: c.get_bucket_versioning(Bucket=a),
    "GetBucketAcl": lambda c, a, b, u: c.get_bucket_acl(Bucket=a),
    "PutBucketAcl": lambda c, a, b, u: c.put_bucket_acl(Bucket=a, ACL="private"),
    "ListObjects": lambda c, a, b, u: c.list_objects(Bucket=a),
    "ListObjectsV2": lambda c, a, b, u: c.list_objects_v2(Bucket=a),
    "ListObjectVersions": lambda c, a, b, u: c.list_object_versions(Bucket=a),
    "DeleteBucket": lambda c, a, b, u: c.delete_bucket(Bucket=a),
    "HeadObject": lambda c, a, b, u: c.head_object(Bucket=a, Key="secret"),
    "GetObject": lambda c, a, b, u: c.get_object(Bucket=a, Key="secret"),
    "GetObjectRange": lambda c, a, b, u: c.get_object(Bucket=a, Key="secret", Range="bytes=0-1"),
    "GetMissingObject": lambda c, a, b, u: c.get_object(Bucket=a, Key="nothing-here"),
    "GetObjectAcl": lambda c, a, b, u: c.get_object_acl(Bucket=a, Key="secret"),
    "PutObject": lambda c, a, b, u: c.put_object(Bucket=a, Key="secret", Body=b"bob's now"),
    "PutNewObject": lambda c, a, b, u: c.put_object(Bucket=a, Key="planted", Body=b"x"),
    "DeleteObject": lambda c, a, b, u: c.delete_object(Bucket=a, Key="secret"),
    "DeleteObjects": lambda c, a, b, u: c.delete_objects(
        Bucket=a, Delete={"Objects": [{"Key": "secret"}]}
    ),
    "CopyIntoOwnBucket": lambda c, a, b, u: c.copy_object(
        Bucket=b, Key="stolen", CopySource={"Bucket": a, "Key": "secret"}
    ),
    "CopyFromOwnBucket": lambda c, a, b, u: c.copy_object(
        Bucket=a, Key="secret", CopySource={"Bucket": b, "Key": "mine"}
    ),
    "CopyWithinTheirBucket": lambda c, a, b, u: c.copy_object(
        Bucket=a, Key="copy", CopySource={"Bucket": a, "Key": "secret"}
    ),
    "CreateMultipartUpload": lambda c, a, b, u: c.create_multipart_upload(Bucket=a, Key="k"),
    "UploadPart": lambda c, a, b, u: c.upload_part(
        Bucket=a, Key="big", UploadId=u, PartNumber=2, Body=b"q"
    ),
    "UploadPartCopyIntoTheirs": lambda c, a, b, u: c.upload_part_copy(
        Bucket=a, Key="big", UploadId=u, PartNumber=2, CopySource={"Bucket": b, "Key": "mine"}
    ),
    "ListParts": lambda c, a, b, u: c.list_parts(Bucket=a, Key="big", UploadId=u),
    "ListMultipartUploads": lambda c, a, b, u: c.list_multipart_uploads(Bucket=a),
    "CompleteMultipartUpload": lambda c, a, b, u: c.complete_multipart_upload(
        Bucket=a,
        Key="big",
        UploadId=u,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": hashlib.md5(b"p").hexdigest()}]},
    ),
    "AbortMultipartUpload": lambda c, a, b, u: c.abort_multipart_upload(
        Bucket=a, Key="big", UploadId=u
    ),
}


@pytest.mark.parametrize("operation", DENIED.values(), ids=DENIED.keys())
def test_every_operation_on_another_users_bucket_is_access_denied(
    alice: Any,
    bob: Any,
    alices: str,
    alices_upload: str,
    bobs: str,
    operation: Callable[[Any, str, str, str], Any],
) -> None:
    """Bob gets 403 AccessDenied, and alice's bucket, object and upload stay as they were."""
    assert_access_denied(lambda: operation(bob, alices, bobs, alices_upload))
    assert alice.get_object(Bucket=alices, Key="secret")["Body"].read() == b"alice's"
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=alices)["Contents"]] == ["secret"]
    parts = alice.list_parts(Bucket=alices, Key="big", UploadId=alices_upload)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=bobs)["Contents"]] == ["mine"]


def test_upload_part_copy_from_another_users_bucket_is_access_denied(
    alices: str, bob: Any, bobs: str
) -> None:
    """UploadPartCopy into bob's own upload from alice's object is AccessDenied."""
    upload_id = bob.create_multipart_upload(Bucket=bobs, Key="k")["UploadId"]
    assert_access_denied(
        lambda: bob.upload_part_copy(
            Bucket=bobs,
            Key="k",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": alices, "Key": "secret"},
        )
    )
    assert "Parts" not in bob.list_parts(Bucket=bobs, Key="k", UploadId=upload_id)


@pytest.mark.parametrize(
    ("creator", "code"),
    [("bob", "BucketAlreadyExists"), ("alice", "BucketAlreadyOwnedByYou")],
    ids=["another-user", "its-owner"],
)
def test_creating_a_taken_bucket_name_says_whose_it_is(
    request: pytest.FixtureRequest, alices: str, creator: str, code: str
) -> None:
    """CreateBucket of alice's name is 409 BucketAlreadyExists for bob, OwnedByYou for alice."""
    client = request.getfixturevalue(creator)
    assert refusal(client.create_bucket, Bucket=alices) == (409, code)


def test_a_refused_upload_is_refused_before_its_body(
    users_server: RunningServer, alices: str
) -> None:
    """Bob's PutObject into alice's bucket is AccessDenied, answered without 100 Continue."""
    access_key, secret_key = USERS["bob"]
    response = signed_request(
        users_server,
        "PUT",
        f"/{alices}/planted",
        headers={"Expect": "100-continue"},
        body=b"x" * 1024,
        access_key=access_key,
        secret_key=secret_key,
    )
    assert (response.status, error_fields(response.body)["Code"]) == (403, "AccessDenied")
    assert not (users_server.data_dir / alices / "planted").exists()


@pytest.mark.parametrize("signature_version", ["s3v4", None], ids=["sigv4", "sigv2"])
@pytest.mark.parametrize("method", ["get_object", "put_object", "delete_object"])
def test_presigned_urls_of_another_user_are_access_denied(
    users_server: RunningServer,
    alice: Any,
    alices: str,
    signature_version: str | None,
    method: str,
) -> None:
    """A URL bob presigns for alice's object is 403 AccessDenied, SigV4 or SigV2 alike."""
    signer = client_of(users_server, "bob", signature_version=signature_version)
    params = {"Bucket": alices, "Key": "secret"}
    headers = {}
    if method == "put_object":
        # SigV2 signs Content-Type, and urllib sends one with every body.
        params["ContentType"] = headers["Content-Type"] = "application/octet-stream"
    url = signer.generate_presigned_url(method, Params=params, ExpiresIn=300)
    http_method = {"get_object": "GET", "put_object": "PUT", "delete_object": "DELETE"}[method]
    data = b"bob's" if method == "put_object" else None
    status, _, body = urlopen(url, method=http_method, data=data, headers=headers)
    assert (status, error_fields(body)["Code"]) == (403, "AccessDenied")
    assert alice.get_object(Bucket=alices, Key="secret")["Body"].read() == b"alice's"


def test_a_bucket_name_is_free_again_once_its_owner_deleted_it(alice: Any, bob: Any) -> None:
    """After alice deletes her empty bucket, bob may create that name and owns it."""
    name = new_name("alice")
    alice.create_bucket(Bucket=name)
    alice.delete_bucket(Bucket=name)
    bob.create_bucket(Bucket=name)
    assert name in names(bob) and name not in names(alice)


# -- the admin ---------------------------------------------------------------------------


def test_the_admin_reads_and_writes_another_users_bucket(
    alice: Any, root: Any, alices: str
) -> None:
    """The admin lists, reads, writes and deletes in alice's bucket; alice sees the change."""
    assert root.get_object(Bucket=alices, Key="secret")["Body"].read() == b"alice's"
    root.put_object(Bucket=alices, Key="from-root", Body=b"r")
    keys = [o["Key"] for o in root.list_objects_v2(Bucket=alices)["Contents"]]
    assert keys == ["from-root", "secret"]
    root.delete_object(Bucket=alices, Key="from-root")
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=alices)["Contents"]] == ["secret"]


def test_the_admin_copies_between_users_buckets(
    alice: Any, root: Any, alices: str, bobs: str
) -> None:
    """The admin copies bob's object into alice's bucket."""
    root.copy_object(Bucket=alices, Key="copied", CopySource={"Bucket": bobs, "Key": "mine"})
    assert alice.get_object(Bucket=alices, Key="copied")["Body"].read() == b"bob's"


def test_the_admin_completes_another_users_upload(
    alice: Any, root: Any, alices: str, alices_upload: str
) -> None:
    """The admin lists and completes alice's multipart upload."""
    assert len(root.list_multipart_uploads(Bucket=alices)["Uploads"]) == 1
    root.complete_multipart_upload(
        Bucket=alices,
        Key="big",
        UploadId=alices_upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": hashlib.md5(b"p").hexdigest()}]},
    )
    assert alice.get_object(Bucket=alices, Key="big")["Body"].read() == b"p"


def test_a_bucket_the_admin_creates_is_the_admins(root: Any, alice: Any) -> None:
    """A bucket the admin creates belongs to the admin: alice neither sees nor uses it."""
    name = new_name("root")
    root.create_bucket(Bucket=name)
    assert name not in names(alice)
    assert_access_denied(lambda: alice.list_objects_v2(Bucket=name))


def test_the_admin_deletes_another_users_empty_bucket(alice: Any, root: Any) -> None:
    """The admin may delete alice's bucket once it is empty."""
    name = new_name("alice")
    alice.create_bucket(Bucket=name)
    root.delete_bucket(Bucket=name)
    assert name not in names(alice)
