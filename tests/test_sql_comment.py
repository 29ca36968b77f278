"""Every statement names itself in a sqlcommenter comment the server shows.

A statement blocked on a lock held by the test is visible in pg_stat_activity, with its
text as the client sent it: the comment must be there, and no parameter value.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from persistence import DEFAULT, BaseRepository, Database, Migrator, Settings
from persistence._comment import attach, comment, name_in, strip
from persistence.errors import ConfigurationError


@dataclass
class Item:
    sku: str
    name: str
    price: Decimal = DEFAULT
    tags: list[str] = DEFAULT
    id: int = DEFAULT


class Items(BaseRepository[Item]):
    table = "items"


def blocked_text(settings: Settings, call: Callable[[], Any], table: str) -> str:
    """The text pg_stat_activity shows for `call` while it waits on a lock on `table`.
    (`call` runs once before, so that a connection's first-use queries are done.)"""
    call()
    with psycopg.connect(settings.conninfo(), autocommit=True) as admin:
        admin.execute("begin")
        admin.execute(f"lock table {table} in access exclusive mode")
        errors: list[BaseException] = []

        def run() -> None:
            try:
                call()
            except BaseException as ex:
                errors.append(ex)

        worker = threading.Thread(target=run)
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                row = admin.execute(
                    "select query from pg_stat_activity"
                    " where wait_event_type = 'Lock' and datname = current_database()"
                    " and pid <> pg_backend_pid()"
                ).fetchone()
                if row:
                    return str(row[0])
                time.sleep(0.02)
            raise AssertionError("the call never waited on the lock")
        finally:
            admin.execute("rollback")
            worker.join(10)
            assert not errors, errors


def test_named_query_is_named_in_pg_stat_activity(sample_settings: Settings) -> None:
    with Database(sample_settings) as db:
        text = blocked_text(
            sample_settings,
            lambda: db.queries.users.get_user_by_email(email="secret-value@example.com"),
            "users",
        )
    assert text.startswith("select")
    assert text.endswith(" /* persistence='users.get_user_by_email' */;")
    assert name_in(text) == "users.get_user_by_email"
    assert "secret-value" not in text


def test_repository_call_is_named_in_pg_stat_activity(sample_settings: Settings) -> None:
    with Database(sample_settings) as db:
        items = Items(db)
        text = blocked_text(sample_settings, lambda: items.get(424242), "items")
    assert text.startswith("select")
    assert text.endswith(" /* persistence='items.get' */")
    assert "424242" not in text


def test_migration_statements_are_named(tmp_path: Path, empty_settings: Settings) -> None:
    # current_query() is the text the server received, comment included.
    (tmp_path / "0001_seen.sql").write_text(
        "-- a migration that records how its statement reached the server\n"
        "create table seen as select current_query() as q;\n"
    )
    (tmp_path / "0001_seen.rollback.sql").write_text("drop table seen;\n")
    settings = dataclasses.replace(empty_settings, migrations_dir=tmp_path)
    Migrator(settings, out=lambda _: None).migrate()
    with psycopg.connect(settings.conninfo()) as conn:
        row = conn.execute("select q from seen").fetchone()
    assert row is not None
    assert row[0].endswith(" /* persistence='migrations.0001_seen' */;")


def test_migration_error_line_ignores_the_comment(tmp_path: Path, empty_settings: Settings) -> None:
    (tmp_path / "0001_bad.sql").write_text("create table a (id int);\n\nselect nope from a;\n")
    (tmp_path / "0001_bad.rollback.sql").write_text("drop table a;\n")
    settings = dataclasses.replace(empty_settings, migrations_dir=tmp_path)
    with pytest.raises(Exception, match=r"0001_bad.sql:3: column \"nope\" does not exist"):
        Migrator(settings, out=lambda _: None).migrate()


def test_comment_off(sample_settings: Settings) -> None:
    settings = dataclasses.replace(sample_settings, sql_comment=False)
    with Database(settings) as db:
        text = blocked_text(settings, lambda: db.queries.users.count_users(), "users")
        assert text.startswith("select count(*)")
        assert "persistence=" not in text
        items = Items(db)
        text = blocked_text(settings, lambda: items.get(1), "items")
        assert text.startswith("select ")
        assert "persistence=" not in text
        assert items.insert(Item(sku="s-1", name="one")).id > 0
        done = items.upsert_many([Item(sku="s-1", name="uno")], conflict=["sku"])
        assert (done.inserted, done.updated) == (0, 1)


def test_setting_from_env() -> None:
    assert Settings.from_env({}).sql_comment is True
    assert Settings.from_env({"DB_SQL_COMMENT": "0"}).sql_comment is False
    assert Settings.from_env({"DB_SQL_COMMENT": "off"}).sql_comment is False
    with pytest.raises(ConfigurationError, match="DB_SQL_COMMENT must be 1 or 0"):
        Settings.from_env({"DB_SQL_COMMENT": "maybe"})


def test_escaping() -> None:
    # sqlcommenter: URL-encoded, so a name can never end the comment or inject SQL.
    assert comment("a*/ drop table x; /*") == (
        "/* persistence='a%2A%2F%20drop%20table%20x%3B%20%2F%2A' */"
    )
    assert comment("a b", pyformat=True) == "/* persistence='a%%20b' */"
    assert name_in(comment("it's")) == "it's"
    # At the end, before a final semicolon; after a -- comment, on a line of its own.
    assert attach("select 1 ;\n", "x") == "select 1 /* persistence='x' */;"
    assert attach("select 1 -- one;", "x") == "select 1 -- one\n/* persistence='x' */;"
    assert strip(attach("select 1", "x").encode()) == b"select 1"
    assert strip(b"select 1") == b"select 1"
