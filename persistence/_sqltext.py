"""Turn a named statement's SQL into what psycopg runs, using PostgreSQL's own lexer.

aiosql finds `:name` placeholders with a regex, which misreads `arr[1:2]`, and `:x` in
`$$...$$` bodies or comments; and it leaves a literal `%` (`LIKE 'a%'`, `x % 2`) that
psycopg then takes for a placeholder. pglast's scanner is libpg_query's, the server's
lexer: strings, dollar quotes, comments and `::` casts come out as single tokens, so a
placeholder is exactly a `:` token followed, with no space, by a word.

Two conventions are read here too:
- a placeholder tested with `IS NULL` (`:phase is null`, `:phase::text is null`), or
  given as the first argument of COALESCE (`coalesce(:name, name)`: None keeps the current
  value) is an optional parameter: its type accepts None;
- a quoted alias ending in `!` or `?` (`count(*) as "total!"`, `u.email as "email?"`)
  forces the column's nullability for the generated types (not null / nullable); the
  suffix is removed from the SQL that runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pglast import parser as _pg

__all__ = ["Converted", "SqlTextError", "convert", "statement_starts"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SqlTextError(ValueError):
    """The SQL cannot be lexed (an unterminated string, a stray placeholder...)."""

    def __init__(self, message: str, index: int):
        super().__init__(message)
        self.index = index


@dataclass(frozen=True, slots=True)
class Converted:
    """A statement ready for psycopg, and what typegen needs to describe it."""

    #: For psycopg: placeholders as %(name)s, every literal % doubled.
    pyformat: str
    #: For the server's describe: placeholders as $1, $2... in order of first use.
    numbered: str
    #: Parameter names in order of first use.
    params: tuple[str, ...]
    #: Parameters tested with IS NULL: None is a meaningful value for them.
    optional: frozenset[str]
    #: Column aliases with a forced nullability: name -> True (nullable) / False (not).
    nullability: dict[str, bool]
    #: Positional parameters ($1...) written in the SQL, which named queries cannot bind.
    positional: tuple[int, ...] = ()
    #: Words written `@word`: sqlc's parameters, which PostgreSQL reads as abs(word).
    at_words: tuple[str, ...] = ()


def convert(sql: str) -> Converted:
    """Find placeholders and aliases in `sql` with PostgreSQL's lexer.

    Raises:
        SqlTextError: the SQL does not lex; `index` is the offset in `sql`.

    >>> c = convert("select count(*) as \\"n!\\" from t where name like 'a%' and id = :id")
    >>> c.pyformat
    'select count(*) as "n" from t where name like \\'a%%\\' and id = %(id)s'
    >>> c.numbered, c.params, c.nullability
    ('select count(*) as "n" from t where name like \\'a%\\' and id = $1', ('id',), {'n': False})
    """
    try:
        tokens = list(_pg.scan(sql))
    except _pg.ParseError as ex:
        index = _index_of(str(ex))
        raise SqlTextError(str(ex).split(", at index")[0], index) from None

    params: list[str] = []
    optional: set[str] = set()
    nullability: dict[str, bool] = {}
    positional: list[int] = []
    at_words: list[str] = []
    # (start, end exclusive, pyformat text, numbered text) for each replaced span
    edits: list[tuple[int, int, str, str]] = []
    depth = 0  # inside [...]: a:b is an array slice, not a placeholder
    for i, tok in enumerate(tokens):
        text = sql[tok.start : tok.end + 1]
        if tok.name == "PARAM":
            positional.append(int(text[1:]))
        elif text == "[":
            depth += 1
        elif text == "]":
            depth = max(0, depth - 1)
        elif text == "@" and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            word = sql[nxt.start : nxt.end + 1]
            if nxt.start == tok.end + 1 and _WORD.fullmatch(word):
                at_words.append(word)
        elif text == ":" and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            word = sql[nxt.start : nxt.end + 1]
            if nxt.start != tok.end + 1 or not _WORD.fullmatch(word):
                continue
            prev = tokens[i - 1] if i else None
            if depth and prev is not None and prev.end + 1 == tok.start and sql[prev.start] != "[":
                continue  # a[lo:hi]
            if word not in params:
                params.append(word)
            if _tested_for_null(sql, tokens, i + 2) or _coalesced(tokens, i):
                optional.add(word)
            number = params.index(word) + 1
            edits.append((tok.start, nxt.end + 1, f"%({word})s", f"${number}"))
        elif tok.name == "IDENT" and text.startswith('"') and text[-2:] in ('!"', '?"'):
            prev = tokens[i - 1] if i else None
            if prev is not None and prev.name == "AS":
                name = text[1:-2].replace('""', '"')
                nullability[name] = text[-2] == "?"
                edits.append((tok.start, tok.end + 1, text[:-2] + '"', text[:-2] + '"'))
    return Converted(
        pyformat=_apply(sql, edits, 2),
        numbered=_apply(sql, edits, 3),
        params=tuple(params),
        optional=frozenset(optional),
        nullability=nullability,
        positional=tuple(positional),
        at_words=tuple(at_words),
    )


def statement_starts(sql: str) -> list[int]:
    """The offset in `sql` of each statement's first token: comments and empty
    statements (``;;``) count for nothing, a ``;`` in a string or ``$$`` body neither.

    Raises:
        SqlTextError: the SQL does not lex; `index` is the offset of the fault.

    >>> statement_starts("select ';';\\n-- two\\nselect 2")
    [0, 19]
    """
    try:
        tokens = list(_pg.scan(sql))
    except _pg.ParseError as ex:
        raise SqlTextError(str(ex).split(", at index")[0], _index_of(str(ex))) from None
    starts: list[int] = []
    expecting = True  # the next real token starts a statement
    # Inside a function's BEGIN ATOMIC ... END body, ";" ends the body's statements,
    # not ours; CASE ... END nests inside it.
    atomic = 0
    previous = ""
    for tok in tokens:
        if tok.name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if (tok.name == "ATOMIC" and previous == "BEGIN_P") or (atomic and tok.name == "CASE"):
            atomic += 1
        elif atomic and tok.name == "END_P":
            atomic -= 1
        elif sql[tok.start] == ";" and tok.end == tok.start and not atomic:
            expecting = True
        elif expecting:
            starts.append(tok.start)
            expecting = False
        previous = tok.name
    return starts


def _apply(sql: str, edits: list[tuple[int, int, str, str]], which: int) -> str:
    out, cursor = [], 0
    for edit in edits:
        start, end = edit[0], edit[1]
        piece = sql[cursor:start]
        out.append(piece.replace("%", "%%") if which == 2 else piece)
        out.append(str(edit[which]))
        cursor = end
    tail = sql[cursor:]
    out.append(tail.replace("%", "%%") if which == 2 else tail)
    return "".join(out)


def _tested_for_null(sql: str, tokens: list[_pg.Token], i: int) -> bool:
    """Whether tokens from `i` read `[::type] IS [NOT] NULL`."""
    if i < len(tokens) and tokens[i].name == "TYPECAST":
        i += 2  # skip the cast and the type name
        while i < len(tokens) and sql[tokens[i].start] in "[]":
            i += 1  # ::text[]
    names = [t.name for t in tokens[i : i + 3]]
    return names[:2] == ["IS", "NULL_P"] or names == ["IS", "NOT", "NULL_P"]


def _coalesced(tokens: list[_pg.Token], i: int) -> bool:
    """Whether the placeholder at `i` is the first argument of COALESCE(...)."""
    return i >= 2 and tokens[i - 1].name == "ASCII_40" and tokens[i - 2].name == "COALESCE"


def _index_of(message: str) -> int:
    found = re.search(r"at index (\d+)", message)
    return int(found.group(1)) if found else 0
