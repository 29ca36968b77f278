"""The seed's BaseRepository (findById, findAll, insert, update, delete), per table.

users.get(id)                                   # findById
users.find_all(limit=20, offset=40)             # findAll: newest first, 100 by default
users.insert(User(...)), users.update(id, name=...), users.delete(id)
"""

from __future__ import annotations

from typing import TypeVar

from persistence import BaseRepository

from .models import Business, Conversation, User

M = TypeVar("M")


class SeedRepository(BaseRepository[M]):
    """The seed's findAll on top of the toolkit's repository."""

    def find_all(self, *, limit: int = 100, offset: int = 0) -> list[M]:
        """A page of rows, newest first (the seed's default page is 100 rows)."""
        return self.find(order_by=("-created_at", "-id"), limit=limit, offset=offset)


class Users(SeedRepository[User]):
    table = "users"


class Businesses(SeedRepository[Business]):
    table = "businesses"


class Conversations(SeedRepository[Conversation]):
    table = "conversations"
