"""`persistence init [DIR]`: what a team needs on day one, without touching what exists.

Writes `[tool.persistence]` into pyproject.toml (created, or added to), a first migration
pair, an example query file, the package that will hold the typed module, `.gitignore`
entries, a test using the pytest plugin, and a Makefile calling the CLI. Every file that
exists is left alone and reported as skipped.
"""

from __future__ import annotations

import keyword
import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigurationError

__all__ = ["init_project", "package_name"]

_MIGRATION = """\
-- notes: the project's first table; replace it with your own
create table notes (
    id bigint generated always as identity primary key,
    body text not null,
    created_at timestamptz not null default now()
);
"""

_ROLLBACK = """\
-- rollback of 0001_notes: undo everything 0001_notes.sql does, in reverse
drop table notes;
"""

_QUERIES = """\
-- name: add_note(body)<!
-- Add a note and return it.
insert into notes (body) values (:body) returning id, body, created_at;

-- name: get_note(id)^
select id, body, created_at from notes where id = :id;

-- name: count_notes()$
select count(*) from notes;
"""

_CONFTEST = '''\
"""Fixtures for the tests. The persistence plugin (registered by the package) gives:

- `db` / `adb`: a Database / AsyncDatabase on a database migrated once per session,
  every test's changes rolled back at its end;
- `fresh_db`: a database of the test's own, for tests that must really commit.

The server is DATABASE_URL (or --persistence-dsn), else the embedded one.
"""

import pytest
from persistence import Database

from {package}.queries import Queries


@pytest.fixture
def q(db: Database) -> Queries:
    """The typed queries (`persistence types` writes {package}/queries.py) on `db`."""
    return Queries(db)
'''

_TEST = '''\
"""An example test of the named queries in queries/notes.sql."""

from {package}.queries import Queries


def test_a_note_is_added_and_found(q: Queries) -> None:
    note = q.notes.add_note(body="first")
    found = q.notes.get_note(id=note.id)
    assert found is not None
    assert (found.body, found.created_at) == ("first", note.created_at)
    assert q.notes.count_notes() == 1
'''

_MAKEFILE = """\
# The database workflow, through the persistence CLI (DATABASE_URL, else the embedded server).
PERSISTENCE ?= persistence
PYTEST ?= pytest

.PHONY: migrate rollback status types check test
migrate: ## apply pending migrations
\t$(PERSISTENCE) migrate
rollback: ## roll back the last migration
\t$(PERSISTENCE) rollback
status: ## list migrations: applied or pending
\t$(PERSISTENCE) status
types: ## regenerate the typed query module from the live schema
\t$(PERSISTENCE) types
check: ## prove every rollback, prepare every query, typed module up to date
\t$(PERSISTENCE) check
test: ## run the tests against a real PostgreSQL
\t$(PYTEST)
"""

_TOOL = """\
[tool.persistence]
queries = "queries"
migrations = "migrations"
types = "{package}/queries.py"
"""

_PYTEST = """\
[tool.pytest.ini_options]
testpaths = ["tests"]
# The project's package (and its typed module) importable from the tests.
pythonpath = ["."]
# pytest-asyncio (the plugin's `adb` fixture) asks for this to be chosen explicitly.
asyncio_default_fixture_loop_scope = "function"
# `async def test_...(adb)` runs as written, without @pytest.mark.asyncio.
asyncio_mode = "auto"
"""

#: Packages a project's own package must not shadow: its tests import them.
_IMPORTED = ("persistence", "psycopg", "psycopg_pool", "pytest", "pytest_asyncio")


def package_name(folder: Path) -> str:
    """A Python package name from a folder name: `my-service` -> `my_service`."""
    name = re.sub(r"\W+", "_", folder.name).strip("_").lower() or "app"
    return f"_{name}" if name[0].isdigit() else name


def _unusable(package: str) -> str:
    """Why `package` cannot be the project's package, or "" when it can."""
    if keyword.iskeyword(package):
        return f"is a Python keyword (`import {package}.queries` is a SyntaxError)"
    if package in sys.stdlib_module_names:
        return (
            f"would shadow the standard library's {package} module (psycopg and pytest import it)"
        )
    if package in _IMPORTED:
        return f"would shadow the {package} package the project's tests import"
    return ""


def init_project(root: Path, package: str, out: Callable[[str], None] = print) -> int:
    """Scaffold the project at `root`; return how many files were created or changed.

    Raises:
        ConfigurationError: `package` is not a Python identifier, is a keyword, or
            would shadow a module the project imports (the standard library's, psycopg,
            pytest); or an existing pyproject.toml does not parse.
    """
    if not package.isidentifier():
        raise ConfigurationError(f"--package {package!r} is not a Python package name")
    unusable = _unusable(package)
    if unusable:
        # The folder's name (or --package) would make a project whose tests cannot run.
        raise ConfigurationError(
            f"the package name {package!r} {unusable}: pass --package NAME"
            f" (e.g. --package {package}_app); nothing was written"
        )
    root.mkdir(parents=True, exist_ok=True)
    done = 0

    def create(relative: str, text: str) -> None:
        nonlocal done
        path = root / relative
        if path.exists():
            out(f"skipped   {relative}: exists")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out(f"created   {relative}")
        done += 1

    done += _pyproject(root, package, out)
    if (root / "migrations").exists():
        out("skipped   migrations/0001_notes.sql and its rollback: migrations/ exists")
    else:
        create("migrations/0001_notes.sql", _MIGRATION)
        create("migrations/0001_notes.rollback.sql", _ROLLBACK)
    if (root / "queries").exists():
        out("skipped   queries/notes.sql: queries/ exists")
    else:
        create("queries/notes.sql", _QUERIES)
    create(f"{package}/__init__.py", "")
    done += _gitignore(root, out)
    create("tests/conftest.py", _CONFTEST.format(package=package))
    create("tests/test_notes.py", _TEST.format(package=package))
    create("Makefile", _MAKEFILE)
    return done


def _pyproject(root: Path, package: str, out: Callable[[str], None]) -> int:
    path = root / "pyproject.toml"
    tool = _TOOL.format(package=package)
    if not path.exists():
        path.write_text(f"{tool}\n{_PYTEST}")
        out("created   pyproject.toml with [tool.persistence] and [tool.pytest.ini_options]")
        return 1
    text = path.read_text()
    try:
        tables = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError as ex:
        raise ConfigurationError(f"{path}: {ex}; nothing was written") from None
    added = []
    if "persistence" in tables:
        out("skipped   [tool.persistence] in pyproject.toml: exists")
    else:
        added.append(tool)
    if "pytest" in tables:
        out(
            "skipped   [tool.pytest.ini_options] in pyproject.toml: exists"
            " (the tests import the project's package: keep its folder on pythonpath)"
        )
    else:
        added.append(_PYTEST)
    if not added:
        return 0
    separator = "" if text.endswith("\n") or not text else "\n"
    path.write_text(text + separator + "\n" + "\n".join(added))
    names = " and ".join(a.splitlines()[0] for a in added)
    out(f"added     {names} to pyproject.toml")
    return 1


def _gitignore(root: Path, out: Callable[[str], None]) -> int:
    path = root / ".gitignore"
    text = path.read_text() if path.exists() else ""
    if ".persistence/" in {line.strip() for line in text.splitlines()}:
        out("skipped   .gitignore: it ignores .persistence/ already")
        return 0
    separator = "" if text.endswith("\n") or not text else "\n"
    path.write_text(
        f"{text}{separator}# the embedded PostgreSQL's data (persistence)\n.persistence/\n"
    )
    out("added     .persistence/ to .gitignore" if text else "created   .gitignore (.persistence/)")
    return 1
