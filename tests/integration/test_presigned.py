"""
Presigned SigV4 URLs against a real server, used by plain HTTP clients.

boto3 makes the URLs; ``curl`` and ``treq`` (each in a subprocess, as a user
would run them) upload and download through them with no credentials of
their own.  A URL that has expired, or is used for another method or another
key, is refused with the error S3 gives.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.clients import CLIENT_TIMEOUT_SECONDS, error_fields, run_command, urlopen
from tests.support.procs import MIB, pattern_block
from tests.support.signing import frozen_botocore_clock

#: Odd-sized, over one MiB: curl sends it with Expect: 100-continue.
BODY = pattern_block(7, MIB + 123)
URL_LIFETIME_SECONDS = 600
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run curl with ``args`` and return what it did."""
    executable = shutil.which("curl")
    assert executable is not None, "curl is not installed"
    return subprocess.run(
        [executable, "--silent", "--show-error", *args],
        capture_output=True,
        timeout=CLIENT_TIMEOUT_SECONDS,
        check=False,
    )


def run_treq(method: str, url: str, *options: str) -> str:
    """Run one treq request in a subprocess; return the status code it printed."""
    command = [sys.executable, "-m", "tests.support.treq_client", method, url, *options]
    return run_command(command, cwd=REPOSITORY_ROOT).stdout.strip()


def presign(
    client: Any, operation: str, bucket: str, key: str, lifetime: int = URL_LIFETIME_SECONDS
) -> str:
    """A presigned URL for ``operation`` on ``bucket/key``."""
    return str(
        client.generate_presigned_url(
            operation,
            Params={"Bucket": bucket, "Key": key},
            ExpiresIn=lifetime,
        )
    )


def test_curl_uploads_and_downloads_through_presigned_urls(
    client: Any, bucket: str, tmp_path: Path
) -> None:
    """curl -T to a presigned PUT URL, then curl -o from a presigned GET URL, returns the bytes."""
    source, fetched = tmp_path / "source.bin", tmp_path / "fetched.bin"
    source.write_bytes(BODY)
    uploaded = curl("--fail", "-T", str(source), presign(client, "put_object", bucket, "c"))
    assert uploaded.returncode == 0, uploaded.stderr
    downloaded = curl("--fail", "-o", str(fetched), presign(client, "get_object", bucket, "c"))
    assert downloaded.returncode == 0, downloaded.stderr
    assert fetched.read_bytes() == BODY


def test_treq_uploads_and_downloads_through_presigned_urls(
    client: Any, bucket: str, tmp_path: Path
) -> None:
    """treq PUT to a presigned URL, then treq GET from another, gives the bytes back."""
    source, fetched = tmp_path / "source.bin", tmp_path / "fetched.bin"
    source.write_bytes(BODY)
    put_url = presign(client, "put_object", bucket, "t")
    put_status = run_treq("PUT", put_url, "--upload", str(source))
    get_url = presign(client, "get_object", bucket, "t")
    get_status = run_treq("GET", get_url, "--output", str(fetched))
    assert (put_status, get_status) == ("200", "200")
    assert fetched.read_bytes() == BODY


def test_expired_presigned_url_answers_access_denied(
    client: Any, bucket: str, tmp_path: Path
) -> None:
    """A presigned GET URL made two hours ago for one minute answers 403 AccessDenied to curl."""
    client.put_object(Bucket=bucket, Key="old", Body=b"stale")
    then = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    with frozen_botocore_clock(then):
        url = presign(client, "get_object", bucket, "old", lifetime=60)
    answer = tmp_path / "answer.xml"
    result = curl("-o", str(answer), "-w", "%{http_code}", url)
    assert (result.stdout, error_fields(answer.read_bytes())["Code"]) == (b"403", "AccessDenied")


def test_presigned_get_url_used_to_delete_answers_signature_does_not_match(
    client: Any, bucket: str
) -> None:
    """A presigned GET URL sent as a DELETE answers 403 SignatureDoesNotMatch."""
    client.put_object(Bucket=bucket, Key="keep", Body=b"kept")
    status, _, body = urlopen(presign(client, "get_object", bucket, "keep"), method="DELETE")
    assert (status, error_fields(body)["Code"]) == (403, "SignatureDoesNotMatch")


def test_presigned_url_with_a_tampered_key_answers_signature_does_not_match(
    client: Any, bucket: str
) -> None:
    """A presigned GET URL whose key was changed after signing answers 403 SignatureDoesNotMatch."""
    for key in ("granted", "secret"):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    url = presign(client, "get_object", bucket, "granted")
    tampered = url.replace(f"/{bucket}/granted?", f"/{bucket}/secret?", 1)
    assert tampered != url
    status, _, body = urlopen(tampered)
    assert (status, error_fields(body)["Code"]) == (403, "SignatureDoesNotMatch")
