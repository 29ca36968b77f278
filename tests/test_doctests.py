"""The `>>>` examples in the toolkit's docstrings run, so they cannot go stale."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import persistence

# The toolkit's own modules; `radar` is an application of it, `__main__` runs the CLI.
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(persistence.__path__, "persistence.")
    if m.name != "persistence.__main__"
)


def test_every_module_is_looked_at() -> None:
    assert "persistence._sqlbuild" in MODULES
    assert "persistence.repository_async" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), report=True)
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed (output above)"
