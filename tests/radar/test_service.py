"""The Catalyst Radar domain on a real server (the plugin's template holds its schema)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from persistence import CheckViolation, Database, NotFound, Settings, UniqueViolation
from persistence.seeds import seed
from radar import Radar
from radar.models import Catalyst


@pytest.fixture
def radar(db: Database) -> Radar:
    return Radar(db)


def stripe_event(
    kind: str,
    sub_id: str,
    customer: str,
    status: str = "active",
    period_end: datetime | None = None,
) -> dict[str, Any]:
    end = period_end or datetime.now(UTC) + timedelta(days=30)
    return {
        "type": kind,
        "data": {
            "object": {
                "id": sub_id,
                "customer": customer,
                "status": status,
                "current_period_start": int((end - timedelta(days=30)).timestamp()),
                "current_period_end": int(end.timestamp()),
                "items": {"data": [{"price": {"id": "price_1", "lookup_key": "pro"}}]},
            }
        },
    }


def catalyst(n: int, **fields: Any) -> Catalyst:
    return replace(
        Catalyst(
            nct_id=f"NCT{n:08d}", company=f"Co {n}", phase="Phase 2", ticker=f"T{chr(65 + n % 26)}"
        ),
        **fields,
    )


def test_sign_up_gives_a_trial_and_lowercases_the_email(radar: Radar) -> None:
    user = radar.sign_up("Ada@Example.COM", "hash", trial_days=7, source="referral")
    assert user.email == "ada@example.com"
    assert user.trial_end_date is not None
    assert (
        timedelta(days=6, hours=23) < user.trial_end_date - datetime.now(UTC) <= timedelta(days=7)
    )
    assert radar.q.users.get_user_by_email(email="ADA@example.com") == radar.q.users.get_user_by_id(
        id=user.id
    )
    with pytest.raises(UniqueViolation) as dup:
        radar.sign_up("ada@EXAMPLE.com", "other")
    assert dup.value.constraint == "users_email_key"
    with pytest.raises(CheckViolation, match="users_signup_source_check"):
        radar.sign_up("b@example.com", "h", source="spam")


def test_trial_expiry_by_time_offsets(radar: Radar, db: Database) -> None:
    running = radar.sign_up("running@example.com", "h", trial_days=7)
    ended = radar.sign_up("ended@example.com", "h", trial_days=-1)
    assert radar.q.users.is_trial_active(id=running.id) is True
    assert radar.q.users.is_trial_active(id=ended.id) is False
    # Move the clock: end the running trial one second ago.
    db.execute(
        "update users set trial_end_date = now() - interval '1 second' where id = %s", [running.id]
    )
    assert radar.q.users.is_trial_active(id=running.id) is False
    assert radar.has_access(running.id) is False
    with pytest.raises(NotFound):
        radar.q.users.is_trial_active(id=UUID(int=0))


def test_update_user_changes_only_what_is_given(radar: Radar) -> None:
    user = radar.sign_up("c@example.com", "h")
    updated = radar.update_user(user.id, stripe_customer_id="cus_1")
    assert updated is not None
    assert (updated.stripe_customer_id, updated.password_hash, updated.email) == (
        "cus_1",
        "h",
        "c@example.com",
    )


def test_stripe_webhooks_are_idempotent(radar: Radar) -> None:
    user = radar.sign_up("payer@example.com", "h", trial_days=-1)
    radar.update_user(user.id, stripe_customer_id="cus_pay")
    assert radar.has_access(user.id) is False

    created = stripe_event("customer.subscription.created", "sub_1", "cus_pay")
    first = radar.handle_stripe_event(created)
    second = radar.handle_stripe_event(created)  # Stripe retried the delivery
    assert first is not None
    assert second is not None
    assert first.id == second.id
    assert radar.q.subscriptions.get_user_subscription(user_id=user.id) is not None
    assert radar.has_access(user.id) is True

    past_due = stripe_event("customer.subscription.updated", "sub_1", "cus_pay", status="past_due")
    assert radar.handle_stripe_event(past_due).status == "past_due"  # type: ignore[union-attr]
    assert radar.handle_stripe_event(past_due).status == "past_due"  # type: ignore[union-attr]
    assert radar.q.subscriptions.has_active_subscription(user_id=user.id) is False

    deleted = stripe_event("customer.subscription.deleted", "sub_1", "cus_pay")
    assert radar.handle_stripe_event(deleted).status == "canceled"  # type: ignore[union-attr]
    assert radar.handle_stripe_event(stripe_event("invoice.paid", "in_1", "cus_pay")) is None
    assert (
        radar.handle_stripe_event(
            stripe_event("customer.subscription.created", "sub_2", "cus_stranger")
        )
        is None
    )
    unknown = stripe_event("customer.subscription.updated", "sub_unknown", "cus_pay")
    assert radar.handle_stripe_event(unknown) is None


def test_an_expired_period_is_not_active(radar: Radar) -> None:
    user = radar.sign_up("lapsed@example.com", "h", trial_days=-1)
    radar.update_user(user.id, stripe_customer_id="cus_lapsed")
    ended = datetime.now(UTC) - timedelta(days=1)
    radar.handle_stripe_event(
        stripe_event("customer.subscription.created", "sub_l", "cus_lapsed", period_end=ended)
    )
    assert radar.q.subscriptions.has_active_subscription(user_id=user.id) is False


def test_cancel_at_period_end_is_kept_until_the_period_ends(radar: Radar) -> None:
    user = radar.sign_up("leaving@example.com", "h", trial_days=-1)
    radar.update_user(user.id, stripe_customer_id="cus_leaving")
    created = radar.handle_stripe_event(
        stripe_event("customer.subscription.created", "sub_leaving", "cus_leaving")
    )
    assert created is not None
    assert created.cancel_at_period_end is False

    cancel = stripe_event("customer.subscription.updated", "sub_leaving", "cus_leaving")
    cancel["data"]["object"]["cancel_at_period_end"] = True  # the user clicked "cancel"
    cancelled = radar.handle_stripe_event(cancel)
    assert cancelled is not None
    assert (cancelled.cancel_at_period_end, cancelled.status) == (True, "active")
    assert radar.has_access(user.id) is True, "paid until the period ends"

    # An event that does not carry the flag leaves it as it was.
    renewed_price = stripe_event("customer.subscription.updated", "sub_leaving", "cus_leaving")
    kept = radar.handle_stripe_event(renewed_price)
    assert kept is not None
    assert kept.cancel_at_period_end is True

    cancel["data"]["object"]["cancel_at_period_end"] = False  # changed their mind
    resumed = radar.handle_stripe_event(cancel)
    assert resumed is not None
    assert resumed.cancel_at_period_end is False
    stored = radar.q.subscriptions.get_user_subscription(user_id=user.id)
    assert stored is not None
    assert stored.cancel_at_period_end is False


def test_upsert_catalyst_updates_rather_than_duplicates(radar: Radar, db: Database) -> None:
    args: dict[str, Any] = {
        "nct_id": "NCT12345678",
        "ticker": "ACME",
        "company": "Acme",
        "drug_name": "A-1",
        "indication": "x",
        "phase": "Phase 2",
        "completion_date": date.today(),
        "market_cap": Decimal(10),
        "ticker_confidence": 50,
    }
    first = radar.q.catalysts.upsert_catalyst(**args)
    second = radar.q.catalysts.upsert_catalyst(
        **{**args, "phase": "Phase 3", "ticker_confidence": 90}
    )
    assert first is not None
    assert second is not None
    assert second.id == first.id
    assert (second.phase, second.ticker_confidence) == ("Phase 3", 90)
    assert db.fetch_value("select count(*) from catalysts where nct_id = 'NCT12345678'") == 1
    with pytest.raises(CheckViolation, match="catalysts_nct_id_check"):
        radar.q.catalysts.upsert_catalyst(**{**args, "nct_id": "nct-1"})


def test_bulk_load_upserts(radar: Radar, db: Database) -> None:
    assert radar.load_catalysts([catalyst(n) for n in range(1000)]) == 1000
    assert db.fetch_value("select count(*) from catalysts") == 1000
    changed = [catalyst(n, phase="Phase 3") for n in range(500, 1500)]
    assert radar.load_catalysts(changed) == 1000
    assert db.fetch_value("select count(*) from catalysts") == 1500
    assert db.fetch_value("select count(*) from catalysts where phase = 'Phase 3'") == 1000


def test_catalyst_filters_combine(radar: Radar) -> None:
    today = date.today()
    rows = [
        catalyst(
            1,
            phase="Phase 3",
            market_cap=Decimal(1_000_000_000),
            ticker_confidence=90,
            completion_date=today + timedelta(days=30),
        ),
        catalyst(
            2,
            phase="Phase 3",
            market_cap=Decimal(9_000_000_000),
            ticker_confidence=95,
            completion_date=today + timedelta(days=5),
        ),
        catalyst(
            3,
            phase="Phase 3",
            market_cap=Decimal(2_000_000_000),
            ticker_confidence=50,
            completion_date=today + timedelta(days=1),
        ),
        catalyst(
            4,
            phase="Phase 2",
            market_cap=Decimal(1_000_000_000),
            ticker_confidence=99,
            completion_date=today + timedelta(days=2),
        ),
        catalyst(
            5,
            phase="Phase 3",
            market_cap=Decimal(1_000_000_000),
            ticker_confidence=85,
            completion_date=today - timedelta(days=3),
        ),
        catalyst(
            6,
            phase="Phase 3",
            market_cap=Decimal(3_000_000_000),
            ticker_confidence=81,
            completion_date=today + timedelta(days=10),
        ),
    ]
    radar.load_catalysts(rows)

    def ids(found: list[Any]) -> list[int]:
        return [int(c.nct_id[3:]) for c in found]

    assert ids(
        radar.find_catalysts(
            phase="Phase 3", max_market_cap=Decimal(5_000_000_000), min_ticker_confidence=80
        )
    ) == [6, 1, 5]  # upcoming first
    assert ids(radar.find_catalysts(phase="Phase 3")) == [3, 2, 6, 1, 5]
    assert ids(radar.find_catalysts(min_ticker_confidence=95)) == [4, 2]
    assert ids(radar.find_catalysts(max_market_cap=Decimal(1_000_000_000), limit=2)) == [4, 1]
    assert len(radar.find_catalysts()) == 6
    radar.load_catalysts([catalyst(n) for n in range(100, 160)])
    assert len(radar.find_catalysts()) == 50, "the default limit"


def test_daily_snapshot_upsert(radar: Radar) -> None:
    c = radar.q.catalysts.upsert_catalyst(
        nct_id="NCT00000042",
        ticker="X",
        company="X",
        drug_name=None,
        indication=None,
        phase="Phase 1",
        completion_date=None,
        market_cap=None,
        ticker_confidence=None,
    )
    assert c is not None
    today = date.today()
    for price in (Decimal("1.5"), Decimal("2.25")):
        radar.q.catalysts.upsert_snapshot(
            catalyst_id=c.id, snapshot_date=today, current_price=price, market_cap=None, volume=10
        )
    radar.q.catalysts.upsert_snapshot(
        catalyst_id=c.id,
        snapshot_date=today - timedelta(days=1),
        current_price=Decimal(1),
        market_cap=None,
        volume=None,
    )
    history = radar.q.catalysts.catalyst_history(catalyst_id=c.id)
    assert [(h.snapshot_date, h.current_price) for h in history] == [
        (today - timedelta(days=1), Decimal("1.0000")),
        (today, Decimal("2.2500")),
    ]


def test_analytics_email_and_workflow_logs(radar: Radar, db: Database) -> None:
    user = radar.sign_up("e@example.com", "h")
    radar.track(user.id, "view_catalyst", "engagement", ticker="ACME", tags=["a", "b"])
    radar.track(None, "landing_view")
    (event,) = radar.q.activity.recent_events(user_id=user.id, limit=5)
    assert (event.event_type, event.event_metadata) == (
        "view_catalyst",
        {"ticker": "ACME", "tags": ["a", "b"]},
    )

    email = radar.q.activity.log_email_sent(
        user_id=user.id, email_type="welcome", campaign=None, subject="Hi"
    )
    assert email is not None
    assert radar.q.activity.mark_email_opened(id=email) == 1
    assert radar.q.activity.mark_email_opened(id=email) == 0, "the first opening is kept"

    with radar.workflow_run("scrape", "Scrape") as run:
        run.records_processed = 12
    done = radar.q.activity.last_workflow_run(workflow_id="scrape")
    assert done is not None
    assert (done.status, done.records_processed, done.completed_at is not None) == (
        "success",
        12,
        True,
    )
    with pytest.raises(ValueError, match="no tickers"), radar.workflow_run("enrich"):
        raise ValueError("no tickers")
    broken = radar.q.activity.last_workflow_run(workflow_id="enrich")
    assert broken is not None
    assert (broken.status, broken.error_message) == ("error", "ValueError: no tickers")
    assert (
        radar.q.activity.log_workflow_complete(
            id=broken.id, status="success", records_processed=1, error_message=None
        )
        is None
    ), "a closed run stays closed"


def test_cascade_deletes(radar: Radar, db: Database) -> None:
    user = radar.sign_up("gone@example.com", "h")
    radar.update_user(user.id, stripe_customer_id="cus_gone")
    radar.handle_stripe_event(stripe_event("customer.subscription.created", "sub_g", "cus_gone"))
    radar.track(user.id, "x")
    radar.q.activity.log_email_sent(user_id=user.id, email_type="t", campaign=None, subject=None)
    radar.load_catalysts([catalyst(7)])
    (c,) = radar.find_catalysts()
    radar.q.catalysts.upsert_snapshot(
        catalyst_id=c.id,
        snapshot_date=date.today(),
        current_price=None,
        market_cap=None,
        volume=None,
    )

    assert radar.users.purge(user.id) is True
    for table in ("subscriptions", "analytics_events", "email_log"):
        assert db.fetch_value(f"select count(*) from {table}") == 0, table  # noqa: S608
    db.execute("delete from catalysts where id = %s", [c.id])
    assert db.fetch_value("select count(*) from catalyst_history") == 0


def test_health_counts_every_table(radar: Radar) -> None:
    radar.sign_up("h@example.com", "h")
    report, counts = radar.health()
    assert report.ok
    assert counts == {
        "users": 1,
        "subscriptions": 0,
        "catalysts": 0,
        "catalyst_history": 0,
        "analytics_events": 0,
        "email_log": 0,
        "workflow_runs": 0,
    }


OLD = datetime(2000, 1, 1, tzinfo=UTC)


def test_updated_at_is_stamped_on_every_table_that_has_it(radar: Radar, db: Database) -> None:
    # Rows written with an old updated_at (an INSERT fires no update trigger), then
    # changed through the service: each must carry the transaction's now(), not 2000.
    user = radar.sign_up("stamp@example.com", "h")
    db.execute("update users set stripe_customer_id = 'cus_stamp' where id = %s", [user.id])
    created = radar.handle_stripe_event(
        stripe_event("customer.subscription.created", "sub_stamp", "cus_stamp")
    )
    assert created is not None
    radar.load_catalysts([catalyst(77)])
    tables = {row[0] for row in db.fetch_all(
        "select table_name from information_schema.columns"
        " where column_name = 'updated_at' and table_schema = current_schema()"
    )}  # fmt: skip
    assert tables == {"users", "subscriptions", "catalysts"}
    for table in sorted(tables):
        name = sql.Identifier(table)
        # Backdate it behind the triggers' back: with them on, the update would stamp now().
        db.execute(sql.SQL("alter table {} disable trigger user").format(name))
        db.execute(sql.SQL("update {} set updated_at = %s").format(name), [OLD])
        db.execute(sql.SQL("alter table {} enable trigger user").format(name))

    radar.update_user(user.id, last_login_at=datetime.now(UTC))
    past_due = stripe_event("customer.subscription.updated", "sub_stamp", "cus_stamp", "past_due")
    radar.handle_stripe_event(past_due)
    radar.load_catalysts([catalyst(77, phase="Phase 3")])

    now = db.fetch_value("select now()")
    for table in sorted(tables):
        stamped = db.fetch_value(sql.SQL("select updated_at from {}").format(sql.Identifier(table)))
        assert stamped == now, f"{table}: no trigger stamped updated_at ({stamped})"


def test_the_seed_data(fresh_settings: Settings) -> None:
    # What `make seed` (persistence seed) loads from seeds/, twice: it is safe to rerun.
    assert [p.name for p in seed(fresh_settings)] == ["001_dev_data.sql"]
    seed(fresh_settings)
    with Database(fresh_settings) as db:
        radar = Radar(db)
        users = {
            row[0]: row[1:]
            for row in db.fetch_all(
                "select email, signup_source, stripe_customer_id, trial_end_date > now()"
                " from users order by email"
            )
        }
        assert users == {
            "expired@example.com": ("seed", None, False),
            "paying@example.com": ("seed", "cus_seed_paying", False),
            "trial@example.com": ("seed", None, True),
        }
        access = {}
        for email in users:
            user = radar.q.users.get_user_by_email(email=email)
            assert user is not None
            access[email] = radar.has_access(user.id)
        # A running trial, an expired one, and a paying customer past their trial.
        assert access == {
            "expired@example.com": False,
            "paying@example.com": True,
            "trial@example.com": True,
        }
        paying = radar.q.users.get_user_by_email(email="paying@example.com")
        assert paying is not None
        sub = radar.q.subscriptions.get_user_subscription(user_id=paying.id)
        assert sub is not None
        assert (sub.stripe_subscription_id, sub.plan_id, sub.status) == (
            "sub_seed_paying",
            "pro_monthly",
            "active",
        )
        assert sub.cancel_at_period_end is False
        assert db.fetch_value("select count(*) from subscriptions") == 1

        found = radar.find_catalysts()
        # Upcoming completion dates first (nearest first), then the past one.
        assert [(c.nct_id, c.ticker, c.phase) for c in found] == [
            ("NCT00000003", "GENE", "Phase 2/3"),
            ("NCT00000001", "ACMT", "Phase 3"),
            ("NCT00000002", "BIOX", "Phase 2"),
            ("NCT00000004", None, "Phase 1"),
            ("NCT00000005", "ONCX", "Phase 3"),
        ]
        # A week of daily history for each catalyst with a ticker (four of five).
        per_catalyst = db.fetch_all(
            "select c.nct_id, count(*), min(h.snapshot_date), max(h.snapshot_date)"
            " from catalyst_history h join catalysts c on c.id = h.catalyst_id"
            " group by c.nct_id order by c.nct_id"
        )
        week = (date.today() - timedelta(days=6), date.today())
        assert per_catalyst == [(f"NCT0000000{n}", 7, *week) for n in (1, 2, 3, 5)]


@pytest.mark.slow
def test_the_demo_runs_end_to_end(fresh_settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_settings.database_url or ""}
    done = subprocess.run(
        [sys.executable, "-m", "radar.demo"],
        cwd=Path(__file__).resolve().parents[2],  # the reference domain sits at the root
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for section in (
        "sign-up with a 7-day trial",
        "Stripe webhook",
        "bulk load of 1,000",
        "catalysts: Phase 3",
        "health",
        "per-query metrics",
    ):
        assert f"== {section}" in done.stdout
    assert "status          ok" in done.stdout
    with psycopg.connect(fresh_settings.conninfo()) as conn:
        assert conn.execute("select count(*) from catalysts").fetchone()[0] >= 1000  # type: ignore[index]
