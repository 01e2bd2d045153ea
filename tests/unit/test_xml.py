"""S3 XML documents, checked against what botocore (and s3cmd) parse out of them."""

from __future__ import annotations

import datetime
import types
from typing import Any
from urllib.parse import quote

import pytest
from botocore.handlers import (
    decode_list_object,
    decode_list_object_v2,
    decode_list_object_versions,
    parse_get_bucket_location,
)
from S3.ACL import ACL

from nanio.errors import InvalidArgument, MalformedXML
from nanio.s3 import xml
from nanio.s3.model import BucketInfo, ListPage, ObjectInfo
from tests.support.botocore_xml import (
    AWKWARD_KEYS,
    EPOCH,
    ETAG,
    OWNER_ID,
    OWNER_NAME,
    WHEN,
    parse,
    serialize,
)


def page(
    *keys: str,
    prefixes: tuple[str, ...] = (),
    truncated: bool = False,
    next_marker: str | None = None,
) -> ListPage:
    """Build a listing page of small objects with the given keys."""
    contents = [ObjectInfo(key, 10 + i, ETAG, EPOCH + 0.5) for i, key in enumerate(keys)]
    return ListPage(contents, list(prefixes), truncated, next_marker)


def v2(listing: ListPage, **overrides: Any) -> bytes:
    """Render ListObjectsV2 with defaults for what a test does not care about."""
    args: dict[str, Any] = {
        "bucket": "bkt",
        "prefix": None,
        "delimiter": None,
        "max_keys": 1000,
        "encoding_type": None,
        "continuation_token": None,
        "next_continuation_token": None,
        "start_after": None,
        "fetch_owner": False,
        "owner_id": OWNER_ID,
        "owner_name": OWNER_NAME,
    }
    args.update(overrides)
    return xml.list_objects_v2(listing, **args)


def v1(listing: ListPage, **overrides: Any) -> bytes:
    """Render ListObjects (V1) with defaults for what a test does not care about."""
    args: dict[str, Any] = {
        "bucket": "bkt",
        "prefix": None,
        "delimiter": None,
        "marker": None,
        "max_keys": 1000,
        "encoding_type": None,
        "owner_id": OWNER_ID,
        "owner_name": OWNER_NAME,
    }
    args.update(overrides)
    return xml.list_objects_v1(listing, **args)


def versions(listing: ListPage, **overrides: Any) -> bytes:
    """Render ListObjectVersions with defaults for what a test does not care about."""
    args: dict[str, Any] = {
        "bucket": "bkt",
        "prefix": None,
        "delimiter": None,
        "key_marker": None,
        "max_keys": 1000,
        "encoding_type": None,
        "owner_id": OWNER_ID,
        "owner_name": OWNER_NAME,
    }
    args.update(overrides)
    return xml.list_object_versions(listing, **args)


# --------------------------------------------------------------------------
# Escaping


def test_escape_leaves_plain_text_alone() -> None:
    """Text with nothing to escape comes back unchanged."""
    assert xml.escape("photos/2026/ü.jpg") == "photos/2026/ü.jpg"


def test_escape_markup_characters() -> None:
    """Ampersand and angle brackets become entity references."""
    assert xml.escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"


def test_escape_carriage_return_as_reference() -> None:
    """A carriage return is written as &#13; so parsers do not turn it into a line feed."""
    assert xml.escape("a\rb") == "a&#13;b"


def test_escape_replaces_characters_xml_cannot_carry() -> None:
    """Controls, lone surrogates and U+FFFE/U+FFFF become U+FFFD; tab and line feed stay."""
    assert xml.escape("\x00\x01\x1f\udc80\ufffe\uffff\t\n") == "\ufffd" * 6 + "\t\n"


def test_url_encode_keeps_slashes_and_unreserved() -> None:
    """URL encoding leaves RFC 3986 unreserved characters and slashes as they are."""
    assert xml.url_encode("a-b_c.d~e/f") == "a-b_c.d~e/f"


def test_url_encode_space_and_plus() -> None:
    """A space becomes %20 and a plus %2B, so every client's decoder gets them back."""
    assert xml.url_encode("a b+c") == "a%20b%2Bc"


def test_url_encode_undecodable_file_name_bytes() -> None:
    """A file-name byte carried as a lone surrogate is percent-encoded as that byte."""
    assert xml.url_encode("caf\udce9") == "caf%E9"


def test_escape_fast_path_misses_nothing() -> None:
    """Every BMP character comes out of escape() as the full replacement rule says."""
    misses = [
        hex(code)
        for code in range(0x10000)
        if xml.escape(chr(code)) != xml._NEEDS_ESCAPE.sub(xml._replace, chr(code))
    ]
    assert misses == []


def test_url_encode_fast_path_misses_nothing() -> None:
    """Every ASCII character comes out of url_encode() exactly as quote() would write it."""
    misses = [
        chr(code) for code in range(128) if xml.url_encode(chr(code)) != quote(chr(code), safe="/")
    ]
    assert misses == []


# --------------------------------------------------------------------------
# Errors


def test_error_body_parses_as_an_s3_error() -> None:
    """botocore reads Code and Message from an error body."""
    body = xml.error_body("NoSuchKey", "The specified key does not exist.", "/bkt/k", "REQ1", {})
    error = parse("GetObject", body, status=404)["Error"]
    assert (error["Code"], error["Message"]) == ("NoSuchKey", "The specified key does not exist.")


def test_error_body_carries_resource_and_request_id() -> None:
    """The error body holds Resource and RequestId elements."""
    body = xml.error_body("NoSuchKey", "m", "/bkt/k", "REQ1", {})
    assert b"<Resource>/bkt/k</Resource><RequestId>REQ1</RequestId>" in body


def test_error_body_carries_extra_fields() -> None:
    """Extra fields such as BucketName reach the client's parsed error."""
    body = xml.error_body("NoSuchBucket", "m", "/bkt", "REQ1", {"BucketName": "bkt"})
    assert parse("HeadBucket", body, status=404)["Error"]["BucketName"] == "bkt"


def test_error_body_has_no_namespace() -> None:
    """The Error element has no namespace, as S3 sends it."""
    body = xml.error_body("AccessDenied", "Access Denied", None, "REQ1", {})
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    )


def test_error_body_escapes_its_text() -> None:
    """Markup in a message or field stays text and the document stays well-formed."""
    body = xml.error_body("InvalidArgument", "a <b> & c", "/b/<k>", "R", {"ArgumentValue": "x&y"})
    error = parse("GetObject", body, status=400)["Error"]
    assert (error["Message"], error["ArgumentValue"]) == ("a <b> & c", "x&y")


def test_error_body_drops_a_field_with_a_bad_name() -> None:
    """A field whose name is no XML name is left out rather than breaking the document."""
    body = xml.error_body("InternalError", "m", None, "R", {"bad name>": "x", "Good": "y"})
    error = parse("GetObject", body, status=500)["Error"]
    assert (error.get("Good"), "bad name>" in error) == ("y", False)


# --------------------------------------------------------------------------
# Service and bucket documents


def test_list_buckets_names_and_dates() -> None:
    """ListBuckets shows every bucket with its creation date as a datetime."""
    buckets = [BucketInfo("alpha", EPOCH), BucketInfo("beta", EPOCH + 1)]
    parsed = parse(
        "ListBuckets",
        xml.list_buckets(buckets, OWNER_ID, OWNER_NAME, prefix=None, continuation_token=None),
    )
    assert [(b["Name"], b["CreationDate"]) for b in parsed["Buckets"]] == [
        ("alpha", WHEN),
        ("beta", WHEN + datetime.timedelta(seconds=1)),
    ]


def test_list_buckets_owner() -> None:
    """ListBuckets shows the requesting owner's ID and display name."""
    parsed = parse(
        "ListBuckets",
        xml.list_buckets([], OWNER_ID, OWNER_NAME, prefix=None, continuation_token=None),
    )
    assert parsed["Owner"] == {"ID": OWNER_ID, "DisplayName": OWNER_NAME}


def test_list_buckets_empty() -> None:
    """ListBuckets with no buckets parses to an empty list."""
    parsed = parse(
        "ListBuckets",
        xml.list_buckets([], OWNER_ID, OWNER_NAME, prefix=None, continuation_token=None),
    )
    assert parsed.get("Buckets", []) == []


def test_list_buckets_prefix_and_continuation_token() -> None:
    """ListBuckets echoes Prefix and gives the next page's ContinuationToken."""
    body = xml.list_buckets(
        [BucketInfo("a-b", EPOCH)], OWNER_ID, OWNER_NAME, prefix="a-", continuation_token="tok"
    )
    parsed = parse("ListBuckets", body)
    assert (parsed["Prefix"], parsed["ContinuationToken"]) == ("a-", "tok")


def test_list_buckets_without_token_has_none() -> None:
    """The last page of ListBuckets carries no ContinuationToken."""
    parsed = parse(
        "ListBuckets",
        xml.list_buckets([], OWNER_ID, OWNER_NAME, prefix=None, continuation_token=None),
    )
    assert "ContinuationToken" not in parsed


def location_of(body: bytes) -> str | None:
    """Run botocore's GetBucketLocation handler over a body."""
    parsed: dict[str, Any] = {}
    parse_get_bucket_location(parsed, types.SimpleNamespace(raw=object(), content=body))
    return parsed["LocationConstraint"]


def test_location_of_us_east_1_is_empty() -> None:
    """us-east-1 is answered with an empty LocationConstraint, which clients read as None."""
    assert location_of(xml.location("us-east-1")) is None


def test_location_of_other_region() -> None:
    """Another region is answered by name."""
    assert location_of(xml.location("eu-west-1")) == "eu-west-1"


def test_versioning_has_no_status() -> None:
    """GetBucketVersioning shows no Status: versioning was never enabled."""
    parsed = parse("GetBucketVersioning", xml.versioning())
    assert "Status" not in parsed and "MFADelete" not in parsed


def test_acl_grants_owner_full_control_for_botocore() -> None:
    """botocore reads the owner and one FULL_CONTROL grant to a CanonicalUser."""
    parsed = parse("GetBucketAcl", xml.acl(OWNER_ID, OWNER_NAME))
    assert (parsed["Owner"], parsed["Grants"]) == (
        {"ID": OWNER_ID, "DisplayName": OWNER_NAME},
        [
            {
                "Grantee": {"ID": OWNER_ID, "DisplayName": OWNER_NAME, "Type": "CanonicalUser"},
                "Permission": "FULL_CONTROL",
            }
        ],
    )


def test_acl_is_read_by_s3cmd() -> None:
    """s3cmd's ACL parser (used before every copy) reads the owner and the grant."""
    acl = ACL(xml.acl(OWNER_ID, OWNER_NAME))
    assert (acl.getOwner(), acl.getGrantList()) == (
        {"id": OWNER_ID, "nick": OWNER_NAME},
        [{"grantee": OWNER_NAME, "permission": "FULL_CONTROL"}],
    )


# --------------------------------------------------------------------------
# ListObjectsV2


def test_v2_keys_sizes_and_storage_class() -> None:
    """Contents list each key with its size and STANDARD storage class."""
    parsed = parse("ListObjectsV2", v2(page("a", "b/c")))
    assert [(c["Key"], c["Size"], c["StorageClass"]) for c in parsed["Contents"]] == [
        ("a", 10, "STANDARD"),
        ("b/c", 11, "STANDARD"),
    ]


def test_v2_last_modified_is_a_datetime() -> None:
    """LastModified parses to the object's time at whole seconds."""
    parsed = parse("ListObjectsV2", v2(page("a")))
    assert parsed["Contents"][0]["LastModified"] == WHEN


def test_v2_etag_is_quoted() -> None:
    """ETag reaches the client with its quotes, as S3 sends it."""
    parsed = parse("ListObjectsV2", v2(page("a")))
    assert parsed["Contents"][0]["ETag"] == f'"{ETAG}"'


def test_v2_key_count_counts_keys_and_prefixes() -> None:
    """KeyCount is the number of keys plus the number of common prefixes."""
    parsed = parse("ListObjectsV2", v2(page("a", "b", prefixes=("c/", "d/", "e/")), delimiter="/"))
    assert parsed["KeyCount"] == 5


def test_v2_common_prefixes() -> None:
    """CommonPrefixes list each rolled-up prefix."""
    parsed = parse("ListObjectsV2", v2(page(prefixes=("c/", "d/")), delimiter="/"))
    assert parsed["CommonPrefixes"] == [{"Prefix": "c/"}, {"Prefix": "d/"}]


def test_v2_truncated_page() -> None:
    """A truncated page says so and carries NextContinuationToken."""
    parsed = parse(
        "ListObjectsV2",
        v2(page("a", truncated=True, next_marker="a"), next_continuation_token="next"),
    )
    assert (parsed["IsTruncated"], parsed["NextContinuationToken"]) == (True, "next")


def test_v2_last_page() -> None:
    """The last page is not truncated and has no NextContinuationToken."""
    parsed = parse("ListObjectsV2", v2(page("a")))
    assert (parsed["IsTruncated"], "NextContinuationToken" in parsed) == (False, False)


def test_v2_echoes_request_parameters() -> None:
    """Name, Prefix, Delimiter, MaxKeys, StartAfter and ContinuationToken are echoed."""
    body = v2(
        page(), prefix="p/", delimiter="/", max_keys=7, start_after="p/a", continuation_token="tok"
    )
    parsed = parse("ListObjectsV2", body)
    echoed = {
        k: parsed[k]
        for k in ("Name", "Prefix", "Delimiter", "MaxKeys", "StartAfter", "ContinuationToken")
    }
    assert echoed == {
        "Name": "bkt",
        "Prefix": "p/",
        "Delimiter": "/",
        "MaxKeys": 7,
        "StartAfter": "p/a",
        "ContinuationToken": "tok",
    }


def test_v2_owner_only_with_fetch_owner() -> None:
    """Contents carry Owner when fetch-owner was asked for."""
    parsed = parse("ListObjectsV2", v2(page("a"), fetch_owner=True))
    assert parsed["Contents"][0]["Owner"] == {"ID": OWNER_ID, "DisplayName": OWNER_NAME}


def test_v2_no_owner_by_default() -> None:
    """Contents carry no Owner unless fetch-owner was asked for."""
    parsed = parse("ListObjectsV2", v2(page("a")))
    assert "Owner" not in parsed["Contents"][0]


def test_v2_empty_listing() -> None:
    """An empty bucket lists no contents and a KeyCount of 0."""
    parsed = parse("ListObjectsV2", v2(page()))
    assert (parsed.get("Contents", []), parsed["KeyCount"]) == ([], 0)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_v2_awkward_key_round_trips_without_encoding(key: str) -> None:
    """A key with markup or odd characters reaches the client intact without encoding-type."""
    parsed = parse("ListObjectsV2", v2(page(key)))
    assert parsed["Contents"][0]["Key"] == key


def test_v2_carriage_return_round_trips() -> None:
    """A carriage return in a key survives XML parsing (written as &#13;)."""
    parsed = parse("ListObjectsV2", v2(page("a\rb")))
    assert parsed["Contents"][0]["Key"] == "a\rb"


def test_v2_control_character_keeps_the_document_well_formed() -> None:
    """A hand-made file name with a control character still gives a parseable listing."""
    parsed = parse("ListObjectsV2", v2(page("bad\x01name")))
    assert parsed["Contents"][0]["Key"] == "bad\ufffdname"


def decode_v2(body: bytes) -> dict[str, Any]:
    """Parse a ListObjectsV2 body and URL-decode it as botocore does when it asked for url."""
    parsed = parse("ListObjectsV2", body)
    decode_list_object_v2(parsed, {"encoding_type_auto_set": True})
    return parsed


@pytest.mark.parametrize("key", [*AWKWARD_KEYS, "bad\x01name", "a\rb"])
def test_v2_url_encoding_round_trips(key: str) -> None:
    """With encoding-type=url every key, control characters included, decodes back exactly."""
    parsed = decode_v2(v2(page(key), encoding_type="url"))
    assert parsed["Contents"][0]["Key"] == key


def test_v2_url_encoding_covers_what_botocore_decodes() -> None:
    """Prefix, Delimiter, StartAfter and CommonPrefixes are encoded and decode back."""
    body = v2(
        page(prefixes=("p q/r+s/",)),
        prefix="p q/",
        delimiter="/",
        start_after="p q/a&b",
        encoding_type="url",
    )
    parsed = decode_v2(body)
    decoded = (
        parsed["Prefix"],
        parsed["Delimiter"],
        parsed["StartAfter"],
        parsed["CommonPrefixes"],
    )
    assert decoded == ("p q/", "/", "p q/a&b", [{"Prefix": "p q/r+s/"}])


def test_v2_url_encoding_is_announced() -> None:
    """A url-encoded listing carries EncodingType url."""
    parsed = parse("ListObjectsV2", v2(page("a"), encoding_type="url"))
    assert parsed["EncodingType"] == "url"


def test_v2_continuation_token_is_not_url_encoded() -> None:
    """Continuation tokens are opaque: url encoding leaves them as they are."""
    parsed = parse(
        "ListObjectsV2", v2(page(), encoding_type="url", next_continuation_token="a+b/c=")
    )
    assert parsed["NextContinuationToken"] == "a+b/c="


# --------------------------------------------------------------------------
# ListObjects (V1)


def test_v1_contents_include_owner() -> None:
    """V1 Contents always carry the Owner."""
    parsed = parse("ListObjects", v1(page("a")))
    assert parsed["Contents"][0]["Owner"] == {"ID": OWNER_ID, "DisplayName": OWNER_NAME}


def test_v1_keys_and_etags() -> None:
    """V1 Contents list keys with quoted ETags and datetimes."""
    parsed = parse("ListObjects", v1(page("a", "b")))
    assert [(c["Key"], c["ETag"], c["LastModified"]) for c in parsed["Contents"]] == [
        ("a", f'"{ETAG}"', WHEN),
        ("b", f'"{ETAG}"', WHEN),
    ]


def test_v1_echoes_marker() -> None:
    """V1 echoes the request's Marker and Prefix."""
    parsed = parse("ListObjects", v1(page("b"), marker="a", prefix=""))
    assert (parsed["Marker"], parsed["Prefix"]) == ("a", "")


def test_v1_next_marker_with_delimiter_when_truncated() -> None:
    """A truncated V1 page listed with a delimiter carries NextMarker."""
    listing = page("a", prefixes=("b/",), truncated=True, next_marker="b/")
    parsed = parse("ListObjects", v1(listing, delimiter="/"))
    assert (parsed["IsTruncated"], parsed["NextMarker"]) == (True, "b/")


def test_v1_no_next_marker_without_delimiter() -> None:
    """Without a delimiter S3 sends no NextMarker: clients use the last key."""
    parsed = parse("ListObjects", v1(page("a", truncated=True, next_marker="a")))
    assert (parsed["IsTruncated"], "NextMarker" in parsed) == (True, False)


def test_v1_no_next_marker_on_last_page() -> None:
    """The last V1 page carries no NextMarker even with a delimiter."""
    parsed = parse("ListObjects", v1(page("a"), delimiter="/"))
    assert (parsed["IsTruncated"], "NextMarker" in parsed) == (False, False)


def test_v1_common_prefixes() -> None:
    """V1 lists CommonPrefixes for the delimiter."""
    parsed = parse("ListObjects", v1(page(prefixes=("x/",)), delimiter="/"))
    assert parsed["CommonPrefixes"] == [{"Prefix": "x/"}]


def test_v1_url_encoding_round_trips() -> None:
    """With encoding-type=url, keys, markers, delimiter and prefixes decode back exactly."""
    listing = page("a b+c", prefixes=("d e/",), truncated=True, next_marker="d e/")
    parsed = parse("ListObjects", v1(listing, delimiter="/", marker="a&b", encoding_type="url"))
    decode_list_object(parsed, {"encoding_type_auto_set": True})
    decoded = (
        parsed["Contents"][0]["Key"],
        parsed["CommonPrefixes"],
        parsed["Marker"],
        parsed["NextMarker"],
        parsed["Delimiter"],
    )
    assert decoded == ("a b+c", [{"Prefix": "d e/"}], "a&b", "d e/", "/")


def test_v1_url_encodes_prefix() -> None:
    """V1 encodes Prefix too, as S3's documentation says (botocore leaves it as sent)."""
    body = v1(page(), prefix="a b", encoding_type="url")
    assert b"<Prefix>a%20b</Prefix>" in body


# --------------------------------------------------------------------------
# ListObjectVersions


def test_versions_list_every_object_as_null_latest() -> None:
    """Every object appears once as a Version with VersionId null and IsLatest true."""
    parsed = parse("ListObjectVersions", versions(page("a", "b")))
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in parsed["Versions"]] == [
        ("a", "null", True),
        ("b", "null", True),
    ]


def test_versions_carry_object_details() -> None:
    """A Version carries ETag, Size, LastModified, StorageClass and Owner."""
    version = parse("ListObjectVersions", versions(page("a")))["Versions"][0]
    details = {k: version[k] for k in ("ETag", "Size", "LastModified", "StorageClass", "Owner")}
    assert details == {
        "ETag": f'"{ETAG}"',
        "Size": 10,
        "LastModified": WHEN,
        "StorageClass": "STANDARD",
        "Owner": {"ID": OWNER_ID, "DisplayName": OWNER_NAME},
    }


def test_versions_have_no_delete_markers() -> None:
    """A never-versioned bucket lists no delete markers."""
    parsed = parse("ListObjectVersions", versions(page("a")))
    assert "DeleteMarkers" not in parsed


def test_versions_truncated_page_has_next_markers() -> None:
    """A truncated page carries NextKeyMarker and NextVersionIdMarker null."""
    parsed = parse(
        "ListObjectVersions", versions(page("a", truncated=True, next_marker="a"), key_marker="")
    )
    markers = (parsed["IsTruncated"], parsed["NextKeyMarker"], parsed["NextVersionIdMarker"])
    assert markers == (True, "a", "null")


def test_versions_last_page_has_no_next_markers() -> None:
    """The last page carries no NextKeyMarker or NextVersionIdMarker."""
    parsed = parse("ListObjectVersions", versions(page("a")))
    assert ("NextKeyMarker" in parsed, "NextVersionIdMarker" in parsed) == (False, False)


def test_versions_echo_markers() -> None:
    """KeyMarker and VersionIdMarker are echoed."""
    parsed = parse(
        "ListObjectVersions", versions(page("b"), key_marker="a", version_id_marker="null")
    )
    assert (parsed["KeyMarker"], parsed["VersionIdMarker"]) == ("a", "null")


def test_versions_common_prefixes() -> None:
    """ListObjectVersions lists CommonPrefixes for the delimiter."""
    parsed = parse("ListObjectVersions", versions(page(prefixes=("x/",)), delimiter="/"))
    assert parsed["CommonPrefixes"] == [{"Prefix": "x/"}]


def test_versions_url_encoding_round_trips() -> None:
    """With encoding-type=url, keys, markers and prefixes decode back exactly."""
    listing = page("a b", prefixes=("c+d/",), truncated=True, next_marker="c+d/")
    body = versions(listing, prefix="", delimiter="/", key_marker="a&b", encoding_type="url")
    parsed = parse("ListObjectVersions", body)
    decode_list_object_versions(parsed, {"encoding_type_auto_set": True})
    decoded = (
        parsed["Versions"][0]["Key"],
        parsed["CommonPrefixes"],
        parsed["KeyMarker"],
        parsed["NextKeyMarker"],
    )
    assert decoded == ("a b", [{"Prefix": "c+d/"}], "a&b", "c+d/")


# --------------------------------------------------------------------------
# Every rendered document


def all_documents() -> list[bytes]:
    """Render one of every document type."""
    return [
        xml.error_body("NoSuchKey", "m", "/b/k", "R", {"Key": "k"}),
        xml.list_buckets(
            [BucketInfo("b", EPOCH)], OWNER_ID, OWNER_NAME, prefix=None, continuation_token=None
        ),
        xml.location("eu-west-1"),
        xml.location("us-east-1"),
        xml.versioning(),
        xml.acl(OWNER_ID, OWNER_NAME),
        v2(page("a")),
        v1(page("a")),
        versions(page("a")),
    ]


@pytest.mark.parametrize("body", all_documents())
def test_document_starts_with_xml_declaration(body: bytes) -> None:
    """Every document starts with the UTF-8 XML declaration."""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


@pytest.mark.parametrize("body", all_documents()[1:])
def test_document_uses_the_s3_namespace(body: bytes) -> None:
    """Every document but the error carries the S3 namespace on its root, where s3cmd looks."""
    assert (
        b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
        in body.split(b"\n", 1)[1].split(b">", 1)[0]
    )


# --------------------------------------------------------------------------
# encoding-type


def test_url_encoding_type_is_accepted() -> None:
    """encoding-type=url and no encoding-type are both accepted."""
    assert (xml.validate_encoding_type("url"), xml.validate_encoding_type(None)) == (None, None)


def test_unknown_encoding_type_is_refused() -> None:
    """An encoding-type other than url answers InvalidArgument naming the argument."""
    with pytest.raises(InvalidArgument) as info:
        xml.validate_encoding_type("base64")
    assert info.value.fields == {"ArgumentName": "encoding-type", "ArgumentValue": "base64"}


# --------------------------------------------------------------------------
# Parsing request bodies

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<CreateBucketConfiguration><LocationConstraint>&lol3;</LocationConstraint></CreateBucketConfiguration>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Delete><Object><Key>&xxe;</Key></Object></Delete>"""

DTD_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE Delete SYSTEM "http://example.invalid/s3.dtd">
<Delete><Object><Key>a</Key></Object></Delete>"""

HOSTILE_BODIES = [
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    DTD_ONLY,
    b"<Delete><Object><Key>a</Key></Object>",
    b"not xml at all",
    b"<?xml version='1.0' encoding='no-such-encoding'?><Delete/>",
    b"<?xml version='1.0' encoding='rot13'?><Delete/>",
    b"<?xml version='1.0' encoding='idna'?><Delete>\xe9</Delete>",
    b"<?xml version='1.0' encoding='utf-7'?><Delete/>",
    b"\xff\xfe<\x00",
]


def test_create_bucket_location_from_botocore_body() -> None:
    """The LocationConstraint botocore sends is read back."""
    body = serialize(
        "CreateBucket",
        {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}},
    )
    assert xml.parse_create_bucket(body) == "eu-west-1"


def test_create_bucket_without_namespace() -> None:
    """A body without the S3 namespace is read the same."""
    body = (
        b"<CreateBucketConfiguration><LocationConstraint>ap-south-1</LocationConstraint>"
        b"</CreateBucketConfiguration>"
    )
    assert xml.parse_create_bucket(body) == "ap-south-1"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  \n",
        b"<CreateBucketConfiguration/>",
        b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>",
        b"<CreateBucketConfiguration><LocationConstraint> </LocationConstraint>"
        b"</CreateBucketConfiguration>",
    ],
)
def test_create_bucket_without_location(body: bytes) -> None:
    """An empty body or an empty LocationConstraint means no constraint (None)."""
    assert xml.parse_create_bucket(body) is None


def test_create_bucket_wrong_root_is_malformed() -> None:
    """A document that is not a CreateBucketConfiguration is MalformedXML."""
    with pytest.raises(MalformedXML):
        xml.parse_create_bucket(b"<Delete/>")


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_create_bucket_hostile_body_is_malformed(body: bytes) -> None:
    """Broken XML, DTDs and entity tricks are refused as MalformedXML."""
    with pytest.raises(MalformedXML):
        xml.parse_create_bucket(body)


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_delete_hostile_body_is_malformed(body: bytes) -> None:
    """DeleteObjects bodies with DTDs, entities or bad syntax are refused as MalformedXML."""
    with pytest.raises(MalformedXML):
        xml.parse_delete(body)


def test_delete_keys_from_botocore_body() -> None:
    """The keys and Quiet flag botocore sends for DeleteObjects are read back in order."""
    params = {
        "Bucket": "b",
        "Delete": {
            "Objects": [{"Key": "a"}, {"Key": "dir/b c&d"}, {"Key": " spaced "}],
            "Quiet": True,
        },
    }
    assert xml.parse_delete(serialize("DeleteObjects", params)) == (
        ["a", "dir/b c&d", " spaced "],
        True,
    )


def test_delete_quiet_defaults_to_false() -> None:
    """Without Quiet, DeleteObjects reports every key."""
    assert xml.parse_delete(b"<Delete><Object><Key>a</Key></Object></Delete>") == (["a"], False)


def test_delete_quiet_false() -> None:
    """Quiet false is read as false."""
    body = b"<Delete><Quiet>false</Quiet><Object><Key>a</Key></Object></Delete>"
    assert xml.parse_delete(body) == (["a"], False)


def test_delete_empty_key_is_kept_for_the_caller() -> None:
    """An empty Key element is returned as an empty key, for per-key validation."""
    assert xml.parse_delete(b"<Delete><Object><Key/></Object></Delete>") == ([""], False)


def test_delete_thousand_keys_is_accepted() -> None:
    """DeleteObjects accepts exactly 1000 keys."""
    body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1000 + b"</Delete>"
    assert len(xml.parse_delete(body)[0]) == 1000


def test_delete_over_thousand_keys_is_malformed() -> None:
    """DeleteObjects with 1001 keys is MalformedXML, as S3 answers."""
    body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"
    with pytest.raises(MalformedXML):
        xml.parse_delete(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete/>",
        b"<Delete><Quiet>true</Quiet></Delete>",
        b"<Delete><Object><VersionId>null</VersionId></Object></Delete>",
        b"<CompleteMultipartUpload/>",
    ],
)
def test_delete_without_keys_is_malformed(body: bytes) -> None:
    """A Delete with no objects, an object without Key, or another root is MalformedXML."""
    with pytest.raises(MalformedXML):
        xml.parse_delete(body)


def complete(parts: bytes) -> bytes:
    """Wrap Part elements in a CompleteMultipartUpload document."""
    return b"<CompleteMultipartUpload>" + parts + b"</CompleteMultipartUpload>"


def test_complete_multipart_from_botocore_body() -> None:
    """Part numbers and ETags botocore sends are read back, ETag quotes removed."""
    params = {
        "Bucket": "b",
        "Key": "k",
        "UploadId": "u",
        "MultipartUpload": {
            "Parts": [
                {"PartNumber": 1, "ETag": '"aaa"', "ChecksumCRC32": "AAAAAA=="},
                {"PartNumber": 2, "ETag": '"bbb"'},
            ]
        },
    }
    assert xml.parse_complete_multipart(serialize("CompleteMultipartUpload", params)) == [
        (1, "aaa"),
        (2, "bbb"),
    ]


def test_complete_multipart_keeps_document_order() -> None:
    """Parts are returned in the order listed, so the caller can check InvalidPartOrder."""
    body = complete(
        b"<Part><PartNumber>2</PartNumber><ETag>b</ETag></Part>"
        b"<Part><ETag>a</ETag><PartNumber>1</PartNumber></Part>"
    )
    assert xml.parse_complete_multipart(body) == [(2, "b"), (1, "a")]


@pytest.mark.parametrize(
    "body",
    [
        complete(b""),
        complete(b"<Part><PartNumber>1</PartNumber></Part>"),
        complete(b"<Part><ETag>a</ETag></Part>"),
        complete(b"<Part><PartNumber>one</PartNumber><ETag>a</ETag></Part>"),
        complete(b"<Part><PartNumber>-1</PartNumber><ETag>a</ETag></Part>"),
        complete("<Part><PartNumber>\u0661</PartNumber><ETag>a</ETag></Part>".encode()),
        b"<Delete><Object><Key>a</Key></Object></Delete>",
        BILLION_LAUGHS,
    ],
)
def test_complete_multipart_bad_body_is_malformed(body: bytes) -> None:
    """No parts, a part missing a field, a non-numeric number or another root is MalformedXML."""
    with pytest.raises(MalformedXML):
        xml.parse_complete_multipart(body)


@pytest.mark.parametrize("number", [b"0", b"10001"])
def test_complete_multipart_part_number_out_of_range(number: bytes) -> None:
    """A part number outside 1..10000 answers InvalidArgument."""
    body = complete(b"<Part><PartNumber>" + number + b"</PartNumber><ETag>a</ETag></Part>")
    with pytest.raises(InvalidArgument):
        xml.parse_complete_multipart(body)


# --------------------------------------------------------------------------
# Write results (CopyObject, DeleteObjects)


def test_copy_object_result_parses_in_botocore() -> None:
    """CopyObjectResult carries the quoted ETag and LastModified as botocore reads them."""
    from nanio.s3.xml import copy_object_result

    parsed = parse("CopyObject", copy_object_result("abc123", 1_700_000_000))
    assert parsed["CopyObjectResult"]["ETag"] == '"abc123"'
    assert parsed["CopyObjectResult"]["LastModified"].timestamp() == 1_700_000_000


def test_delete_result_lists_deleted_keys_and_errors() -> None:
    """DeleteResult names each deleted key and each failed key with its code, escaped."""
    from nanio.s3.xml import delete_result

    body = delete_result(["a&b", "c"], [("d<e", "InvalidArgument", "bad key")])
    parsed = parse("DeleteObjects", body)
    assert [d["Key"] for d in parsed["Deleted"]] == ["a&b", "c"]
    assert parsed["Errors"] == [{"Key": "d<e", "Code": "InvalidArgument", "Message": "bad key"}]


def test_empty_tagging_reads_as_an_empty_tag_set() -> None:
    """botocore reads GetObjectTagging's answer as TagSet []."""
    assert parse("GetObjectTagging", xml.empty_tagging())["TagSet"] == []


@pytest.mark.parametrize("operation", ["PutObjectTagging", "PutBucketTagging"])
def test_parse_tagging_reads_botocores_tag_sets(operation: str) -> None:
    """The tags botocore sends are read back in order, empty values and markup included."""
    tags = [("a", "1"), ("b", ""), ("k <&>", "v é")]
    params = {"Bucket": "b", "Tagging": {"TagSet": [{"Key": k, "Value": v} for k, v in tags]}}
    if operation == "PutObjectTagging":
        params["Key"] = "k"
    assert xml.parse_tagging(serialize(operation, params)) == tags


def test_parse_tagging_reads_an_empty_tag_set() -> None:
    """An empty TagSet is no tags (what a client sends to clear them)."""
    body = serialize("PutObjectTagging", {"Bucket": "b", "Key": "k", "Tagging": {"TagSet": []}})
    assert xml.parse_tagging(body) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Tagging/>",  # no TagSet
        b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",  # no Value
        b"<Tagging><TagSet><Tag><Value>1</Value></Tag></TagSet></Tagging>",  # no Key
        b"<Other><TagSet/></Other>",
        b"<Tagging><TagSet>",
    ],
)
def test_parse_tagging_refuses_malformed_documents(body: bytes) -> None:
    """A document that is not a Tagging with a TagSet of whole tags is MalformedXML."""
    with pytest.raises(MalformedXML):
        xml.parse_tagging(body)


def attributes(**overrides: Any) -> dict[str, Any]:
    """GetObjectAttributes as botocore reads nanio's answer."""
    fields: dict[str, Any] = {
        "wanted": {"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"},
        "etag": "0123456789abcdef0123456789abcdef-3",
        "size": 12,
        "checksums": {},
        "part_sizes": (5, 5, 2),
        "part_number_marker": 0,
        "max_parts": 1000,
    }
    fields.update(overrides)
    return parse("GetObjectAttributes", xml.object_attributes(**fields))


def test_object_attributes_read_by_botocore() -> None:
    """ETag (bare), size, storage class and the parts of a multipart object."""
    parsed = attributes(checksums={"crc32": "AAAAAA==-3"})
    assert (parsed["ETag"], parsed["ObjectSize"], parsed["StorageClass"]) == (
        "0123456789abcdef0123456789abcdef-3",
        12,
        "STANDARD",
    )
    assert parsed["Checksum"] == {"ChecksumCRC32": "AAAAAA==-3", "ChecksumType": "COMPOSITE"}
    parts = parsed["ObjectParts"]
    assert (parts["TotalPartsCount"], parts["IsTruncated"], parts["PartNumberMarker"]) == (
        3,
        False,
        0,
    )
    assert parts["Parts"] == [
        {"PartNumber": 1, "Size": 5},
        {"PartNumber": 2, "Size": 5},
        {"PartNumber": 3, "Size": 2},
    ]


def test_object_attributes_page_through_parts() -> None:
    """max-parts and part-number-marker page the part list, with the next marker."""
    first = attributes(max_parts=2)["ObjectParts"]
    assert (first["IsTruncated"], first["NextPartNumberMarker"], len(first["Parts"])) == (
        True,
        2,
        2,
    )
    rest = attributes(max_parts=2, part_number_marker=2)["ObjectParts"]
    assert (rest["IsTruncated"], rest["Parts"]) == (False, [{"PartNumber": 3, "Size": 2}])
    assert "NextPartNumberMarker" not in rest


def test_object_attributes_only_what_was_asked() -> None:
    """Only the wanted attributes are sent; a whole-object checksum is FULL_OBJECT."""
    parsed = attributes(
        wanted={"Checksum", "ObjectSize"}, checksums={"sha256": "abc="}, part_sizes=()
    )
    assert parsed["Checksum"] == {"ChecksumSHA256": "abc=", "ChecksumType": "FULL_OBJECT"}
    assert parsed["ObjectSize"] == 12
    assert not {"ETag", "StorageClass", "ObjectParts"} & parsed.keys()
    # An object not made of parts has no ObjectParts, and no checksum means no Checksum.
    assert not {"ObjectParts", "Checksum"} & attributes(part_sizes=()).keys()
