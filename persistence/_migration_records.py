"""The record of applied migrations: yoyo's tables (`_yoyo_migration`, `_yoyo_log`) and
ours beside them (`_persistence_migration`: each migration's checksum and rollback SQL at
apply time), read and written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from ._migration_sql import MigrationFile
from ._yoyo import MIGRATION_TABLE, Backend, migration_hash

CHECKSUMS = "_persistence_migration"
_CHECKSUMS = sql.Identifier(CHECKSUMS)
_YOYO_APPLIED = sql.Identifier(MIGRATION_TABLE)
_YOYO_LOG = sql.Identifier("_yoyo_log")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """An applied migration in `history`: when, how (yoyo's log) and by whom."""

    id: str
    #: UTC, without a time zone (yoyo's applied_at_utc).
    applied_at: datetime
    #: "apply" (run by migrate), "mark" (recorded without running: baseline, yoyo mark),
    #: or None when yoyo's log has no entry for it.
    operation: str | None
    #: user@host from yoyo's log.
    by: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    id: str
    applied_at: datetime
    checksum: str | None
    rollback_sql: str | None

    @property
    def hash(self) -> str:  # what yoyo's mark/unmark/log key on
        return migration_hash(self.id)


def create_table(conn: psycopg.Connection[Any]) -> None:
    """Our table, if it does not exist yet (yoyo makes its own)."""
    conn.execute(
        sql.SQL(
            "create table if not exists {} (migration_id text primary key,"
            " checksum text not null, rollback_sql text,"
            " applied_at timestamptz not null default now())"
        ).format(_CHECKSUMS)
    )


def read_applied(conn: psycopg.Connection[Any]) -> dict[str, Applied]:
    """What is applied, by id, oldest first; none when yoyo's table does not exist yet."""
    row = conn.execute(
        "select to_regclass(%s) is not null, to_regclass(%s) is not null",
        [MIGRATION_TABLE, CHECKSUMS],
    ).fetchone()
    if not row or not row[0]:
        return {}
    # Without our table (only yoyo ran here) nothing has a checksum: "unrecorded".
    ours = sql.SQL("left join {} p using (migration_id)").format(_CHECKSUMS)
    query = sql.SQL(
        "select y.migration_id, y.applied_at_utc, {}, {} from {} y {}"
        " order by y.applied_at_utc, y.migration_id"
    ).format(
        sql.SQL("p.checksum" if row[1] else "null::text"),
        sql.SQL("p.rollback_sql" if row[1] else "null::text"),
        _YOYO_APPLIED,
        ours if row[1] else sql.SQL(""),
    )
    return {r[0]: Applied(*r) for r in conn.execute(query).fetchall()}


def read_history(conn: psycopg.Connection[Any]) -> list[HistoryEntry]:
    """The applied migrations in the order they were applied, with yoyo's last apply or
    mark entry for each."""
    if not read_applied(conn):
        return []
    rows = conn.execute(
        sql.SQL(
            "select y.migration_id, y.applied_at_utc, l.operation,"
            " nullif(concat_ws('@', l.username, l.hostname), '')"
            " from {} y left join lateral (select operation, username, hostname"
            " from {} g where g.migration_id = y.migration_id"
            " and g.operation in ('apply', 'mark')"
            " order by g.created_at_utc desc limit 1) l on true"
            " order by y.applied_at_utc, y.migration_id"
        ).format(_YOYO_APPLIED, _YOYO_LOG)
    ).fetchall()
    return [HistoryEntry(*row) for row in rows]


def record(
    backend: Backend, f: MigrationFile, operation: str = "apply", *, in_yoyo: bool = False
) -> None:
    """Record `f` as applied: yoyo's row and log entry (unless `in_yoyo`: it has them
    already), and our checksum and rollback SQL."""
    if not in_yoyo:
        ref = Applied(f.id, datetime.now(), None, None)
        backend.mark_one(ref, log=False)
        backend.log_migration(ref, operation)
    backend.connection.execute(
        sql.SQL(
            "insert into {} (migration_id, checksum, rollback_sql) values (%s, %s, %s)"
            " on conflict (migration_id) do update set checksum = excluded.checksum,"
            " rollback_sql = excluded.rollback_sql, applied_at = now()"
        ).format(_CHECKSUMS),
        (f.id, f.checksum, f.rollback_sql),
    )


def unrecord(backend: Backend, a: Applied) -> None:
    """Record `a` as rolled back: yoyo's row gone, a rollback entry in its log, ours gone."""
    backend.unmark_one(a, log=False)
    backend.log_migration(a, "rollback")
    backend.connection.execute(
        sql.SQL("delete from {} where migration_id = %s").format(_CHECKSUMS), [a.id]
    )


def accept(conn: psycopg.Connection[Any], f: MigrationFile) -> None:
    """Record the current content of applied migration `f` as the applied one."""
    conn.execute(
        sql.SQL("update {} set checksum = %s, rollback_sql = %s where migration_id = %s").format(
            _CHECKSUMS
        ),
        (f.checksum, f.rollback_sql, f.id),
    )
