"""The M&A predictor's async layer on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from persistence import AsyncDatabase, CheckViolation, NotFound, Settings

from ma_predictor import Predictor
from ma_predictor.models import Company, Signal
from ma_predictor.report import load_demo
from ma_predictor.service import describe

PROJECT = Path(__file__).parent.parent


@pytest.fixture
def settings(project_database: Callable[..., Settings]) -> Settings:
    return project_database(PROJECT)


@pytest.fixture
async def predictor(settings: Settings) -> AsyncIterator[Predictor]:
    async with AsyncDatabase(settings) as db:
        yield Predictor(db)


def company(
    ticker: str, cap: float, areas: list[str], cash: float | None = None, burn: float | None = None
) -> Company:
    return Company(
        ticker,
        f"{ticker} Inc",
        areas,
        Decimal(str(cap)),
        None if cash is None else Decimal(str(cash)),
        None if burn is None else Decimal(str(burn)),
    )


async def test_updating_a_company_moves_updated_at(predictor: Predictor) -> None:
    stored = await predictor.companies.insert(company("UPDT", 1e9, ["oncology"]))
    assert stored.updated_at == stored.created_at
    async with predictor.db.transaction():  # now() is the transaction's start
        changed = await predictor.companies.update(stored.id, market_cap_usd=Decimal("2e9"))
    assert changed is not None
    assert changed.updated_at > stored.updated_at, "no trigger maintains companies.updated_at"
    assert changed.created_at == stored.created_at


async def test_add_company_stores_nothing_when_a_candidate_is_refused(
    predictor: Predictor,
) -> None:
    with pytest.raises(CheckViolation):
        await predictor.add_company(
            company("ROLL", 1e9, ["oncology"]),
            [("good-1", "phase1", "oncology"), ("bad", "phase9", None)],
        )
    assert await predictor.companies.count(ticker="ROLL") == 0, "the company outlived its rollback"
    assert await predictor.db.fetch_value("select count(*) from drug_candidates") == 0


async def test_search_filters_combine_and_paginate(predictor: Predictor) -> None:
    await predictor.add_company(company("ONCO", 5e9, ["oncology"], 1e9, 1e8), [])
    await predictor.add_company(company("RARE", 2e9, ["oncology", "rare"], 1e8, 5e7), [])
    await predictor.add_company(company("NEUR", 8e8, ["neurology"]), [])
    gone = await predictor.add_company(company("GONE", 1e9, ["oncology"]), [])
    assert await predictor.companies.delete(gone.id) is True  # soft delete

    def tickers(rows: list) -> list[str]:  # type: ignore[type-arg]
        return [r.ticker for r in rows]

    assert tickers(await predictor.search()) == ["ONCO", "RARE", "NEUR"]
    assert tickers(await predictor.search(areas=["oncology"])) == ["ONCO", "RARE"]
    assert tickers(await predictor.search(areas=["oncology", "rare"])) == ["RARE"]
    assert tickers(await predictor.search(name="eur")) == ["NEUR"]
    assert tickers(await predictor.search(min_cap=Decimal("1e9"), max_cap=Decimal("3e9"))) == [
        "RARE"
    ]
    assert tickers(await predictor.search(cash_constrained=True)) == ["RARE"]
    assert tickers(await predictor.search(per_page=2, page=2)) == ["NEUR"]
    restored = await predictor.companies.restore(gone.id)
    assert restored is True
    assert "GONE" in tickers(await predictor.search())


async def test_company_with_pipeline_in_one_round_trip(predictor: Predictor) -> None:
    stored = await predictor.add_company(
        company("PIPE", 1e9, ["oncology"]),
        [("P-1", "phase1", "oncology"), ("P-3", "phase3", "oncology"), ("P-2", "phase2", None)],
    )
    predictor.db.metrics.reset()
    found = await predictor.q.companies.company_with_pipeline(ticker="PIPE")
    assert found is not None
    assert found.id == stored.id
    assert [p["name"] for p in found.pipeline] == ["P-3", "P-2", "P-1"]
    assert sum(s.calls for s in predictor.db.metrics.snapshot().values()) == 1, "no N+1"
    empty = await predictor.add_company(company("NONE", 1e8, []), [])
    bare = await predictor.q.companies.company_with_pipeline(ticker="NONE")
    assert bare is not None
    assert (bare.id, bare.pipeline) == (empty.id, [])


async def test_signals_by_type_dates_and_severity(predictor: Predictor) -> None:
    c = await predictor.add_company(company("SIG", 1e9, []), [])
    today = date.today()
    rows = [
        Signal(c.id, kind, sev, today - timedelta(days=d), {"d": d})
        for d, (kind, sev) in enumerate(
            [("insider", 2), ("readout", 5), ("insider", 4), ("partner", 1), ("readout", 3)]
        )
    ]
    assert await predictor.signals.insert_many(rows) == 5
    q = predictor.q.signals

    async def days(**f: object) -> list[int]:
        args: dict = {
            "signal_type": None,
            "since": None,
            "until": None,  # type: ignore[type-arg]
            "min_severity": None,
            "limit": 10,
            **f,
        }
        return [s.signal_data["d"] for s in await q.signals_for(company_id=c.id, **args)]

    assert await days() == [0, 1, 2, 3, 4]
    assert await days(signal_type="readout") == [1, 4]
    assert await days(min_severity=4) == [1, 2]
    assert await days(since=today - timedelta(days=2), until=today - timedelta(days=1)) == [1, 2]
    counts = await q.signal_counts(company_id=c.id)
    assert [(s.signal_type, s.signals) for s in counts] == [
        ("insider", 2),
        ("readout", 2),
        ("partner", 1),
    ]
    with pytest.raises(CheckViolation, match="signals_severity_check"):
        await predictor.signals.insert(Signal(c.id, "x", 9, today))


async def test_scores_latest_history_top_and_percentile(predictor: Predictor) -> None:
    await load_demo(predictor)
    acme = await predictor.q.companies.company_with_pipeline(ticker="ACME")
    assert acme is not None
    latest = await predictor.q.scores.latest_score(company_id=acme.id)
    assert latest is not None
    assert latest.total_score == Decimal("72.00")
    history = await predictor.q.scores.score_history(
        company_id=acme.id, since=date.today() - timedelta(days=2)
    )
    assert [h.total_score for h in history] == [Decimal(66), Decimal(69), Decimal(72)]
    top = await predictor.q.scores.top_scores(limit=5)
    assert [(t.ticker, t.total_score, t.percentile) for t in top] == [
        ("ACME", Decimal("72.00"), Decimal("100.0")),
        ("BETA", Decimal("50.00"), Decimal("0.0")),
    ]
    assert await predictor.q.scores.percentile_rank(company_id=acme.id) == Decimal("100.0")
    with pytest.raises(NotFound):
        await predictor.q.scores.percentile_rank(company_id=uuid.uuid4())
    stats = await predictor.q.companies.company_statistics()
    assert stats is not None
    assert (stats.companies, stats.cash_constrained) == (2, 1)
    assert stats.median_market_cap == pytest.approx(1.45e9)


async def test_the_report(predictor: Predictor) -> None:
    await load_demo(predictor)
    text = describe(await predictor.report("ACME"))
    assert text.splitlines()[0] == "ACME  Acme Bio"
    assert "(cash constrained)" in text
    assert "pipeline: AC-101 (phase3), AC-202 (phase1)" in text
    assert "percentile 100.0" in text
    with pytest.raises(NotFound, match="'NOPE'"):
        await predictor.report("NOPE")


def test_the_report_script(settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url or "", "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-m", "ma_predictor.report", "ACME"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ACME  Acme Bio\n")
