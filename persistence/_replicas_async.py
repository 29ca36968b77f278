"""AsyncReplicaSet: the read replicas of an AsyncDatabase, one pool per server.

The sync twin is generated from this file.

`AsyncDatabase.run` hands it the reads it may serve (statements that only read, outside
any transaction, not marked primary). It tries the replicas in turn, skipping one that
is down (until a back-off passes and a direct connection answers again) or further
behind than `replica_max_lag`, and one that has not yet replayed the caller's causal
token (waiting up to `replica_wait` for one to catch up). When none can serve, it says
so and the read runs on the primary. A read whose replica died under it is a read:
it runs again on the next server, so the caller sees no error. After a write, it reads
the primary's WAL position into the caller's causal token (`note_position`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import _deadline
from ._acompat import ajoin, asleep, aspawn
from ._base import ServerHealth, has_unread_input, logger, pool_stats
from ._connect import connection_kwargs
from ._replica_state import STATUS, WAL_POSITION, ReplicaState
from ._types import AsyncOperation, R
from .config import Settings
from .errors import in_name, is_disconnect, scrub, translate

__all__ = ["AsyncReplicaSet"]

#: What a server said about serving one read: try the next server; wait for it to
#: replay the caller's token; only the primary can run it.
_SKIP, _BEHIND, _PRIMARY = "skip", "behind", "primary"

#: SQLSTATEs of a statement a standby refuses by nature, having done nothing: a read
#: that locks rows (SELECT ... FOR UPDATE: read_only_sql_transaction), or that asks
#: what only a primary knows (pg_current_wal_lsn(): "recovery is in progress").
_PRIMARY_ONLY = ("25006", "55000")

#: SQLSTATE of a read the replica cancelled because replay needed what it held
#: ("canceling statement due to conflict with recovery"): the primary has no conflict.
_RECOVERY_CONFLICT = "40001"


class _Replica:
    def __init__(self, settings: Settings, pool: AsyncConnectionPool[AsyncConnection[Any]]):
        self.conninfo = settings.conninfo()
        self.kwargs = connection_kwargs(settings)
        self.pool = pool
        self.state = ReplicaState(settings.masked_url)
        #: The background check of a replica that failed (held: a task nobody holds
        #: may be collected before it ends).
        self.probe: Any = None


class AsyncReplicaSet:
    """The replicas of `settings.replica_urls`; `run` serves a read on one of them."""

    def __init__(
        self,
        settings: Settings,
        configure: Callable[[AsyncConnection[Any]], Any],
        deadline: float,
        lent: set[Any],
        primary: AsyncConnectionPool[AsyncConnection[Any]],
        advance: Callable[[tuple[Any, ...] | None], bool],
    ):
        self.settings = settings
        # The primary's pool, and the causal token's `_advance`: for `note_position`.
        self._primary = primary
        self._advance = advance
        self.deadline = deadline
        self._lent = lent
        self._secrets = settings.secrets
        # How long a read waits for a replica's pooled connection before it goes to
        # another server: a replica that just died leaves its waiters no connection,
        # and the primary can serve them.
        self._wait = min(settings.pool_timeout, 1.0)
        self._next = 0
        # The newest position a read waited for in vain: a read needing no more than
        # it is not made to wait again (the replicas are still asked once), so a
        # request of ten reads after a write behind a stalled replica pays one wait.
        self._waited_in_vain = 0
        self.replicas: list[_Replica] = []
        for number, url in enumerate(settings.replica_urls, 1):
            own = settings.for_replica(url)
            pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                own.conninfo(),
                min_size=settings.pool_min,
                max_size=settings.pool_max,
                timeout=settings.pool_timeout,
                max_idle=settings.pool_max_idle,
                kwargs={"autocommit": True, **connection_kwargs(own)},
                configure=configure,
                name=f"{settings.application_name}-replica{number}",
                open=False,
            )
            self.replicas.append(_Replica(own, pool))

    async def open(self) -> None:
        """Start each pool filling in the background, and ask each replica once: one
        that is down when the service starts is skipped until it answers (it does not
        stop the start, nor make the first reads wait for it)."""
        for replica in self.replicas:
            await replica.pool.open(wait=False)
            await self._probe(replica)

    async def close(self) -> None:
        for replica in self.replicas:
            if replica.probe is not None:
                await ajoin(replica.probe, self.settings.connect_timeout + 1)
            await replica.pool.close()

    async def run(
        self, operation: AsyncOperation[R], name: str | None, token: int
    ) -> tuple[bool, R | None]:
        """Run a read on a replica that may serve it: (True, its result), or (False,
        None) when none may, and the primary must.

        Raises:
            PersistenceError: the statement failed on the replica for a reason of its
                own (a syntax error, a timeout): the primary would fail the same way.
        """
        if not self.replicas:
            return False, None
        waited_until: float | None = None
        while True:
            behind = False
            start = self._next
            self._next = (start + 1) % len(self.replicas)
            for i in range(len(self.replicas)):
                replica = self.replicas[(start + i) % len(self.replicas)]
                outcome, result = await self._try(replica, operation, name, token)
                if outcome is None:
                    return True, result
                if outcome == _PRIMARY:
                    return False, None
                behind = behind or outcome == _BEHIND
            if not behind or token <= self._waited_in_vain:
                return False, None
            # Some replica is up but has not replayed the caller's last write yet:
            # wait a little for it, then let the primary serve.
            now = time.monotonic()
            if waited_until is None:
                waited_until = now + self.settings.replica_wait
            if now >= waited_until:
                self._waited_in_vain = max(self._waited_in_vain, token)
                return False, None
            await asleep(min(0.01, waited_until - now))

    def noting(self, operation: AsyncOperation[R]) -> AsyncOperation[R]:
        """`operation`, then the primary's WAL position read on the same connection
        once it has committed: the caller's causal token."""

        async def noting(conn: AsyncConnection[Any]) -> R:
            result = await operation(conn)
            await self.note_position(conn)
            return result

        return noting

    async def note_position(self, conn: AsyncConnection[Any]) -> None:
        """Advance the caller's causal token to the primary's position now. Never
        raises: the write has committed; when its connection cannot say where the WAL
        is, another connection can (any later position covers the commit)."""
        for attempt in range(2):
            try:
                async with (
                    self._primary.connection(timeout=self.settings.connect_timeout)
                    if attempt
                    else nullcontext(conn)
                ) as on:
                    row = await (await on.execute(WAL_POSITION)).fetchone()
            except (psycopg.Error, PoolTimeout):
                continue
            if self._advance(row):
                return
        logger.warning(
            "could not read the primary's WAL position after a commit: this task's next"
            " reads may not see its write on a replica"
        )

    async def _try(
        self, replica: _Replica, operation: AsyncOperation[R], name: str | None, token: int
    ) -> tuple[str | None, R | None]:
        state = replica.state
        now = time.monotonic()
        if now < state.down_until:
            return _SKIP, None
        if state.failed:
            # Its back-off is over: ask it in the background; reads go elsewhere
            # meanwhile, so a dead replica never costs a read a connect timeout.
            state.down_until = now + max(state.backoff, state.FIRST_BACKOFF)
            replica.probe = aspawn(lambda: self._probe(replica), "persistence-replica-probe")
            return _SKIP, None
        max_lag = self.settings.replica_max_lag
        if state.fresh(now) and state.lagging(max_lag):
            return _SKIP, None
        conn: AsyncConnection[Any] | None = None
        try:
            async with replica.pool.connection(timeout=self._wait) as conn:
                if has_unread_input(conn):
                    # The server closed this idle connection: it restarted, or is
                    # going down. Try it again after the back-off.
                    self._down(replica, "the server closed a pooled connection")
                    return _SKIP, None
                watch = _deadline.arm(conn, self.deadline)
                self._lent.add(conn)
                try:
                    if not state.fresh(now) or state.replayed < token:
                        await self._status(conn, state)
                        if state.lagging(max_lag):
                            return _SKIP, None
                        if state.replayed < token:
                            return _BEHIND, None
                    return None, await operation(conn)
                except psycopg.Error:
                    if _deadline.disarm(watch):
                        self._down(replica, f"no answer within {self.deadline:g} s")
                        return _SKIP, None
                    raise
                finally:
                    _deadline.disarm(watch)
                    self._lent.discard(conn)
        except PoolTimeout:
            self._down(replica, f"no connection within {self._wait:g} s")
            return _SKIP, None
        except psycopg.Error as ex:
            if ex.sqlstate == _RECOVERY_CONFLICT:
                return _SKIP, None  # the primary serves this one; the replica is fine
            if ex.sqlstate in _PRIMARY_ONLY:
                return _PRIMARY, None
            # A server going down says so without a SQLSTATE ("server closed the connection").
            if is_disconnect(ex, conn, without_sqlstate=True):
                self._down(replica, self._reason(ex))
                logger.info(
                    "replica %s lost%s; the read runs on another server",
                    state.url,
                    in_name(name),
                    extra={"query": name},
                )
                return _SKIP, None
            raise translate(ex, query=name, secrets=self._secrets) from ex

    async def _status(self, conn: AsyncConnection[Any], state: ReplicaState) -> None:
        cur = await conn.execute(STATUS)
        row = await cur.fetchone()
        if row is not None:
            state.seen(time.monotonic(), bool(row[0]), row[1], float(row[2]))

    async def _probe(self, replica: _Replica) -> None:
        """After its back-off, whether a replica that failed answers again: a direct
        connection, then the pool's idle connections checked, since the ones from
        before a restart are dead. Marks it up, or down for a longer back-off."""
        state = replica.state
        was_down = state.failed
        try:
            await self._ask(replica)
            await replica.pool.check()
        except psycopg.Error as ex:
            self._down(replica, self._reason(ex))
            return
        if was_down:
            logger.info("replica %s answers again", state.url)
        state.up()

    async def _ask(self, replica: _Replica) -> None:
        """Ask the replica for its status on a direct connection, not a pooled one."""
        conn = await AsyncConnection.connect(replica.conninfo, autocommit=True, **replica.kwargs)
        try:
            await self._status(conn, replica.state)
        finally:
            await conn.close()

    def _down(self, replica: _Replica, reason: str) -> None:
        replica.state.down(time.monotonic(), reason)

    def _reason(self, ex: BaseException) -> str:
        return scrub(str(translate(ex, secrets=self._secrets)), self._secrets)

    async def health(self) -> list[ServerHealth]:
        """Each replica: asked directly now (never raises), with its pool's figures."""
        found = []
        for replica in self.replicas:
            state = replica.state
            error = None
            try:
                await self._ask(replica)
            except psycopg.Error as ex:
                error = self._reason(ex)
            stats = pool_stats(replica.pool)
            shown = "down" if error else state.state(self.settings.replica_max_lag)
            found.append(
                ServerHealth(
                    url=state.url,
                    role=None if error else "replica" if state.in_recovery else "primary",
                    state=shown,
                    lag_s=None if error else state.lag,
                    pool_size=stats.get("pool_size", 0),
                    pool_idle=stats.get("pool_available", 0),
                    requests_waiting=stats.get("requests_waiting", 0),
                    error=error or (state.error if shown == "down" else None),
                )
            )
        return found
