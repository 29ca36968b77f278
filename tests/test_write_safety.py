# Generated from tests/test_write_safety_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""Write safety with faults injected from outside: no silent duplicate, no lost
acknowledged write, no endless wait.
Generated from tests/test_write_safety_async.py: edit that file.

The proxy (tests/faults.py) forwards a statement, lets the server run and commit it,
drops the reply and cuts the connection: the one case a client cannot resolve alone.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from persistence import (
    DEFAULT,
    BaseRepository,
    ConnectionFailed,
    Database,
    OutcomeUnknown,
    PoolExhausted,
    Settings,
)
from persistence._classify import is_read
from persistence.queries import Catalog
from persistence.query_runner import QueryRunner

from ._acompat import blocking
from .faults import CuttingProxy, cutting_proxy, frozen

SCHEMA = """
create table ledger (id bigint generated always as identity primary key,
                     op uuid not null, note text not null default '');
create function note_it(o uuid) returns bigint language sql
  as 'insert into ledger (op) values (o) returning id';
"""

QUERIES = """
-- name: add_returning(op)<!
insert into ledger (op) values (:op) returning id;

-- name: add_one(op)^
insert into ledger (op) values (:op) returning id, op;

-- name: add_rows(op)
insert into ledger (op) values (:op) returning id;

-- name: add_value(op)$
insert into ledger (op) values (:op) returning id;

-- name: add(op)!
insert into ledger (op) values (:op);

-- name: add_once(op)!
-- idempotent
-- Safe to run twice: the second run finds the row.
insert into ledger (op) select :op where not exists (select 1 from ledger where op = :op);

-- name: count_op(op)$
select count(*) from ledger where op = :op;
"""


@dataclass
class Entry:
    op: uuid.UUID
    id: int = DEFAULT
    note: str = DEFAULT


class Ledger(BaseRepository[Entry]):
    table = "ledger"


@pytest.fixture
def ledger_settings(fresh_settings: Settings, admin, tmp_path) -> Settings:
    admin.execute(SCHEMA)
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "ledger.sql").write_text(QUERIES)
    return dataclasses.replace(
        fresh_settings, pool_min=1, pool_max=1, queries_dir=tmp_path / "queries"
    )


def catalog(settings: Settings) -> Catalog:
    assert settings.queries_dir is not None
    return Catalog(settings.queries_dir)


@pytest.fixture
def proxy(ledger_settings: Settings) -> Iterator[CuttingProxy]:
    with cutting_proxy(ledger_settings) as running:
        yield running


def stored(admin: psycopg.Connection[Any], op: uuid.UUID) -> int:
    row = admin.execute("select count(*) from ledger where op = %s", [op]).fetchone()
    assert row is not None
    return int(row[0])


# -- what counts as a read ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "read"),
    [
        ("select * from ledger where op = %s", True),
        ("select count(*), now(), coalesce(max(id), 0) from ledger", True),
        ("values (1), (2)", True),
        ("table ledger", True),
        ("show statement_timeout", True),
        ("explain select 1", True),
        ("with x as (select 1) select * from x", True),
        ("select * from ledger for update", True),
        ("insert into ledger (op) values (%s) returning id", False),
        ("update ledger set note = 'x' returning id", False),
        ("with x as (delete from ledger returning id) select * from x", False),
        ("select * into copy_of_ledger from ledger", False),
        ("select nextval('ledger_id_seq')", False),
        ("select note_it(%s)", False),
        ('select "Lower"(%s)', False),  # quoted: not the built-in lower
        ("select public.lower('x')", False),
        ("select set_config('a.b', 'c', false)", False),
        ("explain analyze delete from ledger", False),
        ("select 1; delete from ledger", False),
        ("not sql at all", False),
    ],
)
def test_reads_are_recognised_from_the_parse_tree(statement: str, read: bool) -> None:
    assert is_read(statement) is read


#: Functions of the user's that write behind names the parse tree alone takes for reads.
SHADOWS = """
create function log(msg text) returns bigint language sql
  as $$insert into ledger (op, note) values (msg::uuid, 'log') returning id$$;
create function md5(o uuid) returns bigint stable language sql as 'select note_it(o)';
create function "Lower"(o uuid) returns uuid language sql
  as $$insert into ledger (op, note) values (o, 'Lower') returning op$$;
create table bumps (op uuid not null);
create function bump(b bumps) returns bigint language sql
  as $$insert into ledger (op, note) values (b.op, 'bump') returning id$$;
create view noted as select op, note_it(op) as id from bumps;
create view noted_again as select * from noted;
"""

#: Each through a name `is_read` takes for a read without the server's list.
SHADOWED = {
    "a function shadowing a built-in": "select log(%s::text)",
    "a stable one calling a writer": "select md5(%s::uuid)",
    "a quoted mixed-case name": 'select "Lower"(%s)',
    "attribute notation": "select b.bump from bumps b where b.op = %s",
    "field selection": "select (b).bump from bumps b where b.op = %s",
    "a view calling a writer": "select id from noted where op = %s",
    "a view on that view": "select id from noted_again where op = %s",
}

WRITERS = frozenset({"log", "md5", "Lower", "bump", "noted", "noted_again", "<=>", "positive"})


@pytest.mark.parametrize(
    ("statement", "read"),
    [
        *((statement, False) for statement in SHADOWED.values()),
        ("select k.c from k", True),
        ("select lower(%s), pg_catalog.log(2.0), pg_catalog.md5('x')", True),
        ("select 1 <=> 2", False),
        ("select 1 operator(pg_catalog.<=>) 2", True),
        ("select %s::positive", False),
        ("select * from ledger where op = %s", True),
    ],
)
def test_the_names_that_may_write_on_the_server_are_writes(statement: str, read: bool) -> None:
    """Only the server knows which functions exist: `is_read` takes the names it says
    may write (`WRITERS`), and a quoted name keeps its case."""
    assert is_read(statement, WRITERS) is read


def test_the_database_reads_the_names_that_may_write_when_it_opens(
    ledger_settings: Settings, admin
) -> None:
    admin.execute(SHADOWS)
    admin.execute("create extension if not exists pg_trgm")  # stable functions: reads
    with Database(ledger_settings) as db:
        assert {"note_it", "log", "md5", "Lower", "bump", "noted", "noted_again"} <= db._writers
        assert not {"lower", "similarity", "ledger", "bumps", "now"} & db._writers


@pytest.mark.parametrize("what", SHADOWED)
def test_a_write_behind_a_read_only_name_is_never_run_twice(
    what: str, ledger_settings: Settings, proxy: CuttingProxy, admin
) -> None:
    """The tester's finding: a user function named like a built-in (log), or called as
    "Lower"(...) or t.f, was taken for a read and run again after a lost reply."""
    admin.execute(SHADOWS)
    op = uuid.uuid4()
    admin.execute("insert into bumps (op) values (%s)", [op])
    with Database(proxy.settings(ledger_settings)) as db:
        proxy.cut_next()
        with pytest.raises(OutcomeUnknown, match="may or may not have committed"):
            db.fetch_value(SHADOWED[what], [op])
    assert proxy.cuts == 1
    assert stored(admin, op) == 1


# -- commit ambiguity: the reply is lost after the server committed ----------------------


def test_no_api_turns_a_lost_reply_into_a_duplicate(
    ledger_settings: Settings, proxy: CuttingProxy, admin
) -> None:
    """Every read/write API, with the reply of an `insert` lost after the commit:
    the row exists once, and the caller was told the outcome is unknown."""
    with Database(proxy.settings(ledger_settings)) as db:
        queries = QueryRunner(db, catalog(ledger_settings))
        ledger = Ledger(db)
        ledger.count()  # learns the table's columns before the cut
        writes: dict[str, Callable[[uuid.UUID], Any]] = {
            "fetch_all": lambda op: db.fetch_all(
                "insert into ledger (op) values (%s) returning id", [op]
            ),
            "fetch_one": lambda op: db.fetch_one(
                "insert into ledger (op) values (%s) returning id", [op]
            ),
            "fetch_value": lambda op: db.fetch_value(
                "insert into ledger (op) values (%s) returning id", [op]
            ),
            "fetch_value(function)": lambda op: db.fetch_value("select note_it(%s)", [op]),
            "execute": lambda op: db.execute("insert into ledger (op) values (%s)", [op]),
            "queries <!": lambda op: queries.ledger.add_returning(op=op),
            "queries ^": lambda op: queries.ledger.add_one(op=op),
            "queries (rows)": lambda op: queries.ledger.add_rows(op=op),
            "queries $": lambda op: queries.ledger.add_value(op=op),
            "queries !": lambda op: queries.ledger.add(op=op),
            "repository.insert": lambda op: ledger.insert(Entry(op=op)),
        }
        for api, write in writes.items():
            op = uuid.uuid4()
            proxy.cut_next()
            with pytest.raises(OutcomeUnknown, match="may or may not have committed"):
                write(op)
            assert stored(admin, op) == 1, api
        assert proxy.cuts == len(writes)


def test_reads_and_declared_idempotent_writes_are_retried(
    ledger_settings: Settings, proxy: CuttingProxy, admin
) -> None:
    with Database(proxy.settings(ledger_settings)) as db:
        queries = QueryRunner(db, catalog(ledger_settings))
        op = uuid.uuid4()
        proxy.cut_next()
        # The first run committed, its reply was lost; the rerun finds the row.
        assert queries.ledger.add_once(op=op) == 0
        proxy.cut_next()
        sql = (
            "insert into ledger (op) select %s"
            " where not exists (select 1 from ledger where op = %s)"
        )
        assert db.execute(sql, [op, op], idempotent=True) == 0
        proxy.cut_next()
        assert db.fetch_value("select count(*) from ledger where op = %s", [op]) == 1
        proxy.cut_next()
        assert queries.ledger.count_op(op=op) == 1
        proxy.cut_next()
        assert len(Ledger(db).find(op=op)) == 1
        assert proxy.cuts == 5
    assert stored(admin, op) == 1


def test_a_lost_commit_reply_is_outcome_unknown(
    ledger_settings: Settings, proxy: CuttingProxy, admin
) -> None:
    op = uuid.uuid4()
    db = Database(proxy.settings(ledger_settings)).open()
    try:
        with pytest.raises(OutcomeUnknown, match="'commit'"), db.transaction():
            db.execute("insert into ledger (op) values (%s)", [op])
            proxy.cut_next()  # the next statement is the COMMIT
    finally:
        db.close()
    assert stored(admin, op) == 1


def test_a_transaction_whose_session_ended_before_commit_is_connection_failed(
    ledger_settings: Settings, admin
) -> None:
    """The server ended the session while the block sat idle in its transaction: the
    COMMIT fails, and it is known that nothing committed."""
    op = uuid.uuid4()
    with Database(ledger_settings) as db:
        with pytest.raises(ConnectionFailed) as raised, db.transaction():
            db.execute("insert into ledger (op) values (%s)", [op])
            pid = db.fetch_value("select pg_backend_pid()")
            admin.execute("select pg_terminate_backend(%s, 5000)", [pid])  # waits
        assert not isinstance(raised.value, OutcomeUnknown)
        assert "nothing committed" in str(raised.value)
    assert stored(admin, op) == 0


def test_a_write_on_a_connection_the_server_closed_is_sent_on_a_live_one(
    ledger_settings: Settings, admin
) -> None:
    """A statement that provably never reached the server may run elsewhere: the pool
    held a connection whose backend was terminated while idle."""
    with Database(ledger_settings) as db:
        pid = db.fetch_value("select pg_backend_pid()")
        admin.execute("select pg_terminate_backend(%s, 5000)", [pid])  # waits for the exit
        op = uuid.uuid4()
        assert db.execute("insert into ledger (op) values (%s)", [op]) == 1
    assert stored(admin, op) == 1


@pytest.mark.parametrize("opening", ["transaction", "retrying", "stream", "connection"])
def test_a_transaction_on_a_connection_the_server_closed_gets_a_live_one(
    ledger_settings: Settings, admin, opening: str
) -> None:
    """A restart kills the idle pooled connections: a transaction (or a stream, or a
    raw borrow) takes a live one, as a single statement does, since BEGIN was not sent."""
    with Database(ledger_settings) as db:
        assert [e.op for e in Ledger(db).stream()] == []  # the table is known
        pid = db.fetch_value("select pg_backend_pid()")
        admin.execute("select pg_terminate_backend(%s, 5000)", [pid])  # waits for the exit
        op = uuid.uuid4()
        if opening == "transaction":
            with db.transaction():
                db.execute("insert into ledger (op) values (%s)", [op])
        elif opening == "retrying":
            for attempt in db.retrying(retries=0):
                with attempt:
                    db.execute("insert into ledger (op) values (%s)", [op])
        elif opening == "stream":
            admin.execute("insert into ledger (op) values (%s)", [op])
            assert [e.op for e in Ledger(db).stream()] == [op]
        else:
            with db.connection() as conn:
                conn.execute("insert into ledger (op) values (%s)", [op])
        assert int(db.fetch_value("select pg_backend_pid()")) != pid
    assert stored(admin, op) == 1


def kill_idle(admin: psycopg.Connection[Any], others: str, count: int) -> None:
    """Wait for `count` other backends, then end them all and wait for their exit."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = admin.execute(others.replace("pg_terminate_backend(pid)", "count(*)")).fetchone()
        if alive is not None and alive[0] >= count:
            break
        time.sleep(0.01)
    admin.execute(others.replace("(pid)", "(pid, 5000)"))


@pytest.mark.parametrize("idle_killed_first", [False, True])
def test_a_read_outlasts_a_mass_termination_of_the_pool(
    fresh_settings: Settings, admin, idle_killed_first: bool
) -> None:
    """A restart or `pg_terminate_backend` over every backend ends them one after the
    other: a read retried at once lands on a connection about to die (and a new one
    made meanwhile is killed too). The retries wait for the wave to pass. The dead
    connections a call finds before it sends count for that checkout only: a pool
    emptied twice by two waves is no reason to give up."""
    settings = dataclasses.replace(fresh_settings, pool_min=3, pool_max=3)
    others = (
        "select pg_terminate_backend(pid) from pg_stat_activity"
        " where datname = current_database() and pid <> pg_backend_pid()"
    )

    def kill() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the read is running: kill it first
            row = admin.execute(
                "select pid from pg_stat_activity where datname = current_database()"
                " and query = 'select 1 from pg_sleep(0.3)' and state = 'active'"
            ).fetchone()
            if row is not None:
                break
            time.sleep(0.005)
        admin.execute("select pg_terminate_backend(%s)", [row[0] if row else 0])
        time.sleep(0.03)
        admin.execute(others)
        time.sleep(0.03)
        admin.execute(others)

    with Database(settings) as db:
        db.fetch_value("select 1")
        if idle_killed_first:  # the pool fills, then every connection dies while idle
            blocking(lambda: kill_idle(admin, others, count=3))
        killer = threading.Thread(target=kill)
        killer.start()
        try:
            assert db.fetch_value("select 1 from pg_sleep(0.3)") == 1
        finally:
            killer.join()


def test_a_write_whose_server_is_gone_is_connection_failed(
    ledger_settings: Settings, proxy: CuttingProxy
) -> None:
    """The pooled connection was closed and no new one can be made: the write was
    never sent, so plain ConnectionFailed, not OutcomeUnknown."""
    settings = dataclasses.replace(proxy.settings(ledger_settings), pool_timeout=1.0)
    with Database(settings) as db:
        db.fetch_value("select 1")
        proxy.close()
        with pytest.raises(ConnectionFailed) as raised:
            db.execute("insert into ledger (op) values (%s)", [uuid.uuid4()])
        assert not isinstance(raised.value, OutcomeUnknown)
        assert "cannot be reached" in str(raised.value)


def test_calls_after_the_server_went_away_say_so_not_pool_exhausted(
    ledger_settings: Settings, proxy: CuttingProxy
) -> None:
    """Once the server is gone the pool empties: every later call times out waiting for
    a connection, and must say the server cannot be reached, not that the pool is full."""
    settings = dataclasses.replace(proxy.settings(ledger_settings), pool_timeout=1.0)
    with Database(settings) as db:
        db.fetch_value("select 1")
        proxy.close()
        for _ in range(3):
            with pytest.raises(ConnectionFailed) as raised:
                db.fetch_value("select 1")
            assert not isinstance(raised.value, PoolExhausted)
        assert "cannot be reached" in str(raised.value) or "is the server up" in str(raised.value)


# -- no call waits forever ---------------------------------------------------------------


def test_a_frozen_server_ends_every_call_within_its_deadline(
    fresh_settings: Settings,
) -> None:
    settings = dataclasses.replace(
        fresh_settings, pool_min=1, pool_max=1, statement_timeout=1.0, connect_timeout=2.0
    )
    with Database(settings) as db:
        pid = int(db.fetch_value("select pg_backend_pid()"))
        with frozen(pid):
            started = time.monotonic()
            with pytest.raises(ConnectionFailed, match="no answer from the server within 3 s"):
                db.fetch_value("select 1")
            waited = time.monotonic() - started
        # The deadline is 3 s; a stopped backend would otherwise block for as long as
        # it stays stopped. The bound is loose on purpose: it proves an end, not a speed.
        assert waited < 10
        # The pool replaced the cut connection: the next call works.
        assert db.fetch_value("select 1") == 1
        assert int(db.fetch_value("select pg_backend_pid()")) != pid


@pytest.mark.parametrize(
    "opening",
    ["transaction", "transaction(tenant)", "savepoint", "stream", "retrying", "connection"],
)
def test_a_frozen_server_ends_a_transaction_or_stream_within_its_deadline(
    fresh_settings: Settings, admin, opening: str
) -> None:
    """BEGIN, the tenant set-up, a SAVEPOINT, a stream's DECLARE, a statement sent on a
    raw borrow: every round trip is under the deadline, not only the toolkit's calls."""
    admin.execute(SCHEMA)
    settings = dataclasses.replace(
        fresh_settings, pool_min=1, pool_max=1, statement_timeout=1.0, connect_timeout=2.0
    )
    with Database(settings) as db:
        pid = int(db.fetch_value("select pg_backend_pid()"))
        outer = db.transaction() if opening == "savepoint" else None
        if outer is not None:
            outer.__enter__()
        try:
            with frozen(pid):
                started = time.monotonic()
                with pytest.raises(ConnectionFailed, match="no answer from the server within 3 s"):
                    if opening == "stream":
                        for _ in Ledger(db).stream():
                            pass
                    elif opening == "retrying":
                        for attempt in db.retrying():
                            with attempt:
                                pass
                    elif opening == "connection":
                        with db.connection() as conn:
                            conn.execute("select 1")
                    else:
                        tenant = 1 if opening == "transaction(tenant)" else None
                        with db.transaction(tenant=tenant):
                            pass
                waited = time.monotonic() - started
        finally:
            if outer is not None:
                with pytest.raises(ConnectionFailed):
                    outer.__exit__(None, None, None)
        assert waited < 10
        assert db.fetch_value("select 1") == 1


def test_a_statement_cut_by_the_deadline_in_a_transaction_says_which_deadline(
    fresh_settings: Settings,
) -> None:
    """SET LOCAL statement_timeout does not move the client-side deadline: the error
    says so, and how to raise it, not just that the connection was lost."""
    settings = dataclasses.replace(fresh_settings, statement_timeout=1.0, connect_timeout=1.0)
    with Database(settings) as db:

        def report() -> None:
            with db.transaction():
                db.execute("set local statement_timeout = '20s'")
                db.fetch_value("select pg_sleep(5) is null")

        with pytest.raises(ConnectionFailed, match="within 3 s") as raised:
            report()
        assert "DB_STATEMENT_TIMEOUT=1 plus a grace" in str(raised.value)
        assert db.fetch_value("select 1") == 1


def test_a_frozen_server_makes_a_write_outcome_unknown(fresh_settings: Settings, admin) -> None:
    admin.execute(SCHEMA)
    settings = dataclasses.replace(
        fresh_settings, pool_min=1, pool_max=1, statement_timeout=1.0, connect_timeout=2.0
    )
    with Database(settings) as db:
        pid = int(db.fetch_value("select pg_backend_pid()"))
        with frozen(pid), pytest.raises(OutcomeUnknown, match="within 3 s"):
            db.execute("insert into ledger (op) values (%s)", [uuid.uuid4()])
        assert db.fetch_value("select 1") == 1
