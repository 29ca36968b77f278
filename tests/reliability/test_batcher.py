"""The write-behind Batcher under faults: poison rows, a server restarted mid-flush.

The promise: every row `put()` accepted is written, or named in the close report."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg
import pytest

from persistence import DEFAULT, BaseRepository, Batcher, Database, Settings
from persistence.embedded import EmbeddedServer

from .conftest import Result, check_ledger


@dataclass
class Entry:
    op_id: uuid.UUID
    worker: int
    seq: int = DEFAULT
    at: datetime = DEFAULT


class Ledger(BaseRepository[Entry]):
    table = "ledger"
    primary_key = ("seq",)


def test_poison_rows_lose_no_good_row(settings: Settings) -> None:
    result = Result("batcher: 5 poison rows among 2,000")
    with psycopg.connect(settings.conninfo(), autocommit=True) as admin:
        admin.execute("alter table ledger add constraint worker_ok check (worker >= 0)")
    refused: list[Entry] = []
    with Database(settings) as db:
        batcher = Batcher(
            Ledger(db).insert_many, batch_size=200, on_error=lambda row, ex: refused.append(row)
        ).open()
        for n in range(2000):
            row = Entry(uuid.uuid4(), -1 if n % 400 == 7 else 0)
            batcher.put(row, timeout=30)
            result.operations += 1
            if row.worker >= 0:
                result.acknowledged.append(row.op_id)
        report = batcher.close()
    result.faults = 5
    result.note = f"{report.rejected} rejected to on_error, {len(report.unwritten)} unwritten"
    check_ledger(settings, result)
    result.record()
    assert sorted(r.worker for r in refused) == [-1] * 5
    assert report.unwritten == []
    assert result.lost_writes == 0
    assert result.duplicates == 0


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_server_restart_mid_flush_loses_no_row(
    settings: Settings, server: EmbeddedServer, mode: str
) -> None:
    result = Result(f"batcher: {'fast' if mode == 'fast' else 'crash'} restart mid-flush")
    with Database(settings) as db:
        batcher = Batcher(
            Ledger(db).insert_many, batch_size=100, interval=0.01, retry_interval=0.1
        ).open()
        stop = threading.Event()

        def produce() -> None:
            while not stop.is_set():
                row = Entry(uuid.uuid4(), 1)
                batcher.put(row, timeout=60)
                result.acknowledged.append(row.op_id)
                result.operations += 1
                time.sleep(0.0005)

        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(1.0)
        written_before = batcher.written
        server.restart(mode)
        result.faults = 1
        time.sleep(1.5)
        stop.set()
        producer.join(timeout=60)
        report = batcher.close(timeout=30)
    check_ledger(settings, result)
    result.note = (
        f"{written_before} written before the restart; {len(report.unwritten)} unwritten;"
        " duplicates are writes whose commit outcome was unknown (at least once)"
    )
    result.record()
    assert written_before > 0
    assert report.unwritten == []
    assert result.lost_writes == 0
