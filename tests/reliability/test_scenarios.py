"""Reliability scenarios; see conftest.py. Run with `make reliability`."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from persistence import (
    ConnectionFailed,
    Database,
    MigrationError,
    Migrator,
    PersistenceError,
    PoolExhausted,
    QueryTimeout,
    Settings,
)
from persistence.embedded import EmbeddedServer

from .conftest import Result, check_ledger

INSERT = (
    "insert into ledger (op_id, worker) select %s, %s"
    " where not exists (select 1 from ledger where op_id = %s)"
)


class Load:
    """8 threads writing idempotent inserts (client-generated ids) and reading, until
    stopped; what was acknowledged, what failed and when."""

    def __init__(self, db: Database, result: Result, workers: int = 8):
        self.db = db
        self.result = result
        self.workers = workers
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok_at: list[float] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._work, args=(w,)) for w in range(workers)]

    def _work(self, worker: int) -> None:
        while not self.stop.is_set():
            op = uuid.uuid4()
            try:
                self.db.execute(INSERT, (op, worker, op), idempotent=True)
                self.db.fetch_value("select count(*) from ledger where worker = %s", [worker])
            except PersistenceError as ex:
                with self.lock:
                    self.errors.append(f"{type(ex).__name__}: {ex}")
                    self.result.operations += 1
                continue
            with self.lock:
                self.result.acknowledged.append(op)
                self.result.operations += 1
                self.ok_at.append(time.monotonic())

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        self.result.app_errors = len(self.errors)

    def first_success_after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.ok_at if t >= moment]
        return min(later) - moment if later else None


def app_backends(settings: Settings) -> int:
    with psycopg.connect(settings.conninfo(), autocommit=True) as admin:
        row = admin.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity"
            " where application_name = %s and pid <> pg_backend_pid()",
            [settings.application_name],
        ).fetchone()
    return int(row[0]) if row else 0


def test_every_pooled_backend_terminated(settings: Settings) -> None:
    result = Result("all pooled backends terminated, 8 workers")
    with Database(settings) as db, Load(db, result) as load:
        for _ in range(8):
            time.sleep(0.4)
            result.faults += 1
            app_backends(settings)
        time.sleep(0.4)
    check_ledger(settings, result)
    result.note = "reads and idempotent writes rerun on a fresh connection"
    result.record()
    assert result.app_errors == 0, load.errors[:5]
    assert (result.lost_writes, result.duplicates) == (0, 0)
    assert result.operations > 100


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_server_restart_under_load(settings: Settings, server: EmbeddedServer, mode: str) -> None:
    result = Result(f"{'fast' if mode == 'fast' else 'crash (immediate)'} restart, 8 workers, 10 s")
    with Database(settings) as db, Load(db, result) as load:
        time.sleep(3)
        server.restart(mode)
        back = time.monotonic()
        result.faults = 1
        time.sleep(7)
    recovery = load.first_success_after(back)
    result.recovery_s = recovery
    check_ledger(settings, result)
    result.note = f"{result.app_errors} failed while down; none acknowledged and lost"
    result.record()
    assert (result.lost_writes, result.duplicates) == (0, 0), load.errors[:3]
    assert recovery is not None
    assert recovery < 2.0


def test_pool_exhaustion(settings: Settings) -> None:
    result = Result("pool exhausted (2 connections, 6 holders)")
    tight = dataclasses.replace(settings, pool_min=2, pool_max=2, pool_timeout=0.3)
    errors: list[BaseException] = []
    with Database(tight) as db:

        def hold() -> None:
            try:
                with db.connection() as conn:
                    conn.execute("select pg_sleep(0.6)")
            except PoolExhausted as ex:
                errors.append(ex)

        threads = [threading.Thread(target=hold) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result.operations, result.faults, result.app_errors = 6, 1, len(errors)
        assert db.fetch_value("select 1") == 1, "the pool recovers once connections return"
    result.note = "PoolExhausted after pool_timeout (0.3 s), as configured"
    result.record()
    assert errors
    assert all(isinstance(e, PoolExhausted) for e in errors)


def test_statement_lock_and_idle_timeouts(settings: Settings) -> None:
    result = Result("statement, lock, idle-in-transaction timeouts")
    quick = dataclasses.replace(settings, statement_timeout=0.2, idle_in_transaction_timeout=0.3)
    with Database(quick) as db, psycopg.connect(settings.conninfo()) as blocker:
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match="statement timeout"):
            db.fetch_value("select pg_sleep(5)")
        statement_s = time.monotonic() - started

        blocker.execute("lock table ledger in access exclusive mode")  # held until rollback
        with pytest.raises(QueryTimeout, match="lock timeout"), db.transaction() as conn:
            conn.execute("set local lock_timeout = '50ms'")
            db.execute("insert into ledger (op_id, worker) values (%s, 0)", [uuid.uuid4()])
        blocker.rollback()

        with pytest.raises(ConnectionFailed), db.transaction():
            db.execute("insert into ledger (op_id, worker) values (%s, 0)", [uuid.uuid4()])
            time.sleep(0.8)  # idle inside the transaction: the server ends the session
            db.execute("insert into ledger (op_id, worker) values (%s, 0)", [uuid.uuid4()])
        assert db.fetch_value("select count(*) from ledger") == 0, "nothing half-committed"
        result.faults = result.app_errors = 3
        result.operations = 4
    result.note = f"statement timeout raised after {statement_s:.2f} s; all three clean errors"
    result.record()
    assert statement_s < 2.0


@contextmanager
def black_hole() -> Iterator[int]:
    """A local socket that accepts connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_black_hole_server_connect_timeout(settings: Settings) -> None:
    result = Result("black-hole server (accepts, never answers)")
    with black_hole() as port:
        hole = dataclasses.replace(
            settings,
            database_url=f"postgresql://app:Bl4ck-h0le@127.0.0.1:{port}/x",
            connect_timeout=2.0,
        )
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as failure:
            Database(hole).open()
        waited = time.monotonic() - started
    result.faults = result.operations = result.app_errors = 1
    result.note = f"ConnectionFailed after {waited:.1f} s (connect_timeout 2 s)"
    result.record()
    assert waited < 6.0
    assert "Bl4ck-h0le" not in str(failure.value)


def test_injected_serialization_failures_and_deadlocks(settings: Settings) -> None:
    result = Result("injected 40001 / 40P01, retrying(retries=5)")
    with psycopg.connect(settings.conninfo(), autocommit=True) as admin:
        admin.execute("create sequence flaky_calls")
        admin.execute(
            "create function flaky() returns void language plpgsql as $$ begin"
            " case nextval('flaky_calls')"
            " when 1 then raise exception 'injected' using errcode = '40001';"
            " when 2 then raise exception 'injected' using errcode = '40P01';"
            " when 3 then raise exception 'injected' using errcode = '40001';"
            " else null; end case; end $$"
        )
    op = uuid.uuid4()
    with Database(settings) as db:
        attempts = db.retrying(retries=5, backoff=0.01)
        for attempt in attempts:
            with attempt:
                db.execute("insert into ledger (op_id, worker) values (%s, 0)", [op])
                db.execute("select flaky()")
        result.acknowledged.append(op)
        result.faults = len(attempts.errors)
        result.operations = attempts.attempt
    check_ledger(settings, result)
    result.note = f"committed on attempt {attempts.attempt}, once"
    result.record()
    assert (attempts.attempt, result.faults) == (4, 3)
    assert (result.lost_writes, result.duplicates) == (0, 0)


def migration_project(settings: Settings, slow: bool = False, bad: bool = False) -> Path:
    folder = settings.migrations_dir
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    # The process named "doomed" sleeps long enough to be killed mid-migration.
    sleep = (
        "select pg_sleep(case when current_setting('application_name') = 'doomed'"
        " then 60 else 0.3 end);\n"
    )
    lines = ["create table accounts (id int primary key);\n", sleep if slow else ""]
    lines.append("insert into accounts values (1);\n")
    (folder / "0001_accounts.sql").write_text("".join(lines))
    (folder / "0001_accounts.rollback.sql").write_text("drop table accounts;\n")
    if bad:
        (folder / "0002_bad.sql").write_text(
            "-- depends: 0001_accounts\ncreate table half (id int);\nselect nme from half;\n"
        )
        (folder / "0002_bad.rollback.sql").write_text("drop table half;\n")
    return settings.project


def cli(settings: Settings, *args: str, app: str = "persistence") -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url or "", "DB_APPLICATION_NAME": app}
    cmd = [sys.executable, "-m", "persistence", "--project", str(settings.project), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def accounts(settings: Settings) -> tuple[int | None, int]:
    with psycopg.connect(settings.conninfo()) as conn:
        rows = conn.execute("select to_regclass('accounts') is not null").fetchone()
        exists = bool(rows and rows[0])
        count = conn.execute("select count(*) from accounts").fetchone()[0] if exists else None  # type: ignore[index]
        applied = conn.execute("select count(*) from _yoyo_migration").fetchone()[0]  # type: ignore[index]
    return count, int(applied)


def test_four_concurrent_migrate(settings: Settings) -> None:
    result = Result("4 concurrent `migrate` processes")
    migration_project(settings, slow=True)
    runs = [cli(settings, "migrate") for _ in range(4)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    codes = [run.returncode for run in runs]
    result.faults, result.operations = 3, 4
    result.app_errors = sum(1 for c in codes if c != 0)
    count, applied = accounts(settings)
    result.duplicates = (count or 0) - 1
    appliers = sum("applied   0001" in o for o in outputs)
    result.note = f"applied by {appliers} process, the others waited"
    result.record()
    assert codes == [0, 0, 0, 0]
    assert (count, applied) == (1, 1)


def test_sigkill_during_a_migration(settings: Settings) -> None:
    result = Result("SIGKILL during a migration, then migrate")
    migration_project(settings, slow=True)
    doomed = cli(settings, "migrate", app="doomed")
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for _ in range(400):
            row = conn.execute(
                "select count(*) from pg_stat_activity where application_name = 'doomed'"
                " and query like '%%pg_sleep%%'"
            ).fetchone()
            if row and row[0]:
                break
            time.sleep(0.05)
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate()
    half = accounts(settings)
    started = time.monotonic()
    Migrator(settings, out=lambda _: None, lock_wait=30).migrate()
    result.recovery_s = time.monotonic() - started
    result.faults, result.operations = 1, 2
    count, applied = accounts(settings)
    result.note = "no break-lock: the lock went with the killed session"
    result.record()
    assert half == (None, 0), "the killed migration left something behind"
    assert (count, applied) == (1, 1)


def test_failing_migration_leaves_nothing(settings: Settings) -> None:
    result = Result("a failing migration")
    migration_project(settings, bad=True)
    run = cli(settings, "migrate")
    _, err = run.communicate(timeout=60)
    code = run.returncode
    with psycopg.connect(settings.conninfo()) as conn:
        half = conn.execute("select to_regclass('half') is not null").fetchone()
    result.faults = result.operations = result.app_errors = 1
    result.note = "exit 1, " + err.strip().split("/")[-1][:60]
    result.record()
    assert code == 1
    assert '0002_bad.sql:3: column "nme" does not exist' in err
    assert half == (False,)
    assert accounts(settings) == (1, 1), "the migration before it stays applied"
    with pytest.raises(MigrationError):
        Migrator(settings, out=lambda _: None).migrate()
