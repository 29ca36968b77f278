"""Create and drop whole databases on a server: test templates, clones, check scratch."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import sql

from ._connect import connect
from ._typeinfo import forget as forget_types
from .config import Settings

__all__ = [
    "create_database",
    "create_on",
    "database_name",
    "drop_database",
    "drop_on",
    "on_database",
    "scratch_database",
    "temporary_database",
]

# WITH (FORCE) disconnects sessions left on the database (a killed test, a leaked pool).
_DROP = sql.SQL("drop database if exists {} with (force)")


def database_name(settings: Settings) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(settings.database_url or "").get("dbname", ""))


def on_database(settings: Settings, dbname: str) -> Settings:
    """The same server and credentials, another database."""
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    params["dbname"] = dbname
    return dataclasses.replace(settings, database_url=psycopg.conninfo.make_conninfo("", **params))


def create_on(conn: psycopg.Connection[Any], name: str, template: str | None = None) -> None:
    """Create database `name` on `conn`'s server, empty or cloned from `template`."""
    stmt = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        stmt += sql.SQL(" template {}").format(sql.Identifier(template))
    conn.execute(stmt)


def drop_on(conn: psycopg.Connection[Any], name: str) -> None:
    """Drop database `name` if there is one, disconnecting whoever is still on it."""
    conn.execute(_DROP.format(sql.Identifier(name)))


def create_database(settings: Settings, name: str, template: str | None = None) -> Settings:
    """(Re)create database `name`, empty or cloned from `template`; return its settings."""
    with connect(settings) as conn:
        drop_on(conn, name)
        create_on(conn, name, template)
    # A database recreated under the same name has new type oids: read them again.
    forget_types()
    return on_database(settings, name)


def drop_database(settings: Settings, name: str) -> None:
    """Drop database `name`, disconnecting whoever is still on it."""
    with connect(settings) as conn:
        drop_on(conn, name)
    forget_types()


@contextmanager
def temporary_database(
    settings: Settings, name: str, template: Settings | None = None
) -> Iterator[Settings]:
    """Database `name`, empty or cloned from `template`'s database, for the block only:
    dropped when it ends, however it ends; yields its settings."""
    created = create_database(settings, name, database_name(template) if template else None)
    try:
        yield created
    finally:
        drop_database(settings, name)


def scratch_database(settings: Settings, purpose: str) -> AbstractContextManager[Settings]:
    """A temporary empty database beside `settings`' one, named after it, `purpose` and
    this process."""
    return temporary_database(settings, f"{database_name(settings)[:40]}_{purpose}_{os.getpid()}")
