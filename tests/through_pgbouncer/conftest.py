"""The repository, named-query and transaction tests again, through PgBouncer in
transaction mode.

Each module here imports the tests of a module one folder up; the fixtures below
replace the settings of the test's database (the sample's, or a fresh one) with the
same database reached through the session's PgBouncer (`DB_POOLER=transaction`,
migrations on the direct URL); `admin` still goes to the server directly. With fewer
server connections than pool clients, the clients take turns on server sessions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from persistence import Settings

from ..pgbouncer import PgBouncer


@pytest.fixture
def sample_settings(sample_settings: Settings, pgbouncer: PgBouncer) -> Settings:
    return pgbouncer.settings(sample_settings)


@pytest.fixture
def fresh_settings(fresh_settings: Settings, pgbouncer: PgBouncer) -> Settings:
    return pgbouncer.settings(fresh_settings)


@pytest.fixture
def admin(fresh_settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    """The test's look behind the toolkit's back goes to the server directly."""
    direct = dataclasses.replace(
        fresh_settings, database_url=fresh_settings.migration_url, pooler=None
    )
    with psycopg.connect(direct.conninfo(), autocommit=True) as conn:
        yield conn


#: Tests that do not apply through a transaction pooler, and why (skipped, saying so).
NOT_THROUGH_A_POOLER = {
    "test_statement_timeout_raises_query_timeout": (
        "outside a transaction, behind a transaction pooler the statement timeout is the"
        " role's (alter role ... set statement_timeout), not the setting's, which holds per"
        " transaction block: tests/test_pgbouncer.py tests that"
    ),
    "test_session_settings_end_with_their_borrower": (
        "a SET outside a transaction block lands on whichever server session PgBouncer"
        " lends for that statement, and the reset on the next: session state is not"
        " supported in transaction mode (use SET LOCAL or role settings)"
    ),
    "test_reads_survive_terminated_backends": (
        "it counts the pool's 4 server backends before killing them: PgBouncer runs 2 per"
        " database, and replaces a killed one without its clients noticing"
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        reason = NOT_THROUGH_A_POOLER.get(getattr(item, "originalname", ""))
        if reason and here in item.path.parents:
            item.add_marker(pytest.mark.skip(reason=reason))
