"""Small-object and listing workloads: the load generators and what they measure.

What one call here does, against a server that ``_servers.py`` started:

- ``run_load``: 4 KiB GET, HEAD and PUT and a 1,000-key ListObjectsV2 page,
  driven by wrk (``bench/wrk/presigned.lua``) over presigned SigV4 URLs, or by
  ``headload`` (``bench/wrk/headload.c``) for HEAD, which wrk cannot time: it
  waits for the body a HEAD response announces.  Both print the same JSON.
- ``boto3_round``: a boto3 thread pool doing a fixed number of PUTs or GETs,
  the view of a real client (whose own CPU cost is part of the figure).
- ``ensure_key_tree`` and ``time_to_first_byte``: a bucket of a million
  hand-dropped files in the layout both servers read (plain files, no
  sidecars), made once and kept in the work dir, and the time to the first
  byte of a prefix listing in it, measured by curl.

This module owns the workloads and their parsing; starting and stopping
servers is ``_servers.py``'s, and the orchestration, the tables and the
report are ``run.py``'s and ``report.py``'s.  It never imports nanio.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from _servers import (
    BENCH_ACCESS_KEY,
    BENCH_DIR,
    BENCH_SECRET_KEY,
    LOOPBACK_HOST,
    CpuPlan,
    ServerError,
)
from botocore.config import Config

KIB_BYTES = 1024
SMALL_OBJECT_BYTES = 4 * KIB_BYTES
#: ListObjectsV2's largest page, and the number of keys the listing bucket holds.
LIST_PAGE_KEYS = 1000
#: PUTs cycle over this many keys, so concurrent PUTs rarely wait on one key.
PUT_KEY_COUNT = 64
BUCKET = "bench"
GET_KEY = "small/get-4k"
HEAD_KEY = "small/head-4k"
LIST_PREFIX = "list/"
REGION = "us-east-1"
PRESIGN_EXPIRY_SECONDS = 6 * 3600
FILL_THREADS = 16

WRK_SCRIPT = BENCH_DIR / "wrk" / "presigned.lua"
HEADLOAD_SOURCE = BENCH_DIR / "wrk" / "headload.c"
#: The line both load generators print their figures on.
LOAD_RESULT_MARKER = "NANIO_BENCH_WRK "
#: A request wrk sees no answer to within this is a timeout: generous, because
#: 16 concurrent 1,000-key listings of a slow server queue for seconds.
LOAD_REQUEST_TIMEOUT_SECONDS = 30
#: Past this share of failed requests a run's figures mean nothing.
LOAD_ERROR_LIMIT_FRACTION = 0.001
LOAD_DEADLINE_MARGIN_SECONDS = 60.0
PROBE_TIMEOUT_SECONDS = 30.0
CURL_DEADLINE_SECONDS = 600.0
COMPILE_DEADLINE_SECONDS = 120.0

#: The key tree: every top directory holds TREE_SUBDIRS directories of
#: TREE_FILES_PER_SUBDIR files, so one top directory is 1,000 keys.
TREE_BUCKET = "big"
TREE_SUBDIRS = 10
TREE_FILES_PER_SUBDIR = 100
TREE_KEYS_PER_TOP = TREE_SUBDIRS * TREE_FILES_PER_SUBDIR
#: Files are sparse: a size without data blocks, so a million of them cost
#: inodes, not 4 GiB of disk.
TREE_FILE_BYTES = 100
TREE_LAYOUT_VERSION = 1
TREE_PROGRESS_EVERY_KEYS = 100_000

_S3_ERROR_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")
_KEY_ELEMENT = re.compile(rb"<Key>")
_TRUNCATED = re.compile(rb"<IsTruncated>(true|false)</IsTruncated>")


class WorkloadUnavailable(Exception):
    """A server cannot do what a workload needs: its figure is "n/a", with this reason."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The figures of one wrk or headload run."""

    duration_us: int
    requests: int
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second of the run."""
        return self.requests / (self.duration_us / 1e6) if self.duration_us > 0 else 0.0

    @property
    def p99_ms(self) -> float:
        """The 99th percentile latency in milliseconds."""
        return self.latency_us["p99"] / 1000.0

    @property
    def error_count(self) -> int:
        """Socket errors, timeouts and answers above 399, together."""
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        """The run as a JSON-ready dict."""
        return {
            "duration_us": self.duration_us,
            "requests": self.requests,
            "errors": self.errors,
            "latency_us": self.latency_us,
        }


@dataclass(frozen=True, slots=True)
class LoadTools:
    """Where the load generators are."""

    wrk: str
    headload: Path


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load run: which generator, method, request targets and body."""

    workload: str
    method: str
    paths_file: Path
    body_bytes: int
    use_headload: bool


@dataclass(frozen=True, slots=True)
class KeyTree:
    """A data dir holding one bucket of hand-dropped files, and the prefix to list."""

    data_dir: Path
    bucket: str
    key_count: int
    list_prefix: str
    prefix_key_count: int


def parse_load_output(text: str) -> LoadResult:
    """The figures from wrk's or headload's output (the marked JSON line)."""
    for line in text.splitlines():
        if line.startswith(LOAD_RESULT_MARKER):
            document = json.loads(line[len(LOAD_RESULT_MARKER) :])
            return LoadResult(
                duration_us=int(document["duration_us"]),
                requests=int(document["requests"]),
                errors={name: int(count) for name, count in document["errors"].items()},
                latency_us={name: float(value) for name, value in document["latency_us"].items()},
            )
    raise ServerError(f"no {LOAD_RESULT_MARKER.strip()} line in the load generator's output")


def ensure_load_tools(work_dir: Path) -> LoadTools:
    """Find wrk and build headload (once per source version) into the work dir."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(
            "wrk is needed on PATH for the small-object workloads:"
            " apt-get install wrk (Debian/Ubuntu), brew install wrk (macOS)"
        )
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit(
            "a C compiler (cc) is needed to build bench/wrk/headload.c, the HEAD load"
            " generator: apt-get install gcc"
        )
    source = HEADLOAD_SOURCE.read_bytes()
    # The binary's name carries the source's digest: an edited source is
    # rebuilt, an unchanged one is reused from the persistent work dir.
    digest = hashlib.sha256(source).hexdigest()[:12]
    binary = work_dir / f"headload-{digest}"
    if not binary.is_file():
        work_dir.mkdir(parents=True, exist_ok=True)
        building = work_dir / f"headload-{digest}.building"
        completed = subprocess.run(
            [compiler, "-O2", "-o", str(building), str(HEADLOAD_SOURCE)],
            capture_output=True,
            text=True,
            timeout=COMPILE_DEADLINE_SECONDS,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"building {HEADLOAD_SOURCE} failed:\n{completed.stderr}")
        building.replace(binary)
    return LoadTools(wrk=wrk, headload=binary)


def s3_client(endpoint_url: str, pool_size: int = FILL_THREADS) -> Any:
    """A boto3 S3 client for one server: path-style, SigV4, one connection per thread."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=BENCH_ACCESS_KEY,
        aws_secret_access_key=BENCH_SECRET_KEY,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            max_pool_connections=pool_size,
        ),
    )


def small_body() -> bytes:
    """The 4 KiB body every small object gets (not one repeated byte)."""
    return bytes((i * 7919) % 251 for i in range(SMALL_OBJECT_BYTES))


def put_key(index: int) -> str:
    """The index-th key the PUT workload writes."""
    return f"put/key-{index:03d}"


def list_key(index: int) -> str:
    """The index-th key of the listing page."""
    return f"{LIST_PREFIX}key-{index:04d}"


def boto3_key(index: int, round_number: int = 0) -> str:
    """The index-th key of a boto3 thread-pool round: each round PUTs keys of its own."""
    return f"boto3/round-{round_number}/key-{index:05d}"


def put_many(client: Any, keys: Sequence[str], body: bytes, threads: int = FILL_THREADS) -> None:
    """PUT every key with the body, from a thread pool (setup, not measured)."""

    def put(key: str) -> None:
        client.put_object(Bucket=BUCKET, Key=key, Body=body)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(put, keys):
            pass


def fill_read_data(client: Any) -> None:
    """Store what the read workloads read: the GET and HEAD objects and the listing's keys."""
    body = small_body()
    put_many(client, [GET_KEY, HEAD_KEY, *(list_key(i) for i in range(LIST_PAGE_KEYS))], body)


def presigned(client: Any, operation: str, **params: Any) -> str:
    """A presigned SigV4 URL for one operation on the bench bucket."""
    url: str = client.generate_presigned_url(
        operation, Params={"Bucket": BUCKET, **params}, ExpiresIn=PRESIGN_EXPIRY_SECONDS
    )
    return url


def request_target(url: str) -> str:
    """The path and query of a URL: what goes on the request line."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def write_paths(path: Path, urls: Sequence[str]) -> Path:
    """Write one request target per line, for wrk's script or headload."""
    path.write_text("".join(request_target(url) + "\n" for url in urls), encoding="ascii")
    return path


def load_specs(client: Any, work_dir: Path, workloads: Sequence[str]) -> list[LoadSpec]:
    """Presign the URLs of the wanted load workloads and write their paths files."""
    specs: list[LoadSpec] = []
    for workload in workloads:
        paths_file = work_dir / f"paths-{workload}.txt"
        if workload == "get":
            write_paths(paths_file, [presigned(client, "get_object", Key=GET_KEY)])
            specs.append(LoadSpec(workload, "GET", paths_file, 0, use_headload=False))
        elif workload == "head":
            write_paths(paths_file, [presigned(client, "head_object", Key=HEAD_KEY)])
            specs.append(LoadSpec(workload, "HEAD", paths_file, 0, use_headload=True))
        elif workload == "put":
            urls = [presigned(client, "put_object", Key=put_key(i)) for i in range(PUT_KEY_COUNT)]
            write_paths(paths_file, urls)
            specs.append(LoadSpec(workload, "PUT", paths_file, SMALL_OBJECT_BYTES, False))
        elif workload == "list":
            url = presigned(client, "list_objects_v2", Prefix=LIST_PREFIX, MaxKeys=LIST_PAGE_KEYS)
            write_paths(paths_file, [url])
            specs.append(LoadSpec(workload, "GET", paths_file, 0, use_headload=False))
        else:
            raise ValueError(f"not a load workload: {workload}")
    return specs


def _s3_code(body: bytes) -> str:
    """The S3 error code in an error body, or a short excerpt of the body."""
    match = _S3_ERROR_CODE.search(body)
    if match is not None:
        return match.group(1).decode("utf-8", "replace")
    return body[:120].decode("utf-8", "replace").strip() or "(empty body)"


def probe(port: int, spec: LoadSpec) -> None:
    """Send the workload's first request once; WorkloadUnavailable if the server refuses it."""
    # A server that cannot do the request at all (say, no presigned PUT)
    # would make wrk count nothing but errors: say so instead of a figure.
    target = spec.paths_file.read_text(encoding="ascii").splitlines()[0]
    body = small_body()[: spec.body_bytes] if spec.body_bytes else None
    connection = http.client.HTTPConnection(LOOPBACK_HOST, port, timeout=PROBE_TIMEOUT_SECONDS)
    try:
        connection.request(spec.method, target, body=body)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as e:
        raise ServerError(f"{spec.method} probe failed: {type(e).__name__}: {e}") from e
    finally:
        connection.close()
    if response.status != 200:
        raise WorkloadUnavailable(
            f"the server answers a presigned {spec.method} with {response.status} {_s3_code(data)}"
        )
    if spec.workload == "get" and len(data) != SMALL_OBJECT_BYTES:
        raise ServerError(f"GET returned {len(data)} bytes, not {SMALL_OBJECT_BYTES}")
    if spec.workload == "list":
        keys = len(_KEY_ELEMENT.findall(data))
        if keys != LIST_PAGE_KEYS:
            raise ServerError(f"the listing page holds {keys} keys, not {LIST_PAGE_KEYS}")


def load_command(
    tools: LoadTools,
    spec: LoadSpec,
    port: int,
    connections: int,
    seconds: int,
    cpus: CpuPlan,
) -> list[str]:
    """The command line of one wrk or headload run."""
    if spec.use_headload:
        command = [
            str(tools.headload),
            LOOPBACK_HOST,
            str(port),
            str(connections),
            str(seconds),
            spec.method,
            str(spec.paths_file),
        ]
    else:
        # One wrk thread per CPU the client may use: one when pinned.
        threads = 1 if cpus.client_cpu is not None else min(2, os.cpu_count() or 1)
        command = [
            tools.wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            f"--timeout={LOAD_REQUEST_TIMEOUT_SECONDS}s",
            "-s",
            str(WRK_SCRIPT),
            f"http://{LOOPBACK_HOST}:{port}/",
            "--",
            spec.method,
            str(spec.paths_file),
            str(spec.body_bytes),
        ]
    return [*cpus.client_prefix(), *command]


def run_load(
    tools: LoadTools,
    spec: LoadSpec,
    port: int,
    connections: int,
    seconds: int,
    cpus: CpuPlan,
) -> LoadResult:
    """Run wrk or headload once and parse its figures."""
    command = load_command(tools, spec, port, connections, seconds, cpus)
    completed = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=seconds + LOAD_DEADLINE_MARGIN_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise ServerError(
            f"{Path(command[len(cpus.client_prefix())]).name} exited with"
            f" {completed.returncode}: {completed.stderr.strip()[-500:]}"
        )
    return parse_load_output(completed.stdout)


def load_verdict(result: LoadResult) -> str | None:
    """Why a run's figures cannot be reported (too many errors, nothing done), or None."""
    if result.requests == 0:
        return f"no request completed (errors {result.errors})"
    if result.error_count > LOAD_ERROR_LIMIT_FRACTION * result.requests:
        return f"{result.error_count} errors in {result.requests} requests: {result.errors}"
    return None


@dataclass(frozen=True, slots=True)
class PoolRound:
    """One boto3 thread-pool round: how many operations, how long, each one's latency."""

    operations: int
    seconds: float
    latencies_s: list[float]
    #: CPU time the client process (boto3 and its threads) used meanwhile.
    client_cpu_seconds: float = 0.0

    @property
    def operations_per_second(self) -> float:
        """Completed operations per second of wall time."""
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    @property
    def p99_ms(self) -> float:
        """The 99th percentile latency of one operation, in milliseconds."""
        return percentile(self.latencies_s, 99.0) * 1000.0


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def boto3_round(
    endpoint_url: str,
    operation: str,
    count: int,
    threads: int,
    cpus: CpuPlan,
    round_number: int = 0,
) -> PoolRound:
    """``count`` 4 KiB PUTs or GETs from a pool of ``threads`` threads sharing one client."""
    client = s3_client(endpoint_url, pool_size=threads)
    body = small_body()
    keys = [boto3_key(i, round_number) for i in range(count)]

    def put(key: str) -> float:
        started = time.perf_counter()
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
        return time.perf_counter() - started

    def get(key: str) -> float:
        started = time.perf_counter()
        data = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        elapsed = time.perf_counter() - started
        if len(data) != SMALL_OBJECT_BYTES:
            raise ServerError(f"boto3 GET of {key} returned {len(data)} bytes")
        return elapsed

    action = put if operation == "put" else get
    # The client process shares the client's core with nothing else: its
    # threads are made after this and inherit the affinity.
    previous = os.sched_getaffinity(0)
    if cpus.client_cpu is not None:
        os.sched_setaffinity(0, {cpus.client_cpu})
    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            # Warm up: every thread's connection is open before the clock starts.
            warm_keys = [f"boto3/warm-{i:02d}" for i in range(threads)]
            for _ in pool.map(put, warm_keys):
                pass
            # The harness does nothing else meanwhile: its process CPU time
            # is the client's.
            cpu_started = time.process_time()
            started = time.perf_counter()
            latencies = list(pool.map(action, keys))
            elapsed = time.perf_counter() - started
            client_cpu = time.process_time() - cpu_started
    finally:
        os.sched_setaffinity(0, previous)
    return PoolRound(
        operations=count, seconds=elapsed, latencies_s=latencies, client_cpu_seconds=client_cpu
    )


def tree_top_count(key_count: int) -> int:
    """How many top directories (1,000 keys each) a tree of ``key_count`` keys has."""
    if key_count < TREE_KEYS_PER_TOP or key_count % TREE_KEYS_PER_TOP:
        raise ValueError(f"the key count must be a multiple of {TREE_KEYS_PER_TOP}: {key_count}")
    return key_count // TREE_KEYS_PER_TOP


def tree_top_name(index: int, top_count: int) -> str:
    """The name of the index-th top directory: ``prefix-NNN``, zero-padded."""
    width = max(3, len(str(top_count - 1)))
    return f"prefix-{index:0{width}d}"


def tree_list_prefix(top_count: int) -> tuple[str, int]:
    """The prefix the listing asks for and how many keys start with it."""
    # The middle top directory's name without its last digit: it covers up
    # to ten top directories (10,000 keys), so the walk must find the
    # first of them among all the others and its first page is truncated.
    middle = tree_top_name(top_count // 2, top_count)
    prefix = middle[:-1]
    matching = sum(
        1 for index in range(top_count) if tree_top_name(index, top_count).startswith(prefix)
    )
    return prefix, matching * TREE_KEYS_PER_TOP


def tree_key(top: int, sub: int, leaf: int, top_count: int) -> str:
    """The key of one file of the tree."""
    return f"{tree_top_name(top, top_count)}/sub-{sub:02d}/key-{leaf:03d}"


def _tree_marker(key_count: int) -> dict[str, int]:
    """What a finished tree's marker file says."""
    return {
        "layout_version": TREE_LAYOUT_VERSION,
        "key_count": key_count,
        "subdirs": TREE_SUBDIRS,
        "files_per_subdir": TREE_FILES_PER_SUBDIR,
        "file_bytes": TREE_FILE_BYTES,
    }


def ensure_key_tree(work_dir: Path, key_count: int) -> KeyTree:
    """Make (or reuse) a data dir with one bucket of ``key_count`` hand-dropped files."""
    top_count = tree_top_count(key_count)
    root = work_dir / f"keys-{key_count}"
    data_dir = root / "data"
    marker = root / "complete.json"
    prefix, prefix_keys = tree_list_prefix(top_count)
    tree = KeyTree(data_dir, TREE_BUCKET, key_count, prefix, prefix_keys)
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == _tree_marker(key_count):
            return tree
    except (OSError, ValueError):
        pass
    # No marker: a tree that was never finished (an interrupted run) is
    # removed and made again, since its last directory may be partial.
    if root.exists():
        shutil.rmtree(root)
    print(f"making a bucket of {key_count:,} files in {data_dir} (kept for later runs) ...")
    started = time.monotonic()
    bucket_dir = data_dir / TREE_BUCKET
    made = 0
    for top in range(top_count):
        for sub in range(TREE_SUBDIRS):
            directory = bucket_dir / tree_top_name(top, top_count) / f"sub-{sub:02d}"
            directory.mkdir(parents=True)
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for leaf in range(TREE_FILES_PER_SUBDIR):
                    fd = os.open(
                        f"key-{leaf:03d}",
                        os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                        0o644,
                        dir_fd=dir_fd,
                    )
                    try:
                        os.ftruncate(fd, TREE_FILE_BYTES)
                    finally:
                        os.close(fd)
            finally:
                os.close(dir_fd)
            made += TREE_FILES_PER_SUBDIR
            if made % TREE_PROGRESS_EVERY_KEYS == 0:
                print(f"  {made:,} files, {time.monotonic() - started:.0f} s", flush=True)
    marker.write_text(json.dumps(_tree_marker(key_count)) + "\n", encoding="utf-8")
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    return tree


def reset_server_state(tree: KeyTree) -> None:
    """Remove what a previous server left beside the bucket (its ``.nanio`` folder)."""
    # Both servers keep their own state under <data dir>/.nanio with
    # different layouts; each starts as if the files had just been dropped.
    shutil.rmtree(tree.data_dir / ".nanio", ignore_errors=True)


def list_url(client: Any, tree: KeyTree) -> str:
    """A presigned ListObjectsV2 URL for the first page of the tree's prefix."""
    url: str = client.generate_presigned_url(
        "list_objects_v2",
        Params={"Bucket": tree.bucket, "Prefix": tree.list_prefix, "MaxKeys": LIST_PAGE_KEYS},
        ExpiresIn=PRESIGN_EXPIRY_SECONDS,
    )
    return url


def check_first_page(port: int, url: str) -> None:
    """Check that the listing answers a full, truncated first page."""
    connection = http.client.HTTPConnection(LOOPBACK_HOST, port, timeout=CURL_DEADLINE_SECONDS)
    try:
        connection.request("GET", request_target(url))
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise WorkloadUnavailable(
            f"the server answers the presigned listing with {response.status} {_s3_code(data)}"
        )
    keys = len(_KEY_ELEMENT.findall(data))
    truncated = _TRUNCATED.search(data)
    if keys != LIST_PAGE_KEYS or truncated is None or truncated.group(1) != b"true":
        raise ServerError(
            f"the first page holds {keys} keys (truncated:"
            f" {truncated.group(1).decode() if truncated else '?'}), expected a truncated"
            f" page of {LIST_PAGE_KEYS}"
        )


def curl_timing(url: str, cpus: CpuPlan) -> tuple[float, float]:
    """One GET with curl: (seconds to the first byte, seconds in total)."""
    command = [
        *cpus.client_prefix(),
        "curl",
        "-sS",
        "-o",
        os.devnull,
        "-w",
        "%{http_code} %{time_starttransfer} %{time_total}",
        url,
    ]
    completed = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CURL_DEADLINE_SECONDS,
        check=False,
    )
    fields = completed.stdout.split()
    if completed.returncode != 0 or len(fields) != 3 or fields[0] != "200":
        raise ServerError(
            f"curl of the listing: exit {completed.returncode}, {completed.stdout!r}"
            f" {completed.stderr.strip()}"
        )
    return float(fields[1]), float(fields[2])


@dataclass(frozen=True, slots=True)
class FirstByteTimes:
    """Time to first byte of a listing: the first request and the median of the rest."""

    first_s: float
    samples_s: list[float]
    totals_s: list[float]

    @property
    def median_ms(self) -> float:
        """Median time to first byte after the first request, in milliseconds."""
        return statistics.median(self.samples_s) * 1000.0

    @property
    def median_total_ms(self) -> float:
        """Median time to the last byte after the first request, in milliseconds."""
        return statistics.median(self.totals_s) * 1000.0


def time_to_first_byte(url: str, cpus: CpuPlan, samples: int) -> FirstByteTimes:
    """The first listing request's TTFB, then ``samples`` more for a median."""
    # The first request on a fresh server pays for cold caches (its own
    # and, for the first server, the kernel's dentries); it is reported
    # apart, and the median covers the warm ones.
    first, _ = curl_timing(url, cpus)
    firsts: list[float] = []
    totals: list[float] = []
    for _ in range(samples):
        ttfb, total = curl_timing(url, cpus)
        firsts.append(ttfb)
        totals.append(total)
    return FirstByteTimes(first_s=first, samples_s=firsts, totals_s=totals)
