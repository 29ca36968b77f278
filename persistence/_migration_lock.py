"""The migration lock: the session-level advisory lock every run holds (the server
releases it when the session ends), the wait for it, with a limit of its own whatever
the session's statement_timeout, and who holds it, for the messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from ._migration_sql import reset_timeouts
from .errors import MigrationError

#: Key of the advisory lock every run holds ("persist!" as a bigint).
LOCK_KEY = int.from_bytes(b"persist!", "big")


def take_lock(conn: psycopg.Connection[Any], wait: float, out: Callable[[str], None]) -> None:
    """Take the lock for `conn`'s session, waiting for it up to `wait` seconds (0: not at
    all), said through `out`."""
    got = conn.execute("select pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
    if got and got[0]:
        return
    if wait <= 0:
        raise MigrationError(
            f"the migration lock is held by {_holder(conn)}: another migration run is in"
            " progress; run again when it ends, or give --lock-timeout SECONDS to wait"
        )
    out(f"waiting up to {wait:g} s for the migration lock, held by {_holder(conn)}")
    # The wait has a limit of its own. The session's statement_timeout (the pool's,
    # 30 s by default) must not cancel it: another replica's migration may run for
    # minutes, and every replica of a deploy would fail while it does. The statement
    # limit is a backstop one second later, so lock_timeout is what normally fires.
    # PostgreSQL's limit for both settings is INT_MAX ms (24.8 days).
    ms = max(1, round(min(wait, 2_000_000.0) * 1000))
    conn.execute(
        "select set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        [str(ms), str(ms + 1000)],
    )
    try:
        conn.execute("select pg_advisory_lock(%s)", [LOCK_KEY])
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
        raise MigrationError(
            f"gave up waiting for the migration lock after {wait:g} s: it is held by"
            f" {_holder(conn)}, whose migration run is still going; run again when it"
            " ends, or wait longer with --lock-timeout SECONDS (DB_MIGRATION_LOCK_TIMEOUT)"
        ) from None
    finally:
        reset_timeouts(conn)


def _holder(conn: psycopg.Connection[Any]) -> str:
    """Who holds the migration lock: pid, application_name and since when, for messages.

    "Since" is the holder's session start: a run takes the lock as soon as it connects.
    """
    row = conn.execute(
        "select l.pid, a.application_name,"
        " to_char(a.backend_start at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),"
        " extract(epoch from now() - a.backend_start)::bigint"
        " from pg_locks l left join pg_stat_activity a on a.pid = l.pid"
        " where l.locktype = 'advisory' and l.granted and l.objsubid = 1"
        " and l.database = (select oid from pg_database where datname = current_database())"
        " and (l.classid::bigint << 32 | l.objid::bigint) = %s",
        [LOCK_KEY],
    ).fetchone()
    if row is None:
        return "a session that has just ended"
    pid, app, since, age = row
    # Without pg_read_all_stats another role's session start is hidden (null).
    when = f"since {since} UTC, {age} s ago" if since else "since: not visible to this role"
    return f"pid {pid} (application_name {app or ''!r}, {when})"
