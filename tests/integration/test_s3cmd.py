"""
s3cmd 2.4 against a real server: mb, put, ls, get, cp, del, rb, once signing
with SigV4 and once with SigV2 (``signature_v2 = True``).

The config keeps s3cmd on path-style URLs over plain HTTP (``host_bucket``
without ``%(bucket)s``).  Its multipart uploads are tested in
test_multipart.py.  Buckets that are only the stage for a test are made with
boto3.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import http_status, keys_of, run_s3cmd, write_s3cmd_config
from tests.support.server import RunningServer


@pytest.fixture(params=[False, True], ids=["sigv4", "sigv2"])
def config(request: pytest.FixtureRequest, server: RunningServer, tmp_path: Path) -> Path:
    """An s3cmd config for the server, signing with SigV4 and then with SigV2."""
    return write_s3cmd_config(server, tmp_path / "s3cfg", signature_v2=request.param)


def test_mb_creates_bucket(config: Path, client: Any, fresh_bucket: str) -> None:
    """s3cmd mb creates the bucket."""
    run_s3cmd(config, "mb", f"s3://{fresh_bucket}")
    assert http_status(client.head_bucket(Bucket=fresh_bucket)) == 200


def test_put_stores_file(config: Path, client: Any, bucket: str, tmp_path: Path) -> None:
    """s3cmd put uploads a file's bytes under the given key."""
    source = tmp_path / "up.bin"
    source.write_bytes(os.urandom(256 * 1024))
    run_s3cmd(config, "put", str(source), f"s3://{bucket}/dir/up.bin")
    body = client.get_object(Bucket=bucket, Key="dir/up.bin")["Body"].read()
    assert body == source.read_bytes()


def test_put_then_get_keeps_bytes(config: Path, bucket: str, tmp_path: Path) -> None:
    """A file put with s3cmd and fetched back with s3cmd get is byte for byte the same."""
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(2 * 1024 * 1024))
    run_s3cmd(config, "put", str(source), f"s3://{bucket}/data.bin")
    target = tmp_path / "back.bin"
    run_s3cmd(config, "get", f"s3://{bucket}/data.bin", str(target))
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )


def test_put_special_key(config: Path, client: Any, bucket: str, tmp_path: Path) -> None:
    """s3cmd put stores a key with spaces, unicode and '+' under exactly that name."""
    source = tmp_path / "f.txt"
    source.write_bytes(b"special")
    key = "dir with space/ünï+code=1.txt"
    run_s3cmd(config, "put", str(source), f"s3://{bucket}/{key}")
    assert keys_of(client, bucket) == [key]


def test_ls_lists_buckets(config: Path, bucket: str) -> None:
    """s3cmd ls with no argument lists the bucket."""
    assert f"s3://{bucket}" in run_s3cmd(config, "ls").stdout.split()


def test_ls_bucket_lists_objects_and_dirs(config: Path, client: Any, bucket: str) -> None:
    """s3cmd ls s3://bucket lists top-level objects with sizes and DIR lines for prefixes."""
    client.put_object(Bucket=bucket, Key="file.txt", Body=b"12345")
    client.put_object(Bucket=bucket, Key="dir/inner.txt", Body=b"x")
    lines = [line.split() for line in run_s3cmd(config, "ls", f"s3://{bucket}").stdout.splitlines()]
    assert ["DIR", f"s3://{bucket}/dir/"] in lines
    assert any(fields[-2:] == ["5", f"s3://{bucket}/file.txt"] for fields in lines)


def test_ls_recursive_lists_every_key(config: Path, client: Any, bucket: str) -> None:
    """s3cmd ls --recursive lists every key by its full URL."""
    for key in ["a", "d/b", "d/e/c"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    output = run_s3cmd(config, "ls", "--recursive", f"s3://{bucket}").stdout
    assert [line.split()[-1] for line in output.splitlines()] == [
        f"s3://{bucket}/{key}" for key in ["a", "d/b", "d/e/c"]
    ]


def test_get_keeps_bytes(config: Path, client: Any, bucket: str, tmp_path: Path) -> None:
    """s3cmd get downloads an object's exact bytes."""
    body = os.urandom(100_000)
    client.put_object(Bucket=bucket, Key="obj", Body=body)
    target = tmp_path / "obj"
    run_s3cmd(config, "get", f"s3://{bucket}/obj", str(target))
    assert target.read_bytes() == body


def test_get_missing_key_fails(config: Path, bucket: str, tmp_path: Path) -> None:
    """s3cmd get of a missing key exits non-zero, saying the object does not exist."""
    result = run_s3cmd(config, "get", f"s3://{bucket}/missing", str(tmp_path / "x"), check=False)
    assert result.returncode != 0
    assert "does not exist" in result.stderr
    assert not (tmp_path / "x").exists()


def test_cp_copies_within_bucket(config: Path, client: Any, bucket: str) -> None:
    """s3cmd cp copies an object to another key of the same bucket."""
    client.put_object(Bucket=bucket, Key="src", Body=b"copy me")
    run_s3cmd(config, "cp", f"s3://{bucket}/src", f"s3://{bucket}/dst")
    assert client.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"


def test_cp_copies_across_buckets(
    config: Path, client: Any, bucket: str, fresh_bucket: str
) -> None:
    """s3cmd cp copies an object into another bucket."""
    target = fresh_bucket + "-target"
    client.create_bucket(Bucket=target)
    client.put_object(Bucket=bucket, Key="src", Body=b"across")
    run_s3cmd(config, "cp", f"s3://{bucket}/src", f"s3://{target}/dst")
    assert client.get_object(Bucket=target, Key="dst")["Body"].read() == b"across"


def test_del_removes_object(config: Path, client: Any, bucket: str) -> None:
    """s3cmd del deletes the named object and leaves the others."""
    client.put_object(Bucket=bucket, Key="doomed", Body=b"x")
    client.put_object(Bucket=bucket, Key="kept", Body=b"x")
    run_s3cmd(config, "del", f"s3://{bucket}/doomed")
    assert keys_of(client, bucket) == ["kept"]


def test_del_recursive_removes_prefix(config: Path, client: Any, bucket: str) -> None:
    """s3cmd del --recursive deletes every key under a prefix."""
    for key in ["dir/a", "dir/sub/b", "other"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    run_s3cmd(config, "del", "--recursive", "--force", f"s3://{bucket}/dir/")
    assert keys_of(client, bucket) == ["other"]


def test_rb_removes_empty_bucket(config: Path, client: Any, bucket: str) -> None:
    """s3cmd rb removes an empty bucket."""
    run_s3cmd(config, "rb", f"s3://{bucket}")
    with pytest.raises(ClientError):
        client.head_bucket(Bucket=bucket)


def test_rb_refuses_non_empty_bucket(config: Path, client: Any, bucket: str) -> None:
    """s3cmd rb of a bucket holding an object fails with BucketNotEmpty."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    result = run_s3cmd(config, "rb", f"s3://{bucket}", check=False)
    assert result.returncode != 0
    assert "BucketNotEmpty" in result.stderr


def test_info_shows_object_md5(config: Path, client: Any, bucket: str) -> None:
    """s3cmd info of an object prints its MD5 (s3cmd reads the object's ACL to do it)."""
    client.put_object(Bucket=bucket, Key="k", Body=b"info")
    output = run_s3cmd(config, "info", f"s3://{bucket}/k").stdout
    assert hashlib.md5(b"info").hexdigest() in output


def test_sync_uploads_tree(config: Path, client: Any, bucket: str, tmp_path: Path) -> None:
    """s3cmd sync uploads a nested directory tree under its relative paths."""
    root = tmp_path / "tree"
    for name in ["a.txt", "d/b.txt", "d/e/c.txt"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    run_s3cmd(config, "sync", f"{root}/", f"s3://{bucket}/")
    assert keys_of(client, bucket) == ["a.txt", "d/b.txt", "d/e/c.txt"]


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return root


def test_sync_again_uploads_only_what_changed(
    config: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """A second s3cmd sync sends the changed file only: the stored MD5s matched the rest."""
    root = write_files(tmp_path / "tree", {"same.txt": b"same", "changes.txt": b"before"})
    run_s3cmd(config, "sync", f"{root}/", f"s3://{bucket}/")
    untouched = client.head_object(Bucket=bucket, Key="same.txt")["LastModified"]
    (root / "changes.txt").write_bytes(b"after, longer")
    output = run_s3cmd(config, "sync", f"{root}/", f"s3://{bucket}/").stdout
    assert "changes.txt" in output and "same.txt" not in output
    assert client.get_object(Bucket=bucket, Key="changes.txt")["Body"].read() == b"after, longer"
    assert client.head_object(Bucket=bucket, Key="same.txt")["LastModified"] == untouched


def test_sync_down_reproduces_the_tree(
    config: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """s3cmd sync from a bucket writes every key as a file with its bytes, then finds no change."""
    files = {"a.txt": b"a" * 10, "d/b.bin": os.urandom(3000), "d/e/c.txt": b"deep"}
    for key, body in files.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    target = tmp_path / "down"
    target.mkdir()
    run_s3cmd(config, "sync", f"s3://{bucket}/", f"{target}/")
    written = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert written == files
    again = run_s3cmd(config, "sync", f"s3://{bucket}/", f"{target}/").stdout
    assert "download:" not in again


def test_sync_delete_removes_keys_gone_locally(
    config: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """s3cmd sync --delete-removed deletes the keys whose files are gone."""
    root = write_files(tmp_path / "tree", {"keep.txt": b"k", "drop/me.txt": b"d"})
    run_s3cmd(config, "sync", f"{root}/", f"s3://{bucket}/")
    (root / "drop" / "me.txt").unlink()
    run_s3cmd(config, "sync", "--delete-removed", f"{root}/", f"s3://{bucket}/")
    assert keys_of(client, bucket) == ["keep.txt"]
