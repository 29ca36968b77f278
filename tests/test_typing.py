"""The generated query module is typed: mypy accepts right calls and rejects wrong ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

CASES = Path(__file__).parent / "typing_cases"


def mypy(path: Path) -> list[str]:
    out, _err, _ = api.run(["--strict", "--no-incremental", "--no-error-summary", str(path)])
    return [line for line in out.splitlines() if ": error:" in line]


@pytest.mark.slow
def test_correct_calls_pass() -> None:
    assert mypy(CASES / "good.py") == []


@pytest.mark.slow
def test_wrong_calls_are_rejected() -> None:
    errors = mypy(CASES / "bad.py")
    by_line: dict[int, str] = {}
    for e in errors:
        line = int(e.split(":")[1])
        by_line[line] = by_line.get(line, "") + e
    source = (CASES / "bad.py").read_text().splitlines()
    expected = {n for n, line in enumerate(source, start=1) if "  # " in line}
    assert set(by_line) == expected, "\n".join(errors)
    at = {text.split("  # ")[0].strip(): n for n, text in enumerate(source, start=1)}
    assert 'Unexpected keyword argument "idd"' in by_line[at["q.users.get_user(idd=UUID(int=1))"]]
    assert 'expected "UUID"' in by_line[at['q.users.get_user(id="not-a-uuid")']]
    assert "'enterprise'" in by_line[at['q.users.list_users(plan="enterprise")']]
    assert 'has no attribute "emial"' in by_line[at["print(user.emial)"]]
    assert "Too many positional arguments" in by_line[at['q.users.rename_user(UUID(int=1), "x")']]
    assert 'Item "None"' in by_line[at["q.users.get_user(id=UUID(int=1)).email"]]
    streamed = by_line[at['[row.emial for row in q.users.list_users_stream(plan="pro")]']]
    assert '"ListUsersRow" has no attribute "emial"' in streamed
    # Repositories generated for a table: filters, update keys and the key are checked.
    assert 'Unexpected keyword argument "emial"' in by_line[at['users.find(emial="a@b.c")']]
    assert (
        'Unexpected keyword argument "nmae"' in by_line[at['users.update(UUID(int=1), nmae="x")']]
    )
    assert 'expected "UUID"' in by_line[at['users.get("not-a-uuid")']]
    assert "enterprise" in by_line[at['users.update(UUID(int=1), plan="enterprise")']]
    assert 'incompatible type "int"' in by_line[at["users.count(email=1)"]]
    assert '"None"' in by_line[at['users.find(email=["a@b.c", None])']]
    assert 'Unexpected keyword argument "emial"' in by_line[at['await users.find(emial="a@b.c")']]
    # stream, order_by, conflict and update name columns mypy checks too.
    assert 'Unexpected keyword argument "emial"' in by_line[at['list(users.stream(emial="a@b.c"))']]
    for call, wrong in (
        ('users.find(order_by="emial")', "emial"),
        ('users.find(order_by=["email", "-craeted_at"])', "-craeted_at"),
        ('users.page(limit=10, order_by="-craeted_at")', "-craeted_at"),
        ('users.upsert(User(), conflict=["emial"])', "emial"),
        ('users.upsert_many([User()], conflict=["email"], update=["nmae"])', "nmae"),
        ('await users.upsert(User(), conflict=["emial"])', "emial"),
    ):
        assert f"incompatible type \"Literal['{wrong}']\"" in by_line[at[call]], call
    streamed_async = by_line[at['[u async for u in users.stream(emial="a@b.c")]']]
    assert 'Unexpected keyword argument "emial"' in streamed_async
