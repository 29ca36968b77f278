"""Wrong calls to the generated sample queries: mypy --strict must reject each one."""

from __future__ import annotations

from uuid import UUID

from persistence import AsyncDatabase, Database
from tests.sample.typed import AsyncUsersRepository, Queries, UsersRepository
from tests.typing_cases.good import User


class Users(UsersRepository[User]):
    pass


class AsyncUsers(AsyncUsersRepository[User]):
    pass


def wrong(db: Database) -> None:
    q = Queries(db)
    q.users.get_user(idd=UUID(int=1))  # wrong parameter name
    q.users.get_user(id="not-a-uuid")  # wrong parameter type
    q.users.list_users(plan="enterprise")  # not a value of the enum
    user = q.users.get_user(id=UUID(int=1))
    assert user is not None
    print(user.emial)  # a column the query does not return
    q.users.rename_user(UUID(int=1), "x")  # parameters are keyword-only
    q.users.get_user(id=UUID(int=1)).email  # may be None
    [row.emial for row in q.users.list_users_stream(plan="pro")]  # a column it does not return


def wrong_repository(db: Database) -> None:
    users = Users(db)
    users.find(emial="a@b.c")  # a misspelt filter
    users.update(UUID(int=1), nmae="x")  # a misspelt update key
    users.get("not-a-uuid")  # a primary key of the wrong type
    users.update(UUID(int=1), plan="enterprise")  # not a value of the enum
    users.count(email=1)  # a filter value of the wrong type
    users.find(email=["a@b.c", None])  # None in a list for a column that is NOT NULL
    users.delete_where(emial="x")  # a misspelt filter
    list(users.stream(emial="a@b.c"))  # a misspelt filter in stream
    users.find(order_by="emial")  # a misspelt order_by
    users.find(order_by=["email", "-craeted_at"])  # a misspelt order_by in a list
    users.page(limit=10, order_by="-craeted_at")  # a misspelt order_by in page
    users.upsert(User(), conflict=["emial"])  # a misspelt conflict column
    users.upsert_many([User()], conflict=["email"], update=["nmae"])  # a misspelt update column


async def wrong_async_repository(db: AsyncDatabase) -> None:
    users = AsyncUsers(db)
    await users.find(emial="a@b.c")  # a misspelt filter
    await users.update(UUID(int=1), nmae="x")  # a misspelt update key
    [u async for u in users.stream(emial="a@b.c")]  # a misspelt filter in stream
    await users.upsert(User(), conflict=["emial"])  # a misspelt conflict column
