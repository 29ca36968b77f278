"""`updated_at` done once: the migration that keeps it current, and the check that finds
a table whose `updated_at` nothing maintains."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from .errors import MigrationError

FUNCTION = "persistence_set_updated_at"
_TABLE = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?")


def migration(tables: list[str]) -> tuple[str, str]:
    """The forward and rollback SQL that keep `updated_at` current on `tables`.

    >>> print(migration(["companies"])[0].splitlines()[-2])
    create trigger companies_set_updated_at before update on companies
    """
    for table in tables:
        if not _TABLE.fullmatch(table):
            raise MigrationError(
                f"--updated-at {table!r}: give a table name in lowercase, optionally schema.table"
            )
    up = [
        "-- The function is shared: each migration made with --updated-at (re)creates it.",
        f"create or replace function {FUNCTION}() returns trigger language plpgsql as $$",
        "begin",
        "    new.updated_at := now();",
        "    return new;",
        "end",
        "$$;",
    ]
    down = []
    for table in tables:
        trigger = f"{table.rpartition('.')[2]}_set_updated_at"
        up += [
            "",
            f"create trigger {trigger} before update on {table}",
            f"    for each row execute function {FUNCTION}();",
        ]
        down.append(f"drop trigger {trigger} on {table};")
    down += [
        "-- The function goes with the last trigger that uses it.",
        "do $$",
        "begin",
        "    if not exists (select from pg_trigger t join pg_proc p on p.oid = t.tgfoid",
        f"                   where p.proname = '{FUNCTION}') then",
        f"        drop function {FUNCTION}();",
        "    end if;",
        "end",
        "$$;",
    ]
    return "\n".join(up) + "\n", "\n".join(down) + "\n"


# Tables with an updated_at column and no row-level BEFORE UPDATE trigger (tgtype bits:
# 1 row, 2 before, 16 update).
UNMAINTAINED = """
select case when n.nspname = 'public' then format('%I', c.relname)
            else format('%I.%I', n.nspname, c.relname) end
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'updated_at' and not a.attisdropped
where c.relkind in ('r', 'p')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_%'
  and not exists (
      select from pg_trigger t
      where t.tgrelid = c.oid and not t.tgisinternal and t.tgtype & 19 = 19
  )
order by 1
"""


def unmaintained(conn: psycopg.Connection[Any]) -> list[str]:
    """The tables (schema.table outside `public`) whose `updated_at` column no trigger
    keeps current."""
    return [row[0] for row in conn.execute(UNMAINTAINED).fetchall()]
