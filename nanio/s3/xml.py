"""
S3's XML documents: rendering responses and parsing request bodies.

Rendering builds the text with plain string joins (no DOM: a listing of a
thousand keys is on a hot path) and returns UTF-8 ``bytes`` that start with
the XML declaration.  Every text value goes through one escape function, so
no key, bucket name or error message can break the document.

Parsing uses ``defusedxml`` only, with DTDs refused outright, so entity
expansion ("billion laughs"), external entities and DTDs are answered
``MalformedXML`` like any other bad document.  The namespace is optional in
input: clients and hand-written ``curl`` bodies omit it.

Characters XML 1.0 cannot carry.  Keys that nanio accepts never hold them
(``keys.validate_key`` refuses C0 controls, U+FFFE and U+FFFF), but a file
dropped into a bucket by hand can be named anything.  XML 1.0 forbids these
characters even as character references (``&#1;`` is not well-formed), and
AWS's own answer is "use encoding-type=url".  So: with ``encoding-type=url``
every name is percent-encoded from its exact bytes (undecodable file-name
bytes, carried as lone surrogates, included) and arrives intact; without it,
each forbidden character is rendered as U+FFFD, which keeps the document
well-formed for every client at the cost of that one name being lossy.  A
carriage return is legal but XML parsers turn it into a line feed, so it is
written as ``&#13;`` (the reference S3's documentation shows for it).

No Twisted imports here, and no filesystem access.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree

from nanio.errors import InvalidArgument, MalformedXML
from nanio.s3.checksums import checksum_type_of
from nanio.s3.headers import format_iso8601
from nanio.s3.model import BucketInfo, ListPage
from nanio.s3.numbers import decimal, digits_for

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

#: The namespace of every S3 response document except errors.
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

#: DeleteObjects accepts at most this many keys per request.
DELETE_MAX_KEYS = 1000

#: CompleteMultipartUpload lists at most this many parts (S3's part limit).
MULTIPART_MAX_PARTS = 10_000
_PART_NUMBER_DIGITS = digits_for(MULTIPART_MAX_PARTS)

_XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: The declaration every document starts with, as it goes on the wire.
XML_DECLARATION = _DECLARATION.encode("ascii")
_XMLNS = f' xmlns="{S3_NAMESPACE}"'

# What needs more than a copy: markup characters, CR (see the module
# docstring), and every character XML 1.0 forbids (C0 controls other than
# tab and line feed, lone surrogates, U+FFFE, U+FFFF).
_NEEDS_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_REPLACEMENTS = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}

# What url_encode() leaves as it is: RFC 3986 unreserved characters and "/".
_URL_SAFE_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/"


def _replace(match: re.Match[str]) -> str:
    """Return the escape for one matched character."""
    return _REPLACEMENTS.get(match.group(), "\ufffd")


def escape(text: str) -> str:
    """Make ``text`` safe as XML element content."""
    # Most names need nothing, and C-level tests say so faster than a regex
    # search: str.isprintable() is false for every control character, lone
    # surrogate and noncharacter, so whatever passes holds nothing that
    # _NEEDS_ESCAPE would change.
    if "&" not in text and "<" not in text and ">" not in text and text.isprintable():
        return text
    return _NEEDS_ESCAPE.sub(_replace, text)


def url_encode(text: str) -> str:
    """Percent-encode a name for ``encoding-type=url`` listings."""
    # RFC 3986 unreserved characters and "/" stay as they are; everything
    # else, space and "+" included, becomes %XX of its UTF-8 bytes.  %20 for
    # a space decodes right with both unquote_plus (botocore, Go, Java) and
    # decodeURIComponent (JavaScript), where "+" would not.  The result is
    # ASCII without markup characters, so it needs no XML escaping.
    # boto3 and aws-cli ask for url encoding on every listing, so the common
    # name made only of safe characters is returned without calling quote().
    if text.isascii() and not text.encode("ascii").translate(None, _URL_SAFE_BYTES):
        return text
    return quote(text, safe="/", errors="surrogateescape")


def _text_encoder(encoding_type: str | None) -> Callable[[str], str]:
    """Choose how names are written: percent-encoded for ``url``, else XML-escaped."""
    return url_encode if encoding_type == "url" else escape


def validate_encoding_type(value: str | None) -> None:
    """Raise ``InvalidArgument`` unless ``value`` is an encoding-type S3 knows (only ``url``)."""
    if value is not None and value != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=value if value.isprintable() else "",
        )


def _document(parts: list[str]) -> bytes:
    """Join rendered parts into the UTF-8 bytes of one document."""
    # escape() and url_encode() removed every lone surrogate, so strict
    # encoding cannot fail.
    return "".join(parts).encode("utf-8")


def _principal(owner_id: str, owner_name: str) -> str:
    """Render the ID and DisplayName that name a principal (an owner, a grantee, an initiator)."""
    return f"<ID>{escape(owner_id)}</ID><DisplayName>{escape(owner_name)}</DisplayName>"


def _owner(owner_id: str, owner_name: str) -> str:
    """Render an Owner element."""
    return f"<Owner>{_principal(owner_id, owner_name)}</Owner>"


def _bool(value: bool) -> str:
    """Render a boolean as S3 does."""
    return "true" if value else "false"


# --------------------------------------------------------------------------
# Errors

# Names of extra error fields come from nanio's own code, but the error path
# must never produce broken XML, so a bad name is dropped rather than written.
_ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def error_body(
    code: str,
    message: str,
    resource: str | None,
    request_id: str,
    fields: Mapping[str, str],
) -> bytes:
    """Render an S3 error document (``<Error>``, no namespace, as S3 sends it)."""
    parts = [
        _DECLARATION,
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>",
    ]
    if resource is not None:
        parts.append(f"<Resource>{escape(resource)}</Resource>")
    parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
    for name, value in fields.items():
        if _ELEMENT_NAME.fullmatch(name) is not None:
            parts.append(f"<{name}>{escape(value)}</{name}>")
    parts.append("</Error>")
    return _document(parts)


# --------------------------------------------------------------------------
# Service and bucket documents


def list_buckets(
    buckets: Sequence[BucketInfo],
    owner_id: str,
    owner_name: str,
    *,
    prefix: str | None,
    continuation_token: str | None,
) -> bytes:
    """Render ListAllMyBucketsResult; ``continuation_token`` is where the next page starts."""
    parts = [
        _DECLARATION,
        f"<ListAllMyBucketsResult{_XMLNS}>",
        _owner(owner_id, owner_name),
        "<Buckets>",
    ]
    for bucket in buckets:
        parts.append(
            f"<Bucket><Name>{escape(bucket.name)}</Name>"
            f"<CreationDate>{format_iso8601(bucket.created)}</CreationDate></Bucket>"
        )
    parts.append("</Buckets>")
    if continuation_token is not None:
        parts.append(f"<ContinuationToken>{escape(continuation_token)}</ContinuationToken>")
    if prefix is not None:
        parts.append(f"<Prefix>{escape(prefix)}</Prefix>")
    parts.append("</ListAllMyBucketsResult>")
    return _document(parts)


def location(region: str) -> bytes:
    """Render GetBucketLocation's LocationConstraint for ``region``."""
    # S3 answers an empty element for us-east-1 (the "classic" region), and
    # clients map that empty answer back to us-east-1.
    if region == "us-east-1":
        return f"{_DECLARATION}<LocationConstraint{_XMLNS}/>".encode()
    return (
        f"{_DECLARATION}<LocationConstraint{_XMLNS}>{escape(region)}</LocationConstraint>".encode()
    )


_VERSIONING = f"{_DECLARATION}<VersioningConfiguration{_XMLNS}/>".encode()


def versioning() -> bytes:
    """Render GetBucketVersioning for a bucket whose versioning was never enabled."""
    # S3 leaves out Status until versioning is first enabled; nanio never
    # enables it.
    return _VERSIONING


def acl(owner_id: str, owner_name: str) -> bytes:
    """Render an AccessControlPolicy granting the owner FULL_CONTROL, and nothing else."""
    # The grantee carries xsi:type with its namespace declared on the
    # element itself, as S3 writes it: botocore maps the attribute to
    # Grantee.Type, and s3cmd reads it by its namespaced name and fails
    # without it (it reads every ACL before a copy).
    principal = _principal(owner_id, owner_name)
    return _document(
        [
            _DECLARATION,
            f"<AccessControlPolicy{_XMLNS}>",
            f"<Owner>{principal}</Owner>",
            "<AccessControlList><Grant>",
            f'<Grantee xmlns:xsi="{_XSI_NAMESPACE}" xsi:type="CanonicalUser">',
            f"{principal}</Grantee>",
            "<Permission>FULL_CONTROL</Permission>",
            "</Grant></AccessControlList></AccessControlPolicy>",
        ]
    )


_EMPTY_TAGGING = f"{_DECLARATION}<Tagging{_XMLNS}><TagSet></TagSet></Tagging>".encode()


def empty_tagging() -> bytes:
    """Render GetObjectTagging for an object without tags (nanio stores none)."""
    return _EMPTY_TAGGING


#: Stored checksum algorithms -> their element in S3 documents.
_CHECKSUM_ELEMENTS = {
    "crc32": "ChecksumCRC32",
    "crc32c": "ChecksumCRC32C",
    "crc64nvme": "ChecksumCRC64NVME",
    "sha1": "ChecksumSHA1",
    "sha256": "ChecksumSHA256",
    "sha512": "ChecksumSHA512",
    "md5": "ChecksumMD5",
    "xxhash64": "ChecksumXXHASH64",
    "xxhash3": "ChecksumXXHASH3",
    "xxhash128": "ChecksumXXHASH128",
}


def _checksum_elements(checksums: Mapping[str, str]) -> list[str]:
    """A stored checksum as S3 writes it in documents: its value, then its type."""
    rendered = []
    for algorithm, value in checksums.items():
        element = _CHECKSUM_ELEMENTS.get(algorithm)
        if element is not None:
            rendered.append(f"<{element}>{escape(value)}</{element}>")
            rendered.append(f"<ChecksumType>{checksum_type_of(value)}</ChecksumType>")
    return rendered


def object_attributes(
    *,
    wanted: Collection[str],
    etag: str,
    size: int,
    checksums: Mapping[str, str],
    part_sizes: Sequence[int],
    part_number_marker: int,
    max_parts: int,
) -> bytes:
    """Render GetObjectAttributes: the ``wanted`` attributes of an object.

    ``part_sizes`` is empty for an object not made by a multipart upload
    (it then has no ObjectParts); its parts are listed from after
    ``part_number_marker``, ``max_parts`` at most.
    """
    rendered = [_DECLARATION, f"<GetObjectAttributesResponse{_XMLNS}>"]
    if "ETag" in wanted:
        rendered.append(f"<ETag>{escape(etag)}</ETag>")  # bare, unlike everywhere else
    if "Checksum" in wanted and checksums:
        rendered.extend(("<Checksum>", *_checksum_elements(checksums), "</Checksum>"))
    if "ObjectParts" in wanted and part_sizes:
        page = list(enumerate(part_sizes, start=1))[
            part_number_marker : part_number_marker + max_parts
        ]
        truncated = part_number_marker + max_parts < len(part_sizes)
        rendered.append(
            f"<ObjectParts><PartsCount>{len(part_sizes)}</PartsCount>"
            f"<PartNumberMarker>{part_number_marker}</PartNumberMarker>"
        )
        if truncated and page:
            rendered.append(f"<NextPartNumberMarker>{page[-1][0]}</NextPartNumberMarker>")
        rendered.append(
            f"<MaxParts>{max_parts}</MaxParts><IsTruncated>{_bool(truncated)}</IsTruncated>"
        )
        rendered.extend(
            f"<Part><PartNumber>{number}</PartNumber><Size>{part_size}</Size></Part>"
            for number, part_size in page
        )
        rendered.append("</ObjectParts>")
    if "StorageClass" in wanted:
        rendered.append(f"<StorageClass>{_STANDARD}</StorageClass>")
    if "ObjectSize" in wanted:
        rendered.append(f"<ObjectSize>{size}</ObjectSize>")
    rendered.append("</GetObjectAttributesResponse>")
    return _document(rendered)


def parse_tagging(body: bytes) -> list[tuple[str, str]]:
    """Return the (key, value) pairs of a PutObjectTagging or PutBucketTagging body."""
    root = _expect_root(body, "Tagging")
    tag_set = _child(root, "TagSet")
    if tag_set is None:
        raise MalformedXML()
    tags = []
    for tag in _children(tag_set, "Tag"):
        key, value = _child(tag, "Key"), _child(tag, "Value")
        if key is None or value is None:
            raise MalformedXML()
        tags.append((key.text or "", value.text or ""))
    return tags


# --------------------------------------------------------------------------
# Listings


def _contents(
    page: ListPage,
    element: str,
    encode: Callable[[str], str],
    owner: str,
    extra: str = "",
) -> Iterator[str]:
    """Render one element per listed object (``Contents`` or ``Version``)."""
    for obj in page.contents:
        yield (
            f"<{element}><Key>{encode(obj.key)}</Key>{extra}"
            f"<LastModified>{format_iso8601(obj.last_modified)}</LastModified>"
            f"<ETag>&quot;{escape(obj.etag)}&quot;</ETag><Size>{obj.size}</Size>"
            f"{owner}<StorageClass>STANDARD</StorageClass></{element}>"
        )


def _common_prefixes(prefixes: Sequence[str], encode: Callable[[str], str]) -> Iterator[str]:
    """Render one CommonPrefixes element per rolled-up prefix."""
    for common in prefixes:
        yield f"<CommonPrefixes><Prefix>{encode(common)}</Prefix></CommonPrefixes>"


def _start_listing(
    root: str, bucket: str, prefix: str | None, encode: Callable[[str], str]
) -> list[str]:
    """Render what every object listing starts with: the ``root`` element, Name and Prefix."""
    return [
        _DECLARATION,
        f"<{root}{_XMLNS}><Name>{escape(bucket)}</Name><Prefix>{encode(prefix or '')}</Prefix>",
    ]


def _finish_listing(
    parts: list[str],
    page: ListPage,
    root: str,
    element: str,
    owner: str,
    delimiter: str | None,
    encoding_type: str | None,
    encode: Callable[[str], str],
    extra: str = "",
) -> bytes:
    """Render what every listing ends with (after MaxKeys) and close the ``root`` element."""
    if delimiter is not None:
        parts.append(f"<Delimiter>{encode(delimiter)}</Delimiter>")
    if encoding_type is not None:
        parts.append(f"<EncodingType>{escape(encoding_type)}</EncodingType>")
    parts.append(f"<IsTruncated>{_bool(page.is_truncated)}</IsTruncated>")
    parts.extend(_contents(page, element, encode, owner, extra))
    parts.extend(_common_prefixes(page.common_prefixes, encode))
    parts.append(f"</{root}>")
    return _document(parts)


def list_objects_v2(
    page: ListPage,
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    max_keys: int,
    encoding_type: str | None,
    continuation_token: str | None,
    next_continuation_token: str | None,
    start_after: str | None,
    fetch_owner: bool,
    owner_id: str,
    owner_name: str,
) -> bytes:
    """Render ListObjectsV2's ListBucketResult for one page."""
    # With encoding-type=url S3 encodes Key, Prefix, Delimiter, StartAfter
    # and CommonPrefixes (botocore's decode_list_object_v2 decodes exactly
    # those); continuation tokens are opaque and left alone.
    encode = _text_encoder(encoding_type)
    parts = _start_listing("ListBucketResult", bucket, prefix, encode)
    if start_after is not None:
        parts.append(f"<StartAfter>{encode(start_after)}</StartAfter>")
    if continuation_token is not None:
        parts.append(f"<ContinuationToken>{escape(continuation_token)}</ContinuationToken>")
    if next_continuation_token is not None:
        parts.append(
            f"<NextContinuationToken>{escape(next_continuation_token)}</NextContinuationToken>"
        )
    key_count = len(page.contents) + len(page.common_prefixes)
    parts.append(f"<KeyCount>{key_count}</KeyCount><MaxKeys>{max_keys}</MaxKeys>")
    # V2 shows owners only when asked (fetch-owner=true).
    owner = _owner(owner_id, owner_name) if fetch_owner else ""
    return _finish_listing(
        parts, page, "ListBucketResult", "Contents", owner, delimiter, encoding_type, encode
    )


def list_objects_v1(
    page: ListPage,
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    marker: str | None,
    max_keys: int,
    encoding_type: str | None,
    owner_id: str,
    owner_name: str,
) -> bytes:
    """Render ListObjects (V1)'s ListBucketResult for one page."""
    # With encoding-type=url S3 encodes Key, Prefix, Marker, NextMarker,
    # Delimiter and CommonPrefixes (botocore decodes all but the top-level
    # Prefix, which the client sent itself).
    encode = _text_encoder(encoding_type)
    parts = _start_listing("ListBucketResult", bucket, prefix, encode)
    parts.append(f"<Marker>{encode(marker or '')}</Marker>")
    # S3 sends NextMarker only with a delimiter; without one, clients take
    # the last Key as the next marker (botocore's paginator does).
    if delimiter is not None and page.is_truncated and page.next_marker is not None:
        parts.append(f"<NextMarker>{encode(page.next_marker)}</NextMarker>")
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
    # V1 always shows the owner of each object.
    owner = _owner(owner_id, owner_name)
    return _finish_listing(
        parts, page, "ListBucketResult", "Contents", owner, delimiter, encoding_type, encode
    )


def list_object_versions(
    page: ListPage,
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    key_marker: str | None,
    max_keys: int,
    encoding_type: str | None,
    owner_id: str,
    owner_name: str,
    version_id_marker: str | None = None,
) -> bytes:
    """Render ListVersionsResult: every object once, as its only ("null") version."""
    # nanio buckets are never versioned.  S3 lists the objects of such a
    # bucket with VersionId "null", each the latest; clean-up tools and test
    # suites empty buckets this way.  With encoding-type=url S3 encodes Key,
    # Prefix, Delimiter, KeyMarker, NextKeyMarker and CommonPrefixes.
    encode = _text_encoder(encoding_type)
    parts = _start_listing("ListVersionsResult", bucket, prefix, encode)
    parts.append(
        f"<KeyMarker>{encode(key_marker or '')}</KeyMarker>"
        f"<VersionIdMarker>{escape(version_id_marker or '')}</VersionIdMarker>"
    )
    if page.is_truncated and page.next_marker is not None:
        parts.append(
            f"<NextKeyMarker>{encode(page.next_marker)}</NextKeyMarker>"
            "<NextVersionIdMarker>null</NextVersionIdMarker>"
        )
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
    return _finish_listing(
        parts,
        page,
        "ListVersionsResult",
        "Version",
        _owner(owner_id, owner_name),
        delimiter,
        encoding_type,
        encode,
        extra="<VersionId>null</VersionId><IsLatest>true</IsLatest>",
    )


# --------------------------------------------------------------------------
# Write results


def _copy_result(element: str, etag: str, last_modified: float) -> bytes:
    """Render the result of a copy, ``element`` holding LastModified and the quoted ETag."""
    return _document(
        [
            _DECLARATION,
            f"<{element}{_XMLNS}>",
            f"<LastModified>{format_iso8601(last_modified)}</LastModified>",
            f"<ETag>&quot;{escape(etag)}&quot;</ETag>",
            f"</{element}>",
        ]
    )


def copy_object_result(etag: str, last_modified: float) -> bytes:
    """Render CopyObjectResult (ETag with quotes, LastModified)."""
    return _copy_result("CopyObjectResult", etag, last_modified)


def delete_result(deleted: Sequence[str], failed: Sequence[tuple[str, str, str]]) -> bytes:
    """Render DeleteResult: a Deleted entry per key, an Error per (key, code, message)."""
    parts = [_DECLARATION, f"<DeleteResult{_XMLNS}>"]
    parts.extend(f"<Deleted><Key>{escape(key)}</Key></Deleted>" for key in deleted)
    parts.extend(
        f"<Error><Key>{escape(key)}</Key><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        for key, code, message in failed
    )
    parts.append("</DeleteResult>")
    return _document(parts)


# --------------------------------------------------------------------------
# Parsing request bodies


def _local_name(element: Element) -> str:
    """Return an element's tag without its namespace."""
    return element.tag.rpartition("}")[2]


def _parse(body: bytes) -> Element:
    """Parse a request body safely, or raise ``MalformedXML``."""
    try:
        root: Element = SafeElementTree.fromstring(body, forbid_dtd=True)
    except (SafeElementTree.ParseError, DefusedXmlException, ValueError, LookupError):
        # Bad syntax, a DTD, entity declarations or external references
        # (DefusedXmlException), and an XML declaration naming an unknown
        # or unusable encoding, which expat reports as LookupError or
        # ValueError: all one answer, and the client never sees parser details.
        raise MalformedXML() from None
    return root


def _expect_root(body: bytes, name: str) -> Element:
    """Parse ``body`` and check that its root element is ``name``."""
    root = _parse(body)
    if _local_name(root) != name:
        raise MalformedXML()
    return root


def _child(parent: Element, name: str) -> Element | None:
    """Return the first child named ``name`` (any namespace), or None."""
    for child in parent:
        if _local_name(child) == name:
            return child
    return None


def _children(parent: Element, name: str) -> Iterator[Element]:
    """Yield the children named ``name`` (any namespace)."""
    for child in parent:
        if _local_name(child) == name:
            yield child


def parse_create_bucket(body: bytes) -> str | None:
    """Return the LocationConstraint of a CreateBucket body, or None when there is none."""
    if not body.strip():
        # Most clients send no body for us-east-1.
        return None
    root = _expect_root(body, "CreateBucketConfiguration")
    constraint = _child(root, "LocationConstraint")
    if constraint is None or constraint.text is None:
        return None
    return constraint.text.strip() or None


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """Return (keys, quiet) from a DeleteObjects body."""
    root = _expect_root(body, "Delete")
    keys: list[str] = []
    for obj in _children(root, "Object"):
        key = _child(obj, "Key")
        if key is None:
            raise MalformedXML()
        # Keys are taken exactly as sent: whitespace is part of a key.
        keys.append(key.text or "")
        if len(keys) > DELETE_MAX_KEYS:
            raise MalformedXML()
    if not keys:
        raise MalformedXML()
    quiet_element = _child(root, "Quiet")
    quiet = quiet_element is not None and (quiet_element.text or "").strip().lower() == "true"
    return keys, quiet


def parse_complete_multipart(body: bytes) -> list[tuple[int, str]]:
    """Return the (part number, bare ETag) pairs of a CompleteMultipartUpload body, in order."""
    # Order and existence of parts are the caller's to check (InvalidPartOrder,
    # InvalidPart); this only reads what the client listed.
    root = _expect_root(body, "CompleteMultipartUpload")
    parts: list[tuple[int, str]] = []
    for part in _children(root, "Part"):
        number_element = _child(part, "PartNumber")
        etag_element = _child(part, "ETag")
        if number_element is None or etag_element is None:
            raise MalformedXML()
        number_text = (number_element.text or "").strip()
        if not number_text.isascii() or not number_text.isdigit():
            raise MalformedXML()
        number = decimal(number_text, _PART_NUMBER_DIGITS)
        if number is None or not 1 <= number <= MULTIPART_MAX_PARTS:
            raise InvalidArgument(
                f"Part number must be an integer between 1 and {MULTIPART_MAX_PARTS}, inclusive",
                ArgumentName="partNumber",
                ArgumentValue=number_text.lstrip("0") or "0",
            )
        # Clients send the ETag quoted (as UploadPart returned it); some
        # hand-written bodies do not.  Compare bare values.
        parts.append((number, (etag_element.text or "").strip().strip('"')))
        if len(parts) > MULTIPART_MAX_PARTS:
            raise MalformedXML()
    if not parts:
        raise MalformedXML()
    return parts


# --------------------------------------------------------------------------
# Multipart upload documents

# nanio stores every object in one class; S3 names it in each listed upload
# and part listing, and some clients (s3cmd's multipart listing) show it.
_STANDARD = "STANDARD"


def _initiator_and_owner(owner_id: str, owner_name: str) -> str:
    """Render the Initiator and Owner elements of an upload (the same principal for nanio)."""
    # nanio has no IAM users under an account: whoever initiated the upload
    # is the owner, and S3 then writes the same ID in both.
    principal = _principal(owner_id, owner_name)
    return f"<Initiator>{principal}</Initiator><Owner>{principal}</Owner>"


def initiate_multipart_upload(bucket: str, key: str, upload_id: str) -> bytes:
    """Render CreateMultipartUpload's InitiateMultipartUploadResult."""
    return _document(
        [
            _DECLARATION,
            f"<InitiateMultipartUploadResult{_XMLNS}>",
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>",
            f"<UploadId>{escape(upload_id)}</UploadId>",
            "</InitiateMultipartUploadResult>",
        ]
    )


def complete_multipart_upload(
    location: str, bucket: str, key: str, etag: str, checksums: Mapping[str, str] | None = None
) -> bytes:
    """Render CompleteMultipartUploadResult (ETag with quotes; the object's checksum, if any)."""
    return _document(
        [
            _DECLARATION,
            f"<CompleteMultipartUploadResult{_XMLNS}>",
            f"<Location>{escape(location)}</Location>",
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>",
            f"<ETag>&quot;{escape(etag)}&quot;</ETag>",
            *_checksum_elements(checksums or {}),
            "</CompleteMultipartUploadResult>",
        ]
    )


def list_parts(
    *,
    bucket: str,
    key: str,
    upload_id: str,
    part_number_marker: int,
    next_part_number_marker: int | None,
    max_parts: int,
    is_truncated: bool,
    parts: Sequence[tuple[int, float, str, int]],
    owner_id: str,
    owner_name: str,
    storage_class: str = _STANDARD,
) -> bytes:
    """Render ListPartsResult; ``parts`` holds (number, last modified, bare ETag, size)."""
    # ListParts has no encoding-type parameter, so the key is only escaped.
    # PartNumberMarker is written even when 0 (no marker given), as S3 does.
    rendered = [
        _DECLARATION,
        f"<ListPartsResult{_XMLNS}>",
        f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>",
        f"<UploadId>{escape(upload_id)}</UploadId>",
        f"<PartNumberMarker>{part_number_marker}</PartNumberMarker>",
    ]
    if next_part_number_marker is not None:
        rendered.append(f"<NextPartNumberMarker>{next_part_number_marker}</NextPartNumberMarker>")
    rendered.append(
        f"<MaxParts>{max_parts}</MaxParts><IsTruncated>{_bool(is_truncated)}</IsTruncated>"
    )
    rendered.extend(
        f"<Part><PartNumber>{number}</PartNumber>"
        f"<LastModified>{format_iso8601(last_modified)}</LastModified>"
        f"<ETag>&quot;{escape(etag)}&quot;</ETag><Size>{size}</Size></Part>"
        for number, last_modified, etag, size in parts
    )
    rendered.append(_initiator_and_owner(owner_id, owner_name))
    rendered.append(f"<StorageClass>{escape(storage_class)}</StorageClass></ListPartsResult>")
    return _document(rendered)


def list_multipart_uploads(
    *,
    bucket: str,
    prefix: str | None,
    delimiter: str | None,
    key_marker: str | None,
    upload_id_marker: str | None,
    next_key_marker: str | None,
    next_upload_id_marker: str | None,
    max_uploads: int,
    is_truncated: bool,
    uploads: Sequence[tuple[str, str, float]],
    common_prefixes: Sequence[str],
    encoding_type: str | None,
    owner_id: str,
    owner_name: str,
) -> bytes:
    """Render ListMultipartUploadsResult; ``uploads`` holds (key, upload id, initiated)."""
    # With encoding-type=url S3 encodes Key, Prefix, Delimiter, KeyMarker,
    # NextKeyMarker and CommonPrefixes; upload ids are opaque and only
    # escaped.  botocore registers no decoder for this operation (and never
    # asks for url encoding on it by itself), so a client that asks gets the
    # encoded names back, as it would from S3.
    encode = _text_encoder(encoding_type)
    rendered = [
        _DECLARATION,
        f"<ListMultipartUploadsResult{_XMLNS}><Bucket>{escape(bucket)}</Bucket>",
        f"<KeyMarker>{encode(key_marker or '')}</KeyMarker>",
        f"<UploadIdMarker>{escape(upload_id_marker or '')}</UploadIdMarker>",
    ]
    if next_key_marker is not None:
        rendered.append(f"<NextKeyMarker>{encode(next_key_marker)}</NextKeyMarker>")
    if next_upload_id_marker is not None:
        rendered.append(f"<NextUploadIdMarker>{escape(next_upload_id_marker)}</NextUploadIdMarker>")
    if prefix is not None:
        rendered.append(f"<Prefix>{encode(prefix)}</Prefix>")
    if delimiter is not None:
        rendered.append(f"<Delimiter>{encode(delimiter)}</Delimiter>")
    if encoding_type is not None:
        rendered.append(f"<EncodingType>{escape(encoding_type)}</EncodingType>")
    rendered.append(
        f"<MaxUploads>{max_uploads}</MaxUploads><IsTruncated>{_bool(is_truncated)}</IsTruncated>"
    )
    # Every upload has the same initiator and owner: render them once.
    principals = _initiator_and_owner(owner_id, owner_name)
    rendered.extend(
        f"<Upload><Key>{encode(key)}</Key><UploadId>{escape(upload_id)}</UploadId>"
        f"{principals}<StorageClass>{_STANDARD}</StorageClass>"
        f"<Initiated>{format_iso8601(initiated)}</Initiated></Upload>"
        for key, upload_id, initiated in uploads
    )
    rendered.extend(_common_prefixes(common_prefixes, encode))
    rendered.append("</ListMultipartUploadsResult>")
    return _document(rendered)


def copy_part_result(etag: str, last_modified: float) -> bytes:
    """Render UploadPartCopy's CopyPartResult (LastModified, ETag with quotes)."""
    return _copy_result("CopyPartResult", etag, last_modified)
