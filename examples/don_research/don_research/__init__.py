"""DON Research API (seed 002) on persistence: async audit, rate limits, jobs, retention."""

from .audit import AuditLog
from .service import Research, VectorSearchUnavailable

__all__ = ["AuditLog", "Research", "VectorSearchUnavailable"]
