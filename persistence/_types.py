"""Type variables and callback aliases shared by the sync and async twins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, LiteralString, TypeAlias, TypeVar

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
