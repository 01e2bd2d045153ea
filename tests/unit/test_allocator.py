"""
The allocator setting: freed large buffers are kept for reuse, and an operator's own choice wins.

The setting is process-wide, so its effect is measured in child processes;
the page faults they count are the ones glibc's trimming causes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from nanio.allocator import on_glibc, tune_allocator

#: A child that frees 8 MiB of 1 MiB buffers and allocates them again, fifty
#: times, and prints the minor page faults that took.
_CHURN = """
import resource, sys
from nanio.allocator import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator({})
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
before = faults()
for _ in range(50):
    buffers = [b"x" * (1 << 20) for _ in range(8)]  # written, so their pages are touched
    del buffers
print(faults() - before)
"""


def _churn_faults(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _CHURN, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return int(result.stdout)


@pytest.mark.skipif(not on_glibc(), reason="the thresholds are glibc's")
def test_tuned_allocator_reuses_freed_buffers() -> None:
    """With the setting, buffers freed and allocated again cost a fraction of the page faults."""
    default, tuned = _churn_faults("default"), _churn_faults("tuned")
    # Default glibc gives the 8 MiB back and faults it in again each time
    # (~2,000 faults a round); tuned, only the first round faults.
    assert tuned * 5 < default, (tuned, default)


@pytest.mark.parametrize(
    "environ",
    [
        {"MALLOC_TRIM_THRESHOLD_": "131072"},
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=131072"},
    ],
    ids=["trim-variable", "mmap-variable", "tunables"],
)
def test_operator_settings_are_left_alone(environ: dict[str, str]) -> None:
    """Thresholds the operator chose in the environment are not overridden."""
    assert tune_allocator(environ) is False


@pytest.mark.skipif(not on_glibc(), reason="the thresholds are glibc's")
def test_other_tunables_do_not_stop_the_setting() -> None:
    """Tunables that name neither threshold leave the setting to nanio."""
    # In a child: the setting would outlive this test in pytest's own process.
    script = (
        "from nanio.allocator import tune_allocator\n"
        "print(tune_allocator({'GLIBC_TUNABLES': 'glibc.malloc.arena_max=2'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "True"
