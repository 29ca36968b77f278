"""Checks for a deploy, beyond `check`'s proofs: `check --compat REF` and `check --plans`.

- `compat`: during a rolling deploy the previous release still runs against the new
  schema. Its named queries (the `.sql` files at git revision REF) must still prepare
  on the schema after the current migrations: dropping or renaming a column they use is
  caught before deploy (expand first, contract in a later release).
- `plans`: against a database with real data, the generic plan of every named query;
  a sequential scan over a table above a size threshold is reported with the query's
  file:line (an index is probably missing).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from ._connect import connect
from .config import Settings
from .errors import ConfigurationError, PersistenceError
from .explain import explain
from .migrations import Output
from .queries import Catalog
from .typegen import typed_source

__all__ = ["compat", "plans"]

_SEQ_SCAN = re.compile(r"Seq Scan on (?:(\w+)\.)?(\w+)")


def compat(settings: Settings, scratch: Settings, ref: str, out: Output) -> list[str]:
    """The problems of release `ref`'s named queries on `scratch` (migrated to now).

    Raises:
        ConfigurationError: `ref` is not a revision of the project's git repository.
    """
    with tempfile.TemporaryDirectory(prefix="persistence-compat-") as tmp:
        folder = _checkout_queries(settings, ref, Path(tmp))
        old = Settings(
            database_url=settings.database_url, project=settings.project, queries_dir=folder
        )
        _, problems, count, _ = typed_source(old, scratch)
    out(f"{'FAILED' if problems else 'ok':<8}{count} named queries of {ref} prepare and fit")
    return [f"the release at {ref}: {p.replace(str(folder) + '/', '')}" for p in problems]


def _checkout_queries(settings: Settings, ref: str, into: Path) -> Path:
    """Write the queries folder as it is at `ref` into `into`; return it."""
    folder = settings.queries_folder.resolve()
    try:
        top = _git(folder.parent, "rev-parse", "--show-toplevel").strip()
        relative = folder.relative_to(Path(top).resolve()).as_posix()
        names = _git(folder.parent, "ls-tree", "-r", "--name-only", ref, "--", relative)
    except (OSError, ValueError, subprocess.CalledProcessError) as ex:
        detail = getattr(ex, "stderr", "") or str(ex)
        raise ConfigurationError(
            f"--compat {ref!r}: cannot read the queries at that revision ({detail.strip()})"
        ) from None
    for name in names.splitlines():
        if not name.endswith(".sql"):
            continue
        target = into / Path(name).relative_to(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_git(folder.parent, "show", f"{ref}:{name}"))
    return into


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def plans(settings: Settings, out: Output, threshold: int = 10_000) -> list[str]:
    """Sequential scans over tables of more than `threshold` rows (the planner's
    estimate) in the generic plans of the named queries, on `settings`' database."""
    catalog = Catalog(settings.queries_folder)
    with connect(settings) as conn:
        sizes = dict(
            conn.execute(
                "select c.relname, c.reltuples::bigint from pg_class c"
                " where c.relkind in ('r', 'p', 'm') and c.reltuples > %s",
                [threshold],
            ).fetchall()
        )
    problems = []
    explained = 0
    for query in catalog:
        if query.operation in ("script", "execute_many"):
            continue
        try:
            lines = explain(settings, catalog, query.name, {})
        except PersistenceError as ex:
            problems.append(f"{query.where}: query {query.name!r} cannot be explained: {ex}")
            continue
        explained += 1
        for line in lines[1:]:
            found = _SEQ_SCAN.search(line)
            if found and found.group(2) in sizes:
                table, rows = found.group(2), sizes[found.group(2)]
                problems.append(
                    f"{query.where}: query {query.name!r} reads all of {table!r}"
                    f" (about {rows:,} rows) with a sequential scan; an index may be missing"
                )
    out(
        f"{'FAILED' if problems else 'ok':<8}{explained} named queries planned without a"
        f" sequential scan over a table above {threshold:,} rows"
    )
    return problems
