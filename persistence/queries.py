"""Named queries: `.sql` files loaded by aiosql into a catalog of `Query` objects.

Each file under the queries folder is one namespace (`users.sql` -> `users`, subfolders
nest: `admin/audit.sql` -> `admin.audit`; each a Python name, refused at load if not).
A query is declared aiosql's way:

    -- name: get_user_by_email(email)^
    -- Documentation lines follow the name line.
    select * from users where email = :email;

Operators: none (all rows), `^` (one row or None), `$` (one value), `!` (row count),
`<!` (insert/update returning), `*!` (executemany), `#` (script).

aiosql parses the name lines; on top of it this module gives errors that name the file
and line (aiosql's line numbers shift after block comments), refuses duplicate names
(aiosql keeps the last one silently), and reads placeholders with PostgreSQL's lexer
(see _sqltext). The same catalog serves `Database` and `AsyncDatabase`; running a query
is the job of `QueryRunner` / `AsyncQueryRunner` (queries_runner_async.py).
"""

from __future__ import annotations

import difflib
import itertools
import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb
from psycopg.types.multirange import Multirange
from psycopg.types.range import Range

from ._aiosql import QueryDatum, SQLOperationType, SQLParseException, new_loader
from ._comment import attach
from ._sqltext import SqlTextError, convert, statement_starts
from .errors import QueryError, QueryLoadError

# Range and Multirange: re-exported for the generated modules, whose imports are then
# only the standard library's and persistence's (one import block in every project).
__all__ = ["Catalog", "Multirange", "Query", "Range", "as_json"]

_NAME_LINE = re.compile(r"^\s*--\s*name\s*:\s*(?P<spec>.*?)\s*$")
#: A comment that may be a name line with a typo: `-- nam: x`, `--name x`, `-- Name: x`.
_LOOKS_LIKE_NAME = re.compile(
    r"^\s*--\s*(?P<word>[A-Za-z]+)\s*(?P<colon>:)?\s*"
    r"(?P<spec>[A-Za-z_][\w-]*\s*(?:\([^)]*\))?\s*[$^!<*#]*)\s*$"
)

#: aiosql's operation types, by the names the generated code and the runner use.
OPERATIONS = {
    SQLOperationType.SELECT: "select",
    SQLOperationType.SELECT_ONE: "select_one",
    SQLOperationType.SELECT_VALUE: "select_value",
    SQLOperationType.INSERT_RETURNING: "insert_returning",
    SQLOperationType.INSERT_UPDATE_DELETE: "execute",
    SQLOperationType.INSERT_UPDATE_DELETE_MANY: "execute_many",
    SQLOperationType.SCRIPT: "script",
}


@dataclass(frozen=True, slots=True, eq=False)
class Query:
    """One named statement, ready to run."""

    #: Fully qualified: "users.get_user_by_email".
    name: str
    #: select | select_one | select_value | insert_returning | execute | execute_many | script
    operation: str
    #: The SQL for psycopg (%(name)s placeholders, literal % doubled).
    sql: str
    #: The SQL with $1, $2... placeholders, for the server to describe.
    numbered: str
    params: tuple[str, ...]
    optional: frozenset[str]
    nullability: dict[str, bool]
    path: Path
    #: Line of the `-- name:` comment.
    line: int
    #: The file line of each line of `sql` (aiosql drops comment lines from the body).
    line_map: tuple[int, ...]
    doc: str
    #: `sql` encoded once: psycopg takes bytes as they are, with no per-call encoding;
    #: ends with the comment naming the query unless the catalog was loaded without.
    sql_bytes: bytes
    #: `numbered` as a script (`#`) sends it, with no parameters: likewise commented.
    script_bytes: bytes = b""
    #: Declared safe to run twice by an `-- idempotent` line under its name: retried
    #: after a dead connection although it writes. Read once, at load.
    idempotent: bool = False
    #: Sent to the primary even though it only reads, by a `-- primary` line under its
    #: name (with read replicas configured). Read once, at load.
    primary: bool = False

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def where_in_sql(self, position: int) -> str:
        """`file:line` of a 1-based character position in `numbered`, as the server
        reports it in an error."""
        index = self.numbered[: max(position - 1, 0)].count("\n")
        line = self.line_map[min(index, len(self.line_map) - 1)] if self.line_map else self.line
        return f"{self.path}:{line}"

    def bind(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Check the parameters before anything is sent.

        Raises:
            QueryError: naming the query and the missing or unexpected parameter.
        """
        if len(params) == len(self.params) and all(p in params for p in self.params):
            return params  # the common case, checked in one pass
        missing = [p for p in self.params if p not in params]
        unexpected = sorted(set(params) - set(self.params))
        problems = []
        if missing:
            s = "s" if len(missing) > 1 else ""
            problems.append(f"is missing parameter{s} {', '.join(map(repr, missing))}")
        if unexpected:
            s = "s" if len(unexpected) > 1 else ""
            problems.append(f"got unexpected parameter{s} {', '.join(map(repr, unexpected))}")
        raise QueryError(
            f"query {self.name!r} ({self.where}) {' and '.join(problems)};"
            f" it takes: {', '.join(self.params) or 'none'}"
        )


def as_json(value: Any) -> Any:
    """`value` as a JSON parameter: psycopg would send a list as an array and a str as
    text. The generated typed methods call this for json/jsonb parameters."""
    return value if value is None or isinstance(value, Jsonb) else Jsonb(value)


class Catalog:
    """Every named query under a folder, by fully qualified name.

    Args:
        folder: the queries folder.
        comment: lead each statement with `/* persistence='name' */` (see _comment).

    Raises:
        QueryLoadError: on the first malformed file, naming it and the line; or when
            `folder` does not exist (an application started outside its project).
    """

    def __init__(self, folder: Path, *, comment: bool = True):
        self.folder = folder
        self.queries: dict[str, Query] = {}
        if not folder.is_dir():
            raise QueryLoadError(
                f"no queries folder {folder}: set PERSISTENCE_PROJECT to the project folder"
                " (or run from inside it), or set `queries` under [tool.persistence]"
            )
        for path in sorted(folder.rglob("*.sql")):
            namespace = path.relative_to(folder).with_suffix("").parts
            _check_namespace(path, namespace)
            for query in _load_file(path, list(namespace), comment):
                self.queries[query.name] = query
        _check_shadowing(folder, self.queries)

    def __getitem__(self, name: str) -> Query:
        try:
            return self.queries[name]
        except KeyError:
            raise QueryError(
                f"no query named {name!r} in {self.folder}"
                " (if the generated types name it, run `persistence types`)"
            ) from None

    def __iter__(self) -> Iterator[Query]:
        return iter(self.queries.values())

    def __len__(self) -> int:
        return len(self.queries)


def _load_file(path: Path, namespace: list[str], comment: bool = True) -> list[Query]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise _load_error(f"{path}: cannot read: {ex}") from None
    if "\x00" in text:
        # PostgreSQL's lexer (a C library) would stop reading at it, as the server would.
        where = 1 + _breaks(text[: text.index("\x00")])
        raise _load_error(f"{path}:{where}: a NUL character (\\x00); a query file is text")
    lines = _name_lines(path, text)
    chunks = _chunks(text, lines)
    _check_preamble(path, text, lines[0] if lines else None)
    loader = new_loader()
    queries = []
    # One definition at a time, so that an error is placed at its own name line.
    for line, chunk in zip(lines, chunks, strict=True):
        _check_body(path, line, chunk)
        try:
            (datum,) = loader.load_query_data_from_sql(chunk, namespace, path)
            _check_name(f"{path}:{line}", "query", datum.query_name.rpartition(".")[2], "")
            queries.append(_query(datum, path, line, _line_map(chunk, line), comment))
        except SQLParseException as ex:
            message = re.sub(r" at \S+:\d+", "", str(ex))  # aiosql's own (shifted) place
            raise _load_error(f"{path}:{line}: {message}") from None
        except SqlTextError as ex:
            raise _load_error(f"{path}:{line}: {ex}") from None
    return queries


def _check_namespace(path: Path, namespace: tuple[str, ...]) -> None:
    """Refuse a file or folder name that cannot be written `db.queries.<name>` (nor be
    a name in the typed module): `my-file.sql`, `2fa/`, `import.sql`."""
    *folders, stem = namespace
    for depth, part in enumerate(folders):
        where = path.parents[len(folders) - 1 - depth]
        _check_name(str(where), "folder", part, "")
    _check_name(str(path), "file", stem, ".sql")


def _check_shadowing(folder: Path, queries: dict[str, Query]) -> None:
    """Refuse a query named as a file or folder beside its own file (query `b` of
    a.sql and a/b.sql): `db.queries.a.b` would be both."""
    parts = [name.split(".")[:-1] for name in queries]
    namespaces = {".".join(p[:depth]) for p in parts for depth in range(1, len(p) + 1)}
    for name, query in queries.items():
        if name in namespaces:
            other = folder.joinpath(*name.split("."))
            raise _load_error(
                f"{query.where}: query {name.rpartition('.')[2]!r} has the name of"
                f" {other}(.sql) beside it, so `db.queries.{name}` would be both;"
                " rename one of them"
            )


def _check_name(where: str, what: str, name: str, suffix: str) -> None:
    if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__"):
        return
    rule = ""
    if keyword.iskeyword(name):
        why, fixed = "is a Python keyword: `db.queries` cannot reach it", name + "_"
    elif name.isidentifier():
        why = "starts with __, which Python mangles (or keeps for itself) in a class"
        fixed = name.strip("_")
    else:
        why, fixed = "is not a Python name: `db.queries` cannot reach it", re.sub(r"\W", "_", name)
        rule = " (letters, digits and _, not starting with a digit)"
    hint = f", e.g. {fixed}{suffix}" if fixed.isidentifier() else ""
    raise _load_error(f"{where}: {what} name {name!r} {why}; rename it{rule}{hint}")


def _check_preamble(path: Path, text: str, first: int | None) -> None:
    """Refuse SQL above the first `-- name:` line: aiosql drops it without a word, so a
    statement there would never run."""
    head = "".join(text.splitlines(keepends=True)[: first - 1 if first else None])
    starts = _statements(path, 1, head)
    if starts:
        where = 1 + _breaks(head[: starts[0]])
        raise _load_error(
            f"{path}:{where}: SQL before the first `-- name:` line would never run;"
            " give it a `-- name:` line, or make it a comment"
        )


def _check_body(path: Path, line: int, chunk: str) -> None:
    """Place a lexer error at its own line, and refuse a second statement in a query
    that is not a script (`#`): a forgotten `-- name:` line glues a statement onto
    the query above, which would then run both."""
    name_line, _, body = chunk.partition("\n")
    starts = _statements(path, line + 1, body)
    match = _NAME_LINE.match(name_line)
    if len(starts) > 1 and match is not None and not match["spec"].endswith("#"):
        second = line + 1 + _breaks(body[: starts[1]])
        name = re.split(r"[(\s^$!<*#]", match["spec"], maxsplit=1)[0]
        raise _load_error(
            f"{path}:{second}: a second statement in query {name!r} (named at line {line});"
            " is its own `-- name:` line missing? Only a script (`#`) runs several"
        )


def _statements(path: Path, line: int, sql: str) -> list[int]:
    """`statement_starts(sql)`, with a lexer error placed at the line of the fault
    (`sql` starts at file line `line`)."""
    try:
        return statement_starts(sql)
    except SqlTextError as ex:
        where = line + _breaks(sql[: ex.index])
        raise _load_error(f"{path}:{where}: {ex}") from None


def _breaks(text: str) -> int:
    # Line breaks as splitlines() counts them (a lone \r too), as _name_lines does.
    return len((text + "x").splitlines()) - 1


def _load_error(message: str) -> QueryLoadError:
    """A QueryLoadError whose message shows control characters from the file (or its
    name) escaped: one line, which cannot repaint a terminal or forge a log line."""
    if not message.isprintable():
        message = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    return QueryLoadError(message)


def _name_lines(path: Path, text: str) -> list[int]:
    """The line of each `-- name:`; a name defined twice is refused."""
    found: list[int] = []
    seen: dict[str, int] = {}
    all_lines = text.splitlines()
    for number, line in enumerate(all_lines, start=1):
        match = _NAME_LINE.match(line)
        if not match:
            _check_misspelt(path, number, line)
            continue
        name = re.split(r"[(\s^$!<*#]", match["spec"].replace("-", "_"), maxsplit=1)[0]
        if name in seen:
            raise _load_error(
                f"{path}:{number}: query {name!r} is defined twice; first at {path}:{seen[name]}"
            )
        seen[name] = number
        found.append(number)
    return found


def _check_misspelt(path: Path, number: int, line: str) -> None:
    """Refuse a comment that looks like a name line with a typo: aiosql reads only the
    exact `-- name:` and would drop the query (or glue it onto the one above) silently."""
    match = _LOOKS_LIKE_NAME.match(line)
    if match is None:
        return
    word = match["word"]
    # `--name x` (no colon) or a near miss with a colon (`-- nam: x`, `-- Name: x`).
    if (word == "name" and not match["colon"]) or (
        match["colon"] and difflib.get_close_matches(word.lower(), ["name"], cutoff=0.75)
    ):
        raise _load_error(
            f"{path}:{number}: {line.strip()!r} looks like a misspelt name line;"
            f" write `-- name: {match['spec'].strip()}` (or reword the comment)"
        )


def _chunks(text: str, lines: list[int]) -> list[str]:
    all_lines = text.splitlines(keepends=True)
    starts = [*lines, len(all_lines) + 1]
    return ["".join(all_lines[a - 1 : b - 1]) for a, b in itertools.pairwise(starts)]


def _line_map(chunk: str, line: int) -> tuple[int, ...]:
    """The file line of each line aiosql keeps as SQL: it drops the name line and every
    comment-only line, then strips blank lines at both ends."""
    kept = [
        (line + i, text)
        for i, text in enumerate(chunk.splitlines())
        if i > 0 and not text.lstrip().startswith("--")
    ]
    while kept and not kept[0][1].strip():
        kept.pop(0)
    return tuple(number for number, _ in kept)


def _query(
    datum: QueryDatum, path: Path, line: int, line_map: tuple[int, ...], commented: bool
) -> Query:
    converted = convert(datum.sql)
    # `-- idempotent` and `-- primary`: lines of their own under the name.
    flags = {line.strip().lower() for line in datum.doc_comments.splitlines()}
    name, sent, script = datum.query_name, converted.pyformat, converted.numbered
    if commented:
        # Scripts run without parameters (single %), the rest through psycopg's pyformat.
        sent = attach(sent, name, pyformat=True)
        script = attach(script, name)
    return Query(
        name=datum.query_name,
        operation=OPERATIONS[datum.operation_type],
        sql=converted.pyformat,
        numbered=converted.numbered,
        params=converted.params,
        optional=converted.optional,
        nullability=converted.nullability,
        path=path,
        line=line,
        line_map=line_map,
        doc=datum.doc_comments,
        sql_bytes=sent.encode(),
        script_bytes=script.encode(),
        idempotent="idempotent" in flags,
        primary="primary" in flags,
    )
