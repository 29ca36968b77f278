"""The tools' door to the server: `connect` (and `open_connection`).

Scratch and template databases, `check`, `types`, the migrator's sessions, seeds and
the pytest plugin's admin work all open their connections here, so each gets the
session settings of `Settings.conninfo()` (timeouts, application_name, sslmode) and
each failure becomes one `PersistenceError` line that says what to do, never a
traceback and never the password. A service's connections are not opened here: the
pools, and the direct connections that `AsyncDatabase` and the replica set open
beside them to learn a server's own reason or status, use the same `conninfo()` and
`connection_kwargs`, and translate failures as every call's are (`errors.translate`,
with `pooler_refusal` when the database opens).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg

from .config import Settings
from .errors import (
    ConfigurationError,
    ConnectionFailed,
    PersistenceError,
    connection_advice,
    translate,
)

__all__ = [
    "BACKEND_PID",
    "behind_pooler",
    "connect",
    "connection_error",
    "connection_kwargs",
    "open_connection",
    "pooled",
    "pooler_refusal",
]

_NO_DATABASE = re.compile(r'FATAL:\s+database ".*" does not exist')
#: PgBouncer's answer to the startup `options` of a direct connection's settings.
_POOLER_REFUSED = re.compile(r"unsupported startup parameter: (\w+)")


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """What every connection to `settings`' database is opened with, beyond conninfo.

    Behind a transaction pooler, psycopg must not prepare statements on the server: a
    statement prepared on one server session is unknown to the next transaction's
    ("prepared statement ... does not exist").
    """
    return {"prepare_threshold": None} if settings.pooler else {}


@contextmanager
def connect(settings: Settings, *, autocommit: bool = True) -> Iterator[psycopg.Connection[Any]]:
    """A connection to `settings`' database, closed when the block ends.

    Driver errors, while connecting or inside the block, are raised translated.

    Raises:
        ConnectionFailed: the server is unreachable or the database does not exist.
        ConfigurationError: no database is configured, or the role lacks a privilege
            the work needs (CREATEDB for scratch databases).
        PersistenceError: any other driver error, translated.
    """
    try:
        with open_connection(settings, autocommit=autocommit) as conn:
            yield conn
    except psycopg.Error as ex:
        raise connection_error(ex, settings) from None


def open_connection(settings: Settings, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection the caller closes (yoyo's backend keeps its own); errors while
    connecting are raised translated, as by `connect`."""
    try:
        return psycopg.connect(
            settings.conninfo(), autocommit=autocommit, **connection_kwargs(settings)
        )
    except psycopg.Error as ex:
        raise connection_error(ex, settings) from None


def pooler_refusal(ex: BaseException, settings: Settings) -> ConfigurationError | None:
    """The advice for PgBouncer refusing a direct connection's startup options, if that
    is what `ex` is (PgBouncer takes no `options` unless told to ignore them)."""
    refused = _POOLER_REFUSED.search(str(ex))
    if refused is None:
        return None
    return ConfigurationError(
        f"the server at {settings.masked_url} refused the startup parameter"
        f" {refused.group(1)!r}: it is a connection pooler (PgBouncer). A service behind"
        " it sets DB_POOLER=transaction; migrations, check and types need"
        " DATABASE_MIGRATION_URL to name the PostgreSQL server itself, not the pooler"
    )


def connection_error(ex: psycopg.Error, settings: Settings) -> PersistenceError:
    """The toolkit's error for `ex`, with advice for the failures of setting up."""
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    user = params.get("user") or "the role in DATABASE_URL"
    # libpq reports a failed connection without a SQLSTATE: the server's FATAL
    # invalid_catalog_name (3D000) reaches us only as the text of the message.
    if isinstance(ex, pg.InvalidCatalogName) or _NO_DATABASE.search(str(ex)):
        name = params.get("dbname", "")
        return ConnectionFailed(
            f"database {name!r} does not exist: create it (createdb {name})"
            " or point DATABASE_URL at one that does"
        )
    if isinstance(ex, pg.InsufficientPrivilege) and "create database" in str(ex):
        return ConfigurationError(
            f"permission denied to create database: role {user!r} lacks the CREATEDB"
            " privilege, which check, types and the test plugin need for scratch databases;"
            f" grant it (alter role {user} createdb) or use a role that has it"
        )
    refused = pooler_refusal(ex, settings)
    if refused is not None:
        return refused
    error = translate(ex, secrets=settings.secrets)
    if type(error) is ConnectionFailed and not connection_advice(str(error)):
        # The server answered and refused, for a reason no advice of ours matches.
        return ConnectionFailed(f"{error}; check DATABASE_URL and the server's log")
    return error


#: A session's backend process id as the server knows it, for `behind_pooler`.
BACKEND_PID = "select pg_backend_pid()"


def behind_pooler(row: tuple[Any, ...] | None, backend_pid: int) -> bool:
    """Whether a connection goes through a pooler (PgBouncer): `row`, its answer to
    `BACKEND_PID`, differs from the `backend_pid` it was given at startup
    (BackendKeyData, for cancel requests), which a pooler makes up for each client as
    its server sessions change hands; a TCP proxy or NAT passes the server's through."""
    return row is not None and row[0] != backend_pid


def pooled(conn: psycopg.Connection[Any]) -> bool:
    """Whether `conn` goes through a connection pooler (see `behind_pooler`)."""
    return behind_pooler(conn.execute(BACKEND_PID).fetchone(), conn.info.backend_pid)
