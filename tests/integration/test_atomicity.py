"""
Atomic writes against a real server: readers never see a torn object, and a
crash mid-upload leaves nothing visible.

The overwrite tests run writer and reader threads against one key on the
session server for a few seconds; every body says which version it is, so
a reader can check its bytes against its ETag, its length and its metadata.
The crash tests share one scenario on a server of their own: uploads in
flight, SIGKILL, then a restart on the same data directory.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
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
    age_files,
    connect,
    object_path,
    pattern_block,
    signed_head,
    start_own_server,
    temp_files,
    wait_for,
    wait_for_no_temp_files,
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

#: The crash scenario: this many uploads of this size, this much of each sent.
KILLED_UPLOADS = 20
KILLED_UPLOAD_BYTES = 32 * MIB
KILLED_SENT_BYTES = 2 * MIB
#: Older than the 60 s the server leaves young temp files alone.
TEMP_AGE_SECONDS = 120.0


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


def test_overwrites_never_tear_a_get(
    server: RunningServer, fresh_bucket: str, record_property: Any
) -> None:
    """While 4 writers overwrite a key, every GET's body matches its ETag and Content-Length."""
    make_boto3_client(server).create_bucket(Bucket=fresh_bucket)
    result = race(server, fresh_bucket, "contested", check_get)
    record_property("reads", result.reads)
    record_property("writes", result.writes)
    assert not result.problems, summary(result)
    assert result.reads > 0 and result.writes > WRITERS


def test_metadata_always_matches_the_bytes_under_overwrites(
    server: RunningServer, fresh_bucket: str, record_property: Any
) -> None:
    """While 4 writers overwrite a key, x-amz-meta-version always names the bytes served with it."""
    make_boto3_client(server).create_bucket(Bucket=fresh_bucket)
    result = race(server, fresh_bucket, "contested", check_head_and_get)
    record_property("head_get_pairs", result.reads)
    record_property("writes", result.writes)
    assert not result.problems, summary(result)
    assert result.reads > 0 and result.writes > WRITERS


# -- SIGKILL in the middle of uploads ---------------------------------------------


@dataclass
class Crash:
    """A server killed with uploads in flight, and the same store started again."""

    bucket: str
    keys: list[str]
    #: Object files and sidecars of those keys found right after the kill.
    visible_after_kill: list[Path]
    #: Temp files the killed server left.
    leftover_temp_files: int
    restarted: RunningServer


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    """Kill a server with 20 uploads in flight, age its temp files, and start it again."""
    root = tmp_path_factory.mktemp("crash")
    bucket = "crash"
    keys = [f"upload-{index:02d}" for index in range(KILLED_UPLOADS)]
    server = start_own_server(root)
    make_boto3_client(server).create_bucket(Bucket=bucket)
    sockets: list[socket.socket] = []
    try:
        for key in keys:
            sock = connect(server)
            sockets.append(sock)
            sock.sendall(
                signed_head(
                    server, "PUT", f"/{bucket}/{key}", {"Content-Length": str(KILLED_UPLOAD_BYTES)}
                )
            )
            for index in range(KILLED_SENT_BYTES // MIB):
                sock.sendall(pattern_block(index))
        # Every upload is in flight once it has its temp file.
        wait_for(
            lambda: len(temp_files(server.data_dir)) >= KILLED_UPLOADS, "a temp file per upload"
        )
        server.process.kill()
        server.process.wait()
    finally:
        for sock in sockets:
            sock.close()
        if server.process.poll() is None:
            server.stop()
    visible = [
        path
        for key in keys
        for path in (
            object_path(server.data_dir, bucket, key),
            server.data_dir / bucket / ".nanio-meta" / f"{key}.json",
        )
        if path.exists()
    ]
    leftovers = temp_files(server.data_dir)
    age_files(leftovers, TEMP_AGE_SECONDS)
    restarted = start_own_server(root)
    try:
        yield Crash(bucket, keys, visible, len(leftovers), restarted)
    finally:
        restarted.stop()


def test_sigkill_mid_upload_leaves_no_object_on_disk(crash: Crash, record_property: Any) -> None:
    """After a SIGKILL with 20 uploads in flight, none of their keys has a file or sidecar."""
    record_property("uploads_killed", len(crash.keys))
    assert crash.visible_after_kill == []


def test_restart_after_sigkill_answers_no_such_key(crash: Crash) -> None:
    """After the restart, every key whose upload was killed answers NoSuchKey."""
    client = make_boto3_client(crash.restarted)
    codes = []
    for key in crash.keys:
        with pytest.raises(ClientError) as raised:
            client.get_object(Bucket=crash.bucket, Key=key)
        codes.append(raised.value.response["Error"]["Code"])
    assert codes == ["NoSuchKey"] * len(crash.keys)


def test_restart_after_sigkill_removes_the_old_temp_files(crash: Crash) -> None:
    """The restarted server removes the killed uploads' temp files once they are old."""
    assert crash.leftover_temp_files >= KILLED_UPLOADS
    wait_for_no_temp_files(crash.restarted.data_dir)
