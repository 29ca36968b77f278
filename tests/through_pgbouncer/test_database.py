"""tests/test_database.py through PgBouncer in transaction mode (see conftest.py)."""

from ..test_database import *  # noqa: F403
