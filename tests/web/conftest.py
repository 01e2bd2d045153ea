"""
Fixtures of the in-memory web tests.

``data_dir`` is the data directory of the site under test: a fresh store
(fsync off) holding the one bucket "bkt" the requests go to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nanio.storage import Store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory whose store holds the bucket "bkt"."""
    root = tmp_path / "data"
    Store(root, fsync=False).create_bucket("bkt", owner=None)
    return root
