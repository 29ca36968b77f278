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
    assert 'Unexpected keyword argument "idd"' in by_line[13]
    assert 'incompatible type "str"; expected "UUID"' in by_line[14]
    assert "'enterprise'" in by_line[15]
    assert 'has no attribute "emial"' in by_line[18]
    assert "Too many positional arguments" in by_line[19]
    assert 'Item "None"' in by_line[20]
