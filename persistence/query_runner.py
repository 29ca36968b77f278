# Generated from persistence/query_runner_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""QueryRunner: run named queries on a Database.

Generated from persistence/query_runner_async.py: edit that file.

Two ways in. Untyped, by attribute: `db.queries.users.get_user(id=1)` (rows come
back as dicts). Typed, through the module `make types` generates, whose methods call
`all`/`one`/`value`/... here with the row dataclass: rows come back as that class,
mapped by psycopg's `class_row`.

Every call checks its parameters before anything is sent, runs through
`Database.run` (the current transaction's connection if there is one, else a
pooled one; retried after a dead connection only when the statement reads, or its
file declares it `-- idempotent`; a read goes to a replica when there are any, unless
its file says `-- primary`), and is counted in `db.metrics` under the query's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterable, Mapping
from contextlib import closing
from typing import Any, TypeVar, cast

from psycopg import Connection
from psycopg.rows import BaseRowFactory, class_row, dict_row

from ._statements import fetch
from ._types import Executor, Operation, R
from .errors import NotFound, QueryError
from .queries import Catalog, Query

__all__ = ["QueryRunner"]

Row = TypeVar("Row")


class QueryRunner:
    """Named queries bound to one Database; namespaces are attributes."""

    def __init__(self, db: Executor, catalog: Catalog):
        self.db = db
        self.catalog = catalog
        self._factories: dict[tuple[type[Any], str], BaseRowFactory[Any]] = {}

    def __getattr__(self, name: str) -> _Namespace:
        return _Namespace(self, (name,))

    def query(self, name: str) -> Query:
        """The query called `name` ("users.get_user"), or QueryError."""
        return self.catalog[name]

    def _run(self, query: Query, op: Operation[R]) -> R:
        """`op` as `query`: counted by its name, retried when it reads or is idempotent."""
        return self.db.run(
            op,
            name=query.name,
            statement=query.sql_bytes,
            idempotent=query.idempotent,
            primary=query.primary,
        )

    def _factory(self, row: type[Any] | None, query: Query) -> BaseRowFactory[Any]:
        if row is None:
            return dict_row
        factory = self._factories.get((row, query.name))
        if factory is None:
            factory = self._factories[row, query.name] = _fitting(row, query)
        return factory

    def all(
        self, query: Query, params: Mapping[str, Any], row: type[Row] | None = None
    ) -> list[Row]:
        """Every row of a select (no operator)."""
        op = fetch(query.sql_bytes, query.bind(params), self._factory(row, query), every=True)
        return cast("list[Row]", self._run(query, op))

    def stream(
        self,
        query: Query,
        params: Mapping[str, Any],
        row: type[Row] | None = None,
        *,
        batch: int = 1000,
    ) -> Generator[Row, None]:
        """The rows of a select (no operator), `batch` at a time from a server-side
        cursor: memory stays constant, whatever the number of rows.

        The cursor lives in a transaction (the current one, or one of its own that
        holds a pooled connection until the iteration ends): leave a loop early by
        closing the iterator. Each FETCH is a statement of its own, under the
        statement timeout; a consumer that pauses between two batches longer than
        `idle_in_transaction_timeout` loses the cursor with its transaction. Not
        retried, and not counted in `metrics`.

        Raises:
            QueryError: the query is not a plain select, a parameter is missing, or
                `batch` is not positive (nothing is sent).
        """
        if query.operation != "select":
            raise QueryError(f"query {query.name!r} ({query.where}) is not a select to stream")
        if batch < 1:
            raise QueryError(f"query {query.name!r}: batch must be at least 1, not {batch}")
        bound = query.bind(params)
        streamed = self.db._stream(
            query.sql_bytes, bound, self._factory(row, query), query.name, batch
        )
        with closing(streamed):  # left early: closes the cursor at once
            for found in streamed:  # noqa: UP028, RUF100 (cannot `yield from`)
                yield found

    def one(
        self, query: Query, params: Mapping[str, Any], row: type[Row] | None = None
    ) -> Row | None:
        """The first row (`^`, or `<!` with several columns), or None if there is none."""
        op = fetch(query.sql_bytes, query.bind(params), self._factory(row, query), every=False)
        return cast("Row | None", self._run(query, op))

    def row(self, query: Query, params: Mapping[str, Any], row: type[Row]) -> Row:
        """The row an INSERT ... VALUES ... RETURNING always returns (the typed module
        calls this where the statement cannot return none).

        Raises:
            NotFound: no row came back after all (a trigger or rule added since the
                types were generated drops it: run `persistence types`).
        """
        found = self.one(query, params, row)
        if found is None:
            raise NotFound(f"query {query.name!r} ({query.where}) returned no row")
        return found

    def value(self, query: Query, params: Mapping[str, Any]) -> Any:
        """The first column of the first row (`$`, or `<!` with one column).

        Raises:
            NotFound: for `$` when the statement returned no row (a NULL value is
                returned as None: the two are never confused).
        """
        op = fetch(query.sql_bytes, query.bind(params), None, every=False)
        found = self._run(query, op)
        if found is None:
            if query.operation == "select_value":
                raise NotFound(f"query {query.name!r} ({query.where}) returned no row")
            return None
        return found[0]

    def execute(self, query: Query, params: Mapping[str, Any]) -> int:
        """Run a write (`!`) and return the number of rows it affected."""
        bound = query.bind(params)

        def op(conn: Connection[Any]) -> int:
            with conn.cursor() as cur:
                cur.execute(query.sql_bytes, bound)
                return cur.rowcount

        return self._run(query, op)

    def execute_many(self, query: Query, rows: Iterable[Mapping[str, Any]]) -> int:
        """Run a write (`*!`) once per parameter set, pipelined; return rows affected."""
        batch = [query.bind(r) for r in rows]

        def op(conn: Connection[Any]) -> int:
            with conn.cursor() as cur:
                cur.executemany(query.sql_bytes, batch)
                return cur.rowcount

        return self.db.run(op, name=query.name)

    def script(self, query: Query) -> str:
        """Run a script (`#`, no parameters); return the last statement's status, as psql
        prints it ("DELETE 3")."""

        def op(conn: Connection[Any]) -> str:
            with conn.cursor() as cur:
                # No parameters: sent as written, so the text with single % signs.
                cur.execute(query.script_bytes)
                status = cur.statusmessage
                while cur.nextset():  # one result per statement; the cursor starts at the first
                    status = cur.statusmessage
                return status or ""

        return self.db.run(op, name=query.name)

    def call(self, query: Query, params: Mapping[str, Any]) -> Any:
        """Run `query` the way its operator says; rows as dicts."""
        match query.operation:
            case "select":
                return self.all(query, params)
            case "select_one":
                return self.one(query, params)
            case "select_value":
                return self.value(query, params)
            case "insert_returning":
                # As aiosql and the typed methods do: one column returns its value.
                # Untyped calls map rows with dict_row.
                row = cast("dict[str, Any] | None", self.one(query, params))
                return next(iter(row.values())) if row is not None and len(row) == 1 else row
            case "execute":
                return self.execute(query, params)
            case "execute_many":
                return self.execute_many(query, params.get("rows", ()))
            case _:
                return self.script(query)


def _fitting(row: type[Any], query: Query) -> BaseRowFactory[Any]:
    """`class_row(row)`, saying what to do when a row does not fit the row class: a
    typed module older than the schema or the query fails in one line naming the
    columns, not in a TypeError from the class. Checked only when the class refuses a
    row (a try costs nothing until it catches; reading the columns per result did)."""
    make = class_row(row)
    fields = {f.name for f in dataclasses.fields(row)} if dataclasses.is_dataclass(row) else None

    def factory(cursor: Any) -> Any:
        make_row = make(cursor)

        def fitted(values: Any) -> Any:
            try:
                return make_row(values)
            except TypeError:
                columns = {c.name for c in cursor.description or ()}
                if fields is None or columns == fields:
                    raise  # not a mismatch of columns: the class's own refusal
                differ = [f"no column {n!r}" for n in sorted(fields - columns)]
                differ += [f"a column {n!r} it lacks" for n in sorted(columns - fields)]
                raise QueryError(
                    f"query {query.name!r} ({query.where}) returned rows that do not fit"
                    f" {row.__qualname__} ({', '.join(differ)}): the typed module is older"
                    " than the query or the schema; run `persistence types`"
                ) from None

        return fitted

    return factory


class _Namespace:
    """`db.queries.users` (a file) or `db.queries.admin` (a folder): attributes lead to
    deeper namespaces or to callables taking the query's parameters as keywords."""

    def __init__(self, runner: QueryRunner, path: tuple[str, ...]):
        self._runner = runner
        self._path = path

    def __getattr__(self, name: str) -> Any:
        full = ".".join((*self._path, name))
        queries = self._runner.catalog.queries
        query = queries.get(full)
        if query is not None:
            return _Bound(self._runner, query)
        if any(q.startswith(full + ".") for q in queries):
            return _Namespace(self._runner, (*self._path, name))
        raise QueryError(f"no query or namespace {full!r} in {self._runner.catalog.folder}")


class _Bound:
    def __init__(self, runner: QueryRunner, query: Query):
        self.query = query
        self._runner = runner

    def __call__(self, *args: Any, **params: Any) -> Any:
        if args:
            raise self._positional()
        return self._runner.call(self.query, params)

    def _positional(self) -> QueryError:
        q = self.query
        named = ", ".join(f"{p}=..." for p in q.params)
        return QueryError(
            f"query {q.name!r} ({q.where}) takes its parameters by name:"
            f" {q.name.rpartition('.')[2]}({named})"
        )

    def stream(self, *args: Any, **params: Any) -> Generator[Any, None]:
        """The rows of a select as dicts, 1000 per FETCH (see `QueryRunner.stream`)."""
        if args:
            raise self._positional()
        return self._runner.stream(self.query, params)

    def __repr__(self) -> str:
        return f"<query {self.query.name} at {self.query.where}>"
