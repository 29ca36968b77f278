"""What the commands of `persistence` share: how a command is declared (its help and
options, from which `cli` builds the parser), the shared options, and the settings
from the arguments."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings

Option = tuple[tuple[str, ...], dict[str, Any]]
Func = Callable[[argparse.Namespace], int]
#: Its name ("db start": the start action of db), help, options and function.
Command = tuple[str, str, tuple[Option | list[Option], ...], Func]


class Commands(list[Command]):
    """A module's commands, each declared by `@commands.add(NAME, HELP, *OPTIONS)` on its
    function; a list of options is a mutually exclusive group."""

    def add(self, name: str, text: str, *options: Option | list[Option]) -> Callable[[Func], Func]:
        def declare(func: Func) -> Func:
            self.append((name, text, options, func))
            return func

        return declare


def opt(flags: str, text: str, **kwargs: Any) -> Option:
    """An option or argument: its flags ("-p --param"), its help, argparse's other keywords."""
    return tuple(flags.split()), {"help": text, **kwargs}


def flag(flags: str, text: str) -> Option:
    return opt(flags, text, action="store_true")


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < math.inf:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text!r}")
    return value


# Shared options. Every command that uses a database takes --url.
URL = opt("--url", "the database (default: DATABASE_URL, else embedded)", metavar="URL")
LOCK = opt(
    "--lock-timeout",
    "how long to wait for another run's migration lock"
    " (default: DB_MIGRATION_LOCK_TIMEOUT, else 600; 0: do not wait)",
    type=seconds,
    metavar="SECONDS",
)
DRY_RUN = flag("--dry-run", "print the SQL that would run; change nothing")
JSON = flag("--json", "print JSON, for machines")


class UsageError(Exception):
    """Arguments that parse but do not fit together: exit 2, like argparse's own."""


def settings_of(args: argparse.Namespace) -> Settings:
    from ._project import find_project
    from .config import Settings

    environ = dict(os.environ)
    if getattr(args, "url", None):
        environ["DATABASE_URL"] = args.url  # --url wins over the environment
    project = args.project
    if project is None and not environ.get("PERSISTENCE_PROJECT"):
        # Up from the current directory only, as ruff and pytest look: not from where
        # the `persistence` script happens to be installed.
        project = find_project(Path.cwd())
    return Settings.from_env(environ, project=project)


def no_project(settings: Settings) -> str:
    """The refusal of a command run outside a project, saying what to do."""
    return (
        f"{settings.not_a_project}: run it in your project, pass --project DIR,"
        " or `persistence init`"
    )


def project_settings(args: argparse.Namespace) -> Settings:
    """The settings, refused (one line saying what to do) when they name no database and
    the folder is not a project: the embedded server would make a database for it."""
    from .errors import ConfigurationError

    settings = settings_of(args)
    if settings.database_url is None and not settings.in_project:
        raise ConfigurationError(no_project(settings))
    return settings


def resolved(args: argparse.Namespace) -> Settings:
    """The settings, with the embedded server started when they name no database (and
    refused, by `project_settings`, when the folder is not a project)."""
    from .embedded import resolve

    return resolve(project_settings(args))


def count(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def progress(line: str) -> None:
    # Flushed line by line: a deploy log shows which migration runs while it runs.
    print(line, flush=True)
