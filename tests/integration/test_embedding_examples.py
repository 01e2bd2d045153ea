"""
The embedding examples of docs/examples, run as real programs.

``embed_in_site.py`` mounts nanio at /s3 of a plain Twisted Web site with a
page of its own; ``nanio_app.tac`` adds nanio's service to a twistd
application beside a second web site.  Each runs in a subprocess on free
loopback ports (tcp:0; the log says which), as docs/embedding.md tells a
reader to run it, and boto3 drives the S3 side while a plain GET fetches the
other page.  At the end each must stop cleanly on SIGTERM.
"""

from __future__ import annotations

import hashlib
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import error_code, urlopen
from tests.support.procs import MIB, pattern_block
from tests.support.server import (
    TWISTED_RUNNER_EXIT_STATUSES,
    RunningServer,
    console_script,
    make_boto3_client,
    start_server,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
LOOPBACK_ANY_PORT = "tcp:0:interface=127.0.0.1"


@dataclass
class Example:
    """A running example: nanio's side, and the URL of the program's other page."""

    server: RunningServer
    other_page_url: str
    other_page_text: bytes


def stopped_cleanly(server: RunningServer) -> None:
    """Stop the example with SIGTERM and check its exit status."""
    status = server.stop()
    assert status in server.clean_exit_statuses, f"exit status {status}; log: {server.log_path}"


@pytest.fixture(scope="module")
def embed_in_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    """``python docs/examples/embed_in_site.py --port 0 --data-dir ...`` running."""
    root = tmp_path_factory.mktemp("embed-in-site")
    data_dir = root / "data"
    command = [sys.executable, str(EXAMPLES / "embed_in_site.py")]
    command += ["--port", "0", "--data-dir", str(data_dir)]
    server = start_server(command, data_dir=data_dir, log_path=root / "example.log", cwd=root)
    # It announces "nanio listening on http://127.0.0.1:<port>/s3"; its page is at /.
    parts = urlsplit(server.endpoint_url)
    assert parts.path == "/s3"
    example = Example(
        server, f"http://{parts.netloc}/", b"Hello from the host site; S3 lives at /s3.\n"
    )
    try:
        yield example
    finally:
        stopped_cleanly(server)


@pytest.fixture(scope="module")
def nanio_app_tac(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    """``twistd --pidfile= -ny docs/examples/nanio_app.tac`` running."""
    root = tmp_path_factory.mktemp("nanio-app-tac")
    data_dir = root / "data"
    command = [console_script("twistd"), "--pidfile=", "-ny", str(EXAMPLES / "nanio_app.tac")]
    environ = {
        "NANIO_DATA_DIR": str(data_dir),
        "NANIO_LISTEN": LOOPBACK_ANY_PORT,
        "STATUS_LISTEN": LOOPBACK_ANY_PORT,
    }
    server = start_server(
        command,
        data_dir=data_dir,
        log_path=root / "twistd.log",
        environ=environ,
        cwd=root,
        clean_exit_statuses=TWISTED_RUNNER_EXIT_STATUSES,
    )
    # Twisted logs "<factory class> starting on <port>" for the status site;
    # nanio's own site is a NanioSite.
    match = server.wait_for_log(r"\] Site starting on (\d+)")
    example = Example(
        server, f"http://127.0.0.1:{match.group(1)}/", b"This application also runs nanio.\n"
    )
    try:
        yield example
    finally:
        stopped_cleanly(server)


@pytest.fixture(params=["embed_in_site", "nanio_app_tac"])
def example(request: pytest.FixtureRequest) -> Example:
    """Each example in turn."""
    running: Example = request.getfixturevalue(request.param)
    return running


@pytest.fixture
def s3(example: Example) -> Any:
    """A path-style boto3 client for the example's nanio endpoint."""
    return make_boto3_client(example.server)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket, created through the example."""
    name = f"embed-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    return name


def test_other_page_answers(example: Example) -> None:
    """The program's own page answers a plain GET beside nanio."""
    status, _, body = urlopen(example.other_page_url)
    assert (status, body) == (200, example.other_page_text)


def test_bucket_is_listed(s3: Any, bucket: str) -> None:
    """A bucket created through the example is in ListBuckets and answers HeadBucket."""
    assert bucket in [entry["Name"] for entry in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=bucket)


def test_put_get_round_trip(s3: Any, bucket: str, example: Example) -> None:
    """An object is stored in the data directory and read back byte for byte."""
    body = pattern_block(5, MIB + 11)
    s3.put_object(Bucket=bucket, Key="dir/object", Body=body)
    assert s3.get_object(Bucket=bucket, Key="dir/object")["Body"].read() == body
    assert (example.server.data_dir / bucket / "dir" / "object").read_bytes() == body


def test_listing_shows_keys(s3: Any, bucket: str) -> None:
    """ListObjectsV2 shows the keys put through the example, in order."""
    for key in ("b", "a", "c/d"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["a", "b", "c/d"]


def test_delete_object_and_bucket(s3: Any, bucket: str) -> None:
    """DeleteObject then DeleteBucket remove both."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(raised.value) == "NoSuchKey"
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [entry["Name"] for entry in s3.list_buckets()["Buckets"]]


def test_multipart_upload(s3: Any, bucket: str) -> None:
    """A three-part multipart upload assembles its parts in order."""
    parts = [pattern_block(6, 5 * MIB), pattern_block(7, 5 * MIB), b"tail"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    completed = []
    for number, body in enumerate(parts, start=1):
        answer = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=body
        )
        completed.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": completed}
    )
    got = s3.get_object(Bucket=bucket, Key="mp")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(b"".join(parts)).digest()


def test_presigned_get_with_plain_http(s3: Any, bucket: str) -> None:
    """A presigned GET URL (which includes any mount point) works for a plain HTTP client."""
    s3.put_object(Bucket=bucket, Key="shared", Body=b"presigned body")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=600
    )
    status, _, body = urlopen(url)
    assert (status, body) == (200, b"presigned body")


def test_unsigned_request_is_refused_in_s3_xml(example: Example) -> None:
    """A request without credentials to nanio's endpoint gets 403 AccessDenied in S3 XML."""
    status, headers, body = urlopen(example.server.endpoint_url + "/")
    assert status == 403
    assert headers["content-type"] == "application/xml"
    assert re.search(rb"<Code>AccessDenied</Code>", body)


def test_presigned_signature_stays_out_of_the_log(s3: Any, bucket: str, example: Example) -> None:
    """The example's access log line for a presigned GET does not hold the URL's signature."""
    s3.put_object(Bucket=bucket, Key="logged", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "logged"}, ExpiresIn=600
    )
    assert urlopen(url)[0] == 200
    example.server.wait_for_log(rf"GET \S*/{bucket}/logged\b")
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    assert signature not in example.server.log_text()
