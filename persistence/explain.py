"""`persistence explain NAME`: the plan of a named query, by its name.

The query is prepared as the server would see it from the toolkit, and explained with
`plan_cache_mode = force_generic_plan`: the plan shows `$1, $2...`, never the values
given, and it is the plan a long-lived connection settles on. Without parameters the
plan is the generic one (any server version: NULL arguments are never evaluated by
plain EXPLAIN); `--analyze` runs the statement, with every parameter, inside a
transaction that is always rolled back, so a write changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg import sql

from ._comment import comment
from ._connect import open_connection
from .config import Settings
from .errors import QueryError, translate
from .queries import Catalog
from .stats import shown

__all__ = ["explain"]

_PREPARED = "persistence_explain"


def explain(
    settings: Settings,
    catalog: Catalog,
    name: str,
    params: Mapping[str, str],
    *,
    analyze: bool = False,
) -> list[str]:
    """The plan of query `name`, one line per list item, under a header line.

    Args:
        params: parameter values as text (the server casts them to the parameter types).
        analyze: run it (in a transaction that is rolled back) for real times and rows.

    Raises:
        QueryError: no such query, a script, an unknown parameter, or `analyze` without
            every parameter.
        PersistenceError: the server refused it (one line; the password scrubbed, the
            values shown as given).
    """
    query = catalog[name]
    if query.operation in ("script", "execute_many"):
        raise QueryError(
            f"query {name!r} ({query.where}) is a {query.operation}: explain one statement"
        )
    unknown = sorted(set(params) - set(query.params))
    if unknown:
        raise QueryError(
            f"query {name!r} ({query.where}) has no parameter {unknown[0]!r};"
            f" it takes: {', '.join(query.params) or 'none'}"
        )
    missing = [p for p in query.params if p not in params]
    if analyze and missing:
        raise QueryError(
            f"--analyze runs query {name!r}: give every parameter (missing:"
            f" {', '.join(missing)}), e.g. -p {missing[0]}=..."
        )
    options = sql.SQL("analyze, buffers, " if analyze else "") + sql.SQL("verbose off")
    args = sql.SQL(", ").join(
        sql.Literal(params[p]) if p in params else sql.SQL("null") for p in query.params
    )
    execute = sql.SQL("explain ({}) execute {}").format(options, sql.Identifier(_PREPARED))
    if query.params:
        execute = execute + sql.SQL("({})").format(args)
    lead = comment(query.name) + " "
    try:
        with (
            open_connection(settings) as conn,  # failing to connect: one line of advice
            conn.transaction(force_rollback=True),
        ):
            # All in one transaction, so that through a transaction pooler (DB_POOLER)
            # it runs on one server session and leaves nothing on it for the next
            # client: the SET is local, and PREPARE (which a rollback keeps) is undone.
            conn.execute("set local plan_cache_mode = force_generic_plan")
            # `numbered` is the file's statement with $n placeholders, sent as written.
            conn.execute(f"{lead}prepare {_PREPARED} as {query.numbered}".encode())
            # The values go in as literals of EXECUTE (a utility statement takes no
            # bound parameters); the generic plan shows $n in their place.
            rows = conn.execute(lead.encode() + execute.as_bytes(conn)).fetchall()
            conn.execute(sql.SQL("deallocate {}").format(sql.Identifier(_PREPARED)))
    except psycopg.Error as ex:
        # An error can quote a value ("invalid input syntax for type bigint: ..."): the
        # operator typed it, so it stays; only the password is scrubbed.
        raise translate(ex, query=query.name, secrets=settings.secrets) from ex
    header = f"{query.name} ({shown(query.path)}:{query.line})" + (
        "" if analyze else ", generic plan" if not params else ""
    )
    return [header, *(str(row[0]) for row in rows)]
