"""tests/test_repository.py through PgBouncer in transaction mode (see conftest.py)."""

from ..test_repository import *  # noqa: F403
