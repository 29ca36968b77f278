"""Rows written through repositories (the generated module types what queries return)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from persistence import DEFAULT


@dataclass
class User:
    email: str
    business_type: str
    company_size: str
    full_name: str | None = None
    company_name: str | None = None
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT


@dataclass
class Report:
    user_id: UUID
    product_name: str
    destination_country: str
    hs_code: str | None = None
    status: str = DEFAULT
    risk_score: int | None = None
    estimated_cost: Decimal | None = None
    timeline_days: int | None = None
    report_data: dict[str, Any] = DEFAULT
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT


@dataclass
class Certification:
    user_id: UUID
    report_id: UUID
    certification_id: str
    certification_name: str
    status: str = DEFAULT
    id: UUID = DEFAULT


@dataclass
class PlanTask:
    user_id: UUID
    report_id: UUID
    day_number: int
    task_id: str
    task_title: str
    completed: bool = DEFAULT
    id: UUID = DEFAULT


@dataclass
class ChatSession:
    user_id: UUID
    report_id: UUID | None = None
    context_data: dict[str, Any] = DEFAULT
    id: UUID = DEFAULT
