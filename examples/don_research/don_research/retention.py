"""Apply the retention policy and report the rows removed:
`python -m don_research.retention` (DATABASE_URL, or the embedded server)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from persistence import AsyncDatabase, PersistenceError, Settings
from persistence.embedded import resolve

from .service import Research

PROJECT = Path(__file__).resolve().parent.parent


async def main() -> None:
    async with AsyncDatabase(resolve(Settings.from_env(project=PROJECT))) as db:
        for table, removed in (await Research(db).retention()).items():
            print(f"{table:<26} {removed:>8} rows removed")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except PersistenceError as ex:
        print(f"error: {ex}", file=sys.stderr)
        sys.exit(1)
