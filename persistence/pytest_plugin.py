"""pytest fixtures for projects built on persistence (registered under `pytest11`).

The server is `--persistence-dsn`, which defaults to DATABASE_URL; without either, the
embedded server (one per user and machine) is started and the project's database made
on it, the first time a test asks for a database (a session that uses none connects to
nothing and leaves nothing behind). Once per
session the plugin creates a template database and migrates it (when the project has
migrations), then lets `pytest_persistence_setup_template(settings)` in a conftest.py
load data into it. Then:

- `db` / `adb`: a `Database` / `AsyncDatabase` on a session database cloned from the
  template, with every test wrapped in a transaction that is rolled back (~1 ms), so
  tests see the migrated schema and leave nothing behind. `adb` needs pytest-asyncio.
- `fresh_settings` / `fresh_db`: a database of the test's own, cloned from the template
  and dropped afterwards, for tests that must really commit (concurrency, restarts,
  subprocesses).
- `project_database(path)`: a database of the test's own with another project's
  migrations applied (its folders read from its pyproject.toml), dropped afterwards.

While the session database exists, DATABASE_URL points at it, so code under test that
builds `Settings.from_env()` or `Database()` itself uses the test database.

Database names carry a random token of the run (and the pytest-xdist worker), so two
CI jobs on one server never share one. With `--reuse-db` the template is named by a
hash of the migrations and kept between runs: a run whose migrations are unchanged
skips migrating. The role under test needs CREATEDB.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from psycopg import sql

from ._connect import connect
from ._migration_sql import load_files
from ._scratch import create_database, database_name, drop_database, on_database
from .config import Settings
from .database import Database
from .database_async import AsyncDatabase
from .embedded import resolve
from .errors import ConfigurationError
from .migrations import Migrator

#: This run's databases: unique across processes, machines and CI jobs on one server.
_RUN = uuid.uuid4().hex[:10]


class _Hooks:
    """Hooks a project's conftest.py may implement."""

    @pytest.hookspec(firstresult=False)
    def pytest_persistence_setup_template(self, settings: Settings) -> None:
        """Load data into the template database once, after its migrations: every
        test database is cloned from it (pytest-django's `django_db_setup`)."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_Hooks)


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
    group.addoption(
        "--reuse-db",
        action="store_true",
        default=False,
        help="keep the migrated template between runs; migrate again only when the"
        " migrations change",
    )


def pytest_report_header(config: pytest.Config) -> str:
    # Says where tests will go without connecting: nothing is started for a session
    # that uses no database.
    dsn = config.getoption("--persistence-dsn")
    if dsn:
        return f"persistence: {Settings(database_url=dsn).masked_url}"
    return "persistence: the embedded server (started when a test needs a database)"


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


def _name(kind: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"persistence_{kind}_{_RUN}{'_' + worker if worker else ''}"


@pytest.fixture(scope="session")
def persistence_settings(pytestconfig: pytest.Config) -> Settings:
    """Settings for the server under test, on its default database."""
    return _base_settings(pytestconfig)


@pytest.fixture(scope="session")
def persistence_template(
    pytestconfig: pytest.Config, persistence_settings: Settings
) -> Iterator[Settings]:
    """Settings for the session's template database: migrated once, never connected to
    by tests (PostgreSQL can only clone a template nobody is connected to)."""
    if not pytestconfig.getoption("--reuse-db"):
        name = _name("tpl")
        settings = _create(persistence_settings, name)
        _fill_template(pytestconfig, settings)
        yield settings
        drop_database(persistence_settings, name)
        return
    yield _reusable_template(pytestconfig, persistence_settings)


def _fill_template(config: pytest.Config, settings: Settings) -> None:
    migrator = Migrator(settings, out=lambda _: None)
    if migrator.directory.is_dir():  # a project without migrations yet
        migrator.migrate()
    config.hook.pytest_persistence_setup_template(settings=settings)


def _reusable_template(config: pytest.Config, base: Settings) -> Settings:
    """The template for these migrations (and conftest files), made once and kept."""
    name = f"persistence_tpl_{_fingerprint(base, config)}"
    with connect(base) as conn:
        # Workers and parallel jobs wait for whoever makes it, then all reuse it.
        conn.execute("select pg_advisory_lock(hashtext(%s))", [name])
        try:
            found = conn.execute(
                "select shobj_description(oid, 'pg_database') from pg_database where datname = %s",
                [name],
            ).fetchone()
            if found is None or found[0] != "persistence template: complete":
                settings = _create(base, name)
                _fill_template(config, settings)
                conn.execute(
                    sql.SQL("comment on database {} is 'persistence template: complete'").format(
                        sql.Identifier(name)
                    )
                )
        finally:
            conn.execute("select pg_advisory_unlock(hashtext(%s))", [name])
    return on_database(base, name)


def _fingerprint(settings: Settings, config: pytest.Config) -> str:
    """What the template depends on: every migration's content, and the conftest
    files that may fill it (their hook)."""
    digest = hashlib.sha256()
    folder = settings.migrations_folder
    if folder.is_dir():
        for f in load_files(folder):
            digest.update(f"{f.id}:{f.checksum}\n".encode())
    for conftest in sorted(Path(config.rootpath).rglob("conftest.py")):
        if ".venv" not in conftest.parts:
            digest.update(conftest.read_bytes())
    return digest.hexdigest()[:16]


def _create(settings: Settings, name: str, template: str | None = None) -> Settings:
    try:
        return create_database(settings, name, template=template)
    except ConfigurationError as ex:  # _connect's: which privilege is missing, and how
        raise pytest.UsageError(f"persistence: {ex}") from None


@pytest.fixture(scope="session")
def persistence_session_db(
    persistence_settings: Settings, persistence_template: Settings
) -> Iterator[Settings]:
    """Settings for the session database that `db` and `adb` roll back in. While it
    exists, DATABASE_URL names it, for code under test that reads the environment."""
    name = _name("test")
    settings = _create(persistence_settings, name, template=database_name(persistence_template))
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = settings.database_url or ""
    yield settings
    if saved is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = saved
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
except ImportError:  # pragma: no cover - `adb` needs pytest-asyncio (the `pytest` extra)
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
    name = f"{_name('t')}_{uuid.uuid4().hex[:8]}"
    yield _create(persistence_settings, name, template=database_name(persistence_template))
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
        name = f"{_name('p')}_{uuid.uuid4().hex[:8]}"
        url = _create(persistence_settings, name).database_url or ""
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
