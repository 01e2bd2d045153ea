"""The service sweeps temp files left by uploads a crash cut off, and old Complete answers."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock

from nanio.errors import NoSuchUpload
from nanio.s3.model import ObjectMeta
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


def test_answers_of_completed_uploads_are_kept_a_day_by_the_sweep(tmp_path: Path) -> None:
    """The periodic sweep keeps a fresh Complete's answer and forgets one over a day old."""
    data_dir = tmp_path / "data"
    settings = make_settings(str(data_dir), listen=("tcp:0:interface=127.0.0.1",))
    clock = MemoryReactorClock()
    service = make_service(settings, reactor=clock)
    service.startService()
    try:
        store = service.store
        store.create_bucket("bkt", None)
        upload_id = store.create_multipart_upload(
            "bkt", "k", ObjectMeta(etag="", size=0, last_modified=0.0), None
        )
        temp = store.create_temp()
        temp.write(b"x")
        parts = [(1, hashlib.md5(b"x").hexdigest())]
        store.commit_part("bkt", "k", upload_id, 1, temp, parts[0][1], {})
        first = store.complete_multipart_upload("bkt", "k", upload_id, parts)
        record = data_dir / ".nanio" / "completed" / f"{upload_id}.bkt.json"
        clock.advance(TEMP_SWEEP_SECONDS)
        assert store.complete_multipart_upload("bkt", "k", upload_id, parts) == first
        two_days_ago = time.time() - 2 * 86400
        os.utime(record, (two_days_ago, two_days_ago))
        clock.advance(TEMP_SWEEP_SECONDS)
        assert not record.exists()
        with pytest.raises(NoSuchUpload):
            store.complete_multipart_upload("bkt", "k", upload_id, parts)
    finally:
        service.stopService()
