"""Async repositories: CRUD, soft delete for companies, COPY for signal bulk loads."""

from __future__ import annotations

from persistence import AsyncBaseRepository

from .models import Company, DrugCandidate, Signal


class Companies(AsyncBaseRepository[Company]):
    table = "companies"


class Candidates(AsyncBaseRepository[DrugCandidate]):
    table = "drug_candidates"


class Signals(AsyncBaseRepository[Signal]):
    table = "signals"
