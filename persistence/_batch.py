"""What both batcher twins share and that does no I/O: the report, the writer types, and
which failures are worth retrying later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar

from .errors import ConnectionFailed, PoolExhausted, QueryTimeout, TransientError

T = TypeVar("T")

AsyncBatchWriter: TypeAlias = Callable[[list[T]], Awaitable[object]]
BatchWriter: TypeAlias = Callable[[list[T]], object]
ErrorCallback: TypeAlias = Callable[[T, Exception], object]


@dataclass(frozen=True)
class BatchReport(Generic[T]):
    """What a batcher did, returned by `close()`.

    `unwritten` holds the rows it could not write before the close deadline (the
    server stayed away; none of them is stored); `rejected` counts rows the database
    refused (each passed to `on_error`); `dropped` counts rows refused by
    `put_nowait()` while the buffer was full; `unknown` counts rows whose write may or
    may not have committed (each passed to `on_unknown`): a lost commit reply the
    batcher could not resolve, or a write cut by the close deadline.
    """

    written: int
    rejected: int
    dropped: int
    unwritten: list[T] = field(default_factory=list)
    unknown: int = 0

    @property
    def complete(self) -> bool:
        """True when every row offered was written."""
        return not self.unwritten and not self.rejected and not self.dropped and not self.unknown


def transient(ex: Exception) -> bool:
    """Whether writing the same rows again later may succeed: the server or the pool
    was unavailable, or the transaction lost a conflict. Anything else is the rows'
    fault (a constraint, a type) and retrying them as they are cannot help."""
    return isinstance(ex, ConnectionFailed | PoolExhausted | TransientError | QueryTimeout)
