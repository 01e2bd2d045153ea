"""
The operation table: which S3 operation a request is.

Klein matches the method and the path shape (service, bucket or object); S3
then tells operations apart by sub-resource query parameters (``?uploads``,
``?location``, ``?list-type=2``...) and a few headers (``x-amz-copy-source``).
This module is the only place that knows that mapping.  The web layer asks it
twice per request with the same answer: once when the headers arrive (to pick
a body sink and answer early) and once in the Klein route.

No Twisted imports here.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass


class Shape(enum.Enum):
    """What the path names."""

    SERVICE = "service"
    BUCKET = "bucket"
    OBJECT = "object"


class Body(enum.Enum):
    """What an operation does with the request body."""

    #: No body expected; anything sent is read and dropped.
    NONE = "none"
    #: An XML document, buffered in memory up to ``XML_BODY_LIMIT_BYTES``.
    XML = "xml"
    #: Object bytes, streamed to a temp file beside the store.
    OBJECT = "object"


#: S3 caps the XML documents it accepts; so do we, before parsing.
XML_BODY_LIMIT_BYTES = 1024 * 1024


class Operation(enum.Enum):
    """S3 API operations, named as in the AWS API reference."""

    ListBuckets = ("ListBuckets", Body.NONE)
    CreateBucket = ("CreateBucket", Body.XML)
    DeleteBucket = ("DeleteBucket", Body.NONE)
    HeadBucket = ("HeadBucket", Body.NONE)
    GetBucketLocation = ("GetBucketLocation", Body.NONE)
    GetBucketVersioning = ("GetBucketVersioning", Body.NONE)
    GetBucketAcl = ("GetBucketAcl", Body.NONE)
    PutBucketAcl = ("PutBucketAcl", Body.XML)
    GetBucketTagging = ("GetBucketTagging", Body.NONE)
    PutBucketTagging = ("PutBucketTagging", Body.XML)
    DeleteBucketTagging = ("DeleteBucketTagging", Body.NONE)
    ListObjects = ("ListObjects", Body.NONE)
    ListObjectsV2 = ("ListObjectsV2", Body.NONE)
    ListObjectVersions = ("ListObjectVersions", Body.NONE)
    ListMultipartUploads = ("ListMultipartUploads", Body.NONE)
    DeleteObjects = ("DeleteObjects", Body.XML)
    PutObject = ("PutObject", Body.OBJECT)
    CopyObject = ("CopyObject", Body.NONE)
    GetObject = ("GetObject", Body.NONE)
    HeadObject = ("HeadObject", Body.NONE)
    DeleteObject = ("DeleteObject", Body.NONE)
    GetObjectAcl = ("GetObjectAcl", Body.NONE)
    PutObjectAcl = ("PutObjectAcl", Body.XML)
    GetObjectTagging = ("GetObjectTagging", Body.NONE)
    PutObjectTagging = ("PutObjectTagging", Body.XML)
    DeleteObjectTagging = ("DeleteObjectTagging", Body.NONE)
    GetObjectAttributes = ("GetObjectAttributes", Body.NONE)
    CreateMultipartUpload = ("CreateMultipartUpload", Body.NONE)
    UploadPart = ("UploadPart", Body.OBJECT)
    UploadPartCopy = ("UploadPartCopy", Body.NONE)
    CompleteMultipartUpload = ("CompleteMultipartUpload", Body.XML)
    AbortMultipartUpload = ("AbortMultipartUpload", Body.NONE)
    ListParts = ("ListParts", Body.NONE)
    #: A sub-resource nanio knows of but does not implement (policy,
    #: lifecycle, CORS, ...): answered 501 NotImplemented.
    Unsupported = ("Unsupported", Body.NONE)

    def __init__(self, api_name: str, body: Body) -> None:
        self.api_name = api_name
        self.body = body

    @property
    def needs_bucket(self) -> bool:
        """Whether the bucket must exist before the body is worth reading."""
        return self not in _BUCKETLESS

    @property
    def finds_bucket_itself(self) -> bool:
        """Whether the operation's own read answers NoSuchBucket (GetObject, HeadObject).

        Without owners to check (one user), the bucket check before the body
        only repeats what the read finds out anyway, at two stats a request.
        """
        return self in _OPENS_OBJECT


_BUCKETLESS = frozenset({Operation.ListBuckets, Operation.CreateBucket, Operation.Unsupported})
_OPENS_OBJECT = frozenset({Operation.GetObject, Operation.HeadObject})

#: Sub-resources of buckets and objects that S3 has and nanio does not
#: implement.  Naming them keeps such requests from being mistaken for a
#: plain GET/PUT of the bucket or object (``PUT /bkt?policy`` must not
#: create a bucket).
UNSUPPORTED_SUBRESOURCES = frozenset(
    {
        "accelerate",
        "analytics",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "torrent",
        "website",
    }
)


@dataclass(frozen=True, slots=True)
class _Rule:
    method: str
    shape: Shape
    #: Query parameter names that must all be present.
    query: tuple[str, ...]
    #: A header that must be present, or "".
    header: str
    operation: Operation


def _rule(
    method: str, shape: Shape, op: Operation, query: tuple[str, ...] = (), header: str = ""
) -> _Rule:
    return _Rule(method, shape, query, header, op)


_S, _B, _O = Shape.SERVICE, Shape.BUCKET, Shape.OBJECT
_Op = Operation

# Most specific first: the first matching rule wins.
_RULES: tuple[_Rule, ...] = (
    _rule("GET", _S, _Op.ListBuckets),
    _rule("GET", _B, _Op.GetBucketLocation, ("location",)),
    _rule("GET", _B, _Op.GetBucketVersioning, ("versioning",)),
    _rule("GET", _B, _Op.GetBucketAcl, ("acl",)),
    _rule("GET", _B, _Op.GetBucketTagging, ("tagging",)),
    _rule("PUT", _B, _Op.PutBucketTagging, ("tagging",)),
    _rule("DELETE", _B, _Op.DeleteBucketTagging, ("tagging",)),
    _rule("GET", _B, _Op.ListMultipartUploads, ("uploads",)),
    _rule("GET", _B, _Op.ListObjectVersions, ("versions",)),
    _rule("GET", _B, _Op.ListObjectsV2, ("list-type",)),
    _rule("GET", _B, _Op.ListObjects),
    _rule("HEAD", _B, _Op.HeadBucket),
    _rule("PUT", _B, _Op.PutBucketAcl, ("acl",)),
    _rule("PUT", _B, _Op.CreateBucket),
    _rule("DELETE", _B, _Op.DeleteBucket),
    _rule("POST", _B, _Op.DeleteObjects, ("delete",)),
    _rule("PUT", _O, _Op.UploadPartCopy, ("partNumber", "uploadId"), "x-amz-copy-source"),
    _rule("PUT", _O, _Op.UploadPart, ("partNumber", "uploadId")),
    _rule("PUT", _O, _Op.PutObjectAcl, ("acl",)),
    _rule("GET", _O, _Op.GetObjectTagging, ("tagging",)),
    _rule("PUT", _O, _Op.PutObjectTagging, ("tagging",)),
    _rule("DELETE", _O, _Op.DeleteObjectTagging, ("tagging",)),
    _rule("GET", _O, _Op.GetObjectAttributes, ("attributes",)),
    _rule("PUT", _O, _Op.CopyObject, (), "x-amz-copy-source"),
    _rule("PUT", _O, _Op.PutObject),
    _rule("GET", _O, _Op.ListParts, ("uploadId",)),
    _rule("GET", _O, _Op.GetObjectAcl, ("acl",)),
    _rule("GET", _O, _Op.GetObject),
    _rule("HEAD", _O, _Op.HeadObject),
    _rule("DELETE", _O, _Op.AbortMultipartUpload, ("uploadId",)),
    _rule("DELETE", _O, _Op.DeleteObject),
    _rule("POST", _O, _Op.CreateMultipartUpload, ("uploads",)),
    _rule("POST", _O, _Op.CompleteMultipartUpload, ("uploadId",)),
)

#: Sub-resources some rule consumes: with another method, or on another
#: shape, they name an operation nanio does not have.
_KNOWN_SUBRESOURCES = frozenset(name for rule in _RULES for name in rule.query) - {
    "partNumber",
    "list-type",
}

_BY_METHOD_SHAPE: dict[tuple[str, Shape], tuple[_Rule, ...]] = {}
for _r in _RULES:
    _BY_METHOD_SHAPE.setdefault((_r.method, _r.shape), ())
    _BY_METHOD_SHAPE[_r.method, _r.shape] += (_r,)


def classify(
    method: str,
    shape: Shape,
    query: Collection[str],
    headers: Mapping[str, object],
) -> Operation | None:
    """
    The operation for a request, or None when S3 has no such method on that
    path (the caller answers 405 MethodNotAllowed).

    ``query`` holds the query parameter names; ``headers`` is keyed by
    lower-case header names.
    """
    rules = _BY_METHOD_SHAPE.get((method, shape))
    if rules is None:
        return None
    if shape is not Shape.SERVICE and not UNSUPPORTED_SUBRESOURCES.isdisjoint(query):
        # Checked before the table so "PUT /bkt?policy" is never CreateBucket.
        return Operation.Unsupported
    for rule in rules:
        if rule.header and rule.header not in headers:
            continue
        if all(name in query for name in rule.query):
            if not rule.query and not _KNOWN_SUBRESOURCES.isdisjoint(query):
                # "PUT /bkt?versioning" is PutBucketVersioning, "DELETE
                # /bkt/k?acl" no S3 operation: never CreateBucket or a delete.
                return Operation.Unsupported
            return rule.operation
    return None
