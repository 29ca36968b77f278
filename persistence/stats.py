"""`persistence stats`: what the server knows about this project's statements and tables.

Read-only, from PostgreSQL's statistics views:

- per named query, from `pg_stat_statements` when the extension is there: calls, total
  and mean time, rows, shared-buffer hit ratio, keyed by the name in the statement's
  comment (see _comment) and the query's `file:line`, slowest (most total time) first;
- tables by size, with the planner's row estimate, sequential vs index scans, dead
  tuples and the last (auto)vacuum and (auto)analyze;
- indexes never scanned (unique ones are left out: they enforce a constraint);
- connections by database, application and state;
- transactions open longer than a threshold, and who blocks whom.

No statement text is shown, only the names in the comments: a text can hold literal
values, and values never go into output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ._comment import KEY, name_in
from ._connect import connect
from .config import Settings
from .queries import Catalog

__all__ = ["ENABLE_HINT", "Stats", "collect", "render"]

ENABLE_HINT = (
    "pg_stat_statements is not enabled, so there are no per-query figures. To enable it:"
    " add shared_preload_libraries = 'pg_stat_statements' to postgresql.conf, restart the"
    " server, then run `create extension pg_stat_statements;` in this database"
    " (the embedded server preloads it: only the create extension is needed)"
)

_STATEMENTS = """
select query, calls, total_exec_time, rows, shared_blks_hit, shared_blks_read
  from pg_stat_statements
 where dbid = (select oid from pg_database where datname = current_database())
   and query like %s
"""

_TABLES = """
select s.schemaname as schema, s.relname as name,
       {size} as bytes,
       greatest(c.reltuples, 0)::bigint as rows_estimate,
       s.seq_scan, coalesce(s.idx_scan, 0) as idx_scan, s.n_dead_tup as dead_tuples,
       greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum,
       greatest(s.last_analyze, s.last_autoanalyze) as last_analyze
  from pg_stat_user_tables s join pg_class c on c.oid = s.relid
 order by 3 desc, s.schemaname, s.relname
 limit %s
"""

_UNUSED_INDEXES = """
select s.schemaname as schema, s.relname as table, s.indexrelname as name,
       {size} as bytes
  from pg_stat_user_indexes s join pg_index i on i.indexrelid = s.indexrelid
 where s.idx_scan = 0 and not i.indisunique and not i.indisprimary
 order by 4 desc, s.schemaname, s.indexrelname
"""

# Exact sizes take a lock on each relation; a table locked by a migration (the moment
# stats is wanted most) would block them. Then the sizes are pg_class's page counts, as
# of the last vacuum or analyze.
_TABLE_SIZE = "pg_total_relation_size(s.relid)"
_TABLE_SIZE_ESTIMATE = (
    "(select coalesce(sum(r.relpages), 0) from pg_class r where r.oid = s.relid"
    " or r.oid = c.reltoastrelid or r.oid in (select indexrelid from pg_index"
    " where indrelid = s.relid))::bigint * current_setting('block_size')::bigint"
)
_INDEX_SIZE = "pg_relation_size(s.indexrelid)"
_INDEX_SIZE_ESTIMATE = (
    "(select relpages from pg_class where oid = s.indexrelid)::bigint"
    " * current_setting('block_size')::bigint"
)

_CONNECTIONS = """
select coalesce(datname, '') as database, application_name as application,
       coalesce(state, '') as state, count(*) as count
  from pg_stat_activity
 where pid <> pg_backend_pid() and backend_type = 'client backend'
 group by 1, 2, 3
 order by count(*) desc, 1, 2, 3
"""

_LONG_TRANSACTIONS = """
select pid, coalesce(datname, '') as database, application_name as application, state,
       extract(epoch from now() - xact_start)::float8 as seconds,
       wait_event_type, query, pg_blocking_pids(pid) as blocked_by
  from pg_stat_activity
 where xact_start is not null and pid <> pg_backend_pid()
   and (now() - xact_start > make_interval(secs => %s) or cardinality(pg_blocking_pids(pid)) > 0)
 order by xact_start
"""


@dataclass
class Stats:
    """What `collect` found; `as_json()` for tools, `render()` for people."""

    #: None when pg_stat_statements is not available (see `statements_note`).
    statements: list[dict[str, Any]] | None
    statements_note: str | None
    tables: list[dict[str, Any]]
    unused_indexes: list[dict[str, Any]]
    connections: list[dict[str, Any]]
    long_transactions: list[dict[str, Any]]
    threshold_seconds: float
    #: A relation was locked: sizes are from pg_class's page counts.
    sizes_estimated: bool = False

    def as_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, datetime) else value

        def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: plain(v) for k, v in item.items()} for item in items]

        return {
            "statements": None if self.statements is None else rows(self.statements),
            "statements_note": self.statements_note,
            "tables": rows(self.tables),
            "unused_indexes": rows(self.unused_indexes),
            "connections": rows(self.connections),
            "long_transactions": rows(self.long_transactions),
            "long_transaction_threshold_seconds": self.threshold_seconds,
            "sizes_estimated": self.sizes_estimated,
        }


def collect(
    settings: Settings,
    catalog: Catalog | None = None,
    *,
    threshold: float = 60.0,
    tables: int = 20,
) -> Stats:
    """Read the statistics of `settings`' database.

    Args:
        catalog: the named queries, to place each name at its `file:line`.
        threshold: seconds after which an open transaction is listed.
        tables: how many tables, largest first.

    Raises:
        PersistenceError: the server is unreachable or refused (one line, no password).
    """
    with connect(settings) as conn:
        conn.row_factory = dict_row
        conn.execute("set lock_timeout = '1s'")
        statements, note = _statements(conn, catalog)
        try:
            with conn.transaction():
                found_tables = conn.execute(_sized(_TABLES, _TABLE_SIZE), [tables]).fetchall()
                unused = conn.execute(_sized(_UNUSED_INDEXES, _INDEX_SIZE)).fetchall()
            estimated = False
        except psycopg.errors.LockNotAvailable:
            sizes = _sized(_TABLES, _TABLE_SIZE_ESTIMATE)
            found_tables = conn.execute(sizes, [tables]).fetchall()
            unused = conn.execute(_sized(_UNUSED_INDEXES, _INDEX_SIZE_ESTIMATE)).fetchall()
            estimated = True
        connections = conn.execute(_CONNECTIONS).fetchall()
        long = conn.execute(_LONG_TRANSACTIONS, [threshold]).fetchall()
    for row in long:
        # The statement's name only: its text may hold literal values.
        text = row.pop("query") or ""
        row["statement"] = name_in(text) or ("(unnamed)" if text else None)
        row["blocked_by"] = list(row["blocked_by"] or [])
    return Stats(
        sizes_estimated=estimated,
        statements=statements,
        statements_note=note,
        tables=found_tables,
        unused_indexes=unused,
        connections=connections,
        long_transactions=long,
        threshold_seconds=threshold,
    )


def _sized(template: str, size: str) -> bytes:
    return template.replace("{size}", size).encode()


def _statements(
    conn: psycopg.Connection[dict[str, Any]], catalog: Catalog | None
) -> tuple[list[dict[str, Any]] | None, str | None]:
    installed = conn.execute(
        "select 1 from pg_extension where extname = 'pg_stat_statements'"
    ).fetchone()
    if installed is None:
        return None, ENABLE_HINT
    try:
        with conn.transaction():
            found = conn.execute(_STATEMENTS, [f"%{KEY}=%"]).fetchall()
    except psycopg.errors.ObjectNotInPrerequisiteState:
        # Created in the database, but the library is not preloaded.
        return None, ENABLE_HINT
    by_name: dict[str, dict[str, Any]] = {}
    for row in found:
        name = name_in(row["query"])
        if name is None:
            continue
        entry = by_name.setdefault(
            name,
            {
                "name": name,
                "where": _where(name, catalog),
                "calls": 0,
                "total_ms": 0.0,
                "rows": 0,
                "hit": 0,
                "read": 0,
            },
        )
        entry["calls"] += int(row["calls"])
        entry["total_ms"] += float(row["total_exec_time"])
        entry["rows"] += int(row["rows"])
        entry["hit"] += int(row["shared_blks_hit"])
        entry["read"] += int(row["shared_blks_read"])
    result = []
    for entry in by_name.values():
        hit, read = entry.pop("hit"), entry.pop("read")
        entry["mean_ms"] = entry["total_ms"] / entry["calls"] if entry["calls"] else 0.0
        entry["hit_ratio"] = hit / (hit + read) if hit + read else None
        result.append(entry)
    result.sort(key=lambda e: (-e["total_ms"], e["name"]))
    return result, None


def _where(name: str, catalog: Catalog | None) -> str:
    if catalog is not None and name in catalog.queries:
        query = catalog.queries[name]
        return f"{shown(query.path)}:{query.line}"
    kind = name.split(".", 1)[0]
    if kind in ("migrations", "seeds"):
        return f"{kind}/{name.split('.', 1)[1].removesuffix('.rollback')}.sql"
    return "repository"


def shown(path: Path) -> Path:
    """`path` relative to the working directory when it is under it (as people type it)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def byte_size(n: int) -> str:
    """`n` bytes as people read them: "512 B", "1.5 kB", and so on up to GB."""
    size = float(n)
    for unit in ("B", "kB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


def render(stats: Stats) -> str:
    """Plain text for people."""
    out: list[str] = ["named queries (pg_stat_statements), slowest first"]
    if stats.statements is None:
        out.append(f"  {stats.statements_note}")
    elif not stats.statements:
        out.append("  none recorded yet")
    else:
        out.append(
            f"  {'name':<36} {'calls':>8} {'total ms':>10} {'mean ms':>9} {'rows':>9}"
            f" {'hit %':>6}  where"
        )
        for s in stats.statements:
            ratio = "-" if s["hit_ratio"] is None else f"{100 * s['hit_ratio']:.1f}"
            out.append(
                f"  {s['name']:<36} {s['calls']:>8} {s['total_ms']:>10.1f} {s['mean_ms']:>9.2f}"
                f" {s['rows']:>9} {ratio:>6}  {s['where']}"
            )
    out += ["", "tables, largest first"]
    if stats.sizes_estimated:
        out.append("  (a relation is locked: sizes are estimates from the last vacuum/analyze)")
    if not stats.tables:
        out.append("  none")
    else:
        out.append(
            f"  {'table':<32} {'size':>9} {'rows~':>9} {'seq scans':>9} {'idx scans':>9}"
            f" {'dead':>7}  {'last vacuum':<16}  last analyze"
        )
    for t in stats.tables:
        out.append(
            f"  {t['schema'] + '.' + t['name']:<32} {byte_size(t['bytes']):>9}"
            f" {t['rows_estimate']:>9} {t['seq_scan']:>9} {t['idx_scan']:>9} {t['dead_tuples']:>7}"
            f"  {_when(t['last_vacuum']):<16}  {_when(t['last_analyze'])}"
        )
    out += ["", "indexes never used (unique and primary keys left out)"]
    for i in stats.unused_indexes:
        size = byte_size(i["bytes"])
        out.append(f"  {i['schema']}.{i['name']:<40} on {i['table']:<24} {size:>9}")
    if not stats.unused_indexes:
        out.append("  none")
    out += ["", "connections by database, application and state"]
    for c in stats.connections:
        app = c["application"] or "(none)"
        out.append(f"  {c['count']:>4}  {c['database'] or '-':<24} {app:<28} {c['state']}")
    threshold = f"{stats.threshold_seconds:g}"
    out += ["", f"transactions open longer than {threshold} s, or waiting on a lock"]
    for x in stats.long_transactions:
        blocked = f", blocked by {', '.join(map(str, x['blocked_by']))}" if x["blocked_by"] else ""
        out.append(
            f"  pid {x['pid']} ({x['application'] or 'no application'}, {x['database']})"
            f" {x['state']} for {x['seconds']:.0f} s, at {x['statement'] or '-'}{blocked}"
        )
    if not stats.long_transactions:
        out.append("  none")
    return "\n".join(out)
