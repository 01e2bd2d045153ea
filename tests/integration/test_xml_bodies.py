"""
DeleteObjects limits and the integrity of every XML request body, against a
real server: boto3 for the real client's view, raw signed requests for the
tampered and malformed ones.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
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


def test_delete_objects_with_a_wrong_content_md5_deletes_nothing(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """A Content-MD5 that does not match the body answers BadDigest; the key stays."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    document = delete_document("k")
    wrong = base64.b64encode(hashlib.md5(document + b" ").digest()).decode()
    answer = signed_request(
        server, "POST", f"/{bucket}", query="delete=", body=document, headers={"Content-MD5": wrong}
    )
    assert (answer.status, error_fields(answer.body)["Code"]) == (400, "BadDigest")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_delete_objects_with_a_right_content_md5_deletes(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """A matching Content-MD5 is accepted."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    document = delete_document("k")
    right = base64.b64encode(hashlib.md5(document).digest()).decode()
    answer = signed_request(
        server, "POST", f"/{bucket}", query="delete=", body=document, headers={"Content-MD5": right}
    )
    assert answer.status == 200
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_with_a_wrong_crc32_deletes_nothing(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """An x-amz-checksum-crc32 that does not match the body answers BadDigest; the key stays."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    document = delete_document("k")
    wrong = base64.b64encode((zlib.crc32(document) ^ 1).to_bytes(4, "big")).decode()
    answer = signed_request(
        server,
        "POST",
        f"/{bucket}",
        query="delete=",
        body=document,
        headers={"x-amz-checksum-crc32": wrong},
    )
    assert (answer.status, error_fields(answer.body)["Code"]) == (400, "BadDigest")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_a_delete_body_changed_in_transit_is_refused(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """A body that differs from the signed SHA-256 answers XAmzContentSHA256Mismatch."""
    client.put_object(Bucket=bucket, Key="aaaa", Body=b"x")
    client.put_object(Bucket=bucket, Key="bbbb", Body=b"x")
    answer = signed_request(
        server,
        "POST",
        f"/{bucket}",
        query="delete=",
        body=delete_document("aaaa"),
        sent_body=delete_document("bbbb"),
    )
    assert (answer.status, error_fields(answer.body)["Code"]) == (
        400,
        "XAmzContentSHA256Mismatch",
    )
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 2


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
