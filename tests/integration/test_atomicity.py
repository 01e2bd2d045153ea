"""
Atomic writes against a real server: readers never see a torn object, and a
crash mid-upload leaves nothing visible.

The overwrite tests run writer and reader threads against one key on the
session server for a few seconds; every body says which version it is, so
a reader can check its bytes against its ETag, its length and its metadata.
The crash tests share one scenario on a server of their own: 50 uploads
mid-body (half of them over an earlier version), SIGKILL, then a restart on
the same data directory, which must show the earlier versions whole, nothing
of the killed uploads, and no temp file once it is up.
"""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import open_connection, signed_request
from tests.support.procs import (
    MIB,
    SOCKET_TIMEOUT_SECONDS,
    connect,
    object_path,
    pattern_block,
    signed_head,
    start_own_server,
    temp_files,
    wait_for,
)
from tests.support.server import RunningServer, make_boto3_client

WRITERS = 4
READERS = 8
#: How long readers and writers race; the checks count, they are not timed.
RACE_SECONDS = 5.0
#: Body sizes on both sides of the server's 1 MiB inline-write limit.
BODY_SIZES_BYTES = (1024, 4096 + 1, 64 * 1024, MIB - 7, MIB + 5, 2 * MIB)
#: Every body starts with its version, padded to this many bytes.
VERSION_FIELD_BYTES = 32

#: The crash scenario: this many uploads declaring this size, each killed
#: once it has sent at least KILLED_SENT_BYTES, a piece every interval.
KILLED_UPLOADS = 50
KILLED_UPLOAD_BYTES = 64 * MIB
KILLED_SENT_BYTES = MIB
KILLED_PIECE_BYTES = 64 * 1024
KILLED_PIECE_INTERVAL_SECONDS = 0.05
#: Deadline for all 50 uploads to be under way on a busy 2-core machine.
KILLED_START_TIMEOUT_SECONDS = 60.0


# -- versions that describe themselves -------------------------------------------


def version_name(writer: int, sequence: int) -> str:
    """The name of a writer's n-th version."""
    return f"w{writer}-{sequence}"


def version_size(version: str) -> int:
    """The body size of ``version``: varies from one version to the next."""
    writer, sequence = version[1:].split("-")
    return BODY_SIZES_BYTES[(int(writer) + int(sequence)) % len(BODY_SIZES_BYTES)]


def version_body(version: str) -> bytes:
    """The bytes of ``version``: its name, then a pattern only it has."""
    seed = int(hashlib.md5(version.encode()).hexdigest()[:8], 16)
    size = version_size(version)
    return version.encode().ljust(VERSION_FIELD_BYTES) + pattern_block(
        seed, size - VERSION_FIELD_BYTES
    )


@lru_cache(maxsize=4096)
def version_etag(version: str) -> str:
    """The quoted ETag the server must give ``version``."""
    return f'"{hashlib.md5(version_body(version)).hexdigest()}"'


def version_in(body: bytes) -> str:
    """The version a body says it is."""
    return body[:VERSION_FIELD_BYTES].rstrip().decode("ascii", "replace")


# -- racing threads ------------------------------------------------------------


@dataclass
class Race:
    """What the readers saw: how many responses, and every inconsistency."""

    reads: int
    writes: int
    problems: list[str]


def race(server: RunningServer, bucket: str, key: str, read_once: Callable[..., list[str]]) -> Race:
    """Overwrite ``key`` from WRITERS threads while READERS threads call ``read_once``."""
    path = f"/{bucket}/{key}"
    put(server, path, version_name(0, 0))
    stop = threading.Event()

    def write_loop(writer: int) -> int:
        connection = open_connection(server)
        sequence = 1
        try:
            while not stop.is_set():
                put(server, path, version_name(writer, sequence), connection)
                sequence += 1
        finally:
            connection.close()
        return sequence - 1

    def read_loop() -> tuple[int, list[str]]:
        connection = open_connection(server)
        reads = 0
        problems: list[str] = []
        try:
            while not stop.is_set():
                try:
                    problems.extend(read_once(server, path, connection))
                except (OSError, http.client.HTTPException) as e:
                    # The server cut a response short: a torn read by another name.
                    problems.append(f"the connection failed mid-response: {e!r}")
                    connection.close()
                    connection = open_connection(server)
                reads += 1
        finally:
            connection.close()
        return reads, problems

    with ThreadPoolExecutor(WRITERS + READERS) as pool:
        writers = [pool.submit(write_loop, writer) for writer in range(WRITERS)]
        readers = [pool.submit(read_loop) for _ in range(READERS)]
        stop.wait(RACE_SECONDS)
        stop.set()
        writes = sum(future.result() for future in writers)
        results = [future.result() for future in readers]
    return Race(
        reads=sum(reads for reads, _ in results),
        writes=writes,
        problems=[problem for _, problems in results for problem in problems],
    )


def summary(result: Race) -> str:
    """A failure message: how many reads went wrong, and the first few."""
    first = "\n".join(result.problems[:5])
    return f"{len(result.problems)} problems in {result.reads} reads; the first:\n{first}"


def put(
    server: RunningServer,
    path: str,
    version: str,
    connection: http.client.HTTPConnection | None = None,
) -> None:
    """Store ``version`` at ``path``, with its name in x-amz-meta-version."""
    response = signed_request(
        server,
        "PUT",
        path,
        headers={"x-amz-meta-version": version},
        body=version_body(version),
        connection=connection,
    )
    assert response.status == 200, f"PUT {version}: {response.status} {response.body[:300]!r}"


def check_get(
    server: RunningServer, path: str, connection: http.client.HTTPConnection
) -> list[str]:
    """GET once; the problems found: bytes against ETag, length and their own version."""
    response = signed_request(server, "GET", path, connection=connection)
    body = response.body
    version = version_in(body)
    problems = []
    if response.status != 200:
        problems.append(f"GET answered {response.status}")
    elif response.headers["content-length"] != str(len(body)):
        problems.append(
            f"{version}: Content-Length {response.headers['content-length']}, {len(body)} bytes"
        )
    elif response.headers["etag"] != f'"{hashlib.md5(body).hexdigest()}"':
        problems.append(f"{version}: ETag {response.headers['etag']} is not the body's MD5")
    elif body != version_body(version):
        problems.append(f"{version}: torn body of {len(body)} bytes")
    return problems


def check_head_and_get(
    server: RunningServer, path: str, connection: http.client.HTTPConnection
) -> list[str]:
    """HEAD then GET; the problems found: x-amz-meta-version against length, ETag and body."""
    problems = []
    head = signed_request(server, "HEAD", path, connection=connection)
    version = head.headers.get("x-amz-meta-version", "")
    if head.status != 200 or not version:
        problems.append(f"HEAD answered {head.status} with version {version!r}")
    elif (head.headers["content-length"], head.headers["etag"]) != (
        str(version_size(version)),
        version_etag(version),
    ):
        problems.append(f"HEAD of {version}: length and ETag of another version")
    response = signed_request(server, "GET", path, connection=connection)
    version = response.headers.get("x-amz-meta-version", "")
    if response.status != 200 or not version:
        problems.append(f"GET answered {response.status} with version {version!r}")
    elif response.body != version_body(version):
        problems.append(f"GET of {version}: the body is {version_in(response.body)}'s")
    return problems


@pytest.mark.parametrize(
    "check",
    [check_get, check_head_and_get],
    ids=["get-body-matches-its-etag-and-length", "metadata-names-the-bytes-served"],
)
def test_overwrites_never_tear_what_is_read(
    server: RunningServer,
    fresh_bucket: str,
    record_property: Any,
    check: Callable[[RunningServer, str, http.client.HTTPConnection], list[str]],
) -> None:
    """While 4 writers overwrite a key, every GET (and HEAD) answers one whole version."""
    make_boto3_client(server).create_bucket(Bucket=fresh_bucket)
    result = race(server, fresh_bucket, "contested", check)
    record_property("reads", result.reads)
    record_property("writes", result.writes)
    assert not result.problems, summary(result)
    assert result.reads > 0 and result.writes > WRITERS


# -- SIGKILL in the middle of uploads ---------------------------------------------


@dataclass
class Crash:
    """A server killed with uploads in flight, and the same store started again."""

    bucket: str
    #: Keys whose upload was killed and that had no version before.
    new_keys: list[str]
    #: Keys whose upload was killed over an earlier version, and that version's body.
    old_versions: dict[str, bytes]
    #: Bytes each upload had sent when the server was killed.
    sent_bytes: list[int]
    #: Object files and sidecars of the new keys found right after the kill.
    visible_after_kill: list[Path]
    #: Temp files the killed server left, and those still there once it started again.
    temp_files_before: int
    temp_files_after: int
    restarted: RunningServer


class SlowUpload(threading.Thread):
    """One PUT on its own connection, sending its body a piece at a time until cut off."""

    def __init__(self, server: RunningServer, path: str, stop: threading.Event) -> None:
        super().__init__(name=f"upload {path}", daemon=True)
        self._server = server
        self._path = path
        self._stopping = stop
        #: Body bytes handed to the socket so far.
        self.sent = 0

    def run(self) -> None:
        head = signed_head(
            self._server, "PUT", self._path, {"Content-Length": str(KILLED_UPLOAD_BYTES)}
        )
        piece = pattern_block(len(self._path), KILLED_PIECE_BYTES)
        try:
            with connect(self._server) as sock:
                sock.sendall(head)
                while not self._stopping.is_set() and self.sent < KILLED_UPLOAD_BYTES:
                    sock.sendall(piece)
                    self.sent += len(piece)
                    self._stopping.wait(KILLED_PIECE_INTERVAL_SECONDS)
        except OSError:
            pass  # the server died under us: what this test is about


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    """Kill a server with 50 uploads mid-body (half over older versions), then start it again."""
    root = tmp_path_factory.mktemp("crash")
    bucket = "crash"
    keys = [f"upload-{index:02d}" for index in range(KILLED_UPLOADS)]
    old_versions = {key: f"old version of {key}".encode() for key in keys[::2]}
    new_keys = [key for key in keys if key not in old_versions]
    server = start_own_server(root)
    client = make_boto3_client(server)
    client.create_bucket(Bucket=bucket)
    for key, body in old_versions.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    stop = threading.Event()
    uploads = [SlowUpload(server, f"/{bucket}/{key}", stop) for key in keys]
    try:
        for upload in uploads:
            upload.start()
        # Every upload is mid-body: it has its temp file and has sent a good part.
        wait_for(
            lambda: (
                len(temp_files(server.data_dir)) >= KILLED_UPLOADS
                and min(upload.sent for upload in uploads) >= KILLED_SENT_BYTES
            ),
            "every upload in flight",
            timeout=KILLED_START_TIMEOUT_SECONDS,
        )
        server.process.kill()
        server.process.wait()
    finally:
        stop.set()
        for upload in uploads:
            upload.join(SOCKET_TIMEOUT_SECONDS)
        if server.process.poll() is None:
            server.stop()
    sent = [upload.sent for upload in uploads]
    visible = [
        path
        for key in new_keys
        for path in (
            object_path(server.data_dir, bucket, key),
            server.data_dir / bucket / ".nanio-meta" / f"{key}.json",
        )
        if path.exists()
    ]
    before = len(temp_files(server.data_dir))
    # No aging: the killed uploads' temp files are seconds old, and no lock
    # holds them any more.
    restarted = start_own_server(root)
    after = len(temp_files(restarted.data_dir))
    print(
        f"\nSIGKILL: {len(keys)} uploads killed after {min(sent)}..{max(sent)} bytes each; "
        f"temp files: {before} left by the kill, {after} after the restart"
    )
    try:
        yield Crash(bucket, new_keys, old_versions, sent, visible, before, after, restarted)
    finally:
        restarted.stop()


def test_sigkill_mid_upload_leaves_no_object_on_disk(crash: Crash, record_property: Any) -> None:
    """After a SIGKILL with 50 uploads mid-body, no new key has a file or a sidecar."""
    record_property("uploads_killed", len(crash.sent_bytes))
    assert crash.visible_after_kill == []


def test_restart_after_sigkill_answers_no_such_key_for_new_keys(crash: Crash) -> None:
    """After the restart, every key whose first upload was killed answers NoSuchKey."""
    client = make_boto3_client(crash.restarted)
    codes = []
    for key in crash.new_keys:
        with pytest.raises(ClientError) as raised:
            client.get_object(Bucket=crash.bucket, Key=key)
        codes.append(raised.value.response["Error"]["Code"])
    assert codes == ["NoSuchKey"] * len(crash.new_keys)


def test_restart_after_sigkill_serves_the_versions_the_uploads_would_have_replaced(
    crash: Crash,
) -> None:
    """After the restart, a key whose overwrite was killed serves its earlier version, whole."""
    client = make_boto3_client(crash.restarted)
    bodies = {
        key: client.get_object(Bucket=crash.bucket, Key=key)["Body"].read()
        for key in crash.old_versions
    }
    assert bodies == crash.old_versions


def test_restart_after_sigkill_lists_only_complete_objects(crash: Crash) -> None:
    """After the restart, the listing holds exactly the earlier versions, with their sizes."""
    client = make_boto3_client(crash.restarted)
    listed = client.list_objects_v2(Bucket=crash.bucket).get("Contents", [])
    assert {entry["Key"]: entry["Size"] for entry in listed} == {
        key: len(body) for key, body in crash.old_versions.items()
    }


def test_restart_after_sigkill_leaves_no_temp_file(crash: Crash, record_property: Any) -> None:
    """The killed uploads left temp files; once the server is up again, none is left."""
    record_property("temp_files_before", crash.temp_files_before)
    record_property("temp_files_after", crash.temp_files_after)
    assert crash.temp_files_before >= KILLED_UPLOADS
    assert crash.temp_files_after == 0, (
        f"{crash.temp_files_after} of {crash.temp_files_before} temp files left after start-up"
    )
