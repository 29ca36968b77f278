"""ExportSathi on a real server: constraints, cascades, the unit of work, chat, metrics."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from persistence import (
    CheckViolation,
    Database,
    ForeignKeyViolation,
    NotFound,
    Settings,
    UniqueViolation,
)

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
CERTS = [("iec", "Importer Exporter Code"), ("fssai", "FSSAI licence")]


@pytest.fixture
def app(project_database: Callable[..., Settings]) -> Iterator[ExportSathi]:
    with Database(project_database(PROJECT)) as db:
        yield ExportSathi(db)


def user(app: ExportSathi, email: str = "exporter@example.in") -> User:
    return app.users.insert(User(email, "manufacturer", "small", company_name="Spice Co"))


def report(owner: User, **fields: object) -> Report:
    base = Report(
        owner.id,
        "Turmeric",
        "Germany",
        hs_code="091030",
        risk_score=35,
        estimated_cost=Decimal(120_000),
        report_data={"markets": ["DE"]},
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
        app.create_report(report(owner), [*CERTS, ("iec", "again")], PLAN)
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


def test_user_enums_and_unique_email(app: ExportSathi) -> None:
    user(app)
    with pytest.raises(UniqueViolation, match="users_email_key"):
        user(app)
    with pytest.raises(CheckViolation, match="users_business_type_check"):
        app.users.insert(User("x@example.in", "trader", "small"))
    with pytest.raises(CheckViolation, match="users_company_size_check"):
        app.users.insert(User("y@example.in", "merchant", "huge"))


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
    first = app.create_report(report(owner, risk_score=30, status="completed"), CERTS, PLAN)
    app.create_report(report(owner, risk_score=50), [], {})
    app.db.execute(
        "update certification_progress set status = 'completed', completed_at = now()"
        " where report_id = %s and certification_id = 'iec'",
        [first.id],
    )
    app.q.reports.complete_task(report_id=first.id, task_id="d1-t0")
    metrics = app.compute_metrics(owner.id)
    assert (
        metrics.reports_generated,
        metrics.certifications_completed,
        metrics.tasks_completed,
    ) == (2, 1, 1)
    assert metrics.average_risk_score == Decimal("40.00")
    assert metrics.estimated_cost_savings == Decimal("12000.00")
    again = app.compute_metrics(owner.id)
    assert again.id == metrics.id, "one metrics row per user"
    with pytest.raises(NotFound):
        app.compute_metrics(uuid.uuid4())


def test_deleting_a_user_cascades_to_all_nine_tables(app: ExportSathi) -> None:
    owner = user(app)
    stored = app.create_report(report(owner), CERTS, PLAN)
    session = app.start_chat(owner.id, stored.id)
    app.record_message(session, "user", "hi")
    app.db.execute(
        "insert into generated_documents (user_id, report_id, document_type, content)"
        " values (%s, %s, 'invoice', '{}')",
        [owner.id, stored.id],
    )
    app.db.execute("insert into finance_analysis (report_id) values (%s)", [stored.id])
    app.db.execute("insert into logistics_analysis (report_id) values (%s)", [stored.id])
    app.compute_metrics(owner.id)
    for table in TABLES:
        assert app.db.fetch_value(f"select count(*) from {table}") > 0, table
    assert app.users.delete(owner.id) is True
    for table in TABLES:
        assert app.db.fetch_value(f"select count(*) from {table}") == 0, table
