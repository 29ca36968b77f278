"""Settings: parsing, validation and masking. No database needed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from persistence import ConfigurationError, Settings
from persistence.config import mask_url

URL = "postgresql://app:hunter2@db.example.com:6543/shop"


def test_defaults_match_what_the_seeds_asked_for() -> None:
    settings = Settings.from_env({"DATABASE_URL": URL}, project=Path("."))
    assert (settings.pool_min, settings.pool_max) == (5, 20)
    assert settings.statement_timeout == 30.0
    assert settings.connect_timeout == 5.0
    assert settings.pool_max_idle == 600.0
    assert Settings.from_env({"DB_POOL_MAX_IDLE": "30"}).pool_max_idle == 30.0
    assert settings.env == "development"


def test_conninfo_carries_the_session_defaults() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": URL, "DB_STATEMENT_TIMEOUT": "2.5", "DB_APPLICATION_NAME": "billing"}
    )
    params = psycopg.conninfo.conninfo_to_dict(settings.conninfo())
    assert "-c statement_timeout=2500" in str(params["options"])
    assert "idle_in_transaction_session_timeout=60000" in str(params["options"])
    assert params["connect_timeout"] == "5"
    assert params["application_name"] == "billing"
    assert params["keepalives"] == "1"
    assert "sslmode" not in params


def test_url_options_win_over_the_defaults() -> None:
    url = URL + "?options=-c%20statement_timeout%3D1000&application_name=mine"
    params = psycopg.conninfo.conninfo_to_dict(Settings(database_url=url).conninfo())
    options = str(params["options"])
    assert options.index("statement_timeout=30000") < options.index("statement_timeout=1000")
    assert params["application_name"] == "mine"


def test_behind_a_transaction_pooler_no_startup_options_are_sent() -> None:
    direct = "postgresql://owner:pw@db.example.com:5432/shop"
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://app:pw@bouncer:6432/shop",
            "DB_POOLER": "transaction",
            "DATABASE_MIGRATION_URL": direct,
        }
    )
    assert settings.pooler == "transaction"
    params = psycopg.conninfo.conninfo_to_dict(settings.conninfo())
    assert "options" not in params  # PgBouncer refuses them
    assert params["application_name"] == "persistence"  # PgBouncer keeps it per client
    assert settings.session_settings == {
        "statement_timeout": "30000",
        "idle_in_transaction_session_timeout": "60000",
    }
    # Migrations go to the server itself, as a direct connection does.
    owner = settings.for_migrations()
    assert (owner.database_url, owner.pooler) == (direct, None)
    assert "options" in psycopg.conninfo.conninfo_to_dict(owner.conninfo())
    assert Settings.from_env({"DATABASE_URL": URL, "DB_POOLER": "none"}).pooler is None


@pytest.mark.parametrize(
    "migration_url",
    [None, "postgresql://owner@bouncer:6432/shop", "postgresql://owner@bouncer:6432/other"],
)
def test_behind_a_pooler_migrations_need_a_direct_url(migration_url: str | None) -> None:
    settings = Settings(
        database_url="postgresql://app@bouncer:6432/shop",
        pooler="transaction",
        migration_url=migration_url,
    )
    with pytest.raises(ConfigurationError) as raised:
        settings.for_migrations()
    assert str(raised.value) == (
        "DB_POOLER=transaction: migrations, check and types need a direct connection (their"
        " session advisory lock and prepared statements do not survive a transaction"
        " pooler); set DATABASE_MIGRATION_URL to the PostgreSQL server itself, not the pooler"
    )


def test_behind_a_pooler_url_options_are_refused_naming_the_fix() -> None:
    url = "postgresql://app:hunter2@bouncer:6432/shop?options=-c%20work_mem%3D64MB"
    with pytest.raises(ConfigurationError, match="alter role") as raised:
        Settings(database_url=url, pooler="transaction").conninfo()
    assert "hunter2" not in str(raised.value)


def test_production_requires_ssl_unless_told_otherwise() -> None:
    prod = Settings.from_env({"DATABASE_URL": URL, "PERSISTENCE_ENV": "production"})
    assert psycopg.conninfo.conninfo_to_dict(prod.conninfo())["sslmode"] == "require"
    explicit = Settings.from_env(
        {"DATABASE_URL": URL, "PERSISTENCE_ENV": "production", "DB_SSLMODE": "verify-full"}
    )
    assert psycopg.conninfo.conninfo_to_dict(explicit.conninfo())["sslmode"] == "verify-full"


def test_db_variables_build_the_url() -> None:
    settings = Settings.from_env(
        {
            "DB_HOST": "db.internal",
            "DB_PORT": "6000",
            "DB_NAME": "crm",
            "DB_USER": "svc",
            "DB_PASSWORD": "p@ss word",
        }
    )
    params = psycopg.conninfo.conninfo_to_dict(settings.database_url or "")
    assert params == {
        "host": "db.internal",
        "port": "6000",
        "dbname": "crm",
        "user": "svc",
        "password": "p@ss word",
    }
    assert settings.masked_url == "postgresql://svc:***@db.internal:6000/crm"


def test_no_url_means_the_embedded_server() -> None:
    assert Settings.from_env({}).database_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DB_POOL_MIN": "five"}, "DB_POOL_MIN"),
        ({"DB_STATEMENT_TIMEOUT": "30s"}, "DB_STATEMENT_TIMEOUT"),
        ({"DB_POOL_MIN": "9", "DB_POOL_MAX": "3"}, "min=9 max=3"),
        ({"DB_SSLMODE": "required"}, "DB_SSLMODE"),
        ({"PERSISTENCE_ENV": "prod"}, "PERSISTENCE_ENV"),
        ({"DB_HOST": "h", "DB_PORT": "54x"}, "DB_PORT"),
        ({"DB_CONNECT_TIMEOUT": "0"}, "connect_timeout"),
        ({"DB_POOL_MAX_IDLE": "0"}, "pool_max_idle"),
        ({"DB_POOL_MAX_IDLE": "soon"}, "DB_POOL_MAX_IDLE"),
        ({"DB_POOLER": "pgbouncer"}, "DB_POOLER must be transaction"),
        ({"DB_REPLICA_MAX_LAG": "0"}, "DB_REPLICA_MAX_LAG"),
        ({"DB_REPLICA_MAX_LAG": "5s"}, "DB_REPLICA_MAX_LAG"),
        ({"DB_REPLICA_WAIT": "-1"}, "DB_REPLICA_WAIT"),
        ({"DATABASE_REPLICA_URLS": "postgresql://r:pw@h:port/db"}, "DATABASE_REPLICA_URLS"),
        # nan passes every comparison; inf and 1e9 s overflow the server's int of ms.
        ({"DB_REPLICA_MAX_LAG": "nan"}, "DB_REPLICA_MAX_LAG must be a finite number"),
        ({"DB_POOL_TIMEOUT": "inf"}, "DB_POOL_TIMEOUT must be a finite number"),
        ({"DB_STATEMENT_TIMEOUT": "1e9"}, r"DB_STATEMENT_TIMEOUT must be at most 2147483\.647 s"),
        ({"DB_IDLE_IN_TRANSACTION_TIMEOUT": "3e6"}, "DB_IDLE_IN_TRANSACTION_TIMEOUT must be at"),
        ({"DB_SLOW_QUERY_MS": "3e9"}, "DB_SLOW_QUERY_MS must be at most 2147483647 ms"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    # DATABASE_URL wins over DB_*, so the DB_* cases are given without it.
    base = {} if "DB_HOST" in env else {"DATABASE_URL": URL}
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env({**base, **env})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_POOL_MAX": "abc"}, "DB_POOL_MAX must be an integer, not 'abc'"),
        ({"DB_POOL_MIN": "1.5"}, "DB_POOL_MIN must be an integer, not '1.5'"),
        (
            {"DB_STATEMENT_TIMEOUT": "30s"},
            "DB_STATEMENT_TIMEOUT must be a number of seconds (like 30 or 0.5), not '30s'",
        ),
        (
            {"DB_SLOW_QUERY_MS": "fast"},
            "DB_SLOW_QUERY_MS must be a number of milliseconds (like 30 or 0.5), not 'fast'",
        ),
    ],
)
def test_a_number_that_is_not_one_says_which_kind(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"DATABASE_URL": URL, **env})
    assert str(caught.value) == message


def test_a_duration_is_refused_unless_finite_naming_its_variable() -> None:
    with pytest.raises(ConfigurationError, match="DB_POOL_TIMEOUT must be a finite number"):
        Settings(pool_timeout=float("nan"))


def test_the_longest_duration_accepted_is_one_the_server_takes(
    persistence_settings: Settings,
) -> None:
    from persistence._connect import connect
    from persistence.config import MAX_MS

    longest = dataclasses.replace(
        persistence_settings,
        statement_timeout=MAX_MS / 1000,
        idle_in_transaction_timeout=MAX_MS / 1000,
    )
    with connect(longest) as conn:
        row = conn.execute("select current_setting('statement_timeout')").fetchone()
    assert row == (f"{MAX_MS}ms",)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:hunter2@db.example.com:port/shop",
        "postgresql://app:hunter 2@db.example.com/shop",
        "host=db password=hunter2 stray",
        "password='hunter2",
        "postgresql://app:hunter2@[::1/shop",
    ],
)
def test_malformed_url_is_one_clear_line_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings(database_url=url)
    message = str(info.value)
    assert message.startswith("malformed DATABASE_URL")
    assert "\n" not in message
    assert "hunter2" not in message
    assert "hunter 2" not in message
    assert info.value.__cause__ is None  # the driver's text (with the URL) is not chained


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:pw@db1,db2/shop",  # libpq's port list is ","
        "postgresql://app:pw@db1:5433,db2/shop?target_session_attrs=read-write",
    ],
)
def test_a_multi_host_url_with_default_ports_is_accepted(url: str) -> None:
    assert Settings(database_url=url).conninfo()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (URL, "postgresql://app:***@db.example.com:6543/shop"),
        ("postgresql://app@localhost/shop", "postgresql://app@localhost/shop"),
        (
            "host=db user=u password=pw dbname=x sslmode=require",
            "postgresql://u:***@db/x?sslmode=require",
        ),
        ("postgresql://u:pw@[::1]:5432/x", "postgresql://u:***@[::1]:5432/x"),
        ("not a url at all", "(malformed database URL)"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_project_folders_come_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.persistence]\nqueries = "sql/named"\n')
    (tmp_path / "sql" / "named").mkdir(parents=True)
    settings = Settings.from_env({}, project=tmp_path)
    assert settings.queries_dir == tmp_path / "sql" / "named"
    assert settings.migrations_dir == tmp_path / "migrations"


def test_broken_pyproject_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.persistence\n")
    with pytest.raises(ConfigurationError, match=r"pyproject\.toml"):
        Settings.from_env({}, project=tmp_path)


def test_replica_urls_from_the_environment_masked_everywhere() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": URL,
            "DATABASE_REPLICA_URLS": "postgresql://app:r3pl1ca@r1.example.com/shop,"
            " postgresql://app:r3pl1ca@r2a.example.com:5432,r2b.example.com:5433/shop",
            "DB_REPLICA_MAX_LAG": "2.5",
            "DB_REPLICA_WAIT": "0",
        }
    )
    assert len(settings.replica_urls) == 2
    assert settings.replica_urls[1].endswith("@r2a.example.com:5432,r2b.example.com:5433/shop")
    assert (settings.replica_max_lag, settings.replica_wait) == (2.5, 0.0)
    assert "r3pl1ca" not in repr(settings)
    assert "postgresql://app:***@r1.example.com/shop" in repr(settings)
    assert "r3pl1ca" in settings.secrets  # scrubbed from every error message


def test_empty_items_in_replica_urls_are_no_servers() -> None:
    # "$R1,$R2" with R2 unset: the trailing comma once became part of the database
    # name ("shop,"), a replica that could never connect, seen only in health().
    settings = Settings.from_env(
        {
            "DATABASE_URL": URL,
            "DATABASE_REPLICA_URLS": "postgresql://app@r1.example.com/shop,, "
            "postgresql://app@r2.example.com/shop, ",
        }
    )
    assert settings.replica_urls == (
        "postgresql://app@r1.example.com/shop",
        "postgresql://app@r2.example.com/shop",
    )
    for url in settings.replica_urls:
        assert conninfo_to_dict(settings.for_replica(url).conninfo())["dbname"] == "shop"


def test_replicas_are_left_out_of_migrations() -> None:
    settings = Settings(database_url=URL, replica_urls=("postgresql://r1/shop",))
    assert settings.for_migrations().replica_urls == ()
    owner = Settings(
        database_url=URL,
        migration_url="postgresql://owner@db.example.com/shop",
        replica_urls=("postgresql://r1/shop",),
    )
    assert owner.for_migrations().replica_urls == ()
    assert Settings(database_url=URL).replica_urls == ()


def test_replicas_need_a_primary() -> None:
    with pytest.raises(ConfigurationError, match="DATABASE_REPLICA_URLS needs DATABASE_URL"):
        Settings(replica_urls=("postgresql://r1/shop",))
