"""The toolkit's exceptions, and the one place where driver errors become them.

Every error the toolkit raises derives from `PersistenceError`. psycopg errors are
translated by SQLSTATE class in `translate()`, the single boundary, so callers catch
our names and never need to import psycopg's.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg

__all__ = [
    "BatcherFull",
    "CheckViolation",
    "ConfigurationError",
    "ConnectionFailed",
    "ConstraintViolation",
    "DatabaseError",
    "DeadlockDetected",
    "ForeignKeyViolation",
    "MigrationError",
    "NotFound",
    "NotNullViolation",
    "OutcomeUnknown",
    "PersistenceError",
    "PoolExhausted",
    "QueryError",
    "QueryLoadError",
    "QueryTimeout",
    "SerializationFailure",
    "TransientError",
    "UniqueViolation",
    "translate",
]


class PersistenceError(Exception):
    """Base class of every error raised by persistence."""

    __module__ = "persistence"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:  # ours: named where users import it from
            cls.__module__ = "persistence"


class ConfigurationError(PersistenceError):
    """A setting is missing, malformed or out of range."""


class ConnectionFailed(PersistenceError):
    """The server could not be reached, or refused the connection."""


class OutcomeUnknown(ConnectionFailed):
    """The connection died after a write was sent: it may or may not have committed.

    Never retried automatically (it could run twice). Reconcile: look the row up by a
    key you chose, or make the write idempotent and run it again.
    """


class PoolExhausted(PersistenceError):
    """No pooled connection became free within the pool timeout."""


class MigrationError(PersistenceError):
    """A migration is malformed, failed, or its applied file was edited; `migration` names it."""

    def __init__(self, message: str, *, migration: str | None = None):
        super().__init__(message)
        self.migration = migration


class BatcherFull(PersistenceError):
    """A batcher stayed full past the time `put()` was given to wait for room."""


class QueryLoadError(PersistenceError):
    """A `.sql` file of named queries is malformed; the message names file and line.

    `problems`: each query's problem, one a line in the message (`persistence types`
    prints them one a line, as `check` does).
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()):
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


class QueryError(PersistenceError):
    """A named query was called wrongly (a missing or unexpected parameter); nothing was sent."""


class NotFound(PersistenceError):
    """A statement that must return a row returned none."""


class DatabaseError(PersistenceError):
    """The server rejected a statement; `sqlstate` and `query` say which and why."""

    def __init__(self, message: str, *, sqlstate: str | None = None, query: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.query = query


class QueryTimeout(DatabaseError):
    """A statement was cancelled: it ran past statement_timeout, or waited past
    lock_timeout for a lock."""


class TransientError(DatabaseError):
    """A failure that may succeed if the whole transaction is run again."""


class SerializationFailure(TransientError):
    """A serializable transaction conflicted with a concurrent one (40001)."""


class DeadlockDetected(TransientError):
    """The server broke a deadlock by aborting this transaction (40P01)."""


class ConstraintViolation(DatabaseError):
    """A write broke an integrity constraint; `constraint` and `table` name it."""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        query: str | None = None,
        constraint: str | None = None,
        table: str | None = None,
        column: str | None = None,
        columns: tuple[str, ...] = (),
    ):
        super().__init__(message, sqlstate=sqlstate, query=query)
        self.constraint = constraint
        self.table = table
        self.column = column
        #: The key columns the server named ("Key (email)=..."), without their values.
        self.columns = columns or ((column,) if column else ())


class UniqueViolation(ConstraintViolation):
    """A row with the same unique key already exists."""


class ForeignKeyViolation(ConstraintViolation):
    """A referenced row is missing, or a referencing row still exists."""


class CheckViolation(ConstraintViolation):
    """A value failed a CHECK constraint."""


class NotNullViolation(ConstraintViolation):
    """A required column was given NULL."""


_CONSTRAINT_ERRORS: dict[type[psycopg.Error], type[ConstraintViolation]] = {
    pg.UniqueViolation: UniqueViolation,
    pg.ForeignKeyViolation: ForeignKeyViolation,
    pg.CheckViolation: CheckViolation,
    pg.NotNullViolation: NotNullViolation,
}

_STATE_ERRORS: dict[type[psycopg.Error], type[DatabaseError]] = {
    pg.QueryCanceled: QueryTimeout,
    pg.LockNotAvailable: QueryTimeout,  # lock_timeout: waited too long for a lock
    pg.SerializationFailure: SerializationFailure,
    pg.DeadlockDetected: DeadlockDetected,
}


# SQLSTATEs that mean "this connection is gone", not "this statement is wrong" (with
# class 08): admin_shutdown, crash_shutdown, cannot_connect_now, and the FATAL
# idle_in_transaction_session_timeout, which ends the session.
DISCONNECT_STATES = ("57P01", "57P02", "57P03", "25P03")


def is_disconnect(
    ex: BaseException,
    conn: psycopg.BaseConnection[Any] | None = None,
    *,
    without_sqlstate: bool = False,
) -> bool:
    """Whether `ex` says the connection died: `conn` is broken, or the SQLSTATE is of
    class 08 or in `DISCONNECT_STATES`. With `without_sqlstate`, so does any
    OperationalError without a SQLSTATE (libpq's "server closed the connection"); the
    retry path leaves that out: there a read runs again only on the server's word or a
    broken connection."""
    if not isinstance(ex, psycopg.Error):
        return False
    if conn is not None and conn.broken:
        return True
    state = ex.sqlstate
    if not state:
        return without_sqlstate and isinstance(ex, psycopg.OperationalError)
    return state.startswith("08") or state in DISCONNECT_STATES


def in_name(name: str | None) -> str:
    """The words naming the query in an error message: `` in 'name'``, or nothing."""
    return f" in {name!r}" if name else ""


_KEY_COLUMNS = re.compile(r"Key \((.*?)\)=")
_KEY_DETAIL = re.compile(
    r"Key \((.*?)\)=\(.*\)( (?:already exists|is not present in table|is still referenced"
    r" from table|conflicts with existing key).*)",
    re.DOTALL,
)


def detail_without_values(detail: str | None) -> str:
    """A server DETAIL without the row values it quotes, which may be personal data
    bound for logs: "Failing row contains (...)" is dropped, "Key (email)=(...) already
    exists." keeps its columns. Any other detail is kept.

    >>> detail_without_values('Key (email)=(ada@example.com) already exists.')
    'Key (email) already exists.'
    >>> detail_without_values('Failing row contains (1, ada@example.com).')
    ''
    """
    if not detail or detail.startswith("Failing row contains"):
        return ""
    key = _KEY_DETAIL.fullmatch(detail)
    if key:
        return f"Key ({key.group(1)}){key.group(2)}"
    return "" if detail.startswith("Key (") else detail


def translate(
    ex: BaseException, *, query: str | None = None, secrets: tuple[str, ...] = ()
) -> PersistenceError:
    """Return the toolkit's error for a driver error; the caller raises it `from ex`.

    `query` names the statement that failed (a named query or a repository operation);
    every string in `secrets` (the password) is scrubbed from the message.

    Besides psycopg's errors, the caller's data can fail on the client before anything
    is sent: UnicodeEncodeError (a lone surrogate in a str), RecursionError (JSON or
    arrays nested too deeply to encode), and libpq's limit of 65535 parameters. Those
    become QueryError naming `query`: catch ``(psycopg.Error, UnicodeError,
    RecursionError)`` around an operation and pass them here.
    """
    if isinstance(ex, PersistenceError):
        return ex
    where = in_name(query)
    # Only a pool raises PoolTimeout: psycopg_pool is loaded already (and `persistence
    # --help` does not load it just for this check).
    pool = sys.modules.get("psycopg_pool")
    if pool is not None and isinstance(ex, pool.PoolTimeout):
        return PoolExhausted(f"no connection free in the pool{where}: {scrub(str(ex), secrets)}")
    client = _client_error(ex, where)
    if client is not None:
        return client
    if not isinstance(ex, psycopg.Error):
        return PersistenceError(scrub(f"{type(ex).__name__}{where}: {ex}", secrets))

    diag = ex.diag
    primary = scrub(diag.message_primary or str(ex).strip(), secrets)
    sqlstate = ex.sqlstate
    for pg_class, ours in _CONSTRAINT_ERRORS.items():
        if isinstance(ex, pg_class):
            constraint = diag.constraint_name
            # The detail quotes the offending values ("Key (email)=(ada@...)"): keep the
            # column names, drop the values, which may be personal data bound for logs.
            key = _KEY_COLUMNS.match(diag.message_detail or "")
            columns = tuple(c.strip() for c in key.group(1).split(",")) if key else ()
            on = f" on ({', '.join(columns)})" if columns else ""
            named = f" {constraint!r}" if constraint else ""
            return ours(
                f"{_words(ours)}{named}{on}{where}: {primary}",
                sqlstate=sqlstate,
                query=query,
                constraint=constraint,
                table=diag.table_name,
                column=diag.column_name,
                columns=columns,
            )
    for pg_class, state_error in _STATE_ERRORS.items():
        if isinstance(ex, pg_class):
            return state_error(f"{primary}{where}", sqlstate=sqlstate, query=query)
    if is_disconnect(ex, without_sqlstate=True):
        # The client lost, or never had, a connection: the server went away or
        # terminated this session.
        reason = _lines_joined(primary).removeprefix("connection failed: ")
        advice = connection_advice(reason)
        return ConnectionFailed(f"connection failed{where}: {reason}{advice}")
    return DatabaseError(f"{primary}{where}", sqlstate=sqlstate, query=query)


#: What to do about a connection that failed, by libpq's or the server's words for
#: why; the first that matches is said. Only a server that could not be reached is
#: worth starting: one that answered and refused is running already.
UNREACHABLE_ADVICE = "start the server or point DATABASE_URL at one that is running"
_CONNECTION_ADVICE = (
    (
        re.compile(
            r"Connection refused|timeout expired|timed out|No route to host|Network is"
            r" unreachable|could not translate host name|Name or service not known|name"
            r" resolution|nodename nor servname|No such file or directory"
        ),
        UNREACHABLE_ADVICE,
    ),
    (
        re.compile(
            r"password authentication failed|authentication failed for user|role \".*\" does"
            r" not exist|no password supplied|password is too long"
        ),
        "check the user and password in DATABASE_URL",
    ),
    (
        re.compile(r"no pg_hba\.conf entry"),
        "the server's pg_hba.conf admits no such user, database and host: check them in"
        " DATABASE_URL, or have an entry added for them",
    ),
    (
        re.compile(r"invalid port number|invalid integer value .* for connection option \"port\""),
        "DATABASE_URL's port must be a number from 1 to 65535",
    ),
    (
        re.compile(r"No space left on device|could not extend file|disk full", re.IGNORECASE),
        "the server's disk is full: free space on it, then try again",
    ),
    (
        re.compile(r"too many clients|remaining connection slots are reserved"),
        "every connection slot of the server is taken: close idle connections (or lower"
        " DB_POOL_MAX) or raise the server's max_connections",
    ),
    (
        re.compile(r"invalid value for parameter|is outside the valid range for parameter"),
        "a session setting was refused: check the DB_* timeouts and the options in DATABASE_URL",
    ),
)


def connection_advice(reason: str) -> str:
    """``"; what to do"`` for a connection that failed for `reason`, or ``""`` when
    there is no advice to give (a connection lost mid-session says so itself)."""
    if _TLS_REFUSED.search(reason):
        # The server is up: it is its certificate that was refused, so say which
        # settings decide that rather than "start the server".
        return f"; {TLS_ADVICE}"
    for words, advice in _CONNECTION_ADVICE:
        if words.search(reason):
            return f"; {advice}"
    return ""


#: libpq's words when sslmode=verify-ca/verify-full refuses the server's certificate.
_TLS_REFUSED = re.compile(r"certificate verify failed|does not match host name|root certificate")
TLS_ADVICE = (
    "the server's certificate was refused: sslrootcert must name the CA that signed it,"
    " and the host in DATABASE_URL must be one the certificate names"
)


#: The shortest secret that `scrub` hides wherever it stands on its own; a shorter one
#: is hidden only where it stands as the password (``:x@``, ``password=x``).
SHORTEST = 4


#: libpq refuses, before sending, a statement with more parameters than the protocol's
#: 16-bit count: an OperationalError with no SQLSTATE, told apart only by its text.
MAX_PARAMETERS = 65535
_TOO_MANY_PARAMETERS = "number of parameters must be between 0 and 65535"


def _client_error(ex: BaseException, where: str) -> QueryError | None:
    """The QueryError for a failure of the caller's data on the client, before anything
    was sent (the connection is fine), or None for any other error."""
    if isinstance(ex, UnicodeEncodeError):
        # A lone surrogate ("\udc80", from os.fsdecode or a broken JSON decoder)
        # cannot be UTF-8; the character is shown escaped, never the rest of the value.
        bad = ex.object[ex.start : ex.end]
        return QueryError(
            f"cannot send{where}: a text parameter holds {bad!r}, which UTF-8 cannot"
            f" encode ({ex.reason}); nothing was sent"
        )
    if isinstance(ex, UnicodeError):
        return QueryError(f"cannot send{where}: a text parameter is not valid text: {ex}")
    if isinstance(ex, RecursionError):
        return QueryError(
            f"cannot send{where}: a parameter is nested too deeply to encode (JSON or arrays"
            " deeper than Python's recursion limit); nothing was sent"
        )
    if (
        isinstance(ex, psycopg.OperationalError)
        and ex.sqlstate is None
        and _TOO_MANY_PARAMETERS in str(ex)
    ):
        return QueryError(
            f"cannot send{where}: more than {MAX_PARAMETERS} parameters, PostgreSQL's limit;"
            " pass the values as one array parameter (= any(%s)) or in batches;"
            " nothing was sent"
        )
    return None


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace each secret (the whole string, never a piece of it) with ``***``.

    A secret of `SHORTEST` characters or more is hidden wherever it stands on its own;
    not where it is part of a longer word ("user" in ``role "nouser_zz"``), nor where it
    is a word of the message's prose ("server" in ``connection to server at``): hiding
    those would garble the message and tell which word the password is. A shorter
    secret is hidden only where it stands as the password (``:x@``, ``password=x``).

    >>> scrub('password=s3cr3tPW host="s3cr3tPW"', ("s3cr3tPW",))
    'password=*** host="***"'
    >>> scrub('connection to server at "h", port 1 failed', ("server",))
    'connection to server at "h", port 1 failed'
    >>> scrub("postgresql://u:x@h/db: connection refused", ("x",))
    'postgresql://u:***@h/db: connection refused'
    """
    for secret in secrets:
        if len(secret) >= SHORTEST:
            text = _hide_standing(text, secret)
        elif secret:
            short = re.escape(secret)
            text = re.sub(
                rf"(:){short}(?=@)|(\bpassword\s*=\s*'?){short}(?=['&\s]|$)",
                lambda m: f"{m.group(1) or m.group(2)}***",
                text,
                flags=re.IGNORECASE,
            )
    return text


def _hide_standing(text: str, secret: str) -> str:
    if secret not in text:  # almost every message
        return text
    out: list[str] = []
    end = 0
    for found in re.finditer(re.escape(secret), text):
        before = text[found.start() - 1] if found.start() else ""
        after = text[found.end()] if found.end() < len(text) else ""
        inside_word = (_word_char(before) and _word_char(secret[0])) or (
            _word_char(after) and _word_char(secret[-1])
        )
        # Between spaces (or a space and an end of the text): a word of the prose.
        prose = (before + after).strip() == "" and (before + after) != ""
        if inside_word or prose:
            continue
        out += [text[end : found.start()], "***"]
        end = found.end()
    return "".join(out) + text[end:]


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _words(cls: type) -> str:
    # "UniqueViolation" -> "unique violation": messages start lowercase.
    name = cls.__name__
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()


def _lines_joined(text: str) -> str:
    """`text`'s non-blank lines, stripped, on one line (spaces inside a line are kept)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else text
