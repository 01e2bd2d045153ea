"""
Request limits against a real server, each answered with S3's error code.

- The header section: over 16 KiB, or over 500 header lines, is
  ``RequestHeaderSectionTooLarge`` in S3 XML (Twisted alone answers a bare
  400), and the connection closes.
- XML bodies: declared over 1 MiB, refused before any of it is read (no
  ``100 Continue``); sent without a length, cut off once past 1 MiB
  (``MaxMessageLengthExceeded``); entity expansion, external entities and
  DTDs are ``MalformedXML`` and act on nothing.
- User metadata: 2 KiB at most (``MetadataTooLarge``, before the body).
- Part numbers: 1 to 10,000 (``InvalidArgument``).
- Object size: ``--max-object-size`` (5 TiB by default) for PutObject,
  CopyObject and the joined parts of CompleteMultipartUpload, and 5 GiB for
  one part: ``EntityTooLarge``, from the declared length before
  ``100 Continue``, and from the bytes themselves when a chunked body runs
  past it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.clients import error_code, error_fields, http_status, signed_request
from tests.support.procs import (
    MIB,
    connect,
    own_server,
    read_response_head,
    temp_files,
    wait_for_no_temp_files,
)
from tests.support.server import REGION, RunningServer, make_boto3_client

#: The cap the tiny-cap server runs with: room for one 5 MiB part and a bit.
TINY_CAP_BYTES = 6 * MIB
KIB = 1024
GIB = 1024 * MIB
TIB = 1024 * GIB


# -- raw requests -------------------------------------------------------------------


class _DeclaredPayloadSigner(S3SigV4Auth):
    """botocore's S3 signer, with the x-amz-content-sha256 value the test declares."""

    def __init__(self, server: RunningServer, payload: str) -> None:
        super().__init__(Credentials(server.access_key, server.secret_key), "s3", REGION)
        self._payload = payload

    def payload(self, request: AWSRequest) -> str:
        return self._payload


def request_head(
    server: RunningServer,
    method: str,
    path: str,
    *,
    signed: dict[str, str] | None = None,
    unsigned: dict[str, str] | None = None,
    payload: str = "UNSIGNED-PAYLOAD",
) -> bytes:
    """A request head signed with ``payload`` declared; ``unsigned`` headers go out unsigned."""
    host = server.endpoint_url.split("//", 1)[1]
    request = AWSRequest(
        method=method, url=server.endpoint_url + path, headers={"Host": host, **(signed or {})}
    )
    _DeclaredPayloadSigner(server, payload).add_auth(request)
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines += [f"{name}: {value}" for name, value in (unsigned or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while piece := sock.recv(65536):
        received += piece
    return received


def answer_to_head(server: RunningServer, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send only a request head and read the answer: (status, headers, S3 error body)."""
    with connect(server) as sock:
        sock.sendall(head)
        status, headers, rest = read_response_head(sock)
        body = rest + read_until_closed(sock)
    return status, headers, body


def answer_before_continue(
    server: RunningServer,
    method: str,
    path: str,
    length: int,
    *,
    signed: dict[str, str] | None = None,
    payload: str = "UNSIGNED-PAYLOAD",
) -> tuple[int, dict[str, str], dict[str, str]]:
    """Send a head declaring ``length`` body bytes and expecting 100 Continue, and no body.

    Returns (status, headers, S3 error fields): a refusal here came before any body.
    """
    unsigned = {"Content-Length": str(length), "Expect": "100-continue"}
    head = request_head(server, method, path, signed=signed, unsigned=unsigned, payload=payload)
    status, headers, body = answer_to_head(server, head)
    return status, headers, error_fields(body)


def send_chunked(sock: socket.socket, total: int, piece: bytes) -> None:
    """Send ``total`` bytes as HTTP chunks of ``piece``, and never the last chunk.

    The body never ends, so an answer read afterwards was given before the
    server could have read it in full.
    """
    sent = 0
    try:
        while sent < total:
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: what we wanted to see


def answer_to_endless_chunks(
    server: RunningServer, method: str, path: str, total: int, piece: bytes
) -> tuple[int, str]:
    """Send a chunked body of ``total`` bytes that never ends: (status, S3 error code)."""
    with connect(server) as sock:
        sock.sendall(request_head(server, method, path, unsigned={"Transfer-Encoding": "chunked"}))
        send_chunked(sock, total, piece)
        status, _, rest = read_response_head(sock)
        body = rest + read_until_closed(sock)
    return status, error_fields(body)["Code"]


# -- the header section --------------------------------------------------------------


def refused_head(server: RunningServer, unsigned: dict[str, str]) -> tuple[int, str, bytes]:
    """The answer to a ListBuckets carrying ``unsigned`` headers: (status, code, raw answer)."""
    with connect(server) as sock:
        sock.sendall(request_head(server, "GET", "/", unsigned=unsigned))
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, error_fields(body)["Code"], answer


def test_one_header_over_the_section_limit_is_request_header_section_too_large(
    server: RunningServer,
) -> None:
    """A single 17 KiB header is 400 RequestHeaderSectionTooLarge in S3 XML, then a close."""
    status, code, answer = refused_head(server, {"x-amz-meta-big": "b" * (17 * KIB)})
    assert (status, code) == (400, "RequestHeaderSectionTooLarge")
    assert b"\r\nconnection: close\r\n" in answer.lower()
    assert b"\r\nx-amz-request-id: " in answer.lower()


def test_many_headers_adding_up_past_16_kib_are_request_header_section_too_large(
    server: RunningServer,
) -> None:
    """Forty headers of 500 bytes (20 KB together) are RequestHeaderSectionTooLarge."""
    headers = {f"x-filler-{n}": "f" * 500 for n in range(40)}
    assert refused_head(server, headers)[:2] == (400, "RequestHeaderSectionTooLarge")


def test_more_than_500_headers_are_request_header_section_too_large(server: RunningServer) -> None:
    """501 small headers (well under 16 KiB) are RequestHeaderSectionTooLarge too."""
    headers = {f"x-h{n}": "v" for n in range(501)}
    assert refused_head(server, headers)[:2] == (400, "RequestHeaderSectionTooLarge")


def test_a_header_section_just_under_both_limits_is_served(server: RunningServer) -> None:
    """450 headers making about 14 KiB in all are accepted: ListBuckets answers 200."""
    headers = {f"x-filler-{n:03d}": "f" * 16 for n in range(450)}
    with connect(server) as sock:
        sock.sendall(request_head(server, "GET", "/", unsigned=headers))
        status, _, _ = read_response_head(sock)
    assert status == 200


def test_the_server_still_serves_after_refusing_a_header_section(
    server: RunningServer, client: Any
) -> None:
    """A refused header section costs only its own connection."""
    refused_head(server, {"x-amz-meta-big": "b" * (64 * KIB)})
    assert http_status(client.list_buckets()) == 200


# -- XML bodies ---------------------------------------------------------------------


def test_xml_body_declared_over_1_mib_is_refused_before_100_continue(
    server: RunningServer, bucket: str
) -> None:
    """A DeleteObjects declaring 2 MiB is MaxMessageLengthExceeded, answered instead of 100."""
    status, headers, fields = answer_before_continue(server, "POST", f"/{bucket}?delete=", 2 * MIB)
    assert (status, fields["Code"]) == (400, "MaxMessageLengthExceeded")
    assert headers["connection"] == "close"


def test_xml_body_without_a_length_is_cut_off_after_1_mib(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """A chunked DeleteObjects body is refused as soon as it passes 1 MiB, not read to its end."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    piece = b"<Delete>" + b" " * (64 * KIB)
    answer = answer_to_endless_chunks(server, "POST", f"/{bucket}?delete=", 2 * MIB, piece)
    assert answer == (400, "MaxMessageLengthExceeded")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


#: Hostile XML: entity expansion, external entities, and DTDs of every kind.
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    )
    + "]>"
)
HOSTILE_XML_PREFIXES = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    "external-dtd": '<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:1/evil.dtd">',
    "internal-dtd": '<?xml version="1.0"?><!DOCTYPE d [<!ELEMENT Delete ANY>]>',
    "parameter-entity": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p "x"> %p;]>',
}


@pytest.mark.parametrize("prefix", HOSTILE_XML_PREFIXES.values(), ids=HOSTILE_XML_PREFIXES.keys())
def test_hostile_xml_in_delete_objects_is_malformed_and_deletes_nothing(
    server: RunningServer, client: Any, bucket: str, prefix: str
) -> None:
    """DeleteObjects with entities or a DTD is 400 MalformedXML, and no key is deleted."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    key = "&lol9;" if "lol9" in prefix else "&x;" if "ENTITY x" in prefix else "k"
    document = f"{prefix}<Delete><Object><Key>{key}</Key></Object>" + (
        "<Object><Key>k</Key></Object></Delete>"
    )
    response = signed_request(server, "POST", f"/{bucket}", query="delete=", body=document.encode())
    assert (response.status, error_fields(response.body)["Code"]) == (400, "MalformedXML")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


@pytest.mark.parametrize("prefix", HOSTILE_XML_PREFIXES.values(), ids=HOSTILE_XML_PREFIXES.keys())
def test_hostile_xml_in_complete_is_malformed_and_completes_nothing(
    server: RunningServer, client: Any, bucket: str, prefix: str
) -> None:
    """CompleteMultipartUpload with entities or a DTD is MalformedXML; the upload stays open."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = client.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"p")[
        "ETag"
    ]
    entity = "&lol9;" if "lol9" in prefix else "&x;" if "ENTITY x" in prefix else ""
    document = (
        f"{prefix}<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{etag}{entity}</ETag></Part></CompleteMultipartUpload>"
    )
    response = signed_request(
        server, "POST", f"/{bucket}/k", query=f"uploadId={upload_id}", body=document.encode()
    )
    assert (response.status, error_fields(response.body)["Code"]) == (400, "MalformedXML")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert len(client.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]) == 1


# -- user metadata -------------------------------------------------------------------


def test_user_metadata_of_exactly_2_kib_is_stored(client: Any, bucket: str) -> None:
    """Metadata whose names and values add up to 2048 bytes is stored and returned."""
    metadata = {"k": "v" * 2047}
    client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata=metadata)
    assert client.head_object(Bucket=bucket, Key="k")["Metadata"] == metadata


def test_user_metadata_one_byte_over_2_kib_is_metadata_too_large(client: Any, bucket: str) -> None:
    """Metadata of 2049 bytes is 400 MetadataTooLarge and nothing is stored."""
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"k": "v" * 2048})
    assert (http_status(caught.value.response), error_code(caught.value)) == (
        400,
        "MetadataTooLarge",
    )
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_metadata_too_large_is_answered_before_100_continue(
    server: RunningServer, bucket: str
) -> None:
    """A PutObject with 3 KiB of metadata is refused before its (1 GiB) body is asked for."""
    big = {"x-amz-meta-big": "b" * (3 * KIB)}
    status, _, fields = answer_before_continue(server, "PUT", f"/{bucket}/k", GIB, signed=big)
    assert (status, fields["Code"]) == (400, "MetadataTooLarge")


@pytest.mark.parametrize("operation", ["create_multipart_upload", "copy_object"])
def test_metadata_over_2_kib_is_refused_on_create_and_copy(
    client: Any, bucket: str, operation: str
) -> None:
    """CreateMultipartUpload and CopyObject (REPLACE) refuse 2049 bytes of metadata too."""
    client.put_object(Bucket=bucket, Key="src", Body=b"x")
    arguments: dict[str, Any] = {"Bucket": bucket, "Key": "k", "Metadata": {"k": "v" * 2048}}
    if operation == "copy_object":
        arguments.update(CopySource={"Bucket": bucket, "Key": "src"}, MetadataDirective="REPLACE")
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**arguments)
    assert error_code(caught.value) == "MetadataTooLarge"


# -- part numbers --------------------------------------------------------------------


@pytest.fixture
def upload(client: Any, bucket: str) -> Iterator[tuple[str, str]]:
    """A multipart upload of 'k' in progress: (bucket, upload id)."""
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    yield bucket, upload_id


@pytest.mark.parametrize("number", [0, 10_001, 99_999_999])
def test_part_number_outside_1_to_10000_is_invalid_argument(
    client: Any, upload: tuple[str, str], number: int
) -> None:
    """UploadPart with part number 0, 10,001 or larger is 400 InvalidArgument."""
    bucket, upload_id = upload
    with pytest.raises(ClientError) as caught:
        client.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"p")
    assert (http_status(caught.value.response), error_code(caught.value)) == (
        400,
        "InvalidArgument",
    )


def test_part_number_10000_is_accepted(client: Any, upload: tuple[str, str]) -> None:
    """Part number 10,000, the last S3 allows, is stored."""
    bucket, upload_id = upload
    client.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=10_000, Body=b"p")
    parts = client.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [10_000]


def test_complete_naming_part_10001_is_invalid_argument(
    client: Any, upload: tuple[str, str]
) -> None:
    """A Complete document listing part 10,001 is 400 InvalidArgument."""
    bucket, upload_id = upload
    with pytest.raises(ClientError) as caught:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 10_001, "ETag": '"' + "0" * 32 + '"'}]},
        )
    assert error_code(caught.value) == "InvalidArgument"


def test_part_declared_over_5_gib_is_entity_too_large_before_100_continue(
    server: RunningServer, upload: tuple[str, str]
) -> None:
    """An UploadPart declaring 5 GiB + 1 is refused with EntityTooLarge instead of 100."""
    bucket, upload_id = upload
    path = f"/{bucket}/k?partNumber=1&uploadId={upload_id}"
    status, _, fields = answer_before_continue(server, "PUT", path, 5 * GIB + 1)
    assert (status, fields["Code"], fields["MaxSizeAllowed"]) == (
        400,
        "EntityTooLarge",
        str(5 * GIB),
    )


def test_object_declared_over_5_tib_is_entity_too_large_by_default(
    server: RunningServer, bucket: str
) -> None:
    """With the default cap, a PutObject declaring 5 TiB + 1 is EntityTooLarge before 100."""
    status, _, fields = answer_before_continue(server, "PUT", f"/{bucket}/k", 5 * TIB + 1)
    assert (status, fields["Code"], fields["ProposedSize"]) == (
        400,
        "EntityTooLarge",
        str(5 * TIB + 1),
    )


# -- a server with a tiny object size cap -------------------------------------------


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server started with --max-object-size 6MiB."""
    with own_server(tmp_path_factory.mktemp("capped"), "--max-object-size", "6MiB") as running:
        yield running


@pytest.fixture(scope="module")
def capped_client(capped: RunningServer) -> Any:
    return make_boto3_client(capped, checksums="when_required")


@pytest.fixture
def capped_bucket(capped_client: Any, fresh_bucket: str) -> str:
    capped_client.create_bucket(Bucket=fresh_bucket)
    return fresh_bucket


def test_object_of_exactly_the_cap_is_stored(capped_client: Any, capped_bucket: str) -> None:
    """An object of exactly --max-object-size bytes is stored whole."""
    body = b"c" * TINY_CAP_BYTES
    capped_client.put_object(Bucket=capped_bucket, Key="k", Body=body)
    assert capped_client.head_object(Bucket=capped_bucket, Key="k")["ContentLength"] == len(body)


def test_object_declared_over_the_cap_is_refused_before_100_continue(
    capped: RunningServer, capped_bucket: str
) -> None:
    """A PutObject declaring cap + 1 bytes is EntityTooLarge instead of 100 Continue."""
    path = f"/{capped_bucket}/k"
    status, headers, fields = answer_before_continue(capped, "PUT", path, TINY_CAP_BYTES + 1)
    assert (status, fields["Code"], fields["MaxSizeAllowed"]) == (
        400,
        "EntityTooLarge",
        str(TINY_CAP_BYTES),
    )
    assert headers["connection"] == "close"


def test_chunked_body_running_past_the_cap_is_cut_off(
    capped: RunningServer, capped_client: Any, capped_bucket: str
) -> None:
    """A chunked PutObject (no length) is refused once past the cap; nothing is left behind."""
    total = TINY_CAP_BYTES + 2 * MIB
    answer = answer_to_endless_chunks(
        capped, "PUT", f"/{capped_bucket}/k", total, b"z" * (256 * KIB)
    )
    assert answer == (400, "EntityTooLarge")
    assert capped_client.list_objects_v2(Bucket=capped_bucket)["KeyCount"] == 0
    wait_for_no_temp_files(capped.data_dir)


def test_aws_chunked_upload_declaring_more_than_the_cap_is_refused(
    capped: RunningServer, capped_bucket: str
) -> None:
    """An aws-chunked PutObject whose decoded length is over the cap is EntityTooLarge at once."""
    status, _, fields = answer_before_continue(
        capped,
        "PUT",
        f"/{capped_bucket}/k",
        TINY_CAP_BYTES + 100,
        signed={
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(TINY_CAP_BYTES + 1),
        },
        payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    )
    assert (status, fields["Code"]) == (400, "EntityTooLarge")


def test_parts_adding_up_past_the_cap_are_entity_too_large_on_complete(
    capped_client: Any, capped_bucket: str
) -> None:
    """A Complete joining 5 MiB + 2 MiB under a 6 MiB cap is EntityTooLarge; the upload stays."""
    upload_id = capped_client.create_multipart_upload(Bucket=capped_bucket, Key="k")["UploadId"]
    parts = []
    for number, size in ((1, 5 * MIB), (2, 2 * MIB)):
        etag = capped_client.upload_part(
            Bucket=capped_bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"p" * size
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    with pytest.raises(ClientError) as caught:
        capped_client.complete_multipart_upload(
            Bucket=capped_bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    assert error_code(caught.value) == "EntityTooLarge"
    assert capped_client.list_objects_v2(Bucket=capped_bucket)["KeyCount"] == 0
    listed = capped_client.list_parts(Bucket=capped_bucket, Key="k", UploadId=upload_id)
    assert len(listed["Parts"]) == 2


def test_part_over_the_cap_is_entity_too_large(capped_client: Any, capped_bucket: str) -> None:
    """Under a cap below 5 GiB, one part may not exceed the cap either."""
    upload_id = capped_client.create_multipart_upload(Bucket=capped_bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        capped_client.upload_part(
            Bucket=capped_bucket,
            Key="k",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"p" * (TINY_CAP_BYTES + 1),
        )
    assert error_code(caught.value) == "EntityTooLarge"


@pytest.fixture
def oversized_source(capped: RunningServer, capped_bucket: str) -> str:
    """A file over the cap dropped into the bucket by hand (stored before the cap was lowered)."""
    (capped.data_dir / capped_bucket / "big").write_bytes(b"b" * (TINY_CAP_BYTES + 1))
    return capped_bucket


def test_copy_of_an_object_over_the_cap_is_entity_too_large(
    capped_client: Any, oversized_source: str
) -> None:
    """CopyObject from a source larger than the cap is EntityTooLarge; no copy appears."""
    with pytest.raises(ClientError) as caught:
        capped_client.copy_object(
            Bucket=oversized_source,
            Key="copy",
            CopySource={"Bucket": oversized_source, "Key": "big"},
        )
    assert error_code(caught.value) == "EntityTooLarge"
    keys = [o["Key"] for o in capped_client.list_objects_v2(Bucket=oversized_source)["Contents"]]
    assert keys == ["big"]


def test_part_copy_over_the_cap_is_entity_too_large(
    capped: RunningServer, capped_client: Any, oversized_source: str
) -> None:
    """UploadPartCopy of more bytes than a part may hold is EntityTooLarge; no temp file stays."""
    upload_id = capped_client.create_multipart_upload(Bucket=oversized_source, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        capped_client.upload_part_copy(
            Bucket=oversized_source,
            Key="k",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": oversized_source, "Key": "big"},
        )
    assert error_code(caught.value) == "EntityTooLarge"
    assert temp_files(capped.data_dir) == []


def test_part_copy_of_a_range_within_the_cap_is_accepted(
    capped_client: Any, oversized_source: str
) -> None:
    """UploadPartCopy of a 1 MiB range of the oversized source is stored as a part."""
    upload_id = capped_client.create_multipart_upload(Bucket=oversized_source, Key="k")["UploadId"]
    capped_client.upload_part_copy(
        Bucket=oversized_source,
        Key="k",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": oversized_source, "Key": "big"},
        CopySourceRange=f"bytes=0-{MIB - 1}",
    )
    parts = capped_client.list_parts(Bucket=oversized_source, Key="k", UploadId=upload_id)
    assert [p["Size"] for p in parts["Parts"]] == [MIB]
