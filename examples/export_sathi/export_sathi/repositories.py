"""One repository per table the service writes."""

from __future__ import annotations

from persistence import BaseRepository

from .models import Certification, ChatSession, PlanTask, Report, User


class Users(BaseRepository[User]):
    table = "users"


class Reports(BaseRepository[Report]):
    table = "reports"


class Certifications(BaseRepository[Certification]):
    table = "certification_progress"


class PlanTasks(BaseRepository[PlanTask]):
    table = "action_plan_progress"


class ChatSessions(BaseRepository[ChatSession]):
    table = "chat_sessions"
