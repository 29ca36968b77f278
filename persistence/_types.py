"""Type variables and callback aliases shared by the sync and async twins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, LiteralString, Protocol, TypeAlias, TypeVar

from psycopg import AsyncConnection, Connection, sql

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
    """What the query runner needs of a `Database`: its `run`, and `_transaction` and
    `_guarded` (the deadline) for a stream's server-side cursor. The runner depends on
    this, not on the database module, so imports point one way (database -> runner)."""

    def _transaction(self, *, publish: bool = ...) -> AbstractContextManager[Connection[Any]]: ...

    def _guarded(
        self, conn: Connection[Any], operation: Operation[R], name: str | None, write: bool = ...
    ) -> R: ...

    def run(
        self,
        operation: Operation[R],
        *,
        name: str | None = None,
        statement: Query | None = None,
        idempotent: bool = False,
        primary: bool = False,
    ) -> R: ...


class AsyncExecutor(Protocol):
    """What the async query runner needs of an `AsyncDatabase`: its `run`, and
    `_transaction` and `_guarded` (the deadline) for a stream's server-side cursor."""

    def _transaction(
        self, *, publish: bool = ...
    ) -> AbstractAsyncContextManager[AsyncConnection[Any]]: ...

    async def _guarded(
        self,
        conn: AsyncConnection[Any],
        operation: AsyncOperation[R],
        name: str | None,
        write: bool = ...,
    ) -> R: ...

    async def run(
        self,
        operation: AsyncOperation[R],
        *,
        name: str | None = None,
        statement: Query | None = None,
        idempotent: bool = False,
        primary: bool = False,
    ) -> R: ...


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset pagination; pass `next` as `after` to get the following one.

    `next` is None on the last page. It holds the sort values and key of the last item,
    so pages neither skip nor repeat rows when rows are inserted between two requests.
    """

    items: list[T]
    next: tuple[Any, ...] | None
