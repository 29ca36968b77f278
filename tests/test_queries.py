"""Loading named queries: every malformed file is named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from persistence import QueryLoadError
from persistence.queries import Catalog


def load(tmp_path: Path, text: str, name: str = "things.sql") -> Catalog:
    (tmp_path / name).write_text(text)
    return Catalog(tmp_path)


def test_namespaces_follow_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "audit.sql").write_text("-- name: recent()\nselect 1 as n;\n")
    catalog = load(tmp_path, "-- name: all_things()\nselect 1 as n;\n")
    assert sorted(q.name for q in catalog) == ["admin.audit.recent", "things.all_things"]
    assert catalog["admin.audit.recent"].where == f"{tmp_path / 'admin' / 'audit.sql'}:1"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "-- name: a()\nselect 1;\n\n-- name: a()$\nselect 2;\n",
            4,
            "query 'a' is defined twice; first at {path}:1",
        ),
        (
            "\n\n-- name: b(id)%\nselect :id;\n",
            3,
            "'b(id)%' is not a name line: write `-- name: b(id)`",
        ),
        (
            "-- name: 1st()\nselect 1;\n",
            1,
            "'1st()' is not a name line: write `-- name: 1st()`, a Python name",
        ),
        (
            "-- name: c(id)^\nselect * from t where id = :idd;\n",
            1,
            "query c uses :idd, which is not in its parameter list",
        ),
        (
            "-- name: d(id, extra)^\nselect * from t where id = :id;\n",
            1,
            "query d declares 'extra', which its SQL does not use",
        ),
        ("-- name: e()\n", 1, "empty query for: e"),
        (
            "-- name: f()\nselect 1;\n-- name: g(x)\nselect 'unterminated where x = :x;\n",
            4,
            "unterminated quoted string",
        ),
        (
            "-- name: h^\nselect 1;\n",
            1,
            "query 'h^' has no parameter list: write `-- name: h(...)^`",
        ),
        (  # a name line ported from sqlc as it was
            "-- name: GetAuthor :one\nselect 1;\n",
            1,
            "'GetAuthor :one' is not a name line: write `-- name: get_author(...)^`",
        ),
        (  # sqlc's @name is abs(name) to PostgreSQL: true for every row of `id = @id`
            "-- name: get_author()^\nselect * from authors where id = @id;\n",
            1,
            "query get_author has @id, sqlc's parameter, which PostgreSQL reads as abs(id):"
            " write :id",
        ),
    ],
)
def test_malformed_files_name_the_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "things.sql"
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message.format(path=path) in str(info.value)


def test_lines_stay_right_after_block_comments(tmp_path: Path) -> None:
    text = "/* a\nlong\ncomment */\n-- name: a()\nselect 1;\n\n-- name: b(x)\nselect :y;\n"
    with pytest.raises(QueryLoadError, match=r"things.sql:7: query b uses :y"):
        load(tmp_path, text)


def test_placeholders_are_found_by_the_lexer(tmp_path: Path) -> None:
    text = (
        "-- name: tricky(id, lim)\n"
        "select a[1:2], x::int, $$ :nope $$, ':no', e'it''s :no' /* :no */\n"
        "  from t where id = :id and name like 'a%' -- :no\n"
        "  limit :lim;\n"
    )
    query = load(tmp_path, text)["things.tricky"]
    assert query.params == ("id", "lim")
    # aiosql drops /* */ comments; the lexer leaves everything else as written.
    assert query.sql == (
        "select a[1:2], x::int, $$ :nope $$, ':no', e'it''s :no'\n"
        "  from t where id = %(id)s and name like 'a%%' -- :no\n"
        "  limit %(lim)s;"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("select 1;\n-- name: a()\nselect 2;\n", 1),
        ("-- queries about things\n\nupdate t set x = 1;\n-- name: a()\nselect 2;\n", 3),
        ("/* header */ delete from t;\n-- name: a()\nselect 2;\n", 1),
        ("-- no name line at all\nselect 1;\n", 2),
    ],
)
def test_sql_above_the_first_name_line_is_refused(tmp_path: Path, text: str, line: int) -> None:
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'things.sql'}:{line}: SQL before the first")


def test_comments_above_the_first_name_line_are_fine(tmp_path: Path) -> None:
    text = "-- Things.\n/* more\n   words; with a semicolon */\n\n-- name: a()\nselect 1;\n"
    assert [q.name for q in load(tmp_path, text)] == ["things.a"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("-- name: a()\nselect 1;\n\n-- the doc of b, whose name line is missing\nselect 2;\n", 5),
        ("-- name: a(x)!\nupdate t set y = :x;\ndelete from t;\n", 3),
        ("-- name: a()\nselect 1; select 2;\n", 2),
    ],
)
def test_a_statement_glued_onto_the_query_above_is_refused(
    tmp_path: Path, text: str, line: int
) -> None:
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'things.sql'}:{line}: a second statement in query 'a'")
    assert "(named at line 1)" in message


def test_one_statement_with_semicolons_inside_is_one_statement(tmp_path: Path) -> None:
    text = (
        "-- name: a()\nselect ';', $$ ; $$ /* ; */;\n\n"
        "-- name: f#\ncreate function f() returns int language sql\n"
        "begin atomic; select case when true then 1 end; end;\nselect f();\n\n"
        "-- name: g()\ncreate function g() returns int language sql\n"
        "begin atomic; select case when true then 1 end; end;\n"
    )
    assert [q.name for q in load(tmp_path, text)] == ["things.a", "things.f", "things.g"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("-- name: a()\n-- doc\nselect 1,\n  'unterminated\n  , 2;\n", 4, "unterminated quoted"),
        ("-- name: a()\nselect 1\n\n/* never closed\n", 4, "unterminated /* comment"),
        ("-- name: a()\nselect 1;\n-- name: b()\nselect $q$ x\n;\n", 4, "unterminated dollar"),
        ("/* open\n-- name: a()\nselect 1;\n", 1, "unterminated /* comment"),
    ],
)
def test_a_lexer_error_points_at_the_line_of_the_fault(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'things.sql'}:{line}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "-- name: a\x1b[2J()\nselect 1;\n",
        "-- name: a()\nselect '\x1b]0;owned\x07\n",
        "-- name: a()\nselect 1;\n-- name: a\u202e()\nselect 2;\n-- name: a\u202e()\nselect 3;\n",
    ],
)
def test_control_characters_are_escaped_in_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert message.isprintable(), repr(message)
    assert "\\x1b" in message or "\\u202e" in message, message


def test_a_control_character_in_the_file_name_is_escaped(tmp_path: Path) -> None:
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, "select 1;\n", name="th\nings.sql")
    message = str(info.value)
    assert message.isprintable()
    # Refused for the name itself (not a Python name), the name shown escaped.
    assert "th\\nings.sql: file name 'th\\nings' is not a Python name" in message


def test_a_nul_character_is_refused_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, "-- name: a()\nselect 1;\n-- name: b()\nselect 'x\x00y';\n")
    message = str(info.value)
    assert message == f"{tmp_path / 'things.sql'}:4: a NUL character (\\x00); a query file is text"


@pytest.mark.parametrize(
    ("relative", "text", "message"),
    [
        ("my-file.sql", "", "my-file.sql: file name 'my-file' is not a Python name"),
        ("import.sql", "", "import.sql: file name 'import' is a Python keyword"),
        ("2fa/codes.sql", "", "2fa: folder name '2fa' is not a Python name"),
        ("a/class/b.sql", "", "a/class: folder name 'class' is a Python keyword"),
        ("ok.sql", "\n-- name: class()\nselect 1;\n", "ok.sql:2: query name 'class' is a Python"),
        ("ok.sql", "-- name: __init__()\nselect 1;\n", "ok.sql:1: query name '__init__' starts"),
        ("__x.sql", "", "__x.sql: file name '__x' starts with __"),
    ],
)
def test_a_name_db_queries_cannot_reach_is_refused(
    tmp_path: Path, relative: str, text: str, message: str
) -> None:
    """`db.queries.<file>.<query>` and the typed module need Python names: refused at
    load, naming the file (and line) and what to rename."""
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text or "-- name: fine()\nselect 1;\n")
    with pytest.raises(QueryLoadError) as info:
        Catalog(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}/{message}")
    assert "rename it" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_hyphen_in_a_query_name_is_an_underscore_as_aiosql_reads_it(tmp_path: Path) -> None:
    assert [q.name for q in load(tmp_path, "-- name: my-query()\nselect 1;\n")] == [
        "things.my_query"
    ]


def test_a_query_named_as_a_file_beside_it_is_refused(tmp_path: Path) -> None:
    """Query `b` of a.sql and a/b.sql: `db.queries.a.b` (and the typed module's
    `Queries(db).a.b`) would be both."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.sql").write_text("-- name: c()\nselect 1;\n")
    with pytest.raises(QueryLoadError) as info:
        load(tmp_path, "-- name: x()\nselect 1;\n\n-- name: b()\nselect 2;\n", name="a.sql")
    assert str(info.value) == (
        f"{tmp_path / 'a.sql'}:4: query 'b' has the name of {tmp_path / 'a' / 'b'}(.sql)"
        " beside it, so `db.queries.a.b` would be both; rename one of them"
    )
