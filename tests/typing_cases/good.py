"""Correct calls to the generated sample queries: mypy --strict accepts them."""

from __future__ import annotations

from uuid import UUID

from persistence import AsyncDatabase, Database
from tests.sample.typed import AsyncQueries, Queries


def sync_calls(db: Database) -> str | None:
    q = Queries(db)
    user = q.users.get_user(id=UUID(int=1))
    count: int = q.users.count_users()
    q.users.list_users(plan="pro")
    q.users.list_users(plan=None)
    q.users.insert_users([{"email": "a@b.c", "name": None, "plan": "free"}])
    assert count >= 0
    return user.email if user else None


async def async_calls(db: AsyncDatabase) -> int:
    q = AsyncQueries(db)
    created = await q.users.create_user(email="a@b.c", name=None, plan="free")
    return 0 if created is None else len(created.email)
