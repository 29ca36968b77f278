"""The sqlcommenter comment that names every statement the toolkit sends.

`select ... /* persistence='users.get_user_by_email' */`: pg_stat_activity,
pg_stat_statements, the server log, auto_explain and lock reports then say which named
query (or repository call, or migration) a statement is. The comment is built once,
where the SQL is (a Query at load, a repository statement in its cache, a migration
statement before it runs), never per call, and holds the name only: never a value.

It goes at the end, before a final `;`, as the sqlcommenter spec says, and for a reason
found by testing: pg_stat_statements (PostgreSQL 18 at least) records a statement from
its first token, so a leading comment never reaches it; a trailing one does.

The value is escaped as the sqlcommenter spec says (https://google.github.io/sqlcommenter/spec/):
URL-encoded, then `'` escaped with a backslash. URL-encoding turns `*` into `%2A`, so a
name can never close the comment early.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

__all__ = ["KEY", "attach", "comment", "name_in", "strip"]

#: The sqlcommenter key.
KEY = "persistence"

_MARK = f" /* {KEY}='".encode()
_FOUND = re.compile(r"/\*\s*(?:[^*]*?,)?" + KEY + r"='((?:[^'\\]|\\.)*)'")


def comment(name: str, *, pyformat: bool = False) -> str:
    """The comment for a statement called `name`.

    `pyformat`: for SQL sent with parameters, where psycopg reads `%` as a placeholder
    (the comment's `%` are doubled).

    >>> comment("users.get_user_by_email")
    "/* persistence='users.get_user_by_email' */"
    >>> comment("odd*/name's")
    "/* persistence='odd%2A%2Fname%27s' */"
    """
    value = quote(name, safe="").replace("'", "\\'")
    if pyformat:
        value = value.replace("%", "%%")
    return f"/* {KEY}='{value}' */"


def attach(sql: str, name: str, *, pyformat: bool = False) -> str:
    """`sql` with the comment naming it at its end, before a final `;` (a comment after
    the `;` would not belong to the statement), on a line of its own when the last line
    may end in a `--` comment.

    >>> attach("select 1;", "a.b")
    "select 1 /* persistence='a.b' */;"
    >>> attach("select 1 -- one", "a.b")
    "select 1 -- one\\n/* persistence='a.b' */"
    """
    body, end = sql.rstrip(), ""
    if body.endswith(";"):
        body, end = body[:-1].rstrip(), ";"
    sep = "\n" if "--" in body.rsplit("\n", 1)[-1] else " "
    return f"{body}{sep}{comment(name, pyformat=pyformat)}{end}"


def strip(statement: bytes) -> bytes:
    """A repository statement without the comment `attach` put at its end."""
    at = statement.rfind(_MARK)
    return statement[:at] if at >= 0 and statement.endswith(b"*/") else statement


def name_in(text: str) -> str | None:
    """The name in the first persistence comment of a statement's text, or None.

    >>> name_in("/* persistence='users.get_user' */ select 1")
    'users.get_user'
    """
    found = _FOUND.search(text)
    return unquote(found[1].replace("\\'", "'")) if found else None
