"""ExportSathi on a real server: constraints, cascades, the unit of work, chat, metrics."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from persistence import (
    CheckViolation,
    Database,
    ForeignKeyViolation,
    MigrationError,
    Migrator,
    NotFound,
    Settings,
    UniqueViolation,
)
from persistence.queries import Catalog
from psycopg import sql

from export_sathi import ExportSathi
from export_sathi.models import Report, User

PROJECT = Path(__file__).parent.parent
TABLES = (
    "reports",
    "certification_progress",
    "generated_documents",
    "action_plan_progress",
    "chat_sessions",
    "chat_messages",
    "finance_analysis",
    "logistics_analysis",
    "user_metrics",
)
PLAN = {day: [(f"d{day}-t{n}", f"Day {day} task {n}") for n in range(2)] for day in range(1, 8)}
CERTS = [("iec", "Importer Exporter Code", "registration"), ("fssai", "FSSAI licence", "food")]


@pytest.fixture
def app(project_database: Callable[..., Settings]) -> Iterator[ExportSathi]:
    with Database(project_database(PROJECT)) as db:
        yield ExportSathi(db)


def user(app: ExportSathi, email: str = "exporter@example.in") -> User:
    return app.users.insert(User(email, "h", "Manufacturing", "Small", company_name="Spice Co"))


def report(owner: User, **fields: object) -> Report:
    base = Report(
        owner.id,
        "Turmeric",
        "Germany",
        owner.business_type,
        owner.company_size,
        {"markets": ["DE"]},
        hs_code="091030",
        risk_score=35,
        estimated_cost=Decimal(120_000),
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_a_report_is_stored_with_certifications_and_plan_in_one_go(app: ExportSathi) -> None:
    stored = app.create_report(report(user(app)), CERTS, PLAN)
    summary = app.q.reports.report_summary(report_id=stored.id)
    assert summary is not None
    assert (summary.certifications, summary.tasks, summary.tasks_done) == (2, 14, 0)
    assert app.q.reports.complete_task(report_id=stored.id, task_id="d1-t0") == 1
    assert app.q.reports.complete_task(report_id=stored.id, task_id="d1-t0") == 0
    assert app.q.reports.report_summary(report_id=stored.id).tasks_done == 1  # type: ignore[union-attr]


def test_a_failure_midway_leaves_nothing(app: ExportSathi) -> None:
    owner = user(app)
    with pytest.raises(UniqueViolation) as dup:
        app.create_report(report(owner), [*CERTS, ("iec", "again", "registration")], PLAN)
    assert dup.value.constraint == "certification_progress_report_id_certification_id_key"
    with pytest.raises(CheckViolation, match="action_plan_progress_day_number_check"):
        app.create_report(report(owner), CERTS, {8: [("d8", "an eighth day")]})
    for table in ("reports", "certification_progress", "action_plan_progress"):
        assert app.db.fetch_value(f"select count(*) from {table}") == 0, table


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"risk_score": 101}, "reports_risk_score_check"),
        ({"risk_score": -1}, "reports_risk_score_check"),
        ({"status": "sent"}, "reports_status_check"),
        ({"hs_code": "09.10"}, "reports_hs_code_check"),
        ({"estimated_cost": Decimal(-5)}, "reports_estimated_cost_check"),
    ],
)
def test_check_constraints_name_themselves(
    app: ExportSathi, change: dict[str, object], constraint: str
) -> None:
    with pytest.raises(CheckViolation) as info:
        app.reports.insert(report(user(app), **change))
    assert info.value.constraint == constraint
    assert constraint in str(info.value)


def test_unique_email(app: ExportSathi) -> None:
    user(app)
    with pytest.raises(UniqueViolation, match="users_email_key"):
        user(app)


# The seed's value sets, exactly (its schema.sql and models.py), and near misses.
SEED_VALUES = {
    "business_type": ["Manufacturing", "SaaS", "Merchant"],
    "company_size": ["Micro", "Small", "Medium"],
    "report status": ["processing", "completed", "failed"],
    "certification status": ["not_started", "in_progress", "completed", "rejected"],
    "chat role": ["user", "assistant"],
}
NEAR_MISSES = {
    "business_type": ["manufacturer", "manufacturing", "Trader"],
    "company_size": ["small", "Large"],
    "report status": ["draft", "archived", "Completed"],
    "certification status": ["done", "In_progress"],
    "chat role": ["system", "robot"],
}


def store(app: ExportSathi, kind: str, value: str, n: int) -> None:
    """Write `value` where `kind` lives, through the operation that writes it."""
    if kind in ("business_type", "company_size"):
        fields = {"business_type": "Merchant", "company_size": "Micro", kind: value}
        app.users.insert(User(f"{n}@example.in", "h", **fields))
        return
    owner = user(app, f"owner{n}@example.in")
    if kind == "report status":
        app.reports.insert(report(owner, status=value))
    elif kind == "certification status":
        stored = app.create_report(report(owner), [(f"c{n}", "C", "quality")], {})
        app.update_certification(stored.id, f"c{n}", value)
    else:
        app.record_message(app.start_chat(owner.id), value, "text")


@pytest.mark.parametrize("kind", SEED_VALUES)
def test_the_seeds_own_values_are_accepted_and_no_others(app: ExportSathi, kind: str) -> None:
    for n, value in enumerate(SEED_VALUES[kind]):
        store(app, kind, value, n)
    for n, value in enumerate(NEAR_MISSES[kind], start=100):
        with pytest.raises(CheckViolation, match="_check"):
            store(app, kind, value, n)


def test_chat_messages_keep_their_citations(app: ExportSathi) -> None:
    owner = user(app)
    stored = app.create_report(report(owner), CERTS, PLAN)
    session = app.start_chat(owner.id, stored.id, topic="RoDTEP")
    app.record_message(session, "user", "What is RoDTEP?")
    answer = app.record_message(
        session,
        "assistant",
        "A duty remission scheme.",
        sources=[{"title": "DGFT notice 19/2021", "url": "https://dgft.gov.in/"}],
    )
    assert answer.sources == [{"title": "DGFT notice 19/2021", "url": "https://dgft.gov.in/"}]
    history = app.q.chat.session_messages(session_id=session)
    assert [(m.role, m.content) for m in history] == [
        ("user", "What is RoDTEP?"),
        ("assistant", "A duty remission scheme."),
    ]
    with pytest.raises(CheckViolation, match="chat_messages_role_check"):
        app.record_message(session, "robot", "beep")
    with pytest.raises(ForeignKeyViolation, match="chat_messages_session_id_fkey"):
        app.record_message(uuid.uuid4(), "user", "lost")
    assert len(app.q.chat.session_messages(session_id=session)) == 2


def test_user_metrics(app: ExportSathi) -> None:
    owner = user(app)
    first = app.create_report(report(owner, risk_score=30), CERTS, PLAN)
    app.create_report(report(owner, risk_score=50, status="processing"), [], {})
    app.update_certification(first.id, "iec", "completed")
    app.q.reports.complete_task(report_id=first.id, task_id="d1-t0")
    metrics = app.compute_metrics(owner.id)
    assert (
        metrics.reports_generated,
        metrics.certifications_completed,
        metrics.tasks_completed,
    ) == (2, 1, 1)
    assert metrics.average_risk_score == Decimal("40.00")
    assert metrics.cost_savings == Decimal("12000.00")
    assert metrics.documents_generated == 0
    again = app.compute_metrics(owner.id)
    assert again.id == metrics.id, "one metrics row per user"
    with pytest.raises(NotFound):
        app.compute_metrics(uuid.uuid4())


def fill_analyses(app: ExportSathi, owner: User, stored: Report) -> None:
    """A document and both analyses for the report (the seed's tables with no operation
    here yet: see the README)."""
    for statement in (
        (
            "insert into generated_documents (user_id, report_id, document_type, document_data)"
            " values (%s, %s, 'invoice', '{}')"
        ),
        "insert into finance_analysis (user_id, report_id) values (%s, %s)",
        "insert into logistics_analysis (user_id, report_id) values (%s, %s)",
    ):
        app.db.execute(statement, [owner.id, stored.id])


def test_deleting_a_user_cascades_to_all_nine_tables(app: ExportSathi) -> None:
    owner = user(app)
    stored = app.create_report(report(owner), CERTS, PLAN)
    session = app.start_chat(owner.id, stored.id)
    app.record_message(session, "user", "hi")
    fill_analyses(app, owner, stored)
    app.compute_metrics(owner.id)
    for table in TABLES:
        assert app.db.fetch_value(f"select count(*) from {table}") > 0, table
    assert app.users.delete(owner.id) is True
    for table in TABLES:
        assert app.db.fetch_value(f"select count(*) from {table}") == 0, table


def test_certification_progress_is_updated(app: ExportSathi) -> None:
    stored = app.create_report(report(user(app)), CERTS, PLAN)
    started = app.update_certification(stored.id, "fssai", "in_progress", ["form-a"], "filed")
    assert (started.status, started.documents_completed, started.notes) == (
        "in_progress",
        ["form-a"],
        "filed",
    )
    assert started.started_at is not None
    assert started.completed_at is None
    done = app.update_certification(stored.id, "fssai", "completed", ["form-a", "audit"])
    assert (done.status, done.documents_completed, done.notes) == (
        "completed",
        ["form-a", "audit"],
        "filed",  # None kept the notes
    )
    assert done.started_at == started.started_at, "work started once"
    assert done.completed_at is not None
    reopened = app.update_certification(stored.id, "fssai", "rejected")
    assert reopened.completed_at is None
    assert reopened.documents_completed == ["form-a", "audit"]
    summary = app.q.reports.report_summary(report_id=stored.id)
    assert summary is not None
    assert summary.certifications_done == 0
    with pytest.raises(NotFound):
        app.update_certification(stored.id, "ce-mark", "in_progress")
    with pytest.raises(CheckViolation, match="certification_progress_status_check"):
        app.update_certification(stored.id, "fssai", "approved")
    mine = app.q.certifications.user_certifications(user_id=stored.user_id, status="not_started")
    assert [c.certification_id for c in mine] == ["iec"]


UPDATED_AT_TABLES = [
    "users",
    "reports",
    "certification_progress",
    "generated_documents",
    "action_plan_progress",
    "finance_analysis",
    "logistics_analysis",
    "user_metrics",
]


def test_these_are_the_tables_with_updated_at(app: ExportSathi) -> None:
    found = app.db.fetch_all(
        "select table_name from information_schema.columns"
        " where column_name = 'updated_at' and table_schema = current_schema()"
        " order by table_name"
    )
    assert [row[0] for row in found] == sorted(UPDATED_AT_TABLES)


@pytest.mark.parametrize("table", UPDATED_AT_TABLES)
def test_updated_at_is_stamped_on_update(app: ExportSathi, table: str) -> None:
    owner = user(app)
    stored = app.create_report(report(owner), CERTS, PLAN)
    fill_analyses(app, owner, stored)
    app.compute_metrics(owner.id)
    name = sql.Identifier(table)
    old = datetime(2000, 1, 1, tzinfo=UTC)
    with app.db.transaction():
        # Backdate behind the trigger's back, then change the rows as any update would.
        app.db.execute(sql.SQL("alter table {} disable trigger user").format(name))
        app.db.execute(sql.SQL("update {} set updated_at = %s").format(name), [old])
        app.db.execute(sql.SQL("alter table {} enable trigger user").format(name))
        app.db.execute(sql.SQL("update {} set updated_at = %s").format(name), [old])
        now = app.db.fetch_value("select now()")
        stamps = app.db.fetch_all(sql.SQL("select distinct updated_at from {}").format(name))
    assert stamps == [(now,)], f"{table}: no trigger stamped updated_at"


def test_the_queries_by_hs_code_destination_status_and_expiry(app: ExportSathi) -> None:
    owner = user(app)
    spice = app.create_report(report(owner, status="processing"), CERTS, PLAN)
    app.create_report(report(owner, hs_code="520100", destination_country="Japan"), [], {})
    app.update_certification(spice.id, "iec", "in_progress")
    by_code = app.q.reports.reports_for_hs_code(hs_code="091030", limit=10)
    assert [r.id for r in by_code] == [spice.id]
    assert len(app.q.reports.reports_to_destination(
        destination_country="Japan", status="completed", limit=10
    )) == 1  # fmt: skip
    assert [r.id for r in app.q.reports.processing_reports(limit=10)] == [spice.id]
    app.q.reports.complete_task(report_id=spice.id, task_id="d1-t0")
    open_tasks = app.q.reports.open_tasks(user_id=owner.id)
    assert len(open_tasks) == 13
    assert open_tasks[0].day_number == 1

    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = app.start_chat(owner.id, expires_at=past)
    app.record_message(expired, "user", "old")
    kept = app.start_chat(owner.id, expires_at=past + timedelta(days=1))
    forever = app.start_chat(owner.id)
    assert app.q.chat.purge_expired_sessions() == 1
    left = {row[0] for row in app.db.fetch_all("select id from chat_sessions")}
    assert left == {kept, forever}
    assert app.db.fetch_value("select count(*) from chat_messages") == 0


# Each index migration 0005 makes, and the named query it is for (with values).
INDEXED = [
    ("reports_hs_code_created_at_idx", "reports.reports_for_hs_code",
     {"hs_code": "0910300", "limit": 10}),
    ("reports_destination_country_status_idx", "reports.reports_to_destination",
     {"destination_country": "Country 7", "status": "completed", "limit": 10}),
    ("reports_processing_created_at_idx", "reports.processing_reports", {"limit": 10}),
    ("certification_progress_user_id_status_idx", "certifications.user_certifications",
     {"user_id": "owner", "status": "in_progress"}),
    ("action_plan_progress_open_idx", "reports.open_tasks", {"user_id": "owner"}),
    ("chat_sessions_expires_at_idx", "chat.purge_expired_sessions", {}),
]  # fmt: skip

FILL = """
insert into users (email, password_hash, business_type, company_size)
select 'u' || n || '@example.in', 'h', 'Merchant', 'Small' from generate_series(1, 2000) n;

insert into reports (user_id, product_name, destination_country, business_type, company_size,
                     report_data, hs_code, status)
select u.id, 'P', 'Country ' || (row_number() over () % 150), 'Merchant', 'Small', '{}',
       lpad((row_number() over () % 3000)::text, 7, '0'),
       case when row_number() over () % 500 = 0 then 'processing' else 'completed' end
  from users u, generate_series(1, 5);

insert into certification_progress (user_id, report_id, certification_id, certification_name,
                                    certification_type, status)
select r.user_id, r.id, 'c' || k, 'C', 'quality',
       case when k = 1 then 'completed' else 'not_started' end
  from reports r, generate_series(1, 2) k;

insert into action_plan_progress (user_id, report_id, day_number, task_id, task_title,
                                  completed, completed_at)
select r.user_id, r.id, d, 't' || d, 'T', d < 7, case when d < 7 then now() end
  from reports r, generate_series(1, 7) d;

insert into chat_sessions (user_id, expires_at)
select id, case when random() < 0.01 then now() + interval '1 day' end from users;

analyze users, reports, certification_progress, action_plan_progress, chat_sessions;
"""


def test_each_index_serves_its_query(app: ExportSathi) -> None:
    # Enough rows that a sequential scan costs more than the index, as in production;
    # ANALYZE, then the plan of each query as the toolkit sends it, with these values.
    app.db.execute(FILL)
    owner = app.db.fetch_value("select id from users where email = 'u7@example.in'")
    catalog = Catalog(PROJECT / "queries")
    missing = []
    for index, name, params in INDEXED:
        query = catalog[name]
        values = {k: owner if v == "owner" else v for k, v in params.items()}
        plan = app.db.fetch_value(f"explain (format json) {query.sql}".encode(), values)
        if f'"Index Name": "{index}"' not in json.dumps(plan):
            missing.append(f"{name} does not use {index}: {json.dumps(plan)[:300]}")
    assert missing == []


OLD_ROWS = """
insert into users (id, email, business_type, company_size)
values ('00000000-0000-0000-0000-000000000001', 'old@example.in', 'manufacturer', 'small'),
       ('00000000-0000-0000-0000-000000000002', 'svc@example.in', 'service_provider', 'micro');
insert into reports (id, user_id, product_name, destination_country, status)
values ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001',
        'Turmeric', 'Germany', 'draft');
insert into certification_progress (user_id, report_id, certification_id, certification_name)
values ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a1',
        'iec', 'IEC');
insert into finance_analysis (report_id) values ('00000000-0000-0000-0000-0000000000a1');
"""


def test_rows_from_before_the_seed_columns_are_carried_over(
    project_database: Callable[..., Settings],
) -> None:
    settings = project_database(PROJECT)
    migrator = Migrator(settings, out=lambda _: None)
    migrator.rollback(target="0002_chat_and_analysis")
    with Database(settings) as db:
        db.execute(OLD_ROWS)
    assert migrator.migrate() == [
        "0003_seed_columns",
        "0004_updated_at_triggers",
        "0005_query_indexes",
    ]
    with Database(settings) as db:
        users = db.fetch_all("select email, business_type, company_size from users order by 1")
        assert users == [
            ("old@example.in", "Manufacturing", "Small"),
            ("svc@example.in", "SaaS", "Micro"),
        ]
        assert db.fetch_one("select status, business_type, company_size from reports") == (
            "processing",
            "Manufacturing",
            "Small",
        )
        assert db.fetch_value("select user_id::text from finance_analysis").endswith("0001")
        # An old user keeps their row without a hash; a new one cannot be made without.
        with pytest.raises(CheckViolation, match="users_password_hash_present"):
            db.execute(
                "insert into users (email, business_type, company_size)"
                " values ('new@example.in', 'Merchant', 'Small')"
            )
    # And back: the seed's values map to 0002's.
    migrator.rollback(target="0002_chat_and_analysis")
    with Database(settings) as db:
        assert db.fetch_all("select business_type, company_size from users order by email") == [
            ("manufacturer", "small"),
            ("service_provider", "micro"),
        ]
        assert db.fetch_value("select status from reports") == "draft"


def test_a_value_with_no_seed_equivalent_stops_the_migration(
    project_database: Callable[..., Settings],
) -> None:
    settings = project_database(PROJECT)
    migrator = Migrator(settings, out=lambda _: None)
    migrator.rollback(target="0002_chat_and_analysis")
    with Database(settings) as db:
        db.execute(
            "insert into users (email, business_type, company_size)"
            " values ('big@example.in', 'merchant', 'large')"
        )
    with pytest.raises(MigrationError, match="users_company_size_check"):
        migrator.migrate()
    with Database(settings) as db:  # nothing of 0003 is left
        assert db.fetch_value("select company_size from users") == "large"
        assert db.fetch_value("select to_regclass('reports') is not null") is True
        column = "select count(*) from information_schema.columns where column_name = 'bom'"
        assert db.fetch_value(column) == 0
