"""S3's multipart upload documents, checked against what botocore parses out of them."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from nanio.s3 import xml
from tests.support.botocore_xml import AWKWARD_KEYS, EPOCH, ETAG, OWNER_ID, OWNER_NAME, WHEN, parse

UPLOAD_ID = "VXBsb2FkSWQtMQ"


def parts_listing(**overrides: Any) -> dict[str, Any]:
    """Render ListParts with defaults for what a test does not care about, and parse it."""
    args: dict[str, Any] = {
        "bucket": "bkt",
        "key": "big.bin",
        "upload_id": UPLOAD_ID,
        "part_number_marker": 0,
        "next_part_number_marker": None,
        "max_parts": 1000,
        "is_truncated": False,
        "parts": [],
        "owner_id": OWNER_ID,
        "owner_name": OWNER_NAME,
    }
    args.update(overrides)
    return parse("ListParts", xml.list_parts(**args))


def uploads_body(**overrides: Any) -> bytes:
    """Render ListMultipartUploads with defaults for what a test does not care about."""
    args: dict[str, Any] = {
        "bucket": "bkt",
        "prefix": None,
        "delimiter": None,
        "key_marker": None,
        "upload_id_marker": None,
        "next_key_marker": None,
        "next_upload_id_marker": None,
        "max_uploads": 1000,
        "is_truncated": False,
        "uploads": [],
        "common_prefixes": [],
        "encoding_type": None,
        "owner_id": OWNER_ID,
        "owner_name": OWNER_NAME,
    }
    args.update(overrides)
    return xml.list_multipart_uploads(**args)


def uploads_listing(**overrides: Any) -> dict[str, Any]:
    """Render ListMultipartUploads as ``uploads_body`` does, and parse it."""
    return parse("ListMultipartUploads", uploads_body(**overrides))


# --------------------------------------------------------------------------
# InitiateMultipartUploadResult


def test_initiate_parses_bucket_key_and_upload_id() -> None:
    """botocore reads Bucket, Key and UploadId from InitiateMultipartUploadResult."""
    parsed = parse("CreateMultipartUpload", xml.initiate_multipart_upload("bkt", "k", UPLOAD_ID))
    assert (parsed["Bucket"], parsed["Key"], parsed["UploadId"]) == ("bkt", "k", UPLOAD_ID)


def test_initiate_round_trips_awkward_keys() -> None:
    """Keys with markup, spaces and line breaks come back from the document exactly."""
    keys = [
        parse("CreateMultipartUpload", xml.initiate_multipart_upload("bkt", key, UPLOAD_ID))["Key"]
        for key in AWKWARD_KEYS
    ]
    assert keys == AWKWARD_KEYS


def test_initiate_starts_with_declaration_and_namespace() -> None:
    """The document starts with the XML declaration and its root carries S3's namespace."""
    body = xml.initiate_multipart_upload("bkt", "k", UPLOAD_ID)
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    )


# --------------------------------------------------------------------------
# CompleteMultipartUploadResult


def test_complete_parses_location_bucket_key_and_quoted_etag() -> None:
    """botocore reads Location, Bucket, Key and the ETag with its quotes."""
    body = xml.complete_multipart_upload("http://host/bkt/k", "bkt", "k", f"{ETAG}-3")
    parsed = parse("CompleteMultipartUpload", body)
    assert (parsed["Location"], parsed["Bucket"], parsed["Key"], parsed["ETag"]) == (
        "http://host/bkt/k",
        "bkt",
        "k",
        f'"{ETAG}-3"',
    )


@pytest.mark.parametrize(
    ("checksums", "expected"),
    [
        ({"crc32": "AAAAAA==-3"}, {"ChecksumCRC32": "AAAAAA==-3", "ChecksumType": "COMPOSITE"}),
        (
            {"crc64nvme": "AAAAAAAAAAA="},
            {"ChecksumCRC64NVME": "AAAAAAAAAAA=", "ChecksumType": "FULL_OBJECT"},
        ),
        ({}, {}),
    ],
)
def test_complete_carries_the_objects_checksum_and_its_type(
    checksums: dict[str, str], expected: dict[str, str]
) -> None:
    """botocore reads the object's checksum and its type from the Complete result's body."""
    body = xml.complete_multipart_upload("/bkt/k", "bkt", "k", f"{ETAG}-3", checksums)
    parsed = parse("CompleteMultipartUpload", body)
    assert {k: v for k, v in parsed.items() if k.startswith("Checksum")} == expected


def test_complete_escapes_location_and_key() -> None:
    """A Location with a query-like ampersand and an awkward key survive escaping."""
    body = xml.complete_multipart_upload("http://host/bkt/a&b<c>d", "bkt", "a&b<c>d", ETAG)
    parsed = parse("CompleteMultipartUpload", body)
    assert (parsed["Location"], parsed["Key"]) == ("http://host/bkt/a&b<c>d", "a&b<c>d")


# --------------------------------------------------------------------------
# ListPartsResult


def test_list_parts_parses_each_part() -> None:
    """botocore reads PartNumber, LastModified, the quoted ETag and Size of every part."""
    parsed = parts_listing(parts=[(1, EPOCH + 0.5, ETAG, 5_242_880), (2, EPOCH, "ab12", 7)])
    assert parsed["Parts"] == [
        {"PartNumber": 1, "LastModified": WHEN, "ETag": f'"{ETAG}"', "Size": 5_242_880},
        {"PartNumber": 2, "LastModified": WHEN, "ETag": '"ab12"', "Size": 7},
    ]


def test_list_parts_parses_upload_identity() -> None:
    """botocore reads Bucket, Key and UploadId of the listed upload."""
    parsed = parts_listing(key="a&b<c>d")
    assert (parsed["Bucket"], parsed["Key"], parsed["UploadId"]) == ("bkt", "a&b<c>d", UPLOAD_ID)


def test_list_parts_round_trips_awkward_keys() -> None:
    """Keys with markup, spaces and line breaks come back from ListParts exactly."""
    assert [parts_listing(key=key)["Key"] for key in AWKWARD_KEYS] == AWKWARD_KEYS


def test_list_parts_empty_has_no_parts() -> None:
    """An upload with no parts yet lists none, untruncated, with marker 0."""
    parsed = parts_listing()
    assert (
        "Parts" not in parsed,
        parsed["IsTruncated"],
        parsed["PartNumberMarker"],
        parsed["MaxParts"],
    ) == (True, False, 0, 1000)


def test_list_parts_truncated_carries_markers() -> None:
    """A truncated page carries IsTruncated, the marker it started after and the next marker."""
    parsed = parts_listing(
        part_number_marker=3,
        next_part_number_marker=5,
        max_parts=2,
        is_truncated=True,
        parts=[(4, EPOCH, ETAG, 1), (5, EPOCH, ETAG, 1)],
    )
    assert (
        parsed["IsTruncated"],
        parsed["PartNumberMarker"],
        parsed["NextPartNumberMarker"],
        parsed["MaxParts"],
    ) == (True, 3, 5, 2)


def test_list_parts_omits_next_marker_when_none() -> None:
    """No NextPartNumberMarker element is written when none is given."""
    assert "NextPartNumberMarker" not in parts_listing(parts=[(1, EPOCH, ETAG, 1)])


def test_list_parts_carries_initiator_and_owner() -> None:
    """Initiator and Owner both name the owner, with ID and DisplayName."""
    parsed = parts_listing(owner_name="a&b")
    principal = {"ID": OWNER_ID, "DisplayName": "a&b"}
    assert (parsed["Initiator"], parsed["Owner"]) == (principal, principal)


def test_list_parts_storage_class_defaults_to_standard() -> None:
    """StorageClass is STANDARD unless another is given."""
    assert (
        parts_listing()["StorageClass"],
        parts_listing(storage_class="REDUCED_REDUNDANCY")["StorageClass"],
    ) == ("STANDARD", "REDUCED_REDUNDANCY")


# --------------------------------------------------------------------------
# ListMultipartUploadsResult


def test_list_uploads_parses_each_upload() -> None:
    """botocore reads Key, UploadId, Initiated, StorageClass, Initiator and Owner of each upload."""
    parsed = uploads_listing(uploads=[("a", "U1", EPOCH + 0.5), ("b", "U2", EPOCH)])
    principal = {"ID": OWNER_ID, "DisplayName": OWNER_NAME}
    expected = [
        {
            "Key": key,
            "UploadId": upload_id,
            "Initiated": WHEN,
            "StorageClass": "STANDARD",
            "Initiator": principal,
            "Owner": principal,
        }
        for key, upload_id in [("a", "U1"), ("b", "U2")]
    ]
    assert parsed["Uploads"] == expected


def test_list_uploads_empty_listing() -> None:
    """A bucket without uploads lists none, untruncated, with empty markers."""
    parsed = uploads_listing()
    assert (
        "Uploads" not in parsed,
        "CommonPrefixes" not in parsed,
        parsed["Bucket"],
        parsed["KeyMarker"],
        parsed["UploadIdMarker"],
        parsed["MaxUploads"],
        parsed["IsTruncated"],
    ) == (True, True, "bkt", "", "", 1000, False)


def test_list_uploads_round_trips_awkward_keys() -> None:
    """Without encoding-type, keys with markup, spaces and line breaks come back exactly."""
    uploads = [(key, f"U{i}", EPOCH) for i, key in enumerate(AWKWARD_KEYS)]
    parsed = uploads_listing(uploads=uploads)
    assert [upload["Key"] for upload in parsed["Uploads"]] == AWKWARD_KEYS


def test_list_uploads_truncated_carries_next_markers() -> None:
    """A truncated page carries IsTruncated, NextKeyMarker and NextUploadIdMarker."""
    parsed = uploads_listing(
        key_marker="a",
        upload_id_marker="U0",
        next_key_marker="b&c",
        next_upload_id_marker="U2",
        max_uploads=2,
        is_truncated=True,
        uploads=[("a", "U1", EPOCH), ("b&c", "U2", EPOCH)],
    )
    assert (
        parsed["IsTruncated"],
        parsed["KeyMarker"],
        parsed["UploadIdMarker"],
        parsed["NextKeyMarker"],
        parsed["NextUploadIdMarker"],
        parsed["MaxUploads"],
    ) == (True, "a", "U0", "b&c", "U2", 2)


def test_list_uploads_omits_next_markers_when_none() -> None:
    """No NextKeyMarker or NextUploadIdMarker element is written when none is given."""
    parsed = uploads_listing(uploads=[("a", "U1", EPOCH)])
    assert ("NextKeyMarker" in parsed, "NextUploadIdMarker" in parsed) == (False, False)


def test_list_uploads_prefix_delimiter_and_common_prefixes() -> None:
    """Prefix, Delimiter and each rolled-up CommonPrefixes entry are parsed back."""
    parsed = uploads_listing(
        prefix="photos/",
        delimiter="/",
        common_prefixes=["photos/2025/", "photos/2026/"],
    )
    assert (parsed["Prefix"], parsed["Delimiter"], parsed["CommonPrefixes"]) == (
        "photos/",
        "/",
        [{"Prefix": "photos/2025/"}, {"Prefix": "photos/2026/"}],
    )


def test_list_uploads_omits_prefix_and_delimiter_when_none() -> None:
    """No Prefix, Delimiter or EncodingType element is written when none is given."""
    parsed = uploads_listing()
    assert [name for name in ("Prefix", "Delimiter", "EncodingType") if name in parsed] == []


def test_list_uploads_url_encoding_names_the_encoding() -> None:
    """With encoding-type=url the document says EncodingType url."""
    assert uploads_listing(encoding_type="url")["EncodingType"] == "url"


def test_list_uploads_url_encodes_keys() -> None:
    """With encoding-type=url every upload's Key is percent-encoded and decodes to the key."""
    uploads = [(key, f"U{i}", EPOCH) for i, key in enumerate(AWKWARD_KEYS)]
    parsed = uploads_listing(uploads=uploads, encoding_type="url")
    written = [upload["Key"] for upload in parsed["Uploads"]]
    assert (written, [unquote(key) for key in written]) == (
        [xml.url_encode(key) for key in AWKWARD_KEYS],
        AWKWARD_KEYS,
    )


def test_list_uploads_url_encodes_markers_prefix_delimiter_and_common_prefixes() -> None:
    """With encoding-type=url the markers, Prefix, Delimiter and CommonPrefixes are encoded."""
    parsed = uploads_listing(
        encoding_type="url",
        prefix="sp ace/",
        delimiter="&",
        key_marker="sp ace/a+b",
        next_key_marker="sp ace/ü",
        next_upload_id_marker="U2",
        is_truncated=True,
        common_prefixes=["sp ace/x&"],
    )
    assert (
        parsed["Prefix"],
        parsed["Delimiter"],
        parsed["KeyMarker"],
        parsed["NextKeyMarker"],
        parsed["CommonPrefixes"],
    ) == ("sp%20ace/", "%26", "sp%20ace/a%2Bb", "sp%20ace/%C3%BC", [{"Prefix": "sp%20ace/x%26"}])


def test_list_uploads_url_encoding_leaves_upload_ids_alone() -> None:
    """Upload ids are opaque: encoding-type=url escapes them but does not percent-encode them."""
    parsed = uploads_listing(
        encoding_type="url",
        upload_id_marker="U+0",
        next_upload_id_marker="U+2",
        uploads=[("k", "U+1", EPOCH)],
    )
    assert (
        parsed["UploadIdMarker"],
        parsed["NextUploadIdMarker"],
        parsed["Uploads"][0]["UploadId"],
    ) == ("U+0", "U+2", "U+1")


def test_list_uploads_url_encoding_carries_unrepresentable_keys() -> None:
    """With encoding-type=url a key holding a control character arrives intact once decoded."""
    parsed = uploads_listing(uploads=[("a\x01b", "U1", EPOCH)], encoding_type="url")
    assert unquote(parsed["Uploads"][0]["Key"]) == "a\x01b"


# --------------------------------------------------------------------------
# CopyPartResult


def test_copy_part_result_parses_etag_and_last_modified() -> None:
    """botocore reads the quoted ETag and LastModified from CopyPartResult."""
    parsed = parse("UploadPartCopy", xml.copy_part_result(ETAG, EPOCH + 0.25))
    assert parsed["CopyPartResult"] == {"ETag": f'"{ETAG}"', "LastModified": WHEN}


def test_copy_part_result_root_element() -> None:
    """The document's root is CopyPartResult in S3's namespace."""
    body = xml.copy_part_result(ETAG, EPOCH)
    assert b'<CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' in body
