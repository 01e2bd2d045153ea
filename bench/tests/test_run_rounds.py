"""run.py's rounds: every server started first, then the loads with the servers taking turns."""

from __future__ import annotations

from typing import Any

import pytest
import run


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
