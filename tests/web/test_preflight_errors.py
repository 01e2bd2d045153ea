"""
A bug met before the body (in routing, auth or the bucket check) is answered
as InternalError in S3 XML and logged, never a dropped connection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from twisted.logger import globalLogPublisher

from nanio.storage import Store
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
