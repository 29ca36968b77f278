"""Wrong calls to the generated sample queries: mypy --strict must reject each one."""

from __future__ import annotations

from uuid import UUID

from persistence import Database
from tests.sample.typed import Queries


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
