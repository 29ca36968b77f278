"""The sqlcommenter comment that names every statement the toolkit sends.

`/* persistence='users.get_user_by_email' */ select ...`: pg_stat_activity,
pg_stat_statements, the server log, auto_explain and lock reports then say which named
query (or repository call, or migration) a statement is. The comment is built once,
where the SQL is (a Query at load, a repository statement in its cache, a migration
statement before it runs), never per call, and holds the name only: never a value.

The value is escaped as the sqlcommenter spec says (https://google.github.io/sqlcommenter/spec/):
URL-encoded, then `'` escaped with a backslash. URL-encoding turns `*` into `%2A`, so a
name can never close the comment early.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

__all__ = ["KEY", "comment", "name_in", "strip"]

#: The sqlcommenter key.
KEY = "persistence"

_PREFIX = f"/* {KEY}='".encode()
_FOUND = re.compile(r"/\*\s*(?:[^*]*?,)?" + KEY + r"='((?:[^'\\]|\\.)*)'")


def comment(name: str, *, pyformat: bool = False) -> str:
    """The leading comment for a statement called `name`, with its trailing space.

    `pyformat`: for SQL sent with parameters, where psycopg reads `%` as a placeholder
    (the comment's `%` are doubled).

    >>> comment("users.get_user_by_email")
    "/* persistence='users.get_user_by_email' */ "
    >>> comment("odd*/name's")
    "/* persistence='odd%2A%2Fname%27s' */ "
    """
    value = quote(name, safe="").replace("'", "\\'")
    if pyformat:
        value = value.replace("%", "%%")
    return f"/* {KEY}='{value}' */ "


def strip(statement: bytes) -> bytes:
    """`statement` without a leading comment made by `comment` (unchanged if none)."""
    if statement.startswith(_PREFIX):
        return statement[statement.index(b"*/ ", len(_PREFIX)) + 3 :]
    return statement


def name_in(text: str) -> str | None:
    """The name in the first persistence comment of a statement's text, or None.

    >>> name_in("/* persistence='users.get_user' */ select 1")
    'users.get_user'
    """
    found = _FOUND.search(text)
    return unquote(found[1].replace("\\'", "'")) if found else None
