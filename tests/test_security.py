"""Least privilege and tenant isolation on a real server.

A restricted service role (set up by `persistence grant`) reads and writes but cannot
change the schema; row-level security policies (`tenant_policy_sql`) read the tenant
that `db.transaction(tenant=...)` / `db.tenant(...)` set, per transaction.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from persistence import (
    DEFAULT,
    AsyncDatabase,
    BaseRepository,
    Database,
    DatabaseError,
    PersistenceError,
    Settings,
)
from persistence.cli import main
from persistence.queries import Catalog
from persistence.query_runner import QueryRunner
from persistence.security import service_role_warnings, tenant_policy_sql

SCHEMA = """
create table notes (id bigint generated always as identity primary key,
                    tenant_id bigint not null, body text not null);
"""

HOSTILE = ["1 or true", "1' or '1'='1", "1; drop table notes; --", "2)--", "' ", "1\\", "%s"]


@pytest.fixture
def owner(fresh_settings: Settings, admin: psycopg.Connection[Any]) -> Settings:
    admin.execute(SCHEMA)
    admin.execute(tenant_policy_sql("notes"))
    return fresh_settings


@pytest.fixture
def role(owner: Settings, admin: psycopg.Connection[Any]) -> Iterator[str]:
    """A login role of this test's own, dropped with what it was granted."""
    name = f"svc_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(psycopg.sql.SQL("create role {} login").format(psycopg.sql.Identifier(name)))
    yield name
    admin.execute(psycopg.sql.SQL("drop owned by {}").format(psycopg.sql.Identifier(name)))
    admin.execute(psycopg.sql.SQL("drop role {}").format(psycopg.sql.Identifier(name)))


@pytest.fixture
def service(owner: Settings, role: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a service that runs as `role`, migrations as the owner; granted
    through the CLI, as an operator would."""
    monkeypatch.setenv("DATABASE_URL", owner.database_url or "")
    assert main(["grant", role]) == 0
    url = make_conninfo(owner.database_url or "", user=role)
    return dataclasses.replace(owner, database_url=url, migration_url=owner.database_url)


def write(db: Database, tenant: int, body: str) -> None:
    with db.transaction(tenant=tenant):
        db.execute("insert into notes (tenant_id, body) values (%s, %s)", [tenant, body])


# -- the service role --------------------------------------------------------------------


def test_the_service_role_reads_and_writes_but_cannot_change_the_schema(
    service: Settings, admin: psycopg.Connection[Any]
) -> None:
    with Database(service) as db:
        write(db, 1, "hello")
        with db.tenant(1):
            assert db.fetch_value("select body from notes") == "hello"
            assert db.execute("update notes set body = 'hi'") == 1
        for ddl in (
            "drop table notes",
            "alter table notes add column x int",
            "truncate notes",
            "create table mine (id int)",
            "alter table notes disable row level security",
        ):
            with pytest.raises(DatabaseError, match=r"must be owner|permission denied"):
                db.execute(ddl)
        assert db.health().role == conninfo_to_dict(service.database_url or "")["user"]
    # Tables the owner creates later are covered by the default privileges.
    admin.execute("create table later (id int)")
    with Database(service) as db:
        assert db.execute("insert into later values (1)") == 1
    assert service_role_warnings(service) == []


def test_check_warns_when_the_service_role_owns_the_tables(owner: Settings) -> None:
    warnings = service_role_warnings(owner)  # the owner, a superuser here
    assert any("superuser" in w or "owns" in w for w in warnings), warnings


def test_grant_print_is_the_sql_for_a_migration(
    owner: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", owner.database_url or "")
    assert main(["grant", "app", "--print"]) == 0
    out = capsys.readouterr().out
    assert 'grant select, insert, update, delete on all tables in schema "public" to "app";' in out
    assert "alter default privileges" in out


# -- tenants ------------------------------------------------------------------------------


def test_a_query_without_its_where_sees_only_the_tenants_rows(service: Settings) -> None:
    with Database(service) as db:
        write(db, 1, "one")
        write(db, 2, "two")
        with db.tenant(1):
            assert db.fetch_all("select body from notes") == [("one",)]
        with db.transaction(tenant=2):
            assert db.fetch_all("select body from notes") == [("two",)]
        # No tenant: fail closed, nothing is seen and nothing can be written.
        assert db.fetch_all("select body from notes") == []
        with pytest.raises(DatabaseError, match="row-level security"):
            db.execute("insert into notes (tenant_id, body) values (1, 'x')")
        # A write for another tenant is refused by the policy.
        with pytest.raises(DatabaseError, match="row-level security"), db.tenant(1):
            db.execute("insert into notes (tenant_id, body) values (2, 'x')")
        with db.tenant(1):
            assert db.execute("delete from notes") == 1  # only its own
        with db.tenant(2):
            assert db.fetch_value("select count(*) from notes") == 1


def test_tenants_under_force_rollback_act_as_in_production(service: Settings) -> None:
    """The pytest plugin's `db` runs everything in one rolled-back transaction, where a
    transaction is a savepoint: the tenant must be set for each call and block and gone
    after it, as on a pooled connection, or tests pass that production fails."""
    with Database(service) as db, db.force_rollback():
        write(db, 1, "one")  # transaction(tenant=1): the policy lets it in
        with db.tenant(2):  # a scope, for single statements
            db.execute("insert into notes (tenant_id, body) values (2, 'two')")
            assert db.fetch_all("select body from notes") == [("two",)]
        assert db.fetch_all("select body from notes") == [], "no tenant after the block"
        with db.transaction(tenant=1):
            assert db.fetch_all("select body from notes") == [("one",)]
        assert db.fetch_all("select body from notes") == [], "no tenant after the block"
        with pytest.raises(DatabaseError, match="row-level security"), db.tenant(1):
            db.execute("insert into notes (tenant_id, body) values (2, 'x')")
        with db.tenant(1):  # the failed statement took its tenant with it, no more
            assert db.fetch_all("select body from notes") == [("one",)]


async def test_tenants_under_force_rollback_async(service: Settings) -> None:
    async with AsyncDatabase(service) as db, db.force_rollback():
        async with db.transaction(tenant=1):
            await db.execute("insert into notes (tenant_id, body) values (1, 'one')")
        with db.tenant(1):
            assert await db.fetch_all("select body from notes") == [("one",)]
        assert await db.fetch_all("select body from notes") == []


def test_a_tenant_transaction_at_another_isolation_level(service: Settings) -> None:
    """SET TRANSACTION must come before any query, and the tenant is set by one: the
    level is an argument, sent first (it was impossible to run a tenant's transaction
    serializable, and so to use retrying() for what it is for)."""
    level = "select current_setting('transaction_isolation')"
    with Database(service) as db:
        write(db, 1, "one")
        with db.transaction(tenant=1, isolation="serializable"):
            assert db.fetch_value(level) == "serializable"
            assert db.fetch_all("select body from notes") == [("one",)]
        with db.tenant(1):
            for attempt in db.retrying(isolation="repeatable read"):
                with attempt:
                    assert db.fetch_value(level) == "repeatable read"
                    db.execute("update notes set body = 'uno'")
            assert db.fetch_value("select body from notes") == "uno"
        assert db.fetch_value(level) == "read committed", "the next transaction: the default"
        snapshot = "isolation 'snapshot': use one of"
        with pytest.raises(PersistenceError, match=snapshot), db.transaction(isolation="snapshot"):  # type: ignore[arg-type]
            pass
        nested = "isolation level is set by the outermost"
        with (
            pytest.raises(PersistenceError, match=nested),
            db.transaction(),
            db.transaction(isolation="serializable"),
        ):
            pass


def test_interleaved_tenants_on_one_pooled_connection_never_see_each_other(
    service: Settings,
) -> None:
    one = dataclasses.replace(service, pool_min=1, pool_max=1)
    with Database(one) as db:
        for tenant in (1, 2):
            write(db, tenant, f"t{tenant}")
        leaked = 0
        for i in range(100):
            tenant = 1 + i % 2
            if i % 3 == 0:
                with db.tenant(tenant):
                    rows = db.fetch_all("select tenant_id from notes")
            elif i % 3 == 1:
                with db.transaction(tenant=tenant):
                    rows = db.fetch_all("select tenant_id from notes")
            else:
                with db.tenant(tenant), db.transaction():
                    rows = db.fetch_all("select tenant_id from notes")
            leaked += sum(1 for (t,) in rows if t != tenant)
            # The next user of the connection, with no tenant, sees nothing.
            leaked += len(db.fetch_all("select tenant_id from notes"))
        assert leaked == 0


async def test_interleaved_tenants_async_tasks_on_one_connection(service: Settings) -> None:
    one = dataclasses.replace(service, pool_min=1, pool_max=1)
    async with AsyncDatabase(one) as db:
        for tenant in (1, 2):
            async with db.transaction(tenant=tenant):
                await db.execute("insert into notes (tenant_id, body) values (%s, 'x')", [tenant])

        async def request(tenant: int) -> int:
            with db.tenant(tenant):
                await asyncio.sleep(0)
                rows = await db.fetch_all("select tenant_id from notes")
                return sum(1 for (t,) in rows if t != tenant) + (len(rows) != 1)

        leaks = await asyncio.gather(*(request(1 + i % 2) for i in range(100)))
        assert sum(leaks) == 0
        assert await db.fetch_all("select tenant_id from notes") == []


def test_a_hostile_tenant_is_a_value_never_sql(service: Settings) -> None:
    with Database(service) as db:
        write(db, 1, "one")
        for hostile in [*HOSTILE, "1\x00"]:
            try:
                with db.tenant(hostile):
                    rows = db.fetch_all("select body from notes")
            except PersistenceError:
                continue  # refused as a value (not a number, a NUL byte): also fine
            assert rows == [], hostile
        with db.tenant(1):
            assert db.fetch_all("select body from notes") == [("one",)]


@dataclass
class Note:
    tenant_id: int
    body: str
    id: int = DEFAULT


class Notes(BaseRepository[Note]):
    table = "notes"


def test_named_queries_and_repositories_work_unchanged_under_rls(
    service: Settings, tmp_path: Any
) -> None:
    (tmp_path / "notes.sql").write_text(
        "-- name: all_notes()\nselect body from notes order by id;\n"
    )
    with Database(service) as db:
        notes = Notes(db)
        queries = QueryRunner(db, Catalog(tmp_path))
        with db.tenant(7):
            notes.insert(Note(tenant_id=7, body="mine"))
            assert [n.body for n in notes.find()] == ["mine"]
            assert queries.notes.all_notes() == [{"body": "mine"}]
        with db.tenant(8):
            assert notes.find() == []
            assert queries.notes.all_notes() == []


def test_a_nested_block_cannot_change_the_tenant(service: Settings) -> None:
    with (
        Database(service) as db,
        db.transaction(tenant=1),
        pytest.raises(PersistenceError, match="outermost"),
        db.transaction(tenant=2),
    ):
        pass


def test_a_tenant_scope_inside_another_tenants_transaction_is_refused(
    service: Settings,
) -> None:
    """Its statements would run in the transaction, acting for the outer tenant."""
    with Database(service) as db:
        write(db, 1, "one")
        write(db, 2, "two")
        with db.transaction(tenant=1):
            with pytest.raises(PersistenceError, match="outermost"), db.tenant(2):
                pass
            with db.tenant(1):  # the same tenant: nothing changes
                assert db.fetch_all("select body from notes") == [("one",)]
        with (
            db.transaction(),
            pytest.raises(PersistenceError, match="acting for no tenant: the tenant"),
            db.tenant(2),
        ):
            pass
        with db.tenant(2), db.transaction():  # outside first: the transaction acts for it
            assert db.fetch_all("select body from notes") == [("two",)]
