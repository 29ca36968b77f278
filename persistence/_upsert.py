"""What `upsert_many` returns (its statements are in `_sqlbuild`)."""

from __future__ import annotations

from typing import NamedTuple


class Upserted(NamedTuple):
    """What `upsert_many` did: rows inserted, and rows that existed and were updated."""

    inserted: int
    updated: int
