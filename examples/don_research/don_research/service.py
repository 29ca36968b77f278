"""The research API's database operations, async."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from persistence import AsyncDatabase, PersistenceError

from . import queries as q
from .models import Job, VectorStore
from .repositories import Jobs, VectorStores


class VectorSearchUnavailable(PersistenceError):
    """The server has no pgvector extension, so similarity search cannot run."""


class IllegalTransition(PersistenceError):
    """A job cannot move from its current status to the one asked for."""


class Research:
    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.q = q.AsyncQueries(db)
        self.jobs = Jobs(db)
        self.vectors = VectorStores(db)

    async def admit(self, institution: str, limit_per_minute: int) -> bool:
        """Count a request against the institution's limit; False if over it."""
        count = await self.q.usage.admit(institution=institution, limit=limit_per_minute)
        return count is not None

    async def record_request(
        self, institution: str, endpoint: str, latency_ms: Decimal | float, *, is_error: bool
    ) -> None:
        """Add a request to its endpoint's usage for the current minute."""
        await self.q.usage.record_request(
            institution=institution,
            endpoint=endpoint,
            latency_ms=Decimal(str(latency_ms)),
            is_error=is_error,
        )

    async def usage(self, institution: str, since: datetime) -> list[q.PerEndpointRow]:
        """Requests, errors and latency per endpoint per minute since `since`."""
        return await self.q.usage.per_endpoint(institution=institution, since=since)

    async def trace(self, trace_id: str) -> list[q.ByTraceRow]:
        """The audit entries of a trace id (the X-Trace-ID header of a response)."""
        return await self.q.audit.by_trace(trace_id=trace_id)

    async def save_model(self, name: str, parameters: Any) -> q.QacModelsRow:
        """Store a trained model as the next version of `name` (1 for a new name)."""
        async with self.db.transaction():
            # Saves of one name wait for each other here, so each computes its version
            # after the previous one committed (a retry loop on the unique (name, version)
            # could lose every round to a burst of concurrent saves).
            await self.db.execute("select pg_advisory_xact_lock(hashtext(%s))", [name])
            row = await self.q.models.save_model(name=name, parameters=parameters)
        assert row is not None  # an INSERT ... SELECT of an aggregate: always one row
        return row

    async def start_job(self, institution: str, job_type: str) -> Job:
        return await self.jobs.insert(Job(institution, job_type))

    async def advance_job(
        self,
        job_id: UUID,
        status: str,
        *,
        progress: int | None = None,
        result: Any = None,
        error: str | None = None,
    ) -> q.JobStatusRow:
        row = await self.q.jobs.advance_job(
            id=job_id,
            status=status,
            progress=progress,
            result=result,
            error=error,
        )
        if row is None:
            current = await self.jobs.get(job_id)
            now = current.status if current else "missing"
            raise IllegalTransition(f"job {job_id} cannot go from {now!r} to {status!r}")
        return row

    async def vector_search_available(self) -> bool:
        column = await self.db.fetch_value(
            "select count(*) from pg_attribute where attrelid = 'vector_stores'::regclass"
            " and attname = 'embedding' and not attisdropped"
        )
        return bool(column)

    async def store_vector(self, institution: str, label: str, embedding: Sequence[float]) -> UUID:
        await self._require_vectors()
        async with self.db.transaction():
            stored = await self.vectors.insert(VectorStore(institution, label))
            await self.db.execute(
                "update vector_stores set embedding = %s::vector where id = %s",
                [_vector(embedding), stored.id],
            )
        return stored.id

    async def nearest(
        self, institution: str, embedding: Sequence[float], limit: int = 5
    ) -> list[q.NearestRow]:
        await self._require_vectors()
        return await self.q.vectors.nearest(
            institution=institution, embedding=_vector(embedding), limit=limit
        )

    async def retention(self, *, batch_size: int = 5000) -> dict[str, int]:
        """Apply the retention policy; return the rows removed per table. Each table is
        purged `batch_size` rows per statement (each its own transaction)."""
        r = self.q.retention
        purges = {
            "vector_stores (24 h)": r.purge_vector_stores,
            "job_status (7 days)": r.purge_jobs,
            "audit_logs (90 days)": r.purge_audit_logs,
            "usage_metrics (90 days)": r.purge_usage,
            "endpoint_metrics (90 days)": r.purge_endpoint_metrics,
        }
        removed = {}
        for table, purge in purges.items():
            total = 0
            while (batch := await purge(batch_size=batch_size)) > 0:
                total += batch
                if batch < batch_size:
                    break
            removed[table] = total
        return removed

    async def _require_vectors(self) -> None:
        if not await self.vector_search_available():
            raise VectorSearchUnavailable(
                "similarity search needs the pgvector extension, which this server does not"
                " have (Debian: apt-get install postgresql-<version>-pgvector, then migrate"
                " again from 0002_vector_stores)"
            )


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(str(float(v)) for v in values) + "]"
