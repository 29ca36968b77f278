"""Migrations linted with squawk (`persistence lint-migrations`, step 0 of `check`).

squawk reads the files, no server: these tests run the real squawk binary (squawk-cli,
a dev dependency) on migrations written to a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from persistence.cli import main
from persistence.lint import lint_migrations, squawk_path


def write(folder: Path, mid: str, sql: str, rollback: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{mid}.sql").write_text(sql)
    (folder / f"{mid}.rollback.sql").write_text(rollback)


GOOD = (
    "-- depends:\n"
    "create table users (id bigint generated always as identity primary key, email text);\n"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    squawk_path()  # a missing squawk fails here, with the command that installs it
    write(tmp_path / "migrations", "0001_users", GOOD, "drop table users;\n")
    return tmp_path


def rules(project: Path) -> list[tuple[str, int, str]]:
    return [(f.path.name, f.line, f.rule) for f in lint_migrations(project / "migrations", project)]


def test_good_migrations_and_their_drop_rollbacks_are_quiet(project: Path) -> None:
    write(
        project / "migrations",
        "0002_reports",
        "-- depends: 0001_users\ncreate schema reports;\ncreate sequence reports.n;\n"
        "create view reports.emails as select email from users;\n",
        "drop view reports.emails;\ndrop sequence reports.n;\ndrop schema reports;\n",
    )
    assert rules(project) == [], "a rollback drops what its migration made"


def test_each_locking_mistake_is_named_by_file_line_and_rule(project: Path) -> None:
    write(
        project / "migrations",
        "0002_lock_it",
        "-- depends: 0001_users\n"
        "create index users_email on users (email);\n"
        "alter table users add column plan text not null;\n"
        "alter table users alter column email type varchar(100);\n"
        "alter table users add constraint email_at check (email like '%@%');\n"
        "alter table users add column seen timestamptz default clock_timestamp();\n",
        "alter table users drop column seen;\n"
        "alter table users drop constraint email_at;\n"
        "alter table users alter column email type text;\n"
        "alter table users drop column plan;\n"
        "drop index users_email;\n",
    )
    found = rules(project)
    assert ("0002_lock_it.sql", 2, "require-concurrent-index-creation") in found
    assert ("0002_lock_it.sql", 3, "adding-required-field") in found
    assert ("0002_lock_it.sql", 4, "changing-column-type") in found
    assert ("0002_lock_it.sql", 5, "constraint-missing-not-valid") in found
    assert ("0002_lock_it.sql", 6, "adding-field-with-default") in found
    # Rolling back in production locks too: a plain DROP INDEX blocks the table.
    assert ("0002_lock_it.rollback.sql", 5, "require-concurrent-index-deletion") in found
    # The rollback drops what its migration added: no ban-drop-* there; the toolkit sets
    # lock_timeout and statement_timeout itself, so those rules never fire.
    assert not [r for r in found if r[2].startswith("ban-drop") or "timeout" in r[2]]


def test_a_reasoned_comment_acknowledges_a_finding(project: Path) -> None:
    write(
        project / "migrations",
        "0002_index",
        "-- depends: 0001_users\n"
        "-- users is empty at this release: a plain index locks nothing that matters.\n"
        "-- squawk-ignore require-concurrent-index-creation\n"
        "create index users_email on users (email);\n",
        "-- squawk-ignore-file require-concurrent-index-deletion\ndrop index users_email;\n",
    )
    assert rules(project) == []


def test_a_non_transactional_migration_is_linted_as_one(project: Path) -> None:
    write(
        project / "migrations",
        "0002_index",
        "-- depends: 0001_users\n-- transactional: false\n"
        "create index concurrently users_email on users (email);\n",
        "-- transactional: false\ndrop index concurrently if exists users_email;\n",
    )
    # Outside a transaction a failed CONCURRENTLY leaves an invalid index: rerunnable
    # statements are asked for.
    assert rules(project) == [("0002_index.sql", 3, "prefer-robust-stmts")]


def test_cli_prints_file_line_rule_and_exits_1(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        project / "migrations",
        "0002_index",
        "-- depends: 0001_users\ncreate index users_email on users (email);\n",
        "drop index users_email;\n",
    )
    assert main(["--project", str(project), "lint-migrations"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        f"{project}/migrations/0002_index.rollback.sql:1: require-concurrent-index-deletion: "
    )
    assert out[1].startswith(
        f"{project}/migrations/0002_index.sql:2: require-concurrent-index-creation: "
    )
    assert out[1].endswith(
        "(if deliberate, say why above it: -- squawk-ignore require-concurrent-index-creation)"
    )
    assert out[-1] == "2 findings"


def test_project_config_silences_a_rule(project: Path) -> None:
    write(
        project / "migrations",
        "0002_count",
        "-- depends: 0001_users\nalter table users add column visits int;\n",
        "alter table users drop column visits;\n",
    )
    assert rules(project) == [("0002_count.sql", 2, "prefer-bigint-over-int")]
    (project / ".squawk.toml").write_text('excluded_rules = ["prefer-bigint-over-int"]\n')
    assert rules(project) == []


def test_cli_without_squawk_fails_saying_how_to_install_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # squawk is looked for beside the running Python and on PATH: point both at an
    # empty folder, as on a machine where squawk-cli was never installed.
    empty = project / "no-squawk"
    empty.mkdir()
    monkeypatch.setattr("sys.executable", str(empty / "python"))
    monkeypatch.setenv("PATH", str(empty))
    write(
        project / "migrations",
        "0002_index",
        "-- depends: 0001_users\ncreate index users_email on users (email);\n",
        "drop index users_email;\n",
    )
    assert main(["--project", str(project), "lint-migrations"]) == 1
    captured = capsys.readouterr()
    assert "ok" not in captured.out.split()
    assert captured.err == (
        "error: squawk is not installed, so migrations were not linted:"
        " pip install 'persistence-pg[lint]' (or squawk-cli)\n"
    )
