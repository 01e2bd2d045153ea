"""The service sweeps temp files left by uploads a crash cut off."""

from __future__ import annotations

import os
import time
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock

from nanio.service import TEMP_SWEEP_SECONDS, make_service
from tests.support.rawhttp import make_settings


def stray_temp(data_dir: Path, name: str, age_seconds: float) -> Path:
    tmp = data_dir / ".nanio" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / name
    path.write_bytes(b"partial upload")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def test_idle_temp_files_go_at_start_and_fresh_ones_at_a_later_sweep(tmp_path: Path) -> None:
    """An idle stray temp file is removed at start; a fresh one survives until a later sweep."""
    data_dir = tmp_path / "data"
    settings = make_settings(str(data_dir), listen=("tcp:0:interface=127.0.0.1",))
    clock = MemoryReactorClock()
    service = make_service(settings, reactor=clock)
    old = stray_temp(data_dir, "old-upload", age_seconds=3600)
    fresh = stray_temp(data_dir, "fresh-upload", age_seconds=0)
    service.startService()
    try:
        assert not old.exists()
        assert fresh.exists()
        later = time.time() - 3600
        os.utime(fresh, (later, later))
        clock.advance(TEMP_SWEEP_SECONDS)
        assert not fresh.exists()
    finally:
        service.stopService()
