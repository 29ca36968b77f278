"""Business OS with row-level security: each user sees only their own businesses,
conversations and messages, even through a query that forgets its WHERE, when the
service runs as a restricted role and acts for the signed-in user."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from persistence import Database, PersistenceError, Settings
from persistence.security import grant_sql
from psycopg import sql
from psycopg.conninfo import make_conninfo

from business_os import BusinessOS
from business_os.models import Business, Conversation, User

PROJECT = Path(__file__).parent.parent


@pytest.fixture
def owner_settings(project_database: Callable[..., Settings]) -> Settings:
    return project_database(PROJECT, pool_min=1, pool_max=2)


@pytest.fixture
def service(owner_settings: Settings) -> Iterator[Settings]:
    """The service as a role that may read and write, granted as an operator would."""
    role = f"bos_{uuid.uuid4().hex[:10]}"
    dbname = psycopg.conninfo.conninfo_to_dict(owner_settings.database_url or "")["dbname"]
    with psycopg.connect(owner_settings.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        conn.execute(grant_sql(role, str(dbname)))
    url = make_conninfo(owner_settings.database_url or "", user=role)
    yield dataclasses.replace(owner_settings, database_url=url)
    with psycopg.connect(owner_settings.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_each_user_sees_only_their_own(service: Settings) -> None:
    with Database(service) as db:
        app = BusinessOS(db)
        ada = app.users.insert(User(email="ada@example.com", password_hash="h", name="Ada"))
        bob = app.users.insert(User(email="bob@example.com", password_hash="h", name="Bob"))
        made: dict[uuid.UUID, uuid.UUID] = {}
        for user in (ada, bob):
            with db.tenant(user.id):
                business = app.businesses.insert(Business(user_id=user.id, name=user.name or ""))
                chat = app.conversations.insert(Conversation(business_id=business.id, title="t"))
                app.append_message(chat.id, "user", f"secret of {user.name}")
                made[user.id] = chat.id

        with db.tenant(ada.id):
            # find_all has no WHERE: the server filters.
            assert [b.name for b in app.businesses.find_all()] == ["Ada"]
            assert len(app.conversations.find_all()) == 1
            assert [m.content for m in app.messages(made[ada.id])] == ["secret of Ada"]
            assert app.messages(made[bob.id]) == []  # Bob's conversation id, guessed
            assert db.fetch_value("select count(*) from messages") == 1
            with pytest.raises(PersistenceError, match="row-level security"):
                app.businesses.insert(Business(user_id=bob.id, name="planted"))
            with pytest.raises(PersistenceError):
                app.append_message(made[bob.id], "user", "into Bob's chat")

        # No user: nothing at all, and no write.
        assert app.businesses.find_all() == []
        assert db.fetch_value("select count(*) from messages") == 0
        with db.tenant(bob.id):
            assert [m.content for m in app.messages(made[bob.id])] == ["secret of Bob"]
