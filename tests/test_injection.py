"""Hostile identifiers and values: none executes anything, and the table is unchanged."""

from __future__ import annotations

import types
from typing import Any

import pytest

from persistence import (
    BaseRepository,
    ConfigurationError,
    Database,
    PersistenceError,
    QueryError,
    Settings,
)
from persistence.filters import Filter

from .test_repository import Item, Items, item

HOSTILE_NAMES = [
    "id; drop table items; --",
    "id'--",
    'id"--',
    'sku" from items; drop table items; --',
    "id) or (1=1",
    "1=1",
    "*",
    "id, sku",
    "name desc",
    "name; select pg_sleep(10)",
    "id/*",
    "*/",
    "--",
    ";",
    "id\x00",
    "\x00",
    "a" * 64,
    "é" * 40,  # 80 bytes
    "\uff49\uff44",  # "id" in fullwidth letters
    "\u0456d",  # "id" with a Cyrillic i
    "ID",
    " id",
    "id ",
    "items.id",
    "public.items",
    "(select 1)",
    "pg_sleep(1)",
    "id::text",
    "$1",
    "%s",
    "%(id)s",
    ":id",
    "\\",
    "sku' or '1'='1",
    '"sku"',
    "sku\nunion select * from pg_shadow",
    "",
    "-sku",  # fine as order_by ("descending"), hostile as a filter key
]

HOSTILE_VALUES = [
    "'; drop table items; --",
    "' or '1'='1",
    '"; drop table items; --',
    "%s",
    "%(name)s",
    ":name",
    "$1",
    "\\'; select 1; --",
    "/* */",
    "é' || pg_sleep(5) || '",
    "\uff53\uff45\uff4c\uff45\uff43\uff54",  # "select" in fullwidth letters
    "x" * 10_000_000,  # 10 MB
]


@pytest.fixture
def items(sample_settings: Settings):
    with Database(sample_settings) as db:
        repo = Items(db)
        for n in range(5):
            repo.insert(item(n))
        yield repo


def state(items: Items) -> list[tuple[object, ...]]:
    rows = items.db.fetch_all("select id, sku, name, price from items order by id")
    assert items.db.fetch_value("select to_regclass('items') is not null") is True
    return rows


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_names_are_refused_before_anything_is_sent(items: Items, name: str) -> None:
    before = state(items)
    items.db.metrics.reset()
    one: dict[str, Any] = {name: 1}
    two: dict[str, Any] = {name: [1, 2]}
    with pytest.raises(QueryError, match="is not a column of Item"):
        items.find(**one)
    with pytest.raises(QueryError, match="is not a column of Item"):
        items.count(**two)
    if name != "-sku":
        with pytest.raises(QueryError, match="is not a column of Item"):
            items.find(order_by=[name])
    with pytest.raises(QueryError, match="is not a column of Item"):
        items.update(1, **{name: "x"})
    with pytest.raises(QueryError, match="is not a column of Item"):
        items.upsert(item(99), conflict=[name])
    assert items.db.metrics.snapshot() == {}, "a statement reached the server"
    assert state(items) == before


def test_the_error_lists_the_valid_names_and_shows_no_raw_control_bytes(items: Items) -> None:
    hostile: dict[str, Any] = {"id\x00; drop": 1}
    with pytest.raises(QueryError) as info:
        items.find(**hostile)
    message = str(info.value)
    assert "\x00" not in message
    assert "valid names: sku, name, price, tags, owner_id, id, created_at, updated_at" in message


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
def test_hostile_values_are_only_data(items: Items, value: str) -> None:
    before = state(items)
    assert items.find(name=value) == []
    assert items.count(sku=[value, "sku-000001"]) == 1
    stored = items.insert(item(500, name=value))
    assert items.get(stored.id) == stored
    assert stored.name == value
    items.purge(stored.id)
    assert state(items) == before


def test_nul_bytes_in_values_are_a_clear_error(items: Items) -> None:
    before = state(items)
    with pytest.raises(PersistenceError, match="NUL"):
        items.insert(item(600, name="bad\x00value"))
    with pytest.raises(PersistenceError, match="NUL"):
        items.find(name="\x00")
    assert state(items) == before


def repository_for(table: str) -> type[Items]:
    """A repository class for `table`, defined at run time."""
    namespace = {"table": table}
    return types.new_class(
        "Repo", (BaseRepository[Item],), exec_body=lambda ns: ns.update(namespace)
    )


@pytest.mark.parametrize("table", ["items\x00", "t" * 64, "é" * 32, ""])
def test_unusable_table_names_fail_when_the_class_is_defined(table: str) -> None:
    with pytest.raises(ConfigurationError, match="not a usable PostgreSQL name"):
        repository_for(table)


def test_a_hostile_table_name_is_quoted_not_run(sample_settings: Settings) -> None:
    evil = repository_for("items; drop table items; --")
    with Database(sample_settings) as db:
        with pytest.raises(ConfigurationError, match="does not exist"):
            evil(db).find()
        assert db.fetch_value("select to_regclass('items') is not null") is True


def test_a_table_name_that_needs_quoting_is_found(sample_settings: Settings) -> None:
    odd = repository_for("Odd.Items")
    with Database(sample_settings) as db:
        db.execute('create table "Odd.Items" (like items including all)')
        db.execute("create table items_shadow (like items)")  # what "Odd"."Items" is not
        stored = odd(db).insert(item(1))
        assert odd(db).get(stored.id) == stored
        assert db.fetch_value('select count(*) from "Odd.Items"') == 1


HOSTILE_OPERATORS = [
    "<> '' or true or \"name\" =",
    "= '' or 1=1 --",
    "is not null or",
    "=",
    "!=",
    "LIKE",
    " like",
    "in",
    "similar to",
    "~",
    "",
    ";",
]


@pytest.mark.parametrize("op", HOSTILE_OPERATORS, ids=range(len(HOSTILE_OPERATORS)))
def test_only_the_toolkits_own_operators_reach_sql(items: Items, op: str) -> None:
    before = state(items)
    items.db.metrics.reset()
    with pytest.raises(QueryError, match="unknown filter operator"):
        items.delete_where(name=Filter(op, "x"))
    # A Filter smuggled past its own check (object.__setattr__) is refused where the
    # SQL is composed.
    smuggled = Filter("<", "x")
    object.__setattr__(smuggled, "op", op)
    with pytest.raises(QueryError, match="unknown filter operator"):
        items.delete_where(name=smuggled)
    with pytest.raises(QueryError, match="unknown filter operator"):
        items.find(name=smuggled)
    assert items.db.metrics.snapshot() == {}, "a statement reached the server"
    assert state(items) == before


def test_the_toolkits_operators_still_work(items: Items) -> None:
    assert items.count(name=Filter("<>", "item 1")) == 4
    assert items.count(name=Filter("like", "item%")) == 5
    with pytest.raises(QueryError, match="between filter needs"):
        Filter("between", 3)
