"""No output of the toolkit contains any part of a password, whatever the URL.

Each entry of the corpus is a DATABASE_URL (a URL or a key=value string; well-formed or
not; pointing at the server under test, a closed port, an unknown host or a missing
database) and its password. Every surface is tried with it: Settings, mask_url, the
errors (with their traceback text), Database and AsyncDatabase, health(), and the CLI
run as a subprocess. No run of 4 or more characters of the password may show.
Each password is made of pieces ("s3cr3t", "PW", a tag) that appear nowhere else:
`scrub` hides the whole password (and each whole string that may be it), never its
pieces, and `_urls.parse_url` refuses the malformed URLs that would scatter its pieces
into the host, port or database name that libpq's messages quote.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg import conninfo

from persistence import AsyncDatabase, Database, PersistenceError, Settings
from persistence._scratch import create_database, drop_database
from persistence.config import mask_url

CLI = Path(sys.executable).with_name("persistence")


@dataclass(frozen=True)
class Case:
    #: The URL, with {host} {port} {user} {db} for the server under test.
    template: str
    #: The password the user meant (and its spellings in the URL, if encoded).
    secrets: tuple[str, ...]
    #: Whether connecting succeeds (trust auth ignores the password).
    works: bool = False


CORPUS = [
    # Well-formed, and the server accepts them.
    Case("postgresql://{user}:s3cr3tPWaa01@{host}:{port}/{db}", ("s3cr3tPWaa01",), True),
    Case(
        "host={host} port={port} dbname={db} user={user} password=s3cr3tPWaa02",
        ("s3cr3tPWaa02",),
        True,
    ),
    Case(
        "host={host} port={port} dbname={db} user={user} password='s3cr3t PWaa03'",
        ("s3cr3t PWaa03",),
        True,
    ),
    Case(
        "postgresql://{user}:s3cr3t%40PW%2Faa04%3A@{host}:{port}/{db}",
        ("s3cr3t@PW/aa04:", "s3cr3t%40PW%2Faa04%3A"),
        True,
    ),
    Case(
        "postgresql://{host}:{port}/{db}?user={user}&password=s3cr3tPWaa05",
        ("s3cr3tPWaa05",),
        True,
    ),
    Case(
        "host={host} port={port} dbname={db} user={user} password='s3cr\\'3tPWaa06'",
        ("s3cr'3tPWaa06", "s3cr\\'3tPWaa06"),
        True,
    ),
    Case("postgresql://{user}:s3cr3tPW%C3%A9aa07@{host}:{port}/{db}", ("s3cr3tPWéaa07",), True),
    # Well-formed, but connecting fails.
    Case("postgresql://{user}:s3cr3tPWbb01@{host}:1/{db}", ("s3cr3tPWbb01",)),
    Case("postgresql://{user}:s3cr3tPWbb02@nosuchhost.invalid/{db}", ("s3cr3tPWbb02",)),
    Case("postgresql://{user}:s3cr3tPWbb03@{host}:{port}/nosuchdb_zq", ("s3cr3tPWbb03",)),
    Case("host={host} port=1 user={user} password=s3cr3tPWbb04 dbname={db}", ("s3cr3tPWbb04",)),
    Case("host=nosuchhost.invalid password=s3cr3tPWbb05 dbname={db}", ("s3cr3tPWbb05",)),
    Case("postgresql://nosuchrole_zq:s3cr3tPWbb06@{host}:{port}/{db}", ("s3cr3tPWbb06",)),
    Case("postgresql://{user}:s3cr3tPWbb07@{host}:1,{host}:2/{db}", ("s3cr3tPWbb07",)),
    Case("postgresql://{user}:s3cr3tPWbb08@[::1]:1/{db}", ("s3cr3tPWbb08",)),
    Case("postgresql://{user}:s3cr3tPWbb09?x@nosuchhost.invalid/{db}", ("s3cr3tPWbb09?x",)),
    Case("postgresql://{user}:s3cr3t#PWbb10@nosuchhost.invalid/{db}", ("s3cr3t#PWbb10",)),
    Case("postgresql://{user}:s3cr3tPWbb11@{host}:{port}/{db}?sslmode=bogus", ("s3cr3tPWbb11",)),
    Case("postgresql://{user}:s3cr3t%0APWbb12@nosuchhost.invalid/db", ("s3cr3t\nPWbb12",)),
    # Malformed: libpq's parser or the toolkit's checks refuse them.
    Case("postgresql://{user}:s3cr3tPWbb13@{host}:99999/{db}", ("s3cr3tPWbb13",)),
    Case("postgresq://{user}:s3cr3tPWcc15@{host}:{port}/{db}", ("s3cr3tPWcc15",)),
    Case("postgresql://u:s3cr3tPWcc01/x@{host}:{port}/db", ("s3cr3tPWcc01/x",)),
    Case("postgresql://u:ab@s3cr3tPWcc02@nosuchhost.invalid/db", ("ab@s3cr3tPWcc02",)),
    Case("host={host} password=s3cr3t PWcc03xy dbname=db", ("s3cr3t PWcc03xy",)),
    Case("host={host} password='s3cr3tPWcc04", ("s3cr3tPWcc04",)),
    Case("postgresql://u:s3cr3t%ZZPWcc05@{host}/db", ("s3cr3t%ZZPWcc05",)),
    Case("postgresql://u:s3cr3t PWcc06@{host}/db", ("s3cr3t PWcc06",)),
    Case("postgresql://u:s3cr3tPWcc07@[::1/db", ("s3cr3tPWcc07",)),
    Case("postgresql://u:s3cr3tPWcc08@{host}:port/db", ("s3cr3tPWcc08",)),
    Case("postgresql://u:12345/s3cr3tPWcc09@{host}/db", ("12345/s3cr3tPWcc09",)),
    Case("postgresql://{host}/db?password=s3cr3tPWcc10&bogus=1", ("s3cr3tPWcc10",)),
    Case("s3cr3tPWcc11", ("s3cr3tPWcc11",)),
    Case("postgresql://u:s3cr3t@PW@cc12@{host}/db", ("s3cr3t@PW@cc12",)),
    Case("postgresql://u:s3cr3tPW:cc13/x/y@{host}/db", ("s3cr3tPW:cc13/x/y",)),
    Case("password = 's3cr3t PWcc14' host={host} bogus", ("s3cr3t PWcc14",)),
]


def leaks(text: str, case: Case) -> list[str]:
    """The runs of 4 characters of any spelling of the password that `text` contains."""
    return sorted(
        {s[i : i + 4] for s in case.secrets for i in range(len(s) - 3) if s[i : i + 4] in text}
    )


def error_text(ex: BaseException) -> str:
    """What a user sees of an error: its message and its whole traceback."""
    return str(ex) + "\n" + "".join(traceback.format_exception(ex))


@pytest.fixture(scope="module")
def server(persistence_settings: Settings) -> Iterator[dict[str, str]]:
    """Where the server under test is, and a database of this module's own."""
    params = conninfo.conninfo_to_dict(persistence_settings.database_url or "")
    # Letters g-v only: no digits or tags of the corpus's passwords by chance.
    name = "persistence_secrets_" + "".join(chr(ord("g") + int(c, 16)) for c in uuid.uuid4().hex)
    create_database(persistence_settings, name)
    yield {
        "host": str(params.get("host") or "127.0.0.1"),
        "port": str(params.get("port") or "5432"),
        "user": str(params.get("user") or "postgres"),
        "db": name,
    }
    drop_database(persistence_settings, name)


def test_the_corpus_is_large_and_its_passwords_are_unique() -> None:
    assert len(CORPUS) >= 25
    tags = [case.secrets[0][-4:] for case in CORPUS]
    assert len(set(tags)) == len(tags)


@pytest.mark.parametrize("case", CORPUS, ids=range(len(CORPUS)))
def test_library_surfaces(case: Case, server: dict[str, str]) -> None:
    url = case.template.format(**server)
    seen: list[str] = []
    seen.append(mask_url(url))
    settings: Settings | None = None
    for from_env in (False, True):
        try:
            settings = (
                Settings.from_env({"DATABASE_URL": url}) if from_env else Settings(database_url=url)
            )
        except PersistenceError as ex:
            seen.append(error_text(ex))
        else:
            seen += [repr(settings), str(settings), settings.masked_url]
    if settings is not None:
        settings = Settings(database_url=url, pool_min=1, pool_max=2, connect_timeout=2)
        seen += sync_surfaces(settings, case) + asyncio.run(async_surfaces(settings))
    for text in seen:
        assert not leaks(text, case), f"{leaks(text, case)} in {text!r}"


def sync_surfaces(settings: Settings, case: Case) -> list[str]:
    seen = []
    db = Database(settings)
    seen.append(repr(db))
    # Not open: health() reports the failure instead of raising.
    seen += [str(db.health()), json.dumps(db.health().as_dict())]
    try:
        db.open()
    except PersistenceError as ex:
        failure = error_text(ex)
        assert not case.works, failure
        seen.append(failure)
    else:
        assert case.works, "connected with a URL meant to fail"
        with db:
            report = db.health()
            assert report.ok
            seen += [str(report), json.dumps(report.as_dict())]
            try:
                db.fetch_value("select * from no_such_table_zq")
            except PersistenceError as ex:
                seen.append(error_text(ex))
    return seen


async def async_surfaces(settings: Settings) -> list[str]:
    seen = []
    adb = AsyncDatabase(settings)
    seen.append(repr(adb))
    try:
        await adb.open()
    except PersistenceError as ex:
        seen.append(error_text(ex))
    else:
        async with adb:
            seen.append(str(await adb.health()))
    return seen


@pytest.mark.parametrize("case", CORPUS, ids=range(len(CORPUS)))
def test_cli(case: Case, server: dict[str, str], tmp_path: Path) -> None:
    url = case.template.format(**server)
    env = {**os.environ, "DATABASE_URL": url, "DB_CONNECT_TIMEOUT": "2"}
    # A project with no migrations yet: `migrate` on a working URL has nothing to apply.
    (tmp_path / "migrations").mkdir()
    commands = [["health"], ["db", "url"], ["migrate"], ["status"]]
    running = [
        subprocess.Popen(
            [str(CLI), "--project", str(tmp_path), *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    for command, process in zip(commands, running, strict=True):
        out, err = process.communicate(timeout=60)
        shown = f"`persistence {' '.join(command)}` gave {process.returncode}: {out!r} {err!r}"
        assert not leaks(out + err, case), shown
        assert "Traceback" not in err, shown
        if case.works or (command == ["db", "url"] and not_malformed(url)):
            assert process.returncode == 0, shown
        else:
            assert process.returncode != 0, shown
            assert out == "", shown
            assert err.startswith("error: "), shown
            assert err.count("\n") == 1, shown


def not_malformed(url: str) -> bool:
    try:
        Settings(database_url=url)
    except PersistenceError:
        return False
    return True


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # The password is a piece of the role's name: the name stays whole.
        ("postgresql://nouser_zq:user@{host}:{port}/{db}", 'role "nouser_zq" does not exist'),
        # The password is a word of libpq's message: the message stays whole.
        ("postgresql://{user}:server@{host}:1/{db}", 'connection to server at "'),
    ],
)
def test_only_the_whole_password_is_hidden(
    url: str,
    shown: str,
    server: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from persistence.cli import main

    monkeypatch.setenv("DATABASE_URL", url.format(**server))
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert shown in err
    assert "***" not in err


def test_a_password_is_hidden_whole_not_by_its_pieces() -> None:
    from persistence.errors import scrub

    said = 'FATAL:  password authentication failed for user "app"'
    # Starring "password" (a piece of it) would tell what the password is made of.
    assert scrub(said, ("wrongpassword",)) == said
    assert scrub('host="wrongpassword" user=x', ("wrongpassword",)) == 'host="***" user=x'
    assert scrub("url postgresql://u:wrongpassword@h/db", ("wrongpassword",)) == (
        "url postgresql://u:***@h/db"
    )
