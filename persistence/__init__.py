"""persistence: a small, fast, typed toolkit for PostgreSQL with hand-written SQL."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import Health
    from ._batch import BatchReport
    from ._types import Page
    from ._upsert import Upserted
    from .batcher import Batcher
    from .batcher_async import AsyncBatcher
    from .config import Settings
    from .database import Database
    from .database_async import AsyncDatabase
    from .errors import (
        BatcherFull,
        CheckViolation,
        ConfigurationError,
        ConnectionFailed,
        ConstraintViolation,
        DatabaseError,
        DeadlockDetected,
        ForeignKeyViolation,
        MigrationError,
        NotFound,
        NotNullViolation,
        OutcomeUnknown,
        PersistenceError,
        PoolExhausted,
        QueryError,
        QueryLoadError,
        QueryTimeout,
        SerializationFailure,
        TransientError,
        UniqueViolation,
    )
    from .fields import DEFAULT
    from .migrations import Migrator
    from .repository import BaseRepository
    from .repository_async import AsyncBaseRepository

__version__ = "0.1.0"

# Each name is imported on first use (PEP 562), so that `persistence --help` and the
# commands that need no pool or migrations start without loading them.
_WHERE = {
    "Health": "._base",
    "BatchReport": "._batch",
    "Page": "._types",
    "Upserted": "._upsert",
    "Batcher": ".batcher",
    "AsyncBatcher": ".batcher_async",
    "Settings": ".config",
    "Database": ".database",
    "AsyncDatabase": ".database_async",
    "BatcherFull": ".errors",
    "CheckViolation": ".errors",
    "ConfigurationError": ".errors",
    "ConnectionFailed": ".errors",
    "ConstraintViolation": ".errors",
    "DatabaseError": ".errors",
    "DeadlockDetected": ".errors",
    "ForeignKeyViolation": ".errors",
    "MigrationError": ".errors",
    "NotFound": ".errors",
    "NotNullViolation": ".errors",
    "OutcomeUnknown": ".errors",
    "PersistenceError": ".errors",
    "PoolExhausted": ".errors",
    "QueryError": ".errors",
    "QueryLoadError": ".errors",
    "QueryTimeout": ".errors",
    "SerializationFailure": ".errors",
    "TransientError": ".errors",
    "UniqueViolation": ".errors",
    "DEFAULT": ".fields",
    "Migrator": ".migrations",
    "BaseRepository": ".repository",
    "AsyncBaseRepository": ".repository_async",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'persistence' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT",
    "AsyncBaseRepository",
    "AsyncBatcher",
    "AsyncDatabase",
    "BaseRepository",
    "BatchReport",
    "Batcher",
    "BatcherFull",
    "CheckViolation",
    "ConfigurationError",
    "ConnectionFailed",
    "ConstraintViolation",
    "Database",
    "DatabaseError",
    "DeadlockDetected",
    "ForeignKeyViolation",
    "Health",
    "MigrationError",
    "Migrator",
    "NotFound",
    "NotNullViolation",
    "OutcomeUnknown",
    "Page",
    "PersistenceError",
    "PoolExhausted",
    "QueryError",
    "QueryLoadError",
    "QueryTimeout",
    "SerializationFailure",
    "Settings",
    "TransientError",
    "UniqueViolation",
    "Upserted",
    "__version__",
]
