"""
DeleteObjects limits and the integrity of every XML request body, against a
real server: boto3 for the real client's view, raw signed requests for the
tampered and malformed ones.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import error_fields, signed_request
from tests.support.server import RunningServer


def delete_document(*keys: str) -> bytes:
    objects = "".join(f"<Object><Key>{key}</Key></Object>" for key in keys)
    return f"<Delete>{objects}</Delete>".encode()


def put_keys(client: Any, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))


def test_delete_objects_takes_a_thousand_keys(client: Any, bucket: str) -> None:
    """One DeleteObjects of exactly 1,000 keys deletes all of them."""
    keys = [f"k{i:04d}" for i in range(1000)]
    put_keys(client, bucket, keys)
    answer = client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
    )
    assert "Errors" not in answer
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_refuses_a_thousand_and_one_keys(client: Any, bucket: str) -> None:
    """1,001 keys is MalformedXML, and none of them is deleted."""
    client.put_object(Bucket=bucket, Key="k0000", Body=b"x")
    with pytest.raises(ClientError) as caught:
        client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": f"k{i:04d}"} for i in range(1001)]}
        )
    assert caught.value.response["Error"]["Code"] == "MalformedXML"
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


@pytest.mark.parametrize(
    "document",
    [b"<Delete><Object><Key>k</Key></Object>", b"not xml at all", b"<Delete/>", b""],
    ids=["unclosed", "not-xml", "no-objects", "empty"],
)
def test_delete_objects_with_bad_xml_is_malformed(
    server: RunningServer, client: Any, bucket: str, document: bytes
) -> None:
    """A body that is not a valid Delete document answers 400 MalformedXML."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    answer = signed_request(server, "POST", f"/{bucket}", query="delete=", body=document)
    assert (answer.status, error_fields(answer.body)["Code"]) == (400, "MalformedXML")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def b64(raw: bytes) -> str:
    """Base64 of ``raw``, as integrity headers carry digests."""
    return base64.b64encode(raw).decode()


#: Ways a Delete document of "k" fails its integrity checks (what is sent instead of
#: it, or beside it), with the code S3 answers.
BROKEN_INTEGRITY: dict[str, tuple[Callable[[bytes], dict[str, Any]], str]] = {
    "wrong-content-md5": (
        lambda document: {"headers": {"Content-MD5": b64(hashlib.md5(document + b" ").digest())}},
        "BadDigest",
    ),
    "wrong-crc32": (
        lambda document: {
            "headers": {"x-amz-checksum-crc32": b64((zlib.crc32(document) ^ 1).to_bytes(4, "big"))}
        },
        "BadDigest",
    ),
    # A body that differs from the signed SHA-256: another document was signed.
    "changed-in-transit": (
        lambda document: {"body": delete_document("other"), "sent_body": document},
        "XAmzContentSHA256Mismatch",
    ),
}


@pytest.mark.parametrize(("breakage", "code"), BROKEN_INTEGRITY.values(), ids=BROKEN_INTEGRITY)
def test_delete_body_failing_its_integrity_check_deletes_nothing(
    server: RunningServer,
    client: Any,
    bucket: str,
    breakage: Callable[[bytes], dict[str, Any]],
    code: str,
) -> None:
    """A wrong Content-MD5 or CRC32, or a body changed in transit, is a 400; the key stays."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    document = delete_document("k")
    answer = signed_request(
        server, "POST", f"/{bucket}", query="delete=", **{"body": document, **breakage(document)}
    )
    assert (answer.status, error_fields(answer.body)["Code"]) == (400, code)
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_delete_objects_with_a_right_content_md5_deletes(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """A matching Content-MD5 is accepted."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    document = delete_document("k")
    answer = signed_request(
        server,
        "POST",
        f"/{bucket}",
        query="delete=",
        body=document,
        headers={"Content-MD5": b64(hashlib.md5(document).digest())},
    )
    assert answer.status == 200
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_a_complete_body_changed_in_transit_is_refused(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """A CompleteMultipartUpload body that differs from the signed one completes nothing."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = client.upload_part(
        Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"part"
    )["ETag"]
    signed = (
        f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
        "</CompleteMultipartUpload>"
    ).encode()
    tampered = signed.replace(b"<PartNumber>1<", b"<PartNumber>2<")
    answer = signed_request(
        server,
        "POST",
        f"/{bucket}/mp",
        query=f"uploadId={upload_id}",
        body=signed,
        sent_body=tampered,
    )
    assert error_fields(answer.body)["Code"] == "XAmzContentSHA256Mismatch"
    parts = client.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]
