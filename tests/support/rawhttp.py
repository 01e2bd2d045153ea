"""
Signed raw HTTP requests for in-memory tests of NanioSite.

botocore signs the request (no auth bypass anywhere); the result is the exact
bytes a client would put on the wire, so the tests exercise nanio's own
request parsing, routing and signature check.  For ``make_resource`` under a
plain Site, ``make_test_resource`` and ``result_of`` serve StubTreq tests.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.resource import IResource

from nanio.config import Settings, User
from nanio.storage.store import Store
from nanio.web.resource import make_resource
from nanio.web.site import NanioSite, make_site

ACCESS_KEY = "AKIDNANIOTEST"
SECRET_KEY = "nanio-test-secret/with+odd=chars"
HOST = "127.0.0.1:9000"


def make_settings(data_dir: str, **overrides: object) -> Settings:
    """Settings for a one-user test store with fsync off."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "users": (User(ACCESS_KEY, SECRET_KEY),),
        "fsync": False,
        "access_log": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class _PayloadHashSigner(S3SigV4Auth):
    """botocore's S3 signer with the x-amz-content-sha256 value chosen by the test."""

    def __init__(self, secret: str, payload_hash: str | None, access_key: str) -> None:
        super().__init__(Credentials(access_key, secret), "s3", "us-east-1")
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        if self._payload_hash is None:
            return str(super().payload(request))
        return self._payload_hash


def sign(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    payload_hash: str | None = "UNSIGNED-PAYLOAD",
    secret: str = SECRET_KEY,
    host: str = HOST,
    access_key: str = ACCESS_KEY,
) -> dict[str, str]:
    """The headers botocore's SigV4 signer puts on this request (sent to ``host``)."""
    request = AWSRequest(
        method=method, url=f"http://{host}{path}", data=body, headers=headers or {}
    )
    if payload_hash == "hash":
        payload_hash = hashlib.sha256(body).hexdigest()
    _PayloadHashSigner(secret, payload_hash, access_key).add_auth(request)
    return dict(request.headers.items())


def raw_request(
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    signed: bool = True,
    expect_continue: bool = False,
    content_length: int | None = None,
    host: str = HOST,
    **sign_options: object,
) -> tuple[bytes, bytes]:
    """(head, body): the request head as bytes and the body to send after it."""
    all_headers = dict(headers or {})
    if signed:
        all_headers = sign(method, path, body=body, headers=all_headers, host=host, **sign_options)  # type: ignore[arg-type]
    all_headers.setdefault("Host", host)
    length = len(body) if content_length is None else content_length
    if length or method in ("PUT", "POST"):
        all_headers["Content-Length"] = str(length)
    if expect_continue:
        all_headers["Expect"] = "100-continue"
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"), body


@dataclass
class Connection:
    """One in-memory HTTP connection to a NanioSite."""

    site: NanioSite
    transport: StringTransport = field(default_factory=StringTransport)

    def __post_init__(self) -> None:
        self.channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
        self.channel.makeConnection(self.transport)

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)

    def output(self) -> bytes:
        return self.transport.value()


def real_time_clock() -> MemoryReactorClock:
    """An in-memory clock set to the real time (SigV4 checks skew)."""
    clock = MemoryReactorClock()
    clock.advance(time.time())
    return clock


#: The stores of the sites and resources tests made; tests/conftest.py closes
#: them after each test.  A site is cyclic garbage: left to the collector, a
#: worker process running hundreds of tests would hold thousands of directory
#: descriptors.
STORES_TO_CLOSE: list[Store] = []


def close_after_test(store: Store) -> None:
    """Close ``store`` when the running test ends."""
    STORES_TO_CLOSE.append(store)


def make_test_site(data_dir: str, **overrides: object) -> tuple[NanioSite, MemoryReactorClock]:
    """A NanioSite on an in-memory clock set to the real time."""
    clock = real_time_clock()
    site = make_site(make_settings(data_dir, **overrides), reactor=clock)
    close_after_test(site.s3.context.store)
    return site, clock


def make_test_resource(data_dir: str, **overrides: object) -> IResource:
    """nanio's resource for a plain Site, on an in-memory clock set to the real time."""
    resource = make_resource(make_settings(data_dir, **overrides), reactor=real_time_clock())
    close_after_test(resource.s3.context.store)  # type: ignore[attr-defined]
    return resource


def result_of(stub: StubTreq, deferred: Deferred[Any]) -> Any:
    """Flush StubTreq's in-memory connection and return the Deferred's result."""
    stub.flush()
    results: list[Any] = []
    deferred.addBoth(results.append)
    assert results, "the request did not complete"
    return results[0]


def status_of(response: bytes) -> int:
    """The status code of the last response in ``response`` (after any 100 Continue)."""
    blocks = [b for b in response.split(b"HTTP/1.1 ")[1:] if not b.startswith(b"100 ")]
    return int(blocks[-1][:3])
