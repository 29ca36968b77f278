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
there is no callback).

A write whose outcome was unknown (the connection died after the commit was sent) is
resolved before it is tried again. When `write` is a repository's `insert_many` (one
transaction: all rows or none) and the rows carry their primary key, the batcher looks
the keys up: all there, the lost commit stored the batch (written); otherwise nothing
of it was stored and it is written again. Otherwise it is simply tried again (delivery
is at least once), and a row of it then refused as a duplicate (UniqueViolation) was
probably stored by the lost commit: it goes to `on_unknown(row, error)`, not to
`on_error`.

`close()` stops taking rows, writes what is buffered and in flight (retrying until
`timeout`), and returns a `BatchReport` naming the rows it could not write. A write
still running at the deadline is cut (its connection closed, see _deadline): its rows
go to `on_unknown`, and nothing is written after `close()` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Generic, Self, TypeVar

from . import _deadline
from ._acompat import Background, Event, Lock, event_wait, join, sleep, spawn
from ._batch import BatchReport, BatchWriter, ErrorCallback, transient
from .errors import (
    BatcherFull,
    ConfigurationError,
    OutcomeUnknown,
    PersistenceError,
    UniqueViolation,
)
from .fields import DEFAULT

__all__ = ["Batcher"]

T = TypeVar("T")

logger = logging.getLogger("persistence.batcher")

#: How long close waits past its timeout for a writer that is not a database call (one
#: that is, is cut at the timeout).
_GRACE = 1.0


class Batcher(Generic[T]):
    """Collect rows and write them in batches in the background.

    Args:
        write: called with a list of rows; raises on failure.
        batch_size: the most rows per write; reaching it starts a write at once.
        interval: the longest a row waits in the buffer before a write starts.
        max_rows: the most rows held (buffered + in flight).
        on_error: called with each row the database refused, and the error.
        on_unknown: called with each row whose write may or may not have committed,
            and the error (an `OutcomeUnknown`).
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
        on_unknown: ErrorCallback[T] | None = None,
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
        self.on_unknown = on_unknown
        self.retry_interval = retry_interval
        self.name = name
        self.written = 0
        self.rejected = 0
        self.dropped = 0
        self.unknown = 0
        self.report: BatchReport[T] | None = None
        self._buffer: deque[T] = deque()
        self._inflight: list[T] = []
        # Batches whose last write's outcome was unknown, with its error: resolved (or
        # tried again) before the buffer, never mixed with other rows.
        self._suspect: deque[tuple[list[T], Exception]] = deque()
        self._repository = _repository_of(write)
        # Guards the buffer against the writer (a thread in the sync twin); never held
        # across I/O, so it never blocks the event loop in this one.
        self._mutex = threading.Lock()
        self._draining = Lock()
        self._wake = Event()
        self._room = Event()
        self._room.set()
        self._closing = False
        self._deadline = float("inf")
        self._timeout = 0.0
        # The writes' database calls, cut at the close deadline.
        self._scope = _deadline.Scope()
        # Set by close: a writer still running must leave the rows it reported alone.
        self._abandoned = False
        self._task: Background | None = None

    @property
    def pending(self) -> int:
        """Rows buffered or being written."""
        suspect = sum(len(rows) for rows, _ in self._suspect)
        return len(self._buffer) + len(self._inflight) + suspect

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
        (and logged): none of them is stored, and none is written later. A write still
        running at the deadline is cut: its rows may or may not have committed, and go
        to `on_unknown` (counted in `unknown`). Returns within `timeout` and a tick of
        the deadline watchdog, give or take the cut connection's end. Never raises for
        rows it could not write.
        """
        with self._mutex:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._timeout = timeout
        self._scope.expire(self._deadline)
        self._wake.set()
        self._room.set()  # put() waiters see the batcher closed
        if self._task is not None:
            if not join(self._task, timeout + _GRACE):
                logger.error("batcher %r: the writer did not stop within %s s", self.name, timeout)
            self._task = None
        else:
            self._drain_until_deadline()
        with self._mutex:
            self._abandoned = True
            unknown = list(self._suspect)
            if self._inflight:  # the writer did not stop: that write may yet commit
                cut = OutcomeUnknown(
                    f"batcher {self.name!r}: the write was still running when close()"
                    f" gave up after {timeout:g} s: it may or may not commit; look the rows"
                    " up before writing them again"
                )
                unknown.append((self._inflight, cut))
            unwritten = list(self._buffer)
            self._suspect.clear()
            self._buffer.clear()
            self._inflight = []
        if unwritten:
            logger.error(
                "batcher %r: %d rows not written (the database stayed unavailable)",
                self.name,
                len(unwritten),
            )
        for rows, error in unknown:
            self._unknown(rows, error)
        self.report = BatchReport(
            self.written, self.rejected, self.dropped, unwritten, self.unknown
        )
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
        (what was not written is back at the front of the buffer) or close's deadline
        has passed."""
        with self._draining:
            while True:
                with self._mutex:
                    if self._abandoned or (self._closing and time.monotonic() >= self._deadline):
                        return False  # no write starts after close's deadline
                    unknown: Exception | None = None
                    if self._suspect:
                        batch, unknown = self._suspect.popleft()
                    elif self._buffer:
                        take = min(self.batch_size, len(self._buffer))
                        batch = [self._buffer.popleft() for _ in range(take)]
                    else:
                        return True
                    self._inflight = batch
                # Cancelled mid-write (close timed out): the rows stay in _inflight,
                # so the report counts them as unknown.
                with _deadline.within(self._scope):
                    suspect, left = self._write_isolating(batch, unknown)
                with self._mutex:
                    if self._abandoned:
                        return False  # close has reported these rows
                    self._suspect.extendleft(reversed(suspect))
                    self._buffer.extendleft(reversed(left))
                    self._inflight = []
                    self._room.set()
                if suspect or left:
                    return False

    def _write_isolating(
        self, batch: list[T], unknown: Exception | None
    ) -> tuple[list[tuple[list[T], Exception]], list[T]]:
        """Write `batch`, isolating rows the database refuses. `unknown` is the error of
        an earlier write of the batch whose outcome was unknown, if one was.

        Returns what is left for when the server is back: the batches whose last write's
        outcome is unknown (with its error), and the rows not written (both empty when
        every row was handled).
        """
        if unknown is not None:
            try:
                stored = self._stored(batch)
            except Exception as ex:
                if transient(ex):
                    logger.warning(
                        "batcher %r: %d rows whose write's outcome is unknown, not checked"
                        " yet: %s: %s",
                        self.name,
                        len(batch),
                        type(ex).__name__,
                        ex,
                    )
                    return [(batch, unknown)], []
                logger.warning(
                    "batcher %r: cannot look up rows whose write's outcome is unknown: %s: %s",
                    self.name,
                    type(ex).__name__,
                    ex,
                )
                stored = None
            if stored:
                logger.info(
                    "batcher %r: %d rows whose commit reply was lost are stored",
                    self.name,
                    len(batch),
                )
                self.written += len(batch)
                return [], []
            if stored is False:
                unknown = None  # nothing of it was stored: a refusal now is a refusal
        segments: deque[list[T]] = deque([batch])
        while segments:
            segment = segments.popleft()
            try:
                self.write(segment)
            except Exception as ex:
                if self._abandoned:
                    return [], []
                if isinstance(ex, OutcomeUnknown) and self._closing:
                    ex = self._cut_by_close(ex)
                if transient(ex):
                    logger.warning(
                        "batcher %r: %d rows not written, will retry: %s: %s",
                        self.name,
                        len(segment),
                        type(ex).__name__,
                        ex,
                    )
                    suspect: list[tuple[list[T], Exception]] = []
                    if isinstance(ex, OutcomeUnknown):
                        suspect.append((segment, ex))
                    else:
                        segments.appendleft(segment)
                    rest = [row for seg in segments for row in seg]
                    if unknown is None:
                        return suspect, rest
                    return [*suspect, (rest, unknown)] if rest else suspect, []
                if len(segment) == 1:
                    if unknown is not None and isinstance(ex, UniqueViolation):
                        # Refused as a duplicate after a lost commit reply: most likely
                        # that commit stored it.
                        self._unknown(segment, unknown)
                    else:
                        self._reject(segment[0], ex)
                else:
                    half = len(segment) // 2
                    segments.extendleft((segment[half:], segment[:half]))
                continue
            if self._abandoned:
                return [], []
            self.written += len(segment)
        return [], []

    def _cut_by_close(self, ex: OutcomeUnknown) -> OutcomeUnknown:
        """`ex`, or, when close's deadline cut the write, an error that says so."""
        if time.monotonic() < self._deadline:
            return ex
        cut = OutcomeUnknown(
            f"batcher {self.name!r}: close() reached its timeout ({self._timeout:g} s) with"
            " this write in flight and closed its connection: it may or may not have"
            " committed; look the rows up before writing them again"
        )
        cut.__cause__ = ex
        return cut

    def _stored(self, rows: list[T]) -> bool | None:
        """Whether the lost write of `rows` committed: their primary keys are all in the
        table (True) or not (False, the write was one transaction: nothing of it was
        stored); None when it cannot be told (`write` is not a repository's
        `insert_many`, or a row lacks its key)."""
        repo = self._repository
        if repo is None:
            return None
        columns: tuple[str, ...] = repo.primary_key
        keys: list[Any] = []
        for row in rows:
            values = tuple(getattr(row, column, None) for column in columns)
            if any(value is None or value is DEFAULT for value in values):
                return None
            keys.append(values if len(values) > 1 else values[0])
        # In a transaction: on the primary, which a replica may not have caught up with.
        with repo.db.transaction():
            found = repo.get_many(keys, include_deleted=True)
        return len(found) == len(keys)

    def _reject(self, row: T, ex: Exception) -> None:
        self.rejected += 1
        if self.on_error is None:
            logger.error("batcher %r: row refused: %s: %s", self.name, type(ex).__name__, ex)
            return
        try:
            self.on_error(row, ex)
        except Exception:
            logger.exception("batcher %r: on_error failed", self.name)

    def _unknown(self, rows: list[T], ex: Exception) -> None:
        self.unknown += len(rows)
        if self.on_unknown is None:
            logger.error(
                "batcher %r: %d rows whose write may or may not have committed: %s: %s",
                self.name,
                len(rows),
                type(ex).__name__,
                ex,
            )
            return
        for row in rows:
            try:
                self.on_unknown(row, ex)
            except Exception:
                logger.exception("batcher %r: on_unknown failed", self.name)


def _repository_of(write: object) -> Any:
    """The repository whose `insert_many` `write` is (its writes are one transaction
    and its primary key is known), or None."""
    repo = getattr(write, "__self__", None)
    if getattr(write, "__name__", None) != "insert_many":
        return None
    if not all(hasattr(repo, name) for name in ("primary_key", "get_many", "db")):
        return None
    return repo
