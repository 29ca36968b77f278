"""Telemetry by query name: OpenTelemetry spans, structured log records, percentiles
and the Prometheus exposition, on a real server."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from psycopg import sql

from persistence import Database, Migrator, Settings, UniqueViolation

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _provider() -> None:
    # OpenTelemetry lets a process set its provider once: one for the module.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _EXPORTER.clear()
    return _EXPORTER


def test_a_named_query_is_a_span_named_by_it(
    sample_settings: Settings, spans: InMemorySpanExporter
) -> None:
    with Database(sample_settings) as db:
        db.queries.users.create_user(email="ada@example.com", name="Ada", plan="free")
        with pytest.raises(UniqueViolation):
            db.queries.users.create_user(email="ada@example.com", name="Ada", plan="free")
    created = [s for s in spans.get_finished_spans() if s.name == "users.create_user"]
    assert len(created) == 2
    ok, failed = created
    assert ok.kind == SpanKind.CLIENT
    attributes = dict(ok.attributes or {})
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["db.operation.name"] == "INSERT"
    assert attributes["db.namespace"] == str(
        dict(item.split("=", 1) for item in (sample_settings.database_url or "").split())["dbname"]
    )
    text = str(attributes["db.query.text"])
    assert "insert into users" in text
    assert "ada@example.com" not in text  # placeholders, never values
    assert failed.status.status_code == StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"] == "UniqueViolation"
    assert "ada@example.com" not in str(failed.events)


def test_a_span_never_carries_a_literal_value(
    fresh_settings: Settings, spans: InMemorySpanExporter
) -> None:
    """A statement composed with `sql.Literal` renders its values into the SQL: the span
    shows each as ?, as the slow-query log does."""
    statement = sql.SQL("select {} as token").format(sql.Literal("s3cret-token"))
    with Database(fresh_settings) as db:
        db.run(
            lambda conn: conn.execute(statement).fetchone(),
            name="tokens.probe",
            statement=statement,
        )
    (probe,) = [s for s in spans.get_finished_spans() if s.name == "tokens.probe"]
    attributes = dict(probe.attributes or {})
    assert attributes["db.query.text"] == "select ? as token"
    assert attributes["db.operation.name"] == "SELECT"


def test_repository_calls_and_migrations_are_spans(
    empty_settings: Settings, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_t.sql").write_text("create table t (id int primary key);\n")
    (migrations / "0001_t.rollback.sql").write_text("drop table t;\n")
    settings = dataclasses.replace(empty_settings, migrations_dir=migrations)
    Migrator(settings).migrate()
    Migrator(settings).rollback(1)
    names = [s.name for s in spans.get_finished_spans()]
    assert "migration 0001_t" in names
    assert "rollback 0001_t" in names


def test_raw_sql_is_not_a_span_but_is_logged_when_slow(
    fresh_settings: Settings, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    quick = dataclasses.replace(fresh_settings, slow_query_ms=50)
    with Database(quick) as db, caplog.at_level(logging.WARNING, logger="persistence"):
        db.fetch_value("select pg_sleep(0.1), %s::text", ["secret-value"])
    assert spans.get_finished_spans() == ()
    (record,) = [r for r in caplog.records if "slow query" in r.getMessage()]
    assert record.name == "persistence.metrics"
    assert record.query.startswith("select pg_sleep(0.1)")  # type: ignore[attr-defined]
    assert record.duration_ms >= 50  # type: ignore[attr-defined]
    assert "secret-value" not in record.getMessage()


def test_a_retried_read_and_a_replaced_connection_are_logged_with_fields(
    fresh_settings: Settings, admin, caplog: pytest.LogCaptureFixture
) -> None:
    one = dataclasses.replace(fresh_settings, pool_min=1, pool_max=1)
    with Database(one) as db, caplog.at_level(logging.INFO, logger="persistence"):
        pid = db.fetch_value("select pg_backend_pid()")
        admin.execute("select pg_terminate_backend(%s, 5000)", [pid])
        assert db.fetch_value("select 1") == 1
    (record,) = [r for r in caplog.records if "server closed" in r.getMessage()]
    assert record.name == "persistence._base"
    assert record.attempt == 1  # type: ignore[attr-defined]


def test_migrations_log_structured_records(
    empty_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_t.sql").write_text("create table t (id int primary key);\n")
    (migrations / "0001_t.rollback.sql").write_text("drop table t;\n")
    settings = dataclasses.replace(empty_settings, migrations_dir=migrations)
    with caplog.at_level(logging.INFO, logger="persistence"):
        Migrator(settings).migrate()
    (record,) = [r for r in caplog.records if r.getMessage().startswith("applied migration")]
    assert record.migration == "0001_t"  # type: ignore[attr-defined]
    assert record.duration_ms >= 0  # type: ignore[attr-defined]


def test_percentiles_and_prometheus_exposition(sample_settings: Settings) -> None:
    with Database(sample_settings) as db:
        for _ in range(50):
            db.queries.users.count_users()
        db.fetch_value("select 1")  # raw SQL: not a metric (unbounded names)
        stats = db.metrics.snapshot()["users.count_users"]
        text = db.metrics.prometheus()
    assert stats.calls == 50
    assert 0 < stats.percentile(50) <= stats.percentile(95) <= stats.percentile(99)
    assert stats.percentile(99) <= stats.max_ms
    assert 'persistence_query_duration_seconds_count{query="users.count_users"} 50' in text
    assert (
        'persistence_query_duration_seconds_bucket{query="users.count_users",le="+Inf"} 50' in text
    )
    assert 'persistence_query_errors_total{query="users.count_users"} 0' in text
    assert "select 1" not in text
    assert "p95" in db.metrics.table()


def test_without_a_configured_sdk_no_span_is_made_and_one_set_later_is_used(
    tmp_path: Path,
) -> None:
    # A process of its own: this module already set the global provider.
    script = tmp_path / "otel.py"
    script.write_text(
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import"
        " InMemorySpanExporter\n"
        "from persistence import _telemetry\n"
        "assert _telemetry.span('q', 'select 1', {}) is _telemetry._NULL\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "with _telemetry.span('q', 'select 1', {}):\n"
        "    pass\n"
        "print([s.name for s in exporter.get_finished_spans()])\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['q']"
