"""Migrations: yoyo's files, ordering and bookkeeping, with the guarantees yoyo lacks.

From yoyo we take the file format (`NNNN_name.sql` + `NNNN_name.rollback.sql`,
`-- depends:` and `-- transactional:` headers), dependency ordering, and its tables
(`_yoyo_migration`, `_yoyo_log`), which stay the record of what is applied, so yoyo's own
tools still read it. On top of it, each run:

- holds a session-level advisory lock, released by the server when the session ends,
  so a killed `migrate` leaves no stale lock (yoyo's lock is a table row);
- runs a transactional migration's statements and the rows that record it in one
  transaction, so a crash can never leave a migration applied but unrecorded;
- records a checksum of both files and the rollback SQL at apply time: an edited applied
  migration stops `migrate` (until `accept`), and a rollback still works when its file
  changed or is gone;
- sets `lock_timeout` and `statement_timeout` (a DDL statement queued behind a long
  transaction must not block every reader queued behind it), overridable per migration
  with `-- lock_timeout: 30s` / `-- statement_timeout: 1h` headers.

Migrations are SQL files. Like yoyo, this API is synchronous; call it from async code
with `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlparse
from psycopg import sql
from yoyo import exceptions as yoyo_exceptions
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import default_migration_table
from yoyo.migrations import get_migration_hash, read_migrations, topological_sort
from yoyo.topologicalsort import CycleError

from ._scratch import database_name
from ._typeinfo import forget as forget_types
from .config import Settings
from .errors import MigrationError, PersistenceError, translate

__all__ = ["MigrationFile", "MigrationState", "Migrator"]

#: Key of the advisory lock every run holds ("persist!" as a bigint).
LOCK_KEY = int.from_bytes(b"persist!", "big")
CHECKSUMS = "_persistence_migration"
_CHECKSUMS = sql.Identifier(CHECKSUMS)
_YOYO_APPLIED = sql.Identifier(default_migration_table)
DEFAULT_TIMEOUTS = {"lock_timeout": "5s", "statement_timeout": "15min"}

_DIRECTIVE = re.compile(r"^\s*--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")

Output = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One migration as read from disk: its SQL, rollback SQL and headers."""

    id: str
    path: Path
    sql: str
    rollback_sql: str | None
    depends: tuple[str, ...]

    @property
    def rollback_path(self) -> Path:
        return self.path.with_name(f"{self.id}.rollback.sql")

    @property
    def checksum(self) -> str:
        return _checksum(self.sql, self.rollback_sql)

    @property
    def transactional(self) -> bool:
        return _directives(self.sql).get("transactional", "true").lower() != "false"


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


@dataclass(frozen=True, slots=True)
class _Applied:
    id: str
    applied_at: datetime
    checksum: str | None
    rollback_sql: str | None

    @property
    def hash(self) -> str:  # what yoyo's mark/unmark/log key on
        return str(get_migration_hash(self.id))


@dataclass(frozen=True, slots=True)
class _Target:
    """What yoyo's backend takes as its URI: it reads `.database`, we connect."""

    settings: Settings
    database: str


class _Backend(PostgresqlPsycopgBackend):  # type: ignore[misc]
    """yoyo's backend on a connection made from our Settings (timeouts, sslmode...)."""

    def connect(self, dburi: _Target) -> psycopg.Connection[Any]:
        return psycopg.connect(dburi.settings.conninfo(), autocommit=True)


class Migrator:
    """Apply, roll back and inspect the migrations in `settings.migrations_dir`.

    Args:
        settings: the database and the project folders.
        out: where progress lines go (default: print); pass `lambda _: None` for quiet.
        lock_wait: seconds to wait for another run's lock before giving up.
    """

    def __init__(self, settings: Settings, *, out: Output = print, lock_wait: float = 600.0):
        self.settings = settings
        self.directory = settings.migrations_dir or settings.project / "migrations"
        self.out = out
        self.lock_wait = lock_wait

    # -- reading ------------------------------------------------------------------------

    def load(self) -> list[MigrationFile]:
        """Every migration in dependency order.

        Raises:
            MigrationError: naming the file of an unknown `-- depends:` name, a cycle, or
                an unreadable file.
        """
        if not self.directory.is_dir():
            return []
        migrations = read_migrations(str(self.directory))
        files: dict[str, MigrationFile] = {}
        for m in migrations:
            path = Path(m.path)
            if path.suffix != ".sql":
                raise MigrationError(
                    f"{path}: only SQL migrations are supported (NNNN_name.sql with"
                    " NNNN_name.rollback.sql)",
                    migration=m.id,
                )
            text = _read(path)
            rollback = path.with_name(f"{m.id}.rollback.sql")
            depends = tuple(_directives(text).get("depends", "").split())
            files[m.id] = MigrationFile(
                m.id, path, text, _read(rollback) if rollback.exists() else None, depends
            )
        for f in files.values():
            for name in f.depends:
                if name not in files:
                    raise MigrationError(
                        f"{f.path}: -- depends: names {name!r}, which is not a migration in"
                        f" {self.directory}",
                        migration=f.id,
                    )
        try:
            ordered = list(topological_sort(migrations))
        except CycleError as ex:
            # yoyo means to wrap this in BadMigration, but its topological_sort returns a
            # lazy generator, so the CycleError escapes its try block (yoyo 9.0.0).
            names = ", ".join(m.id for m in ex.args[1])
            raise MigrationError(
                f"{self.directory}: circular dependencies among these migrations: {names}"
            ) from None
        except yoyo_exceptions.BadMigration as ex:
            raise MigrationError(f"{self.directory}: {ex.args[0]}") from None
        return [files[m.id] for m in ordered]

    # -- operations ---------------------------------------------------------------------

    def status(self) -> list[MigrationState]:
        """Every migration, applied or pending, with its checksum state."""
        files = self.load()
        with self._session() as backend:
            applied = {a.id: a for a in self._applied(backend)}
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

    def migrate(self, target: str | None = None, *, dry_run: bool = False) -> list[str]:
        """Apply pending migrations (all, or `target` and what it depends on).

        Returns the ids applied (or, with `dry_run`, that would be).

        Raises:
            MigrationError: an applied file was edited, or a migration failed; a failed
                transactional migration leaves nothing behind.
        """
        files = self.load()
        by_id = {f.id: f for f in files}
        if target is not None and target not in by_id:
            raise MigrationError(f"unknown migration {target!r} in {self.directory}")
        with self._session() as backend:
            applied = {a.id: a for a in self._applied(backend)}
            self._refuse_edited(applied, by_id)
            pending = [f for f in files if f.id not in applied]
            if target is not None:
                wanted = _ancestors(target, by_id) | {target}
                pending = [f for f in pending if f.id in wanted]
            self._header(dry_run)
            if not pending:
                self.out("nothing to apply")
            for f in pending:
                if dry_run:
                    self.out(f"-- would apply {f.id} ({f.path})\n{f.sql.strip()}\n")
                else:
                    self._apply(backend, f)
            return [f.id for f in pending]

    def rollback(
        self, steps: int = 1, *, target: str | None = None, dry_run: bool = False
    ) -> list[str]:
        """Roll back the last `steps` applied migrations, or all applied after `target`.

        Uses the rollback SQL stored when each migration was applied, so it works when
        the file changed or is gone. Returns the ids rolled back.
        """
        if steps < 0:
            raise MigrationError(f"steps must be >= 0, not {steps}")
        files = {f.id: f for f in self.load()}
        with self._session() as backend:
            newest_first = list(reversed(self._applied(backend)))
            if target is not None:
                ids = [a.id for a in newest_first]
                if target not in ids:
                    raise MigrationError(f"{target!r} is not applied", migration=target)
                chosen = newest_first[: ids.index(target)]
            else:
                chosen = newest_first[:steps]
            self._header(dry_run)
            if not chosen:
                self.out("nothing to roll back")
            for a in chosen:
                undo = a.rollback_sql
                if undo is None:  # applied by another tool: only the file can tell
                    f = files.get(a.id)
                    undo = f.rollback_sql if f else None
                if undo is None:
                    raise MigrationError(
                        f"no rollback for {a.id!r}: none was stored when it was applied and"
                        f" {self.directory / (a.id + '.rollback.sql')} does not exist",
                        migration=a.id,
                    )
                if dry_run:
                    self.out(f"-- would roll back {a.id}\n{undo.strip()}\n")
                else:
                    self._rollback(backend, a, undo)
            return [a.id for a in chosen]

    def accept(self, ids: Sequence[str]) -> None:
        """Record the current content of edited applied migrations as the applied one.

        For a deliberate edit (a comment, a fix already applied by hand): `migrate` then
        stops refusing. The database is not changed otherwise.
        """
        files = {f.id: f for f in self.load()}
        with self._session() as backend:
            applied = {a.id for a in self._applied(backend)}
            for mid in ids:
                if mid not in files or mid not in applied:
                    raise MigrationError(f"{mid!r} is not an applied migration with a file")
                f = files[mid]
                backend.connection.execute(
                    sql.SQL(
                        "update {} set checksum = %s, rollback_sql = %s where migration_id = %s"
                    ).format(_CHECKSUMS),
                    (f.checksum, f.rollback_sql, mid),
                )
                self.out(f"accepted  {mid}: its current content is now the applied one")

    def new(self, name: str) -> tuple[Path, Path]:
        """Create `NNNN_name.sql` and its rollback, depending on the current heads."""
        if not _NAME.fullmatch(name):
            raise MigrationError(
                f"migration name {name!r}: use lowercase letters, digits and underscores"
            )
        files = self.load()
        numbers = [int(m.group()) for f in files if (m := re.match(r"\d+", f.id))]
        mid = f"{max(numbers, default=0) + 1:04d}_{name}"
        depended = {d for f in files for d in f.depends}
        heads = [f.id for f in files if f.id not in depended]
        self.directory.mkdir(parents=True, exist_ok=True)
        up = self.directory / f"{mid}.sql"
        down = self.directory / f"{mid}.rollback.sql"
        depends = f"-- depends: {' '.join(heads)}\n" if heads else ""
        up.write_text(f"-- {name.replace('_', ' ')}\n{depends}\n")
        down.write_text(f"-- rollback of {mid}: undo everything {up.name} does, in reverse\n\n")
        self.out(f"created   {up}\ncreated   {down}")
        return up, down

    def seed(self) -> list[Path]:
        """Run every `.sql` file of the seeds folder, in name order, in one transaction.

        Raises:
            PersistenceError: in production; or naming the file and line that failed.
        """
        self._refuse_in_production("seed")
        folder = self.settings.seeds_dir or self.settings.project / "seeds"
        paths = sorted(folder.glob("*.sql")) if folder.is_dir() else []
        try:
            with (
                psycopg.connect(self.settings.conninfo(), autocommit=True) as conn,
                conn.transaction(),
            ):
                for path in paths:
                    _run(conn, path, _read(path))
                    self.out(f"seeded    {path.name}")
        except psycopg.Error as ex:
            raise translate(ex, secrets=self._secrets) from ex
        if not paths:
            self.out(f"no seed files in {folder}")
        return paths

    def reset(self) -> None:
        """Roll back every applied migration, then apply them all again."""
        self._refuse_in_production("reset")
        with self._session() as backend:
            count = len(self._applied(backend))
        self.rollback(count)
        self.migrate()

    # -- internals ----------------------------------------------------------------------

    @property
    def _secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.settings.password,) if s)

    @contextmanager
    def _session(self) -> Iterator[_Backend]:
        try:
            target = _Target(self.settings, database_name(self.settings))
            backend = _Backend(target, default_migration_table)
        except psycopg.Error as ex:
            raise translate(ex, secrets=self._secrets) from None
        try:
            conn = backend.connection
            if conn.info.server_version >= 140000:
                # A killed migrate's backend (and its locks) go in ~1 s, not when the
                # server next writes to the dead socket.
                conn.execute("set client_connection_check_interval = '1s'")
            self._lock(conn)
            backend.init_database()
            backend.ensure_internal_schema_updated()
            conn.execute(
                sql.SQL(
                    "create table if not exists {} (migration_id text primary key,"
                    " checksum text not null, rollback_sql text,"
                    " applied_at timestamptz not null default now())"
                ).format(_CHECKSUMS)
            )
            yield backend
        except psycopg.Error as ex:
            raise translate(ex, secrets=self._secrets) from ex
        finally:
            # Closing the session releases the advisory lock, on every path.
            backend.connection.close()
            # The session may have created or dropped types: connections opened from
            # now on read them again (see _typeinfo).
            forget_types()

    def _lock(self, conn: psycopg.Connection[Any]) -> None:
        got = conn.execute("select pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
        if got and got[0]:
            return
        holder = conn.execute(
            "select pid from pg_locks where locktype = 'advisory' and granted"
            " and (classid::bigint << 32 | objid::bigint) = %s",
            [LOCK_KEY],
        ).fetchone()
        self.out(f"waiting for the migration lock (held by backend pid {holder and holder[0]})")
        conn.execute("select set_config('lock_timeout', %s, false)", [f"{self.lock_wait}s"])
        try:
            conn.execute("select pg_advisory_lock(%s)", [LOCK_KEY])
        except psycopg.errors.LockNotAvailable:
            raise MigrationError(
                f"another migration run held the lock for over {self.lock_wait:.0f} s;"
                " it is still running (a killed run releases it at once)"
            ) from None
        conn.execute("reset lock_timeout")

    def _applied(self, backend: _Backend) -> list[_Applied]:
        rows = backend.connection.execute(
            sql.SQL(
                "select y.migration_id, y.applied_at_utc, p.checksum, p.rollback_sql"
                " from {} y left join {} p using (migration_id)"
                " order by y.applied_at_utc, y.migration_id"
            ).format(_YOYO_APPLIED, _CHECKSUMS)
        ).fetchall()
        return [_Applied(*row) for row in rows]

    def _refuse_edited(self, applied: dict[str, _Applied], files: dict[str, MigrationFile]) -> None:
        for mid, a in applied.items():
            f = files.get(mid)
            if f is not None and a.checksum is not None and a.checksum != f.checksum:
                raise MigrationError(
                    f"applied migration {mid!r} was edited since it was applied ({f.path} or"
                    " its rollback). Put the file back, or, if the edit is deliberate, run"
                    f" `persistence accept {mid}`; to change the schema, add a new migration",
                    migration=mid,
                )

    def _header(self, dry_run: bool) -> None:
        mode = " (dry run: nothing is changed)" if dry_run else ""
        self.out(f"database  {self.settings.masked_url}{mode}")

    def _apply(self, backend: _Backend, f: MigrationFile) -> None:
        started = time.perf_counter()
        conn = backend.connection
        try:
            if f.transactional:
                with backend.transaction():
                    _set_timeouts(conn, f.sql, local=True)
                    _run(conn, f.path, f.sql)
                    self._record(backend, f)
            else:
                _set_timeouts(conn, f.sql, local=False)
                _run(conn, f.path, f.sql, transactional=False)
                conn.execute("reset lock_timeout; reset statement_timeout")
                with backend.transaction():
                    self._record(backend, f)
        except MigrationError as ex:
            ex.migration = f.id
            raise
        self.out(f"applied   {f.id:<44} {1000 * (time.perf_counter() - started):8.1f} ms")

    def _record(self, backend: _Backend, f: MigrationFile) -> None:
        ref = _Applied(f.id, datetime.now(), None, None)
        backend.mark_one(ref, log=False)
        backend.log_migration(ref, "apply")
        backend.connection.execute(
            sql.SQL(
                "insert into {} (migration_id, checksum, rollback_sql) values (%s, %s, %s)"
                " on conflict (migration_id) do update set checksum = excluded.checksum,"
                " rollback_sql = excluded.rollback_sql, applied_at = now()"
            ).format(_CHECKSUMS),
            (f.id, f.checksum, f.rollback_sql),
        )

    def _rollback(self, backend: _Backend, a: _Applied, undo: str) -> None:
        started = time.perf_counter()
        conn = backend.connection
        where = self.directory / f"{a.id}.rollback.sql"
        try:
            with backend.transaction():
                _set_timeouts(conn, undo, local=True)
                _run(conn, where, undo)
                backend.unmark_one(a, log=False)
                backend.log_migration(a, "rollback")
                conn.execute(
                    sql.SQL("delete from {} where migration_id = %s").format(_CHECKSUMS), [a.id]
                )
        except MigrationError as ex:
            ex.migration = a.id
            raise
        self.out(f"rolled back {a.id:<42} {1000 * (time.perf_counter() - started):8.1f} ms")

    def _refuse_in_production(self, what: str) -> None:
        if self.settings.production:
            raise PersistenceError(
                f"refusing to {what} a production database (PERSISTENCE_ENV=production)"
            )


def _run(
    conn: psycopg.Connection[Any], path: Path, text: str, *, transactional: bool = True
) -> None:
    """Execute the statements of `text` one by one; on failure name the file and line.

    One statement at a time (split by sqlparse, as yoyo does) so that every failure can
    be placed, also those the server reports without a position (a lock timeout).
    """
    for offset, statement in _split(text):
        try:
            # No parameters: psycopg sends the text as is (a literal % is fine).
            conn.execute(statement.encode())
        except psycopg.Error as ex:
            note = (
                ""
                if transactional
                else (
                    "; this migration is not transactional: the statements before this one"
                    " stay applied, so make them idempotent and run migrate again"
                )
            )
            raise MigrationError(_failure(path, text, ex, offset, statement) + note) from ex


def _failure(path: Path, text: str, ex: psycopg.Error, offset: int, statement: str) -> str:
    """`file:line: message`: the error's line if the server gives a position, else the
    line where the failing statement's code starts (after its leading comments)."""
    position = ex.diag.statement_position
    if position:
        at = offset + int(position) - 1
    else:
        code = re.search(r"^(?!\s*--)\s*\S", statement, re.MULTILINE)
        at = offset + (code.end() - 1 if code else 0)
    line = text[:at].count("\n") + 1
    detail = f" ({ex.diag.message_detail})" if ex.diag.message_detail else ""
    primary = ex.diag.message_primary or str(ex)
    return f"{path}:{line}: {primary}{detail}"


def _set_timeouts(conn: psycopg.Connection[Any], text: str, *, local: bool) -> None:
    headers = _directives(text)
    for name, default in DEFAULT_TIMEOUTS.items():
        conn.execute("select set_config(%s, %s, %s)", (name, headers.get(name, default), local))


def _split(text: str) -> Iterator[tuple[int, str]]:
    """The statements of a SQL file with their offsets in it; comment-only ones dropped."""
    cursor = 0
    for statement in sqlparse.split(text):
        if not sqlparse.format(statement, strip_comments=True).strip():
            continue
        offset = text.find(statement, cursor)
        cursor = offset + len(statement)
        yield offset, statement


def _directives(text: str) -> dict[str, str]:
    """`-- key: value` lines of the leading comment block (yoyo's header format)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("--"):
            break
        if m := _DIRECTIVE.match(line):
            key, value = m.groups()
            found[key] = f"{found[key]} {value}" if key in found else value
    return found


def _ancestors(target: str, files: dict[str, MigrationFile]) -> set[str]:
    seen: set[str] = set()
    todo = list(files[target].depends)
    while todo:
        mid = todo.pop()
        if mid not in seen:
            seen.add(mid)
            todo.extend(files[mid].depends)
    return seen


def _checksum(sql: str, rollback: str | None) -> str:
    digest = hashlib.sha256(sql.encode())
    digest.update(b"\0" + (rollback or "").encode())
    return digest.hexdigest()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise MigrationError(f"{path}: cannot read: {ex}") from None
