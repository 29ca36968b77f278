"""yoyo-migrations behind one door: every name the toolkit takes from yoyo is here.

Written against yoyo-migrations 9.0.0, relying on what its API does not promise:

- `PostgresqlPsycopgBackend(uri, migration_table)` reads only `uri.database` and calls
  `self.connect(uri)` for its connection, so overriding `connect` gives it ours
  (Settings' timeouts, sslmode, translated errors) in place of a URL it would parse;
- `topological_sort` returns a lazy generator, so a dependency cycle escapes
  `read_migrations` as `CycleError` rather than as `BadMigration`;
- `get_migration_hash(id)` is the key of yoyo's `_yoyo_migration` and `_yoyo_log` rows.

An upgrade of yoyo is checked here, and only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import default_migration_table
from yoyo.exceptions import BadMigration
from yoyo.migrations import get_migration_hash, read_migrations, topological_sort
from yoyo.topologicalsort import CycleError

from ._connect import open_connection
from .config import Settings

__all__ = [
    "MIGRATION_TABLE",
    "Backend",
    "BadMigration",
    "CycleError",
    "migration_hash",
    "open_backend",
    "read_migrations",
    "topological_sort",
]

#: yoyo's table of applied migrations.
MIGRATION_TABLE: str = default_migration_table


def migration_hash(migration_id: str) -> str:
    """What yoyo's mark/unmark/log rows key a migration on."""
    return str(get_migration_hash(migration_id))


@dataclass(frozen=True, slots=True)
class _Target:
    """What yoyo's backend takes as its URI: it reads `.database`, we connect."""

    settings: Settings
    database: str


class Backend(PostgresqlPsycopgBackend):  # type: ignore[misc]
    """yoyo's backend on a connection made from our Settings (timeouts, sslmode...)."""

    def connect(self, dburi: _Target) -> psycopg.Connection[Any]:
        return open_connection(dburi.settings)


def open_backend(settings: Settings, database: str) -> Backend:
    """yoyo's backend for `settings`, connected (errors while connecting translated)."""
    return Backend(_Target(settings, database), MIGRATION_TABLE)
