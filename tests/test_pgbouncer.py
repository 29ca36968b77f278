"""Behind PgBouncer in transaction mode (`DB_POOLER=transaction`), on a real PgBouncer.

Each transaction may run on a different server session, and the next client's
transaction on the same one: nothing may be prepared on the server, no session setting
may be left behind, migrations need a direct connection, and one tenant's rows never
reach another client. The sample project's own tests run through PgBouncer as well
(tests/through_pgbouncer/).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

import psycopg
import pytest

from persistence import (
    AsyncDatabase,
    ConfigurationError,
    Database,
    MigrationError,
    PersistenceError,
    Settings,
)
from persistence._connect import connect, pooled
from persistence.migrations import Migrator

from .conftest import SAMPLE
from .pgbouncer import PgBouncer
from .test_security import owner, role, service  # noqa: F401 (fixtures)

#: Clients per test: more than PgBouncer's server connections per database (2).
CLIENTS = 4


def sample(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        project=SAMPLE,
        queries_dir=SAMPLE / "queries",
        migrations_dir=SAMPLE / "migrations",
    )


@pytest.fixture
def bounced(sample_settings: Settings, pgbouncer: PgBouncer) -> Settings:
    """The test's sample database through PgBouncer, DB_POOLER=transaction."""
    return pgbouncer.settings(sample_settings)


# -- no prepared statements ---------------------------------------------------------------


def test_prepared_statements_break_through_pgbouncer_without_the_setting(
    sample_settings: Settings, pgbouncer: PgBouncer
) -> None:
    """The failure DB_POOLER=transaction prevents, shown with plain psycopg: the second
    client gets the server session where the first one prepared its statement."""
    url = pgbouncer.settings(sample_settings).conninfo()
    with (
        psycopg.connect(url, autocommit=True, prepare_threshold=0) as a,
        psycopg.connect(url, autocommit=True, prepare_threshold=0) as b,
    ):
        a.execute("select 1")
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            b.execute("select 1")


def test_many_calls_from_many_clients_prepare_nothing(bounced: Settings) -> None:
    """Far past psycopg's prepare threshold (5 runs), clients taking turns on the same
    server sessions: no 'prepared statement ... does not exist / already exists'."""
    databases = [Database(bounced).open() for _ in range(CLIENTS)]
    errors: list[BaseException] = []

    def client(db: Database, n: int) -> None:
        try:
            for i in range(40):
                assert db.fetch_value("select %s::int + 1", [i]) == i + 1
                assert db.queries.users.count_users() == 0
                with db.transaction():
                    db.execute("select pg_advisory_xact_lock(%s)", [n])
        except BaseException as ex:
            errors.append(ex)

    try:
        threads = [threading.Thread(target=client, args=(db, n)) for n, db in enumerate(databases)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert databases[0].fetch_value("select count(*) from pg_prepared_statements") == 0
    finally:
        for db in databases:
            db.close()


async def test_many_calls_from_many_async_clients_prepare_nothing(bounced: Settings) -> None:
    databases = [await AsyncDatabase(bounced).open() for _ in range(CLIENTS)]

    async def client(db: AsyncDatabase) -> None:
        for i in range(40):
            assert await db.fetch_value("select %s::int * 2", [i]) == i * 2
            async with db.transaction():
                assert await db.fetch_value("select %s::int", [i]) == i

    try:
        await asyncio.gather(*(client(db) for db in databases))
    finally:
        for db in databases:
            await db.close()


# -- no session state ---------------------------------------------------------------------


def test_without_the_setting_pgbouncer_refuses_and_the_error_says_what_to_set(
    bounced: Settings,
) -> None:
    direct_mode = dataclasses.replace(bounced, pooler=None)
    with pytest.raises(ConfigurationError) as raised:
        Database(direct_mode).open()
    message = str(raised.value)
    assert "refused the startup parameter 'options'" in message
    assert "DB_POOLER=transaction" in message
    assert "\n" not in message


def test_timeouts_hold_per_transaction_and_end_with_it(bounced: Settings) -> None:
    settings = dataclasses.replace(bounced, statement_timeout=7, idle_in_transaction_timeout=9)
    with Database(settings) as db:
        default = db.fetch_value("show statement_timeout")  # the role's or the server's
        for _ in range(3):
            with db.transaction():
                assert db.fetch_value("show statement_timeout") == "7s"
                assert db.fetch_value("show idle_in_transaction_session_timeout") == "9s"
            # The server session goes back to PgBouncer as it came.
            assert db.fetch_value("show statement_timeout") == default
            assert db.fetch_value("show idle_in_transaction_session_timeout") != "9s"
        assert db.fetch_value("select current_setting('application_name')") == "persistence"


def test_statement_timeout_cancels_a_statement_inside_a_transaction(bounced: Settings) -> None:
    settings = dataclasses.replace(bounced, statement_timeout=0.2)
    with Database(settings) as db, pytest.raises(PersistenceError, match="statement timeout"):  # noqa: SIM117
        with db.transaction():
            db.execute("select pg_sleep(5)")


# -- migrations ---------------------------------------------------------------------------


def test_migrations_are_refused_without_a_direct_migration_url(
    empty_settings: Settings, pgbouncer: PgBouncer
) -> None:
    through = sample(dataclasses.replace(pgbouncer.settings(empty_settings), migration_url=None))
    with pytest.raises(ConfigurationError, match="set DATABASE_MIGRATION_URL") as raised:
        Migrator(through).migrate()
    assert "\n" not in str(raised.value)
    # A migration URL that is the pooler again is no better.
    at_pooler = dataclasses.replace(through, migration_url=through.database_url)
    with pytest.raises(ConfigurationError, match="set DATABASE_MIGRATION_URL"):
        Migrator(at_pooler).migrate()
    # Nor the pooler under another name: it refuses the direct session's options, and
    # the advice names the migration URL, not the DB_POOLER already set.
    url = through.database_url or ""
    renamed = url.replace("127.0.0.1", "localhost")
    assert renamed != url
    elsewhere = dataclasses.replace(through, migration_url=renamed)
    with pytest.raises(ConfigurationError) as raised:
        Migrator(elsewhere, out=lambda _: None).migrate()
    assert "DATABASE_MIGRATION_URL to name the PostgreSQL server itself" in str(raised.value)


def test_migrations_go_to_the_direct_migration_url(
    empty_settings: Settings, pgbouncer: PgBouncer
) -> None:
    through = sample(pgbouncer.settings(empty_settings))
    assert Migrator(through, out=lambda _: None).migrate()
    with Database(through) as db:
        assert db.queries.users.count_users() == 0


def test_a_pooler_is_told_apart_by_behaviour(
    empty_settings: Settings, pgbouncer: PgBouncer
) -> None:
    through = pgbouncer.settings(empty_settings)
    with connect(through) as conn:
        assert pooled(conn)
    with connect(empty_settings) as conn:
        assert not pooled(conn)


def test_migrations_through_a_pooler_that_ignores_options_are_refused(
    persistence_settings: Settings, empty_settings: Settings
) -> None:
    """DB_POOLER unset, and a PgBouncer that takes the startup options silently: the
    migrator finds out by itself, before it takes its lock."""
    bouncer = PgBouncer(persistence_settings, ignore_options=True)
    try:
        url = bouncer.settings(empty_settings).database_url
        unaware = sample(dataclasses.replace(empty_settings, database_url=url))
        with pytest.raises(MigrationError, match="goes through a connection pooler") as raised:
            Migrator(unaware).migrate()
        assert "DATABASE_MIGRATION_URL" in str(raised.value)
        with connect(empty_settings) as conn:  # nothing applied, no lock left behind
            assert conn.execute("select to_regclass('users')").fetchone() == (None,)
            held = conn.execute(
                "select count(*) from pg_locks l join pg_database d on d.oid = l.database"
                " where l.locktype = 'advisory' and d.datname = current_database()"
            ).fetchone()
            assert held == (0,)
    finally:
        bouncer.close()


def test_a_pooler_that_takes_the_options_without_the_setting_is_reported(
    persistence_settings: Settings, empty_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    bouncer = PgBouncer(persistence_settings, ignore_options=True)
    try:
        url = bouncer.settings(empty_settings).database_url
        with Database(dataclasses.replace(empty_settings, database_url=url)):
            pass
    finally:
        bouncer.close()
    assert any("set DB_POOLER=transaction" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with Database(empty_settings):
        pass
    assert not any("DB_POOLER" in r.getMessage() for r in caplog.records)


# -- tenant isolation ---------------------------------------------------------------------


def test_tenants_sharing_server_sessions_never_see_each_other(
    service: Settings,  # noqa: F811
    pgbouncer: PgBouncer,
) -> None:
    user = str(psycopg.conninfo.conninfo_to_dict(service.database_url or "")["user"])
    pgbouncer.allow(user)
    through = pgbouncer.settings(service)
    databases = [Database(through).open() for _ in range(CLIENTS)]
    leaked: list[int] = []
    errors: list[BaseException] = []

    def client(db: Database, tenant: int) -> None:
        try:
            for i in range(50):
                if i % 2:
                    with db.tenant(tenant):
                        rows = db.fetch_all("select tenant_id from notes")
                else:
                    with db.transaction(tenant=tenant):
                        rows = db.fetch_all("select tenant_id from notes")
                leaked.append(sum(1 for (t,) in rows if t != tenant) + (len(rows) != 1))
                # The next transaction, with no tenant, sees nothing.
                leaked.append(len(db.fetch_all("select tenant_id from notes")))
        except BaseException as ex:
            errors.append(ex)

    try:
        for tenant in range(1, CLIENTS + 1):
            with databases[0].transaction(tenant=tenant):
                databases[0].execute(
                    "insert into notes (tenant_id, body) values (%s, 'x')", [tenant]
                )
        threads = [
            threading.Thread(target=client, args=(db, n + 1)) for n, db in enumerate(databases)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(leaked) == CLIENTS * 100
        assert sum(leaked) == 0
    finally:
        for db in databases:
            db.close()


async def test_async_tenants_sharing_server_sessions_never_see_each_other(
    service: Settings,  # noqa: F811
    pgbouncer: PgBouncer,
) -> None:
    user = str(psycopg.conninfo.conninfo_to_dict(service.database_url or "")["user"])
    pgbouncer.allow(user)
    async with AsyncDatabase(pgbouncer.settings(service)) as db:
        for tenant in (1, 2, 3):
            async with db.transaction(tenant=tenant):
                await db.execute("insert into notes (tenant_id, body) values (%s, 'x')", [tenant])

        async def request(tenant: int) -> int:
            with db.tenant(tenant):
                await asyncio.sleep(0)
                rows: list[Any] = await db.fetch_all("select tenant_id from notes")
                return sum(1 for (t,) in rows if t != tenant) + (len(rows) != 1)

        leaks = await asyncio.gather(*(request(1 + i % 3) for i in range(150)))
        assert sum(leaks) == 0
        assert await db.fetch_all("select tenant_id from notes") == []
