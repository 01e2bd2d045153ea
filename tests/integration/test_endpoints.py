"""
One ``nanio serve`` listening on several endpoints at once (``--listen``
given three times: tcp on 127.0.0.1, tcp6 on ::1 and a UNIX socket), each
driven by a real client: boto3 over TCP and TCP6, curl with boto3's
presigned URLs and botocore-signed requests over the UNIX socket.
(TLS endpoints: tests/integration/test_tls_aws_chunked.py; socket
activation: test_socket_activation.py.)
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.support.procs import own_server
from tests.support.server import REGION, RunningServer, make_boto3_client

#: Deadline for one curl or raw request.
REQUEST_TIMEOUT_SECONDS = 30


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a UNIX socket; the Host header stays "localhost"."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=REQUEST_TIMEOUT_SECONDS)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(REQUEST_TIMEOUT_SECONDS)
        sock.connect(self._path)
        self.sock = sock


@pytest.fixture(scope="module")
def listening(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    """A server on tcp (127.0.0.1), tcp6 (::1) and a UNIX socket, all at once."""
    root = tmp_path_factory.mktemp("endpoints")
    path = root / "s3.sock"
    extra = ["--listen", "tcp6:0:interface=\\:\\:1", "--listen", f"unix:{path}"]
    with own_server(root, *extra) as server:
        server.wait_for_log(r"nanio listening on unix:")
        yield server, path


def client_for(server: RunningServer, endpoint_url: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=Config(region_name=REGION, s3={"addressing_style": "path"}),
    )


def test_every_endpoint_is_announced(listening: tuple[RunningServer, Path]) -> None:
    """One "nanio listening on" line per --listen: the tcp URL, the tcp6 URL, the socket path."""
    server, path = listening
    announced = re.findall(r"nanio listening on (\S+)", server.log_text())
    assert len(announced) == 3
    assert announced[0].startswith("http://127.0.0.1:")
    assert announced[1].startswith("http://[::1]:")
    assert announced[2] == f"unix:{path}"


def test_boto3_over_tcp6_sees_what_tcp_wrote(listening: tuple[RunningServer, Path]) -> None:
    """An object written through 127.0.0.1 is read and deleted through [::1]."""
    server, _ = listening
    url6 = re.findall(r"nanio listening on (http://\[::1\]:\d+)", server.log_text())[0]
    over_tcp, over_tcp6 = make_boto3_client(server), client_for(server, url6)
    over_tcp.create_bucket(Bucket="six")
    over_tcp.put_object(Bucket="six", Key="k", Body=b"via v4")
    assert over_tcp6.get_object(Bucket="six", Key="k")["Body"].read() == b"via v4"
    over_tcp6.delete_object(Bucket="six", Key="k")
    assert over_tcp.list_objects_v2(Bucket="six")["KeyCount"] == 0


def test_curl_with_presigned_urls_over_the_unix_socket(
    listening: tuple[RunningServer, Path], tmp_path: Path
) -> None:
    """curl --unix-socket PUTs and GETs with boto3's presigned URLs for http://localhost."""
    server, path = listening
    make_boto3_client(server).create_bucket(Bucket="sock")
    presigner = client_for(server, "http://localhost")
    put_url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": "sock", "Key": "file.bin"}
    )
    get_url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": "sock", "Key": "file.bin"}
    )
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 1000)
    curl = ["curl", "-sS", "-f", "--unix-socket", str(path)]
    subprocess.run([*curl, "-T", str(source), put_url], check=True, timeout=REQUEST_TIMEOUT_SECONDS)
    got = subprocess.run(
        [*curl, get_url], check=True, capture_output=True, timeout=REQUEST_TIMEOUT_SECONDS
    )
    assert got.stdout == source.read_bytes()
    stored = make_boto3_client(server).get_object(Bucket="sock", Key="file.bin")
    assert stored["Body"].read() == source.read_bytes()


def test_botocore_signed_requests_over_the_unix_socket(
    listening: tuple[RunningServer, Path],
) -> None:
    """Header-signed (SigV4) PUT, GET and ListBuckets sent through the UNIX socket."""
    server, path = listening
    credentials = Credentials(server.access_key, server.secret_key)

    def send(method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        request = AWSRequest(method=method, url=f"http://localhost{target}", data=body)
        S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
        connection = UnixHTTPConnection(path)
        try:
            connection.request(method, target, body=body or None, headers=dict(request.headers))
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    assert send("PUT", "/unixbucket")[0] == 200
    assert send("PUT", "/unixbucket/k", b"through the socket")[0] == 200
    assert send("GET", "/unixbucket/k") == (200, b"through the socket")
    status, listing = send("GET", "/")
    assert status == 200 and b"<Name>unixbucket</Name>" in listing
