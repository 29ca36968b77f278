"""A migration's SQL: reading the files, their `-- key: value` headers, splitting and
running the statements one by one with file:line errors, and rendering for psql.

No bookkeeping and no locking here: that is `migrations.py`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlparse
from psycopg import sql

from ._comment import attach
from ._updated_at import migration as updated_at_migration
from ._yoyo import BadMigration, CycleError, read_migrations, topological_sort
from .errors import MigrationError, detail_without_values

__all__ = [
    "DEFAULT_TIMEOUTS",
    "MigrationFile",
    "ancestors",
    "check_name",
    "checksum_of",
    "directives",
    "failure",
    "find_heads",
    "format_duration",
    "has_statement",
    "is_transactional",
    "load_files",
    "new_migration",
    "read_text",
    "render_for_psql",
    "reset_timeouts",
    "rollback_path",
    "run_statements",
    "set_timeouts",
    "split_statements",
]

#: What every migration runs with, unless its headers say otherwise.
DEFAULT_TIMEOUTS = {"lock_timeout": "5s", "statement_timeout": "15min"}
_MIGRATION_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")
_DIRECTIVE = re.compile(r"^\s*--\s*([a-z_]+)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One migration as read from disk: its SQL, rollback SQL and headers."""

    id: str
    path: Path
    sql: str
    rollback_sql: str | None
    depends: tuple[str, ...]
    #: Extensions named by `-- requires:` headers: the server must be able to create them.
    requires: tuple[str, ...] = ()

    @property
    def rollback_path(self) -> Path:
        return rollback_path(self.path.parent, self.id)

    @property
    def checksum(self) -> str:
        return checksum_of(self.sql, self.rollback_sql)

    @property
    def transactional(self) -> bool:
        return is_transactional(self.sql)


def rollback_path(directory: Path, mid: str) -> Path:
    """Where the rollback of migration `mid` in `directory` is: `NNNN_name.rollback.sql`."""
    return directory / f"{mid}.rollback.sql"


def load_files(directory: Path) -> list[MigrationFile]:
    """Every migration in `directory`, in dependency order.

    Raises:
        MigrationError: naming the file of an unknown `-- depends:` name, a cycle, or
            an unreadable file.
    """
    if not directory.is_dir():
        return []
    migrations = read_migrations(str(directory))
    files: dict[str, MigrationFile] = {}
    for m in migrations:
        path = Path(m.path)
        if path.suffix != ".sql":
            raise MigrationError(
                f"{path}: only SQL migrations are supported (NNNN_name.sql with"
                " NNNN_name.rollback.sql)",
                migration=m.id,
            )
        text = read_text(path)
        rollback = rollback_path(path.parent, m.id)
        headers = directives(text)
        depends = tuple(headers.get("depends", "").split())
        requires = tuple(headers.get("requires", "").replace(",", " ").split())
        files[m.id] = MigrationFile(
            m.id, path, text, read_text(rollback) if rollback.exists() else None, depends, requires
        )
    for f in files.values():
        for name in f.depends:
            if name not in files:
                raise MigrationError(
                    f"{f.path}: -- depends: names {name!r}, which is not a migration in"
                    f" {directory}",
                    migration=f.id,
                )
    try:
        ordered = list(topological_sort(migrations))
    except CycleError as ex:
        # yoyo means to wrap this in BadMigration, but its topological_sort returns a
        # lazy generator, so the CycleError escapes its try block (yoyo 9.0.0).
        names = ", ".join(m.id for m in ex.args[1])
        raise MigrationError(
            f"{directory}: circular dependencies among these migrations: {names}"
        ) from None
    except BadMigration as ex:
        raise MigrationError(f"{directory}: {ex.args[0]}") from None
    return [files[m.id] for m in ordered]


def run_statements(
    conn: psycopg.Connection[Any],
    path: Path,
    text: str,
    *,
    transactional: bool = True,
    name: str | None = None,
) -> None:
    """Execute the statements of `text` one by one; on failure name the file and line.

    One statement at a time (split by sqlparse, as yoyo does) so that every failure can
    be placed, also those the server reports without a position (a lock timeout).
    `name`: the comment naming each statement (see _comment), None for none.
    """
    for offset, statement in split_statements(text):
        try:
            # No parameters: psycopg sends the text as is (a literal % is fine).
            conn.execute((attach(statement, name) if name else statement).encode())
        except psycopg.Error as ex:
            note = (
                ""
                if transactional
                else (
                    "; this migration is not transactional: the statements before this one"
                    " stay applied, so make them idempotent and run migrate again"
                )
            )
            raise MigrationError(failure(path, text, ex, offset, statement) + note) from ex


def failure(path: Path, text: str, ex: psycopg.Error, offset: int, statement: str) -> str:
    """`file:line: message`: the error's line if the server gives a position, else the
    line where the failing statement's code starts (after its leading comments)."""
    position = ex.diag.statement_position
    if position:
        at = offset + int(position) - 1
    else:
        code = re.search(r"^(?!\s*--)\s*\S", statement, re.MULTILINE)
        at = offset + (code.end() - 1 if code else 0)
    line = text[:at].count("\n") + 1
    # The detail's row values may be personal data (a data migration's failing row).
    shown = detail_without_values(ex.diag.message_detail)
    detail = f" ({shown})" if shown else ""
    primary = ex.diag.message_primary or str(ex)
    return f"{path}:{line}: {primary}{detail}"


def set_timeouts(conn: psycopg.Connection[Any], text: str, *, local: bool) -> None:
    headers = directives(text)
    for name, default in DEFAULT_TIMEOUTS.items():
        conn.execute("select set_config(%s, %s, %s)", (name, headers.get(name, default), local))


def reset_timeouts(conn: psycopg.Connection[Any]) -> None:
    """Set the timeouts `set_timeouts` sets back to the session's defaults."""
    conn.execute("; ".join(f"reset {name}" for name in DEFAULT_TIMEOUTS))


def new_migration(
    directory: Path, name: str, *, updated_at: Sequence[str] = ()
) -> tuple[Path, Path]:
    """Create `NNNN_name.sql` and its rollback in `directory`, the new file depending
    on the current heads; return both paths. With `updated_at` (table names), the files
    hold the trigger that keeps each table's `updated_at` column current, and its rollback.

    Raises:
        MigrationError: `name` is not lowercase letters, digits and underscores; or, as
            `load_files`, the existing migrations do not load.
    """
    check_name(name)
    files = load_files(directory)
    numbers = [int(m.group()) for f in files if (m := re.match(r"\d+", f.id))]
    mid = f"{max(numbers, default=0) + 1:04d}_{name}"
    heads = find_heads(files)
    directory.mkdir(parents=True, exist_ok=True)
    up = directory / f"{mid}.sql"
    down = rollback_path(directory, mid)
    depends = f"-- depends: {' '.join(heads)}\n" if heads else ""
    forward, backward = updated_at_migration(list(updated_at)) if updated_at else ("", "")
    up.write_text(f"-- {name.replace('_', ' ')}\n{depends}\n{forward}")
    down.write_text(
        f"-- rollback of {mid}: undo everything {up.name} does, in reverse\n\n{backward}"
    )
    return up, down


def check_name(name: str) -> str:
    """`name`, if it can name a migration (`persistence new NAME`); else MigrationError."""
    if not _MIGRATION_NAME.fullmatch(name):
        raise MigrationError(
            f"{name!r} is not a migration name: use lowercase letters, digits and underscores"
            " (add_users)"
        )
    return name


def find_heads(files: Sequence[MigrationFile]) -> list[str]:
    depended = {d for f in files for d in f.depends}
    return [f.id for f in files if f.id not in depended]


def render_for_psql(mid: str, text: str, source: str, after: str, *, rollback: bool = False) -> str:
    """`text` wrapped as `migrate` / `rollback` run it, runnable with `psql -f`."""
    headers = directives(text)
    timeouts = {name: headers.get(name, default) for name, default in DEFAULT_TIMEOUTS.items()}
    lines = [f"-- {source}", after, "\\set ON_ERROR_STOP on"]
    if is_transactional(text):
        lines.append("begin;")
        lines += [f"set local {k} = {sql.Literal(v).as_string()};" for k, v in timeouts.items()]
        lines += [text.strip(), "commit;"]
    else:
        lines.append(
            f"-- {'rollback' if rollback else 'migration'} marked -- transactional:"
            " false: each statement commits on its own"
        )
        lines += [f"set {k} = {sql.Literal(v).as_string()};" for k, v in timeouts.items()]
        lines += [text.strip(), *(f"reset {k};" for k in timeouts)]
    return "\n".join(lines) + "\n"


def is_transactional(text: str) -> bool:
    return directives(text).get("transactional", "true").lower() != "false"


def format_duration(seconds: float) -> str:
    """`12.3 ms`, `4.56 s`, `12 min 05 s`: what an operator reads in a deploy log."""
    if seconds < 1:
        return f"{1000 * seconds:8.1f} ms"
    if seconds < 60:
        return f"{seconds:8.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes:3d} min {rest:02d} s"


def split_statements(text: str) -> Iterator[tuple[int, str]]:
    """The statements of a SQL file with their offsets in it; comment-only ones dropped."""
    cursor = 0
    for statement in sqlparse.split(text):
        if not sqlparse.format(statement, strip_comments=True).strip():
            continue
        offset = text.find(statement, cursor)
        cursor = offset + len(statement)
        yield offset, statement


def has_statement(text: str) -> bool:
    """Whether `text` holds a statement to run: not empty, comments (the headers, what
    `persistence new` writes) or lone semicolons only."""
    return any(
        sqlparse.format(statement, strip_comments=True).strip().strip(";").strip()
        for _, statement in split_statements(text)
    )


def directives(text: str) -> dict[str, str]:
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


def ancestors(target: str, files: dict[str, MigrationFile]) -> set[str]:
    seen: set[str] = set()
    todo = list(files[target].depends)
    while todo:
        mid = todo.pop()
        if mid not in seen:
            seen.add(mid)
            todo.extend(files[mid].depends)
    return seen


def checksum_of(sql: str, rollback: str | None) -> str:
    digest = hashlib.sha256(sql.encode())
    digest.update(b"\0" + (rollback or "").encode())
    return digest.hexdigest()


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise MigrationError(f"{path}: cannot read: {ex}") from None
