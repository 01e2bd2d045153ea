"""--gc-abandoned-uploads: the service removes multipart uploads abandoned for a week."""

from __future__ import annotations

import os
import time
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock

from nanio.config import load_settings
from nanio.s3.model import ObjectMeta
from nanio.service import UPLOAD_GC_SECONDS, make_service
from nanio.storage import Store
from nanio.tap import Options
from tests.support.rawhttp import make_settings

WEEK_SECONDS = 7 * 86400
CREDENTIALS = {"NANIO_ACCESS_KEY": "a", "NANIO_SECRET_KEY": "b"}


def abandoned_upload(data_dir: Path, key: str, age_seconds: float) -> Path:
    """An upload with one part, every file of it dated ``age_seconds`` back."""
    store = Store(data_dir, fsync=False)
    if not (data_dir / "bkt").exists():
        store.create_bucket("bkt", owner=None)
    upload_id = store.create_multipart_upload("bkt", key, ObjectMeta("", 0, 0.0), owner=None)
    temp = store.create_temp()
    temp.write(b"part")
    store.commit_part("bkt", key, upload_id, 1, temp, "x" * 32, {})
    upload_dir = data_dir / ".nanio" / "multipart" / upload_id
    then = time.time() - age_seconds
    for path in [upload_dir, *upload_dir.rglob("*")]:
        os.utime(path, (then, then), follow_symlinks=False)
    return upload_dir


def test_flag_environment_and_file_turn_it_on(tmp_path: Path) -> None:
    """The option is off by default and on from the flag, the environment or the options file."""
    assert load_settings({}, CREDENTIALS).gc_abandoned_uploads is False
    assert load_settings({"gc_abandoned_uploads": True}, CREDENTIALS).gc_abandoned_uploads
    environ = {**CREDENTIALS, "NANIO_GC_ABANDONED_UPLOADS": "true"}
    assert load_settings({}, environ).gc_abandoned_uploads
    options_file = tmp_path / "nanio.toml"
    options_file.write_text("[server]\ngc_abandoned_uploads = true\n")
    assert load_settings({"options": str(options_file)}, CREDENTIALS).gc_abandoned_uploads
    options = Options()
    options.environ = CREDENTIALS
    options.parseOptions(["--gc-abandoned-uploads", "--data-dir", str(tmp_path / "d")])
    assert options.settings.gc_abandoned_uploads


def test_enabled_service_collects_old_uploads_and_keeps_recent_ones(tmp_path: Path) -> None:
    """With the option on, a week-old upload goes at start; a fresh one stays until it ages."""
    data_dir = tmp_path / "data"
    old = abandoned_upload(data_dir, "old", WEEK_SECONDS + 3600)
    fresh = abandoned_upload(data_dir, "fresh", 60)
    settings = make_settings(
        str(data_dir), listen=("tcp:0:interface=127.0.0.1",), gc_abandoned_uploads=True
    )
    clock = MemoryReactorClock()
    service = make_service(settings, reactor=clock)
    service.startService()
    try:
        assert not old.exists()
        assert fresh.exists()
        then = time.time() - WEEK_SECONDS - 3600
        for path in [fresh, *fresh.rglob("*")]:
            os.utime(path, (then, then), follow_symlinks=False)
        clock.advance(UPLOAD_GC_SECONDS)
        assert not fresh.exists()
    finally:
        service.stopService()


def test_disabled_service_keeps_old_uploads(tmp_path: Path) -> None:
    """Without the option, even a month-old upload is left alone."""
    data_dir = tmp_path / "data"
    old = abandoned_upload(data_dir, "old", 4 * WEEK_SECONDS)
    settings = make_settings(str(data_dir), listen=("tcp:0:interface=127.0.0.1",))
    clock = MemoryReactorClock()
    service = make_service(settings, reactor=clock)
    service.startService()
    try:
        clock.advance(UPLOAD_GC_SECONDS)
        assert old.exists()
    finally:
        service.stopService()
