"""`DEFAULT`: the value of a dataclass field the database fills in on insert.

Declared as a field's default (``id: UUID = DEFAULT``), it makes the repositories leave
the column out of the INSERT, so the column's default, serial or trigger applies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT"]


class _Default:
    """The value of a field the database should fill in (a serial id, `now()`, ...)."""

    def __repr__(self) -> str:
        return "DEFAULT"

    def __reduce__(self) -> str:
        # Pickled by name: unpickling gives back this very object, so `is DEFAULT` holds.
        return "DEFAULT"


#: Give a dataclass field this default to let the database fill it on insert:
#: ``id: UUID = DEFAULT``. Typed as Any so that it fits any annotation.
DEFAULT: Any = _Default()
