"""tests/test_query_runner.py through PgBouncer in transaction mode (see conftest.py)."""

from ..test_query_runner import *  # noqa: F403
