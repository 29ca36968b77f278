"""Write-safety scenarios for `make reliability`: plain writes under backend kills,
commit ambiguity through a proxy on every API, tasks spawned inside transactions, and
a frozen server. See conftest.py for the table they fill."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from persistence import (
    DEFAULT,
    AsyncDatabase,
    BaseRepository,
    ConnectionFailed,
    Database,
    OutcomeUnknown,
    PersistenceError,
    Settings,
)
from persistence.embedded import EmbeddedServer
from persistence.queries import Catalog
from persistence.query_runner import QueryRunner

from ..faults import cutting_proxy
from .conftest import Result, check_ledger
from .test_scenarios import app_backends

PLAIN = "insert into ledger (op_id, worker) values (%s, %s)"


def test_plain_writes_under_backend_kills(settings: Settings) -> None:
    """Non-idempotent inserts while every pooled backend is terminated, 8 times: none
    is run twice; each failure says whether it may have committed."""
    result = Result("plain writes, all backends terminated x8")
    unknown: list[uuid.UUID] = []
    failed: list[uuid.UUID] = []
    other: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    with Database(settings) as db:

        def work(worker: int) -> None:
            while not stop.is_set():
                op = uuid.uuid4()
                try:
                    db.execute(PLAIN, [op, worker])
                except OutcomeUnknown:
                    with lock:
                        unknown.append(op)
                except ConnectionFailed:
                    with lock:
                        failed.append(op)
                except PersistenceError as ex:
                    with lock:
                        other.append(f"{type(ex).__name__}: {ex}")
                else:
                    with lock:
                        result.acknowledged.append(op)
                with lock:
                    result.operations += 1

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for _ in range(8):
            time.sleep(0.4)
            app_backends(settings)
            result.faults += 1
        time.sleep(0.4)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    check_ledger(settings, result)
    committed_unknown = _count_present(settings, unknown)
    result.app_errors = len(unknown) + len(failed) + len(other)
    result.note = (
        f"{len(unknown)} OutcomeUnknown ({committed_unknown} had committed),"
        f" {len(failed)} ConnectionFailed (0 committed), never retried"
    )
    result.record()
    assert not other, other[:3]
    assert (result.lost_writes, result.duplicates) == (0, 0)
    assert _count_present(settings, failed) == 0, "a ConnectionFailed write committed"
    assert result.operations > 100


def _count_present(settings: Settings, ops: list[uuid.UUID]) -> int:
    with psycopg.connect(settings.conninfo()) as conn:
        row = conn.execute("select count(*) from ledger where op_id = any(%s)", [ops]).fetchone()
    return int(row[0]) if row else 0


@dataclasses.dataclass
class Entry:
    op_id: uuid.UUID
    worker: int
    seq: int = DEFAULT
    at: Any = DEFAULT


class Ledger(BaseRepository[Entry]):
    table = "ledger"
    primary_key = ("seq",)


QUERIES = """
-- name: add(op_id, worker)!
insert into ledger (op_id, worker) values (:op_id, :worker);

-- name: add_returning(op_id, worker)<!
insert into ledger (op_id, worker) values (:op_id, :worker) returning seq;

-- name: add_row(op_id, worker)^
insert into ledger (op_id, worker) values (:op_id, :worker) returning seq, op_id;

-- name: add_rows(op_id, worker)
insert into ledger (op_id, worker) values (:op_id, :worker) returning seq;

-- name: add_value(op_id, worker)$
insert into ledger (op_id, worker) values (:op_id, :worker) returning seq;
"""


def test_commit_ambiguity_on_every_api(settings: Settings, tmp_path: Path) -> None:
    """The proxy forwards an insert, lets it commit, drops the reply and cuts the
    connection, 10 times for each write API: no duplicate, no silent success."""
    result = Result("lost reply after commit, 11 write APIs x10")
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "ledger.sql").write_text(QUERIES)
    one = dataclasses.replace(settings, pool_min=1, pool_max=1)
    silent = 0
    with cutting_proxy(one) as proxy, Database(proxy.settings(one)) as db:
        queries = QueryRunner(db, Catalog(tmp_path / "queries"))
        ledger = Ledger(db)
        ledger.count()
        apis: dict[str, Callable[[uuid.UUID], Any]] = {
            "fetch_all": lambda op: db.fetch_all(PLAIN + " returning seq", [op, 0]),
            "fetch_one": lambda op: db.fetch_one(PLAIN + " returning seq", [op, 0]),
            "fetch_value": lambda op: db.fetch_value(PLAIN + " returning seq", [op, 0]),
            "execute": lambda op: db.execute(PLAIN, [op, 0]),
            "transaction": lambda op: _in_transaction(db, proxy.cut_next, op),
            "queries !": lambda op: queries.ledger.add(op_id=op, worker=0),
            "queries <!": lambda op: queries.ledger.add_returning(op_id=op, worker=0),
            "queries ^": lambda op: queries.ledger.add_row(op_id=op, worker=0),
            "queries": lambda op: queries.ledger.add_rows(op_id=op, worker=0),
            "queries $": lambda op: queries.ledger.add_value(op_id=op, worker=0),
            "repository.insert": lambda op: ledger.insert(Entry(op_id=op, worker=0)),
        }
        ambiguous: list[uuid.UUID] = []
        for api, write in apis.items():
            for _ in range(10):
                op = uuid.uuid4()
                if api != "transaction":
                    proxy.cut_next()
                result.faults += 1
                result.operations += 1
                try:
                    write(op)
                except OutcomeUnknown:
                    ambiguous.append(op)
                    result.app_errors += 1
                else:
                    silent += 1  # the reply was lost: success cannot have been known
        assert proxy.cuts == result.faults
    check_ledger(settings, result)
    committed = _count_present(settings, ambiguous)
    result.note = (
        f"{len(ambiguous)} OutcomeUnknown, {committed} of them committed; {silent} silent successes"
    )
    result.record()
    assert silent == 0
    assert result.duplicates == 0


def _in_transaction(db: Database, cut: Callable[[], None], op: uuid.UUID) -> None:
    with db.transaction():
        db.execute(PLAIN, [op, 0])
        cut()  # the COMMIT's reply is lost


def test_tasks_spawned_inside_transactions(settings: Settings) -> None:
    """200 request-like transactions, half rolled back, each spawning a task that
    writes while the block is open (one pooled connection plus one spare): every
    write the task saw acknowledged is stored."""
    result = Result("tasks spawned in transactions, 200 blocks")
    tight = dataclasses.replace(settings, pool_min=1, pool_max=2)

    async def run() -> None:
        async with AsyncDatabase(tight) as db:
            for i in range(200):
                op = uuid.uuid4()
                task: asyncio.Task[int] | None = None
                try:
                    async with db.transaction():
                        await db.execute(PLAIN, [uuid.uuid4(), 1])
                        task = asyncio.create_task(db.execute(PLAIN, [op, 2]))
                        await asyncio.sleep(0)
                        if i % 2:
                            raise LookupError("roll this request back")
                except LookupError:
                    pass
                assert task is not None
                if await task == 1:
                    result.acknowledged.append(op)
                result.operations += 2
                result.faults += i % 2

    asyncio.run(run())
    check_ledger(settings, result)
    result.note = (
        f"{len(result.acknowledged)} child writes acknowledged, each on its own connection"
    )
    result.record()
    assert result.lost_writes == 0
    assert len(result.acknowledged) == 200


def test_frozen_server(settings: Settings, server: EmbeddedServer) -> None:
    """SIGSTOP every server process for 8 s while 8 threads read and write: each call
    ends within its deadline plus the watchdog's tick, and the pool recovers."""
    quick = dataclasses.replace(settings, statement_timeout=1.0, connect_timeout=2.0)
    result = Result("frozen server (SIGSTOP 8 s), 8 workers")
    overruns: list[float] = []
    kinds: dict[str, int] = {}
    stop = threading.Event()
    lock = threading.Lock()
    ok_after: list[float] = []
    resumed_at: list[float] = []
    with Database(quick) as db:
        limit = db.deadline

        def work(worker: int) -> None:
            while not stop.is_set():
                op = uuid.uuid4()
                started = time.monotonic()
                try:
                    if worker % 2:
                        db.execute(PLAIN, [op, worker])
                    else:
                        db.fetch_value("select count(*) from ledger")
                except PersistenceError as ex:
                    with lock:
                        kinds[type(ex).__name__] = kinds.get(type(ex).__name__, 0) + 1
                        result.app_errors += 1
                else:
                    with lock:
                        if worker % 2:
                            result.acknowledged.append(op)
                        if resumed_at:
                            ok_after.append(time.monotonic())
                waited = time.monotonic() - started
                with lock:
                    result.operations += 1
                    # A call may also wait for the pool (pool_timeout) before its deadline.
                    overruns.append(waited - limit - db.settings.pool_timeout)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        try:
            time.sleep(1)
            stopped = _signal_all(_server_pids(server), signal.SIGSTOP)
            result.faults = 1
            try:
                time.sleep(8)
            finally:
                _signal_all(stopped, signal.SIGCONT)
                with lock:
                    resumed_at.append(time.monotonic())
            time.sleep(4)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
    check_ledger(settings, result)
    worst = max(overruns)
    recovery = min(ok_after) - resumed_at[0] if ok_after else None
    result.recovery_s = recovery
    longest = worst + limit + quick.pool_timeout
    result.note = (
        f"longest call {longest:.1f} s (deadline {limit:g} s, pool wait <="
        f" {quick.pool_timeout:g} s); {', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}"
    )
    result.record()
    assert all(not t.is_alive() for t in threads), "a call never ended"
    assert worst <= 1.0
    assert result.lost_writes == 0
    assert recovery is not None


def _signal_all(pids: list[int], sig: signal.Signals) -> list[int]:
    """Send `sig` to each process still there; return those that got it."""
    sent = []
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue  # a backend that has exited since
        sent.append(pid)
    return sent


def _server_pids(server: EmbeddedServer) -> list[int]:
    info = server.status()
    assert info is not None
    with psycopg.connect(info.url(), autocommit=True) as conn:
        row = conn.execute("select pg_postmaster_start_time()").fetchone()
        assert row is not None
    postmaster = int(Path(server.pgdata / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return [postmaster, *map(int, children)]
