"""The migration commands of `persistence`: migrate, rollback, status, history, heads,
show, new, accept, baseline, reset. Each wraps one method of `Migrator`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ._cli_args import (
    DRY_RUN,
    JSON,
    LOCK,
    URL,
    Commands,
    UsageError,
    count,
    flag,
    no_project,
    opt,
    progress,
    resolved,
    settings_of,
)

if TYPE_CHECKING:
    from .migrations import MigrationState, Migrator

__all__ = ["commands"]

commands = Commands()


def _name(text: str) -> str:
    from ._migration_sql import check_name
    from .errors import MigrationError

    try:
        return check_name(text)
    except MigrationError as ex:  # a usage error: argparse says so, exit code 2
        raise argparse.ArgumentTypeError(str(ex)) from None


def _migrator(args: argparse.Namespace) -> Migrator:
    from .migrations import Migrator

    return Migrator(resolved(args), out=progress, lock_wait=getattr(args, "lock_timeout", None))


@commands.add(
    "migrate",
    "apply pending migrations (all, or up to --target), printing each one's time",
    URL,
    LOCK,
    opt("--target", "apply only ID and what it depends on", metavar="ID"),
    [
        DRY_RUN,
        flag(
            "--check",
            "apply nothing; exit 1 if a migration is pending or an applied one changed (CI)",
        ),
    ],
)
def cmd_migrate(args: argparse.Namespace) -> int:
    if args.check:
        if args.target:
            raise UsageError("migrate --check looks at every migration; it takes no --target")
        migrator = _migrator(args)
        states = migrator.status()
        migrator._header("check")
        for st in states:
            if st.state in _FAILING:
                print(f"{st.state:<12} {st.id}")
        failed = _gate(states, pending=True)
        if not failed:
            print(f"up to date: {count(sum(st.applied for st in states), 'migration')} applied")
        return failed
    _migrator(args).migrate(target=args.target, dry_run=args.dry_run)
    return 0


@commands.add(
    "rollback",
    "roll back the last migration (or --steps/--target)",
    URL,
    LOCK,
    DRY_RUN,
    flag("--yes", "in production, do not ask for confirmation"),
    [
        # No default here: argparse would not see `--steps 1 --target ID` as a conflict
        # (1 would be the default); one migration is rolled back when neither is given.
        opt(
            "--steps",
            "how many (default 1; more than are applied: those applied)",
            type=int,
            metavar="N",
        ),
        opt("--target", "roll back everything applied after ID", metavar="ID"),
    ],
)
def cmd_rollback(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    settings = migrator.settings

    def confirm(ids: Sequence[str]) -> None:  # asked in production only
        _confirm(
            f"roll back {count(len(ids), 'migration')} ({', '.join(ids)}) on the"
            f" production database {settings.masked_url}?",
            yes=args.yes,
            action="roll back the production database",
        )

    production = confirm if settings.production else None
    steps = 1 if args.steps is None else args.steps
    if steps < 1:
        raise UsageError(
            f"--steps takes 1 or more, not {steps} (`persistence status` lists what is applied)"
        )
    done = migrator.rollback(steps, target=args.target, dry_run=args.dry_run, confirm=production)
    if not done and args.target is None:
        from .errors import MigrationError

        # Asked to undo something, with nothing to undo: not a success (with --target,
        # nothing after ID is: the database is where it was asked to be).
        raise MigrationError(
            f"no migration is applied on {settings.masked_url}: nothing was rolled back"
        )
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


def _gate(states: Sequence[MigrationState], *, pending: bool) -> int:
    """1, after one line saying what is wrong and what to do; 0 when nothing is."""
    parts = []
    waiting = [st.id for st in states if st.state == "pending"]
    if pending and waiting:
        parts.append(f"{len(waiting)} pending ({', '.join(waiting)}): run `persistence migrate`")
    edited = [st.id for st in states if st.state in ("changed", "file missing")]
    if edited:
        parts.append(
            f"{len(edited)} applied changed or missing ({', '.join(edited)}): put the file"
            " back, or, if the change is already in the database, `persistence accept ID`"
            " records the file as applied without running it"
        )
    if parts:
        print(f"error: {'; '.join(parts)}", file=sys.stderr)
    return 1 if parts else 0


@commands.add(
    "status",
    "list migrations: applied or pending, when, checksum ok or changed",
    URL,
    JSON,
    flag("--check", "exit 1 also when a migration is pending (CI gate); a changed one always does"),
)
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
    return _gate(states, pending=args.check)


def _iso(when: datetime | None) -> str | None:
    # yoyo stores applied_at_utc without a time zone; it is UTC.
    return when.replace(tzinfo=UTC).isoformat() if when else None


@commands.add(
    "history",
    "the applied migrations in the order applied: when, applied or marked, by whom",
    URL,
    JSON,
)
def cmd_history(args: argparse.Namespace) -> int:
    migrator = _migrator(args)
    entries = migrator.history()
    if args.json:
        history = [
            {"id": e.id, "applied_at": _iso(e.applied_at), "operation": e.operation, "by": e.by}
            for e in entries
        ]
        print(json.dumps({"database": migrator.settings.masked_url, "history": history}, indent=2))
        return 0
    if not entries:
        print("no migration applied")
    how = {"apply": "applied", "mark": "marked", None: "-"}
    for e in entries:
        when = e.applied_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when}  {how.get(e.operation, e.operation):<8} {e.id}  {e.by or '-'}".rstrip())
    return 0


@commands.add(
    "heads", "the migrations nothing depends on (what `new` makes the next one depend on)", JSON
)
def cmd_heads(args: argparse.Namespace) -> int:
    from .migrations import Migrator

    heads = Migrator(settings_of(args), out=progress).heads()
    none = "no migrations"
    print(json.dumps({"heads": heads}) if args.json else "\n".join(heads) if heads else none)
    return 0


@commands.add(
    "show",
    "print one migration's SQL as it runs (transaction, timeouts), for psql -f",
    URL,
    opt("id", "the migration id, e.g. 0002_users", metavar="ID"),
    flag("--rollback", "its rollback instead: the SQL stored when it was applied, else the file"),
)
def cmd_show(args: argparse.Namespace) -> int:
    from .migrations import Migrator

    # Only the rollback reads the database (the SQL stored at apply time).
    settings = resolved(args) if args.rollback else settings_of(args)
    print(Migrator(settings, out=progress).show(args.id, rollback=args.rollback), end="")
    return 0


@commands.add(
    "new",
    "create NNNN_NAME.sql and its rollback file",
    opt("name", "lowercase words joined by underscores, e.g. add_users", type=_name),
    opt(
        "--updated-at",
        "write the trigger that keeps TABLE.updated_at current (repeatable)",
        action="append",
        default=[],
        metavar="TABLE",
    ),
)
def cmd_new(args: argparse.Namespace) -> int:
    from ._migration_sql import new_migration
    from .errors import ConfigurationError

    settings = settings_of(args)
    if not settings.in_project:  # migrations/ would be made wherever one stands
        raise ConfigurationError(no_project(settings))
    folder = settings.migrations_folder
    up, down = new_migration(folder, args.name, updated_at=args.updated_at)
    progress(f"created   {up}")
    progress(f"created   {down}")
    if not args.updated_at:
        # `migrate` refuses the migration until it holds a statement.
        progress(f"next      write its SQL in {up.name} and its undo in {down.name}")
    return 0


@commands.add(
    "accept",
    "record the edited content of applied migrations as applied, without running it",
    URL,
    LOCK,
    opt("ids", "migration ids", nargs="+", metavar="ID"),
)
def cmd_accept(args: argparse.Namespace) -> int:
    _migrator(args).accept(args.ids)
    return 0


@commands.add(
    "baseline",
    "record migrations as applied without running them (adopt an existing database)",
    URL,
    LOCK,
    opt("--target", "only ID and what it depends on", metavar="ID"),
)
def cmd_baseline(args: argparse.Namespace) -> int:
    _migrator(args).baseline(args.target)
    return 0


@commands.add(
    "reset",
    "roll back every migration and apply again (refused in production)",
    URL,
    LOCK,
    flag("--yes", "do not ask for confirmation"),
)
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
