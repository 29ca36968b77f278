"""The audit trail of every request, written in batches off the request path.

`record()` only appends to a buffer: a request never waits for the audit insert. A
background task writes the buffer with COPY when it holds `batch_size` entries or
`interval` seconds have passed; `aclose()` writes what is left. A batch that fails is
logged and kept for the next flush, so a database hiccup loses nothing; what a crashed
process had not flushed yet is lost, which is the price of not blocking requests.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

from persistence import AsyncDatabase, PersistenceError

from .models import AuditEntry
from .repositories import AuditLogs

logger = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, db: AsyncDatabase, *, batch_size: int = 200, interval: float = 0.5):
        self.repository = AuditLogs(db)
        self.batch_size = batch_size
        self.interval = interval
        self.written = 0
        self._buffer: list[AuditEntry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, entry: AuditEntry) -> None:
        """Queue an entry; returns at once."""
        self._buffer.append(entry)
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ex: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the background writer and write everything still queued."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.flush()

    async def flush(self) -> int:
        """Write what is queued now; return how many entries were written."""
        batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        try:
            await self.repository.insert_many(batch)
        except PersistenceError:
            logger.exception("audit batch of %d not written; kept for the next flush", len(batch))
            self._buffer[:0] = batch
            return 0
        self.written += len(batch)
        return len(batch)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()
