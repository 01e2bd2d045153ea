"""
A long CompleteMultipartUpload against a real server, driven by boto3 and a
presigned URL: the 200 comes early, whitespace keeps the connection alive,
and the result (or an Error document) follows.

To make the join long without gigabytes of parts, the server is ``nanio
serve`` started through a tiny wrapper that slows the part join down by a
second and a half and shortens the keep-alive delays; nothing else changes.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.procs import patched_server
from tests.support.server import RunningServer, make_boto3_client

# ``nanio serve`` with a slow disk: joining parts sleeps before it copies.
SLOW_JOIN = """
import time
import nanio.storage.multipart as multipart
import nanio.web.keepalive as keepalive
keepalive.KEEPALIVE_AFTER_SECONDS = 0.2
keepalive.KEEPALIVE_EVERY_SECONDS = 0.2
join = multipart._join
def slow_join(*args):
    time.sleep(1.5)
    join(*args)
multipart._join = slow_join
"""

PART_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with patched_server(tmp_path_factory.mktemp("slow-join"), SLOW_JOIN) as server:
        yield server


@pytest.fixture
def s3(slow_server: RunningServer) -> Any:
    client = make_boto3_client(slow_server)
    client.create_bucket(Bucket="slow")
    yield client
    for entry in client.list_objects_v2(Bucket="slow").get("Contents", []):
        client.delete_object(Bucket="slow", Key=entry["Key"])
    client.delete_bucket(Bucket="slow")


def upload_two_parts(s3: Any, key: str) -> tuple[str, list[dict[str, Any]], bytes]:
    """A started upload of ``key`` with two parts: its id, the part list, the whole body."""
    upload_id = s3.create_multipart_upload(Bucket="slow", Key=key)["UploadId"]
    bodies = [os.urandom(PART_BYTES), b"tail" * 1000]
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(
            Bucket="slow", Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    return upload_id, parts, b"".join(bodies)


def test_boto3_completes_through_the_keepalive(s3: Any) -> None:
    """boto3 reads the result that follows the early 200 and whitespace; the object is whole."""
    upload_id, parts, body = upload_two_parts(s3, "big")
    answer = s3.complete_multipart_upload(
        Bucket="slow", Key="big", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert answer["ETag"].endswith('-2"')
    assert s3.get_object(Bucket="slow", Key="big")["Body"].read() == body


def test_the_wire_shows_the_declaration_then_whitespace_then_the_result(s3: Any) -> None:
    """Read raw: 200, the XML declaration, spaces, then CompleteMultipartUploadResult."""
    upload_id, parts, _ = upload_two_parts(s3, "raw")
    url = s3.generate_presigned_url(
        "complete_multipart_upload",
        Params={"Bucket": "slow", "Key": "raw", "UploadId": upload_id},
    )
    document = (
        "<CompleteMultipartUpload>"
        + "".join(
            f"<Part><PartNumber>{p['PartNumber']}</PartNumber><ETag>{p['ETag']}</ETag></Part>"
            for p in parts
        )
        + "</CompleteMultipartUpload>"
    )
    request = urllib.request.Request(url, data=document.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        status, raw = response.status, response.read()
    assert status == 200
    declaration, _, rest = raw.partition(b"?>")
    assert declaration.startswith(b"<?xml")
    assert rest.startswith(b"\n  ")
    assert rest.strip().startswith(b"<CompleteMultipartUploadResult")


def test_a_failed_condition_after_the_early_200_reaches_boto3_as_an_error(s3: Any) -> None:
    """If-None-Match: * on a key that exists fails with PreconditionFailed, the old object kept."""
    s3.put_object(Bucket="slow", Key="taken", Body=b"first")
    upload_id, parts, _ = upload_two_parts(s3, "taken")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket="slow",
            Key="taken",
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            IfNoneMatch="*",
        )
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket="slow", Key="taken")["Body"].read() == b"first"
    s3.abort_multipart_upload(Bucket="slow", Key="taken", UploadId=upload_id)
