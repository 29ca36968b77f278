"""The pytest plugin as a consumer project uses it: a test suite of its own, run in a
subprocess against the server under test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from persistence import Settings

CONFTEST = """
def pytest_persistence_setup_template(settings):
    import psycopg
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute("insert into plans (name) values ('free')")
"""

TESTS = """
import os
from persistence import Database, Settings

def test_the_template_hook_loaded_its_data(db):
    assert db.fetch_value("select count(*) from plans") == 1

def test_the_app_reading_the_environment_gets_the_test_database(db):
    with Database(Settings.from_env()) as app:
        name = app.fetch_value("select current_database()")
    assert name == db.fetch_value("select current_database()")
    assert name.startswith("persistence_test_")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    assert name.endswith("_" + worker) if worker else True
    open(os.environ["SEEN"], "a").write(name + "\\n")

def test_each_test_rolls_back(db):
    db.execute("insert into plans (name) values ('temp')")
    assert db.fetch_value("select count(*) from plans") == 2
"""


@pytest.fixture
def consumer(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.persistence]\nmigrations = "migrations"\n')
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_plans.sql").write_text("create table plans (name text primary key);\n")
    (migrations / "0001_plans.rollback.sql").write_text("drop table plans;\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_app.py").write_text(TESTS)
    return tmp_path


@pytest.fixture
def templates(persistence_settings: Settings) -> Iterator[set[str]]:
    """Templates kept by --reuse-db during the test; dropped after it."""
    before = _templates(persistence_settings)
    made: set[str] = set()
    yield made
    made |= _templates(persistence_settings) - before
    with psycopg.connect(persistence_settings.conninfo(), autocommit=True) as conn:
        for name in made:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def _templates(settings: Settings) -> set[str]:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "select datname from pg_database where datname like 'persistence_tpl_%%'"
            " and shobj_description(oid, 'pg_database') = 'persistence template: complete'"
        ).fetchall()
    return {r[0] for r in rows}


def run(
    project: Path, settings: Settings, *args: str, dsn: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEEN": str(project / "seen.txt")}
    env.pop("DATABASE_URL", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--persistence-dsn={dsn or settings.database_url}",
        *args,
    ]
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_a_consumer_suite_runs_with_the_plugin(
    consumer: Path, persistence_settings: Settings
) -> None:
    done = run(consumer, persistence_settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    with psycopg.connect(persistence_settings.conninfo(), autocommit=True) as conn:
        seen = (consumer / "seen.txt").read_text().split()
        left = conn.execute("select count(*) from pg_database where datname = any(%s)", [seen])
        assert left.fetchone() == (0,), "the session database was dropped"


def test_reuse_db_migrates_once_and_keeps_the_template(
    consumer: Path, persistence_settings: Settings, templates: set[str]
) -> None:
    first = run(consumer, persistence_settings, "--reuse-db")
    assert first.returncode == 0, first.stdout + first.stderr
    kept = _templates(persistence_settings) - set()
    made = {t for t in kept if t not in templates}
    oid_before = _oids(persistence_settings, made)
    second = run(consumer, persistence_settings, "--reuse-db")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _oids(persistence_settings, made) == oid_before  # reused, not made again
    # A changed migration makes (and keeps) another template.
    (consumer / "migrations" / "0001_plans.sql").write_text(
        "create table plans (name text primary key, note text);\n"
    )
    third = run(consumer, persistence_settings, "--reuse-db")
    assert third.returncode == 0, third.stdout + third.stderr
    assert len(_templates(persistence_settings) - (kept - made)) >= 2


def _oids(settings: Settings, names: set[str]) -> dict[str, int]:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "select datname, oid::int from pg_database where datname = any(%s)", [list(names)]
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def test_each_xdist_worker_gets_its_own_database(
    consumer: Path, persistence_settings: Settings
) -> None:
    for i in range(4):  # enough tests that both workers run some
        (consumer / f"test_more_{i}.py").write_text(TESTS)
    # --dist each: both workers run every test, so both must have made a database.
    done = run(consumer, persistence_settings, "-n", "2", "--dist", "each")
    assert done.returncode == 0, done.stdout + done.stderr
    names = set((consumer / "seen.txt").read_text().split())
    assert len(names) == 2
    assert {n.rsplit("_", 1)[1] for n in names} == {"gw0", "gw1"}


def test_a_session_without_database_tests_touches_no_server(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.persistence]\n")
    (tmp_path / "test_plain.py").write_text("def test_nothing():\n    assert True\n")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PERSISTENCE_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],  # not -q: the header
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "started when a test needs a database" in done.stdout
    assert not (tmp_path / "home").exists(), "no embedded server was started"
    assert not (tmp_path / ".persistence").exists()


def test_a_role_without_createdb_is_told_what_to_do(
    consumer: Path, persistence_settings: Settings
) -> None:
    role = f"nocreatedb_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(persistence_settings.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        try:
            dsn = psycopg.conninfo.make_conninfo(persistence_settings.database_url or "", user=role)
            done = run(consumer, persistence_settings, dsn=dsn)
        finally:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
    assert done.returncode != 0
    assert f"alter role {role} createdb" in done.stdout + done.stderr
