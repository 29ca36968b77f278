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
    password_hash: str
    business_type: str  # Manufacturing, SaaS or Merchant
    company_size: str  # Micro, Small or Medium
    full_name: str | None = None
    company_name: str | None = None
    monthly_volume: int | None = None
    last_login: datetime | None = None
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT
    updated_at: datetime = DEFAULT


@dataclass
class Report:
    user_id: UUID
    product_name: str
    destination_country: str
    business_type: str  # the business as it was when the report was made
    company_size: str
    report_data: dict[str, Any]
    product_image_url: str | None = None
    ingredients: str | None = None
    bom: str | None = None
    monthly_volume: int | None = None
    price_range: str | None = None
    payment_mode: str | None = None
    hs_code: str | None = None
    hs_code_confidence: Decimal | None = None
    status: str = DEFAULT  # processing, completed (the default) or failed
    risk_score: int | None = None
    estimated_cost: Decimal | None = None
    estimated_timeline_days: int | None = None
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT
    updated_at: datetime = DEFAULT


@dataclass
class Certification:
    user_id: UUID
    report_id: UUID
    certification_id: str
    certification_name: str
    certification_type: str
    status: str = DEFAULT  # not_started, in_progress, completed or rejected
    notes: str | None = None
    id: UUID = DEFAULT


@dataclass
class PlanTask:
    user_id: UUID
    report_id: UUID
    day_number: int
    task_id: str
    task_title: str
    task_description: str | None = None
    task_category: str | None = None
    completed: bool = DEFAULT
    id: UUID = DEFAULT


@dataclass
class ChatSession:
    user_id: UUID
    report_id: UUID | None = None
    context_data: dict[str, Any] = DEFAULT
    expires_at: datetime | None = None
    id: UUID = DEFAULT
