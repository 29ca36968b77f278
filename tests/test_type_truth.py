"""Types that never lie: every value that comes back matches its generated annotation.

tests/alltypes has one column of every type a service meets (scalars, arrays of each,
2-D arrays, enums, enum arrays, domains, ranges, multiranges, a composite type) and
the module `persistence types` generated for queries over it. Here real values and
real NULLs are fetched by every path the toolkit offers, sync and async, and each one
is checked against its annotation at run time by typeguard.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import class_row
from typeguard import CollectionCheckStrategy, TypeCheckError, check_type

from persistence import (
    AsyncBaseRepository,
    AsyncDatabase,
    BaseRepository,
    Database,
    PersistenceError,
    Settings,
)
from persistence._describe import describe
from persistence._scratch import create_database, drop_database
from persistence._typerender import render
from persistence.queries import Catalog

from .alltypes.typed import AllTypesRow, AsyncQueries, ComputedRow, Queries

ALLTYPES = Path(__file__).parent / "alltypes"


def as_dict(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    return {f.name: getattr(row, f.name) for f in fields(row)}


def problems(row: Any, cls: type[Any]) -> list[str]:
    """Each field of `row` (a dataclass or a dict) that does not match `cls`'s annotation."""
    hints = typing.get_type_hints(cls)
    values = as_dict(row)
    assert set(values) == set(hints), "the row has exactly the generated fields"
    found = []
    for name, hint in hints.items():
        try:
            check_type(
                values[name], hint, collection_check_strategy=CollectionCheckStrategy.ALL_ITEMS
            )
        except TypeCheckError as ex:
            found.append(f"{name}: {values[name]!r} is not {hint}: {ex}")
    return found


def check(rows: list[Any], cls: type[Any] = AllTypesRow) -> None:
    assert len(rows) == 2
    values, nulls = rows
    # Every column is really exercised with a value, and (but the key) with a NULL.
    assert [k for k, v in as_dict(values).items() if v is None and k not in NO_VALUE] == []
    assert problems(values, cls) == []
    assert problems(nulls, cls) == []


# Columns the server cannot give a value: xml without libxml (the embedded server).
NO_VALUE: set[str] = set()


@pytest.fixture
def settings(project_database: Callable[..., Settings]) -> Settings:
    settings = project_database(ALLTYPES)
    NO_VALUE.clear()
    with Database(settings) as db:
        q = Queries(db)
        q.all_types.fill()
        try:
            q.all_types.set_xml(xml="<a>x</a>")
        except PersistenceError as ex:
            if "unsupported XML feature" not in str(ex):
                raise
            NO_VALUE.update({"c_xml", "c_xml_text"})
    return settings


class AllTypes(BaseRepository[AllTypesRow]):
    table = "all_types"


class AsyncAllTypes(AsyncBaseRepository[AllTypesRow]):
    table = "all_types"


def test_every_path_sync(settings: Settings) -> None:
    with Database(settings) as db:
        q = Queries(db)
        check(q.all_types.all_rows())
        check(q.all_types.computed(), ComputedRow)
        check(db.queries.all_types.all_rows())  # untyped: dicts
        rows = db.fetch_all(
            "select * from all_types order by id", row_factory=class_row(AllTypesRow)
        )
        check(rows)
        check(AllTypes(db).find(order_by="id"))
        with db.transaction():
            check(q.all_types.all_rows())


async def test_every_path_async(settings: Settings) -> None:
    async with AsyncDatabase(settings) as db:
        q = AsyncQueries(db)
        check(await q.all_types.all_rows())
        check(await q.all_types.computed(), ComputedRow)
        check(await db.queries.all_types.all_rows())
        rows = await db.fetch_all(
            "select * from all_types order by id", row_factory=class_row(AllTypesRow)
        )
        check(rows)
        check(await AsyncAllTypes(db).find(order_by="id"))
        async with db.transaction():
            check(await q.all_types.all_rows())


def test_enum_arrays_are_lists_of_labels(settings: Settings) -> None:
    with Database(settings) as db:
        row = Queries(db).all_types.all_rows()[0]
        assert row.c_mood_array == ["sad", "ok"]
        assert row.c_mood_2d == [["sad", "ok"], ["ok", "happy"]]
        assert row.c_mood_domain_array == ["happy"]
        assert row.c_positive_array == [1, 2]
        assert db.fetch_value("select array['ok', 'sad']::mood[]") == ["ok", "sad"]
        assert Queries(db).all_types.set_moods(moods=["happy", "sad"], id=row.id) == 1
        assert Queries(db).all_types.all_rows()[0].c_mood_array == ["happy", "sad"]


def test_a_database_recreated_under_its_name_is_read_again(
    persistence_settings: Settings,
) -> None:
    """Type oids are per database incarnation: the cache must not outlive one."""
    name = f"persistence_types_{os.getpid()}"
    try:
        for labels in (["a", "b"], ["x", "y", "z"]):
            settings = create_database(persistence_settings, name)
            with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("create type e as enum ({})").format(
                        sql.SQL(", ").join(map(sql.Literal, labels))
                    )
                )
            with Database(settings) as db:
                assert db.fetch_value("select enum_range(null::e)") == labels
    finally:
        drop_database(persistence_settings, name)


# Shapes whose NOT NULL columns the server reports as straight from a table, yet whose
# rows hold NULL (users: email NOT NULL; posts: title NOT NULL).
NULLING = """
-- name: cte_left_join()
with p as (select * from posts)
select u.email, p.title from users u left join p on p.user_id = u.id;

-- name: rollup()
select plan, email, count(*) as n from users group by plan, rollup(email);

-- name: cube()
select plan, email, count(*) as n from users group by cube(plan, email);

-- name: grouping_sets()
select plan, email, created_at
  from users group by grouping sets ((plan, email), (plan, created_at));

-- name: rollup_below()
select r.email from (select email from users group by rollup(email)) r;
"""


def test_rows_with_nulls_from_joins_and_grouping_sets(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """Generated from the schema, run for real: each query returns a NULL where the
    table's column is NOT NULL, and the annotation takes it."""
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "nulling.sql").write_text(NULLING)
    with psycopg.connect(sample_settings.conninfo(), autocommit=True) as conn:
        found, errors = describe(conn, Catalog(folder))
    assert errors == []
    path = tmp_path / "nulling_typed.py"
    path.write_text(render(found, "queries/"))
    name = f"nulling_typed_{os.getpid()}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # get_type_hints reads the annotations' names there
    try:
        spec.loader.exec_module(module)
        settings = dataclasses.replace(sample_settings, queries_dir=folder)
        with Database(settings) as db:
            db.execute("insert into users (email) values ('a@x.org'), ('b@x.org')")
            db.execute(
                "insert into posts (user_id, title)"
                " select id, 'hi' from users where email = 'a@x.org'"
            )
            q = module.Queries(db).nulling
            lies = {}
            for query in ("cte_left_join", "rollup", "cube", "grouping_sets", "rollup_below"):
                rows = getattr(q, query)()
                assert any(None in as_dict(row).values() for row in rows), query
                if wrong := [p for row in rows for p in problems(row, type(row))]:
                    lies[query] = wrong
            assert lies == {}
    finally:
        del sys.modules[name]
