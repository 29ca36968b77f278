"""Migrations on a real server: order, rollback, status, failures, locking, checksums."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pty
import re
import select
import selectors
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from persistence import MigrationError, PersistenceError, Settings
from persistence._migration_sql import new_migration
from persistence.check import check_migrations
from persistence.cli import main
from persistence.migrations import LOCK_KEY, Migrator
from persistence.seeds import seed


def write(folder: Path, mid: str, up: str, down: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{mid}.sql").write_text(up)
    if down is not None:
        (folder / f"{mid}.rollback.sql").write_text(down)
    return folder / f"{mid}.sql"


@pytest.fixture
def project(tmp_path: Path, empty_settings: Settings) -> Settings:
    """The test's own database with an empty project folder (and migrations folder)."""
    (tmp_path / "migrations").mkdir()
    return dataclasses.replace(
        empty_settings,
        project=tmp_path,
        migrations_dir=tmp_path / "migrations",
        seeds_dir=tmp_path / "seeds",
    )


@pytest.fixture
def three(project: Settings) -> Settings:
    """Three migrations whose dependency order is not their name order."""
    folder = project.migrations_dir
    assert folder is not None
    write(
        folder,
        "0001_orders",
        "-- depends: 0002_users\ncreate table orders (id int primary key,"
        " user_id int references users (id));\n",
        "drop table orders;\n",
    )
    write(
        folder,
        "0002_users",
        "create table users (id int primary key, email text);\n",
        "drop table users;\n",
    )
    write(
        folder,
        "0003_index",
        "-- depends: 0001_orders\ncreate index orders_user_idx on orders (user_id);\n",
        "drop index orders_user_idx;\n",
    )
    return project


def tables(settings: Settings) -> list[str]:
    with psycopg.connect(settings.conninfo()) as conn:
        rows = conn.execute(
            "select relname::text from pg_class where relnamespace = 'public'::regnamespace"
            " and relkind in ('r', 'i') and relname !~ '^_?yoyo|^_persistence' order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def quiet(settings: Settings, **kwargs: float) -> Migrator:
    return Migrator(settings, out=lambda _: None, **kwargs)


def test_migrate_applies_in_dependency_order(three: Settings) -> None:
    lines: list[str] = []
    applied = Migrator(three, out=lines.append).migrate()
    assert applied == ["0002_users", "0001_orders", "0003_index"]
    assert lines[0] == f"database  {three.masked_url}"
    assert len(lines) == 7
    for i, mid in enumerate(["0002_users", "0001_orders", "0003_index"]):
        assert lines[1 + 2 * i] == f"applying  {mid}"
        assert re.fullmatch(rf"applied   {mid:<44} +\d+\.\d ms", lines[2 + 2 * i])
    assert tables(three) == ["orders", "orders_pkey", "orders_user_idx", "users", "users_pkey"]
    # yoyo's own table stays the record of what is applied.
    with psycopg.connect(three.conninfo()) as conn:
        ids = conn.execute("select migration_id from _yoyo_migration order by 1").fetchall()
    assert [i[0] for i in ids] == ["0001_orders", "0002_users", "0003_index"]
    assert quiet(three).migrate() == []


def test_migrate_to_a_target_applies_only_what_it_needs(three: Settings) -> None:
    assert quiet(three).migrate(target="0001_orders") == ["0002_users", "0001_orders"]
    assert "orders_user_idx" not in tables(three)
    with pytest.raises(MigrationError, match="unknown migration 'nope'"):
        quiet(three).migrate(target="nope")


def test_rollback_by_steps_and_by_target(three: Settings) -> None:
    quiet(three).migrate()
    assert quiet(three).rollback() == ["0003_index"]
    assert "orders_user_idx" not in tables(three)
    quiet(three).migrate()
    assert quiet(three).rollback(target="0002_users") == ["0003_index", "0001_orders"]
    assert tables(three) == ["users", "users_pkey"]
    assert quiet(three).rollback(5) == ["0002_users"]
    assert tables(three) == []


def test_status_lists_every_migration(three: Settings, monkeypatch, capsys) -> None:
    quiet(three).migrate(target="0002_users")
    monkeypatch.setenv("DATABASE_URL", three.database_url)
    assert main(["--project", str(three.project), "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["applied", "pending", "pending"]
    assert lines[0].endswith("ok           0002_users")
    assert lines[1] == f"pending  {'-':<19}  pending      0001_orders"
    assert lines[2] == f"pending  {'-':<19}  pending      0003_index"


def test_failing_migration_names_file_and_line_and_leaves_nothing(
    project: Settings, monkeypatch, capsys
) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_ok", "create table ok (id int);\n", "drop table ok;\n")
    bad = write(
        folder,
        "0002_bad",
        "-- depends: 0001_ok\ncreate table half (id int);\n\ninsert into half values (1);\n"
        "select nme from half;\n",
        "drop table half;\n",
    )
    monkeypatch.setenv("DATABASE_URL", project.database_url)
    assert main(["--project", str(project.project), "migrate"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f'error: {bad}:5: column "nme" does not exist\n'
    assert "applied   0001_ok" in captured.out
    assert tables(project) == ["ok"], "the failed migration left something behind"
    assert [s.state for s in quiet(project).status()] == ["ok", "pending"]


def test_a_failing_data_migration_does_not_print_the_rows_values(
    project: Settings, monkeypatch, capsys
) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(
        folder,
        "0001_people",
        "create table people (email text unique, age int);\n"
        "insert into people values ('ada@example.com', 36);\n",
        "drop table people;\n",
    )
    write(
        folder,
        "0002_adults",
        "-- depends: 0001_people\nalter table people add check (age > 40);\n",
        "alter table people drop constraint people_age_check;\n",
    )
    monkeypatch.setenv("DATABASE_URL", project.database_url)
    assert main(["--project", str(project.project), "migrate"]) == 1
    err = capsys.readouterr().err
    assert "violated by some row" in err
    write(
        folder,
        "0002_adults",
        "-- depends: 0001_people\ninsert into people values ('ada@example.com', 50);\n",
        "delete from people where age = 50;\n",
    )
    assert main(["--project", str(project.project), "migrate"]) == 1
    err = capsys.readouterr().err
    assert "Key (email) already exists" in err
    assert "ada@example.com" not in err
    assert "36" not in err


def test_migrate_refuses_a_migration_needing_a_missing_extension_before_applying_any(
    project: Settings, monkeypatch, capsys
) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_ok", "create table ok (id int);\n", "drop table ok;\n")
    needs = write(
        folder,
        "0002_embeddings",
        "-- depends: 0001_ok\n-- requires: no_such_extension\n"
        "create extension no_such_extension;\n",
        "drop extension no_such_extension;\n",
    )
    write(folder, "0003_after", "-- depends: 0002_embeddings\nselect 1;\n", "select 1;\n")
    monkeypatch.setenv("DATABASE_URL", project.database_url)
    assert main(["--project", str(project.project), "migrate"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: migration 0002_embeddings ({needs}) needs the extension no_such_extension,"
        " which this server does not have (and 1 more): install it on the database server,"
        " then migrate again; nothing was applied\n"
    )
    assert tables(project) == [], "a migration was applied before the refusal"
    # What does not need it still applies on its own, and check/types skip the rest.
    assert quiet(project).migrate(target="0001_ok") == ["0001_ok"]
    lines: list[str] = []
    assert Migrator(project, out=lines.append).migrate(skip_unavailable=True) == []
    assert lines[1:] == [
        "skipped   0002_embeddings: needs the extension no_such_extension, which this server"
        " does not have",
        "skipped   0003_after: depends on 0002_embeddings, which needs the extension"
        " no_such_extension, which this server does not have",
        "nothing to apply",
    ]
    # An extension the server has passes (plpgsql is in every database).
    (folder / "0002_embeddings.sql").write_text(
        "-- depends: 0001_ok\n-- requires: plpgsql\nselect 1;\n"
    )
    assert quiet(project).migrate() == ["0002_embeddings", "0003_after"]


def test_concurrent_migrate_processes_apply_each_migration_once(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_log", "create table log (n int);\n", "drop table log;\n")
    write(
        folder,
        "0002_data",
        "-- depends: 0001_log\nselect pg_sleep(0.3);\ninsert into log values (1);\n",
        "delete from log;\n",
    )
    env = {**os.environ, "DATABASE_URL": project.database_url or ""}
    cmd = [sys.executable, "-m", "persistence", "--project", str(project.project), "migrate"]
    runs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0]
    assert sum(out.count("applied   0002_data") for out in outputs) == 1
    assert sum(out.count("nothing to apply") for out in outputs) == 3
    with psycopg.connect(project.conninfo()) as conn:
        assert conn.execute("select count(*) from log").fetchone() == (1,)
        assert conn.execute("select count(*) from _yoyo_migration").fetchone() == (2,)


def test_killed_migrate_leaves_no_lock_and_no_partial_state(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(
        folder,
        "0001_slow",
        "create table slow (id int);\n"
        "select pg_sleep(case when current_setting('application_name') = 'doomed'"
        " then 60 else 0 end);\n",
        "drop table slow;\n",
    )
    env = {
        **os.environ,
        "DATABASE_URL": project.database_url or "",
        "DB_APPLICATION_NAME": "doomed",
    }
    cmd = [sys.executable, "-m", "persistence", "--project", str(project.project), "migrate"]
    doomed = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    with psycopg.connect(project.conninfo(), autocommit=True) as conn:
        for _ in range(300):  # wait until it is inside the migration
            row = conn.execute(
                "select count(*) from pg_stat_activity where application_name = 'doomed'"
                " and query like '%%pg_sleep%%' and state = 'active'"
            ).fetchone()
            if row and row[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the migration never started")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    # No break-lock: the server released the session lock with the dead session.
    assert quiet(project, lock_wait=30).migrate() == ["0001_slow"]
    assert tables(project) == ["slow"]
    assert [s.state for s in quiet(project).status()] == ["ok"]


def test_an_edited_applied_migration_is_detected(three: Settings, monkeypatch, capsys) -> None:
    quiet(three).migrate()
    folder = three.migrations_dir
    assert folder is not None
    path = folder / "0002_users.sql"
    path.write_text(path.read_text() + "-- an innocent edit\n")
    with pytest.raises(MigrationError, match=r"'0002_users' was edited.*persistence accept"):
        quiet(three).migrate()
    monkeypatch.setenv("DATABASE_URL", three.database_url)
    assert main(["--project", str(three.project), "status"]) == 1
    assert "changed      0002_users" in capsys.readouterr().out
    quiet(three).accept(["0002_users"])
    assert [s.state for s in quiet(three).status()] == ["ok", "ok", "ok"]


def test_rollback_uses_the_sql_stored_at_apply_time(three: Settings) -> None:
    quiet(three).migrate()
    folder = three.migrations_dir
    assert folder is not None
    (folder / "0003_index.sql").unlink()
    (folder / "0003_index.rollback.sql").unlink()
    assert quiet(three).status()[-1].state == "file missing"
    assert quiet(three).rollback() == ["0003_index"]
    assert "orders_user_idx" not in tables(three)


def test_migrate_refuses_while_an_applied_file_is_missing(three: Settings, capsys) -> None:
    quiet(three).migrate()
    folder = three.migrations_dir
    assert folder is not None
    (folder / "0003_index.sql").unlink()
    (folder / "0003_index.rollback.sql").unlink()
    write(folder, "0004_more", "create table more (id int);\n", "drop table more;\n")
    # status fails on it; migrate said "nothing to apply" (or applied the rest), exit 0.
    assert run_cli(three, "status") == 1
    capsys.readouterr()
    assert run_cli(three, "migrate") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"error: applied migration 0003_index is missing from {folder}: put the file back,"
        " or roll it back first (`persistence rollback` uses the SQL stored when it was"
        " applied); nothing was applied\n"
    )
    assert "more" not in tables(three)


def test_migrate_warns_of_a_migration_without_a_rollback(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    (folder / "0001_once.sql").write_text("create table once (id int);\n")
    lines: list[str] = []
    assert Migrator(project, out=lines.append).migrate() == ["0001_once"]
    assert lines[1] == (
        f"warning   0001_once has no rollback file ({folder / '0001_once.rollback.sql'}):"
        " `persistence rollback` will not be able to undo it"
    )
    assert lines[2] == "applying  0001_once"


def test_dry_run_prints_sql_and_changes_nothing(three: Settings) -> None:
    lines: list[str] = []
    assert Migrator(three, out=lines.append).migrate(dry_run=True) == [
        "0002_users",
        "0001_orders",
        "0003_index",
    ]
    assert "dry run" in lines[0]
    assert "create table users (id int primary key, email text);" in "\n".join(lines)
    assert tables(three) == []
    quiet(three).migrate()
    lines.clear()
    Migrator(three, out=lines.append).rollback(dry_run=True)
    assert "drop index orders_user_idx;" in "\n".join(lines)
    assert "orders_user_idx" in tables(three)


def test_new_depends_on_the_current_heads(three: Settings) -> None:
    assert three.migrations_dir is not None
    up, down = new_migration(three.migrations_dir, "add_email_index")
    assert up.name == "0004_add_email_index.sql"
    assert down.name == "0004_add_email_index.rollback.sql"
    assert "-- depends: 0003_index\n" in up.read_text()
    with pytest.raises(MigrationError, match="lowercase"):
        new_migration(three.migrations_dir, "Drop Table;")


def test_unknown_dependencies_and_cycles_are_clear(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    a = write(folder, "0001_a", "-- depends: 0009_ghost\nselect 1;\n", "select 1;\n")
    with pytest.raises(MigrationError, match=rf"{a}: -- depends: names '0009_ghost'"):
        quiet(project).load()
    write(folder, "0001_a", "-- depends: 0002_b\nselect 1;\n", "select 1;\n")
    write(folder, "0002_b", "-- depends: 0001_a\nselect 1;\n", "select 1;\n")
    with pytest.raises(
        MigrationError, match="circular dependencies among these migrations: 0001_a, 0002_b"
    ):
        quiet(project).load()


def test_non_transactional_migration(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_t", "create table t (id int);\n", "drop table t;\n")
    write(
        folder,
        "0002_concurrently",
        "-- depends: 0001_t\n-- transactional: false\ncreate index concurrently t_id on t (id);\n",
        "-- transactional: false\ndrop index concurrently t_id;\n",
    )
    assert quiet(project).migrate() == ["0001_t", "0002_concurrently"]
    assert "t_id" in tables(project)
    # Its rollback, also `-- transactional: false`, runs outside a transaction too.
    assert quiet(project).rollback() == ["0002_concurrently"]
    assert "t_id" not in tables(project)


def test_lock_timeout_header_keeps_ddl_from_queueing(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_t", "create table t (id int);\n", "drop table t;\n")
    quiet(project).migrate()
    path = write(
        folder,
        "0002_alter",
        "-- depends: 0001_t\n-- lock_timeout: 200ms\nalter table t add column name text;\n",
        "alter table t drop column name;\n",
    )
    with psycopg.connect(project.conninfo()) as reader:
        reader.execute("select * from t")  # holds a lock until this transaction ends
        with pytest.raises(MigrationError, match=rf"{path}:3: canceling statement due to lock"):
            quiet(project).migrate()
    assert quiet(project).migrate() == ["0002_alter"]


def test_check_proves_rollbacks_and_reports_the_difference(three: Settings) -> None:
    lines: list[str] = []
    assert check_migrations(three, out=lines.append) == []
    assert lines == [
        "ok      migration 0002_users",
        "ok      migration 0001_orders",
        "ok      migration 0003_index",
    ]
    assert tables(three) == [], "check must not touch the configured database"

    folder = three.migrations_dir
    assert folder is not None
    (folder / "0001_orders.rollback.sql").write_text("alter table orders drop column user_id;\n")
    problems = check_migrations(three, out=lambda _: None)
    assert len(problems) == 1
    assert problems[0].startswith("0001_orders: rollback does not restore the schema")
    assert "  + relations: r public.orders" in problems[0]
    assert "  + constraints: public.orders orders_pkey: PRIMARY KEY (id)" in problems[0]

    (folder / "0001_orders.rollback.sql").unlink()
    assert check_migrations(three, out=lambda _: None) == [
        f"0001_orders: {folder / '0001_orders.rollback.sql'} is missing;"
        " every migration needs a rollback"
    ]


def test_check_sees_a_forgotten_trigger(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(
        folder,
        "0001_touch",
        "create table t (id int, updated_at timestamptz);\n"
        "create function touch() returns trigger language plpgsql as $$\n"
        "begin new.updated_at := now(); return new; end $$;\n"
        "create trigger t_touch before update on t for each row execute function touch();\n",
        "drop table t;\n",  # forgets the function
    )
    problems = check_migrations(project, out=lambda _: None)
    assert len(problems) == 1
    assert "  + functions: CREATE OR REPLACE FUNCTION public.touch()" in problems[0]


def test_seed_loads_data_and_names_a_failing_line(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_t", "create table t (id int primary key);\n", "drop table t;\n")
    quiet(project).migrate()
    seeds = project.seeds_dir
    assert seeds is not None
    seeds.mkdir()
    (seeds / "01_rows.sql").write_text("insert into t values (1), (2) on conflict do nothing;\n")
    assert [p.name for p in seed(project, out=lambda _: None)] == ["01_rows.sql"]
    (seeds / "02_bad.sql").write_text("\n\ninsert into t values ('x');\n")
    with pytest.raises(MigrationError, match=r"02_bad.sql:3: invalid input syntax"):
        seed(project, out=lambda _: None)
    with psycopg.connect(project.conninfo()) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (2,)


def test_seed_reports_files_only_once_committed(project: Settings, monkeypatch, capsys) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_t", "create table t (id int primary key);\n", "drop table t;\n")
    quiet(project).migrate()
    seeds = project.seeds_dir
    assert seeds is not None
    seeds.mkdir()
    (seeds / "001_x.sql").write_text("insert into t values (1);\n")
    (seeds / "002_bad.sql").write_text("insert into t (id, nme) values (2, 'x');\n")
    monkeypatch.setenv("DATABASE_URL", project.database_url or "")
    assert main(["--project", str(project.project), "seed"]) == 1
    out, err = capsys.readouterr()
    assert "seeded" not in out  # 001's row was rolled back with 002's failure
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert '002_bad.sql:1: column "nme"' in err
    assert err.endswith(
        "nothing was seeded (one transaction): 001_x.sql rolled back too; fix the file and"
        " run seed again\n"
    )
    with psycopg.connect(project.conninfo()) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (0,)
    (seeds / "002_bad.sql").write_text("insert into t (id) values (2);\n")
    assert main(["--project", str(project.project), "seed"]) == 0
    assert capsys.readouterr().out == "seeded    001_x.sql\nseeded    002_bad.sql\n"


def test_seed_and_reset_refuse_production(three: Settings, monkeypatch, capsys) -> None:
    production = dataclasses.replace(three, env="production", sslmode="disable")
    with pytest.raises(PersistenceError, match="refusing to seed a production database"):
        seed(production, out=lambda _: None)
    with pytest.raises(PersistenceError, match="refusing to reset a production database"):
        quiet(production).reset()
    monkeypatch.setenv("DATABASE_URL", three.database_url)
    monkeypatch.setenv("PERSISTENCE_ENV", "production")
    monkeypatch.setenv("DB_SSLMODE", "disable")
    assert main(["--project", str(three.project), "reset", "--yes"]) == 1
    assert "refusing to reset" in capsys.readouterr().err


def test_reset_asks_first(three: Settings, monkeypatch, capsys) -> None:
    quiet(three).migrate()
    monkeypatch.setenv("DATABASE_URL", three.database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal: nobody to ask
    assert main(["--project", str(three.project), "reset"]) == 1
    assert capsys.readouterr().err == (
        "error: refusing to reset the database without confirmation: there is no terminal"
        " to ask on; pass --yes to confirm\n"
    )
    assert "orders_user_idx" in tables(three)
    assert main(["--project", str(three.project), "reset", "--yes"]) == 0
    assert "orders_user_idx" in tables(three)


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url or "", **extra}


def cli(settings: Settings, *args: str) -> list[str]:
    return [sys.executable, "-m", "persistence", "--project", str(settings.project), *args]


def wait_for(conn: psycopg.Connection, query: str, *params: object) -> None:
    for _ in range(600):
        row = conn.execute(query, params).fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    pytest.fail(f"never true: {query}")


def test_lock_wait_outlasts_statement_timeout_and_names_the_holder(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_t", "create table t (id int);\n", "drop table t;\n")
    holder = psycopg.connect(project.conninfo() + " application_name=deploy-a", autocommit=True)
    with holder:
        holder.execute("select pg_advisory_lock(%s)", [LOCK_KEY])
        pid = holder.info.backend_pid
        # Limit from the environment, shorter than the wait: the error names the holder.
        started = time.monotonic()
        run = subprocess.run(
            cli(project, "migrate"),
            env=cli_env(project, DB_STATEMENT_TIMEOUT="0.5", DB_MIGRATION_LOCK_TIMEOUT="2"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert time.monotonic() - started >= 2
        assert run.returncode == 1
        assert re.fullmatch(
            r"error: gave up waiting for the migration lock after 2 s: it is held by"
            rf" pid {pid} \(application_name 'deploy-a', since \d{{4}}-\d\d-\d\d"
            r" \d\d:\d\d:\d\d UTC, \d+ s ago\), whose migration run is still going; run again"
            r" when it ends, or wait longer with --lock-timeout SECONDS"
            r" \(DB_MIGRATION_LOCK_TIMEOUT\)\n",
            run.stderr,
        ), run.stderr
        assert tables(project) == []

        # --lock-timeout longer than the other run: the wait outlasts a 0.5 s
        # statement_timeout and the migration then applies.
        waiter = subprocess.Popen(
            cli(project, "migrate", "--lock-timeout", "60"),
            env=cli_env(project, DB_STATEMENT_TIMEOUT="0.5", DB_APPLICATION_NAME="waiter"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(
            holder,
            "select count(*) from pg_stat_activity where application_name = 'waiter'"
            " and wait_event_type = 'Lock'",
        )
        time.sleep(1.5)  # three statement timeouts
        holder.execute("select pg_advisory_unlock(%s)", [LOCK_KEY])
        out, err = waiter.communicate(timeout=60)
    assert (waiter.returncode, err) == (0, "")
    assert re.match(
        rf"waiting up to 60 s for the migration lock, held by pid {pid} \(application_name"
        r" 'deploy-a', since .* UTC, \d+ s ago\)$",
        out.splitlines()[0],
    )
    assert tables(project) == ["t"]


def test_lock_timeout_zero_does_not_wait(project: Settings) -> None:
    with psycopg.connect(project.conninfo(), autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", [LOCK_KEY])
        with pytest.raises(MigrationError, match=r"^the migration lock is held by pid \d+ "):
            quiet(project, lock_wait=0).migrate()


def test_migration_statements_are_not_cut_by_the_session_statement_timeout(
    project: Settings,
) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_slow", "select pg_sleep(1.2);\n", "select pg_sleep(1.2);\n")
    short = dataclasses.replace(project, statement_timeout=0.5)
    assert quiet(short).migrate() == ["0001_slow"]
    assert quiet(short).rollback() == ["0001_slow"]
    # A migration's own header still limits it.
    write(folder, "0001_slow", "-- statement_timeout: 300ms\nselect pg_sleep(1.2);\n")
    with pytest.raises(MigrationError, match="canceling statement due to statement timeout"):
        quiet(short).migrate()


def test_lock_timeout_flag_and_variable_are_validated(capsys) -> None:
    for bad in ("-1", "inf", "nan"):
        assert main(["migrate", "--lock-timeout", bad]) == 2
        assert f"must be 0 or more seconds, not '{bad}'" in capsys.readouterr().err
    assert main(["migrate", "--lock-timeout", "soon"]) == 2
    assert "not a number of seconds: 'soon'" in capsys.readouterr().err
    with pytest.raises(
        PersistenceError, match="DB_MIGRATION_LOCK_TIMEOUT must be a number of seconds"
    ):
        Settings.from_env({"DB_MIGRATION_LOCK_TIMEOUT": "10m"})


def test_progress_shows_the_running_migration_while_it_runs(project: Settings) -> None:
    folder = project.migrations_dir
    assert folder is not None
    write(folder, "0001_gate", "create table gate (id int);\n", "drop table gate;\n")
    quiet(project).migrate()
    write(
        folder,
        "0002_wait",
        "-- depends: 0001_gate\n-- lock_timeout: 60s\nlock table gate;\n",
        "select 1;\n",
    )
    with psycopg.connect(project.conninfo()) as gate:
        gate.execute("lock table gate")  # 0002_wait waits until this transaction ends
        run = subprocess.Popen(
            cli(project, "migrate"), env=cli_env(project), stdout=subprocess.PIPE
        )
        assert run.stdout is not None
        fd = run.stdout.fileno()
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        seen = b""
        while b"applying  0002_wait\n" not in seen:
            assert selector.select(timeout=30), f"no progress line, only {seen!r}"
            seen += os.read(fd, 4096)
        selector.close()
        assert seen.decode().splitlines() == [
            f"database  {project.masked_url}",
            "applying  0002_wait",
        ]
        time.sleep(1.1)
    rest = run.communicate(timeout=60)[0].decode().splitlines()
    assert run.returncode == 0
    assert re.fullmatch(r"applied   0002_wait {35} +1\.\d\d s", rest[0]), rest
    assert rest[1:] == []


def test_rollback_progress_lines(three: Settings) -> None:
    quiet(three).migrate()
    lines: list[str] = []
    Migrator(three, out=lines.append).rollback(2)
    assert lines[1] == "rolling back 0003_index"
    assert re.fullmatch(r"rolled back 0003_index {32} +\d+\.\d ms", lines[2])
    assert lines[3] == "rolling back 0001_orders"
    assert len(lines) == 5


def run_cli(settings: Settings, *args: str) -> int:
    """The CLI on the test's project and database, given by --url (not the environment)."""
    return main(["--project", str(settings.project), *args, "--url", settings.database_url or ""])


@pytest.fixture
def no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # --url must win: an environment pointing nowhere proves it is not used.
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nowhere")


@pytest.mark.usefixtures("no_env_url")
def test_status_json_and_check(three: Settings, capsys) -> None:
    quiet(three).migrate(target="0002_users")
    assert run_cli(three, "status", "--json") == 0  # pending is no failure without --check
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert err == ""
    assert report["database"] == three.masked_url
    assert (report["pending"], report["changed"]) == (2, 0)
    [users, orders, index] = report["migrations"]
    assert (users["id"], users["state"]) == ("0002_users", "ok")
    applied_at = datetime.fromisoformat(users["applied_at"])
    assert abs((datetime.now(UTC) - applied_at).total_seconds()) < 60
    assert orders == {"id": "0001_orders", "state": "pending", "applied_at": None}
    assert index == {"id": "0003_index", "state": "pending", "applied_at": None}

    assert run_cli(three, "status", "--check") == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[1] == f"pending  {'-':<19}  pending      0001_orders"
    assert err == ("error: 2 pending (0001_orders, 0003_index): run `persistence migrate`\n")
    quiet(three).migrate()
    assert run_cli(three, "status", "--check") == 0
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("no_env_url")
def test_migrate_check_is_a_ci_gate(three: Settings, capsys) -> None:
    assert run_cli(three, "migrate", "--check") == 1
    out, err = capsys.readouterr()
    assert out == (
        f"database  {three.masked_url} (check: nothing is changed)\n"
        "pending      0002_users\npending      0001_orders\npending      0003_index\n"
    )
    assert err == (
        "error: 3 pending (0002_users, 0001_orders, 0003_index): run `persistence migrate`\n"
    )
    assert tables(three) == []
    quiet(three).migrate()
    assert run_cli(three, "migrate", "--check") == 0
    assert capsys.readouterr() == (
        f"database  {three.masked_url} (check: nothing is changed)\n"
        "up to date: 3 migrations applied\n",
        "",
    )
    folder = three.migrations_dir
    assert folder is not None
    (folder / "0003_index.rollback.sql").write_text("drop index if exists orders_user_idx;\n")
    assert run_cli(three, "migrate", "--check") == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[1:] == ["changed      0003_index"]
    assert err == (
        "error: 1 applied changed or missing (0003_index): put the file back, or, if the"
        " change is already in the database, `persistence accept ID` records the file as"
        " applied without running it\n"
    )
    # A plain status fails on it too, with the same line.
    assert run_cli(three, "status") == 1
    assert capsys.readouterr().err == err
    assert run_cli(three, "migrate", "--check", "--target", "0003_index") == 2
    assert capsys.readouterr().err == (
        "persistence: error: migrate --check looks at every migration; it takes no --target\n"
    )
    assert run_cli(three, "migrate", "--check", "--dry-run") == 2


def test_status_reads_without_the_lock_or_write_access(three: Settings, capsys) -> None:
    # During another run's migration (it holds the lock), status answers at once.
    with psycopg.connect(three.conninfo(), autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", [LOCK_KEY])
        started = time.monotonic()
        assert [s.state for s in quiet(three, lock_wait=30).status()] == ["pending"] * 3
        assert time.monotonic() - started < 5
    assert tables(three) == []
    with psycopg.connect(three.conninfo()) as conn:  # and it created nothing
        assert conn.execute("select to_regclass('_yoyo_migration')").fetchone() == (None,)


def test_every_database_command_takes_url(three: Settings, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nowhere")
    assert run_cli(three, "migrate") == 0
    assert capsys.readouterr().out.startswith(f"database  {three.masked_url}\n")
    assert run_cli(three, "rollback", "--dry-run") == 0
    assert "-- would roll back 0003_index" in capsys.readouterr().out
    assert run_cli(three, "health", "--json") == 0
    assert json.loads(capsys.readouterr().out)["url"] == three.masked_url
    # Asked to seed or type with nothing to do it from: a failure, saying so.
    assert run_cli(three, "seed") == 1
    assert capsys.readouterr().err.startswith(f"error: no seed files in {three.seeds_dir}: ")
    assert run_cli(three, "types") == 1
    assert capsys.readouterr().err.startswith("error: no typed module configured for ")
    # This test is about --url: squawk's findings on these migrations are acknowledged.
    (three.project / ".squawk.toml").write_text(
        "excluded_rules = ['prefer-bigint-over-int', 'require-concurrent-index-creation',"
        " 'require-concurrent-index-deletion']\n"
    )
    assert run_cli(three, "check") == 0  # its scratch database is made on --url's server
    assert capsys.readouterr().out.splitlines()[-1] == "check passed"
    # The unreachable environment's database, for contrast: one line, exit 1.
    assert main(["--project", str(three.project), "status"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def on_terminal(cmd: list[str], env: dict[str, str], answer: bytes) -> tuple[int, str]:
    """Run `cmd` with a pseudo-terminal as stdin/stdout/stderr; answer its question."""
    leader, follower = pty.openpty()
    run = subprocess.Popen(cmd, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    try:
        while b"[y/N] " not in seen:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, f"no question asked: {seen!r}"
            seen += os.read(leader, 4096)
        os.write(leader, answer + b"\n")
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            assert ready, f"no end: {seen!r}"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            seen += chunk
        code = run.wait(timeout=60)
    finally:
        os.close(leader)
        if run.poll() is None:
            run.kill()
            run.wait()
    return code, seen.decode().replace("\r\n", "\n")


def test_rollback_in_production_asks_first(three: Settings) -> None:
    quiet(three).migrate()
    env = cli_env(three, PERSISTENCE_ENV="production", DB_SSLMODE="disable")
    url = three.masked_url
    # No terminal, no --yes: refused, nothing rolled back.
    run = subprocess.run(
        cli(three, "rollback", "--steps", "2"),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == (
        "error: refusing to roll back the production database without confirmation: there is"
        " no terminal to ask on; pass --yes to confirm\n"
    )
    assert "orders_user_idx" in tables(three)
    # A dry run changes nothing: no question.
    run = subprocess.run(
        cli(three, "rollback", "--dry-run"),
        env=env,
        stdin=subprocess.DEVNULL,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0
    # On a terminal: "n" changes nothing, "y" rolls back.
    question = (
        f"roll back 2 migrations (0003_index, 0001_orders) on the production database {url}? [y/N] "
    )
    code, output = on_terminal(cli(three, "rollback", "--steps", "2"), env, b"n")
    assert code == 1
    assert output == (
        f"{question}n\nerror: not confirmed: nothing was changed (--yes skips the question)\n"
    )
    assert "orders_user_idx" in tables(three)
    code, output = on_terminal(cli(three, "rollback", "--steps", "2"), env, b"y")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[:3] == [f"{question}y", f"database  {url}", "rolling back 0003_index"]
    assert tables(three) == ["users", "users_pkey"]
    # --yes: no question, also without a terminal.
    run = subprocess.run(
        cli(three, "rollback", "--yes"),
        env=env,
        stdin=subprocess.DEVNULL,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines()[:2] == [f"database  {url}", "rolling back 0002_users"]
    assert tables(three) == []


def yoyo_url(settings: Settings) -> str:
    p = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    return f"postgresql+psycopg://{p['user']}@{p['host']}:{p['port']}/{p['dbname']}"


@pytest.mark.usefixtures("no_env_url")
def test_baseline_adopts_an_existing_database(three: Settings, capsys) -> None:
    with psycopg.connect(three.conninfo(), autocommit=True) as conn:  # made by hand
        conn.execute("create table users (id int primary key, email text)")
        conn.execute("create table orders (id int primary key, user_id int references users)")
    assert run_cli(three, "baseline", "--target", "0001_orders") == 0
    assert capsys.readouterr().out == (
        f"database  {three.masked_url}\n"
        "baselined 0002_users (recorded as applied, not run)\n"
        "baselined 0001_orders (recorded as applied, not run)\n"
    )
    assert [s.state for s in quiet(three).status()] == ["ok", "ok", "pending"]
    assert run_cli(three, "accept", "0003_index") == 1
    assert capsys.readouterr().err == (
        "error: '0003_index' is not applied, so there is nothing to accept\n"
    )
    assert quiet(three).migrate() == ["0003_index"]
    # Recorded as migrate records: the stored rollback SQL runs, the edit check works.
    folder = three.migrations_dir
    assert folder is not None
    (folder / "0002_users.rollback.sql").write_text("select 1;\n")
    with pytest.raises(MigrationError, match="'0002_users' was edited"):
        quiet(three).migrate()
    (folder / "0002_users.rollback.sql").write_text("drop table users;\n")
    assert quiet(three).rollback(3) == ["0003_index", "0001_orders", "0002_users"]
    assert tables(three) == []
    with psycopg.connect(three.conninfo()) as conn:
        ops = conn.execute(
            "select operation from _yoyo_log where migration_id = '0002_users'"
            " order by created_at_utc"
        ).fetchall()
    assert [o[0] for o in ops] == ["mark", "rollback"]

    assert run_cli(three, "baseline") == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    assert run_cli(three, "baseline") == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "nothing to baseline: every migration asked for is already recorded"
    )
    assert run_cli(three, "baseline", "--target", "9999_nope") == 1
    assert capsys.readouterr().err == (
        f"error: unknown migration '9999_nope' in {three.migrations_dir}\n"
    )


@pytest.mark.usefixtures("no_env_url")
def test_accept_after_yoyo_mark_is_an_error_and_baseline_records_it(
    three: Settings, capsys
) -> None:
    # yoyo's own `mark`: its table says applied, persistence has no record.
    subprocess.run(
        [sys.executable, "-m", "yoyo", "mark", "--batch", "--no-config-file", "-d",
         yoyo_url(three), str(three.migrations_dir)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert [s.state for s in quiet(three).status()] == ["unrecorded"] * 3
    assert run_cli(three, "accept", "0002_users") == 1
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "error: '0002_users' is marked applied (by yoyo mark or another tool) but persistence"
        " has no record of it to replace; record it with"
        " `persistence baseline --target 0002_users`\n",
    )
    assert run_cli(three, "baseline", "--target", "0002_users") == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "baselined 0002_users (recorded as applied, not run)"
    ]
    assert [s.state for s in quiet(three).status()] == ["ok", "unrecorded", "unrecorded"]
    assert run_cli(three, "accept", "0002_users") == 1
    assert capsys.readouterr().err == (
        "error: '0002_users' is unchanged since it was applied: nothing to accept\n"
    )
    assert run_cli(three, "accept", "0009_ghost") == 1
    assert capsys.readouterr().err == (
        f"error: '0009_ghost' is not a migration in {three.migrations_dir}\n"
    )


def psql(settings: Settings, text: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    return subprocess.run(
        ["psql", "-X", "-q", "-d", settings.database_url or "", "-f", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.usefixtures("no_env_url")
def test_show_prints_sql_a_dba_runs_in_psql(three: Settings, capsys) -> None:
    folder = three.migrations_dir
    assert folder is not None
    assert main(["--project", str(three.project), "show", "0002_users"]) == 0  # no database
    shown = capsys.readouterr().out
    assert shown == (
        f"-- {folder / '0002_users.sql'}, as `persistence migrate` runs it\n"
        "-- Run by hand, it is not recorded as applied: then run"
        " `persistence baseline --target 0002_users`.\n"
        "\\set ON_ERROR_STOP on\n"
        "begin;\n"
        "set local lock_timeout = '5s';\n"
        "set local statement_timeout = '15min';\n"
        "create table users (id int primary key, email text);\n"
        "commit;\n"
    )
    ran = psql(three, shown)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert tables(three) == ["users", "users_pkey"]
    assert run_cli(three, "baseline", "--target", "0002_users") == 0
    capsys.readouterr()

    # The rollback as `rollback` runs it: the SQL stored at apply time, not the file.
    (folder / "0002_users.rollback.sql").write_text("drop table users cascade;\n")
    assert run_cli(three, "show", "0002_users", "--rollback") == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[0] == (
        "-- rollback of 0002_users: the rollback SQL stored when it was applied"
    )
    assert shown.splitlines()[-2:] == ["drop table users;", "commit;"]
    ran = psql(three, shown)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert tables(three) == []

    # Headers resolved: its own timeouts, and no transaction for CONCURRENTLY.
    write(
        folder,
        "0004_concurrently",
        "-- depends: 0003_index\n-- transactional: false\n-- lock_timeout: 2s\n"
        "create index concurrently users_email on users (email);\n",
        "drop index concurrently users_email;\n",
    )
    assert run_cli(three, "show", "0004_concurrently") == 0
    assert capsys.readouterr().out.splitlines()[2:] == [
        "\\set ON_ERROR_STOP on",
        "-- migration marked -- transactional: false: each statement commits on its own",
        "set lock_timeout = '2s';",
        "set statement_timeout = '15min';",
        "-- depends: 0003_index",
        "-- transactional: false",
        "-- lock_timeout: 2s",
        "create index concurrently users_email on users (email);",
        "reset lock_timeout;",
        "reset statement_timeout;",
    ]
    assert run_cli(three, "show", "0009_ghost") == 1
    assert capsys.readouterr().err == (f"error: unknown migration '0009_ghost' in {folder}\n")


@pytest.mark.usefixtures("no_env_url")
def test_history_and_heads(three: Settings, capsys) -> None:
    assert run_cli(three, "history") == 0
    assert capsys.readouterr().out == "no migration applied\n"
    with psycopg.connect(three.conninfo(), autocommit=True) as conn:  # made by hand
        conn.execute("create table users (id int primary key, email text)")
    assert run_cli(three, "baseline", "--target", "0002_users") == 0
    quiet(three).migrate()
    capsys.readouterr()
    assert run_cli(three, "history") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2:4] for line in lines] == [
        ["marked", "0002_users"],
        ["applied", "0001_orders"],
        ["applied", "0003_index"],
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  marked   0002_users  \S+@\S+", lines[0])
    assert run_cli(three, "history", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["database"] == three.masked_url
    assert [(e["id"], e["operation"]) for e in report["history"]] == [
        ("0002_users", "mark"),
        ("0001_orders", "apply"),
        ("0003_index", "apply"),
    ]
    assert datetime.fromisoformat(report["history"][0]["applied_at"]).tzinfo == UTC

    base = ["--project", str(three.project)]
    assert main([*base, "heads"]) == 0
    assert capsys.readouterr().out == "0003_index\n"
    folder = three.migrations_dir
    assert folder is not None
    write(folder, "0004_other", "-- depends: 0002_users\nselect 1;\n", "select 1;\n")
    assert main([*base, "heads", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"heads": ["0003_index", "0004_other"]}


def test_lock_holder_of_another_role_shows_what_is_visible(project: Settings) -> None:
    role = f"persistence_ro_{os.getpid()}"
    with psycopg.connect(project.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        try:
            admin.execute("select pg_advisory_lock(%s)", [LOCK_KEY])
            params = psycopg.conninfo.conninfo_to_dict(project.database_url or "")
            params["user"] = role
            other = project.with_url(psycopg.conninfo.make_conninfo("", **params))
            # Without pg_read_all_stats, another role's session start is hidden.
            with pytest.raises(MigrationError) as info:
                quiet(other, lock_wait=0).migrate()
            assert str(info.value).startswith(
                f"the migration lock is held by pid {admin.info.backend_pid} (application_name"
                f" {project.application_name!r}, since: not visible to this role)"
            )
        finally:
            admin.execute("select pg_advisory_unlock_all()")
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


@pytest.mark.usefixtures("no_env_url")
def test_a_migration_without_a_statement_is_refused_before_anything_is_applied(
    three: Settings, capsys
) -> None:
    # `persistence new`, then `migrate` before the SQL is written: applied empty, the SQL
    # written later would read as an edit, and `accept` would record it as run.
    folder = three.migrations_dir
    assert folder is not None
    assert main(["--project", str(three.project), "new", "add_rating"]) == 0
    up, down = folder / "0004_add_rating.sql", folder / "0004_add_rating.rollback.sql"
    assert capsys.readouterr().out.splitlines() == [
        f"created   {up}",
        f"created   {down}",
        f"next      write its SQL in {up.name} and its undo in {down.name}",
    ]
    refusal = (
        f"error: migration 0004_add_rating holds no SQL statement ({up}): write its SQL (and"
        " its rollback's), or delete the file and its rollback; nothing was applied\n"
    )
    for dry_run in ([], ["--dry-run"]):
        assert run_cli(three, "migrate", *dry_run) == 1
        assert capsys.readouterr() == ("", refusal)
    assert tables(three) == [], "not even the migrations before it were applied"
    assert [s.state for s in quiet(three).status()] == ["pending"] * 4
    # check fails on it too, naming the file, before proving anything.
    assert check_migrations(three, out=lambda _: None) == [
        f"0004_add_rating: {up} holds no SQL statement: write its SQL (and its rollback's),"
        " or delete the file and its rollback"
    ]
    # Comments, blank lines and stray semicolons are no statement; every such file is named.
    write(folder, "0005_more", "-- depends: 0004_add_rating\n/* later */\n;\n\n", "")
    with pytest.raises(MigrationError) as caught:
        quiet(three).migrate()
    assert str(caught.value) == (
        f"2 migrations hold no SQL statement ({up}, {folder / '0005_more.sql'}): write their"
        " SQL (and their rollbacks'), or delete those files and their rollbacks; nothing was"
        " applied"
    )
    (folder / "0005_more.sql").unlink()
    (folder / "0005_more.rollback.sql").unlink()
    # A target short of it applies; reset, which would apply it, refuses before rolling back.
    assert quiet(three).migrate(target="0003_index") == ["0002_users", "0001_orders", "0003_index"]
    with pytest.raises(MigrationError, match="0004_add_rating holds no SQL statement"):
        quiet(three).reset()
    assert "orders_user_idx" in tables(three)
    # Its SQL written, its rollback still the scaffold's: `rollback` would say "rolled
    # back" and undo nothing, so it is refused as an empty migration is.
    up.write_text(up.read_text() + "alter table users add column rating int;\n")
    with pytest.raises(MigrationError) as undo:
        quiet(three).migrate()
    assert str(undo.value) == (
        f"the rollback of migration 0004_add_rating holds no SQL statement ({down}): write"
        " the SQL that undoes it, or delete that file if it cannot be undone; nothing was"
        " applied"
    )
    # Written, it applies.
    down.write_text(down.read_text() + "alter table users drop column rating;\n")
    assert quiet(three).migrate() == ["0004_add_rating"]
    with psycopg.connect(three.conninfo()) as conn:
        assert conn.execute("select rating from users").fetchall() == []


@pytest.mark.usefixtures("no_env_url")
def test_migrate_names_every_edited_migration_and_accept_says_it_runs_nothing(
    three: Settings, capsys
) -> None:
    quiet(three).migrate()
    folder = three.migrations_dir
    assert folder is not None
    for mid in ("0002_users", "0003_index"):
        path = folder / f"{mid}.sql"
        path.write_text(path.read_text() + "-- edited\n")
    assert run_cli(three, "migrate") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: 2 applied migrations were edited since they were applied ('0002_users':"
        f" {folder / '0002_users.sql'}, '0003_index': {folder / '0003_index.sql'}, or their"
        " rollbacks); an edit never runs. Put the files back; to change the schema, add a new"
        " migration (or roll back and migrate again); if the change is already in the"
        " database (made by hand, or only a comment changed), `persistence accept 0002_users"
        " 0003_index` records the files as applied without running them; nothing was"
        " applied\n"
    )
    assert run_cli(three, "accept", "0002_users", "0003_index") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"accepted  {mid}: its current content is recorded as applied, without running it"
        " (the database was not changed)"
        for mid in ("0002_users", "0003_index")
    ]
    assert [s.state for s in quiet(three).status()] == ["ok", "ok", "ok"]


@pytest.mark.usefixtures("no_env_url")
def test_rollback_steps_zero_beyond_or_with_nothing_applied_is_never_silent(
    three: Settings, capsys
) -> None:
    quiet(three).migrate()
    for steps in ("0", "-1"):
        assert run_cli(three, "rollback", "--steps", steps) == 2
        assert capsys.readouterr() == (
            "",
            f"persistence: error: --steps takes 1 or more, not {steps} (`persistence status`"
            " lists what is applied)\n",
        )
    assert len(tables(three)) == 5, "nothing was rolled back"
    assert run_cli(three, "rollback", "--steps", "5") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "note      only 3 applied: rolling back 3, not 5"
    assert [line.split()[-3] for line in out[2:] if line.startswith("rolled back")] == [
        "0003_index",
        "0001_orders",
        "0002_users",
    ]
    assert tables(three) == []
    for dry_run in ([], ["--dry-run"]):
        assert run_cli(three, "rollback", *dry_run) == 1
        assert capsys.readouterr().err == (
            f"error: no migration is applied on {three.masked_url}: nothing was rolled back\n"
        )
    # With --target, nothing after ID is where the database was asked to be.
    quiet(three).migrate()
    assert run_cli(three, "rollback", "--target", "0003_index") == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["nothing to roll back"]


@pytest.mark.usefixtures("no_env_url")
def test_sql_written_into_a_migration_applied_empty_is_not_accepted(
    three: Settings, capsys
) -> None:
    # The state an earlier version left: `new`, `migrate` (applied empty), then the SQL
    # written into the applied file. baseline records it the same way.
    folder = three.migrations_dir
    assert folder is not None
    quiet(three).migrate()
    up, down = new_migration(folder, "add_rating")
    assert quiet(three).baseline("0004_add_rating") == ["0004_add_rating"]
    quiet(three).migrate(target="0003_index")
    up.write_text(up.read_text() + "alter table users add column rating int;\n")
    down.write_text(down.read_text() + "alter table users drop column rating;\n")
    never_ran = (
        "applied migration '0004_add_rating' was applied before its SQL was written (it held"
        " no statement then), so that SQL never ran: roll it back (`persistence rollback"
        " --steps 1` undoes it) and migrate again"
    )
    assert run_cli(three, "migrate") == 1
    assert capsys.readouterr() == ("", f"error: {never_ran}; nothing was applied\n")
    assert run_cli(three, "accept", "0004_add_rating") == 1
    assert capsys.readouterr() == (
        "",
        f"error: {never_ran}; accepting would record it as run; nothing was accepted\n",
    )
    assert [s.state for s in quiet(three).status()][-1] == "changed"
    # The way out it names: the rollback stored then (empty) runs, then the SQL does.
    assert run_cli(three, "rollback", "--steps", "1") == 0
    assert run_cli(three, "migrate") == 0
    with psycopg.connect(three.conninfo()) as conn:
        assert conn.execute("select rating from users").fetchall() == []
    # An edit to a migration that held SQL when applied is accepted as before.
    path = folder / "0002_users.sql"
    path.write_text(path.read_text() + "-- a comment\n")
    assert run_cli(three, "accept", "0002_users") == 0
