"""The DON Research API's async layer on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from persistence import AsyncDatabase, Settings

from don_research import AuditLog, Research, VectorSearchUnavailable
from don_research.models import AuditEntry
from don_research.service import IllegalTransition

PROJECT = Path(__file__).parent.parent


@pytest.fixture
def settings(project_database: Callable[..., Settings]) -> Settings:
    return project_database(PROJECT, pool_min=2, pool_max=10)


@pytest.fixture
async def research(settings: Settings) -> AsyncIterator[Research]:
    async with AsyncDatabase(settings) as db:
        yield Research(db)


def entry(n: int, institution: str = "mit") -> AuditEntry:
    return AuditEntry(f"trace-{n}", institution, "POST", "/v1/qac", 200, Decimal("12.5"))


async def test_rate_limit_never_over_admits_under_concurrency(research: Research) -> None:
    results = await asyncio.gather(*(research.admit("mit", 10) for _ in range(60)))
    assert sum(results) == 10
    assert await research.admit("stanford", 10) is True, "limits are per institution"
    assert (
        await research.db.fetch_value(
            "select request_count from usage_metrics where institution = 'mit'"
        )
        == 10
    )


async def test_audit_records_without_waiting_and_writes_in_batches(research: Research) -> None:
    async with AuditLog(research.db, batch_size=100, interval=0.05) as audit:
        for n in range(250):
            audit.record(entry(n))  # not awaited: nothing here waits for the database
        # record() is synchronous: no write can have happened while the requests queued.
        assert audit.written == 0
        for _ in range(100):  # the background writer catches up by itself
            if audit.written >= 200:
                break
            await asyncio.sleep(0.02)
        assert audit.written >= 200
    assert audit.written == 250
    assert await research.db.fetch_value("select count(*) from audit_logs") == 250


async def test_audit_a_refused_entry_does_not_block_the_trail(research: Research) -> None:
    # Before the batcher, one bad row sent the whole batch back to the buffer forever:
    # 0 of 49 valid entries were written.
    async with AuditLog(research.db, batch_size=50, interval=60) as audit:
        for n in range(50):
            bad = replace(entry(n), status_code=999) if n == 30 else entry(n)
            audit.record(bad)
    assert (audit.written, audit.rejected) == (49, 1)
    traces = await research.db.fetch_all("select trace_id from audit_logs")
    assert sorted(t[0] for t in traces) == sorted(f"trace-{n}" for n in range(50) if n != 30)


async def test_audit_close_during_a_flush_writes_that_batch(research: Research) -> None:
    # Before the batcher, aclose() cancelled the writer mid-flush: 10 recorded, 0 written.
    audit = AuditLog(research.db, batch_size=10, interval=60)
    slow = audit.batcher.write

    async def write(rows: list[AuditEntry]) -> object:
        await asyncio.sleep(0.3)  # the batch is in flight when aclose() is called
        return await slow(rows)

    audit.batcher.write = write
    await audit.__aenter__()
    for n in range(10):
        audit.record(entry(n))
    await asyncio.sleep(0.1)
    assert audit.batcher.pending == 10
    assert audit.written == 0
    report = await audit.aclose()
    assert report.complete
    assert await research.db.fetch_value("select count(*) from audit_logs") == 10


async def test_job_status_transitions(research: Research) -> None:
    job = await research.start_job("mit", "qac_solve")
    assert job.status == "queued"
    running = await research.advance_job(job.id, "running", progress=10)
    assert (running.status, running.progress, running.completed_at) == ("running", 10, None)
    done = await research.advance_job(job.id, "completed", progress=100, result={"energy": -1.5})
    assert (done.status, done.result, done.completed_at is not None) == (
        "completed",
        {"energy": -1.5},
        True,
    )
    with pytest.raises(IllegalTransition, match="from 'completed' to 'running'"):
        await research.advance_job(job.id, "running")
    other = await research.start_job("mit", "qac_solve")
    with pytest.raises(IllegalTransition, match="from 'queued' to 'completed'"):
        await research.advance_job(other.id, "completed")


async def test_retention_removes_exactly_the_expired_rows(research: Research) -> None:
    db = research.db
    await db.execute(
        "insert into vector_stores (institution, label, created_at) values"
        " ('mit', 'old', now() - interval '25 hours'), ('mit', 'new', now() - interval '23 hours')"
    )
    await db.execute(
        "insert into job_status (institution, job_type, status, completed_at) values"
        " ('mit', 'a', 'completed', now() - interval '8 days'),"
        " ('mit', 'b', 'failed', now() - interval '6 days'),"
        " ('mit', 'c', 'running', null)"
    )
    await db.execute(
        "insert into audit_logs (trace_id, institution, method, path, status_code, duration_ms,"
        " created_at) select 't' || g, 'mit', 'GET', '/', 200, 1, now() - g * interval '1 day'"
        " from generate_series(85, 95) g where g <> 90"  # none on the boundary itself
    )
    await db.execute(
        "insert into usage_metrics values ('mit', now() - interval '91 days', 5),"
        " ('mit', now() - interval '89 days', 5)"
    )
    assert await research.q.retention.purge_audit_logs(batch_size=2) == 2, "not batched"
    removed = await research.retention(batch_size=2)
    assert removed == {
        "vector_stores (24 h)": 1,
        "job_status (7 days)": 1,
        "audit_logs (90 days)": 3,  # 2 went in the single batch above
        "usage_metrics (90 days)": 1,
    }
    assert await db.fetch_value("select string_agg(label, ',') from vector_stores") == "new"
    assert await db.fetch_value("select count(*) from audit_logs") == 5
    assert await research.retention() == dict.fromkeys(removed, 0)


async def test_vector_search_where_pgvector_exists_and_a_clear_error_where_not(
    research: Research,
) -> None:
    if not await research.vector_search_available():
        with pytest.raises(VectorSearchUnavailable, match="needs the pgvector extension"):
            await research.nearest("mit", [1, 0, 0])
        return
    for label, vector in [("x", [1, 0, 0]), ("y", [0, 1, 0]), ("near-x", [0.9, 0.1, 0])]:
        await research.store_vector("mit", label, vector)
    await research.store_vector("other", "x-elsewhere", [1, 0, 0])
    found = await research.nearest("mit", [1, 0, 0], limit=2)
    assert [r.label for r in found] == ["x", "near-x"]
    assert found[0].distance == pytest.approx(0.0)
