#!/usr/bin/env python3
"""What durability costs: PUT throughput of ``nanio serve`` with fsync on and with ``--no-fsync``.

One command, from the repository root, after the README's install command::

    .venv/bin/python bench/fsync_cost.py

It starts two servers of this checkout side by side (each on its own loopback
port and its own data directory, in ``--work-dir``: put it on the disk you
care about, never on a tmpfs, where fsync costs nothing), creates a bucket on
each, then times PUTs of 4 KiB and of 1 MiB objects to presigned SigV4 URLs
over keep-alive ``http.client`` connections (``--clients`` of them at once,
each PUT to a new key).  The two servers take turns, a batch at a time, so
that a change in the machine's load lands on both; ``os.sync()`` runs before
every batch, so the writeback of what ``--no-fsync`` left in the page cache
is not charged to the next batch.  Every answer must be 200 with the ETag
of the bytes sent.

It prints, for each size: requests per second with fsync and without, their
ratio, and the median and 90th-percentile latency of a PUT.  With ``--json``
it also writes every figure and the machine it ran on.  It asserts no speed.

It never imports nanio: the servers are the ``nanio`` console script beside
this Python (``--nanio`` picks another), so they are seen as any client sees
them.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

KIB = 1024
MIB = 1024 * KIB
#: The object sizes timed, and how many PUTs of each each server gets by default.
SIZES_BYTES = (4 * KIB, MIB)
DEFAULT_COUNTS = {4 * KIB: 600, MIB: 120}
#: PUTs per turn: each server times this many, then the other does.
DEFAULT_BATCH = 30
#: Untimed PUTs per size and server first (connections, caches, first dirs).
WARMUP_PUTS = 10
BUCKET = "fsync-cost"
ACCESS_KEY = "nanio-bench"
SECRET_KEY = "nanio-bench-secret-key-0123456789"
REGION = "us-east-1"
HOST = "127.0.0.1"
START_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.05
REQUEST_TIMEOUT_SECONDS = 120.0
#: File systems where fsync is free: a figure measured there says nothing.
MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})


# -- servers ---------------------------------------------------------------------


def default_nanio() -> Path:
    """The ``nanio`` console script beside the Python running this benchmark."""
    return Path(sys.executable).parent / "nanio"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One running ``nanio serve``."""

    label: str
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def answers_http(endpoint_url: str) -> bool:
    """Whether anything answers HTTP at ``endpoint_url`` (an S3 error counts)."""
    parts = urllib.parse.urlsplit(endpoint_url)
    connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=2.0)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def running_server(nanio: Path, work_dir: Path, label: str, fsync: bool) -> Iterator[Server]:
    """``nanio serve`` on a free port with its data in ``work_dir/label``; stopped on exit."""
    data_dir = work_dir / label
    log_path = work_dir / f"{label}.log"
    port = free_port()
    command = [str(nanio), "serve", "--host", HOST, "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--no-access-log"]
    if not fsync:
        command.append("--no-fsync")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NANIO_")}
    environ.update(NANIO_ACCESS_KEY=ACCESS_KEY, NANIO_SECRET_KEY=SECRET_KEY)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environ
        )
    server = Server(label, f"http://{HOST}:{port}", process, log_path)
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while not answers_http(server.endpoint_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"{label}: nanio did not start; its log:\n{log_path.read_text()[-2000:]}"
                )
            time.sleep(POLL_INTERVAL_SECONDS)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_DEADLINE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- requests --------------------------------------------------------------------


def s3_client(endpoint_url: str) -> Any:
    """A path-style boto3 client that signs with SigV4 (and presigns the PUTs)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(
            region_name=REGION, signature_version="s3v4", s3={"addressing_style": "path"}
        ),
    )


def presigned_targets(client: Any, keys: Sequence[str]) -> list[str]:
    """The request targets (path and query) of presigned PUT URLs for ``keys``."""
    targets = []
    for key in keys:
        url = client.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=6 * 3600
        )
        parts = urllib.parse.urlsplit(url)
        targets.append(f"{parts.path}?{parts.query}")
    return targets


def body_of(size: int) -> bytes:
    """``size`` bytes that do not compress to nothing."""
    unit = hashlib.sha256(str(size).encode()).digest() * 32
    return (unit * (size // len(unit) + 1))[:size]


class Clients:
    """``count`` keep-alive connections to one server, each driven by its own thread."""

    def __init__(self, endpoint_url: str, count: int) -> None:
        parts = urllib.parse.urlsplit(endpoint_url)
        self._connections = [
            http.client.HTTPConnection(
                parts.hostname or HOST, parts.port, timeout=REQUEST_TIMEOUT_SECONDS
            )
            for _ in range(count)
        ]

    def close(self) -> None:
        """Close every connection."""
        for connection in self._connections:
            connection.close()

    def put_all(self, targets: Sequence[str], body: bytes) -> list[float]:
        """PUT ``body`` to every target, spread over the connections; each PUT's seconds."""
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        shares = [
            targets[index :: len(self._connections)] for index in range(len(self._connections))
        ]
        latencies: list[list[float]] = [[] for _ in self._connections]
        failures: list[str] = []

        def drive(index: int) -> None:
            connection = self._connections[index]
            for target in shares[index]:
                started = time.perf_counter()
                connection.request("PUT", target, body=body)
                response = connection.getresponse()
                answer = response.read()
                latencies[index].append(time.perf_counter() - started)
                if response.status != 200 or response.getheader("ETag") != etag:
                    failures.append(f"PUT {target[:60]}: {response.status} {answer[:200]!r}")

        threads = [
            threading.Thread(target=drive, args=(i,)) for i in range(len(shares)) if shares[i]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise SystemExit(f"{len(failures)} PUTs failed; the first: {failures[0]}")
        return [seconds for share in latencies for seconds in share]


# -- measuring ---------------------------------------------------------------------


@dataclass
class Figures:
    """What one server did for one object size."""

    label: str
    size_bytes: int
    puts: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        """PUTs per second over the timed batches."""
        return self.puts / self.seconds if self.seconds else 0.0

    def latency_ms(self, quantile: float) -> float:
        """A latency quantile in milliseconds."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


def measure(
    servers: Sequence[Server], size: int, count: int, batch: int, clients: int, tag: str
) -> list[Figures]:
    """Time ``count`` PUTs of ``size`` bytes on each server, alternating batches."""
    body = body_of(size)
    figures = [Figures(server.label, size) for server in servers]
    plans = []
    for server in servers:
        client = s3_client(server.endpoint_url)
        keys = [f"{tag}/{size}/{index:06d}" for index in range(WARMUP_PUTS + count)]
        plans.append((Clients(server.endpoint_url, clients), presigned_targets(client, keys)))
    try:
        for pool, targets in plans:
            pool.put_all(targets[:WARMUP_PUTS], body)
        for start in range(WARMUP_PUTS, WARMUP_PUTS + count, batch):
            for figure, (pool, targets) in zip(figures, plans, strict=True):
                chunk = targets[start : start + batch]
                # What --no-fsync left in the page cache is written back now,
                # not in the middle of the next server's batch.
                os.sync()
                started = time.perf_counter()
                figure.latencies += pool.put_all(chunk, body)
                figure.seconds += time.perf_counter() - started
                figure.puts += len(chunk)
    finally:
        for pool, _ in plans:
            pool.close()
    return figures


# -- the machine -------------------------------------------------------------------


def file_system_of(path: Path) -> tuple[str, str]:
    """(mount point, type) of the file system holding ``path``, from /proc/mounts."""
    best = ("/", "unknown")
    resolved = str(path.resolve())
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount_point = fields[1].replace("\\040", " ")
                inside = resolved == mount_point or resolved.startswith(
                    mount_point.rstrip("/") + "/"
                )
                if inside and len(mount_point) >= len(best[0]):
                    best = (mount_point, fields[2])
    except OSError:
        pass
    return best


def machine(work_dir: Path, nanio: Path) -> dict[str, Any]:
    """What the figures depend on: CPU, kernel, disk, Python, nanio."""
    mount_point, fs_type = file_system_of(work_dir)
    version = subprocess.run(
        [str(nanio), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu_count": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nanio": version,
        "work_dir": str(work_dir),
        "file_system": fs_type,
        "mount_point": mount_point,
        "load_average": os.getloadavg(),
    }


# -- the command -------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count-4k", type=int, default=DEFAULT_COUNTS[4 * KIB], metavar="N")
    parser.add_argument("--count-1m", type=int, default=DEFAULT_COUNTS[MIB], metavar="N")
    parser.add_argument("--clients", type=int, default=1, help="concurrent connections (1)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="PUTs per turn (30)")
    parser.add_argument("--nanio", type=Path, default=default_nanio(), help="the nanio script")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where the data dirs go (default: /var/tmp)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table (and write the JSON)."""
    arguments = parse_arguments(argv)
    counts = {4 * KIB: arguments.count_4k, MIB: arguments.count_1m}
    base = arguments.work_dir or Path("/var/tmp")
    base.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="nanio-fsync-cost-", dir=base))
    try:
        about = machine(work_dir, arguments.nanio)
        print(
            f"{about['nanio']}; data on {about['file_system']} ({about['mount_point']}); "
            f"{about['cpu_count']} CPUs; load {about['load_average'][0]:.2f}; "
            f"{arguments.clients} client connection(s)"
        )
        if about["file_system"] in MEMORY_FILE_SYSTEMS:
            print("warning: the work dir is in memory, where fsync costs nothing")
        results: list[Figures] = []
        with ExitStack() as stack:
            servers = [
                stack.enter_context(running_server(arguments.nanio, work_dir, "fsync", True)),
                stack.enter_context(running_server(arguments.nanio, work_dir, "no-fsync", False)),
            ]
            for server in servers:
                s3_client(server.endpoint_url).create_bucket(Bucket=BUCKET)
            for size in SIZES_BYTES:
                results += measure(
                    servers, size, counts[size], arguments.batch, arguments.clients, "t"
                )
        print_table(results)
        if arguments.json is not None:
            document = {
                "machine": about,
                "clients": arguments.clients,
                "results": [
                    {**asdict(figure), "per_second": figure.per_second} for figure in results
                ],
            }
            arguments.json.write_text(json.dumps(document, indent=2) + "\n")
            print(f"figures written to {arguments.json}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def size_name(size: int) -> str:
    """4 KiB, 1 MiB."""
    return f"{size // MIB} MiB" if size >= MIB else f"{size // KIB} KiB"


def print_table(results: Sequence[Figures]) -> None:
    """One row per size: both servers' PUT/s, the ratio, and latencies."""
    print()
    print(
        "PUT size | fsync PUT/s | no-fsync PUT/s | ratio (no-fsync/fsync) "
        "| fsync p50/p90 ms | no-fsync p50/p90 ms | PUTs each"
    )
    by_size: dict[int, dict[str, Figures]] = {}
    for figure in results:
        by_size.setdefault(figure.size_bytes, {})[figure.label] = figure
    for size, pair in by_size.items():
        durable, loose = pair["fsync"], pair["no-fsync"]
        ratio = loose.per_second / durable.per_second if durable.per_second else float("nan")
        print(
            f"{size_name(size):>8} | {durable.per_second:11.1f} | {loose.per_second:14.1f} "
            f"| {ratio:22.2f} "
            f"| {durable.latency_ms(0.5):7.2f} / {durable.latency_ms(0.9):6.2f} "
            f"| {loose.latency_ms(0.5):9.2f} / {loose.latency_ms(0.9):7.2f} "
            f"| {durable.puts}"
        )


if __name__ == "__main__":
    sys.exit(main())
