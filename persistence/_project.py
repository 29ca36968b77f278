"""The project: the folder whose pyproject.toml has `[tool.persistence]`, and the folders
that table names."""

from __future__ import annotations

import difflib
import sys
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = ["PROJECT_KEYS", "find_project", "has_persistence_table", "project_dirs"]


#: The keys `[tool.persistence]` understands; any other is a typo, refused.
PROJECT_KEYS = ("queries", "migrations", "seeds", "types")
_EXAMPLES = {
    "queries": "queries",
    "migrations": "migrations",
    "seeds": "seeds",
    "types": "app/queries.py",
}


def find_project(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the current directory, then the
    running program's folder) whose pyproject.toml has a `[tool.persistence]` table,
    as ruff and pytest find theirs; the current directory when there is none."""
    cwd = Path.cwd().resolve()
    starts = [start.resolve()] if start is not None else [cwd, *_program_folder()]
    for first in starts:
        for folder in (first, *first.parents):
            if has_persistence_table(folder / "pyproject.toml"):
                return folder
    return starts[0] if start is not None else cwd


def _program_folder() -> list[Path]:
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    return [Path(main).resolve().parent] if main else []


def has_persistence_table(pyproject: Path) -> bool:
    """Whether `pyproject` has a [tool.persistence] table (a broken file that names it counts)."""
    try:
        text = pyproject.read_text()
    except OSError:
        return False
    try:
        return "persistence" in tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        # Broken, but meant to be ours: from_env reads it and says where it is broken.
        return "[tool.persistence" in text


def project_dirs(root: Path) -> dict[str, Path]:
    """Folders from `[tool.persistence]` in the project's pyproject.toml, else defaults.

    Raises:
        ConfigurationError: an unknown key (with the nearest known one), or a configured
            queries/migrations/seeds folder that does not exist.
    """
    table: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("persistence", {})
        except tomllib.TOMLDecodeError as ex:
            raise ConfigurationError(f"{pyproject}: {ex}") from None
    for key in table:
        if key not in PROJECT_KEYS:
            close = difflib.get_close_matches(key, PROJECT_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(PROJECT_KEYS)}"
            raise ConfigurationError(
                f"{pyproject}: unknown key {key!r} in [tool.persistence]; {hint}"
            )
    for key, value in table.items():
        if not isinstance(value, str):
            raise ConfigurationError(
                f"{pyproject}: [tool.persistence] {key} = {value!r} is not a path;"
                f' write it in quotes, e.g. {key} = "{_EXAMPLES[key]}"'
            )
    dirs = {name: root / str(table.get(name, name)) for name in ("queries", "migrations", "seeds")}
    for name in ("queries", "migrations", "seeds"):
        if name in table and not dirs[name].is_dir():
            raise ConfigurationError(
                f"{pyproject}: [tool.persistence] {name} = {table[name]!r}, but {dirs[name]}"
                f" is not a folder; create it or correct the path"
            )
    if "types" in table:
        dirs["types"] = root / str(table["types"])
    return dirs
