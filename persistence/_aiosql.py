"""aiosql behind one door: every name the toolkit takes from aiosql is here.

Written against aiosql 15.0, relying on what its API does not promise:

- `QueryLoader(driver_adapter, record_classes, attribute=..., mandatory_parameters=...)`
  and its `load_query_data_from_sql(sql, namespace, path)`, which parses the `-- name:`
  lines of one chunk of a file;
- the private hook `QueryLoader._build_signature(sql, qname, sig)`, called once per
  query: overriding it replaces aiosql's regex for `:name` placeholders with
  PostgreSQL's own lexer (_sqltext), so a `:x` in a string or a `::cast` is not taken
  for a parameter;
- the loader calls only `process_sql` on the driver adapter.

An upgrade of aiosql is checked here, and only here.
"""

from __future__ import annotations

from typing import Any

from aiosql.query_loader import QueryLoader
from aiosql.types import QueryDatum, SQLOperationType
from aiosql.utils import SQLParseException

from ._sqltext import SqlTextError, convert

__all__ = ["QueryDatum", "SQLOperationType", "SQLParseException", "new_loader"]


def new_loader() -> QueryLoader:
    """aiosql's loader, reading placeholders with PostgreSQL's lexer; every parameter a
    query's SQL uses must be declared when it declares a parameter list."""
    return _Loader(_Adapter(), None, attribute=None, mandatory_parameters=True)  # type: ignore[arg-type]


class _Adapter:
    """The part of an aiosql driver adapter its loader calls: SQL passes through
    unchanged, since _sqltext converts placeholders with a real lexer."""

    def process_sql(self, query_name: str, op_type: SQLOperationType, sql: str) -> str:
        return sql


class _Loader(QueryLoader):
    """aiosql's loader, finding parameters with PostgreSQL's lexer, not a regex."""

    def _build_signature(self, sql: str, qname: str, sig: list[str] | None) -> Any:
        try:
            converted = convert(sql)
        except SqlTextError as ex:
            raise SQLParseException(f"query {qname}: {ex}") from None
        if converted.positional:
            number = converted.positional[0]
            hint = f": write :{sig[number - 1]}" if sig and number <= len(sig) else " (:name)"
            raise SQLParseException(
                f"query {qname} uses the positional parameter ${number};"
                f" named parameters are required{hint}"
            )
        used = converted.params
        if sig is not None:
            undeclared = [p for p in used if p not in sig]
            unused = [p for p in sig if p not in used]
            if undeclared:
                raise SQLParseException(
                    f"query {qname} uses :{undeclared[0]}, which is not in its parameter list"
                )
            if unused:
                raise SQLParseException(
                    f"query {qname} declares {unused[0]!r}, which its SQL does not use"
                )
        return None
