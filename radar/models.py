"""Rows the domain's repositories read and write (the generated module has the rest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from persistence import DEFAULT


@dataclass
class User:
    email: str
    password_hash: str | None = None
    signup_source: str = "organic"
    trial_end_date: datetime | None = None
    stripe_customer_id: str | None = None
    last_login_at: datetime | None = None
    id: UUID = DEFAULT
    created_at: datetime = DEFAULT
    updated_at: datetime = DEFAULT


@dataclass
class Catalyst:
    """A scraped clinical-trial catalyst, as loaded in bulk."""

    nct_id: str
    company: str
    phase: str
    ticker: str | None = None
    drug_name: str | None = None
    indication: str | None = None
    completion_date: date | None = None
    market_cap: Decimal | None = None
    ticker_confidence: int | None = None
