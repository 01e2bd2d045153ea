"""run.py's rounds: every server started first, then the loads with the servers taking turns."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import run
import small_objects
from _servers import CpuPlan, ours_kind

NOT_PINNED = CpuPlan(server_cpu=None, client_cpu=None)


class FakeRun:
    """Stands in for a SmallRun: notes what it was asked to do in a shared log."""

    def __init__(self, name: str, log: list[str], workloads: list[str], fails: str = "") -> None:
        self.name = name
        self.log = log
        self.workloads = workloads
        self.records: list[dict[str, Any]] = []
        self.kind = type("Kind", (), {"description": name})()
        self._left = {workload: 0 for workload in workloads}
        self._fails = fails

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def measures(self, workload: str) -> bool:
        return workload in self._left

    def measure_round(self, workload: str) -> None:
        self.log.append(f"{workload} {self.name}")
        if workload == self._fails:
            del self._left[workload]  # as a failed round does

    def finish(self) -> None:
        self.log.append(f"finish {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_servers_start_first_then_take_turns_round_by_round() -> None:
    """Three rounds of GET over three servers: who goes first rotates each round."""
    log: list[str] = []
    runs = [FakeRun(name, log, ["get"]) for name in ("a", "b", "c")]
    run.run_small(runs, rounds=3)  # type: ignore[arg-type]
    assert log[:3] == ["start a", "start b", "start c"]
    assert log[3:12] == [f"get {name}" for name in "abcbcacab"]
    assert log[12:15] == ["finish a", "finish b", "finish c"]


def test_a_server_whose_round_failed_gets_no_more_rounds() -> None:
    """A failed round ends that server's workload; the others go on; each load in its order."""
    log: list[str] = []
    runs = [
        FakeRun("a", log, ["get", "put"], fails="get"),
        FakeRun("b", log, ["get"]),
    ]
    run.run_small(runs, rounds=2)  # type: ignore[arg-type]
    loads = [line for line in log if line.split()[0] in ("get", "put")]
    assert loads == ["get a", "get b", "get b", "put a", "put a"]


def test_every_server_is_stopped_even_when_a_round_raises() -> None:
    """Whatever breaks the rounds, no server process is left running."""
    log: list[str] = []

    class Broken(FakeRun):
        def measure_round(self, workload: str) -> None:
            raise KeyboardInterrupt

    runs = [FakeRun("a", log, ["get"]), Broken("b", log, ["get"])]
    with pytest.raises(KeyboardInterrupt):
        run.run_small(runs, rounds=1)  # type: ignore[arg-type]
    assert {"stop a", "stop b"} <= set(log)


def test_boto3_rounds_come_after_the_loads_and_take_turns_too() -> None:
    """The boto3 pool is one more workload in rounds: last, who goes first rotating."""
    log: list[str] = []
    runs = [FakeRun(name, log, ["put", run.BOTO3_ROUNDS]) for name in ("a", "b")]
    run.run_small(runs, rounds=2)  # type: ignore[arg-type]
    measured = [line for line in log if line.split()[0] in ("put", run.BOTO3_ROUNDS)]
    assert measured == [
        "put a",
        "put b",
        "put b",
        "put a",
        "boto3 a",
        "boto3 b",
        "boto3 b",
        "boto3 a",
    ]


def test_boto3_rounds_against_a_real_nanio(tmp_path: Path) -> None:
    """Each round PUTs keys of its own and GETs them; the records hold every round and the CPU."""
    executable = Path(sys.executable).with_name("nanio")
    small = run.SmallRun(
        ours_kind(executable, fsync=False, cpus=NOT_PINNED),
        workers=1,
        workloads=["boto3_put", "boto3_get"],
        settings={"rounds": 2, "boto3_operations": 24, "boto3_threads": 4},
        tools=None,
        cpus=NOT_PINNED,
        work_dir=tmp_path,
    )
    small.start()
    keys_after_rounds = []
    try:
        while small.measures(run.BOTO3_ROUNDS):
            small.measure_round(run.BOTO3_ROUNDS)
            listing = small._client.list_objects_v2(
                Bucket=small_objects.BUCKET, Prefix="boto3/round-"
            )
            keys_after_rounds.append(len(listing.get("Contents", [])))
    finally:
        small.finish()
    records = {item["workload"]: item for item in small.records}

    assert keys_after_rounds == [24, 48]
    for workload in ("boto3_put", "boto3_get"):
        item = records[workload]
        rounds = item["extra"]["rounds"]
        assert (item["status"], len(rounds), item["value"] > 0) == ("ok", 2, True)
        assert all(r["operations"] == 24 and r["requests_per_second"] > 0 for r in rounds)
        assert item["extra"]["server_cpu_us_per_request"] > 0
        assert item["extra"]["client_cpu_us_per_operation"] > 0
        assert item["extra"]["client_cpu_share"] > 0
