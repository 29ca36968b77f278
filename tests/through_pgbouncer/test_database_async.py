"""tests/test_database_async.py through PgBouncer in transaction mode (see conftest.py)."""

from ..test_database_async import *  # noqa: F403
