"""The Catalyst Radar domain service: sign-ups and trials, Stripe webhooks, catalysts,
analytics, emails and workflow runs, over one Database."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Unpack
from uuid import UUID

from persistence import Database, Health

from . import queries as q
from .models import Catalyst, User
from .repositories import Catalysts, Users

#: Stripe event types the webhook handler acts on; others are acknowledged and ignored.
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


@dataclass
class WorkflowRun:
    """Handed to the body of `Radar.workflow_run`: count what it processed."""

    id: UUID
    records_processed: int = 0


class Radar:
    """Everything the Radar application does with its database."""

    def __init__(self, db: Database):
        self.db = db
        self.q = q.Queries(db)
        self.users = Users(db)

    # -- users and trials -----------------------------------------------------------------

    def sign_up(
        self, email: str, password_hash: str, *, trial_days: int = 7, source: str = "organic"
    ) -> q.UsersRow:
        """Create a user whose free trial ends `trial_days` from now."""
        return self.q.users.create_user(
            email=email, password_hash=password_hash, trial_days=trial_days, signup_source=source
        )

    def update_user(self, user_id: UUID, **changes: Unpack[q.UsersChanges]) -> User | None:
        """Change some of a user's columns: a partial update (mypy checks the names)."""
        return self.users.update(user_id, **changes)

    def has_access(self, user_id: UUID) -> bool:
        """Trial still running, or a paid subscription for the current period."""
        return self.q.users.is_trial_active(
            id=user_id
        ) or self.q.subscriptions.has_active_subscription(user_id=user_id)

    # -- Stripe ---------------------------------------------------------------------------

    def handle_stripe_event(self, event: Mapping[str, Any]) -> q.SubscriptionsRow | None:
        """Apply a Stripe subscription webhook. Idempotent: Stripe delivers at least once.

        Returns the subscription as stored, or None for an event that is ignored (another
        type, or a customer that is not ours).
        """
        if event.get("type") not in SUBSCRIPTION_EVENTS:
            return None
        sub = event["data"]["object"]
        if event["type"] == "customer.subscription.created":
            user = self.q.users.get_user_by_stripe_customer(stripe_customer_id=sub["customer"])
            if user is None:
                return None
            price = sub["items"]["data"][0]["price"]
            return self.q.subscriptions.create_subscription(
                user_id=user.id,
                stripe_subscription_id=sub["id"],
                stripe_price_id=price["id"],
                plan_id=price["lookup_key"],
                status=sub["status"],
                current_period_start=_timestamp(sub.get("current_period_start")),
                current_period_end=_timestamp(sub.get("current_period_end")),
            )
        return self.q.subscriptions.update_subscription_status(
            stripe_subscription_id=sub["id"],
            status="canceled" if event["type"].endswith("deleted") else sub["status"],
            current_period_end=_timestamp(sub.get("current_period_end")),
            cancel_at_period_end=sub.get("cancel_at_period_end"),
        )

    # -- catalysts ------------------------------------------------------------------------

    def load_catalysts(self, scraped: Iterable[Catalyst]) -> int:
        """Upsert a scrape in bulk (the repository's `upsert_many`: COPY into a temporary
        table, then one INSERT ... ON CONFLICT). Returns how many catalysts were loaded."""
        inserted, updated = Catalysts(self.db).upsert_many(scraped, conflict=["nct_id"])
        return inserted + updated

    def find_catalysts(
        self,
        *,
        phase: str | None = None,
        max_market_cap: Decimal | None = None,
        min_ticker_confidence: int | None = None,
        limit: int | None = None,
    ) -> list[q.CatalystsRow]:
        """Catalysts matching the given filters, upcoming completion dates first."""
        return self.q.catalysts.get_catalysts(
            phase=phase,
            max_market_cap=max_market_cap,
            min_ticker_confidence=min_ticker_confidence,
            limit=limit,
        )

    # -- activity -------------------------------------------------------------------------

    def track(
        self, user_id: UUID | None, event_type: str, category: str | None = None, **metadata: Any
    ) -> int:
        """Record an analytics event; `metadata` is stored as JSON."""
        event_id = self.q.activity.log_analytics_event(
            user_id=user_id, event_type=event_type, event_category=category, event_metadata=metadata
        )
        assert event_id is not None
        return event_id

    @contextmanager
    def workflow_run(
        self, workflow_id: str, name: str | None = None, execution_id: str | None = None
    ) -> Iterator[WorkflowRun]:
        """Log a workflow run: started now, completed as success when the block ends, or
        as error (with the message) when it raises."""
        run_id = self.q.activity.log_workflow_start(
            workflow_id=workflow_id, workflow_name=name, execution_id=execution_id
        )
        assert run_id is not None
        run = WorkflowRun(run_id)
        try:
            yield run
        except Exception as ex:
            self.q.activity.log_workflow_complete(
                id=run_id,
                status="error",
                records_processed=run.records_processed,
                error_message=f"{type(ex).__name__}: {ex}",
            )
            raise
        self.q.activity.log_workflow_complete(
            id=run_id, status="success", records_processed=run.records_processed, error_message=None
        )

    # -- health ---------------------------------------------------------------------------

    def health(self) -> tuple[Health, dict[str, int]]:
        """The database's health report and the row count of each table."""
        counts = {row.table_name: row.rows for row in self.q.health.table_counts()}
        return self.db.health(), counts


def _timestamp(value: int | None) -> datetime | None:
    """Stripe sends times as Unix seconds."""
    return None if value is None else datetime.fromtimestamp(value, UTC)
