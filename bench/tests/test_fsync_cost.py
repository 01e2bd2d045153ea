"""fsync_cost.py: the file-system lookup, the figures, and one tiny run against real servers."""

from __future__ import annotations

import json
from pathlib import Path

import fsync_cost
import pytest


def test_file_system_of_the_root_is_found() -> None:
    """The file system holding / is mounted at /, with a type from /proc/mounts."""
    mount_point, fs_type = fsync_cost.file_system_of(Path("/"))
    assert (mount_point, fs_type != "unknown") == ("/", True)


def test_figures_give_rate_and_latency_quantiles() -> None:
    """PUTs over seconds is the rate; quantiles come from the sorted latencies, in ms."""
    figures = fsync_cost.Figures("fsync", 4096, puts=10, seconds=2.0)
    figures.latencies = [0.001 * n for n in range(10, 0, -1)]
    assert (figures.per_second, figures.latency_ms(0.5), figures.latency_ms(0.9)) == (
        5.0,
        pytest.approx(6.0),
        pytest.approx(10.0),
    )


def test_a_tiny_run_times_both_servers_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run with a handful of PUTs prints both rows and writes every figure for both servers."""
    output = tmp_path / "figures.json"
    arguments = ["--count-4k", "4", "--count-1m", "2", "--batch", "2"]
    status = fsync_cost.main([*arguments, "--work-dir", str(tmp_path), "--json", str(output)])
    document = json.loads(output.read_text())
    printed = capsys.readouterr().out
    assert status == 0
    assert "4 KiB |" in printed and "1 MiB |" in printed
    assert sorted((r["label"], r["size_bytes"], r["puts"]) for r in document["results"]) == [
        ("fsync", 4096, 4),
        ("fsync", 1048576, 2),
        ("no-fsync", 4096, 4),
        ("no-fsync", 1048576, 2),
    ]
