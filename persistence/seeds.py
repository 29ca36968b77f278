"""Development data: `seed` runs the seeds folder's SQL files (never in production)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ._connect import connect
from ._migration_sql import read_text, run_statements
from .config import Settings, refuse_in_production
from .errors import MigrationError

__all__ = ["seed"]

logger = logging.getLogger(__name__)


def seed(settings: Settings, out: Callable[[str], None] | None = None) -> list[Path]:
    """Run every `.sql` file of `settings.seeds_folder`, in name order, in one
    transaction; return the files run (none: nothing to do). Each file is reported
    to `out` (the CLI prints it), else to DEBUG log records, as the Migrator's are,
    once the transaction has committed: a file whose rows a later file's failure
    rolled back is never reported as seeded.

    Raises:
        PersistenceError: in production, before anything else.
        MigrationError: naming the file and line that failed, and the earlier files
            rolled back with it; nothing is kept.
    """
    out = out or logger.debug
    refuse_in_production(settings, "seed")
    settings = settings.for_migrations()  # seeds run as the schema's owner, as migrations do
    folder = settings.seeds_folder
    paths = sorted(folder.glob("*.sql")) if folder.is_dir() else []
    done: list[str] = []
    try:
        with connect(settings) as conn, conn.transaction():
            for path in paths:
                # Named like a migration's statements, for pg_stat_activity and the logs.
                name = f"seeds.{path.name.removesuffix('.sql')}" if settings.sql_comment else None
                run_statements(conn, path, read_text(path), name=name)
                done.append(path.name)
    except MigrationError as ex:
        if done:
            # Said, as the error's last words: their rows are not there either.
            raise MigrationError(
                f"{ex}; nothing was seeded (one transaction): {', '.join(done)} rolled back"
                " too; fix the file and run seed again",
                migration=ex.migration,
            ) from ex.__cause__
        raise
    for seeded in done:
        out(f"seeded    {seeded}")
    if not paths:
        out(f"no seed files in {folder}")
    return paths
