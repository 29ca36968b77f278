"""AsyncDatabase on a real server.

The sync twin is generated from this file.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import class_row

from persistence import (
    AsyncDatabase,
    CheckViolation,
    ConnectionFailed,
    ForeignKeyViolation,
    NotNullViolation,
    OutcomeUnknown,
    PersistenceError,
    PoolExhausted,
    QueryTimeout,
    SerializationFailure,
    Settings,
    UniqueViolation,
)
from persistence._acompat import asleep

from ._acompat import agather
from .conftest import with_password

SCHEMA = """
create table parent (id int primary key, name text not null check (name <> ''));
create table child (id int primary key, parent_id int references parent (id))
"""


@dataclass
class Parent:
    id: int
    name: str


def count(admin: psycopg.Connection[tuple[object, ...]]) -> int:
    row = admin.execute("select count(*) from parent").fetchone()
    assert row is not None
    return int(str(row[0]))


@pytest.fixture
async def fresh(fresh_settings: Settings, admin):
    admin.execute(SCHEMA)
    async with AsyncDatabase(fresh_settings) as database:
        yield database


async def test_fetch_and_execute(adb: AsyncDatabase) -> None:
    await adb.execute(SCHEMA)
    inserted = await adb.execute(
        "insert into parent values (%s, %s), (%s, %s)", [1, "ada", 2, "bob"]
    )
    assert inserted == 2
    assert await adb.fetch_all("select id, name from parent order by id") == [
        (1, "ada"),
        (2, "bob"),
    ]
    assert await adb.fetch_one("select name from parent where id = %s", [2]) == ("bob",)
    assert await adb.fetch_one("select name from parent where id = %s", [3]) is None
    assert await adb.fetch_value("select count(*) from parent") == 2
    rows = await adb.fetch_all("select * from parent order by id", row_factory=class_row(Parent))
    assert rows == [Parent(1, "ada"), Parent(2, "bob")]


async def test_transaction_commits_at_the_end(fresh: AsyncDatabase, admin) -> None:
    async with fresh.transaction():
        await fresh.execute("insert into parent values (1, 'ada')")
        assert count(admin) == 0, "visible to others before the commit"
    assert count(admin) == 1


async def test_transaction_rolls_back_on_exception(fresh: AsyncDatabase, admin) -> None:
    with pytest.raises(RuntimeError):
        async with fresh.transaction():
            await fresh.execute("insert into parent values (1, 'ada')")
            raise RuntimeError("boom")
    assert count(admin) == 0


async def test_nested_transaction_is_a_savepoint(fresh: AsyncDatabase, admin) -> None:
    async with fresh.transaction():
        await fresh.execute("insert into parent values (1, 'outer')")
        with pytest.raises(UniqueViolation):
            async with fresh.transaction():
                await fresh.execute("insert into parent values (2, 'inner')")
                await fresh.execute("insert into parent values (1, 'duplicate')")
        await fresh.execute("insert into parent values (3, 'after')")
    names = admin.execute("select name from parent order by id").fetchall()
    assert names == [("outer",), ("after",)]


async def test_calls_inside_a_transaction_use_its_connection(fresh: AsyncDatabase) -> None:
    async with fresh.transaction() as conn:
        cur = await conn.execute("select pg_backend_pid(), txid_current()")
        expected = await cur.fetchone()
        assert await fresh.fetch_one("select pg_backend_pid(), txid_current()") == expected


async def test_concurrent_transactions_get_their_own_connections(fresh: AsyncDatabase) -> None:
    async def backend() -> int:
        async with fresh.transaction():
            pid = await fresh.fetch_value("select pg_backend_pid()")
            await asleep(0.05)  # overlap with the other one
            assert await fresh.fetch_value("select pg_backend_pid()") == pid
            return int(pid)

    first, second = await agather(backend, backend)
    assert first != second


async def test_reads_survive_terminated_backends(fresh_settings: Settings, admin) -> None:
    settings = dataclasses.replace(fresh_settings, pool_min=4, pool_max=4)
    async with AsyncDatabase(settings) as database:
        await agather(*[lambda: database.fetch_value("select pg_sleep(0.05)")] * 4)
        killed = admin.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        ).fetchone()
        assert killed is not None
        assert killed[0] >= 4
        for _ in range(10):
            assert await database.fetch_value("select 1") == 1
        assert await agather(*[lambda: database.fetch_value("select 2")] * 4) == [2] * 4


async def test_writes_are_not_retried_after_a_disconnect(fresh: AsyncDatabase, admin) -> None:
    """A write whose backend dies while it runs is not run again (it may have
    committed); marked idempotent, it is."""
    kill = (
        "select pg_terminate_backend(pid) from pg_stat_activity"
        " where datname = current_database() and pid <> pg_backend_pid()"
        " and query like 'insert%'"
    )
    slow = "insert into parent select 1, 'ada' from pg_sleep(0.5)"
    killer = threading.Timer(0.2, lambda: admin.execute(kill))
    killer.start()
    with pytest.raises(OutcomeUnknown):
        await fresh.execute(slow)
    killer.join()
    assert count(admin) == 0  # killed before it committed; the caller could not know
    killer = threading.Timer(0.2, lambda: admin.execute(kill))
    killer.start()
    assert await fresh.execute(slow + " on conflict do nothing", idempotent=True) == 1
    killer.join()
    assert count(admin) == 1


async def test_statement_timeout_raises_query_timeout(fresh_settings: Settings) -> None:
    settings = dataclasses.replace(fresh_settings, statement_timeout=0.2)
    async with AsyncDatabase(settings) as database:
        with pytest.raises(QueryTimeout, match="statement timeout"):
            await database.fetch_value("select pg_sleep(5)")
        assert await database.fetch_value("select 1") == 1


async def test_pool_exhaustion_raises_within_the_pool_timeout(
    fresh_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dataclasses.replace(
        fresh_settings, pool_min=1, pool_max=1, pool_timeout=0.3, slow_query_ms=100
    )
    caplog.set_level(logging.WARNING, logger="persistence")
    async with AsyncDatabase(settings) as database:
        async with database.connection():
            started = time.monotonic()
            with pytest.raises(PoolExhausted):
                await database.fetch_value("select 1")
            waited = time.monotonic() - started
        assert 0.3 <= waited < 10, "gave up before, or far after, the pool timeout"
        assert await database.fetch_value("select 1") == 1
    # The wait for a connection is not a slow query: none was sent.
    assert "slow query" not in caplog.text
    assert "query 'select 1' failed after" in caplog.text


async def test_a_slow_sql_object_is_logged_by_its_text_without_values(
    fresh_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="persistence")
    query = sql.SQL("select {} from {} limit 1").format(
        sql.Literal("s3cret-value"), sql.Identifier("pg_class")
    )
    async with AsyncDatabase(dataclasses.replace(fresh_settings, slow_query_ms=0)) as database:
        assert await database.fetch_value(query) == "s3cret-value"
    # Not the object's repr, which quotes the literal: the text, each value a "?".
    assert """slow query 'select ? from "pg_class" limit 1' took""" in caplog.text
    assert "s3cret" not in caplog.text


async def test_idle_connections_above_the_minimum_close_after_pool_max_idle(
    fresh_settings: Settings,
) -> None:
    settings = dataclasses.replace(fresh_settings, pool_min=1, pool_max=4, pool_max_idle=0.2)
    async with AsyncDatabase(settings) as database:
        await agather(*[lambda: database.fetch_value("select pg_sleep(0.2)")] * 4)
        assert database.pool.get_stats()["pool_size"] == 4
        for _ in range(100):  # the pool closes one idle connection per max_idle period
            if database.pool.get_stats()["pool_size"] == 1:
                break
            await asleep(0.1)
        assert database.pool.get_stats()["pool_size"] == 1, "idle connections were kept"


async def test_constraint_violations_name_the_constraint(adb: AsyncDatabase) -> None:
    await adb.execute(SCHEMA)
    await adb.execute("insert into parent values (1, 'ada')")
    with pytest.raises(UniqueViolation) as unique:
        await adb.execute("insert into parent values (1, 'again')")
    assert unique.value.constraint == "parent_pkey"
    assert "parent_pkey" in str(unique.value)
    with pytest.raises(ForeignKeyViolation) as fk:
        await adb.execute("insert into child values (1, 99)")
    assert fk.value.constraint == "child_parent_id_fkey"
    with pytest.raises(CheckViolation) as check:
        await adb.execute("insert into parent values (2, '')")
    assert check.value.constraint == "parent_name_check"
    with pytest.raises(NotNullViolation) as not_null:
        await adb.execute("insert into parent values (3, null)")
    assert not_null.value.column == "name"
    # Each failure was undone alone: the statements after it still work.
    assert await adb.fetch_value("select count(*) from parent") == 1


async def test_health_reports_the_pool_and_never_the_password(fresh_settings: Settings) -> None:
    secret = "Sup3r-s3cret-pw"
    async with AsyncDatabase(with_password(fresh_settings, secret)) as database:
        report = await database.health()
        assert report.ok
        assert report.server_version
        assert report.latency_ms is not None
        assert report.pool_size >= 1
        assert (report.pool_min, report.pool_max) == (1, 5)
        assert "***" in report.url
        for text in (str(report), repr(report), str(report.as_dict()), repr(database)):
            assert secret not in text
    failing = await database.health()  # closed now
    assert not failing.ok
    assert failing.error
    assert secret not in str(failing)
    assert (failing.pool_open, failing.pool_size, failing.pool_idle) == (False, 0, 0)
    assert "pool            not open, limits 1-5" in str(failing).splitlines()


async def test_health_after_a_failed_open_says_the_pool_is_not_open(
    fresh_settings: Settings,
) -> None:
    # Nothing listens on port 1: open() fails before the pool opens.
    settings = dataclasses.replace(
        fresh_settings, database_url="postgresql://postgres@127.0.0.1:1/x", pool_min=5
    )
    database = AsyncDatabase(settings)
    with pytest.raises(ConnectionFailed):
        await database.open()
    report = await database.health()
    assert not report.ok
    assert "not open" in (report.error or "")
    assert (report.pool_open, report.pool_size, report.pool_idle) == (False, 0, 0)
    lines = str(report).splitlines()
    assert lines[0].startswith("status          FAILING: ")
    assert lines[5] == f"pool            not open, limits 5-{settings.pool_max}"


async def test_close_waits_for_work_in_flight(fresh_settings: Settings) -> None:
    database = await AsyncDatabase(fresh_settings).open()

    async def slow() -> object:
        return await database.fetch_value("select 'done' from pg_sleep(0.3)")

    async def close_soon() -> None:
        await asleep(0.1)
        await database.close()

    result, _ = await agather(slow, close_soon)
    assert result == "done"
    with pytest.raises(PersistenceError, match="closed"):
        await database.fetch_value("select 1")


async def test_force_rollback_undoes_everything(fresh: AsyncDatabase, admin) -> None:
    async with fresh.force_rollback():
        await fresh.execute("insert into parent values (1, 'ada')")
        async with fresh.transaction():
            await fresh.execute("insert into parent values (2, 'bob')")
        assert await fresh.fetch_value("select count(*) from parent") == 2
    assert count(admin) == 0


FLAKY = """
create sequence calls;
create function flaky(failures int, code text) returns void language plpgsql as $$
begin
    if nextval('calls') <= failures then
        raise exception 'injected' using errcode = code;
    end if;
end $$
"""


@pytest.mark.parametrize("code", ["40001", "40P01"])
async def test_retrying_reruns_the_block_on_transient_failures(
    fresh: AsyncDatabase, admin, code: str
) -> None:
    admin.execute(FLAKY)
    attempts = fresh.retrying(retries=3, backoff=0.001)
    async for attempt in attempts:
        async with attempt:
            await fresh.execute("insert into parent values (%s, 'ada')", [attempts.attempt])
            await fresh.execute("select flaky(2, %s)", [code])
    assert attempts.attempt == 3
    assert [e.sqlstate for e in attempts.errors] == [code, code]
    # The two failed attempts were rolled back: only the third one's row is there.
    assert admin.execute("select id from parent").fetchall() == [(3,)]


async def test_retrying_gives_up_after_the_last_attempt(fresh: AsyncDatabase, admin) -> None:
    admin.execute(FLAKY)
    attempts = fresh.retrying(retries=2, backoff=0.001)
    with pytest.raises(SerializationFailure):
        async for attempt in attempts:
            async with attempt:
                await fresh.execute("select flaky(10, '40001')")
    assert attempts.attempt == 3
    assert count(admin) == 0


async def test_retrying_does_not_retry_other_errors(fresh: AsyncDatabase, admin) -> None:
    attempts = fresh.retrying(retries=5, backoff=0.001)
    with pytest.raises(UniqueViolation):
        async for attempt in attempts:
            async with attempt:
                await fresh.execute("insert into parent values (1, 'a'), (1, 'b')")
    assert attempts.attempt == 1
    with pytest.raises(PersistenceError, match="outside one"):
        async with fresh.transaction():
            fresh.retrying()


@pytest.mark.parametrize("token", ["nonsense", 12345, "0/"])
async def test_after_refuses_what_is_not_a_causal_token(adb: AsyncDatabase, token: object) -> None:
    with (
        pytest.raises(PersistenceError, match="not a causal token"),
        adb.after(token),  # type: ignore[arg-type]
    ):
        pass


TENANT = "select coalesce(current_setting('app.tenant_id', true), '')"


async def test_session_settings_end_with_their_borrower(fresh_settings: Settings) -> None:
    """A SET (not LOCAL) outlives its statement on the server session: the next user of
    the pooled connection must not inherit it (a tenant, a timeout), whether it came
    from a statement, from inside a transaction, or from a raw borrow."""
    settings = dataclasses.replace(fresh_settings, pool_min=1, pool_max=1, statement_timeout=7)
    async with AsyncDatabase(settings) as db:
        pid = await db.fetch_value("select pg_backend_pid()")
        await db.execute("set app.tenant_id = '1'")
        await db.execute("set statement_timeout = '1h'")
        assert await db.fetch_value(TENANT) == ""
        assert await db.fetch_value("show statement_timeout") == "7s"  # the settings' own
        await db.fetch_value("select set_config('app.tenant_id', '2', false)")
        assert await db.fetch_value(TENANT) == ""
        await db.fetch_value("""select "set_config"('app.tenant_id', '2', false)""")
        assert await db.fetch_value(TENANT) == ""
        async with db.transaction():
            await db.execute("set app.tenant_id = '3'")  # session-wide, despite the block
        assert await db.fetch_value(TENANT) == ""
        async with db.connection() as conn:
            await conn.execute("set app.tenant_id = '4'")
        assert await db.fetch_value(TENANT) == ""
        # Reset, not replaced: the same server session all along.
        assert await db.fetch_value("select pg_backend_pid()") == pid
