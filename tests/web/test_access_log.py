"""The access log: one structured event per request, with secrets blanked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from twisted.logger import formatEvent, globalLogPublisher

from tests.support.rawhttp import (
    ACCESS_KEY,
    HOST,
    SECRET_KEY,
    Connection,
    make_test_site,
    raw_request,
    status_of,
)


@pytest.fixture
def events() -> Any:
    captured: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(captured.append)
    yield captured
    globalLogPublisher.removeObserver(captured.append)


def access_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "request_id" in e and "status" in e]


def presigned_path(path: str) -> str:
    request = AWSRequest(method="GET", url=f"http://{HOST}{path}")
    S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", expires=300).add_auth(
        request
    )
    return request.url.split(HOST, 1)[1]


def connect(data_dir: Path, *, access_log: bool) -> Connection:
    """A connection to a site over ``data_dir`` with the access log on or off."""
    site, _ = make_test_site(str(data_dir), access_log=access_log)
    return Connection(site)


def test_one_event_per_request_with_its_fields(data_dir: Path, events: list[Any]) -> None:
    """Each request logs one event with method, status, bytes, request id and access key."""
    conn = connect(data_dir, access_log=True)
    head, _ = raw_request("GET", "/bkt/missing")
    conn.send(head)
    [event] = access_events(events)
    assert (event["method"], event["status"], event["access_key"]) == ("GET", 404, ACCESS_KEY)
    assert event["request_id"].encode() in conn.output()
    assert event["bytes"] > 0


def test_presigned_signature_never_reaches_the_log(data_dir: Path, events: list[Any]) -> None:
    """A presigned URL is logged with its signature and credential values blanked."""
    conn = connect(data_dir, access_log=True)
    path = presigned_path("/bkt/missing")
    signature = path.split("X-Amz-Signature=")[1].split("&")[0]
    conn.send(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert status_of(conn.output()) == 404
    [event] = access_events(events)
    text = formatEvent(event) + repr(event)
    assert signature not in text
    assert SECRET_KEY not in text
    assert "X-Amz-Signature=" in event["uri"]


def test_no_access_log_when_turned_off(data_dir: Path, events: list[Any]) -> None:
    """With access_log off, requests log nothing."""
    conn = connect(data_dir, access_log=False)
    head, _ = raw_request("GET", "/bkt/missing")
    conn.send(head)
    assert access_events(events) == []
