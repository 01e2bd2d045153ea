"""Conditional writes: If-None-Match: * and If-Match on PutObject and CompleteMultipartUpload."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_if_none_match_star_creates_only_a_new_key(s3: Any, bucket: str) -> None:
    """If-None-Match: * writes a missing key and answers 412 when the key exists."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert error_code(caught.value) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_if_match_overwrites_only_the_expected_version(s3: Any, bucket: str) -> None:
    """If-Match writes over the version with that ETag and refuses any other."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=etag)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"v3", IfMatch=etag)
    assert error_code(caught.value) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"


def test_if_match_on_a_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    """If-Match on a key that does not exist answers NoSuchKey, as S3 does."""
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch='"' + "0" * 32 + '"')
    assert error_code(caught.value) == "NoSuchKey"


def test_racing_creators_leave_exactly_one_winner(s3: Any, bucket: str) -> None:
    """Twelve concurrent If-None-Match: * PUTs of one key: one succeeds, eleven get 412."""

    def create(n: int) -> str:
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=b"writer %d" % n, IfNoneMatch="*")
        except ClientError as e:
            return error_code(e)
        return "ok"

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(create, range(12)))
    assert outcomes.count("ok") == 1
    assert outcomes.count("PreconditionFailed") == 11
    winner = outcomes.index("ok")
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == b"writer %d" % winner


def test_complete_with_if_none_match_refuses_an_existing_key(s3: Any, bucket: str) -> None:
    """Complete with If-None-Match: * fails on an existing key and keeps the upload."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"already here")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=os.urandom(MiB)
    )["ETag"]
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
            IfNoneMatch="*",
        )
    assert error_code(caught.value) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"already here"
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
