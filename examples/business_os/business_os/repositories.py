"""The seed's BaseRepository (findById, findAll, insert, update, delete), per table.

users.get(id)                                   # findById
users.find(order_by="-created_at", limit=20, offset=40)  # findAll(limit, offset)
users.insert(User(...)), users.update(id, name=...), users.delete(id)
"""

from __future__ import annotations

from persistence import BaseRepository

from .models import Business, Conversation, User


class Users(BaseRepository[User]):
    table = "users"


class Businesses(BaseRepository[Business]):
    table = "businesses"


class Conversations(BaseRepository[Conversation]):
    table = "conversations"
