"""
Fixtures of the unit tests.

``store`` is the Store most nanio.storage tests work in: no fsync, a fresh
data directory, and one shared bucket "bkt".  A module that needs another
store (an empty one, or one with fsync on) defines its own fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nanio.storage import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A store without fsync, with one bucket "bkt"."""
    with Store(tmp_path / "data", fsync=False) as s:
        s.create_bucket("bkt", None)
        yield s
