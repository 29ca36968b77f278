"""Least privilege: the SQL that sets up a service role, and what `check` says about it.

The service connects as a role that can read and write the project's tables and
nothing more: no DDL, no TRUNCATE, no ownership. Migrations run as the owner
(`DATABASE_MIGRATION_URL`). `grant_sql()` gives the grants, including default
privileges, so tables created by later migrations are covered without a new grant.
"""

from __future__ import annotations

from typing import Any, Literal, LiteralString

from psycopg import sql

from ._connect import connect
from .config import Settings
from .errors import ConfigurationError

__all__ = ["grant_sql", "service_role_warnings", "tenant_policy_sql"]


def grant_sql(role: str, database: str, schema: str = "public") -> sql.Composed:
    """The statements that let `role` read and write `schema`'s tables, and no more.

    Run them as the owner of the schema's tables (the migration role): default
    privileges apply to the tables that role creates later.

    >>> print(grant_sql("app", "shop").as_string(None))  # doctest: +NORMALIZE_WHITESPACE
    grant connect on database "shop" to "app";
    grant usage on schema "public" to "app";
    revoke create on schema "public" from "app";
    grant select, insert, update, delete on all tables in schema "public" to "app";
    grant usage, select on all sequences in schema "public" to "app";
    alter default privileges in schema "public"
      grant select, insert, update, delete on tables to "app";
    alter default privileges in schema "public" grant usage, select on sequences to "app";
    """
    return sql.SQL(
        """grant connect on database {db} to {role};
grant usage on schema {schema} to {role};
revoke create on schema {schema} from {role};
grant select, insert, update, delete on all tables in schema {schema} to {role};
grant usage, select on all sequences in schema {schema} to {role};
alter default privileges in schema {schema}
  grant select, insert, update, delete on tables to {role};
alter default privileges in schema {schema} grant usage, select on sequences to {role};"""
    ).format(db=sql.Identifier(database), role=sql.Identifier(role), schema=sql.Identifier(schema))


def tenant_policy_sql(
    table: str,
    column: str = "tenant_id",
    setting: str = "app.tenant_id",
    cast: Literal["bigint", "integer", "uuid", "text"] = "bigint",
) -> sql.Composed:
    """Row-level security on `table`: each transaction sees and writes only the rows
    whose `column` equals the tenant set by `db.transaction(tenant=...)`.

    Fails closed: with no tenant set, `current_setting(..., true)` is NULL (or '' once
    the session has used the setting), the comparison is not true, and no row is seen
    or written. FORCE applies the policy to the table's owner too.

    >>> print(tenant_policy_sql("orders").as_string(None))  # doctest: +NORMALIZE_WHITESPACE
    alter table "orders" enable row level security;
    alter table "orders" force row level security;
    create policy "orders_tenant" on "orders"
      using ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::bigint)
      with check ("tenant_id" = nullif(current_setting('app.tenant_id', true), '')::bigint);
    """
    current = sql.SQL("nullif(current_setting({}, true), '')::{}").format(
        sql.Literal(setting), sql.SQL(_CASTS[cast])
    )
    match = sql.SQL("{} = {}").format(sql.Identifier(column), current)
    return sql.SQL(
        """alter table {t} enable row level security;
alter table {t} force row level security;
create policy {p} on {t}
  using ({m})
  with check ({m});"""
    ).format(t=sql.Identifier(table), p=sql.Identifier(f"{table}_tenant"), m=match)


_CASTS: dict[str, LiteralString] = {
    "bigint": "bigint",
    "integer": "integer",
    "uuid": "uuid",
    "text": "text",
}


def service_role_warnings(settings: Settings) -> list[str]:
    """What the service's role can do that it should not: own tables, create objects,
    bypass row-level security. Empty when it is a restricted role.

    Raises:
        ConnectionFailed: the service's database cannot be reached.
    """
    with connect(settings) as conn:
        row = conn.execute(_ROLE_REPORT).fetchone()
    if row is None:  # pragma: no cover - the query always returns a row
        raise ConfigurationError("could not read the service role's privileges")
    return _warnings(*row)


def _warnings(role: str, superuser: bool, bypass: bool, owned: int, create: bool) -> list[str]:
    found = []
    if superuser:
        found.append(f"the service connects as {role!r}, a superuser: it can do anything")
    elif bypass:
        found.append(f"the service role {role!r} bypasses row-level security")
    if owned:
        found.append(
            f"the service role {role!r} owns {owned} table(s): it can ALTER, DROP and TRUNCATE"
            " them; let the migration role (DATABASE_MIGRATION_URL) own them"
        )
    if create and not superuser:
        found.append(f"the service role {role!r} can CREATE in the schema: it can run DDL")
    return found


_ROLE_REPORT: Any = """
select current_user::text,
       r.rolsuper,
       r.rolbypassrls,
       (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relowner = r.oid and c.relkind in ('r', 'p')
           and n.nspname not in ('pg_catalog', 'information_schema')
           and n.nspname not like 'pg_toast%')::int,
       has_schema_privilege(current_user, current_schema(), 'CREATE')
  from pg_roles r where r.rolname = current_user
"""
