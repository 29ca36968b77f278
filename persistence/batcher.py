# Generated from persistence/batcher_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""Batcher: write-behind batches for rows nobody waits for (audit trails,
analytics events, usage counters).

This is the source of the sync `Batcher` too (generated: batcher.py; a daemon thread
there where this uses a task).

    with Batcher(repo.insert_many, batch_size=200, interval=0.5) as audit:
        audit.put_nowait(entry)        # never waits: drops (and counts) when full
        audit.put(entry)         # waits for room: back-pressure
    report = audit.report              # written / rejected / dropped / unwritten

`write` is called with a list of rows (`repo.insert_many` fits). A batch is written
when it holds `batch_size` rows or `interval` seconds have passed. Memory is bounded:
at most `max_rows` rows are buffered or in flight.

When a write fails because the server or pool is unavailable, the rows stay and are
tried again every `retry_interval` seconds. When it fails for any other reason, one row
is bad (a "poison" row): the batch is split in halves until the bad rows stand alone,
the good rows are written, and each bad row goes to `on_error(row, error)` (logged if
there is no callback). A write whose outcome was unknown (the connection died after
the commit was sent) is tried again: delivery is at least once.

`close()` stops taking rows, writes what is buffered and in flight (retrying until
`timeout`), and returns a `BatchReport` naming the rows it could not write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Generic, Self, TypeVar

from ._acompat import Background, Event, Lock, event_wait, join, sleep, spawn
from ._batch import BatchReport, BatchWriter, ErrorCallback, transient
from .errors import BatcherFull, ConfigurationError, PersistenceError

__all__ = ["Batcher"]

T = TypeVar("T")

logger = logging.getLogger("persistence.batcher")


class Batcher(Generic[T]):
    """Collect rows and write them in batches in the background.

    Args:
        write: called with a list of rows; raises on failure.
        batch_size: the most rows per write; reaching it starts a write at once.
        interval: the longest a row waits in the buffer before a write starts.
        max_rows: the most rows held (buffered + in flight).
        on_error: called with each row the database refused, and the error.
        retry_interval: the wait before trying again while the server is unavailable.
        name: names the background task and the log lines.
    """

    def __init__(
        self,
        write: BatchWriter[T],
        *,
        batch_size: int = 500,
        interval: float = 1.0,
        max_rows: int = 10_000,
        on_error: ErrorCallback[T] | None = None,
        retry_interval: float = 1.0,
        name: str = "batcher",
    ):
        if batch_size < 1 or max_rows < batch_size:
            raise ConfigurationError(
                f"batcher {name!r}: need 1 <= batch_size <= max_rows,"
                f" got batch_size={batch_size}, max_rows={max_rows}"
            )
        self.write = write
        self.batch_size = batch_size
        self.interval = interval
        self.max_rows = max_rows
        self.on_error = on_error
        self.retry_interval = retry_interval
        self.name = name
        self.written = 0
        self.rejected = 0
        self.dropped = 0
        self.report: BatchReport[T] | None = None
        self._buffer: deque[T] = deque()
        self._inflight: list[T] = []
        # Guards the buffer against the writer (a thread in the sync twin); never held
        # across I/O, so it never blocks the event loop in this one.
        self._mutex = threading.Lock()
        self._draining = Lock()
        self._wake = Event()
        self._room = Event()
        self._room.set()
        self._closing = False
        self._deadline = float("inf")
        self._task: Background | None = None

    @property
    def pending(self) -> int:
        """Rows buffered or being written."""
        return len(self._buffer) + len(self._inflight)

    # -- taking rows ---------------------------------------------------------------------

    def put_nowait(self, row: T) -> bool:
        """Queue `row` without waiting; False (and `dropped` counts it) when the batcher
        is full or closed."""
        with self._mutex:
            if self._closing or self.pending >= self.max_rows:
                self.dropped += 1
                return False
            self._append(row)
        return True

    def put(self, row: T, timeout: float | None = None) -> None:
        """Queue `row`, waiting while the batcher is full (back-pressure).

        Raises:
            BatcherFull: no room came within `timeout` seconds (the row is not queued).
            PersistenceError: the batcher is closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._mutex:
                if self._closing:
                    raise PersistenceError(f"batcher {self.name!r} is closed")
                if self.pending < self.max_rows:
                    self._append(row)
                    return
                self._room.clear()
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not event_wait(self._room, left):
                raise BatcherFull(
                    f"batcher {self.name!r} still full ({self.max_rows} rows) after"
                    f" {timeout} s; the database may be down or too slow"
                )

    def _append(self, row: T) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> Self:
        """Start the background writer."""
        if self._task is None:
            self._task = spawn(self._run, name=self.name)
        return self

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self, timeout: float = 30.0) -> BatchReport[T]:
        """Stop taking rows, write what is buffered and in flight, and report.

        While the server is unavailable the writes are retried until `timeout` seconds
        have passed; the rows still not written then are in the report's `unwritten`
        (and logged). Never raises for rows it could not write.
        """
        with self._mutex:
            self._closing = True
            self._deadline = time.monotonic() + timeout
        self._wake.set()
        self._room.set()  # put() waiters see the batcher closed
        if self._task is not None:
            if not join(self._task, timeout + 1.0):
                logger.error("batcher %r: the writer did not stop within %s s", self.name, timeout)
            self._task = None
        else:
            self._drain_until_deadline()
        with self._mutex:
            unwritten = [*self._inflight, *self._buffer]
        if unwritten:
            logger.error(
                "batcher %r: %d rows not written (the database stayed unavailable)",
                self.name,
                len(unwritten),
            )
        self.report = BatchReport(self.written, self.rejected, self.dropped, unwritten)
        return self.report

    def flush(self) -> None:
        """Write everything buffered now, and return when done (or when the server is
        unavailable: the rows stay buffered for the next try)."""
        self._drain()

    # -- the writer ----------------------------------------------------------------------

    def _run(self) -> None:
        ok = True
        while not self._closing:
            event_wait(self._wake, self.interval if ok else self.retry_interval)
            self._wake.clear()
            if self._closing:
                break
            ok = self._drain()
        self._drain_until_deadline()

    def _drain_until_deadline(self) -> None:
        while not self._drain():
            left = self._deadline - time.monotonic()
            if left <= 0:
                return
            sleep(min(self.retry_interval, left))

    def _drain(self) -> bool:
        """Write batches until the buffer is empty; False if the server was unavailable
        (what was not written is back at the front of the buffer)."""
        with self._draining:
            while True:
                with self._mutex:
                    if not self._buffer:
                        return True
                    take = min(self.batch_size, len(self._buffer))
                    self._inflight = [self._buffer.popleft() for _ in range(take)]
                # Cancelled mid-write (close timed out): the rows stay in _inflight,
                # so the report names them.
                left = self._write_isolating(self._inflight)
                with self._mutex:
                    self._buffer.extendleft(reversed(left))
                    self._inflight = []
                    self._room.set()
                if left:
                    return False

    def _write_isolating(self, batch: list[T]) -> list[T]:
        """Write `batch`, isolating rows the database refuses; return the rows not
        written because the server was unavailable (empty when all were handled)."""
        segments: deque[list[T]] = deque([batch])
        while segments:
            segment = segments.popleft()
            try:
                self.write(segment)
            except Exception as ex:
                if transient(ex):
                    logger.warning(
                        "batcher %r: %d rows not written, will retry: %s: %s",
                        self.name,
                        len(segment),
                        type(ex).__name__,
                        ex,
                    )
                    return [row for seg in (segment, *segments) for row in seg]
                if len(segment) == 1:
                    self._reject(segment[0], ex)
                else:
                    half = len(segment) // 2
                    segments.extendleft((segment[half:], segment[:half]))
                continue
            self.written += len(segment)
        return []

    def _reject(self, row: T, ex: Exception) -> None:
        self.rejected += 1
        if self.on_error is None:
            logger.error("batcher %r: row refused: %s: %s", self.name, type(ex).__name__, ex)
            return
        try:
            self.on_error(row, ex)
        except Exception:
            logger.exception("batcher %r: on_error failed", self.name)
