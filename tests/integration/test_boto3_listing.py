"""
Listing through boto3 against a real server: ListObjectsV2, ListObjects (V1),
ListObjectVersions and the paginators, in S3's exact key order, plus files
that an operator drops into a bucket directory by hand.

botocore adds ``encoding-type=url`` to every listing it sends and decodes the
answer itself unless the caller asked for the encoding; the tests that pass
``EncodingType="url"`` see the encoded keys as they came over the wire.
"""

from __future__ import annotations

import datetime
import os
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import (
    all_keys,
    boto3_resource,
    error_code,
    error_fields,
    http_status,
    signed_request,
)
from tests.support.server import RunningServer, make_boto3_client

#: Keys whose S3 order (UTF-8 bytes) differs from a naive directory walk:
#: "a-b" and "a.b" sort before "a/", which sorts before "a0".  No key is
#: both an object and a prefix ("a" beside "a/b"): nanio refuses that.
ORDER_KEYS = [
    "a/b",
    "a0",
    "a-b",
    "ab",
    "a/",
    "a.b",
    "a!",
    "b",
    "A",
    "Z",
    "é",
    "日本",
    "😀",
    "~x",
    "c/d/e",
    "c-d",
    "c/d-e",
    "c/d0",
]
S3_ORDER = sorted(ORDER_KEYS, key=lambda key: key.encode("utf-8"))

#: Keys that XML or a URL cannot carry as they are.
ODD_KEYS = ["with space", "plus+sign", "100%", "a&b", "less<than", "ünï", "q?uery", "semi;", "tab~"]

#: A fixed past instant for files dropped in by hand (whole seconds).
HAND_MTIME = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


@pytest.fixture(
    scope="module", params=["when_supported", "when_required"], ids=["newest", "when-required"]
)
def s3(request: pytest.FixtureRequest, server: RunningServer) -> Any:
    """The conftest ``s3`` pair of clients, built once per module: a client costs ~0.3 s."""
    return make_boto3_client(server, checksums=request.param)


def fill(client: Any, bucket: str, keys: list[str]) -> None:
    """Store one small object under each of ``keys`` (folder markers are empty)."""
    for key in keys:
        body = b"" if key.endswith("/") else key.encode("utf-8")
        client.put_object(Bucket=bucket, Key=key, Body=body)


@pytest.fixture
def ordered(client: Any, bucket: str) -> str:
    """A bucket holding ORDER_KEYS."""
    fill(client, bucket, ORDER_KEYS)
    return bucket


@pytest.fixture
def tree(client: Any, bucket: str) -> str:
    """A bucket holding a small directory tree with a folder marker."""
    fill(
        client,
        bucket,
        ["top.txt", "docs/", "docs/a.txt", "docs/b.txt", "docs/sub/c.txt", "img/x.png", "zz"],
    )
    return bucket


def walk_v2(client: Any, bucket: str, **params: Any) -> list[dict[str, Any]]:
    """Every ListObjectsV2 page, following NextContinuationToken by hand."""
    pages = [client.list_objects_v2(Bucket=bucket, **params)]
    while pages[-1]["IsTruncated"]:
        assert len(pages) < 100, "the listing never ends"
        token = pages[-1]["NextContinuationToken"]
        pages.append(client.list_objects_v2(Bucket=bucket, ContinuationToken=token, **params))
    return pages


def walk_v1(client: Any, bucket: str, **params: Any) -> list[dict[str, Any]]:
    """Every ListObjects page, resuming at NextMarker or else the last key."""
    pages = [client.list_objects(Bucket=bucket, **params)]
    while pages[-1]["IsTruncated"]:
        assert len(pages) < 100, "the listing never ends"
        page = pages[-1]
        marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
        pages.append(client.list_objects(Bucket=bucket, Marker=marker, **params))
    return pages


def prefixes(pages: list[dict[str, Any]]) -> list[str]:
    """Every CommonPrefixes entry across pages, in order."""
    return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]


# --- ListObjectsV2 ----------------------------------------------------------------


def test_v2_lists_keys_in_s3_order(client: Any, ordered: str) -> None:
    """ListObjectsV2 returns keys in UTF-8 binary order ('a-b' < 'a.b' < 'a/' < 'a/b' < 'a0')."""
    assert all_keys([client.list_objects_v2(Bucket=ordered)]) == S3_ORDER


def test_v2_entries_carry_size_etag_and_date(client: Any, bucket: str) -> None:
    """Each ListObjectsV2 entry carries its Size, ETag and LastModified."""
    client.put_object(Bucket=bucket, Key="k", Body=b"12345")
    head = client.head_object(Bucket=bucket, Key="k")
    [entry] = client.list_objects_v2(Bucket=bucket)["Contents"]
    assert (entry["Size"], entry["ETag"], entry["LastModified"]) == (
        5,
        head["ETag"],
        head["LastModified"],
    )


def test_v2_storage_class_is_standard(client: Any, bucket: str) -> None:
    """ListObjectsV2 entries name the STANDARD storage class."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert client.list_objects_v2(Bucket=bucket)["Contents"][0]["StorageClass"] == "STANDARD"


def test_v2_empty_bucket_has_no_contents(client: Any, bucket: str) -> None:
    """ListObjectsV2 of an empty bucket answers KeyCount 0 and no Contents."""
    page = client.list_objects_v2(Bucket=bucket)
    assert (page["KeyCount"], "Contents" in page, page["IsTruncated"]) == (0, False, False)


def test_v2_missing_bucket_is_no_such_bucket(client: Any, fresh_bucket: str) -> None:
    """ListObjectsV2 of a missing bucket answers 404 NoSuchBucket."""
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket=fresh_bucket)
    assert error_code(caught.value) == "NoSuchBucket"
    assert http_status(caught.value.response) == 404


def test_v2_answers_bucket_name_and_max_keys(client: Any, bucket: str) -> None:
    """ListObjectsV2 answers the bucket's Name and the default MaxKeys of 1000."""
    page = client.list_objects_v2(Bucket=bucket)
    assert (page["Name"], page["MaxKeys"]) == (bucket, 1000)


def test_v2_prefix_filters_keys(client: Any, tree: str) -> None:
    """ListObjectsV2 with Prefix lists only the keys that start with it, at every depth."""
    page = client.list_objects_v2(Bucket=tree, Prefix="docs/")
    assert all_keys([page]) == ["docs/", "docs/a.txt", "docs/b.txt", "docs/sub/c.txt"]
    assert page["Prefix"] == "docs/"


def test_v2_prefix_that_is_not_a_directory(client: Any, tree: str) -> None:
    """A Prefix that ends mid-name ('docs/s') matches keys, not only directories."""
    assert all_keys([client.list_objects_v2(Bucket=tree, Prefix="docs/s")]) == ["docs/sub/c.txt"]


def test_v2_prefix_matching_nothing_lists_nothing(client: Any, tree: str) -> None:
    """A Prefix no key starts with answers an empty page."""
    page = client.list_objects_v2(Bucket=tree, Prefix="nothing-here/")
    assert (page["KeyCount"], page.get("Contents", [])) == (0, [])


def test_v2_delimiter_groups_common_prefixes(client: Any, tree: str) -> None:
    """ListObjectsV2 with Delimiter "/" lists top-level keys and rolls deeper ones into prefixes."""
    page = client.list_objects_v2(Bucket=tree, Delimiter="/")
    assert all_keys([page]) == ["top.txt", "zz"]
    assert prefixes([page]) == ["docs/", "img/"]


def test_v2_delimiter_with_prefix_lists_one_level(client: Any, tree: str) -> None:
    """Prefix 'docs/' with Delimiter '/' lists the marker and files and the 'docs/sub/' prefix."""
    page = client.list_objects_v2(Bucket=tree, Prefix="docs/", Delimiter="/")
    assert all_keys([page]) == ["docs/", "docs/a.txt", "docs/b.txt"]
    assert prefixes([page]) == ["docs/sub/"]
    assert page["Delimiter"] == "/"


def test_v2_key_count_counts_keys_and_prefixes(client: Any, tree: str) -> None:
    """KeyCount is the number of keys plus the number of common prefixes on the page."""
    page = client.list_objects_v2(Bucket=tree, Delimiter="/")
    assert page["KeyCount"] == 4


def test_v2_other_delimiter(client: Any, bucket: str) -> None:
    """A delimiter other than '/' groups keys at its first occurrence after the prefix."""
    fill(client, bucket, ["2026-01-a", "2026-01-b", "2026-02-a", "2027", "x/y-z"])
    page = client.list_objects_v2(Bucket=bucket, Delimiter="-")
    assert all_keys([page]) == ["2027"]
    assert prefixes([page]) == ["2026-", "x/y-"]


def test_v2_other_delimiter_with_prefix(client: Any, bucket: str) -> None:
    """With Prefix '2026-' and Delimiter '-', the months become the common prefixes."""
    fill(client, bucket, ["2026-01-a", "2026-01-b", "2026-02-a", "2027"])
    page = client.list_objects_v2(Bucket=bucket, Prefix="2026-", Delimiter="-")
    assert prefixes([page]) == ["2026-01-", "2026-02-"]
    assert all_keys([page]) == []


def test_v2_multi_character_delimiter(client: Any, bucket: str) -> None:
    """A delimiter of several characters groups keys at its first occurrence."""
    fill(client, bucket, ["a--b", "a--c", "a-d", "e"])
    page = client.list_objects_v2(Bucket=bucket, Delimiter="--")
    assert (all_keys([page]), prefixes([page])) == (["a-d", "e"], ["a--"])


@pytest.mark.parametrize("max_keys", [1, 2, 3, 7])
def test_v2_paging_returns_every_key_once_in_order(
    client: Any, ordered: str, max_keys: int
) -> None:
    """Paging ListObjectsV2 by MaxKeys with ContinuationToken returns every key once, in order."""
    pages = walk_v2(client, ordered, MaxKeys=max_keys)
    assert all_keys(pages) == S3_ORDER
    assert all(len(page.get("Contents", [])) <= max_keys for page in pages)


def test_v2_truncated_page_has_next_token(client: Any, ordered: str) -> None:
    """A truncated ListObjectsV2 page says IsTruncated and carries a NextContinuationToken."""
    page = client.list_objects_v2(Bucket=ordered, MaxKeys=2)
    assert page["IsTruncated"] is True
    assert page["NextContinuationToken"]
    assert page["KeyCount"] == 2


def test_v2_last_page_is_not_truncated(client: Any, ordered: str) -> None:
    """The last ListObjectsV2 page says IsTruncated false and has no NextContinuationToken."""
    last = walk_v2(client, ordered, MaxKeys=5)[-1]
    assert last["IsTruncated"] is False
    assert "NextContinuationToken" not in last


def test_v2_exact_fit_last_page_is_not_truncated(client: Any, bucket: str) -> None:
    """A page that holds exactly the remaining keys says IsTruncated false."""
    fill(client, bucket, ["a", "b"])
    page = client.list_objects_v2(Bucket=bucket, MaxKeys=2)
    assert page["IsTruncated"] is False


def test_v2_continuation_token_is_echoed(client: Any, ordered: str) -> None:
    """A ListObjectsV2 page answers the ContinuationToken it was asked with."""
    token = client.list_objects_v2(Bucket=ordered, MaxKeys=2)["NextContinuationToken"]
    page = client.list_objects_v2(Bucket=ordered, MaxKeys=2, ContinuationToken=token)
    assert page["ContinuationToken"] == token


def test_v2_paging_with_delimiter_returns_prefixes_once(client: Any, tree: str) -> None:
    """Paging a delimited listing one entry at a time yields each key and common prefix once."""
    pages = walk_v2(client, tree, Delimiter="/", MaxKeys=1)
    assert (all_keys(pages), prefixes(pages)) == (["top.txt", "zz"], ["docs/", "img/"])


def test_v2_start_after_skips_keys(client: Any, ordered: str) -> None:
    """StartAfter lists only the keys that sort after it."""
    page = client.list_objects_v2(Bucket=ordered, StartAfter="a/")
    assert all_keys([page]) == [k for k in S3_ORDER if k.encode() > b"a/"]
    assert page["StartAfter"] == "a/"


def test_v2_start_after_need_not_be_a_key(client: Any, ordered: str) -> None:
    """StartAfter that names no key starts after where it would sort."""
    page = client.list_objects_v2(Bucket=ordered, StartAfter="a/a")
    assert all_keys([page])[0] == "a/b"


def test_v2_max_keys_zero_lists_nothing(client: Any, ordered: str) -> None:
    """MaxKeys=0 answers an empty page."""
    page = client.list_objects_v2(Bucket=ordered, MaxKeys=0)
    assert (page["KeyCount"], page.get("Contents", [])) == (0, [])


def test_v2_fetch_owner_adds_owner(client: Any, bucket: str) -> None:
    """ListObjectsV2 with FetchOwner lists an Owner with an ID for each key."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    entry = client.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]
    assert entry["Owner"]["ID"]


def test_v2_without_fetch_owner_has_no_owner(client: Any, bucket: str) -> None:
    """ListObjectsV2 without FetchOwner lists no Owner (S3's default for V2)."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    entry = client.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert "Owner" not in entry


def test_v2_odd_keys_are_listed_verbatim(client: Any, bucket: str) -> None:
    """Keys that need escaping come back exactly from a plain ListObjectsV2."""
    fill(client, bucket, ODD_KEYS)
    assert all_keys([client.list_objects_v2(Bucket=bucket)]) == sorted(
        ODD_KEYS, key=lambda k: k.encode()
    )


def test_v2_encoding_type_url_encodes_keys(client: Any, bucket: str) -> None:
    """With EncodingType=url, each listed key is the URL encoding of the stored key."""
    fill(client, bucket, ODD_KEYS)
    page = client.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert page["EncodingType"] == "url"
    decoded = [unquote_plus(key) for key in all_keys([page])]
    assert decoded == sorted(ODD_KEYS, key=lambda k: k.encode())


@pytest.mark.parametrize("key", ["with space", "plus+sign", "a&b", "less<than", "ünï"])
def test_v2_encoding_type_url_escapes_unsafe_characters(client: Any, bucket: str, key: str) -> None:
    """With EncodingType=url, a key with a space, '+', '&', '<' or non-ASCII is sent escaped."""
    fill(client, bucket, [key])
    [listed] = all_keys([client.list_objects_v2(Bucket=bucket, EncodingType="url")])
    assert listed != key
    assert listed.isascii() and " " not in listed and "<" not in listed
    assert unquote_plus(listed) == key


def test_v2_encoding_type_url_encodes_common_prefixes(client: Any, bucket: str) -> None:
    """With EncodingType=url, CommonPrefixes are URL encoded too."""
    fill(client, bucket, ["dir with space/x"])
    page = client.list_objects_v2(Bucket=bucket, Delimiter="/", EncodingType="url")
    assert [unquote_plus(p) for p in prefixes([page])] == ["dir with space/"]
    assert " " not in prefixes([page])[0]


def test_v2_bad_encoding_type_is_invalid_argument(server: RunningServer, bucket: str) -> None:
    """An encoding-type other than url answers 400 InvalidArgument."""
    response = signed_request(server, "GET", f"/{bucket}", query="encoding-type=base64&list-type=2")
    assert response.status == 400
    assert error_fields(response.body)["Code"] == "InvalidArgument"


def test_v2_paginator_returns_every_key_once(client: Any, ordered: str) -> None:
    """The boto3 ListObjectsV2 paginator with PageSize 2 yields every key once, in order."""
    paginator = client.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket=ordered, PaginationConfig={"PageSize": 2}))
    assert all_keys(pages) == S3_ORDER


def test_v2_paginator_with_prefix_and_delimiter(client: Any, tree: str) -> None:
    """The ListObjectsV2 paginator with a delimiter yields each prefix and key once."""
    paginator = client.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket=tree, Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert (all_keys(pages), prefixes(pages)) == (["top.txt", "zz"], ["docs/", "img/"])


# --- ListObjects (V1) ----------------------------------------------------------------


def test_v1_lists_keys_in_s3_order(client: Any, ordered: str) -> None:
    """ListObjects (V1) returns keys in UTF-8 binary order."""
    assert all_keys([client.list_objects(Bucket=ordered)]) == S3_ORDER


def test_v1_entries_carry_owner(client: Any, bucket: str) -> None:
    """ListObjects (V1) lists an Owner for each key, as S3 always does in V1."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert client.list_objects(Bucket=bucket)["Contents"][0]["Owner"]["ID"]


def test_v1_prefix_and_delimiter(client: Any, tree: str) -> None:
    """ListObjects (V1) with Prefix and Delimiter lists one level and its common prefixes."""
    page = client.list_objects(Bucket=tree, Prefix="docs/", Delimiter="/")
    assert all_keys([page]) == ["docs/", "docs/a.txt", "docs/b.txt"]
    assert prefixes([page]) == ["docs/sub/"]


@pytest.mark.parametrize("max_keys", [1, 3, 5])
def test_v1_paging_with_marker_returns_every_key_once(
    client: Any, ordered: str, max_keys: int
) -> None:
    """Paging ListObjects (V1) by MaxKeys with Marker returns every key once, in order."""
    pages = walk_v1(client, ordered, MaxKeys=max_keys)
    assert all_keys(pages) == S3_ORDER


def test_v1_marker_skips_keys(client: Any, ordered: str) -> None:
    """ListObjects (V1) with Marker lists only the keys after it and echoes it."""
    page = client.list_objects(Bucket=ordered, Marker="a0")
    assert all_keys([page]) == [k for k in S3_ORDER if k.encode() > b"a0"]
    assert page["Marker"] == "a0"


def test_v1_truncated_delimited_page_has_next_marker(client: Any, tree: str) -> None:
    """A truncated ListObjects (V1) page with a delimiter carries NextMarker."""
    page = client.list_objects(Bucket=tree, Delimiter="/", MaxKeys=1)
    assert page["IsTruncated"] is True
    assert page["NextMarker"] == "docs/"


def test_v1_paging_with_next_marker_and_delimiter(client: Any, tree: str) -> None:
    """Following NextMarker through a delimited V1 listing yields each key and prefix once."""
    pages = walk_v1(client, tree, Delimiter="/", MaxKeys=1)
    assert (all_keys(pages), prefixes(pages)) == (["top.txt", "zz"], ["docs/", "img/"])


def test_v1_last_page_is_not_truncated(client: Any, ordered: str) -> None:
    """The last ListObjects (V1) page says IsTruncated false."""
    assert walk_v1(client, ordered, MaxKeys=4)[-1]["IsTruncated"] is False


def test_v1_encoding_type_url_encodes_keys(client: Any, bucket: str) -> None:
    """ListObjects (V1) with EncodingType=url lists URL-encoded keys."""
    fill(client, bucket, ODD_KEYS)
    page = client.list_objects(Bucket=bucket, EncodingType="url")
    decoded = [unquote_plus(key) for key in all_keys([page])]
    assert decoded == sorted(ODD_KEYS, key=lambda k: k.encode())
    assert not any(" " in key for key in all_keys([page]))


def test_v1_odd_keys_are_listed_verbatim(client: Any, bucket: str) -> None:
    """Keys that need escaping come back exactly from a plain ListObjects (V1)."""
    fill(client, bucket, ODD_KEYS)
    assert all_keys([client.list_objects(Bucket=bucket)]) == sorted(
        ODD_KEYS, key=lambda k: k.encode()
    )


def test_v1_paginator_returns_every_key_once(client: Any, ordered: str) -> None:
    """The boto3 ListObjects paginator with PageSize 3 yields every key once, in order."""
    paginator = client.get_paginator("list_objects")
    pages = list(paginator.paginate(Bucket=ordered, PaginationConfig={"PageSize": 3}))
    assert all_keys(pages) == S3_ORDER


# --- ListObjectVersions -------------------------------------------------------------


def test_versions_lists_every_key_once_with_null_version(client: Any, ordered: str) -> None:
    """ListObjectVersions lists each key once, in order, with VersionId 'null'."""
    versions = client.list_object_versions(Bucket=ordered)["Versions"]
    assert [v["Key"] for v in versions] == S3_ORDER
    assert {v["VersionId"] for v in versions} == {"null"}


def test_versions_are_latest(client: Any, bucket: str) -> None:
    """Every entry of ListObjectVersions is the latest version and carries its ETag and size."""
    client.put_object(Bucket=bucket, Key="k", Body=b"abc")
    [version] = client.list_object_versions(Bucket=bucket)["Versions"]
    assert (version["IsLatest"], version["Size"]) == (True, 3)
    assert version["ETag"] == client.head_object(Bucket=bucket, Key="k")["ETag"]


def test_versions_has_no_delete_markers(client: Any, bucket: str) -> None:
    """ListObjectVersions of a never-versioned bucket lists no DeleteMarkers."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    client.delete_object(Bucket=bucket, Key="gone")
    assert "DeleteMarkers" not in client.list_object_versions(Bucket=bucket)


def test_versions_with_prefix(client: Any, tree: str) -> None:
    """ListObjectVersions with Prefix lists only the matching keys."""
    versions = client.list_object_versions(Bucket=tree, Prefix="img/")["Versions"]
    assert [v["Key"] for v in versions] == ["img/x.png"]


def test_versions_paginator_returns_every_key_once(client: Any, ordered: str) -> None:
    """The ListObjectVersions paginator with PageSize 4 yields every key once, in order."""
    paginator = client.get_paginator("list_object_versions")
    pages = list(paginator.paginate(Bucket=ordered, PaginationConfig={"PageSize": 4}))
    assert [v["Key"] for page in pages for v in page.get("Versions", [])] == S3_ORDER


def test_versions_then_delete_objects_empties_the_bucket(s3: Any, fresh_bucket: str) -> None:
    """Deleting what ListObjectVersions lists, VersionId 'null' included, empties the bucket."""
    s3.create_bucket(Bucket=fresh_bucket)
    fill(s3, fresh_bucket, ["one", "dir/", "dir/two", "dir/sub/three"])
    versions = s3.list_object_versions(Bucket=fresh_bucket)["Versions"]
    s3.delete_objects(
        Bucket=fresh_bucket,
        Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]},
    )
    s3.delete_bucket(Bucket=fresh_bucket)
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=fresh_bucket)


def test_delete_object_with_null_version_id(client: Any, bucket: str) -> None:
    """DeleteObject with VersionId 'null' deletes the object of a never-versioned bucket."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    client.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_boto3_resource_empties_bucket_through_versions(
    server: RunningServer, fresh_bucket: str
) -> None:
    """boto3's Bucket.object_versions.delete() (how test suites clean up) empties the bucket."""
    resource = boto3_resource(server)
    bucket = resource.create_bucket(Bucket=fresh_bucket)
    for key in ["a", "b/c", "b/"]:
        bucket.put_object(Key=key, Body=b"" if key.endswith("/") else b"x")
    bucket.object_versions.delete()
    bucket.delete()
    assert fresh_bucket not in [b.name for b in resource.buckets.all()]


# --- Files dropped in by hand ---------------------------------------------------------


@pytest.fixture
def hand_dropped(client: Any, server: RunningServer, bucket: str) -> dict[str, Any]:
    """A bucket with 'hand.txt' and 'sub/dir/deep.txt' written straight to disk."""
    root = server.data_dir / bucket
    files = {"hand.txt": b"written by hand\n", "sub/dir/deep.txt": b"deeper\n"}
    for key, body in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        os.utime(path, (HAND_MTIME.timestamp(), HAND_MTIME.timestamp()))
    return {"bucket": bucket, "files": files}


def test_hand_dropped_files_are_listed(client: Any, hand_dropped: dict[str, Any]) -> None:
    """Files written into a bucket directory by hand are listed as keys with their sizes."""
    contents = client.list_objects_v2(Bucket=hand_dropped["bucket"])["Contents"]
    listed = {o["Key"]: o["Size"] for o in contents}
    assert listed == {key: len(body) for key, body in hand_dropped["files"].items()}


def test_hand_dropped_file_last_modified_is_mtime(
    client: Any, hand_dropped: dict[str, Any]
) -> None:
    """A hand-dropped file is listed with its mtime as LastModified."""
    contents = client.list_objects_v2(Bucket=hand_dropped["bucket"])["Contents"]
    assert {o["LastModified"] for o in contents} == {HAND_MTIME}


def test_hand_dropped_file_is_served(client: Any, hand_dropped: dict[str, Any]) -> None:
    """GetObject of a hand-dropped file serves its bytes, length and mtime."""
    response = client.get_object(Bucket=hand_dropped["bucket"], Key="sub/dir/deep.txt")
    assert response["Body"].read() == b"deeper\n"
    assert response["ContentLength"] == 7
    assert response["LastModified"] == HAND_MTIME


def test_hand_dropped_file_head_has_an_etag(client: Any, hand_dropped: dict[str, Any]) -> None:
    """HeadObject of a hand-dropped file answers a quoted ETag."""
    etag = client.head_object(Bucket=hand_dropped["bucket"], Key="hand.txt")["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2


def test_hand_dropped_directory_is_a_common_prefix(
    client: Any, hand_dropped: dict[str, Any]
) -> None:
    """A directory made by hand is a common prefix in a delimited listing."""
    page = client.list_objects_v2(Bucket=hand_dropped["bucket"], Delimiter="/")
    assert (all_keys([page]), prefixes([page])) == (["hand.txt"], ["sub/"])


def test_hand_made_bucket_is_listed(client: Any, server: RunningServer, fresh_bucket: str) -> None:
    """A directory created by hand in the data directory is listed as a bucket."""
    (server.data_dir / fresh_bucket).mkdir()
    (server.data_dir / fresh_bucket / "f").write_bytes(b"x")
    assert fresh_bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert all_keys([client.list_objects_v2(Bucket=fresh_bucket)]) == ["f"]


def test_sidecar_directory_is_not_listed(client: Any, bucket: str) -> None:
    """Objects with metadata never expose the '.nanio-meta' sidecar directory in listings."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"a": "b"})
    page = client.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert (all_keys([page]), prefixes([page])) == (["k"], [])
