"""aiosql behind one door: every name the toolkit takes from aiosql is here.

Written against aiosql 15.0, relying on what its API does not promise:

- `QueryLoader(driver_adapter, record_classes, attribute=..., mandatory_parameters=...)`
  and its `load_query_data_from_sql(sql, namespace, path)`, which parses the `-- name:`
  lines of one chunk of a file;
- the private hook `QueryLoader._build_signature(sql, qname, sig)`, called once per
  query: overriding it replaces aiosql's regex for `:name` placeholders with
  PostgreSQL's own lexer (_sqltext), so a `:x` in a string or a `::cast` is not taken
  for a parameter;
- the private `QueryLoader._get_name_op(text, floc)`, which reads a name line's spec:
  its refusals are reworded to say what to write (aiosql's name an option the toolkit
  sets, `mandatory_parameters`);
- the loader calls only `process_sql` on the driver adapter.

An upgrade of aiosql is checked here, and only here.
"""

from __future__ import annotations

import re
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


#: The operations, for the errors about a name line that is not one.
_OPERATIONS = "nothing for rows, ^ one row, $ one value, ! execute, <! returning, *! many, # script"
#: sqlc's operations, as a name line ported from sqlc may still say them.
_SQLC = {"one": "^", "many": "", "exec": "!", "execrows": "!", "execresult": "!"}
_SPEC = re.compile(
    r"\s*(?P<name>[\w-]*)\s*(?P<params>\([^)]*\))?\s*(?::(?P<sqlc>\w+)|(?P<op><!|\*!|[!$^#])?)"
)


def _written_right(text: str) -> str:
    """The name line `text` meant, as aiosql reads it: `GetAuthor :one` (sqlc's form)
    becomes `get_author(...)^`."""
    found = _SPEC.match(text)
    assert found is not None  # every part is optional
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", found["name"]).lower().replace("-", "_")
    op = _SQLC.get(found["sqlc"], "") if found["sqlc"] else found["op"] or ""
    return f"{name or 'get_user'}{found['params'] or '(...)'}{op}"


class _Loader(QueryLoader):
    """aiosql's loader, finding parameters with PostgreSQL's lexer, not a regex."""

    def _get_name_op(self, text: str, floc: Any) -> Any:
        try:
            return super()._get_name_op(text, floc)
        except SQLParseException as ex:
            right = f"write `-- name: {_written_right(text)}`"
            if str(ex).startswith("missing mandatory parameter list"):
                raise SQLParseException(
                    f"query {text!r} has no parameter list: {right}, its parameters in the"
                    " parentheses (`()` for none)"
                ) from None
            if str(ex).startswith("invalid query name and operation"):
                raise SQLParseException(
                    f"{text!r} is not a name line: {right}, a Python name, its parameters"
                    f" in parentheses, then the operation ({_OPERATIONS})"
                ) from None
            raise

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
        if converted.at_words:
            word = converted.at_words[0]
            raise SQLParseException(
                f"query {qname} has @{word}, sqlc's parameter, which PostgreSQL reads as"
                f" abs({word}): write :{word} (and name it in the parameter list), or"
                f" abs({word}) for the absolute value"
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
