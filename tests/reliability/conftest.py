"""Fault injection against servers of the scenarios' own (`make reliability`).

Each scenario starts its own embedded PostgreSQL in a temporary folder, so it may kill,
restart or block it. Each records a row of figures; the session ends by printing them
as a table (and writing tests/reliability/results.json), and the tests assert the
guarantees: no acknowledged write lost, no duplicate, no error seen by a read after
backend termination, service back within 2 s of a restart.

These tests are marked `reliability` and left out of `make test`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
import pytest

from persistence import Settings
from persistence.embedded import EmbeddedServer

RESULTS: list[Result] = []
HERE = Path(__file__).parent


@dataclass
class Result:
    """One row of the reliability table."""

    scenario: str
    faults: int = 0
    operations: int = 0
    app_errors: int = 0
    lost_writes: int = 0
    duplicates: int = 0
    #: Rows a tenant saw, or wrote, that were another tenant's.
    leaked: int = 0
    recovery_s: float | None = None
    note: str = ""
    acknowledged: list[uuid.UUID] = field(default_factory=list, repr=False)

    def record(self) -> None:
        RESULTS.append(self)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reliability" in str(item.path):
            item.add_marker(pytest.mark.reliability)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.write_sep("=", "reliability")
    terminalreporter.write_line(table(RESULTS))
    rows = [{k: v for k, v in asdict(r).items() if k != "acknowledged"} for r in RESULTS]
    (HERE / "results.json").write_text(json.dumps(rows, indent=2) + "\n")


def table(results: list[Result]) -> str:
    head = (
        f"| {'scenario':<44} | faults | operations | app errors | lost writes | duplicates"
        " | leaked | recovery | note"
    )
    lines = [head, "|" + "|".join("-" * len(c) for c in head.split("|")[1:])]
    for r in results:
        recovery = "-" if r.recovery_s is None else f"{r.recovery_s:.2f} s"
        lines.append(
            f"| {r.scenario:<44} | {r.faults:>6} | {r.operations:>10} | {r.app_errors:>10}"
            f" | {r.lost_writes:>11} | {r.duplicates:>10} | {r.leaked:>6} | {recovery:>8}"
            f" | {r.note}"
        )
    return "\n".join(lines)


@pytest.fixture
def server(server_root: Path) -> Iterator[EmbeddedServer]:
    """An embedded server of this scenario's own."""
    own = EmbeddedServer(server_root / "pg")
    own.start()
    yield own
    own.destroy()


@pytest.fixture
def settings(server: EmbeddedServer, tmp_path: Path) -> Settings:
    info = server.status()
    assert info is not None
    with psycopg.connect(info.url(), autocommit=True) as conn:
        conn.execute(
            "create table ledger (seq bigint generated always as identity primary key,"
            " op_id uuid not null, worker int not null, at timestamptz not null default now())"
        )
    return Settings(
        database_url=info.url(),
        pool_min=4,
        pool_max=8,
        pool_timeout=5.0,
        connect_timeout=2.0,
        project=tmp_path,
        migrations_dir=tmp_path / "migrations",
    )


def check_ledger(settings: Settings, result: Result) -> None:
    """Count lost acknowledged writes and duplicates, comparing with what is stored."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(settings.conninfo()) as conn:
                stored = [r[0] for r in conn.execute("select op_id from ledger").fetchall()]
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    present = set(stored)
    result.lost_writes = sum(1 for op in result.acknowledged if op not in present)
    result.duplicates = len(stored) - len(present)
