"""
Fixtures every test layer may use.

``log_events`` records the twisted.logger events a test emits, and fails the
test if any of them carries a failure (``log.failure``: a bug) that the test
did not claim with ``expect_failures``.  After every test, the stores of the
in-memory sites it made (tests/support/rawhttp.py) are closed.

Property-based tests (hypothesis) run under the "nanio" profile: derandomized,
so a run is the same on every machine and in CI, with no example database
and no per-example deadline (two shared cores make timings meaningless).
``HYPOTHESIS_PROFILE=explore`` draws fresh random examples instead, and
2000 of them where a test sets no budget of its own: for hunting
bugs by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from twisted.logger import LogEvent, globalLogPublisher

from tests.support.rawhttp import STORES_TO_CLOSE

settings.register_profile("nanio", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", database=None, deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "nanio"))


@pytest.fixture(autouse=True)
def _close_test_stores() -> Iterator[None]:
    """Close the stores of the in-memory sites the test made (tests/support/rawhttp.py)."""
    yield
    while STORES_TO_CLOSE:
        STORES_TO_CLOSE.pop().close()


class LogEvents(list[LogEvent]):
    """The events a test emitted, in order."""

    #: How many events carrying a failure the test expects.
    expected_failures = 0

    def expect_failures(self, count: int) -> None:
        """Declare that the test itself provokes this many logged failures."""
        self.expected_failures = count

    def failures(self) -> list[LogEvent]:
        """The events that carry a failure."""
        return [event for event in self if "log_failure" in event]


@pytest.fixture
def log_events() -> Iterator[LogEvents]:
    """Every log event emitted during the test; unexpected logged failures fail it."""
    events = LogEvents()
    observer = events.append
    globalLogPublisher.addObserver(observer)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(observer)
    failures = events.failures()
    assert len(failures) == events.expected_failures, [
        str(event["log_failure"].getTraceback()) for event in failures
    ]
