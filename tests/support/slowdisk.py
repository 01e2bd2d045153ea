"""
A disk played by the test: offloaded calls run only when the test says so.

``slow_site`` builds a NanioSite (with a bucket ``bkt``) on an in-memory
clock whose disk thread pool is a ``SlowDisk``, so tests can look at what
nanio does while a write or a join is still pending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock

from nanio.storage import Store
from nanio.web.resource import make_s3_resource
from nanio.web.site import NanioSite
from tests.support.rawhttp import close_after_test, make_settings


class SlowDisk:
    """An offload that queues each write until the test completes it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...], Deferred[Any]]] = []

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append((fn, args, d))
        return d

    def complete_all(self) -> None:
        while self.calls:
            fn, args, d = self.calls.pop(0)
            try:
                result = fn(*args)
            except Exception:
                # As deferToThreadPool does: the failure goes to the Deferred.
                d.errback()
            else:
                d.callback(result)


def slow_site(data_dir: Path) -> tuple[NanioSite, SlowDisk]:
    Store(data_dir, fsync=False).create_bucket("bkt", owner=None)
    clock = MemoryReactorClock()
    clock.advance(time.time())
    disk = SlowDisk()
    s3 = make_s3_resource(make_settings(str(data_dir)), clock, offload=disk)
    close_after_test(s3.context.store)
    return NanioSite(s3, clock=clock, access_log=False, reactor=clock), disk
