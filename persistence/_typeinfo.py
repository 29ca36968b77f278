"""Arrays of the database's own types, loaded as lists, on every connection we open.

psycopg loads a type it has no loader for as its text. For an enum that is its label,
which is what the generated `Literal` says; but an array of an enum (`status[]`), or
an array of a domain (`positive[]`, a domain over an enum...), arrives as the array's
text, `'{open,closed}'`, where the generated module declares a list. So each
connection the toolkit opens gets an array loader for every such array type, whose
elements load as the type under the domains (an enum's label as str, a domain over
integer as int).

The array types of a database are read once and cached by server and database, then
registered on each new connection without a round trip. Migrations, and creating or
dropping a database, clear the cache (see `forget`): connections opened after that see
the new types. (Types created by another process, or a database recreated under the
same name by another tool, are seen after a restart: a cache keyed by name cannot know.)
"""

from __future__ import annotations

import threading
from typing import Any

from psycopg import AsyncConnection, Connection
from psycopg.types import TypeInfo
from psycopg.types.array import register_array

__all__ = ["aregister_types", "forget", "register_types"]

# Every array type whose element is an enum or a domain, with the element's type under
# all its domains. (Arrays of built-in types are registered by psycopg already.)
_ARRAYS = """
with recursive base (oid, base) as (
        select oid, typbasetype from pg_type where typtype = 'd'
    union all
        select b.oid, t.typbasetype from base b join pg_type t on t.oid = b.base
         where t.typtype = 'd'
)
select a.typname, coalesce(
           (select b.base from base b join pg_type t on t.oid = b.base
             where b.oid = e.oid and t.typtype <> 'd'),
           e.oid)::int8,
       a.oid::int8, e.typdelim
  from pg_type a
  join pg_type e on e.oid = a.typelem
 where a.typlen = -1 and a.typcategory = 'A' and e.typtype in ('e', 'd')
"""

_Key = tuple[str, int, str]
_cache: dict[_Key, list[TypeInfo]] = {}
_lock = threading.Lock()


def _key(conn: Connection[Any] | AsyncConnection[Any]) -> _Key:
    info = conn.info
    return (info.host, info.port, info.dbname)


def _learn(conn: Connection[Any] | AsyncConnection[Any], rows: list[Any]) -> list[TypeInfo]:
    """The array types of `conn`'s database from `_ARRAYS`' rows, cached."""
    # TypeInfo(name, element oid, array oid): register_array reads exactly these.
    infos = [
        TypeInfo(str(name), int(elem), int(array), delimiter=str(delim))
        for name, elem, array, delim in rows
    ]
    with _lock:
        _cache[_key(conn)] = infos
    return infos


def _register(conn: Connection[Any] | AsyncConnection[Any], infos: list[TypeInfo]) -> None:
    for info in infos:
        # On the connection's own adapters: psycopg's global ones serve other databases,
        # where the same oid may be another type.
        register_array(info, conn)


def register_types(conn: Connection[Any]) -> None:
    """Register the loaders for the database's enum and domain arrays on `conn`."""
    infos = _cache.get(_key(conn))
    if infos is None:
        with conn.cursor() as cur:
            infos = _learn(conn, cur.execute(_ARRAYS).fetchall())
        if conn.info.transaction_status:
            conn.rollback()  # not autocommit: leave the connection as we found it
    _register(conn, infos)


async def aregister_types(conn: AsyncConnection[Any]) -> None:
    """`register_types` for an async connection."""
    infos = _cache.get(_key(conn))
    if infos is None:
        async with conn.cursor() as cur:
            await cur.execute(_ARRAYS)
            infos = _learn(conn, await cur.fetchall())
        if conn.info.transaction_status:
            await conn.rollback()  # not autocommit: leave the connection as we found it
    _register(conn, infos)


def forget() -> None:
    """Drop what is cached: the next connection opened reads the types again. Called
    after migrations, which may create or drop types."""
    with _lock:
        _cache.clear()
