"""What `Database` and `AsyncDatabase` share that does no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from .config import Settings
from .errors import DISCONNECT_STATES, ConfigurationError, PersistenceError, translate


def is_disconnect(ex: BaseException, conn: psycopg.BaseConnection[Any] | None) -> bool:
    """Whether `ex` says the connection died (so a read may safely run again)."""
    if not isinstance(ex, psycopg.OperationalError):
        return False
    if conn is not None and conn.broken:
        return True
    state = ex.sqlstate or ""
    return state.startswith("08") or state in DISCONNECT_STATES


@dataclass(frozen=True, slots=True)
class Health:
    """A health report: safe to log or serve, it never contains the password."""

    ok: bool
    url: str
    server_version: str | None
    latency_ms: float | None
    pool_min: int
    pool_max: int
    pool_size: int
    pool_idle: int
    requests_waiting: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        status = "ok" if self.ok else f"FAILING: {self.error}"
        latency = f"{self.latency_ms:.2f} ms" if self.latency_ms is not None else "-"
        return "\n".join(
            [
                f"status          {status}",
                f"database        {self.url}",
                f"server version  {self.server_version or '-'}",
                f"round trip      {latency}",
                f"pool            {self.pool_size} open ({self.pool_idle} idle),"
                f" {self.requests_waiting} waiting, limits {self.pool_min}-{self.pool_max}",
            ]
        )


class DatabaseBase:
    """Settings, secrets and error translation, shared by both twins."""

    def __init__(self, settings: Settings | str | None = None):
        if settings is None:
            settings = Settings.from_env()
        elif isinstance(settings, str):
            settings = Settings(database_url=settings)
        if settings.database_url is None:
            raise ConfigurationError(
                "no database configured: set DATABASE_URL, or use"
                " persistence.embedded to start the embedded server"
            )
        self.settings = settings
        self._secrets = tuple(s for s in (settings.password,) if s)
        self._closing = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.settings.masked_url}>"

    def _translate(self, ex: BaseException, query: str | None = None) -> PersistenceError:
        return translate(ex, query=query, secrets=self._secrets)

    def _check_open(self) -> None:
        if self._closing:
            raise PersistenceError(f"{self!r} is closed; open it again before use")

    def _health(
        self, stats: dict[str, int], version: str | None, latency: float | None, error: str | None
    ) -> Health:
        return Health(
            ok=error is None,
            url=self.settings.masked_url,
            server_version=version,
            latency_ms=None if latency is None else round(latency * 1000, 3),
            pool_min=self.settings.pool_min,
            pool_max=self.settings.pool_max,
            pool_size=stats.get("pool_size", 0),
            pool_idle=stats.get("pool_available", 0),
            requests_waiting=stats.get("requests_waiting", 0),
            error=error,
        )
