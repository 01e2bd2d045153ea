"""Large-object streaming benchmark: this nanio against the original nanio 0.1.7.

Run from the repository root with the project's venv::

    .venv/bin/python bench/large_objects.py [--sizes 1,4] [--keep-venv] [--repeat N]
                                            [--nanio PATH] [--work-dir DIR]

For each size (GiB) and each server (this checkout with ``--no-fsync``, the
original, this checkout with fsync on) it starts a fresh server, uploads a test
file with ``curl -T`` to a presigned SigV4 PUT URL, downloads it once with
``curl -o`` from a presigned GET URL and checks the copy, times further downloads
to ``/dev/null`` (so the client's disk is not what is timed), reads the server's peak RSS
(``VmHWM``) and its CPU time, and stops the server.  It prints tables and writes
the figures as JSON under ``bench/results/``.  It only reports: nothing here
asserts a speed.

This module owns the workload, the timing and the report; starting and stopping
servers is ``_servers.py``'s business.  It never imports nanio itself.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from _servers import (
    BENCH_ACCESS_KEY,
    BENCH_DIR,
    BENCH_SECRET_KEY,
    ORIGINAL_VENV_DIR,
    ORIGINAL_VERSION,
    CpuPlan,
    RunningServer,
    ServerError,
    ServerKind,
    default_ours_executable,
    ensure_original_venv,
    original_kind,
    original_python_version,
    ours_kind,
    plan_cpus,
    start_server,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

GIB_BYTES = 1024**3
MIB_BYTES = 1024**2
DECIMAL_MB_BYTES = 1_000_000

# The test file is one random block repeated, each copy stamped with its
# index, so a misplaced or repeated block in a copy changes a sampled range.
PATTERN_BLOCK_BYTES = 64 * MIB_BYTES
BLOCK_STAMP_BYTES = 16
SAMPLE_RANGE_BYTES = 1 * MIB_BYTES
SAMPLE_RANGE_COUNT = 8

# Source file, stored object and downloaded copy exist at once.
DISK_SIZE_FACTOR = 3
DISK_MARGIN_BYTES = 512 * MIB_BYTES

RSS_LIMIT_BYTES = 80 * MIB_BYTES
# A 1-minute load average above this many runnable processes per usable CPU
# at start means another job shares the machine.
LOAD_WARNING_PER_CPU = 0.5
# VmHWM moves by a few hundred KiB between runs for reasons unrelated to the
# body size (allocator arenas, a lazily imported module); growth within this
# tolerance is not counted as growing with the object.
RSS_GROWTH_TOLERANCE_BYTES = 4 * MIB_BYTES

BUCKET = "bench"
REGION = "us-east-1"
PRESIGN_EXPIRY_SECONDS = 6 * 3600
CURL_DEADLINE_SECONDS = 3 * 3600.0
RESULTS_DIR = BENCH_DIR / "results"
# Single loopback transfers to disk vary by up to 2x on a small VM (writeback
# of earlier steps, the host's own I/O); the median of three is steadier.
DEFAULT_REPEAT = 3

OPERATIONS = ("PUT", "GET")
OURS_NO_FSYNC = "nanio"
OURS_FSYNC = "nanio-fsync"
ORIGINAL = "original"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A test file on disk and the digests of its sampled ranges."""

    path: Path
    size_bytes: int
    samples: tuple[tuple[int, str], ...]


@dataclass(slots=True)
class ServerRun:
    """What one fresh server process did for one object size."""

    server: str
    description: str
    size_bytes: int
    put_seconds: list[float] = field(default_factory=list)
    get_seconds: list[float] = field(default_factory=list)
    put_server_cpu_seconds: list[float] = field(default_factory=list)
    get_server_cpu_seconds: list[float] = field(default_factory=list)
    idle_peak_rss_bytes: int = 0
    after_put_peak_rss_bytes: int = 0
    after_get_peak_rss_bytes: int = 0
    process_count: int = 0
    verified: bool = True
    problems: list[str] = field(default_factory=list)
    exit_status: int | None = None
    error: str | None = None

    def put_mb_per_second(self) -> float:
        """Median upload throughput in decimal MB/s."""
        return mb_per_second(self.size_bytes, self.put_seconds)

    def get_mb_per_second(self) -> float:
        """Median download throughput in decimal MB/s."""
        return mb_per_second(self.size_bytes, self.get_seconds)

    def put_cpu_seconds_per_gib(self) -> float:
        """Median server CPU seconds spent per GiB uploaded."""
        return cpu_seconds_per_gib(self.size_bytes, self.put_server_cpu_seconds)

    def get_cpu_seconds_per_gib(self) -> float:
        """Median server CPU seconds spent per GiB downloaded."""
        return cpu_seconds_per_gib(self.size_bytes, self.get_server_cpu_seconds)

    def to_json(self) -> dict[str, Any]:
        """The run as a JSON-ready dict, with the derived throughputs."""
        return {
            "server": self.server,
            "description": self.description,
            "size_bytes": self.size_bytes,
            "put_seconds": self.put_seconds,
            "get_seconds": self.get_seconds,
            "put_mb_per_second": round(self.put_mb_per_second(), 1),
            "get_mb_per_second": round(self.get_mb_per_second(), 1),
            "put_server_cpu_seconds": self.put_server_cpu_seconds,
            "get_server_cpu_seconds": self.get_server_cpu_seconds,
            "put_server_cpu_seconds_per_gib": round(self.put_cpu_seconds_per_gib(), 2),
            "get_server_cpu_seconds_per_gib": round(self.get_cpu_seconds_per_gib(), 2),
            "idle_peak_rss_bytes": self.idle_peak_rss_bytes,
            "after_put_peak_rss_bytes": self.after_put_peak_rss_bytes,
            "after_get_peak_rss_bytes": self.after_get_peak_rss_bytes,
            "process_count": self.process_count,
            "verified": self.verified,
            "problems": self.problems,
            "exit_status": self.exit_status,
            "error": self.error,
        }


def mb_per_second(size_bytes: int, seconds: Sequence[float]) -> float:
    """Decimal MB/s of the median of the timings (0.0 without any)."""
    if not seconds:
        return 0.0
    return size_bytes / statistics.median(seconds) / DECIMAL_MB_BYTES


def cpu_seconds_per_gib(size_bytes: int, seconds: Sequence[float]) -> float:
    """Median CPU seconds scaled to one GiB (0.0 without any)."""
    if not seconds:
        return 0.0
    return statistics.median(seconds) * GIB_BYTES / size_bytes


def size_label(size_gib: float) -> str:
    """ "1 GiB", "0.25 GiB": the size as given on the command line."""
    return f"{size_gib:g} GiB"


def parse_sizes(text: str) -> list[float]:
    """Parse ``--sizes 1,4`` into GiB values, refusing nonsense."""
    sizes: list[float] = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of GiB: {part!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"sizes must be positive: {part!r}")
        sizes.append(value)
    return sizes


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(
        description="Time 1 GiB and 4 GiB PUT/GET through presigned URLs with curl, against"
        f" this nanio and the original nanio {ORIGINAL_VERSION}, and report peak RSS."
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=[1.0, 4.0],
        help="comma-separated object sizes in GiB (default: 1,4)",
    )
    parser.add_argument(
        "--keep-venv",
        action="store_true",
        help=f"keep {ORIGINAL_VENV_DIR.relative_to(BENCH_DIR.parent)} when this run made it,"
        " so the next run reuses it (one that already existed is always kept)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help="timed PUTs and GETs per size and server; the median is reported"
        f" (default: {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--nanio",
        type=Path,
        default=None,
        help="the nanio console script to benchmark (default: the one next to this"
        " Python, i.e. the checkout's editable install)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where test files, data dirs and downloads go (default: the system temp dir)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the JSON results go (default: bench/results)",
    )
    return parser


def check_free_space(work_dir: Path, largest_bytes: int) -> None:
    """Refuse to start when the work dir cannot hold source, object and copy."""
    needed = DISK_SIZE_FACTOR * largest_bytes + DISK_MARGIN_BYTES
    free = shutil.disk_usage(work_dir).free
    if free < needed:
        raise SystemExit(
            f"not enough free space in {work_dir}: {free / GIB_BYTES:.1f} GiB free,"
            f" {needed / GIB_BYTES:.1f} GiB needed ({DISK_SIZE_FACTOR}x the largest size"
            " plus a margin); pass --work-dir or smaller --sizes"
        )


def write_source_file(path: Path, size_bytes: int) -> None:
    """Write the test file: a random block repeated, each copy stamped with its index."""
    block = bytearray(os.urandom(PATTERN_BLOCK_BYTES))
    view = memoryview(block)
    written = 0
    index = 0
    with path.open("wb") as out:
        while written < size_bytes:
            block[:BLOCK_STAMP_BYTES] = index.to_bytes(BLOCK_STAMP_BYTES, "big")
            length = min(PATTERN_BLOCK_BYTES, size_bytes - written)
            out.write(view[:length])
            written += length
            index += 1


def sample_offsets(size_bytes: int) -> list[int]:
    """Evenly spread range starts, first and last included, not block-aligned."""
    last = max(size_bytes - SAMPLE_RANGE_BYTES, 0)
    return sorted({last * k // (SAMPLE_RANGE_COUNT - 1) for k in range(SAMPLE_RANGE_COUNT)})


def range_digest(path: Path, offset: int) -> str:
    """SHA-256 of ``SAMPLE_RANGE_BYTES`` of a file from an offset."""
    with path.open("rb") as source:
        source.seek(offset)
        return hashlib.sha256(source.read(SAMPLE_RANGE_BYTES)).hexdigest()


def make_source(work_dir: Path, size_gib: float) -> SourceFile:
    """Create the test file for one size and digest its sampled ranges."""
    size_bytes = int(size_gib * GIB_BYTES)
    path = work_dir / f"source-{size_gib:g}GiB.bin"
    print(f"writing {size_label(size_gib)} test file {path} ...", flush=True)
    write_source_file(path, size_bytes)
    samples = tuple((offset, range_digest(path, offset)) for offset in sample_offsets(size_bytes))
    return SourceFile(path=path, size_bytes=size_bytes, samples=samples)


def compare_copy(source: SourceFile, copy: Path) -> list[str]:
    """What differs between the source and a downloaded copy (nothing: an empty list)."""
    problems: list[str] = []
    copy_size = copy.stat().st_size if copy.exists() else -1
    if copy_size != source.size_bytes:
        problems.append(f"downloaded {copy_size} bytes, expected {source.size_bytes}")
        return problems
    for offset, digest in source.samples:
        if range_digest(copy, offset) != digest:
            problems.append(f"bytes {offset}..{offset + SAMPLE_RANGE_BYTES} differ")
    return problems


def s3_client(endpoint_url: str) -> Any:
    """A boto3 S3 client for one server: path-style, SigV4."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=BENCH_ACCESS_KEY,
        aws_secret_access_key=BENCH_SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def presigned_url(client: Any, method: str, key: str) -> str:
    """A presigned SigV4 URL for put_object or get_object."""
    url: str = client.generate_presigned_url(
        method, Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=PRESIGN_EXPIRY_SECONDS
    )
    return url


def timed_curl(arguments: list[str], cpus: CpuPlan) -> float:
    """Run curl and return its wall time in seconds; fail loudly on an error."""
    command = [*cpus.client_prefix(), "curl", "-sS", "-f", *arguments]
    # Dirty pages from the previous step are written back now, not during
    # the timed transfer (where they would slow whichever server came next).
    os.sync()
    started = time.perf_counter()
    completed = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=CURL_DEADLINE_SECONDS,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise ServerError(
            f"curl exited with {completed.returncode}: "
            f"{completed.stderr.decode('utf-8', 'replace').strip()}"
        )
    return elapsed


def run_one_server(
    kind: ServerKind,
    source: SourceFile,
    work_dir: Path,
    cpus: CpuPlan,
    repeat: int,
) -> ServerRun:
    """Start a fresh server, PUT and GET the source through it, read its peak RSS, stop it."""
    run = ServerRun(server=kind.key, description=kind.description, size_bytes=source.size_bytes)
    data_dir = work_dir / f"data-{kind.key}"
    download = work_dir / f"download-{kind.key}.bin"
    key = f"large/{source.path.name}"
    server: RunningServer | None = None
    try:
        server = start_server(kind, data_dir, work_dir / f"{kind.key}.log")
        client = s3_client(server.endpoint_url)
        client.create_bucket(Bucket=BUCKET)
        run.idle_peak_rss_bytes = server.peak_rss().bytes_total
        for attempt in range(repeat):
            if attempt:
                # Each timed PUT stores a new object, as put_ceiling.py's receiver
                # does, rather than replacing the last one: a replaced copy's page
                # cache stays until the new one commits, so every other PUT filled
                # memory this VM had to supply afresh (server system time 0.7 s per
                # GiB into reused pages, 1.8-2.6 s into fresh ones, for both
                # servers alike). Untimed, and freed before the sync.
                client.delete_object(Bucket=BUCKET, Key=key)
            url = presigned_url(client, "put_object", key)
            cpu_before = server.cpu_seconds()
            run.put_seconds.append(timed_curl(["-T", str(source.path), url], cpus))
            run.put_server_cpu_seconds.append(server.cpu_seconds() - cpu_before)
        run.after_put_peak_rss_bytes = server.peak_rss().bytes_total
        # One copy to check, untimed; the timed GETs then go to /dev/null, so
        # that curl writing 1 GiB to this machine's disk is not what is timed.
        timed_curl(["-o", str(download), presigned_url(client, "get_object", key)], cpus)
        problems = compare_copy(source, download)
        if problems:
            run.verified = False
            run.problems.extend(problems)
        download.unlink(missing_ok=True)
        for _ in range(repeat):
            url = presigned_url(client, "get_object", key)
            cpu_before = server.cpu_seconds()
            run.get_seconds.append(timed_curl(["-o", os.devnull, url], cpus))
            run.get_server_cpu_seconds.append(server.cpu_seconds() - cpu_before)
        peak = server.peak_rss()
        run.after_get_peak_rss_bytes = peak.bytes_total
        run.process_count = peak.process_count
    except (ServerError, subprocess.TimeoutExpired, BotoCoreError, ClientError) as e:
        # One server failing (a broken checkout, a refused request) should not
        # throw away the other servers' figures: record it and go on.
        run.error = f"{type(e).__name__}: {e}"
    finally:
        if server is not None:
            run.exit_status = server.stop()
        download.unlink(missing_ok=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return run


def first_line(command: list[str]) -> str:
    """The first line a command prints, or "" when it cannot run."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    lines = (completed.stdout or completed.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _source_differs(repo: Path) -> bool | None:
    """Whether nanio's source differs from the commit (changed or new files), if git can tell."""
    # Read-only queries: --no-optional-locks keeps git from refreshing the index.
    git = ["git", "--no-optional-locks", "-C", str(repo)]
    try:
        changed = subprocess.run(
            [*git, "diff", "--quiet", "HEAD", "--", "nanio", "twisted"], check=False
        )
        untracked = subprocess.run(
            [*git, "ls-files", "--others", "--exclude-standard", "--", "nanio", "twisted"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if changed.returncode not in (0, 1) or untracked.returncode != 0:
        return None
    return changed.returncode == 1 or bool(untracked.stdout.strip())


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total_bytes() -> int | None:
    """MemTotal from /proc/meminfo, in bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: Where the kernel lists mounted file systems, and ext4's per-device facts.
PROC_MOUNTS = Path("/proc/self/mounts")
SYS_EXT4 = Path("/sys/fs/ext4")


def _unescape_mount_field(field: str) -> str:
    """A /proc/mounts field with its octal escapes (``\\040`` for a space...) undone."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def data_filesystem(
    path: Path, mounts: Path = PROC_MOUNTS, sys_ext4: Path = SYS_EXT4
) -> dict[str, Any] | None:
    """The file system that holds ``path``: mount point, device, type, options, journal.

    Small PUTs spend most of their time in the file system, and what a
    create, a rename or a freed block costs depends on it: an ext4 without a
    journal looks for recently deleted inodes on every create, and one
    mounted with ``discard`` waits for the device on every freed block.
    ``journal`` is known for ext4 only (None elsewhere).
    """
    target = os.path.realpath(path)
    best: dict[str, Any] | None = None
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        device, mount_point, fs_type, options = (_unescape_mount_field(f) for f in fields[:4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        # The longest mount point wins; of equal ones the last mounted (on top).
        if inside and (best is None or len(mount_point) >= len(best["mount_point"])):
            best = {
                "mount_point": mount_point,
                "device": device,
                "type": fs_type,
                "options": options,
            }
    if best is not None:
        best["journal"] = _ext4_journal(best, sys_ext4)
    return best


def _ext4_journal(filesystem: dict[str, Any], sys_ext4: Path) -> bool | None:
    """Whether an ext4 file system has a journal; None when not ext4 or not known."""
    if filesystem["type"] != "ext4":
        return None
    device_name = os.path.basename(os.path.realpath(filesystem["device"]))
    try:
        task = (sys_ext4 / device_name / "journal_task").read_text(encoding="ascii").strip()
    except OSError:
        return None
    return task != "<none>"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, if /proc has them."""
    try:
        with open("/proc/loadavg", encoding="ascii") as loadavg:
            return [float(part) for part in loadavg.read().split()[:3]]
    except (OSError, ValueError):
        return None


def machine_info(
    cpus: CpuPlan, ours: Path, original_executable: Path, work_dir: Path
) -> dict[str, Any]:
    """What the figures were measured on."""
    repo = BENCH_DIR.parent
    # Whether the checkout differs from its commit only matters when the
    # benchmarked nanio is the checkout's own editable install.
    from_checkout = ours == default_ours_executable()
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "cpus_available": sorted(os.sched_getaffinity(0)),
        "memory_total_bytes": _memory_total_bytes(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python_nanio": platform.python_version(),
        "python_original": original_python_version(original_executable),
        "nanio_executable": str(ours),
        "nanio_version": first_line([str(ours), "--version"]),
        "original_version": first_line([str(original_executable), "--version"]),
        "nanio_is_checkout": from_checkout,
        "checkout_git_commit": first_line(["git", "-C", str(repo), "rev-parse", "HEAD"]),
        "checkout_differs_from_commit": _source_differs(repo) if from_checkout else None,
        "curl": first_line(["curl", "--version"]),
        "server_cpu": cpus.server_cpu,
        "client_cpu": cpus.client_cpu,
        "work_dir": str(work_dir),
        "work_dir_filesystem": data_filesystem(work_dir),
        "load_average_at_start": load_average(),
    }


def _find(runs: Sequence[ServerRun], server: str, size_bytes: int) -> ServerRun | None:
    """The completed run of one server at one size, if there is one."""
    for run in runs:
        if run.server == server and run.size_bytes == size_bytes and run.error is None:
            return run
    return None


def _rate(run: ServerRun | None, operation: str) -> float | None:
    """A run's median MB/s for PUT or GET."""
    if run is None:
        return None
    return run.put_mb_per_second() if operation == "PUT" else run.get_mb_per_second()


def _peak(run: ServerRun | None, operation: str) -> int | None:
    """A run's peak RSS in bytes, read after its PUTs or after its GETs."""
    if run is None:
        return None
    return run.after_put_peak_rss_bytes if operation == "PUT" else run.after_get_peak_rss_bytes


def _cpu_per_gib(run: ServerRun | None, operation: str) -> float | None:
    """A run's median server CPU seconds per GiB for PUT or GET."""
    if run is None:
        return None
    return run.put_cpu_seconds_per_gib() if operation == "PUT" else run.get_cpu_seconds_per_gib()


def _number(value: float | None, digits: int = 1) -> str:
    """A figure with fixed decimals, or "-" when the run failed or did not happen."""
    return "-" if value is None else f"{value:.{digits}f}"


def _mib(size_bytes: int | None) -> str:
    """Bytes as MiB with one decimal, or "-"."""
    return "-" if size_bytes is None else f"{size_bytes / MIB_BYTES:.1f}"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    """numerator/denominator to two decimals, or "-"."""
    if numerator is None or denominator is None or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with left-aligned first column and right-aligned numbers."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    separator = "-+-".join("-" * width for width in widths)
    return "\n".join([line(header), separator, *(line(row) for row in rows)])


def _workloads(sizes: Sequence[float]) -> Iterator[tuple[str, int, str]]:
    """(row label, size in bytes, operation) for every size and both operations."""
    for size_gib in sizes:
        for operation in OPERATIONS:
            yield f"{operation} {size_label(size_gib)}", int(size_gib * GIB_BYTES), operation


def comparison_table(runs: Sequence[ServerRun], sizes: Sequence[float]) -> str:
    """nanio (--no-fsync) against the original, per workload."""
    rows: list[list[str]] = []
    for label, size_bytes, operation in _workloads(sizes):
        ours = _find(runs, OURS_NO_FSYNC, size_bytes)
        original = _find(runs, ORIGINAL, size_bytes)
        rows.append(
            [
                label,
                _number(_rate(ours, operation)),
                _number(_rate(original, operation)),
                _ratio(_rate(ours, operation), _rate(original, operation)),
                _mib(_peak(ours, operation)),
                _mib(_peak(original, operation)),
            ]
        )
    header = [
        "workload",
        "nanio MB/s",
        "original MB/s",
        "ratio (nanio/original)",
        "nanio peak RSS MiB",
        "original peak RSS MiB",
    ]
    return _table(header, rows)


def fsync_table(runs: Sequence[ServerRun], sizes: Sequence[float]) -> str:
    """nanio with fsync on against nanio --no-fsync and against the original, per workload."""
    rows: list[list[str]] = []
    for label, size_bytes, operation in _workloads(sizes):
        synced = _rate(_find(runs, OURS_FSYNC, size_bytes), operation)
        unsynced = _rate(_find(runs, OURS_NO_FSYNC, size_bytes), operation)
        original = _rate(_find(runs, ORIGINAL, size_bytes), operation)
        rows.append(
            [
                label,
                _number(synced),
                _number(unsynced),
                _ratio(synced, unsynced),
                _ratio(synced, original),
                _mib(_peak(_find(runs, OURS_FSYNC, size_bytes), operation)),
            ]
        )
    header = [
        "workload",
        "nanio fsync on MB/s",
        "nanio --no-fsync MB/s",
        "ratio (fsync/no-fsync)",
        "ratio (fsync/original)",
        "fsync-on peak RSS MiB",
    ]
    return _table(header, rows)


def cpu_table(runs: Sequence[ServerRun], sizes: Sequence[float]) -> str:
    """Server CPU seconds per GiB for each server kind, per workload."""
    rows: list[list[str]] = []
    for label, size_bytes, operation in _workloads(sizes):
        rows.append(
            [label]
            + [
                _number(_cpu_per_gib(_find(runs, server, size_bytes), operation), 2)
                for server in (OURS_NO_FSYNC, ORIGINAL, OURS_FSYNC)
            ]
        )
    return _table(["workload", "nanio", "original", "nanio fsync on"], rows)


def rss_verdict(runs: Sequence[ServerRun], server: str, sizes: Sequence[float]) -> str:
    """Whether one nanio configuration stayed under the RSS limit and did not grow."""
    own = [run for run in runs if run.server == server and run.error is None]
    if not own:
        return f"{server}: no completed runs"
    peaks = {run.size_bytes: run.after_get_peak_rss_bytes for run in own}
    highest = max(peaks.values())
    under = highest < RSS_LIMIT_BYTES
    text = (
        f"{own[0].description}: highest peak RSS {_mib(highest)} MiB,"
        f" under {RSS_LIMIT_BYTES // MIB_BYTES} MiB: {'yes' if under else 'NO'}"
    )
    smallest_bytes = int(min(sizes) * GIB_BYTES)
    largest_bytes = int(max(sizes) * GIB_BYTES)
    if smallest_bytes == largest_bytes or smallest_bytes not in peaks or largest_bytes not in peaks:
        return text + "; growth with size not checked (needs completed runs at two sizes)"
    small, large = peaks[smallest_bytes], peaks[largest_bytes]
    grew = large > small + RSS_GROWTH_TOLERANCE_BYTES
    return text + (
        f"; {size_label(min(sizes))} -> {size_label(max(sizes))}:"
        f" {_mib(small)} -> {_mib(large)} MiB, did not grow"
        f" (tolerance {RSS_GROWTH_TOLERANCE_BYTES // MIB_BYTES} MiB): {'NO' if grew else 'yes'}"
    )


def results_path(results_dir: Path, now: datetime.datetime) -> Path:
    """bench/results/large_objects-<date>.json, never overwriting an earlier run."""
    return results_dir / f"large_objects-{now.strftime('%Y-%m-%dT%H%M%SZ')}.json"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole benchmark once; exit 1 if a server failed or a download differed."""
    arguments = build_parser().parse_args(argv)
    if arguments.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    sizes: list[float] = arguments.sizes
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed on PATH")
    arguments.work_dir.mkdir(parents=True, exist_ok=True)
    check_free_space(arguments.work_dir, int(max(sizes) * GIB_BYTES))

    started = datetime.datetime.now(datetime.UTC)
    ours = arguments.nanio if arguments.nanio is not None else default_ours_executable()
    if not (ours.is_file() and os.access(ours, os.X_OK)):
        raise SystemExit(f"{ours} is not an executable nanio console script")
    original_executable, venv_is_new = ensure_original_venv()
    cpus = plan_cpus()
    kinds = [
        ours_kind(ours, fsync=False, cpus=cpus),
        original_kind(original_executable, cpus=cpus),
        ours_kind(ours, fsync=True, cpus=cpus),
    ]
    pinning = (
        f"server on CPU {cpus.server_cpu}, curl on CPU {cpus.client_cpu}"
        if cpus.server_cpu is not None
        else "not pinned (no taskset or one CPU)"
    )
    print(f"pinning: {pinning}", flush=True)
    load = load_average()
    if load is not None and load[0] > LOAD_WARNING_PER_CPU * len(os.sched_getaffinity(0)):
        print(
            f"warning: load average {load[0]:.2f} at start: other processes are busy and"
            " will skew the wall-clock figures (the CPU-per-GiB table less so)",
            flush=True,
        )

    runs: list[ServerRun] = []
    work_dir = Path(tempfile.mkdtemp(prefix="nanio-bench-", dir=arguments.work_dir))
    try:
        info = machine_info(cpus, ours, original_executable, work_dir)
        for size_gib in sizes:
            source = make_source(work_dir, size_gib)
            try:
                for kind in kinds:
                    print(f"{size_label(size_gib)}: {kind.description} ...", flush=True)
                    run = run_one_server(kind, source, work_dir, cpus, arguments.repeat)
                    runs.append(run)
                    if run.error is not None:
                        # The whole error, with the server's log, comes at the end.
                        print(f"  FAILED: {run.error.splitlines()[0]}", flush=True)
                        continue
                    print(
                        f"  PUT {run.put_mb_per_second():.1f} MB/s,"
                        f" GET {run.get_mb_per_second():.1f} MB/s,"
                        f" peak RSS {_mib(run.after_get_peak_rss_bytes)} MiB,"
                        f" server CPU s/GiB PUT {run.put_cpu_seconds_per_gib():.2f}"
                        f" GET {run.get_cpu_seconds_per_gib():.2f}"
                        f"{'' if run.verified else ' -- COPY DIFFERS: ' + '; '.join(run.problems)}",
                        flush=True,
                    )
            finally:
                source.path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        if venv_is_new and not arguments.keep_venv:
            shutil.rmtree(ORIGINAL_VENV_DIR, ignore_errors=True)

    print()
    print(
        "nanio --no-fsync against the original (which does fsync each object's file,"
        " so PUT rows favour nanio; see the fsync-on table for like against like);"
        " MB/s = bytes / seconds / 1e6; peak RSS = VmHWM of a fresh server per size,"
        " read after that operation (the GET row covers PUT and GET)"
    )
    print(comparison_table(runs, sizes))
    print()
    print("nanio with fsync on (durable PUTs) against --no-fsync and against the original")
    print(fsync_table(runs, sizes))
    print()
    print("server CPU seconds (user+sys) per GiB moved: what each byte costs the server")
    print(cpu_table(runs, sizes))
    print()
    for server in (OURS_NO_FSYNC, OURS_FSYNC):
        print(rss_verdict(runs, server, sizes))
    idle = {run.server: run.idle_peak_rss_bytes for run in runs if run.error is None}
    print(
        "idle peak RSS after start and CreateBucket: "
        + ", ".join(f"{server} {_mib(peak)} MiB" for server, peak in idle.items())
    )

    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    output = results_path(arguments.results_dir, started)
    document = {
        "benchmark": "large_objects",
        "started_utc": started.isoformat(timespec="seconds"),
        "sizes_gib": sizes,
        "repeat": arguments.repeat,
        "machine": info,
        "method": {
            "upload": "curl -sS -f -T FILE PRESIGNED_PUT_URL (Expect: 100-continue kept)",
            "download": "curl -sS -f -o /dev/null PRESIGNED_GET_URL (timed), after one untimed "
            "curl -sS -f -o OUT PRESIGNED_GET_URL whose copy is checked",
            "mb_per_second": "bytes / median seconds / 1e6",
            "peak_rss": "sum of VmHWM over the server's process tree, fresh server per size",
            "server_cpu": "utime+stime of the server's process tree around each transfer",
            "verification": f"size and SHA-256 of {SAMPLE_RANGE_COUNT} ranges of"
            f" {SAMPLE_RANGE_BYTES} bytes",
        },
        "load_average_at_end": load_average(),
        "runs": [run.to_json() for run in runs],
    }
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {output}")
    failed = [run for run in runs if run.error is not None or not run.verified]
    for run in failed:
        print(
            f"{run.description} at {run.size_bytes / GIB_BYTES:g} GiB:"
            f" {run.error or '; '.join(run.problems)}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
