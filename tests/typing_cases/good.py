"""Correct calls to the generated sample queries: mypy --strict accepts them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from persistence import DEFAULT, AsyncDatabase, BaseRepository, Database
from persistence.filters import gt, like
from tests.sample.typed import AsyncQueries, AsyncUsersRepository, Queries, UsersRepository


@dataclass
class User:
    id: UUID = DEFAULT
    email: str = ""
    name: str | None = None
    plan: Literal["free", "pro"] = "free"
    tags: list[str] = field(default_factory=list)
    score: Decimal | None = None
    last_ip: Any = None
    meta: Any = DEFAULT
    created_at: datetime = DEFAULT


class Users(UsersRepository[User]):
    pass


class AsyncUsers(AsyncUsersRepository[User]):
    pass


class LooseUsers(BaseRepository[User]):
    table = "users"


def repository_calls(db: Database) -> list[User]:
    users = Users(db)
    found = users.find(email="a@b.c", plan=["free", "pro"], name=None, order_by="-created_at")
    found += users.find(created_at=gt(datetime(2024, 1, 1)), email=like("%@b.c"), limit=5)
    updated: User | None = users.update(UUID(int=1), name="x", plan="pro")
    one: User | None = users.get(UUID(int=1))
    n: int = users.count(email=("a@b.c", "c@d.e")) + users.delete_where(name=None)
    names: list[str] = ["x"]  # a list[str] where the column allows NULL: list is invariant
    found += users.find(name=["x", None]) + users.find(name=names) + users.find(name=("x", None))
    LooseUsers(db).find(anything_goes=1)  # untyped use keeps working
    found += list(users.stream(plan="pro", order_by=["-created_at", "email"], batch=10))
    page = users.page(limit=10, order_by="-created_at", name=None)
    stored: User | None = users.upsert(User(email="a@b.c"), conflict=["email"], update=["name"])
    users.upsert_many([User(email="a@b.c")], conflict=("email",), update=())
    assert page.next is None or stored is not None
    assert updated is not None
    assert one is not None
    assert n >= 0
    return found


async def async_repository_calls(db: AsyncDatabase) -> bool:
    users = AsyncUsers(db)
    await users.update(UUID(int=1), tags=["a"])
    async for user in users.stream(email="a@b.c", order_by="id"):
        assert user.email
    return await users.exists(email="a@b.c") and await users.delete(UUID(int=1))


def sync_calls(db: Database) -> str | None:
    q = Queries(db)
    user = q.users.get_user(id=UUID(int=1))
    count: int = q.users.count_users()
    q.users.list_users(plan="pro")
    q.users.list_users(plan=None)
    q.users.insert_users([{"email": "a@b.c", "name": None, "plan": "free"}])
    emails: list[str] = [row.email for row in q.users.list_users_stream(plan="pro", batch=500)]
    assert count >= len(emails)
    return user.email if user else None


async def async_calls(db: AsyncDatabase) -> int:
    q = AsyncQueries(db)
    created = await q.users.create_user(email="a@b.c", name=None, plan="free")
    async for row in q.users.list_users_stream(plan=None):
        assert row.plan in ("free", "pro")
    return 0 if created is None else len(created.email)
