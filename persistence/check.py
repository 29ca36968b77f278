"""`persistence check`: everything proven in a scratch database.

`check` creates a scratch database beside the configured one and, in it:

0. lints every migration and rollback with squawk (see lint.py), when it is installed;
1. proves every migration: for each, in dependency order, snapshot the schema, apply,
   roll back, check the schema is back to the snapshot, apply again and check it matches
   the first application (a rollback that forgets an index, a trigger or a default is
   reported with the difference, naming the migration); a migration holding no statement
   (`persistence new`'s file, not filled in) fails, as `migrate` refuses it;
   a migration that `-- requires:` an extension this server lacks (and any migration
   depending on it) is skipped and said, not failed;
2. prepares every named query against the migrated schema: a typo in a column fails with
   the file, the line and the server's message, and the operator must fit the result
   (`$` one column, `!` no RETURNING, ...);
3. regenerates the typed query module and compares it with the checked-in one;
4. reports every table with an `updated_at` column that no trigger keeps current
   (`persistence new NAME --updated-at TABLE` writes the migration that does);
5. with `--compat REF`, prepares the named queries of git revision REF on that schema
   too (see release.py), and with `--plans`, explains every named query on the
   configured database (real data) and reports sequential scans over big tables.

Nothing is changed in the configured database; the scratch database is dropped.
"""

from __future__ import annotations

from typing import Any

import psycopg

from . import release
from ._connect import connect
from ._describe import prepare_error
from ._migration_sql import has_statement
from ._requires import skipped_lines, unavailable_migrations
from ._requires import split as split_by_extension
from ._scratch import scratch_database
from ._updated_at import unmaintained
from .config import Settings
from .errors import MigrationError
from .lint import SquawkMissing, lint_migrations
from .migrations import Migrator, Output
from .queries import Catalog
from .schema import diff, snapshot
from .typegen import compile_problem, typed_source, types_path_problem

__all__ = ["check", "check_migrations", "lint"]


def check(
    settings: Settings,
    out: Output = print,
    *,
    compat: str | None = None,
    plans: int | None = None,
) -> list[str]:
    """Run every check; return the problems found (empty: all passed).

    Args:
        compat: a git revision whose named queries must still prepare on the schema
            after the current migrations (a rolling deploy runs both releases).
        plans: also explain every named query on the configured database (real data)
            and report sequential scans over tables above this many rows.
    """
    queries = settings.queries_folder
    migrations = settings.migrations_folder
    if not queries.is_dir() and not migrations.is_dir():
        # Passing here would prove nothing: most likely the wrong folder.
        return [
            f"nothing to check in {settings.project}: no {migrations.name}/ and no"
            f" {queries.name}/ folder; run it in your project (or pass --project DIR),"
            " or create one with `persistence init`"
        ]
    with scratch_database(settings, "check") as scratch:
        # After the server answered: an unreachable one is the only line printed.
        linted = lint(settings, out) if migrations.is_dir() else []
        problems = []
        if migrations.is_dir():
            problems = check_migrations(settings, out, scratch=scratch)
        else:
            out(f"no migrations folder {migrations}: no migrations to prove")
        if problems:
            return linted + problems  # the queries need the schema the migrations build
        if not queries.is_dir():
            out(f"no queries folder {queries}: no named queries to prepare")
            return linted + _check_updated_at(scratch, out)
        failed = _check_queries(settings, scratch, out)
        if failed and migrations.is_dir():
            failed = _blame(settings, scratch, failed)
        problems = linted + failed
        problems += _check_updated_at(scratch, out)
        if compat is not None:
            problems += release.compat(settings, scratch, compat, out)
    if plans is not None:
        problems += release.plans(settings, out, plans)
    return problems


def lint(settings: Settings, out: Output = print) -> list[str]:
    """squawk's findings on the migrations, as problems; without squawk, a note."""
    try:
        findings = lint_migrations(settings.migrations_folder, settings.project)
    except SquawkMissing as ex:
        out(f"{'skipped':<8}{ex}")
        return []
    out(f"{'FAILED' if findings else 'ok':<8}migrations pass squawk's lint")
    return [f"{f} (if deliberate, say why above it: -- squawk-ignore {f.rule})" for f in findings]


def check_migrations(
    settings: Settings, out: Output = print, *, scratch: Settings | None = None
) -> list[str]:
    """Prove every migration's rollback; return the problems (empty: all proven)."""
    migrator = Migrator(settings, out=lambda _: None)
    files = migrator.load()
    problems = [
        f"{f.id}: {f.path} holds no SQL statement: write its SQL (and its rollback's),"
        " or delete the file and its rollback"
        for f in files
        if not has_statement(f.sql)
    ]
    problems += [
        f"{f.id}: {f.rollback_path} is missing; every migration needs a rollback"
        for f in files
        if f.rollback_sql is None
    ]
    if problems or not files:
        if not files:
            out(f"no migrations in {migrator.directory}")
        return problems
    if scratch is None:
        with scratch_database(settings, "check") as own:
            return check_migrations(settings, out, scratch=own)
    proof = Migrator(scratch, out=lambda _: None)
    with connect(scratch) as conn:
        # A migration that `-- requires:` an extension this server lacks cannot be
        # proven here: said and counted (the CLI's summary), not failed.
        unavailable = unavailable_migrations(conn, files)
        for f in files:
            if f.id in unavailable:
                out(f"skipped migration {f.id}: {unavailable[f.id]}")
                continue
            problem = _prove(proof, conn, f.id, str(f.rollback_path))
            out(f"{'FAILED' if problem else 'ok':<8}migration {f.id}")
            if problem:
                return [problem]  # later migrations build on a schema we know is wrong
    return []


def _check_queries(settings: Settings, scratch: Settings, out: Output) -> list[str]:
    source, problems, count, skipped = typed_source(settings, scratch)
    out(f"{'FAILED' if problems else 'ok':<8}{count} named queries prepare and fit")
    for line in skipped_lines(skipped):
        out(line)
    path = settings.types_path
    if path is not None and skipped:
        out(f"skipped {path.name} not compared: it types the skipped queries too")
    elif path is not None and _skipped_migrations(scratch):
        out(f"skipped {path.name} not compared: migrations were skipped, so the schema is partial")
    elif path is not None and (problem := types_path_problem(path)):
        out(f"{'FAILED':<8}{path.name} is up to date")
        problems.append(problem)  # a folder, or a file `types` would not overwrite
    elif path is not None and not problems:
        current = path.read_text() if path.exists() else ""
        fresh = current == source
        out(f"{'ok' if fresh else 'FAILED':<8}{path.name} is up to date")
        if not fresh:
            problems.append(
                f"{path} is stale: the queries or the schema changed; run `persistence types`"
            )
        elif problem := compile_problem(current, path):
            out(f"{'FAILED':<8}{path.name} compiles")
            problems.append(problem)
    return problems


def _blame(settings: Settings, scratch: Settings, problems: list[str]) -> list[str]:
    """Name the migration that broke each query which no longer prepares.

    Rolls the scratch database back one migration at a time (every rollback is proven
    by then) until each failing query prepares again: the migration just undone dropped
    or renamed what it uses. A query that prepares on no schema keeps its own message.
    The migrations are applied again at the end, for the checks that follow.
    """
    migrator = Migrator(scratch, out=lambda _: None)
    with connect(scratch) as conn:
        runnable, _ = split_by_extension(conn, Catalog(settings.queries_folder))
        queries = [q for q in runnable if q.operation != "script"]
        failing = {q.name: q for q in queries if prepare_error(conn, q)}
        culprits: dict[str, str] = {}
        while failing and (undone := migrator.rollback(1)):
            for name, query in list(failing.items()):
                if prepare_error(conn, query) is None:
                    culprits[name] = undone[0]
                    del failing[name]
    migrator.migrate(skip_unavailable=True)  # as check_migrations left it
    blamed = []
    for problem in problems:
        culprit = next((m for n, m in culprits.items() if f": query {n!r}: " in problem), None)
        if culprit is not None:
            problem += (
                f"\n  broken by migration {culprit}: the query prepares before it and not"
                " after; change the query in the same release, or drop the old name in a"
                " later one (expand, then contract)"
            )
        blamed.append(problem)
    return blamed


def _skipped_migrations(scratch: Settings) -> bool:
    migrator = Migrator(scratch, out=lambda _: None)
    return migrator.directory.is_dir() and any(s.state == "pending" for s in migrator.status())


def _check_updated_at(scratch: Settings, out: Output) -> list[str]:
    with connect(scratch) as conn:
        tables = unmaintained(conn)
    out(f"{'FAILED' if tables else 'ok':<8}every updated_at column has a trigger")
    return [
        f"{table}.updated_at: no trigger keeps it current;"
        f" run `persistence new {table.rpartition('.')[2]}_updated_at --updated-at {table}`"
        for table in tables
    ]


def _prove(migrator: Migrator, conn: psycopg.Connection[Any], mid: str, where: str) -> str | None:
    before = snapshot(conn)
    try:
        migrator.migrate(target=mid)
    except MigrationError as ex:
        return f"{mid}: does not apply: {ex}"
    applied = snapshot(conn)
    try:
        migrator.rollback(1)
    except MigrationError as ex:
        return f"{mid}: rollback fails: {ex}"
    restored = snapshot(conn)
    if restored != before:
        lines = "\n".join(diff(before, restored))
        return f"{mid}: rollback does not restore the schema ({where}):\n{lines}"
    try:
        migrator.migrate(target=mid)
    except MigrationError as ex:
        return f"{mid}: does not apply again after its rollback: {ex}"
    again = snapshot(conn)
    if again != applied:
        lines = "\n".join(diff(applied, again))
        return f"{mid}: applying again after the rollback gives another schema:\n{lines}"
    return None
