"""Settings: where the database is, how the pool behaves, where the project's files live.

`Settings.from_env()` reads the environment (and the project's `pyproject.toml`) and
validates everything up front, so a typo in a variable fails at start-up with a message
that names the variable, not later inside the pool.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from psycopg import conninfo as _conninfo
from psycopg import errors as _pg

from .errors import ConfigurationError, scrub

__all__ = ["Settings", "mask_url"]

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
ENVIRONMENTS = ("development", "test", "staging", "production")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the toolkit needs to know to connect and find its files.

    Timeouts are in seconds. `database_url` is None when the environment names no
    server; the CLI, the test plugin and the demo then start the embedded one.
    """

    database_url: str | None = None
    env: str = "development"
    pool_min: int = 5
    pool_max: int = 20
    #: How long a caller waits for a free pooled connection before PoolExhausted.
    pool_timeout: float = 30.0
    statement_timeout: float = 30.0
    #: Without one, a server that accepts TCP but never answers hangs a worker forever.
    connect_timeout: float = 5.0
    idle_in_transaction_timeout: float = 60.0
    application_name: str = "persistence"
    #: Statements slower than this are logged (name and duration, never parameters).
    slow_query_ms: float = 500.0
    #: None means: `require` in production, libpq's default (`prefer`) elsewhere.
    sslmode: str | None = None
    project: Path = field(default_factory=Path.cwd)
    queries_dir: Path | None = None
    migrations_dir: Path | None = None
    seeds_dir: Path | None = None
    #: Where `make types` writes the typed query module (None: no typed module).
    types_path: Path | None = None
    #: How long `migrate` waits for another run's migration lock (0: do not wait).
    migration_lock_timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ConfigurationError(
                f"PERSISTENCE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}"
            )
        if not 0 <= self.pool_min <= self.pool_max or self.pool_max < 1:
            raise ConfigurationError(
                f"pool sizes must satisfy 0 <= min <= max and max >= 1,"
                f" got min={self.pool_min} max={self.pool_max}"
            )
        for name in ("pool_timeout", "statement_timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be positive, got {getattr(self, name)}")
        if self.migration_lock_timeout < 0:
            raise ConfigurationError("migration_lock_timeout must be >= 0 (0: do not wait)")
        if self.idle_in_transaction_timeout < 0:
            raise ConfigurationError("idle_in_transaction_timeout must be >= 0 (0 disables it)")
        if self.sslmode is not None and self.sslmode not in SSLMODES:
            raise ConfigurationError(
                f"DB_SSLMODE must be one of {', '.join(SSLMODES)}, not {self.sslmode!r}"
            )
        if self.database_url is not None:
            _parse(self.database_url)  # fail now, naming the variable, not inside the pool

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def effective_sslmode(self) -> str | None:
        if self.sslmode is not None:
            return self.sslmode
        if self.production and "sslmode" not in _parse(self.database_url or ""):
            return "require"
        return None

    @property
    def masked_url(self) -> str:
        """The database URL with the password replaced by ``***``, for every display."""
        return mask_url(self.database_url) if self.database_url else "(embedded server)"

    @property
    def password(self) -> str | None:
        """The password in the URL, if any: used only to scrub it out of messages."""
        return _parse(self.database_url or "").get("password") or None

    def with_url(self, url: str) -> Settings:
        return dataclasses.replace(self, database_url=url)

    def conninfo(self) -> str:
        """The libpq connection string, with the toolkit's session defaults added.

        Raises:
            ConfigurationError: if `database_url` is None (start the embedded server first).
        """
        if self.database_url is None:
            raise ConfigurationError(
                "no database configured: set DATABASE_URL (or DB_HOST/DB_NAME/...),"
                " or start the embedded server with `persistence db start`"
            )
        params = _parse(self.database_url)
        gucs = [
            f"-c statement_timeout={int(self.statement_timeout * 1000)}",
            "-c idle_in_transaction_session_timeout="
            f"{int(self.idle_in_transaction_timeout * 1000)}",
        ]
        # The URL's own options come last so that an explicit -c in DATABASE_URL wins.
        options = " ".join([*gucs, params.get("options", "")]).strip()
        extra: dict[str, Any] = {
            # libpq takes whole seconds; 1 would be rounded up to 2 by libpq anyway.
            "connect_timeout": params.get("connect_timeout") or max(2, round(self.connect_timeout)),
            "application_name": params.get("application_name") or self.application_name,
            "options": options,
            # Detect a dead peer (pulled cable, crashed host) instead of waiting forever.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        if self.effective_sslmode is not None:
            extra["sslmode"] = self.effective_sslmode
        return _conninfo.make_conninfo(self.database_url, **extra)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, project: Path | str | None = None
    ) -> Settings:
        """Read settings from the environment and `[tool.persistence]` in pyproject.toml.

        Raises:
            ConfigurationError: naming the variable that is malformed or out of range.
        """
        env = os.environ if environ is None else environ
        root = Path(project) if project is not None else Path(env.get("PERSISTENCE_PROJECT", "."))
        root = root.resolve()
        dirs = _project_dirs(root)
        return cls(
            database_url=_url_from_env(env),
            env=env.get("PERSISTENCE_ENV", "development").strip().lower(),
            pool_min=_number(env, "DB_POOL_MIN", int, 5),
            pool_max=_number(env, "DB_POOL_MAX", int, 20),
            pool_timeout=_number(env, "DB_POOL_TIMEOUT", float, 30.0),
            statement_timeout=_number(env, "DB_STATEMENT_TIMEOUT", float, 30.0),
            connect_timeout=_number(env, "DB_CONNECT_TIMEOUT", float, 5.0),
            idle_in_transaction_timeout=_number(env, "DB_IDLE_IN_TRANSACTION_TIMEOUT", float, 60.0),
            application_name=env.get("DB_APPLICATION_NAME", "persistence"),
            slow_query_ms=_number(env, "DB_SLOW_QUERY_MS", float, 500.0),
            sslmode=env.get("DB_SSLMODE") or None,
            project=root,
            queries_dir=dirs["queries"],
            migrations_dir=dirs["migrations"],
            seeds_dir=dirs["seeds"],
            types_path=dirs.get("types"),
            migration_lock_timeout=_number(env, "DB_MIGRATION_LOCK_TIMEOUT", float, 600.0),
        )


def mask_url(url: str) -> str:
    """Render a connection URL or key=value string as a URL with the password hidden.

    >>> mask_url("postgresql://app:s3cret@db.example.com:5432/shop?sslmode=require")
    'postgresql://app:***@db.example.com:5432/shop?sslmode=require'
    """
    try:
        params = _parse(url)
    except ConfigurationError:
        return "(malformed database URL)"
    user = quote(params.get("user", ""), safe="")
    auth = f"{user}:***@" if params.get("password") else (f"{user}@" if user else "")
    host = params.get("host", "")
    host = f"[{host}]" if ":" in host else host
    port = f":{params['port']}" if params.get("port") else ""
    query = "&".join(
        f"{k}={quote(v, safe='')}"
        for k, v in params.items()
        if k not in ("user", "password", "host", "port", "dbname")
    )
    return f"postgresql://{auth}{host}{port}/{params.get('dbname', '')}" + (
        f"?{query}" if query else ""
    )


def _parse(url: str) -> dict[str, str]:
    """Parse with libpq's own parser; scrub the password from its complaint."""
    try:
        params: dict[str, str] = dict(_conninfo.conninfo_to_dict(url))  # type: ignore[arg-type]
    except (_pg.ProgrammingError, ValueError) as ex:
        secrets = tuple(_guess_passwords(url))
        reason = scrub(str(ex).strip(), secrets)
        raise ConfigurationError(f"malformed DATABASE_URL: {reason}") from None
    # libpq checks the port only when connecting; check it now (a list for multi-host).
    port = params.get("port", "")
    if port and not all(p.strip().isdigit() for p in port.split(",")):
        raise ConfigurationError(f"malformed DATABASE_URL: port must be a number, not {port!r}")
    return params


def _guess_passwords(url: str) -> list[str]:
    # The URL could not be parsed, so find what looks like a password by hand, only to
    # scrub it from libpq's message (which quotes the text it choked on).
    found = []
    if "://" in url:
        netloc = url.split("://", 1)[1].split("/", 1)[0]
        userinfo = netloc.rpartition("@")[0]
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    for part in url.split():
        if part.startswith("password="):
            found.append(part[len("password=") :].strip("'"))
    return found


def _url_from_env(env: Mapping[str, str]) -> str | None:
    url = env.get("DATABASE_URL", "").strip()
    if url:
        return url
    if not env.get("DB_HOST") and not env.get("DB_NAME"):
        return None
    parts = {
        "host": env.get("DB_HOST", "localhost"),
        "port": env.get("DB_PORT", "5432"),
        "dbname": env.get("DB_NAME", "postgres"),
        "user": env.get("DB_USER", ""),
        "password": env.get("DB_PASSWORD", ""),
    }
    if not parts["port"].isdigit():
        raise ConfigurationError(f"DB_PORT must be a port number, not {parts['port']!r}")
    return _conninfo.make_conninfo("", **{k: v for k, v in parts.items() if v})


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float], default: Any) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a {kind.__name__}, not {raw!r}") from None


def _project_dirs(root: Path) -> dict[str, Path]:
    """Folders from `[tool.persistence]` in the project's pyproject.toml, else defaults."""
    table: dict[str, Any] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("persistence", {})
        except tomllib.TOMLDecodeError as ex:
            raise ConfigurationError(f"{pyproject}: {ex}") from None
    dirs = {name: root / str(table.get(name, name)) for name in ("queries", "migrations", "seeds")}
    if "types" in table:
        dirs["types"] = root / str(table["types"])
    return dirs
