"""Business OS on a real server: the seed's acceptance criteria and its operations."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from persistence import (
    ConnectionFailed,
    Database,
    ForeignKeyViolation,
    Migrator,
    NotFound,
    Settings,
)

from business_os import BusinessOS
from business_os.models import Business, Conversation, User

PROJECT = Path(__file__).parent.parent


@pytest.fixture
def settings(project_database: Callable[..., Settings]) -> Settings:
    # The seed's pool of 5-20; its migrations run automatically.
    return project_database(PROJECT, pool_min=5, pool_max=20)


@pytest.fixture
def app(settings: Settings) -> Iterator[BusinessOS]:
    with Database(settings) as db:
        yield BusinessOS(db)


def owner(app: BusinessOS, email: str = "founder@example.com") -> User:
    return app.users.insert(User(email=email, password_hash="h", name="Founder"))


def test_connects_pools_and_reports_health(app: BusinessOS) -> None:
    report = app.db.health()
    assert report.ok
    assert (report.pool_min, report.pool_max) == (5, 20)
    pids: set[int] = set()
    barrier = threading.Barrier(4)

    def use() -> None:
        with app.db.connection() as conn:
            barrier.wait(timeout=10)  # four connections held at once
            row = conn.execute("select pg_backend_pid()").fetchone()
            assert row is not None
            pids.add(row[0])

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pids) == 4


def test_migrations_ran(settings: Settings) -> None:
    assert [s.state for s in Migrator(settings, out=lambda _: None).status()] == ["ok", "ok"]


def test_query_timeout_is_30_seconds_and_ssl_is_required_in_production(
    app: BusinessOS, settings: Settings
) -> None:
    assert app.db.fetch_value("show statement_timeout") == "30s"
    production = Settings.from_env(
        {"DATABASE_URL": "postgresql://app@db.internal/bos", "PERSISTENCE_ENV": "production"}
    )
    params = psycopg.conninfo.conninfo_to_dict(production.conninfo())
    assert params["sslmode"] == "require"


def test_graceful_shutdown_closes_connections(settings: Settings) -> None:
    db = Database(dataclasses.replace(settings, application_name="bos-shutdown")).open()
    db.fetch_value("select 1")
    db.close()
    with psycopg.connect(settings.conninfo()) as admin:
        left = admin.execute(
            "select count(*) from pg_stat_activity where application_name = 'bos-shutdown'"
        ).fetchone()
    assert left == (0,)


def test_base_repository_operations(app: BusinessOS) -> None:
    founder = owner(app)
    assert app.users.get(founder.id) == founder  # findById
    created = [
        app.businesses.insert(Business(user_id=founder.id, name=f"B{n}", industry="saas"))
        for n in range(5)
    ]
    assert created[0].stage == "idea"
    assert created[0].context == {}
    newest = app.businesses.find_all(limit=2, offset=1)  # findAll: newest first
    assert [b.name for b in newest] == ["B3", "B2"]
    assert [b.name for b in app.businesses.find_all()] == [f"B{n}" for n in range(4, -1, -1)]
    renamed = app.businesses.update(created[0].id, name="Renamed", stage="mvp")
    assert renamed is not None
    assert (renamed.name, renamed.stage) == ("Renamed", "mvp")
    assert app.businesses.delete(created[1].id) is True
    assert app.businesses.count() == 4
    with pytest.raises(ForeignKeyViolation):
        app.businesses.insert(Business(user_id=uuid.uuid4(), name="orphan"))


def test_updated_at_triggers_on_users_businesses_conversations(app: BusinessOS) -> None:
    founder = owner(app)
    business = app.businesses.insert(Business(user_id=founder.id, name="B"))
    chat = app.conversations.insert(Conversation(business_id=business.id))
    for repo, row, change in [
        (app.users, founder, {"name": "Renamed"}),
        (app.businesses, business, {"name": "Renamed"}),
        (app.conversations, chat, {"title": "Renamed"}),
    ]:
        with app.db.transaction():  # now() is the transaction's start: a new one moves it
            updated = repo.update(row.id, **change)  # type: ignore[attr-defined]
        assert updated is not None
        assert updated.updated_at > row.updated_at, f"{repo.table}: no trigger stamped it"
        assert updated.created_at == row.created_at


def test_find_all_pages_100_rows_by_default(app: BusinessOS) -> None:
    founder = owner(app)
    app.businesses.insert_many(Business(user_id=founder.id, name=f"bulk {n}") for n in range(103))
    assert len(app.businesses.find_all()) == 100, "findAll's default page is 100 rows"
    assert len(app.businesses.find_all(offset=100)) == 3


def test_messages_append_and_page_in_order(app: BusinessOS) -> None:
    business = app.businesses.insert(Business(user_id=owner(app).id, name="B"))
    chat = app.conversations.insert(Conversation(business_id=business.id, title="Plan"))
    for n in range(7):
        app.append_message(chat.id, "user" if n % 2 else "assistant", f"message {n}", n=n)
    first = app.messages(chat.id, limit=3)
    app.append_message(chat.id, "user", "late message")  # arrives between pages
    second = app.messages(chat.id, limit=3, after=first[-1])
    rest = app.messages(chat.id, limit=10, after=second[-1])
    contents = [m.content for m in first + second + rest]
    assert contents == [f"message {n}" for n in range(7)] + ["late message"]
    assert first[0].metadata == {"n": 0}
    stored = app.conversations.get(chat.id)
    assert stored is not None
    assert stored.message_count == 8


def test_append_message_is_all_or_nothing(app: BusinessOS, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ForeignKeyViolation):
        app.append_message(uuid.uuid4(), "user", "to nowhere")
    chat = app.conversations.insert(
        Conversation(business_id=app.businesses.insert(Business(owner(app).id, "B")).id)
    )

    # The message is inserted, then the count update fails: the insert must go too.
    def fail(**_: object) -> int:
        raise ConnectionFailed("the server went away (injected)")

    monkeypatch.setattr(app.q.conversations, "bump_message_count", fail)
    with pytest.raises(ConnectionFailed):
        app.append_message(chat.id, "user", "half written")
    assert app.db.fetch_value("select count(*) from messages") == 0, "the insert outlived it"
    stored = app.conversations.get(chat.id)
    assert stored is not None
    assert stored.message_count == 0


def test_context_update_merges_jsonb(app: BusinessOS) -> None:
    business = app.businesses.insert(
        Business(user_id=owner(app).id, name="B", context={"goal": "launch", "team": 2})
    )
    merged = app.update_context(business.id, team=3, market="EU")
    assert merged == {"goal": "launch", "team": 3, "market": "EU"}
    with pytest.raises(NotFound):
        app.update_context(uuid.uuid4(), x=1)


def test_deleting_a_user_cascades(app: BusinessOS) -> None:
    founder = owner(app)
    business = app.businesses.insert(Business(user_id=founder.id, name="B"))
    chat = app.conversations.insert(Conversation(business_id=business.id))
    app.append_message(chat.id, "user", "hello")
    assert app.users.delete(founder.id) is True
    for table in ("businesses", "conversations", "messages"):
        assert app.db.fetch_value(f"select count(*) from {table}") == 0
