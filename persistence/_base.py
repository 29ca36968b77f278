"""What `Database` and `AsyncDatabase` share: no I/O but polling an idle connection's
socket (`has_unread_input`)."""

from __future__ import annotations

import logging
import select
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import psycopg
from psycopg import sql
from psycopg_pool.base import BasePool

from ._replica_state import format_lsn, parse_lsn
from ._telemetry import statement_text
from .config import Settings
from .errors import ConnectionFailed, OutcomeUnknown, PersistenceError, in_name, translate
from .metrics import Metrics, slow


def has_unread_input(conn: psycopg.BaseConnection[Any]) -> bool:
    """Whether an idle connection's socket has something to read.

    An idle pooled connection receives nothing unless the server ended the session
    (a restart, `pg_terminate_backend`, idle timeouts): the FATAL message and the
    close are waiting in the socket. Checking costs one poll(2), no round trip, and
    tells before sending that a statement would not reach the server.
    """
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


#: Undoes what `changes_session` statements change: settings back to the startup options.
RESET_SESSION = b"reset session authorization; reset role; reset all"


class TxBinding:
    """The transaction a `transaction()` block opened: its connection, the task (or
    thread) that owns it, and whether the block is still open.

    Held in a ContextVar, which asyncio copies into every task the block spawns; only
    the owner, and only while the block is open, may use the connection. Anyone else
    runs on a pooled connection of its own.
    """

    __slots__ = ("conn", "open", "owner", "tenant")

    def __init__(self, conn: Any, owner: object, tenant: str | None = None):
        self.conn = conn
        self.owner = owner
        self.open = True
        #: The tenant the transaction acts for (set when it begins).
        self.tenant = tenant


logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerHealth:
    """One server of a primary with read replicas, as `Health.servers` lists it."""

    __module__ = "persistence"

    url: str
    #: "primary" or "replica", as the server itself says (`pg_is_in_recovery()`);
    #: None when it could not be asked.
    role: str | None
    #: "up", "down" (skipped until it answers again) or "lagging" (skipped until it
    #: is back within `replica_max_lag`).
    state: str
    #: Seconds behind the primary (0 for the primary), when known.
    lag_s: float | None
    pool_size: int
    pool_idle: int
    requests_waiting: int
    error: str | None = None

    def __str__(self) -> str:
        lag = "-" if self.lag_s is None else f"{self.lag_s:.3f} s"
        error = f", {self.error}" if self.error else ""
        return (
            f"{self.role or '?':<7} {self.state:<7} lag {lag:<9} pool {self.pool_size} open"
            f" ({self.pool_idle} idle), {self.requests_waiting} waiting  {self.url}{error}"
        )


@dataclass(frozen=True, slots=True)
class Health:
    """A health report: safe to log or serve, it never contains the password."""

    __module__ = "persistence"

    ok: bool
    url: str
    server_version: str | None
    latency_ms: float | None
    pool_min: int
    pool_max: int
    pool_size: int
    pool_idle: int
    requests_waiting: int
    error: str | None = None
    #: The role the service runs as (see `persistence check` for what it may do).
    role: str | None = None
    #: With read replicas: the primary, then each replica (empty without replicas).
    servers: tuple[ServerHealth, ...] = ()
    #: Whether the primary's pool is open (False: not opened yet, its open() failed,
    #: or closed); its figures are then 0.
    pool_open: bool = True

    @property
    def degraded(self) -> list[str]:
        """The replicas not serving reads (down or lagging): the service works, on
        fewer servers; each as "<url> <state>"."""
        return [f"{s.url} {s.state}" for s in self.servers if s.state != "up"]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "degraded": self.degraded}

    def __str__(self) -> str:
        status = "ok" if self.ok else f"FAILING: {self.error}"
        if self.ok and self.degraded:
            status = f"ok, DEGRADED: {'; '.join(self.degraded)}"
        latency = f"{self.latency_ms:.2f} ms" if self.latency_ms is not None else "-"
        return "\n".join(
            [
                f"status          {status}",
                f"database        {self.url}",
                f"server version  {self.server_version or '-'}",
                f"role            {self.role or '-'}",
                f"round trip      {latency}",
                (
                    f"pool            {self.pool_size} open ({self.pool_idle} idle),"
                    f" {self.requests_waiting} waiting, limits {self.pool_min}-{self.pool_max}"
                    if self.pool_open
                    else f"pool            not open, limits {self.pool_min}-{self.pool_max}"
                ),
                *(f"server          {server}" for server in self.servers),
            ]
        )


class DatabaseBase:
    """Settings, secrets, error translation, the tenant scope and the causal token,
    shared by both twins."""

    def __init__(self, settings: Settings | str | None = None):
        # The causal token of this context (task, thread): the primary's WAL position
        # after its last committed write (0: none), for reads on replicas.
        self._causal: ContextVar[int] = ContextVar(f"persistence_causal_{id(self)}", default=0)
        # The tenant of the current scope (see tenant()), for row-level security.
        self._tenant: ContextVar[str | None] = ContextVar(
            f"persistence_tenant_{id(self)}", default=None
        )
        if settings is None:
            settings = Settings.from_env()
        elif isinstance(settings, str):
            settings = Settings(database_url=settings)
        if settings.database_url is None:
            # The project's database on the embedded server, started if need be (refused
            # in production). Imported here: no cycle, and no cost with a URL.
            from .embedded import resolve

            settings = resolve(settings)
        self.settings = settings
        self.metrics = Metrics(settings.slow_query_ms)
        # Everything that may be the password, or the part of it a mis-typed URL put
        # elsewhere: scrubbed from every error message.
        self._secrets = settings.secrets
        self._closing = False
        # The names that may write on this database, read by open(): see `_classify`.
        self._writers: frozenset[str] = frozenset()
        #: OpenTelemetry attributes of every span: which database, on which server.
        self.telemetry_attributes = _where(settings.database_url)
        #: How long a call may wait for the server before the connection is cut: the
        #: server's own statement_timeout, plus a grace of connect_timeout (at least
        #: 2 s) for its answer to arrive.
        self.deadline = settings.statement_timeout + max(2.0, settings.connect_timeout)
        # Behind a transaction pooler the session settings (timeouts) cannot come with
        # the connection: each transaction sets them for itself, with the tenant.
        local = settings.session_settings if settings.pooler else {}
        self._local_values = list(local.values())
        self._setup_sql = {
            tenant: sql.SQL("select {}")
            .format(
                sql.SQL(", ").join(
                    sql.SQL("set_config({}, %s, true)").format(sql.Literal(name))
                    for name in [*local, *([settings.tenant_setting] if tenant else [])]
                )
            )
            .as_bytes(None)
            for tenant in (False, True)
        }

    @contextmanager
    def tenant(self, tenant: object) -> Iterator[None]:
        """Act for `tenant` in the block: every transaction, and every statement outside
        one, sets it first as the transaction-local setting row-level security policies
        read (`settings.tenant_setting`, default ``app.tenant_id``). Tasks spawned in the
        block act for it too. Never leaks to the next user of a pooled connection: the
        setting ends with its transaction.

        Raises:
            PersistenceError: `tenant` is None (a scope without a tenant is the default),
                or the block is inside a transaction acting for another tenant (its
                statements would go on acting for that one).
        """
        if tenant is None:
            raise PersistenceError("tenant(None): leave the block out to act for no tenant")
        current = self._owned()
        if current is not None and current.tenant != str(tenant):
            acting = "no tenant" if current.tenant is None else repr(current.tenant)
            raise PersistenceError(
                f"tenant({str(tenant)!r}) inside a transaction acting for {acting}: the"
                " tenant is set by the outermost transaction block; enter tenant()"
                " outside the transaction"
            )
        token = self._tenant.set(str(tenant))
        try:
            yield
        finally:
            self._tenant.reset(token)

    def _owned(self) -> TxBinding | None:
        """The transaction block this task (thread) owns, if one is open."""
        return None

    def _setup(self, tenant: str | None) -> tuple[bytes, list[str]]:
        """The statement that starts a transaction for `tenant`, and its values: the
        tenant and, behind a transaction pooler, the session settings, all
        transaction-local (`set_config(..., true)`) so none outlives the transaction on
        a server session another client uses next. No values: nothing to send."""
        values = self._local_values if tenant is None else [*self._local_values, tenant]
        return self._setup_sql[tenant is not None], values

    def causal_token(self) -> str | None:
        """The primary's WAL position after the last write this task (thread) committed,
        or None if it committed none (or there are no replicas).

        Reads in the same task (thread) already wait for it. Hand it to another task,
        process or request (a cookie, a header) and read inside `after(token)` there,
        so that they see the write too.
        """
        position = self._causal.get()
        return format_lsn(position) if position else None

    @contextmanager
    def after(self, token: str | None) -> Iterator[None]:
        """In the block, reads see at least what was committed up to `token` (from
        `causal_token()`): a replica serves them once it has replayed that far, else,
        after waiting up to `replica_wait` seconds, the primary does. None: no-op.

        Raises:
            PersistenceError: `token` is not a WAL position (``16/B374D848``).
        """
        try:
            position = parse_lsn(token) if token else 0
        except (ValueError, AttributeError, TypeError):  # not a str of the right shape
            raise PersistenceError(
                f"after({str(token)[:40]!r}): not a causal token; pass what causal_token() returned"
            ) from None
        entered = max(self._causal.get(), position)
        reset = self._causal.set(entered)
        try:
            yield
        finally:
            final = self._causal.get()
            self._causal.reset(reset)
            if final > entered:  # a write in the block: keep its position
                self._causal.set(final)

    def _advance(self, row: tuple[Any, ...] | None) -> bool:
        """Move this context's token on to `row`'s position (the primary's answer to
        `WAL_POSITION`) if it is further; False when `row` has no position."""
        if row is None or row[0] is None:
            return False
        position = parse_lsn(row[0])
        if position > self._causal.get():
            self._causal.set(position)
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.settings.masked_url}>"

    def _translate(self, ex: BaseException, query: str | None = None) -> PersistenceError:
        return translate(ex, query=query, secrets=self._secrets)

    def _record(self, name: str | None, statement: Any, seconds: float, ok: bool) -> None:
        """Count a named call; log raw SQL only when slow (by its text: no values)."""
        if name is not None:
            self.metrics.record(name, seconds, ok)
        elif seconds * 1000 >= self.metrics.slow_ms and statement is not None:
            shown = statement_text(statement)
            slow(" ".join(shown.split())[:200], seconds * 1000, self.metrics.slow_ms, ok)

    def _check_open(self) -> None:
        """Refuse new work once close() has begun (work inside an open transaction
        block goes on: close() waits for it)."""
        if self._closing:
            raise PersistenceError(f"{self!r} is closed; open it again before use")

    def _deadline_error(self, name: str | None, write: bool) -> PersistenceError:
        waited = (
            f"no answer from the server within {self.deadline:g} s{in_name(name)} (the"
            f" client-side deadline: DB_STATEMENT_TIMEOUT={self.settings.statement_timeout:g}"
            " plus a grace; SET statement_timeout does not extend it, raise"
            " DB_STATEMENT_TIMEOUT for longer statements)"
        )
        if write:
            return OutcomeUnknown(
                f"{waited}; the connection was closed after the write was sent, so it may"
                " or may not have committed: check before running it again"
            )
        return ConnectionFailed(f"{waited}; the connection was closed")

    def _outcome_unknown(self, ex: BaseException, name: str | None) -> OutcomeUnknown:
        reason = str(self._translate(ex)).removeprefix("connection failed: ")
        return OutcomeUnknown(
            f"connection lost after a write was sent{in_name(name)}: it may or may not have"
            f" committed; check before running it again ({reason})"
        )

    def _health(
        self,
        pool: BasePool,
        row: tuple[Any, ...] | None,
        latency: float | None,
        error: str | None,
        replicas: list[ServerHealth],
    ) -> Health:
        """`health`'s report from the primary's version, role and pg_is_in_recovery()
        (`row`, None when it failed with `error`), heading the replicas' lines if any."""
        version, role, standby = row if row is not None else (None, None, None)
        stats = pool_stats(pool)
        primary = ServerHealth(
            url=self.settings.masked_url,
            role=None if error else "replica" if standby else "primary",
            state="down" if error else "up",
            lag_s=None if error else 0.0,
            pool_size=stats.get("pool_size", 0),
            pool_idle=stats.get("pool_available", 0),
            requests_waiting=stats.get("requests_waiting", 0),
            error=error,
        )
        return Health(
            ok=error is None,
            url=self.settings.masked_url,
            server_version=None if error else str(version),
            latency_ms=None if latency is None else round(latency * 1000, 3),
            pool_min=self.settings.pool_min,
            pool_max=self.settings.pool_max,
            pool_size=primary.pool_size,
            pool_idle=primary.pool_idle,
            requests_waiting=primary.requests_waiting,
            error=error,
            role=None if error else str(role),
            servers=(primary, *replicas) if replicas else (),
            pool_open=not pool.closed,
        )


def pool_stats(pool: BasePool) -> dict[str, int]:
    """A pool's figures for a health report: psycopg_pool counts a pool that is not
    open as holding its minimum size (the connections it would make); it holds none."""
    stats = pool.get_stats()
    if pool.closed:
        stats.update(pool_size=0, pool_available=0, requests_waiting=0)
    return stats


#: The isolation levels `transaction(isolation=...)` and `retrying(isolation=...)` take.
Isolation = Literal["serializable", "repeatable read", "read committed"]


def isolation_statement(level: str | None) -> bytes | None:
    """The SET TRANSACTION for `level` (None: nothing, the server's default), refusing
    any other text, which would become SQL.

    >>> isolation_statement("serializable")
    b'set transaction isolation level serializable'
    """
    if level is None:
        return None
    if level not in get_args(Isolation):
        raise PersistenceError(
            f"isolation {level!r}: use one of {', '.join(map(repr, get_args(Isolation)))}"
        )
    return f"set transaction isolation level {level}".encode()


def _where(url: str | None) -> dict[str, str]:
    try:
        params = psycopg.conninfo.conninfo_to_dict(url or "")
    except psycopg.Error:
        return {}
    found = {
        "db.namespace": params.get("dbname"),
        "server.address": params.get("host"),
        "server.port": params.get("port"),
    }
    return {k: str(v) for k, v in found.items() if v}
