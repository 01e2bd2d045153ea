"""
A bug, met before the body (routing, auth, the bucket check) or in a handler
(at once or in its Deferred), is answered as InternalError in S3 XML and
logged with its traceback: never a dropped connection, never the bug's text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.defer import fail
from twisted.logger import globalLogPublisher

from nanio.s3.operations import Operation
from nanio.storage import Store
from nanio.web import resource
from tests.support.rawhttp import Connection, make_test_site, raw_request, status_of


def test_an_unexpected_error_before_the_body_is_a_500_in_xml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception that is no S3Error answers 500 InternalError, and its traceback is logged."""
    site, _ = make_test_site(str(tmp_path / "data"))
    Store(tmp_path / "data", fsync=False).create_bucket("bkt", owner=None)

    def broken(bucket: str) -> None:
        raise RuntimeError("a bug in the bucket check")

    monkeypatch.setattr(site.s3.preflight._store, "bucket_info", broken)
    logged: list[dict[str, object]] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        conn = Connection(site)
        head, body = raw_request("PUT", "/bkt/k", body=b"data")
        conn.send(head + body)
    finally:
        globalLogPublisher.removeObserver(logged.append)
    response = conn.output()
    assert status_of(response) == 500
    assert b"<Code>InternalError</Code>" in response
    assert b"a bug in the bucket check" not in response
    assert any("log_failure" in event for event in logged)
    assert not (tmp_path / "data" / "bkt" / "k").exists()


@pytest.mark.parametrize("deferred", [False, True], ids=["raised", "failed-deferred"])
def test_an_unexpected_error_in_a_handler_is_a_500_in_xml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deferred: bool
) -> None:
    """A handler that raises (or whose Deferred fails) with a non-S3 error answers InternalError."""
    site, _ = make_test_site(str(tmp_path / "data"))
    Store(tmp_path / "data", fsync=False).create_bucket("bkt", owner=None)

    def broken(ctx: object, request: object, call: object) -> object:
        error = RuntimeError("a bug in the handler")
        if deferred:
            return fail(error)
        raise error

    monkeypatch.setitem(resource.HANDLERS, Operation.HeadBucket, broken)
    logged: list[dict[str, object]] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        conn = Connection(site)
        head, _ = raw_request("GET", "/bkt?location")
        conn.send(head)
        conn.send(raw_request("HEAD", "/bkt")[0])
    finally:
        globalLogPublisher.removeObserver(logged.append)
    first, _, second = conn.output().partition(b"\r\n\r\n")
    assert status_of(first) == 200
    assert status_of(second) == 500
    assert b"a bug in the handler" not in conn.output()
    assert any("log_failure" in event for event in logged)
