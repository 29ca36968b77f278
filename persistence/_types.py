"""Type variables and callback aliases shared by the sync and async twins."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, LiteralString, Protocol, TypeAlias, TypeVar

from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import BaseRowFactory

R = TypeVar("R")
T = TypeVar("T")

#: A statement: literal text (never built from user input) or composed with psycopg.sql.
Query: TypeAlias = LiteralString | bytes | sql.SQL | sql.Composed

#: Query parameters: a sequence for %s placeholders, a mapping for %(name)s ones.
Params: TypeAlias = Sequence[Any] | Mapping[str, Any] | None

#: A unit of work on one connection, run by `Database.run` / `AsyncDatabase.run`.
Operation: TypeAlias = Callable[[Connection[Any]], R]
AsyncOperation: TypeAlias = Callable[[AsyncConnection[Any]], Awaitable[R]]


class Executor(Protocol):
    """What the query runner needs of a `Database`: its `run`, and `_stream` for a
    select read from a server-side cursor. The runner depends on this, not on the
    database module, so imports point one way (database -> runner)."""

    def run(
        self,
        operation: Operation[R],
        *,
        name: str | None = None,
        statement: Query | None = None,
        idempotent: bool = False,
        primary: bool = False,
    ) -> R: ...

    def _stream(
        self,
        statement: Query,
        params: Params,
        row_factory: BaseRowFactory[R],
        name: str,
        batch: int,
    ) -> Generator[R, None]: ...


class AsyncExecutor(Protocol):
    """What the async query runner needs of an `AsyncDatabase`: its `run`, and
    `_stream` for a select read from a server-side cursor."""

    async def run(
        self,
        operation: AsyncOperation[R],
        *,
        name: str | None = None,
        statement: Query | None = None,
        idempotent: bool = False,
        primary: bool = False,
    ) -> R: ...

    def _stream(
        self,
        statement: Query,
        params: Params,
        row_factory: BaseRowFactory[R],
        name: str,
        batch: int,
    ) -> AsyncGenerator[R, None]: ...


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset pagination; pass `next` as `after` to get the following one.

    `next` is None on the last page. It holds the sort values and key of the last item,
    so pages neither skip nor repeat rows when rows are inserted between two requests.
    """

    items: list[T]
    next: tuple[Any, ...] | None
