"""persistence: a small, fast, typed toolkit for PostgreSQL with hand-written SQL."""

from ._base import Health
from ._batch import BatchReport
from ._types import Page
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

Health.__module__ = "persistence"

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
    "__version__",
]
