"""The predictor's reads and writes, async all the way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from persistence import AsyncDatabase, NotFound

from . import queries as q
from .models import Company, DrugCandidate
from .repositories import (
    AcquirerMatches,
    Alerts,
    Candidates,
    Clients,
    Companies,
    Reports,
    Signals,
    Webhooks,
)


@dataclass(frozen=True)
class CompanyReport:
    company: q.CompanyWithPipelineRow
    latest: q.MaScoresRow | None
    percentile: float | None
    history: list[q.ScoreHistoryRow]
    signal_counts: list[q.SignalCountsRow]
    recent_signals: list[q.SignalsForRow]


class Predictor:
    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.q = q.AsyncQueries(db)
        self.companies = Companies(db)
        self.candidates = Candidates(db)
        self.signals = Signals(db)
        self.matches = AcquirerMatches(db)
        self.reports = Reports(db)
        self.alerts = Alerts(db)
        self.webhooks = Webhooks(db)
        self.clients = Clients(db)

    async def search(
        self,
        *,
        name: str | None = None,
        areas: list[str] | None = None,
        min_cap: Decimal | None = None,
        max_cap: Decimal | None = None,
        cash_constrained: bool | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> list[q.SearchCompaniesRow]:
        """Search live companies; `areas` must all be among a company's areas."""
        return await self.q.companies.search_companies(
            name=name,
            areas=areas,
            min_cap=min_cap,
            max_cap=max_cap,
            cash_constrained=cash_constrained,
            limit=per_page,
            offset=(page - 1) * per_page,
        )

    async def report(self, ticker: str, *, days: int = 90) -> CompanyReport:
        """Everything the company report shows, in a handful of round trips."""
        company = await self.q.companies.company_with_pipeline(ticker=ticker)
        if company is None:
            raise NotFound(f"no live company with ticker {ticker!r}")
        latest = await self.q.scores.latest_score(company_id=company.id)
        percentile = None
        if latest is not None:
            percentile = float(await self.q.scores.percentile_rank(company_id=company.id))
        return CompanyReport(
            company=company,
            latest=latest,
            percentile=percentile,
            history=await self.q.scores.score_history(
                company_id=company.id, since=date.today() - timedelta(days=days)
            ),
            signal_counts=await self.q.signals.signal_counts(company_id=company.id),
            recent_signals=await self.q.signals.signals_for(
                company_id=company.id,
                signal_type=None,
                since=None,
                until=None,
                min_severity=None,
                limit=5,
            ),
        )

    async def add_company(
        self, company: Company, pipeline: list[tuple[str, str, str | None]]
    ) -> Company:
        """A company and its pipeline (name, phase, area), in one transaction."""
        async with self.db.transaction():
            stored = await self.companies.insert(company)
            for name, phase, area in pipeline:
                await self.candidates.insert(DrugCandidate(stored.id, name, phase, area))
        return stored


def describe(report: CompanyReport) -> str:
    """The report as text."""
    c = report.company
    lines = [
        f"{c.ticker}  {c.name}",
        (
            f"  market cap ${float(c.market_cap_usd or 0) / 1e9:.2f}B"
            f"{'  (cash constrained)' if c.is_cash_constrained else ''}"
        ),
        "  pipeline: " + (", ".join(f"{p['name']} ({p['phase']})" for p in c.pipeline) or "none"),
    ]
    if report.latest is not None:
        lines.append(
            f"  M&A score {report.latest.total_score} on {report.latest.score_date}"
            f" (percentile {report.percentile:.1f})"
        )
        lines.append("  history: " + " ".join(f"{h.total_score}" for h in report.history))
    counts = ", ".join(f"{s.signal_type} x{s.signals}" for s in report.signal_counts)
    lines.append(f"  signals: {counts or 'none'}")
    for s in report.recent_signals:
        data: Any = s.signal_data
        lines.append(f"    {s.event_date} {s.signal_type:<18} severity {s.severity} {data}")
    return "\n".join(lines)
