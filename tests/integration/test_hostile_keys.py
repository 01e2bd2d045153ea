"""
Hostile keys, symlinks and file/directory clashes against a real server.

Every key here goes out byte for byte (``signed_request`` puts the raw path
on the wire; the signature covers its canonical form, as a well-behaved
client's would, so that the key check is what answers).  Each one must
either be refused with the 4xx S3 error the table names, or be stored as a
plain name inside its bucket: never a 500, and nothing may appear anywhere
outside ``<data>/<bucket>/`` (the tree around the data directory is walked
before and after, and compared).

Symlinks are planted by hand in the data directory of a server of the
module's own: a bucket that is a symlink, a "directory" inside a bucket that
is one, a symlinked object file, a symlinked sidecar, a symlinked sidecar
tree and a symlinked multipart upload.  Requests through them answer
NoSuchBucket, NoSuchKey, NoSuchUpload or a 409, and the files they point at
stay exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes
from xml.etree import ElementTree

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.clients import (
    S3_XMLNS,
    RawResponse,
    error_code,
    error_fields,
    host_header,
    http_status,
    signed_request,
)
from tests.support.procs import connect, own_server, read_response_head, wait_for_no_temp_files
from tests.support.server import REGION, RunningServer, make_boto3_client

MIB = 1024 * 1024
SECRET = b"top secret: outside the data directory\n"
#: What nanio may add to its own area while serving any request: lock
#: stripes, and the multipart directory on first use.
OWN_AREA = re.compile(r"[^/]+/\.nanio/(?:locks/[kb]-[0-9a-f]{2}|multipart)")

Snapshot = dict[str, tuple[str, int, object]]


# -- helpers ----------------------------------------------------------------------


def canonical(raw_path: str) -> str:
    """A raw path's SigV4 canonical form: decoded once, encoded once (S3's UriEncode)."""
    return quote(unquote_to_bytes(raw_path), safe="/")


def send(server: RunningServer, method: str, raw_path: str, **options: Any) -> RawResponse:
    """Send ``raw_path`` exactly as given, signed over its canonical form (``signed_request``)."""
    return signed_request(server, method, raw_path, signed_path=canonical(raw_path), **options)


def code_of(response: RawResponse) -> str:
    """The S3 error code of an error response."""
    return error_fields(response.body)["Code"]


def snapshot(root: Path, skip: Path | None = None) -> Snapshot:
    """Everything under ``root`` (``skip`` aside): path -> (kind, size, mtime, link or digest)."""
    seen: Snapshot = {}
    for directory, dirs, files in os.walk(root, followlinks=False):
        here = Path(directory)
        dirs[:] = [name for name in dirs if here / name != skip]
        for name in [*dirs, *files]:
            path = here / name
            rel = str(path.relative_to(root))
            st = path.lstat()
            if path.is_symlink():
                seen[rel] = ("link", 0, os.readlink(path))
            elif path.is_dir():
                seen[rel] = ("dir", 0, st.st_mode)
            else:
                seen[rel] = ("file", st.st_size, st.st_mtime_ns)
    return seen


def contents(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every symlink's target under ``root``."""
    found: dict[str, bytes | str] = {}
    for directory, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = os.readlink(path)
            elif path.is_file():
                found[rel] = path.read_bytes()
    return found


def changed(before: Snapshot, after: Snapshot, log_name: str) -> list[str]:
    """The paths that differ between two snapshots, nanio's own area and the log aside."""
    return sorted(
        name
        for name in before.keys() | after.keys()
        if before.get(name) != after.get(name)
        and name != log_name
        and OWN_AREA.fullmatch(name) is None
    )


#: Checks, at the end of a test, that the server touched nothing it should not have.
Confined = Callable[[], None]


def watch(server: RunningServer, allowed: Path | None) -> Confined:
    """A check that nothing changed around the data directory but ``allowed``, if given.

    It also fails on any unhandled error the server logged meanwhile.
    """
    root = server.data_dir.parent
    before = snapshot(root, allowed)
    log_start = len(server.log_text())

    def check() -> None:
        wait_for_no_temp_files(server.data_dir)
        assert changed(before, snapshot(root, allowed), server.log_path.name) == []
        assert "Unhandled error" not in server.log_text()[log_start:]

    return check


@pytest.fixture
def confined(server: RunningServer, bucket: str) -> Confined:
    """A check that nothing changed outside ``<data>/<bucket>/``."""
    return watch(server, server.data_dir / bucket)


@pytest.fixture(scope="module")
def target(client: Any) -> str:
    """A bucket, shared by this module's refusals, holding the object 'source'."""
    name = f"hostile-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="source", Body=b"copied?")
    return name


@pytest.fixture
def untouched(server: RunningServer, target: str) -> Confined:
    """A check that nothing at all changed in or around the data directory."""
    return watch(server, None)


def bucket_files(server: RunningServer, bucket: str) -> list[str]:
    """Every file and directory in a bucket, its sidecar tree included."""
    return sorted(snapshot(server.data_dir / bucket))


# -- the hostile keys ---------------------------------------------------------------

#: (raw path below "/<bucket>/", the S3 code answered).  Every one is a 400.
HOSTILE: list[tuple[str, str]] = [
    ("..", "InvalidArgument"),
    ("../x", "InvalidArgument"),
    ("../../outside", "InvalidArgument"),
    ("a/../b", "InvalidArgument"),
    ("a/..", "InvalidArgument"),
    (".", "InvalidArgument"),
    ("./a", "InvalidArgument"),
    ("a/./b", "InvalidArgument"),
    ("a/.", "InvalidArgument"),
    ("a//b", "InvalidArgument"),
    ("a/b//", "InvalidArgument"),
    ("/a", "InvalidArgument"),  # the path "/<bucket>//a": the key "/a"
    ("//etc/passwd", "InvalidArgument"),
    ("%2e%2e/x", "InvalidArgument"),
    ("%2E%2E%2Fx", "InvalidArgument"),
    ("a%2F..%2F..%2Fb", "InvalidArgument"),
    ("%2e", "InvalidArgument"),
    ("%2Fa", "InvalidArgument"),
    ("%00", "InvalidArgument"),
    ("a%00b", "InvalidArgument"),
    ("%01", "InvalidArgument"),
    ("a%1Fb", "InvalidArgument"),
    ("%7F", "InvalidArgument"),
    ("a%09b", "InvalidArgument"),
    ("a%0Ab", "InvalidArgument"),
    ("a%0D%0Ab", "InvalidArgument"),
    ("%EF%BF%BE", "InvalidArgument"),
    (".nanio", "InvalidArgument"),
    (".nanio/tmp/x", "InvalidArgument"),
    (".nanio-meta", "InvalidArgument"),
    (".nanio-meta/x.json", "InvalidArgument"),
    (".nanio-metadata", "InvalidArgument"),
    ("%2Enanio-meta/k.json", "InvalidArgument"),
    ("k" * 1025, "KeyTooLongError"),
    ("%C3%A9" * 513, "KeyTooLongError"),
    ("s" * 251, "KeyTooLongError"),
    ("s" * 256, "KeyTooLongError"),
    ("a/" + "s" * 256, "KeyTooLongError"),
    ("%FF", "InvalidURI"),
    ("a%C0%AE%C0%AE/x", "InvalidURI"),  # ".." spelled as overlong UTF-8
    ("%ED%A0%80", "InvalidURI"),  # a UTF-16 surrogate spelled in UTF-8
]
HOSTILE_IDS = [raw[:24] for raw, _ in HOSTILE]


def decoded(raw: str) -> str | None:
    """The key a raw path spells, or None when it is not UTF-8."""
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


#: Every request that names an object key, as ``send(server, path, target)`` for the
#: raw path ``path`` of a key in the bucket ``target``.
KEYED_REQUESTS: dict[str, Callable[[RunningServer, str, str], RawResponse]] = {
    "PutObject": lambda server, path, target: send(server, "PUT", path, body=b"hostile"),
    "GetObject": lambda server, path, target: send(server, "GET", path),
    "DeleteObject": lambda server, path, target: send(server, "DELETE", path),
    "CopyObject": lambda server, path, target: send(
        server, "PUT", path, headers={"x-amz-copy-source": f"/{target}/source"}
    ),
    "CreateMultipartUpload": lambda server, path, target: send(
        server, "POST", path, query="uploads="
    ),
    # The key is refused before the upload is looked for.
    "UploadPart": lambda server, path, target: send(
        server, "PUT", path, query="partNumber=1&uploadId=" + "0" * 32, body=b"part"
    ),
}


@pytest.mark.parametrize("request_for", KEYED_REQUESTS.values(), ids=KEYED_REQUESTS.keys())
@pytest.mark.parametrize(("raw", "code"), HOSTILE, ids=HOSTILE_IDS)
def test_hostile_key_is_refused(
    server: RunningServer,
    target: str,
    untouched: Confined,
    raw: str,
    code: str,
    request_for: Callable[[RunningServer, str, str], RawResponse],
) -> None:
    """A request naming a hostile key is a 400 with its S3 code and changes nothing anywhere."""
    response = request_for(server, f"/{target}/{raw}", target)
    assert (response.status, code_of(response)) == (400, code)
    untouched()


@pytest.mark.parametrize(("raw", "code"), HOSTILE, ids=HOSTILE_IDS)
def test_hostile_head_is_refused(
    server: RunningServer, target: str, untouched: Confined, raw: str, code: str
) -> None:
    """A HeadObject of a hostile key is a bodiless 400."""
    response = send(server, "HEAD", f"/{target}/{raw}")
    assert (response.status, response.body) == (400, b"")
    untouched()


@pytest.mark.parametrize(("raw", "code"), HOSTILE, ids=HOSTILE_IDS)
def test_hostile_copy_source_is_invalid_argument(
    server: RunningServer, target: str, untouched: Confined, raw: str, code: str
) -> None:
    """A CopyObject from a hostile source key is 400 InvalidArgument, whatever is wrong with it."""
    response = send(
        server, "PUT", f"/{target}/copy", headers={"x-amz-copy-source": f"/{target}/{raw}"}
    )
    assert (response.status, code_of(response)) == (400, "InvalidArgument")
    untouched()


def xml_text(key: str) -> str:
    """``key`` as XML character data, control characters as character references."""
    escaped = key.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(f"&#{ord(c)};" if ord(c) < 0x20 else c for c in escaped)


def xml_can_carry(key: str) -> bool:
    """Whether XML 1.0 can spell ``key`` at all (it has no NUL, most C0 controls, U+FFFE)."""
    return all(c in "\t\n\r" or 0x20 <= ord(c) < 0xFFFE for c in key)


DELETABLE = [
    (key, code)
    for raw, code in HOSTILE
    if (key := decoded(raw)) is not None and xml_can_carry(key) and "\r" not in key
]


def test_delete_objects_answers_each_hostile_key_with_its_code(
    server: RunningServer, client: Any, bucket: str, confined: Confined
) -> None:
    """DeleteObjects reports every hostile key as an Error with its code; the good key goes."""
    client.put_object(Bucket=bucket, Key="good", Body=b"x")
    objects = "".join(f"<Object><Key>{xml_text(key)}</Key></Object>" for key, _ in DELETABLE)
    document = f"<Delete>{objects}<Object><Key>good</Key></Object></Delete>".encode()
    response = send(server, "POST", f"/{bucket}", query="delete=", body=document)
    assert response.status == 200
    root = ElementTree.fromstring(response.body)
    deleted = [e.findtext(f"{S3_XMLNS}Key") for e in root.iter(f"{S3_XMLNS}Deleted")]
    codes = [e.findtext(f"{S3_XMLNS}Code") for e in root.iter(f"{S3_XMLNS}Error")]
    assert (deleted, codes) == (["good"], [code for _, code in DELETABLE])
    assert bucket_files(server, bucket) == [".nanio-meta"]
    confined()


@pytest.mark.parametrize("character", ["&#0;", "&#1;", "&#xFFFE;"], ids=["nul", "soh", "fffe"])
def test_delete_objects_with_a_key_xml_cannot_carry_is_malformed(
    server: RunningServer, client: Any, bucket: str, confined: Confined, character: str
) -> None:
    """A Delete document naming a key with a character XML 1.0 forbids is MalformedXML."""
    client.put_object(Bucket=bucket, Key="good", Body=b"x")
    document = (
        f"<Delete><Object><Key>good</Key></Object><Object><Key>a{character}</Key></Object></Delete>"
    ).encode()
    response = send(server, "POST", f"/{bucket}", query="delete=", body=document)
    assert (response.status, code_of(response)) == (400, "MalformedXML")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    confined()


#: Raw query values for the listing parameters: none may list anything but stored keys.
HOSTILE_LIST_VALUES = [
    "..",
    "..%2F",
    "..%2F..%2F",
    "%2F",
    "%2F%2F",
    "a%2F..%2F",
    "a%2F%2F",
    ".%2F",
    ".nanio-meta",
    ".nanio-meta%2F",
    ".nanio-meta%2Fa%2F",
    ".nanio%2F",
    "%00",
    "a%00",
    "%7F",
    "%EF%BF%BF",
    "%F4%8F%BF%BF",
]
LISTING_PARAMETERS = [
    ("list-type=2&prefix=", "Contents"),
    ("prefix=", "Contents"),
    ("list-type=2&start-after=", "Contents"),
    ("marker=", "Contents"),
    ("versions=&key-marker=", "Version"),
    ("versions=&prefix=", "Version"),
    ("list-type=2&delimiter=", "Contents"),
    ("uploads=&prefix=", "Upload"),
    ("uploads=&key-marker=", "Upload"),
]


@pytest.fixture(scope="module")
def listed_bucket(client: Any) -> str:
    """A bucket holding 'a/b' and 'k' (with sidecars) and an upload of 'u'."""
    name = f"listed-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="a/b", Body=b"ab", Metadata={"m": "1"})
    client.put_object(Bucket=name, Key="k", Body=b"k")
    client.create_multipart_upload(Bucket=name, Key="u")
    return name


@pytest.mark.parametrize("value", HOSTILE_LIST_VALUES)
@pytest.mark.parametrize(
    ("parameter", "entry"),
    LISTING_PARAMETERS,
    ids=[
        "v2-prefix",
        "v1-prefix",
        "v2-start-after",
        "v1-marker",
        "versions-key-marker",
        "versions-prefix",
        "v2-delimiter",
        "uploads-prefix",
        "uploads-key-marker",
    ],
)
def test_hostile_listing_parameter_lists_only_stored_keys(
    server: RunningServer,
    listed_bucket: str,
    untouched: Confined,
    parameter: str,
    entry: str,
    value: str,
) -> None:
    """A hostile prefix, marker, start-after or delimiter lists stored keys only, never files."""
    response = send(server, "GET", f"/{listed_bucket}", query=parameter + value)
    assert response.status == 200, response.body
    root = ElementTree.fromstring(response.body)
    keys = {e.findtext(f"{S3_XMLNS}Key") for e in root.iter(f"{S3_XMLNS}{entry}")}
    common = {e.findtext(f"{S3_XMLNS}Prefix") for e in root.iter(f"{S3_XMLNS}CommonPrefixes")}
    assert keys <= {"a/b", "k", "u"}
    assert common <= {"a/"}
    untouched()


@pytest.mark.parametrize(
    "parameter", ["prefix", "marker", "start-after", "delimiter", "continuation-token"]
)
def test_listing_parameter_that_is_not_utf8_is_invalid_argument(
    server: RunningServer, listed_bucket: str, untouched: Confined, parameter: str
) -> None:
    """A listing parameter that is not UTF-8 answers 400 InvalidArgument."""
    response = send(server, "GET", f"/{listed_bucket}", query=f"list-type=2&{parameter}=%FF")
    assert (response.status, code_of(response)) == (400, "InvalidArgument")
    untouched()


# -- hostile bucket names -------------------------------------------------------------

#: Raw bucket names that must never become a directory, and what creating them answers.
HOSTILE_BUCKETS = [
    ("..", "InvalidBucketName"),
    (".", "InvalidBucketName"),
    ("%2e%2e", "InvalidBucketName"),
    (".nanio", "InvalidBucketName"),
    ("%2Enanio", "InvalidBucketName"),
    ("nanio%00x", "InvalidBucketName"),
    ("UPPER-case", "InvalidBucketName"),
    ("b" * 64, "InvalidBucketName"),
    ("%FF%FE%FD", "InvalidURI"),
]


@pytest.mark.parametrize(("raw", "code"), HOSTILE_BUCKETS, ids=[r for r, _ in HOSTILE_BUCKETS])
def test_hostile_bucket_name_is_never_created(
    server: RunningServer, target: str, untouched: Confined, raw: str, code: str
) -> None:
    """CreateBucket of a name that could escape or clash is a 400, and no directory appears."""
    response = send(server, "PUT", f"/{raw}")
    assert (response.status, code_of(response)) == (400, code)
    untouched()


@pytest.mark.parametrize("raw", ["..", "%2e%2e", ".nanio", ".nanio%2Ftmp"])
def test_object_in_a_hostile_bucket_is_no_such_bucket(
    server: RunningServer, target: str, untouched: Confined, raw: str
) -> None:
    """A PutObject into '..' or '.nanio' is 404 NoSuchBucket before its body; nothing is written."""
    response = send(server, "PUT", f"/{raw}/k", body=b"escaped?")
    assert (response.status, code_of(response)) == (404, "NoSuchBucket")
    untouched()


# -- keys that look hostile and are plain names ---------------------------------------

#: (raw path below "/<bucket>/", the key it names).  Each is stored as a plain name.
PLAIN: list[tuple[str, str]] = [
    ("a%5Cb", "a\\b"),
    ("a\\b", "a\\b"),
    ("..%5C..%5Cescape", "..\\..\\escape"),
    ("%5C..%5Cx", "\\..\\x"),
    ("C:%5Cwindows", "C:\\windows"),
    ("a/.nanio", "a/.nanio"),
    ("a/.nanio-meta/x.json", "a/.nanio-meta/x.json"),
    ("...", "..."),
    ("..a", "..a"),
    ("a..", "a.."),
    ("a/...b/c", "a/...b/c"),
    (".hidden", ".hidden"),
    ("a/.hidden", "a/.hidden"),
    ("~", "~"),
    ("$HOME", "$HOME"),
    ("%EF%BC%8E%EF%BC%8E/x", "\uff0e\uff0e/x"),  # full-width dots are not dots
    ("a%2Fb", "a/b"),
    ("s" * 250, "s" * 250),
    ("%C3%A9" * 125, "\u00e9" * 125),
    ("a.json", "a.json"),
    (".json", ".json"),
]
PLAIN_IDS = [raw[:24] for raw, _ in PLAIN]


@pytest.mark.parametrize(("raw", "key"), PLAIN, ids=PLAIN_IDS)
def test_odd_but_valid_key_is_a_plain_file_in_its_bucket(
    server: RunningServer, client: Any, bucket: str, confined: Confined, raw: str, key: str
) -> None:
    """A key with backslashes, inner dots or '.nanio' segments is one file at its own path."""
    body = f"the object {key!r}".encode()
    assert send(server, "PUT", f"/{bucket}/{raw}", body=body).status == 200
    assert send(server, "GET", f"/{bucket}/{raw}").body == body
    assert (server.data_dir / bucket / key).read_bytes() == body
    listed = client.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    assert send(server, "DELETE", f"/{bucket}/{raw}").status == 204
    assert bucket_files(server, bucket) == [".nanio-meta"]
    confined()


@pytest.mark.parametrize("raw_byte", [b"\x01", b"\x7f", b"\x1b"], ids=["soh", "del", "esc"])
def test_control_byte_sent_raw_in_the_path_is_refused(
    server: RunningServer, bucket: str, confined: Confined, raw_byte: bytes
) -> None:
    """A control byte sent unencoded in the request line gets a 400, and nothing is stored."""
    raw_path = f"/{bucket}/a".encode() + raw_byte + b"b"
    request = AWSRequest(
        method="PUT",
        url=server.endpoint_url + canonical(raw_path.decode("latin-1")),
        data=b"x",
        headers={"Host": host_header(server)},
    )
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(b"x").hexdigest()
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(request)
    head = b"PUT " + raw_path + b" HTTP/1.1\r\n"
    head += b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in request.headers.items())
    with connect(server) as sock:
        sock.sendall(head + b"Content-Length: 1\r\n\r\nx")
        status, _, _ = read_response_head(sock)
    assert status == 400
    assert bucket_files(server, bucket) == [".nanio-meta"]
    confined()


# -- a file and a directory of one name -------------------------------------------------


def put(client: Any, bucket: str, key: str, body: bytes = b"x") -> None:
    client.put_object(Bucket=bucket, Key=key, Body=body)


def body_of(client: Any, bucket: str, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def assert_key_conflict(caught: pytest.ExceptionInfo[ClientError]) -> None:
    assert (http_status(caught.value.response), error_code(caught.value)) == (409, "KeyConflict")


#: (the key stored first, the key that then cannot be stored beside it).
CLASHES = [
    ("a", "a/b"),
    ("a/b", "a"),
    ("a", "a/"),
    ("a/", "a"),
    ("a", "a/b/c/d"),
    ("x/y/z", "x/y"),
    # A sidecar clash, nanio's own: the sidecar of "a" is ".nanio-meta/a.json",
    # and "a.json/b" needs ".nanio-meta/a.json/" to be a directory.
    ("a", "a.json/b"),
    ("a.json/b", "a"),
    ("a", "a.json/"),
]
CLASH_IDS = [f"{first}-then-{second}" for first, second in CLASHES]


@pytest.mark.parametrize(("first", "second"), CLASHES, ids=CLASH_IDS)
def test_put_of_a_clashing_key_is_key_conflict(
    client: Any, bucket: str, confined: Confined, first: str, second: str
) -> None:
    """PutObject of a key that needs a file where a directory is (or the reverse) is 409."""
    put(client, bucket, first, b"" if first.endswith("/") else b"first")
    with pytest.raises(ClientError) as caught:
        put(client, bucket, second, b"")
    assert_key_conflict(caught)
    assert body_of(client, bucket, first) == (b"" if first.endswith("/") else b"first")
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == [first]
    confined()


@pytest.mark.parametrize(("first", "second"), CLASHES, ids=CLASH_IDS)
def test_copy_onto_a_clashing_key_is_key_conflict(
    client: Any, bucket: str, confined: Confined, first: str, second: str
) -> None:
    """CopyObject onto a clashing key is 409 KeyConflict and leaves the first key intact."""
    put(client, bucket, first, b"")
    put(client, bucket, "zz-source", b"")
    with pytest.raises(ClientError) as caught:
        client.copy_object(
            Bucket=bucket, Key=second, CopySource={"Bucket": bucket, "Key": "zz-source"}
        )
    assert_key_conflict(caught)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [first, "zz-source"]
    confined()


@pytest.mark.parametrize(
    ("first", "second"),
    [(f, s) for f, s in CLASHES if not s.endswith("/")],
    ids=[i for i, (_, s) in zip(CLASH_IDS, CLASHES, strict=True) if not s.endswith("/")],
)
def test_complete_onto_a_clashing_key_is_key_conflict(
    client: Any, bucket: str, confined: Confined, first: str, second: str
) -> None:
    """CompleteMultipartUpload onto a clashing key is 409 KeyConflict; the upload stays."""
    put(client, bucket, first, b"")
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=second)["UploadId"]
    etag = client.upload_part(
        Bucket=bucket, Key=second, UploadId=upload_id, PartNumber=1, Body=b"part"
    )["ETag"]
    with pytest.raises(ClientError) as caught:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=second,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    assert_key_conflict(caught)
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == [first]
    parts = client.list_parts(Bucket=bucket, Key=second, UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]
    client.abort_multipart_upload(Bucket=bucket, Key=second, UploadId=upload_id)
    confined()


@pytest.mark.parametrize(
    ("stored", "key"),
    [("a", "a/b"), ("a", "a/"), ("a", "a/b/c"), ("a/b", "a")],
    ids=["below-an-object", "marker-of-an-object", "deep-below-an-object", "prefix-as-an-object"],
)
def test_reading_across_a_file_and_a_directory_is_no_such_key(
    client: Any, bucket: str, stored: str, key: str
) -> None:
    """GetObject below an object ('a/b' of 'a') or of a prefix ('a' of 'a/b') is 404 NoSuchKey."""
    put(client, bucket, stored)
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=bucket, Key=key)
    assert (http_status(caught.value.response), error_code(caught.value)) == (404, "NoSuchKey")


def test_deleting_below_an_object_deletes_nothing(client: Any, bucket: str) -> None:
    """With 'a' an object, DeleteObject of 'a/b' answers 204 and 'a' stays."""
    put(client, bucket, "a", b"kept")
    assert http_status(client.delete_object(Bucket=bucket, Key="a/b")) == 204
    assert body_of(client, bucket, "a") == b"kept"


def test_listing_below_an_object_is_empty(client: Any, bucket: str) -> None:
    """With 'a' an object, listing the prefix 'a/' finds nothing."""
    put(client, bucket, "a")
    assert client.list_objects_v2(Bucket=bucket, Prefix="a/")["KeyCount"] == 0


def test_clash_goes_away_with_the_key_that_caused_it(client: Any, bucket: str) -> None:
    """Once 'a/b' is deleted, 'a' can be stored: the empty directory left behind is no obstacle."""
    put(client, bucket, "a/b")
    client.delete_object(Bucket=bucket, Key="a/b")
    put(client, bucket, "a", b"now a file")
    assert body_of(client, bucket, "a") == b"now a file"


# -- symlinks planted in the data directory -----------------------------------------------


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of this module's own: its data directory gets symlinks planted by hand."""
    with own_server(tmp_path_factory.mktemp("hostile-symlinks")) as running:
        yield running


@pytest.fixture(scope="module")
def own_client(own: RunningServer) -> Any:
    return make_boto3_client(own)


class Outside:
    """A directory outside the data directory, full of things worth stealing or breaking."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sealed: dict[str, bytes | str] = {}

    def seal(self) -> None:
        """Take what is there now as what must still be there at the end."""
        self._sealed = contents(self.path)

    def unchanged(self) -> bool:
        """Whether every file and symlink is still as sealed, and nothing was added."""
        return contents(self.path) == self._sealed


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Outside]:
    """An outside directory with a secret file and a subdirectory; it must not change."""
    outside = Outside(tmp_path / "elsewhere")
    (outside.path / "sub").mkdir(parents=True)
    (outside.path / "secret.txt").write_bytes(SECRET)
    (outside.path / "sub" / "x").write_bytes(SECRET)
    outside.seal()
    yield outside
    assert outside.unchanged()


@pytest.fixture
def own_bucket(own_client: Any) -> str:
    name = f"links-{uuid.uuid4().hex[:16]}"
    own_client.create_bucket(Bucket=name)
    return name


#: (method, path below the symlinked bucket, query, extra headers, status, code).
THROUGH_BUCKET_LINK = [
    ("GET", "/secret.txt", "", {}, 404, "NoSuchBucket"),
    ("HEAD", "/secret.txt", "", {}, 404, None),
    ("PUT", "/planted", "", {}, 404, "NoSuchBucket"),
    ("DELETE", "/secret.txt", "", {}, 404, "NoSuchBucket"),
    ("GET", "", "list-type=2", {}, 404, "NoSuchBucket"),
    ("HEAD", "", "", {}, 404, None),
    ("DELETE", "", "", {}, 404, "NoSuchBucket"),
    ("PUT", "", "", {}, 409, "BucketAlreadyExists"),
    ("POST", "/planted", "uploads=", {}, 404, "NoSuchBucket"),
    ("POST", "", "delete=", {}, 404, "NoSuchBucket"),
]


@pytest.mark.parametrize(
    ("method", "below", "query", "headers", "status", "code"),
    THROUGH_BUCKET_LINK,
    ids=[f"{m}{b or '-bucket'}?{q}" for m, b, q, *_ in THROUGH_BUCKET_LINK],
)
def test_symlinked_bucket_is_no_bucket(
    own: RunningServer,
    elsewhere: Outside,
    method: str,
    below: str,
    query: str,
    headers: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    """A bucket directory that is a symlink is never used: NoSuchBucket, or taken on create."""
    name = f"linked-{uuid.uuid4().hex[:16]}"
    (own.data_dir / name).symlink_to(elsewhere.path)
    body = b"<Delete><Object><Key>secret.txt</Key></Object></Delete>" if query == "delete=" else b""
    response = send(own, method, f"/{name}{below}", query=query, headers=headers, body=body)
    assert response.status == status
    if code is not None:
        assert code_of(response) == code
    assert (own.data_dir / name).is_symlink()


def test_symlinked_bucket_is_not_listed(
    own: RunningServer, own_client: Any, elsewhere: Outside
) -> None:
    """ListBuckets leaves out a symlink at the top of the data directory."""
    name = f"linked-{uuid.uuid4().hex[:16]}"
    (own.data_dir / name).symlink_to(elsewhere.path)
    assert name not in [b["Name"] for b in own_client.list_buckets()["Buckets"]]


@pytest.fixture
def linked_dir(own: RunningServer, own_bucket: str, elsewhere: Outside) -> str:
    """A bucket whose "directory" 'd' is a symlink to the outside directory."""
    (own.data_dir / own_bucket / "d").symlink_to(elsewhere.path)
    return own_bucket


def test_get_through_a_symlinked_directory_is_no_such_key(
    own: RunningServer, linked_dir: str
) -> None:
    """GetObject of 'd/secret.txt' through a symlinked 'd' is 404 NoSuchKey."""
    response = send(own, "GET", f"/{linked_dir}/d/secret.txt")
    assert (response.status, code_of(response)) == (404, "NoSuchKey")


def test_a_directory_turned_symlink_after_a_read_is_no_such_key(
    own: RunningServer, own_client: Any, own_bucket: str
) -> None:
    """A key read once (its sidecar now cached), then its directory renamed and linked back.

    The file and its sidecar are the very ones read before, and the link
    stays inside the bucket: only the path to the file has a symlink in it
    now, and that is refused, by the one openat2 of a cached read as by the
    walk.
    """
    own_client.put_object(Bucket=own_bucket, Key="d/k", Body=b"cached")
    assert own_client.get_object(Bucket=own_bucket, Key="d/k")["Body"].read() == b"cached"
    bucket_dir = own.data_dir / own_bucket
    (bucket_dir / "d").rename(bucket_dir / "e")
    (bucket_dir / "d").symlink_to("e")
    response = send(own, "GET", f"/{own_bucket}/d/k")
    assert (response.status, code_of(response)) == (404, "NoSuchKey")
    assert send(own, "HEAD", f"/{own_bucket}/d/k").status == 404
    assert own_client.get_object(Bucket=own_bucket, Key="e/k")["Body"].read() == b"cached"


def test_put_through_a_symlinked_directory_is_refused(
    own: RunningServer, linked_dir: str, elsewhere: Outside
) -> None:
    """PutObject of 'd/planted' through a symlinked 'd' is 409 and writes nothing there."""
    response = send(own, "PUT", f"/{linked_dir}/d/planted", body=b"planted")
    assert (response.status, code_of(response)) == (409, "KeyConflict")
    assert "symbolic link" in error_fields(response.body)["Message"]
    assert not (elsewhere.path / "planted").exists()


def test_put_over_a_symlinked_directory_is_refused(
    own: RunningServer, linked_dir: str, elsewhere: Outside
) -> None:
    """PutObject of 'd/sub/x' (an existing file out there) is 409; the file is untouched."""
    response = send(own, "PUT", f"/{linked_dir}/d/sub/x", body=b"overwritten")
    assert (response.status, code_of(response)) == (409, "KeyConflict")


def test_delete_through_a_symlinked_directory_removes_nothing(
    own: RunningServer, linked_dir: str, elsewhere: Outside
) -> None:
    """DeleteObject of 'd/secret.txt' answers 204 (no such key) and the file stays."""
    response = send(own, "DELETE", f"/{linked_dir}/d/secret.txt")
    assert response.status == 204
    assert (elsewhere.path / "secret.txt").read_bytes() == SECRET


def test_delete_objects_through_a_symlinked_directory_removes_nothing(
    own: RunningServer, own_client: Any, linked_dir: str, elsewhere: Outside
) -> None:
    """DeleteObjects of 'd/secret.txt' and 'd/sub/x' removes neither file."""
    own_client.delete_objects(
        Bucket=linked_dir, Delete={"Objects": [{"Key": "d/secret.txt"}, {"Key": "d/sub/x"}]}
    )
    assert (elsewhere.path / "secret.txt").exists()
    assert (elsewhere.path / "sub" / "x").exists()


def test_list_does_not_enter_a_symlinked_directory(own_client: Any, linked_dir: str) -> None:
    """ListObjectsV2 shows nothing of a symlinked 'd', with or without the prefix 'd/'."""
    assert own_client.list_objects_v2(Bucket=linked_dir)["KeyCount"] == 0
    assert own_client.list_objects_v2(Bucket=linked_dir, Prefix="d/")["KeyCount"] == 0
    listed = own_client.list_objects_v2(Bucket=linked_dir, Delimiter="/")
    assert "CommonPrefixes" not in listed


def test_copy_from_a_symlinked_directory_is_no_such_key(own_client: Any, linked_dir: str) -> None:
    """CopyObject from 'd/secret.txt' through a symlinked 'd' is NoSuchKey."""
    with pytest.raises(ClientError) as caught:
        own_client.copy_object(
            Bucket=linked_dir,
            Key="stolen",
            CopySource={"Bucket": linked_dir, "Key": "d/secret.txt"},
        )
    assert error_code(caught.value) == "NoSuchKey"


def test_complete_through_a_symlinked_directory_is_refused(
    own_client: Any, linked_dir: str, elsewhere: Outside
) -> None:
    """CompleteMultipartUpload of 'd/planted' is 409 and puts nothing out there."""
    upload_id = own_client.create_multipart_upload(Bucket=linked_dir, Key="d/planted")["UploadId"]
    etag = own_client.upload_part(
        Bucket=linked_dir, Key="d/planted", UploadId=upload_id, PartNumber=1, Body=b"p"
    )["ETag"]
    with pytest.raises(ClientError) as caught:
        own_client.complete_multipart_upload(
            Bucket=linked_dir,
            Key="d/planted",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    assert_key_conflict(caught)
    assert not (elsewhere.path / "planted").exists()


@pytest.fixture
def linked_file(own: RunningServer, own_bucket: str, elsewhere: Outside) -> str:
    """A bucket whose file 'f' is a symlink to the outside secret."""
    (own.data_dir / own_bucket / "f").symlink_to(elsewhere.path / "secret.txt")
    return own_bucket


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_symlinked_object_file_is_no_such_key(
    own: RunningServer, linked_file: str, method: str
) -> None:
    """GetObject and HeadObject of a symlinked file answer 404."""
    response = send(own, method, f"/{linked_file}/f")
    assert response.status == 404
    assert SECRET not in response.body


def test_symlinked_object_file_is_not_listed(own_client: Any, linked_file: str) -> None:
    """ListObjectsV2 leaves out a symlinked file."""
    assert own_client.list_objects_v2(Bucket=linked_file)["KeyCount"] == 0


def test_copy_from_a_symlinked_object_file_is_no_such_key(
    own_client: Any, linked_file: str
) -> None:
    """CopyObject from a symlinked file is NoSuchKey: its target is never read."""
    with pytest.raises(ClientError) as caught:
        own_client.copy_object(
            Bucket=linked_file, Key="stolen", CopySource={"Bucket": linked_file, "Key": "f"}
        )
    assert error_code(caught.value) == "NoSuchKey"


def test_delete_of_a_symlinked_object_file_leaves_its_target(
    own: RunningServer, linked_file: str, elsewhere: Outside
) -> None:
    """DeleteObject of a symlinked file answers 204 and its target stays."""
    assert send(own, "DELETE", f"/{linked_file}/f").status == 204
    assert (elsewhere.path / "secret.txt").read_bytes() == SECRET


def test_put_over_a_symlinked_object_file_replaces_the_link(
    own: RunningServer, own_client: Any, linked_file: str, elsewhere: Outside
) -> None:
    """PutObject of a symlinked file's key replaces the link itself; its target is untouched."""
    own_client.put_object(Bucket=linked_file, Key="f", Body=b"mine")
    path = own.data_dir / linked_file / "f"
    assert not path.is_symlink()
    assert path.read_bytes() == b"mine"
    assert body_of(own_client, linked_file, "f") == b"mine"


def forged_sidecar_bytes(path: Path) -> bytes:
    """The sidecar at ``path`` rewritten to claim user metadata the object never had."""
    document = json.loads(path.read_bytes())
    document["user_metadata"] = {"forged": "yes"}
    return json.dumps(document).encode()


def link_sidecar(
    own: RunningServer, bucket: str, key: str, elsewhere: Outside, forged: bytes | None = None
) -> tuple[Path, Path]:
    """Swap the key's sidecar for a symlink to an outside copy (or to ``forged``): both paths."""
    sidecar = own.data_dir / bucket / ".nanio-meta" / f"{key}.json"
    target = elsewhere.path / "forged.json"
    target.write_bytes(forged_sidecar_bytes(sidecar) if forged is None else forged)
    sidecar.unlink()
    sidecar.symlink_to(target)
    elsewhere.seal()
    return sidecar, target


def test_symlinked_sidecar_is_not_read(
    own: RunningServer, own_client: Any, own_bucket: str, elsewhere: Outside
) -> None:
    """A sidecar replaced by a symlink to a forged one is ignored: metadata comes from stat."""
    own_client.put_object(Bucket=own_bucket, Key="k", Body=b"data", Metadata={"real": "yes"})
    link_sidecar(own, own_bucket, "k", elsewhere)
    answer = own_client.get_object(Bucket=own_bucket, Key="k")
    assert (answer["Body"].read(), answer["Metadata"]) == (b"data", {})


def test_put_over_a_symlinked_sidecar_replaces_the_link(
    own: RunningServer, own_client: Any, own_bucket: str, elsewhere: Outside
) -> None:
    """PutObject of a key whose sidecar is a symlink replaces the link, not its target."""
    own_client.put_object(Bucket=own_bucket, Key="k", Body=b"data")
    sidecar, forged = link_sidecar(own, own_bucket, "k", elsewhere, b"{}")
    own_client.put_object(Bucket=own_bucket, Key="k", Body=b"new", Metadata={"real": "yes"})
    assert forged.read_bytes() == b"{}"
    assert not sidecar.is_symlink()
    assert own_client.head_object(Bucket=own_bucket, Key="k")["Metadata"] == {"real": "yes"}


@pytest.fixture
def linked_meta(own: RunningServer, own_client: Any, own_bucket: str, elsewhere: Outside) -> str:
    """A bucket holding 'k' and 'a/k' whose whole sidecar tree was swapped for a symlinked copy."""
    own_client.put_object(Bucket=own_bucket, Key="k", Body=b"data", Metadata={"real": "yes"})
    own_client.put_object(Bucket=own_bucket, Key="a/k", Body=b"data", Metadata={"real": "yes"})
    meta = own.data_dir / own_bucket / ".nanio-meta"
    copy = elsewhere.path / "meta"
    meta.rename(copy)
    (copy / "k.json").write_bytes(forged_sidecar_bytes(copy / "k.json"))
    (copy / "a" / "k.json").write_bytes(forged_sidecar_bytes(copy / "a" / "k.json"))
    meta.symlink_to(copy)
    elsewhere.seal()
    return own_bucket


@pytest.mark.parametrize("key", ["k", "a/k"])
def test_symlinked_sidecar_tree_is_not_read(own_client: Any, linked_meta: str, key: str) -> None:
    """With '.nanio-meta' a symlink, objects are served with metadata from stat, not the link's."""
    answer = own_client.get_object(Bucket=linked_meta, Key=key)
    assert (answer["Body"].read(), answer["Metadata"]) == (b"data", {})


def test_put_with_a_symlinked_sidecar_tree_is_refused(
    own_client: Any, linked_meta: str, elsewhere: Outside
) -> None:
    """PutObject into a bucket whose '.nanio-meta' is a symlink is refused with a 4xx."""
    before = contents(elsewhere.path / "meta")
    with pytest.raises(ClientError) as caught:
        own_client.put_object(Bucket=linked_meta, Key="b/new", Body=b"new")
    assert 400 <= http_status(caught.value.response) < 500
    assert contents(elsewhere.path / "meta") == before


def test_delete_with_a_symlinked_sidecar_tree_removes_nothing_out_there(
    own_client: Any, linked_meta: str, elsewhere: Outside
) -> None:
    """DeleteObject of 'a/k' removes the object's bytes but not the sidecar behind the link."""
    own_client.delete_object(Bucket=linked_meta, Key="a/k")
    assert (elsewhere.path / "meta" / "a" / "k.json").exists()


def test_list_with_a_symlinked_sidecar_tree_uses_no_forged_etag(
    own_client: Any, linked_meta: str
) -> None:
    """Listing a bucket whose sidecar tree is a symlink still lists its files, and only them."""
    keys = [o["Key"] for o in own_client.list_objects_v2(Bucket=linked_meta)["Contents"]]
    assert keys == ["a/k", "k"]


@pytest.fixture
def linked_upload(own: RunningServer, own_client: Any, own_bucket: str, elsewhere: Outside) -> str:
    """A multipart upload of 'k' with one part, whose directory was moved out and symlinked back."""
    upload_id: str = own_client.create_multipart_upload(Bucket=own_bucket, Key="k")["UploadId"]
    own_client.upload_part(Bucket=own_bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"p")
    directory = own.data_dir / ".nanio" / "multipart" / upload_id
    directory.rename(elsewhere.path / "upload")
    directory.symlink_to(elsewhere.path / "upload")
    elsewhere.seal()
    return upload_id


@pytest.mark.parametrize("operation", ["upload_part", "list_parts", "complete", "abort"], ids=str)
def test_symlinked_upload_is_no_such_upload(
    own_client: Any, own_bucket: str, linked_upload: str, elsewhere: Outside, operation: str
) -> None:
    """An upload whose directory is a symlink is NoSuchUpload to every operation on it."""
    calls: dict[str, Callable[[], Any]] = {
        "upload_part": lambda: own_client.upload_part(
            Bucket=own_bucket, Key="k", UploadId=linked_upload, PartNumber=2, Body=b"q"
        ),
        "list_parts": lambda: own_client.list_parts(
            Bucket=own_bucket, Key="k", UploadId=linked_upload
        ),
        "complete": lambda: own_client.complete_multipart_upload(
            Bucket=own_bucket,
            Key="k",
            UploadId=linked_upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": hashlib.md5(b"p").hexdigest()}]},
        ),
        "abort": lambda: own_client.abort_multipart_upload(
            Bucket=own_bucket, Key="k", UploadId=linked_upload
        ),
    }
    with pytest.raises(ClientError) as caught:
        calls[operation]()
    assert error_code(caught.value) == "NoSuchUpload"
    with pytest.raises(ClientError):
        own_client.head_object(Bucket=own_bucket, Key="k")
