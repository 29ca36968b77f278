"""AsyncDatabase: a psycopg_pool pool with transactions, health and error translation.

This is the source of the sync `Database` too: tools/async_to_sync.py generates
database.py from this file. Edit this one.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Self, TypeVar, overload

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import BaseRowFactory
from psycopg.types.json import JsonbDumper
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ._acompat import asleep
from ._base import DatabaseBase, Health, is_disconnect
from ._types import AsyncOperation, Params, Query, R
from .config import Settings
from .errors import ConnectionFailed, PersistenceError, TransientError
from .queries import Catalog
from .query_runner_async import AsyncQueryRunner

__all__ = ["AsyncDatabase"]

#: Attempts of a retryable operation that keeps landing on dead connections.
_RETRIES = 3

Row = TypeVar("Row")


class AsyncDatabase(DatabaseBase):
    """A pool of connections to one PostgreSQL database.

    Use it as a context manager, or call `open()` and `close()`::

        async with AsyncDatabase(settings) as db:
            async with db.transaction():
                await db.execute("insert into t values (%s)", [1])

    Statements outside a transaction run on a pooled connection in autocommit mode.
    Inside `transaction()`, every call made through this object in the same task (or
    thread, for `Database`) goes through the transaction's connection.
    """

    def __init__(self, settings: Settings | str | None = None):
        super().__init__(settings)
        s = self.settings
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            s.conninfo(),
            min_size=s.pool_min,
            max_size=s.pool_max,
            timeout=s.pool_timeout,
            kwargs={"autocommit": True},
            configure=_configure,
            name=s.application_name,
            open=False,
        )
        # The connection of the transaction open in this task, per database object.
        self._tx: ContextVar[AsyncConnection[Any] | None] = ContextVar(
            f"persistence_tx_{id(self)}", default=None
        )
        # Set by force_rollback(): every operation shares this connection.
        self._pinned: AsyncConnection[Any] | None = None
        self._queries: AsyncQueryRunner | None = None

    async def open(self, *, timeout: float | None = None) -> Self:
        """Connect, fill the pool to its minimum size, and return self.

        Raises:
            ConnectionFailed: the server is unreachable or refused the credentials;
                the message says why and never contains the password.
        """
        self._closing = False
        try:
            # One direct connection first: the pool would only report a timeout,
            # this reports the server's reason (bad password, unknown database...).
            probe = await AsyncConnection.connect(self.settings.conninfo())
            await probe.close()
            wait = timeout if timeout is not None else self.settings.connect_timeout * 2 + 5
            await self._pool.open(wait=True, timeout=wait)
        except (psycopg.Error, PoolTimeout) as ex:
            raise self._translate(ex) from None
        return self

    async def close(self, timeout: float = 30.0) -> None:
        """Refuse new work, wait up to `timeout` seconds for work in flight, then close."""
        self._closing = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self._pool.get_stats()
            if stats.get("pool_size", 0) <= stats.get("pool_available", 0):
                break
            await asleep(0.01)
        await self._pool.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def queries(self) -> AsyncQueryRunner:
        """The named queries of the project's queries folder, loaded at first use.

        Raises:
            QueryLoadError: a `.sql` file is malformed (the message names file and line).
        """
        if self._queries is None:
            folder = self.settings.queries_dir or self.settings.project / "queries"
            self._queries = AsyncQueryRunner(self, Catalog(folder))
        return self._queries

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """The psycopg_pool pool underneath, for what the toolkit does not wrap."""
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection: the current transaction's, or one borrowed from the pool.

        Raises:
            PoolExhausted: no connection became free within `pool_timeout` seconds.
        """
        self._check_open()
        current = self._tx.get() or self._pinned
        if current is not None:
            yield current
            return
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as ex:
            raise self._translate(ex) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """Run the block in a transaction: commit at the end, roll back on an exception.

        Nested calls become savepoints: an exception inside the inner block rolls back
        only what the inner block did. Only the outermost block commits.
        """
        current = self._tx.get()
        if current is not None:
            try:
                async with current.transaction():
                    yield current
            except psycopg.Error as ex:
                raise self._translate(ex) from ex
            return
        async with self.connection() as conn:
            token = self._tx.set(conn)
            try:
                async with conn.transaction():
                    yield conn
            except psycopg.Error as ex:
                raise self._translate(ex) from ex
            finally:
                self._tx.reset(token)

    def retrying(
        self, retries: int = 3, *, backoff: float = 0.05, max_backoff: float = 2.0
    ) -> AsyncTransactionAttempts:
        """Run a transaction block again when it fails with a serialization failure
        (40001) or a deadlock (40P01), up to `retries` more times::

            async for attempt in db.retrying(retries=3):
                async with attempt:
                    ...  # the whole block runs again on a transient failure

        Between attempts it sleeps `backoff` seconds, doubling up to `max_backoff`, with
        full jitter so that the transactions that collided do not collide again. The
        block must be safe to re-run: everything it wrote was rolled back. After the last
        attempt the error is raised.

        Raises:
            PersistenceError: when called inside a transaction (a retry there would only
                re-run a savepoint of a transaction that is already doomed).
        """
        if self._tx.get() is not None:
            raise PersistenceError("retrying() starts its own transaction; call it outside one")
        return AsyncTransactionAttempts(self, retries, backoff, max_backoff)

    @asynccontextmanager
    async def force_rollback(self) -> AsyncIterator[AsyncConnection[Any]]:
        """Run every operation inside the block on one connection, then roll it all back.

        For tests: whatever the block commits, including nested transactions, is undone
        at the end, in about a millisecond.
        """
        async with self.connection() as conn:
            self._pinned = conn
            try:
                async with conn.transaction(force_rollback=True):
                    yield conn
            finally:
                self._pinned = None

    async def run(
        self, operation: AsyncOperation[R], *, name: str | None = None, retry: bool = False
    ) -> R:
        """Run `operation(conn)` on a connection, translating errors, and return its result.

        Args:
            operation: the work; it receives the connection.
            name: what to call the work in error messages and in `metrics` (a query
                name); work without a name is not counted.
            retry: run again on a fresh connection (up to twice) if the connection
                turned out to be dead. Only for work that is safe to repeat: reads,
                idempotent writes. Never inside a transaction: a dead connection lost it.

        Raises:
            PersistenceError: the translated driver error, naming `name`.
        """
        self._check_open()
        started = time.perf_counter()
        ok = False
        try:
            result = await self._run(operation, name, retry)
            ok = True
            return result
        finally:
            if name is not None:
                self.metrics.record(name, time.perf_counter() - started, ok)

    async def _run(self, operation: AsyncOperation[R], name: str | None, retry: bool) -> R:
        current = self._tx.get()
        if current is not None:
            try:
                return await operation(current)
            except psycopg.Error as ex:
                raise self._translate(ex, name) from ex
        if self._pinned is not None:
            # Under force_rollback() a statement outside a transaction gets a savepoint,
            # so that, as in autocommit, its failure does not abort the statements after.
            try:
                async with self._pinned.transaction():
                    return await operation(self._pinned)
            except psycopg.Error as ex:
                raise self._translate(ex, name) from ex
        # After a mass disconnect (a restart, pg_terminate_backend of every session) a
        # retry can draw another dead connection before check() has replaced them all.
        attempts = _RETRIES if retry else 1
        for attempt in range(1, attempts + 1):
            conn: AsyncConnection[Any] | None = None
            try:
                borrow = self._pool.connection() if attempt == 1 else self._live_connection()
                async with borrow as conn:
                    return await operation(conn)
            except psycopg.Error as ex:
                if is_disconnect(ex, conn):
                    # The others in the pool probably died too (a server restart, a
                    # mass pg_terminate_backend): test them all now, not one by one.
                    await self._pool.check()
                    if attempt < attempts:
                        continue
                raise self._translate(ex, name) from ex
            except PoolTimeout as ex:
                raise self._translate(ex, name) from None
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def _live_connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection checked alive, for a retry: after a mass disconnect the
        pool can still hand out a connection whose server side is gone (one returned by
        a query that finished just before its backend was killed)."""
        for _ in range(self.settings.pool_max + 1):
            async with self._pool.connection() as conn:
                try:
                    await self._pool.check_connection(conn)
                except psycopg.Error:
                    continue  # broken now: the pool discards it when it comes back
                yield conn
                return
        raise ConnectionFailed("no live connection in the pool after checking every one")

    @overload
    async def fetch_all(self, query: Query, params: Params = None) -> list[tuple[Any, ...]]: ...
    @overload
    async def fetch_all(
        self, query: Query, params: Params = None, *, row_factory: BaseRowFactory[Row]
    ) -> list[Row]: ...
    async def fetch_all(
        self, query: Query, params: Params = None, *, row_factory: BaseRowFactory[Any] | None = None
    ) -> list[Any]:
        """All rows of a read; retried once if the pooled connection was dead."""

        async def op(conn: AsyncConnection[Any]) -> list[Any]:
            cur = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
            async with cur:
                await cur.execute(query, params)
                return await cur.fetchall()

        return await self.run(op, retry=True)

    @overload
    async def fetch_one(self, query: Query, params: Params = None) -> tuple[Any, ...] | None: ...
    @overload
    async def fetch_one(
        self, query: Query, params: Params = None, *, row_factory: BaseRowFactory[Row]
    ) -> Row | None: ...
    async def fetch_one(
        self, query: Query, params: Params = None, *, row_factory: BaseRowFactory[Any] | None = None
    ) -> Any:
        """The first row of a read, or None when there is none."""

        async def op(conn: AsyncConnection[Any]) -> Any:
            cur = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
            async with cur:
                await cur.execute(query, params)
                return await cur.fetchone()

        return await self.run(op, retry=True)

    async def fetch_value(self, query: Query, params: Params = None) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = await self.fetch_one(query, params)
        return None if row is None else row[0]

    async def execute(
        self, query: Query, params: Params = None, *, idempotent: bool = False
    ) -> int:
        """Run a statement and return the number of rows it affected.

        A write is not retried after a dead connection, because it may have committed
        before the connection died; pass `idempotent=True` when running it twice is
        harmless (e.g. an insert with a client-generated id and ON CONFLICT DO NOTHING).
        """

        async def op(conn: AsyncConnection[Any]) -> int:
            async with conn.cursor() as cur:
                await cur.execute(query, params)
                return cur.rowcount

        return await self.run(op, retry=idempotent)

    async def check(self) -> None:
        """Test every idle pooled connection now and replace the dead ones."""
        await self._pool.check()

    async def health(self) -> Health:
        """Whether the database answers, how fast, and how the pool is doing.

        Never raises for a database problem: a failure is reported in the result.
        """
        started = time.perf_counter()
        try:
            version = await self.fetch_value("select current_setting('server_version')")
        except Exception as ex:
            return self._health(self._pool.get_stats(), None, None, str(self._translate(ex)))
        latency = time.perf_counter() - started
        return self._health(self._pool.get_stats(), str(version), latency, None)


class AsyncTransactionAttempts:
    """The attempts of `AsyncDatabase.retrying()`: iterate, and enter each one."""

    def __init__(self, db: AsyncDatabase, retries: int, backoff: float, max_backoff: float):
        self.db = db
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        #: 1 for the first attempt; how many ran once the loop is over.
        self.attempt = 0
        #: The transient errors that caused a retry, oldest first.
        self.errors: list[TransientError] = []
        self._done = False

    def __aiter__(self) -> AsyncTransactionAttempts:
        return self

    async def __anext__(self) -> AsyncTransactionAttempt:
        if self._done:
            raise StopAsyncIteration
        if self.attempt:
            ceiling = min(self.max_backoff, self.backoff * 2 ** (self.attempt - 1))
            await asleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not secrets)
        self.attempt += 1
        return AsyncTransactionAttempt(self)


class AsyncTransactionAttempt:
    """One attempt: a transaction that swallows a transient failure if retries remain."""

    def __init__(self, attempts: AsyncTransactionAttempts):
        self._attempts = attempts
        self._tx = attempts.db.transaction()

    async def __aenter__(self) -> AsyncConnection[Any]:
        return await self._tx.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        attempts = self._attempts
        error: BaseException | None = exc
        try:
            # Re-raises what the block raised (translated), or the commit's failure; when
            # the block's own error passes through unchanged, it returns instead.
            await self._tx.__aexit__(exc_type, exc, tb)
        except BaseException as raised:
            error = raised
            if not (isinstance(raised, TransientError) and attempts.attempt <= attempts.retries):
                attempts._done = True
                raise
        if isinstance(error, TransientError) and attempts.attempt <= attempts.retries:
            attempts.errors.append(error)
            return True  # rolled back: the loop runs the block again
        attempts._done = True
        return False


async def _configure(conn: AsyncConnection[Any]) -> None:
    # A dict parameter is a JSON document: send it as jsonb, on this pool's connections
    # only (registering on psycopg's global adapters would change every other user).
    conn.adapters.register_dumper(dict, JsonbDumper)
