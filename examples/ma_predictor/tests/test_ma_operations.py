"""The M&A predictor's other tables and cross-company reads, on a real server: reports,
alerts, webhooks, API clients, acquirer matches, score ranges, the recent-signals feed,
the JSONB index, cascades and purge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from persistence import AsyncDatabase, CheckViolation, Settings, UniqueViolation
from persistence.explain import explain
from persistence.queries import Catalog

from ma_predictor import Predictor
from ma_predictor.models import (
    AcquirerMatch,
    Alert,
    Client,
    Company,
    Report,
    Signal,
    Webhook,
)

PROJECT = Path(__file__).parent.parent


@pytest.fixture
def settings(project_database: Callable[..., Settings]) -> Settings:
    return project_database(PROJECT)


@pytest.fixture
async def predictor(settings: Settings) -> AsyncIterator[Predictor]:
    async with AsyncDatabase(settings) as db:
        yield Predictor(db)


async def add(predictor: Predictor, ticker: str, cap: float = 1e9) -> Company:
    return await predictor.add_company(
        Company(ticker, f"{ticker} Inc", ["oncology"], Decimal(str(cap))), []
    )


async def test_reports_by_type_and_dates_and_delivery(predictor: Predictor) -> None:
    day = date(2026, 11, 1)
    for offset, kind in [(0, "daily"), (1, "daily"), (2, "weekly"), (9, "daily")]:
        await predictor.reports.insert(
            Report(kind, day + timedelta(days=offset), f"reports/{kind}/{offset}.pdf")
        )
    gone = await predictor.reports.insert(Report("daily", day, "reports/gone.pdf"))
    assert await predictor.reports.delete(gone.id) is True  # soft delete
    q = predictor.q.delivery

    async def keys(kind: str | None) -> list[str]:
        rows = await q.reports_between(
            report_type=kind, since=day, until=day + timedelta(days=7), limit=10
        )
        return [r.s3_key for r in rows]

    assert await keys("daily") == ["reports/daily/1.pdf", "reports/daily/0.pdf"]
    assert await keys(None) == [
        "reports/weekly/2.pdf",
        "reports/daily/1.pdf",
        "reports/daily/0.pdf",
    ]
    weekly = (await predictor.reports.find(report_type="weekly"))[0]
    delivered = await q.mark_report_delivered(id=weekly.id)
    assert delivered is not None
    assert delivered.id == weekly.id
    assert await q.mark_report_delivered(id=weekly.id) is None, "delivered twice"
    assert await q.mark_report_delivered(id=gone.id) is None, "a deleted report was delivered"
    with pytest.raises(CheckViolation, match="reports_report_type_check"):
        await predictor.reports.insert(Report("hourly", day, "x"))


async def test_alerts_active_by_type_and_triggered(predictor: Predictor) -> None:
    price = await predictor.alerts.insert(Alert("score_above", {"min": 80}, ["email", "slack"]))
    other = await predictor.alerts.insert(Alert("new_signal"))
    off = await predictor.alerts.insert(Alert("score_above", is_active=False))
    gone = await predictor.alerts.insert(Alert("score_above"))
    await predictor.alerts.delete(gone.id)
    q = predictor.q.delivery
    assert [a.id for a in await q.active_alerts(alert_type="score_above")] == [price.id]
    assert {a.id for a in await q.active_alerts(alert_type=None)} == {price.id, other.id}
    assert (await q.active_alerts(alert_type="score_above"))[0].channels == ["email", "slack"]
    fired = await q.alert_triggered(id=price.id)
    assert fired is not None
    stored = await predictor.alerts.get(price.id)
    assert stored is not None
    assert stored.last_triggered_at == fired.last_triggered_at
    assert await q.alert_triggered(id=off.id) is None, "an inactive alert fired"
    assert await q.alert_triggered(id=gone.id) is None, "a deleted alert fired"


async def test_webhooks_by_event_and_delivery_tracking(predictor: Predictor) -> None:
    hook = await predictor.webhooks.insert(
        Webhook("https://example.com/hook", ["score.updated", "signal.new"])
    )
    await predictor.webhooks.insert(Webhook("https://example.com/other", ["report.ready"]))
    with pytest.raises(CheckViolation, match="webhooks_url_check"):
        await predictor.webhooks.insert(Webhook("http://plain.example.com", []))
    q = predictor.q.delivery
    assert [w.id for w in await q.webhooks_for_event(event="signal.new")] == [hook.id]
    assert await q.webhooks_for_event(event="nothing") == []

    async def deliver(ok: bool) -> tuple[bool, int]:
        row = await q.record_webhook_delivery(id=hook.id, succeeded=ok, max_failures=3)
        assert row is not None
        return row.is_active, row.failure_count

    assert await deliver(False) == (True, 1)
    assert await deliver(True) == (True, 0), "a success resets the count"
    assert await deliver(False) == (True, 1)
    assert await deliver(False) == (True, 2)
    assert await deliver(False) == (False, 3), "switched off at max_failures"
    assert await q.webhooks_for_event(event="signal.new") == []
    stored = await predictor.webhooks.get(hook.id)
    assert stored is not None
    assert stored.last_delivery_at is not None


async def test_clients_by_api_key(predictor: Predictor) -> None:
    acme = await predictor.clients.insert(Client("Acme Capital", "key-acme", 120, {"tz": "UTC"}))
    with pytest.raises(UniqueViolation, match="clients_api_key_key"):
        await predictor.clients.insert(Client("Copycat", "key-acme"))
    with pytest.raises(CheckViolation, match="clients_rate_limit_per_minute_check"):
        await predictor.clients.insert(Client("Zero", "key-zero", 0))
    q = predictor.q.delivery
    found = await q.client_by_api_key(api_key="key-acme")
    assert found is not None
    assert (found.id, found.rate_limit_per_minute, found.preferences) == (
        acme.id,
        120,
        {"tz": "UTC"},
    )
    assert await q.client_by_api_key(api_key="key-nobody") is None
    await predictor.clients.update(acme.id, is_active=False)
    assert await q.client_by_api_key(api_key="key-acme") is None, "an inactive client passed"
    await predictor.clients.update(acme.id, is_active=True)
    await predictor.clients.delete(acme.id)
    assert await q.client_by_api_key(api_key="key-acme") is None, "a deleted client passed"


async def test_acquirer_matches_ranked_and_flagged(predictor: Predictor) -> None:
    target = await add(predictor, "TGT")
    other = await add(predictor, "OTH")
    fits = {"PFE": "91.5", "MRK": "88.0", "ABBV": "75.0", "LLY": "60.0"}
    await predictor.matches.insert_many(
        AcquirerMatch(target.id, acquirer, Decimal(fit)) for acquirer, fit in fits.items()
    )
    await predictor.matches.insert(AcquirerMatch(other.id, "PFE", Decimal(50)))
    with pytest.raises(CheckViolation, match="acquirer_matches_check"):
        await predictor.matches.insert(
            AcquirerMatch(target.id, "BAD", Decimal(1), Decimal(10), Decimal(5))
        )
    q = predictor.q.matches
    top = await q.top_matches(target_company_id=target.id, limit=3)
    assert [m.acquirer_ticker for m in top] == ["PFE", "MRK", "ABBV"]
    assert await q.mark_top_matches(target_company_id=target.id, top=2) == 2
    assert await q.mark_top_matches(target_company_id=target.id, top=2) == 0, "rewrote rows"
    flags = {
        m.acquirer_ticker: m.is_top_match
        for m in await q.top_matches(target_company_id=target.id, limit=10)
    }
    assert flags == {"PFE": True, "MRK": True, "ABBV": False, "LLY": False}
    assert await q.mark_top_matches(target_company_id=target.id, top=1) == 1
    pfe = await q.matches_for_acquirer(acquirer_ticker="PFE")
    assert [(m.target_ticker, m.is_top_match) for m in pfe] == [("TGT", True), ("OTH", False)]
    await predictor.companies.delete(other.id)
    assert [m.target_ticker for m in await q.matches_for_acquirer(acquirer_ticker="PFE")] == ["TGT"]


async def test_scores_in_range_use_each_company_s_latest(predictor: Predictor) -> None:
    today = date.today()
    for ticker, scores in {"HI": [40, 90], "MID": [95, 65], "LO": [20], "GONE": [70]}.items():
        c = await add(predictor, ticker)
        for d, score in enumerate(scores):
            await predictor.q.scores.record_score(
                company_id=c.id,
                score_date=today - timedelta(days=len(scores) - d),
                total_score=Decimal(score),
                components={},
            )
        if ticker == "GONE":
            await predictor.companies.delete(c.id)
    q = predictor.q.scores

    async def tickers(low: int, high: int, limit: int = 10) -> list[str]:
        rows = await q.scores_in_range(min_score=Decimal(low), max_score=Decimal(high), limit=limit)
        return [r.ticker for r in rows]

    assert await tickers(60, 100) == ["HI", "MID"]  # MID's 95 is history, not its latest
    assert await tickers(90, 100) == ["HI"]
    assert await tickers(65, 65) == ["MID"], "the range is inclusive"
    assert await tickers(0, 100, limit=2) == ["HI", "MID"]
    assert await tickers(0, 30) == ["LO"]


async def test_recent_signals_across_companies(predictor: Predictor) -> None:
    today = date.today()
    a, b, gone = [await add(predictor, t) for t in ("AAA", "BBB", "GON")]
    await predictor.signals.insert_many(
        [
            Signal(a.id, "readout", 5, today, {}),
            Signal(b.id, "insider", 2, today - timedelta(days=1), {}),
            Signal(a.id, "partner", 3, today - timedelta(days=3), {}),
            Signal(b.id, "readout", 4, today - timedelta(days=40), {}),
            Signal(gone.id, "readout", 5, today, {}),
        ]
    )
    await predictor.companies.delete(gone.id)
    q = predictor.q.signals
    week = await q.recent_signals(since=today - timedelta(days=7), min_severity=None, limit=10)
    assert [(s.ticker, s.signal_type) for s in week] == [
        ("AAA", "readout"),
        ("BBB", "insider"),
        ("AAA", "partner"),
    ]
    severe = await q.recent_signals(since=today - timedelta(days=90), min_severity=4, limit=10)
    assert [(s.ticker, s.severity) for s in severe] == [("AAA", 5), ("BBB", 4)]
    assert (
        len(await q.recent_signals(since=today - timedelta(days=90), min_severity=None, limit=2))
        == 2
    )


async def test_the_signal_data_gin_index_serves_containment(
    predictor: Predictor, settings: Settings
) -> None:
    companies = [await add(predictor, t) for t in ("GIN", "RUM", "TON")]
    start = date(2025, 1, 1)
    # 100,000 signals (the seed expects 100,000s) over 50 filing types: 2,000 match.
    await predictor.signals.insert_many(
        Signal(
            companies[n % 3].id,
            "sec_filing",
            1 + n % 5,
            start + timedelta(days=n % 700),
            {"filing_type": f"F-{n % 50}", "n": n},
        )
        for n in range(100_000)
    )
    await predictor.db.execute("analyze signals")
    found = await predictor.q.signals.companies_with_signal_data(data={"filing_type": "F-7"})
    assert sorted((f.ticker, f.signals) for f in found) == [
        ("GIN", 667),
        ("RUM", 667),
        ("TON", 666),
    ]
    assert await predictor.q.signals.companies_with_signal_data(data={"filing_type": "X"}) == []
    plan = explain(
        settings,
        Catalog(settings.queries_folder),
        "signals.companies_with_signal_data",
        {"data": '{"filing_type": "F-7"}'},
    )
    assert any("signals_signal_data_idx" in line for line in plan), "\n".join(plan)


async def test_purging_a_company_cascades_and_soft_delete_keeps_its_rows(
    predictor: Predictor,
) -> None:
    today = date.today()
    kept = await add(predictor, "KEEP")
    for c in (kept, await add(predictor, "DROP")):
        await predictor.db.execute(
            "insert into drug_candidates (company_id, name, phase) values (%s, 'D-1', 'phase1')",
            [c.id],
        )
        await predictor.signals.insert(Signal(c.id, "readout", 3, today))
        await predictor.q.scores.record_score(
            company_id=c.id, score_date=today, total_score=Decimal(50), components={}
        )
        await predictor.matches.insert(AcquirerMatch(c.id, "PFE", Decimal(70)))
    dropped = (await predictor.companies.find(ticker="DROP"))[0]
    children = ("drug_candidates", "signals", "ma_scores")

    async def rows(company_id: object) -> dict[str, int]:
        counts = {}
        for table in children:
            counts[table] = await predictor.db.fetch_value(
                f"select count(*) from {table} where company_id = %s",
                [company_id],
            )
        counts["acquirer_matches"] = await predictor.db.fetch_value(
            "select count(*) from acquirer_matches where target_company_id = %s", [company_id]
        )
        return counts

    one_each = {"drug_candidates": 1, "signals": 1, "ma_scores": 1, "acquirer_matches": 1}
    assert await rows(dropped.id) == one_each
    assert await predictor.companies.delete(dropped.id) is True  # soft: the history stays
    assert await predictor.companies.get(dropped.id) is None
    assert await predictor.companies.get(dropped.id, include_deleted=True) is not None
    assert await rows(dropped.id) == one_each
    assert await predictor.companies.purge(dropped.id) is True  # for good: cascades
    assert await predictor.companies.get(dropped.id, include_deleted=True) is None
    assert await rows(dropped.id) == dict.fromkeys(one_each, 0)
    assert await rows(kept.id) == one_each, "the purge reached another company's rows"
    assert await predictor.companies.purge(dropped.id) is False
