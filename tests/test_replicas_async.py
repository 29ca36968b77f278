"""Read replicas on a real primary and streaming replica (the `topology` fixture).

The sync twin is generated from this file.

Which server served a statement is read from the serving connection itself
(`pg_is_in_recovery()`: true on the replica) or from the replica's `pg_stat_activity`.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, LiteralString

import psycopg
import pytest
from psycopg import sql

from persistence import AsyncBaseRepository, AsyncDatabase, Migrator, Settings
from persistence._acompat import asleep

from ._acompat import ablocking, agather
from .topology import Topology

pytestmark = pytest.mark.slow

SERVED_BY = "select pg_is_in_recovery()"  # true on the replica

QUERIES = """\
-- name: served_by()$
select pg_is_in_recovery();

-- name: served_by_primary()$
-- Always the primary, although it only reads.
-- primary
select pg_is_in_recovery();
"""


@dataclass
class Item:
    id: int
    name: str


class Items(AsyncBaseRepository[Item]):
    table = "items"


def settings_for(topology: Topology, tmp_path: Path, **changes: object) -> Settings:
    (tmp_path / "queries").mkdir(exist_ok=True)
    (tmp_path / "queries" / "where.sql").write_text(QUERIES)
    base = Settings(
        database_url=topology.primary_url,
        replica_urls=(topology.replica_url,),
        # Replay is paused in some tests: lag alone must not skip the replica there.
        replica_max_lag=3600.0,
        replica_wait=0.2,
        pool_min=1,
        pool_max=4,
        pool_timeout=5.0,
        connect_timeout=2.0,
        project=tmp_path,
        queries_dir=tmp_path / "queries",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def table(topology: Topology) -> str:
    """A table of the test's own on the primary (`items`-shaped), replayed on the replica."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(topology.primary_url, autocommit=True) as conn:
        conn.execute(on(name, "create table {} (id int primary key, name text not null)"))
        conn.execute("create table if not exists items (id int primary key, name text not null)")
    topology.wait_replayed()
    return name


@pytest.fixture
async def rdb(topology: Topology, tmp_path: Path) -> AsyncIterator[AsyncDatabase]:
    async with AsyncDatabase(settings_for(topology, tmp_path)) as database:
        yield database


def replay(topology: Topology, action: Literal["pause", "resume"]) -> None:
    """Pause or resume WAL replay on the replica."""
    with psycopg.connect(topology.replica_url, autocommit=True) as conn:
        if action == "pause":
            conn.execute("select pg_wal_replay_pause()")
        else:
            conn.execute("select pg_wal_replay_resume()")


def on(table: str, template: LiteralString) -> sql.Composed:
    """`template` with the table's name in place of {}."""
    return sql.SQL(template).format(sql.Identifier(table))


async def test_reads_go_to_the_replica_writes_and_transactions_to_the_primary(
    rdb: AsyncDatabase, table: str, topology: Topology
) -> None:
    assert await rdb.fetch_value(SERVED_BY) is True
    assert await rdb.fetch_value(SERVED_BY, primary=True) is False
    # A write that also reads: the primary (a replica would refuse it anyway).
    written = on(table, "insert into {} values (1, 'a') returning pg_is_in_recovery()")
    assert await rdb.fetch_value(written) is False
    async with rdb.transaction():
        assert await rdb.fetch_value(SERVED_BY) is False
    # Reads a standby refuses (a row lock, what only a primary knows): the primary.
    locking = on(table, "select pg_is_in_recovery() from {} for update")
    assert await rdb.fetch_value(locking) is False
    assert await rdb.fetch_value("select pg_current_wal_lsn()") is not None
    assert await rdb.queries.where.served_by() is True
    assert await rdb.queries.where.served_by_primary() is False
    assert rdb.queries.query("where.served_by_primary").primary
    assert not rdb.queries.query("where.served_by").primary


async def test_repository_reads_run_on_the_replica(
    rdb: AsyncDatabase, table: str, topology: Topology
) -> None:
    items = Items(rdb)
    marker = uuid.uuid4().hex
    await items.insert(Item(id=abs(hash(marker)) % 1_000_000, name=marker))
    # This task's own write: the read waits for the replica, or reads the primary.
    assert [i.name for i in await items.find(name=marker)] == [marker]
    topology.wait_replayed()
    assert [i.name for i in await items.find(name=marker)] == [marker]
    with psycopg.connect(topology.replica_url, autocommit=True) as conn:
        seen = conn.execute(
            "select count(*) from pg_stat_activity where pid <> pg_backend_pid() and query like %s",
            [f"%{'items'}%"],
        ).fetchone()
    assert seen is not None
    assert seen[0] >= 1, "the replica never ran the repository's read"


async def test_read_your_writes_with_replay_paused(
    rdb: AsyncDatabase, table: str, topology: Topology, tmp_path: Path
) -> None:
    assert rdb.causal_token() is None
    replay(topology, "pause")
    try:
        await rdb.execute(on(table, "insert into {} values (1, 'mine')"))
        token = rdb.causal_token()
        assert token is not None
        # The same task sees its write: the replica has not replayed it, so after
        # waiting `replica_wait` the primary serves the read.
        counted = on(table, "select count(*) from {}")
        assert await rdb.fetch_value(counted) == 1
        assert await rdb.fetch_value(SERVED_BY) is False
        # Another database object has no token: it reads the (stale) replica.
        async with AsyncDatabase(settings_for(topology, tmp_path)) as other:
            assert await other.fetch_value(SERVED_BY) is True
            assert await other.fetch_value(counted) == 0
            with other.after(token):
                assert await other.fetch_value(counted) == 1
                assert await other.fetch_value(SERVED_BY) is False
            assert other.causal_token() is None
    finally:
        replay(topology, "resume")
    topology.wait_replayed()
    # Replayed: the token no longer keeps this task off the replica.
    assert await rdb.fetch_value(SERVED_BY) is True
    assert await rdb.fetch_value(on(table, "select count(*) from {}")) == 1


async def test_reads_after_one_waited_in_vain_do_not_wait_again(
    rdb: AsyncDatabase, table: str, topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    pauses: list[float] = []

    async def counted(seconds: float) -> None:
        pauses.append(seconds)
        await asleep(seconds)

    monkeypatch.setattr("persistence._replicas_async.asleep", counted)
    replay(topology, "pause")
    try:
        await rdb.execute(on(table, "insert into {} values (1, 'mine')"))
        counted_rows = on(table, "select count(*) from {}")
        assert await rdb.fetch_value(counted_rows) == 1  # waited, then the primary
        assert pauses, "the first read waits for the replica"
        pauses.clear()
        for _ in range(5):  # a request's later reads: the primary, at once
            assert await rdb.fetch_value(counted_rows) == 1
        assert pauses == []
        await rdb.execute(on(table, "insert into {} values (2, 'newer')"))
        assert await rdb.fetch_value(counted_rows) == 2
        assert pauses, "a newer write's read waits again"
    finally:
        replay(topology, "resume")
    topology.wait_replayed()
    assert await rdb.fetch_value(SERVED_BY) is True


async def test_a_transaction_commit_sets_the_token(rdb: AsyncDatabase, table: str) -> None:
    async with rdb.transaction():
        await rdb.execute(on(table, "insert into {} values (2, 'tx')"))
    assert rdb.causal_token() is not None


async def test_a_lagging_replica_is_skipped_until_it_catches_up(
    table: str, topology: Topology, tmp_path: Path
) -> None:
    settings = settings_for(topology, tmp_path, replica_max_lag=0.001)
    async with AsyncDatabase(settings) as db:
        replay(topology, "pause")
        try:
            with psycopg.connect(topology.primary_url, autocommit=True) as conn:
                conn.execute(on(table, "insert into {} values (3, 'behind')"))
                row = conn.execute("select pg_current_wal_lsn()").fetchone()
            assert row is not None
            await _wait_received(topology, str(row[0]))
            # No token here: only the lag keeps the replica out, once the replica's
            # status (trusted for a quarter of a second) is asked again.
            deadline = time.monotonic() + 30
            while await db.fetch_value(SERVED_BY) and time.monotonic() < deadline:
                await asleep(0.05)
            assert await db.fetch_value(SERVED_BY) is False
            report = await db.health()
            assert [s.state for s in report.servers] == ["up", "lagging"]
        finally:
            replay(topology, "resume")
        topology.wait_replayed()
        assert await _served_by_replica_again(db), "the replica never came back"


async def test_a_replica_cut_off_from_its_primary_is_skipped_once_stale(
    table: str, topology: Topology, tmp_path: Path
) -> None:
    # Cut off, a replica has replayed everything it received: only the age of its
    # last replayed transaction says how stale it is.
    settings = settings_for(topology, tmp_path, replica_max_lag=0.5)
    with psycopg.connect(topology.replica_url, autocommit=True) as conn:
        row = conn.execute("show primary_conninfo").fetchone()
    assert row is not None
    link = str(row[0])
    async with AsyncDatabase(settings) as db:
        try:
            receiver(topology, "")
            with psycopg.connect(topology.primary_url, autocommit=True) as conn:
                conn.execute(on(table, "insert into {} values (4, 'unseen')"))
            deadline = time.monotonic() + 30
            while await db.fetch_value(SERVED_BY) and time.monotonic() < deadline:
                await asleep(0.1)
            assert await db.fetch_value(SERVED_BY) is False
            assert await db.fetch_value(on(table, "select count(*) from {} where id = 4")) == 1
        finally:
            receiver(topology, link)
        topology.wait_replayed()
        assert await _served_by_replica_again(db), "the replica never came back"


async def test_a_restarted_replica_of_an_idle_primary_is_not_lagging(
    table: str, topology: Topology, tmp_path: Path
) -> None:
    # Restarted, the replica's WAL receiver streams from the start of the segment: what
    # it has received is behind what it replayed until the primary writes again. It was
    # once taken for WAL left to replay, and the replica for as far behind as its last
    # replayed transaction: on a quiet primary, skipped for good.
    with psycopg.connect(topology.primary_url, autocommit=True) as conn:
        conn.execute(on(table, "insert into {} values (1, 'replayed before the restart')"))
    topology.wait_replayed()
    await ablocking(topology.replica.restart)
    await ablocking(lambda: receiver(topology, _conninfo(topology)))
    async with AsyncDatabase(settings_for(topology, tmp_path, replica_max_lag=3600.0)) as db:
        # WAL the primary happens to write meanwhile (autovacuum) is replayed at once;
        # without the fix the lag never drops to 0. A guard against a hang, not a timing.
        deadline = time.monotonic() + 10
        while True:
            replica = (await db.health()).servers[1]
            if replica.lag_s == 0.0 or time.monotonic() > deadline:
                break
            await asleep(0.1)
    assert (replica.role, replica.state, replica.lag_s) == ("replica", "up", 0.0)


def _conninfo(topology: Topology) -> str:
    with psycopg.connect(topology.replica_url, autocommit=True) as conn:
        row = conn.execute("show primary_conninfo").fetchone()
    assert row is not None
    return str(row[0])


def receiver(topology: Topology, conninfo: str) -> None:
    """Point the replica's WAL receiver at `conninfo` ('' stops it) and wait for it."""
    with psycopg.connect(topology.replica_url, autocommit=True) as conn:
        conn.execute(sql.SQL("alter system set primary_conninfo = {}").format(conninfo))
        conn.execute("select pg_reload_conf()")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = conn.execute("select count(*) from pg_stat_wal_receiver").fetchone()
            if running is not None and bool(running[0]) == bool(conninfo):
                return
            time.sleep(0.1)
    raise AssertionError(f"the WAL receiver did not {'start' if conninfo else 'stop'}")


async def test_a_replica_stopped_and_restarted_under_read_load(
    table: str, topology: Topology, tmp_path: Path
) -> None:
    async with AsyncDatabase(settings_for(topology, tmp_path)) as db:
        errors: list[BaseException] = []
        served: list[bool] = []
        phase = {"done": False}

        async def reader() -> None:
            while not phase["done"]:
                try:
                    served.append(bool(await db.fetch_value(SERVED_BY)))
                except Exception as ex:  # what the application would see
                    errors.append(ex)
                await asleep(0.001)

        async def until(done: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 60  # a guard against a hang, not a timing
            while not done() and time.monotonic() < deadline:
                await asleep(0.01)

        async def operator() -> None:
            try:
                await until(lambda: sum(served) >= 20)  # the replica serves the load
                assert sum(served) >= 20, "the reads never reached the replica"
                await ablocking(lambda: topology.replica.stop("fast"))
                before = len(served)
                await until(lambda: len(served) >= before + 50)  # the load goes on
                assert len(served) >= before + 50, "the reads stopped with the replica"
                await ablocking(topology.replica.restart)
                back = len(served)
                await until(lambda: any(served[back:]))
            finally:
                phase["done"] = True

        await agather(reader, reader, reader, operator)
        assert errors == [], f"reads failed: {errors[:3]}"
        assert any(served[-20:]) or await _served_by_replica_again(db), "replica not used again"
        report = await db.health()
        assert [(s.role, s.state) for s in report.servers] == [
            ("primary", "up"),
            ("replica", "up"),
        ]


async def test_health_lists_each_server(rdb: AsyncDatabase, topology: Topology) -> None:
    report = await rdb.health()
    assert report.ok
    primary, replica = report.servers
    assert (primary.role, primary.lag_s) == ("primary", 0.0)
    assert replica.role == "replica"
    assert replica.lag_s is not None
    assert str(topology.replica_port) in replica.url
    assert "replica" in str(report)
    assert report.degraded == []


async def test_a_replica_down_at_start_is_skipped(topology: Topology, tmp_path: Path) -> None:
    # Nothing listens on port 9: the replica is down from the start.
    dead = "postgresql://app:s3cret@127.0.0.1:9/app"
    async with AsyncDatabase(settings_for(topology, tmp_path, replica_urls=(dead,))) as db:
        assert await db.fetch_value(SERVED_BY) is False
        report = await db.health()
    assert report.ok
    assert [(s.role, s.state) for s in report.servers] == [("primary", "up"), (None, "down")]
    assert report.servers[1].error is not None
    # Still ok (reads go to the primary), but monitoring is told a replica is missing.
    assert report.degraded == ["postgresql://app:***@127.0.0.1:9/app down"]
    assert str(report).startswith("status          ok, DEGRADED: postgresql://app:***@")
    assert report.as_dict()["degraded"] == report.degraded
    assert "s3cret" not in str(report)
    assert "s3cret" not in str(report.as_dict())


def test_migrations_never_read_the_replica_settings(topology: Topology, tmp_path: Path) -> None:
    # A database of the test's own, and a replica nobody listens on: anything that
    # tried it would fail or wait.
    name = f"m_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(topology.primary_url, autocommit=True) as conn:
        conn.execute(on(name, "create database {}"))
    settings = settings_for(
        topology,
        tmp_path,
        database_url=topology.primary_url.rsplit("/", 1)[0] + f"/{name}",
        replica_urls=("postgresql://nobody:s3cret@127.0.0.1:9/app",),
    )
    assert settings.for_migrations().replica_urls == ()
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_t.sql").write_text("create table t (id int);\n")
    (tmp_path / "migrations" / "0001_t.rollback.sql").write_text("select 1;\n")
    migrator = Migrator(
        dataclasses.replace(settings, migrations_dir=tmp_path / "migrations"),
        out=lambda _: None,
    )
    assert migrator.settings.replica_urls == ()
    migrator.migrate()
    assert "s3cret" not in repr(settings)


async def _wait_received(topology: Topology, lsn: str) -> None:
    with psycopg.connect(topology.replica_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = conn.execute("select pg_last_wal_receive_lsn() >= %s::pg_lsn", [lsn]).fetchone()
            if row is not None and row[0]:
                return
            await asleep(0.02)
    raise AssertionError(f"the replica never received {lsn}")


async def _served_by_replica_again(db: AsyncDatabase) -> bool:
    """Whether reads reach the replica again (its status is cached briefly)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await db.fetch_value(SERVED_BY):
            return True
        await asleep(0.05)
    return False
