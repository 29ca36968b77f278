"""tests/test_repository_async.py through PgBouncer in transaction mode (see conftest.py)."""

from ..test_repository_async import *  # noqa: F403
