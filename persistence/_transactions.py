# Generated from persistence/_transactions_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""The transaction blocks of `Database`: `transaction()` (nested blocks as
savepoints), `retrying()` and `force_rollback()`.

Generated from persistence/_transactions_async.py: edit that file.

A transaction's connection belongs to the task (thread) that opened the block, and
only while the block is open. The outermost block sets the isolation level and the
tenant at BEGIN; BEGIN, SAVEPOINT and COMMIT are each under the client-side deadline
(see _deadline). Under `force_rollback()` every operation shares one pinned
connection, and a transaction is a savepoint of the test's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

import psycopg
from psycopg import Connection

from . import _deadline
from ._acompat import Lock, owner
from ._base import (
    DatabaseBase,
    Isolation,
    TxBinding,
    has_unread_input,
    isolation_statement,
)
from ._replicas import ReplicaSet
from ._retrying import TransactionAttempts
from .config import Settings
from .errors import ConnectionFailed, PersistenceError, is_disconnect

__all__ = ["Transactions"]


class Transactions(DatabaseBase):
    """`transaction()`, `retrying()` and `force_rollback()` of `Database`, and which
    transaction this task (thread) owns; the pool's side is the database's."""

    # What the transaction blocks use of `Database`.
    #: The read replicas, told the primary's position after each commit.
    _replicas: ReplicaSet | None
    #: A connection: the current transaction's, or one borrowed from the pool.
    connection: Callable[[], AbstractContextManager[Connection[Any]]]
    #: A checked pooled connection (the pinned one if given), restored after use.
    _live_connection: Callable[[Connection[Any] | None], AbstractContextManager[Connection[Any]]]

    def __init__(self, settings: Settings | str | None = None):
        super().__init__(settings)
        # The transaction block open in this context, per database object. asyncio
        # copies it into spawned tasks: TxBinding says whose it is and whether it is open.
        self._tx: ContextVar[TxBinding | None] = ContextVar(
            f"persistence_tx_{id(self)}", default=None
        )
        # Set by force_rollback(): every operation shares this connection, one
        # statement at a time (concurrent savepoints on one connection would tangle).
        self._pinned: Connection[Any] | None = None
        self._pin_lock = Lock()

    def transaction(
        self, *, tenant: object = None, isolation: Isolation | None = None
    ) -> AbstractContextManager[Connection[Any]]:
        """Run the block in a transaction: commit at the end, roll back on an exception.

        Nested calls become savepoints: an exception inside the inner block rolls back
        only what the inner block did. Only the outermost block commits.

        The transaction belongs to the task (thread) that opened it, for the block's
        lifetime: other tasks, including ones spawned inside the block, never run on it.

        `tenant` (or the scope's, see `tenant()`) is set for the transaction, for
        row-level security policies; only the outermost block sets it, and so with
        `isolation` ("serializable", "repeatable read", "read committed"; the server's
        default otherwise). Under `force_rollback()` the test's transaction is open
        already: its level stays.

        Raises:
            OutcomeUnknown: the connection died during COMMIT: the transaction may or
                may not have committed.
            ConnectionFailed: the connection died before COMMIT: nothing was committed.
            PersistenceError: a nested block was given a tenant or an isolation level.
        """
        return self._transaction(tenant=tenant, isolation=isolation)

    @contextmanager
    def _transaction(
        self, *, tenant: object = None, isolation: Isolation | None = None, publish: bool = True
    ) -> Iterator[Connection[Any]]:
        """`transaction()`; `publish=False` keeps a new transaction to the yielded
        connection: the task's other calls go on running outside it. A stream's
        server-side cursor needs that: its caller's loop body runs while the block is
        open, and must not be swept into it (and rolled back when the loop is left)."""
        current = self._current()
        if current is not None:
            if tenant is not None or isolation is not None:
                what = "tenant" if tenant is not None else "isolation level"
                raise PersistenceError(
                    f"the {what} is set by the outermost transaction block, not a nested one"
                )
            # SAVEPOINT, then RELEASE (or ROLLBACK TO), each under the deadline.
            watch = _deadline.arm(current, self.deadline)
            try:
                with current.transaction():
                    self._reached(watch, "savepoint")
                    try:
                        yield current
                    finally:
                        watch = _deadline.arm(current, self.deadline)
            except psycopg.Error as ex:
                if _deadline.disarm(watch):
                    raise self._deadline_error("savepoint", write=False) from None
                raise self._translate(ex) from ex
            finally:
                _deadline.disarm(watch)
            return
        self._check_open()
        begin = isolation_statement(isolation)
        with self._live_connection(self._pinned) as conn:
            binding = TxBinding(conn, owner())
            committing = ended = False
            # BEGIN and the tenant set-up, then COMMIT (or ROLLBACK), under the deadline.
            watch = _deadline.arm(conn, self.deadline)
            step = "begin"
            token = None
            try:
                with conn.transaction():
                    try:
                        acting = self._tenant.get() if tenant is None else str(tenant)
                        binding.tenant = acting
                        pinned = conn is self._pinned  # this "transaction" is a savepoint
                        if begin and not pinned:
                            conn.execute(begin)  # first, as the server requires
                        setup, values = self._setup(None if pinned else acting)
                        if values:
                            conn.execute(setup, values)
                        self._reached(watch, "begin")
                        token = self._tx.set(binding) if publish else None
                        with self._acting_in_savepoint(conn, acting if pinned else None):
                            yield conn
                        committing = True
                        # Idle in a transaction, a session hears nothing from its server
                        # (notifications wait for the transaction's end) unless the
                        # server ended it: then COMMIT cannot commit anything.
                        ended = has_unread_input(conn)
                    finally:
                        binding.open = False
                        step = "commit" if committing else "rollback"
                        watch = _deadline.arm(conn, self.deadline)
                if self._replicas is not None:
                    self._replicas.note_position(conn)
            except psycopg.Error as ex:
                if not committing and _deadline.disarm(watch):
                    raise self._deadline_error(step, write=False) from None
                if committing and (is_disconnect(ex, conn) or conn.closed):
                    if ended:
                        raise ConnectionFailed(
                            "the server ended the session before COMMIT was sent: the"
                            f" transaction was lost, nothing committed ({self._translate(ex)})"
                        ) from ex
                    raise self._outcome_unknown(ex, "commit") from ex
                raise self._translate(ex) from ex
            finally:
                if _deadline.disarm(watch) and committing:
                    raise self._deadline_error("commit", write=True)
                if token is not None:
                    self._tx.reset(token)

    @staticmethod
    def _reached(watch: _deadline.Watch, step: str) -> None:
        """End `watch` on a step that answered; if its deadline cut the connection in
        the meantime, fail now (the step's answer came, the connection is gone)."""
        if _deadline.disarm(watch):
            raise psycopg.OperationalError(f"the connection was cut by the deadline after {step}")

    def _current(self) -> Connection[Any] | None:
        """The connection of the transaction block this task owns, if one is open."""
        return binding.conn if (binding := self._owned()) else None

    def _owned(self) -> TxBinding | None:
        """The transaction block this task owns, if one is open."""
        binding = self._tx.get()
        if binding is None or not binding.open or binding.owner is not owner():
            return None
        return binding

    def retrying(
        self,
        retries: int = 3,
        *,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        isolation: Isolation | None = None,
    ) -> TransactionAttempts:
        """Run a transaction block again when it fails with a serialization failure
        (40001) or a deadlock (40P01), up to `retries` more times::

            for attempt in db.retrying(retries=3):
                with attempt:
                    ...  # the whole block runs again on a transient failure

        Between attempts it sleeps `backoff` seconds, doubling up to `max_backoff`, with
        full jitter so that the transactions that collided do not collide again. The
        block must be safe to re-run: everything it wrote was rolled back. After the last
        attempt the error is raised. `isolation` is each attempt's, as in `transaction()`.

        Raises:
            PersistenceError: when called inside a transaction (a retry there would only
                re-run a savepoint of a transaction that is already doomed).
        """
        if self._current() is not None:
            raise PersistenceError("retrying() starts its own transaction; call it outside one")
        begin = partial(self.transaction, isolation=isolation)
        return TransactionAttempts(begin, retries, backoff, max_backoff)

    @contextmanager
    def force_rollback(self) -> Iterator[Connection[Any]]:
        """Run every operation inside the block on one connection, then roll it all back.

        For tests: whatever the block commits, including nested transactions, is undone
        at the end, in about a millisecond. Every task and thread shares the
        connection, one statement at a time: a statement outside a transaction block
        runs in a savepoint of its own, as in autocommit.
        """
        with self.connection() as conn:
            self._pinned = conn
            try:
                with conn.transaction(force_rollback=True):
                    yield conn
            finally:
                self._pinned = None

    @contextmanager
    def _acting_in_savepoint(self, conn: Connection[Any], tenant: str | None) -> Iterator[None]:
        """Act for `tenant` in a savepoint of `force_rollback()`, where a transaction is a
        savepoint: a transaction-local setting outlives a released savepoint (until the
        test's transaction ends), so what the setting held before is put back after the
        block. A block that fails is rolled back to its savepoint, setting and all."""
        if tenant is None:
            yield
            return
        name = self.settings.tenant_setting
        before = conn.execute(
            b"select current_setting(%s, true), set_config(%s, %s, true)", [name, name, tenant]
        )
        previous = before.fetchone()
        yield
        conn.execute(b"select set_config(%s, %s, true)", [name, previous and previous[0]])
