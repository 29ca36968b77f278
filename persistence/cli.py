"""The `persistence` command: the operator's interface, wrapped by the Makefile.

    persistence [--project DIR] db start|stop|status|url
    persistence [--project DIR] health

Every command reads the same settings as the library (see README, Configuration).
With DATABASE_URL unset, commands that need a database start the embedded server.
Exit codes: 0 ok, 1 the operation failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .config import Settings
from .database import Database
from .embedded import EmbeddedServer, resolve
from .errors import PersistenceError

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except PersistenceError as ex:
        # One boundary for expected failures: one line, no traceback, no password.
        print(f"error: {ex}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(project=args.project)


def cmd_db_start(args: argparse.Namespace) -> int:
    info = EmbeddedServer.for_project(_settings(args).project).start()
    print(f"embedded server running (pid {info.pid}) at {info.url()}")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    stopped = EmbeddedServer.for_project(_settings(args).project).stop()
    print("embedded server stopped" if stopped else "embedded server was not running")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    info = EmbeddedServer.for_project(_settings(args).project).status()
    if info is None:
        print("embedded server not running")
        return 1
    print(f"embedded server running (pid {info.pid}) at {info.url()}")
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.database_url is not None:
        # Never print a password, even on request: this output ends up in logs.
        print(settings.masked_url)
        return 0
    print(EmbeddedServer.for_project(settings.project).start().url())
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with Database(resolve(_settings(args))) as db:
        report = db.health()
    print(json.dumps(report.as_dict(), indent=2) if args.json else report)
    return 0 if report.ok else 1


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
        help="project folder holding queries/, migrations/, seeds/ (default: current folder)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    db = commands.add_parser("db", help="manage the embedded development server")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    for name, func, text in [
        ("start", cmd_db_start, "start the embedded server (or report the running one)"),
        ("stop", cmd_db_stop, "stop the embedded server, also one left by a killed process"),
        ("status", cmd_db_status, "say whether the embedded server runs (exit 1 if not)"),
        ("url", cmd_db_url, "print the database URL in use (password masked)"),
    ]:
        db_commands.add_parser(name, help=text, description=text).set_defaults(func=func)

    health = commands.add_parser(
        "health", help="check the database and print a health report (exit 1 if failing)"
    )
    health.add_argument("--json", action="store_true", help="print the report as JSON")
    health.set_defaults(func=cmd_health)
    return parser
