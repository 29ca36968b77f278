"""The embedded server: lifecycle, a server left by a killed process, authentication.

Each test runs its own scratch server in a temporary folder, so it may stop it freely.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from persistence import ConnectionFailed, Database
from persistence._processes import alive
from persistence.cli import main
from persistence.embedded import EmbeddedServer


@pytest.fixture
def server(server_root: Path) -> Iterator[EmbeddedServer]:
    scratch = EmbeddedServer(server_root / "pg")
    yield scratch
    scratch.destroy()


def test_server_outlives_its_starter_and_stop_finds_it(server: EmbeddedServer) -> None:
    assert server.status() is None
    # Start it from a process that is then killed: nothing is left to stop it but us.
    script = (
        "import os, signal, sys; from pathlib import Path;"
        "from persistence.embedded import EmbeddedServer;"
        f"EmbeddedServer(Path({str(server.root)!r})).start();"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == -9
    info = server.status()
    assert info is not None, "the server should outlive the process that started it"
    with psycopg.connect(info.url(), autocommit=True) as conn:
        conn.execute("create table kept (id int)")
    assert server.start().pid == info.pid, "start() reuses the running server"

    assert server.stop() is True
    assert not alive(info.pid)
    assert server.status() is None
    assert server.stop() is False

    again = server.start()
    assert again.pid != info.pid
    with psycopg.connect(again.url()) as conn:
        assert conn.execute("select to_regclass('kept') is not null").fetchone() == (True,)


def test_wrong_password_is_one_line_without_the_password(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    info = server.start()
    with psycopg.connect(info.url(), autocommit=True) as conn:
        conn.execute("alter role postgres password 'Right-Pa55'")
    (server.pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 scram-sha-256\n")
    with psycopg.connect(info.url(), autocommit=True) as conn:
        conn.execute("select pg_reload_conf()")

    wrong = f"postgresql://postgres:Wr0ng-Pa55@127.0.0.1:{info.port}/postgres"
    with pytest.raises(ConnectionFailed) as failure:
        Database(wrong).open()
    message = str(failure.value)
    assert "password authentication failed" in message
    assert "Wr0ng-Pa55" not in message
    assert failure.value.__cause__ is None, "the driver error is not chained into the output"

    monkeypatch.setenv("DATABASE_URL", wrong)
    assert main(["health"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: connection failed")
    assert "Wr0ng-Pa55" not in err

    right = wrong.replace("Wr0ng-Pa55", "Right-Pa55")
    with Database(right) as db:
        assert db.fetch_value("select 1") == 1


def test_only_listens_on_loopback(server: EmbeddedServer) -> None:
    info = server.start()
    with psycopg.connect(info.url()) as conn:
        row = conn.execute("select current_setting('listen_addresses')").fetchone()
    assert row == ("127.0.0.1",)
    assert os.stat(server.pgdata).st_mode & 0o077 == 0, "pgdata must stay private"
