"""pytest fixtures for projects built on persistence (registered under `pytest11`).

The server is `--persistence-dsn`, which defaults to DATABASE_URL; without either, the
project's embedded server is started. Once per session the plugin creates a template
database and migrates it (when the project has migrations). Then:

- `db` / `adb`: a `Database` / `AsyncDatabase` on a session database cloned from the
  template, with every test wrapped in a transaction that is rolled back (~1 ms), so
  tests see the migrated schema and leave nothing behind.
- `fresh_settings` / `fresh_db`: a database of the test's own, cloned from the template
  and dropped afterwards, for tests that must really commit (concurrency, restarts,
  subprocesses).
- `project_database(path)`: a database of the test's own with another project's
  migrations applied (its folders read from its pyproject.toml), dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ._scratch import create_database, database_name, drop_database
from .config import Settings
from .database import Database
from .database_async import AsyncDatabase
from .embedded import resolve
from .migrations import Migrator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("persistence")
    group.addoption(
        "--persistence-dsn",
        default=os.environ.get("DATABASE_URL") or None,
        help="server to test against (default: DATABASE_URL, else the embedded server)",
    )
    group.addoption(
        "--persistence-project",
        default=None,
        help="project folder with migrations/ and queries/ (default: the rootdir)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    try:
        settings = _base_settings(config)
        with psycopg.connect(settings.conninfo()) as conn:
            version = conn.execute("select current_setting('server_version')").fetchone()
    except Exception as ex:
        return f"persistence: database unavailable: {ex}"
    return f"persistence: PostgreSQL {version[0] if version else '?'} at {settings.masked_url}"


def _base_settings(config: pytest.Config) -> Settings:
    project = config.getoption("--persistence-project") or config.rootpath
    env = dict(os.environ)
    dsn = config.getoption("--persistence-dsn")
    if dsn:
        env["DATABASE_URL"] = dsn
    else:
        env.pop("DATABASE_URL", None)
    # Small pools: a test session opens several databases on one server.
    env.setdefault("DB_POOL_MIN", "1")
    env.setdefault("DB_POOL_MAX", "5")
    return resolve(Settings.from_env(env, project=Path(project)))


@pytest.fixture(scope="session")
def persistence_settings(pytestconfig: pytest.Config) -> Settings:
    """Settings for the server under test, on its default database."""
    return _base_settings(pytestconfig)


@pytest.fixture(scope="session")
def persistence_template(persistence_settings: Settings) -> Iterator[Settings]:
    """Settings for the session's template database: migrated once, never connected to
    by tests (PostgreSQL can only clone a template nobody is connected to)."""
    name = f"persistence_tpl_{os.getpid()}"
    settings = create_database(persistence_settings, name)
    Migrator(settings, out=lambda _: None).migrate()
    yield settings
    drop_database(persistence_settings, name)


@pytest.fixture(scope="session")
def persistence_session_db(
    persistence_settings: Settings, persistence_template: Settings
) -> Iterator[Settings]:
    """Settings for the session database that `db` and `adb` roll back in."""
    name = f"persistence_test_{os.getpid()}"
    yield create_database(persistence_settings, name, template=database_name(persistence_template))
    drop_database(persistence_settings, name)


@pytest.fixture(scope="session")
def _sync_db(persistence_session_db: Settings) -> Iterator[Database]:
    with Database(persistence_session_db) as db:
        yield db


@pytest.fixture
def db(_sync_db: Database) -> Iterator[Database]:
    """A Database whose every change in the test is rolled back at the end."""
    with _sync_db.force_rollback():
        yield _sync_db


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - async fixtures need pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def _async_db(persistence_session_db: Settings) -> AsyncIterator[AsyncDatabase]:
        async with AsyncDatabase(persistence_session_db) as adb:
            yield adb

    @pytest_asyncio.fixture(loop_scope="session")
    async def adb(_async_db: AsyncDatabase) -> AsyncIterator[AsyncDatabase]:
        """An AsyncDatabase whose every change in the test is rolled back at the end."""
        async with _async_db.force_rollback():
            yield _async_db


@pytest.fixture
def fresh_settings(
    persistence_settings: Settings, persistence_template: Settings
) -> Iterator[Settings]:
    """Settings for a database of this test's own, cloned from the template, dropped after."""
    name = f"persistence_t{os.getpid()}_{uuid.uuid4().hex[:12]}"
    yield create_database(persistence_settings, name, template=database_name(persistence_template))
    drop_database(persistence_settings, name)


@pytest.fixture
def fresh_db(fresh_settings: Settings) -> Iterator[Database]:
    """An open Database on the test's own database: commits are real."""
    with Database(fresh_settings) as database:
        yield database


@pytest.fixture
def project_database(persistence_settings: Settings) -> Iterator[Callable[..., Settings]]:
    """A factory: `project_database(path, **overrides)` returns Settings for a new
    database with the project at `path` migrated into it; every one is dropped after
    the test. Its folders (and typed module) come from the project's pyproject.toml."""
    made: list[str] = []

    def make(project: Path | str, **overrides: object) -> Settings:
        name = f"persistence_p{os.getpid()}_{uuid.uuid4().hex[:12]}"
        url = create_database(persistence_settings, name).database_url or ""
        made.append(name)
        settings = Settings.from_env({"DATABASE_URL": url}, project=Path(project))
        pools = {
            "pool_min": persistence_settings.pool_min,
            "pool_max": persistence_settings.pool_max,
        }
        settings = dataclasses.replace(settings, **{**pools, **overrides})  # type: ignore[arg-type]
        Migrator(settings, out=lambda _: None).migrate()
        return settings

    yield make
    for name in made:
        drop_database(persistence_settings, name)
