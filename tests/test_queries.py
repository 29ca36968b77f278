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
            'invalid query name and operation spec on "b(id)%"',
        ),
        ("-- name: 1st()\nselect 1;\n", 1, "invalid query name"),
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
            3,
            "unterminated quoted string",
        ),
        ("-- name: h\nselect 1;\n", 1, "missing mandatory parameter list"),
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
