"""Adopting the toolkit in a project of one's own: `persistence init`, the project found
from a subfolder, and every misconfiguration refused in one line (exit 1)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from persistence import ConfigurationError, Database, QueryLoadError, Settings
from persistence.cli import main
from persistence.queries import Catalog


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def project(root: Path, table: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(f"[tool.persistence]\n{table}")
    (root / "migrations").mkdir()
    (root / "migrations" / "0001_a.sql").write_text("create table a (id int);\n")
    (root / "migrations" / "0001_a.rollback.sql").write_text("drop table a;\n")
    return root


# -- persistence init ---------------------------------------------------------------


def test_init_scaffolds_a_project(tmp_path: Path, capsys) -> None:
    root = tmp_path / "my-app"
    assert main(["init", str(root)]) == 0
    out = capsys.readouterr().out
    assert "created   migrations/0001_notes.sql" in out
    config = tomllib.loads((root / "pyproject.toml").read_text())
    assert config["tool"]["persistence"] == {
        "queries": "queries",
        "migrations": "migrations",
        "types": "my_app/queries.py",
    }
    for name in (
        "migrations/0001_notes.rollback.sql",
        "queries/notes.sql",
        "my_app/__init__.py",
        "tests/conftest.py",
        "tests/test_notes.py",
    ):
        assert (root / name).is_file(), name
    assert ".persistence/" in (root / ".gitignore").read_text().splitlines()
    makefile = (root / "Makefile").read_text()
    for target in ("migrate", "rollback", "status", "types", "check", "test"):
        assert f"\n{target}: " in makefile
    # The queries and migrations it wrote load.
    assert len(Catalog(root / "queries")) == 3
    assert Settings.from_env({}, project=root).types_path == root / "my_app" / "queries.py"


def test_init_never_overwrites_and_says_what_it_skipped(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path), "--package", "app"]) == 0
    (tmp_path / "queries" / "notes.sql").write_text("-- mine\n")
    capsys.readouterr()
    assert main(["init", str(tmp_path), "--package", "app"]) == 1
    captured = capsys.readouterr()
    assert "skipped   queries/notes.sql: queries/ exists" in captured.out
    assert "skipped   Makefile: exists" in captured.out
    assert one_line(captured.err) == (
        f"error: nothing to do in {tmp_path}: everything `init` writes exists (skipped above)"
    )
    assert (tmp_path / "queries" / "notes.sql").read_text() == "-- mine\n"


def test_init_adds_to_an_existing_pyproject_and_gitignore(tmp_path: Path, capsys) -> None:
    original = '[project]\nname = "shop"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    (tmp_path / "pyproject.toml").write_text(original)
    (tmp_path / ".gitignore").write_text("*.pyc")
    assert main(["init", str(tmp_path), "--package", "shop"]) == 0
    out = capsys.readouterr().out
    assert "added     [tool.persistence] to pyproject.toml" in out
    assert "skipped   [tool.pytest.ini_options] in pyproject.toml: exists" in out
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith(original)
    assert tomllib.loads(text)["tool"]["persistence"]["types"] == "shop/queries.py"
    assert (tmp_path / ".gitignore").read_text().splitlines()[0] == "*.pyc"
    assert ".persistence/" in (tmp_path / ".gitignore").read_text().splitlines()


def test_init_refuses_a_package_name_that_is_not_one(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path), "--package", "my-app"]) == 1
    assert one_line(capsys.readouterr().err) == (
        "error: --package 'my-app' is not a Python package name"
    )
    assert not (tmp_path / "pyproject.toml").exists()


@pytest.mark.parametrize(
    ("folder", "why"),
    [
        # psycopg imports queue: the tests failed with an AttributeError.
        (
            "queue",
            "would shadow the standard library's queue module (psycopg and pytest import it)",
        ),
        ("class", "is a Python keyword (`import class.queries` is a SyntaxError)"),
        ("psycopg", "would shadow the psycopg package the project's tests import"),
    ],
)
def test_init_refuses_a_folder_whose_name_makes_no_usable_package(
    folder: str, why: str, tmp_path: Path, capsys
) -> None:
    root = tmp_path / folder
    assert main(["init", str(root)]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"error: the package name {folder!r} {why}: pass --package NAME"
        f" (e.g. --package {folder}_app); nothing was written"
    )
    assert not root.exists()
    # --package names one that works, in the same folder.
    assert main(["init", str(root), "--package", f"{folder}_app"]) == 0
    assert (root / f"{folder}_app" / "__init__.py").is_file()


def test_init_lets_async_tests_run_as_written(tmp_path: Path, capsys) -> None:
    root = tmp_path / "shop"
    assert main(["init", str(root)]) == 0
    ini = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert ini["asyncio_mode"] == "auto"
    (root / "tests" / "test_async.py").write_text(
        "import asyncio\n\n\nasync def test_awaits() -> None:\n    await asyncio.sleep(0)\n"
    )
    # The example conftest needs the typed module `types` writes; this test does not.
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--noconftest",
            "-p",
            "no:cacheprovider",
            "tests/test_async.py",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


# -- the project found from anywhere ------------------------------------------------


def test_the_project_is_found_from_a_subfolder(tmp_path: Path, monkeypatch, capsys) -> None:
    root = project(tmp_path / "proj")
    deep = root / "src" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    monkeypatch.delenv("PERSISTENCE_PROJECT", raising=False)
    assert main(["heads"]) == 0
    assert capsys.readouterr().out == "0001_a\n"
    assert Settings.from_env({}).project == root


def test_project_flag_wins(tmp_path: Path, monkeypatch, capsys) -> None:
    project(tmp_path / "here")
    other = project(tmp_path / "other")
    (other / "migrations" / "0002_b.sql").write_text("-- depends: 0001_a\nselect 1;\n")
    monkeypatch.chdir(tmp_path / "here")
    assert main(["--project", str(other), "heads"]) == 0
    assert capsys.readouterr().out == "0002_b\n"


def test_an_application_started_elsewhere_finds_its_queries(
    tmp_path: Path, persistence_settings: Settings
) -> None:
    root = project(tmp_path / "app")
    (root / "queries").mkdir()
    (root / "queries" / "q.sql").write_text("-- name: answer()$\nselect 42;\n")
    (root / "main.py").write_text(
        "from persistence import Database\n"
        "with Database() as db:\n"
        "    print(db.queries.value(db.queries.query('q.answer'), {}))\n"
    )
    env = {"DATABASE_URL": persistence_settings.database_url or "", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(root / "main.py")],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "42\n", "")


# -- misconfigurations: one line, exit 1 -------------------------------------------


def test_an_unknown_key_is_refused_with_a_did_you_mean(tmp_path: Path, capsys) -> None:
    root = project(tmp_path, 'type = "app/queries.py"\n')
    assert main(["--project", str(root), "heads"]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"error: {root / 'pyproject.toml'}: unknown key 'type' in [tool.persistence];"
        " did you mean 'types'?"
    )


def test_a_key_like_nothing_known_lists_the_keys(tmp_path: Path) -> None:
    root = project(tmp_path, 'colour = "blue"\n')
    with pytest.raises(ConfigurationError, match=r"known: queries, migrations, seeds, types$"):
        Settings.from_env({}, project=root)


@pytest.mark.parametrize("key", ["queries", "migrations", "seeds"])
def test_a_configured_folder_that_does_not_exist_is_an_error(
    tmp_path: Path, capsys, key: str
) -> None:
    root = project(tmp_path, f'{key} = "sql/{key}"\n')
    assert main(["--project", str(root), "heads"]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"error: {root / 'pyproject.toml'}: [tool.persistence] {key} = 'sql/{key}', but"
        f" {root / 'sql' / key} is not a folder; create it or correct the path"
    )


def test_no_migrations_folder_is_an_error_not_nothing_to_do(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in (["heads"], ["--project", str(tmp_path), "heads"]):
        assert main(argv) == 1
        assert one_line(capsys.readouterr().err) == (
            f"error: no migrations folder {tmp_path / 'migrations'}: run in your project"
            " (or pass --project DIR), or create one with `persistence init`"
        )


def test_check_with_nothing_to_check_fails(
    tmp_path: Path, capsys, persistence_settings: Settings
) -> None:
    url = persistence_settings.database_url or ""
    assert main(["--project", str(tmp_path), "check", "--url", url]) == 1
    captured = capsys.readouterr()
    assert one_line(captured.err) == (
        f"error: nothing to check in {tmp_path}: no migrations/ and no queries/ folder;"
        " run it in your project (or pass --project DIR), or create one with `persistence init`"
    )
    assert captured.out == "check failed\n"


@pytest.mark.parametrize(
    "line",
    ["-- nam: get_user(id)^", "--name get_user", "-- Name: get_user^", "-- names: get_user"],
)
def test_a_misspelt_name_line_is_a_load_error(tmp_path: Path, line: str) -> None:
    sql = tmp_path / "users.sql"
    sql.write_text(f"-- name: one()$\nselect 1;\n\n{line}\nselect 2;\n")
    with pytest.raises(QueryLoadError) as caught:
        Catalog(tmp_path)
    assert str(caught.value).startswith(f"{sql}:4: {line!r} looks like a misspelt name line")


@pytest.mark.parametrize(
    "line",
    ["-- name of the user, lowercased", "-- Note: see users", "-- same: as the one above"],
)
def test_comments_that_merely_mention_a_name_load(tmp_path: Path, line: str) -> None:
    (tmp_path / "users.sql").write_text(f"-- name: one()$\n{line}\nselect 1;\n")
    assert [q.name for q in Catalog(tmp_path)] == ["users.one"]


def test_a_missing_queries_folder_at_run_time_says_where_to_look(tmp_path: Path) -> None:
    with pytest.raises(QueryLoadError, match=r"^no queries folder .*PERSISTENCE_PROJECT"):
        Catalog(tmp_path / "queries")


def test_no_database_in_production_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"^no database configured in production"):
        Database(Settings(env="production"))


@pytest.mark.parametrize("key", ["queries", "migrations", "seeds", "types"])
def test_a_configured_path_that_is_not_a_string_is_an_error(
    tmp_path: Path, capsys, key: str
) -> None:
    root = project(tmp_path, f"{key} = 3\n")
    assert main(["--project", str(root), "heads"]) == 1
    assert one_line(capsys.readouterr().err) == (
        f"error: {root / 'pyproject.toml'}: [tool.persistence] {key} = 3 is not a path;"
        f" write it in quotes, e.g. {key} = "
        + ('"app/queries.py"' if key == "types" else f'"{key}"')
    )
