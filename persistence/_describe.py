"""Describing named statements on a server, for the typed query module (`make types`).

Every named statement is prepared on a migrated database and described by the server
(`describe_prepared`: parameter types, result column names and types, and the table
and column each result column comes from). From that we write one module with:

- a frozen row dataclass per query that returns rows, with field types as psycopg
  returns them (UUID, Decimal, datetime, list for arrays, Literal for enums...);
- for each queries file a class whose methods take the parameters as typed keywords and
  return the row class, a value, or a row count, in a sync and an async flavour;
- `Queries(db)` / `AsyncQueries(db)` holding them: `Queries(db).users.get_user(id=...)`.

Types: what psycopg returns on the toolkit's connections (a type it has no loader for
comes back as its text: str; one it converts to something unknown here: Any).

Nullability: a column that comes straight from a table is NOT NULL when the table says
so, no outer join puts the table on its nullable side (directly, in a subquery or
through a CTE) and no ROLLUP, CUBE or GROUPING SETS may leave it out; a computed
column is read from its expression (_sqlshape: count(*), coalesce(x, 0), literals...
are never NULL). A quoted alias ending in `!` or `?` overrides that:
`count(*) as "total!"`. A parameter is typed `T | None` when the SQL tests it with IS
NULL (`:phase::text is null or ...`).
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.pq import ExecStatus, Format

from ._described import Column, Described
from ._sqlshape import Shape, never_null, shape
from ._typeinfo import register_types
from ._typerender import camel
from .queries import Catalog, Query

__all__ = ["DescribeError", "describe"]

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
    # An anonymous row (`select row(a, b)`): psycopg makes a tuple of its fields' text.
    "record": ("tuple[Any, ...]", ""),
}
# Range and multirange type name -> the _SCALARS name of their bounds.
_RANGES = {
    "int4range": "int4",
    "int8range": "int8",
    "numrange": "numeric",
    "daterange": "date",
    "tsrange": "timestamp",
    "tstzrange": "timestamptz",
}
_MULTIRANGES = {name.replace("range", "multirange"): bound for name, bound in _RANGES.items()}
# Names an enum alias must not take: those the generated module imports or defines.
_RESERVED = frozenset(
    {"Any", "Literal", "TypeAlias", "TypedDict", "Iterable", "Decimal", "UUID", "Range"}
    | {"Multirange", "Database", "AsyncDatabase", "QueryRunner", "AsyncQueryRunner", "Queries"}
    | {"AsyncQueries", "IPv4Address", "IPv6Address", "IPv4Interface", "IPv6Interface"}
    | {"IPv4Network", "IPv6Network", "Sequence", "Generator", "AsyncGenerator", "TypeVar"}
    | {"Unpack", "Page", "FilterValue", "NullableFilterValue", "M"}
)
# Names a typed method uses itself: a parameter of that name would hide them.
_TAKEN_PARAMS = {"self": "the instance", "cast": "typing.cast", "as_json": "to send JSON"}
# Every class the generated module defines ends with one of these (`NotesRow`,
# `ItemsFilters`, `UsersQueries`...); an enum alias never does: it gets "Enum" then.
_CLASS_SUFFIXES = ("Row", "Params", "Filters", "Changes", "Repository", "Queries")


class DescribeError(Exception):
    """A statement does not prepare, or its operator does not fit its result."""


def describe(conn: psycopg.Connection[Any], catalog: Catalog) -> tuple[list[Described], list[str]]:
    """Describe every query of `catalog` on `conn` (a migrated database).

    Returns the descriptions and the problems found, each naming file and line: a
    statement that does not prepare, an operator that does not fit the result, a column
    or parameter name that cannot be a Python name.
    """
    # The loaders every connection of the toolkit has: a type is annotated as what they
    # return, and a type they do not load comes back as text.
    register_types(conn)
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


def prepare_error(conn: psycopg.Connection[Any], query: Query) -> str | None:
    """Why `query` does not prepare on `conn` (file:line, name, the server's message),
    or None when it does. It stays prepared as the unnamed statement."""
    result = conn.pgconn.prepare(b"", query.numbered.encode())
    if result.status == ExecStatus.COMMAND_OK:
        return None
    message = (result.error_field(_DIAG_MESSAGE) or b"").decode()
    position = result.error_field(_DIAG_POSITION)
    where = query.where_in_sql(int(position)) if position else query.where
    return f"{where}: query {query.name!r}: {message}"


def _describe(conn: psycopg.Connection[Any], types: _TypeNames, query: Query) -> Described:
    if error := prepare_error(conn, query):
        raise DescribeError(error)
    pgconn = conn.pgconn
    desc = pgconn.describe_prepared(b"")
    out = Described(query)
    oids = [desc.param_type(i) for i in range(desc.nparams)]
    oids += [desc.ftype(i) for i in range(desc.nfields)]
    types.load(oids)

    tree = shape(query.numbered)
    table_oids = _oids(conn, tree.nullable_tables | {t for t, _ in tree.targets.values()})
    written_nullable = _nullable_targets(conn, tree, table_oids)
    not_null_params = set()
    for i, name in enumerate(query.params):
        if keyword.iskeyword(name):
            raise DescribeError(f"{query.where}: parameter {name!r} is a Python keyword; rename it")
        if name in _TAKEN_PARAMS or (name == "batch" and query.operation == "select"):
            raise DescribeError(
                f"{query.where}: parameter {name!r} of {query.name!r} is a name the typed"
                f" method uses ({_TAKEN_PARAMS.get(name, 'the rows per FETCH of its _stream')});"
                " rename it"
            )
        annotation = types.annotation(desc.param_type(i), out.imports)
        # None is a valid value for a parameter tested with IS NULL, or written to a
        # column that allows NULL (insert ... values, update ... set).
        if name in query.optional or (i + 1) in written_nullable:
            annotation = f"{annotation} | None"
        else:
            not_null_params.add(i + 1)
        out.params.append((name, annotation))
        if types.is_json(desc.param_type(i)):
            out.json_params.add(name)

    nullable_side = {table_oids[t] for t in tree.nullable_tables if t in table_oids}
    sources = [(desc.ftable(i), desc.ftablecol(i)) for i in range(desc.nfields)]
    attrs = _attributes(conn, sources)
    columns = _Columns(conn)
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
        attr = attrs.get(sources[i])
        nullable = query.nullability.get(name)
        if nullable is None and attr is not None:
            nullable = (
                sources[i][0] in nullable_side
                or not attr.not_null
                or tree.grouping_nulls(i, desc.nfields)
            )
        elif nullable is None:
            # Computed: never NULL only if every branch's expression says so.
            outputs = tree.outputs(i, desc.nfields)
            nullable = outputs is None or not all(
                never_null(node, scope, columns.not_null, frozenset(not_null_params))
                for node, scope in outputs
            )
        dims = attr.dims if attr is not None else 1
        annotation = types.annotation(desc.ftype(i), out.imports, result=True, dims=dims)
        comment = attr.comment if attr is not None else ""
        settable = attr is None or not attr.generated
        out.columns.append(Column(name, annotation, nullable, comment, settable))
    _check_shape(query, len(out.columns))
    whole = _whole_row_of(conn, sources)
    # The shared `<Table>Row` keeps the table's truth: a query that makes a column
    # nullable (an outer join) or not (an override) gets a row class of its own.
    if whole is not None and all(
        c.nullable == (not attrs[src].not_null) for c, src in zip(out.columns, sources, strict=True)
    ):
        out.table, out.table_schema, out.table_comment = whole
        out.table_key = _primary_key(conn, sources[0][0])
    if tree.always_inserts is not None:
        out.always_returns = not _may_drop_inserts(conn, tree.always_inserts)
    out.enums = dict(types.enums)
    return out


@dataclass(frozen=True, slots=True)
class _Attribute:
    not_null: bool
    #: Declared array dimensions (`int[][]`: 2); PostgreSQL does not enforce them.
    dims: int
    comment: str
    #: GENERATED ALWAYS (AS IDENTITY, or AS (...) STORED): an UPDATE may not set it.
    generated: bool = False


def _attributes(
    conn: psycopg.Connection[Any], sources: list[tuple[int, int]]
) -> dict[tuple[int, int], _Attribute]:
    """What the catalog says of the table columns the result columns come from."""
    wanted = [(t, c) for t, c in sources if t]
    if not wanted:
        return {}
    rows = conn.execute(
        "select attrelid::int8, attnum::int8, attnotnull, attndims,"
        " coalesce(col_description(attrelid, attnum), ''),"
        " attidentity = 'a' or attgenerated <> '' from pg_attribute"
        " where (attrelid::int8, attnum::int8)"
        " in (select * from unnest(%s::int8[], %s::int8[]))",
        ([t for t, _ in wanted], [c for _, c in wanted]),
    ).fetchall()
    return {
        (int(r[0]), int(r[1])): _Attribute(bool(r[2]), max(int(r[3]), 1), str(r[4]), bool(r[5]))
        for r in rows
    }


class _Columns:
    """Whether a table's column is NOT NULL, by the table's name as a statement writes
    it (None: no such column), for the expressions of computed result columns."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self._conn = conn
        self._tables: dict[str, dict[str, bool]] = {}

    def not_null(self, table: str, column: str) -> bool | None:
        if table not in self._tables:
            rows = self._conn.execute(
                "select attname, attnotnull from pg_attribute"
                " where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped",
                (table,),
            ).fetchall()
            self._tables[table] = {str(n): bool(nn) for n, nn in rows}
        return self._tables[table].get(column)


def _primary_key(conn: psycopg.Connection[Any], table: int) -> tuple[str, ...]:
    rows = conn.execute(
        "select a.attname from pg_index i"
        " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
        " where i.indrelid = %s and i.indisprimary"
        " order by array_position(i.indkey::int2[], a.attnum)",
        (table,),
    ).fetchall()
    return tuple(str(r[0]) for r in rows)


def _may_drop_inserts(conn: psycopg.Connection[Any], table: str) -> bool:
    """Whether a BEFORE INSERT row trigger or a rule on `table` may drop an inserted row
    (a trigger returning NULL, a DO INSTEAD rule)."""
    row = conn.execute(
        # The table and, if it is partitioned, its partitions.
        "with t as (select to_regclass(%s) as oid),"
        " tree as (select t.oid from t union select relid from t, pg_partition_tree(t.oid))"
        " select exists (select from pg_trigger where tgrelid in (select oid from tree)"
        "   and not tgisinternal and tgtype & 7 = 7)"  # ROW | BEFORE | INSERT
        " or exists (select from pg_rewrite where ev_class in (select oid from tree)"
        "   and ev_type = '3')",  # ON INSERT
        (table,),
    ).fetchone()
    return bool(row and row[0])


def _whole_row_of(
    conn: psycopg.Connection[Any], sources: list[tuple[int, int]]
) -> tuple[str, str, str] | None:
    """The table's name, schema ("" if the search_path finds the table by its name)
    and comment if the columns are exactly its columns, in order."""
    tables = {t for t, _ in sources}
    if len(tables) != 1 or 0 in tables:
        return None
    (table,) = tables
    row = conn.execute(
        "select c.relname, case when pg_table_is_visible(c.oid) then '' else n.nspname end,"
        " array_agg(a.attnum::int order by a.attnum),"
        " coalesce(obj_description(c.oid, 'pg_class'), '')"
        " from pg_class c join pg_attribute a on a.attrelid = c.oid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where c.oid = %s and a.attnum > 0 and not a.attisdropped"
        " group by c.oid, c.relname, n.nspname",
        (table,),
    ).fetchone()
    if row is None or list(row[2]) != [c for _, c in sources]:
        return None
    return str(row[0]), str(row[1]), str(row[3])


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


def _oids(conn: psycopg.Connection[Any], tables: Iterable[str]) -> dict[str, int]:
    """Table OIDs by the names as the statement writes them (search_path applies)."""
    names = sorted(tables)
    if not names:
        return {}
    rows = conn.execute(
        "select n, to_regclass(n)::oid::int8 from unnest(%s::text[]) as n", (names,)
    ).fetchall()
    return {str(n): int(oid) for n, oid in rows if oid is not None}


def _nullable_targets(conn: psycopg.Connection[Any], tree: Shape, oids: dict[str, int]) -> set[int]:
    """Numbers of the parameters written to a column that allows NULL."""
    found = set()
    for number, (table, column) in tree.targets.items():
        if table not in oids:
            continue
        row = conn.execute(
            "select not attnotnull from pg_attribute where attrelid = %s and attname = %s",
            (oids[table], column),
        ).fetchone()
        if row and row[0]:
            found.add(number)
    return found


@dataclass(frozen=True, slots=True)
class _PgType:
    name: str
    kind: str  # pg_type.typtype: b base, e enum, d domain, r range, m multirange, c composite
    elem: int
    base: int
    labels: list[str] | None
    comment: str


class _TypeNames:
    """Python annotations for type OIDs, from pg_type (enums, domains, arrays too)."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self._conn = conn
        self._types: dict[int, _PgType] = {}
        #: The enums met so far: alias -> (labels, COMMENT ON TYPE).
        self.enums: dict[str, tuple[tuple[str, ...], str]] = {}
        self._aliases: dict[int, str] = {}

    def load(self, oids: Iterable[int]) -> None:
        todo = sorted({o for o in oids if o and o not in self._types})
        while todo:
            rows = self._conn.execute(
                "select t.oid::int8, t.typname, t.typtype, t.typelem::int8, t.typbasetype::int8,"
                " (select array_agg(e.enumlabel order by e.enumsortorder) from pg_enum e"
                "   where e.enumtypid = t.oid),"
                " coalesce(obj_description(t.oid, 'pg_type'), '')"
                " from pg_type t where t.oid = any(%s)",
                (todo,),
            ).fetchall()
            for oid, name, kind, elem, base, labels, comment in rows:
                self._types[int(oid)] = _PgType(
                    str(name), str(kind), int(elem), int(base), labels, str(comment)
                )
            todo = sorted(
                {o for r in rows for o in (int(r[3]), int(r[4])) if o and o not in self._types}
            )

    def is_json(self, oid: int) -> bool:
        t = self._types.get(oid)
        return t is not None and t.name in ("json", "jsonb")

    def _loads(self, oid: int) -> bool:
        """Whether psycopg has a loader for `oid`; without one a value comes as str."""
        return self._conn.adapters.get_loader(oid, Format.TEXT) is not None

    def annotation(
        self, oid: int, imports: set[str], *, result: bool = False, dims: int = 1
    ) -> str:
        """The annotation of a parameter, or with `result` of a result column: what
        psycopg returns for it (`dims`: the array dimensions the column declares)."""
        t = self._types.get(oid) or _PgType("unknown", "b", 0, 0, None, "")
        if t.kind == "e" and t.labels:
            return self._enum(oid, t)
        if t.kind == "d" and t.base:
            return self.annotation(t.base, imports, result=result, dims=dims)
        if t.name.startswith("_") and t.elem:
            if result and not self._loads(oid):
                return "str"  # e.g. an array of a composite type: its text
            inner = self.annotation(t.elem, imports, result=result)
            for _ in range(dims):
                inner = f"list[{inner}]"
            return inner
        if result and not self._loads(oid):
            return "str"  # psycopg loads a type it does not know as its text
        for kinds, cls in ((_RANGES, "Range"), (_MULTIRANGES, "Multirange")):
            if t.name in kinds:
                inner, needs = _SCALARS[kinds[t.name]]
                imports.add(f"from persistence.queries import {cls}")
                imports.add(needs)
                return f"{cls}[{inner}]"
        if t.name not in _SCALARS:
            if not result:
                return "str"  # sent as text, for the server to cast
            imports.add("from typing import Any")
            return "Any"  # psycopg converts it to something we do not know: no guess
        annotation, needs = _SCALARS[t.name]
        imports.add(needs)
        if "Any" in annotation:
            imports.add("from typing import Any")
        return annotation

    def _enum(self, oid: int, t: _PgType) -> str:
        if not self._aliases:
            self._aliases = _enum_aliases(self._conn)
        alias = self._aliases[oid]
        self.enums[alias] = (tuple(t.labels or ()), t.comment)
        return alias


def _enum_aliases(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """An alias for every enum type of the database, by OID: the same on every run (no
    OID in it, whichever enums the queries use): `Mood` for the enum the search_path
    finds, `OtherMood` for `other.mood`; "Enum" is added to one that would take a name
    the module imports or defines, and a number to one that would still take another
    enum's (those on the search_path first, then those named in snake_case, then by
    schema and name)."""
    rows = conn.execute(
        "select t.oid::int8, n.nspname, t.typname, pg_type_is_visible(t.oid) as visible"
        " from pg_type t join pg_namespace n on n.oid = t.typnamespace"
        " where t.typtype = 'e' order by not pg_type_is_visible(t.oid),"
        # A plain snake_case name first: it keeps its alias when an odd one that reads
        # the same ("Order State!" beside order_state) is added later.
        " t.typname !~ '^[a-z_][a-z0-9_]*$', n.nspname, t.typname"
    ).fetchall()
    aliases: dict[int, str] = {}
    taken: set[str] = set()
    for oid, schema, name, visible in rows:
        alias = camel([str(name)] if visible else [str(schema), str(name)])
        if not alias.isidentifier():
            alias = f"Enum{alias}"  # `1st_choice`
        if alias in _RESERVED or alias.endswith(_CLASS_SUFFIXES):
            alias += "Enum"
        unique, n = alias, 1
        while unique in taken:
            n += 1
            unique = f"{alias}{n}"
        taken.add(unique)
        aliases[int(oid)] = unique
    return aliases
