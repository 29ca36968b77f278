"""The DON Research API's async layer on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from ipaddress import ip_address
from pathlib import Path

import pytest
from persistence import AsyncDatabase, DatabaseError, Settings

from don_research import AuditLog, Research, VectorSearchUnavailable
from don_research.audit import MAX_BODY
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


async def test_audit_keeps_the_request_and_finds_it_by_trace_id(research: Research) -> None:
    posted = replace(
        entry(1),
        trace_id="mit_20261130_ab12cd34",
        request_body='{"n_qubits": 8}',
        ip_address=ip_address("2001:db8::7"),
        user_agent="curl/8.5",
    )
    huge = replace(
        entry(2),
        trace_id="mit_20261130_ab12cd34",
        method="GET",
        request_body="x" * (MAX_BODY + 500),
        ip_address=ip_address("10.0.0.7"),
    )
    async with AuditLog(research.db, batch_size=10, interval=60) as audit:
        audit.record(posted)
        audit.record(huge)
        audit.record(entry(3))  # another trace
    rows = await research.trace("mit_20261130_ab12cd34")
    assert [(r.method, r.ip_address, r.user_agent) for r in rows] == [
        ("POST", "2001:db8::7", "curl/8.5"),
        ("GET", "10.0.0.7", None),
    ]
    assert rows[0].request_body == '{"n_qubits": 8}'
    assert rows[1].request_body == "x" * MAX_BODY, "the body is cut at 10,000 characters"
    assert await research.trace("no-such-trace") == []
    with pytest.raises(DatabaseError, match="inet"):  # the address column takes addresses only
        await research.db.execute(
            "insert into audit_logs (trace_id, institution, method, path, status_code,"
            " duration_ms, ip_address) values ('t', 'mit', 'GET', '/', 200, 1, 'not-an-ip')"
        )


async def test_usage_per_endpoint_per_minute(research: Research) -> None:
    for endpoint, latency, error in [
        ("/v1/qac/fit", 120.5, False),
        ("/v1/qac/fit", 80.0, True),
        ("/v1/qac/fit", 99.5, False),
        ("/v1/vectors", 12.0, False),
    ]:
        await research.record_request("mit", endpoint, latency, is_error=error)
    await research.record_request("stanford", "/v1/vectors", 5, is_error=False)
    await research.db.execute(
        "insert into endpoint_metrics values"
        " ('mit', '/v1/qac/fit', date_trunc('minute', now()) - interval '2 hours', 4, 0, 40, 10)"
    )
    since = datetime.now(UTC) - timedelta(hours=1)
    rows = await research.usage("mit", since)
    assert [
        (r.endpoint, r.request_count, r.error_count, r.latency_ms_avg, r.latency_ms_max)
        for r in rows
    ] == [
        ("/v1/qac/fit", 3, 1, Decimal("100.00"), Decimal("120.50")),
        ("/v1/vectors", 1, 0, Decimal("12.00"), Decimal("12.00")),
    ]
    assert len({r.window_start for r in rows}) == 1, "one row per endpoint per minute"
    assert len(await research.usage("mit", since - timedelta(hours=2))) == 3
    assert [r.endpoint for r in await research.usage("stanford", since)] == ["/v1/vectors"]


async def test_qac_models_are_versioned_and_kept(research: Research) -> None:
    first = await research.save_model("ising-8", {"beta": 0.5})
    second = await research.save_model("ising-8", {"beta": 0.7})
    other = await research.save_model("heisenberg", {})
    assert (first.version, second.version, other.version) == (1, 2, 1)
    q = research.q.models
    latest = await q.latest_model(name="ising-8")
    assert latest is not None
    assert (latest.id, latest.parameters) == (second.id, {"beta": 0.7})
    v1 = await q.model_version(name="ising-8", version=1)
    assert v1 is not None
    assert v1.parameters == {"beta": 0.5}
    assert await q.model_version(name="ising-8", version=3) is None
    assert await q.latest_model(name="none") is None
    # Saves of one name at once each get a version of their own.
    await asyncio.gather(*(research.save_model("race", {"n": n}) for n in range(8)))
    assert [m.version for m in await q.model_versions(name="race")] == list(range(8, 0, -1))
    # Trained models are assets: retention never deletes them, however old.
    await research.db.execute("update qac_models set created_at = now() - interval '5 years'")
    await research.retention()
    assert await research.db.fetch_value("select count(*) from qac_models") == 11


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
    await db.execute(
        "insert into endpoint_metrics (institution, endpoint, window_start, request_count)"
        " values ('mit', '/a', now() - interval '91 days', 1),"
        " ('mit', '/b', now() - interval '92 days', 1), ('mit', '/a', now(), 1)"
    )
    assert await research.q.retention.purge_audit_logs(batch_size=2) == 2, "not batched"
    removed = await research.retention(batch_size=2)
    assert removed == {
        "vector_stores (24 h)": 1,
        "job_status (7 days)": 1,
        "audit_logs (90 days)": 3,  # 2 went in the single batch above
        "usage_metrics (90 days)": 1,
        "endpoint_metrics (90 days)": 2,
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
