"""What a migration run refuses before it applies anything: applied migrations edited
since (all of them named) or gone from the folder, migrations whose forward script holds
no statement, and SQL written into a migration that an older version applied empty."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._migration_records import Applied
from ._migration_sql import MigrationFile, checksum_of, has_statement
from .errors import MigrationError


def never_ran(mid: str, applied: dict[str, Applied]) -> str:
    """What to say of applied migration `mid` when `applied_empty`: why, and the way out."""
    steps = len(applied) - list(applied).index(mid)
    after = f" and the {steps - 1} applied after it" if steps > 1 else ""
    return (
        f"applied migration {mid!r} was applied before its SQL was written (it held no"
        " statement then), so that SQL never ran: roll it back (`persistence rollback"
        f" --steps {steps}` undoes it{after}) and migrate again"
    )


def applied_empty(a: Applied, f: MigrationFile) -> bool:
    """Whether `a` was applied from a statement-less start of `f` (as `persistence new`
    wrote it, the SQL appended since): its recorded checksum is that of such a start and
    the rollback stored then. Only the checksum is kept, not the SQL, hence the search
    (over the leading lines up to the first statement)."""
    start = ""
    for line in ["", *f.sql.splitlines(keepends=True)]:
        start += line
        if has_statement(start):
            return False
        if checksum_of(start, a.rollback_sql) == a.checksum:
            return True
    return False


def refuse_edited(
    applied: dict[str, Applied], files: dict[str, MigrationFile], directory: Path
) -> None:
    """Refuse when an applied migration's file is missing from `directory` or was edited
    since it was applied (naming every edited one), or holds SQL that never ran."""
    missing = [mid for mid in applied if mid not in files]
    if missing:
        # As `status` fails on it: migrating on would hide that the folder and the
        # database disagree.
        which = (
            f"applied migration {missing[0]} is"
            if len(missing) == 1
            else f"{len(missing)} applied migrations ({', '.join(missing)}) are"
        )
        raise MigrationError(
            f"{which} missing from {directory}: put the file back, or roll it back"
            " first (`persistence rollback` uses the SQL stored when it was applied);"
            " nothing was applied",
            migration=missing[0],
        )
    edited = [
        f
        for mid, a in applied.items()
        if (f := files.get(mid)) is not None and a.checksum is not None and a.checksum != f.checksum
    ]
    if not edited:
        return
    for f in edited:
        if applied_empty(applied[f.id], f):
            raise MigrationError(f"{never_ran(f.id, applied)}; nothing was applied", migration=f.id)
    # All of them, as `status` lists them: one at a time, each fix meets the next.
    if len(edited) == 1:
        which = f"applied migration {edited[0].id!r} was edited since it was applied"
        where = f"{edited[0].path} or its rollback"
    else:
        which = f"{len(edited)} applied migrations were edited since they were applied"
        where = ", ".join(f"{f.id!r}: {f.path}" for f in edited) + ", or their rollbacks"
    ids = " ".join(f.id for f in edited)
    files_ = "file" if len(edited) == 1 else "files"
    raise MigrationError(
        f"{which} ({where}); an edit never runs. Put the {files_} back; to change the"
        " schema, add a new migration (or roll back and migrate again); if the change"
        " is already in the database (made by hand, or only a comment changed),"
        f" `persistence accept {ids}` records the {files_} as applied without running"
        " them; nothing was applied",
        migration=edited[0].id,
    )


def refuse_empty(files: Sequence[MigrationFile]) -> None:
    """Refuse migrations with no statement before any is applied: applied, such a
    file (`persistence new`'s, not filled in yet) would be recorded as run, and the
    SQL written into it later would read as an edit and never run. So is a rollback
    file with no statement, which `rollback` would run, undoing nothing."""
    empty = [f for f in files if not has_statement(f.sql)]
    if not empty:
        undo = [
            f for f in files if f.rollback_sql is not None and not has_statement(f.rollback_sql)
        ]
        if undo:  # a rollback that would say "rolled back" and undo nothing
            raise MigrationError(
                f"the rollback of migration {undo[0].id} holds no SQL statement"
                f" ({undo[0].rollback_path}): write the SQL that undoes it, or delete that"
                " file if it cannot be undone; nothing was applied",
                migration=undo[0].id,
            )
        return
    if len(empty) == 1:
        which = f"migration {empty[0].id} holds no SQL statement ({empty[0].path})"
        todo = "write its SQL (and its rollback's), or delete the file and its rollback"
    else:
        paths = ", ".join(str(f.path) for f in empty)
        which = f"{len(empty)} migrations hold no SQL statement ({paths})"
        todo = "write their SQL (and their rollbacks'), or delete those files and their rollbacks"
    raise MigrationError(f"{which}: {todo}; nothing was applied", migration=empty[0].id)
