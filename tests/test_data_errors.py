"""Data a caller passes that fails on the client becomes a QueryError naming the query.

A lone surrogate in a string, JSON nested 2,000 deep, 70,000 parameters: each fails
before anything is sent, and arrives as the toolkit's error, not as UnicodeEncodeError,
RecursionError or a ConnectionFailed that would send a caller reconnecting.

`translate()` is the boundary; `Database.run()` hands these exceptions to it.
"""

from __future__ import annotations

import re
import types
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from persistence import BaseRepository, ConfigurationError, Database, QueryError, Settings
from persistence.errors import translate

from .test_repository import Item, Items

SURROGATE = "ok\udc80ok"


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def nested_object(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture
def conn(fresh_settings: Settings):
    with psycopg.connect(fresh_settings.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def db(sample_settings: Settings):
    with Database(sample_settings) as database:
        yield database


def failure(conn: psycopg.Connection[Any], query: str, params: Any) -> BaseException:
    """What psycopg raises for `query` with `params` on a real server."""
    with pytest.raises((psycopg.Error, UnicodeError, RecursionError)) as info:
        conn.execute(query, params)
    return info.value


@pytest.mark.parametrize(
    ("query", "params", "expected"),
    [
        ("select %s::text", [SURROGATE], r"holds '\\udc80', which UTF-8 cannot encode"),
        ("select %s::jsonb", [Jsonb(nested(2000))], "nested too deeply"),
        ("select %s::jsonb", [Jsonb(nested_object(2000))], "nested too deeply"),
        ("select %s", [nested(2000)], "nested too deeply"),
        ("select " + ", ".join(["%s"] * 70_000), list(range(70_000)), "more than 65535"),
    ],
    ids=["surrogate", "json-array", "json-object", "array", "70000-params"],
)
def test_translate_names_the_query_and_says_nothing_was_sent(
    conn: psycopg.Connection[Any], query: str, params: Any, expected: str
) -> None:
    ex = failure(conn, query, params)
    ours = translate(ex, query="users.find_them")
    assert type(ours) is QueryError
    message = str(ours)
    assert "in 'users.find_them'" in message
    assert "nothing was sent" in message
    assert re.search(expected, message), message
    assert "\n" not in message
    # The connection is fine: the failure was the data's, on the client.
    assert conn.execute("select 1").fetchone() == (1,)


def test_70000_parameters_are_a_query_error_not_a_lost_connection(db: Database) -> None:
    with pytest.raises(QueryError, match="more than 65535 parameters"):
        db.fetch_value("select " + ", ".join(["%s"] * 70_000), list(range(70_000)))
    assert db.fetch_value("select 1") == 1


@pytest.mark.parametrize("table", [SURROGATE, "items\udcff"])
def test_a_surrogate_in_a_table_name_fails_when_the_class_is_defined(table: str) -> None:
    with pytest.raises(ConfigurationError, match="not a usable PostgreSQL name"):
        types.new_class(
            "Repo", (BaseRepository[Item],), exec_body=lambda ns: ns.update(table=table)
        )


def test_a_surrogate_in_a_named_query_parameter(db: Database) -> None:
    with pytest.raises(QueryError, match=r"in 'users.get_user_by_email'.*\\udc80"):
        db.queries.users.get_user_by_email(email=SURROGATE)


def test_a_surrogate_in_a_repository_filter(db: Database) -> None:
    with pytest.raises(QueryError, match=r"in 'items.find'.*\\udc80"):
        Items(db).find(name=SURROGATE)


def test_json_nested_2000_deep(db: Database) -> None:
    with pytest.raises(QueryError, match="nested too deeply"):
        db.execute("select %s::jsonb", [Jsonb(nested(2000))])
