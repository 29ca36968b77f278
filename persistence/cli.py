"""The `persistence` command: the operator's interface, wrapped by the Makefile.

    persistence [--project DIR] db start|stop|status|url | db drop [DIR...] [--gone]
    persistence [--project DIR] health [--json]
    persistence [--project DIR] migrate [--target ID] [--dry-run | --check] [--lock-timeout S]
    persistence [--project DIR] rollback [--steps N | --target ID] [--dry-run] [--yes]
    persistence [--project DIR] status [--check] [--json]
    persistence [--project DIR] history [--json] | heads [--json] | show ID [--rollback]
    persistence [--project DIR] baseline [--target ID] | accept ID...
    persistence [--project DIR] new NAME | seed | reset [--yes]
    persistence [--project DIR] types | check
    persistence init [DIR] [--package NAME]

Every command reads the same settings as the library (see README, Configuration);
`--url URL` on a command that uses a database replaces DATABASE_URL. With neither,
commands that need a database start the embedded server.
Exit codes: 0 ok, 1 the operation failed (one line on stderr), 2 usage error."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .config import Settings
    from .migrations import MigrationState, Migrator
    from .queries import Catalog

# The commands import what they use when they run, so that `persistence --help` and
# `persistence db url` start without loading the pool, yoyo, pglast or the type generator.

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as ex:  # --help, --version (0) or a usage error (2), already printed
        return ex.code if isinstance(ex.code, int) else 2
    if not hasattr(args, "func"):
        parser.print_usage(sys.stderr)
        print("persistence: error: name a command (persistence --help lists them)", file=sys.stderr)
        return 2
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a reader gone (`| head -1`) shows here, not at exit
    except BrokenPipeError:
        return _stdout_gone()
    except _UsageError as ex:
        print(f"persistence: error: {ex}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as ex:
        from .errors import PersistenceError  # loaded by any command that raises one

        message = _one_line(str(ex), getattr(args, "url", None))
        if isinstance(ex, PersistenceError):
            # One boundary for expected failures: one line, no traceback, no password.
            print(f"error: {message}", file=sys.stderr)
            return 1
        # A bug, or a failure nobody translated: still one line, because a traceback
        # quotes values (hosts, database names) that a mistyped URL fills with pieces
        # of the password.
        print(f"error: unexpected {type(ex).__name__}: {message}", file=sys.stderr)
        return 1
    return code


def _stdout_gone() -> int:
    """The reader of stdout left (`persistence status | head -1`): end as a command
    killed by SIGPIPE would, without a message, and keep Python's exit flush from
    printing one."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141  # 128 + SIGPIPE, as the shell reports a command killed by it


def _one_line(message: str, url: str | None = None) -> str:
    """`message` on one line, with anything that may be the password scrubbed, again:
    the settings may not have been built, and this is the last stop before a log."""
    from .config import secrets_of, split_urls
    from .errors import scrub

    replicas = split_urls(os.environ.get("DATABASE_REPLICA_URLS", ""))
    secrets = (
        *secrets_of(os.environ.get("DATABASE_URL")),
        *(secret for replica in replicas for secret in secrets_of(replica)),
        *secrets_of(url),
        os.environ.get("DB_PASSWORD", ""),
    )
    return scrub(" ".join(message.split()), secrets)


class _UsageError(Exception):
    """Arguments that parse but do not fit together: exit 2, like argparse's own."""


def _settings(args: argparse.Namespace) -> Settings:
    from .config import Settings, find_project

    environ = dict(os.environ)
    if getattr(args, "url", None):
        environ["DATABASE_URL"] = args.url  # --url wins over the environment
    project = args.project
    if project is None and not environ.get("PERSISTENCE_PROJECT"):
        # Up from the current directory only, as ruff and pytest look: not from where
        # the `persistence` script happens to be installed.
        project = find_project(Path.cwd())
    return Settings.from_env(environ, project=project)


def cmd_db_start(args: argparse.Namespace) -> int:
    import dataclasses

    from .config import mask_url
    from .embedded import EmbeddedServer, resolve

    # The embedded server, also when DATABASE_URL names another.
    settings = dataclasses.replace(_settings(args), database_url=None)
    if not _is_project(settings):  # start the server, but make no database for a stray folder
        info = EmbeddedServer.shared(settings).start()
        print(f"embedded server running (pid {info.pid}), data in {info.pgdata.parent}")
        print(f"no database made: {_NO_PROJECT.format(settings.project)}")
        return 0
    url = resolve(settings).database_url or ""
    info = EmbeddedServer.shared(settings).start()  # running: found, not started again
    print(f"embedded server running (pid {info.pid}), data in {info.pgdata.parent}")
    print(f"database for {settings.project}: {mask_url(url)}")
    return 0


_NO_PROJECT = (
    "{} is not a project (no [tool.persistence] in a pyproject.toml, no migrations/ or"
    " queries/): run it in your project, pass --project DIR, or `persistence init`"
)


def _is_project(settings: Settings) -> bool:
    """Whether the settings' folder is a project of the toolkit: a database is made for
    one, never for whatever folder a command happened to run in."""
    from .config import has_persistence_table

    return (
        settings.migrations_folder.is_dir()
        or settings.queries_folder.is_dir()
        or has_persistence_table(settings.project / "pyproject.toml")
    )


def cmd_db_stop(args: argparse.Namespace) -> int:
    from .embedded import EmbeddedServer

    settings = _settings(args)
    stopped = EmbeddedServer.shared(settings).stop()
    print("embedded server stopped" if stopped else "embedded server was not running")
    _stop_legacy(settings.project)
    return 0


def _stop_legacy(project: Path) -> None:
    from .embedded import EmbeddedServer

    legacy = EmbeddedServer.legacy(project)
    if legacy is not None and legacy.stop():
        print(f"stopped the project's own server of the older layout in {legacy.root}")


def cmd_db_status(args: argparse.Namespace) -> int:
    from .config import mask_url
    from .embedded import EmbeddedServer, project_database, project_databases

    settings = _settings(args)
    server = EmbeddedServer.shared(settings)
    legacy = EmbeddedServer.legacy(settings.project)
    if legacy is not None and legacy.status() is not None:
        print(f"note: a server of the older layout runs in {legacy.root} (db stop stops it)")
    info = server.status()
    if info is None:
        print(f"embedded server not running (data in {server.root})")
        return 1
    print(f"embedded server running (pid {info.pid}) at {mask_url(info.url())}")
    print(f"data in {server.root}")
    databases = project_databases(info)
    mine = project_database(settings.project)
    projects = [d for d in databases if d.project is not None]
    others = [d for d in databases if d.project is None]
    if projects:
        width = max(len(d.name) for d in projects)
        print(f"\n  {'database':<{width}}  {'size':>8}  project")
        for d in projects:
            where = str(d.project) + ("" if d.project and d.project.is_dir() else " (gone)")
            marker = "*" if d.name == mine else " "
            print(f"{marker} {d.name:<{width}}  {_size(d.size):>8}  {where}")
    if others:
        total = _size(sum(d.size for d in others))
        print(f"\n  and {len(others)} other databases ({total}): test sessions, kept templates")
    return 0


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("kB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def cmd_db_url(args: argparse.Namespace) -> int:
    from .config import mask_url
    from .embedded import resolve
    from .errors import ConfigurationError

    settings = _settings(args)
    if settings.database_url is None and not _is_project(settings):
        raise ConfigurationError(_NO_PROJECT.format(settings.project))
    # Never print a password, even on request: this output ends up in logs.
    print(mask_url(resolve(settings).database_url or ""))
    return 0


def cmd_db_drop(args: argparse.Namespace) -> int:
    from .embedded import drop_project_databases

    settings = _settings(args)
    projects = [Path(p).resolve() for p in args.projects]
    if not projects and not args.gone:
        projects = [settings.project]
    dropped = drop_project_databases(settings, projects, gone=args.gone)
    print(f"dropped {', '.join(dropped)}" if dropped else "no project database to drop")
    for project in projects:
        _stop_legacy(project)
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from .database import Database
    from .embedded import resolve

    with Database(resolve(_settings(args))) as db:
        report = db.health()
    print(json.dumps(report.as_dict(), indent=2) if args.json else report)
    return 0 if report.ok else 1


def cmd_grant(args: argparse.Namespace) -> int:
    from psycopg.conninfo import conninfo_to_dict

    from .database import Database
    from .embedded import resolve
    from .security import grant_sql

    settings = resolve(_settings(args)).for_migrations()
    params = conninfo_to_dict(settings.conninfo())
    statements = grant_sql(args.role, str(params.get("dbname") or "postgres"), args.schema)
    if args.print:
        print(statements.as_string(None))
        return 0
    with Database(settings) as db:
        db.execute(statements)
    print(
        f"granted {args.role!r} read and write on schema {args.schema!r}, now and for later tables"
    )
    return 0


def _progress(line: str) -> None:
    # Flushed line by line: a deploy log shows which migration runs while it runs.
    print(line, flush=True)


def _migrator(args: argparse.Namespace) -> Migrator:
    from .embedded import resolve
    from .migrations import Migrator

    return Migrator(
        resolve(_settings(args)), out=_progress, lock_wait=getattr(args, "lock_timeout", None)
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    if args.check:
        if args.target:
            raise _UsageError("migrate --check looks at every migration; it takes no --target")
        migrator = _migrator(args)
        states = migrator.status()
        print(f"database  {migrator.settings.masked_url} (check: nothing is changed)")
        for st in states:
            if st.state in _FAILING:
                print(f"{st.state:<12} {st.id}")
        problem = _gate(states, pending=True)
        if problem is None:
            applied = sum(st.applied for st in states)
            print(f"up to date: {applied} migration{'' if applied == 1 else 's'} applied")
        return _fail(problem)
    _migrator(args).migrate(target=args.target, dry_run=args.dry_run)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    settings = migrator.settings
    confirm = None
    if settings.production:

        def confirm(ids: Sequence[str]) -> None:
            _confirm(
                f"roll back {len(ids)} migration{'' if len(ids) == 1 else 's'}"
                f" ({', '.join(ids)}) on the production database {settings.masked_url}?",
                yes=args.yes,
                action="roll back the production database",
            )

    migrator.rollback(args.steps, target=args.target, dry_run=args.dry_run, confirm=confirm)
    return 0


def _confirm(question: str, *, yes: bool, action: str) -> None:
    """Ask on the terminal before `action`; raise unless the operator answers yes.

    One question for every destructive command (reset; rollback in production). Without
    a terminal (CI, cron, a pipe) nobody can answer: refused unless --yes.
    """
    from .errors import PersistenceError

    if yes:
        return
    if not sys.stdin.isatty():
        raise PersistenceError(
            f"refusing to {action} without confirmation: there is no terminal to ask on;"
            " pass --yes to confirm"
        )
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise PersistenceError("not confirmed: nothing was changed (--yes skips the question)")


#: What a CI gate fails on: something to apply, or an applied file that is not what ran.
_FAILING = ("pending", "changed", "file missing")


def _gate(states: Sequence[MigrationState], *, pending: bool) -> str | None:
    """One line saying what is wrong and what to do; None when nothing is."""
    parts = []
    waiting = [st.id for st in states if st.state == "pending"]
    if pending and waiting:
        parts.append(f"{len(waiting)} pending ({', '.join(waiting)}): run `persistence migrate`")
    edited = [st.id for st in states if st.state in ("changed", "file missing")]
    if edited:
        parts.append(
            f"{len(edited)} applied changed or missing ({', '.join(edited)}): put the file"
            " back, or run `persistence accept ID` if the edit is deliberate"
        )
    return "; ".join(parts) or None


def _fail(problem: str | None) -> int:
    if problem is None:
        return 0
    print(f"error: {problem}", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    states = migrator.status()
    if args.json:
        report = {
            "database": migrator.settings.masked_url,
            "migrations": [
                {"id": st.id, "state": st.state, "applied_at": _iso(st.applied_at)} for st in states
            ],
            "pending": sum(st.state == "pending" for st in states),
            "changed": sum(st.state in ("changed", "file missing") for st in states),
        }
        print(json.dumps(report, indent=2))
    else:
        if not states:
            print("no migrations")
        for st in states:
            when = st.applied_at.strftime("%Y-%m-%d %H:%M:%S") if st.applied_at else "-"
            applied = "applied" if st.applied else "pending"
            print(f"{applied:<8} {when:<19}  {st.state:<12} {st.id}")
    # An applied file that changed or went missing always fails; pending migrations
    # only with --check, the CI gate: a plain `status` is a report.
    return _fail(_gate(states, pending=args.check))


def _iso(when: datetime | None) -> str | None:
    # yoyo stores applied_at_utc without a time zone; it is UTC.
    return when.replace(tzinfo=UTC).isoformat() if when else None


def cmd_history(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    entries = migrator.history()
    if args.json:
        report = {
            "database": migrator.settings.masked_url,
            "history": [
                {
                    "id": e.id,
                    "applied_at": _iso(e.applied_at),
                    "operation": e.operation,
                    "by": e.by,
                }
                for e in entries
            ],
        }
        print(json.dumps(report, indent=2))
        return 0
    if not entries:
        print("no migration applied")
    how = {"apply": "applied", "mark": "marked", None: "-"}
    for e in entries:
        when = e.applied_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {how.get(e.operation, e.operation):<8} {e.id}  {e.by or '-'}".rstrip())
    return 0


def cmd_heads(args: argparse.Namespace) -> int:
    from .migrations import Migrator

    heads = Migrator(_settings(args), out=_progress).heads()
    if args.json:
        print(json.dumps({"heads": heads}))
    else:
        print("\n".join(heads) if heads else "no migrations")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .embedded import resolve
    from .migrations import Migrator

    settings = _settings(args)
    # Only the rollback reads the database (the SQL stored at apply time).
    migrator = Migrator(resolve(settings) if args.rollback else settings, out=_progress)
    print(migrator.show(args.id, rollback=args.rollback), end="")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from ._migration_sql import new_migration

    folder = _settings(args).migrations_folder
    for path in new_migration(folder, args.name, updated_at=args.updated_at):
        _progress(f"created   {path}")
    return 0


def cmd_accept(args: argparse.Namespace) -> int:
    _migrator(args).accept(args.ids)
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    _migrator(args).baseline(args.target)
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from .embedded import resolve
    from .seeds import seed

    seed(resolve(_settings(args)), out=_progress)
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    url = migrator.settings.masked_url
    migrator.reset(
        confirm=lambda ids: _confirm(
            f"roll back every migration ({len(ids)}) on {url} and apply them again?",
            yes=args.yes,
            action="reset the database",
        )
    )
    return 0


def cmd_types(args: argparse.Namespace) -> int:
    from .embedded import resolve
    from .typegen import generate_types

    settings = _settings(args)
    if settings.types_path is None:
        print(f"no typed module configured for {settings.project} ([tool.persistence] types)")
        return 0
    generate_types(resolve(settings).for_migrations())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check
    from .embedded import resolve
    from .security import service_role_warnings

    skipped: list[str] = []

    def out(line: str) -> None:
        print(line)
        if line.startswith("skipped migration ") or (
            line.startswith("skipped") and ": needs the extension" in line
        ):
            skipped.append(line)

    settings = resolve(_settings(args))
    problems = check(settings.for_migrations(), out=out, compat=args.compat, plans=args.plans)
    if settings.migration_url is not None or settings.production:
        # The service should not be able to change what migrations own.
        for warning in service_role_warnings(settings):
            print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    migrations = sum(line.startswith("skipped migration ") for line in skipped)
    queries = len(skipped) - migrations
    counts = [
        f"{n} {word if n == 1 else plural}"
        for n, word, plural in (
            (migrations, "migration", "migrations"),
            (queries, "query", "queries"),
        )
        if n
    ]
    note = f" ({' and '.join(counts)} skipped: an extension is missing)"
    print(("check failed" if problems else "check passed") + (note if skipped else ""))
    return 1 if problems else 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .embedded import resolve
    from .stats import collect
    from .stats import render as render_stats

    settings = resolve(_settings(args))
    found = collect(settings, _catalog(settings), threshold=args.threshold, tables=args.tables)
    print(json.dumps(found.as_json(), indent=2) if args.json else render_stats(found))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .embedded import resolve
    from .explain import explain

    settings = resolve(_settings(args))
    params: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"persistence: error: -p takes name=value, not {key!r}", file=sys.stderr)
            return 2
        params[key] = value
    plan = explain(settings, _catalog(settings), args.name, params, analyze=args.analyze)
    print("\n".join(plan))
    return 0


def _catalog(settings: Settings) -> Catalog:
    from .queries import Catalog

    return Catalog(settings.queries_folder)


def cmd_lint_migrations(args: argparse.Namespace) -> int:
    from .check import lint
    from .lint import squawk_path

    # Linting is this command's whole job: without squawk it fails, saying how to
    # install it, rather than print "ok" over migrations nobody read (`check` notes
    # the skip and goes on).
    squawk_path()
    problems = lint(_settings(args), out=lambda _: None)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} finding{'' if len(problems) == 1 else 's'}" if problems else "ok")
    return 1 if problems else 0


def cmd_init(args: argparse.Namespace) -> int:
    from ._scaffold import init_project, package_name

    root = (args.dir or args.project or Path.cwd()).resolve()
    package = args.package or package_name(root)
    if not init_project(root, package, out=print):
        print(
            f"error: nothing to do in {root}: everything `init` writes exists (skipped above)",
            file=sys.stderr,
        )
        return 1
    print(
        f"next: `persistence migrate`, then `persistence types` (writes {package}/queries.py),"
        " then `persistence check` and `pytest`"
    )
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < math.inf:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text!r}")
    return value


def _name(text: str) -> str:
    from ._migration_sql import MIGRATION_NAME

    if not MIGRATION_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a migration name: use lowercase letters, digits and underscores"
            " (add_users)"
        )
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="persistence", description="Typed PostgreSQL toolkit: server, migrations, checks."
    )
    parser.add_argument("--version", action="version", version=f"persistence {__version__}")
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help="project folder holding queries/, migrations/, seeds/ (default: the nearest"
        " folder up from here whose pyproject.toml has [tool.persistence])",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    db = commands.add_parser("db", help="manage the embedded development server")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    for name, func, text in [
        ("start", cmd_db_start, "start the embedded server and make the project's database"),
        ("stop", cmd_db_stop, "stop the embedded server (all projects'), also a killed one's"),
        ("status", cmd_db_status, "the server and each project's database (exit 1: not running)"),
        ("url", cmd_db_url, "print the database URL in use (password masked)"),
    ]:
        db_commands.add_parser(name, help=text, description=text).set_defaults(func=func)
    text = "drop the project's database on the embedded server (the server keeps running)"
    drop = db_commands.add_parser("drop", help=text, description=text)
    drop.add_argument("projects", nargs="*", metavar="DIR", help="the projects (default: this one)")
    drop.add_argument(
        "--gone", action="store_true", help="also those of projects whose folder is gone"
    )
    drop.set_defaults(func=cmd_db_drop)

    # Shared options. Every command that uses a database takes --url.
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--url", metavar="URL", help="the database (default: DATABASE_URL, else embedded)"
    )
    locking = argparse.ArgumentParser(add_help=False)
    locking.add_argument(
        "--lock-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="how long to wait for another run's migration lock"
        " (default: DB_MIGRATION_LOCK_TIMEOUT, else 600; 0: do not wait)",
    )
    dry_run = argparse.ArgumentParser(add_help=False)
    dry_run.add_argument(
        "--dry-run", action="store_true", help="print the SQL that would run; change nothing"
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON, for machines")

    health = commands.add_parser(
        "health",
        parents=[database, as_json],
        help="check the database and print a health report (exit 1 if failing)",
    )
    health.set_defaults(func=cmd_health)

    grant = commands.add_parser(
        "grant",
        parents=[database],
        help="give a service role read/write on the tables, and no DDL (as the migration role)",
    )
    grant.add_argument("role", help="the role the service connects as (it must exist)")
    grant.add_argument("--schema", default="public", help="the schema (default: public)")
    grant.add_argument(
        "--print", action="store_true", help="print the SQL (for a migration) instead of running it"
    )
    grant.set_defaults(func=cmd_grant)

    migrate = commands.add_parser(
        "migrate",
        parents=[database, locking],
        help="apply pending migrations (all, or up to --target), printing each one's time",
    )
    migrate.add_argument("--target", metavar="ID", help="apply only ID and what it depends on")
    mode = migrate.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="print the SQL that would run; change nothing"
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="apply nothing; exit 1 if a migration is pending or an applied one changed (CI)",
    )
    migrate.set_defaults(func=cmd_migrate)

    rollback = commands.add_parser(
        "rollback",
        parents=[database, locking, dry_run],
        help="roll back the last migration (or --steps/--target)",
    )
    rollback.add_argument(
        "--yes", action="store_true", help="in production, do not ask for confirmation"
    )
    how_far = rollback.add_mutually_exclusive_group()
    how_far.add_argument("--steps", type=int, default=1, metavar="N", help="how many (default 1)")
    how_far.add_argument("--target", metavar="ID", help="roll back everything applied after ID")
    rollback.set_defaults(func=cmd_rollback)

    status = commands.add_parser(
        "status",
        parents=[database, as_json],
        help="list migrations: applied or pending, when, checksum ok or changed",
    )
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 1 also when a migration is pending (CI gate); a changed one always does",
    )
    status.set_defaults(func=cmd_status)

    history = commands.add_parser(
        "history",
        parents=[database, as_json],
        help="the applied migrations in the order applied: when, applied or marked, by whom",
    )
    history.set_defaults(func=cmd_history)

    commands.add_parser(
        "heads",
        parents=[as_json],
        help="the migrations nothing depends on (what `new` makes the next one depend on)",
    ).set_defaults(func=cmd_heads)

    show = commands.add_parser(
        "show",
        parents=[database],
        help="print one migration's SQL as it runs (transaction, timeouts), for psql -f",
    )
    show.add_argument("id", metavar="ID", help="the migration id, e.g. 0002_users")
    show.add_argument(
        "--rollback",
        action="store_true",
        help="its rollback instead: the SQL stored when it was applied, else the file",
    )
    show.set_defaults(func=cmd_show)

    new = commands.add_parser("new", help="create NNNN_NAME.sql and its rollback file")
    new.add_argument(
        "name", type=_name, help="lowercase words joined by underscores, e.g. add_users"
    )
    new.add_argument(
        "--updated-at",
        action="append",
        default=[],
        metavar="TABLE",
        help="write the trigger that keeps TABLE.updated_at current (repeatable)",
    )
    new.set_defaults(func=cmd_new)

    accept = commands.add_parser(
        "accept",
        parents=[database, locking],
        help="accept the edited content of applied migrations as applied",
    )
    accept.add_argument("ids", nargs="+", metavar="ID", help="migration ids")
    accept.set_defaults(func=cmd_accept)

    baseline = commands.add_parser(
        "baseline",
        parents=[database, locking],
        help="record migrations as applied without running them (adopt an existing database)",
    )
    baseline.add_argument("--target", metavar="ID", help="only ID and what it depends on")
    baseline.set_defaults(func=cmd_baseline)

    commands.add_parser(
        "seed",
        parents=[database],
        help="load development data from seeds/ (refused in production)",
    ).set_defaults(func=cmd_seed)

    reset = commands.add_parser(
        "reset",
        parents=[database, locking],
        help="roll back every migration and apply again (refused in production)",
    )
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(func=cmd_reset)

    commands.add_parser(
        "types",
        parents=[database],
        help="write the typed query module from the live schema (scratch database)",
    ).set_defaults(func=cmd_types)

    init = commands.add_parser(
        "init",
        help="start a project: [tool.persistence], migrations/, queries/, tests, Makefile;"
        " never overwrites",
    )
    init.add_argument(
        "dir", nargs="?", type=Path, metavar="DIR", help="the project folder (default: here)"
    )
    init.add_argument(
        "--package",
        metavar="NAME",
        help="the package that holds the typed module (default: from the folder's name)",
    )
    init.set_defaults(func=cmd_init)

    check_parser = commands.add_parser(
        "check",
        parents=[database],
        help="lint migrations, prove rollbacks, prepare every query, typed module fresh",
    )
    check_parser.add_argument(
        "--compat",
        metavar="REF",
        help="also prepare the named queries of git revision REF (the release still running)",
    )
    check_parser.add_argument(
        "--plans",
        nargs="?",
        const=10_000,
        type=int,
        metavar="ROWS",
        help="also explain every query on the database: flag sequential scans over tables"
        " above ROWS rows (default 10000)",
    )
    check_parser.set_defaults(func=cmd_check)

    stats = commands.add_parser(
        "stats",
        parents=[database],
        help="per named query (pg_stat_statements), tables, unused indexes, connections, locks",
    )
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.add_argument(
        "--threshold",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="list transactions open longer than S seconds (default 60)",
    )
    stats.add_argument(
        "--tables", type=int, default=20, metavar="N", help="the N largest tables (default 20)"
    )
    stats.set_defaults(func=cmd_stats)

    explain_cmd = commands.add_parser(
        "explain",
        parents=[database],
        help="the plan of a named query (generic plan, or --analyze in a rolled-back transaction)",
    )
    explain_cmd.add_argument("name", help="the query's name: users.get_user_by_email")
    explain_cmd.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter's value, as text (repeat for each)",
    )
    explain_cmd.add_argument(
        "--analyze", action="store_true", help="run it for real times (rolled back after)"
    )
    explain_cmd.set_defaults(func=cmd_explain)

    commands.add_parser(
        "lint-migrations",
        help="lint the migrations with squawk (file:line and rule); no database needed",
    ).set_defaults(func=cmd_lint_migrations)
    return parser
