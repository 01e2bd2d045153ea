"""
Many clients at once against a real server: one key fought over for 30
seconds, and buckets created and deleted under PUTs.

One key: 20 clients, each on its own keep-alive connection, overwrite the
key with bodies from 1 KiB to 2 MiB and read it back in turn.  Every body
describes itself (a header naming its writer, sequence number and size, then
a pattern only it has), so a GET can check that its bytes are one whole
version, that their MD5 is the ETag sent with them, and that the
x-amz-meta-version sent with them names that same version.

Buckets: for a few names, threads create and delete the bucket in a loop
while other threads PUT into it.  The invariant: a bucket is never half
there.  Whenever a PUT is acknowledged, its object is readable until its
writer deletes it (a DeleteBucket can never succeed over it: it answers
BucketNotEmpty); every answer is one S3 gives for the race (never a 500);
and once the churn stops, each name is either a whole bucket (directory
with its sidecar tree, its record, HEAD 200, an empty listing) or nothing
at all (no directory, no record), with no trash or temp file left behind.

Counts are printed (``pytest -s``) and are part of every failure message.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.support.clients import RawResponse, error_fields, open_connection, signed_request
from tests.support.procs import MIB, pattern_block, temp_dir, wait_for, wait_for_no_temp_files
from tests.support.server import RunningServer

#: Clients fighting over one key, and for how long.
CLIENTS = 20
RACE_SECONDS = 30.0
#: Body sizes from 1 KiB to 2 MiB, on both sides of the 1 MiB inline-write limit.
BODY_SIZES_BYTES = (1024, 4096 + 1, 64 * 1024, 300 * 1024 + 3, MIB - 7, MIB + 5, 2 * MIB)
#: Every body starts with a header this long: "<writer> <sequence> <size>".
HEADER_BYTES = 64
#: GETs per PUT in each client's loop: reads outnumber writes, as in life.
READS_PER_WRITE = 2

#: Bucket churn: names, threads per name of each kind, and how long.
CHURN_NAMES = 3
CHURNERS_PER_NAME = 2
PUTTERS_PER_NAME = 2
CHURN_SECONDS = 10.0
#: PUT bodies during the churn: the key's name repeated (about 3 KiB, or 1.5 MiB).
CHURN_SMALL_REPEAT = 100
CHURN_LARGE_REPEAT = 50_000


# -- bodies that describe themselves ---------------------------------------------


def make_body(writer: int, sequence: int) -> tuple[str, bytes]:
    """A version's name and its bytes: a header naming it, then a pattern only it has."""
    size = BODY_SIZES_BYTES[(writer * 7 + sequence) % len(BODY_SIZES_BYTES)]
    version = f"c{writer}-{sequence}"
    header = f"{version} {size}".encode().ljust(HEADER_BYTES)
    seed = int(hashlib.md5(version.encode()).hexdigest()[:8], 16)
    return version, header + pattern_block(seed, size - HEADER_BYTES)


def expected_body(body: bytes) -> tuple[str, bytes | None]:
    """The version a body says it is, and the bytes that version has (None if unreadable)."""
    fields = body[:HEADER_BYTES].split()
    try:
        version, size = fields[0].decode("ascii"), int(fields[1])
        writer, sequence = (int(part) for part in version[1:].split("-"))
    except (IndexError, ValueError, UnicodeDecodeError):
        return "?", None
    name, whole = make_body(writer, sequence)
    return name, whole if len(whole) == size else None


# -- one key, twenty clients ------------------------------------------------------


@dataclass
class ClientTally:
    """What one client did and saw."""

    writes: int = 0
    reads: int = 0
    problems: list[str] = field(default_factory=list)


def check_read(response: RawResponse) -> str | None:
    """The problem with one GET's answer, or None if it is one whole, matching version."""
    body = response.body
    if response.status != 200:
        return f"GET answered {response.status}: {body[:200]!r}"
    version, whole = expected_body(body)
    etag = response.headers.get("etag", "")
    if etag != f'"{hashlib.md5(body).hexdigest()}"':
        return f"{version}: ETag {etag} is not the MD5 of the {len(body)} bytes sent with it"
    if whole is None or body != whole:
        return f"{version}: a torn body of {len(body)} bytes"
    if response.headers.get("x-amz-meta-version") != version:
        return f"{version}: sent with the metadata of {response.headers.get('x-amz-meta-version')}"
    if response.headers.get("content-length") != str(len(body)):
        return f"{version}: Content-Length {response.headers.get('content-length')}"
    return None


def fight(server: RunningServer, path: str, writer: int, stop: threading.Event) -> ClientTally:
    """Overwrite ``path`` and read it back until ``stop``; every answer is checked."""
    tally = ClientTally()
    connection = open_connection(server)
    sequence = 0
    try:
        while not stop.is_set():
            sequence += 1
            version, body = make_body(writer, sequence)
            try:
                answer = signed_request(
                    server,
                    "PUT",
                    path,
                    headers={"x-amz-meta-version": version},
                    body=body,
                    connection=connection,
                )
                if answer.status != 200:
                    tally.problems.append(f"PUT {version}: {answer.status} {answer.body[:200]!r}")
                elif answer.headers.get("etag") != f'"{hashlib.md5(body).hexdigest()}"':
                    tally.problems.append(f"PUT {version}: ETag {answer.headers.get('etag')}")
                tally.writes += 1
                for _ in range(READS_PER_WRITE):
                    problem = check_read(signed_request(server, "GET", path, connection=connection))
                    if problem is not None:
                        tally.problems.append(problem)
                    tally.reads += 1
            except (OSError, http.client.HTTPException) as e:
                # A response cut short is a torn read by another name.
                tally.problems.append(f"client {writer}: the connection failed: {e!r}")
                connection.close()
                connection = open_connection(server)
    finally:
        connection.close()
    return tally


def test_twenty_clients_on_one_key_never_see_a_torn_or_mismatched_version(
    server: RunningServer, bucket: str, record_property: Any
) -> None:
    """For 30 s, 20 clients overwrite and read one key; every GET is one whole version."""
    path = f"/{bucket}/contested"
    stop = threading.Event()
    with ThreadPoolExecutor(CLIENTS) as pool:
        running = [pool.submit(fight, server, path, writer, stop) for writer in range(CLIENTS)]
        stop.wait(RACE_SECONDS)
        stop.set()
        tallies = [future.result() for future in running]
    writes = sum(tally.writes for tally in tallies)
    reads = sum(tally.reads for tally in tallies)
    problems = [problem for tally in tallies for problem in tally.problems]
    summary = (
        f"{CLIENTS} clients for {RACE_SECONDS:.0f} s: {writes} PUTs and {reads} GETs checked, "
        f"{len(problems)} problems"
    )
    print(f"\n{summary}")
    record_property("writes", writes)
    record_property("reads", reads)
    assert problems == [], summary + "; the first:\n" + "\n".join(problems[:5])
    # Every client got some of each done: the race really was one.
    assert min(min(tally.writes, tally.reads) for tally in tallies) > 0, summary


# -- buckets created and deleted under PUTs -----------------------------------------


@dataclass
class ChurnTally:
    """Answers seen during the churn, by operation and S3 code, and what went wrong."""

    answers: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        """Count one answer."""
        with self.lock:
            self.answers[what] = self.answers.get(what, 0) + 1

    def problem(self, text: str) -> None:
        """Note one broken invariant."""
        with self.lock:
            self.problems.append(text)


def s3_code(response: RawResponse) -> str:
    """The S3 error code of an answer, or its status when it is not an error."""
    if response.status < 300:
        return str(response.status)
    try:
        return error_fields(response.body)["Code"]
    except Exception:
        return f"{response.status} without an S3 error document"


#: The answers S3 gives in this race; anything else breaks the invariant.
ALLOWED = {
    "CreateBucket": {"200", "BucketAlreadyOwnedByYou"},
    "DeleteBucket": {"204", "NoSuchBucket", "BucketNotEmpty"},
    "PutObject": {"200", "NoSuchBucket"},
}


def loop_until(
    stop: threading.Event, step: Callable[[http.client.HTTPConnection], None], server: RunningServer
) -> None:
    """Run ``step`` on one keep-alive connection until ``stop``."""
    connection = open_connection(server)
    try:
        while not stop.is_set():
            try:
                step(connection)
            except (OSError, http.client.HTTPException):
                # The server closes after answering a PUT refused before its body.
                connection.close()
                connection = open_connection(server)
    finally:
        connection.close()


def churn(server: RunningServer, name: str, tally: ChurnTally, stop: threading.Event) -> None:
    """Create and delete the bucket ``name`` over and over."""

    def step(connection: http.client.HTTPConnection) -> None:
        for method, operation in (("PUT", "CreateBucket"), ("DELETE", "DeleteBucket")):
            code = s3_code(signed_request(server, method, f"/{name}", connection=connection))
            tally.count(f"{operation} {code}")
            if code not in ALLOWED[operation]:
                tally.problem(f"{operation} {name}: {code}")

    loop_until(stop, step, server)


def put_read_delete(
    server: RunningServer, name: str, putter: int, tally: ChurnTally, stop: threading.Event
) -> None:
    """PUT fresh keys into ``name``; each acknowledged one must read back until deleted."""
    sequence = [0]

    def step(connection: http.client.HTTPConnection) -> None:
        sequence[0] += 1
        key = f"p{putter}-{sequence[0]}"
        # Every fourth body is large: still streaming when its bucket goes.
        repeat = CHURN_LARGE_REPEAT if sequence[0] % 4 == 0 else CHURN_SMALL_REPEAT
        body = f"{name}/{key}\n".encode() * repeat
        path = f"/{name}/{key}"
        code = s3_code(signed_request(server, "PUT", path, body=body, connection=connection))
        tally.count(f"PutObject {code}")
        if code not in ALLOWED["PutObject"]:
            tally.problem(f"PUT {path}: {code}")
        if code != "200":
            return
        # Acknowledged: no DeleteBucket may remove it under us.
        got = signed_request(server, "GET", path, connection=connection)
        if (got.status, got.body) != (200, body):
            tally.problem(f"GET {path} after its PUT: {s3_code(got)}")
        gone = signed_request(server, "DELETE", path, connection=connection)
        if gone.status != 204:
            tally.problem(f"DELETE {path} after its PUT: {s3_code(gone)}")

    loop_until(stop, step, server)


def bucket_state(server: RunningServer, name: str) -> str:
    """How ``name`` looks once the churn is over: "bucket", "none", or what is half there."""
    directory = server.data_dir / name
    record_path = server.data_dir / ".nanio" / "buckets" / f"{name}.json"
    head = signed_request(server, "HEAD", f"/{name}")
    if not directory.exists() and not record_path.exists():
        return (
            "none" if head.status == 404 else f"no directory and no record, yet HEAD {head.status}"
        )
    if not (directory.is_dir() and record_path.is_file() and (directory / ".nanio-meta").is_dir()):
        return (
            f"half there: directory {directory.exists()}, record {record_path.exists()}, "
            f"sidecar tree {(directory / '.nanio-meta').exists()}"
        )
    record = json.loads(record_path.read_text())
    listing = signed_request(server, "GET", f"/{name}", query="list-type=2")
    # A one-user server records no owner (null); a multi-user one, the creator.
    owner = record.get("owner", "missing")
    if owner not in (None, server.access_key) or head.status != 200 or listing.status != 200:
        return f"a bucket owned by {owner!r}, HEAD {head.status}, listing {listing.status}"
    if b"<Contents>" in listing.body:
        return f"a bucket still holding objects: {listing.body[:300]!r}"
    return "bucket"


def test_bucket_churn_under_puts_never_leaves_half_a_bucket(
    server: RunningServer, record_property: Any
) -> None:
    """Buckets created and deleted under PUTs: no lost acknowledged object, no half-made bucket."""
    names = [f"churn-{uuid.uuid4().hex[:12]}-{index}" for index in range(CHURN_NAMES)]
    tally = ChurnTally()
    stop = threading.Event()
    workers = CHURN_NAMES * (CHURNERS_PER_NAME + PUTTERS_PER_NAME)
    with ThreadPoolExecutor(workers) as pool:
        running = []
        for name in names:
            running += [
                pool.submit(churn, server, name, tally, stop) for _ in range(CHURNERS_PER_NAME)
            ]
            running += [
                pool.submit(put_read_delete, server, name, putter, tally, stop)
                for putter in range(PUTTERS_PER_NAME)
            ]
        stop.wait(CHURN_SECONDS)
        stop.set()
        for future in running:
            future.result()
    states = {name: bucket_state(server, name) for name in names}
    summary = f"answers {dict(sorted(tally.answers.items()))}; end states {states}"
    print(f"\n{summary}")
    record_property("answers", tally.answers)
    try:
        assert tally.problems == [], summary + "; the first:\n" + "\n".join(tally.problems[:5])
        assert set(states.values()) <= {"bucket", "none"}, summary
        # The race happened: buckets came and went, and PUTs got in between.
        assert tally.answers.get("DeleteBucket 204", 0) > 0, summary
        assert tally.answers.get("PutObject 200", 0) > 0, summary
        assert tally.answers.get("PutObject NoSuchBucket", 0) > 0, summary
        # Deleted buckets leave no trash and no temp file behind.
        wait_for(lambda: not any(temp_dir(server.data_dir).glob("*.trash")), "no trash left")
        wait_for_no_temp_files(server.data_dir)
    finally:
        for name in names:
            signed_request(server, "DELETE", f"/{name}")
