"""DB_JSON=orjson: the same values as the standard library, through every path."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from persistence import (
    DEFAULT,
    BaseRepository,
    ConfigurationError,
    Database,
    DatabaseError,
    Settings,
)
from persistence.queries import as_json

CORPUS: list[Any] = [
    {},
    [],
    {"a": 1, "b": [1, 2.5, "x", None, True, False], "c": {"d": {"e": []}}},
    [{"nested": [[1], [2, [3]]]}, 'text with \u00e9 and \u2603 and "quotes"'],
    {"big": 2**62, "neg": -(2**62), "float": 1.5e-300, "zero": 0.0},
    "a plain string",
    123,
    None,
]


@dataclass
class Doc:
    body: Any
    id: int = DEFAULT


class Docs(BaseRepository[Doc]):
    table = "docs"


@dataclass
class CodedDoc:
    body: Any
    code: str
    id: int = DEFAULT


class CodedDocs(BaseRepository[CodedDoc]):
    table = "docs"


@pytest.fixture
def docs_settings(fresh_settings: Settings, admin) -> Settings:
    admin.execute("create table docs (id int generated always as identity primary key, body jsonb)")
    return fresh_settings


@pytest.mark.parametrize("library", ["json", "orjson"])
def test_insert_many_stores_what_insert_stores(docs_settings: Settings, library: str) -> None:
    # COPY's JSON path must take every document insert takes: a top-level list, string,
    # bool or number too, not only objects.
    values = [*CORPUS, True, [1, 2]]
    settings = dataclasses.replace(docs_settings, json=library)
    with Database(settings) as db:
        docs = Docs(db)
        for value in values:
            docs.insert(Doc(body=value))
        docs.insert_many([Doc(body=value) for value in values])
        docs.insert_many(Doc(body=value) for value in values)
        stored = [row[0] for row in db.fetch_all("select body from docs order by id")]
        # A field annotated str for a typed column sends its rows as text COPY: there
        # no column type tells psycopg that a list is a document, not an array.
        db.execute("alter table docs add column code int")
        coded = [CodedDoc(body=value, code="7") for value in values]
        CodedDocs(db).insert_many(coded)
        CodedDocs(db).insert_many(iter(coded))
        rows = db.fetch_all("select body, code from docs where code is not null order by id")
    assert stored == values * 3
    assert rows == [(value, 7) for value in values] * 2


@pytest.mark.parametrize("library", ["json", "orjson"])
def test_values_come_back_the_same(docs_settings: Settings, library: str) -> None:
    settings = dataclasses.replace(docs_settings, json=library)
    with Database(settings) as db:
        docs = Docs(db)
        for value in CORPUS:
            stored = docs.insert(Doc(body=value))
            assert stored.body == value
            assert docs.get(stored.id) == stored
            assert db.fetch_value("select %s::jsonb", [as_json(value)]) == value
        if isinstance(CORPUS[2], dict):
            assert db.fetch_value("select %s", [CORPUS[2]]) == CORPUS[2]  # a dict is jsonb


def test_orjson_is_the_library_in_use(docs_settings: Settings) -> None:
    # orjson refuses a dict with an int key, which the standard library turns into "1".
    with Database(docs_settings) as db:
        assert db.fetch_value("select %s::jsonb", [{1: "x"}]) == {"1": "x"}
    with Database(dataclasses.replace(docs_settings, json="orjson")) as db:
        with pytest.raises(DatabaseError, match="not a JSON document: Dict key must be str"):
            db.fetch_value("select %s::jsonb", [{1: "x"}])
        assert db.fetch_value("select '{\"k\": [1]}'::jsonb") == {"k": [1]}


@pytest.mark.parametrize("library", ["json", "orjson"])
def test_a_value_that_is_not_json_is_refused_naming_the_query(
    docs_settings: Settings, library: str
) -> None:
    with Database(dataclasses.replace(docs_settings, json=library)) as db:
        docs = Docs(db)
        with pytest.raises(DatabaseError, match=r"not a JSON document.*in 'docs.insert'"):
            docs.insert(Doc(body={"tags": {"a", "b"}}))  # a set
        with db.transaction():  # nothing was sent: the transaction goes on
            with pytest.raises(DatabaseError, match="not a JSON document"):
                db.execute("insert into docs (body) values (%s)", [{"when": object()}])
            assert docs.count() == 0


def test_an_unknown_json_library_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DB_JSON must be one of json, orjson"):
        Settings.from_env({"DB_JSON": "simplejson"})
