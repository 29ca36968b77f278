"""Typed query modules, generated from the live schema (`make types`).

Every named statement is prepared on a migrated database and described by the server
(`describe_prepared`: parameter types, result column names and types, and the table
and column each result column comes from). From that we write one module with:

- a frozen row dataclass per query that returns rows, with field types as psycopg
  returns them (UUID, Decimal, datetime, list for arrays, Literal for enums...);
- for each queries file a class whose methods take the parameters as typed keywords and
  return the row class, a value, or a row count, in a sync and an async flavour;
- `Queries(db)` / `AsyncQueries(db)` holding them: `Queries(db).users.get_user(id=...)`.

Nullability: a column that comes straight from a table is NOT NULL when the table says
so and the statement has no outer join; a computed column is nullable. A quoted alias
ending in `!` or `?` overrides that: `count(*) as "total!"`. A parameter is typed
`T | None` when the SQL tests it with IS NULL (`:phase::text is null or ...`).
"""

from __future__ import annotations

import keyword
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pglast
import psycopg
from pglast import ast
from pglast.enums import JoinType
from psycopg import sql
from psycopg.pq import ExecStatus

from .queries import Catalog, Query

__all__ = ["Described", "describe", "format_source", "render"]

_DIAG_POSITION = ord("P")  # PG_DIAG_STATEMENT_POSITION
_DIAG_MESSAGE = ord("M")

# PostgreSQL type name -> (Python annotation, import line or "")
_SCALARS: dict[str, tuple[str, str]] = {
    "bool": ("bool", ""),
    **dict.fromkeys(("int2", "int4", "int8", "oid", "xid"), ("int", "")),
    **dict.fromkeys(("float4", "float8"), ("float", "")),
    "numeric": ("Decimal", "from decimal import Decimal"),
    **dict.fromkeys(("text", "varchar", "bpchar", "name", "citext", "char", "xml"), ("str", "")),
    "bytea": ("bytes", ""),
    "uuid": ("UUID", "from uuid import UUID"),
    "date": ("date", "from datetime import date"),
    "time": ("time", "from datetime import time"),
    "timetz": ("time", "from datetime import time"),
    "timestamp": ("datetime", "from datetime import datetime"),
    "timestamptz": ("datetime", "from datetime import datetime"),
    "interval": ("timedelta", "from datetime import timedelta"),
    "json": ("Any", ""),
    "jsonb": ("Any", ""),
    "inet": (
        "IPv4Address | IPv6Address | IPv4Interface | IPv6Interface",
        "from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface",
    ),
    "cidr": ("IPv4Network | IPv6Network", "from ipaddress import IPv4Network, IPv6Network"),
    "void": ("None", ""),
}
_RANGES = {
    "int4range": "int",
    "int8range": "int",
    "numrange": "Decimal",
    "daterange": "date",
    "tsrange": "datetime",
    "tstzrange": "datetime",
}


class DescribeError(Exception):
    """A statement does not prepare, or its operator does not fit its result."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    annotation: str
    nullable: bool


@dataclass(slots=True)
class Described:
    """A query with the types the server gave for its parameters and columns."""

    query: Query
    params: list[tuple[str, str]] = field(default_factory=list)  # (name, annotation)
    #: Parameters of type json/jsonb: the generated method sends them as Jsonb.
    json_params: set[str] = field(default_factory=set)
    columns: list[Column] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)
    #: The table whose whole row this is (`select *`, `returning *`), else None: such
    #: queries share one row class named after the table.
    table: str | None = None
    #: The row class's name, given by render().
    row_name: str = ""


def describe(conn: psycopg.Connection[Any], catalog: Catalog) -> tuple[list[Described], list[str]]:
    """Describe every query of `catalog` on `conn` (a migrated database).

    Returns the descriptions and the problems found, each naming file and line: a
    statement that does not prepare, an operator that does not fit the result, a column
    or parameter name that cannot be a Python name.
    """
    types = _TypeNames(conn)
    described, problems = [], []
    for query in catalog:
        if query.operation == "script":
            described.append(Described(query))  # scripts may hold several statements
            continue
        try:
            described.append(_describe(conn, types, query))
        except DescribeError as ex:
            problems.append(str(ex))
    return described, problems


def _describe(conn: psycopg.Connection[Any], types: _TypeNames, query: Query) -> Described:
    pgconn = conn.pgconn
    result = pgconn.prepare(b"", query.numbered.encode())
    if result.status != ExecStatus.COMMAND_OK:
        message = (result.error_field(_DIAG_MESSAGE) or b"").decode()
        position = result.error_field(_DIAG_POSITION)
        where = query.where_in_sql(int(position)) if position else query.where
        raise DescribeError(f"{where}: query {query.name!r}: {message}")
    desc = pgconn.describe_prepared(b"")
    out = Described(query)
    oids = [desc.param_type(i) for i in range(desc.nparams)]
    oids += [desc.ftype(i) for i in range(desc.nfields)]
    types.load(oids)

    shape = _shape(query.numbered)
    table_oids = _oids(conn, shape.nullable_tables | {t for t, _ in shape.targets.values()})
    written_nullable = _nullable_targets(conn, shape, table_oids)
    for i, name in enumerate(query.params):
        if keyword.iskeyword(name):
            raise DescribeError(f"{query.where}: parameter {name!r} is a Python keyword; rename it")
        annotation = types.annotation(desc.param_type(i), out.imports)
        # None is a valid value for a parameter tested with IS NULL, or written to a
        # column that allows NULL (insert ... values, update ... set).
        if name in query.optional or (i + 1) in written_nullable:
            annotation = f"{annotation} | None"
        out.params.append((name, annotation))
        if types.is_json(desc.param_type(i)):
            out.json_params.add(name)

    nullable_side = {table_oids[t] for t in shape.nullable_tables if t in table_oids}
    sources = [(desc.ftable(i), desc.ftablecol(i)) for i in range(desc.nfields)]
    not_null = _not_null(conn, sources)
    for i in range(desc.nfields):
        name = (desc.fname(i) or b"").decode()
        if not name.isidentifier() or keyword.iskeyword(name):
            raise DescribeError(
                f"{query.where}: column {i + 1} of {query.name!r} is named {name!r}, which"
                " cannot be a field name; give it an alias: ... as some_name"
            )
        if name in (c.name for c in out.columns):
            raise DescribeError(
                f"{query.where}: {query.name!r} returns two columns named {name!r};"
                " alias one of them"
            )
        nullable = query.nullability.get(name)
        if nullable is None:
            nullable = sources[i][0] in nullable_side or not not_null[i]
        annotation = types.annotation(desc.ftype(i), out.imports)
        out.columns.append(Column(name, annotation, nullable))
    _check_shape(query, len(out.columns))
    out.table = _whole_row_of(conn, sources)
    return out


def _whole_row_of(conn: psycopg.Connection[Any], sources: list[tuple[int, int]]) -> str | None:
    """The table's name if the columns are exactly its columns, in order."""
    tables = {t for t, _ in sources}
    if len(tables) != 1 or 0 in tables:
        return None
    (table,) = tables
    row = conn.execute(
        "select c.relname, array_agg(a.attnum::int order by a.attnum)"
        " from pg_class c join pg_attribute a on a.attrelid = c.oid"
        " where c.oid = %s and a.attnum > 0 and not a.attisdropped group by c.relname",
        (table,),
    ).fetchone()
    if row is None or list(row[1]) != [c for _, c in sources]:
        return None
    return str(row[0])


def _check_shape(query: Query, ncols: int) -> None:
    problem = None
    op = query.operation
    if op == "select_value" and ncols != 1:
        problem = f"`$` returns one value, but the statement returns {ncols} columns"
    elif op in ("select", "select_one", "insert_returning") and ncols == 0:
        problem = "the statement returns no columns; use `!` for a row count"
    elif op in ("execute", "execute_many") and ncols:
        problem = "the statement returns columns (RETURNING?): use `<!` or `^`"
    if problem:
        raise DescribeError(f"{query.where}: query {query.name!r}: {problem}")


def _not_null(conn: psycopg.Connection[Any], sources: list[tuple[int, int]]) -> list[bool]:
    wanted = [(t, c) for t, c in sources if t]
    known: dict[tuple[int, int], bool] = {}
    if wanted:
        rows = conn.execute(
            "select attrelid::int8, attnum::int8, attnotnull from pg_attribute"
            " where (attrelid::int8, attnum::int8)"
            " in (select * from unnest(%s::int8[], %s::int8[]))",
            ([t for t, _ in wanted], [c for _, c in wanted]),
        ).fetchall()
        known = {(int(r[0]), int(r[1])): bool(r[2]) for r in rows}
    return [known.get(src, False) for src in sources]


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the parse tree says about nullability: the tables on the nullable side of an
    outer join, and the table column each insert/update parameter is written to."""

    nullable_tables: frozenset[str]
    targets: dict[int, tuple[str, str]]  # $n -> (table as written, column)


def _shape(sql: str) -> _Shape:
    try:
        (raw,) = pglast.parse_sql(sql)
    except (pglast.parser.ParseError, ValueError):
        return _Shape(frozenset(), {})
    nullable: set[str] = set()
    targets: dict[int, tuple[str, str]] = {}

    def written(table: str, column: Any, value: Any) -> None:
        if isinstance(value, ast.ParamRef) and value.number is not None:
            targets[value.number] = (table, str(column))

    node: Any  # pglast's nodes type every attribute as optional
    for node in _walk(raw.stmt):
        if isinstance(node, ast.JoinExpr):
            if node.jointype in (JoinType.JOIN_LEFT, JoinType.JOIN_FULL):
                nullable |= _tables(node.rarg)
            if node.jointype in (JoinType.JOIN_RIGHT, JoinType.JOIN_FULL):
                nullable |= _tables(node.larg)
        elif isinstance(node, ast.InsertStmt) and node.relation is not None:
            table = _name(node.relation)
            select: Any = node.selectStmt
            for values in (select.valuesLists or ()) if select is not None else ():
                for col, value in zip(node.cols or (), values, strict=False):
                    written(table, col.name, value)
            conflict: Any = node.onConflictClause
            for target in (conflict.targetList or ()) if conflict is not None else ():
                written(table, target.name, target.val)
        elif isinstance(node, ast.UpdateStmt) and node.relation is not None:
            table = _name(node.relation)
            for target in node.targetList or ():
                written(table, target.name, target.val)
    return _Shape(frozenset(nullable), targets)


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, ast.Node):
        yield node
        for attr in getattr(type(node), "__slots__", ()):
            yield from _walk(getattr(node, attr, None))


def _tables(node: Any) -> set[str]:
    return {_name(n) for n in _walk(node) if isinstance(n, ast.RangeVar)}


def _name(rv: ast.RangeVar) -> str:
    """The relation as a quoted name for to_regclass (the parser already folded case)."""
    parts = [p for p in (rv.schemaname, rv.relname) if p]
    return sql.Identifier(*parts).as_string(None)


def _oids(conn: psycopg.Connection[Any], tables: Iterable[str]) -> dict[str, int]:
    """Table OIDs by the names as the statement writes them (search_path applies)."""
    names = sorted(tables)
    if not names:
        return {}
    rows = conn.execute(
        "select n, to_regclass(n)::oid::int8 from unnest(%s::text[]) as n", (names,)
    ).fetchall()
    return {str(n): int(oid) for n, oid in rows if oid is not None}


def _nullable_targets(
    conn: psycopg.Connection[Any], shape: _Shape, oids: dict[str, int]
) -> set[int]:
    """Numbers of the parameters written to a column that allows NULL."""
    found = set()
    for number, (table, column) in shape.targets.items():
        if table not in oids:
            continue
        row = conn.execute(
            "select not attnotnull from pg_attribute where attrelid = %s and attname = %s",
            (oids[table], column),
        ).fetchone()
        if row and row[0]:
            found.add(number)
    return found


class _TypeNames:
    """Python annotations for type OIDs, from pg_type (enums, domains, arrays too)."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self._conn = conn
        self._types: dict[int, tuple[str, str, int, int, list[str] | None]] = {}

    def load(self, oids: Iterable[int]) -> None:
        todo = sorted({o for o in oids if o and o not in self._types})
        while todo:
            rows = self._conn.execute(
                "select t.oid::int8, t.typname, t.typtype, t.typelem::int8, t.typbasetype::int8,"
                " (select array_agg(e.enumlabel order by e.enumsortorder) from pg_enum e"
                "   where e.enumtypid = t.oid)"
                " from pg_type t where t.oid = any(%s)",
                (todo,),
            ).fetchall()
            for oid, name, kind, elem, base, labels in rows:
                self._types[int(oid)] = (str(name), str(kind), int(elem), int(base), labels)
            todo = sorted(
                {o for r in rows for o in (int(r[3]), int(r[4])) if o and o not in self._types}
            )

    def is_json(self, oid: int) -> bool:
        return self._types.get(oid, ("",))[0] in ("json", "jsonb")

    def annotation(self, oid: int, imports: set[str]) -> str:
        name, kind, elem, base, labels = self._types.get(oid, ("unknown", "b", 0, 0, None))
        if kind == "e" and labels:
            imports.add("from typing import Literal")
            return "Literal[" + ", ".join(repr(label) for label in labels) + "]"
        if kind == "d" and base:
            return self.annotation(base, imports)
        if name.startswith("_") and elem:
            return f"list[{self.annotation(elem, imports)}]"
        if name in _RANGES:
            inner = _RANGES[name]
            imports.add("from psycopg.types.range import Range")
            imports.add(
                _SCALARS[
                    {
                        "Decimal": "numeric",
                        "date": "date",
                        "datetime": "timestamptz",
                        "int": "int4",
                    }[inner]
                ][1]
            )
            return f"Range[{inner}]"
        annotation, needs = _SCALARS.get(name, ("str", ""))  # psycopg loads unknowns as str
        if needs:
            imports.add(needs)
        if annotation == "Any":
            imports.add("from typing import Any")
        return annotation


# -- rendering ------------------------------------------------------------------------


def render(described: list[Described], source: str) -> str:
    """The typed module for `described`, as Python source."""
    imports: set[str] = {"from dataclasses import dataclass"}
    for d in described:
        imports |= {i for i in d.imports if i}
    if any(
        d.query.operation in ("select_value", "insert_returning") and not _returns_row(d)
        for d in described
    ):
        imports.add("from typing import cast")
    needs_iterable = any(d.query.operation == "execute_many" for d in described)
    if needs_iterable:
        imports.add("from collections.abc import Iterable")
        imports.add("from typing import TypedDict")
    std = sorted(i for i in imports if not i.startswith("from psycopg"))
    third = sorted(i for i in imports if i.startswith("from psycopg"))
    out = [
        f"# Generated by `persistence types` from {source}: DO NOT EDIT.",
        '"""Typed named queries: row classes and query methods, from the live schema."""',
        "",
        "from __future__ import annotations",
        "",
        *_merge_imports(std),
        "",
        *([*_merge_imports(third), ""] if third else []),
        "from persistence import AsyncDatabase, Database",
        *(
            ["from persistence.queries import as_json"]
            if any(d.json_params for d in described)
            else []
        ),
        "from persistence.query_runner import QueryRunner",
        "from persistence.query_runner_async import AsyncQueryRunner",
        "",
    ]
    _name_rows(described)
    written: set[str] = set()
    for d in described:
        out += _row_class(d, written)
    groups: dict[tuple[str, ...], list[Described]] = {}
    for d in described:
        groups.setdefault(tuple(d.query.name.split(".")[:-1]), []).append(d)
    tree = _tree(groups)
    for is_async in (False, True):
        for ns, members in groups.items():
            out += _group_class(ns, members, is_async, tree.get(ns, []))
        for ns in sorted(set(tree) - set(groups), key=len, reverse=True):
            out += _group_class(ns, [], is_async, tree[ns])
    return "\n".join(out).rstrip() + "\n"


def _merge_imports(lines: list[str]) -> list[str]:
    merged: dict[str, set[str]] = {}
    for line in lines:
        module, names = line[len("from ") :].split(" import ")
        merged.setdefault(module, set()).update(n.strip() for n in names.split(","))
    return [f"from {m} import {', '.join(sorted(n))}" for m, n in sorted(merged.items())]


def _tree(groups: dict[tuple[str, ...], list[Described]]) -> dict[tuple[str, ...], list[str]]:
    """For each namespace, its child namespaces (the root is ())."""
    children: dict[tuple[str, ...], set[str]] = {}
    for ns in groups:
        for depth in range(len(ns)):
            children.setdefault(ns[:depth], set()).add(ns[depth])
    return {k: sorted(v) for k, v in children.items()}


def _camel(parts: Iterable[str]) -> str:
    return "".join(p[:1].upper() + p[1:] for part in parts for p in re.split(r"_+", part))


def _name_rows(described: list[Described]) -> None:
    """Name the row classes: `<Table>Row` for a whole table row (shared by every query
    returning one), else `<Query>Row`, or `<Query>QueryRow` if a table took that name."""
    whole = {d.table for d in described if d.table is not None}
    taken = {_camel([t]) + "Row" for t in whole}
    for d in described:
        if d.table is not None:
            d.row_name = _camel([d.table]) + "Row"
        else:
            name = _camel(d.query.name.split(".")[-1:]) + "Row"
            d.row_name = name if name not in taken else name[: -len("Row")] + "QueryRow"


def _returns_row(d: Described) -> bool:
    op = d.query.operation
    return op in ("select", "select_one") or (op == "insert_returning" and len(d.columns) > 1)


def _row_class(d: Described, written: set[str]) -> list[str]:
    if _returns_row(d):
        name = d.row_name
        if name in written:
            return []  # another query returns the same whole table row
        written.add(name)
        lines = ["", "", "@dataclass(frozen=True, slots=True)", f"class {name}:"]
        what = (
            f"A row of table {d.table}"
            if name.endswith(f"{_camel([d.table or ''])}Row") and d.table
            else f"Row of {d.query.name} ({d.query.path.name}:{d.query.line})"
        )
        lines.append(f'    """{what}."""')
        lines.append("")
        lines += [
            f"    {c.name}: {c.annotation}{' | None' if c.nullable else ''}" for c in d.columns
        ]
        return lines
    if d.query.operation == "execute_many":
        name = _camel(d.query.name.split(".")[-1:]) + "Params"
        lines = ["", "", f"class {name}(TypedDict):"]
        lines.append(f'    """Parameters of one {d.query.name} row."""')
        lines.append("")
        lines += [f"    {p}: {a}" for p, a in d.params]
        return lines
    return []


def _group_class(
    ns: tuple[str, ...], members: list[Described], is_async: bool, children: list[str]
) -> list[str]:
    prefix = "Async" if is_async else ""
    cls = f"{prefix}{_camel(ns) or ''}Queries" if ns else f"{prefix}Queries"
    runner = "AsyncQueryRunner" if is_async else "QueryRunner"
    db = "AsyncDatabase" if is_async else "Database"
    lines = ["", "", f"class {cls}:"]
    source = f"{'/'.join(ns)}.sql" if members else "/".join(ns) or "the queries folder"
    lines.append(f'    """Named queries of {source}."""')
    lines.append("")
    if ns:
        lines.append(f"    def __init__(self, runner: {runner}) -> None:")
        lines.append("        self._runner = runner")
    else:
        lines.append(f"    def __init__(self, db: {db}) -> None:")
        lines.append("        runner = db.queries")
        lines.append("        self._runner = runner")
    for child in children:
        child_cls = f"{prefix}{_camel((*ns, child))}Queries"
        lines.append(f"        self.{child} = {child_cls}(runner)")
    for d in members:
        lines.append(
            f"        self._{d.query.name.split('.')[-1]} = runner.query({d.query.name!r})"
        )
    for d in members:
        lines += _method(d, is_async)
    return lines


def _method(d: Described, is_async: bool) -> list[str]:
    q = d.query
    short = q.name.split(".")[-1]
    op = q.operation
    # A list or a str for a JSON parameter would be sent as an array or text: wrap it.
    params = (
        "{"
        + ", ".join(
            f"{p!r}: as_json({p})" if p in d.json_params else f"{p!r}: {p}" for p, _ in d.params
        )
        + "}"
    )
    aw = "await " if is_async else ""
    if _returns_row(d):
        row = d.row_name
        returns = f"list[{row}]" if op == "select" else f"{row} | None"
        call = f"{'all' if op == 'select' else 'one'}(self._{short}, {params}, {row})"
        body = f"return {aw}self._runner.{call}"
    elif op in ("select_value", "insert_returning"):
        col = d.columns[0]
        nullable = col.nullable or op == "insert_returning"  # <! may match no row
        returns = f"{col.annotation}{' | None' if nullable else ''}"
        # The runner returns Any for a value: the server's description gives the type.
        body = f"return cast({returns!r}, {aw}self._runner.value(self._{short}, {params}))"
    elif op == "execute":
        returns, body = "int", f"return {aw}self._runner.execute(self._{short}, {params})"
    elif op == "execute_many":
        returns, body = "int", f"return {aw}self._runner.execute_many(self._{short}, rows)"
    else:
        returns, body = "str", f"return {aw}self._runner.script(self._{short})"

    if op == "execute_many":
        args = [f"rows: Iterable[{_camel([short])}Params]"]
    else:
        args = ["*", *(f"{p}: {a}" for p, a in d.params)] if d.params else []
    # The query's doc comment, wrapped to fit the line length, then where it is defined.
    doc = [
        line
        for para in (q.doc.strip().replace('"' * 3, "'" * 3) or q.name).splitlines()
        for line in textwrap.wrap(para, 84) or [""]
    ]
    where = f"({q.path.name}:{q.line})"
    if len(doc) == 1 and len(doc[0]) + len(where) <= 82:
        text = f"{doc[0]} {where}"
    else:
        text = "\n".join([doc[0], "", *doc[1:], where, ""])
    quote = '"' * 3
    signature = ", ".join(["self", *args])
    return [
        "",
        f"    {'async ' if is_async else ''}def {short}({signature}) -> {returns}:",
        f"        {quote}{text}{quote}".replace("\n", "\n        ").replace("        \n", "\n"),
        f"        {body}",
    ]


def format_source(source: str, path: Path) -> str:
    """`source` formatted by ruff with the project's settings when ruff is installed (a
    development dependency, as `make types` is a development step); else unchanged."""
    ruff = Path(sys.executable).with_name("ruff")
    exe = str(ruff) if ruff.exists() else shutil.which("ruff")
    if exe is None:
        return source
    for args in (["check", "--fix-only", "--exit-zero", "-q"], ["format", "-q"]):
        done = subprocess.run(
            [exe, *args, "--stdin-filename", str(path), "-"],
            input=source,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout:
            source = done.stdout
    return source
