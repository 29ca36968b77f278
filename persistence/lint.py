"""Migrations linted with squawk before they lock production.

squawk (the `squawk-cli` package) knows which DDL takes which lock: `CREATE INDEX`
without `CONCURRENTLY` on an existing table, `NOT NULL` without a default, a type change
that rewrites the table, a constraint added without `NOT VALID`, and the rest of its
rules. This module runs it on a project's migration files the way yoyo runs them:

- a migration runs in a transaction unless its header says `-- transactional: false`,
  and its rollback runs the same way: squawk is told so (`--assume-in-transaction`);
- `require-lock-timeout` and `require-statement-timeout` are off: the toolkit sets both
  before every migration (5 s and 15 min, or its `-- lock_timeout:` headers);
- in a rollback, the `ban-drop-*` rules are off: dropping what its migration created
  is what a rollback is for.

A finding is acknowledged where it is, with squawk's own comments and a reason beside:
`-- squawk-ignore rule-name` on the line above the statement, or
`-- squawk-ignore-file rule-name` anywhere in the file. A project's `.squawk.toml`
(squawk's config file, `excluded_rules = [...]`) silences a rule for every file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ._migration_sql import load_files
from .errors import PersistenceError

__all__ = ["Finding", "SquawkMissing", "lint_migrations"]

#: Rules the toolkit makes moot for every file.
ALWAYS_OFF = ("require-lock-timeout", "require-statement-timeout")
#: Rules a rollback is expected to break.
ROLLBACK_OFF = (
    "ban-drop-column",
    "ban-drop-constraint",
    "ban-drop-database",
    "ban-drop-domain",
    "ban-drop-extension",
    "ban-drop-function",
    "ban-drop-not-null",
    "ban-drop-schema",
    "ban-drop-sequence",
    "ban-drop-table",
    "ban-drop-type",
    "ban-drop-view",
)


class SquawkMissing(PersistenceError):
    """squawk is not installed."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One squawk warning, placed in its file."""

    path: Path
    #: 1-based, as editors count.
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


def squawk_path() -> str:
    """The squawk executable: beside this Python (a venv's bin) or on PATH.

    Raises:
        SquawkMissing: with the command that installs it.
    """
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise SquawkMissing(
            "squawk is not installed, so migrations were not linted:"
            " pip install 'persistence-pg[lint]' (or squawk-cli)"
        )
    return found


def lint_migrations(directory: Path, project: Path | None = None) -> list[Finding]:
    """squawk's findings on every migration and rollback in `directory`, by file and line.

    Raises:
        SquawkMissing: squawk is not installed.
        MigrationError: a migration file cannot be read or ordered.
    """
    files = load_files(directory)
    if not files:
        return []
    config = (project or directory.parent) / ".squawk.toml"
    excluded = set(ALWAYS_OFF) | _configured_exclusions(config)
    groups: dict[tuple[bool, bool], list[Path]] = {}
    for f in files:
        groups.setdefault((f.transactional, False), []).append(f.path)
        if f.rollback_sql is not None:
            groups.setdefault((f.transactional, True), []).append(f.rollback_path)
    findings: list[Finding] = []
    for (transactional, rollback), paths in sorted(groups.items()):
        off = excluded | set(ROLLBACK_OFF) if rollback else excluded
        findings += _run(paths, transactional, sorted(off), config)
    return sorted(findings, key=lambda f: (str(f.path), f.line, f.rule))


def _configured_exclusions(config: Path) -> set[str]:
    # squawk ignores its config's excluded_rules when --exclude is given: merge them here.
    if not config.is_file():
        return set()
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as ex:
        raise PersistenceError(f"{config}: cannot read squawk's config: {ex}") from None
    rules = data.get("excluded_rules", [])
    return {str(rule) for rule in rules} if isinstance(rules, list) else set()


def _run(paths: list[Path], transactional: bool, off: list[str], config: Path) -> list[Finding]:
    command = [squawk_path(), "--reporter", "json", "--exclude", ",".join(off)]
    if config.is_file():
        command += ["--config", str(config)]
    command.append("--assume-in-transaction" if transactional else "--no-assume-in-transaction")
    try:
        done = subprocess.run(
            [*command, *map(str, paths)], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as ex:
        raise PersistenceError(f"squawk did not run: {ex}") from None
    out = done.stdout.strip()
    try:
        reported = json.loads(out) if out else []
    except json.JSONDecodeError:
        detail = (done.stderr or out).strip().splitlines()
        raise PersistenceError(
            f"squawk failed (exit {done.returncode}): {detail[0] if detail else 'no output'}"
        ) from None
    by_name = {str(p): p for p in paths}
    return [
        Finding(
            path=by_name.get(str(item["file"]), Path(str(item["file"]))),
            # squawk counts lines from 0.
            line=int(item["line"]) + 1,
            rule=str(item["rule_name"]),
            message=str(item["message"]),
        )
        for item in reported
    ]
