"""The statements of `upsert_many`: COPY into a temporary table, then one INSERT ... ON
CONFLICT from it. Pure composition, no I/O; both repository twins use it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from psycopg import sql

STAGE = sql.Identifier("_persistence_upsert")


class Upserted(NamedTuple):
    """What `upsert_many` did: rows inserted, and rows that existed and were updated."""

    inserted: int
    updated: int


def create_stage(table: sql.Composable, columns: Sequence[str]) -> sql.Composed:
    """A temporary table with the columns' types and no constraint (a row is checked
    once, by the table it goes to).

    >>> print(create_stage(sql.Identifier("items"), ["sku", "name"]).as_string(None))
    create temporary table "_persistence_upsert" on commit drop as select "sku", "name" from "items" with no data
    """  # noqa: E501
    return sql.SQL(
        "create temporary table {} on commit drop as select {} from {} with no data"
    ).format(STAGE, _names(columns), table)


def copy_stage(columns: Sequence[str], binary: bool) -> sql.Composed:
    fmt = sql.SQL(" (format binary)" if binary else "")
    return sql.SQL("copy {} ({}) from stdin{}").format(STAGE, _names(columns), fmt)


def merge(
    table: sql.Composable, columns: Sequence[str], conflict: Sequence[str], update: Sequence[str]
) -> sql.Composed:
    """One INSERT ... ON CONFLICT from the stage, counting inserted and updated rows: a
    row the statement inserted has xmax = 0; a row it updated carries its own xid there.

    >>> print(merge(sql.Identifier("t"), ["k", "v"], ["k"], ["v"]).as_string(None))
    with done as (insert into "t" ("k", "v") select "k", "v" from "_persistence_upsert" on conflict ("k") do update set "v" = excluded."v" returning xmax = 0 as inserted) select count(*) filter (where inserted), count(*) filter (where not inserted) from done
    """  # noqa: E501
    action: sql.Composable
    if update:
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in update
        )
        action = sql.SQL("do update set {}").format(sets)
    else:
        action = sql.SQL("do nothing")
    return sql.SQL(
        "with done as (insert into {table} ({cols}) select {cols} from {stage}"
        " on conflict ({conflict}) {action} returning xmax = 0 as inserted)"
        " select count(*) filter (where inserted), count(*) filter (where not inserted)"
        " from done"
    ).format(
        table=table, cols=_names(columns), stage=STAGE, conflict=_names(conflict), action=action
    )


DROP_STAGE = sql.SQL("drop table {}").format(STAGE)


def _names(columns: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, columns))
