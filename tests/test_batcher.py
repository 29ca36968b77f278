# Generated from tests/test_batcher_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""Batcher on a real server. tests/test_batcher.py is generated from it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from persistence import (
    DEFAULT,
    BaseRepository,
    Batcher,
    BatcherFull,
    CheckViolation,
    ConnectionFailed,
    Database,
    Settings,
)
from persistence._acompat import sleep


@dataclass
class Event:
    seq: int
    status: int
    id: int = DEFAULT


class Events(BaseRepository[Event]):
    table = "batched_events"


@pytest.fixture
def db(sample_settings: Settings):
    with Database(sample_settings) as database:
        database.execute(
            "create table batched_events (id bigint generated always as identity primary key,"
            " seq int not null unique, status int not null check (status between 100 and 599))"
        )
        yield database


class Writer:
    """Events.insert_many, with a switch that makes the server look unavailable and a
    delay that keeps a write in flight."""

    def __init__(self, db: Database, delay: float = 0.0):
        self.events = Events(db)
        self.down = False
        self.delay = delay
        self.calls = 0

    def __call__(self, rows: list[Event]) -> None:
        self.calls += 1
        if self.delay:
            sleep(self.delay)
        if self.down:
            raise ConnectionFailed("server unavailable (simulated)")
        self.events.insert_many(rows)


def stored(db: Database) -> list[int]:
    return [r[0] for r in db.fetch_all("select seq from batched_events order by seq")]


def test_a_poison_row_is_isolated_and_the_good_rows_are_written(db: Database) -> None:
    refused: list[tuple[Event, Exception]] = []
    batcher = Batcher(Writer(db), batch_size=50, on_error=lambda row, ex: refused.append((row, ex)))
    for n in range(50):
        batcher.put_nowait(Event(seq=n, status=999 if n == 17 else 200))
    report = batcher.close()
    assert stored(db) == [n for n in range(50) if n != 17]
    assert [(row.seq, type(ex)) for row, ex in refused] == [(17, CheckViolation)]
    assert (report.written, report.rejected, report.unwritten) == (49, 1, [])
    assert not report.complete


def test_close_during_a_flush_writes_the_batch_in_flight(db: Database) -> None:
    writer = Writer(db, delay=0.3)
    with Batcher(writer, batch_size=10, interval=60) as batcher:
        for n in range(10):
            batcher.put_nowait(Event(seq=n, status=200))
        for _ in range(100):  # until the writer has taken the batch
            if writer.calls:
                break
            sleep(0.01)
        assert writer.calls == 1
        assert batcher.pending == 10
    assert batcher.report is not None
    assert batcher.report.complete
    assert stored(db) == list(range(10))


def test_flushes_by_time_without_reaching_the_batch_size(db: Database) -> None:
    with Batcher(Writer(db), batch_size=100, interval=0.05) as batcher:
        for n in range(3):
            batcher.put_nowait(Event(seq=n, status=200))
        for _ in range(100):
            if batcher.written == 3:
                break
            sleep(0.02)
        assert stored(db) == [0, 1, 2]


def test_rows_wait_while_the_server_is_away_then_are_written(db: Database) -> None:
    writer = Writer(db)
    writer.down = True
    with Batcher(writer, batch_size=5, interval=0.02, retry_interval=0.02) as batcher:
        for n in range(12):
            batcher.put_nowait(Event(seq=n, status=200))
        sleep(0.2)
        assert writer.calls > 1
        assert batcher.written == 0
        assert batcher.pending == 12
        writer.down = False
    assert batcher.report is not None
    assert batcher.report.complete
    assert stored(db) == list(range(12))


def test_close_reports_what_it_could_not_write(db: Database) -> None:
    writer = Writer(db)
    writer.down = True
    batcher = Batcher(writer, batch_size=5, retry_interval=0.02).open()
    for n in range(7):
        batcher.put_nowait(Event(seq=n, status=200))
    report = batcher.close(timeout=0.2)
    assert sorted(row.seq for row in report.unwritten) == list(range(7))
    assert report.written == 0
    assert not report.complete
    assert not batcher.put_nowait(Event(seq=99, status=200)), "a closed batcher took a row"


def test_memory_is_bounded_drop_counts_and_put_waits(db: Database) -> None:
    writer = Writer(db)
    writer.down = True
    batcher = Batcher(writer, batch_size=2, max_rows=4, interval=0.01, retry_interval=0.01).open()
    taken = [batcher.put_nowait(Event(seq=n, status=200)) for n in range(6)]
    assert taken == [True] * 4 + [False] * 2
    assert batcher.dropped == 2
    assert batcher.pending == 4
    with pytest.raises(BatcherFull, match=r"still full \(4 rows\) after 0.1 s"):
        batcher.put(Event(seq=10, status=200), timeout=0.1)
    writer.down = False  # room comes back once the server does
    batcher.put(Event(seq=11, status=200), timeout=5)
    report = batcher.close()
    assert (report.written, report.dropped, report.unwritten) == (5, 2, [])
    assert stored(db) == [0, 1, 2, 3, 11]
