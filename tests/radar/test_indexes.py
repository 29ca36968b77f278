"""Each index a Catalyst Radar migration makes for a named query is the one that query's
plan uses, on a table big enough that a sequential scan would be cheaper without it.

The plan is the server's for the query as the toolkit sends it (the file's SQL, values
bound as parameters), after ANALYZE, with no planner setting forced off. Dropping an
index, or rewriting a query so that it no longer fits its index, turns a case red.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from persistence import Database, Settings
from persistence._scratch import create_database, database_name, drop_database
from persistence.queries import Catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = Catalog(ROOT / "queries")

# Enough rows that reading a whole table costs far more than an index probe, and
# skewed columns (one phase in 1%) so that a filter is selective, as in production.
FILL = """
insert into users (email, stripe_customer_id)
select 'user' || n || '@example.com', 'cus_' || n from generate_series(1, 5000) n;

insert into subscriptions (user_id, stripe_subscription_id, plan_id, status)
select id, 'sub_' || email, 'pro', 'active' from users;

insert into analytics_events (user_id, event_type)
select u.id, 'view' from users u, generate_series(1, 4);

insert into email_log (user_id, email_type)
select u.id, 'welcome' from users u, generate_series(1, 2);

insert into workflow_runs (workflow_id, status, started_at, completed_at)
select 'wf' || (n % 200), 'success', now() - n * interval '1 minute', now()
  from generate_series(1, 10000) n;

insert into catalysts (nct_id, company, phase, completion_date)
select 'NCT' || lpad(n::text, 8, '0'), 'Co ' || n,
       case when n % 100 = 0 then 'Phase 4' when n % 2 = 0 then 'Phase 2' else 'Phase 3' end,
       current_date + (n % 700)
  from generate_series(1, 10000) n;

insert into catalyst_history (catalyst_id, snapshot_date)
select c.id, current_date - d from catalysts c, generate_series(0, 2) d;

analyze users, subscriptions, analytics_events, email_log, workflow_runs, catalysts,
        catalyst_history;
"""


@pytest.fixture(scope="module")
def filled(
    persistence_settings: Settings, persistence_template: Settings
) -> Iterator[tuple[Database, dict[str, Any]]]:
    """A database of this module's own, filled once (the per-test rollback of `db`
    would refill it for every case)."""
    name = f"persistence_radar_plans_{os.getpid()}"
    settings = create_database(
        persistence_settings, name, template=database_name(persistence_template)
    )
    try:
        with Database(settings) as db:
            db.execute(FILL)
            user = db.fetch_value("select id from users where email = 'user2500@example.com'")
            catalyst = db.fetch_value("select id from catalysts where nct_id = 'NCT00005000'")
            assert isinstance(user, UUID)
            assert isinstance(catalyst, UUID)
            yield db, {"user": user, "catalyst": catalyst}
    finally:
        drop_database(persistence_settings, name)


def plan_indexes(db: Database, name: str, params: dict[str, Any]) -> set[str]:
    """The indexes named anywhere in the plan of query `name` for these values
    (scans, and the arbiter index of an ON CONFLICT)."""
    query = CATALOG[name]
    plan = db.fetch_value(f"explain (format json) {query.sql}".encode(), query.bind(params))
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Index Name" in node:
                found.add(node["Index Name"])
            found.update(node.get("Conflict Arbiter Indexes", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return found


# (index, query, parameters); "user" and "catalyst" stand for ids of rows in the fill.
CASES = [
    # 0002_users: unique constraints, which sign-in and the Stripe webhooks look up by.
    ("users_email_key", "users.get_user_by_email", {"email": "User2500@example.com"}),
    ("users_stripe_customer_id_key", "users.get_user_by_stripe_customer",
     {"stripe_customer_id": "cus_2500"}),
    # 0003_subscriptions: "get_user_subscription and has_active_subscription look up by user".
    ("subscriptions_user_id_created_at_idx", "subscriptions.get_user_subscription",
     {"user_id": "user"}),
    ("subscriptions_user_id_created_at_idx", "subscriptions.has_active_subscription",
     {"user_id": "user"}),
    ("subscriptions_stripe_subscription_id_key", "subscriptions.update_subscription_status",
     {"stripe_subscription_id": "sub_user2500@example.com", "status": "active",
      "current_period_end": None, "cancel_at_period_end": True}),
    ("subscriptions_stripe_subscription_id_key", "subscriptions.create_subscription",
     {"user_id": "user", "stripe_subscription_id": "sub_x", "stripe_price_id": None,
      "plan_id": "pro", "status": "active", "current_period_start": None,
      "current_period_end": None}),
    # 0004_catalysts: "get_catalysts filters by phase and orders by completion date".
    ("catalysts_phase_completion_date_idx", "catalysts.get_catalysts",
     {"phase": "Phase 4", "max_market_cap": None, "min_ticker_confidence": None,
      "limit": None}),
    ("catalysts_nct_id_key", "catalysts.upsert_catalyst",
     {"nct_id": "NCT00005000", "ticker": None, "company": "Co", "drug_name": None,
      "indication": None, "phase": "Phase 3", "completion_date": date(2030, 1, 1),
      "market_cap": None, "ticker_confidence": None}),
    # "The daily snapshot upsert conflicts on it"; the history of one catalyst reads it.
    ("catalyst_history_catalyst_id_snapshot_date_key", "catalysts.upsert_snapshot",
     {"catalyst_id": "catalyst", "snapshot_date": date(2030, 1, 1), "current_price": None,
      "market_cap": None, "volume": None}),
    ("catalyst_history_catalyst_id_snapshot_date_key", "catalysts.catalyst_history",
     {"catalyst_id": "catalyst"}),
    # 0005_activity: "recent_events reads a user's latest events"; "last_workflow_run".
    ("analytics_events_user_id_created_at_idx", "activity.recent_events",
     {"user_id": "user", "limit": 10}),
    ("workflow_runs_workflow_id_started_at_idx", "activity.last_workflow_run",
     {"workflow_id": "wf7"}),
]  # fmt: skip


@pytest.mark.parametrize(("index", "name", "params"), CASES, ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_the_query_uses_its_index(
    filled: tuple[Database, dict[str, Any]], index: str, name: str, params: dict[str, Any]
) -> None:
    db, ids = filled
    bound = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    used = plan_indexes(db, name, bound)
    assert index in used, f"{name} does not use {index} (its plan uses: {sorted(used) or 'none'})"


def test_every_index_the_migrations_make_is_covered(db: Database) -> None:
    # A new index in a migration needs a case above (or a reason here not to have one).
    made = {
        row[0]
        for row in db.fetch_all(
            "select indexname from pg_indexes where schemaname = current_schema()"
            " and indexname not like '%_pkey' and tablename <> '_yoyo_migration'"
            " and tablename not like 'yoyo%'"
        )
    }
    covered = {case[0] for case in CASES}
    # email_log_user_id_idx serves the ON DELETE CASCADE from users: no named query reads
    # a user's emails (tests/radar/test_service.py proves the cascade).
    assert made - covered == {"email_log_user_id_idx"}
