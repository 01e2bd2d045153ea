"""
A running server gives back every descriptor a request took.

After rounds of requests that succeed, that are refused, and that the client
cuts off mid-body in either direction, the server holds the same open files
as before them, and no more sockets once its clients are gone: a leak of one
descriptor per odd request would end a long-lived server at its limit.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support.procs import (
    MIB,
    connect,
    open_descriptors,
    own_server,
    pattern_block,
    read_response_head,
    signed_head,
    temp_files,
    wait_for,
)
from tests.support.server import RunningServer, make_boto3_client

#: Rounds of the mixed requests; a leak grows with them.
ROUNDS = 3
#: Big enough that its GET is still sending when the client resets.
LARGE_BYTES = 8 * MIB


def files_and_sockets(server: RunningServer) -> tuple[list[str], int]:
    """(the paths the server's descriptors name, sorted; how many are sockets)."""
    targets = open_descriptors(server.process.pid)
    files = [target for target in targets if target.startswith("/")]
    return files, sum(target.startswith("socket:") for target in targets)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with own_server(tmp_path) as running:
        yield running


def _cut_off_download(server: RunningServer) -> None:
    with connect(server, receive_buffer_bytes=64 * 1024) as sock:
        sock.sendall(signed_head(server, "GET", "/bkt/large"))
        status, _, _ = read_response_head(sock)
        assert status == 200
        # A reset, not a polite close: the server's next send fails at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _cut_off_upload(server: RunningServer) -> None:
    head = signed_head(server, "PUT", "/bkt/cut-off", {"Content-Length": str(LARGE_BYTES)})
    with connect(server) as sock:
        sock.sendall(head)
        sock.sendall(pattern_block(7, LARGE_BYTES // 2))
        wait_for(lambda: temp_files(server.data_dir), "the upload's temp file")


def _refused_upload(server: RunningServer) -> None:
    """A PUT into a missing bucket, answered before its body; the client then goes."""
    head = signed_head(server, "PUT", "/no-such-bucket/k", {"Content-Length": str(MIB)})
    with connect(server) as sock:
        sock.sendall(head + pattern_block(3, 64 * 1024))
        status, _, _ = read_response_head(sock)
        assert status == 404


def _refused_heads(server: RunningServer) -> None:
    """A forged signature (403) and a request line that is not HTTP (400)."""
    forged = signed_head(server, "GET", "/bkt/large").replace(b"Signature=", b"Signature=0")
    for head, expected in ((forged, 403), (b"NOT A REQUEST\r\n\r\n", 400)):
        with connect(server) as sock:
            sock.sendall(head)
            status, _, _ = read_response_head(sock)
            assert status == expected


def _one_round(server: RunningServer, round_number: int) -> None:
    client = make_boto3_client(server)
    key = f"round-{round_number}/small"
    client.put_object(Bucket="bkt", Key=key, Body=b"s" * 4096)
    assert client.get_object(Bucket="bkt", Key=key)["Body"].read() == b"s" * 4096
    assert client.head_object(Bucket="bkt", Key=key)["ContentLength"] == 4096
    ranged = client.get_object(Bucket="bkt", Key="large", Range="bytes=100-199")
    assert ranged["Body"].read() == pattern_block(1, LARGE_BYTES)[100:200]
    client.copy_object(Bucket="bkt", Key=f"{key}-copy", CopySource={"Bucket": "bkt", "Key": key})
    listed = client.list_objects_v2(Bucket="bkt", Prefix=f"round-{round_number}/")
    assert listed["KeyCount"] == 2
    upload = client.create_multipart_upload(Bucket="bkt", Key=f"{key}-parts")["UploadId"]
    part = client.upload_part(
        Bucket="bkt", Key=f"{key}-parts", UploadId=upload, PartNumber=1, Body=b"p" * 1024
    )
    client.complete_multipart_upload(
        Bucket="bkt",
        Key=f"{key}-parts",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    abandoned = client.create_multipart_upload(Bucket="bkt", Key="abandoned")["UploadId"]
    client.upload_part(
        Bucket="bkt", Key="abandoned", UploadId=abandoned, PartNumber=1, Body=b"a" * 1024
    )
    client.abort_multipart_upload(Bucket="bkt", Key="abandoned", UploadId=abandoned)
    for bucket, missing in (("bkt", "no-such-key"), ("no-such-bucket", "k")):
        with pytest.raises(ClientError):
            client.get_object(Bucket=bucket, Key=missing)
    with pytest.raises(ClientError):
        client.get_object(Bucket="bkt", Key=key, Range="bytes=9000-9999")  # not satisfiable
    client.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": key}, {"Key": f"{key}-copy"}]})
    _cut_off_download(server)
    _cut_off_upload(server)
    _refused_upload(server)
    _refused_heads(server)
    client.close()


def test_requests_leave_no_descriptor_behind(server: RunningServer) -> None:
    """Files and sockets open in the server return to what they were before the requests."""
    client = make_boto3_client(server)
    client.create_bucket(Bucket="bkt")
    client.put_object(Bucket="bkt", Key="large", Body=pattern_block(1, LARGE_BYTES))
    client.close()
    _one_round(server, 0)  # anything opened once, on first use, is open from here on
    before = _settled(server)
    assert before[1] == 1, before  # the listening socket alone
    bucket_dir = str(server.data_dir / "bkt")
    assert [name for name in before[0] if name.startswith(bucket_dir)] == []

    for round_number in range(1, ROUNDS + 1):
        _one_round(server, round_number)

    assert _settled(server, before) == before


def _settled(
    server: RunningServer, expected: tuple[list[str], int] | None = None
) -> tuple[list[str], int]:
    """The server's descriptors once its clients' sockets and temp files are gone."""
    wait_for(lambda: not temp_files(server.data_dir), "the cut-off uploads' temp files gone")

    def released() -> bool:
        current = files_and_sockets(server)
        return current == expected if expected is not None else current[1] == 1

    with contextlib.suppress(AssertionError):  # the caller's assert shows what stayed
        wait_for(released, "the clients' descriptors released")
    return files_and_sockets(server)
