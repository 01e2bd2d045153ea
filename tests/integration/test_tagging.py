"""Tags against a real server with boto3: nanio stores none, and says so as S3 would.

Reading tags must work (aws-cli v2 reads an object's tags before every
multipart copy); asking nanio to keep a tag answers 501 and keeps nothing.
"""

from __future__ import annotations

from typing import Any

from tests.support.clients import http_status, refusal

TAGS = {"TagSet": [{"Key": "team", "Value": "storage"}]}


def test_an_object_has_an_empty_tag_set(client: Any, bucket: str) -> None:
    """GetObjectTagging of an object is an empty TagSet; of a missing key, NoSuchKey."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert client.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert refusal(client.get_object_tagging, Bucket=bucket, Key="nope") == (404, "NoSuchKey")
    assert refusal(client.get_object_tagging, Bucket=bucket + "-x", Key="k") == (
        404,
        "NoSuchBucket",
    )


def test_putting_object_tags_is_not_implemented_and_clearing_them_works(
    client: Any, bucket: str
) -> None:
    """PutObjectTagging with a tag answers 501; an empty set and DeleteObjectTagging succeed."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    put = client.put_object_tagging
    assert refusal(put, Bucket=bucket, Key="k", Tagging=TAGS) == (501, "NotImplemented")
    assert http_status(put(Bucket=bucket, Key="k", Tagging={"TagSet": []})) == 200
    assert http_status(client.delete_object_tagging(Bucket=bucket, Key="k")) == 204
    assert client.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert refusal(put, Bucket=bucket, Key="nope", Tagging={"TagSet": []}) == (404, "NoSuchKey")


def test_a_bucket_has_no_tag_set(client: Any, bucket: str) -> None:
    """GetBucketTagging is NoSuchTagSet, as on S3 for a bucket never tagged."""
    assert refusal(client.get_bucket_tagging, Bucket=bucket) == (404, "NoSuchTagSet")
    put = client.put_bucket_tagging
    assert refusal(put, Bucket=bucket, Tagging=TAGS) == (501, "NotImplemented")
    assert http_status(client.delete_bucket_tagging(Bucket=bucket)) == 204
    assert refusal(client.get_bucket_tagging, Bucket=bucket + "-x") == (404, "NoSuchBucket")


def test_uploads_and_copies_asking_for_tags_store_nothing(client: Any, bucket: str) -> None:
    """x-amz-tagging on PutObject, CreateMultipartUpload or a REPLACE copy answers 501."""
    assert refusal(client.put_object, Bucket=bucket, Key="t", Body=b"x", Tagging="a=1") == (
        501,
        "NotImplemented",
    )
    assert refusal(client.head_object, Bucket=bucket, Key="t")[0] == 404
    assert refusal(client.create_multipart_upload, Bucket=bucket, Key="t", Tagging="a=1") == (
        501,
        "NotImplemented",
    )
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    client.put_object(Bucket=bucket, Key="src", Body=b"x")
    source = {"Bucket": bucket, "Key": "src"}
    copy = client.copy_object
    replace = {"TaggingDirective": "REPLACE", "Tagging": "a=1"}
    assert refusal(copy, Bucket=bucket, Key="t", CopySource=source, **replace) == (
        501,
        "NotImplemented",
    )
    assert refusal(client.head_object, Bucket=bucket, Key="t")[0] == 404
    # COPY copies the source's tags, and it has none: a plain copy.
    copy(Bucket=bucket, Key="t", CopySource=source, TaggingDirective="COPY")
    assert client.get_object(Bucket=bucket, Key="t")["Body"].read() == b"x"


def test_a_copy_with_an_unknown_directive_is_invalid_argument(client: Any, bucket: str) -> None:
    """Directives are COPY or REPLACE; anything else is refused, and nothing is copied."""
    client.put_object(Bucket=bucket, Key="src", Body=b"x")
    source = {"Bucket": bucket, "Key": "src"}
    for directive in ({"TaggingDirective": "MOVE"}, {"MetadataDirective": "MOVE"}):
        answer = refusal(client.copy_object, Bucket=bucket, Key="t", CopySource=source, **directive)
        assert answer == (400, "InvalidArgument")
    assert refusal(client.head_object, Bucket=bucket, Key="t")[0] == 404
