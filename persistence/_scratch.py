"""Create and drop whole databases on a server: test templates, clones, check scratch."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from ._connect import connect
from ._typeinfo import forget as forget_types
from .config import Settings

__all__ = ["create_database", "database_name", "drop_database", "on_database", "scratch_database"]

# WITH (FORCE) disconnects sessions left on the database (a killed test, a leaked pool).
_DROP = sql.SQL("drop database if exists {} with (force)")


def database_name(settings: Settings) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(settings.database_url or "").get("dbname", ""))


def on_database(settings: Settings, dbname: str) -> Settings:
    """The same server and credentials, another database."""
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    params["dbname"] = dbname
    return dataclasses.replace(settings, database_url=psycopg.conninfo.make_conninfo("", **params))


def create_database(settings: Settings, name: str, template: str | None = None) -> Settings:
    """(Re)create database `name`, empty or cloned from `template`; return its settings."""
    with connect(settings) as conn:
        conn.execute(_DROP.format(sql.Identifier(name)))
        stmt = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            stmt += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(stmt)
    # A database recreated under the same name has new type oids: read them again.
    forget_types()
    return on_database(settings, name)


def drop_database(settings: Settings, name: str) -> None:
    """Drop database `name`, disconnecting whoever is still on it."""
    with connect(settings) as conn:
        conn.execute(_DROP.format(sql.Identifier(name)))
    forget_types()


@contextmanager
def scratch_database(settings: Settings, purpose: str) -> Iterator[Settings]:
    """A new empty database beside `settings`' one, named after it, `purpose` and this
    process, dropped when the block ends; yields its settings."""
    name = f"{database_name(settings)[:40]}_{purpose}_{os.getpid()}"
    scratch = create_database(settings, name)
    try:
        yield scratch
    finally:
        drop_database(settings, name)
