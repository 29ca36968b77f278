"""The JSON library for json/jsonb values, per pool: the standard library by default,
orjson on request (`DB_JSON=orjson`), registered on the pool's connections only.

orjson parses and serialises several times faster; values come back the same (the
same dicts, lists, str, int, float, bool and None). It is stricter on the way in:
dict keys must be strings, and an int beyond 64 bits is refused (the standard library
turns int keys into strings, and sends big ints as they are).

Either way, a value that is not a JSON document (a set, an object) is refused before
anything is sent, as a `DatabaseError` naming the query, not a bare TypeError.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.adapt import PyFormat
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

from .errors import ConfigurationError

__all__ = ["check_available", "configure"]


def check_available(library: str) -> None:
    """Refuse, up front, a library that is not installed.

    Raises:
        ConfigurationError: naming the package to install.
    """
    if library == "orjson":
        try:
            import orjson  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "DB_JSON=orjson needs the orjson package: pip install 'persistence-pg[orjson]'"
            ) from None


def configure(conn: Any, library: str) -> None:
    """Register `library` for json/jsonb on `conn`, and dicts sent as jsonb with it."""
    if library == "orjson":
        import orjson

        set_json_loads(orjson.loads, conn)
        set_json_dumps(_orjson_dumps, conn)
    else:
        set_json_dumps(_stdlib_dumps, conn)
    # A dict parameter is a JSON document: jsonb, through the dumper just set, on this
    # pool's connections only (psycopg's global adapters serve every other user).
    conn.adapters.register_dumper(dict, conn.adapters.get_dumper(Jsonb, PyFormat.TEXT))


# Module-level functions, not closures: psycopg caches a dumper class per function.


def _stdlib_dumps(obj: Any) -> str:
    try:
        return json.dumps(obj)
    except (TypeError, ValueError) as ex:
        raise psycopg.DataError(f"not a JSON document: {ex}") from None


def _orjson_dumps(obj: Any) -> bytes:
    import orjson  # imported by configure() already: a dictionary lookup here

    try:
        return orjson.dumps(obj)
    except (TypeError, ValueError) as ex:
        raise psycopg.DataError(f"not a JSON document: {ex}") from None
