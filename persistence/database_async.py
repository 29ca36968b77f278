"""AsyncDatabase: a psycopg_pool pool with transactions, health and error translation.

The sync twin is generated from this file.

What is retried after a dead connection is decided from the statement (see
_classify): reads run again on another connection, writes never do; a write whose
connection died after it was sent raises `OutcomeUnknown`. Every call has a
client-side deadline (see _deadline), so a server that stops answering cannot hang
it. A transaction's connection belongs to the task (thread) that opened the block,
and only while the block is open.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from itertools import count
from typing import Any, Self
from weakref import WeakKeyDictionary, WeakSet

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import BaseRowFactory, Row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import _deadline, _json, _telemetry
from ._acompat import asleep
from ._base import RESET_SESSION, Health, has_unread_input, logger
from ._classify import WRITERS, changes_session_query, is_read_query
from ._connect import BACKEND_PID, behind_pooler, connection_kwargs, pooler_refusal
from ._replicas_async import AsyncReplicaSet
from ._statements_async import AsyncStatements
from ._transactions_async import AsyncTransactions
from ._typeinfo import aregister_types
from ._types import AsyncOperation, Params, Query, R
from .config import Settings
from .errors import ConnectionFailed, PersistenceError, in_name, is_disconnect
from .queries import Catalog
from .query_runner_async import AsyncQueryRunner

__all__ = ["AsyncDatabase"]

#: Attempts of a retryable operation that keeps landing on dead connections.
_RETRIES = 3
#: Seconds before the retry of a read whose connection died, times the attempt.
_RETRY_PAUSE = 0.1
#: Names of the server-side cursors of `_stream`: unique per process, as per connection.
_cursors = count()


#: The database of each connection lent raw by `connection()`, for `_DeadlineCursor`.
_borrowers: WeakKeyDictionary[AsyncConnection[Any], AsyncDatabase] = WeakKeyDictionary()


class _DeadlineCursor(AsyncCursor[Row]):
    """The cursors of a connection lent raw by `connection()`: each statement the caller
    sends is under the database's deadline too, so that none waits forever."""

    async def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Self:
        db = _borrowers.get(self.connection)
        if db is None:
            return await super().execute(query, params, prepare=prepare, binary=binary)
        watch = _deadline.arm(self.connection, db.deadline)
        try:
            return await super().execute(query, params, prepare=prepare, binary=binary)
        except psycopg.Error:
            if _deadline.disarm(watch):
                raise db._deadline_error(None, not is_read_query(query, db._writers)) from None
            raise
        finally:
            _deadline.disarm(watch)


async def _reset_session(conn: AsyncConnection[Any]) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.rollback()  # a raw borrow left a transaction open: the pool would too
    await conn.execute(RESET_SESSION)


class AsyncDatabase(AsyncTransactions, AsyncStatements):
    """A pool of connections to one PostgreSQL database.

    Use it as a context manager, or call `open()` and `close()`::

        async with AsyncDatabase(settings) as db:
            async with db.transaction():
                await db.execute("insert into t values (%s)", [1])

    Statements outside a transaction run on a pooled connection in autocommit mode.
    Inside `transaction()`, every call made through this object in the same task (or
    thread, for `Database`) goes through the transaction's connection. Tasks spawned
    inside the block (`create_task`, `gather`, a TaskGroup) do not: they run on pooled
    connections of their own, outside the transaction; await their work in the task
    that owns the block to make it part of the transaction.
    """

    def __init__(self, settings: Settings | str | None = None):
        super().__init__(settings)
        _json.check_available(self.settings.json)
        s = self.settings
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            s.conninfo(),
            min_size=s.pool_min,
            max_size=s.pool_max,
            timeout=s.pool_timeout,
            max_idle=s.pool_max_idle,
            kwargs={"autocommit": True, **connection_kwargs(s)},
            configure=self._configure,
            name=s.application_name,
            open=False,
        )
        # Connections lent out of the pool, for close() to wait on. A set, because its
        # add and discard are atomic for the sync twin's threads, where += is not.
        self._lent: set[AsyncConnection[Any]] = set()
        # Connections whose session state (settings, role) may have been changed by a
        # SET or a raw borrow: reset before they go back to the pool (see `_restore`).
        self._dirty: WeakSet[AsyncConnection[Any]] = WeakSet()
        self._queries: AsyncQueryRunner | None = None
        #: The read replicas (None without `replica_urls`): see `run` for what goes there.
        self._replicas = (
            AsyncReplicaSet(
                s, self._configure, self.deadline, self._lent, self._pool, self._advance
            )
            if s.replica_urls
            else None
        )

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        """Set up each new pooled connection: the JSON library, and arrays of enums and
        domains loaded as lists, as the generated types say."""
        _json.configure(conn, self.settings.json)
        await aregister_types(conn)

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
            probe = await AsyncConnection.connect(
                self.settings.conninfo(), **connection_kwargs(self.settings)
            )
            try:
                cur = await probe.execute(WRITERS)  # see "What is retried and why"
                self._writers = frozenset(name for (name,) in await cur.fetchall())
                # A pooler that let the startup options by: see `_connect.behind_pooler`.
                if self.settings.pooler is None:
                    cur = await probe.execute(BACKEND_PID)
                    if behind_pooler(await cur.fetchone(), probe.info.backend_pid):
                        logger.warning(
                            "%s goes through a connection pooler (PgBouncer) but DB_POOLER"
                            " is unset: in transaction mode set DB_POOLER=transaction, or"
                            " statements fail once prepared and the timeouts are not applied",
                            self.settings.masked_url,
                        )
            finally:
                await probe.close()
            wait = timeout if timeout is not None else self.settings.connect_timeout * 2 + 5
            await self._pool.open(wait=True, timeout=wait)
        except (psycopg.Error, PoolTimeout) as ex:
            raise pooler_refusal(ex, self.settings) or self._translate(ex) from None
        if self._replicas is not None:
            await self._replicas.open()
        return self

    async def close(self, timeout: float = 30.0) -> None:
        """Refuse new work, wait up to `timeout` seconds for work in flight (statements
        and open transaction blocks, which may go on running statements), then close."""
        self._closing = True
        deadline = time.monotonic() + timeout
        while self._lent and time.monotonic() < deadline:
            await asleep(0.01)
        await self._pool.close()
        if self._replicas is not None:
            await self._replicas.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def queries(self) -> AsyncQueryRunner:
        """The named queries of the project's queries folder, loaded at first use.

        Raises:
            QueryLoadError: a `.sql` file is malformed (the message names file and line).
        """
        if self._queries is None:
            self._queries = AsyncQueryRunner(
                self, Catalog(self.settings.queries_folder, comment=self.settings.sql_comment)
            )
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
        current = self._current() or self._pinned
        if current is not None:
            yield current
            return
        self._check_open()
        async with self._live_connection() as conn:
            self._dirty.add(conn)  # the caller may change its session: reset it after
            conn.cursor_factory = _DeadlineCursor
            _borrowers[conn] = self
            try:
                yield conn
            finally:
                conn.cursor_factory = AsyncCursor
                _borrowers.pop(conn, None)

    async def _stream(
        self,
        statement: Query,
        params: Params,
        row_factory: BaseRowFactory[R],
        name: str,
        batch: int,
    ) -> AsyncGenerator[R, None]:
        """The rows of `statement`, `batch` at a time from a server-side cursor, for the
        `stream` of repositories and of the query runner (which check `batch`). The
        cursor lives in `_transaction(publish=False)`; each statement is under the
        deadline, in the name of `name`; not retried, and not counted in `metrics`."""
        async with (
            # Not published: the loop body's calls run outside this transaction.
            self._transaction(publish=False) as conn,
            conn.cursor(f"persistence_stream_{next(_cursors)}", row_factory=row_factory) as cur,
        ):
            await self._guarded(conn, lambda _: cur.execute(statement, params), name)
            try:
                while rows := await self._guarded(conn, lambda _: cur.fetchmany(batch), name):
                    for row in rows:  # noqa: UP028, RUF100 (async cannot `yield from`)
                        yield row
            except GeneratorExit:
                # Left early: not a failure. Inside a transaction the cursor's savepoint
                # is released, not rolled back with what the loop body wrote after it.
                return

    @asynccontextmanager
    async def _live_connection(
        self,
        pinned: AsyncConnection[Any] | None = None,
        name: str | None = None,
        suspect: bool = False,
    ) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection (`pinned` if given), checked first: one the server closed
        while it sat in the pool (a restart, a failover, an idle timeout) is replaced,
        since nothing was sent on it yet. A connection that looks closed is checked with
        a round trip, and every one when `suspect` (after a connection died, the next
        may not have said so yet). Its session state is restored before it goes back."""
        if pinned is not None:
            yield pinned
            return
        stale = 0
        try:
            while True:
                async with self._pool.connection() as conn:
                    if (suspect or has_unread_input(conn)) and not await self._alive(conn):
                        # The pool replaces it; they may all be dead after a restart.
                        stale += 1
                        logger.info(
                            "replacing a pooled connection the server closed%s",
                            in_name(name),
                            extra={"query": name, "attempt": stale},
                        )
                        if stale > self.settings.pool_max:
                            raise ConnectionFailed(
                                f"no live connection in the pool{in_name(name)} after checking"
                                f" {stale}: is the server up?"
                            )
                        continue
                    self._lent.add(conn)
                    try:
                        yield conn
                    finally:
                        self._lent.discard(conn)
                        await self._restore(conn)
                    return
        except PoolTimeout as ex:
            raise await self._pool_timeout(ex, name) from None

    async def run(
        self,
        operation: AsyncOperation[R],
        *,
        name: str | None = None,
        statement: Query | None = None,
        idempotent: bool = False,
        primary: bool = False,
    ) -> R:
        """Run `operation(conn)` on a connection, translating errors, and return its result.

        Args:
            operation: the work; it receives the connection.
            name: what to call the work in error messages and in `metrics` (a query
                name); work without a name is not counted.
            statement: the SQL the operation sends. When it only reads (see
                `_classify.is_read`), the work runs again on another connection (up to
                twice) if its connection died. None counts as a write.
            idempotent: the work is safe to run twice even though it writes (an
                insert with a client-chosen key and ON CONFLICT DO NOTHING): retry it too.
            primary: with read replicas, run a read on the primary all the same.

        With read replicas (`replica_urls`), a statement that only reads, outside a
        transaction, runs on a replica that has replayed this task's (thread's) last
        committed write (see `causal_token`), else on the primary; everything else
        runs on the primary.

        Never retried inside a transaction: a dead connection lost the transaction.
        The whole operation must end within `self.deadline` seconds (statement_timeout
        plus a grace): past it the connection is cut, so that no call waits forever.

        Raises:
            OutcomeUnknown: a write's connection died after it was sent (or the server
                stopped answering): it may have committed.
            ConnectionFailed: the connection died, or the server stopped answering,
                and nothing was committed (a read, or a write never sent).
            PersistenceError: the translated driver error, naming `name`.
        """
        started = time.perf_counter()
        ok = False
        try:
            read = statement is not None and is_read_query(statement, self._writers)
            if statement is not None and not read and changes_session_query(statement):
                operation = self._marking(operation)
            with _telemetry.span(name, statement, self.telemetry_attributes):
                result = await self._run(
                    operation, name, idempotent or read, read, read and not primary
                )
            ok = True
            return result
        except (UnicodeError, RecursionError) as ex:
            # Data psycopg could not adapt (a lone surrogate, JSON nested too deep):
            # nothing was sent; say which query, as for the server's own refusals.
            raise self._translate(ex, name) from None
        finally:
            self._record(name, statement, time.perf_counter() - started, ok)

    async def _run(
        self,
        operation: AsyncOperation[R],
        name: str | None,
        retry: bool,
        read: bool,
        replica: bool,
    ) -> R:
        current = self._current()
        if current is not None:
            if current is self._pinned:
                async with self._pin_lock:
                    return await self._once(current, operation, name)
            return await self._once(current, operation, name)
        self._check_open()
        pinned = self._pinned
        if pinned is not None:
            # Under force_rollback() a statement outside a transaction gets a savepoint,
            # so that, as in autocommit, its failure does not abort the statements after.
            async with self._pin_lock:
                try:
                    async with (
                        pinned.transaction(),
                        self._acting_in_savepoint(pinned, self._tenant.get()),
                    ):
                        return await self._once(pinned, operation, name)
                except psycopg.Error as ex:
                    raise self._translate(ex, name) from ex
        acting = self._tenant.get()
        if acting is not None:
            operation = self._as_tenant(operation, acting)
        if self._replicas is not None:
            if replica:
                served, result = await self._replicas.run(operation, name, self._causal.get())
                if served:
                    return result  # type: ignore[return-value]
            elif not read:
                # A write: what this context reads next must see it.
                operation = self._replicas.noting(operation)
        attempts = _RETRIES if retry else 1
        attempt = 0
        while True:
            conn: AsyncConnection[Any] | None = None
            try:
                async with self._live_connection(name=name, suspect=attempt > 0) as conn:
                    attempt += 1
                    return await self._guarded(conn, operation, name, write=not retry)
            except psycopg.Error as ex:
                if is_disconnect(ex, conn):
                    if attempt < attempts:
                        logger.info(
                            "connection lost%s; a read, run again (attempt %d)",
                            in_name(name),
                            attempt + 1,
                            extra={"query": name, "attempt": attempt + 1},
                        )
                        # Connections die together (a restart, a failover, a mass
                        # pg_terminate_backend), one after the other: one that answers
                        # now may be next. Let the wave pass first.
                        await asleep(_RETRY_PAUSE * attempt)
                        continue  # a read: run it again on another connection
                    if conn is not None and not retry:
                        raise self._outcome_unknown(ex, name) from ex
                raise self._translate(ex, name) from ex

    async def _pool_timeout(self, ex: PoolTimeout, name: str | None) -> PersistenceError:
        """The error for a call that got no pooled connection in time: PoolExhausted
        when the server is up (every connection is busy), ConnectionFailed, with the
        server's reason, when no connection can be made at all (a server that went
        down empties the pool, and "no connection free" would send on-call to the
        pool size)."""
        try:
            probe = await AsyncConnection.connect(
                self.settings.conninfo(), **connection_kwargs(self.settings)
            )
        except psycopg.Error as down:
            reason = str(self._translate(down)).removeprefix("connection failed: ")
            return ConnectionFailed(
                f"connection failed{in_name(name)}: no pooled connection within"
                f" {self.settings.pool_timeout:g} s, and the server cannot be reached: {reason}"
            )
        await probe.close()
        return self._translate(ex, name)

    def _as_tenant(self, operation: AsyncOperation[R], tenant: str) -> AsyncOperation[R]:
        """`operation` in a transaction of its own that first sets the tenant: a
        transaction-local setting cannot outlive the statement's autocommit."""
        setup, values = self._setup(tenant)

        async def as_tenant(conn: AsyncConnection[Any]) -> R:
            async with conn.transaction():
                await conn.execute(setup, values)
                return await operation(conn)

        return as_tenant

    def _marking(self, operation: AsyncOperation[R]) -> AsyncOperation[R]:
        """`operation`, marking its connection for `_restore`."""

        async def marked(conn: AsyncConnection[Any]) -> R:
            self._dirty.add(conn)
            return await operation(conn)

        return marked

    async def _restore(self, conn: AsyncConnection[Any]) -> None:
        """Before `conn` goes back to the pool, undo what a SET (or a raw borrow) may
        have changed in its session, so that the next user does not inherit a tenant,
        a timeout or a role: RESET ALL goes back to the startup options (the timeouts
        from the settings); prepared statements stay. A connection that cannot be
        reset is closed, and the pool replaces it."""
        if conn not in self._dirty:
            return
        self._dirty.discard(conn)
        if conn.closed or conn.broken:
            return
        try:
            await self._guarded(conn, _reset_session, None)
        except (psycopg.Error, PersistenceError) as ex:
            logger.warning("closing a pooled connection whose session could not be reset: %s", ex)
            await conn.close()

    async def _once(
        self, conn: AsyncConnection[Any], operation: AsyncOperation[R], name: str | None
    ) -> R:
        """Run on a transaction's connection: a lost connection lost the transaction,
        so nothing it wrote was committed."""
        try:
            return await self._guarded(conn, operation, name, write=False)
        except psycopg.Error as ex:
            raise self._translate(ex, name) from ex

    async def _guarded(
        self,
        conn: AsyncConnection[Any],
        operation: AsyncOperation[R],
        name: str | None,
        write: bool = False,
    ) -> R:
        """`operation(conn)` under the client-side deadline."""
        watch = _deadline.arm(conn, self.deadline)
        try:
            return await operation(conn)
        except psycopg.Error:
            if _deadline.disarm(watch):
                raise self._deadline_error(name, write) from None
            raise
        finally:
            _deadline.disarm(watch)

    async def _alive(self, conn: AsyncConnection[Any]) -> bool:
        """A round trip on a connection that looks closed by the server."""
        try:
            await self._guarded(conn, self._pool.check_connection, None, write=False)
        except (psycopg.Error, PersistenceError):
            return False
        return True

    async def check(self) -> None:
        """Test every idle pooled connection now and replace the dead ones."""
        await self._pool.check()

    async def health(self) -> Health:
        """Whether the database answers, how fast, and how the pool is doing.

        Never raises for a database problem: a failure is reported in the result.
        """
        servers = await self._replicas.health() if self._replicas is not None else []
        started = time.perf_counter()
        try:
            row = await self.fetch_one(
                "select current_setting('server_version'), current_user, pg_is_in_recovery()",
                primary=True,
            )
        except Exception as ex:
            error = str(self._translate(ex))
            return self._health(self._pool, None, None, error, servers)
        latency = time.perf_counter() - started
        return self._health(self._pool, row, latency, None, servers)
