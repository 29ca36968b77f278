"""The seed's entities, as dataclasses (fields = the table's columns)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from persistence import DEFAULT


@dataclass
class User:
    email: str
    password_hash: str
    name: str | None = None
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT
    updated_at: datetime = DEFAULT


@dataclass
class Business:
    user_id: UUID
    name: str
    industry: str | None = None
    stage: str = DEFAULT
    context: dict[str, Any] = DEFAULT
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT
    updated_at: datetime = DEFAULT


@dataclass
class Conversation:
    business_id: UUID
    title: str | None = None
    message_count: int = DEFAULT
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT
    updated_at: datetime = DEFAULT
