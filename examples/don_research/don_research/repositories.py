"""Async repositories of the tables the service writes."""

from __future__ import annotations

from persistence import AsyncBaseRepository

from .models import AuditEntry, Job, VectorStore


class AuditLogs(AsyncBaseRepository[AuditEntry]):
    table = "audit_logs"


class Jobs(AsyncBaseRepository[Job]):
    table = "job_status"


class VectorStores(AsyncBaseRepository[VectorStore]):
    table = "vector_stores"
