"""`persistence check`: prove the project's migrations in a scratch database.

For every migration, in dependency order: snapshot the schema, apply, roll back, check
that the schema is back to the snapshot, apply again and check that it matches the first
application. A rollback that forgets an index, a trigger or a default is reported with
the difference, naming the migration.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg

from ._scratch import create_database, database_name, drop_database
from .config import Settings
from .errors import MigrationError
from .migrations import Migrator, Output
from .schema import diff, snapshot

__all__ = ["check_migrations"]


def check_migrations(settings: Settings, out: Output = print) -> list[str]:
    """Prove every migration's rollback; return the problems found (empty: all proven).

    `settings` names the server; the scratch database is created beside its database
    and dropped afterwards. Nothing is changed in the configured database itself.
    """
    migrator = Migrator(settings, out=lambda _: None)
    files = migrator.load()
    problems = [
        f"{f.id}: {f.rollback_path} is missing; every migration needs a rollback"
        for f in files
        if f.rollback_sql is None
    ]
    if problems or not files:
        if not files:
            out(f"no migrations in {migrator.directory}")
        return problems

    name = f"{database_name(settings)[:40]}_check_{os.getpid()}"
    scratch = create_database(settings, name)
    try:
        proof = Migrator(scratch, out=lambda _: None)
        with psycopg.connect(scratch.conninfo(), autocommit=True) as conn:
            for f in files:
                problem = _prove(proof, conn, f.id, str(f.rollback_path))
                out(f"{'FAILED' if problem else 'ok':<8}{f.id}")
                if problem:
                    problems.append(problem)
                    break  # later migrations build on a schema we know is wrong
    finally:
        drop_database(settings, name)
    return problems


def _prove(migrator: Migrator, conn: psycopg.Connection[Any], mid: str, where: str) -> str | None:
    before = snapshot(conn)
    try:
        migrator.migrate(target=mid)
    except MigrationError as ex:
        return f"{mid}: does not apply: {ex}"
    applied = snapshot(conn)
    try:
        migrator.rollback(1)
    except MigrationError as ex:
        return f"{mid}: rollback fails: {ex}"
    restored = snapshot(conn)
    if restored != before:
        lines = "\n".join(diff(before, restored))
        return f"{mid}: rollback does not restore the schema ({where}):\n{lines}"
    try:
        migrator.migrate(target=mid)
    except MigrationError as ex:
        return f"{mid}: does not apply again after its rollback: {ex}"
    again = snapshot(conn)
    if again != applied:
        lines = "\n".join(diff(applied, again))
        return f"{mid}: applying again after the rollback gives another schema:\n{lines}"
    return None
