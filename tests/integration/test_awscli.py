"""
aws-cli (v1) against a real server: the README's quick start, ``aws s3``
mb/cp/ls/sync/rm/rb/presign, and ``aws s3api`` with JSON output.

Every command runs as a subprocess with the server's client environment and
``--endpoint-url``.  Files stay under aws-cli's 8 MB multipart threshold:
multipart upload is not built yet.  Buckets that are only the stage for a
test are made with boto3, which is much faster than starting aws-cli.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import http_status, keys_of, run_aws, urlopen
from tests.support.server import RunningServer

REPO_ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024

#: A tree to sync: nested directories, an empty file, a name with a space.
TREE = {
    "top.txt": b"top\n",
    "empty.txt": b"",
    "a/one.txt": b"one\n",
    "a/b/two.txt": b"two\n",
    "a/b/c/three.bin": bytes(range(256)) * 40,
    "with space/four.txt": b"four\n",
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (relative path to bytes) under ``root``, dated an hour ago."""
    # S3 dates objects to the second; a file written in the same second as
    # its upload would look newer than its object to aws s3 sync.
    an_hour_ago = time.time() - 3600
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        os.utime(path, (an_hour_ago, an_hour_ago))
    return root


def put_tree(client: Any, bucket: str, files: dict[str, bytes]) -> None:
    """Store ``files`` as objects with boto3 (faster than a first aws s3 sync)."""
    for name, body in files.items():
        client.put_object(Bucket=bucket, Key=name, Body=body)


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by relative POSIX path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def failing_aws(server: RunningServer, *args: str) -> str:
    """Run an aws command that must fail: what it printed on stderr."""
    result = run_aws(server, *args, check=False)
    assert result.returncode != 0, result.stdout
    return result.stderr


def second_sync(server: RunningServer, source: str, target: str) -> str:
    """Run the same aws s3 sync twice: what the second run printed."""
    run_aws(server, "s3", "sync", source, target)
    return run_aws(server, "s3", "sync", source, target).stdout


# --- The README's quick start ---------------------------------------------------------


def test_readme_quick_start(server: RunningServer) -> None:
    """The README's three aws-cli commands work as written and leave README.md on disk."""
    run_aws(server, "s3", "mb", "s3://test", cwd=REPO_ROOT)
    run_aws(server, "s3", "cp", "README.md", "s3://test/", cwd=REPO_ROOT)
    listing = run_aws(server, "s3", "ls", "s3://test/", cwd=REPO_ROOT).stdout
    assert "README.md" in listing
    assert (server.data_dir / "test" / "README.md").read_bytes() == (
        REPO_ROOT / "README.md"
    ).read_bytes()


# --- aws s3 mb, rb, ls ------------------------------------------------------------------


def test_mb_creates_bucket(server: RunningServer, client: Any, fresh_bucket: str) -> None:
    """aws s3 mb creates the bucket and says make_bucket."""
    result = run_aws(server, "s3", "mb", f"s3://{fresh_bucket}")
    assert f"make_bucket: {fresh_bucket}" in result.stdout
    assert http_status(client.head_bucket(Bucket=fresh_bucket)) == 200


def test_mb_existing_bucket_fails(server: RunningServer, bucket: str) -> None:
    """aws s3 mb of a bucket that exists fails with BucketAlreadyOwnedByYou."""
    assert "BucketAlreadyOwnedByYou" in failing_aws(server, "s3", "mb", f"s3://{bucket}")


def test_rb_removes_empty_bucket(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 rb removes an empty bucket."""
    run_aws(server, "s3", "rb", f"s3://{bucket}")
    with pytest.raises(ClientError):
        client.head_bucket(Bucket=bucket)


def test_rb_refuses_non_empty_bucket(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 rb of a bucket with an object fails with BucketNotEmpty and keeps it."""
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "BucketNotEmpty" in failing_aws(server, "s3", "rb", f"s3://{bucket}")
    assert http_status(client.head_bucket(Bucket=bucket)) == 200


def test_rb_force_empties_and_removes(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 rb --force deletes every object, then the bucket."""
    for key in ["a", "dir/b", "dir/sub/c"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    run_aws(server, "s3", "rb", "--force", f"s3://{bucket}")
    with pytest.raises(ClientError):
        client.head_bucket(Bucket=bucket)


def test_ls_lists_buckets(server: RunningServer, bucket: str) -> None:
    """aws s3 ls with no argument lists the bucket."""
    assert bucket in run_aws(server, "s3", "ls").stdout.split()


def test_ls_bucket_shows_objects_and_prefixes(
    server: RunningServer, client: Any, bucket: str
) -> None:
    """aws s3 ls s3://bucket/ shows top-level objects with sizes and PRE lines for prefixes."""
    client.put_object(Bucket=bucket, Key="file.txt", Body=b"12345")
    client.put_object(Bucket=bucket, Key="dir/inner.txt", Body=b"x")
    lines = run_aws(server, "s3", "ls", f"s3://{bucket}/").stdout.splitlines()
    assert any(line.split() == ["PRE", "dir/"] for line in lines)
    file_lines = [line.split() for line in lines if line.endswith("file.txt")]
    assert [fields[-2:] for fields in file_lines] == [["5", "file.txt"]]


def test_ls_prefix_lists_inside_it(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 ls s3://bucket/dir/ lists the objects under that prefix only."""
    client.put_object(Bucket=bucket, Key="dir/inner.txt", Body=b"x")
    client.put_object(Bucket=bucket, Key="other.txt", Body=b"x")
    listing = run_aws(server, "s3", "ls", f"s3://{bucket}/dir/").stdout
    assert "inner.txt" in listing
    assert "other.txt" not in listing


def test_ls_recursive_lists_every_key(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 ls --recursive lists every key with its full name."""
    for key in ["a", "d/b", "d/e/c"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    lines = run_aws(server, "s3", "ls", "--recursive", f"s3://{bucket}").stdout.splitlines()
    assert [line.split()[-1] for line in lines] == ["a", "d/b", "d/e/c"]


# --- aws s3 cp ---------------------------------------------------------------------------


def test_cp_up_and_down_keeps_bytes(server: RunningServer, bucket: str, tmp_path: Path) -> None:
    """A file copied up with aws s3 cp and back down is byte for byte the same."""
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3 * MIB))
    run_aws(server, "s3", "cp", str(source), f"s3://{bucket}/data.bin")
    target = tmp_path / "back.bin"
    run_aws(server, "s3", "cp", f"s3://{bucket}/data.bin", str(target))
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )


def test_cp_upload_stores_the_bytes(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3 cp to a prefix stores the file under prefix + file name."""
    source = tmp_path / "notes.txt"
    source.write_bytes(b"some notes\n")
    run_aws(server, "s3", "cp", str(source), f"s3://{bucket}/dir/")
    body = client.get_object(Bucket=bucket, Key="dir/notes.txt")["Body"].read()
    assert body == b"some notes\n"


def test_cp_guesses_content_type(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3 cp of a .html file stores the text/html content type it guessed."""
    source = tmp_path / "page.html"
    source.write_bytes(b"<p>hi</p>")
    run_aws(server, "s3", "cp", str(source), f"s3://{bucket}/page.html")
    assert client.head_object(Bucket=bucket, Key="page.html")["ContentType"] == "text/html"


def test_cp_with_special_key(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3 cp handles a destination key with spaces, unicode and '+'."""
    source = tmp_path / "f.txt"
    source.write_bytes(b"special")
    key = "dir with space/ünï+code&more.txt"
    run_aws(server, "s3", "cp", str(source), f"s3://{bucket}/{key}")
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"special"


def test_cp_with_metadata(server: RunningServer, client: Any, bucket: str, tmp_path: Path) -> None:
    """aws s3 cp --metadata stores user metadata."""
    source = tmp_path / "f.txt"
    source.write_bytes(b"x")
    run_aws(server, "s3", "cp", str(source), f"s3://{bucket}/f.txt", "--metadata", "team=storage")
    assert client.head_object(Bucket=bucket, Key="f.txt")["Metadata"] == {"team": "storage"}


def test_cp_between_objects(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 cp from one S3 key to another copies server-side."""
    client.put_object(Bucket=bucket, Key="src.txt", Body=b"copy me")
    run_aws(server, "s3", "cp", f"s3://{bucket}/src.txt", f"s3://{bucket}/dst.txt")
    assert client.get_object(Bucket=bucket, Key="dst.txt")["Body"].read() == b"copy me"


def test_cp_missing_key_fails(server: RunningServer, bucket: str, tmp_path: Path) -> None:
    """aws s3 cp of a missing key exits non-zero and reports 404."""
    assert "404" in failing_aws(server, "s3", "cp", f"s3://{bucket}/missing", str(tmp_path / "x"))


def test_cp_recursive_uploads_tree(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3 cp --recursive uploads every file of a tree under its relative path."""
    root = write_tree(tmp_path / "tree", TREE)
    run_aws(server, "s3", "cp", "--recursive", str(root), f"s3://{bucket}/")
    assert keys_of(client, bucket) == sorted(TREE, key=lambda k: k.encode())


# --- aws s3 sync ---------------------------------------------------------------------------


def test_sync_up_uploads_tree(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3 sync of a directory tree uploads every file, nested ones included."""
    root = write_tree(tmp_path / "tree", TREE)
    run_aws(server, "s3", "sync", str(root), f"s3://{bucket}/backup")
    assert keys_of(client, bucket) == sorted(
        (f"backup/{name}" for name in TREE), key=lambda k: k.encode()
    )


def test_sync_up_twice_uploads_nothing(server: RunningServer, bucket: str, tmp_path: Path) -> None:
    """A second aws s3 sync of an unchanged tree uploads nothing."""
    root = write_tree(tmp_path / "tree", TREE)
    assert "upload:" not in second_sync(server, str(root), f"s3://{bucket}/")


def test_sync_up_uploads_only_changes(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """After one file changes size, aws s3 sync uploads just that file."""
    root = write_tree(tmp_path / "tree", TREE)
    put_tree(client, bucket, TREE)
    (root / "a" / "one.txt").write_bytes(b"one, changed\n")
    second = run_aws(server, "s3", "sync", str(root), f"s3://{bucket}/")
    uploads = [line for line in second.stdout.splitlines() if "upload:" in line]
    assert len(uploads) == 1 and uploads[0].endswith("a/one.txt")


def test_sync_down_reproduces_tree(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3 sync from a bucket into an empty directory reproduces the tree exactly."""
    put_tree(client, bucket, TREE)
    target = tmp_path / "copy"
    run_aws(server, "s3", "sync", f"s3://{bucket}/", str(target))
    assert read_tree(target) == TREE


def test_sync_down_twice_downloads_nothing(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """A second aws s3 sync from an unchanged bucket downloads nothing."""
    put_tree(client, bucket, TREE)
    assert "download:" not in second_sync(server, f"s3://{bucket}/", str(tmp_path / "copy"))


def test_sync_delete_removes_extra_keys(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3 sync --delete removes keys whose files are gone."""
    root = write_tree(tmp_path / "tree", TREE)
    put_tree(client, bucket, TREE)
    (root / "a" / "b" / "two.txt").unlink()
    run_aws(server, "s3", "sync", "--delete", str(root), f"s3://{bucket}/")
    assert "a/b/two.txt" not in keys_of(client, bucket)


# --- aws s3 rm -------------------------------------------------------------------------------


def test_rm_deletes_one_object(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 rm deletes the named object and leaves the others."""
    client.put_object(Bucket=bucket, Key="doomed", Body=b"x")
    client.put_object(Bucket=bucket, Key="kept", Body=b"x")
    run_aws(server, "s3", "rm", f"s3://{bucket}/doomed")
    assert keys_of(client, bucket) == ["kept"]


def test_rm_recursive_deletes_prefix(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 rm --recursive on a prefix deletes everything under it, markers included."""
    for key in ["dir/", "dir/a", "dir/sub/b", "other"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"" if key.endswith("/") else b"x")
    run_aws(server, "s3", "rm", "--recursive", f"s3://{bucket}/dir/")
    assert keys_of(client, bucket) == ["other"]


def test_rm_recursive_empties_bucket(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3 rm --recursive on a bucket deletes every object."""
    for key in ["a", "b/c", "b/d/e"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    run_aws(server, "s3", "rm", "--recursive", f"s3://{bucket}")
    assert keys_of(client, bucket) == []


# --- aws s3 presign --------------------------------------------------------------------------


def test_presign_url_fetches_object(server: RunningServer, client: Any, bucket: str) -> None:
    """A URL from aws s3 presign, fetched with urllib, serves the object."""
    client.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared with a link")
    url = run_aws(
        server, "s3", "presign", f"s3://{bucket}/shared.txt", "--expires-in", "300"
    ).stdout.strip()
    status, _, body = urlopen(url)
    assert (status, body) == (200, b"shared with a link")


def test_presign_url_of_special_key(server: RunningServer, client: Any, bucket: str) -> None:
    """A URL from aws s3 presign works for a key with spaces and unicode."""
    key = "a dir/ünï code.txt"
    client.put_object(Bucket=bucket, Key=key, Body=b"special")
    url = run_aws(server, "s3", "presign", f"s3://{bucket}/{key}").stdout.strip()
    assert urlopen(url)[2] == b"special"


# --- aws s3api ----------------------------------------------------------------------------


def test_s3api_head_object_json(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3api head-object prints JSON with the object's length, ETag and metadata."""
    client.put_object(Bucket=bucket, Key="k", Body=b"12345", Metadata={"m": "v"})
    output = run_aws(
        server, "s3api", "head-object", "--bucket", bucket, "--key", "k", "--output", "json"
    ).stdout
    head = json.loads(output)
    assert head["ContentLength"] == 5
    assert head["ETag"] == f'"{hashlib.md5(b"12345").hexdigest()}"'
    assert head["Metadata"] == {"m": "v"}


def test_s3api_head_object_missing_fails(server: RunningServer, bucket: str) -> None:
    """aws s3api head-object of a missing key exits non-zero with a 404."""
    stderr = failing_aws(server, "s3api", "head-object", "--bucket", bucket, "--key", "missing")
    assert "404" in stderr


def test_s3api_list_objects_v2_json(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3api list-objects-v2 prints JSON listing every key in S3 order with sizes."""
    for key in ["b", "a/b", "a-b", "a0"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"xy")
    output = run_aws(
        server, "s3api", "list-objects-v2", "--bucket", bucket, "--output", "json"
    ).stdout
    contents = json.loads(output)["Contents"]
    assert [(o["Key"], o["Size"]) for o in contents] == [
        ("a-b", 2),
        ("a/b", 2),
        ("a0", 2),
        ("b", 2),
    ]


def test_s3api_list_objects_v2_paginates(server: RunningServer, client: Any, bucket: str) -> None:
    """aws s3api list-objects-v2 with --page-size 2 still lists every key once."""
    keys = [f"k{i:02d}" for i in range(7)]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    output = run_aws(
        server,
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--page-size",
        "2",
        "--output",
        "json",
    ).stdout
    assert [o["Key"] for o in json.loads(output)["Contents"]] == keys


def test_s3api_put_object_from_file(
    server: RunningServer, client: Any, bucket: str, tmp_path: Path
) -> None:
    """aws s3api put-object --body uploads a file and prints its ETag."""
    source = tmp_path / "body.bin"
    source.write_bytes(b"s3api body")
    output = run_aws(
        server,
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        "k",
        "--body",
        str(source),
        "--output",
        "json",
    ).stdout
    assert json.loads(output)["ETag"] == f'"{hashlib.md5(b"s3api body").hexdigest()}"'
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"s3api body"
