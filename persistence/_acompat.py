"""Primitives that differ between the twins, paired so the generator can rename them.

`asleep` in the async source becomes `sleep` in the generated sync module, `ALock`
becomes `Lock`, `aowner` becomes `owner`.
"""

from __future__ import annotations

import asyncio
import threading
from asyncio import Lock as ALock
from asyncio import sleep as asleep
from threading import Lock
from time import sleep

__all__ = ["ALock", "Lock", "aowner", "asleep", "owner", "sleep"]


def aowner() -> object:
    """Who runs this code, for the async twin: the current task."""
    return asyncio.current_task()


def owner() -> object:
    """Who runs this code, for the sync twin: the current thread."""
    return threading.current_thread()
