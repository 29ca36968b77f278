"""Extensions a query file needs: `-- requires: vector` above its first `-- name:` line.

On a server without one of them, `check` and `types` skip that file's queries and say
why, instead of failing on the first type or operator the extension would have made.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import psycopg

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
    return [
        f"skipped {name}: needs the extension{'s' if len(exts) > 1 else ''}"
        f" {', '.join(exts)}, which this server does not have"
        for name, exts in skipped.items()
    ]
