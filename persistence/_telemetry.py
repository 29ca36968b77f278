"""OpenTelemetry spans for named queries, repository calls and migrations, when the
application has `opentelemetry-api` installed; nothing at all when it has not.

A span is named by the query's name (`users.get_user_by_email`) and carries the
database semantic conventions: `db.system.name`, `db.namespace`, `db.operation.name`,
`db.query.text` (the SQL with its placeholders: never a parameter value, and a
`sql.Literal` shown as ?) and
`server.address` / `server.port`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from psycopg import sql

__all__ = ["span", "statement_text"]

try:  # an optional dependency: no import cost, no call cost when it is absent
    from opentelemetry import trace as _trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    # Providers whose spans go nowhere: the API's default (no SDK configured, as when
    # opentelemetry-api came in as another package's dependency) and the explicit no-op.
    _SILENT: tuple[type, ...] = (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider)
except ImportError:  # pragma: no cover - exercised where OpenTelemetry is not installed
    _trace = None  # type: ignore[assignment]

_FIRST_WORD = re.compile(r"\s*(?:/\*.*?\*/\s*)*([A-Za-z]+)", re.DOTALL)
_NULL = nullcontext()


_tracer: tuple[Any, Any] = (None, None)  # (provider, its tracer): one per provider


def span(name: str | None, statement: Any, where: dict[str, str]) -> Any:
    """A context manager timing one call as a CLIENT span (a shared no-op without
    OpenTelemetry, without a configured SDK, or for work that has no name)."""
    if _trace is None or name is None:
        return _NULL
    # Asked on every call, as the application may configure its SDK after the first
    # query; an unconfigured API would otherwise cost a tenth of a pooled call.
    provider = _trace.get_tracer_provider()
    if isinstance(provider, _SILENT):
        return _NULL
    return _span(_tracer_of(provider), name, statement, where)


def _tracer_of(provider: Any) -> Any:
    global _tracer
    if _tracer[0] is not provider:
        _tracer = (provider, provider.get_tracer("persistence"))
    return _tracer[1]


@contextmanager
def _span(tracer: Any, name: str, statement: Any, where: dict[str, str]) -> Iterator[None]:
    attributes = {"db.system.name": "postgresql", "db.system": "postgresql", **where}
    if statement is not None:
        text = attributes["db.query.text"] = statement_text(statement)
        verb = _FIRST_WORD.match(text)
        if verb:
            attributes["db.operation.name"] = verb.group(1).upper()
    with tracer.start_as_current_span(
        name, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
    ) as current:
        try:
            yield
        except BaseException as ex:
            # The error's type, never its message: a message may quote values.
            current.set_attribute("error.type", type(ex).__name__)
            current.set_status(Status(StatusCode.ERROR))
            raise


def statement_text(statement: Any) -> str:
    """A statement as the slow-query log shows it: its SQL text, never a value. A
    psycopg `sql` object is rendered (not its repr), each `Literal` in it as "?".

    >>> statement_text(sql.SQL("select {} from {}").format(sql.Literal(42), sql.Identifier("t")))
    'select ? from "t"'
    """
    if isinstance(statement, bytes):
        return statement.decode(errors="replace")
    if isinstance(statement, str):
        return statement
    if isinstance(statement, sql.Composed):
        return "".join(statement_text(part) for part in statement)
    if isinstance(statement, sql.SQL | sql.Identifier | sql.Placeholder):
        return statement.as_string()
    return "?"  # a Literal (a value), or what we cannot tell is not one
