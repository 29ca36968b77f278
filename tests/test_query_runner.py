# Generated from tests/test_query_runner_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""Named queries through the typed module and by attribute, on a real server.

Generated from tests/test_query_runner_async.py: edit that file.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest

from persistence import Database, NotFound, QueryError, Settings, UniqueViolation

from .sample.typed import ListUsersRow, PostsWithAuthorsRow, Queries, UsersRow


@pytest.fixture
def db(sample_settings: Settings):
    with Database(sample_settings) as database:
        yield database


def test_rows_come_back_as_the_generated_dataclasses(db: Database) -> None:
    q = Queries(db)
    ada = q.users.create_user(email="ada@example.com", name="Ada", plan="pro")
    assert isinstance(ada, UsersRow)
    assert isinstance(ada.id, UUID)
    assert isinstance(ada.created_at, datetime)
    assert (ada.email, ada.name, ada.plan, ada.tags, ada.score, ada.meta) == (
        "ada@example.com",
        "Ada",
        "pro",
        [],
        None,
        {},
    )
    fetched = q.users.get_user(id=ada.id)
    assert fetched == ada, "the same table row, the same class"
    assert fetched.email == "ada@example.com"
    assert q.users.get_user(id=UUID(int=0)) is None
    assert q.users.email_of(id=ada.id) == "ada@example.com"
    with pytest.raises(NotFound, match=r"'users.email_of' \(.*users.sql:\d+\) returned no row"):
        q.users.email_of(id=UUID(int=0))


def test_every_operator(db: Database) -> None:
    q = Queries(db)
    inserted = q.users.insert_users(
        [
            {"email": "bob@example.com", "name": "Bob", "plan": "free"},
            {"email": "cy@other.org", "name": None, "plan": "pro"},
            {"email": "al@example.com", "name": "Al%", "plan": "free"},
        ]
    )
    assert inserted == 3
    assert q.users.count_users() == 3
    assert [u.email for u in q.users.list_users(plan=None)] == [
        "al@example.com",
        "bob@example.com",
        "cy@other.org",
    ]
    assert [u.email for u in q.users.list_users(plan="pro")] == ["cy@other.org"]
    # A literal % in the SQL, and ':not_a_param' inside a string, are left alone.
    names = q.users.search_names(prefix="A")
    assert [(r.name, r.label) for r in names] == [("Al%", ":not_a_param")]
    domains = q.users.emails_by_domain()
    assert [(d.domain, d.users) for d in domains] == [("example.com", 2), ("other.org", 1)]

    bob = q.users.get_user_by_email(email="bob@example.com")
    assert bob is not None
    assert q.users.rename_user(id=bob.id, name="Robert") == 1
    assert q.users.rename_user(id=UUID(int=0), name="Nobody") == 0

    post_id = q.posts.add_post(user_id=bob.id, title="Hello")
    assert isinstance(post_id, int)
    q.posts.add_post(user_id=None, title="Anonymous")
    assert q.posts.posts_with_authors() == [
        PostsWithAuthorsRow(post_id, "Hello", "bob@example.com"),
        PostsWithAuthorsRow(post_id + 1, "Anonymous", None),
    ]
    assert q.admin.maintenance.wipe() == "DELETE 3"
    assert q.users.count_users() == 0


def test_untyped_access_by_attribute(db: Database) -> None:
    created = db.queries.users.create_user(email="d@example.com", name=None, plan="free")
    assert created["email"] == "d@example.com"
    assert db.queries.users.get_user(id=created["id"]) == created
    assert db.queries.users.count_users() == 1
    post_id = db.queries.posts.add_post(user_id=created["id"], title="t")
    assert isinstance(post_id, int), "<! with one column returns the value, not a row"
    assert db.queries.admin.maintenance.wipe() == "DELETE 1"
    with pytest.raises(QueryError, match=r"no query or namespace 'users\.nope'"):
        db.queries.users.nope  # noqa: B018


def test_parameters_are_checked_before_anything_is_sent(db: Database) -> None:
    with pytest.raises(
        QueryError, match=r"'users.get_user' \(.*users.sql:1\) is missing parameter 'id'"
    ):
        db.queries.users.get_user()
    with pytest.raises(QueryError, match="got unexpected parameter 'idd'; it takes: id"):
        db.queries.users.get_user(id=UUID(int=0), idd=1)
    with pytest.raises(  # a misspelt name: both halves of the mistake
        QueryError, match="is missing parameter 'id' and got unexpected parameter 'idd'; it takes"
    ):
        db.queries.users.get_user(idd=1)
    with pytest.raises(QueryError, match=r"takes its parameters by name: get_user\(id=\.\.\.\)"):
        db.queries.users.get_user(UUID(int=0))
    assert db.metrics.snapshot() == {}, "a call with bad parameters reached the database"


@dataclass
class ListUsersRowOfAnOlderSchema:
    """ListUsersRow as a typed module generated before a migration renamed `name`."""

    id: UUID
    email: str
    full_name: str | None
    plan: str


def test_a_typed_module_older_than_the_schema_says_to_regenerate(db: Database) -> None:
    """Rows that do not fit the row class: one line naming the columns and what to run,
    not a TypeError from the row class's __init__."""
    q = Queries(db)
    q.users.create_user(email="a@example.com", name=None, plan="free")
    query = db.queries.query("users.list_users")
    with pytest.raises(QueryError) as raised:
        db.queries.all(query, {"plan": None}, ListUsersRowOfAnOlderSchema)
    assert str(raised.value) == (
        f"query 'users.list_users' ({query.where}) returned rows that do not fit"
        " ListUsersRowOfAnOlderSchema (no column 'full_name', a column 'name' it lacks):"
        " the typed module is older than the query or the schema; run `persistence types`"
    )
    stream = db.queries.stream(query, {"plan": None}, ListUsersRowOfAnOlderSchema)
    with pytest.raises(QueryError, match="run `persistence types`"):
        for _row in stream:
            pass
    assert [r.email for r in q.users.list_users(plan=None)] == ["a@example.com"]


def test_calls_inside_a_transaction_use_it(db: Database, sample_settings) -> None:
    q = Queries(db)
    with pytest.raises(RuntimeError), db.transaction():
        q.users.create_user(email="gone@example.com", name=None, plan="free")
        assert q.users.count_users() == 1
        raise RuntimeError("roll it back")
    assert q.users.count_users() == 0
    with db.transaction():
        q.users.create_user(email="kept@example.com", name=None, plan="free")
    with psycopg.connect(sample_settings.conninfo()) as other:
        assert other.execute("select email from users").fetchall() == [("kept@example.com",)]


def test_metrics_and_the_slow_query_log(
    sample_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with Database(sample_settings) as database:
        q = Queries(database)
        q.users.create_user(email="m@example.com", name="Secret Name", plan="free")
        with pytest.raises(UniqueViolation):
            q.users.create_user(email="m@example.com", name="Secret Name", plan="free")
        for _ in range(3):
            q.users.count_users()
        stats = database.metrics.snapshot()
        assert (stats["users.create_user"].calls, stats["users.create_user"].errors) == (2, 1)
        assert stats["users.count_users"].calls == 3
        assert 0 < stats["users.count_users"].mean_ms <= stats["users.count_users"].max_ms
        assert "users.count_users" in database.metrics.table()

        database.metrics.slow_ms = 0  # every call is slow now
        caplog.set_level(logging.WARNING, logger="persistence")
        q.users.get_user_by_email(email="m@example.com")
        assert "slow query 'users.get_user_by_email' took" in caplog.text
        assert "m@example.com" not in caplog.text, "parameter values must never be logged"


def test_a_select_streams_from_a_server_side_cursor(db: Database) -> None:
    q = Queries(db)
    rows: list[Any] = [
        {"email": f"u{n:04d}@example.com", "name": f"U{n}", "plan": "free"} for n in range(250)
    ]
    assert q.users.insert_users(rows) == 250
    listed = q.users.list_users(plan="free")
    query = db.queries.query("users.list_users")
    streamed = db.queries.stream(query, {"plan": "free"}, ListUsersRow, batch=100)
    assert [u for u in streamed] == listed  # noqa: C416, RUF100
    # The typed module's form: the generated row class, from a server-side cursor.
    with db.transaction():  # to see the cursor from the same session
        typed = q.users.list_users_stream(plan="free", batch=100)
        for first in typed:
            assert isinstance(first, ListUsersRow)
            assert db.fetch_value("select count(*) from pg_cursors") == 1
            break
        typed.close()  # leaving early closes the cursor
        assert db.fetch_value("select count(*) from pg_cursors") == 0
    assert [u for u in q.users.list_users_stream(plan="free", batch=7)] == listed  # noqa: C416, RUF100
    as_dicts = [u["email"] for u in db.queries.users.list_users.stream(plan="free")]
    assert as_dicts == [u.email for u in listed]
    with db.transaction():  # the current transaction's cursor, open on the server
        streaming: Generator[Any, None] = db.queries.stream(query, {"plan": "free"}, batch=10)
        for _ in streaming:
            assert db.fetch_value("select count(*) from pg_cursors") == 1
            break
        streaming.close()  # leaving early: closed before the transaction ends
        assert db.fetch_value("select count(*) from pg_cursors") == 0
    with pytest.raises(QueryError, match="is not a select to stream"):
        [u for u in db.queries.users.get_user.stream(id=UUID(int=0))]  # noqa: C416, RUF100
    with pytest.raises(QueryError, match="plan"):
        [u for u in db.queries.users.list_users.stream()]  # noqa: C416, RUF100


def test_a_write_in_the_loop_of_a_stream_is_committed_when_the_loop_is_left(
    db: Database,
) -> None:
    # The stream's own transaction is the stream's alone: the loop body's calls run
    # in autocommit, as outside any stream, and survive leaving the loop early.
    q = Queries(db)
    rows: list[Any] = [
        {"email": f"s{n}@example.com", "name": None, "plan": "free"} for n in range(5)
    ]
    q.users.insert_users(rows)
    typed = q.users.list_users_stream(plan="free", batch=2)
    for _ in typed:
        q.users.create_user(email="during@example.com", name=None, plan="pro")
        break
    typed.close()
    untyped = db.queries.users.list_users.stream(plan="free")
    for _ in untyped:
        db.execute("update users set name = 'during' where email = 's0@example.com'")
        break
    untyped.close()
    assert db.fetch_value("select count(*) from users where plan = 'pro'") == 1
    assert db.fetch_value("select name from users where email = 's0@example.com'") == "during"


def test_a_stream_left_early_keeps_what_the_loop_wrote_in_the_transaction(
    db: Database,
) -> None:
    # Inside a transaction (or the test fixtures' force_rollback) the cursor lives in
    # a savepoint; leaving the loop early is not a failure, so the savepoint is
    # released, not rolled back with what the loop body wrote after it.
    q = Queries(db)
    rows: list[Any] = [
        {"email": f"t{n}@example.com", "name": None, "plan": "free"} for n in range(5)
    ]
    q.users.insert_users(rows)
    with db.transaction():
        typed = q.users.list_users_stream(plan="free", batch=2)
        for _ in typed:
            q.users.create_user(email="in-tx@example.com", name=None, plan="pro")
            break
        typed.close()
    with db.force_rollback():
        untyped = db.queries.users.list_users.stream(plan="free")
        for _ in untyped:
            db.execute("update users set name = 'pinned' where email = 't0@example.com'")
            break
        untyped.close()
        assert db.fetch_value("select name from users where email = 't0@example.com'") == "pinned"
    assert db.fetch_value("select count(*) from users where plan = 'pro'") == 1
