"""The attempts of `AsyncDatabase.retrying()`: a transaction block run again after a
serialization failure or a deadlock, with jittered back-off.

The sync twin is generated from this file.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from psycopg import AsyncConnection

from ._acompat import asleep
from .errors import TransientError

__all__ = ["AsyncTransactionAttempts"]


class AsyncTransactionAttempts:
    """The attempts of `AsyncDatabase.retrying()`: iterate, and enter each one, a
    transaction that swallows a transient failure while retries remain."""

    def __init__(
        self,
        begin: Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]],
        retries: int,
        backoff: float,
        max_backoff: float,
    ):
        self._begin = begin
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        #: 1 for the first attempt; how many ran once the loop is over.
        self.attempt = 0
        #: The transient errors that caused a retry, oldest first.
        self.errors: list[TransientError] = []
        self._done = False

    def __aiter__(self) -> AsyncTransactionAttempts:
        return self

    async def __anext__(self) -> AsyncTransactionAttempts:
        if self._done:
            raise StopAsyncIteration
        if self.attempt:
            ceiling = min(self.max_backoff, self.backoff * 2 ** (self.attempt - 1))
            await asleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not secrets)
        self.attempt += 1
        self._tx = self._begin()
        return self

    async def __aenter__(self) -> AsyncConnection[Any]:
        return await self._tx.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool:
        retry = self.attempt <= self.retries
        error: BaseException | None = exc_info[1]
        try:
            # Re-raises what the block raised (translated), or the commit's failure; when
            # the block's own error passes through unchanged, it returns instead.
            await self._tx.__aexit__(*exc_info)
        except BaseException as raised:
            error = raised
            if not (isinstance(raised, TransientError) and retry):
                self._done = True
                raise
        if isinstance(error, TransientError) and retry:
            self.errors.append(error)
            return True  # rolled back: the loop runs the block again
        self._done = True
        return False
