"""The generator's nullability rules, each run through `describe` on the real sample schema.

users: email NOT NULL, name NULL; posts: title NOT NULL, user_id NULL.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from persistence import QueryLoadError, Settings
from persistence._describe import describe
from persistence._described import Described
from persistence._typerender import render
from persistence.queries import Catalog

from .test_typerender import ruff_keeps

RULES = """
-- name: aggregates()^
select count(*) as n_all, count(name) as n_names, exists (select 1 from posts) as any_posts,
       max(email) as newest, sum(1) as total
  from users;

-- name: expressions(label, maybe)
select coalesce(u.name, '') as name_or_empty, coalesce(u.name, u.email) as name_or_email,
       coalesce(u.name, u.name) as still_nullable,
       row_number() over () as rn, rank() over (order by u.email) as rk,
       dense_rank() over (order by u.email) as drk, lag(u.email) over () as previous,
       1 as one, 'x'::text as lit, null::text as null_lit, now() as at,
       current_timestamp as ts, concat(u.name, 'x') as cat,
       u.email || '!' as shout, u.name || '!' as maybe_shout,
       case when u.name is null then 'anon' else 'named' end as kind,
       case when u.name is null then 'anon' end as kind_without_else,
       upper(u.email) as up, upper(u.name) as up_name, u.meta -> 'k' as json_key,
       u.name is null as anonymous, nullif(u.email, '') as nullif_email,
       (select p.title from posts p limit 1) as a_title, :label::text as label,
       :maybe::text as maybe, u.email as email, p.title as title_of_left_join
  from users u
  left join posts p on p.user_id = u.id
 where :maybe::text is null or u.name = :maybe;

-- name: union_of()
select email as v from users union all select null;

-- name: insert_values(title)<!
insert into posts (title) values (:title) returning id, title;

-- name: insert_one_value(title)<!
insert into posts (title) values (:title) returning id;

-- name: insert_or_nothing(title)<!
insert into posts (title) values (:title) on conflict do nothing returning id;

-- name: insert_select()<!
insert into posts (title) select email from users returning id;

-- name: update_returning(id)<!
update posts set title = 'x' where id = :id returning id;

-- name: guarded_insert(body)^
insert into guarded (body) values (:body) returning *;

-- name: partitioned_insert(id)<!
insert into parted (id) values (:id) returning id;

-- name: all_posts()
select * from posts;

-- name: posts_of_users()
select p.* from users u left join posts p on p.user_id = u.id;

-- name: shadowed()
with users as (select null::text as email) select users.email || '' as email from users;

-- name: forced()
select max(email) as "newest!", email as "maybe_email?" from users group by email;

-- name: cte_left()
with p as (select * from posts)
select u.email, p.title from users u left join p on p.user_id = u.id;

-- name: cte_full()
with p as (select * from posts)
select u.email, p.title from users u full join p on p.user_id = u.id;

-- name: cte_nested()
with p as (select * from posts), q as (select * from p)
select u.email, q.title from users u left join q on q.user_id = u.id;

-- name: cte_inner()
with p as (select * from posts)
select u.email, p.title from users u join p on p.user_id = u.id;

-- name: rollup()
select plan, email, count(*) as n, coalesce(email, 'all') as email_or_all, upper(email) as up,
       grouping(email) as g
  from users group by plan, rollup(email);

-- name: cube()
select plan, email, count(*) as n from users group by cube(plan, email);

-- name: grouping_sets()
select plan, email, created_at
  from users group by grouping sets ((plan, email), (plan, created_at));

-- name: grouping_sets_empty()
select plan, count(*) as n from users group by grouping sets ((plan), ());

-- name: rollup_by_expression()
select lower(email) as low, 2 + 2 as four, count(*) as n
  from users group by rollup(lower(email), 2 + 2);

-- name: rollup_by_position()
select email, count(*) as n from users group by rollup(1);

-- name: rollup_below()
select r.email from (select email from users group by rollup(email)) r;

-- name: values_branch()
select email from users union all values (null);

-- name: cte_above_union()
with posts as (select null::text as title)
select email from users union all select title from posts;
"""


@pytest.fixture
def described(sample_settings: Settings, tmp_path: Path) -> dict[str, Described]:
    (tmp_path / "rules.sql").write_text(RULES)
    with psycopg.connect(sample_settings.conninfo(), autocommit=True) as conn:
        # A BEFORE INSERT trigger may return NULL: the row may never come back.
        conn.execute(
            "create table guarded (id serial primary key, body text not null);"
            " create function keep() returns trigger language plpgsql"
            " as $$ begin return new; end $$;"
            " create trigger guard before insert on guarded for each row execute function keep();"
            " create table parted (id int not null) partition by range (id);"
            " create table parted_low partition of parted for values from (0) to (100);"
            " create trigger guard before insert on parted_low for each row execute function keep()"
        )
        found, problems = describe(conn, Catalog(tmp_path))
    assert problems == []
    return {d.query.name.split(".")[-1]: d for d in found}


def nullable(d: Described) -> dict[str, bool]:
    return {c.name: c.nullable for c in d.columns}


def test_aggregates(described: dict[str, Described]) -> None:
    assert nullable(described["aggregates"]) == {
        "n_all": False,
        "n_names": False,
        "any_posts": False,
        "newest": True,  # max() of no rows
        "total": True,
    }


def test_expressions(described: dict[str, Described]) -> None:
    assert nullable(described["expressions"]) == {
        "name_or_empty": False,
        "name_or_email": False,
        "still_nullable": True,
        "rn": False,
        "rk": False,
        "drk": False,
        "previous": True,
        "one": False,
        "lit": False,
        "null_lit": True,
        "at": False,
        "ts": False,
        "cat": False,
        "shout": False,
        "maybe_shout": True,
        "kind": False,
        "kind_without_else": True,
        "up": False,
        "up_name": True,
        "json_key": True,  # a missing key
        "anonymous": False,
        "nullif_email": True,
        "a_title": True,  # a scalar subquery may find no row
        "label": False,  # the parameter's type does not take None
        "maybe": True,  # tested with IS NULL: it does
        "email": False,
        "title_of_left_join": True,
    }


def test_union_is_nullable_if_any_branch_is(described: dict[str, Described]) -> None:
    assert nullable(described["union_of"]) == {"v": True}


def test_insert_returning_always_returns_a_row(described: dict[str, Described]) -> None:
    always = {name: d.always_returns for name, d in described.items()}
    assert always["insert_values"] is True
    assert always["insert_one_value"] is True
    assert always["insert_or_nothing"] is False
    assert always["insert_select"] is False  # the select may find no row
    assert always["update_returning"] is False
    assert always["guarded_insert"] is False  # its trigger may drop the row
    assert always["partitioned_insert"] is False  # so may a partition's
    source = render(list(described.values()), "queries/")
    assert "def insert_values(self, *, title: str) -> InsertValuesRow:" in source
    assert "def insert_one_value(self, *, title: str) -> int:" in source
    assert "def insert_or_nothing(self, *, title: str) -> int | None:" in source
    assert "def update_returning(self, *, id: int) -> int | None:" in source
    assert "def guarded_insert(self, *, body: str) -> GuardedRow | None:" in source


def test_a_query_does_not_weaken_the_tables_row(described: dict[str, Described]) -> None:
    assert described["all_posts"].table == "posts"
    assert nullable(described["all_posts"])["title"] is False
    left = described["posts_of_users"]
    assert left.table is None
    assert nullable(left)["title"] is True
    source = render(list(described.values()), "queries/")
    assert "class PostsOfUsersRow:" in source
    assert "def all_posts(self) -> list[PostsRow]:" in source


def test_a_cte_hides_the_table_of_its_name(described: dict[str, Described]) -> None:
    assert nullable(described["shadowed"]) == {"email": True}


def test_a_cte_on_the_nullable_side_of_an_outer_join(described: dict[str, Described]) -> None:
    """The server names posts.title as the source: the join through the CTE decides."""
    assert nullable(described["cte_left"]) == {"email": False, "title": True}
    assert nullable(described["cte_full"]) == {"email": True, "title": True}
    assert nullable(described["cte_nested"]) == {"email": False, "title": True}
    assert nullable(described["cte_inner"]) == {"email": False, "title": False}


def test_grouping_sets_may_leave_a_column_out(described: dict[str, Described]) -> None:
    """ROLLUP, CUBE and GROUPING SETS add rows with NULL for what they do not group by;
    a column in every grouping set keeps its NOT NULL."""
    assert nullable(described["rollup"]) == {
        "plan": False,  # in every grouping set
        "email": True,
        "n": False,
        "email_or_all": False,
        "up": True,
        "g": False,
    }
    assert nullable(described["cube"]) == {"plan": True, "email": True, "n": False}
    assert nullable(described["grouping_sets"]) == {
        "plan": False,
        "email": True,
        "created_at": True,
    }
    assert nullable(described["grouping_sets_empty"]) == {"plan": True, "n": False}
    assert nullable(described["rollup_by_expression"]) == {"low": True, "four": True, "n": False}
    assert nullable(described["rollup_by_position"]) == {"email": True, "n": False}
    assert nullable(described["rollup_below"]) == {"email": True}


def test_every_branch_of_a_union_counts(described: dict[str, Described]) -> None:
    assert nullable(described["values_branch"]) == {"email": True}
    assert nullable(described["cte_above_union"]) == {"email": True}


def test_overrides_win(described: dict[str, Described]) -> None:
    assert nullable(described["forced"]) == {"newest": False, "maybe_email": True}


def test_positional_parameters_are_refused(sample_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "bad.sql").write_text("\n-- name: by_id(id)^\nselect * from users where id = $1;\n")
    with pytest.raises(QueryLoadError) as raised:
        Catalog(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path / 'bad.sql'}:2: query by_id uses the positional parameter $1;"
        " named parameters are required: write :id"
    )


def describe_with(settings: Settings, folder: Path, ddl: str, sql: str) -> list[Described]:
    (folder / "q.sql").write_text(sql)
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute(ddl)
        found, problems = describe(conn, Catalog(folder))
    assert problems == []
    return found


def test_enums_of_one_name_in_two_schemas_get_stable_names(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """The enum the search_path finds keeps its name, the other is qualified by its
    schema; no OID in a name (the module would change on every run)."""
    found = describe_with(
        sample_settings,
        tmp_path,
        "create type mood as enum ('sad', 'happy'); create schema other;"
        " create type other.mood as enum ('calm', 'angry');",
        "-- name: moods()^\nselect 'sad'::mood as here, 'calm'::other.mood as there;\n",
    )
    (moods,) = found
    assert [c.annotation for c in moods.columns] == ["Mood", "OtherMood"]
    assert moods.enums["Mood"][0] == ("sad", "happy")
    assert moods.enums["OtherMood"][0] == ("calm", "angry")


def test_an_enum_added_later_does_not_take_an_existing_alias(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """`"Order State!"` reads as OrderState too; order_state, in snake_case, keeps the
    alias application code imports, whichever sorts first."""
    found = describe_with(
        sample_settings,
        tmp_path,
        "create type order_state as enum ('open'); create type \"Order State!\" as enum ('x')",
        "-- name: states()^\nselect 'open'::order_state as state;\n",
    )
    (states,) = found
    assert [c.annotation for c in states.columns] == ["OrderState"]


def test_a_table_whose_name_starts_with_a_digit_gets_a_class_name(
    sample_settings: Settings, tmp_path: Path
) -> None:
    found = describe_with(
        sample_settings,
        tmp_path,
        'create table "2fa codes" (id int primary key, code text not null)',
        '-- name: codes()\nselect * from "2fa codes";\n',
    )
    source = render(found, "queries/")
    compile(source, "typed.py", "exec")
    assert "class Table2faCodesRow:" in source


def test_an_enum_never_takes_the_name_of_a_generated_class(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """`notes_row` would be NotesRow, the row class of table notes (mypy: no-redef)."""
    found = describe_with(
        sample_settings,
        tmp_path,
        "create type notes_row as enum ('a', 'b'); create type m as enum ('x');"
        " create type page as enum ('y')",
        "-- name: all_notes()\nselect * from notes;\n\n"
        "-- name: kinds()^\nselect 'a'::notes_row as kind, 'x'::m as m, 'y'::page as page;\n",
    )
    source = render(found, "queries/")
    compile(source, "typed.py", "exec")
    assert "class NotesRow:" in source
    assert 'NotesRowEnum: TypeAlias = Literal["a", "b"]' in source
    assert 'MEnum: TypeAlias = Literal["x"]' in source
    assert 'PageEnum: TypeAlias = Literal["y"]' in source
    assert "    kind: NotesRowEnum\n" in source


def test_an_update_may_not_set_a_generated_always_column(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """The server refuses `update ... set id = ...` for GENERATED ALWAYS columns: the
    typed `update(pk, id=...)` must not pass mypy. Filters keep them."""
    found = describe_with(
        sample_settings,
        tmp_path,
        "create table gen (id int generated always as identity primary key, n int not null,"
        " twice int generated always as (n * 2) stored,"
        " ref int generated by default as identity)",
        "-- name: all_gen()\nselect * from gen;\n",
    )
    source = render(found, "queries/")
    changes = source[source.index("class GenChanges") :].split("\n\n\n")[0]
    assert [line.split(":")[0].strip() for line in changes.splitlines()[3:]] == ["n", "ref"]
    filters = source[source.index("class GenFilters") :].split("\n\n\n")[0]
    assert "    id: FilterValue[int]\n" in filters
    assert "    twice: NullableFilterValue[int]\n" in filters


def test_tables_of_one_name_in_two_schemas_get_classes_of_their_own(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """`select * from other.notes` is not a row of the search_path's notes: its own
    row class and repository, which reaches that schema."""
    found = describe_with(
        sample_settings,
        tmp_path,
        "create schema other; create table other.notes (id int primary key, score int);"
        " create table other_notes (id int primary key, flag bool)",
        "-- name: mine()\nselect * from notes;\n\n-- name: theirs()\nselect * from other.notes;\n"
        "\n-- name: flags()\nselect * from other_notes;\n",
    )
    source = render(found, "queries/")
    compile(source, "typed.py", "exec")
    assert "def mine(self) -> list[NotesRow]:" in source
    assert "def theirs(self) -> list[OtherNotes2Row]:" in source
    assert "def flags(self) -> list[OtherNotesRow]:" in source  # on the search_path: first
    assert '    table = "notes"\n    schema = "other"\n' in source
    assert "class OtherNotes2Repository(BaseRepository[M]):" in source
    assert "class OtherNotesChanges(TypedDict, total=False):" in source


@pytest.mark.parametrize(
    ("param", "why"),
    [
        ("self", "the instance"),
        ("cast", "typing.cast"),
        ("as_json", "to send JSON"),
        ("batch", "the rows per FETCH of its _stream"),
    ],
)
def test_a_parameter_named_as_what_the_typed_method_uses_is_refused(
    sample_settings: Settings, tmp_path: Path, param: str, why: str
) -> None:
    """`def q(self, *, self: int)` does not compile; a `cast` parameter hides
    typing.cast (and `batch` the `_stream` method's own): named, not generated."""
    (tmp_path / "q.sql").write_text(
        f"-- name: q({param})\nselect email from users where email = :{param};\n"
    )
    with psycopg.connect(sample_settings.conninfo(), autocommit=True) as conn:
        _, problems = describe(conn, Catalog(tmp_path))
    assert problems == [
        f"{tmp_path / 'q.sql'}:1: parameter {param!r} of 'q.q' is a name the typed method"
        f" uses ({why}); rename it"
    ]


@pytest.mark.slow
def test_a_field_named_as_its_type_still_type_checks(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """`date: date` then `until: date` in one class: mypy took the second `date` for
    the field ("is not valid as a type"). Those annotations use an alias."""
    from mypy import api

    queries = tmp_path / "queries"
    queries.mkdir()
    found = describe_with(
        sample_settings,
        queries,
        "create table events (id int primary key, date date not null, until date,"
        " list int[], time time)",
        "-- name: all_events()\nselect * from events;\n\n"
        "-- name: spans()\nselect date, until, time from events;\n\n"
        "-- name: put*!\ninsert into events (id, date, until) values (:id, :date, :until);\n",
    )
    source = render(found, "queries/")
    module = tmp_path / "typed_events.py"
    module.write_text(source)
    out, _, _ = api.run(["--strict", "--no-incremental", "--no-error-summary", str(module)])
    assert [line for line in out.splitlines() if ": error:" in line] == []
    assert "_date: TypeAlias = date\n" in source
    assert "    date: _date\n    until: _date | None\n" in source
    ruff_keeps(source, tmp_path)
