"""`persistence types`: a project's typed query module, generated from the live schema.

The project's migrations are applied to a scratch database beside the configured one;
_describe asks the server about every named statement there; _typerender writes the
module from those descriptions. `check` compares the result with the checked-in module.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ._connect import connect
from ._describe import describe
from ._requires import skipped_lines, unavailable_migrations
from ._requires import split as split_by_extension
from ._scratch import scratch_database
from ._typerender import HEADER, WIDTH, render
from .config import Settings
from .errors import ConfigurationError, QueryLoadError
from .migrations import Migrator, Output
from .queries import Catalog

__all__ = ["compile_problem", "generate_types", "typed_source", "types_path_problem"]


def generate_types(settings: Settings, out: Output = print) -> Path:
    """Write the typed query module to `settings.types_path`; return its path.

    Queries whose file `-- requires:` an extension the server lacks are listed as
    skipped, and so are migrations that do (with those depending on them); the module
    is then left as it is (it types those queries too, on the whole schema).

    Raises:
        QueryLoadError: listing every query that does not prepare or whose operator
            does not fit its result.
    """
    if settings.types_path is None:
        raise QueryLoadError(
            'no place for the typed module: set `types = "pkg/queries.py"`'
            " under [tool.persistence] in pyproject.toml"
        )
    if problem := types_path_problem(settings.types_path):
        raise ConfigurationError(problem)
    with scratch_database(settings, "types") as scratch:
        migrator = Migrator(scratch, out=lambda _: None)
        unavailable: dict[str, str] = {}
        if migrator.directory.is_dir():  # a project of queries over another's schema
            with connect(scratch) as conn:
                unavailable = unavailable_migrations(conn, migrator.load())
            migrator.migrate(skip_unavailable=True)
        source, problems, _, skipped = typed_source(settings, scratch)
    if problems:
        raise QueryLoadError("\n".join(problems), problems=problems)
    if skipped or unavailable:
        for mid, why in unavailable.items():
            out(f"skipped migration {mid}: {why}")
        for line in skipped_lines(skipped):
            out(line)
        out(
            f"skipped {settings.types_path} not rewritten: run `persistence types` on a"
            " server with those extensions"
        )
        return settings.types_path
    if problem := compile_problem(source, settings.types_path):
        raise QueryLoadError(problem)
    settings.types_path.parent.mkdir(parents=True, exist_ok=True)
    settings.types_path.write_text(source)
    out(f"wrote {settings.types_path}")
    return settings.types_path


def typed_source(
    settings: Settings, scratch: Settings
) -> tuple[str, list[str], int, dict[str, list[str]]]:
    """The typed module's source for `settings`' project, described on `scratch` (a
    migrated database), the problems found, how many queries were read, and the queries
    skipped for an extension the server lacks (with those extensions)."""
    catalog = Catalog(settings.queries_folder)
    with connect(scratch) as conn:
        runnable, skipped = split_by_extension(conn, catalog)
        described, problems = describe(conn, runnable)
    path = settings.types_path or settings.project / "queries.py"
    try:
        origin = catalog.folder.relative_to(settings.project)
    except ValueError:
        origin = catalog.folder
    source = render(described, f"{origin}/", _line_length(path))
    return source, problems, len(runnable), skipped


def types_path_problem(path: Path) -> str | None:
    """Why the typed module cannot be written at `path`, in one line, or None: it is a
    folder, or a file `persistence types` did not write (its first line is not ours)."""
    if path.is_dir():
        return (
            f"{path} is a folder; `types` under [tool.persistence] names the module"
            ' to write, e.g. types = "app/queries.py"'
        )
    if path.exists():
        with path.open(errors="replace") as file:
            first = file.readline()
        if not first.startswith(HEADER):
            return (
                f"{path} was not written by `persistence types` (its first line is not"
                f" {HEADER!r}...); move it away, or set `types` under [tool.persistence]"
                " to another file"
            )
    return None


def compile_problem(source: str, path: Path) -> str | None:
    """Why the typed module `source` (to live at `path`) is not valid Python, in one
    line, or None: a guard, so that a fault of the renderer is never written or passed."""
    try:
        compile(source, str(path), "exec")
    except SyntaxError as ex:
        return (
            f"{path}:{ex.lineno}: the typed module does not compile ({ex.msg}); a bug of"
            " `persistence types`: please report it with the query or type named there"
        )
    return None


def _line_length(path: Path) -> int:
    """The ruff line length of the project the typed module lives in (the nearest
    pyproject.toml up from it), so the module passes that project's `ruff format`."""
    for folder in path.resolve().parents:
        config = folder / "pyproject.toml"
        if config.is_file():
            ruff = tomllib.loads(config.read_text()).get("tool", {}).get("ruff", {})
            return int(ruff.get("line-length", WIDTH))
    return WIDTH
