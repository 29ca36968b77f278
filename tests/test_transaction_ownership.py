"""A transaction's connection belongs to the task (thread) that opened the block, and
only while the block is open: asyncio copies the context into every task spawned
inside it, and `contextvars.copy_context()` carries it into threads."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading
import uuid
from typing import Any

import psycopg
import pytest

from persistence import AsyncDatabase, Database, PersistenceError, Settings

SCHEMA = "create table ledger (op uuid primary key, note text not null default '')"


def stored(admin: psycopg.Connection[Any], op: uuid.UUID) -> int:
    row = admin.execute("select count(*) from ledger where op = %s", [op]).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_task_spawned_in_a_transaction_runs_outside_it(
    fresh_settings: Settings, admin
) -> None:
    """The child's acknowledged write is its own: the parent's rollback keeps it."""
    admin.execute(SCHEMA)
    child_op, parent_op = uuid.uuid4(), uuid.uuid4()
    async with AsyncDatabase(dataclasses.replace(fresh_settings, pool_max=2)) as db:
        task = None
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.execute("insert into ledger (op) values (%s)", [parent_op])
                task = asyncio.create_task(
                    db.execute("insert into ledger (op) values (%s)", [child_op])
                )
                await asyncio.sleep(0.2)  # the child runs while the block is open
                raise RuntimeError("roll the parent back")
        assert task is not None
        assert await task == 1
    assert stored(admin, child_op) == 1
    assert stored(admin, parent_op) == 0


async def test_a_task_that_outlives_the_block_never_uses_its_connection(
    fresh_settings: Settings, admin
) -> None:
    """With one pooled connection, a later block reuses the first block's connection;
    a task spawned in the first block must not write into the second."""
    admin.execute(SCHEMA)
    late_op, other_op = uuid.uuid4(), uuid.uuid4()
    settings = dataclasses.replace(fresh_settings, pool_min=1, pool_max=1)
    async with AsyncDatabase(settings) as db:
        go = asyncio.Event()

        async def late() -> int:
            await go.wait()
            return await db.execute("insert into ledger (op) values (%s)", [late_op])

        async with db.transaction():
            task = asyncio.create_task(late())
        with pytest.raises(RuntimeError):
            async with db.transaction():
                go.set()
                await asyncio.sleep(0.2)  # the late task runs now, if it can
                await db.execute("insert into ledger (op) values (%s)", [other_op])
                raise RuntimeError("roll this block back")
        assert await task == 1
    assert stored(admin, late_op) == 1  # not rolled back with the block it never joined
    assert stored(admin, other_op) == 0


async def test_gather_inside_a_transaction_commits_each_write_on_its_own(
    fresh_settings: Settings, admin
) -> None:
    admin.execute(SCHEMA)
    ops = [uuid.uuid4() for _ in range(3)]
    async with AsyncDatabase(fresh_settings) as db, db.transaction() as conn:
        pids = await asyncio.gather(*(db.fetch_value("select pg_backend_pid()") for _ in ops))
        assert conn.info.backend_pid not in pids
        await asyncio.gather(
            *(db.execute("insert into ledger (op) values (%s)", [op]) for op in ops)
        )
    assert sum(stored(admin, op) for op in ops) == 3


def test_a_thread_given_the_context_does_not_use_the_transaction(
    fresh_settings: Settings, admin
) -> None:
    admin.execute(SCHEMA)
    op = uuid.uuid4()
    with Database(fresh_settings) as db:
        seen: list[Any] = []
        with pytest.raises(RuntimeError), db.transaction() as conn:
            ctx = contextvars.copy_context()  # what asyncio.to_thread does
            thread = threading.Thread(
                target=ctx.run,
                args=(lambda: seen.append(db.execute("insert into ledger values (%s)", [op])),),
            )
            thread.start()
            thread.join()
            assert conn.info.backend_pid
            raise RuntimeError("roll back")
        assert seen == [1]
    assert stored(admin, op) == 1


async def test_close_waits_for_a_transaction_in_flight(fresh_settings: Settings, admin) -> None:
    """close() refuses new work but lets an open block run its next statements."""
    admin.execute(SCHEMA)
    op = uuid.uuid4()
    db = await AsyncDatabase(fresh_settings).open()
    inside = asyncio.Event()

    async def work() -> None:
        async with db.transaction():
            await db.execute("insert into ledger (op) values (%s)", [op])
            inside.set()
            await asyncio.sleep(0.3)  # close() begins now
            await db.execute("update ledger set note = 'done' where op = %s", [op])

    task = asyncio.create_task(work())
    await inside.wait()
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0.05)
    with pytest.raises(PersistenceError, match="closed"):
        await db.fetch_value("select 1")  # new work is refused at once
    await closing
    await task
    row = admin.execute("select note from ledger where op = %s", [op]).fetchone()
    assert row == ("done",)


async def test_force_rollback_lets_concurrent_tasks_take_turns(
    fresh_settings: Settings, admin
) -> None:
    """Under force_rollback every task shares one connection: statements from many
    tasks at once each get their own savepoint, none tangles another's, and all of it
    is undone at the end."""
    admin.execute(SCHEMA)
    ops = [uuid.uuid4() for _ in range(20)]
    async with AsyncDatabase(fresh_settings) as db, db.force_rollback():
        results = await asyncio.gather(
            *(db.execute("insert into ledger (op) values (%s)", [op]) for op in ops),
            db.execute("insert into ledger (op) values (%s)", [ops[0]]),  # a duplicate
            return_exceptions=True,
        )
        assert results[:-1] == [1] * len(ops)
        assert isinstance(results[-1], PersistenceError)  # its savepoint alone failed
        assert await db.fetch_value("select count(*) from ledger") == len(ops)
    assert sum(stored(admin, op) for op in ops) == 0
