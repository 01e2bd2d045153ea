"""
boto3 over HTTPS: the newest SDK defaults send aws-chunked bodies with checksum trailers.

Over plain HTTP botocore signs the payload hash; over TLS it streams
``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` bodies with a CRC trailer instead, as
it does for nanio behind a TLS proxy.  nanio listens on a Twisted ``ssl:``
endpoint with a certificate made here.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.clients import error_code
from tests.support.server import RunningServer, serve_command, start_server


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key) PEM paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, str, Path]]:
    root = tmp_path_factory.mktemp("tls")
    cert, key = make_certificate(root)
    data_dir = root / "data"
    listen = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    server = start_server(
        serve_command(data_dir, "--listen", listen), data_dir=data_dir, log_path=root / "log"
    )
    https_url = server.wait_for_log(r"nanio listening on (https://\S+)").group(1)
    yield server, https_url, cert
    server.stop()


@pytest.fixture
def https_s3(tls_server: tuple[RunningServer, str, Path]) -> Any:
    server, url, cert = tls_server
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        verify=str(cert),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_default_put_over_tls_stores_the_bytes(https_s3: Any, tls_server: Any) -> None:
    """boto3's default aws-chunked PUT with a CRC32 trailer stores exactly the payload."""
    server = tls_server[0]
    https_s3.create_bucket(Bucket="tls-default")
    body = os.urandom(3 * 1024 * 1024 + 17)
    response = https_s3.put_object(Bucket="tls-default", Key="obj", Body=body)
    crc32 = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert response["ChecksumCRC32"] == crc32
    assert (server.data_dir / "tls-default" / "obj").read_bytes() == body
    fetched = https_s3.get_object(Bucket="tls-default", Key="obj", ChecksumMode="ENABLED")
    assert fetched["Body"].read() == body
    assert fetched["ChecksumCRC32"] == crc32
    assert fetched["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert "ContentEncoding" not in fetched


#: Each algorithm botocore computes, and an independent digest of the body where
#: the standard library has one (the XXHashes are checked against botocore's
#: own values and by the unit tests' known answers).
ALGORITHMS: dict[str, Callable[[bytes], bytes] | None] = {
    "CRC32C": None,
    "CRC64NVME": None,
    "SHA1": lambda body: hashlib.sha1(body).digest(),
    "SHA256": lambda body: hashlib.sha256(body).digest(),
    "SHA512": lambda body: hashlib.sha512(body).digest(),
    "XXHASH64": None,
    "XXHASH3": None,
    "XXHASH128": None,
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_checksum_algorithm_round_trips_over_tls(https_s3: Any, algorithm: str) -> None:
    """A PUT asking for each flexible checksum gets it verified, stored and returned."""
    bucket = f"tls-{algorithm.lower()}"
    https_s3.create_bucket(Bucket=bucket)
    body = os.urandom(200_000)
    put = https_s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm=algorithm)
    head = https_s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]
    independent = ALGORITHMS[algorithm]
    if independent is not None:
        assert head[f"Checksum{algorithm}"] == base64.b64encode(independent(body)).decode()
    assert https_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body


def test_a_precomputed_md5_checksum_is_verified_and_kept(https_s3: Any) -> None:
    """x-amz-checksum-md5 (S3 takes it precomputed only) is checked, stored and returned."""
    https_s3.create_bucket(Bucket="tls-md5")
    body = os.urandom(100_000)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    https_s3.put_object(Bucket="tls-md5", Key="k", Body=body, ChecksumMD5=md5)
    head = https_s3.head_object(Bucket="tls-md5", Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumMD5"] == md5
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as caught:
        https_s3.put_object(Bucket="tls-md5", Key="bad", Body=body, ChecksumMD5=wrong)
    assert error_code(caught.value) == "BadDigest"
