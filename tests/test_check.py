"""`persistence check` on a copy of the sample project: queries prepare, types are fresh."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from persistence import Migrator, QueryLoadError, Settings
from persistence.check import check
from persistence.cli import main
from persistence.typegen import generate_types

from .conftest import SAMPLE


@pytest.fixture
def project(tmp_path: Path, persistence_settings: Settings) -> Settings:
    root = tmp_path / "sample"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return dataclasses.replace(
        persistence_settings,
        project=root,
        queries_dir=root / "queries",
        migrations_dir=root / "migrations",
        types_path=root / "typed.py",
    )


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_check_passes_on_the_sample(project: Settings) -> None:
    lines: list[str] = []
    assert check(project, out=lines.append) == []
    assert lines == [
        "ok      migrations pass squawk's lint",
        "ok      migration 0001_users",
        "ok      migration 0002_posts",
        "ok      migration 0003_repository_tables",
        "ok      13 named queries prepare and fit",
        "ok      typed.py is up to date",
        "ok      every updated_at column has a trigger",
    ]


def test_an_unmaintained_updated_at_is_reported_until_the_trigger_is_added(
    project: Settings, empty_settings: Settings
) -> None:
    folder = project.migrations_dir
    assert folder is not None
    (folder / "0004_gadgets.sql").write_text(
        "-- depends: 0003_repository_tables\ncreate table gadgets (id int primary key,"
        " name text, updated_at timestamptz not null default now());\n"
    )
    (folder / "0004_gadgets.rollback.sql").write_text("drop table gadgets;\n")
    lines: list[str] = []
    assert check(project, out=lines.append) == [
        "gadgets.updated_at: no trigger keeps it current;"
        " run `persistence new gadgets_updated_at --updated-at gadgets`"
    ]
    assert lines[-1] == "FAILED  every updated_at column has a trigger"

    argv = ["--project", str(project.project), "new", "gadgets_updated_at"]
    assert main([*argv, "--updated-at", "gadgets"]) == 0
    assert check(project, out=lambda _: None) == []  # the rollback is proven too
    own = dataclasses.replace(project, database_url=empty_settings.database_url)
    Migrator(own, out=lambda _: None).migrate()  # a database of the test's own
    with psycopg.connect(own.conninfo(), autocommit=True) as conn:
        conn.execute("insert into gadgets (id, name) values (1, 'a')")
        before = conn.execute("select updated_at from gadgets").fetchone()
        conn.execute("update gadgets set name = 'b'")
        after = conn.execute("select updated_at from gadgets").fetchone()
    assert before is not None
    assert after is not None
    assert after[0] > before[0], "the trigger did not stamp updated_at"


def test_a_missing_column_is_named_with_file_and_line(project: Settings) -> None:
    users = project.project / "queries" / "users.sql"
    edit(
        users,
        "select * from users where email = :email;",
        "select *\n  from users\n where emial = :email;",
    )
    line = line_of(users, "where emial")
    problems = check(project, out=lambda _: None)
    assert problems == [
        f"{users}:{line}: query 'users.get_user_by_email': column \"emial\" does not exist"
    ]


def test_a_migration_that_drops_a_used_column_is_named_with_the_query(
    project: Settings,
) -> None:
    migrations = project.project / "migrations"
    (migrations / "0004_rename_title.sql").write_text(
        "-- depends: 0003_repository_tables\n"
        "-- the test's point: a rename that a named query still needs\n"
        "-- squawk-ignore renaming-column\n"
        "alter table posts rename column title to headline;\n"
    )
    (migrations / "0004_rename_title.rollback.sql").write_text(
        "-- squawk-ignore renaming-column\nalter table posts rename column headline to title;\n"
    )
    posts = project.project / "queries" / "posts.sql"
    problems = check(project, out=lambda _: None)
    assert problems, "a query using the renamed column must fail"
    for problem in problems:
        head, _, blame = problem.partition("\n  broken by migration ")
        assert head.startswith(f"{posts}:")
        assert "title" in head
        assert "does not exist" in head
        assert blame.startswith("0004_rename_title: the query prepares before it and not after")
    # Only the posts queries that use the column, and each of them is named.
    assert {p.split("query ", 1)[1].split(":")[0] for p in problems} == {
        "'posts.add_post'",
        "'posts.posts_with_authors'",
    }


def test_a_query_broken_on_every_schema_is_not_blamed_on_a_migration(
    project: Settings,
) -> None:
    users = project.project / "queries" / "users.sql"
    edit(
        users,
        "select * from users where email = :email;",
        "select * from usrs where email = :email;",
    )
    [problem] = check(project, out=lambda _: None)
    assert 'relation "usrs" does not exist' in problem
    assert "broken by migration" not in problem


def test_the_operator_must_fit_the_result(project: Settings) -> None:
    users = project.project / "queries" / "users.sql"
    edit(users, 'select count(*) as "n!" from users;', "select count(*), max(email) from users;")
    edit(
        users,
        "update users set name = :name where id = :id;",
        "update users set name = :name where id = :id returning id;",
    )
    problems = check(project, out=lambda _: None)
    assert problems == [
        f"{users}:{line_of(users, 'name: count_users')}: query 'users.count_users': `$` returns"
        " one value, but the statement returns 2 columns",
        f"{users}:{line_of(users, 'name: rename_user')}: query 'users.rename_user': the"
        " statement returns columns (RETURNING?): use `<!` or `^`",
    ]
    with pytest.raises(QueryLoadError, match="count_users"):
        generate_types(project, out=lambda _: None)


def test_stale_types_fail_until_regenerated(project: Settings, monkeypatch, capsys) -> None:
    users = project.project / "queries" / "users.sql"
    edit(users, "select id, email, name, plan\n", "select id, email, name, plan, created_at\n")
    assert check(project, out=lambda _: None) == [
        f"{project.types_path} is stale: the queries or the schema changed; run `persistence types`"
    ]
    monkeypatch.setenv("DATABASE_URL", project.database_url)
    assert main(["--project", str(project.project), "check"]) == 1
    captured = capsys.readouterr()
    assert "typed.py is stale" in captured.err
    assert captured.out.endswith("check failed\n")
    assert main(["--project", str(project.project), "types"]) == 0
    assert main(["--project", str(project.project), "check"]) == 0
    assert capsys.readouterr().out.endswith("check passed\n")


def test_types_are_the_same_bytes_without_ruff(project: Settings, monkeypatch) -> None:
    """The generator lays the module out itself: no formatter runs, the same bytes come
    out on a machine with or without ruff (and they pass ruff: `make lint`)."""

    def no_program(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the generator ran a program: {args}")

    monkeypatch.setattr(subprocess, "run", no_program)
    monkeypatch.setattr(subprocess, "Popen", no_program)
    assert project.types_path is not None
    before = project.types_path.read_text()
    project.types_path.unlink()
    generate_types(project, out=lambda _: None)
    assert project.types_path.read_text() == before


def test_queries_needing_a_missing_extension_are_skipped_and_said(
    project: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project.project / "queries" / "posts.sql"
    path.write_text("-- requires: no_such_extension\n" + path.read_text())
    names = [line for line in path.read_text().splitlines() if line.startswith("-- name:")]
    assert main(["--project", str(project.project), "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    skipped = [line for line in out if line.startswith("skipped posts.")]
    assert len(skipped) == len(names) > 0
    assert skipped[0].endswith(
        ": needs the extension no_such_extension, which this server does not have"
    )
    assert "skipped typed.py not compared: it types the skipped queries too" in out
    assert out[-1] == f"check passed ({len(names)} queries skipped: an extension is missing)"

    before = (project.project / "typed.py").read_text()
    assert main(["--project", str(project.project), "types"]) == 0
    assert "not rewritten" in capsys.readouterr().out
    assert (project.project / "typed.py").read_text() == before


def test_migrations_needing_a_missing_extension_are_skipped_and_said(
    project: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project.project / "migrations"
    (folder / "0004_embeddings.sql").write_text(
        "-- depends: 0003_repository_tables\n-- requires: no_such_extension\n"
        "create extension no_such_extension;\ncreate table embeddings (v no_such_type);\n"
    )
    (folder / "0004_embeddings.rollback.sql").write_text(
        "drop table embeddings;\ndrop extension no_such_extension;\n"
    )
    (folder / "0005_nearest.sql").write_text(
        "-- depends: 0004_embeddings\nalter table embeddings add column label text;\n"
    )
    (folder / "0005_nearest.rollback.sql").write_text("alter table embeddings drop column label;\n")
    (project.project / "queries" / "embeddings.sql").write_text(
        "-- requires: no_such_extension\n-- name: nearest(v)\nselect * from embeddings"
        " order by v <-> :v limit 5;\n"
    )
    assert main(["--project", str(project.project), "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "ok      migration 0003_repository_tables" in out
    assert (
        "skipped migration 0004_embeddings: needs the extension no_such_extension, which this"
        " server does not have"
    ) in out
    assert (
        "skipped migration 0005_nearest: depends on 0004_embeddings, which needs the"
        " extension no_such_extension, which this server does not have"
    ) in out
    assert (
        "skipped embeddings.nearest: needs the extension no_such_extension, which this server"
        " does not have"
    ) in out
    assert out[-1] == "check passed (2 migrations and 1 query skipped: an extension is missing)"

    before = (project.project / "typed.py").read_text()
    assert main(["--project", str(project.project), "types"]) == 0
    typed = capsys.readouterr().out
    assert "skipped migration 0004_embeddings: needs the extension no_such_extension" in typed
    assert "not rewritten" in typed
    assert (project.project / "typed.py").read_text() == before


def _url(settings: Settings, **change: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    params.update(change, password="Ch3ck-secret")
    return psycopg.conninfo.make_conninfo("", **params)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def role_without_createdb(project: Settings) -> Iterator[str]:
    role = f"persistence_nocreatedb_{os.getpid()}"
    with psycopg.connect(project.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("create role {} login nocreatedb").format(sql.Identifier(role)))
        try:
            yield role
        finally:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def _run(
    project: Settings, command: str, url: str, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> str:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["--project", str(project.project), command]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "Ch3ck-secret" not in err
    assert err.count("\n") == 1, err  # one line, no traceback
    return err


@pytest.mark.parametrize("command", ["check", "types"])
def test_unreachable_server_is_one_line(project: Settings, command: str, monkeypatch, capsys):
    err = _run(
        project,
        command,
        _url(project, host="127.0.0.1", port=str(_free_port())),
        monkeypatch,
        capsys,
    )
    assert err.startswith('error: connection failed: connection to server at "127.0.0.1"')
    assert err.endswith("; start the server or point DATABASE_URL at one that is running\n")


@pytest.mark.parametrize("command", ["check", "types"])
def test_missing_database_is_one_line(project: Settings, command: str, monkeypatch, capsys):
    err = _run(project, command, _url(project, dbname="no_such_db"), monkeypatch, capsys)
    assert err == (
        "error: database 'no_such_db' does not exist: create it (createdb no_such_db)"
        " or point DATABASE_URL at one that does\n"
    )


@pytest.mark.parametrize("command", ["check", "types"])
def test_role_without_createdb_is_one_line(
    project: Settings, role_without_createdb: str, command: str, monkeypatch, capsys
):
    role = role_without_createdb
    err = _run(project, command, _url(project, user=role), monkeypatch, capsys)
    assert err == (
        f"error: permission denied to create database: role {role!r} lacks the CREATEDB"
        " privilege, which check, types and the test plugin need for scratch databases;"
        f" grant it (alter role {role} createdb) or use a role that has it\n"
    )


def test_a_typed_module_that_does_not_compile_fails_check_and_is_not_written(
    project: Settings, monkeypatch
) -> None:
    """A guard against any fault of the renderer: the module must at least compile."""
    import persistence.typegen

    def broken(*args: object, **kwargs: object) -> str:
        return "# Generated by `persistence types` from queries/: DO NOT EDIT.\nX: int = \n"

    assert project.types_path is not None
    before = project.types_path.read_text()
    monkeypatch.setattr(persistence.typegen, "render", broken)
    with pytest.raises(QueryLoadError, match=r"typed.py:2: the typed module does not compile"):
        generate_types(project, out=lambda _: None)
    assert project.types_path.read_text() == before
    # Up to date with what the (broken) generator gives, and still refused.
    project.types_path.write_text(broken())
    lines: list[str] = []
    assert check(project, out=lines.append) == [
        f"{project.types_path}:2: the typed module does not compile (invalid syntax); a bug"
        " of `persistence types`: please report it with the query or type named there"
    ]
    assert "FAILED  typed.py compiles" in lines


def test_types_overwrites_no_file_of_its_own_nor_a_folder(
    project: Settings, monkeypatch, capsys
) -> None:
    """Only a module `persistence types` wrote (its header line) is rewritten."""
    assert project.types_path is not None
    monkeypatch.setenv("DATABASE_URL", project.database_url)
    argv = ["--project", str(project.project), "types"]
    project.types_path.write_text('"""Hand-written helpers."""\n')
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: {project.types_path} was not written by `persistence types` (its first line"
        " is not '# Generated by `persistence types`'...); move it away, or set `types`"
        " under [tool.persistence] to another file"
    ]
    assert project.types_path.read_text() == '"""Hand-written helpers."""\n'
    assert main(["--project", str(project.project), "check"]) == 1  # the same line
    assert capsys.readouterr().err.splitlines() == err
    project.types_path.unlink()
    project.types_path.mkdir()
    for command in ("types", "check"):
        assert main(["--project", str(project.project), command]) == 1
        err = capsys.readouterr().err.splitlines()
        assert err == [
            f"error: {project.types_path} is a folder; `types` under [tool.persistence] names"
            ' the module to write, e.g. types = "app/queries.py"'
        ]
