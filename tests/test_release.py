"""`check --compat REF` and `check --plans`, on a real server."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from persistence import Migrator, Settings
from persistence.cli import main

MIGRATION = "create table people (id bigint primary key, name text not null, note text);\n"
QUERIES = """-- name: names()
select name from people order by name;

-- name: by_note(note)
select id from people where note = :note;

-- name: by_id(id)^
select id, name from people where id = :id;
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.persistence]\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_people.sql").write_text(MIGRATION)
    (tmp_path / "migrations" / "0001_people.rollback.sql").write_text("drop table people;\n")
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "people.sql").write_text(QUERIES)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "release 1")
    return tmp_path


def run_check(project: Path, url: str, *args: str, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", url)
    code = main(["--project", str(project), "check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_compat_catches_a_column_the_running_release_still_uses(
    project: Path, persistence_settings: Settings, monkeypatch, capsys
) -> None:
    # Release 2 renames a column and updates its own query: its own check passes...
    (project / "migrations" / "0002_rename.sql").write_text(
        "-- depends: 0001_people\n-- Deliberate (squawk is told so): --compat checks it.\n"
        "-- squawk-ignore renaming-column\n"
        "alter table people rename column name to full_name;\n"
    )
    (project / "migrations" / "0002_rename.rollback.sql").write_text(
        "-- squawk-ignore renaming-column\nalter table people rename column full_name to name;\n"
    )
    renamed = QUERIES.replace("select name", "select full_name").replace("by name", "by full_name")
    (project / "queries" / "people.sql").write_text(renamed.replace("id, name", "id, full_name"))
    url = persistence_settings.database_url or ""
    code, out, err = run_check(project, url, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    # ...but release 1, still serving during the rollout, would break.
    code, out, err = run_check(
        project, url, "--compat", "HEAD", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 1
    assert "FAILED  3 named queries of HEAD prepare and fit" in out
    assert "the release at HEAD:" in err
    assert 'column "name" does not exist' in err
    assert "people.sql:" in err


def test_compat_passes_an_additive_migration(
    project: Path, persistence_settings: Settings, monkeypatch, capsys
) -> None:
    (project / "migrations" / "0002_add.sql").write_text(
        "-- depends: 0001_people\nalter table people add column email text;\n"
    )
    (project / "migrations" / "0002_add.rollback.sql").write_text(
        "alter table people drop column email;\n"
    )
    url = persistence_settings.database_url or ""
    code, out, err = run_check(
        project, url, "--compat", "HEAD", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err
    assert "ok      3 named queries of HEAD prepare and fit" in out


def test_compat_with_an_unknown_revision_is_one_line(
    project: Path, persistence_settings: Settings, monkeypatch, capsys
) -> None:
    url = persistence_settings.database_url or ""
    code, _, err = run_check(
        project, url, "--compat", "no-such-ref", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "--compat 'no-such-ref'" in err


def test_plans_flag_a_sequential_scan_over_a_big_table(
    project: Path, empty_settings: Settings, monkeypatch, capsys
) -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": empty_settings.database_url or ""}, project=project
    )
    Migrator(settings, out=lambda _: None).migrate()
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute(
            "insert into people select i, 'p' || i, 'n' || i from generate_series(1, 20000) i"
        )
        conn.execute("analyze people")
    url = empty_settings.database_url or ""
    code, _, err = run_check(project, url, "--plans", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if "sequential scan" in line]
    flagged = sorted(line.split("query ")[1].split(" ")[0] for line in lines)
    # names() and by_note() read the whole table; by_id() uses the primary key.
    assert flagged == ["'people.by_note'", "'people.names'"]
    assert all("people.sql:" in line for line in lines)
    # Above the table's size, nothing is flagged.
    code, _, err = run_check(
        project, url, "--plans", "50000", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err


def test_a_non_transactional_migration_has_its_rollback_proven(
    tmp_path: Path, persistence_settings: Settings, monkeypatch, capsys
) -> None:
    """DROP INDEX CONCURRENTLY undoing CREATE INDEX CONCURRENTLY: the rollback runs
    outside a transaction because its migration does."""
    (tmp_path / "pyproject.toml").write_text("[tool.persistence]\n")
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_t.sql").write_text(
        "create table if not exists t (id bigint primary key, v bigint);\n"
    )
    (migrations / "0001_t.rollback.sql").write_text("drop table if exists t;\n")
    (migrations / "0002_idx.sql").write_text(
        "-- depends: 0001_t\n-- transactional: false\n"
        "create index concurrently if not exists t_v on t (v);\n"
    )
    (migrations / "0002_idx.rollback.sql").write_text("drop index concurrently if exists t_v;\n")
    code, out, err = run_check(
        tmp_path, persistence_settings.database_url or "", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err
    assert "ok      migration 0002_idx" in out
