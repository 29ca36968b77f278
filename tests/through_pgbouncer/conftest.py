"""The sample project's tests again, through PgBouncer in transaction mode.

Each module here imports the tests of a module one folder up; the fixtures below
replace the sample database's settings with the same database reached through the
session's PgBouncer (`DB_POOLER=transaction`, migrations on the direct URL). With
fewer server connections than pool clients, the clients take turns on server sessions.
"""

from __future__ import annotations

import pytest

from persistence import Settings

from ..pgbouncer import PgBouncer


@pytest.fixture
def sample_settings(sample_settings: Settings, pgbouncer: PgBouncer) -> Settings:
    return pgbouncer.settings(sample_settings)
