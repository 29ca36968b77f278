"""SQL for the repositories, composed with psycopg.sql and cached per statement shape.

No I/O here. Every identifier goes through `sql.Identifier`; every value is a `%s`
parameter. A name that is not a field of the dataclass is refused before any SQL is
composed, so a hostile filter key never reaches the server. Statements depend only on
the *shape* of a call (which columns, which operators), never on the values, so each
shape is composed once and kept as bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, LiteralString

from psycopg import sql

from ._comment import attach
from ._copyrows import CopyRows
from ._keyset import keyset
from .errors import ConfigurationError, QueryError
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


#: The temporary table `upsert_many` copies its rows into, then merges from.
STAGE = sql.Identifier("_persistence_upsert")
DROP_STAGE = sql.SQL("drop table {}").format(STAGE)


def create_stage(table: sql.Composable, columns: Sequence[str]) -> sql.Composed:
    """A temporary table with the columns' types and no constraint (a row is checked
    once, by the table it goes to).

    >>> print(create_stage(sql.Identifier("items"), ["sku", "name"]).as_string(None))
    create temporary table "_persistence_upsert" on commit drop as select "sku", "name" from "items" with no data
    """  # noqa: E501
    return sql.SQL(
        "create temporary table {} on commit drop as select {} from {} with no data"
    ).format(STAGE, _names(columns), table)


def _names(columns: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


def _marks(count: int) -> sql.Composed:
    return sql.SQL(", ").join(sql.Placeholder() * count)


def _and(where: sql.Composable, condition: sql.Composable) -> sql.Composed:
    """`where` (a WHERE clause, or nothing) with one more condition."""
    joiner = sql.SQL(" where ") if where is EMPTY else sql.SQL(" and ")
    return sql.Composed([where, joiner, condition])


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
        self._cache: dict[Hashable, bytes] = {}
        self._metrics: dict[str, str] = {}
        #: The objects as rows: for COPY, for `insert`, for errors.
        self.rows = CopyRows(model, self.name, self.metric)
        #: The columns declared NOT NULL, learnt from the table at first use.
        self.not_null: frozenset[str] = frozenset()

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
        self.rows.learn(columns)
        self.not_null = frozenset(not_null)

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

    def merge(
        self, columns: Sequence[str], conflict: Sequence[str], update: Sequence[str]
    ) -> sql.Composed:
        """One INSERT ... ON CONFLICT from the stage, counting inserted and updated rows:
        a row the statement inserted has xmax = 0; a row it updated carries its own xid.

        >>> @dataclasses.dataclass
        ... class T:
        ...     k: int
        ...     v: str
        >>> print(TableSpec(T, "t", None, ["k"]).merge(["k", "v"], ["k"], ["v"]).as_string(None))
        with done as (insert into "t" ("k", "v") select "k", "v" from "_persistence_upsert" on conflict ("k") do update set "v" = excluded."v" returning xmax = 0 as inserted) select count(*) filter (where inserted), count(*) filter (where not inserted) from done
        """  # noqa: E501
        return sql.SQL(
            "with done as (insert into {table} ({cols}) select {cols} from {stage}{action}"
            " returning xmax = 0 as inserted)"
            " select count(*) filter (where inserted), count(*) filter (where not inserted)"
            " from done"
        ).format(
            table=self.table,
            cols=_names(columns),
            stage=STAGE,
            action=self.upsert_clause(conflict, update),
        )

    def copy(
        self, columns: Sequence[str], binary: bool, into: sql.Composable | None = None
    ) -> sql.Composed:
        """COPY FROM STDIN into the table, or `into` (`STAGE`)."""
        fmt = sql.SQL(" (format binary)" if binary else "")
        table = self.table if into is None else into
        return sql.SQL("copy {} ({}) from stdin{}").format(table, _names(columns), fmt)

    def insert_defaults(self) -> sql.Composed:
        """Insert %s rows made only of column defaults (COPY needs a column): a query
        with no columns inserts every column's default."""
        return sql.SQL("insert into {} select from generate_series(1, %s)").format(self.table)

    def columns_of(self, names: Iterable[str], what: str) -> tuple[str, ...]:
        return tuple(self.column(n, what) for n in names)
