"""
The S3 error hierarchy, shared by every layer.

Each subclass is named after the S3 error code it stands for and carries the
HTTP status and the default message S3 uses.  Storage, protocol and web code
all raise these same classes; one renderer (``nanio.s3.xml.error_body``) turns
them into S3 error XML.

Invariant: a message never contains a secret key, a signature or a path on
the server's filesystem.

No Twisted imports here.
"""

from __future__ import annotations


class S3Error(Exception):
    """An error S3 clients understand: a code, an HTTP status and a message."""

    code: str = "InternalError"
    status: int = 500
    message: str = "We encountered an internal error. Please try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        resource: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> None:
        self.message = message if message is not None else type(self).message
        super().__init__(self.message)
        #: The request path the error is about, filled in by the web layer.
        self.resource = resource
        #: Extra elements S3 puts in the error body (BucketName, Key, ...).
        self.fields = fields
        #: Extra response headers (for example Allow on 405).
        self.headers = headers or {}


# The classes are declared one by one, not built from a table, so that type
# checkers and readers see every name.


class AccessDenied(S3Error):
    code, status, message = "AccessDenied", 403, "Access Denied"


class AuthorizationHeaderMalformed(S3Error):
    code, status = "AuthorizationHeaderMalformed", 400
    message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    code, status = "AuthorizationQueryParametersError", 400
    message = "The authorization query parameters are malformed."


class BadDigest(S3Error):
    code, status = "BadDigest", 400
    message = "The Content-MD5 you specified did not match what we received."


class BucketAlreadyExists(S3Error):
    code, status = "BucketAlreadyExists", 409
    message = (
        "The requested bucket name is not available. The bucket namespace is "
        "shared by all users of the system. Please select a different name and try again."
    )


class BucketAlreadyOwnedByYou(S3Error):
    code, status = "BucketAlreadyOwnedByYou", 409
    message = "Your previous request to create the named bucket succeeded and you already own it."


class BucketNotEmpty(S3Error):
    code, status = "BucketNotEmpty", 409
    message = "The bucket you tried to delete is not empty."


class EntityTooLarge(S3Error):
    code, status = "EntityTooLarge", 400
    message = "Your proposed upload exceeds the maximum allowed object size."


class EntityTooSmall(S3Error):
    code, status = "EntityTooSmall", 400
    message = "Your proposed upload is smaller than the minimum allowed object size."


class ExpiredToken(S3Error):
    code, status = "ExpiredToken", 400
    message = "The provided token has expired."


class IncompleteBody(S3Error):
    code, status = "IncompleteBody", 400
    message = "You did not provide the number of bytes specified by the Content-Length HTTP header."


class InternalError(S3Error):
    code, status = "InternalError", 500
    message = "We encountered an internal error. Please try again."


class InvalidAccessKeyId(S3Error):
    code, status = "InvalidAccessKeyId", 403
    message = "The AWS Access Key Id you provided does not exist in our records."


class InvalidArgument(S3Error):
    code, status, message = "InvalidArgument", 400, "Invalid Argument"


class InvalidBucketName(S3Error):
    code, status, message = "InvalidBucketName", 400, "The specified bucket is not valid."


class InvalidDigest(S3Error):
    code, status = "InvalidDigest", 400
    message = "The Content-MD5 you specified is not valid."


class InvalidPart(S3Error):
    code, status = "InvalidPart", 400
    message = (
        "One or more of the specified parts could not be found. The part may "
        "not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )


class InvalidPartOrder(S3Error):
    code, status = "InvalidPartOrder", 400
    message = "The list of parts was not in ascending order. Parts must be ordered by part number."


class InvalidRange(S3Error):
    code, status, message = "InvalidRange", 416, "The requested range is not satisfiable"


class InvalidRequest(S3Error):
    code, status, message = "InvalidRequest", 400, "Invalid Request"


class KeyTooLongError(S3Error):
    code, status, message = "KeyTooLongError", 400, "Your key is too long"


class MalformedXML(S3Error):
    code, status = "MalformedXML", 400
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema."
    )


class MaxMessageLengthExceeded(S3Error):
    code, status = "MaxMessageLengthExceeded", 400
    message = "Your request was too big."


class MetadataTooLarge(S3Error):
    code, status = "MetadataTooLarge", 400
    message = "Your metadata headers exceed the maximum allowed metadata size."


class MethodNotAllowed(S3Error):
    code, status = "MethodNotAllowed", 405
    message = "The specified method is not allowed against this resource."


class MissingContentLength(S3Error):
    code, status = "MissingContentLength", 411
    message = "You must provide the Content-Length HTTP header."


class MissingSecurityHeader(S3Error):
    code, status = "MissingSecurityHeader", 400
    message = "Your request is missing a required header."


class NoSuchBucket(S3Error):
    code, status, message = "NoSuchBucket", 404, "The specified bucket does not exist"


class NoSuchKey(S3Error):
    code, status, message = "NoSuchKey", 404, "The specified key does not exist."


class NoSuchTagSet(S3Error):
    code, status, message = "NoSuchTagSet", 404, "The TagSet does not exist"


class NoSuchUpload(S3Error):
    code, status = "NoSuchUpload", 404
    message = (
        "The specified upload does not exist. The upload ID may be invalid, "
        "or the upload may have been aborted or completed."
    )


class NotModified(S3Error):
    # Not an error to S3 clients: a 304 carries no body.
    code, status, message = "NotModified", 304, "Not Modified"


class PreconditionFailed(S3Error):
    code, status = "PreconditionFailed", 412
    message = "At least one of the pre-conditions you specified did not hold"


class RequestTimeTooSkewed(S3Error):
    code, status = "RequestTimeTooSkewed", 403
    message = "The difference between the request time and the server's time is too large."


class S3NotImplemented(S3Error):
    # Prefixed so it does not shadow the builtin NotImplemented.
    code, status = "NotImplemented", 501
    message = "A header you provided implies functionality that is not implemented."


class ServiceUnavailable(S3Error):
    code, status = "ServiceUnavailable", 503
    message = "Please reduce your request rate."


class SignatureDoesNotMatch(S3Error):
    code, status = "SignatureDoesNotMatch", 403
    message = (
        "The request signature we calculated does not match the signature you "
        "provided. Check your key and signing method."
    )


class XAmzContentSHA256Mismatch(S3Error):
    code, status = "XAmzContentSHA256Mismatch", 400
    message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class KeyConflict(S3Error):
    # Not an AWS code: S3 has no directories, so it never meets a key that
    # needs a file and a directory of one name.  MinIO answers the same
    # situation with a 409-class error too; clients surface code and message.
    code, status = "KeyConflict", 409
    message = (
        "The key cannot be stored: an object and a prefix holding other objects "
        "would share one name (such as 'a' beside 'a/b')."
    )


class InsufficientStorage(S3Error):
    code, status = "InsufficientStorage", 507
    message = "The server does not have enough storage to complete the request."


class InvalidURI(S3Error):
    code, status, message = "InvalidURI", 400, "Couldn't parse the specified URI."


class MalformedTrailerError(S3Error):
    # What S3 answers for an aws-chunked trailer that is malformed, that
    # x-amz-trailer did not announce, or that was announced and never sent.
    code, status = "MalformedTrailerError", 400
    message = (
        "The request contained trailing data that was not well-formed or did not "
        "conform to our published schema."
    )


class InvalidPartNumber(S3Error):
    code, status, message = "InvalidPartNumber", 416, "The requested partnumber is not satisfiable"


class RequestHeaderSectionTooLarge(S3Error):
    # S3's answer to a request line plus headers over its size limit; nanio
    # gives it for too many headers as well (Twisted's own answer is a bare
    # "400 Bad Request" with no S3 error in it).
    code, status = "RequestHeaderSectionTooLarge", 400
    message = "Your request header section exceeds the maximum allowed size."


class RequestTimeout(S3Error):
    # S3's answer to a client that stops sending mid-request: the request
    # line and headers took too long, or the body stalled.
    code, status = "RequestTimeout", 400
    message = (
        "Your socket connection to the server was not read from or written to within "
        "the timeout period. Idle connections will be closed."
    )
