# Generated from tests/test_batcher_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""Batcher on a real server. tests/test_batcher.py is generated from it."""

from __future__ import annotations

import dataclasses
import time
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
    OutcomeUnknown,
    Settings,
)
from persistence._acompat import sleep

from .faults import cutting_proxy, frozen


@dataclass
class Event:
    seq: int
    status: int
    id: int = DEFAULT


class Events(BaseRepository[Event]):
    table = "batched_events"


@dataclass
class Keyed:
    id: int
    status: int


class KeyedEvents(BaseRepository[Keyed]):
    table = "keyed_events"


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


# -- a lost commit reply, and close's deadline ------------------------------------------


def test_a_lost_commit_reply_is_resolved_by_primary_key(
    db: Database, sample_settings: Settings
) -> None:
    db.execute("create table keyed_events (id int primary key, status int not null)")
    refused: list[Keyed] = []
    unknown: list[Keyed] = []
    with cutting_proxy(sample_settings) as proxy:
        settings = dataclasses.replace(proxy.settings(sample_settings), pool_min=1, pool_max=1)
        with Database(settings) as through:
            keyed = KeyedEvents(through)
            keyed.count()
            proxy.cut_next(containing=b"COMMIT")  # the batch commits, its reply is lost
            batcher = Batcher(
                keyed.insert_many,
                batch_size=20,
                retry_interval=0.05,
                on_error=lambda row, ex: refused.append(row),
                on_unknown=lambda row, ex: unknown.append(row),
            )
            for n in range(20):
                batcher.put_nowait(Keyed(id=n, status=200))
            report = batcher.close(timeout=10)
    assert proxy.cuts == 1
    assert (refused, unknown) == ([], [])
    assert (report.written, report.rejected, report.unknown, report.unwritten) == (20, 0, 0, [])
    assert report.complete
    assert db.fetch_value("select count(*) from keyed_events") == 20


def test_a_lost_commit_reply_without_keys_makes_duplicates_unknown_not_refused(
    db: Database, sample_settings: Settings
) -> None:
    refused: list[Event] = []
    unknown: list[tuple[Event, Exception]] = []
    with cutting_proxy(sample_settings) as proxy:
        settings = dataclasses.replace(proxy.settings(sample_settings), pool_min=1, pool_max=1)
        with Database(settings) as through:
            events = Events(through)
            events.count()
            proxy.cut_next(containing=b"COMMIT")
            batcher = Batcher(
                events.insert_many,  # the key is generated: the rows do not carry it
                batch_size=8,
                retry_interval=0.05,
                on_error=lambda row, ex: refused.append(row),
                on_unknown=lambda row, ex: unknown.append((row, ex)),
            )
            for n in range(8):
                batcher.put_nowait(Event(seq=n, status=200))
            report = batcher.close(timeout=10)
    assert proxy.cuts == 1
    assert refused == []
    assert sorted(row.seq for row, _ in unknown) == list(range(8))
    assert all(isinstance(ex, OutcomeUnknown) for _, ex in unknown)
    assert (report.written, report.rejected, report.unknown, report.unwritten) == (0, 0, 8, [])
    assert not report.complete
    assert stored(db) == list(range(8))


def test_close_cuts_the_write_in_flight_at_its_timeout_and_says_only_what_is_true(
    db: Database, sample_settings: Settings
) -> None:
    settings = dataclasses.replace(
        sample_settings, pool_min=1, pool_max=1, statement_timeout=1.0, connect_timeout=2.0
    )
    unknown: list[tuple[Event, Exception]] = []
    with Database(settings) as through:
        events = Events(through)
        events.insert_many([Event(seq=1000, status=200)])
        pid = int(through.fetch_value("select pg_backend_pid()"))
        batcher = Batcher(
            events.insert_many,
            batch_size=10,
            interval=60,
            retry_interval=0.05,
            on_unknown=lambda row, ex: unknown.append((row, ex)),
        ).open()
        with frozen(pid):
            for n in range(10):  # a full batch: the writer takes it, and the server is stuck
                batcher.put_nowait(Event(seq=n, status=200))
            sleep(0.2)
            for n in range(10, 20):
                batcher.put_nowait(Event(seq=n, status=200))
            started = time.monotonic()
            report = batcher.close(timeout=0.5)
            took = time.monotonic() - started
            sleep(max(0.0, 1.6 - took))  # past where close used to give up
        sleep(1.0)  # the server answers again: a write still going would land now
    landed = set(stored(db)) - {1000}
    assert not landed & {row.seq for row in report.unwritten}, "rows reported unwritten landed"
    assert took < 1.2, f"close(timeout=0.5) took {took:.1f} s"
    assert sorted(row.seq for row in report.unwritten) == list(range(10, 20))
    assert sorted(row.seq for row, _ in unknown) == list(range(10))
    assert all("close() reached its timeout (0.5 s)" in str(ex) for _, ex in unknown)
    assert (report.written, report.unknown) == (0, 10)


def test_a_writer_still_running_after_close_leaves_the_reported_rows_alone(
    db: Database,
) -> None:
    writer = Writer(db, delay=1.5)  # not a database call: close cannot cut it
    unknown: list[Event] = []
    batcher = Batcher(
        writer, batch_size=5, interval=60, on_unknown=lambda row, ex: unknown.append(row)
    ).open()
    for n in range(10):
        batcher.put_nowait(Event(seq=n, status=200))
    for _ in range(100):  # until the writer has taken the first batch
        if writer.calls:
            break
        sleep(0.01)
    report = batcher.close(timeout=0.2)
    sleep(2.0)  # the write in flight ends (in the sync twin its thread goes on)
    assert writer.calls == 1, "a write started after close returned"
    assert sorted(row.seq for row in report.unwritten) == list(range(5, 10))
    assert not set(stored(db)) & set(range(5, 10)), "rows reported unwritten landed"
    assert sorted(row.seq for row in unknown) == list(range(5))
    assert (report.written, report.unknown) == (0, 5)
