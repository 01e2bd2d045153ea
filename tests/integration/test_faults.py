"""
A real server on a disk that fills up, and on a bucket it may not write to.

Disk full is real, not mocked: the data directory is on a 32 MiB tmpfs this
module mounts (the tests run as root, as CI does), and a ballast object fills
it to within a MiB.  A PUT, a CompleteMultipartUpload or a CopyObject that
cannot fit then meets ENOSPC in the server's own write.  nanio answers 507
``InsufficientStorage``: S3 has no code for a full disk, 507 is HTTP's, and
SDKs do not retry it blindly (they would re-send a body that cannot fit).

A permission error is real too: the server runs as root without
``CAP_DAC_OVERRIDE`` (``setpriv``), so mode bits bind it, and a bucket's
directory is made read-only (0555) under it.  nanio answers 500
``InternalError``: the fault is the server's, not the client's credentials.

Every time, the previous version of the key stays whole (bytes, ETag and
metadata), no temp file stays in ``<data>/.nanio/tmp``, and once the cause
is gone the same request succeeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import RawResponse, error_code, error_fields, http_status, signed_request
from tests.support.procs import MIB, pattern_block, wait_for_no_temp_files
from tests.support.server import RunningServer, make_boto3_client, serve_command, start_server

#: The small file system's size; tmpfs counts whole pages of RAM.
SMALL_FS_BYTES = 32 * MIB
#: What the ballast leaves free: less than any write that is meant to fail.
LEFT_FREE_BYTES = MIB
#: A body that cannot fit in what is left.
TOO_BIG_BYTES = 4 * MIB
#: S3's minimum size of every part but the last.
PART_BYTES = 5 * MIB
BUCKET = "faults"
#: Dropped from the server's capabilities so that root obeys mode bits.
DAC_CAPABILITIES = "-dac_override,-dac_read_search"


def require_root(what: str) -> None:
    """Fail with the reason when the test cannot do ``what`` (CI runs as root)."""
    if os.geteuid() != 0:
        raise AssertionError(f"this test must run as root to {what} (CI does)")


# -- a disk that fills up ---------------------------------------------------------


@dataclass
class SmallDisk:
    """A server whose data directory is on a small tmpfs."""

    server: RunningServer
    mount_point: Path

    def free_bytes(self) -> int:
        """Bytes a write may still use on the tmpfs."""
        stats = os.statvfs(self.mount_point)
        return stats.f_bavail * stats.f_frsize


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallDisk]:
    """``nanio serve`` with its data directory on a freshly mounted 32 MiB tmpfs."""
    require_root("mount a tmpfs")
    root = tmp_path_factory.mktemp("small-disk")
    mount_point = root / "mnt"
    mount_point.mkdir()
    size = f"size={SMALL_FS_BYTES // 1024}k"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"{size},mode=0755", "nanio-test", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, f"cannot mount a tmpfs: {mounted.stderr.strip()}"
    try:
        data_dir = mount_point / "data"
        # The log goes beside the mount: a full disk must not silence it.
        server = start_server(
            serve_command(data_dir), data_dir=data_dir, log_path=root / "server.log", cwd=root
        )
        try:
            make_boto3_client(server).create_bucket(Bucket=BUCKET)
            yield SmallDisk(server, mount_point)
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


@pytest.fixture
def s3(small_disk: SmallDisk) -> Any:
    """A boto3 client for the small-disk server."""
    return make_boto3_client(small_disk.server)


@pytest.fixture
def full(small_disk: SmallDisk) -> Iterator[SmallDisk]:
    """The small disk filled by a ballast object to within LEFT_FREE_BYTES; emptied after."""
    ballast = small_disk.free_bytes() - LEFT_FREE_BYTES
    assert ballast > 0, f"only {small_disk.free_bytes()} bytes free before the ballast"
    put(small_disk.server, "ballast", pattern_block(7, ballast))
    try:
        yield small_disk
    finally:
        delete(small_disk.server, "ballast")


def put(server: RunningServer, key: str, body: bytes, version: str = "") -> RawResponse:
    """PUT ``body`` as ``key`` (with x-amz-meta-version), asserting nothing."""
    headers = {"Content-Type": "text/plain", "x-amz-meta-version": version} if version else {}
    return signed_request(server, "PUT", f"/{BUCKET}/{key}", headers=headers, body=body)


def delete(server: RunningServer, key: str) -> None:
    """DELETE ``key``; it must succeed."""
    response = signed_request(server, "DELETE", f"/{BUCKET}/{key}")
    assert response.status == 204, f"DELETE {key}: {response.status} {response.body[:300]!r}"


@dataclass(frozen=True)
class Version:
    """What a GET shows of an object: enough to tell one version from another."""

    body_md5: str
    etag: str
    content_type: str
    version: str


def current(server: RunningServer, key: str) -> Version:
    """The version a GET of ``key`` returns now; it must be readable."""
    response = signed_request(server, "GET", f"/{BUCKET}/{key}")
    assert response.status == 200, f"GET {key}: {response.status} {response.body[:300]!r}"
    return Version(
        hashlib.md5(response.body).hexdigest(),
        response.headers["etag"].strip('"'),
        response.headers.get("content-type", ""),
        response.headers.get("x-amz-meta-version", ""),
    )


def stored(server: RunningServer, key: str, body: bytes, version: str) -> Version:
    """PUT a version of ``key`` that must succeed; return how it reads back."""
    response = put(server, key, body, version)
    assert response.status == 200, f"PUT {key}: {response.status} {response.body[:300]!r}"
    return current(server, key)


def test_put_that_cannot_fit_answers_507_insufficient_storage(full: SmallDisk) -> None:
    """A PUT larger than the free space answers 507 InsufficientStorage in S3 error XML."""
    response = put(full.server, "too-big", pattern_block(1, TOO_BIG_BYTES))
    assert (response.status, error_fields(response.body)["Code"]) == (507, "InsufficientStorage")


def test_put_that_cannot_fit_keeps_the_previous_version(full: SmallDisk) -> None:
    """After a PUT refused for space, the key still has its previous bytes, ETag and metadata."""
    before = stored(full.server, "kept", b"the previous version", "1")
    response = put(full.server, "kept", pattern_block(2, TOO_BIG_BYTES), "2")
    assert response.status == 507
    assert current(full.server, "kept") == before


def test_put_that_cannot_fit_leaves_no_temp_file(full: SmallDisk) -> None:
    """After a PUT refused for space, the server's temp directory is empty."""
    assert put(full.server, "too-big", pattern_block(3, TOO_BIG_BYTES)).status == 507
    wait_for_no_temp_files(full.server.data_dir)


def test_put_works_again_once_space_is_freed(full: SmallDisk) -> None:
    """After deleting the ballast, the PUT that could not fit is stored whole."""
    body = pattern_block(4, TOO_BIG_BYTES)
    assert put(full.server, "later", body).status == 507
    delete(full.server, "ballast")
    try:
        assert stored(full.server, "later", body, "2").body_md5 == hashlib.md5(body).hexdigest()
    finally:
        delete(full.server, "later")


def start_upload(small_disk: SmallDisk, s3: Any, key: str) -> tuple[str, list[dict[str, Any]]]:
    """An upload of ``key`` with a 5 MiB part and a small one, made before the disk fills."""
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts = []
    for number, body in enumerate((pattern_block(5, PART_BYTES), b"tail" * 1000), start=1):
        answer = s3.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    return upload_id, parts


@pytest.fixture
def pending_upload(small_disk: SmallDisk, s3: Any) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An upload of "joined" with its parts in place and a previous version of "joined"."""
    stored(small_disk.server, "joined", b"the previous joined version", "1")
    upload = start_upload(small_disk, s3, "joined")
    yield upload
    with contextlib.suppress(ClientError):  # unless the test completed it
        s3.abort_multipart_upload(Bucket=BUCKET, Key="joined", UploadId=upload[0])
    delete(small_disk.server, "joined")


def complete(s3: Any, upload: tuple[str, list[dict[str, Any]]]) -> Any:
    """CompleteMultipartUpload of "joined" with the upload's parts."""
    upload_id, parts = upload
    return s3.complete_multipart_upload(
        Bucket=BUCKET, Key="joined", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def test_complete_that_cannot_fit_answers_507_and_keeps_the_previous_version(
    pending_upload: tuple[str, list[dict[str, Any]]], full: SmallDisk, s3: Any
) -> None:
    """A Complete whose joined object cannot fit answers 507; the key keeps its old version."""
    before = current(full.server, "joined")
    with pytest.raises(ClientError) as raised:
        complete(s3, pending_upload)
    failure = raised.value.response
    assert (http_status(failure), error_code(raised.value)) == (507, "InsufficientStorage")
    assert current(full.server, "joined") == before


def test_complete_that_cannot_fit_leaves_no_temp_file_and_can_be_retried(
    pending_upload: tuple[str, list[dict[str, Any]]], full: SmallDisk, s3: Any
) -> None:
    """After a Complete refused for space the temp directory is empty; with room it succeeds."""
    with pytest.raises(ClientError):
        complete(s3, pending_upload)
    wait_for_no_temp_files(full.server.data_dir)
    delete(full.server, "ballast")
    complete(s3, pending_upload)
    joined = current(full.server, "joined")
    expected = hashlib.md5(pattern_block(5, PART_BYTES) + b"tail" * 1000).hexdigest()
    assert joined.body_md5 == expected


@pytest.fixture
def copy_source(small_disk: SmallDisk) -> Iterator[Version]:
    """A 4 MiB source object and a previous version of the copy's target "copy"."""
    stored(small_disk.server, "source", pattern_block(6, TOO_BIG_BYTES), "source")
    target = stored(small_disk.server, "copy", b"the previous copy", "1")
    yield target
    delete(small_disk.server, "source")
    delete(small_disk.server, "copy")


def test_copy_that_cannot_fit_answers_507_and_keeps_the_previous_version(
    copy_source: Version, full: SmallDisk, s3: Any
) -> None:
    """A CopyObject whose copy cannot fit answers 507; the target keeps its old version."""
    with pytest.raises(ClientError) as raised:
        s3.copy_object(Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "source"})
    failure = raised.value.response
    assert (http_status(failure), error_code(raised.value)) == (507, "InsufficientStorage")
    assert current(full.server, "copy") == copy_source


def test_copy_that_cannot_fit_leaves_no_temp_file(
    copy_source: Version, full: SmallDisk, s3: Any
) -> None:
    """After a CopyObject refused for space, the server's temp directory is empty."""
    with pytest.raises(ClientError):
        s3.copy_object(Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "source"})
    wait_for_no_temp_files(full.server.data_dir)


# -- a bucket the server may not write to -------------------------------------------


@dataclass
class ReadOnlyBucket:
    """A PUT into a bucket whose directory the server could not write, and what it left."""

    server: RunningServer
    before: Version
    response: RawResponse
    after: Version
    temp_files_after: list[str]


@pytest.fixture(scope="module")
def read_only_bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadOnlyBucket]:
    """A server bound by mode bits, a PUT over "k" while its bucket directory is 0555."""
    require_root("run a server as root without CAP_DAC_OVERRIDE")
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to drop CAP_DAC_OVERRIDE"
    root = tmp_path_factory.mktemp("read-only-bucket")
    data_dir = root / "data"
    command = [
        setpriv,
        f"--bounding-set={DAC_CAPABILITIES}",
        f"--inh-caps={DAC_CAPABILITIES}",
        *serve_command(data_dir),
    ]
    server = start_server(command, data_dir=data_dir, log_path=root / "server.log", cwd=root)
    bucket_dir = data_dir / BUCKET
    try:
        make_boto3_client(server).create_bucket(Bucket=BUCKET)
        before = stored(server, "k", b"the previous version", "1")
        bucket_dir.chmod(0o555)
        try:
            response = put(server, "k", b"a version that cannot be stored", "2")
            after = current(server, "k")
            temp_files = sorted(path.name for path in (data_dir / ".nanio" / "tmp").iterdir())
        finally:
            bucket_dir.chmod(0o755)
        yield ReadOnlyBucket(server, before, response, after, temp_files)
    finally:
        server.stop()


def test_put_into_read_only_bucket_answers_500_internal_error(
    read_only_bucket: ReadOnlyBucket,
) -> None:
    """A PUT the server may not write answers 500 InternalError, naming no path."""
    response = read_only_bucket.response
    fields = error_fields(response.body)
    assert (response.status, fields["Code"]) == (500, "InternalError")
    assert str(read_only_bucket.server.data_dir) not in fields.get("Message", "")


def test_put_into_read_only_bucket_keeps_the_previous_version(
    read_only_bucket: ReadOnlyBucket,
) -> None:
    """After the refused PUT, the key has its previous bytes, ETag, type and metadata."""
    assert read_only_bucket.after == read_only_bucket.before


def test_put_into_read_only_bucket_leaves_no_temp_file(read_only_bucket: ReadOnlyBucket) -> None:
    """After the refused PUT, the server's temp directory is empty."""
    assert read_only_bucket.temp_files_after == []


def test_put_works_again_once_the_bucket_is_writable(read_only_bucket: ReadOnlyBucket) -> None:
    """With the mode restored, the same server stores the new version."""
    server = read_only_bucket.server
    after = stored(server, "k", b"a version that can be stored", "3")
    assert (after.version, after.body_md5) == (
        "3",
        hashlib.md5(b"a version that can be stored").hexdigest(),
    )
