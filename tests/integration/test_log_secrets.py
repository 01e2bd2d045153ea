"""
No secret reaches the server log.

One server at debug level serves a mixed workload: boto3 with SigV4 headers
and with SigV2 headers, SigV4 and SigV2 presigned URLs fetched by urllib, a
signed aws-chunked upload (each chunk signed), a multipart upload, and
refused attempts (a wrong secret, a tampered signature, an unknown access
key, a presigned URL made with a wrong secret).  Every signature actually
sent is captured on the client side, in every form it travelled in; then
the server is stopped and its whole log is searched.

What counts as secret: the secret keys (the real one and the wrong ones
tried), anything derived from them (signatures, chunk signatures, the SigV4
signing key), the Authorization header, and a presigned URL's full
X-Amz-Credential value.  The access key id alone is not: S3's own access
log names the requester, and so does nanio's access event (its
``access_key`` field), while the copies of it inside presigned URLs are
blanked along with the other credential parameters.
"""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.procs import start_own_server
from tests.support.server import REGION, RunningServer
from tests.support.signing import signed_chunked_body, sigv4_signing_key

BUCKET = "secrets"
WRONG_SECRET = "wrong-secret-that-must-not-be-logged-0123"
UNKNOWN_ACCESS_KEY = "AKIDUNKNOWNTOTHESERVER"
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass
class Sent:
    """What the clients sent that must never show up in the log."""

    secrets: set[str] = field(default_factory=set)
    signatures: set[str] = field(default_factory=set)
    credentials: set[str] = field(default_factory=set)
    authorizations: set[str] = field(default_factory=set)
    signing_keys: set[str] = field(default_factory=set)

    def record_url(self, url: str) -> None:
        """Remember the credential parameters of a presigned URL, decoded and as sent."""
        for raw in urlsplit(url).query.split("&"):
            name, _, value = raw.partition("=")
            if name in ("X-Amz-Signature", "Signature"):
                self.signatures.add(value)
            elif name == "X-Amz-Credential":
                self.credentials.add(value)
        for name, value in parse_qsl(urlsplit(url).query):
            if name in ("X-Amz-Signature", "Signature"):
                self.signatures.add(value)
            elif name == "X-Amz-Credential":
                self.credentials.add(value)

    def record_authorization(self, value: str) -> None:
        """Remember an Authorization header and the signature inside it."""
        self.authorizations.add(value)
        if value.startswith("AWS4-HMAC-SHA256"):
            self.signatures.add(value.rpartition("Signature=")[2])
            self.credentials.add(value.split("Credential=")[1].split(",")[0])
        else:  # "AWS AKID:signature"
            signature = value.rpartition(":")[2]
            self.signatures.update({signature, quote(signature, safe="")})


@dataclass
class Workload:
    """The log of a finished run and what was sent during it."""

    log: str
    sent: Sent
    access_key: str


def _client(server: RunningServer, sent: Sent, *, secret: str | None = None, **config: Any) -> Any:
    """A path-style boto3 client whose every request's credentials are recorded."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=config.pop("access_key", server.access_key),
        aws_secret_access_key=secret or server.secret_key,
        config=Config(
            region_name=REGION,
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            **config,
        ),
    )

    def record(request: Any, **_: Any) -> None:
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            sent.record_authorization(
                authorization.decode() if isinstance(authorization, bytes) else authorization
            )
        sent.record_url(request.url)

    client.meta.events.register("before-send.s3", record)
    return client


def _fetch(url: str, *, method: str = "GET", data: bytes | None = None) -> int:
    """Fetch a URL with urllib as any program would; return the status."""
    # urllib would add a form Content-Type to a body, which SigV2 URLs sign as empty.
    headers = {"Content-Type": ""} if data is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


class _StreamingSigner(S3SigV4Auth):
    """botocore's S3 signer for a body whose chunks are signed one by one."""

    def payload(self, request: AWSRequest) -> str:
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def _signed_chunked_upload(server: RunningServer, sent: Sent, key: str, chunks: list[bytes]) -> int:
    """PUT an aws-chunked body with signed chunks on a raw socket; return the status."""
    parts = urlsplit(server.endpoint_url)
    data = b"".join(chunks)
    # The framed length depends only on the chunk sizes, not on the signatures.
    framed, _ = signed_chunked_body(
        chunks, signing_key=b"", amz_date="", scope="", seed_signature="0" * 64
    )
    request = AWSRequest(
        method="PUT",
        url=f"{server.endpoint_url}/{BUCKET}/{key}",
        headers={
            "Host": parts.netloc,
            "Content-Encoding": "aws-chunked",
            "X-Amz-Decoded-Content-Length": str(len(data)),
            "Content-Length": str(len(framed)),
        },
    )
    _StreamingSigner(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(
        request
    )
    authorization = request.headers["Authorization"]
    sent.record_authorization(authorization)
    amz_date = request.headers["X-Amz-Date"]
    signing_key = sigv4_signing_key(server.secret_key, amz_date[:8], REGION)
    sent.signing_keys.add(signing_key.hex())
    body, chunk_signatures = signed_chunked_body(
        chunks,
        signing_key=signing_key,
        amz_date=amz_date,
        scope=f"{amz_date[:8]}/{REGION}/s3/aws4_request",
        seed_signature=authorization.rpartition("Signature=")[2],
    )
    sent.signatures.update(chunk_signatures)
    head = f"PUT /{BUCKET}/{key} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items()
    )
    with socket.create_connection(
        (parts.hostname or "127.0.0.1", parts.port or 80), timeout=REQUEST_TIMEOUT_SECONDS
    ) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        received = b""
        while b"\r\n" not in received:
            piece = sock.recv(4096)
            assert piece, f"closed after {received!r}"
            received += piece
    return int(received.split(b" ", 2)[1])


def _run_workload(server: RunningServer, sent: Sent) -> None:
    """Every way of signing a request, accepted and refused."""
    v4 = _client(server, sent, signature_version="s3v4")
    v2 = _client(server, sent, signature_version="s3")
    v4.create_bucket(Bucket=BUCKET)
    v4.put_object(Bucket=BUCKET, Key="v4", Body=b"signed v4")
    assert v4.get_object(Bucket=BUCKET, Key="v4")["Body"].read() == b"signed v4"
    v4.list_objects_v2(Bucket=BUCKET)
    v2.put_object(Bucket=BUCKET, Key="v2", Body=b"signed v2")
    assert v2.get_object(Bucket=BUCKET, Key="v2")["Body"].read() == b"signed v2"

    upload = v4.create_multipart_upload(Bucket=BUCKET, Key="multipart")["UploadId"]
    part = v4.upload_part(
        Bucket=BUCKET, Key="multipart", UploadId=upload, PartNumber=1, Body=b"part"
    )
    v4.complete_multipart_upload(
        Bucket=BUCKET,
        Key="multipart",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )

    assert _signed_chunked_upload(server, sent, "chunked", [b"a" * 9000, b"b" * 100]) == 200

    for client, kind in ((v4, "v4"), (v2, "v2")):
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": kind}, ExpiresIn=600
        )
        sent.record_url(url)
        assert _fetch(url) == 200
        put_url = client.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": f"presigned-{kind}"}, ExpiresIn=600
        )
        sent.record_url(put_url)
        assert _fetch(put_url, method="PUT", data=b"presigned") == 200

    # Refused attempts: their signatures were computed with secrets the
    # server does not know, or were tampered with.
    sent.secrets.add(WRONG_SECRET)
    for signature_version in ("s3v4", "s3"):
        wrong = _client(server, sent, secret=WRONG_SECRET, signature_version=signature_version)
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            wrong.get_object(Bucket=BUCKET, Key="v4")
        url = wrong.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "v4"}, ExpiresIn=600
        )
        sent.record_url(url)
        assert _fetch(url) == 403
    stranger = _client(
        server, sent, secret=WRONG_SECRET, access_key=UNKNOWN_ACCESS_KEY, signature_version="s3v4"
    )
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):
        stranger.get_object(Bucket=BUCKET, Key="v4")
    url = v4.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "v4"}, ExpiresIn=600
    )
    signature = re.search(r"X-Amz-Signature=([0-9a-f]{64})", url)
    assert signature is not None
    tampered = url.replace(signature[1], signature[1][::-1])
    sent.record_url(tampered)
    assert _fetch(tampered) == 403
    with pytest.raises(ClientError, match="NoSuchKey"):
        v4.get_object(Bucket=BUCKET, Key="missing")


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workload]:
    """Run the workload against a debug-level server, stop it, and read its whole log."""
    root: Path = tmp_path_factory.mktemp("log-secrets")
    server = start_own_server(root, "--log-level", "debug")
    sent = Sent(secrets={server.secret_key})
    try:
        _run_workload(server, sent)
    finally:
        status = server.stop()
    assert status == 0, f"exit status {status}; log: {server.log_path}"
    yield Workload(server.log_path.read_text(encoding="utf-8"), sent, server.access_key)


def _found(log: str, values: set[str]) -> list[str]:
    """The values that occur in the log."""
    return sorted(value for value in values if value and value in log)


def test_the_workload_reached_the_server(workload: Workload) -> None:
    """The log holds an access line for each kind of request, refused ones included."""
    log = workload.log
    assert re.search(r" PUT /secrets/chunked 200 ", log)
    assert re.search(r" GET /secrets/v2\?\S*Signature=\S* 200 ", log)
    assert re.search(r" GET /secrets/v4\?\S*X-Amz-Signature=\S* 200 ", log)
    assert len(re.findall(r" 403 ", log)) >= 6
    # Enough of each kind was captured for the searches below to mean something.
    assert len(workload.sent.signatures) >= 20 and len(workload.sent.credentials) >= 3


def test_no_secret_key_is_logged(workload: Workload) -> None:
    """Neither the server's secret nor a wrong secret a client tried appears in the log."""
    assert _found(workload.log, workload.sent.secrets) == []


def test_no_signature_is_logged(workload: Workload) -> None:
    """No signature sent (header, presigned, SigV2, chunk; valid or not) appears in the log."""
    assert _found(workload.log, workload.sent.signatures) == []


def test_no_authorization_header_or_signing_key_is_logged(workload: Workload) -> None:
    """No Authorization header value and no derived signing key appears in the log."""
    assert _found(workload.log, workload.sent.authorizations | workload.sent.signing_keys) == []


def test_no_full_credential_is_logged(workload: Workload) -> None:
    """No X-Amz-Credential value (access key with its scope) appears in the log."""
    assert _found(workload.log, workload.sent.credentials) == []


def test_presigned_credential_parameters_are_logged_blank(workload: Workload) -> None:
    """Every credential parameter in a logged URI has its value blanked."""
    names = r"X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId"
    values = re.findall(rf"[?&](?:{names})=([^&\s]*)", workload.log)
    assert values and set(values) == {""}


def test_the_access_key_id_names_the_requester(workload: Workload) -> None:
    """Access lines end with the access key id of the signer, as S3's own access log does."""
    assert re.search(
        rf" GET /secrets/v4 200 .* {re.escape(workload.access_key)}$", workload.log, re.M
    )
