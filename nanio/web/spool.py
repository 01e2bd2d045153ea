"""
Flow control from the socket to disk: bytes on their way into a temp file.

``Spool`` takes the pieces of an upload as the reactor receives them and gets
them into the store's temp file, either at once in the reactor thread or in
batches on a worker thread.  It counts the bytes not yet on disk and pauses
the producer it was given (the connection's transport) above a high-water
mark, resuming it below a low-water mark, so a client faster than the disk
is slowed down by TCP instead of filling memory.

Where writes run was decided by measurement (2-core dev VM, ext4, 64 KiB
writes into the page cache): a warm write costs about 23 µs, but under
writeback the mean rose to 195 µs with single writes stalling 9 ms, which in
the reactor thread would stall every connection.  So the first
``INLINE_LIMIT_BYTES`` of every upload are written inline — a small object
never pays a thread hop (the 4 KiB PUT hot path) — and the rest go to the
worker thread in batches.  Without a thread pool (in-memory tests, embedding
without one) everything is written inline.

Invariants:
- At most one batch is being written at a time, and while one is, the
  reactor thread does not touch the temp file; pieces are written in order.
- The producer is paused at most once at a time and resumed only by the spool
  that paused it.
- ``abort`` while a batch is in flight waits for that batch before removing
  the file, so a worker never writes to a closed (and maybe reused) fd.
- After a failed write every later ``write`` raises the same S3 error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.python.failure import Failure

from nanio import errors

if TYPE_CHECKING:
    from nanio.storage import TempFile

#: Runs a blocking function on a worker thread: ``deferToThreadPool`` bound
#: to a reactor and a pool.
Offload = Callable[..., "Deferred[Any]"]

#: Bytes of an upload written in the reactor thread before handing off.
INLINE_LIMIT_BYTES = 1024 * 1024
#: Bytes gathered before a batch goes to the worker thread (the end of the
#: body sends what is left).  A worker that keeps up with the socket would
#: otherwise get every 64 KiB read as its own batch: a thread hop each, which
#: cost more CPU than the writes on a one-core server (about 1 s per GiB).
BATCH_BYTES = 1024 * 1024
#: Pause the sender when this many bytes wait for the disk...
HIGH_WATER_BYTES = 4 * 1024 * 1024
#: ...and resume it when no more than this many do.
LOW_WATER_BYTES = 1024 * 1024


class Spool:
    """Writes an upload's pieces to its temp file with backpressure."""

    def __init__(
        self,
        temp: TempFile,
        offload: Offload | None = None,
        *,
        inline_limit: int = INLINE_LIMIT_BYTES,
        high_water: int = HIGH_WATER_BYTES,
        low_water: int = LOW_WATER_BYTES,
        batch: int = BATCH_BYTES,
    ) -> None:
        self._temp = temp
        self._offload = offload
        self._inline_limit = inline_limit
        self._batch = batch
        #: Bytes in ``_queue``, not yet handed to the worker.
        self._queued = 0
        self._high_water = high_water
        self._low_water = low_water
        self._queue: list[bytes] = []
        #: Bytes received but not yet written: queued or in flight.
        self.pending = 0
        self._busy = False
        self._producer: IPushProducer | None = None
        self._paused = False
        self._error: errors.S3Error | None = None
        self._aborted = False
        self._waiters: list[Deferred[None]] = []

    def attach(self, producer: IPushProducer) -> None:
        """Pause and resume this producer (the sender) as the disk keeps up."""
        self._producer = producer

    @property
    def paused(self) -> bool:
        """Whether the sender is paused, waiting for the disk (not stalled itself)."""
        return self._paused

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        if self._offload is None or (
            not self._busy and not self._queue and self._temp.size + len(data) <= self._inline_limit
        ):
            self._temp.write(data)
            return
        self._queue.append(data)
        self._queued += len(data)
        self.pending += len(data)
        if self.pending > self._high_water and not self._paused and self._producer is not None:
            self._paused = True
            self._producer.pauseProducing()
        if self._queued >= self._batch or self._paused:
            self._pump()

    def drained(self) -> Deferred[None]:
        """Fire when every byte written so far is in the file (or the write failed)."""
        if self._error is not None:
            return fail(self._error)
        if not self._busy and not self._queue:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        self._pump()  # the body is complete: the last, short batch goes now
        return waiter

    def abort(self) -> None:
        """Drop what is queued and remove the temp file, once no batch is in flight."""
        self._aborted = True
        self._take_queue()
        self._resume()
        if not self._busy:
            self._temp.abort()

    def _pump(self) -> None:
        if self._busy or not self._queue:
            return
        assert self._offload is not None
        batch = self._take_queue()
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        self._busy = True
        self._offload(self._temp.write, data).addCallbacks(
            self._written, self._failed, callbackArgs=(len(data),)
        )

    def _take_queue(self) -> list[bytes]:
        """Empty the queue; return what was in it."""
        batch, self._queue, self._queued = self._queue, [], 0
        return batch

    def _written(self, _: object, size: int) -> None:
        self._busy = False
        self.pending -= size
        if self._aborted:
            self._temp.abort()
            return
        if self.pending <= self._low_water:
            self._resume()
        if self._queued >= self._batch or (self._queue and (self._waiters or self._paused)):
            self._pump()
        elif not self._queue:
            self._notify(None)

    def _failed(self, failure: Failure) -> None:
        self._busy = False
        error = failure.value
        self._error = error if isinstance(error, errors.S3Error) else errors.InternalError()
        self._take_queue()
        self.pending = 0
        self._temp.abort()
        # Let the body flow again: the request will be answered with the error.
        self._resume()
        self._notify(failure if isinstance(error, errors.S3Error) else Failure(self._error))

    def _resume(self) -> None:
        if self._paused and self._producer is not None:
            self._paused = False
            self._producer.resumeProducing()

    def _notify(self, result: Failure | None) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if result is None:
                waiter.callback(None)
            else:
                waiter.errback(result)
