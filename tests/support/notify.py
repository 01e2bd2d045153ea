"""
systemd's side of sd_notify for tests: a datagram socket bound where systemd
would listen, whose path is the ``NOTIFY_SOCKET`` value a service is given.

Only test code uses this module.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def notify_receiver(directory: Path, timeout_seconds: float) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound at ``directory``/notify, and that path; closed on exit."""
    path = str(directory / "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(timeout_seconds)
    try:
        yield receiver, path
    finally:
        receiver.close()
