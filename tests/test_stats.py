"""`persistence stats` and `persistence explain` on a real server.

pg_stat_statements needs `shared_preload_libraries`: the embedded server preloads it;
the machine's PostgreSQL 15 service may not (and is not ours to restart). The enabled
path runs on the server under test when it preloads the library, else on an embedded
server of the test's own; the fallback runs on the server under test when it does not
preload it, else on a database without the extension created.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from persistence import Database, Settings
from persistence._scratch import create_database, database_name, drop_database
from persistence.cli import main
from persistence.embedded import EmbeddedServer
from persistence.errors import QueryError
from persistence.explain import explain
from persistence.queries import Catalog
from persistence.stats import ENABLE_HINT, collect, render

from .conftest import SAMPLE
from .test_sql_comment import Items


def preloads(settings: Settings) -> bool:
    with psycopg.connect(settings.conninfo()) as conn:
        row = conn.execute("show shared_preload_libraries").fetchone()
    return row is not None and "pg_stat_statements" in str(row[0])


@pytest.fixture
def pgss_settings(
    sample_template: Settings, persistence_settings: Settings, server_root: Path
) -> Iterator[Settings]:
    """The sample project migrated into a database with pg_stat_statements created."""
    own: EmbeddedServer | None = None
    base = persistence_settings
    if not preloads(base):
        own = EmbeddedServer(server_root / "pg")
        info = own.start()
        base = dataclasses.replace(base, database_url=info.url())
    name = f"persistence_st{os.getpid()}_{uuid.uuid4().hex[:8]}"
    made = create_database(base, name)
    settings = dataclasses.replace(sample_template, database_url=made.database_url)
    try:
        from persistence import Migrator

        Migrator(settings, out=lambda _: None).migrate()
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            conn.execute("create extension if not exists pg_stat_statements")
        yield settings
    finally:
        drop_database(base, name)
        if own is not None:
            own.destroy()


def test_stats_per_named_query_slowest_first(pgss_settings: Settings) -> None:
    with Database(pgss_settings) as db:
        for _ in range(3):
            db.queries.users.get_user_by_email(email="hidden-value@example.com")
        db.queries.users.count_users()
        Items(db).get(1)
    stats = collect(pgss_settings, Catalog(SAMPLE / "queries"))
    assert stats.statements_note is None
    assert stats.statements is not None
    by_name = {s["name"]: s for s in stats.statements}
    get = by_name["users.get_user_by_email"]
    assert get["calls"] == 3
    assert get["where"] == "tests/sample/queries/users.sql:5"
    assert by_name["users.count_users"]["calls"] == 1
    assert by_name["items.get"]["where"] == "repository"
    assert "migrations.0001_users" in by_name
    totals = [s["total_ms"] for s in stats.statements]
    assert totals == sorted(totals, reverse=True)
    text = render(stats)
    assert "users.get_user_by_email" in text
    assert "hidden-value" not in text
    assert "hidden-value" not in json.dumps(stats.as_json())


def test_stats_without_pg_stat_statements_says_how_to_enable(
    sample_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # A database without the extension created (on the service it is not preloaded either).
    url = sample_settings.database_url or ""
    assert main(["--project", str(SAMPLE), "stats", "--url", url]) == 0
    out = capsys.readouterr().out
    assert ENABLE_HINT in out
    tables = out.split("tables, largest first\n", 1)[1]
    assert "public.users" in tables
    assert "public.items" in tables
    assert "indexes never used" in out
    assert "connections by database" in out


def test_stats_on_a_missing_database_says_what_to_do(
    sample_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    # stats opens its connection through the one door (_connect), so it gets the same
    # advice as status and check, not the bare driver error.
    url = psycopg.conninfo.make_conninfo(
        sample_settings.database_url or "", dbname="no_such_db_for_stats"
    )
    assert main(["--project", str(SAMPLE), "stats", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "database 'no_such_db_for_stats' does not exist: create it" in err
    assert len(err.strip().splitlines()) == 1


def test_stats_json_tables_and_indexes(
    sample_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sample_settings.database_url or ""
    assert main(["--project", str(SAMPLE), "stats", "--json", "--url", url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["statements"] is None
    assert data["statements_note"] == ENABLE_HINT
    users = next(t for t in data["tables"] if t["name"] == "users")
    assert set(users) >= {
        "schema",
        "bytes",
        "rows_estimate",
        "seq_scan",
        "idx_scan",
        "dead_tuples",
        "last_vacuum",
        "last_analyze",
    }
    assert all(not i["name"].endswith("_pkey") for i in data["unused_indexes"])


def test_stats_names_a_long_transaction_and_who_blocks_it(sample_settings: Settings) -> None:
    with (
        psycopg.connect(sample_settings.conninfo(), autocommit=True) as holder,
        Database(sample_settings) as db,
    ):
        holder_pid = holder.info.backend_pid
        db.queries.users.count_users()  # first-use queries done before the lock
        holder.execute("begin")
        holder.execute("lock table users in access exclusive mode")
        worker = threading.Thread(target=db.queries.users.count_users)
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                stats = collect(sample_settings, threshold=0)
                waiting = [
                    x
                    for x in stats.long_transactions
                    if x["blocked_by"] and x["database"] == database_name(sample_settings)
                ]
                if waiting:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("no blocked transaction seen")
        finally:
            holder.execute("rollback")
            worker.join(10)
    assert waiting[0]["blocked_by"] == [holder_pid]
    assert waiting[0]["statement"] == "users.count_users"
    assert f"blocked by {holder_pid}" in render(stats)
    # The holder is listed too (open longer than the 0 s threshold), by pid, unnamed.
    assert holder_pid in [x["pid"] for x in stats.long_transactions]
    # Exact sizes would wait on the lock: stats answers with estimates instead.
    assert stats.sizes_estimated


def test_explain_generic_plan_by_name(sample_settings: Settings) -> None:
    plan = explain(sample_settings, Catalog(SAMPLE / "queries"), "users.get_user_by_email", {})
    assert plan[0] == "users.get_user_by_email (tests/sample/queries/users.sql:5), generic plan"
    assert any("users" in line and "Scan" in line for line in plan[1:])
    assert any("$1" in line for line in plan[1:])


def test_explain_analyze_a_write_changes_nothing(
    sample_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sample_settings.database_url or ""
    args = ["--project", str(SAMPLE), "explain", "users.create_user", "--url", url, "--analyze"]
    args += ["-p", "email=secret-mail@example.com", "-p", "name=N", "-p", "plan=free"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "actual time=" in out
    assert "Insert on users" in out
    assert "secret-mail" not in out
    with psycopg.connect(sample_settings.conninfo()) as conn:
        assert conn.execute("select count(*) from users").fetchone() == (0,)


def test_explain_refuses_what_it_cannot_do(
    sample_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = Catalog(SAMPLE / "queries")
    with pytest.raises(QueryError, match=r"give every parameter \(missing: email"):
        explain(sample_settings, catalog, "users.get_user_by_email", {}, analyze=True)
    with pytest.raises(QueryError, match="has no parameter 'mail'; it takes: email"):
        explain(sample_settings, catalog, "users.get_user_by_email", {"mail": "x"})
    url = sample_settings.database_url or ""
    bad = ["--project", str(SAMPLE), "explain", "users.get_user", "--url", url]
    assert main([*bad, "-p", "id=not-a-number", "--analyze"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    # The value the operator typed is shown as typed; so is every letter of the message.
    assert 'invalid input syntax for type uuid: "not-a-number"' in err
    assert main([*bad, "-p", "id=a", "--analyze"]) == 1
    assert 'error: invalid input syntax for type uuid: "a" in ' in capsys.readouterr().err
    assert main([*bad[:3], "users.nope", "--url", url]) == 1
    assert "no query named 'users.nope'" in capsys.readouterr().err
    # Connected through the tools' door: a missing database gets its advice, as in check.
    gone = psycopg.conninfo.make_conninfo(url, dbname="persistence_no_such_db")
    assert main([*bad[:3], "users.get_user", "--url", gone]) == 1
    assert capsys.readouterr().err == (
        "error: database 'persistence_no_such_db' does not exist: create it"
        " (createdb persistence_no_such_db) or point DATABASE_URL at one that does\n"
    )
