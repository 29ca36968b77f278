"""Primitives that differ between the twins, paired so the generator can rename them.

`asleep` in the async source becomes `sleep` in the generated sync module.
"""

from __future__ import annotations

from asyncio import sleep as asleep
from time import sleep

__all__ = ["asleep", "sleep"]
