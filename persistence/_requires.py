"""Extensions a project needs: `-- requires: vector` in a migration's header, or above
a query file's first `-- name:` line.

On a server without one of them, `check` and `types` skip that file's queries, and
those migrations (with the migrations that depend on them), and say why, instead of
failing on the first type or operator the extension would have made. `migrate` refuses
such a migration before applying anything (see migrations.py).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from ._migration_sql import MigrationFile

if TYPE_CHECKING:  # migrate imports this module: it must not load aiosql and pglast
    from .queries import Catalog

_REQUIRES = re.compile(r"--\s*requires:\s*(.+)")
_NAME = re.compile(r"--\s*name:")


def required(path: Path) -> tuple[str, ...]:
    """The extensions named by `-- requires:` lines in the file's header."""
    names: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if _NAME.match(stripped):
            break
        if m := _REQUIRES.fullmatch(stripped):
            names += m.group(1).replace(",", " ").split()
    return tuple(names)


def split(conn: psycopg.Connection[Any], catalog: Catalog) -> tuple[Catalog, dict[str, list[str]]]:
    """The queries this server can describe, and the others with the extensions they
    need and it lacks (by query name)."""
    installed = {row[0] for row in conn.execute("select extname::text from pg_extension")}
    needs = {path: required(path) for path in {q.path for q in catalog}}
    skipped = {
        q.name: missing
        for q in catalog
        if (missing := [e for e in needs[q.path] if e not in installed])
    }
    if not skipped:
        return catalog, {}
    runnable = copy.copy(catalog)
    runnable.queries = {k: v for k, v in catalog.queries.items() if k not in skipped}
    return runnable, skipped


def skipped_lines(skipped: dict[str, list[str]]) -> list[str]:
    """One line per skipped query, saying why."""
    return [f"skipped {name}: {_needs(exts)}" for name, exts in skipped.items()]


def available(conn: psycopg.Connection[Any]) -> set[str]:
    """The extensions this server has installed or can create."""
    rows = conn.execute(
        "select name::text from pg_available_extensions"
        " union select extname::text from pg_extension"
    )
    return {row[0] for row in rows}


def unavailable_migrations(
    conn: psycopg.Connection[Any], files: list[MigrationFile]
) -> dict[str, str]:
    """The migrations this server cannot apply, by id, each with the reason: a
    `-- requires:` extension it lacks, or a dependency on such a migration. `files` is in
    dependency order, so a migration's dependencies are decided before it."""
    if not any(f.requires for f in files):
        return {}
    server = available(conn)
    roots: dict[str, str] = {}  # id -> the migration that needs the missing extension
    reasons: dict[str, str] = {}
    for f in files:
        missing = [e for e in f.requires if e not in server]
        if missing:
            roots[f.id] = f.id
            reasons[f.id] = _needs(missing)
        elif blocked := [d for d in f.depends if d in roots]:
            root = roots[f.id] = roots[blocked[0]]
            reasons[f.id] = f"depends on {root}, which {reasons[root]}"
    return reasons


def _needs(exts: list[str]) -> str:
    return (
        f"needs the extension{'s' if len(exts) > 1 else ''} {', '.join(exts)},"
        " which this server does not have"
    )
