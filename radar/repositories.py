"""Repositories of the domain: a dataclass and a table name each."""

from __future__ import annotations

from persistence import BaseRepository

from .models import Catalyst, User
from .queries import UsersRepository


class Users(UsersRepository[User]):
    """Typed by the generated base: a misspelt filter or update key is a mypy error."""


class Catalysts(BaseRepository[Catalyst]):
    table = "catalysts"
    primary_key = ("nct_id",)
