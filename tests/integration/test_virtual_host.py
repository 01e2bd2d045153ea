"""
Virtual-host addressing against a real ``nanio serve --base-domain s3.nanio.test``.

boto3 (``addressing_style="virtual"``), curl with presigned URLs and aws-cli
(``addressing_style = virtual`` in its config file) all put the bucket in the
host name: ``<bucket>.s3.nanio.test:<port>``.  No resolver knows those names,
so they are resolved to 127.0.0.1 by wrapping ``socket.getaddrinfo`` (in this
process for boto3, in aws-cli's own process through
``tests.support.loopback_names``) and by ``curl --resolve``.  Every test
checks that the virtual host was really used, not a path-style fallback.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.clients import CLIENT_TIMEOUT_SECONDS, error_code, run_command
from tests.support.loopback_names import loopback_names
from tests.support.procs import MIB, own_server, pattern_block
from tests.support.server import REGION, RunningServer

BASE_DOMAIN = "s3.nanio.test"
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vhost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of this module's own, with the test base domain."""
    with own_server(tmp_path_factory.mktemp("vhost"), "--base-domain", BASE_DOMAIN) as server:
        yield server


@pytest.fixture(scope="module")
def port(vhost_server: RunningServer) -> int:
    """The server's TCP port."""
    value = urlsplit(vhost_server.endpoint_url).port
    assert value is not None
    return value


@pytest.fixture
def resolved() -> Iterator[list[str]]:
    """Names under the base domain resolve to 127.0.0.1; the list records each lookup."""
    with loopback_names(BASE_DOMAIN) as seen:
        yield seen


def virtual_client(server: RunningServer, port: int, signature_version: str = "s3v4") -> Any:
    """A boto3 client with virtual-host addressing under the base domain."""
    config = Config(
        region_name=REGION,
        signature_version=signature_version,
        s3={"addressing_style": "virtual"},
        retries={"total_max_attempts": 1},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{BASE_DOMAIN}:{port}",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=config,
    )


@pytest.fixture
def s3(vhost_server: RunningServer, port: int, resolved: list[str]) -> Any:
    """A virtual-host boto3 client, with the names resolving."""
    return virtual_client(vhost_server, port)


@pytest.fixture
def bucket() -> str:
    """A bucket name no other test uses (not created)."""
    return f"vhost-{uuid.uuid4().hex[:16]}"


def test_create_bucket_goes_to_the_bucket_host(s3: Any, bucket: str, resolved: list[str]) -> None:
    """CreateBucket is sent to bucket.s3.nanio.test, and the bucket is then listed and found."""
    s3.create_bucket(Bucket=bucket)
    assert f"{bucket}.{BASE_DOMAIN}" in resolved
    s3.head_bucket(Bucket=bucket)
    names = [entry["Name"] for entry in s3.list_buckets()["Buckets"]]
    assert bucket in names
    # ListBuckets has no bucket: boto3 sends it to the base domain itself.
    assert BASE_DOMAIN in resolved


def test_objects_round_trip(s3: Any, bucket: str) -> None:
    """Objects with awkward keys are put and read back byte for byte through the virtual host."""
    s3.create_bucket(Bucket=bucket)
    for key in ("plain", "dir/with space+plus", "unicode-€"):
        body = key.encode("utf-8") * 100
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_listing_with_prefix_and_delimiter(s3: Any, bucket: str) -> None:
    """ListObjectsV2 on the bucket's host answers with that bucket's keys and prefixes."""
    s3.create_bucket(Bucket=bucket)
    for key in ("a/1", "a/2", "b", "c/3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert page["Name"] == bucket
    assert [entry["Key"] for entry in page["Contents"]] == ["b"]
    assert [entry["Prefix"] for entry in page["CommonPrefixes"]] == ["a/", "c/"]


def test_multipart_upload(s3: Any, bucket: str) -> None:
    """A multipart upload through the virtual host assembles its parts in order."""
    s3.create_bucket(Bucket=bucket)
    parts = [pattern_block(1, 5 * MIB), pattern_block(2, MIB // 2)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=n, Body=body)[
            "ETag"
        ]
        for n, body in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        },
    )
    got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(b"".join(parts)).digest()


def test_delete_object_and_bucket(s3: Any, bucket: str) -> None:
    """DeleteObject and DeleteBucket through the virtual host remove both."""
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as raised:
        s3.head_bucket(Bucket=bucket)
    assert raised.value.response["Error"]["Code"] == "404"


def test_bucket_name_with_dots(s3: Any, resolved: list[str]) -> None:
    """A bucket named with dots is addressed as my.bucket.s3.nanio.test and works."""
    bucket = f"dotted.{uuid.uuid4().hex[:12]}.bucket"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"dots")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"dots"
    assert f"{bucket}.{BASE_DOMAIN}" in resolved


def test_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    """A GET of a missing key on the bucket's host answers NoSuchKey."""
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_code(raised.value) == "NoSuchKey"


def test_sigv2_client_works(
    vhost_server: RunningServer, port: int, bucket: str, resolved: list[str]
) -> None:
    """A boto3 client signing with SigV2 (signature_version="s3") works through the virtual host."""
    client = virtual_client(vhost_server, port, signature_version="s3")
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="k", Body=b"signed v2")
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"signed v2"
    assert f"{bucket}.{BASE_DOMAIN}" in resolved


def curl(port: int, bucket: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run curl with the bucket's virtual host resolved to 127.0.0.1."""
    executable = shutil.which("curl")
    assert executable is not None, "curl is not installed"
    return subprocess.run(
        [
            executable,
            "--silent",
            "--show-error",
            "--resolve",
            f"{bucket}.{BASE_DOMAIN}:{port}:127.0.0.1",
            *args,
        ],
        capture_output=True,
        timeout=CLIENT_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_urls_work_with_curl(
    vhost_server: RunningServer, port: int, bucket: str, signature_version: str, tmp_path: Path
) -> None:
    """Presigned PUT and GET URLs for bucket.s3.nanio.test/key work with curl (SigV4 and SigV2)."""
    with loopback_names(BASE_DOMAIN):
        client = virtual_client(vhost_server, port, signature_version)
        client.create_bucket(Bucket=bucket)
    params = {"Bucket": bucket, "Key": "shared file"}
    put_url = client.generate_presigned_url("put_object", Params=params, ExpiresIn=600)
    get_url = client.generate_presigned_url("get_object", Params=params, ExpiresIn=600)
    assert urlsplit(put_url).hostname == f"{bucket}.{BASE_DOMAIN}"
    body = tmp_path / "body"
    body.write_bytes(pattern_block(3, MIB + 7))
    put = curl(port, bucket, "--fail", "--upload-file", str(body), put_url)
    assert put.returncode == 0, put.stderr
    got = curl(port, bucket, "--fail", get_url)
    assert got.returncode == 0, got.stderr
    assert got.stdout == body.read_bytes()


def run_aws_virtual(
    server: RunningServer, port: int, config_file: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run aws-cli (v1) with the base domain resolving to 127.0.0.1 in its own process."""
    environ = server.client_environ()
    environ["AWS_CONFIG_FILE"] = str(config_file)
    environ["AWS_ENDPOINT_URL"] = f"http://{BASE_DOMAIN}:{port}"
    command = [sys.executable, "-m", "tests.support.loopback_names", BASE_DOMAIN]
    command += ["awscli.clidriver:main", "--", *args]
    return run_command(command, env=environ, cwd=REPOSITORY_ROOT)


def test_aws_cli_with_virtual_addressing(
    vhost_server: RunningServer, port: int, bucket: str, tmp_path: Path
) -> None:
    """aws s3 mb/cp/ls/rm/rb with addressing_style = virtual in its config file all work."""
    config_file = tmp_path / "aws-config"
    config_file.write_text(
        f"[default]\nregion = {REGION}\ns3 =\n    addressing_style = virtual\n",
        encoding="utf-8",
    )
    source = tmp_path / "upload.txt"
    source.write_bytes(b"from aws-cli\n")
    made = run_aws_virtual(vhost_server, port, config_file, "s3", "mb", f"s3://{bucket}")
    assert f"{bucket}.{BASE_DOMAIN}" in made.stderr.splitlines()[-1]
    run_aws_virtual(vhost_server, port, config_file, "s3", "cp", str(source), f"s3://{bucket}/f")
    listing = run_aws_virtual(vhost_server, port, config_file, "s3", "ls", f"s3://{bucket}/")
    assert listing.stdout.split()[-1] == "f"
    fetched = run_aws_virtual(vhost_server, port, config_file, "s3", "cp", f"s3://{bucket}/f", "-")
    assert fetched.stdout == "from aws-cli\n"
    run_aws_virtual(vhost_server, port, config_file, "s3", "rm", f"s3://{bucket}/f")
    run_aws_virtual(vhost_server, port, config_file, "s3", "rb", f"s3://{bucket}")
    # The bucket's requests reached nanio with the key alone in the path.
    vhost_server.wait_for_log(r"PUT /f 200")
