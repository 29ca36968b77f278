"""AsyncBaseRepository[T]: everyday CRUD for a dataclass mapped to a table.

The sync twin is generated from this file.

    @dataclass
    class User:
        id: UUID = DEFAULT          # filled in by the database
        email: str = ""
        created_at: datetime = DEFAULT

    class Users(AsyncBaseRepository[User]):
        table = "users"

    users = Users(db)
    ada = await users.insert(User(email="ada@example.com"))
    await users.find(email=["ada@example.com", "bob@example.com"], order_by="-created_at")

Statements are composed with psycopg.sql once per call shape; rows map through
psycopg's `class_row`. The dataclass fields are checked against the table on first
use. Every operation runs through the database (the current transaction's connection
inside `db.transaction()`, else a pooled one) and is counted in `db.metrics` as
"<table>.<operation>".
"""

from __future__ import annotations

import struct
import typing
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence
from contextlib import aclosing, contextmanager
from operator import attrgetter
from typing import Any, ClassVar, Generic, TypeVar

from psycopg import AsyncConnection, AsyncCopy, sql
from psycopg.rows import BaseRowFactory, class_row, tuple_row

from . import _sqlbuild
from ._comment import strip
from ._copyrows import CopyGroup, CopyRows, narrow_ints
from ._sqlbuild import TableSpec
from ._types import Page, R
from ._upsert import Upserted
from .database_async import AsyncDatabase
from .errors import ConfigurationError, DatabaseError, PersistenceError, QueryError

__all__ = ["AsyncBaseRepository"]

T = TypeVar("T")


class AsyncBaseRepository(Generic[T]):
    """CRUD for the dataclass `T` stored in `table`.

    Class attributes: `table` (required), `schema` (default: the search path),
    `primary_key` (default ``("id",)``; several columns for a composite key) and
    `model` (default: taken from the generic argument).
    """

    table: ClassVar[str]
    schema: ClassVar[str | None] = None
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    model: ClassVar[type[Any]]
    _spec: ClassVar[TableSpec]
    _checked: ClassVar[set[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "table", None) is None:
            return  # an intermediate base class
        model = cls.__dict__.get("model") or _generic_argument(cls)
        if model is None:
            return  # still generic (a typed base from `persistence types`): its subclasses map
        cls.model = model
        cls._spec = TableSpec(model, cls.table, cls.schema, cls.primary_key)
        cls._checked = set()

    def __init__(self, db: AsyncDatabase):
        if not hasattr(type(self), "_spec"):
            raise ConfigurationError(f"{type(self).__name__} needs a `table` class attribute")
        self.db = db
        self._rows = class_row(self.model)
        #: The statements come with their comment; a database without strips it.
        self._plain = not db.settings.sql_comment

    # -- reads ---------------------------------------------------------------------------

    async def get(self, pk: Any, *, include_deleted: bool = False) -> T | None:
        """The row with primary key `pk` (a value, a tuple for a composite key, or a
        mapping), or None. Soft-deleted rows count as absent unless `include_deleted`."""
        spec = self._spec
        shape, params = spec.key(pk, include_deleted)
        stmt = spec.statement(("get", shape), lambda: spec.select(spec.where_sql(shape)))
        return await self._one(stmt, params, "get")

    async def get_many(self, pks: Iterable[Any], *, include_deleted: bool = False) -> list[T]:
        """The rows with these primary keys (in no particular order; missing ones skipped)."""
        spec = self._spec
        keys = [spec.key_filters(pk) for pk in pks]
        if not keys:
            return []
        if len(spec.primary_key) == 1:
            filters = {spec.primary_key[0]: [k[spec.primary_key[0]] for k in keys]}
            shape, params = spec.where(filters, include_deleted)
            stmt = spec.statement(("get_many", shape), lambda: spec.select(spec.where_sql(shape)))
            return await self._all(stmt, params, "get_many")
        # Composite key: match (a, b) against the arrays of each key column.
        shape, params = spec.where({}, include_deleted)
        stmt = spec.statement(("get_many_composite", shape), lambda: spec.select_keys(shape))
        arrays_params = [[k[c] for k in keys] for c in spec.primary_key]
        return await self._all(stmt, [*params, *arrays_params], "get_many")

    async def find(
        self,
        *,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include_deleted: bool = False,
        **filters: Any,
    ) -> list[T]:
        """Rows matching every filter: `col=value`, `col=None` (IS NULL), `col=[a, b]`
        (= ANY), `col=gt(x)` / `between(a, b)` / `like(p)`...; `order_by="-created_at"`.

        Raises:
            QueryError: a filter or order_by name is not a field (nothing is sent).
        """
        spec = self._spec
        shape, params = spec.where(filters, include_deleted)
        names = spec.order(order_by)
        stmt = spec.statement(("find", shape, names), lambda: spec.find(shape, names))
        return await self._all(
            stmt, [*params, _count(limit, "limit"), _count(offset, "offset") or 0], "find"
        )

    async def stream(
        self,
        *,
        order_by: str | Sequence[str] | None = None,
        batch: int = 1000,
        include_deleted: bool = False,
        **filters: Any,
    ) -> AsyncGenerator[T, None]:
        """The rows `find` would return, `batch` at a time from a server-side cursor:
        memory stays constant, whatever the number of rows.

        The cursor lives in a transaction (the current one, or one of its own that
        holds a pooled connection until the iteration ends): leave a loop early by
        closing the iterator (``contextlib.aclosing``), so that the connection goes
        back at once. Each FETCH is a statement of its own, under the statement
        timeout; a consumer that pauses between two batches longer than
        `idle_in_transaction_timeout` loses the cursor with its transaction.

        Raises:
            QueryError: a filter or order_by name is not a field, or `batch` is not
                positive (nothing is sent).
        """
        spec = self._spec
        if batch < 1:
            raise QueryError(f"{spec.name}.stream: batch must be at least 1, not {batch}")
        shape, params = spec.where(filters, include_deleted)
        names = spec.order(order_by)
        stmt = spec.statement(("find", shape, names), lambda: spec.find(shape, names))
        await self._check()
        stmt = self._as_sent(stmt)
        streamed = self.db._stream(
            stmt, [*params, None, 0], self._rows, spec.metric("stream"), batch
        )
        async with aclosing(streamed):  # left early: closes the cursor at once
            async for row in streamed:  # noqa: UP028, RUF100 (async cannot `yield from`)
                yield row

    async def count(self, *, include_deleted: bool = False, **filters: Any) -> int:
        """How many rows match the filters (the same filters as `find`)."""
        spec = self._spec
        shape, params = spec.where(filters, include_deleted)
        stmt = spec.statement(("count", shape), lambda: spec.count(shape))
        return int(await self._value(stmt, params, "count"))

    async def exists(self, *, include_deleted: bool = False, **filters: Any) -> bool:
        """Whether any row matches the filters."""
        spec = self._spec
        shape, params = spec.where(filters, include_deleted)
        stmt = spec.statement(("exists", shape), lambda: spec.exists(shape))
        return bool(await self._value(stmt, params, "exists"))

    async def page(
        self,
        *,
        limit: int,
        after: tuple[Any, ...] | None = None,
        order_by: str | Sequence[str] | None = None,
        include_deleted: bool = False,
        **filters: Any,
    ) -> Page[T]:
        """A page of at most `limit` rows, in `order_by` order then by primary key.

        Keyset pagination: the next page starts after the last row's sort values, so
        it neither skips nor repeats rows when rows are inserted between requests. All
        sort columns go the same direction (all ascending, or all "-descending"); NULLs
        sort as PostgreSQL sorts them, last ascending and first descending.
        """
        spec = self._spec
        keys, desc = spec.page_keys(spec.order(order_by))
        shape, params = spec.where(filters, include_deleted)
        if after is not None and len(after) != len(keys):
            raise QueryError(
                f"{spec.name}.page: `after` must hold {len(keys)} values ({', '.join(keys)})"
            )
        await self._check()  # learns which sort columns may be NULL
        nulls = None if after is None else tuple(v is None for v in after)
        stmt = spec.statement(
            ("page", shape, keys, desc, nulls, spec.nullable(keys)),
            lambda: spec.page(shape, keys, desc, nulls),
        )
        cursor = () if after is None else spec.cursor(keys, desc, after)
        items = await self._all(stmt, [*params, *cursor, _count(limit, "limit")], "page")
        last = attrgetter(*keys)
        nxt = None
        if len(items) == limit and items:
            value = last(items[-1])
            nxt = value if len(keys) > 1 else (value,)
        return Page(items, nxt)

    # -- writes --------------------------------------------------------------------------

    async def insert(self, obj: T) -> T:
        """Insert `obj` and return the stored row: fields left as DEFAULT take the
        database's defaults (serial ids, now(), triggers)."""
        spec = self._spec
        await self._check()  # learns which columns are JSON before values are adapted
        values = spec.rows.values(obj, "insert")
        cols = tuple(values)
        stmt = spec.statement(("insert", cols), lambda: spec.insert(cols))
        with _naming_columns(spec.rows, values):
            row = await self._one(stmt, list(values.values()), "insert")
        assert row is not None  # INSERT ... RETURNING always returns the row
        return row

    async def insert_many(self, objs: Iterable[T]) -> int:
        """Insert many rows with COPY (binary where the column types allow); return how
        many.

        `objs` (a list, a generator, a cursor) is read once, as COPY sends it, in one
        transaction: every row is stored, or none. Memory stays constant, whatever the
        number of rows, for the rows with the first row's DEFAULT fields; rows with other
        DEFAULT fields are kept until that COPY ends, then sent in a COPY of their own,
        so that a value given is never dropped.

        Raises:
            QueryError: an object is not of the repository's dataclass (nothing is
                stored).
            DatabaseError: a value binary COPY cannot send, naming its row and column
                (nothing is stored); `insert` refuses the same values.
        """
        spec = self._spec
        groups = spec.rows.copy_groups(objs)
        first = next(groups, None)
        if first is None:
            return 0
        await self._check()

        async def op(conn: AsyncConnection[Any]) -> int:
            async with conn.transaction():
                count = await self._copy(conn, first)
                for group in groups:
                    count += await self._copy(conn, group)
            return count

        return await self.db.run(op, name=spec.metric("insert_many"))

    async def _copy(self, conn: AsyncConnection[Any], group: CopyGroup) -> int:
        """Send `group` in one statement; return how many rows it held."""
        spec = self._spec
        cols = group.columns
        async with conn.cursor() as cur:
            if not cols:  # every field DEFAULT: there is no column to COPY
                count = sum(1 for _ in group.rows)
                await cur.execute(
                    self._as_sent(spec.statement("insert_defaults", spec.insert_defaults)), [count]
                )
                return count
            binary = spec.rows.copy_binary(cols)
            stmt = spec.statement(("copy", cols, binary), lambda: spec.copy(cols, binary))
            async with cur.copy(self._as_sent(stmt)) as out:
                return await self._write_rows(out, group, binary, "insert_many")

    async def _write_rows(
        self, out: AsyncCopy, group: CopyGroup, binary: bool, operation: str
    ) -> int:
        """Write `group`'s rows into a COPY; return how many."""
        rows = self._spec.rows
        cols = group.columns
        types = [rows.copy_types[c] for c in cols]
        if binary:
            out.set_types(types)
        narrow = narrow_ints(types) if binary else ()
        as_text = None if binary else rows.text_row(cols)
        count = 0
        for values in group.rows:
            if as_text is not None:
                values = as_text(values)
            try:
                for i, low, high in narrow:
                    if type(values[i]) is int and not low <= values[i] <= high:
                        raise OverflowError(f"{values[i]} is out of range for {types[i]}")
                await out.write_row(values)
            except (TypeError, AttributeError, ValueError, OverflowError, struct.error) as ex:
                # A binary dumper given another type (a str for inet; psycopg's Python
                # implementation raises struct.error for a str for an int): name the
                # row and the column; the COPY is aborted, so nothing is stored.
                cols_values = dict(zip(cols, values, strict=True))
                raise rows.unsendable(operation, cols_values, ex, group.place(count)) from None
            count += 1
        return count

    async def update(self, pk: Any, **changes: Any) -> T | None:
        """Set the given columns of the row `pk`; return the updated row, or None if no
        (live) row has that key."""
        spec = self._spec
        if not changes:
            raise QueryError(f"{spec.name}.update: nothing to change")
        cols = spec.columns_of(changes, "update")
        await self._check()
        spec.rows.check_sendable("update", changes)  # the values insert would take
        changes = spec.rows.adapt(dict(changes))
        shape, params = spec.key(pk)
        stmt = spec.statement(
            ("update", cols, shape), lambda: spec.update(cols, spec.where_sql(shape))
        )
        with _naming_columns(spec.rows, changes):
            return await self._one(stmt, [*changes.values(), *params], "update")

    async def upsert(
        self, obj: T, *, conflict: Sequence[str], update: Sequence[str] | None = None
    ) -> T | None:
        """Insert `obj`, or on a conflict over the `conflict` columns update the `update`
        columns (default: every column given that is not in `conflict`). With
        ``update=()`` a conflicting row is left alone and None is returned."""
        spec = self._spec
        await self._check()
        values = spec.rows.values(obj, "upsert")
        cols = tuple(values)
        conflict, update = self._conflict_update(cols, conflict, update)
        stmt = spec.statement(
            ("upsert", cols, conflict, update),
            lambda: spec.insert(cols, spec.upsert_clause(conflict, update)),
        )
        with _naming_columns(spec.rows, values):
            return await self._one(stmt, list(values.values()), "upsert")

    async def upsert_many(
        self, objs: Iterable[T], *, conflict: Sequence[str], update: Sequence[str] | None = None
    ) -> Upserted:
        """Insert many rows, or update those that conflict over the `conflict` columns
        (their `update` columns; default: every column given that is not in `conflict`;
        ``update=()`` leaves them alone). Returns how many were inserted and updated.

        The rows are COPYed into a temporary table, then merged by one INSERT ... ON
        CONFLICT, in one transaction: every row is stored, or none.

        Raises:
            QueryError: objects leave different fields DEFAULT, or are not of the
                repository's dataclass (nothing sent).
            DatabaseError: two objects share a conflict key ("cannot affect row a
                second time"), or a row breaks a constraint.
        """
        spec = self._spec
        groups = spec.rows.copy_groups(objs)
        first = next(groups, None)
        if first is None:
            return Upserted(0, 0)
        group = CopyGroup(first.columns, list(first.rows))  # held: nothing sent if ...
        other = next(groups, None)  # ... objects leave different fields DEFAULT
        if other is not None:
            raise QueryError(
                f"{spec.name}.upsert_many: every object must give the same fields;"
                f" some give {', '.join(group.columns)}, others {', '.join(other.columns)}"
            )
        await self._check()
        cols = group.columns
        conflict, update = self._conflict_update(cols, conflict, update)
        binary = spec.rows.copy_binary(cols)
        create = spec.statement(("stage", cols), lambda: _sqlbuild.create_stage(spec.table, cols))
        copy = spec.statement(
            ("copy_stage", cols, binary), lambda: spec.copy(cols, binary, into=_sqlbuild.STAGE)
        )
        merge = spec.statement(
            ("merge", cols, conflict, update), lambda: spec.merge(cols, conflict, update)
        )
        drop = _sqlbuild.DROP_STAGE.as_bytes(None)
        create, copy, merge = map(self._as_sent, (create, copy, merge))

        async def op(conn: AsyncConnection[Any]) -> Upserted:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute(create)
                async with cur.copy(copy) as out:
                    await self._write_rows(out, group, binary, "upsert_many")
                await cur.execute(merge)
                counts = await cur.fetchone()
                await cur.execute(drop)  # a caller's transaction may upsert again
            assert counts is not None
            return Upserted(int(counts[0]), int(counts[1]))

        return await self.db.run(op, name=spec.metric("upsert_many"))

    async def delete(self, pk: Any) -> bool:
        """Delete the row `pk` (soft: set `deleted_at` when the table has it); return
        whether a row was deleted."""
        spec = self._spec
        if spec.soft:
            return await self._soft(pk, "delete", deleted=True)
        return await self.purge(pk)

    async def restore(self, pk: Any) -> bool:
        """Undo a soft delete; return whether a deleted row was restored."""
        return await self._soft(pk, "restore", deleted=False)

    async def purge(self, pk: Any) -> bool:
        """Delete the row `pk` for good, soft delete or not."""
        spec = self._spec
        shape, params = spec.key(pk, include_deleted=True)
        stmt = spec.statement(("purge", shape), lambda: spec.delete(shape))
        return await self._execute(stmt, params, "purge") > 0

    async def delete_where(self, **filters: Any) -> int:
        """Delete every row matching the filters (soft where the table has `deleted_at`).

        Raises:
            QueryError: with no filter at all: deleting a whole table takes SQL, on purpose.
        """
        spec = self._spec
        if not filters:
            raise QueryError(f"{spec.name}.delete_where needs at least one filter")
        shape, params = spec.where(filters)
        stmt = spec.statement(("delete_where", shape), lambda: spec.delete_where(shape))
        return await self._execute(stmt, params, "delete_where")

    # -- internals -----------------------------------------------------------------------

    async def _soft(self, pk: Any, what: str, *, deleted: bool) -> bool:
        spec = self._spec
        if not spec.soft:
            raise QueryError(f"{spec.name} has no deleted_at column: {what} needs soft delete")
        shape, params = spec.key(pk, include_deleted=True)
        stmt = spec.statement((what, shape), lambda: spec.set_deleted(shape, deleted))
        return await self._execute(stmt, params, what) > 0

    def _conflict_update(
        self, cols: Sequence[str], conflict: Sequence[str], update: Sequence[str] | None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """An upsert's `conflict` and `update` columns, checked; `update` defaults to
        every column of `cols` not in `conflict`."""
        conflict = self._spec.columns_of(conflict, "conflict")
        if update is None:
            update = tuple(c for c in cols if c not in conflict)
        return conflict, self._spec.columns_of(update, "update")

    async def _check(self) -> None:
        """Compare the dataclass with the table once per database (and learn the column
        types COPY needs)."""
        spec = self._spec
        url = self.db.settings.database_url or ""
        if url in self._checked:
            return

        async def columns(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            async with conn.cursor() as cur:
                await cur.execute(_COLUMNS, [spec.regclass])
                return await cur.fetchall()

        # Named, as the repository's own statements are: in logs, metrics and errors
        # ("users.table_check"), not the text of a statement the caller never wrote.
        rows = await self.db.run(columns, name=spec.metric("table_check"), statement=_COLUMNS)
        if not rows:
            raise ConfigurationError(f"table {spec.name!r} does not exist (not migrated yet?)")
        spec.learn_columns(
            {str(name): (str(copy_type), bool(plain)) for name, copy_type, plain, _ in rows},
            [str(name) for name, _, _, not_null in rows if not_null],
        )
        self._checked.add(url)

    async def _run(
        self, stmt: bytes, params: list[Any], op: str, rows: BaseRowFactory[R]
    ) -> tuple[list[R], int]:
        """Run a repository statement: the rows it returns (none for a DELETE, an UPDATE
        without RETURNING), and how many rows it touched."""
        await self._check()
        stmt = self._as_sent(stmt)

        async def run(conn: AsyncConnection[Any]) -> tuple[list[R], int]:
            async with conn.cursor(row_factory=rows) as cur:
                await cur.execute(stmt, params)
                result = cur.pgresult  # (cur.description would cost microseconds)
                found = await cur.fetchall() if result is not None and result.nfields else []
                return found, cur.rowcount

        return await self.db.run(run, name=self._spec.metric(op), statement=stmt)

    async def _all(self, stmt: bytes, params: list[Any], op: str) -> list[T]:
        return (await self._run(stmt, params, op, self._rows))[0]

    async def _one(self, stmt: bytes, params: list[Any], op: str) -> T | None:
        found = await self._all(stmt, params, op)
        return found[0] if found else None

    async def _value(self, stmt: bytes, params: list[Any], op: str) -> Any:
        return (await self._run(stmt, params, op, tuple_row))[0][0][0]

    async def _execute(self, stmt: bytes, params: list[Any], op: str) -> int:
        return (await self._run(stmt, params, op, tuple_row))[1]

    def _as_sent(self, stmt: bytes) -> bytes:
        """`stmt` as sent: without its comment on a database that has the comment off."""
        return strip(stmt) if self._plain else stmt


# The table's columns: name, the type name COPY can bind, whether binary COPY can send
# it (enums go as their text; arrays of enums or domains only in text format), and
# whether it is NOT NULL.
_COLUMNS = sql.SQL(
    """
    select a.attname,
           case when t.typtype = 'e' then 'text'
                when t.typtype = 'd' then format_type(t.typbasetype, null)
                else format_type(a.atttypid, null) end,
           not (t.typcategory = 'A' and coalesce(e.typtype in ('e', 'd'), false)),
           a.attnotnull
      from pg_attribute a
      join pg_type t on t.oid = a.atttypid
      left join pg_type e on e.oid = t.typelem
     where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
    """
)


@contextmanager
def _naming_columns(rows: CopyRows, values: dict[str, Any]) -> Iterator[None]:
    """Lead the message of a `DatabaseError` raised in the block with the column(s)
    whose value it is about, where the server or driver did not name them (a NUL byte,
    a number out of range, text its type cannot parse, text too long); on the error
    path only, re-raised as it is."""
    try:
        yield
    except DatabaseError as error:
        columns = rows.culprits(error, values)
        if columns and error.args:
            error.args = (f"column {', '.join(columns)}: {error.args[0]}", *error.args[1:])
        raise


def _count(value: int | None, what: str) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 0):
        raise QueryError(f"{what} must be a non-negative int, not {value!r}")
    return value


def _generic_argument(cls: type) -> type[Any] | None:
    """The dataclass in `class Users(AsyncBaseRepository[User])`; None while the class is
    still generic (`class UsersRepository(AsyncBaseRepository[M])`)."""
    for base in getattr(cls, "__orig_bases__", ()):
        args = typing.get_args(base)
        if args and isinstance(args[0], type):
            return args[0]
        if args and isinstance(args[0], TypeVar):
            return None
    raise PersistenceError(
        f"{cls.__name__}: say which dataclass it stores, e.g. class {cls.__name__}"
        "(BaseRepository[User]), or set `model = User`"
    )
