"""Comparisons for repository filters beyond equality.

    await users.find(created_at=gt(since), email=like("%@example.com"))
    await orders.count(total=between(10, 100), status=["paid", "shipped"])

A plain value means equality, None means IS NULL, a list or tuple means = ANY (None in
it matches NULL too). A comparison with None (``gt(None)``, ``like(None)``, a None end of
``between``) would match no row: the repository refuses it; ``ne(None)`` is IS NOT NULL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, LiteralString, TypeAlias, TypeVar

from .errors import QueryError

__all__ = [
    "Filter",
    "FilterValue",
    "NullableFilterValue",
    "between",
    "ge",
    "gt",
    "ilike",
    "le",
    "like",
    "lt",
    "ne",
]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Filter:
    """A comparison other than equality, for `find`, `count`, `exists`, `delete_where`."""

    op: LiteralString
    value: Any

    def __post_init__(self) -> None:
        # `op` is written into the SQL as it is: anything but the toolkit's own
        # comparisons would be SQL injection (``"<> '' or true or"`` deleted every row).
        if not isinstance(self.op, str) or self.op not in OPERATORS:
            raise QueryError(
                f"unknown filter operator {str(self.op)[:40]!r}; use one of: {', '.join(OPERATORS)}"
            )
        if self.op == "between" and not (
            isinstance(self.value, tuple | list) and len(self.value) == 2
        ):
            raise QueryError("a between filter needs a (low, high) pair")


#: The comparisons a Filter may name: the only operator text that reaches SQL.
OPERATORS: tuple[LiteralString, ...] = (">", ">=", "<", "<=", "<>", "like", "ilike", "between")


#: What a filter accepts for a column of type V: a value (=), a list or tuple (= ANY),
#: or a Filter. The typed repositories of generated modules use it.
FilterValue: TypeAlias = V | list[V] | tuple[V, ...] | Filter

#: The same for a column that allows NULL: None (IS NULL), or None among the listed
#: values (= ANY or IS NULL). list[V] is named apart because a list is invariant: a
#: list[str] is no list[str | None].
NullableFilterValue: TypeAlias = V | list[V] | list[V | None] | tuple[V | None, ...] | Filter | None


def gt(value: Any) -> Filter:
    """``column > value``."""
    return Filter(">", value)


def ge(value: Any) -> Filter:
    """``column >= value``."""
    return Filter(">=", value)


def lt(value: Any) -> Filter:
    """``column < value``."""
    return Filter("<", value)


def le(value: Any) -> Filter:
    """``column <= value``."""
    return Filter("<=", value)


def ne(value: Any) -> Filter:
    """``column <> value`` (``IS NOT NULL`` for None)."""
    return Filter("<>", value)


def like(pattern: str) -> Filter:
    """``column LIKE pattern``."""
    return Filter("like", pattern)


def ilike(pattern: str) -> Filter:
    """``column ILIKE pattern``."""
    return Filter("ilike", pattern)


def between(low: Any, high: Any) -> Filter:
    """``column BETWEEN low AND high`` (both ends included)."""
    return Filter("between", (low, high))
