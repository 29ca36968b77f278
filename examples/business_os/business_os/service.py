"""What Business OS does with its database beyond CRUD."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from persistence import Database, NotFound

from . import queries as q
from .repositories import Businesses, Conversations, Users


class BusinessOS:
    def __init__(self, db: Database):
        self.db = db
        self.q = q.Queries(db)
        self.users = Users(db)
        self.businesses = Businesses(db)
        self.conversations = Conversations(db)

    def append_message(
        self, conversation_id: UUID, role: str, content: str, **metadata: Any
    ) -> q.MessagesRow:
        """Add a message and bump the conversation's message_count, in one transaction:
        both happen or neither does."""
        with self.db.transaction():
            message = self.q.conversations.add_message(
                conversation_id=conversation_id, role=role, content=content, metadata=metadata
            )
            if self.q.conversations.bump_message_count(conversation_id=conversation_id) is None:
                raise NotFound(f"conversation {conversation_id} does not exist")
        assert message is not None
        return message

    def messages(
        self, conversation_id: UUID, *, limit: int = 50, after: q.MessagesPageRow | None = None
    ) -> list[q.MessagesPageRow]:
        """A page of a conversation's messages, oldest first; pass the last one as `after`."""
        return self.q.conversations.messages_page(
            conversation_id=conversation_id,
            after_created_at=after.created_at if after else None,
            after_id=after.id if after else None,
            limit=limit,
        )

    def update_context(self, business_id: UUID, **patch: Any) -> dict[str, Any]:
        """Merge keys into a business's JSONB context; returns the whole context."""
        context = self.q.businesses.merge_context(id=business_id, patch=patch)
        if context is None:
            raise NotFound(f"business {business_id} does not exist")
        return dict(context)
