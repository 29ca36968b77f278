"""Migrations: yoyo's files, ordering and bookkeeping, with the guarantees yoyo lacks.

From yoyo we take the file format (`NNNN_name.sql` + `NNNN_name.rollback.sql`,
`-- depends:` and `-- transactional:` headers), dependency ordering, and its tables
(`_yoyo_migration`, `_yoyo_log`), which stay the record of what is applied, so yoyo's own
tools still read it. On top of it, each run:

- holds a session-level advisory lock, released by the server when the session ends,
  so a killed `migrate` leaves no stale lock (yoyo's lock is a table row); a run that
  finds it taken waits up to `migration_lock_timeout` (10 minutes), whatever the
  session's statement_timeout, and then names the holder;
- runs a transactional migration's statements and the rows that record it in one
  transaction, so a crash can never leave a migration applied but unrecorded;
- records a checksum of both files and the rollback SQL at apply time: an edited applied
  migration stops `migrate` (until `accept`), and a rollback still works when its file
  changed or is gone;
- refuses a migration that holds no statement (a file `persistence new` made and nobody
  filled in yet) before applying anything: applied empty, its SQL would later read as
  an edit of an applied migration and never run;
- sets `lock_timeout` and `statement_timeout` (a DDL statement queued behind a long
  transaction must not block every reader queued behind it), overridable per migration
  with `-- lock_timeout: 30s` / `-- statement_timeout: 1h` headers. These replace the
  pool's statement_timeout (DB_STATEMENT_TIMEOUT, 30 s) for the migration's statements,
  so a ten-minute `CREATE INDEX` runs under the 15-minute default.

Migrations are SQL files. Like yoyo, this API is synchronous; call it from async code
with `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from . import _migration_records as records
from . import _telemetry
from ._connect import connect, pooled
from ._migration_guards import applied_empty, never_ran, refuse_edited, refuse_empty
from ._migration_lock import LOCK_KEY as LOCK_KEY
from ._migration_lock import take_lock
from ._migration_records import Applied, HistoryEntry
from ._migration_sql import (
    MigrationFile,
    ancestors,
    find_heads,
    format_duration,
    is_transactional,
    load_files,
    render_for_psql,
    reset_timeouts,
    rollback_path,
    run_statements,
    set_timeouts,
)
from ._requires import unavailable_migrations
from ._scratch import database_name
from ._typeinfo import forget as forget_types
from ._yoyo import Backend, open_backend
from .config import Settings, refuse_in_production
from .errors import MigrationError, translate

__all__ = ["HistoryEntry", "MigrationFile", "MigrationState", "Migrator"]


Output = Callable[[str], None]

logger = logging.getLogger(__name__)


def _telemetry_where(settings: Settings) -> dict[str, str]:
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    return {"db.namespace": str(params.get("dbname") or "")}


#: Called with the ids about to be rolled back; raises to refuse.
Confirm = Callable[[Sequence[str]], None]


@dataclass(frozen=True, slots=True)
class MigrationState:
    """A migration's state in `status`: applied or pending, and whether its file changed."""

    id: str
    applied_at: datetime | None
    #: "ok", "changed" (file edited since applied), "file missing", "unrecorded"
    #: (applied by another tool, no checksum), or "pending".
    state: str

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


class Migrator:
    """Apply, roll back and inspect the migrations in `settings.migrations_dir`.

    Args:
        settings: the database and the project folders.
        out: where progress lines go (default: print); pass `lambda _: None` for quiet.
        lock_wait: seconds to wait for another run's migration lock before giving up
            (default: `settings.migration_lock_timeout`, 10 minutes; 0: do not wait).
            The wait is not cut short by the session's statement_timeout.
    """

    def __init__(
        self, settings: Settings, *, out: Output | None = None, lock_wait: float | None = None
    ):
        self.settings = settings.for_migrations()  # the owner changes the schema
        self.directory = settings.migrations_folder
        # The CLI prints progress; a library caller gets it as DEBUG log records (and
        # an INFO record with structured fields per migration applied or rolled back).
        self.out = out or logger.debug
        self.lock_wait = settings.migration_lock_timeout if lock_wait is None else lock_wait

    # -- reading ------------------------------------------------------------------------

    def load(self) -> list[MigrationFile]:
        """Every migration in dependency order.

        Raises:
            MigrationError: naming the file of an unknown `-- depends:` name, a cycle, or
                an unreadable file; or when the migrations folder does not exist (the
                wrong project: "no migrations" would read as "nothing to do").
        """
        if not self.directory.is_dir():
            raise MigrationError(
                f"no migrations folder {self.directory}: run in your project (or pass"
                " --project DIR), or create one with `persistence init`"
            )
        return load_files(self.directory)

    # -- operations ---------------------------------------------------------------------

    def status(self) -> list[MigrationState]:
        """Every migration, applied or pending, with its checksum state.

        Reads only: it neither waits for a running migration's lock nor creates the
        bookkeeping tables, so a read-only role can run it (a CI gate) during a deploy.
        """
        files = self.load()
        with self._reading() as conn:
            applied = records.read_applied(conn)
        states = []
        for f in files:
            a = applied.pop(f.id, None)
            if a is None:
                states.append(MigrationState(f.id, None, "pending"))
            elif a.checksum is None:
                states.append(MigrationState(f.id, a.applied_at, "unrecorded"))
            else:
                state = "ok" if a.checksum == f.checksum else "changed"
                states.append(MigrationState(f.id, a.applied_at, state))
        states += [MigrationState(a.id, a.applied_at, "file missing") for a in applied.values()]
        return states

    def migrate(
        self, target: str | None = None, *, dry_run: bool = False, skip_unavailable: bool = False
    ) -> list[str]:
        """Apply pending migrations (all, or `target` and what it depends on).

        Returns the ids applied (or, with `dry_run`, that would be).

        Args:
            skip_unavailable: leave pending (and say so) the migrations that `-- requires:`
                an extension this server lacks, and those depending on them, instead of
                refusing (`check` and `types` on a server without the extension).

        Raises:
            MigrationError: an applied file was edited or is gone, a migration failed (a
                failed transactional migration leaves nothing behind), or (before anything
                is applied) a pending migration holds no statement or `-- requires:` an
                extension the server lacks.
        """
        files = self.load()
        by_id = {f.id: f for f in files}
        if target is not None and target not in by_id:
            raise MigrationError(f"unknown migration {target!r} in {self.directory}")
        with self._session() as backend:
            applied = records.read_applied(backend.connection)
            refuse_edited(applied, by_id, self.directory)
            pending = [f for f in files if f.id not in applied]
            if target is not None:
                wanted = ancestors(target, by_id) | {target}
                pending = [f for f in pending if f.id in wanted]
            refuse_empty(pending)
            blocked = unavailable_migrations(backend.connection, pending)
            if blocked and not skip_unavailable:
                mid, why = next(iter(blocked.items()))
                more = f" (and {len(blocked) - 1} more)" if len(blocked) > 1 else ""
                raise MigrationError(
                    f"migration {mid} ({by_id[mid].path}) {why}{more}: install it on the"
                    " database server, then migrate again; nothing was applied",
                    migration=mid,
                )
            pending = [f for f in pending if f.id not in blocked]
            self._header("dry run" if dry_run else None)
            for mid, why in blocked.items():
                self.out(f"skipped   {mid}: {why}")
            if not pending:
                self.out("nothing to apply")
            for f in pending:
                if f.rollback_sql is None:
                    self.out(
                        f"warning   {f.id} has no rollback file ({f.rollback_path}):"
                        " `persistence rollback` will not be able to undo it"
                    )
                if dry_run:
                    self.out(f"-- would apply {f.id} ({f.path})\n{f.sql.strip()}\n")
                else:
                    self._apply(backend, f)
            return [f.id for f in pending]

    def rollback(
        self,
        steps: int = 1,
        *,
        target: str | None = None,
        dry_run: bool = False,
        confirm: Confirm | None = None,
    ) -> list[str]:
        """Roll back the last `steps` applied migrations, or all applied after `target`.

        Uses the rollback SQL stored when each migration was applied, so it works when
        the file changed or is gone. Returns the ids rolled back.

        Args:
            confirm: called with the ids about to be rolled back (newest first), with the
                lock held, before anything changes; it raises to refuse (the CLI asks the
                operator in production). Not called for a dry run or when nothing is due.
        """
        if steps < 0:
            raise MigrationError(f"steps must be >= 0, not {steps}")
        files = {f.id: f for f in self.load()}
        with self._session() as backend:
            newest_first = list(reversed(records.read_applied(backend.connection).values()))
            if target is not None:
                ids = [a.id for a in newest_first]
                if target not in ids:
                    raise MigrationError(f"{target!r} is not applied", migration=target)
                chosen = newest_first[: ids.index(target)]
            else:
                chosen = newest_first[:steps]
            undos = [(a, self._undo(a, files)) for a in chosen]
            if chosen and confirm is not None and not dry_run:
                confirm([a.id for a in chosen])
            self._header("dry run" if dry_run else None)
            if not chosen:
                self.out("nothing to roll back")
            elif target is None and len(chosen) < steps:
                self.out(
                    f"note      only {len(chosen)} applied: rolling back {len(chosen)}, not {steps}"
                )
            for a, undo in undos:
                if dry_run:
                    self.out(f"-- would roll back {a.id}\n{undo.strip()}\n")
                else:
                    # A rollback runs outside a transaction when its migration does
                    # (DROP INDEX CONCURRENTLY undoing CREATE INDEX CONCURRENTLY), or
                    # when its own header says so.
                    forward = files.get(a.id)
                    outside = forward is not None and not is_transactional(forward.sql)
                    self._rollback(backend, a, undo, transactional=not outside)
            return [a.id for a in chosen]

    def _undo(self, a: Applied, files: dict[str, MigrationFile]) -> str:
        """The rollback SQL stored at apply time, else (applied by another tool) the file's."""
        undo = a.rollback_sql
        if undo is None:
            f = files.get(a.id)
            undo = f.rollback_sql if f else None
        if undo is None:
            raise MigrationError(
                f"no rollback for {a.id!r}: none was stored when it was applied and"
                f" {rollback_path(self.directory, a.id)} does not exist",
                migration=a.id,
            )
        return undo

    def accept(self, ids: Sequence[str]) -> None:
        """Record the current content of edited applied migrations as applied, without
        running it.

        For an edit whose change is already in the database (a comment, a fix made by
        hand): `migrate` then stops refusing. Nothing of the migration runs, and the
        database is not changed otherwise: an edit that still has to run is rolled back
        (with the rollback stored when it was applied) and migrated again instead.

        Raises:
            MigrationError: before recording anything, if one of `ids` has no file, is not
                applied, is unchanged, has no record of ours to replace (marked applied
                by `yoyo mark` or another tool: `baseline` records it), or was applied
                before its SQL was written (its SQL never ran: roll it back and migrate).
        """
        files = {f.id: f for f in self.load()}
        with self._session() as backend:
            applied = records.read_applied(backend.connection)
            for mid in ids:
                a = applied.get(mid)
                if mid not in files:
                    raise MigrationError(
                        f"{mid!r} is not a migration in {self.directory}", migration=mid
                    )
                if a is None:
                    raise MigrationError(
                        f"{mid!r} is not applied, so there is nothing to accept", migration=mid
                    )
                if a.checksum is None:
                    raise MigrationError(
                        f"{mid!r} is marked applied (by yoyo mark or another tool) but"
                        " persistence has no record of it to replace; record it with"
                        f" `persistence baseline --target {mid}`",
                        migration=mid,
                    )
                if a.checksum == files[mid].checksum:
                    raise MigrationError(
                        f"{mid!r} is unchanged since it was applied: nothing to accept",
                        migration=mid,
                    )
                if applied_empty(a, files[mid]):
                    raise MigrationError(
                        f"{never_ran(mid, applied)}; accepting would record it as run;"
                        " nothing was accepted",
                        migration=mid,
                    )
            with backend.transaction():
                for mid in ids:
                    records.accept(backend.connection, files[mid])
            for mid in ids:
                self.out(
                    f"accepted  {mid}: its current content is recorded as applied, without"
                    " running it (the database was not changed)"
                )

    def baseline(self, target: str | None = None) -> list[str]:
        """Record migrations as applied without running them, to adopt an existing database.

        All migrations, or `target` and what it depends on. Each is recorded the way
        `migrate` records it (yoyo's row, a "mark" entry in yoyo's log, our checksum and
        rollback SQL), so `status`, the edit check and `rollback` treat it as applied.
        A migration marked by `yoyo mark` gets the record it lacks. Returns the ids recorded.

        Raises:
            MigrationError: `target` is not a migration.
        """
        files = self.load()
        by_id = {f.id: f for f in files}
        if target is not None and target not in by_id:
            raise MigrationError(f"unknown migration {target!r} in {self.directory}")
        wanted = by_id.keys() if target is None else ancestors(target, by_id) | {target}
        with self._session() as backend:
            applied = records.read_applied(backend.connection)
            chosen = [
                f
                for f in files
                if f.id in wanted and (f.id not in applied or applied[f.id].checksum is None)
            ]
            self._header()
            if not chosen:
                self.out("nothing to baseline: every migration asked for is already recorded")
            with backend.transaction():
                for f in chosen:
                    records.record(backend, f, "mark", in_yoyo=f.id in applied)
            for f in chosen:
                self.out(f"baselined {f.id} (recorded as applied, not run)")
            return [f.id for f in chosen]

    def heads(self) -> list[str]:
        """The migrations no other depends on: what a new migration depends on."""
        return find_heads(self.load())

    def history(self) -> list[HistoryEntry]:
        """The applied migrations in the order they were applied, with when and how.

        Reads only, like `status`.
        """
        with self._reading() as conn:
            return records.read_history(conn)

    def show(self, mid: str, *, rollback: bool = False) -> str:
        """The SQL of migration `mid` (or of its rollback) as it runs, for psql.

        Its headers are resolved: the transaction (unless `-- transactional: false`) and
        the lock and statement timeouts `migrate` sets. The rollback is the SQL stored
        when `mid` was applied, as `rollback` uses it, else its file (this reads the
        database). Running the text by hand does not record anything.

        Raises:
            MigrationError: `mid` is not a migration (or, with `rollback`, has none).
        """
        files = {f.id: f for f in self.load()}
        f = files.get(mid)
        if not rollback:
            if f is None:
                raise MigrationError(f"unknown migration {mid!r} in {self.directory}")
            source = f"{f.path}, as `persistence migrate` runs it"
            after = (
                "-- Run by hand, it is not recorded as applied: then run"
                f" `persistence baseline --target {mid}`."
            )
            return render_for_psql(mid, f.sql, source, after)
        with self._reading() as conn:
            applied = records.read_applied(conn)
        a = applied.get(mid)
        if a is None and f is None:
            raise MigrationError(f"unknown migration {mid!r} in {self.directory}")
        if a is not None and a.rollback_sql is not None:
            undo, source = a.rollback_sql, "the rollback SQL stored when it was applied"
        elif f is not None and f.rollback_sql is not None:
            undo, source = f.rollback_sql, str(f.rollback_path)
        else:
            raise MigrationError(
                f"no rollback for {mid!r}: none stored and no {rollback_path(self.directory, mid)}",
                migration=mid,
            )
        after = "-- Run by hand, it is not recorded: status still lists the migration as applied."
        return render_for_psql(mid, undo, f"rollback of {mid}: {source}", after, rollback=True)

    def reset(self, *, confirm: Confirm | None = None) -> None:
        """Roll back every applied migration, then apply them all again.

        Raises:
            PersistenceError: in production, before anything else.
        """
        refuse_in_production(self.settings, "reset")
        # Every migration is applied again: one without a statement is refused before the
        # rollback, not after it.
        refuse_empty(self.load())
        with self._session() as backend:
            count = len(records.read_applied(backend.connection))
        self.rollback(count, confirm=confirm)
        self.migrate()

    # -- internals ----------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Backend]:
        try:
            backend = open_backend(self.settings, database_name(self.settings))
        except psycopg.Error as ex:
            raise translate(ex, secrets=self.settings.secrets) from None
        try:
            conn = backend.connection
            if pooled(conn):
                # Its session advisory lock would stay on a server session the pooler
                # hands to other clients, and guard nothing.
                raise MigrationError(
                    f"{self.settings.masked_url} goes through a connection pooler"
                    " (PgBouncer): migrations need a direct connection; set"
                    " DATABASE_MIGRATION_URL to the PostgreSQL server itself"
                )
            if conn.info.server_version >= 140000:
                # A killed migrate's backend (and its locks) go in ~1 s, not when the
                # server next writes to the dead socket.
                conn.execute("set client_connection_check_interval = '1s'")
            take_lock(conn, self.lock_wait, self.out)
            backend.init_database()
            backend.ensure_internal_schema_updated()
            records.create_table(conn)
            yield backend
        except psycopg.Error as ex:
            raise translate(ex, secrets=self.settings.secrets) from ex
        finally:
            # Closing the session releases the advisory lock, on every path.
            backend.connection.close()
            # The session may have created or dropped types: connections opened from
            # now on read them again (see _typeinfo).
            forget_types()

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A session for reports: no lock taken, nothing created."""
        with connect(self.settings) as conn:
            yield conn

    def _header(self, mode: str | None = None) -> None:
        """The database, and the `mode` ("dry run", "check") that changes nothing."""
        note = f" ({mode}: nothing is changed)" if mode else ""
        self.out(f"database  {self.settings.masked_url}{note}")

    def _apply(self, backend: Backend, f: MigrationFile) -> None:
        self._run(backend, f.id, f.path, f.sql, lambda: records.record(backend, f))

    def _rollback(
        self, backend: Backend, a: Applied, undo: str, *, transactional: bool = True
    ) -> None:
        def unrecord() -> None:
            records.unrecord(backend, a)

        path = rollback_path(self.directory, a.id)
        self._run(backend, a.id, path, undo, unrecord, transactional=transactional, undo=True)

    def _run(
        self,
        backend: Backend,
        mid: str,
        path: Path,
        text: str,
        record: Callable[[], None],
        *,
        transactional: bool = True,
        undo: bool = False,
    ) -> None:
        """Run `text` under its headers' timeouts and `record` it: in one transaction, or,
        for `-- transactional: false` (CREATE/DROP INDEX CONCURRENTLY; or `transactional`
        False), statement by statement with the record written after the last one.
        Timed, traced and logged, as applying `mid` or (`undo`) rolling it back."""
        doing, done, span = ("applying", "applied", "migration")
        if undo:
            doing, done, span = ("rolling back", "rolled back", "rollback")
        self.out(f"{doing:<9} {mid}")
        started = time.perf_counter()
        conn = backend.connection
        with _telemetry.span(f"{span} {mid}", text, _telemetry_where(self.settings)):
            try:
                if transactional and is_transactional(text):
                    with backend.transaction():
                        set_timeouts(conn, text, local=True)
                        run_statements(conn, path, text, name=self._name(path))
                        record()
                else:
                    set_timeouts(conn, text, local=False)
                    run_statements(conn, path, text, transactional=False, name=self._name(path))
                    reset_timeouts(conn)
                    with backend.transaction():
                        record()
            except MigrationError as ex:
                ex.migration = mid
                raise
        seconds = time.perf_counter() - started
        extra = {"migration": mid, "duration_ms": round(seconds * 1000, 3)}
        logger.info(f"{done} migration %s in %.3f s", mid, seconds, extra=extra)
        self.out(f"{f'{done:<9} {mid}':<54} {format_duration(seconds)}")

    def _name(self, path: Path, kind: str = "migrations") -> str | None:
        """The name in the comment on a migration's statements: `migrations.0002_users`
        (its rollback: `migrations.0002_users.rollback`), seeds `seeds.NAME`; None when
        the comment is off."""
        name = path.name.removesuffix(".sql")
        return f"{kind}.{name}" if self.settings.sql_comment else None
