"""The `persistence` command, with its full output checked."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from persistence import Settings, __version__
from persistence.cli import _parser, main
from persistence.errors import scrub

from .conftest import with_password


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fresh_settings: Settings) -> Settings:
    settings = with_password(fresh_settings, "Cl1-secret")
    monkeypatch.setenv("DATABASE_URL", settings.database_url or "")
    return settings


def test_health_prints_the_report(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "status          ok"
    assert lines[1] == f"database        {env.masked_url}"
    assert lines[2].startswith("server version  ")
    assert lines[3] == "role            postgres"
    assert lines[4].startswith("round trip      ")
    assert lines[5].startswith("pool            ")
    assert "Cl1-secret" not in out


def test_health_json(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["url"] == env.masked_url
    assert report["error"] is None


def test_db_url_never_prints_the_password(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out == env.masked_url + "\n"


def test_malformed_url_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:Cl1-secret@host:port/db")
    assert main(["health"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    # The port is not quoted: with an unencoded "/" in the password, it is the password.
    assert err == (
        "error: malformed DATABASE_URL: the port is not a number; percent-encode '@', '/',"
        " ':', '?' and spaces in the user name and password (%40, %2F, %3A, %3F, %20)\n"
    )


def test_a_port_out_of_range_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:Cl1-secret@127.0.0.1:99999/test")
    assert main(["health"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: malformed DATABASE_URL (postgresql://postgres:***@127.0.0.1:99999/test): the"
        " port must be a number from 1 to 65535\n"
    )


def test_a_scheme_typo_says_the_scheme(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresq://u:Cl1-secret@127.0.0.1:5432/db")
    assert main(["health"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: malformed DATABASE_URL: it starts with 'postgresq://', not postgresql:// or"
        " postgres://; correct the scheme\n"
    )


@pytest.mark.parametrize(
    ("replicas", "said"),
    [
        (
            "postgresql://u:Cl1-secret@127.0.0.1:5432/db,postgres://x:Cl1-secret@:99999/y",
            "(URL 2, postgresql://x:***@:99999/y): the port must be a number from 1 to 65535",
        ),
        (
            "postgres://x:Cl1-secret@/y",
            "(URL 1, postgresql://x:***@/y): a replica's URL must name its host"
            " (postgresql://user:password@HOST:port/database)",
        ),
        (
            "postgresql://u:Cl1-secret@127.0.0.1/db, postgresq://u:Cl1-secret@127.0.0.1/db",
            "(URL 2): it starts with 'postgresq://', not postgresql:// or postgres://;"
            " correct the scheme",
        ),
    ],
)
def test_a_malformed_replica_url_is_refused_naming_which(
    env: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    replicas: str,
    said: str,
) -> None:
    # Not a degraded replica to report: a configuration error, as DATABASE_URL's would be.
    monkeypatch.setenv("DATABASE_REPLICA_URLS", replicas)
    assert main(["health"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: malformed DATABASE_REPLICA_URLS {said}\n"


def test_a_one_letter_password_is_hidden_where_it_stands_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:e@127.0.0.1:1/test")
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    # Every "e" of the message stays an "e": the password is hidden, not the letter.
    assert "Connection refused" in err
    assert err.endswith("start the server or point DATABASE_URL at one that is running\n")
    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out == "postgresql://postgres:***@127.0.0.1:1/test\n"
    said = 'use "postgresql://postgres:e@db/app" or "host=db password=e user=postgres"'
    assert scrub(said, ("e",)) == (
        'use "postgresql://postgres:***@db/app" or "host=db password=*** user=postgres"'
    )


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        (
            "postgresql://nosuchrole_zq:Cl1-secret@127.0.0.1:5432/test",
            "check the user and password in DATABASE_URL",
        ),
        (
            "postgresql://postgres:Cl1-secret@127.0.0.1:1/test",
            "start the server or point DATABASE_URL at one that is running",
        ),
    ],
)
def test_only_a_server_that_cannot_be_reached_is_worth_starting(
    url: str, advice: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    for command in (["status"], ["health"]):
        assert main(command) == 1
        out, err = capsys.readouterr()
        assert err.startswith("error: connection failed: ")
        assert err.endswith(f"; {advice}\n")
        assert err.count("; ") == 1  # one piece of advice
        assert "Cl1-secret" not in out + err


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        # Failures this server cannot be made to give (it trusts every local role).
        ('FATAL:  password authentication failed for user "app"', "check the user and password"),
        ("FATAL:  could not write init file: No space left on device", "disk is full"),
        (
            'FATAL:  invalid value for parameter "statement_timeout": "1000000000000"',
            "check the DB_* timeouts",
        ),
        ("connection timeout expired", "start the server"),
        ("server closed the connection unexpectedly", ""),
    ],
)
def test_connection_advice(reason: str, advice: str) -> None:
    from persistence.errors import connection_advice

    said = connection_advice(reason)
    assert advice in said if advice else said == ""
    assert "start the server" not in said or advice == "start the server"


@pytest.mark.parametrize(
    "command",
    [["history"], ["health"], ["status"], ["migrate"], ["seed"], ["types"], ["db", "url"]],
)
def test_a_folder_that_is_not_a_project_gets_no_database(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stray, home = tmp_path / "stray", tmp_path / "home"
    stray.mkdir()
    monkeypatch.chdir(stray)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSISTENCE_PROJECT", raising=False)
    monkeypatch.setenv("PERSISTENCE_HOME", str(home))
    assert main(command) == 1
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"error: {stray} is not a project (no [tool.persistence] in a"
        " pyproject.toml, no migrations/ or queries/): run it in your project, pass"
        " --project DIR, or `persistence init`\n",
    )
    assert not home.exists(), "no embedded server was started, no database made"
    assert list(stray.iterdir()) == []


def test_commands_that_would_do_nothing_say_so_and_fail(
    env: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stray = tmp_path / "stray"
    stray.mkdir()
    monkeypatch.chdir(stray)
    # Not a project, though DATABASE_URL names a server: nothing to type, nowhere to add to.
    for command in (["types"], ["new", "add_users"]):
        assert main(command) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"error: {stray} is not a project ")
    assert list(stray.iterdir()) == [], "no migrations/ made in a stray folder"
    # A project without a typed module, or without seeds.
    (stray / "migrations").mkdir()
    assert main(["types"]) == 1
    assert capsys.readouterr().err == (
        f'error: no typed module configured for {stray}: set types = "PACKAGE/queries.py"'
        " under [tool.persistence] in its pyproject.toml\n"
    )
    assert main(["seed"]) == 1
    assert capsys.readouterr().err == (
        f"error: no seed files in {stray / 'seeds'}: add .sql files there (run in name order,"
        " in one transaction)\n"
    )


_HEAVY = ("pglast", "yoyo", "psycopg_pool", "sqlalchemy", "aiosql", "persistence.typegen")


def _loaded_after(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """The heavy modules a fresh interpreter holds after `persistence ARGV`."""
    probe = (
        "import sys\n"
        "from persistence.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(' '.join(m for m in {_HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, check=True
    )
    return done.stderr.split()


def test_help_and_db_url_load_no_pool_yoyo_pglast_or_typegen(env: Settings) -> None:
    assert _loaded_after(["--help"]) == []
    environ = {**os.environ, "DATABASE_URL": env.database_url or ""}
    assert _loaded_after(["db", "url"], environ) == []
    # status needs yoyo, and only yoyo of these
    assert _loaded_after(["status"], environ) == ["yoyo"]


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: persistence [-h]")
    assert err.endswith("\npersistence: error: name a command (persistence --help lists them)\n")
    assert main(["no-such-command"]) == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err
    # --steps 1 too, though it is the number rolled back when neither is given.
    for steps in ("2", "1"):
        assert main(["rollback", "--steps", steps, "--target", "0001_x"]) == 2
        assert capsys.readouterr().err.endswith(
            "persistence rollback: error: argument --target: not allowed with argument --steps\n"
        )
    assert main(["new", "Drop Table;"]) == 2
    assert capsys.readouterr().err.endswith(
        "persistence new: error: argument name: 'Drop Table;' is not a migration name:"
        " use lowercase letters, digits and underscores (add_users)\n"
    )
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"persistence {__version__}\n"


def test_no_arguments_in_a_shell() -> None:
    run = subprocess.run([sys.executable, "-m", "persistence"], capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.splitlines()[-1] == (
        "persistence: error: name a command (persistence --help lists them)"
    )


def test_a_reader_that_left_ends_the_command_quietly(tmp_path: Path) -> None:
    # `persistence ... | head -1` once head has read its line: no "unexpected
    # BrokenPipeError" line, no traceback, the shell's code for SIGPIPE.
    read, write = os.pipe()
    os.close(read)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "persistence", "init", str(tmp_path)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)
    assert (run.returncode, run.stderr) == (141, "")


def test_every_command_has_help() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    if not helps.get(name):
                        missing.append(f"{path} {name}".strip())
                    missing += walk(sub, f"{path} {name}")
        return missing

    assert walk(_parser(), "") == []


def test_python_m_persistence() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "persistence", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == f"persistence {__version__}\n"


def test_every_command_and_make_target_is_in_the_readme() -> None:
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    usage = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    commands = next(
        a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices
    assert [name for name in commands if not re.search(rf"\b{name}\b", usage)] == []
    makefile = (root / "Makefile").read_text()
    targets = re.findall(r"^([a-z-]+):.*## ", makefile, re.MULTILINE)
    table = readme.split("## Makefile targets", 1)[1].split("\n## ", 1)[0]
    # A row names a target as `make x ...` or, after a slash, as `x`.
    assert [t for t in targets if not re.search(rf"`(make )?{t}[` ]", table)] == []


def test_types_prints_each_failing_query_on_its_own_line(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.persistence]\nqueries = "queries"\nmigrations = "migrations"\ntypes = "typed.py"\n'
    )
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_t.sql").write_text("create table t (id int, name text);\n")
    (tmp_path / "migrations" / "0001_t.rollback.sql").write_text("drop table t;\n")
    (tmp_path / "queries").mkdir()
    queries = tmp_path / "queries" / "t.sql"
    queries.write_text(
        "-- name: all_rows()\nselec * from t;\n\n"
        "-- name: names()\nselect nmae from t;\n\n"
        "-- name: ids()\nselect id from t;\n"
    )
    assert main(["--project", str(tmp_path), "types"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    # One line per query, as `check` prints them, not one line with both.
    assert err.splitlines() == [
        f"error: {queries}:2: query 't.all_rows': syntax error at or near \"selec\"",
        f"error: {queries}:5: query 't.names': column \"nmae\" does not exist",
    ]
    assert not (tmp_path / "typed.py").exists()
