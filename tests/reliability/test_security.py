"""Tenant isolation and least privilege as rows of `make reliability`: attempts made
to cross a tenant's boundary or change the schema, and rows that leaked (0)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from persistence import AsyncDatabase, Database, PersistenceError, Settings
from persistence.security import grant_sql, tenant_policy_sql

from ..pgbouncer import PgBouncer
from .conftest import Result

TENANTS = 5


@pytest.fixture
def service(settings: Settings) -> Settings:
    """A restricted role over a table protected by a tenant policy, 20 rows a tenant."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as owner:
        owner.execute(
            "create table notes (id bigint generated always as identity primary key,"
            " tenant_id bigint not null, body text not null)"
        )
        owner.execute(tenant_policy_sql("notes"))
        owner.execute(
            "insert into notes (tenant_id, body)"
            " select t, 'n' from generate_series(1, %s) t, generate_series(1, 20)",
            [TENANTS],
        )
        owner.execute("create role app login")
        owner.execute(grant_sql("app", "postgres"))
    url = make_conninfo(settings.database_url or "", user="app")
    return dataclasses.replace(settings, database_url=url, pool_min=1, pool_max=1)


def _leaked(rows: list[Any], tenant: int) -> int:
    return sum(1 for (t,) in rows if t != tenant)


def test_interleaved_tenants_on_one_connection(service: Settings) -> None:
    result = Result("tenants interleaved on 1 pooled connection")
    rng = random.Random(7)
    with Database(service) as db:
        for _ in range(1000):
            tenant = rng.randint(1, TENANTS)
            how = rng.randrange(3)
            if how == 0:
                with db.tenant(tenant):
                    rows = db.fetch_all("select tenant_id from notes")
            elif how == 1:
                with db.transaction(tenant=tenant):
                    rows = db.fetch_all("select tenant_id from notes")
            else:
                rows = db.fetch_all("select tenant_id from notes")  # no tenant: nothing
                tenant = -1
            result.operations += 1
            result.leaked += _leaked(rows, tenant)
            if tenant > 0 and len(rows) != 20:
                result.app_errors += 1
    result.faults = result.operations
    result.note = "sync; scoped, per transaction and no tenant (fail closed), at random"
    result.record()
    assert (result.leaked, result.app_errors) == (0, 0)


def test_interleaved_tenants_async_tasks(service: Settings) -> None:
    result = Result("tenant-scoped tasks x1000, 1 connection")

    async def run() -> None:
        async with AsyncDatabase(service) as db:

            async def request(tenant: int) -> int:
                with db.tenant(tenant):
                    await asyncio.sleep(0)
                    rows = await db.fetch_all("select tenant_id from notes")
                return _leaked(rows, tenant) + abs(len(rows) - 20)

            leaks = await asyncio.gather(*(request(1 + i % TENANTS) for i in range(1000)))
            result.leaked = sum(leaks)
            result.operations = result.faults = len(leaks)

    asyncio.run(run())
    result.note = "async tasks, each with its own tenant scope"
    result.record()
    assert result.leaked == 0


def test_tenants_through_pgbouncer_sharing_server_sessions(
    settings: Settings, service: Settings
) -> None:
    """Clients of their own (4 pools) through PgBouncer in transaction mode, which hands
    its 2 server sessions to whichever client's transaction comes next."""
    result = Result("tenants through PgBouncer (transaction mode)")
    bouncer = PgBouncer(settings)
    try:
        bouncer.allow("app")
        through = bouncer.settings(service)
        lock = threading.Lock()

        def client(n: int) -> None:
            rng = random.Random(n)
            with Database(through) as db:
                for _ in range(250):
                    tenant = rng.randint(1, TENANTS)
                    if rng.randrange(2):
                        with db.tenant(tenant):
                            rows = db.fetch_all("select tenant_id from notes")
                    else:
                        with db.transaction(tenant=tenant):
                            rows = db.fetch_all("select tenant_id from notes")
                    unset = db.fetch_all("select tenant_id from notes")  # fail closed
                    with lock:
                        result.operations += 2
                        result.leaked += _leaked(rows, tenant) + len(unset)
                        result.app_errors += len(rows) != 20

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        bouncer.close()
    result.faults = result.operations
    result.note = "4 clients on 2 server sessions, DB_POOLER=transaction"
    result.record()
    assert result.operations == 2000
    assert (result.leaked, result.app_errors) == (0, 0)


HOSTILE = [
    "1 or true",
    "1' or '1'='1",
    "1; reset all; --",
    "1) or (1=1",
    "'",
    "\\",
    "%s",
    "1\x00",
    "2147483648000000000000",
    "-1",
    "",
    " 1",
]


def test_hostile_tenants_and_forbidden_writes(service: Settings) -> None:
    result = Result("hostile tenant values, cross-tenant writes")
    with Database(service) as db:
        for hostile in HOSTILE:
            result.operations += 1
            try:
                with db.tenant(hostile):
                    rows = db.fetch_all("select tenant_id from notes")
            except PersistenceError:
                result.app_errors += 1  # refused as a value: not a number, a NUL byte
                continue
            result.leaked += len(rows) if hostile.strip() != "1" else _leaked(rows, 1)
        for target in range(2, TENANTS + 1):
            result.operations += 1
            try:
                with db.tenant(1):
                    db.execute("insert into notes (tenant_id, body) values (%s, 'x')", [target])
                    db.execute("update notes set tenant_id = %s", [target])
                result.leaked += 1
            except PersistenceError:
                result.app_errors += 1
    result.faults = result.operations
    result.note = f"{len(HOSTILE)} hostile values are data; writes for others refused"
    result.record()
    assert result.leaked == 0


def test_the_service_role_cannot_change_the_schema(service: Settings) -> None:
    result = Result("DDL attempted by the service role")
    statements = [
        "drop table notes",
        "truncate notes",
        "alter table notes add column x int",
        "alter table notes disable row level security",
        "alter table notes no force row level security",
        "drop policy notes_tenant on notes",
        "create table mine (id int)",
        "create index on notes (body)",
    ]
    with Database(service) as db:
        for statement in statements:
            result.operations += 1
            try:
                db.execute(sql.SQL(statement))
                result.leaked += 1
            except PersistenceError:
                result.app_errors += 1
    result.faults = result.operations
    result.note = f"{result.app_errors} of {len(statements)} refused by the server"
    result.record()
    assert result.app_errors == len(statements)
