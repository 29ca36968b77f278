"""ExportSathi's unit of work: the seed's session_scope(), on db.transaction()."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from persistence import Database, NotFound

from . import queries as q
from .models import Certification, ChatSession, PlanTask, Report
from .repositories import Certifications, ChatSessions, PlanTasks, Reports, Users


class ExportSathi:
    def __init__(self, db: Database):
        self.db = db
        self.q = q.Queries(db)
        self.users = Users(db)
        self.reports = Reports(db)
        self.certifications = Certifications(db)
        self.tasks = PlanTasks(db)
        self.sessions = ChatSessions(db)

    def create_report(
        self,
        report: Report,
        certifications: Sequence[tuple[str, str, str]],
        plan: Mapping[int, Sequence[tuple[str, str]]],
    ) -> Report:
        """Store a report with its certifications (id, name, type) and its 7-day action
        plan ({day: [(task id, title)]}) in one transaction: all of it, or none of it."""
        with self.db.transaction():
            stored = self.reports.insert(report)
            for cert_id, name, kind in certifications:
                self.certifications.insert(
                    Certification(report.user_id, stored.id, cert_id, name, kind)
                )
            for day, tasks in plan.items():
                for task_id, title in tasks:
                    self.tasks.insert(PlanTask(report.user_id, stored.id, day, task_id, title))
        return stored

    def start_chat(
        self,
        user_id: UUID,
        report_id: UUID | None = None,
        expires_at: datetime | None = None,
        **context: Any,
    ) -> UUID:
        return self.sessions.insert(ChatSession(user_id, report_id, context, expires_at)).id

    def update_certification(
        self,
        report_id: UUID,
        certification_id: str,
        status: str,
        documents_completed: Sequence[str] | None = None,
        notes: str | None = None,
    ) -> q.CertificationProgressRow:
        """Move a report's certification to `status` (not_started, in_progress, completed
        or rejected), with the documents done so far and notes (None keeps them).

        Raises:
            NotFound: the report has no such certification.
            CheckViolation: another status.
        """
        row = self.q.certifications.update_certification(
            report_id=report_id,
            certification_id=certification_id,
            status=status,
            documents_completed=None if documents_completed is None else list(documents_completed),
            notes=notes,
        )
        if row is None:
            raise NotFound(f"report {report_id} has no certification {certification_id!r}")
        return row

    def record_message(
        self, session_id: UUID, role: str, content: str, sources: Sequence[Mapping[str, Any]] = ()
    ) -> q.ChatMessagesRow:
        """Store a chat message with its citations and touch the session, together. An
        unknown session is a ForeignKeyViolation."""
        with self.db.transaction():
            message = self.q.chat.add_message(
                session_id=session_id, role=role, content=content, sources=list(sources)
            )
            self.q.chat.touch_session(session_id=session_id)
        assert message is not None
        return message

    def compute_metrics(self, user_id: UUID) -> q.UserMetricsRow:
        metrics = self.q.metrics.compute_user_metrics(user_id=user_id)
        if metrics is None:
            raise NotFound(f"user {user_id} does not exist")
        return metrics
