"""SQL for the repositories, composed with psycopg.sql and cached per statement shape.

No I/O here. Every identifier goes through `sql.Identifier`; every value is a `%s`
parameter. A name that is not a field of the dataclass is refused before any SQL is
composed, so a hostile filter key never reaches the server. Statements depend only on
the *shape* of a call (which columns, which operators), never on the values, so each
shape is composed once and kept as bytes.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter, is_, itemgetter
from typing import Any, LiteralString

import psycopg
from psycopg import abc, sql
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from ._comment import attach
from ._keyset import keyset
from .errors import ConfigurationError, DatabaseError, QueryError
from .fields import DEFAULT
from .filters import OPERATORS, Filter

__all__ = ["TableSpec"]


EMPTY = sql.SQL("")

#: What decides a WHERE clause: (column, comparison) pairs, never the values.
Shape = tuple[tuple[str, str], ...]

#: The condition for each comparison of a shape but the toolkit's operators (gt, like...).
_CONDITIONS: dict[str, LiteralString] = {
    "=": "{} = %s",
    "null": "{} is null",
    "notnull": "{} is not null",
    "any": "{} = any(%s)",
    "any_or_null": "({0} = any(%s) or {0} is null)",
    "between": "{} between %s and %s",
}

#: The function that builds a Filter of each operator, for errors.
_FUNCTIONS = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "like": "like", "ilike": "ilike"}


def _no_null(name: str, value: Filter) -> None:
    """Refuse a comparison with None, which SQL makes match no row."""
    if value.op == "between":
        if not (isinstance(value.value, tuple | list) and None in value.value):
            return
        call = "between(...) with a None end"
    elif value.value is not None or value.op == "<>":
        return
    else:
        call = f"{_FUNCTIONS[value.op]}(None)"
    raise QueryError(
        f"filter {name}={call} would match no row (a comparison with NULL is never true):"
        f" use {name}=None for IS NULL, {name}=ne(None) for IS NOT NULL"
    )


#: Column types whose binary COPY dumper takes a Python str. A str for another column (an
#: IP address for inet, a UUID as text) goes in a text COPY, parsed by the server, if its
#: field is annotated `str`; else it is refused (`TableSpec.check_sendable`).
STR_TYPES = frozenset({"text", "character varying", "character", "name", "citext", '"char"'})

#: Postgres truncates identifiers longer than this many bytes, silently.
MAX_IDENTIFIER = 63


def check_identifier(name: str, what: str) -> str:
    utf8 = name.encode(errors="ignore")  # drops a lone surrogate, which no name can hold
    if not name or "\x00" in name or len(utf8) > MAX_IDENTIFIER or utf8.decode() != name:
        raise ConfigurationError(
            f"{what} {name[:80]!r} is not a usable PostgreSQL name (empty, a NUL byte, not"
            f" valid UTF-8 text, or over {MAX_IDENTIFIER} bytes, which PostgreSQL would"
            " silently truncate)"
        )
    return name


def _check_operator(op: Any) -> LiteralString:
    """`op` if it is one of the toolkit's comparisons, else QueryError (nothing is sent)."""
    if isinstance(op, str) and op in OPERATORS:
        return OPERATORS[OPERATORS.index(op)]
    raise QueryError(
        f"unknown filter operator {str(op)[:40]!r}; use one of: {', '.join(OPERATORS)}"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class CopyGroup:
    """Rows that give values for the same columns: one COPY."""

    columns: tuple[str, ...]
    #: Each row's values for `columns`: a list, or (the first group) an iterator read once.
    rows: Iterable[tuple[Any, ...]]
    #: The place in `objs` (from 1) of the group's row at a place (from 0), for errors.
    place: Callable[[int], int] = (1).__add__


def _binary_oid(copy_type: str) -> int | None:
    """The oid binary COPY binds for a column of `copy_type`; None if psycopg lacks it."""
    info = psycopg.adapters.types.get(copy_type)
    return None if info is None else info.array_oid if copy_type[-2:] == "[]" else info.oid


def _dumping(oids: Sequence[int]) -> abc.Transformer:
    """What dumps a row as binary COPY does, for columns of these oids."""
    dumping = Transformer()
    dumping.set_dumper_types(oids, Format.BINARY)
    return dumping


#: What binary COPY can send for a narrow integer column: psycopg's binary dumpers for
#: int2 and int4 wrap a larger value around (2**31 would be stored as -2**31).
_INT_RANGES = {"smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1)}


#: The integer types, by the name PostgreSQL's "out of range" errors give them.
_RANGES = {**_INT_RANGES, "bigint": (-(2**63), 2**63 - 1)}
_BAD_INPUT = re.compile(r'invalid input syntax for type (.+?): "(.*)"')
_TOO_LONG = re.compile(r"value too long for type (character varying|character)\((\d+)\)")


def narrow_ints(copy_types: Sequence[str]) -> tuple[tuple[int, int, int], ...]:
    """(place, lowest, highest) of each narrow integer column among `copy_types`."""
    return tuple((i, *_INT_RANGES[t]) for i, t in enumerate(copy_types) if t in _INT_RANGES)


def _refusal(copy_type: str, value: Any) -> str | None:
    """What binary COPY refuses in `value` for a column of `copy_type`, or None."""
    low, high = _INT_RANGES.get(copy_type, (None, None))
    if type(value) is int and low is not None and not low <= value <= high:  # type: ignore[operator]
        return f"{value}, out of range"
    oid = _binary_oid(copy_type)
    if oid is None:
        return None
    try:
        _dumping([oid]).dump_sequence((value,), (PyFormat.BINARY,))
    except Exception:
        return _a(type(value).__name__)
    return None


def _a(noun: str) -> str:
    """`noun` with its indefinite article: "an int", "a str"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _str_fields(model: type) -> frozenset[str]:
    """The fields annotated `str` (or `str | None`): their values go as text.

    >>> Tagged = dataclasses.make_dataclass(
    ...     "Tagged", [("name", str), ("note", str | None), ("tags", list[str])])
    >>> sorted(_str_fields(Tagged))
    ['name', 'note']
    """
    try:
        hints = typing.get_type_hints(model)
    except Exception:  # an annotation that cannot be resolved: the table decides
        return frozenset()
    return frozenset(
        name
        for name, hint in hints.items()
        # str, or a union holding it (str | None); not list[str], a container of str
        if hint is str or (_is_union(hint) and str in typing.get_args(hint))
    )


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _names(columns: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


def _marks(count: int) -> sql.Composed:
    return sql.SQL(", ").join(sql.Placeholder() * count)


def _and(where: sql.Composable, condition: sql.Composable) -> sql.Composed:
    """`where` (a WHERE clause, or nothing) with one more condition."""
    joiner = sql.SQL(" where ") if where is EMPTY else sql.SQL(" and ")
    return sql.Composed([where, joiner, condition])


def _picker(key: tuple[bool, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """What keeps, of a row of every field, the values given (`key`: which are DEFAULT)."""
    given = [i for i, is_default in enumerate(key) if not is_default]
    if len(given) == len(key):
        return tuple  # a tuple already: returned as is
    if len(given) == 1:  # itemgetter of one index returns the value, not a 1-tuple
        return lambda row, i=given[0]: (row[i],)  # type: ignore[misc]
    return itemgetter(*given) if given else lambda row: ()


class TableSpec:
    """A dataclass mapped to a table: its columns, key, and the statements for them.

    Args:
        model: the dataclass; its fields are the columns.
        table, schema: where the rows live.
        primary_key: the key columns (several for a composite key).

    The statements, for a table with soft delete (a `deleted_at` column):

    >>> @dataclasses.dataclass
    ... class Item:
    ...     id: int
    ...     name: str
    ...     deleted_at: object = None
    >>> spec = TableSpec(Item, "items", None, ["id"])
    >>> shape, params = spec.where({"name": "pen"})
    >>> shape, params
    ((('name', '='), ('deleted_at', 'null')), ['pen'])
    >>> import textwrap
    >>> def show(stmt): print(textwrap.fill(stmt.as_string(), 88, subsequent_indent="  "))
    >>> show(spec.select(spec.where_sql(shape)))
    select "id", "name", "deleted_at" from "items" where "name" = %s and "deleted_at" is
      null
    >>> show(spec.find(shape, spec.order("-name")))
    select "id", "name", "deleted_at" from "items" where "name" = %s and "deleted_at" is
      null order by "name" desc limit %s offset %s
    >>> show(spec.count(shape))
    select count(*) from "items" where "name" = %s and "deleted_at" is null

    None in a list matches NULL too, as `name=None` does:

    >>> shape_null, params_null = spec.where({"name": ["pen", None]}, include_deleted=True)
    >>> show(spec.count(shape_null)), params_null
    select count(*) from "items" where ("name" = any(%s) or "name" is null)
    (None, [['pen']])
    >>> show(spec.exists(shape))
    select exists (select 1 from "items" where "name" = %s and "deleted_at" is null)
    >>> keys, desc = spec.page_keys(spec.order("-name"))
    >>> keys, desc
    (('name', 'id'), True)
    >>> show(spec.page(shape, keys, desc, nulls=(False, False)))
    select "id", "name", "deleted_at" from "items" where "name" = %s and "deleted_at" is
      null and ("name", "id") < (%s, %s) order by "name" desc, "id" desc limit %s

    After a cursor whose `name` is NULL (descending, NULLs come first), ascending after
    one that is not (NULLs come last), once the table said `name` may be NULL:

    >>> spec.learn_columns({"id": ("integer", True), "name": ("text", True),
    ...                     "deleted_at": ("timestamp with time zone", True)}, ["id"])
    >>> show(spec.page(shape, keys, desc, nulls=(True, False)))
    select "id", "name", "deleted_at" from "items" where "name" = %s and "deleted_at" is
      null and ("name" is not null or ("name" is null and ("id") < (%s))) order by "name"
      desc, "id" desc limit %s
    >>> show(spec.page((), ("name", "id"), False, nulls=(False, False)))
    select "id", "name", "deleted_at" from "items" where (("name", "id") > (%s, %s) or
      "name" is null) order by "name", "id" limit %s
    >>> show(spec.delete_where(shape))
    update "items" set deleted_at = now() where "name" = %s and "deleted_at" is null
    >>> key, _ = spec.key(7, include_deleted=True)
    >>> show(spec.delete(key))
    delete from "items" where "id" = %s
    >>> show(spec.set_deleted(key, deleted=True))
    update "items" set "deleted_at" = now() where "id" = %s and "deleted_at" is null
    >>> show(spec.set_deleted(key, deleted=False))
    update "items" set "deleted_at" = null where "id" = %s and "deleted_at" is not null
    >>> show(spec.insert_defaults())
    insert into "items" select from generate_series(1, %s)

    With a composite key, `get_many` matches the key columns against one array each:

    >>> pairs = TableSpec(Item, "items", "shop", ["id", "name"])
    >>> show(pairs.select_keys(pairs.where({})[0]))
    select "id", "name", "deleted_at" from "shop"."items" where "deleted_at" is null and
      ("id", "name") in (select * from unnest(%s, %s))
    """

    def __init__(
        self, model: type[Any], table: str, schema: str | None, primary_key: Sequence[str]
    ):
        if not dataclasses.is_dataclass(model):
            raise ConfigurationError(f"{model!r} is not a dataclass")
        self.model = model
        self.name = f"{schema}.{table}" if schema else table
        check_identifier(table, "table name")
        if schema is not None:
            check_identifier(schema, "schema name")
        self.table = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        #: The quoted name, for to_regclass(): unquoted, "Items" or "a.b" would resolve
        #: to another table (and PostgreSQL < 16 raises on names it cannot parse).
        self.regclass = self.table.as_string(None)
        self.fields = tuple(f.name for f in dataclasses.fields(model))
        self._field_set = frozenset(self.fields)
        for field in self.fields:
            check_identifier(field, f"field of {model.__name__}")
        self.primary_key = tuple(primary_key)
        if not self.primary_key:
            raise ConfigurationError(f"{model.__name__}: a repository needs a primary key")
        for key in self.primary_key:
            self.column(key, "primary key column")
        #: Soft delete: the table has `deleted_at`; delete() sets it.
        self.soft = "deleted_at" in self.fields
        # For a one-column key: the shape without, and with, soft-deleted rows.
        one = {self.primary_key[0]: 0} if len(self.primary_key) == 1 else None
        self._key_shapes = (self.where(one)[0], self.where(one, True)[0]) if one else None
        self._columns = _names(self.fields)
        # Every field of an object as a tuple, even for a one-field model.
        every = attrgetter(*self.fields)
        self._all_values: Callable[[Any], tuple[Any, ...]] = (
            every if len(self.fields) > 1 else lambda obj: (every(obj),)
        )
        self._cache: dict[Hashable, bytes] = {}
        self._metrics: dict[str, str] = {}
        #: Per column, the type name COPY binds, learnt from the table at first use.
        self.copy_types: dict[str, str] = {}
        #: The columns declared NOT NULL, learnt with `copy_types`.
        self.not_null: frozenset[str] = frozenset()
        self._binary: set[str] = set()
        self._json: frozenset[str] = frozenset()
        #: Per set of columns, what dumps their values as binary COPY would (None: text).
        self._dumping: dict[tuple[str, ...], abc.Transformer | None] = {}

    def learn_columns(
        self, columns: Mapping[str, tuple[str, bool]], not_null: Iterable[str] = ()
    ) -> None:
        """Check the fields against the table's columns {name: (copy type, binary ok)}
        (and learn which are NOT NULL).

        Raises:
            ConfigurationError: naming the fields the table lacks.
        """
        missing = [f for f in self.fields if f not in columns]
        if missing:
            raise ConfigurationError(
                f"{self.model.__name__} has field(s) {', '.join(missing)} that table"
                f" {self.name!r} lacks; its columns: {', '.join(columns)}"
            )
        self.copy_types = {name: copy_type for name, (copy_type, _) in columns.items()}
        self.not_null = frozenset(not_null)
        self._dumping = {}
        self._json = frozenset(c for c, t in self.copy_types.items() if t in ("json", "jsonb"))
        as_text = _str_fields(self.model)
        self._binary = {
            name
            for name, (copy_type, ok) in columns.items()
            if ok
            and psycopg.adapters.types.get(copy_type) is not None
            and (name not in as_text or copy_type in STR_TYPES)
        }

    def unsendable(
        self, operation: str, values: Mapping[str, Any], cause: Exception, row: int = 0
    ) -> DatabaseError:
        """The error for a row binary COPY cannot send (`cause`: the dumper's error; `row`:
        its place in a bulk load): which values, and what to do."""
        culprits = "; ".join(
            f"{c} ({self.copy_types[c]}) got {refusal}"
            for c, v in values.items()
            if (refusal := _refusal(self.copy_types.get(c, ""), v))
        )
        where = f"row {row}: " if row else ""
        metric = self.metric(operation)
        return DatabaseError(
            f"{where}{culprits or 'a value of another type than its column'}"
            f" ({type(cause).__name__}: {cause}): give a value of the column's Python type, or"
            f" annotate the field `str` to send it as text in {metric!r}",
            query=metric,
        )

    def check_sendable(self, operation: str, values: Mapping[str, Any]) -> None:
        """Refuse what binary COPY would refuse (a str for an integer, an int for a text
        column, a naive datetime for timestamptz), dumping the row as COPY dumps it, so
        that `insert` takes the rows `insert_many` takes: a row that has a column going as
        text goes as text whole, and the server parses it, in both. A JSON document is
        left to the JSON library, which names what it cannot encode."""
        columns = tuple(values)
        if columns not in self._dumping:  # once per set of columns
            oids = [_binary_oid(self.copy_types[c]) or 0 for c in columns]
            self._dumping[columns] = _dumping(oids) if self.copy_binary(columns) else None
        dumping = self._dumping[columns]
        if dumping is None:
            return
        try:
            dumping.dump_sequence(tuple(values.values()), (PyFormat.BINARY,) * len(columns))
        except Exception as ex:
            if any(
                c not in self._json and _refusal(self.copy_types[c], v) for c, v in values.items()
            ):
                raise self.unsendable(operation, values, ex) from None

    def culprits(self, error: DatabaseError, values: Mapping[str, Any]) -> tuple[str, ...]:
        """The columns whose value `error` (a data error of an insert or update of
        `values`) is about, where the server or the driver did not say: a NUL byte, an
        integer out of range, text its type cannot parse, text too long. For the error
        path only.

        >>> @dataclasses.dataclass
        ... class Row:
        ...     id: int
        ...     n: int
        ...     s: str
        >>> spec = TableSpec(Row, "rows", None, ["id"])
        >>> spec.learn_columns({"id": ("integer", True), "n": ("smallint", True),
        ...                     "s": ("character varying", True)})
        >>> def culprits(message, sqlstate=None, **values):
        ...     return spec.culprits(DatabaseError(message, sqlstate=sqlstate), values)
        >>> culprits("PostgreSQL text fields cannot contain NUL (0x00) bytes", s="a\\x00")
        ('s',)
        >>> culprits("smallint out of range", "22003", id=1, n=40_000)
        ('n',)
        >>> culprits('invalid input syntax for type integer: "lots"', "22P02", id="lots", n=1)
        ('id',)
        >>> culprits("value too long for type character varying(3)", "22001", s="long")
        ('s',)
        """
        message, types = str(error), self.copy_types
        if "NUL (0x00)" in message:
            return tuple(c for c, v in values.items() if isinstance(v, str) and "\x00" in v)
        if error.sqlstate == "22003" and (kind := message.split(" out of range")[0]) in _RANGES:
            low, high = _RANGES[kind]
            return tuple(
                c
                for c, v in values.items()
                if types.get(c) == kind and type(v) is int and not low <= v <= high
            )
        if error.sqlstate == "22P02" and (found := _BAD_INPUT.match(message)):
            kind, text = found.groups()
            of_kind = [c for c, v in values.items() if types.get(c) == kind]
            return tuple(c for c in of_kind if str(values[c]) == text) or tuple(of_kind)
        if error.sqlstate == "22001" and (found := _TOO_LONG.match(message)):
            kind, most = found[1], int(found[2])
            return tuple(
                c
                for c, v in values.items()
                if types.get(c) == kind and isinstance(v, str) and len(v) > most
            )
        return ()

    def copy_binary(self, columns: Iterable[str]) -> bool:
        """Whether binary COPY can send these columns (psycopg knows every type)."""
        return all(c in self._binary for c in columns)

    def column(self, name: Any, what: str = "filter") -> str:
        """`name` if it is a field of the model, else QueryError listing the valid names."""
        if isinstance(name, str) and name in self.fields:
            return name
        shown = repr(name[:80] + "..." if isinstance(name, str) and len(name) > 80 else name)
        raise QueryError(
            f"{what} {shown} is not a column of {self.model.__name__} ({self.name});"
            f" valid names: {', '.join(self.fields)}"
        )

    def metric(self, operation: str) -> str:
        """The name an operation is counted under in db.metrics: "users.get"."""
        found = self._metrics.get(operation)
        return found or self._metrics.setdefault(operation, f"{self.name}.{operation}")

    def statement(self, key: Hashable, build: Callable[[], sql.Composable]) -> bytes:
        """The statement for a call shape, composed on first use and then reused; it ends
        with the comment naming it (`/* persistence='users.get' */`: `key` starts with
        the operation), which a repository on a database with the comment off strips."""
        found = self._cache.get(key)
        if found is None:
            operation = str(key[0] if isinstance(key, tuple) else key)
            named = attach(build().as_string(None), self.metric(operation), pyformat=True)
            found = self._cache[key] = named.encode()
        return found

    # -- where clauses ------------------------------------------------------------------

    def where(
        self, filters: Mapping[str, Any], include_deleted: bool = False
    ) -> tuple[Shape, list[Any]]:
        """(shape, parameters) for keyword filters; `where_sql(shape)` is the clause.

        A value means equality, None means IS NULL, a list or tuple means = ANY (with
        None in it, or IS NULL), and a `Filter` (gt, between, like, ...) its own
        comparison; a comparison with None, which would match no row, is refused. Only
        the shape decides the SQL, so this does no composing: that happens once per
        shape, in where_sql.
        """
        shape: list[tuple[str, str]] = []
        params: list[Any] = []
        fields = self._field_set
        for name, value in filters.items():
            if name not in fields:
                self.column(name)  # raises, listing the valid names
            if isinstance(value, Filter):
                _check_operator(value.op)  # again: a Filter can be built around __post_init__
                _no_null(name, value)
                if value.op == "between":
                    params.extend(value.value)
                    shape.append((name, "between"))
                elif value.op == "<>" and value.value is None:
                    shape.append((name, "notnull"))
                else:
                    params.append(value.value)
                    shape.append((name, value.op))
            elif value is None:
                shape.append((name, "null"))
            elif isinstance(value, list | tuple | set | frozenset):
                # None in the list matches NULL, as name=None does (= any() never would).
                if None in value:
                    params.append([v for v in value if v is not None])
                    shape.append((name, "any_or_null"))
                else:
                    params.append(list(value))
                    shape.append((name, "any"))
            else:
                params.append(value)
                shape.append((name, "="))
        if self.soft and not include_deleted:
            shape.append(("deleted_at", "null"))
        return tuple(shape), params

    def where_sql(self, shape: Shape) -> sql.Composable:
        """The WHERE clause for a shape returned by `where`."""
        parts = [
            # The last line of defence: only the toolkit's operators become SQL text.
            sql.SQL(_CONDITIONS.get(kind) or "{} " + _check_operator(kind) + " %s").format(
                sql.Identifier(name)
            )
            for name, kind in shape
        ]
        return sql.SQL(" where ") + sql.SQL(" and ").join(parts) if parts else EMPTY

    def key(self, pk: Any, include_deleted: bool = False) -> tuple[Shape, list[Any]]:
        """(shape, parameters) selecting the row with primary key `pk`.

        The common case, one key column and a plain value, skips the general path: this
        runs on every get/update/delete, and the general path costs microseconds.
        """
        if self._key_shapes and not isinstance(pk, tuple | Mapping):
            if pk is None:
                raise QueryError(f"{self.name}: a primary key value cannot be None")
            return self._key_shapes[include_deleted], [pk]
        return self.where(self.key_filters(pk), include_deleted)

    def key_filters(self, pk: Any) -> dict[str, Any]:
        """The primary key value(s) as column filters: a scalar, a tuple, or a mapping."""
        key = self.primary_key
        if isinstance(pk, Mapping):
            if pk.keys() != set(key):
                got = ", ".join(map(str, pk))
                raise QueryError(f"{self.name}: a key needs exactly {', '.join(key)}, got {got}")
            return {k: pk[k] for k in key}
        values = pk if isinstance(pk, tuple) else (pk,)
        if len(values) != len(key):
            raise QueryError(
                f"{self.name}: the key is ({', '.join(key)}); got {len(values)} value(s)"
            )
        if any(v is None for v in values):
            raise QueryError(f"{self.name}: a primary key value cannot be None")
        return dict(zip(key, values, strict=True))

    def order(self, order_by: str | Sequence[str] | None) -> tuple[str, ...]:
        """Validated sort keys: "name", or "-name" for descending."""
        if order_by is None:
            return ()
        names = (order_by,) if isinstance(order_by, str) else tuple(order_by)
        for item in names:
            desc = isinstance(item, str) and item.startswith("-")
            self.column(item[1:] if desc else item, "order_by")
        return names

    def order_sql(self, names: tuple[str, ...]) -> sql.Composable:
        """ORDER BY for validated sort keys."""
        if not names:
            return EMPTY
        parts = [
            sql.SQL("{} desc").format(sql.Identifier(n[1:]))
            if n.startswith("-")
            else sql.Identifier(n)
            for n in names
        ]
        return sql.SQL(" order by ") + sql.SQL(", ").join(parts)

    # -- statements ---------------------------------------------------------------------

    def select(self, where: sql.Composable, tail: sql.Composable = EMPTY) -> sql.Composed:
        return sql.SQL("select {} from {}{}{}").format(self._columns, self.table, where, tail)

    def find(self, shape: Shape, names: tuple[str, ...]) -> sql.Composed:
        """Rows of a shape, in `order` order; parameters: the shape's, limit, offset."""
        return self.select(
            self.where_sql(shape), self.order_sql(names) + sql.SQL(" limit %s offset %s")
        )

    def select_keys(self, shape: Shape) -> sql.Composed:
        """Rows of a shape whose composite key is among the keys given as one array
        parameter per key column (after the shape's parameters)."""
        key = self.primary_key
        match = sql.SQL("({}) in (select * from unnest({}))").format(_names(key), _marks(len(key)))
        return self.select(_and(self.where_sql(shape), match))

    def count(self, shape: Shape) -> sql.Composed:
        return sql.SQL("select count(*) from {}{}").format(self.table, self.where_sql(shape))

    def exists(self, shape: Shape) -> sql.Composed:
        return sql.SQL("select exists (select 1 from {}{})").format(
            self.table, self.where_sql(shape)
        )

    def page_keys(self, names: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """(columns, descending) of a keyset page for sort keys from `order`: the sort
        columns then the rest of the primary key, all one direction.

        Raises:
            QueryError: the sort keys mix directions (a keyset compares one row value).
        """
        directions = {n.startswith("-") for n in names}
        if len(directions) > 1:
            raise QueryError(f"{self.name}.page: sort columns must all go the same direction")
        keys = [n.lstrip("-") for n in names]
        keys += [k for k in self.primary_key if k not in keys]
        return tuple(keys), directions == {True}

    def nullable(self, keys: tuple[str, ...]) -> tuple[bool, ...]:
        """Per key column, whether it may hold NULL (all may, until the table is read)."""
        return tuple(k not in self.not_null for k in keys)

    def page(
        self,
        shape: Shape,
        keys: tuple[str, ...],
        desc: bool,
        nulls: tuple[bool, ...] | None,
    ) -> sql.Composed:
        """A keyset page; parameters: the shape's, then `cursor(...)` (the previous
        page's last `keys` values; `nulls`: which of them are NULL, None for the first
        page), then the limit."""
        clause = self.where_sql(shape)
        if nulls is not None:
            clause = _and(clause, keyset(keys, desc, self.nullable(keys), nulls)[0])
        order = self.order_sql(tuple(f"-{k}" for k in keys) if desc else keys)
        return self.select(clause, order + sql.SQL(" limit %s"))

    def cursor(self, keys: tuple[str, ...], desc: bool, after: Sequence[Any]) -> list[Any]:
        """The parameters of a page's keyset condition, for the previous page's last
        values `after` (a NULL one is no parameter; some go twice)."""
        nulls = tuple(v is None for v in after)
        places = keyset(keys, desc, self.nullable(keys), nulls)[1]
        return [after[i] for i in places]

    def delete(self, shape: Shape) -> sql.Composed:
        """Delete for good, soft delete or not."""
        return sql.SQL("delete from {}{}").format(self.table, self.where_sql(shape))

    def delete_where(self, shape: Shape) -> sql.Composed:
        """Delete the rows of a shape: soft (set deleted_at) where the table has it."""
        if self.soft:
            return sql.SQL("update {} set deleted_at = now(){}").format(
                self.table, self.where_sql(shape)
            )
        return self.delete(shape)

    def set_deleted(self, shape: Shape, deleted: bool) -> sql.Composed:
        """Soft delete (or restore) the row of a key shape, if it is not already."""
        value, state = ("now()", "is null") if deleted else ("null", "is not null")
        column = sql.Identifier("deleted_at")
        return sql.SQL("update {} set {} = {}{} and {} {}").format(
            self.table, column, sql.SQL(value), self.where_sql(shape), column, sql.SQL(state)
        )

    def insert(self, columns: Sequence[str], conflict: sql.Composable = EMPTY) -> sql.Composed:
        body = sql.SQL("({}) values ({})").format(_names(columns), _marks(len(columns)))
        return sql.SQL("insert into {} {}{} returning {}").format(
            self.table, body if columns else sql.SQL("default values"), conflict, self._columns
        )

    def upsert_clause(self, conflict: Sequence[str], update: Sequence[str]) -> sql.Composable:
        target = sql.SQL(", ").join(sql.Identifier(self.column(c, "conflict")) for c in conflict)
        if not update:
            return sql.SQL(" on conflict ({}) do nothing").format(target)
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(self.column(c, "update")))
            for c in update
        )
        return sql.SQL(" on conflict ({}) do update set {}").format(target, sets)

    def update(self, columns: Sequence[str], where: sql.Composable) -> sql.Composed:
        sets = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(self.column(c, "update"))) for c in columns
        )
        return sql.SQL("update {} set {}{} returning {}").format(
            self.table, sets, where, self._columns
        )

    def copy(self, columns: Sequence[str], binary: bool) -> sql.Composed:
        fmt = sql.SQL(" (format binary)" if binary else "")
        return sql.SQL("copy {} ({}) from stdin{}").format(self.table, _names(columns), fmt)

    def copy_groups(self, objs: Iterable[Any]) -> Iterator[CopyGroup]:
        """The rows of `objs` for COPY, grouped by the fields they give a value (not left
        DEFAULT): one COPY names its columns once. One pass, without holding `objs`: the
        first group's `rows` yields the rows with the first object's DEFAULT fields as
        `objs` yields them, and keeps the others; once it is read to the end, the kept
        groups follow, in order of first appearance.

        >>> Tag = dataclasses.make_dataclass("Tag", ["name", ("id", int, DEFAULT)])
        >>> groups = TableSpec(Tag, "tags", None, ["id"]).copy_groups(
        ...     iter([Tag("a"), Tag("b", 1), Tag("c")]))
        >>> first = next(groups)
        >>> first.columns, list(first.rows)
        (('name',), [('a',), ('c',)])
        >>> [(g.columns, g.rows) for g in groups]
        [(('name', 'id'), [('b', 1)])]

        Raises (while `rows` is read):
            QueryError: an object is not of the model's class.
        """
        model, values = self.model, self._all_values
        defaults = (DEFAULT,) * len(self.fields)
        others: dict[tuple[bool, ...], list[tuple[int, tuple[Any, ...]]]] = {}

        def refuse(index: int, obj: Any) -> QueryError:  # counted from 1, as COPY's errors
            return QueryError(
                f"{self.name} stores {model.__name__}; row {index + 1} is a {type(obj).__name__}"
            )

        it = iter(objs)
        for first in it:
            if not isinstance(first, model):
                raise refuse(0, first)
            first_row = values(first)
            first_key = tuple(map(is_, first_row, defaults))
            break
        else:
            return

        def rows(pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
            yield pick(first_row)
            # Once per row of a bulk load: C-level calls only.
            for index, obj in enumerate(it, 1):
                if type(obj) is not model and not isinstance(obj, model):
                    raise refuse(index, obj)
                row = values(obj)
                key = tuple(map(is_, row, defaults))
                if key == first_key:
                    yield pick(row)
                else:
                    others.setdefault(key, []).append((index, row))

        def place(n: int) -> int:  # the rows read so far: the first n of the group, the kept
            return n + 1 + sum(map(len, others.values()))

        yield CopyGroup(self._given(first_key), rows(_picker(first_key)), place)
        for key, kept in others.items():
            pick, places = _picker(key), [index + 1 for index, _ in kept]
            yield CopyGroup(self._given(key), [pick(r) for _, r in kept], places.__getitem__)

    def _given(self, key: tuple[bool, ...]) -> tuple[str, ...]:
        """The columns a row gives a value, for its `key` (which fields are DEFAULT)."""
        return tuple(f for f, is_default in zip(self.fields, key, strict=True) if not is_default)

    def insert_defaults(self) -> sql.Composed:
        """Insert %s rows made only of column defaults (COPY needs a column): a query
        with no columns inserts every column's default."""
        return sql.SQL("insert into {} select from generate_series(1, %s)").format(self.table)

    def values(self, obj: Any, operation: str) -> dict[str, Any]:
        """The fields of `obj` that have a value (DEFAULT ones are left to the database),
        checked as `insert_many` checks them (`check_sendable`)."""
        if not isinstance(obj, self.model):
            raise QueryError(f"{self.name} stores {self.model.__name__}, not {type(obj).__name__}")
        found = {f: v for f in self.fields if (v := getattr(obj, f)) is not DEFAULT}
        self.check_sendable(operation, found)
        return self.adapt(found) if self._json else found

    def adapt(self, values: dict[str, Any]) -> dict[str, Any]:
        """Values bound for JSON columns wrapped as Jsonb: psycopg would send a list as
        a PostgreSQL array, and a str as text, where the column wants a JSON document."""
        for name in self._json.intersection(values):
            value = values[name]
            if value is not None and not isinstance(value, Jsonb):
                values[name] = Jsonb(value)
        return values

    def text_row(
        self, columns: Sequence[str]
    ) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
        """For a text COPY of `columns`, what wraps a row's JSON values as Jsonb (there,
        unlike binary COPY, no column type tells psycopg that a list is a document, not
        an array); None when no column holds JSON."""
        places = [i for i, c in enumerate(columns) if c in self._json]
        if not places:
            return None

        def wrap(row: tuple[Any, ...]) -> tuple[Any, ...]:
            wrapped = list(row)
            for i in places:
                if wrapped[i] is not None and not isinstance(wrapped[i], Jsonb):
                    wrapped[i] = Jsonb(wrapped[i])
            return tuple(wrapped)

        return wrap

    def columns_of(self, names: Iterable[str], what: str) -> tuple[str, ...]:
        return tuple(self.column(n, what) for n in names)
