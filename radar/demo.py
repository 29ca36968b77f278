"""`make demo`: the Catalyst Radar service end to end on a real database.

With DATABASE_URL unset it starts the embedded server; then it migrates, seeds, and runs
the domain service: a sign-up with a 7-day trial, Stripe webhooks (delivered twice, as
Stripe does), a bulk load of 1,000 scraped catalysts, filtered queries, analytics, an
email and a workflow run; and ends with the health report and the per-query metrics.

    python -m radar.demo
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from persistence import Database, Migrator, PersistenceError, Settings
from persistence.embedded import resolve
from persistence.seeds import seed

from .models import Catalyst
from .service import Radar

PHASES = ("Phase 1", "Phase 1/2", "Phase 2", "Phase 2/3", "Phase 3")


def main() -> int:
    try:
        run()
    except PersistenceError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    settings = resolve(Settings.from_env())
    section("database")
    migrator = Migrator(settings, out=indent)
    migrator.migrate()
    seed(settings, out=indent)

    with Database(settings) as db:
        radar = Radar(db)
        run_id = uuid.uuid4().hex[:8]

        section("sign-up with a 7-day trial")
        user = radar.sign_up(f"Ada.{run_id}@Example.com", "bcrypt$demo", trial_days=7)
        radar.update_user(user.id, stripe_customer_id=f"cus_{run_id}")
        days = (user.trial_end_date - datetime.now(UTC)).days + 1 if user.trial_end_date else 0
        indent(f"{user.email}: trial ends in {days} days; access: {radar.has_access(user.id)}")

        section("Stripe webhook, delivered twice")
        event = subscription_event("customer.subscription.created", run_id)
        first = radar.handle_stripe_event(event)
        again = radar.handle_stripe_event(event)
        assert first is not None
        assert again is not None
        indent(
            f"subscription {first.stripe_subscription_id}: {first.status} "
            f"(second delivery updated the same row: {first.id == again.id})"
        )
        cancel = subscription_event("customer.subscription.deleted", run_id)
        canceled = radar.handle_stripe_event(cancel)
        indent(f"after customer.subscription.deleted: {canceled.status if canceled else '-'}")

        section("bulk load of 1,000 scraped catalysts")
        scraped = [scraped_catalyst(n) for n in range(1000)]
        with radar.workflow_run("daily_scrape", "Daily catalyst scrape", run_id) as wf:
            started = time.perf_counter()
            wf.records_processed = radar.load_catalysts(scraped)
            elapsed = time.perf_counter() - started
        indent(
            f"COPY into staging + one upsert: {wf.records_processed} rows in "
            f"{elapsed * 1000:.1f} ms ({wf.records_processed / elapsed:,.0f} rows/s)"
        )
        started = time.perf_counter()
        for c in scraped[:200]:
            radar.q.catalysts.upsert_catalyst(
                nct_id=c.nct_id,
                ticker=c.ticker,
                company=c.company,
                drug_name=c.drug_name,
                indication=c.indication,
                phase=c.phase,
                completion_date=c.completion_date,
                market_cap=c.market_cap,
                ticker_confidence=c.ticker_confidence,
            )
        per_row = (time.perf_counter() - started) / 200
        indent(f"for comparison, one upsert_catalyst call per row: {1 / per_row:,.0f} rows/s")

        section("catalysts: Phase 3, under $5B, ticker confidence >= 80, upcoming first")
        found = radar.find_catalysts(
            phase="Phase 3",
            max_market_cap=Decimal(5_000_000_000),
            min_ticker_confidence=80,
            limit=5,
        )
        for row in found:
            indent(
                f"{row.completion_date}  {row.ticker or '-':<6} {row.company:<28} "
                f"${(row.market_cap or 0) / 1_000_000:,.0f}M  confidence {row.ticker_confidence}"
            )

        section("analytics, email, workflow")
        radar.track(
            user.id, "view_catalyst", "engagement", ticker=found[0].ticker if found else None
        )
        email_id = radar.q.activity.log_email_sent(
            user_id=user.id, email_type="trial_day_1", campaign="onboarding", subject="Welcome"
        )
        assert email_id is not None
        radar.q.activity.mark_email_opened(id=email_id)
        last = radar.q.activity.last_workflow_run(workflow_id="daily_scrape")
        events = radar.q.activity.recent_events(user_id=user.id, limit=10)
        indent(
            f"events for the user: {len(events)}; "
            f"email {email_id} opened; last scrape: {last.status if last else '-'}, "
            f"{last.records_processed if last else 0} records"
        )

        section("health")
        report, counts = radar.health()
        for line in str(report).splitlines():
            indent(line)
        indent("rows: " + ", ".join(f"{t} {n}" for t, n in counts.items()))

        section("per-query metrics")
        for line in db.metrics.table().splitlines():
            indent(line)


def subscription_event(kind: str, run_id: str) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    return {
        "type": kind,
        "data": {
            "object": {
                "id": f"sub_{run_id}",
                "customer": f"cus_{run_id}",
                "status": "active",
                "current_period_start": now,
                "current_period_end": now + 30 * 86400,
                "cancel_at_period_end": kind.endswith("deleted"),
                "items": {"data": [{"price": {"id": "price_pro", "lookup_key": "pro_monthly"}}]},
            }
        },
    }


def scraped_catalyst(n: int) -> Catalyst:
    return Catalyst(
        nct_id=f"NCT{10_000_000 + n:08d}",
        company=f"Company {n % 97}",
        phase=PHASES[n % len(PHASES)],
        ticker=f"T{chr(65 + n % 26)}{chr(65 + n // 26 % 26)}",
        drug_name=f"DR-{n}",
        indication="oncology" if n % 2 else "neurology",
        completion_date=date.today() + timedelta(days=n % 365 - 60),
        market_cap=Decimal(50_000_000 + n * 7_000_000),
        ticker_confidence=n % 101,
    )


def section(title: str) -> None:
    print(f"\n== {title}")


def indent(line: str) -> None:
    print(f"   {line}")


if __name__ == "__main__":
    sys.exit(main())
