"""The one-statement calls of `AsyncDatabase`, each built on its `run`: `fetch_all`,
`fetch_one`, `fetch_value` and `execute`.

The sync twin is generated from this file.
"""

from __future__ import annotations

from typing import Any, cast

from psycopg import AsyncConnection
from psycopg.rows import BaseRowFactory
from typing_extensions import TypeVar  # a default (typing has it from 3.13); psycopg_pool needs it

from ._types import AsyncExecutor, AsyncOperation, Params, Query

__all__ = ["AsyncStatements", "fetch"]

#: A row as `row_factory` makes it: a tuple without one.
Row = TypeVar("Row", default=tuple[Any, ...])


class AsyncStatements(AsyncExecutor):
    """`fetch_all`, `fetch_one`, `fetch_value` and `execute`, built on `run`."""

    async def fetch_all(
        self,
        query: Query,
        params: Params = None,
        *,
        row_factory: BaseRowFactory[Row] | None = None,
        primary: bool = False,
    ) -> list[Row]:
        """All rows the statement returns.

        Retried on another connection if the connection died, when the statement
        only reads; a write (`insert ... returning`) is not, and says `OutcomeUnknown`.
        A read goes to a replica, if there are any, unless `primary` (see `run`).
        """
        op = fetch(query, params, row_factory, every=True)
        return cast("list[Row]", await self.run(op, statement=query, primary=primary))

    async def fetch_one(
        self,
        query: Query,
        params: Params = None,
        *,
        row_factory: BaseRowFactory[Row] | None = None,
        primary: bool = False,
    ) -> Row | None:
        """The first row the statement returns, or None when there is none (retried as
        `fetch_all` is)."""
        op = fetch(query, params, row_factory, every=False)
        return cast("Row | None", await self.run(op, statement=query, primary=primary))

    async def fetch_value(
        self, query: Query, params: Params = None, *, primary: bool = False
    ) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = await self.fetch_one(query, params, primary=primary)
        return None if row is None else row[0]

    async def execute(
        self,
        query: Query,
        params: Params = None,
        *,
        idempotent: bool = False,
        primary: bool = False,
    ) -> int:
        """Run a statement and return the number of rows it affected.

        A write is not retried after a dead connection, because it may have committed
        before the connection died (that raises `OutcomeUnknown`); pass
        `idempotent=True` when running it twice is harmless (e.g. an insert with a
        client-generated id and ON CONFLICT DO NOTHING). A read is retried.
        """

        async def op(conn: AsyncConnection[Any]) -> int:
            async with conn.cursor() as cur:
                await cur.execute(query, params)
                return cur.rowcount

        return await self.run(op, statement=query, idempotent=idempotent, primary=primary)


def fetch(
    query: Query, params: Params, row_factory: BaseRowFactory[Any] | None, every: bool
) -> AsyncOperation[Any]:
    """The work of `fetch_all` (`every`) or `fetch_one`; the query runner's too."""

    async def op(conn: AsyncConnection[Any]) -> Any:
        cur = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
        async with cur:
            await cur.execute(query, params)
            return await (cur.fetchall() if every else cur.fetchone())

    return op
