"""
The MinIO Python client (``minio`` on PyPI) against a real server.

minio-py signs and encodes requests with its own code (urllib3 underneath,
not botocore), streams uploads of unknown length as multipart uploads, and
reads S3 error XML itself, so it catches what botocore's leniency would not.
Checks go through boto3.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta
from typing import Any

import pytest
from minio import Minio
from minio.commonconfig import REPLACE, CopySource
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from tests.support.clients import host_header, keys_of, urlopen
from tests.support.server import REGION, RunningServer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def minio(server: RunningServer) -> Minio:
    """A MinIO client for the server, over plain HTTP."""
    return Minio(
        host_header(server),
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
        region=REGION,
    )


def test_bucket_lifecycle(minio: Minio, fresh_bucket: str) -> None:
    """make_bucket, bucket_exists, list_buckets and remove_bucket agree with each other."""
    assert not minio.bucket_exists(fresh_bucket)
    minio.make_bucket(fresh_bucket)
    assert minio.bucket_exists(fresh_bucket)
    assert fresh_bucket in [found.name for found in minio.list_buckets()]
    minio.remove_bucket(fresh_bucket)
    assert not minio.bucket_exists(fresh_bucket)


def test_put_stat_get_keep_bytes_and_metadata(minio: Minio, bucket: str) -> None:
    """An object put with a type and metadata comes back with both, whole and by range."""
    data = os.urandom(10_000)
    put = minio.put_object(
        bucket,
        "dir/obj.bin",
        io.BytesIO(data),
        len(data),
        content_type="application/x-test",
        metadata={"colour": "blue"},
    )
    stat = minio.stat_object(bucket, "dir/obj.bin")
    assert (stat.size, stat.etag, stat.content_type) == (len(data), put.etag, "application/x-test")
    assert stat.metadata is not None
    assert stat.metadata["x-amz-meta-colour"] == "blue"
    response = minio.get_object(bucket, "dir/obj.bin")
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()
    ranged = minio.get_object(bucket, "dir/obj.bin", offset=100, length=50)
    try:
        assert ranged.status == 206
        assert ranged.read() == data[100:150]
    finally:
        ranged.close()
        ranged.release_conn()


def test_unknown_length_upload_goes_in_parts(minio: Minio, client: Any, bucket: str) -> None:
    """A stream of unknown length is uploaded as 5 MiB parts and stored byte for byte."""
    data = os.urandom(12 * MiB)
    minio.put_object(bucket, "stream.bin", io.BytesIO(data), -1, part_size=5 * MiB)
    assert client.head_object(Bucket=bucket, Key="stream.bin")["ETag"].endswith('-3"')
    assert client.get_object(Bucket=bucket, Key="stream.bin")["Body"].read() == data


def test_listing_with_and_without_recursion(minio: Minio, client: Any, bucket: str) -> None:
    """list_objects gives prefixes at the top level, every key recursively, in S3 order."""
    for key in ("b.txt", "a/1.txt", "a/2.txt", "a-b.txt"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    top = list(minio.list_objects(bucket))
    # minio-py yields a page's keys first, then its prefixes.
    assert [item.object_name for item in top if not item.is_dir] == ["a-b.txt", "b.txt"]
    assert [item.object_name for item in top if item.is_dir] == ["a/"]
    every = [item.object_name for item in minio.list_objects(bucket, recursive=True)]
    assert every == ["a-b.txt", "a/1.txt", "a/2.txt", "b.txt"]
    after = minio.list_objects(bucket, recursive=True, start_after="a/1.txt")
    assert [item.object_name for item in after] == ["a/2.txt", "b.txt"]


def test_copy_with_replaced_metadata(minio: Minio, client: Any, bucket: str) -> None:
    """copy_object copies the bytes and, with REPLACE, sets the new metadata."""
    client.put_object(Bucket=bucket, Key="src", Body=b"copied", Metadata={"old": "1"})
    minio.copy_object(
        bucket,
        "dst",
        CopySource(bucket, "src"),
        metadata={"new": "2"},
        metadata_directive=REPLACE,
    )
    head = client.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"new": "2"}
    assert client.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copied"


def test_remove_objects_in_one_batch(minio: Minio, client: Any, bucket: str) -> None:
    """remove_objects deletes a batch (DeleteObjects) and reports no error."""
    for key in ("k1", "k2", "k3"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    errors = list(minio.remove_objects(bucket, [DeleteObject("k1"), DeleteObject("k3")]))
    assert errors == []
    assert keys_of(client, bucket) == ["k2"]


def test_presigned_urls_work_with_plain_http(minio: Minio, client: Any, bucket: str) -> None:
    """minio's presigned PUT and GET URLs store and fetch an object with no credentials."""
    put_url = minio.presigned_put_object(bucket, "shared", expires=timedelta(minutes=5))
    status, _, _ = urlopen(put_url, method="PUT", data=b"by URL")
    assert status == 200
    get_url = minio.presigned_get_object(bucket, "shared", expires=timedelta(minutes=5))
    assert urlopen(get_url)[::2] == (200, b"by URL")


def test_errors_carry_s3_codes(minio: Minio, bucket: str) -> None:
    """Refusals reach minio-py as S3 errors with S3's codes."""
    with pytest.raises(S3Error) as missing_key:
        minio.stat_object(bucket, "absent")
    assert missing_key.value.code == "NoSuchKey"
    with pytest.raises(S3Error) as missing_bucket:
        minio.get_object(f"{bucket}-absent", "anything")
    assert missing_bucket.value.code == "NoSuchBucket"
