"""Settings: where the database is, how the pool behaves, where the project's files live.

`Settings.from_env()` reads the environment (and the project's `pyproject.toml`) and
validates everything up front, so a typo in a variable fails at start-up with a message
that names the variable, not later inside the pool.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import conninfo as _conninfo

from ._project import find_project, has_persistence_table, project_dirs
from ._urls import mask_url, parse_url, secrets_of, server_of, split_urls, url_from_env
from .errors import ConfigurationError, PersistenceError

__all__ = ["Settings", "find_project", "mask_url", "secrets_of", "split_urls"]

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: The one message for settings that name no server, wherever it is found out.
NO_DATABASE = (
    "no database configured: set DATABASE_URL (or DB_HOST/DB_NAME/...), or start the"
    " embedded server with persistence.embedded.resolve(settings) (the CLI does this itself)"
)

JSON_LIBRARIES = ("json", "orjson")
#: DB_POOLER values: the pooler DATABASE_URL goes through ("transaction": PgBouncer, or
#: any pooler that hands a server connection to another client after each transaction).
POOLERS = ("transaction",)
ENVIRONMENTS = ("development", "test", "staging", "production")


@dataclass(frozen=True, slots=True, repr=False)
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
    #: Seconds a pooled connection above pool_min may sit idle before it is closed.
    pool_max_idle: float = 600.0
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
    #: The owner's URL, for migrations, `check` and `types` (None: `database_url`).
    #: The service itself then runs as a role that cannot change the schema.
    migration_url: str | None = None
    #: The setting row-level security policies read the tenant from.
    tenant_setting: str = "app.tenant_id"
    #: The JSON library for json/jsonb values on the pool's connections: "json" (the
    #: standard library) or "orjson" (faster; the `orjson` extra).
    json: str = "json"
    #: Name every statement in a `/* persistence='name' */` comment (DB_SQL_COMMENT=0: off).
    sql_comment: bool = True
    #: Where the embedded server keeps its data, one server per user and machine
    #: (PERSISTENCE_HOME; None: the per-user default, see `persistence.embedded.home`).
    embedded_home: Path | None = None
    #: "transaction" when `database_url` goes through a transaction pooler (PgBouncer
    #: with pool_mode = transaction): no prepared statements, no startup options, the
    #: session settings sent per transaction, migrations only on a direct connection.
    pooler: str | None = None
    #: Streaming replicas of `database_url` (DATABASE_REPLICA_URLS, comma-separated):
    #: statements that only read go to one of them; everything else to the primary.
    replica_urls: tuple[str, ...] = ()
    #: A replica further behind the primary than this many seconds is skipped.
    replica_max_lag: float = 10.0
    #: How long a read waits for a replica to replay the caller's own last write
    #: before it reads from the primary instead (read-your-writes).
    replica_wait: float = 0.5

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
        for name, variable in _DURATIONS.items():
            value = getattr(self, name)
            # nan passes every comparison below, and inf or 1e9 s overflows the server's
            # int milliseconds when the session is set up.
            if not math.isfinite(value):
                raise ConfigurationError(f"{variable} must be a finite number, not {value}")
            if value * _MS.get(name, 1000) > MAX_MS:
                limit = f"{MAX_MS} ms" if name in _MS else f"{MAX_MS / 1000} s"
                raise ConfigurationError(
                    f"{variable} must be at most {limit} (PostgreSQL's longest duration),"
                    f" not {value:g}"
                )
        for name in ("pool_timeout", "pool_max_idle", "statement_timeout", "connect_timeout"):
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
            parse_url(self.database_url)  # fail now, naming the variable, not inside the pool
        if self.migration_url is not None:
            parse_url(self.migration_url, "DATABASE_MIGRATION_URL")
        for number, url in enumerate(self.replica_urls, 1):
            parse_url(url, f"DATABASE_REPLICA_URLS (URL {number})", replica=True)
        if self.replica_urls and self.database_url is None:
            raise ConfigurationError(
                "DATABASE_REPLICA_URLS needs DATABASE_URL: replicas are replicas of a primary"
            )
        if self.replica_max_lag <= 0:
            raise ConfigurationError(
                f"DB_REPLICA_MAX_LAG must be positive, got {self.replica_max_lag}"
            )
        if self.replica_wait < 0:
            raise ConfigurationError(
                f"DB_REPLICA_WAIT must be >= 0 (0: read from the primary at once), got"
                f" {self.replica_wait}"
            )
        if self.json not in JSON_LIBRARIES:
            raise ConfigurationError(
                f"DB_JSON must be one of {', '.join(JSON_LIBRARIES)}, not {self.json[:40]!r}"
            )
        if self.pooler is not None and self.pooler not in POOLERS:
            raise ConfigurationError(
                f"DB_POOLER must be {' or '.join(POOLERS)} (or empty: connect directly),"
                f" not {self.pooler[:40]!r}"
            )
        if not _TENANT_SETTING.fullmatch(self.tenant_setting):
            raise ConfigurationError(
                f"DB_TENANT_SETTING must be a custom setting name like 'app.tenant_id',"
                f" not {self.tenant_setting[:60]!r}"
            )

    def __repr__(self) -> str:
        # The generated repr would print the URL with its password (into logs, tracebacks).
        shown = {f.name: repr(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if self.database_url is not None:
            shown["database_url"] = repr(self.masked_url)
        if self.migration_url is not None:
            shown["migration_url"] = repr(mask_url(self.migration_url))
        shown["replica_urls"] = repr(tuple(mask_url(url) for url in self.replica_urls))
        return f"Settings({', '.join(f'{k}={v}' for k, v in shown.items())})"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def queries_folder(self) -> Path:
        """`queries_dir`, else the project's queries/."""
        return self.queries_dir or self.project / "queries"

    @property
    def migrations_folder(self) -> Path:
        """`migrations_dir`, else the project's migrations/."""
        return self.migrations_dir or self.project / "migrations"

    @property
    def seeds_folder(self) -> Path:
        """`seeds_dir`, else the project's seeds/."""
        return self.seeds_dir or self.project / "seeds"

    @property
    def not_a_project(self) -> str:
        """What `in_project` found missing, for the messages that refuse a folder."""
        return (
            f"{self.project} is not a project (no [tool.persistence] in a pyproject.toml,"
            " no migrations/ or queries/)"
        )

    @property
    def in_project(self) -> bool:
        """Whether `project` is a project of the toolkit (a `[tool.persistence]` table,
        a migrations/ or queries/ folder): the embedded server makes a database for one,
        never for whatever folder a program happened to start in."""
        return (
            self.migrations_folder.is_dir()
            or self.queries_folder.is_dir()
            or has_persistence_table(self.project / "pyproject.toml")
        )

    @property
    def effective_sslmode(self) -> str | None:
        if self.sslmode is not None:
            return self.sslmode
        if self.production and "sslmode" not in parse_url(self.database_url or ""):
            return "require"
        return None

    @property
    def masked_url(self) -> str:
        """The database URL with the password replaced by ``***``, for every display."""
        return mask_url(self.database_url) if self.database_url else "(embedded server)"

    @property
    def password(self) -> str | None:
        """The password in the URL, if any: used only to scrub it out of messages."""
        return parse_url(self.database_url or "").get("password") or None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every string that may be the password or part of it, for `errors.scrub`:
        the primary's and each replica's."""
        found = {s for url in (self.database_url, *self.replica_urls) for s in secrets_of(url)}
        return tuple(sorted(found, key=len, reverse=True))

    def with_url(self, url: str) -> Settings:
        return dataclasses.replace(self, database_url=url)

    def for_migrations(self) -> Settings:
        """These settings as the schema's owner: `migration_url` when it is set.

        Migrations, `check` and `types` use this; the service's pool uses `database_url`.
        They run on the primary only: the replicas are left out.
        Behind a transaction pooler they need a direct connection: their session
        advisory lock and prepared statements would not stay on one server session.

        Raises:
            ConfigurationError: `pooler` is set and `migration_url` is unset or names the
                pooler's host and port.
        """
        if self.pooler is not None:
            if self.migration_url is None or server_of(self.migration_url) == server_of(
                self.database_url or ""
            ):
                raise ConfigurationError(
                    f"DB_POOLER={self.pooler}: migrations, check and types need a direct"
                    " connection (their session advisory lock and prepared statements do"
                    " not survive a transaction pooler); set DATABASE_MIGRATION_URL to the"
                    " PostgreSQL server itself, not the pooler"
                )
            return dataclasses.replace(
                self,
                database_url=self.migration_url,
                migration_url=None,
                pooler=None,
                replica_urls=(),
            )
        if self.migration_url is None or self.migration_url == self.database_url:
            return dataclasses.replace(self, replica_urls=()) if self.replica_urls else self
        return dataclasses.replace(
            self, database_url=self.migration_url, migration_url=None, replica_urls=()
        )

    def for_replica(self, url: str) -> Settings:
        """These settings for one replica's pool: its URL, the same session defaults."""
        return dataclasses.replace(self, database_url=url, migration_url=None, replica_urls=())

    @property
    def session_settings(self) -> dict[str, str]:
        """The server settings every session of the toolkit runs with, in ms.

        Sent as startup `options` on a direct connection; behind a transaction pooler,
        which refuses startup options and would leak a session `SET` to other clients,
        set per transaction (`set_config(..., true)`) by `transaction()`.
        """
        return {
            "statement_timeout": str(int(self.statement_timeout * 1000)),
            "idle_in_transaction_session_timeout": str(
                int(self.idle_in_transaction_timeout * 1000)
            ),
        }

    def conninfo(self) -> str:
        """The libpq connection string, with the toolkit's session defaults added.

        Raises:
            ConfigurationError: if `database_url` is None (start the embedded server first).
        """
        if self.database_url is None:
            raise ConfigurationError(NO_DATABASE)
        params = parse_url(self.database_url)
        extra: dict[str, Any] = {
            # libpq takes whole seconds; 1 would be rounded up to 2 by libpq anyway.
            "connect_timeout": params.get("connect_timeout") or max(2, round(self.connect_timeout)),
            # PgBouncer accepts application_name and keeps it per client.
            "application_name": params.get("application_name") or self.application_name,
            # Detect a dead peer (pulled cable, crashed host) instead of waiting forever.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        if self.pooler is None:
            gucs = [f"-c {name}={ms}" for name, ms in self.session_settings.items()]
            # The URL's own options come last so that an explicit -c in DATABASE_URL wins.
            extra["options"] = " ".join([*gucs, params.get("options", "")]).strip()
        elif params.get("options"):
            raise ConfigurationError(
                f"DB_POOLER={self.pooler}: DATABASE_URL has startup options, which PgBouncer"
                " refuses (unsupported startup parameter) and a pooled server session would"
                " not keep; remove them and make them role settings"
                " (alter role ... set name = value)"
            )
        if self.effective_sslmode is not None:
            extra["sslmode"] = self.effective_sslmode
        return _conninfo.make_conninfo(self.database_url, **extra)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, project: Path | str | None = None
    ) -> Settings:
        """Read settings from the environment and `[tool.persistence]` in pyproject.toml.

        The project is `project` if given, else PERSISTENCE_PROJECT, else found: the
        nearest folder with a pyproject.toml holding `[tool.persistence]`, up from the
        current directory, then up from the running program (so an application started
        from another directory still finds its queries); else the current directory.

        Raises:
            ConfigurationError: naming the variable that is malformed or out of range,
                an unknown `[tool.persistence]` key, or a configured folder that does
                not exist.
        """
        env = os.environ if environ is None else environ
        if project is not None:
            root = Path(project).resolve()
        elif env.get("PERSISTENCE_PROJECT"):
            root = Path(env["PERSISTENCE_PROJECT"]).resolve()
        else:
            root = find_project()
        dirs = project_dirs(root)
        return cls(
            database_url=url_from_env(env),
            env=env.get("PERSISTENCE_ENV", "development").strip().lower(),
            application_name=env.get("DB_APPLICATION_NAME", "persistence"),
            sslmode=env.get("DB_SSLMODE") or None,
            project=root,
            queries_dir=dirs["queries"],
            migrations_dir=dirs["migrations"],
            seeds_dir=dirs["seeds"],
            types_path=dirs.get("types"),
            migration_url=env.get("DATABASE_MIGRATION_URL", "").strip() or None,
            tenant_setting=env.get("DB_TENANT_SETTING", "app.tenant_id").strip(),
            json=env.get("DB_JSON", "json").strip().lower() or "json",
            sql_comment=_flag(env, "DB_SQL_COMMENT", True),
            embedded_home=env_folder(env, "PERSISTENCE_HOME"),
            pooler=_pooler(env),
            replica_urls=split_urls(env.get("DATABASE_REPLICA_URLS", "")),
            **{
                name: _number(env, variable, kind, cls.__dataclass_fields__[name].default)
                for name, (variable, kind) in _NUMBERS.items()
            },
        )


#: The longest duration PostgreSQL takes (its timeouts are an int of milliseconds).
MAX_MS = 2147483647
#: The settings that are numbers, by the variable that sets each and its type.
_NUMBERS: dict[str, tuple[str, type[int] | type[float]]] = {
    "pool_min": ("DB_POOL_MIN", int),
    "pool_max": ("DB_POOL_MAX", int),
    "pool_timeout": ("DB_POOL_TIMEOUT", float),
    "pool_max_idle": ("DB_POOL_MAX_IDLE", float),
    "statement_timeout": ("DB_STATEMENT_TIMEOUT", float),
    "connect_timeout": ("DB_CONNECT_TIMEOUT", float),
    "idle_in_transaction_timeout": ("DB_IDLE_IN_TRANSACTION_TIMEOUT", float),
    "slow_query_ms": ("DB_SLOW_QUERY_MS", float),
    "migration_lock_timeout": ("DB_MIGRATION_LOCK_TIMEOUT", float),
    "replica_max_lag": ("DB_REPLICA_MAX_LAG", float),
    "replica_wait": ("DB_REPLICA_WAIT", float),
}
#: The settings that are durations (every float one), by the variable that sets each:
#: seconds, or milliseconds for those in `_MS`.
_DURATIONS = {name: variable for name, (variable, kind) in _NUMBERS.items() if kind is float}
_MS = {"slow_query_ms": 1}
_MS_VARIABLES = {_NUMBERS[name][0] for name in _MS}


#: A custom setting: two dotted identifiers, as set_config() and policies name it.
_TENANT_SETTING = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")


def refuse_in_production(settings: Settings, what: str) -> None:
    """Raise before a development-only operation (seed, reset) touches production.

    Raises:
        PersistenceError: `settings` is for production (PERSISTENCE_ENV=production).
    """
    if settings.production:
        raise PersistenceError(
            f"refusing to {what} a production database (PERSISTENCE_ENV=production)"
        )


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float], default: Any) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        # A float that is not finite passes: __post_init__ refuses it, naming the variable.
        return kind(raw)
    except ValueError:
        if kind is int:
            raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from None
        unit = "milliseconds" if name in _MS_VARIABLES else "seconds"
        raise ConfigurationError(
            f"{name} must be a number of {unit} (like 30 or 0.5), not {raw!r}"
        ) from None


def _pooler(env: Mapping[str, str]) -> str | None:
    text = env.get("DB_POOLER", "").strip().lower()
    return None if text in ("", "none") else text


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {text!r}")


def env_folder(env: Mapping[str, str], name: str) -> Path | None:
    """An absolute folder from variable `name` (`~` expanded), or None when unset."""
    text = env.get(name, "").strip()
    if not text:
        return None
    folder = Path(text).expanduser()
    if not folder.is_absolute():
        # Relative to whichever directory a command happens to run in, one variable
        # would name a different server per folder: refused.
        raise ConfigurationError(f"{name} must be an absolute folder, not {text!r}")
    return folder
