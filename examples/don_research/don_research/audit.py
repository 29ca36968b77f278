"""The audit trail of every request, written in batches off the request path.

`record()` only queues the entry: a request never waits for the audit insert. The
toolkit's `AsyncBatcher` writes the queue with COPY when it holds `batch_size` entries
or `interval` seconds have passed, and `aclose()` writes what is queued and in flight.

What it promises: an entry the database refuses (a status code outside 100-599) is
logged and counted in `rejected`, and every other entry of its batch is still written;
while the database is unavailable the entries wait and are written when it is back; at
most `max_entries` wait (more are dropped and counted in `dropped`, so a long outage
cannot exhaust memory); `aclose()` returns a report naming the entries it could not
write. What a crashed process had not flushed yet is lost: the price of not blocking
requests.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from types import TracebackType
from typing import Self

from persistence import AsyncBatcher, AsyncDatabase, BatchReport

from .models import AuditEntry
from .repositories import AuditLogs

logger = logging.getLogger(__name__)

#: The longest request body kept (characters), as in the seed's middleware.
MAX_BODY = 10_000


class AuditLog:
    def __init__(
        self,
        db: AsyncDatabase,
        *,
        batch_size: int = 200,
        interval: float = 0.5,
        max_entries: int = 50_000,
    ):
        self.repository = AuditLogs(db)
        self.batcher = AsyncBatcher(
            self.repository.insert_many,
            batch_size=batch_size,
            interval=interval,
            max_rows=max_entries,
            on_error=self._refused,
            name="audit_logs",
        )

    @property
    def written(self) -> int:
        return self.batcher.written

    @property
    def rejected(self) -> int:
        return self.batcher.rejected

    @property
    def dropped(self) -> int:
        return self.batcher.dropped

    def record(self, entry: AuditEntry) -> None:
        """Queue an entry; returns at once (a full queue drops it and counts it). A
        request body longer than 10,000 characters is cut there, as the seed does."""
        if entry.request_body is not None and len(entry.request_body) > MAX_BODY:
            entry = replace(entry, request_body=entry.request_body[:MAX_BODY])
        if not self.batcher.put_nowait(entry):
            logger.warning("audit queue full: entry %s dropped", entry.trace_id)

    async def __aenter__(self) -> Self:
        await self.batcher.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ex: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self, timeout: float = 30.0) -> BatchReport[AuditEntry]:
        """Write everything queued or in flight; report what could not be written."""
        return await self.batcher.aclose(timeout)

    async def flush(self) -> None:
        """Write what is queued now."""
        await self.batcher.flush()

    @staticmethod
    def _refused(entry: AuditEntry, error: Exception) -> None:
        logger.error("audit entry %s refused: %s", entry.trace_id, error)
