"""The side-by-side benchmark: this nanio against the original nanio 0.1.7, in one command.

Run from the repository root with the project's venv::

    .venv/bin/python bench/run.py [--quick] [--only get,head,put,list,boto3,tree,large]
                                  [--duration S] [--workers 1,2] [--write-docs]

For each worker count it starts this checkout's ``nanio serve --no-fsync``,
the original and (for the writes) ``nanio serve`` with fsync on, each on a
fresh data dir filled with the same objects, and measures 4 KiB GET, HEAD and
PUT and a 1,000-key ListObjectsV2 page (wrk or headload, presigned URLs) in
rounds, the servers taking turns, then a boto3 thread pool; with one worker,
also the GET and HEAD of ``twisted_floor.py``, a Twisted Site that does no S3
work (the floor under any Twisted server here).  Then, with the first
worker count, the time to first byte of a prefix listing in a bucket of a
million hand-dropped files and the 1 GiB PUT and GET of ``large_objects.py``.
It prints tables (nanio, original, ratio), writes the figures as JSON and a
PNG plot under ``bench/results/``, and with ``--write-docs`` fills
``docs/performance.md``.  It only reports: nothing here asserts a speed.

This module owns the order of things and the records; the workloads are
``small_objects.py``'s and ``large_objects.py``'s, the servers
``_servers.py``'s, the tables, plot and docs ``report.py``'s.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import large_objects
import put_ceiling
import report
import small_objects
from _servers import (
    BENCH_DIR,
    CpuPlan,
    RunningServer,
    ServerError,
    ServerKind,
    default_ours_executable,
    ensure_original_venv,
    floor_kind,
    original_kind,
    ours_kind,
    ours_supports_workers,
    plan_cpus,
    process_tree,
    start_server,
)
from _servers import cpu_seconds as process_cpu_seconds
from botocore.exceptions import BotoCoreError, ClientError

RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_WORK_DIR = Path(tempfile.gettempdir()) / "nanio-bench"
LOAD_WARNING_PER_CPU = 0.5
GIB_BYTES = 1024**3
#: The loads ``twisted_floor.py`` also runs (one process): the reads, which
#: cost the servers CPU and no disk.
FLOOR_WORKLOADS = ("get", "head")

#: Errors that mean "this measurement broke", recorded as failed.
MEASUREMENT_ERRORS = (
    ServerError,
    subprocess.TimeoutExpired,
    BotoCoreError,
    ClientError,
    OSError,
    ValueError,
)


@dataclass(frozen=True, slots=True)
class Defaults:
    """The values of the options that ``--quick`` changes."""

    duration: int
    rounds: int
    warmup: int
    keys: int
    ttfb_samples: int
    large_gib: float
    repeat: int
    boto3_ops: int


FULL = Defaults(
    duration=5,
    rounds=3,
    warmup=1,
    keys=1_000_000,
    ttfb_samples=9,
    large_gib=1.0,
    repeat=3,
    boto3_ops=2000,
)
QUICK = Defaults(
    duration=3,
    rounds=1,
    warmup=1,
    keys=20_000,
    ttfb_samples=3,
    large_gib=0.25,
    repeat=1,
    boto3_ops=400,
)


def parse_groups(text: str) -> list[str]:
    """``--only get,put,large`` as workload keys, in the report's order."""
    wanted: set[str] = set()
    for name in text.split(","):
        name = name.strip()
        if name not in report.GROUPS:
            raise argparse.ArgumentTypeError(
                f"unknown workload {name!r}; choose from {', '.join(report.GROUPS)}"
            )
        wanted.update(report.GROUPS[name])
    return [workload.key for workload in report.WORKLOADS if workload.key in wanted]


def parse_workers(text: str) -> list[int]:
    """``--workers 1,2`` as a list of positive worker counts."""
    counts: list[int] = []
    for part in text.split(","):
        try:
            count = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a worker count: {part!r}") from None
        if count < 1:
            raise argparse.ArgumentTypeError(f"worker counts must be at least 1: {part!r}")
        if count not in counts:
            counts.append(count)
    return counts


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark this nanio against the original nanio 0.1.7 side by side"
        " and print nanio, original and the ratio for every workload."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short check of the harness: {QUICK.duration} s runs,"
        f" {QUICK.keys:,}-key tree, {QUICK.large_gib:g} GiB object, {QUICK.boto3_ops} boto3"
        " operations, one repeat (options given explicitly still win)",
    )
    parser.add_argument(
        "--only",
        type=parse_groups,
        default=[workload.key for workload in report.WORKLOADS],
        help=f"comma-separated workloads to run: {','.join(report.GROUPS)} (default: all)",
    )
    parser.add_argument(
        "--duration", type=int, help=f"seconds per load run (default {FULL.duration})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="timed load runs per server and workload, the servers taking turns; the median"
        f" is reported (default {FULL.rounds})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help=f"seconds of discarded load before each run (default {FULL.warmup})",
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="concurrent connections (default 16)"
    )
    parser.add_argument(
        "--workers",
        type=parse_workers,
        default=[1, 2],
        help="comma-separated worker counts per server (default: 1,2)",
    )
    parser.add_argument(
        "--keys",
        type=int,
        help=f"files in the listing bucket, a multiple of 1,000 (default {FULL.keys:,})",
    )
    parser.add_argument(
        "--ttfb-samples",
        type=int,
        help=f"timed listings per server after the first (default {FULL.ttfb_samples})",
    )
    parser.add_argument(
        "--large-gib",
        type=float,
        help=f"size of the large object in GiB (default {FULL.large_gib:g})",
    )
    parser.add_argument(
        "--repeat", type=int, help=f"large-object PUTs and GETs per server (default {FULL.repeat})"
    )
    parser.add_argument(
        "--boto3-ops",
        type=int,
        help=f"PUTs, then GETs, of the boto3 run (default {FULL.boto3_ops})",
    )
    parser.add_argument(
        "--boto3-threads", type=int, default=16, help="threads of the boto3 run (default 16)"
    )
    parser.add_argument(
        "--nanio",
        type=Path,
        default=None,
        help="the nanio console script to benchmark (default: the one next to this Python)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="where data dirs, the kept key tree and the built headload go"
        f" (default {DEFAULT_WORK_DIR})",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the JSON and the PNG go (default bench/results)",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="also write docs/performance.md and docs/performance.png from this run",
    )
    parser.add_argument(
        "--docs-from",
        type=Path,
        default=None,
        metavar="JSON",
        help="run nothing: plot an earlier result and write docs/performance.md from it",
    )
    return parser


def resolve_settings(arguments: argparse.Namespace) -> dict[str, Any]:
    """The run's settings: explicit options, else the quick or full defaults."""
    defaults = QUICK if arguments.quick else FULL

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    settings: dict[str, Any] = {
        "quick": arguments.quick,
        "workloads": arguments.only,
        "workers": arguments.workers,
        "connections": arguments.connections,
        "duration": pick(arguments.duration, defaults.duration),
        "rounds": pick(arguments.rounds, defaults.rounds),
        "warmup": pick(arguments.warmup, defaults.warmup),
        "tree_keys": pick(arguments.keys, defaults.keys),
        "ttfb_samples": pick(arguments.ttfb_samples, defaults.ttfb_samples),
        "large_gib": pick(arguments.large_gib, defaults.large_gib),
        "large_repeat": pick(arguments.repeat, defaults.repeat),
        "boto3_operations": pick(arguments.boto3_ops, defaults.boto3_ops),
        "boto3_threads": arguments.boto3_threads,
    }
    problems = [
        f"--{name} must be at least {least}"
        for name, key, least in (
            ("duration", "duration", 1),
            ("rounds", "rounds", 1),
            ("warmup", "warmup", 0),
            ("connections", "connections", 1),
            ("ttfb-samples", "ttfb_samples", 1),
            ("repeat", "large_repeat", 1),
            ("boto3-ops", "boto3_operations", 1),
            ("boto3-threads", "boto3_threads", 1),
        )
        if settings[key] < least
    ]
    if settings["large_gib"] <= 0:
        problems.append("--large-gib must be positive")
    try:
        small_objects.tree_top_count(settings["tree_keys"])
    except ValueError as e:
        problems.append(f"--keys: {e}")
    if problems:
        raise SystemExit("; ".join(problems))
    return settings


def record(
    workload: str,
    server: str,
    workers: int,
    status: str,
    *,
    value: float | None = None,
    p99_ms: float | None = None,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One measurement as the result document holds it."""
    return {
        "workload": workload,
        "server": server,
        "workers": workers,
        "status": status,
        "value": value,
        "p99_ms": p99_ms,
        "reason": reason,
        "extra": extra or {},
    }


def _error_text(error: BaseException) -> str:
    """An exception as one line for a record (the first line of a long message)."""
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]}"


def _say(item: dict[str, Any], unit: str) -> None:
    """Print one record as it is made."""
    if item["status"] == "ok":
        p99 = f", p99 {item['p99_ms']:.2f} ms" if item["p99_ms"] is not None else ""
        share = item["extra"].get("busiest_process_cpu_share")
        spread = (
            f" (busiest server process: {share:.0%} of the server's CPU)"
            if share is not None and item["workers"] > 1
            else ""
        )
        rounds = item["extra"].get("rounds") or []
        each = (
            " (rounds: " + ", ".join(f"{r['requests_per_second']:,.0f}" for r in rounds) + ")"
            if len(rounds) > 1
            else ""
        )
        client = item["extra"].get("client_cpu_share")
        busy = f" (client's core busy {client:.0%})" if client is not None else ""
        figure = f"{item['value']:,.1f} {unit}{p99}{each}{spread}{busy}"
        print(f"    {item['workload']} on {item['server']}: {figure}", flush=True)
    else:
        status = f"{item['status'].upper()}: {item['reason']}"
        print(f"    {item['workload']} on {item['server']}: {status}", flush=True)


#: The load workloads, in the order they run.
LOAD_WORKLOADS = ("get", "head", "list", "put")
#: The boto3 pool's rounds: each PUTs keys of its own (boto3_put), then GETs them (boto3_get).
BOTO3_ROUNDS = "boto3"
#: What is measured in rounds, the servers taking turns, in this order.
ROUND_WORKLOADS = (*LOAD_WORKLOADS, BOTO3_ROUNDS)


@dataclass(frozen=True, slots=True)
class Round:
    """One timed load run of one server: the generator's figures and the server's CPU."""

    result: small_objects.LoadResult
    cpu_by_process: dict[int, float]

    def to_json(self) -> dict[str, Any]:
        """The round as the record's ``extra["rounds"]`` holds it."""
        cpu = sum(self.cpu_by_process.values())
        return {
            **self.result.to_json(),
            "requests_per_second": self.result.requests_per_second,
            "server_cpu_seconds": cpu,
        }


class SmallRun:
    """One server process at one worker count: started and filled, then measured in rounds.

    ``run_small`` starts every server of a worker count first, then takes
    each load workload round by round, the servers' turns alternating, so a
    machine whose speed drifts over minutes (a VM) shifts every server's
    figures alike instead of whichever server ran last.
    """

    def __init__(
        self,
        kind: ServerKind,
        workers: int,
        workloads: Sequence[str],
        settings: dict[str, Any],
        tools: small_objects.LoadTools | None,
        cpus: CpuPlan,
        work_dir: Path,
    ) -> None:
        self.kind = kind
        self.workers = workers
        self.workloads = list(workloads)
        self.settings = settings
        self.tools = tools
        self.cpus = cpus
        self.work_dir = work_dir
        self.records: list[dict[str, Any]] = []
        self.server: RunningServer | None = None
        self._client: Any = None
        self._data_dir = work_dir / f"data-{kind.key}-{workers}w"
        #: The presigned loads, by workload.
        self._specs: dict[str, small_objects.LoadSpec] = {}
        #: The load workloads with rounds still to run.
        self._open: set[str] = set()
        self._rounds: dict[str, list[Round]] = {}
        #: The boto3 rounds: (figures, server CPU seconds) by workload.
        self._pool_rounds: dict[str, list[tuple[small_objects.PoolRound, float]]] = {}
        self._boto3_rounds_done = 0

    def _add(self, item: dict[str, Any]) -> None:
        """Keep and print a record."""
        self.records.append(item)
        _say(item, report.WORKLOADS_BY_KEY[item["workload"]].unit)

    def _fail_the_rest(self, error: BaseException) -> None:
        """A failed record for every wanted workload that has none yet."""
        reason = _error_text(error)
        done = {item["workload"] for item in self.records}
        for workload in self.workloads:
            if workload not in done:
                self._add(record(workload, self.kind.key, self.workers, "failed", reason=reason))
        self._open.clear()

    def start(self) -> None:
        """Start the server on a fresh data dir, fill it and presign the loads."""
        shutil.rmtree(self._data_dir, ignore_errors=True)
        try:
            self.server = start_server(
                self.kind, self._data_dir, self.work_dir / f"{self.kind.key}-{self.workers}w.log"
            )
            self._client = small_objects.s3_client(self.server.endpoint_url)
            self._client.create_bucket(Bucket=small_objects.BUCKET)
            loads = [key for key in LOAD_WORKLOADS if key in self.workloads]
            if any(key in self.workloads for key in ("get", "head", "list")):
                small_objects.fill_read_data(self._client)
            paths_dir = self.work_dir / f"paths-{self.kind.key}-{self.workers}w"
            paths_dir.mkdir(parents=True, exist_ok=True)
            for spec in small_objects.load_specs(self._client, paths_dir, loads):
                self._specs[spec.workload] = spec
            self._open.update(self._specs)
            if "boto3_put" in self.workloads or "boto3_get" in self.workloads:
                self._open.add(BOTO3_ROUNDS)
        except MEASUREMENT_ERRORS as e:
            self._fail_the_rest(e)

    def measures(self, workload: str) -> bool:
        """Whether this server still has ``workload`` to measure."""
        return workload in self._open

    def measure_round(self, workload: str) -> None:
        """Warm up and time one round of ``workload`` (probing it first, in the first round)."""
        if workload == BOTO3_ROUNDS:
            self._measure_boto3_round()
            return
        assert self.tools is not None and self.server is not None
        spec = self._specs[workload]
        rounds = self._rounds.setdefault(workload, [])
        server = self.server
        try:
            if not rounds:
                try:
                    small_objects.probe(server.port, spec)
                except small_objects.WorkloadUnavailable as e:
                    self._open.discard(workload)
                    self._add(record(workload, self.kind.key, self.workers, "n/a", reason=str(e)))
                    return
            connections = self.settings["connections"]
            # Writeback of the fill (or the previous run) lands now, not in the run.
            os.sync()
            if self.settings["warmup"] > 0:
                small_objects.run_load(
                    self.tools, spec, server.port, connections, self.settings["warmup"], self.cpus
                )
            server.wait_until_idle()
            pids = process_tree(server.process.pid)
            cpu_before = {pid: process_cpu_seconds(pid) for pid in pids}
            result = small_objects.run_load(
                self.tools, spec, server.port, connections, self.settings["duration"], self.cpus
            )
            by_process = {
                pid: process_cpu_seconds(pid) - before for pid, before in cpu_before.items()
            }
        except MEASUREMENT_ERRORS as e:
            self._open.discard(workload)
            self._add(
                record(workload, self.kind.key, self.workers, "failed", reason=_error_text(e))
            )
            return
        rounds.append(Round(result, by_process))
        verdict = small_objects.load_verdict(result)
        if verdict is not None:
            self._open.discard(workload)
            self._add(self._load_record(workload, rounds, "failed", reason=verdict))
        elif len(rounds) == self.settings["rounds"]:
            self._open.discard(workload)
            self._add(self._load_record(workload, rounds, "ok"))

    def _load_record(
        self, workload: str, rounds: Sequence[Round], status: str, reason: str | None = None
    ) -> dict[str, Any]:
        """The record of a load workload: the median round, CPU over all rounds."""
        requests = sum(item.result.requests for item in rounds)
        by_process: dict[int, float] = {}
        for item in rounds:
            for pid, cpu in item.cpu_by_process.items():
                by_process[pid] = by_process.get(pid, 0.0) + cpu
        total_cpu = sum(by_process.values())
        extra = {
            "tool": "headload" if self._specs[workload].use_headload else "wrk",
            "rounds": [item.to_json() for item in rounds],
            "server_cpu_seconds": total_cpu,
            "server_cpu_us_per_request": total_cpu * 1e6 / requests if requests else None,
            # With several workers: does the load spread over them, or does
            # one process accept every connection of the burst?
            "server_cpu_seconds_by_process": {str(pid): cpu for pid, cpu in by_process.items()},
            "busiest_process_cpu_share": max(by_process.values()) / total_cpu
            if total_cpu > 0
            else None,
        }
        if status != "ok":
            return record(workload, self.kind.key, self.workers, status, reason=reason, extra=extra)
        return record(
            workload,
            self.kind.key,
            self.workers,
            "ok",
            value=statistics.median(item.result.requests_per_second for item in rounds),
            p99_ms=statistics.median(item.result.p99_ms for item in rounds),
            extra=extra,
        )

    def finish(self) -> None:
        """Stop the server and note its peak RSS on every record."""
        self.stop()

    def stop(self) -> None:
        """Stop the server (if it runs) and remove its data dir."""
        server, self.server = self.server, None
        if server is not None:
            peak = _peak_or_none(server)
            exit_status = server.stop()
            for item in self.records:
                item["extra"]["peak_rss_bytes"] = peak
                item["extra"]["server_exit_status"] = exit_status
        shutil.rmtree(self._data_dir, ignore_errors=True)

    def _measure_boto3_round(self) -> None:
        """One boto3 round: PUTs of keys of the round's own, then GETs of the same keys."""
        assert self.server is not None
        number = self._boto3_rounds_done
        self._boto3_rounds_done += 1
        try:
            # Writeback of the loads (or the previous round) lands now, not in the round.
            os.sync()
            if "boto3_put" in self.workloads:
                self._pool_round("boto3_put", number)
            else:
                keys = [small_objects.boto3_key(i, number) for i in range(self._boto3_count)]
                small_objects.put_many(self._client, keys, small_objects.small_body())
            if "boto3_get" in self.workloads:
                self._pool_round("boto3_get", number)
        except MEASUREMENT_ERRORS as e:
            self._fail_the_rest(e)
            return
        if self._boto3_rounds_done == self.settings["rounds"]:
            self._open.discard(BOTO3_ROUNDS)
            for workload, rounds in self._pool_rounds.items():
                self._add(self._pool_record(workload, rounds))

    @property
    def _boto3_count(self) -> int:
        count: int = self.settings["boto3_operations"]
        return count

    def _pool_round(self, workload: str, number: int) -> None:
        """Time one boto3 round of ``workload`` and keep it with the server's CPU meanwhile."""
        assert self.server is not None
        server = self.server
        server.wait_until_idle()
        cpu_before = server.cpu_seconds()
        result = small_objects.boto3_round(
            server.endpoint_url,
            "put" if workload == "boto3_put" else "get",
            self._boto3_count,
            self.settings["boto3_threads"],
            self.cpus,
            round_number=number,
        )
        cpu = server.cpu_seconds() - cpu_before
        self._pool_rounds.setdefault(workload, []).append((result, cpu))

    def _pool_record(
        self, workload: str, rounds: Sequence[tuple[small_objects.PoolRound, float]]
    ) -> dict[str, Any]:
        """The record of a boto3 workload: the median round; CPU over all rounds."""
        operations = sum(result.operations for result, _ in rounds)
        seconds = sum(result.seconds for result, _ in rounds)
        server_cpu = sum(cpu for _, cpu in rounds)
        client_cpu = sum(result.client_cpu_seconds for result, _ in rounds)
        return record(
            workload,
            self.kind.key,
            self.workers,
            "ok",
            value=statistics.median(result.operations_per_second for result, _ in rounds),
            p99_ms=statistics.median(result.p99_ms for result, _ in rounds),
            extra={
                "operations": self._boto3_count,
                "rounds": [
                    {
                        "operations": result.operations,
                        "seconds": result.seconds,
                        "requests_per_second": result.operations_per_second,
                        "p50_ms": small_objects.percentile(result.latencies_s, 50.0) * 1000.0,
                        "p99_ms": result.p99_ms,
                        "server_cpu_seconds": cpu,
                        "client_cpu_seconds": result.client_cpu_seconds,
                    }
                    for result, cpu in rounds
                ],
                "server_cpu_seconds": server_cpu,
                "server_cpu_us_per_request": server_cpu * 1e6 / operations if operations else None,
                "client_cpu_us_per_operation": client_cpu * 1e6 / operations
                if operations
                else None,
                # Near 1: the client's one core was never idle, so the client,
                # not the server, set the rate.
                "client_cpu_share": client_cpu / seconds if seconds > 0 else None,
            },
        )


def run_small(runs: Sequence[SmallRun], rounds: int) -> list[dict[str, Any]]:
    """Start every server, then each workload round by round (boto3 last), turns rotating."""
    try:
        for run in runs:
            print(f"  starting {run.kind.description} ...", flush=True)
            run.start()
        for workload in ROUND_WORKLOADS:
            if workload == BOTO3_ROUNDS and any(run.measures(workload) for run in runs):
                print("  boto3 rounds ...", flush=True)
            for number in range(rounds):
                takers = [run for run in runs if run.measures(workload)]
                if not takers:
                    break
                # Who goes first changes each round: none always follows a
                # particular other (a PUT run's writeback, say).
                shift = number % len(takers)
                for run in takers[shift:] + takers[:shift]:
                    run.measure_round(workload)
        for run in runs:
            run.finish()
    finally:
        for run in runs:
            run.stop()
    return [item for run in runs for item in run.records]


def _peak_or_none(server: RunningServer) -> int | None:
    """The server's peak RSS in bytes, or None if it cannot be read."""
    try:
        return server.peak_rss().bytes_total
    except ServerError:
        return None


def run_tree(
    kinds: Sequence[ServerKind],
    workers: int,
    settings: dict[str, Any],
    cpus: CpuPlan,
    work_dir: Path,
) -> list[dict[str, Any]]:
    """Time to first byte of the prefix listing in the big bucket, for each server."""
    tree = small_objects.ensure_key_tree(work_dir, settings["tree_keys"])
    print(
        f"  listing prefix {tree.list_prefix!r}: {tree.prefix_key_count:,} of"
        f" {tree.key_count:,} keys start with it",
        flush=True,
    )
    records: list[dict[str, Any]] = []
    for kind in kinds:
        print(f"  {kind.description} ...", flush=True)
        small_objects.reset_server_state(tree)
        server: RunningServer | None = None
        item: dict[str, Any]
        try:
            server = start_server(kind, tree.data_dir, work_dir / f"tree-{kind.key}.log")
            client = small_objects.s3_client(server.endpoint_url)
            url = small_objects.list_url(client, tree)
            small_objects.check_first_page(server.port, url)
            times = small_objects.time_to_first_byte(url, cpus, settings["ttfb_samples"])
            item = record(
                "list_tree_ttfb",
                kind.key,
                workers,
                "ok",
                value=times.median_ms,
                extra={
                    "first_request_ttfb_ms": times.first_s * 1000.0,
                    "ttfb_ms": [sample * 1000.0 for sample in times.samples_s],
                    "total_ms": [total * 1000.0 for total in times.totals_s],
                    "median_total_ms": times.median_total_ms,
                    "prefix": tree.list_prefix,
                    "prefix_keys": tree.prefix_key_count,
                    "bucket_keys": tree.key_count,
                },
            )
        except small_objects.WorkloadUnavailable as e:
            item = record("list_tree_ttfb", kind.key, workers, "n/a", reason=str(e))
        except MEASUREMENT_ERRORS as e:
            item = record("list_tree_ttfb", kind.key, workers, "failed", reason=_error_text(e))
        finally:
            if server is not None:
                peak = _peak_or_none(server)
                server.stop()
        if server is not None:
            item["extra"]["peak_rss_bytes"] = peak
        records.append(item)
        _say(item, "ms")
    small_objects.reset_server_state(tree)
    return records


def run_large(
    kinds: Sequence[ServerKind],
    workers: int,
    settings: dict[str, Any],
    cpus: CpuPlan,
    work_dir: Path,
) -> list[dict[str, Any]]:
    """PUT and GET of the large object with large_objects.py's transfer, for each server."""
    size_gib = settings["large_gib"]
    large_objects.check_free_space(work_dir, int(size_gib * GIB_BYTES))
    scratch = Path(tempfile.mkdtemp(prefix="large-", dir=work_dir))
    records: list[dict[str, Any]] = []
    try:
        source = large_objects.make_source(scratch, size_gib)
        for kind in kinds:
            print(f"  {kind.description} ...", flush=True)
            run = large_objects.run_one_server(
                kind, source, scratch, cpus, settings["large_repeat"]
            )
            operations = ("put",) if kind.key == report.OURS_FSYNC else ("put", "get")
            for operation in operations:
                workload = f"{operation}_large"
                if run.error is not None or not run.verified:
                    reason = run.error or "; ".join(run.problems)
                    item = record(workload, kind.key, workers, "failed", reason=reason)
                elif operation == "put":
                    item = record(
                        workload,
                        kind.key,
                        workers,
                        "ok",
                        value=run.put_mb_per_second(),
                        extra={
                            "seconds": run.put_seconds,
                            "server_cpu_seconds_per_gib": run.put_cpu_seconds_per_gib(),
                            "peak_rss_bytes": run.after_put_peak_rss_bytes,
                        },
                    )
                else:
                    item = record(
                        workload,
                        kind.key,
                        workers,
                        "ok",
                        value=run.get_mb_per_second(),
                        extra={
                            "seconds": run.get_seconds,
                            "server_cpu_seconds_per_gib": run.get_cpu_seconds_per_gib(),
                            "peak_rss_bytes": run.after_get_peak_rss_bytes,
                        },
                    )
                records.append(item)
                _say(item, "MB/s")
        print("  the PUT ceiling (recv + MD5 + write, no server) ...", flush=True)
        try:
            rates = put_ceiling.measure(source.path, scratch, cpus, settings["large_repeat"])
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            item = record("put_large", report.CEILING, workers, "failed", reason=_error_text(e))
        else:
            value = statistics.median(rates)
            extra = {"rates": rates}
            item = record("put_large", report.CEILING, workers, "ok", value=value, extra=extra)
        records.append(item)
        _say(item, "MB/s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return records


def command_line(argv: Sequence[str]) -> str:
    """How this run was started, as a shell command from the repository root."""
    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(BENCH_DIR.parent))
    except ValueError:
        shown = str(python)
    return shlex.join([shown, "bench/run.py", *argv])


def _unavailable(
    kind: ServerKind, workers: int, workloads: Sequence[str], reason: str
) -> list[dict[str, Any]]:
    """n/a records for every workload a server kind cannot run."""
    records = [record(workload, kind.key, workers, "n/a", reason=reason) for workload in workloads]
    for item in records:
        _say(item, report.WORKLOADS_BY_KEY[item["workload"]].unit)
    return records


def run_all(
    settings: dict[str, Any], ours: Path, original_executable: Path, cpus: CpuPlan, work_dir: Path
) -> list[dict[str, Any]]:
    """Every wanted workload for every server and worker count."""
    workloads: list[str] = settings["workloads"]
    concurrent = [key for key in workloads if report.WORKLOADS_BY_KEY[key].concurrent]
    writes = [key for key in concurrent if report.WORKLOADS_BY_KEY[key].writes]
    load_keys = {"get", "head", "put", "list"}
    tools = (
        small_objects.ensure_load_tools(work_dir)
        if any(key in load_keys for key in workloads)
        else None
    )
    ours_has_workers = ours_supports_workers(ours)
    records: list[dict[str, Any]] = []
    for workers in settings["workers"] if concurrent else []:
        plan = cpus if workers == 1 else cpus.widened()
        print(
            f"\n== {workers} worker{'s' if workers != 1 else ''} per server;"
            f" {plan.describe('load generator')}",
            flush=True,
        )
        servers: list[tuple[ServerKind, list[str]]] = [
            (ours_kind(ours, fsync=False, cpus=plan, workers=workers), concurrent),
            (original_kind(original_executable, cpus=plan, workers=workers), concurrent),
            (ours_kind(ours, fsync=True, cpus=plan, workers=workers), writes),
        ]
        floor_loads = [key for key in concurrent if key in FLOOR_WORKLOADS]
        if workers == 1 and floor_loads:
            servers.append((floor_kind(cpus=plan), floor_loads))
        runs: list[SmallRun] = []
        for kind, wanted in servers:
            if not wanted:
                continue
            if workers != 1 and kind.key != report.ORIGINAL and not ours_has_workers:
                records.extend(
                    _unavailable(
                        kind, workers, wanted, "this nanio has no --workers option (issue 5)"
                    )
                )
                continue
            runs.append(SmallRun(kind, workers, wanted, settings, tools, plan, work_dir))
        records.extend(run_small(runs, settings["rounds"]))
    single_workers = settings["workers"][0]
    plan = cpus if single_workers == 1 else cpus.widened()
    single_ours_ok = single_workers == 1 or ours_has_workers
    if "list_tree_ttfb" in workloads:
        print(f"\n== prefix listing in a {settings['tree_keys']:,}-key bucket", flush=True)
        kinds = [
            ours_kind(ours, fsync=False, cpus=plan, workers=single_workers),
            original_kind(original_executable, cpus=plan, workers=single_workers),
        ]
        if not single_ours_ok:
            records.extend(
                _unavailable(kinds[0], single_workers, ["list_tree_ttfb"], "no --workers option")
            )
            kinds = kinds[1:]
        records.extend(run_tree(kinds, single_workers, settings, plan, work_dir))
    large = [key for key in workloads if key in ("put_large", "get_large")]
    if large:
        print(f"\n== {settings['large_gib']:g} GiB object", flush=True)
        kinds = [
            ours_kind(ours, fsync=False, cpus=plan, workers=single_workers),
            original_kind(original_executable, cpus=plan, workers=single_workers),
            ours_kind(ours, fsync=True, cpus=plan, workers=single_workers),
        ]
        if not single_ours_ok:
            kinds = kinds[1:2]
        large_records = run_large(kinds, single_workers, settings, plan, work_dir)
        records.extend(item for item in large_records if item["workload"] in large)
    return records


def machine(cpus: CpuPlan, ours: Path, original_executable: Path, work_dir: Path) -> dict[str, Any]:
    """What the figures were measured on (large_objects.py's fields and the load tools)."""
    info = large_objects.machine_info(cpus, ours, original_executable, work_dir)
    info["pinning"] = (
        f"1 worker: {cpus.describe('load generator')}; more workers:"
        f" {cpus.widened().describe('load generator')}"
    )
    info["wrk"] = large_objects.first_line(["wrk", "-v"]).split(" Copyright")[0]
    info["cc"] = large_objects.first_line(["cc", "--version"])
    return info


def finish(
    document: dict[str, Any],
    results_dir: Path,
    stamp: str,
    write_docs: bool,
) -> Path:
    """Print the tables, write the JSON and the plot, and the docs if asked."""
    print()
    for table in report.tables(document):
        print(report.render_text(table))
        print()
    print(report.RATIO_NOTE)
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"run-{stamp}.json"
    json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {json_path}")
    png_path = json_path.with_suffix(".png")
    try:
        report.plot(document, png_path)
    except ValueError as e:
        print(f"no plot: {e}")
        return json_path
    print(f"plot written to {png_path}")
    if write_docs:
        page = report.write_docs(document, png_path, json_path)
        print(f"docs written to {page} and {report.DOCS_PLOT}")
    return json_path


def docs_from(json_path: Path) -> int:
    """Plot an earlier result beside its JSON and write the docs page from it."""
    document = json.loads(json_path.read_text(encoding="utf-8"))
    png_path = report.plot(document, json_path.with_suffix(".png"))
    page = report.write_docs(document, png_path, json_path)
    print(f"plot written to {png_path}; docs written to {page} and {report.DOCS_PLOT}")
    return 0


def check_plotting() -> None:
    """Refuse to start a long run whose plot would fail at the end."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit(
            "matplotlib is needed for the plot: .venv/bin/pip install -r bench/requirements.txt"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a measurement failed (n/a is not a failure)."""
    arguments_list = list(sys.argv[1:] if argv is None else argv)
    arguments = build_parser().parse_args(arguments_list)
    check_plotting()
    if arguments.docs_from is not None:
        return docs_from(arguments.docs_from)
    settings = resolve_settings(arguments)
    if shutil.which("curl") is None:
        raise SystemExit("curl is needed on PATH: apt-get install curl")
    ours = arguments.nanio if arguments.nanio is not None else default_ours_executable()
    if not (ours.is_file() and os.access(ours, os.X_OK)):
        raise SystemExit(f"{ours} is not an executable nanio console script")
    work_dir: Path = arguments.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)

    started = datetime.datetime.now(datetime.UTC)
    clock = time.monotonic()
    original_executable, _made = ensure_original_venv()
    cpus = plan_cpus()
    load = large_objects.load_average()
    if load is not None and load[0] > LOAD_WARNING_PER_CPU * len(os.sched_getaffinity(0)):
        print(
            f"warning: load average {load[0]:.2f} at start: other processes are busy and will"
            " skew the wall-clock figures (the server-CPU-per-request table less so)",
            flush=True,
        )
    info = machine(cpus, ours, original_executable, work_dir)
    records = run_all(settings, ours, original_executable, cpus, work_dir)
    info["load_average_at_end"] = large_objects.load_average()
    document = {
        "benchmark": "nanio-vs-original",
        "started_utc": started.isoformat(timespec="seconds"),
        "elapsed_seconds": round(time.monotonic() - clock, 1),
        "command": command_line(arguments_list),
        "settings": settings,
        "machine": info,
        "records": records,
    }
    finish(document, arguments.results_dir, report.utc_stamp(started), arguments.write_docs)
    print(f"the run took {document['elapsed_seconds'] / 60:.1f} minutes")
    failed = [item for item in records if item["status"] == "failed"]
    for item in failed:
        print(
            f"FAILED {item['workload']} on {item['server']} ({item['workers']}w): {item['reason']}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
