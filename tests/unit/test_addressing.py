"""
Signatures of requests addressed below a mount point or by virtual host.

boto3 clients whose endpoint has a path (``http://localhost:9000/s3``) sign
SigV4 over the whole path they send, but SigV2 over S3's ``/bucket/key``
alone; virtual-host clients sign SigV2 over ``/bucket`` + path.  The
Authenticator must accept each as the client signed it, told only the mount
point (``SignedRequest.mount``) and the bucket in the Host header.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from nanio.errors import SignatureDoesNotMatch
from nanio.s3.auth import AuthResult, SignedRequest
from nanio.s3.sigv2 import resource_candidates
from tests.support.signing import (
    ACCESS_KEY,
    authenticator_at,
    boto3_client,
    boto3_presigned,
    capture,
    sign_v2,
)

MOUNTED_ENDPOINT = "http://localhost:9000/s3"


def authenticate(request: SignedRequest) -> AuthResult:
    """Authenticate with the test key pair at the instant the helpers sign at."""
    return authenticator_at().authenticate(request)


def mounted_client(signature_version: str, addressing_style: str = "path") -> Any:
    """A boto3 client whose endpoint URL has the path /s3."""
    return boto3_client(signature_version, addressing_style, endpoint=MOUNTED_ENDPOINT)


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_mounted_path_style_request_is_accepted(signature_version: str) -> None:
    """boto3 with an endpoint path signs /s3/bkt/key (SigV4) or /bkt/key (SigV2): both pass."""
    request = capture(mounted_client(signature_version), "get_object", Bucket="bkt", Key="a b+c/d")
    assert request.raw_path == "/s3/bkt/a%20b%2Bc/d"
    mounted = dataclasses.replace(request, mount="/s3")
    assert authenticate(mounted).access_key == ACCESS_KEY


def test_mounted_sigv2_needs_the_mount_point() -> None:
    """Told no mount point, a SigV2 request signed over /bkt/key but sent to /s3/bkt/key fails."""
    request = capture(mounted_client("s3"), "get_object", Bucket="bkt", Key="k")
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(request)


def test_sigv2_over_the_whole_path_is_accepted_too() -> None:
    """A SigV2 client that signs the whole path it sends (/s3/bkt/k) is accepted under a mount."""
    request = sign_v2("GET", f"{MOUNTED_ENDPOINT}/bkt/k")
    assert authenticate(dataclasses.replace(request, mount="/s3")).signature_version == 2


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_mounted_virtual_host_request_is_accepted(signature_version: str) -> None:
    """A virtual-host request below a mount point (bkt.host/s3/key) passes in both versions."""
    client = mounted_client(signature_version, "virtual")
    request = capture(client, "put_object", Bucket="bkt", Key="k", Body=b"data")
    assert (request.headers["host"], request.raw_path) == (["bkt.localhost:9000"], "/s3/k")
    routed = dataclasses.replace(request, mount="/s3", virtual_host_bucket="bkt")
    assert authenticate(routed).access_key == ACCESS_KEY


def test_sigv2_presigned_virtual_host_url_is_accepted() -> None:
    """A SigV2 presigned URL for bkt.host/key (boto3, signature "s3") passes."""
    client = boto3_client("s3", "virtual", endpoint="http://s3.nanio.test:9000")
    request = boto3_presigned(
        client, "get_object", {"Bucket": "bkt", "Key": "k"}, virtual_host_bucket="bkt"
    )
    assert request.headers["host"] == ["bkt.s3.nanio.test:9000"]
    assert authenticate(request).signature_version == 2


def test_resource_candidates_put_the_s3_resource_first() -> None:
    """Under a mount, the first SigV2 resource tried is /bucket/key, then the whole path."""
    candidates = list(resource_candidates("/s3/bkt/k", "", None, mount="/s3"))
    assert candidates[0] == "/bkt/k"
    assert "/s3/bkt/k" in candidates
