"""The typed repository bases `persistence types` generates work like BaseRepository.

(mypy's side, misspelt filters and update keys, is tests/typing_cases.)
"""

from __future__ import annotations

from uuid import UUID

import pytest

from persistence import AsyncDatabase, Database, QueryError, Settings
from persistence.filters import like

from .sample.typed import UsersRepository
from .typing_cases.good import AsyncUsers, User, Users


def test_a_typed_repository_maps_its_dataclass(sample_settings: Settings) -> None:
    with Database(sample_settings) as db:
        users = Users(db)
        ada = users.insert(User(email="ada@example.com", plan="pro"))
        assert isinstance(ada.id, UUID)
        assert users.find(email=like("ada@%"), plan=["pro"]) == [ada]
        renamed = users.update(ada.id, name="Ada")
        assert renamed is not None
        assert renamed.name == "Ada"
        assert users.get(ada.id) == renamed
        with pytest.raises(QueryError, match="emial"):
            users.find(emial="x")  # type: ignore[call-arg]


def test_none_in_a_list_filter_matches_null_where_the_type_allows_it(
    sample_settings: Settings,
) -> None:
    """`NullableFilterValue` lets mypy pass `name=["Ada", None]`; the runtime must mean it:
    the named value or NULL, not only the named value (= any() never matches NULL)."""
    with Database(sample_settings) as db:
        users = Users(db)
        ada = users.insert(User(email="ada@example.com", name="Ada"))
        nameless = users.insert(User(email="x@example.com"))
        users.insert(User(email="bo@example.com", name="Bo"))
        found = users.find(name=["Ada", None], order_by="email")
        assert found == [ada, nameless]
        assert users.count(name=("Ada", None)) == 2


async def test_the_async_twin(sample_settings: Settings) -> None:
    async with AsyncDatabase(sample_settings) as db:
        users = AsyncUsers(db)
        ada = await users.insert(User(email="ada@example.com"))
        assert await users.exists(email="ada@example.com")
        assert await users.delete(ada.id)
        assert await users.count() == 0


def test_the_generated_base_stays_generic() -> None:
    assert UsersRepository.table == "users"
    assert not hasattr(UsersRepository, "model")
    assert Users.model is User
