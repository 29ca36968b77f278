"""Print a company report: `python -m ma_predictor.report TICKER` (from the example's
folder, or with --project). With DATABASE_URL unset it uses the embedded server and, on
an empty database, loads a small demo data set first."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from persistence import AsyncDatabase, Migrator, PersistenceError, Settings
from persistence.embedded import resolve

from .models import Company, Signal
from .service import Predictor, describe

PROJECT = Path(__file__).resolve().parent.parent


async def main(ticker: str) -> None:
    settings = resolve(Settings.from_env(project=PROJECT))
    # Migrations are synchronous, as yoyo is: run them in a thread.
    await asyncio.to_thread(Migrator(settings, out=lambda _: None).migrate)
    async with AsyncDatabase(settings) as db:
        predictor = Predictor(db)
        if not await predictor.companies.exists():
            await load_demo(predictor)
        print(describe(await predictor.report(ticker)))


async def load_demo(predictor: Predictor) -> None:
    today = date.today()
    acme = await predictor.add_company(
        Company(
            "ACME",
            "Acme Bio",
            ["oncology", "rare disease"],
            Decimal("2.1e9"),
            Decimal("90e6"),
            Decimal("40e6"),
        ),
        [("AC-101", "phase3", "oncology"), ("AC-202", "phase1", "rare disease")],
    )
    other = await predictor.add_company(
        Company("BETA", "Beta Therapeutics", ["neurology"], Decimal("8e8")), []
    )
    await predictor.signals.insert_many(
        Signal(acme.id, kind, sev, today - timedelta(days=d), {"source": "demo"})
        for d, (kind, sev) in enumerate(
            [("insider_buying", 3), ("trial_readout", 5), ("partnership", 2), ("insider_buying", 2)]
        )
    )
    for d in range(5):
        day = today - timedelta(days=4 - d)
        await predictor.q.scores.record_score(
            company_id=acme.id,
            score_date=day,
            total_score=Decimal(60 + 3 * d),
            components={"cash": 0.4, "pipeline": 0.6},
        )
        await predictor.q.scores.record_score(
            company_id=other.id,
            score_date=day,
            total_score=Decimal(50),
            components={},
        )


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("ticker", nargs="?", default="ACME")
    args = parser.parse_args(argv)
    try:
        asyncio.run(main(args.ticker))
    except PersistenceError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
