"""Test helpers that differ between the twins, renamed by tools/async_to_sync.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


async def agather(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run the calls concurrently (as tasks) and return their results in order."""
    return list(await asyncio.gather(*(call() for call in calls)))


def gather(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls concurrently (in threads) and return their results in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


async def ablocking(call: Callable[[], Any]) -> Any:
    """Run a blocking call (stop a server) without stopping the event loop's tasks."""
    return await asyncio.to_thread(call)


def blocking(call: Callable[[], Any]) -> Any:
    """Run a blocking call: the other threads go on meanwhile."""
    return call()
