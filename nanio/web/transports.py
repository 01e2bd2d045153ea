"""
Writing to a plain socket without going through Twisted's transport queue.

Twisted's TCP transport queues every write and sends it on a later reactor
turn.  Two places skip that: ``NanioChannel.send_whole`` (a small answer
straight into the socket) and ``FileProducer`` (large bodies by
``os.sendfile``).  Both may only do so on a plain TCP or UNIX connection
(TLS encrypts inside its own protocol) and only when nothing the transport
holds must go first; this module says when that is.
"""

from __future__ import annotations

from twisted.internet import tcp


def plain_socket(transport: object) -> tcp.Connection | None:
    """``transport`` if its socket may be written to directly (TCP or UNIX, not TLS); else None."""
    if isinstance(transport, tcp.Connection) and not transport.TLS:
        return transport
    return None


def buffered_bytes(connection: tcp.Connection) -> int:
    """Bytes written to ``connection`` that it has not yet handed to the kernel."""
    # Private names of twisted.internet.abstract.FileDescriptor's queue,
    # pinned by tests/web/test_producers.py and tests/web/test_send_whole.py.
    return len(connection.dataBuffer) - connection.offset + connection._tempDataLen


def writes_go_next(connection: tcp.Connection) -> bool:
    """Whether bytes sent to the socket now come next: open, not closing, nothing queued."""
    return bool(
        connection.connected and not connection.disconnecting and not buffered_bytes(connection)
    )
