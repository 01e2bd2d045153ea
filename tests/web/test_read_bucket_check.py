"""
GetObject and HeadObject on a one-user store: the read itself finds the bucket.

With one user there is no owner to check, so the preflight skips its bucket
check (two stats) for these two operations, and the object's open answers
NoSuchBucket instead.  These tests show that the answers are the ones the
check gave: the same status and error for every kind of missing bucket, and
the check still made where owners matter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nanio.config import User
from nanio.storage import Store
from tests.support.rawhttp import (
    ACCESS_KEY,
    SECRET_KEY,
    Connection,
    make_test_site,
    raw_request,
    status_of,
)

#: The user the test requests are signed as by default.
ME = User(ACCESS_KEY, SECRET_KEY)
#: A second user makes the store multi-user: buckets have owners to check.
OTHER_USER = User("AKIDOTHERUSER", "other-user-secret")


def _missing_bucket(data_dir: Path, kind: str) -> str:
    """Make a bucket name that is not a bucket, in one of several ways; return it."""
    if kind == "absent":
        return "nobucket"
    if kind == "file":
        (data_dir / "afile").write_bytes(b"not a bucket")
        return "afile"
    if kind == "symlink":
        os.symlink(data_dir / "bkt", data_dir / "alink")
        return "alink"
    if kind == "deleted":
        Store(data_dir, fsync=False).delete_bucket("bkt")
        return "bkt"
    assert kind == "internal"
    return ".nanio"


def _answer(data_dir: Path, method: str, path: str, *, multi_user: bool) -> bytes:
    users = (ME, OTHER_USER) if multi_user else (ME,)
    site, _ = make_test_site(str(data_dir), users=users)
    conn = Connection(site)
    conn.send(raw_request(method, path)[0])
    return conn.output()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("kind", ["absent", "file", "symlink", "deleted", "internal"])
def test_read_in_a_missing_bucket_answers_as_the_bucket_check_does(
    data_dir: Path, method: str, kind: str
) -> None:
    """One user (no check) and two users (the check) give the same 404 NoSuchBucket."""
    bucket = _missing_bucket(data_dir, kind)
    one_user = _answer(data_dir, method, f"/{bucket}/some/key", multi_user=False)
    two_users = _answer(data_dir, method, f"/{bucket}/some/key", multi_user=True)
    assert status_of(one_user) == status_of(two_users) == 404
    if method == "GET":
        for out in (one_user, two_users):
            assert b"<Code>NoSuchBucket</Code>" in out
            assert f"<BucketName>{bucket}</BucketName>".encode() in out
            assert f"<Resource>/{bucket}/some/key</Resource>".encode() in out


def test_one_user_reads_do_not_check_the_bucket_first(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET and HEAD of a stored object on a one-user store never ask for the bucket's record."""
    site, _ = make_test_site(str(data_dir))
    conn = Connection(site)
    head, body = raw_request("PUT", "/bkt/k", body=b"abc")
    conn.send(head + body)
    assert status_of(conn.output()) == 200

    def no_check(self: Store, bucket: str) -> object:
        raise AssertionError(f"bucket_info({bucket!r}) was called")

    monkeypatch.setattr(Store, "bucket_info", no_check)
    for method in ("GET", "HEAD"):
        conn.transport.clear()
        conn.send(raw_request(method, "/bkt/k")[0])
        assert status_of(conn.output()) == 200


def test_multi_user_reads_still_check_the_owner(data_dir: Path) -> None:
    """With two users, a read of another user's bucket is 403 AccessDenied, not the object."""
    Store(data_dir, fsync=False).create_bucket("mine", owner=ACCESS_KEY)
    (data_dir / "mine" / "k").write_bytes(b"private")
    for method in ("GET", "HEAD"):
        site, _ = make_test_site(str(data_dir), users=(ME, OTHER_USER))
        conn = Connection(site)
        head, _ = raw_request(
            method, "/mine/k", access_key=OTHER_USER.access_key, secret=OTHER_USER.secret_key
        )
        conn.send(head)
        out = conn.output()
        assert status_of(out) == 403
        assert b"private" not in out
