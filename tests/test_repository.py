# Generated from tests/test_repository_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""BaseRepository on a real server.

Generated from tests/test_repository_async.py: edit that file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest

from persistence import (
    DEFAULT,
    BaseRepository,
    CheckViolation,
    ConfigurationError,
    Database,
    DatabaseError,
    ForeignKeyViolation,
    NotNullViolation,
    QueryError,
    Settings,
    UniqueViolation,
)
from persistence.filters import between, ge, gt, ilike, le, like, lt, ne

from ._acompat import gather


@dataclass
class Item:
    sku: str
    name: str
    price: Decimal = DEFAULT
    tags: list[str] = DEFAULT
    owner_id: UUID | None = None
    id: int = DEFAULT
    created_at: datetime = DEFAULT
    updated_at: datetime = DEFAULT


@dataclass
class Membership:
    org_id: int
    user_id: int
    role: str


@dataclass
class Note:
    body: str
    id: UUID = DEFAULT
    deleted_at: datetime | None = None


class Items(BaseRepository[Item]):
    table = "items"


class Memberships(BaseRepository[Membership]):
    table = "memberships"
    primary_key = ("org_id", "user_id")


class Notes(BaseRepository[Note]):
    table = "notes"


@dataclass
class Stamp:
    id: int = DEFAULT
    at: datetime = DEFAULT


class Stamps(BaseRepository[Stamp]):
    table = "stamps"


@pytest.fixture
def db(sample_settings: Settings):
    with Database(sample_settings) as database:
        yield database


def item(n: int, **fields: Any) -> Item:
    return replace(Item(sku=f"sku-{n:06d}", name=f"item {n}"), **fields)


def test_insert_takes_database_defaults_and_triggers(db: Database) -> None:
    items = Items(db)
    stored = items.insert(item(1))
    assert isinstance(stored.id, int)
    assert stored.price == Decimal("0.00")
    assert stored.tags == []
    assert isinstance(stored.created_at, datetime)
    assert items.get(stored.id) == stored
    with db.transaction():  # now() is the transaction's start: a new one moves it
        updated = items.update(stored.id, name="renamed", price=Decimal("9.50"))
    assert updated is not None
    assert (updated.name, updated.price) == ("renamed", Decimal("9.50"))
    assert updated.updated_at > stored.updated_at, "the trigger did not run"
    assert updated.created_at == stored.created_at
    assert items.update(-1, name="nobody") is None


def test_upsert_many_counts_inserted_and_updated(db: Database) -> None:
    items = Items(db)
    assert items.upsert_many([item(n) for n in range(3)], conflict=["sku"]) == (3, 0)
    again = [item(1, name="one"), item(2, name="two"), item(3, name="three")]
    assert items.upsert_many(again, conflict=["sku"]) == (1, 2)
    stored = {i.sku: i.name for i in items.find(order_by="sku")}
    assert stored == {
        "sku-000000": "item 0",
        "sku-000001": "one",
        "sku-000002": "two",
        "sku-000003": "three",
    }
    keep = [item(0, name="ignored"), item(4)]
    assert items.upsert_many(keep, conflict=["sku"], update=()) == (1, 0)
    assert (items.find(sku="sku-000000"))[0].name == "item 0"
    with db.transaction():  # twice in one transaction: the stage is dropped each time
        assert items.upsert_many([item(5)], conflict=["sku"]) == (1, 0)
        assert items.upsert_many([item(5, name="five")], conflict=["sku"]) == (0, 1)
    assert items.upsert_many([], conflict=["sku"]) == (0, 0)


def test_upsert_many_is_all_or_nothing_and_checks_its_input(db: Database) -> None:
    items = Items(db)
    with pytest.raises(CheckViolation):
        rows = [item(1, price=Decimal(1)), item(2, price=Decimal(-1))]
        items.upsert_many(rows, conflict=["sku"])
    assert items.count() == 0
    with pytest.raises(QueryError, match="every object must give the same fields"):
        items.upsert_many([item(1), item(2, price=Decimal(1))], conflict=["sku"])
    with pytest.raises(QueryError, match="conflict 'nope' is not a column"):
        items.upsert_many([item(1)], conflict=["nope"])


def test_get_and_get_many_with_simple_and_composite_keys(db: Database) -> None:
    items, members = Items(db), Memberships(db)
    a, b = items.insert(item(1)), items.insert(item(2))
    assert items.get(a.id) == a
    assert items.get(10**9) is None
    assert sorted(i.id for i in items.get_many([a.id, b.id, 10**9])) == [a.id, b.id]
    assert items.get_many([]) == []

    members.insert(Membership(1, 10, "admin"))
    members.insert(Membership(1, 11, "member"))
    members.insert(Membership(2, 10, "member"))
    assert members.get((1, 11)) == Membership(1, 11, "member")
    assert members.get({"org_id": 2, "user_id": 10}) == Membership(2, 10, "member")
    assert members.get((2, 11)) is None
    found = members.get_many([(1, 10), (2, 10), (9, 9)])
    assert sorted((m.org_id, m.user_id) for m in found) == [(1, 10), (2, 10)]
    with pytest.raises(QueryError, match=r"the key is \(org_id, user_id\); got 1 value"):
        members.get(1)
    assert members.delete((1, 10)) is True
    assert members.count() == 2


def test_find_count_exists_with_filters_and_order(db: Database) -> None:
    items = Items(db)
    for n in range(1, 11):
        items.insert(item(n, price=Decimal(n), tags=["even"] if n % 2 == 0 else []))
    items.insert(item(11, name="special", price=Decimal(100)))

    def skus(rows: list[Item]) -> list[int]:
        return [int(r.sku[4:]) for r in rows]

    assert skus(items.find(price=Decimal(3))) == [3]
    assert skus(items.find(sku=["sku-000002", "sku-000005"], order_by="sku")) == [2, 5]
    assert skus(items.find(price=gt(8), order_by="-price")) == [11, 10, 9]
    assert skus(items.find(price=between(2, 4), order_by="price")) == [2, 3, 4]
    assert skus(items.find(name=like("spec%"))) == [11]
    assert skus(items.find(owner_id=None, order_by="sku", limit=2, offset=3)) == [4, 5]
    assert items.count(price=ge(5)) == 7
    assert items.count(name=ne("special")) == 10
    assert items.count(owner_id=ne(None)) == 0
    assert items.exists(name="special") is True
    assert items.exists(name="nothing") is False
    with pytest.raises(QueryError, match="order_by 'nope' is not a column of Item"):
        items.find(order_by="nope")


def test_keyset_pages_neither_skip_nor_repeat_while_rows_arrive(db: Database) -> None:
    items = Items(db)
    originals = {(items.insert(item(n * 10))).sku for n in range(1, 26)}
    seen: list[str] = []
    after = None
    extra = 0
    while True:
        page = items.page(limit=7, after=after, order_by="sku")
        seen += [i.sku for i in page.items]
        # Between pages, rows arrive on both sides of the cursor.
        extra += 1
        items.insert(item(extra * 10 + 5))
        items.insert(item(extra, sku=f"aaa-{extra}"))
        if page.next is None:
            break
        after = page.next
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert originals <= set(seen), "a row was skipped"
    backwards = items.page(limit=3, order_by="-sku")
    assert [i.sku for i in backwards.items] == sorted(seen, reverse=True)[:3]
    with pytest.raises(QueryError, match="same direction"):
        items.page(limit=3, order_by=["sku", "-name"])


@dataclass
class Ranked:
    id: int
    name: str | None
    rank: int | None
    note: str


class Rankeds(BaseRepository[Ranked]):
    table = "ranked"


@pytest.mark.parametrize(
    "order_by",
    ["name", "-name", ["name", "rank"], ["-name", "-rank"], ["rank", "name"], "-rank", "note"],
)
def test_keyset_pages_over_nullable_columns_hold_every_row_once(
    db: Database, order_by: str | list[str]
) -> None:
    db.execute("create table ranked (id int primary key, name text, rank int, note text not null)")
    rankeds = Rankeds(db)
    for n in range(1, 31):  # NULLs in name, in rank, in both; ties on each
        name = None if n % 3 == 0 else f"n{n % 4}"
        rank = None if n % 5 == 0 else n % 3
        rankeds.insert(Ranked(n, name, rank, f"note {n % 6}"))
    orders = [order_by] if isinstance(order_by, str) else order_by
    desc = orders[0].startswith("-")
    # find's order, with PostgreSQL's NULLs (last ascending, first descending) and the key
    expected = [r.id for r in rankeds.find(order_by=[*orders, "-id" if desc else "id"])]
    for limit in (1, 2, 3, 4, 7, 30, 50):
        seen: list[int] = []
        after = None
        for _ in range(40):
            page = rankeds.page(limit=limit, after=after, order_by=order_by)
            seen += [r.id for r in page.items]
            if page.next is None:
                break
            after = page.next
        assert seen == expected, f"limit {limit}"


def test_none_in_a_list_filter_matches_null_and_a_comparison_with_none_is_refused(
    db: Database,
) -> None:
    db.execute("create table ranked (id int primary key, name text, rank int, note text not null)")
    rankeds = Rankeds(db)
    for n, name in enumerate(["A", None, "B", None, "A"], 1):
        rankeds.insert(Ranked(n, name, n, "x"))

    def ids(**filters: Any) -> list[int]:
        return [r.id for r in rankeds.find(order_by="id", **filters)]

    assert ids(name=[None, "A"]) == [1, 2, 4, 5]
    assert ids(name=(None,)) == [2, 4]
    assert ids(name={"B", None}) == [2, 3, 4]
    assert ids(name=["A"]) == [1, 5]
    assert ids(name=None) == [2, 4]
    assert ids(name=ne(None)) == [1, 3, 5]
    assert rankeds.count(name=[None, "B"]) == 3
    refused: list[Any] = [gt(None), ge(None), lt(None), le(None)]
    refused += [like(None), ilike(None)]  # type: ignore[arg-type]
    refused += [between(None, "B"), between("A", None)]
    for comparison in refused:
        with pytest.raises(QueryError, match=r"no row .*: use name=None for IS NULL"):
            rankeds.find(name=comparison)
        with pytest.raises(QueryError, match="use name=None"):
            rankeds.delete_where(name=comparison)
    assert rankeds.count() == 5


def test_upsert(db: Database) -> None:
    items = Items(db)
    first = items.upsert(item(1, price=Decimal(5)), conflict=["sku"])
    assert first is not None
    again = items.upsert(item(1, name="new name", price=Decimal(6)), conflict=["sku"])
    assert again is not None
    assert (again.id, again.name, again.price) == (first.id, "new name", Decimal(6))
    kept = items.upsert(item(1, name="ignored"), conflict=["sku"], update=["price"])
    assert kept is not None
    assert kept.name == "new name"
    assert items.upsert(item(1), conflict=["sku"], update=()) is None
    assert items.count() == 1


def test_delete_and_delete_where(db: Database) -> None:
    items = Items(db)
    a = items.insert(item(1))
    items.insert(item(2, price=Decimal(50)))
    items.insert(item(3, price=Decimal(60)))
    assert items.delete(a.id) is True
    assert items.delete(a.id) is False
    with pytest.raises(QueryError, match="needs at least one filter"):
        items.delete_where()
    assert items.delete_where(price=ge(55)) == 1
    assert items.count() == 1


def test_soft_delete(db: Database) -> None:
    notes = Notes(db)
    note = notes.insert(Note("remember"))
    other = notes.insert(Note("other"))
    assert notes.delete(note.id) is True
    assert notes.get(note.id) is None
    hidden = notes.get(note.id, include_deleted=True)
    assert hidden is not None
    assert hidden.deleted_at is not None
    assert [n.id for n in notes.find()] == [other.id]
    assert notes.count(include_deleted=True) == 2
    assert notes.delete(note.id) is False, "already deleted"
    assert notes.restore(note.id) is True
    assert notes.get(note.id) == replace(note, deleted_at=None)
    assert notes.purge(note.id) is True
    assert notes.get(note.id, include_deleted=True) is None
    assert notes.delete_where(body="other") == 1
    assert notes.count() == 0
    with pytest.raises(QueryError, match="no deleted_at column"):
        Items(db).restore(1)


def test_the_first_use_table_check_is_named_in_logs_and_metrics(
    sample_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    class Checked(BaseRepository[Item]):  # checked afresh: its own set of databases
        table = "items"

    caplog.set_level(logging.WARNING, logger="persistence")
    with Database(replace(sample_settings, slow_query_ms=0)) as database:
        assert Checked(database).count() == 0
        assert database.metrics.snapshot()["items.table_check"].calls == 1
    # Every call is slow at 0 ms: the check is logged by its name, not by a psycopg
    # object's repr ("SQL('\\n select a.attname, ...')").
    assert "slow query 'items.table_check' took" in caplog.text
    assert "SQL(" not in caplog.text


def test_stream_yields_what_find_returns_batch_by_batch(db: Database) -> None:
    items = Items(db)
    items.insert_many([item(n, price=Decimal(n % 7)) for n in range(2_500)])
    streamed = [i for i in items.stream(order_by="sku", batch=1000)]  # noqa: C416, RUF100
    assert streamed == items.find(order_by="sku")
    assert len(streamed) == 2_500
    cheap = [i.sku for i in items.stream(price=gt(Decimal(5)), order_by="-sku", batch=7)]
    assert cheap == [i.sku for i in items.find(price=gt(Decimal(5)), order_by="-sku")]
    assert [i for i in items.stream(sku="none")] == []  # noqa: C416, RUF100
    with pytest.raises(QueryError, match="no_such"):
        [i for i in items.stream(no_such=1)]  # noqa: C416, RUF100
    with pytest.raises(QueryError, match="batch must be at least 1"):
        [i for i in items.stream(batch=0)]  # noqa: C416, RUF100


def test_stream_reads_a_server_side_cursor_in_the_current_transaction(
    db: Database,
) -> None:
    items = Items(db)
    with db.transaction():
        items.insert_many([item(n) for n in range(30)])  # not committed yet
        seen = 0
        for _ in items.stream(batch=10):
            seen += 1
            if seen == 15:  # the cursor is open on the server, in this transaction
                assert db.fetch_value("select count(*) from pg_cursors") == 1
        assert seen == 30
        assert db.fetch_value("select count(*) from pg_cursors") == 0


def test_calls_made_while_a_stream_is_open_are_not_in_its_transaction(
    db: Database,
) -> None:
    # Outside a transaction, the stream's cursor lives in a transaction of its own;
    # what the loop body writes is autocommitted as anywhere else, not swept into the
    # stream's transaction and rolled back when the loop is left early.
    items = Items(db)
    items.insert_many([item(n) for n in range(30)])
    streamed = items.stream(order_by="sku", batch=10)
    for found in streamed:
        items.update(found.id, name="seen while streaming")
        assert db.fetch_value("select count(*) from pg_cursors") == 0, (
            "the body ran on the stream's connection"
        )
        break
    streamed.close()
    assert items.count(name="seen while streaming") == 1


def test_a_stream_left_early_in_a_transaction_keeps_what_the_loop_wrote(
    db: Database,
) -> None:
    items = Items(db)
    items.insert_many([item(n) for n in range(30)])
    with db.transaction():
        streamed = items.stream(order_by="sku", batch=10)
        for found in streamed:
            items.update(found.id, name="seen in the transaction")
            break
        streamed.close()
    assert items.count(name="seen in the transaction") == 1


def test_insert_many_copies_100_000_rows(db: Database) -> None:
    items = Items(db)
    rows = [item(n, price=Decimal(n % 100), tags=[str(n % 3)]) for n in range(100_000)]
    assert items.insert_many(rows) == 100_000
    assert items.count() == 100_000
    total = db.fetch_value("select sum(price) from items")
    assert total == sum(Decimal(n % 100) for n in range(100_000))
    sample = items.find(sku="sku-012345")
    assert (sample[0].price, sample[0].tags) == (Decimal(45), ["0"])
    assert items.insert_many([]) == 0


@pytest.mark.parametrize("given_first", [False, True])
def test_insert_many_keeps_every_value_given_when_rows_mix_defaults(
    db: Database, given_first: bool
) -> None:
    items = Items(db)
    rows = [item(1), item(2, id=777), item(3, price=Decimal(5)), item(4), item(5, id=778)]
    if given_first:
        rows.reverse()
    assert items.insert_many(rows) == 5
    stored = {i.sku: i for i in items.find()}
    assert stored["sku-000002"].id == 777
    assert stored["sku-000005"].id == 778
    assert stored["sku-000003"].price == Decimal(5)
    assert stored["sku-000001"].price == Decimal(0)
    assert len({i.id for i in stored.values()}) == 5


def test_insert_many_with_mixed_defaults_is_all_or_nothing(db: Database) -> None:
    items = Items(db)
    # The second group (ids given) breaks the unique sku after the first group went in.
    rows = [item(1), item(2), item(1, id=900)]
    with pytest.raises(UniqueViolation):
        items.insert_many(rows)
    assert items.count() == 0


@dataclass
class TextOwnerItem:
    sku: str
    name: str
    owner_id: str | None = None  # a uuid column, given as text
    id: int = DEFAULT


class TextOwnerItems(BaseRepository[TextOwnerItem]):
    table = "items"


@dataclass
class LooseItem:
    sku: str
    name: str
    owner_id: Any = None
    id: int = DEFAULT
    tags: Any = DEFAULT


class LooseItems(BaseRepository[LooseItem]):
    table = "items"


def test_insert_many_takes_a_str_field_for_a_typed_column_as_insert_does(
    db: Database,
) -> None:
    owner = db.fetch_value(
        "insert into users (email, plan) values ('o@example.com', 'free') returning id"
    )
    rows = [TextOwnerItem(f"t-{n}", "t", str(owner)) for n in range(3)]
    assert TextOwnerItems(db).insert_many(rows) == 3
    assert TextOwnerItems(db).insert(TextOwnerItem("t-3", "t", str(owner)))
    assert Items(db).count(owner_id=owner) == 4


def test_insert_many_names_the_row_and_column_a_binary_copy_cannot_send(
    db: Database,
) -> None:
    owner = db.fetch_value(
        "insert into users (email, plan) values ('o@example.com', 'free') returning id"
    )
    rows = [LooseItem("l-1", "l", owner), LooseItem("l-2", "l", str(owner))]
    with pytest.raises(DatabaseError, match=r"items\.insert_many") as caught:
        LooseItems(db).insert_many(rows)
    assert "row 2: owner_id (uuid) got a str" in str(caught.value)
    assert Items(db).count() == 0  # all or nothing


@pytest.mark.parametrize("bad_first", [True, False])
def test_insert_many_names_the_row_of_objs_when_rows_mix_defaults(
    db: Database, bad_first: bool
) -> None:
    # The refused row is the fourth given, whether its group is sent first or second.
    rows = [LooseItem("a", "a"), LooseItem("b", "b", id=900), LooseItem("c", "c")]
    rows.append(LooseItem("d", "d", "not a uuid", id=901))
    if bad_first:
        rows[0], rows[1] = rows[1], rows[0]  # the first group is the one with ids
    with pytest.raises(DatabaseError, match=r"row 4: owner_id \(uuid\) got a str"):
        LooseItems(db).insert_many(iter(rows))
    assert Items(db).count() == 0


def test_insert_many_names_the_column_of_a_number_or_text_of_the_wrong_type(
    db: Database,
) -> None:
    # What mypy would catch, at run time from untyped data: a str for an int column
    # (the binary dumper raises struct.error) and an int for a text one.
    members: list[Any] = [Membership(1, 1, "member"), Membership("2", 1, "member")]  # type: ignore[arg-type]
    with pytest.raises(DatabaseError, match=r"memberships\.insert_many") as caught:
        Memberships(db).insert_many(members)
    assert "row 2: org_id (integer) got a str" in str(caught.value)
    numbered: list[Any] = [LooseItem("l-1", 42)]  # type: ignore[arg-type]
    with pytest.raises(DatabaseError, match=r"row 1: name \(text\) got an int"):
        LooseItems(db).insert_many(numbered)
    assert Memberships(db).count() == 0
    assert Items(db).count() == 0


def test_insert_many_refuses_an_integer_its_column_cannot_hold(db: Database) -> None:
    # psycopg's binary COPY dumpers for int4/int2 wrap a larger value around: 2**31 would
    # be stored as -2**31. The value is refused as insert's is, naming row and column.
    members = [Membership(1, 1, "member"), Membership(2**31, 1, "member")]
    with pytest.raises(DatabaseError, match=r"row 2: org_id \(integer\) got 2147483648, out"):
        Memberships(db).insert_many(members)
    with pytest.raises(DatabaseError, match=r"row 1: org_id \(integer\) got -2147483649, out"):
        Memberships(db).upsert_many(
            iter([Membership(-(2**31) - 1, 1, "member")]), conflict=["user_id", "org_id"]
        )
    with pytest.raises(DatabaseError, match="out of range"):
        Memberships(db).insert(Membership(2**31, 1, "member"))
    assert Memberships(db).count() == 0


def test_insert_and_insert_many_refuse_the_same_values(db: Database) -> None:
    # One rule for the row at a time and the bulk paths: the server would convert "7"
    # for an integer, or 42 for text, in an INSERT, but binary COPY cannot send them.
    loose: list[tuple[Any, str]] = [
        (Membership("7", 1, "member"), "org_id (integer) got a str"),  # type: ignore[arg-type]
        (Membership(7, 1, 42), "role (text) got an int"),  # type: ignore[arg-type]
    ]
    members = Memberships(db)
    for member, culprit in loose:
        with pytest.raises(DatabaseError, match=r"in 'memberships\.insert'") as one:
            members.insert(member)
        with pytest.raises(DatabaseError, match=r"in 'memberships\.upsert'") as upsert:
            members.upsert(member, conflict=["org_id", "user_id"])
        with pytest.raises(DatabaseError, match=r"in 'memberships\.insert_many'") as many:
            members.insert_many([member])
        with pytest.raises(DatabaseError, match=r"in 'memberships\.upsert_many'") as bulk:
            members.upsert_many([member], conflict=["org_id", "user_id"])
        for caught in (one, upsert, many, bulk):
            assert culprit in str(caught.value)
        assert f"row 1: {culprit}" in str(many.value)
    assert members.count() == 0
    assert members.insert(Membership(7, 1, "member"))  # the same, typed: taken
    # Checked as COPY dumps them: a list for an array column goes; a naive datetime,
    # which the server would read in its own time zone, does not go to timestamptz.
    items, loose_items = Items(db), LooseItems(db)  # LooseItem rows go in binary
    assert (loose_items.insert(LooseItem("a", "a", tags=["a", "b"]))).tags == ["a", "b"]
    assert loose_items.insert_many([LooseItem("b", "b", tags=["c"])]) == 1
    naive = item(2, created_at=datetime(2026, 1, 1))
    with pytest.raises(DatabaseError, match=r"created_at \(timestamp with time zone\)") as one:
        items.insert(naive)
    with pytest.raises(DatabaseError, match=r"row 1: created_at \(timestamp with time zone\)"):
        items.insert_many([naive])
    stored = items.insert(item(3))
    with pytest.raises(DatabaseError, match=r"created_at \(timestamp with time zone\)"):
        items.update(stored.id, created_at=datetime(2026, 1, 1))  # as insert refuses
    with pytest.raises(DatabaseError, match=r"price \(numeric\) got a str"):
        items.update(stored.id, price="7")  # which the server would have converted
    assert (items.get(stored.id)) == stored, "nothing changed"
    assert "got a naive datetime (no tzinfo" in str(one.value)
    assert "give an aware datetime" in str(one.value)
    assert "the column's Python type" not in str(one.value), "it is a datetime already"


def test_insert_many_of_rows_made_only_of_defaults(db: Database) -> None:
    db.execute(
        "create table stamps (id bigint generated always as identity primary key,"
        " at timestamptz not null default now())"
    )
    stamps = Stamps(db)
    assert stamps.insert_many([Stamp(), Stamp(), Stamp()]) == 3
    assert stamps.count() == 3


def test_insert_many_refuses_another_class(db: Database) -> None:
    rows: list[Any] = [item(1), Note(body="x")]
    with pytest.raises(QueryError, match="row 2 is a Note"):
        Items(db).insert_many(rows)
    assert Items(db).count() == 0


def test_insert_many_streams_a_generator_of_200_000_rows(db: Database) -> None:
    items = Items(db)
    made = 0

    def rows() -> Iterator[Item]:
        nonlocal made
        for n in range(200_000):
            made += 1
            yield item(n, price=Decimal(n % 100))

    assert items.insert_many(rows()) == 200_000
    assert made == 200_000
    assert items.count() == 200_000
    total = db.fetch_value("select sum(price) from items")
    assert total == sum(Decimal(n % 100) for n in range(200_000))
    assert items.insert_many(iter([])) == 0


@pytest.mark.parametrize("given_first", [False, True])
def test_insert_many_from_a_generator_keeps_every_value_given_when_rows_mix_defaults(
    db: Database, given_first: bool
) -> None:
    items = Items(db)
    rows = [item(1), item(2, id=777), item(3, price=Decimal(5)), item(4), item(5, id=778)]
    if given_first:
        rows.reverse()
    assert items.insert_many(row for row in rows) == 5
    stored = {i.sku: i for i in items.find()}
    assert stored["sku-000002"].id == 777
    assert stored["sku-000005"].id == 778
    assert stored["sku-000003"].price == Decimal(5)
    assert stored["sku-000001"].price == Decimal(0)
    assert len({i.id for i in stored.values()}) == 5


def test_insert_many_from_a_generator_is_all_or_nothing(db: Database) -> None:
    items = Items(db)
    with pytest.raises(UniqueViolation):  # the later group breaks the first's unique sku
        items.insert_many(iter([item(1), item(2), item(1, id=900)]))
    assert items.count() == 0
    wrong: list[Any] = [item(1), item(2), Note(body="x")]
    with pytest.raises(QueryError, match="row 3 is a Note"):  # found mid-COPY
        items.insert_many(iter(wrong))
    assert items.count() == 0


def test_insert_many_from_a_generator_of_rows_made_only_of_defaults(
    db: Database,
) -> None:
    db.execute(
        "create table stamps (id bigint generated always as identity primary key,"
        " at timestamptz not null default now())"
    )
    stamps = Stamps(db)
    assert stamps.insert_many(Stamp() for _ in range(3)) == 3
    assert stamps.count() == 3


def test_violations_come_back_as_the_toolkits_errors(db: Database) -> None:
    items = Items(db)
    items.insert(item(1))
    with pytest.raises(UniqueViolation) as dup:
        items.insert(item(1))
    assert (dup.value.constraint, dup.value.columns) == ("items_sku_key", ("sku",))
    assert "sku-000001" not in str(dup.value), "values must not leak into messages"
    with pytest.raises(ForeignKeyViolation) as fk:
        items.insert(item(2, owner_id=UUID(int=1)))
    assert fk.value.constraint == "items_owner_id_fkey"
    with pytest.raises(CheckViolation) as check:
        items.insert(item(3, price=Decimal(-1)))
    assert check.value.constraint == "items_price_check"
    with pytest.raises(NotNullViolation) as not_null:
        Memberships(db).insert(Membership(1, 1, None))  # type: ignore[arg-type]
    assert not_null.value.column == "role"


@dataclass
class Datum:
    id: int
    n: int | None = None
    small: int | None = None
    s: str | None = None
    v: str | None = None


class Data(BaseRepository[Datum]):
    table = "data"


@dataclass
class DatumAsText:
    id: int
    n: str | None = None  # annotated str: sent as text, which the server parses


class DataAsText(BaseRepository[DatumAsText]):
    table = "data"


def test_a_value_the_server_or_driver_refuses_is_named_by_its_column(
    db: Database,
) -> None:
    db.execute(
        "create table data (id int primary key, n int, small smallint, s text, v varchar(3))"
    )
    data = Data(db)
    data.insert(Datum(9))
    with pytest.raises(DatabaseError, match=r"^column s: .*NUL \(0x00\) bytes in 'data\.insert'"):
        data.insert(Datum(1, s="a\x00b"))
    with pytest.raises(DatabaseError, match=r"^column n: integer out of range in 'data\.insert'"):
        data.insert(Datum(2, n=2**40))
    with pytest.raises(DatabaseError, match=r"^n \(integer\) got a str .* in 'data\.update'"):
        data.update(9, n="lots", s="lots")  # refused before it is sent, as by insert
    with pytest.raises(DatabaseError, match=r"^column n: invalid input syntax .* 'data\.update'"):
        DataAsText(db).update(9, n="lots")  # sent as text: the server names no column
    with pytest.raises(DatabaseError, match=r"^column small: smallint out of range") as ex:
        data.update(9, small=70_000)
    assert ex.value.sqlstate == "22003"
    assert isinstance(ex.value.__cause__, psycopg.errors.NumericValueOutOfRange)
    with pytest.raises(DatabaseError, match=r"^column v: value too long"):
        data.update(9, v="toolong")
    with pytest.raises(DatabaseError, match=r"^column s: .*NUL .* in 'data\.upsert'"):
        data.upsert(Datum(5, s="\x00"), conflict=["id"])
    assert [d.id for d in data.find()] == [9]


def test_repository_calls_join_the_transaction(db: Database, sample_settings) -> None:
    items = Items(db)
    with pytest.raises(RuntimeError), db.transaction():
        items.insert(item(1))
        assert items.count() == 1
        raise RuntimeError("undo")
    assert items.count() == 0
    with db.transaction():
        items.insert(item(2))
    with psycopg.connect(sample_settings.conninfo()) as other:
        assert other.execute("select count(*) from items").fetchone() == (1,)


def test_concurrent_inserts_keep_every_row(db: Database) -> None:
    items = Items(db)

    def insert_range(start: int) -> None:
        for n in range(start, start + 50):
            items.insert(item(n))

    gather(*[lambda s=s: insert_range(s) for s in (0, 1000, 2000, 3000)])
    assert items.count() == 200


def test_a_field_the_table_lacks_is_named(db: Database) -> None:
    @dataclass
    class Wrong:
        id: int
        colour: str

    class Wrongs(BaseRepository[Wrong]):
        table = "items"

    with pytest.raises(ConfigurationError, match=r"Wrong has field\(s\) colour that table .items."):
        Wrongs(db).get(1)
    with pytest.raises(ConfigurationError, match="table 'missing' does not exist"):

        class Missing(BaseRepository[Wrong]):
            table = "missing"

        Missing(db).get(1)
