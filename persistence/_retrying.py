# Generated from persistence/_retrying_async.py by tools/async_to_sync.py: DO NOT EDIT.
"""The attempts of `Database.retrying()`: a transaction block run again after a
serialization failure or a deadlock, with jittered back-off.

Generated from persistence/_retrying_async.py: edit that file.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from psycopg import Connection

from ._acompat import sleep
from .errors import TransientError

__all__ = ["TransactionAttempts"]


class TransactionAttempts:
    """The attempts of `Database.retrying()`: iterate, and enter each one, a
    transaction that swallows a transient failure while retries remain."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection[Any]]],
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

    def __iter__(self) -> TransactionAttempts:
        return self

    def __next__(self) -> TransactionAttempts:
        if self._done:
            raise StopIteration
        if self.attempt:
            ceiling = min(self.max_backoff, self.backoff * 2 ** (self.attempt - 1))
            sleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not secrets)
        self.attempt += 1
        self._tx = self._begin()
        return self

    def __enter__(self) -> Connection[Any]:
        return self._tx.__enter__()

    def __exit__(self, *exc_info: Any) -> bool:
        retry = self.attempt <= self.retries
        error: BaseException | None = exc_info[1]
        try:
            # Re-raises what the block raised (translated), or the commit's failure; when
            # the block's own error passes through unchanged, it returns instead.
            self._tx.__exit__(*exc_info)
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
