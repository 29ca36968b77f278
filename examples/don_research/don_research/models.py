"""Rows written through the async repositories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from uuid import UUID

from persistence import DEFAULT


@dataclass
class AuditEntry:
    trace_id: str
    institution: str
    method: str
    path: str
    status_code: int
    duration_ms: Decimal
    request_body: str | None = None  # POST/PUT/PATCH bodies, cut at 10,000 characters
    # The client's address; an ipaddress object, as COPY sends inet in binary.
    ip_address: IPv4Address | IPv6Address | None = None
    user_agent: str | None = None
    created_at: datetime = DEFAULT
    id: int = DEFAULT


@dataclass
class Job:
    institution: str
    job_type: str
    status: str = DEFAULT
    progress: int = DEFAULT
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT


@dataclass
class VectorStore:
    institution: str
    label: str
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT
