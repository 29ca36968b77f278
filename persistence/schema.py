"""Schema snapshots: what a migration's rollback must restore, and how two differ.

A snapshot is, per kind of object, the set of its definitions as PostgreSQL prints them
(`pg_get_constraintdef`, `pg_get_indexdef`, ...): names and definitions, never OIDs, so
dropping and re-creating an object yields the same snapshot.
"""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg

__all__ = ["Snapshot", "diff", "snapshot"]

Snapshot = dict[str, frozenset[str]]

# Tables the migration runner itself keeps: they differ by design after a run.
_BOOKKEEPING = (
    "_yoyo_migration",
    "_yoyo_log",
    "_yoyo_version",
    "yoyo_lock",
    "_persistence_migration",
)

# The schemas a snapshot covers: every one but the system's and the sessions' temporary
# ones. Read first; every other query takes the list, so the filter is written once.
_SCHEMAS: LiteralString = """
    select nspname from pg_namespace
    where nspname <> all (array['pg_catalog', 'information_schema', 'pg_toast'])
      and nspname !~ '^pg_(toast_)?temp_'"""

_QUERIES: dict[str, LiteralString] = {
    "extensions": "select extname from pg_extension",
    "relations": """
        select format('%%s %%s.%%s', c.relkind, n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s)
          and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
          and c.relname <> all (%(bookkeeping)s)""",
    "columns": """
        select format('%%s.%%s.%%s %%s%%s%%s%%s', n.nspname, c.relname, a.attname,
                      format_type(a.atttypid, a.atttypmod),
                      case when a.attnotnull then ' not null' else '' end,
                      coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                      case when a.attgenerated <> '' then ' generated' else '' end)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = any (%(schemas)s)
          and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and a.attnum > 0 and not a.attisdropped
          and c.relname <> all (%(bookkeeping)s)""",
    "constraints": """
        select format('%%s.%%s %%s: %%s', n.nspname, c.relname, k.conname,
                      pg_get_constraintdef(k.oid))
        from pg_constraint k
        join pg_class c on c.oid = k.conrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s)
          and c.relname <> all (%(bookkeeping)s)""",
    "indexes": """
        select pg_get_indexdef(i.indexrelid)
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s)
          and c.relname <> all (%(bookkeeping)s)""",
    "sequences": """
        select format('%%s.%%s %%s start %%s inc %%s min %%s max %%s cycle %%s',
                      schemaname, sequencename, data_type, start_value, increment_by,
                      min_value, max_value, cycle)
        from pg_sequences""",
    "views": """
        select format('%%s.%%s: %%s', n.nspname, c.relname, pg_get_viewdef(c.oid))
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s)
          and c.relkind in ('v', 'm')""",
    "functions": """
        select pg_get_functiondef(p.oid)
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        left join pg_depend d on d.objid = p.oid and d.deptype = 'e'
        where n.nspname = any (%(schemas)s)
          and p.prokind in ('f', 'p') and d.objid is null""",
    "triggers": """
        select pg_get_triggerdef(t.oid)
        from pg_trigger t
        join pg_class c on c.oid = t.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any (%(schemas)s)
          and not t.tgisinternal""",
    "enums": """
        select format('%%s.%%s (%%s)', n.nspname, t.typname,
                      string_agg(e.enumlabel, ', ' order by e.enumsortorder))
        from pg_type t
        join pg_namespace n on n.oid = t.typnamespace
        join pg_enum e on e.enumtypid = t.oid
        where n.nspname = any (%(schemas)s)
        group by n.nspname, t.typname""",
    "comments": """
        select format('%%s.%%s%%s: %%s', n.nspname, c.relname,
                      coalesce('.' || a.attname, ''), d.description)
        from pg_description d
        join pg_class c on c.oid = d.objoid and d.classoid = 'pg_class'::regclass
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attribute a on a.attrelid = c.oid and a.attnum = d.objsubid
                                 and d.objsubid > 0
        where n.nspname = any (%(schemas)s)""",
}


def snapshot(conn: psycopg.Connection[Any]) -> Snapshot:
    """The schema of the connection's database, object kind by object kind."""
    schemas = [str(row[0]) for row in conn.execute(_SCHEMAS).fetchall()]
    params = {"bookkeeping": list(_BOOKKEEPING), "schemas": schemas}
    taken: Snapshot = {"schemas": frozenset(schemas)}
    for kind, query in _QUERIES.items():
        rows = conn.execute(query, params).fetchall()
        taken[kind] = frozenset(str(row[0]) for row in rows)
    return taken


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """Lines saying what `after` lacks (`-`) or has in addition (`+`), kind by kind."""
    lines = []
    for kind in before.keys() | after.keys():
        old, new = before.get(kind, frozenset()), after.get(kind, frozenset())
        lines += [f"  - {kind}: {item}" for item in sorted(old - new)]
        lines += [f"  + {kind}: {item}" for item in sorted(new - old)]
    return sorted(lines, key=lambda line: line[4:])
