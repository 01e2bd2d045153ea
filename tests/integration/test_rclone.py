"""
rclone (Debian's package, installed by ``.ci/run``) against a real server.

rclone is a Go program with its own S3 code (the AWS SDK for Go v1 under
rclone's own listing, multipart and metadata logic), so it checks nanio
against a client family none of the Python ones share.  The remote is
path-style over plain HTTP (``force_path_style``, ``provider = Other``);
every command gets one attempt, so a refusal fails the test instead of
being retried away.  Buckets that are only the stage for a test are made
with boto3, and what rclone did is checked with boto3 too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import (
    RCLONE_REMOTE,
    keys_of,
    run_rclone,
    urlopen,
    write_rclone_config,
)
from tests.support.server import RunningServer

MiB = 1024 * 1024

#: Names rclone has to carry through the path encoding both ways.
TREE = {
    "a.bin": os.urandom(100_000),
    "sub/b.txt": b"hello\n",
    "sub/deep/\u00fcn\u00ef +c=1.txt": b"odd name\n",
}


@pytest.fixture
def config(server: RunningServer, tmp_path: Path) -> Path:
    """An rclone config whose remote RCLONE_REMOTE is the server."""
    return write_rclone_config(server, tmp_path / "rclone.conf")


def remote(bucket: str, path: str = "") -> str:
    """The rclone name of ``path`` in ``bucket``."""
    return f"{RCLONE_REMOTE}:{bucket}/{path}" if path else f"{RCLONE_REMOTE}:{bucket}"


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (relative path -> bytes) under ``root``."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_copy_stores_tree_and_check_agrees(
    config: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """rclone copy uploads a tree under its names; rclone check finds no difference."""
    source = write_tree(tmp_path / "src", TREE)
    run_rclone(config, "copy", str(source), remote(bucket, "dir"))
    assert keys_of(client, bucket) == sorted(f"dir/{name}" for name in TREE)
    for name, data in TREE.items():
        assert client.get_object(Bucket=bucket, Key=f"dir/{name}")["Body"].read() == data
    # check compares sizes and the MD5s nanio reports as ETags.
    run_rclone(config, "check", str(source), remote(bucket, "dir"))


def test_lsjson_reports_sizes_and_md5s(config: Path, client: Any, bucket: str) -> None:
    """rclone lsjson --hash lists every object with its size and MD5."""
    for name, data in TREE.items():
        client.put_object(Bucket=bucket, Key=name, Body=data)
    listed = json.loads(
        run_rclone(config, "lsjson", "-R", "--files-only", "--hash", remote(bucket)).stdout
    )
    assert {item["Path"]: (item["Size"], item["Hashes"]["md5"]) for item in listed} == {
        name: (len(data), hashlib.md5(data).hexdigest()) for name, data in TREE.items()
    }


def test_multipart_upload_round_trips(
    config: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """A file over rclone's upload cutoff goes up in parts, and comes back byte for byte."""
    source = tmp_path / "big.bin"
    data = os.urandom(12 * MiB)
    source.write_bytes(data)
    run_rclone(
        config,
        "copyto",
        "--s3-upload-cutoff",
        "5M",
        "--s3-chunk-size",
        "5M",
        str(source),
        remote(bucket, "big.bin"),
    )
    # Three parts (5 + 5 + 2 MiB): a multipart ETag says so.
    assert client.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-3"')
    back = tmp_path / "back.bin"
    run_rclone(config, "copyto", remote(bucket, "big.bin"), str(back))
    assert back.read_bytes() == data
    # A multipart ETag is no MD5: rclone checks the one it stored in metadata.
    run_rclone(config, "check", "--include", "big.bin", str(tmp_path), remote(bucket))


def test_copy_and_move_stay_on_the_server(config: Path, client: Any, bucket: str) -> None:
    """Copies and moves inside the remote are server-side (CopyObject), then a delete."""
    client.put_object(Bucket=bucket, Key="from.txt", Body=b"payload")
    copied = run_rclone(config, "copyto", "-v", remote(bucket, "from.txt"), remote(bucket, "c.txt"))
    assert "server-side copy" in copied.stderr
    run_rclone(config, "moveto", remote(bucket, "c.txt"), remote(bucket, "m/moved.txt"))
    assert keys_of(client, bucket) == ["from.txt", "m/moved.txt"]
    assert client.get_object(Bucket=bucket, Key="m/moved.txt")["Body"].read() == b"payload"


def test_sync_makes_remote_match(config: Path, client: Any, bucket: str, tmp_path: Path) -> None:
    """rclone sync uploads what changed and deletes what is gone locally."""
    source = write_tree(tmp_path / "src", TREE)
    run_rclone(config, "sync", str(source), remote(bucket))
    (source / "a.bin").unlink()
    (source / "sub" / "b.txt").write_bytes(b"changed, and longer\n")
    run_rclone(config, "sync", str(source), remote(bucket))
    assert keys_of(client, bucket) == sorted(name for name in TREE if name != "a.bin")
    body = client.get_object(Bucket=bucket, Key="sub/b.txt")["Body"].read()
    assert body == b"changed, and longer\n"
    run_rclone(config, "check", str(source), remote(bucket))


def test_modification_time_and_metadata_are_kept(
    config: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """rclone's mtime (user metadata), Content-Type and its own keys survive; touch rewrites."""
    source = tmp_path / "note.txt"
    source.write_bytes(b"note")
    os.utime(source, (1_600_000_000, 1_600_000_000))
    run_rclone(
        config,
        "copyto",
        "-M",
        "--metadata-set",
        "content-type=text/x-custom",
        "--metadata-set",
        "colour=blue",
        str(source),
        remote(bucket, "note.txt"),
    )
    head = client.head_object(Bucket=bucket, Key="note.txt")
    assert head["ContentType"] == "text/x-custom"
    assert head["Metadata"]["colour"] == "blue"
    [item] = json.loads(run_rclone(config, "lsjson", remote(bucket, "note.txt")).stdout)
    assert item["ModTime"].startswith("2020-09-13T12:26:40")
    # touch changes only the stored mtime: a CopyObject onto itself (REPLACE).
    run_rclone(config, "touch", "-t", "2021-02-03T04:05:06", remote(bucket, "note.txt"))
    [item] = json.loads(run_rclone(config, "lsjson", remote(bucket, "note.txt")).stdout)
    assert item["ModTime"].startswith("2021-02-03T04:05:06")
    assert client.get_object(Bucket=bucket, Key="note.txt")["Body"].read() == b"note"


def test_cat_with_offset_reads_a_range(config: Path, client: Any, bucket: str) -> None:
    """rclone cat --offset --count asks for a byte range and prints exactly it."""
    client.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    shown = run_rclone(config, "cat", "--offset", "3", "--count", "4", remote(bucket, "digits"))
    assert shown.stdout == "3456"


def test_link_is_a_working_presigned_url(config: Path, client: Any, bucket: str) -> None:
    """rclone link makes a presigned GET URL that nanio honours."""
    client.put_object(Bucket=bucket, Key="shared.txt", Body=b"for anyone with the link")
    url = run_rclone(config, "link", "--expire", "1h", remote(bucket, "shared.txt")).stdout.strip()
    assert "X-Amz-Signature=" in url
    status, _, body = urlopen(url)
    assert (status, body) == (200, b"for anyone with the link")


def test_purge_removes_objects_and_bucket(
    config: Path, client: Any, bucket: str, tmp_path: Path
) -> None:
    """rclone purge of a bucket deletes every object, then the bucket."""
    run_rclone(config, "copy", str(write_tree(tmp_path / "src", TREE)), remote(bucket))
    run_rclone(config, "purge", remote(bucket))
    names = [entry["Name"] for entry in client.list_buckets()["Buckets"]]
    assert bucket not in names
