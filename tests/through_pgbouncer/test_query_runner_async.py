"""tests/test_query_runner_async.py through PgBouncer in transaction mode (see conftest.py)."""

from ..test_query_runner_async import *  # noqa: F403
