"""Primitives that differ between the twins, paired so the generator can rename them.

`asleep` in the async source becomes `sleep` in the generated sync module, `ALock`
becomes `Lock`, `aowner` becomes `owner`, `AEvent` becomes `Event`, `aspawn`/`ajoin`
become `spawn`/`join` (a task in the async twin, a daemon thread in the sync one).
"""

from __future__ import annotations

import asyncio
import threading
from asyncio import Event as AEvent
from asyncio import Lock as ALock
from asyncio import sleep as asleep
from collections.abc import Callable, Coroutine
from threading import Event, Lock
from time import sleep
from typing import Any, TypeAlias

# A background writer: a task in the async twin, a thread in the sync one.
ABackground: TypeAlias = "asyncio.Task[None]"
Background: TypeAlias = threading.Thread

__all__ = [
    "ABackground",
    "AEvent",
    "ALock",
    "Background",
    "Event",
    "Lock",
    "aevent_wait",
    "ajoin",
    "aowner",
    "asleep",
    "aspawn",
    "event_wait",
    "join",
    "owner",
    "sleep",
    "spawn",
]


def aowner() -> object:
    """Who runs this code, for the async twin: the current task."""
    return asyncio.current_task()


def owner() -> object:
    """Who runs this code, for the sync twin: the current thread."""
    return threading.current_thread()


async def aevent_wait(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


def event_wait(event: threading.Event, timeout: float | None) -> bool:
    """Wait for `event` at most `timeout` seconds; True if it was set."""
    return event.wait(timeout)


def aspawn(target: Callable[[], Coroutine[Any, Any, None]], name: str) -> asyncio.Task[None]:
    """Run `target` in the background: a task of the running loop."""
    return asyncio.create_task(target(), name=name)


def spawn(target: Callable[[], None], name: str) -> threading.Thread:
    """Run `target` in the background: a daemon thread."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


async def ajoin(task: asyncio.Task[None], timeout: float | None) -> bool:
    """Wait for a background task to end, at most `timeout` seconds; True if it did.
    A task still running then is cancelled (a thread, in the sync twin, cannot be)."""
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait([task])
    return bool(done)


def join(thread: threading.Thread, timeout: float | None) -> bool:
    """Wait for a background thread to end, at most `timeout` seconds; True if it did."""
    thread.join(timeout)
    return not thread.is_alive()
