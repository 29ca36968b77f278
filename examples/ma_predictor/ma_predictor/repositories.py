"""Async repositories: CRUD for every table, soft delete where the table has
`deleted_at` (companies, reports, alerts, webhooks, clients), COPY for bulk loads."""

from __future__ import annotations

from persistence import AsyncBaseRepository

from .models import (
    AcquirerMatch,
    Alert,
    Client,
    Company,
    DrugCandidate,
    Report,
    Signal,
    Webhook,
)


class Companies(AsyncBaseRepository[Company]):
    table = "companies"


class Candidates(AsyncBaseRepository[DrugCandidate]):
    table = "drug_candidates"


class Signals(AsyncBaseRepository[Signal]):
    table = "signals"


class AcquirerMatches(AsyncBaseRepository[AcquirerMatch]):
    table = "acquirer_matches"


class Reports(AsyncBaseRepository[Report]):
    table = "reports"


class Alerts(AsyncBaseRepository[Alert]):
    table = "alerts"


class Webhooks(AsyncBaseRepository[Webhook]):
    table = "webhooks"


class Clients(AsyncBaseRepository[Client]):
    table = "clients"
