"""The `persistence` command: the operator's interface, wrapped by the Makefile.

`persistence --help` lists the commands, README "The command line" shows each. They are
declared beside their functions, here and in `_cli_migrations` (the migration commands).
Every command reads the same settings as the library (see README, Configuration);
`--url URL` on a command that uses a database replaces DATABASE_URL. With neither,
commands that need a database start the embedded server.
Exit codes: 0 ok, 1 the operation failed (one line on stderr), 2 usage error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, _cli_migrations
from ._cli_args import (
    JSON,
    URL,
    Commands,
    UsageError,
    count,
    flag,
    no_project,
    opt,
    progress,
    project_settings,
    resolved,
    seconds,
    settings_of,
)

if TYPE_CHECKING:
    from .config import Settings
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
    except UsageError as ex:
        print(f"persistence: error: {ex}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as ex:
        from .errors import PersistenceError  # loaded by any command that raises one

        message = _one_line(str(ex), getattr(args, "url", None))
        # One boundary for expected failures: one line, no traceback, no password. A bug,
        # or a failure nobody translated, is said so, still on one line: a traceback
        # quotes values (hosts, database names) that a mistyped URL fills with pieces
        # of the password.
        bug = "" if isinstance(ex, PersistenceError) else f"unexpected {type(ex).__name__}: "
        print(f"error: {bug}{message}", file=sys.stderr)
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
    from ._urls import secrets_of, split_urls
    from .errors import scrub

    replicas = split_urls(os.environ.get("DATABASE_REPLICA_URLS", ""))
    secrets = (
        *secrets_of(os.environ.get("DATABASE_URL")),
        *(secret for replica in replicas for secret in secrets_of(replica)),
        *secrets_of(url),
        os.environ.get("DB_PASSWORD", ""),
    )
    return scrub(" ".join(message.split()), secrets)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="persistence", description="Typed PostgreSQL toolkit: server, migrations, checks."
    )
    parser.add_argument("--version", action="version", version=f"persistence {__version__}")
    parser.add_argument(
        "--project",
        type=Path,
        metavar="DIR",
        help="project folder holding queries/, migrations/, seeds/ (default: the nearest"
        " folder up from here whose pyproject.toml has [tool.persistence])",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    db = subparsers.add_parser("db", help="manage the embedded development server")
    db_actions = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    for name, text, options, func in sorted(
        [*commands, *_cli_migrations.commands], key=lambda c: _ORDER.index(c[0].split()[0])
    ):
        parent, _, action = name.rpartition(" ")  # "db start": action start of db
        sub = (db_actions if parent else subparsers).add_parser(
            action, help=text, description=text if parent else None
        )
        for option in options:
            into = sub.add_mutually_exclusive_group() if isinstance(option, list) else sub
            for flags, kwargs in option if isinstance(option, list) else [option]:
                into.add_argument(*flags, **kwargs)
        sub.set_defaults(func=func)
    return parser


commands = Commands()
#: The order in which `persistence --help` lists the commands.
_ORDER = """db health grant migrate rollback status history heads show new accept baseline seed
    reset types init check stats explain lint-migrations""".split()  # noqa: SIM905 (a word list)


@commands.add("db start", "start the embedded server and make the project's database")
def cmd_db_start(args: argparse.Namespace) -> int:
    import dataclasses

    from ._urls import mask_url
    from .embedded import development_server, resolve

    # The embedded server, also when DATABASE_URL names another (never in production).
    given = settings_of(args)
    server = development_server(given)
    settings = dataclasses.replace(given, database_url=None)
    # The server starts either way, but no database is made for a stray folder.
    project = settings.in_project
    url = (resolve(settings).database_url or "") if project else ""
    info = server.start()  # running: found, not started again
    print(f"embedded server running (pid {info.pid}), data in {info.pgdata.parent}")
    if project:
        print(f"database for {settings.project}: {mask_url(url)}")
    else:
        print(f"no database made: {no_project(settings)}")
    return 0


@commands.add("db stop", "stop the embedded server (all projects'), also a killed one's")
def cmd_db_stop(args: argparse.Namespace) -> int:
    from .embedded import EmbeddedServer

    settings = settings_of(args)
    stopped = EmbeddedServer.shared(settings).stop()
    print("embedded server stopped" if stopped else "embedded server was not running")
    _stop_legacy(settings.project)
    return 0


def _stop_legacy(project: Path) -> None:
    from .embedded import EmbeddedServer

    legacy = EmbeddedServer.legacy(project)
    if legacy is not None and legacy.stop():
        print(f"stopped the project's own server of the older layout in {legacy.root}")


@commands.add("db status", "the server and each project's database (exit 1: not running)")
def cmd_db_status(args: argparse.Namespace) -> int:
    from ._urls import mask_url
    from .embedded import EmbeddedServer, project_database, project_databases
    from .stats import byte_size

    settings = settings_of(args)
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
            print(f"{marker} {d.name:<{width}}  {byte_size(d.size):>8}  {where}")
    if others:
        total = byte_size(sum(d.size for d in others))
        print(f"\n  and {len(others)} other databases ({total}): test sessions, kept templates")
    return 0


@commands.add("db url", "print the database URL in use (password masked)")
def cmd_db_url(args: argparse.Namespace) -> int:
    from ._urls import mask_url
    from .embedded import resolve

    settings = project_settings(args)
    # Never print a password, even on request: this output ends up in logs.
    print(mask_url(resolve(settings).database_url or ""))
    return 0


@commands.add(
    "db drop",
    "drop the project's database on the embedded server (the server keeps running)",
    opt("projects", "the projects (default: this one)", nargs="*", metavar="DIR"),
    flag("--gone", "also those of projects whose folder is gone"),
)
def cmd_db_drop(args: argparse.Namespace) -> int:
    from .embedded import drop_project_databases, project_database
    from .errors import PersistenceError

    settings = settings_of(args)
    projects = [Path(p).resolve() for p in args.projects]
    if not projects and not args.gone:
        projects = [settings.project]
    dropped = drop_project_databases(settings, projects, gone=args.gone)
    if dropped:
        print(f"dropped {', '.join(dropped)}")
    elif not projects:
        print("no database of a deleted project to drop")  # --gone: a sweep found none
    for project in projects:
        _stop_legacy(project)
    # A project named (or this one) without a database is likely a mistyped folder.
    missing = [p for p in projects if project_database(p) not in dropped]
    if missing:
        raise PersistenceError(
            f"no database of {', '.join(map(str, missing))} on the embedded server: nothing"
            " dropped there (`persistence db status` lists each project's database)"
        )
    return 0


@commands.add(
    "health", "check the database and print a health report (exit 1 if failing)", URL, JSON
)
def cmd_health(args: argparse.Namespace) -> int:
    from .database import Database

    with Database(resolved(args)) as db:
        report = db.health()
    print(json.dumps(report.as_dict(), indent=2) if args.json else report)
    return 0 if report.ok else 1


@commands.add(
    "grant",
    "give a service role read/write on the tables, and no DDL (as the migration role)",
    URL,
    opt("role", "the role the service connects as (it must exist)"),
    opt("--schema", "the schema (default: public)", default="public"),
    flag("--print", "print the SQL (for a migration) instead of running it"),
)
def cmd_grant(args: argparse.Namespace) -> int:
    from psycopg.conninfo import conninfo_to_dict

    from .database import Database
    from .security import grant_sql

    settings = resolved(args).for_migrations()
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


@commands.add("seed", "load development data from seeds/ (refused in production)", URL)
def cmd_seed(args: argparse.Namespace) -> int:
    from .embedded import resolve
    from .errors import PersistenceError
    from .seeds import seed

    settings = project_settings(args)
    folder = settings.seeds_folder
    if not (folder.is_dir() and any(folder.glob("*.sql"))):
        # Asked to seed, with nothing to seed from: not a success.
        raise PersistenceError(
            f"no seed files in {folder}: add .sql files there (run in name order, in one"
            " transaction)"
        )
    seed(resolve(settings), out=progress)
    return 0


@commands.add("types", "write the typed query module from the live schema (scratch database)", URL)
def cmd_types(args: argparse.Namespace) -> int:
    from .embedded import resolve
    from .errors import ConfigurationError, QueryLoadError
    from .typegen import generate_types

    settings = project_settings(args)
    if settings.types_path is None:
        if not settings.in_project:
            raise ConfigurationError(no_project(settings))
        raise ConfigurationError(
            f"no typed module configured for {settings.project}: set types ="
            ' "PACKAGE/queries.py" under [tool.persistence] in its pyproject.toml'
        )
    try:
        generate_types(resolve(settings).for_migrations())
    except QueryLoadError as ex:
        # One line for each query that fails, as `check` prints them.
        for problem in ex.problems:
            print(f"error: {_one_line(problem, args.url)}", file=sys.stderr)
        return 1
    return 0


@commands.add(
    "init",
    "start a project: [tool.persistence], migrations/, queries/, tests, Makefile; never overwrites",
    opt("dir", "the project folder (default: here)", nargs="?", type=Path, metavar="DIR"),
    opt(
        "--package",
        "the package that holds the typed module (default: from the folder's name)",
        metavar="NAME",
    ),
)
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


@commands.add(
    "check",
    "lint migrations, prove rollbacks, prepare every query, typed module fresh",
    URL,
    opt(
        "--compat",
        "also prepare the named queries of git revision REF (the release still running)",
        metavar="REF",
    ),
    opt(
        "--plans",
        "also explain every query on the database: flag sequential scans over tables"
        " above ROWS rows (default 10000)",
        nargs="?",
        const=10_000,
        type=int,
        metavar="ROWS",
    ),
)
def cmd_check(args: argparse.Namespace) -> int:
    from .check import check
    from .security import service_role_warnings

    skipped: list[str] = []

    def out(line: str) -> None:
        print(line)
        if line.startswith("skipped migration ") or (
            line.startswith("skipped") and ": needs the extension" in line
        ):
            skipped.append(line)

    settings = resolved(args)
    problems = check(settings.for_migrations(), out=out, compat=args.compat, plans=args.plans)
    if settings.migration_url is not None or settings.production:
        # The service should not be able to change what migrations own.
        for warning in service_role_warnings(settings):
            print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    migrations = sum(line.startswith("skipped migration ") for line in skipped)
    queries = len(skipped) - migrations
    counts = [count(migrations, "migration")] if migrations else []
    counts += [count(queries, "query", "queries")] if queries else []
    note = f" ({' and '.join(counts)} skipped: an extension is missing)"
    print(("check failed" if problems else "check passed") + (note if skipped else ""))
    return 1 if problems else 0


@commands.add(
    "stats",
    "per named query (pg_stat_statements), tables, unused indexes, connections, locks",
    URL,
    flag("--json", "machine-readable output"),
    opt(
        "--threshold",
        "list transactions open longer than S seconds (default 60)",
        type=seconds,
        default=60.0,
        metavar="S",
    ),
    opt("--tables", "the N largest tables (default 20)", type=int, default=20, metavar="N"),
)
def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import collect
    from .stats import render as render_stats

    settings = resolved(args)
    found = collect(settings, _catalog(settings), threshold=args.threshold, tables=args.tables)
    print(json.dumps(found.as_json(), indent=2) if args.json else render_stats(found))
    return 0


@commands.add(
    "explain",
    "the plan of a named query (generic plan, or --analyze in a rolled-back transaction)",
    URL,
    opt("name", "the query's name: users.get_user_by_email"),
    opt(
        "-p --param",
        "a parameter's value, as text (repeat for each)",
        action="append",
        default=[],
        metavar="NAME=VALUE",
    ),
    flag("--analyze", "run it for real times (rolled back after)"),
)
def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain

    settings = resolved(args)
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


@commands.add(
    "lint-migrations", "lint the migrations with squawk (file:line and rule); no database needed"
)
def cmd_lint_migrations(args: argparse.Namespace) -> int:
    from .check import lint
    from .lint import squawk_path

    # Linting is this command's whole job: without squawk it fails, saying how to
    # install it, rather than print "ok" over migrations nobody read (`check` notes
    # the skip and goes on).
    squawk_path()
    problems = lint(settings_of(args), out=lambda _: None)
    for problem in problems:
        print(problem)
    print(count(len(problems), "finding") if problems else "ok")
    return 1 if problems else 0
