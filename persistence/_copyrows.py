"""Which rows a COPY can carry, and why a value is refused.

Objects become rows grouped by the fields they give (one COPY per group); a value binary
COPY cannot send is refused before anything is sent, and `insert` checks the same way;
JSON values are wrapped as Jsonb; a data error of the server is traced to its column.
No I/O here.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from operator import attrgetter, is_, itemgetter
from typing import Any

import psycopg
from psycopg import abc
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from .errors import DatabaseError, QueryError
from .fields import DEFAULT

__all__ = ["CopyGroup", "CopyRows", "narrow_ints"]


#: Column types whose binary COPY dumper takes a Python str. A str for another column (an
#: IP address for inet, a UUID as text) goes in a text COPY, parsed by the server, if its
#: field is annotated `str`; else it is refused (`CopyRows.check_sendable`).
STR_TYPES = frozenset({"text", "character varying", "character", "name", "citext", '"char"'})


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
    if copy_type == "timestamp with time zone" and _naive(value):
        return "a naive datetime (no tzinfo: the server's time zone would decide the instant)"
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


def _naive(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is None


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


def _picker(key: tuple[bool, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """What keeps, of a row of every field, the values given (`key`: which are DEFAULT)."""
    given = [i for i, is_default in enumerate(key) if not is_default]
    if len(given) == len(key):
        return tuple  # a tuple already: returned as is
    if len(given) == 1:  # itemgetter of one index returns the value, not a 1-tuple
        return lambda row, i=given[0]: (row[i],)  # type: ignore[misc]
    return itemgetter(*given) if given else lambda row: ()


class CopyRows:
    """A dataclass's objects as rows of its table: for COPY, for `insert`, for errors.

    Args:
        model: the dataclass; its fields are the columns.
        name: the table's name, for errors.
        metric: the name an operation is counted under ("users.insert"), for errors.
    """

    def __init__(self, model: type[Any], name: str, metric: Callable[[str], str]):
        self.model = model
        self.name = name
        self.metric = metric
        self.fields = tuple(f.name for f in dataclasses.fields(model))
        # Every field of an object as a tuple, even for a one-field model.
        every = attrgetter(*self.fields)
        self._all_values: Callable[[Any], tuple[Any, ...]] = (
            every if len(self.fields) > 1 else lambda obj: (every(obj),)
        )
        #: Per column, the type name COPY binds, learnt from the table at first use.
        self.copy_types: dict[str, str] = {}
        self._binary: set[str] = set()
        self._json: frozenset[str] = frozenset()
        #: Per set of columns, what dumps their values as binary COPY would (None: text).
        self._dumping: dict[tuple[str, ...], abc.Transformer | None] = {}

    def learn(self, columns: Mapping[str, tuple[str, bool]]) -> None:
        """Learn the table's columns {name: (copy type, binary ok)}."""
        self.copy_types = {name: copy_type for name, (copy_type, _) in columns.items()}
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
        refused = {
            c: (v, refusal)
            for c, v in values.items()
            if (refusal := _refusal(self.copy_types.get(c, ""), v))
        }
        culprits = "; ".join(f"{c} ({self.copy_types[c]}) got {r}" for c, (_, r) in refused.items())
        where = f"row {row}: " if row else ""
        metric = self.metric(operation)
        if refused and all(_naive(v) for v, _ in refused.values()):
            advice = "give an aware datetime (datetime.now(UTC), tzinfo=...)"
        else:
            advice = "give a value of the column's Python type, or annotate the field `str` to"
            advice += " send it as text"
        return DatabaseError(
            f"{where}{culprits or 'a value of another type than its column'}"
            f" ({type(cause).__name__}: {cause}): {advice} in {metric!r}",
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
        >>> rows = CopyRows(Row, "rows", "rows.{}".format)
        >>> rows.learn({"id": ("integer", True), "n": ("smallint", True),
        ...             "s": ("character varying", True)})
        >>> def culprits(message, sqlstate=None, **values):
        ...     return rows.culprits(DatabaseError(message, sqlstate=sqlstate), values)
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

    def copy_groups(self, objs: Iterable[Any]) -> Iterator[CopyGroup]:
        """The rows of `objs` for COPY, grouped by the fields they give a value (not left
        DEFAULT): one COPY names its columns once. One pass, without holding `objs`: the
        first group's `rows` yields the rows with the first object's DEFAULT fields as
        `objs` yields them, and keeps the others; once it is read to the end, the kept
        groups follow, in order of first appearance.

        >>> Tag = dataclasses.make_dataclass("Tag", ["name", ("id", int, DEFAULT)])
        >>> groups = CopyRows(Tag, "tags", "tags.{}".format).copy_groups(
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
