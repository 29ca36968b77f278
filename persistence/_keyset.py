"""The condition for a keyset page: the rows after a cursor, NULLs where PostgreSQL
sorts them (pure, >>>)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from psycopg import sql

__all__ = ["keyset"]


#: A condition with the places (in the cursor) of the values its %s stand for.
_Cond = tuple[sql.Composable, tuple[int, ...]]


def _all_of(conds: Sequence[_Cond]) -> _Cond:
    """The conjunction; parenthesised, as it goes into a disjunction."""
    parts = [c for c, _ in conds]
    text = (
        parts[0] if len(parts) == 1 else sql.SQL("(") + sql.SQL(" and ").join(parts) + sql.SQL(")")
    )
    return text, tuple(i for _, places in conds for i in places)


def _any_of(conds: Sequence[_Cond]) -> _Cond:
    """The disjunction, parenthesised; false when there is nothing."""
    if not conds:
        return sql.SQL("false"), ()
    parts = [c for c, _ in conds]
    text = (
        parts[0] if len(parts) == 1 else sql.SQL("(") + sql.SQL(" or ").join(parts) + sql.SQL(")")
    )
    return text, tuple(i for _, places in conds for i in places)


@functools.lru_cache(maxsize=256)
def keyset(
    keys: tuple[str, ...], desc: bool, nullable: tuple[bool, ...], nulls: tuple[bool, ...]
) -> _Cond:
    """The rows after a cursor in a keyset order over `keys` (all ascending, NULLs last,
    or all descending, NULLs first: PostgreSQL's defaults), where `nulls` says which of
    the cursor's values are NULL and `nullable` which columns may hold NULL; with the
    places in the cursor of the values its %s stand for.

    Columns that cannot be NULL, after a cursor without NULLs, compare as one row
    value, which an index on them serves:

    >>> def show(cond): print(cond[0].as_string(), cond[1])
    >>> show(keyset(("name", "id"), False, (False, False), (False, False)))
    ("name", "id") > (%s, %s) (0, 1)

    A row value holding a NULL compares to NULL, so a nullable column adds its NULL rows
    (last, ascending), and a NULL in the cursor is matched with IS NULL:

    >>> show(keyset(("name", "id"), False, (True, False), (False, False)))
    (("name", "id") > (%s, %s) or "name" is null) (0, 1)
    >>> show(keyset(("name", "id"), False, (True, False), (True, False)))
    ("name" is null and ("id") > (%s)) (1,)
    >>> show(keyset(("name", "id"), True, (True, False), (False, False)))
    ("name", "id") < (%s, %s) (0, 1)
    >>> show(keyset(("name", "id"), True, (True, False), (True, False)))
    ("name" is not null or ("name" is null and ("id") < (%s))) (1,)
    >>> show(keyset(("a", "b", "id"), False, (True, True, False), (False, True, False)))
    (("a") > (%s) or "a" is null or ("a" = %s and "b" is null and ("id") > (%s))) (0, 0, 2)
    """
    op = sql.SQL("<" if desc else ">")
    names = [sql.Identifier(k) for k in keys]

    def null(t: int) -> _Cond:
        return sql.SQL("{} is null").format(names[t]), ()

    def same(i: int, j: int) -> list[_Cond]:  # keys[i:j] hold the cursor's values
        return [
            null(t) if nulls[t] else (sql.SQL("{} = %s").format(names[t]), (t,))
            for t in range(i, j)
        ]

    def then(prefix: list[_Cond], rest: list[list[_Cond]]) -> list[list[_Cond]]:
        """`prefix` and (any of `rest`), as disjuncts of conjuncts."""
        if len(rest) < 2:
            return [prefix + r for r in rest]
        return [[*prefix, _any_of([_all_of(r) for r in rest])]]

    def after(i: int) -> list[list[_Cond]]:  # keys[:i] hold the cursor's values
        if i == len(keys):
            return []
        if nulls[i]:
            # Ascending, nothing follows NULL; descending, every value does.
            found: list[list[_Cond]] = []
            if desc:
                found.append([(sql.SQL("{} is not null").format(names[i]), ())])
            return found + then([null(i)], after(i + 1))
        end = next((t for t in range(i, len(keys)) if nulls[t]), len(keys))
        row = sql.SQL("({}) {} ({})").format(
            sql.SQL(", ").join(names[i:end]), op, sql.SQL(", ").join(sql.Placeholder() * (end - i))
        )
        found = [[(row, tuple(range(i, end)))]]
        if not desc:  # ascending, a NULL after equal values comes last: the row value is NULL
            found += [[*same(i, t), null(t)] for t in range(i, end) if nullable[t]]
        if end < len(keys):
            found += then(same(i, end), after(end))
        return found

    return _any_of([_all_of(d) for d in after(0)])
