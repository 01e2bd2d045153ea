"""
Helpers for driving a running nanio server with real clients.

Raw signed HTTP (botocore's own SigV4 signer, ``http.client`` on the wire, so
the exact path bytes reach the server unnormalised), S3 error XML parsing,
the (status, code) of a refused boto3 call, and subprocess runners (any
client command; aws-cli, s3cmd and rclone with a config that keeps them on
path-style addressing) under one deadline.

Test support only: nothing here may import nanio, so the clients see the
server exactly as any other program would.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.server import REGION, RunningServer, clean_environ, console_script

#: Deadline for one request or one client command; a hang fails the test.
REQUEST_TIMEOUT_SECONDS = 30.0
CLIENT_TIMEOUT_SECONDS = 120.0

#: The namespace S3 puts on its response documents.
S3_XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What came back for one raw HTTP request."""

    status: int
    #: Header names lower-cased; a repeated header keeps its last value.
    headers: dict[str, str]
    body: bytes


def host_header(server: RunningServer) -> str:
    """The Host header a client sends to ``server`` (host:port)."""
    return urlsplit(server.endpoint_url).netloc


def open_connection(server: RunningServer) -> http.client.HTTPConnection:
    """A keep-alive HTTP connection to ``server`` for ``signed_request(connection=...)``."""
    parts = urlsplit(server.endpoint_url)
    return http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT_SECONDS
    )


def signed_request(
    server: RunningServer,
    method: str,
    raw_path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    access_key: str | None = None,
    secret_key: str | None = None,
    sign: bool = True,
    connection: http.client.HTTPConnection | None = None,
    sent_body: bytes | None = None,
    signed_path: str | None = None,
) -> RawResponse:
    """Send ``method raw_path?query`` signed with SigV4; ``raw_path`` goes out byte for byte.

    Without ``connection`` the request gets a connection of its own, closed after it.
    ``sent_body`` replaces the signed body on the wire (a body tampered with in transit);
    ``signed_path`` replaces the path the signature covers (its canonical form, say).
    """
    suffix = f"?{query}" if query else ""
    target = raw_path + suffix
    all_headers = {"Host": host_header(server), **(headers or {})}
    if sign:
        signed_target = (raw_path if signed_path is None else signed_path) + suffix
        request = AWSRequest(
            method=method, url=server.endpoint_url + signed_target, data=body, headers=all_headers
        )
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        credentials = Credentials(access_key or server.access_key, secret_key or server.secret_key)
        # S3SigV4Auth signs the path as given: S3 never normalises it.
        S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
        all_headers = dict(request.headers.items())
    own = connection is None
    conn = open_connection(server) if connection is None else connection
    try:
        if sent_body is not None:
            body = sent_body
        conn.request(method, target, body=body or None, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        received = {name.lower(): value for name, value in response.getheaders()}
        return RawResponse(status=response.status, headers=received, body=data)
    finally:
        if own:
            conn.close()


def _client_config(signature_version: str | None) -> Any:
    """Path-style, one attempt, and a signer choice (None: botocore's own default)."""
    from botocore.config import Config

    options: dict[str, Any] = {
        "region_name": REGION,
        "s3": {"addressing_style": "path"},
        # One attempt: a retry would hide the failure a test is looking for.
        "retries": {"total_max_attempts": 1},
    }
    if signature_version is not None:
        options["signature_version"] = signature_version
    return Config(**options)


def boto3_client_as(
    server: RunningServer,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    signature_version: str | None = "s3v4",
) -> Any:
    """A path-style boto3 S3 client for ``server``, with other credentials or signer if asked.

    ``signature_version=None`` keeps botocore's default, which presigns with
    SigV2 for a custom endpoint (as ``aws s3 presign`` of aws-cli v1 does).
    """
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=access_key or server.access_key,
        aws_secret_access_key=secret_key or server.secret_key,
        config=_client_config(signature_version),
    )


def boto3_resource(server: RunningServer) -> Any:
    """A path-style boto3 S3 resource (the object-oriented API) for ``server``."""
    import boto3

    return boto3.session.Session().resource(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=_client_config("s3v4"),
    )


def error_fields(body: bytes) -> dict[str, str]:
    """The child elements of an S3 ``<Error>`` document, by tag name."""
    root = ElementTree.fromstring(body)
    assert root.tag == "Error", f"not an S3 error document: {body[:200]!r}"
    return {child.tag: child.text or "" for child in root}


def error_code(error: Any) -> str:
    """The S3 error code botocore parsed from a ``ClientError``."""
    return str(error.response["Error"]["Code"])


def refusal(call: Callable[..., Any], /, **params: Any) -> tuple[int, str]:
    """The (HTTP status, S3 error code) a boto3 call is refused with; fails if it succeeds."""
    try:
        call(**params)
    except ClientError as error:
        return http_status(error.response), error_code(error)
    raise AssertionError(f"{getattr(call, '__name__', call)} succeeded; a refusal was expected")


def http_status(response: Mapping[str, Any]) -> int:
    """The HTTP status of a boto3 response or ``ClientError.response``."""
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


def response_headers(response: Mapping[str, Any]) -> Mapping[str, str]:
    """The raw HTTP headers (lower-case names) of a boto3 response."""
    headers: Mapping[str, str] = response["ResponseMetadata"]["HTTPHeaders"]
    return headers


def urlopen(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Fetch ``url`` with urllib as a browser or curl would; HTTP errors are returned too."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            headers = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers, response.read()
    except urllib.error.HTTPError as error:
        headers = {name.lower(): value for name, value in error.headers.items()}
        return error.code, headers, error.read()


def run_command(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a client command under CLIENT_TIMEOUT_SECONDS; with ``check``, fail unless it exits 0."""
    result = subprocess.run(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_SECONDS,
    )
    if check:
        assert result.returncode == 0, f"{' '.join(command)} failed: {result.stderr}"
    return result


def run_aws(
    server: RunningServer, *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``aws --endpoint-url <server> <args>`` (aws-cli v1) and return its result."""
    command = [console_script("aws"), "--endpoint-url", server.endpoint_url, *args]
    return run_command(command, env=server.client_environ(), cwd=cwd, check=check)


def write_s3cmd_config(server: RunningServer, path: Path, *, signature_v2: bool) -> Path:
    """Write an s3cmd config for ``server`` at ``path``, path-style, plain HTTP."""
    host = host_header(server)
    lines = [
        "[default]",
        f"access_key = {server.access_key}",
        f"secret_key = {server.secret_key}",
        # A host_bucket without %(bucket)s keeps s3cmd on path-style URLs:
        # it never asks DNS for <bucket>.127.0.0.1.
        f"host_base = {host}",
        f"host_bucket = {host}",
        f"bucket_location = {REGION}",
        "use_https = False",
        "check_ssl_certificate = False",
        f"signature_v2 = {signature_v2}",
        # Whatever the tester's environment says, talk to the server directly.
        "proxy_host = ",
        "proxy_port = 0",
        # One attempt: a retry would hide the failure a test is looking for.
        "max_retries = 1",
        "progress_meter = False",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_s3cmd(
    config: Path,
    *args: str,
    cwd: Path | None = None,
    check: bool = True,
    environ: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``s3cmd -c <config> <args>`` and return its result."""
    command = [console_script("s3cmd"), "-c", str(config), *args]
    return run_command(command, env=environ, cwd=cwd, check=check)


#: How a test names the nanio remote in rclone's config.
RCLONE_REMOTE = "nanio"

#: Said when rclone is missing (Debian's package; .ci/run installs it).
RCLONE_MISSING = (
    "rclone is not installed: .ci/run installs it (apt-get install rclone); "
    "on your machine, install Debian's rclone package"
)


def write_rclone_config(server: RunningServer, path: Path) -> Path:
    """Write an rclone config at ``path`` with one S3 remote, RCLONE_REMOTE, for ``server``."""
    lines = [
        f"[{RCLONE_REMOTE}]",
        "type = s3",
        "provider = Other",
        f"access_key_id = {server.access_key}",
        f"secret_access_key = {server.secret_key}",
        f"endpoint = {server.endpoint_url}",
        f"region = {REGION}",
        "force_path_style = true",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_rclone(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``rclone <args>`` with ``config``, one attempt per operation, and return its result."""
    executable = shutil.which("rclone")
    assert executable is not None, RCLONE_MISSING
    environ = clean_environ({"RCLONE_CONFIG": str(config)})
    # rclone 1.60 refuses to build an S3 client at all when AWS_CA_BUNDLE
    # names a bundle and the endpoint is plain HTTP; the server is plain HTTP.
    environ.pop("AWS_CA_BUNDLE", None)
    command = [executable, "--retries", "1", "--low-level-retries", "1", *args]
    return run_command(command, env=environ, check=check)


def all_keys(pages: Sequence[Mapping[str, Any]], field: str = "Contents") -> list[str]:
    """Every ``Key`` under ``field`` across listing pages, in order."""
    return [entry["Key"] for page in pages for entry in page.get(field, [])]


def keys_of(client: Any, bucket: str) -> list[str]:
    """Every key in ``bucket``, in listing order (every page, through a boto3 ``client``)."""
    return all_keys(client.get_paginator("list_objects_v2").paginate(Bucket=bucket))
