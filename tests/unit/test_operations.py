"""The operation table: method, path shape, sub-resources and headers to S3 operations."""

from __future__ import annotations

import pytest

from nanio.s3.operations import Body, Operation, Shape, classify

S, B, OBJ = Shape.SERVICE, Shape.BUCKET, Shape.OBJECT

CASES = [
    ("GET", S, {}, {}, Operation.ListBuckets),
    ("PUT", B, {}, {}, Operation.CreateBucket),
    ("DELETE", B, {}, {}, Operation.DeleteBucket),
    ("HEAD", B, {}, {}, Operation.HeadBucket),
    ("GET", B, {"location": ""}, {}, Operation.GetBucketLocation),
    ("GET", B, {"versioning": ""}, {}, Operation.GetBucketVersioning),
    ("GET", B, {"acl": ""}, {}, Operation.GetBucketAcl),
    ("PUT", B, {"acl": ""}, {}, Operation.PutBucketAcl),
    ("GET", B, {}, {}, Operation.ListObjects),
    ("GET", B, {"list-type": "2", "prefix": "a"}, {}, Operation.ListObjectsV2),
    ("GET", B, {"versions": ""}, {}, Operation.ListObjectVersions),
    ("GET", B, {"uploads": ""}, {}, Operation.ListMultipartUploads),
    ("POST", B, {"delete": ""}, {}, Operation.DeleteObjects),
    ("PUT", OBJ, {}, {}, Operation.PutObject),
    ("PUT", OBJ, {}, {"x-amz-copy-source": ["/b/k"]}, Operation.CopyObject),
    ("PUT", OBJ, {"partNumber": "1", "uploadId": "u"}, {}, Operation.UploadPart),
    (
        "PUT",
        OBJ,
        {"partNumber": "1", "uploadId": "u"},
        {"x-amz-copy-source": ["/b/k"]},
        Operation.UploadPartCopy,
    ),
    ("GET", OBJ, {}, {}, Operation.GetObject),
    ("GET", OBJ, {"response-content-type": "text/plain"}, {}, Operation.GetObject),
    ("HEAD", OBJ, {}, {}, Operation.HeadObject),
    ("DELETE", OBJ, {}, {}, Operation.DeleteObject),
    ("GET", OBJ, {"acl": ""}, {}, Operation.GetObjectAcl),
    ("PUT", OBJ, {"acl": ""}, {}, Operation.PutObjectAcl),
    ("POST", OBJ, {"uploads": ""}, {}, Operation.CreateMultipartUpload),
    ("POST", OBJ, {"uploadId": "u"}, {}, Operation.CompleteMultipartUpload),
    ("DELETE", OBJ, {"uploadId": "u"}, {}, Operation.AbortMultipartUpload),
    ("GET", OBJ, {"uploadId": "u"}, {}, Operation.ListParts),
    ("PUT", B, {"policy": ""}, {}, Operation.Unsupported),
    ("GET", OBJ, {"tagging": ""}, {}, Operation.GetObjectTagging),
    ("PUT", OBJ, {"tagging": ""}, {}, Operation.PutObjectTagging),
    ("DELETE", OBJ, {"tagging": ""}, {}, Operation.DeleteObjectTagging),
    ("GET", B, {"tagging": ""}, {}, Operation.GetBucketTagging),
    ("PUT", B, {"tagging": ""}, {}, Operation.PutBucketTagging),
    ("DELETE", B, {"tagging": ""}, {}, Operation.DeleteBucketTagging),
    # Not CopyObject: the tagging sub-resource names the operation.
    ("PUT", OBJ, {"tagging": ""}, {"x-amz-copy-source": ["/b/k"]}, Operation.PutObjectTagging),
    ("POST", OBJ, {"tagging": ""}, {}, None),
    ("GET", OBJ, {"attributes": ""}, {}, Operation.GetObjectAttributes),
    ("PUT", OBJ, {"attributes": ""}, {}, Operation.Unsupported),
    ("PUT", B, {"lifecycle": ""}, {}, Operation.Unsupported),
]


@pytest.mark.parametrize(("method", "shape", "query", "headers", "expected"), CASES)
def test_classify_picks_the_s3_operation(method, shape, query, headers, expected) -> None:
    """Each (method, shape, sub-resource, header) combination names its S3 operation."""
    assert classify(method, shape, query, headers) is expected


@pytest.mark.parametrize(
    ("method", "shape"), [("POST", S), ("PUT", S), ("DELETE", S), ("PATCH", OBJ), ("POST", OBJ)]
)
def test_classify_answers_none_for_methods_s3_lacks(method: str, shape: Shape) -> None:
    """A method S3 does not have on a path shape gives None (the caller answers 405)."""
    assert classify(method, shape, {}, {}) is None


def test_unsupported_subresource_never_creates_a_bucket() -> None:
    """PUT /bkt?policy is not CreateBucket, whatever other parameters come with it."""
    assert classify("PUT", B, {"policy": "", "x": "1"}, {}) is Operation.Unsupported


@pytest.mark.parametrize(
    ("method", "shape", "query"),
    [
        ("PUT", B, {"versioning": ""}),
        ("DELETE", B, {"versioning": ""}),
        ("PUT", B, {"location": ""}),
        ("DELETE", B, {"uploads": ""}),
        ("DELETE", OBJ, {"acl": ""}),
        ("PUT", OBJ, {"uploads": ""}),
        ("PUT", OBJ, {"uploadId": "u"}),
        ("HEAD", OBJ, {"uploadId": "u"}),
    ],
    ids=str,
)
def test_a_known_subresource_under_another_method_is_unsupported(
    method: str, shape: Shape, query: dict[str, str]
) -> None:
    """PUT /bkt?versioning is never CreateBucket, nor DELETE /bkt/k?acl a DeleteObject."""
    assert classify(method, shape, query, {}) is Operation.Unsupported


def test_plain_parameters_keep_the_catch_all_operations() -> None:
    """versionId, partNumber and listing parameters are no sub-resources."""
    assert classify("DELETE", OBJ, {"versionId": "null"}, {}) is Operation.DeleteObject
    assert classify("GET", OBJ, {"partNumber": "1"}, {}) is Operation.GetObject
    assert classify("GET", B, {"prefix": "a", "max-keys": "1"}, {}) is Operation.ListObjects


def test_bodies_are_declared_per_operation() -> None:
    """Uploads stream, XML operations buffer, the rest take no body."""
    assert Operation.PutObject.body is Body.OBJECT
    assert Operation.UploadPart.body is Body.OBJECT
    assert Operation.DeleteObjects.body is Body.XML
    assert Operation.CreateBucket.body is Body.XML
    assert Operation.GetObject.body is Body.NONE


def test_only_bucketless_operations_skip_the_bucket_check() -> None:
    """ListBuckets and CreateBucket run without an existing bucket; object operations need one."""
    assert not Operation.ListBuckets.needs_bucket
    assert not Operation.CreateBucket.needs_bucket
    assert Operation.PutObject.needs_bucket
    assert Operation.HeadBucket.needs_bucket


def test_operation_names_are_the_aws_api_names() -> None:
    """Every operation's api_name is its member name, as in the AWS API reference."""
    for op in Operation:
        assert op.api_name == op.name
