"""
Telling systemd how nanio is doing: the ``sd_notify`` protocol, without libsystemd.

A unit of ``Type=notify`` counts as started only once its main process says
``READY=1`` on the datagram socket named by ``$NOTIFY_SOCKET``; ``STOPPING=1``
says a stop is under way and ``STATUS=`` is a line ``systemctl status``
shows.  The protocol is one datagram of newline-separated ``KEY=value``
assignments (see sd_notify(3)); the address is a path, or an abstract
socket name written with a leading ``@``.

``notify`` does nothing when ``$NOTIFY_SOCKET`` is unset (nanio not run by
systemd, or by a unit of another type), so entry points call it
unconditionally.  A failure to deliver is logged and otherwise ignored: a
server that runs is better than one that stops because its supervisor's
socket went away.

``ReadinessNotifier`` is the service the entry points (``nanio serve``,
``twistd nanio``, ``twist nanio``) add to their tree: it says ``READY=1``
once every endpoint listens and ``STOPPING=1`` when the tree stops.
Library code and embedding programs never notify: readiness belongs to
whoever owns the process.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from twisted.application.service import Service
from twisted.logger import Logger

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IListeningPort
    from twisted.python.failure import Failure

log = Logger()

#: The environment variable systemd sets for a ``Type=notify`` service.
NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"

READY = "READY=1"
STOPPING = "STOPPING=1"


def notify_address(environ: Mapping[str, str] | None = None) -> str | None:
    """The socket address systemd listens on, in the form ``socket`` wants, or None."""
    value = (os.environ if environ is None else environ).get(NOTIFY_SOCKET_ENV, "")
    if value.startswith("@"):
        # An abstract socket: its name starts with a NUL byte, not a path.
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    # Unset, or a kind nanio does not speak (systemd also allows "vsock:"
    # addresses for notifications leaving a virtual machine).
    return None


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` to systemd; True if it was delivered, False if there is no one to tell."""
    address = notify_address(environ)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), address)
    except OSError as e:
        log.warn(
            "Cannot notify systemd ({state}): {reason}",
            state=state.split("\n", 1)[0],
            reason=e.strerror or e,
        )
        return False
    return True


def ready_state(addresses: Sequence[str]) -> str:
    """The READY=1 message, with a STATUS line naming where nanio listens."""
    return f"{READY}\nSTATUS=nanio listening on {', '.join(addresses)}"


class ReadinessNotifier(Service):
    """Says READY=1 once every endpoint listens, and STOPPING=1 when stopped.

    Add it to the tree after the listening service, so that it starts after
    it (and is stopped before it: STOPPING=1 goes out while the ports close).
    """

    def __init__(
        self,
        when_listening: Callable[[], Deferred[list[IListeningPort]]],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._when_listening = when_listening
        self._environ = environ

    def startService(self) -> None:
        super().startService()
        self._when_listening().addCallbacks(self._listening, self._not_listening)

    def _listening(self, ports: list[IListeningPort]) -> None:
        if not self.running:
            return  # stopped before the last port opened: not ready after all
        from nanio.service import describe_address

        notify(ready_state([describe_address(port.getHost()) for port in ports]), self._environ)

    def _not_listening(self, failure: Failure) -> None:
        # A failed listen is reported by the entry point, which then stops;
        # a stop before listening (CancelledError) is no failure at all.
        # Neither is "ready", and neither is this service's to log.
        return None

    def stopService(self) -> None:
        super().stopService()
        notify(STOPPING, self._environ)
