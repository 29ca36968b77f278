"""The project's own tests use the plugin it ships (persistence.pytest_plugin)."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from persistence import Settings


@pytest.fixture
def admin(fresh_settings: Settings):
    """A plain autocommit psycopg connection to the test's own database, for the test to
    look behind the toolkit's back (terminate backends, read what was committed)."""
    with psycopg.connect(fresh_settings.conninfo(), autocommit=True) as conn:
        yield conn


def with_password(settings: Settings, password: str) -> Settings:
    """The same database with a password in the URL (trust auth ignores it)."""
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    params["password"] = password
    url = psycopg.conninfo.make_conninfo("", **params)
    return dataclasses.replace(settings, database_url=url)
